use gitops_event_model::RequestId;
use gitops_gh_pr::conformance;
use gitops_gh_pr::{Change, FakeForge, FileWrite, Forge, Requester, WorkflowRun};

use crate::{env, login, mfe, repo, sha};

#[tokio::test]
async fn fake_passes_the_forge_suite() {
    let forge = FakeForge::new();
    conformance::forge_suite(&forge).await;
}

#[tokio::test]
async fn fake_grants_write_access_only_explicitly() {
    let forge = FakeForge::new();
    assert!(
        !forge.has_write_access(&login("priya")).await.unwrap(),
        "strict"
    );
    forge.grant_write(&login("priya"));
    conformance::write_access_is_reported(&forge, &login("priya"), Some(&login("stranger"))).await;
}

#[tokio::test]
async fn fake_passes_the_requester_suite() {
    let forge = FakeForge::new();
    conformance::requester_suite(&forge, &repo("acme/checkout"), &sha(&"a".repeat(40))).await;
    assert_eq!(forge.dispatches().len(), 1);
}

#[tokio::test]
async fn fake_counts_approvals_on_the_current_head_only() {
    let forge = FakeForge::new();
    let mut change = Change::new(
        env("prod"),
        mfe("checkout"),
        "t",
        "",
        vec![FileWrite::put("a.yaml", "1")],
    );
    let pr = forge.propose(&change).await.unwrap();
    forge.record_approval(pr.number, &login("alice")).unwrap();
    forge.record_approval(pr.number, &login("bob")).unwrap();
    forge
        .record_review(pr.number, &login("bob"), false)
        .unwrap();
    assert_eq!(forge.approvals(pr.number).await.unwrap(), [login("alice")]);
    change.writes = vec![FileWrite::put("a.yaml", "2")];
    forge.propose(&change).await.unwrap();
    assert!(
        forge.approvals(pr.number).await.unwrap().is_empty(),
        "new head, stale approval"
    );
}

#[tokio::test]
async fn fake_finds_the_newest_workflow_run_by_correlation_id() {
    let forge = FakeForge::new();
    let gitops = repo("acme/gitops");
    let id = RequestId::generate();
    let run = |n: u64, title: String| WorkflowRun {
        id: n,
        name: Some("deploy".into()),
        display_title: title,
        status: Some("queued".into()),
        conclusion: None,
        html_url: format!("https://example.test/run/{n}"),
    };
    forge.add_workflow_run(&gitops, run(9, format!("deploy checkout {id}")));
    forge.add_workflow_run(&gitops, run(7, format!("deploy checkout {id} (older)")));
    forge.add_workflow_run(&gitops, run(11, "deploy checkout other".into()));
    forge.add_workflow_run(&repo("acme/elsewhere"), run(12, format!("deploy {id}")));
    let found = forge.find_workflow_run(&gitops, &id).await.unwrap();
    assert_eq!(found.map(|r| r.id), Some(9));
    let found = forge
        .find_workflow_run(&repo("ACME/GitOps"), &id)
        .await
        .unwrap();
    assert_eq!(
        found.map(|r| r.id),
        Some(9),
        "repositories compare without case"
    );
    assert!(
        forge
            .find_workflow_run(&gitops, &RequestId::generate())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn fake_refuses_unknown_base() {
    let forge = FakeForge::new();
    let r = forge
        .propose(
            &Change::new(
                env("prod"),
                mfe("checkout"),
                "t",
                "",
                vec![FileWrite::put("a.yaml", "1")],
            )
            .on_base(sha(&"b".repeat(40)), None),
        )
        .await;
    assert!(
        matches!(r, Err(gitops_gh_pr::Error::NotFound { .. })),
        "{r:?}"
    );
}

#[tokio::test]
async fn fake_lets_exactly_one_of_the_same_expectation_win() {
    let forge = FakeForge::new();
    for _ in 0..10 {
        conformance::same_expectation_exactly_one_wins(&forge, &forge).await;
        conformance::newest_intent_wins_under_contention(&[&forge]).await;
    }
}
