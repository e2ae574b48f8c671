//! The pure promotion plan: each change, skip and refusal reason, and the file each change
//! writes. Its effects (the one pull request with its one plan comment, the merge, the deploy
//! that follows) are tested on the strict fakes in `tests/it/promote.rs`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use gitops_iac_config::{Pin, deployment_path, render_deployment};

use super::*;

const MFES: [&str; 9] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
];

fn env(name: &str) -> EnvironmentName {
    EnvironmentName::parse(name).unwrap()
}

fn mfe(name: &str) -> MfeName {
    MfeName::parse(name).unwrap()
}

fn version(v: &str) -> Version {
    Version::parse(v).unwrap()
}

fn login(l: &str) -> Login {
    Login::parse(l).unwrap()
}

fn time(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
}

fn now() -> OffsetDateTime {
    time("2026-11-26T12:00:00Z")
}

fn desired(environment: &str, name: &str, v: &str) -> Deployment {
    Deployment {
        mfe: mfe(name),
        environment: env(environment),
        version: version(v),
        sha: "3f786850e387550fdab836ed7e6dc881de23001b".parse().unwrap(),
        git_ref: "refs/heads/main".parse().unwrap(),
        repository: format!("acme/{name}-mfe").parse().unwrap(),
        requested_by: login("octocat"),
        requested_at: "2026-11-20T09:30:00Z".into(),
        request_id: "01JDQ8Z6X8N7W4K2M5R3T9V1YB".parse().unwrap(),
        rollback: false,
        cache_invalidation_keys: vec![format!("/mfe/{name}/manifest.json").parse().unwrap()],
        pinned: None,
        sequence: 0,
    }
}

/// A repository with environments staging, then prod (`prod` gets `prod_extra` YAML lines),
/// the MFEs of `mfes` (name, allowed environments, registered repository) and `deployments`.
fn files(
    prod_extra: &str,
    mfes: &[(&str, &str, Option<&str>)],
    deployments: &[Deployment],
) -> BTreeMap<String, Vec<u8>> {
    let mut config = String::from("version: 1\nenvironments:\n");
    for name in ["staging", "qa", "prod"] {
        let extra = if name == "prod" { prod_extra } else { "" };
        let _ = write!(
            config,
            "  - name: {name}\n    storage: local/{name}/storage\n    registry: local/{name}/registry.db\n    cdn: local/{name}/cdn.log\n    public_url: https://cdn.example.com/{name}\n{extra}"
        );
    }
    let mut files = BTreeMap::from([("gitops.yaml".to_owned(), config.into_bytes())]);
    for (name, environments, repository) in mfes {
        let repository = repository.map_or_else(|| format!("acme/{name}-mfe"), str::to_owned);
        files.insert(
            format!("mfes/{name}.yaml"),
            format!("name: {name}\nrepository: {repository}\nartifact: local/artifacts/{name}/{name}-{{version}}.tgz\nenvironments: [{environments}]\nentry_points: [remoteEntry.js]\n").into_bytes(),
        );
    }
    for d in deployments {
        files.insert(
            deployment_path(&d.environment, &d.mfe),
            render_deployment(d).into_bytes(),
        );
    }
    files
}

fn repository(files: &BTreeMap<String, Vec<u8>>) -> Repository {
    Repository::from_files(files).unwrap_or_else(|p| panic!("{p:?}"))
}

fn ask(mfes: &[&str]) -> PromotionAsk {
    PromotionAsk {
        from: env("staging"),
        to: env("prod"),
        mfes: mfes.iter().map(|m| mfe(m)).collect(),
        user: login("promoter"),
        intent: Intent::Request,
        at: now(),
        allow_partial: false,
    }
}

fn live(pairs: &[(&str, &str)]) -> BTreeMap<MfeName, Version> {
    pairs.iter().map(|(m, v)| (mfe(m), version(v))).collect()
}

fn codes(plan: &Plan, name: &str) -> Vec<String> {
    plan.refused
        .iter()
        .find(|r| r.mfe.as_str() == name)
        .map(|r| r.reasons.iter().map(|x| x.code.clone()).collect())
        .unwrap_or_default()
}

fn all(environments: &str) -> Vec<(&'static str, &str, Option<&'static str>)> {
    MFES.iter().map(|m| (*m, environments, None)).collect()
}

/// The fleet of the plan test: one MFE per case.
fn fleet() -> (BTreeMap<String, Vec<u8>>, BTreeMap<MfeName, Version>) {
    let mut mfes = all("staging, qa, prod");
    mfes[5].1 = "staging, qa"; // foxtrot may not go to prod
    mfes[6].2 = Some("acme/golf-moved"); // golf is registered from another repository now
    let mut pinned = desired("prod", "hotel", "1.0.0");
    pinned.pinned = Some(Pin {
        by: login("oncall"),
        at: time("2026-11-25T08:00:00Z"),
        reason: "bad release".into(),
    });
    let deployments = [
        desired("staging", "alpha", "1.2.0"), // a change
        desired("prod", "alpha", "1.1.0"),
        desired("staging", "bravo", "2.0.0"), // already desired: skipped
        desired("prod", "bravo", "2.0.0"),
        desired("staging", "charlie", "1.3.0"), // 1.2.0 live in staging: not live
        desired("staging", "delta", "1.0.0"),   // nothing live in staging
        desired("staging", "echo", "1.0.0"),    // prod is ahead: downgrade
        desired("prod", "echo", "1.5.0"),
        desired("staging", "foxtrot", "1.0.0"), // not allowed in prod
        desired("staging", "golf", "1.0.0"),    // repository mismatch
        desired("staging", "hotel", "1.1.0"),   // pinned in prod
        pinned,
        desired("staging", "india", "0.9.0"), // new in prod: a change from nothing
    ];
    let live = live(&[
        ("alpha", "1.2.0"),
        ("bravo", "2.0.0"),
        ("charlie", "1.2.0"),
        ("echo", "1.0.0"),
        ("foxtrot", "1.0.0"),
        ("golf", "1.0.0"),
        ("hotel", "1.1.0"),
        ("india", "0.9.0"),
    ]);
    (files("", &mfes, &deployments), live)
}

#[test]
fn the_plan_changes_skips_and_refuses_each_mfe_for_its_reason() {
    let (files, live) = fleet();
    let repo = repository(&files);
    let plan = plan(&repo, &ask(&[]), &live).unwrap();
    let changed: Vec<(&str, Option<String>, String)> = plan
        .changes
        .iter()
        .map(|c| {
            (
                c.mfe.as_str(),
                c.previous.as_ref().map(ToString::to_string),
                c.version.to_string(),
            )
        })
        .collect();
    assert_eq!(
        changed,
        [
            ("alpha", Some("1.1.0".to_owned()), "1.2.0".to_owned()),
            ("india", None, "0.9.0".to_owned())
        ]
    );
    assert_eq!(
        plan.skipped
            .iter()
            .map(|s| s.mfe.as_str())
            .collect::<Vec<_>>(),
        ["bravo"]
    );
    assert_eq!(codes(&plan, "charlie"), [NOT_LIVE_IN_SOURCE]);
    assert_eq!(codes(&plan, "delta"), [NOT_LIVE_IN_SOURCE]);
    assert_eq!(codes(&plan, "echo"), ["downgrade"]);
    assert_eq!(codes(&plan, "foxtrot"), ["environment-not-allowed"]);
    assert_eq!(codes(&plan, "golf"), ["repository-mismatch"]);
    assert_eq!(codes(&plan, "hotel"), ["pinned"]);
    assert_eq!(plan.refused.len(), 6, "{:?}", plan.refused);
    let charlie = &plan.refused[0];
    assert_eq!(charlie.mfe.as_str(), "charlie");
    assert!(
        charlie.reasons[0].message.contains("1.3.0")
            && charlie.reasons[0].message.contains("1.2.0 is live"),
        "names both versions: {}",
        charlie.reasons[0].message
    );
    assert!(
        plan.refused[1].reasons[0]
            .message
            .contains("nothing is live")
    );
    assert!(
        codes(&plan, "hotel").len() == 1
            && plan.refused[5].reasons[0].message.contains("@oncall")
            && plan.refused[5].reasons[0].message.contains("bad release"),
        "{:?}",
        plan.refused[5]
    );

    // The file written is the policy's: the source's desired state, requested by the promoter
    // for the target under a fresh id.
    let alpha = &plan.changes[0];
    assert_eq!(alpha.path, "deployments/prod/alpha.json");
    let written: Deployment = serde_json::from_str(&alpha.content).unwrap();
    let source = repo.deployment(&env("staging"), &mfe("alpha")).unwrap();
    assert_eq!(written.environment, env("prod"));
    assert_eq!(written.requested_by, login("promoter"));
    assert_eq!(written.request_id, alpha.request_id);
    assert_ne!(written.request_id, source.request_id, "a fresh id");
    assert_eq!(written.requested_at, "2026-11-26T12:00:00Z");
    assert_eq!(
        (
            &written.version,
            &written.sha,
            &written.git_ref,
            &written.repository,
            &written.cache_invalidation_keys,
            written.rollback,
            &written.pinned
        ),
        (
            &source.version,
            &source.sha,
            &source.git_ref,
            &source.repository,
            &source.cache_invalidation_keys,
            false,
            &None
        )
    );

    assert_eq!(plan.outcome(false), PromotionOutcome::Refused);
    assert_eq!(plan.outcome(true), PromotionOutcome::Proposed);
    let md = plan.markdown(&login("promoter"), now());
    for needle in [
        "| `alpha` | 1.1.0 -> **1.2.0** |",
        "| `india` | nothing -> **0.9.0** |",
        "| `charlie` | 1.3.0 | `not-live-in-source` |",
        "| `hotel` | 1.1.0 | `pinned` |",
        "| `bravo` | 2.0.0 |",
        "@promoter",
    ] {
        assert!(md.contains(needle), "{needle} in\n{md}");
    }
}

#[test]
fn selected_mfes_only_and_each_must_be_desired_in_the_source() {
    let (files, live) = fleet();
    let repo = repository(&files);
    let plan = plan(&repo, &ask(&["alpha", "bravo"]), &live).unwrap();
    assert_eq!(plan.changes.len(), 1);
    assert_eq!(plan.skipped.len(), 1);
    assert!(plan.refused.is_empty());
    assert_eq!(plan.outcome(false), PromotionOutcome::Proposed);
    let only_skipped = super::plan(&repo, &ask(&["bravo"]), &live).unwrap();
    assert_eq!(
        only_skipped.outcome(false),
        PromotionOutcome::NothingToPromote
    );

    // Registered, allowed, but desired in prod only.
    let mut with_prod_only = files.clone();
    let prod_only = desired("prod", "juliet", "1.0.0");
    with_prod_only.insert(
        "mfes/juliet.yaml".into(),
        b"name: juliet\nrepository: acme/juliet-mfe\nartifact: local/artifacts/juliet/juliet-{version}.tgz\nenvironments: [staging, prod]\nentry_points: [remoteEntry.js]\n".to_vec(),
    );
    with_prod_only.insert(
        deployment_path(&prod_only.environment, &prod_only.mfe),
        render_deployment(&prod_only).into_bytes(),
    );
    let repo = repository(&with_prod_only);
    let everything = super::plan(&repo, &ask(&[]), &live).unwrap();
    assert!(
        everything
            .refused
            .iter()
            .all(|r| r.mfe.as_str() != "juliet")
            && everything
                .changes
                .iter()
                .all(|c| c.mfe.as_str() != "juliet"),
        "without --mfe only what the source desires is looked at"
    );
    let named = super::plan(&repo, &ask(&["juliet"]), &live).unwrap();
    assert_eq!(codes(&named, "juliet"), [NOT_DESIRED_IN_SOURCE]);

    for (bad, needle) in [
        (
            PromotionAsk {
                mfes: vec![mfe("zulu")],
                ..ask(&[])
            },
            "not registered",
        ),
        (
            PromotionAsk {
                to: env("staging"),
                ..ask(&[])
            },
            "to itself",
        ),
        (
            PromotionAsk {
                to: env("Prod"),
                ..ask(&[])
            },
            "not declared",
        ),
    ] {
        let error = super::plan(&repo, &bad, &live).unwrap_err();
        assert!(matches!(error, Error::Config { .. }), "{error}");
        assert!(error.to_string().contains(needle), "{error}");
    }
}

#[test]
fn a_frozen_target_refuses_every_change_with_the_freeze_reason() {
    let (mut files, live) = fleet();
    let mut frozen = String::from_utf8(files["gitops.yaml"].clone()).unwrap();
    frozen.push_str("    freeze:\n      - { from: 2026-11-20T00:00:00Z, until: 2026-12-01T00:00:00Z, reason: year-end freeze }\n");
    files.insert("gitops.yaml".into(), frozen.into_bytes());
    let repo = repository(&files);
    let plan = plan(&repo, &ask(&["alpha", "bravo", "india"]), &live).unwrap();
    assert!(plan.changes.is_empty(), "{:?}", plan.changes);
    assert_eq!(
        plan.skipped.len(),
        1,
        "already desired is no change: skipped"
    );
    for name in ["alpha", "india"] {
        assert_eq!(codes(&plan, name), ["freeze-window"], "{name}");
    }
    assert!(
        plan.refused
            .iter()
            .all(|r| r.reasons[0].message.contains("year-end freeze")),
        "{:?}",
        plan.refused
    );
    assert_eq!(plan.outcome(false), PromotionOutcome::Refused);
    assert_eq!(
        plan.outcome(true),
        PromotionOutcome::Refused,
        "a frozen target refuses it whole, --allow-partial or not"
    );
    // After the window, the same promotion goes.
    let later = PromotionAsk {
        at: time("2026-12-01T00:00:00Z"),
        ..ask(&["alpha", "bravo", "india"])
    };
    assert_eq!(super::plan(&repo, &later, &live).unwrap().changes.len(), 2);
}

#[test]
fn the_target_requires_its_own_predecessor() {
    // prod requires qa: a version desired in staging only is not promoted to prod.
    let files = files(
        "    requires: qa\n",
        &all("staging, qa, prod"),
        &[
            desired("staging", "alpha", "1.2.0"),
            desired("staging", "bravo", "2.0.0"),
            desired("qa", "bravo", "2.0.0"),
        ],
    );
    let repo = repository(&files);
    let live = live(&[("alpha", "1.2.0"), ("bravo", "2.0.0")]);
    let plan = plan(&repo, &ask(&[]), &live).unwrap();
    assert_eq!(codes(&plan, "alpha"), ["promotion-required"]);
    assert!(
        plan.refused[0].reasons[0].message.contains("`qa`"),
        "{:?}",
        plan.refused
    );
    assert_eq!(
        plan.changes
            .iter()
            .map(|c| c.mfe.as_str())
            .collect::<Vec<_>>(),
        ["bravo"]
    );
}

#[test]
fn an_override_lifts_a_pin_only_where_the_target_allows_it() {
    let (files, live) = fleet();
    let overriding = PromotionAsk {
        intent: Intent::Override,
        ..ask(&["hotel"])
    };
    let refused = plan(&repository(&files), &overriding, &live).unwrap();
    assert_eq!(codes(&refused, "hotel"), ["pinned"], "not allowed in prod");
    let mut allowing = files.clone();
    let mut config = String::from_utf8(files["gitops.yaml"].clone()).unwrap();
    config.push_str("    allow_pin_override: true\n");
    allowing.insert("gitops.yaml".into(), config.into_bytes());
    let plan = plan(&repository(&allowing), &overriding, &live).unwrap();
    assert_eq!(plan.changes.len(), 1, "{:?}", plan.refused);
    let written: Deployment = serde_json::from_str(&plan.changes[0].content).unwrap();
    assert_eq!(
        (written.version.to_string(), written.pinned),
        ("1.1.0".to_owned(), None),
        "the override lifts the pin"
    );
    let rollback = PromotionAsk {
        intent: Intent::Rollback { pin: None },
        ..ask(&[])
    };
    assert!(matches!(
        super::plan(&repository(&allowing), &rollback, &live),
        Err(Error::Config { .. })
    ));
}
