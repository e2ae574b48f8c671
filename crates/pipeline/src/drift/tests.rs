//! The classifier, kind by kind. [`drift`]'s effects (checks and repairs, with another deploy
//! racing the repair) are tested on the strict fakes in `tests/it/drift.rs`.

use super::*;

fn version(v: &str) -> Version {
    Version::parse(v).unwrap()
}

/// A registered pair whose desired 1.0.0 (git position 3) is live at sequence 3 and served
/// whole: in sync.
fn in_sync() -> PairFacts {
    let files: BTreeSet<String> = ["remoteEntry.js", "assets/main.3f7a9c1e.js"]
        .map(str::to_owned)
        .into();
    let url = "https://cdn.example.com/dev/mfe/checkout/1.0.0/remoteEntry.js".to_owned();
    PairFacts {
        environment: EnvironmentName::parse("dev").unwrap(),
        mfe: MfeName::parse("checkout").unwrap(),
        registered: true,
        desired: Some(DesiredFact {
            version: version("1.0.0"),
            position: 3,
        }),
        live: Some(LiveFact {
            version: version("1.0.0"),
            sequence: 3,
            pending_invalidation: None,
        }),
        in_storage: true,
        files: Some(FilesFact {
            expected: files.clone(),
            listed: files,
        }),
        aliases: vec![("remoteEntry.js".to_owned(), AliasState::Current)],
        import_map: ImportMapFact::Entry(Some(url.clone())),
        expected_url: Some(url),
    }
}

fn kinds(facts: &PairFacts) -> Vec<(DriftKind, bool)> {
    classify(facts)
        .into_iter()
        .map(|f| (f.kind, f.repairable))
        .collect()
}

fn one(facts: &PairFacts) -> DriftFinding {
    let mut found = classify(facts);
    assert_eq!(found.len(), 1, "{found:#?}");
    found.remove(0)
}

#[test]
fn a_pair_that_agrees_everywhere_is_in_sync() {
    assert_eq!(classify(&in_sync()), []);
    // Leftover files beside the version's own are not drift.
    let mut facts = in_sync();
    if let Some(files) = &mut facts.files {
        files.listed.insert("old.js".to_owned());
    }
    assert_eq!(classify(&facts), []);
    // Nothing desired, live or served of a registered MFE: nothing to say.
    let mut facts = in_sync();
    facts.desired = None;
    facts.live = None;
    facts.files = None;
    facts.aliases.clear();
    facts.import_map = ImportMapFact::Entry(None);
    facts.expected_url = None;
    assert_eq!(classify(&facts), []);
}

#[test]
fn a_desired_version_not_live_is_not_deployed() {
    let mut facts = in_sync();
    facts.live = None;
    facts.files = None;
    facts.aliases.clear();
    facts.import_map = ImportMapFact::Entry(None);
    facts.expected_url = None;
    let found = one(&facts);
    assert_eq!(found.kind, DriftKind::NotDeployed);
    assert_eq!(found.repair, "gitops deploy --env dev --mfe checkout");
    assert!(found.detail.contains("no entry"), "{}", found.detail);
    assert!(!found.repairable);

    // Live, but from an older desired state (lower sequence than git's position).
    let mut facts = in_sync();
    facts.desired = Some(DesiredFact {
        version: version("1.1.0"),
        position: 5,
    });
    let found = one(&facts);
    assert_eq!(found.kind, DriftKind::NotDeployed);
    assert!(
        found.detail.contains("desired 1.1.0") && found.detail.contains("has 1.0.0"),
        "{}",
        found.detail
    );
    // The same version, its desired state changed since its deploy (its pin, its rollback
    // flag): in sync, as the deploy has nothing to do.
    let mut facts = in_sync();
    facts.desired = Some(DesiredFact {
        version: version("1.0.0"),
        position: 4,
    });
    assert_eq!(classify(&facts), Vec::new());
}

#[test]
fn a_registry_newer_than_git_or_without_git_is_ahead() {
    // An entry committed out of band with a higher sequence.
    let mut facts = in_sync();
    facts.live = Some(LiveFact {
        version: version("9.9.9"),
        sequence: 1000,
        pending_invalidation: None,
    });
    facts.files = None;
    facts.aliases.clear();
    facts.expected_url = Some("https://cdn.example.com/dev/mfe/checkout/9.9.9/x".to_owned());
    let found = classify(&facts);
    assert_eq!(found[0].kind, DriftKind::RegistryAhead);
    assert!(!found[0].repairable, "live is never changed by drift");
    assert!(
        found[0].detail.contains("9.9.9") && found[0].detail.contains("sequence 1000"),
        "{}",
        found[0].detail
    );
    assert!(
        found[0].repair.contains("deployments/dev/checkout.json"),
        "{}",
        found[0].repair
    );
    // Served state is judged against the live version: the import map serves 1.0.0.
    assert_eq!(found[1].kind, DriftKind::ImportmapStale);

    // The same position with another version cannot come from git.
    let mut facts = in_sync();
    if let Some(live) = &mut facts.live {
        live.version = version("1.0.1");
    }
    facts.files = None;
    facts.aliases.clear();
    facts.import_map = ImportMapFact::NotChecked;
    assert_eq!(one(&facts).kind, DriftKind::RegistryAhead);

    // Live, but nothing desired.
    let mut facts = in_sync();
    facts.desired = None;
    let found = one(&facts);
    assert_eq!(found.kind, DriftKind::RegistryAhead);
    assert!(
        found.detail.contains("git desires nothing"),
        "{}",
        found.detail
    );
}

#[test]
fn missing_files_of_the_live_version_are_named() {
    let mut facts = in_sync();
    if let Some(files) = &mut facts.files {
        files.listed.remove("assets/main.3f7a9c1e.js");
    }
    let found = one(&facts);
    assert_eq!(found.kind, DriftKind::FilesMissing);
    assert!(found.repairable);
    assert_eq!(found.repair, "gitops drift --env dev --repair");
    assert_eq!(
        found.detail,
        "mfe/checkout/1.0.0/ lacks 1 of the artifact's 2 files: assets/main.3f7a9c1e.js"
    );
    // Many: five named, the rest counted.
    let mut facts = in_sync();
    if let Some(files) = &mut facts.files {
        files.expected = (0..8).map(|i| format!("f{i}.js")).collect();
        files.listed.clear();
    }
    assert!(one(&facts).detail.ends_with("f4.js (and 3 more)"));
}

#[test]
fn an_alias_missing_or_other_bytes_is_stale() {
    for state in [AliasState::Missing, AliasState::Differs] {
        let mut facts = in_sync();
        facts.aliases = vec![("remoteEntry.js".to_owned(), state)];
        let found = one(&facts);
        assert_eq!(found.kind, DriftKind::AliasStale, "{state:?}");
        assert!(found.repairable);
        assert!(
            found.detail.contains("mfe/checkout/remoteEntry.js"),
            "{}",
            found.detail
        );
    }
    // Its source missing: the files are what is reported (and repaired first).
    let mut facts = in_sync();
    facts.aliases = vec![("remoteEntry.js".to_owned(), AliasState::SourceMissing)];
    if let Some(files) = &mut facts.files {
        files.listed.remove("remoteEntry.js");
    }
    assert_eq!(kinds(&facts), [(DriftKind::FilesMissing, true)]);
}

#[test]
fn an_import_map_not_pointing_at_the_live_version_is_stale() {
    let mut facts = in_sync();
    facts.import_map = ImportMapFact::Entry(Some(
        "https://cdn.example.com/dev/mfe/checkout/0.9.0/remoteEntry.js".to_owned(),
    ));
    let found = one(&facts);
    assert_eq!(found.kind, DriftKind::ImportmapStale);
    assert!(found.repairable);
    assert!(found.detail.contains("0.9.0"), "{}", found.detail);

    let mut facts = in_sync();
    facts.import_map = ImportMapFact::Entry(None);
    assert!(one(&facts).detail.contains("no entry"));

    // A corrupt import map: reported, repaired by hand.
    let mut facts = in_sync();
    facts.import_map = ImportMapFact::Unreadable("not JSON".to_owned());
    let found = one(&facts);
    assert_eq!(found.kind, DriftKind::ImportmapStale);
    assert!(!found.repairable);

    // Nothing live, but the import map serves the MFE.
    let mut facts = in_sync();
    facts.live = None;
    facts.desired = None;
    facts.files = None;
    facts.aliases.clear();
    let found = one(&facts);
    assert_eq!(found.kind, DriftKind::ImportmapStale);
    assert!(!found.repairable);
    assert!(
        found.repair.contains("remove the `checkout` key"),
        "{}",
        found.repair
    );

    // An MFE without entry points has no import-map entry to judge.
    let mut facts = in_sync();
    facts.aliases.clear();
    facts.import_map = ImportMapFact::NotChecked;
    facts.expected_url = None;
    assert_eq!(classify(&facts), []);
}

#[test]
fn an_unconfirmed_invalidation_is_cdn_pending() {
    let mut facts = in_sync();
    if let Some(live) = &mut facts.live {
        live.pending_invalidation = Some("deploy-01J-3".to_owned());
    }
    let found = one(&facts);
    assert_eq!(found.kind, DriftKind::CdnPending);
    assert!(found.repairable);
    assert!(found.detail.contains("deploy-01J-3"), "{}", found.detail);
}

#[test]
fn an_mfe_nobody_knows_in_storage_is_unknown() {
    let facts = PairFacts {
        environment: EnvironmentName::parse("dev").unwrap(),
        mfe: MfeName::parse("ghost").unwrap(),
        registered: false,
        desired: None,
        live: None,
        in_storage: true,
        files: None,
        aliases: Vec::new(),
        import_map: ImportMapFact::Entry(Some("https://x/ghost.js".to_owned())),
        expected_url: None,
    };
    let found = classify(&facts);
    assert_eq!(
        found
            .iter()
            .map(|f| (f.kind, f.repairable))
            .collect::<Vec<_>>(),
        [
            (DriftKind::UnknownInStorage, false),
            (DriftKind::UnknownInStorage, false)
        ]
    );
    assert!(
        found[0].detail.contains("mfe/ghost/"),
        "{}",
        found[0].detail
    );
    assert!(
        found[0]
            .repair
            .contains("delete the objects under mfe/ghost/")
    );
    assert!(found[1].detail.contains("importmap.json serves `ghost`"));
    // Known to the registry: not unknown (registry-ahead, git desires nothing).
    let mut known = facts.clone();
    known.live = Some(LiveFact {
        version: version("1.0.0"),
        sequence: 1,
        pending_invalidation: None,
    });
    known.import_map = ImportMapFact::NotChecked;
    assert_eq!(kinds(&known), [(DriftKind::RegistryAhead, false)]);
}

#[test]
fn kinds_are_written_as_the_issue_names_them() {
    for (kind, text) in [
        (DriftKind::NotDeployed, "not-deployed"),
        (DriftKind::RegistryAhead, "registry-ahead"),
        (DriftKind::CdnPending, "cdn-pending"),
        (DriftKind::FilesMissing, "files-missing"),
        (DriftKind::AliasStale, "alias-stale"),
        (DriftKind::ImportmapStale, "importmap-stale"),
        (DriftKind::UnknownInStorage, "unknown-in-storage"),
    ] {
        assert_eq!(kind.to_string(), text);
        assert_eq!(serde_json::to_value(kind).unwrap(), text);
    }
}
