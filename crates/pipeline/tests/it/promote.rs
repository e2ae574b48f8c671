//! Promotion's effects on the strict fakes: the one pull request with its one plan comment on
//! `FakeForge`, the merge of a promotion PR and the deploy that follows. The pure plan (each
//! change, skip and refusal reason) is tested beside it, in `src/promote/tests.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;

use gitops_db_registry::Registry as _;
use gitops_gh_pr::{FakeForge, Forge as _, PrState};
use gitops_iac_config::{Intent, deployment_path, render_deployment};
use gitops_pipeline::{
    DeployOptions, MergeOutcome, PairOutcome, PromotionAsk, PromotionOutcome, deploy_all,
    merge_pull_request, merge_pull_requests, promote,
};
use time::OffsetDateTime;

use crate::forge::now;
use crate::{Fakes, desired, env, files, from_files, login, mfe};

fn time(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
}

/// Promote everything desired in staging (or only `mfes`) to prod, as `promoter`, now.
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

/// Environments staging, qa, then prod (with `prod_extra` YAML lines).
fn environments(prod_extra: &str) -> [(&str, &str); 3] {
    [("staging", ""), ("qa", ""), ("prod", prod_extra)]
}

/// Twelve MFEs desired and live at 1.1.0 in staging, 1.0.0 desired in prod; `extra` YAML for
/// prod. Returns the files (the forge's base holds them too).
async fn twelve(fakes: &Fakes, prod_extra: &str) -> BTreeMap<String, Vec<u8>> {
    let names: Vec<String> = (1..=12).map(|i| format!("mfe{i:02}")).collect();
    let mfes: Vec<(&str, &str)> = names
        .iter()
        .map(|n| (n.as_str(), "staging, qa, prod"))
        .collect();
    let mut deployments = Vec::new();
    for name in &names {
        deployments.push(desired("staging", name, "1.1.0", 0));
        deployments.push(desired("prod", name, "1.0.0", 0));
        fakes.live("staging", name, "1.1.0").await;
    }
    files(&environments(prod_extra), &mfes, &deployments)
}

#[tokio::test]
async fn twelve_mfes_are_one_pull_request_with_one_plan_comment_then_merged() {
    let fakes = Fakes::new();
    let files = twelve(&fakes, "    approval: required\n").await;
    let repo = from_files(&files);
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
    let merged = from_files(&base.files);
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
    let newer = desired("staging", "mfe12", "1.2.0", 0);
    files.insert(
        deployment_path(&newer.environment, &newer.mfe),
        render_deployment(&newer).into_bytes(),
    );
    let repo = from_files(&files);
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
    let repo = from_files(&files);
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
    let all = merge_pull_requests(&forge, None, None, now(), &sink)
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
        &environments(""),
        &[("alpha", "staging, prod"), ("bravo", "staging, prod")],
        &[
            desired("staging", "alpha", "1.1.0", 0),
            desired("staging", "bravo", "1.1.0", 0),
        ],
    );
    let repo = from_files(&files);
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
    let merged = from_files(&forge.read_tree(sha.as_str()).await.unwrap().files);
    // The requester of a promoted desired state has no deployment for its fresh id.
    let options = DeployOptions {
        environment: Some(env("prod")),
        requester: Some(forge.clone()),
        ..DeployOptions::default()
    };
    let report = deploy_all(&merged, &fakes, &options).await.unwrap();
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
