use gitops_gh_pr::conformance;
use gitops_gh_pr::{Change, FakeForge, FileWrite, Forge, WorkflowRun};

#[tokio::test]
async fn fake_passes_the_forge_suite() {
    let forge = FakeForge::new();
    conformance::forge_suite(&forge).await;
}

#[tokio::test]
async fn fake_passes_the_requester_suite() {
    let forge = FakeForge::new();
    conformance::requester_suite(&forge, "acme/checkout", &"a".repeat(40)).await;
    assert_eq!(forge.dispatches().len(), 1);
}

#[tokio::test]
async fn fake_counts_approvals_on_the_current_head_only() {
    let forge = FakeForge::new();
    let mut change = Change {
        environment: "prod".into(),
        mfe: "checkout".into(),
        base_sha: None,
        base_tree_sha: None,
        writes: vec![FileWrite::put("a.yaml", "1")],
        title: "t".into(),
        body: String::new(),
        expected: None,
        pull_request: None,
    };
    let pr = forge.propose(&change).await.unwrap();
    forge.record_approval(pr.number, "alice").unwrap();
    forge.record_approval(pr.number, "bob").unwrap();
    forge.record_review(pr.number, "bob", false).unwrap();
    assert_eq!(forge.approvals(pr.number).await.unwrap(), ["alice"]);
    change.writes = vec![FileWrite::put("a.yaml", "2")];
    forge.propose(&change).await.unwrap();
    assert!(
        forge.approvals(pr.number).await.unwrap().is_empty(),
        "new head, stale approval"
    );
}

#[tokio::test]
async fn fake_finds_workflow_runs_by_correlation_id() {
    use gitops_gh_pr::Requester;
    let forge = FakeForge::new();
    forge.add_workflow_run(
        "acme/gitops",
        WorkflowRun {
            id: 7,
            name: "deploy".into(),
            display_title: "deploy checkout 01JABC".into(),
            status: "queued".into(),
            conclusion: None,
            html_url: "https://example.test/run/7".into(),
        },
    );
    let run = forge
        .find_workflow_run("acme/gitops", "01JABC")
        .await
        .unwrap();
    assert_eq!(run.map(|r| r.id), Some(7));
    assert!(
        forge
            .find_workflow_run("acme/gitops", "01JXYZ")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn fake_refuses_unknown_base() {
    let forge = FakeForge::new();
    let r = forge
        .propose(&Change {
            environment: "prod".into(),
            mfe: "checkout".into(),
            base_sha: Some("b".repeat(40)),
            base_tree_sha: None,
            writes: vec![FileWrite::put("a.yaml", "1")],
            title: "t".into(),
            body: String::new(),
            expected: None,
            pull_request: None,
        })
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
