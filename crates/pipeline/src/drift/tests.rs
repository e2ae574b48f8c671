//! The classifier, kind by kind, and [`drift`]'s effects on the strict fakes.

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

/// [`drift`]'s effects on the strict fakes, with another deploy racing the repair.
mod effects {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use async_trait::async_trait;
    use gitops_artifact_store::ObjectLocation;
    use gitops_cdn::FakeCdn;
    use gitops_db_registry::{FakeRegistry, Registry};
    use object_store::memory::InMemory;
    use object_store::path::Path;
    use object_store::{ObjectStore, ObjectStoreExt as _};

    use super::*;

    /// A registry in which another deploy commits `newer` just before the `at`-th `get`.
    #[derive(Debug)]
    struct Racing {
        inner: FakeRegistry,
        gets: AtomicUsize,
        at: usize,
        newer: Mutex<Option<Entry>>,
    }

    #[async_trait]
    impl Registry for Racing {
        async fn get(
            &self,
            environment: &EnvironmentName,
            mfe: &MfeName,
        ) -> Result<Option<Entry>, gitops_db_registry::Error> {
            if self.gets.fetch_add(1, Ordering::SeqCst) + 1 == self.at {
                let newer = self.newer.lock().unwrap().take();
                if let Some(newer) = newer {
                    self.inner.commit(&newer).await.unwrap();
                }
            }
            self.inner.get(environment, mfe).await
        }
        async fn list(
            &self,
            environment: &EnvironmentName,
        ) -> Result<Vec<Entry>, gitops_db_registry::Error> {
            self.inner.list(environment).await
        }
        async fn commit(&self, entry: &Entry) -> Result<(), gitops_db_registry::Error> {
            self.inner.commit(entry).await
        }
        async fn settle_invalidation(
            &self,
            environment: &EnvironmentName,
            mfe: &MfeName,
            sequence: u64,
            reference: &str,
        ) -> Result<bool, gitops_db_registry::Error> {
            self.inner
                .settle_invalidation(environment, mfe, sequence, reference)
                .await
        }
        async fn history(
            &self,
            environment: &EnvironmentName,
            mfe: &MfeName,
        ) -> Result<Vec<Entry>, gitops_db_registry::Error> {
            self.inner.history(environment, mfe).await
        }
    }

    #[derive(Debug)]
    struct Fakes {
        artifacts: Arc<InMemory>,
        storage: Arc<InMemory>,
        registry: Arc<Racing>,
        cdn: FakeCdn,
    }

    #[async_trait]
    impl Backends for Fakes {
        async fn targets(&self, _: &Environment) -> Result<Targets, Error> {
            Ok(Targets {
                storage: self.storage.clone(),
                registry: self.registry.clone(),
                cdn: Arc::new(self.cdn.clone()),
                metrics: Arc::new(gitops_metrics::NullSink),
            })
        }

        fn artifact(
            &self,
            _: &str,
            mfe: &MfeName,
            version: &Version,
        ) -> Result<ObjectLocation, Error> {
            let name = format!("{mfe}-{version}.tgz");
            Ok(ObjectLocation {
                store: self.artifacts.clone(),
                path: Path::from(name.as_str()),
                display: name,
            })
        }
    }

    fn entry(version: &str, sequence: u64) -> Entry {
        serde_json::from_value(serde_json::json!({
            "environment": "dev", "mfe": "checkout", "version": version,
            "sequence": sequence, "request_id": "01JDQ8Z6X8N7W4K2M5R3T9V1YB",
            "sha": "3f786850e387550fdab836ed7e6dc881de23001b",
            "deployed_at": "2026-12-01T10:00:00Z", "deployed_by": "octocat",
            "rollback": false,
        }))
        .unwrap()
    }

    fn repository() -> Repository {
        let files: BTreeMap<String, Vec<u8>> = [
            (
                "gitops.yaml",
                "version: 1\nenvironments:\n  - name: dev\n    storage: local/dev/storage\n    registry: local/dev/registry.db\n    cdn: local/dev/cdn.log\n    public_url: https://cdn.example.com/dev\n".to_owned(),
            ),
            (
                "mfes/checkout.yaml",
                "name: checkout\nrepository: acme/checkout-mfe\nartifact: local/artifacts/checkout-{version}.tgz\nenvironments: [dev]\nentry_points: [remoteEntry.js]\n".to_owned(),
            ),
            (
                "deployments/dev/checkout.json",
                serde_json::json!({
                    "mfe": "checkout", "environment": "dev", "version": "1.0.0",
                    "sha": "3f786850e387550fdab836ed7e6dc881de23001b",
                    "ref": "refs/heads/main", "repository": "acme/checkout-mfe",
                    "requested_by": "octocat", "requested_at": "2026-11-26T09:30:00Z",
                    "request_id": "01JDQ8Z6X8N7W4K2M5R3T9V1YB", "rollback": false,
                    "cache_invalidation_keys": [], "sequence": 1,
                })
                .to_string(),
            ),
        ]
        .into_iter()
        .map(|(path, text)| (path.to_owned(), text.into_bytes()))
        .collect();
        Repository::from_files(&files).unwrap()
    }

    /// Versions 1.0.0 (live) and 1.1.0 uploaded, pointers on 1.0.0 but for an alias
    /// overwritten by hand; another deploy commits 1.1.0 before the `at`-th registry read.
    async fn fleet(at: usize) -> Fakes {
        let fakes = Fakes {
            artifacts: Arc::new(InMemory::new()),
            storage: Arc::new(InMemory::new()),
            registry: Arc::new(Racing {
                inner: FakeRegistry::new(),
                gets: AtomicUsize::new(0),
                at,
                newer: Mutex::new(Some(entry("1.1.0", 2))),
            }),
            cdn: FakeCdn::new(),
        };
        let mfe = MfeName::parse("checkout").unwrap();
        let storage: Arc<dyn ObjectStore> = fakes.storage.clone();
        for v in ["1.0.0", "1.1.0"] {
            let dist = tempfile::tempdir().unwrap();
            tokio::fs::write(dist.path().join("remoteEntry.js"), format!("// {v}\n"))
                .await
                .unwrap();
            let archive = store::pack_dir(dist.path()).unwrap();
            let name = format!("checkout-{v}.tgz");
            let sidecar = store::sidecar_line(&store::sha256_hex(&archive), &name);
            fakes
                .artifacts
                .put(&Path::from(format!("{name}.sha256")), sidecar.into())
                .await
                .unwrap();
            fakes
                .artifacts
                .put(&Path::from(name.as_str()), archive.into())
                .await
                .unwrap();
            let location = fakes.artifact("", &mfe, &version(v)).unwrap();
            let opts = store::UploadOptions {
                entry_points: vec!["remoteEntry.js".to_owned()],
                progress: store::Progress::Hidden,
                ..store::UploadOptions::default()
            };
            store::stage_artifact(
                &location,
                &storage,
                &mfe,
                &version(v),
                &store::Limits::default(),
                &opts,
            )
            .await
            .unwrap();
        }
        fakes
            .registry
            .inner
            .commit(&entry("1.0.0", 1))
            .await
            .unwrap();
        let entries = ["remoteEntry.js".to_owned()];
        store::publish_aliases(storage.as_ref(), &mfe, &version("1.0.0"), &entries)
            .await
            .unwrap();
        store::update_import_map(
            storage.as_ref(),
            "https://cdn.example.com/dev",
            &mfe,
            &version("1.0.0"),
            "remoteEntry.js",
        )
        .await
        .unwrap();
        storage
            .put(
                &Path::from("mfe/checkout/remoteEntry.js"),
                "// junk\n".into(),
            )
            .await
            .unwrap();
        fakes
    }

    async fn text(store: &InMemory, path: &str) -> String {
        let got = store.get(&Path::from(path)).await.unwrap();
        String::from_utf8(got.bytes().await.unwrap().to_vec()).unwrap()
    }

    fn repair() -> DriftOptions {
        DriftOptions {
            repair: true,
            ..DriftOptions::default()
        }
    }

    #[tokio::test]
    async fn a_deploy_committing_during_the_repair_keeps_its_pointers() {
        // The repair's reads: the live entry, before publishing, after publishing; the
        // newer deploy commits between the last two.
        let fakes = fleet(3).await;
        let report = drift(&repository(), &fakes, &repair()).await.unwrap();
        let pair = &report.pairs[0];
        assert!(
            pair.repaired
                .iter()
                .any(|n| n == "1.1.0 went live during the repair: pointers published for it"),
            "{pair:#?}"
        );
        assert_eq!(
            text(&fakes.storage, "mfe/checkout/remoteEntry.js").await,
            "// 1.1.0\n"
        );
        assert!(
            text(&fakes.storage, "importmap.json")
                .await
                .contains("/mfe/checkout/1.1.0/remoteEntry.js")
        );
        assert_eq!(pair.live, Some(version("1.1.0")));
        assert_eq!(
            pair.findings.iter().map(|f| f.kind).collect::<Vec<_>>(),
            [DriftKind::RegistryAhead],
            "the registry is ahead of git now; its pointers are in place"
        );
    }

    #[tokio::test]
    async fn a_live_entry_that_moved_since_the_check_is_left_alone() {
        let fakes = fleet(1).await;
        let report = drift(&repository(), &fakes, &repair()).await.unwrap();
        let pair = &report.pairs[0];
        assert_eq!(
            pair.repaired,
            ["1.1.0 went live since the check: nothing repaired (run gitops drift again)"]
        );
        assert_eq!(
            text(&fakes.storage, "mfe/checkout/remoteEntry.js").await,
            "// junk\n"
        );
        assert_eq!(fakes.cdn.create_calls(), 0);
    }

    #[tokio::test]
    async fn a_repair_without_a_race_repairs_the_alias_and_invalidates_it() {
        let fakes = fleet(usize::MAX).await;
        let checked = drift(&repository(), &fakes, &DriftOptions::default())
            .await
            .unwrap();
        assert_eq!(
            checked.pairs[0]
                .findings
                .iter()
                .map(|f| f.kind)
                .collect::<Vec<_>>(),
            [DriftKind::AliasStale]
        );
        let report = drift(&repository(), &fakes, &repair()).await.unwrap();
        assert!(report.pairs[0].in_sync, "{report:#?}");
        assert_eq!(report.class(), None);
        assert_eq!(
            text(&fakes.storage, "mfe/checkout/remoteEntry.js").await,
            "// 1.0.0\n"
        );
        assert_eq!(fakes.cdn.create_calls(), 1);
    }
}
