//! Promotion on the strict fakes: the pure plan (each change, skip and refusal reason), the one
//! pull request with its one plan comment on `FakeForge`, the merge of a promotion PR and the
//! deploy that follows.

// Test code: artifacts are packed from files on disk, on the harness's threads.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use async_trait::async_trait;
use gitops_artifact_store::{ObjectLocation, StoreOpener, pack_dir, sha256_hex, sidecar_line};
use gitops_cdn::FakeCdn;
use gitops_db_registry::{Entry, FakeRegistry, Registry};
use gitops_gh_pr::{FakeForge, Forge, PrState};
use gitops_iac_config::{Environment, Pin, deployment_path, render_deployment};
use object_store::memory::InMemory;

use super::*;
use crate::{DeployOptions, MergeOutcome, PairOutcome, Targets, merge_pull_request};

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

/// Storage, the strict fake registry and CDN, and artifacts on disk.
#[derive(Debug)]
struct Fakes {
    root: tempfile::TempDir,
    storage: BTreeMap<String, Arc<InMemory>>,
    registry: Arc<FakeRegistry>,
    cdn: FakeCdn,
    metrics: Arc<gitops_metrics::MemorySink>,
}

impl Fakes {
    fn new() -> Self {
        Fakes {
            root: tempfile::tempdir().unwrap(),
            storage: ["staging", "qa", "prod"]
                .into_iter()
                .map(|e| (e.to_owned(), Arc::new(InMemory::new())))
                .collect(),
            registry: Arc::new(FakeRegistry::new()),
            cdn: FakeCdn::new().with_retry_policy(RetryPolicy::FAST),
            metrics: Arc::new(gitops_metrics::MemorySink::new()),
        }
    }

    /// `mfe` `v` is live in `environment` (sequence 1).
    async fn live(&self, environment: &str, name: &str, v: &str) {
        self.registry
            .commit(&Entry {
                environment: env(environment),
                mfe: mfe(name),
                version: version(v),
                sequence: 1,
                request_id: "01JDQ8Z6X8N7W4K2M5R3T9V1YB".parse().unwrap(),
                sha: "3f786850e387550fdab836ed7e6dc881de23001b".parse().unwrap(),
                deployed_at: now(),
                deployed_by: login("octocat"),
                rollback: false,
                invalidation: None,
            })
            .await
            .unwrap();
    }

    fn publish(&self, name: &str, v: &str) {
        let dist = tempfile::tempdir().unwrap();
        std::fs::write(
            dist.path().join("remoteEntry.js"),
            format!("// {name} {v}\n"),
        )
        .unwrap();
        let archive = pack_dir(dist.path()).unwrap();
        let dir = self.root.path().join(format!("local/artifacts/{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        let file = format!("{name}-{v}.tgz");
        std::fs::write(dir.join(&file), &archive).unwrap();
        std::fs::write(
            dir.join(format!("{file}.sha256")),
            sidecar_line(&sha256_hex(&archive), &file),
        )
        .unwrap();
    }
}

#[async_trait]
impl Backends for Fakes {
    async fn targets(&self, environment: &Environment) -> Result<Targets, Error> {
        Ok(Targets {
            storage: self.storage[environment.name.as_str()].clone(),
            registry: self.registry.clone(),
            cdn: Arc::new(self.cdn.clone()),
            metrics: self.metrics.clone(),
        })
    }

    fn artifact(
        &self,
        template: &str,
        name: &MfeName,
        v: &Version,
    ) -> Result<ObjectLocation, Error> {
        Ok(StoreOpener::new(self.root.path()).open_artifact(template, name, v)?)
    }
}

/// Twelve MFEs desired and live at 1.1.0 in staging, 1.0.0 desired in prod; `extra` YAML for
/// prod. Returns the files (the forge's base holds them too).
async fn twelve(fakes: &Fakes, prod_extra: &str) -> BTreeMap<String, Vec<u8>> {
    let names: Vec<String> = (1..=12).map(|i| format!("mfe{i:02}")).collect();
    let mfes: Vec<(&str, &str, Option<&str>)> = names
        .iter()
        .map(|n| (n.as_str(), "staging, qa, prod", None))
        .collect();
    let mut deployments = Vec::new();
    for name in &names {
        deployments.push(desired("staging", name, "1.1.0"));
        deployments.push(desired("prod", name, "1.0.0"));
        fakes.live("staging", name, "1.1.0").await;
    }
    files(prod_extra, &mfes, &deployments)
}

#[tokio::test]
async fn twelve_mfes_are_one_pull_request_with_one_plan_comment_then_merged() {
    let fakes = Fakes::new();
    let files = twelve(&fakes, "    approval: required\n").await;
    let repo = repository(&files);
    let forge = FakeForge::with_files(files);
    let metrics = gitops_metrics::MemorySink::new();

    // A dry run writes nothing.
    let calls = forge.calls();
    let dry = promote(&repo, &fakes, &ask(&[]), None, None, &metrics)
        .await
        .unwrap();
    assert_eq!(dry.outcome, PromotionOutcome::WouldPropose);
    assert_eq!((dry.plan.changes.len(), dry.pull_request), (12, None));
    assert_eq!(forge.calls(), calls, "a dry run never touches the forge");

    let report = promote(&repo, &fakes, &ask(&[]), Some(&forge), None, &metrics)
        .await
        .unwrap();
    assert_eq!(report.outcome, PromotionOutcome::Proposed);
    let number = report.pull_request.unwrap();
    let open = forge.open_pull_requests().await.unwrap();
    assert_eq!(open.len(), 1, "ONE pull request: {open:?}");
    assert_eq!(open[0].branch, "gitops-promote/staging/prod");
    assert_eq!(open[0].title, "Promote 12 MFEs from staging to prod");
    assert_eq!(open[0].pair(), None);
    let changed = forge.changed_files(number).await.unwrap();
    assert_eq!(changed.len(), 12);
    assert!(changed.iter().all(|f| f.starts_with("deployments/prod/")));
    let comments = forge.comments(number).await.unwrap();
    assert_eq!(comments.len(), 1, "ONE plan comment");
    for i in 1..=12 {
        assert!(
            comments[0]
                .body
                .contains(&format!("| `mfe{i:02}` | 1.0.0 -> **1.1.0** |")),
            "{}",
            comments[0].body
        );
    }
    assert_eq!(
        metrics
            .events()
            .iter()
            .filter(|e| e.stage == gitops_metrics::Stage::PrOpened)
            .count(),
        12
    );

    // A newer promotion replaces the pending one: same PR, still one comment.
    let again = promote(
        &repo,
        &fakes,
        &ask(&["mfe01"]),
        Some(&forge),
        None,
        &metrics,
    )
    .await
    .unwrap();
    assert_eq!(again.pull_request, Some(number));
    assert_eq!(forge.changed_files(number).await.unwrap().len(), 1);
    assert_eq!(forge.comments(number).await.unwrap().len(), 1);
    let full = promote(&repo, &fakes, &ask(&[]), Some(&forge), None, &metrics)
        .await
        .unwrap();
    assert_eq!(full.pull_request, Some(number));

    // The merge: approvals count only from someone other than the promoter.
    let merge = |at| merge_pull_request(&forge, None, number, at, &gitops_metrics::NullSink);
    assert_eq!(
        merge(now()).await.unwrap(),
        MergeOutcome::WaitingForApproval
    );
    forge.grant_write(&login("promoter"));
    forge.record_approval(number, &login("promoter")).unwrap();
    assert_eq!(
        merge(now()).await.unwrap(),
        MergeOutcome::WaitingForApproval
    );
    forge.grant_write(&login("reviewer"));
    forge.record_approval(number, &login("reviewer")).unwrap();
    let MergeOutcome::Merged { sha } = merge(now()).await.unwrap() else {
        panic!("not merged");
    };
    let base = forge.read_tree(sha.as_str()).await.unwrap();
    let merged = repository(&base.files);
    for i in 1..=12 {
        let d = merged
            .deployment(&env("prod"), &mfe(&format!("mfe{i:02}")))
            .unwrap();
        assert_eq!(
            (d.version.to_string(), d.requested_by.as_str()),
            ("1.1.0".to_owned(), "promoter")
        );
    }
    assert_eq!(
        forge.pull_request(number).await.unwrap().state,
        PrState::Merged
    );

    // Promoting again: nothing to promote, nothing proposed.
    let after = promote(&merged, &fakes, &ask(&[]), Some(&forge), None, &metrics)
        .await
        .unwrap();
    assert_eq!(after.outcome, PromotionOutcome::NothingToPromote);
    assert_eq!(after.plan.skipped.len(), 12);
    assert!(forge.open_pull_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn refused_without_allow_partial_proposes_nothing_and_partial_proposes_the_rest() {
    let fakes = Fakes::new();
    let mut files = twelve(&fakes, "").await;
    // mfe12's newest version is desired in staging but not deployed yet.
    let newer = desired("staging", "mfe12", "1.2.0");
    files.insert(
        deployment_path(&newer.environment, &newer.mfe),
        render_deployment(&newer).into_bytes(),
    );
    let repo = repository(&files);
    let forge = FakeForge::with_files(files);
    let sink = gitops_metrics::NullSink;
    let refused = promote(&repo, &fakes, &ask(&[]), Some(&forge), None, &sink)
        .await
        .unwrap();
    assert_eq!(refused.outcome, PromotionOutcome::Refused);
    assert_eq!(
        (
            refused.plan.changes.len(),
            refused.plan.refused.len(),
            refused.pull_request
        ),
        (11, 1, None)
    );
    assert!(forge.open_pull_requests().await.unwrap().is_empty());

    let partial = PromotionAsk {
        allow_partial: true,
        ..ask(&[])
    };
    let report = promote(&repo, &fakes, &partial, Some(&forge), None, &sink)
        .await
        .unwrap();
    assert_eq!(report.outcome, PromotionOutcome::Proposed);
    let number = report.pull_request.unwrap();
    let changed = forge.changed_files(number).await.unwrap();
    assert_eq!(changed.len(), 11);
    assert!(!changed.contains(&"deployments/prod/mfe12.json".to_owned()));
    let plan = &forge.comments(number).await.unwrap()[0].body;
    assert!(
        plan.contains("| `mfe12` | 1.2.0 | `not-live-in-source` |"),
        "the plan lists the refused: {plan}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["outcome"], "proposed");
    assert_eq!(json["from"], "staging");
    assert_eq!(
        json["refused"][0]["reasons"][0]["code"],
        "not-live-in-source"
    );
    assert_eq!(json["changes"].as_array().unwrap().len(), 11);
    assert_eq!(json["pull_request"], number);
}

#[tokio::test]
async fn the_merge_checks_every_promoted_file_and_nothing_else() {
    let fakes = Fakes::new();
    let files = twelve(&fakes, "    freeze:\n      - { from: 2026-12-20T00:00:00Z, until: 2027-01-04T00:00:00Z, reason: year-end freeze }\n").await;
    let repo = repository(&files);
    let forge = FakeForge::with_files(files);
    let sink = gitops_metrics::NullSink;
    let report = promote(&repo, &fakes, &ask(&[]), Some(&forge), None, &sink)
        .await
        .unwrap();
    let number = report.pull_request.unwrap();
    // Judged again at merge time: frozen by then.
    let frozen = merge_pull_request(&forge, None, number, time("2026-12-24T00:00:00Z"), &sink)
        .await
        .unwrap();
    let MergeOutcome::Refused { reasons } = frozen else {
        panic!("{frozen:?}");
    };
    assert_eq!(reasons.len(), 12, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .all(|r| r.contains("freeze-window") && r.contains("year-end freeze"))
    );
    let checks = forge
        .combined_checks(&forge.pull_request(number).await.unwrap().head_sha)
        .await
        .unwrap();
    assert_eq!(checks.state, gitops_gh_pr::CheckState::Failure);

    // A promotion branch that changes another file is refused.
    let state = forge
        .branch_state("gitops-promote/staging/prod", None, true)
        .await
        .unwrap();
    let head = forge
        .read_tree(&open_head(&forge, number).await)
        .await
        .unwrap();
    let mut writes: Vec<gitops_gh_pr::FileWrite> = head
        .files
        .iter()
        .filter(|(path, _)| path.starts_with("deployments/prod/"))
        .map(|(path, content)| gitops_gh_pr::FileWrite::put(path.clone(), content.clone()))
        .collect();
    writes.push(gitops_gh_pr::FileWrite::put("gitops.yaml", "version: 1\n"));
    writes.push(gitops_gh_pr::FileWrite::put(
        "deployments/staging/mfe01.json",
        "{}\n",
    ));
    forge
        .propose(
            &gitops_gh_pr::Change::for_branch(
                "gitops-promote/staging/prod",
                "tampered",
                "",
                writes,
            )
            .judged_against(&state),
        )
        .await
        .unwrap();
    let tampered = merge_pull_request(&forge, None, number, now(), &sink)
        .await
        .unwrap();
    let MergeOutcome::Refused { reasons } = tampered else {
        panic!("{tampered:?}");
    };
    for needle in [
        "changes gitops.yaml",
        "changes deployments/staging/mfe01.json",
    ] {
        assert!(
            reasons.iter().any(|r| r.contains(needle)),
            "{needle}: {reasons:?}"
        );
    }

    // merge --all includes promotion PRs: a clean promotion proposed again merges.
    let report = promote(&repo, &fakes, &ask(&[]), Some(&forge), None, &sink)
        .await
        .unwrap();
    assert_eq!(report.pull_request, Some(number));
    let all = crate::merge_pull_requests(&forge, None, None, now(), &sink)
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert!(matches!(all[0], (n, Ok(MergeOutcome::Merged { .. })) if n == number));
}

async fn open_head(forge: &FakeForge, number: u64) -> String {
    forge
        .pull_request(number)
        .await
        .unwrap()
        .head_sha
        .to_string()
}

#[tokio::test]
async fn the_deploy_of_a_promotion_tells_nobody_and_fails_nothing() {
    let fakes = Fakes::new();
    let names = ["alpha", "bravo"];
    for name in names {
        fakes.publish(name, "1.1.0");
        fakes.live("staging", name, "1.1.0").await;
    }
    let files = files(
        "",
        &[
            ("alpha", "staging, prod", None),
            ("bravo", "staging, prod", None),
        ],
        &[
            desired("staging", "alpha", "1.1.0"),
            desired("staging", "bravo", "1.1.0"),
        ],
    );
    let repo = repository(&files);
    let forge = Arc::new(FakeForge::with_files(files));
    let sink = gitops_metrics::NullSink;
    let number = promote(&repo, &fakes, &ask(&[]), Some(forge.as_ref()), None, &sink)
        .await
        .unwrap()
        .pull_request
        .unwrap();
    let MergeOutcome::Merged { sha } =
        merge_pull_request(forge.as_ref(), Some(forge.as_ref()), number, now(), &sink)
            .await
            .unwrap()
    else {
        panic!("not merged");
    };
    let merged = repository(&forge.read_tree(sha.as_str()).await.unwrap().files);
    // The requester of a promoted desired state has no deployment for its fresh id.
    let options = DeployOptions {
        environment: Some(env("prod")),
        requester: Some(forge.clone()),
        ..DeployOptions::default()
    };
    let report = crate::deploy_all(&merged, &fakes, &options).await.unwrap();
    assert_eq!(report.pairs.len(), 2);
    assert!(
        report
            .pairs
            .iter()
            .all(|p| p.outcome == PairOutcome::Deployed),
        "{report:?}"
    );
    for name in names {
        let entry = fakes
            .registry
            .get(&env("prod"), &mfe(name))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(entry.version.to_string(), "1.1.0");
        assert_eq!(entry.deployed_by.as_str(), "promoter");
    }
}
