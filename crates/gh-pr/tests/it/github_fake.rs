//! The GitHub adapter against fake-github (real bare git repositories behind GitHub's REST
//! paths). When `GITOPS_TEST_OPENAPI` names GitHub's OpenAPI description, every response is
//! also checked against it; otherwise that check is skipped.

use std::time::{Duration, Instant};

use gitops_gh_pr::conformance;
use gitops_gh_pr::{Change, Error, FileWrite, Forge, GithubForge, PrState, Requester, RetryPolicy};
use gitops_testkit::{FakeGithub, Fault};
use secrecy::SecretString;

const TOKEN: &str = "ghs_fake-token-that-must-never-leak";

struct Env {
    _dir: tempfile::TempDir,
    gh: FakeGithub,
    base_sha: String,
}

async fn env(owner: &str, repo: &str) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let openapi = gitops_testkit::openapi_from_env();
    let gh = FakeGithub::spawn(dir.path().join("data"), openapi)
        .await
        .unwrap();
    let base_sha = gh
        .create_repo(
            owner,
            repo,
            &[
                ("README.md", "# gitops\n"),
                ("environments/prod.yaml", "name: prod\n"),
            ],
        )
        .await
        .unwrap()
        .unwrap();
    Env {
        _dir: dir,
        gh,
        base_sha,
    }
}

fn forge(gh: &FakeGithub, owner: &str, repo: &str) -> GithubForge {
    GithubForge::new(&gh.base_url, SecretString::from(TOKEN), owner, repo)
        .unwrap()
        .with_retry_policy(RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            max_total_wait: Duration::from_secs(5),
        })
}

async fn assert_conformant(gh: &FakeGithub) {
    if gitops_testkit::openapi_from_env().is_none() {
        println!("skipping OpenAPI check: GITOPS_TEST_OPENAPI not set (run scripts/test)");
        return;
    }
    let v = gh.violations().await.unwrap();
    assert!(
        v.is_empty(),
        "responses that do not conform to GitHub's OpenAPI: {v:#?}"
    );
}

#[tokio::test]
async fn github_passes_the_forge_suite_on_fake_github() {
    let e = env("acme", "gitops").await;
    let f = forge(&e.gh, "acme", "gitops");
    conformance::forge_suite(&f).await;
    // Two adapter instances (two processes' worth of state) racing on one branch.
    let g = forge(&e.gh, "acme", "gitops");
    conformance::racing_proposers_lose_no_write(&f, &g).await;
    assert_conformant(&e.gh).await;
}

#[tokio::test]
async fn github_passes_the_requester_suite_on_fake_github() {
    let e = env("acme", "gitops").await;
    let app_sha =
        e.gh.create_repo("acme", "checkout", &[("package.json", "{}\n")])
            .await
            .unwrap()
            .unwrap();
    let f = forge(&e.gh, "acme", "gitops");
    conformance::requester_suite(&f, "acme/checkout", &app_sha).await;
    assert_conformant(&e.gh).await;
}

async fn base_tree(e: &Env) -> String {
    let crab = octocrab::Octocrab::builder()
        .base_uri(e.gh.base_url.as_str())
        .unwrap()
        .personal_token("test:x".to_owned())
        .build()
        .unwrap();
    let v: serde_json::Value = crab
        .get(
            format!("/repos/acme/gitops/git/commits/{}", e.base_sha),
            None::<&()>,
        )
        .await
        .unwrap();
    v["tree"]["sha"].as_str().unwrap().to_owned()
}

fn deploy(base: &str, tree: &str, version: &str) -> Change {
    Change {
        environment: "prod".into(),
        mfe: "checkout".into(),
        base_sha: Some(base.to_owned()),
        base_tree_sha: Some(tree.to_owned()),
        writes: vec![
            FileWrite::put(
                "environments/prod/checkout.yaml",
                format!("version: {version}\n"),
            ),
            FileWrite::put(
                "environments/prod/importmap.json",
                format!("{{\"checkout\":\"{version}\"}}\n"),
            ),
        ],
        title: format!("deploy checkout {version} to prod"),
        body: "requested by acme/checkout".into(),
        expected: None,
        pull_request: None,
    }
}

#[tokio::test]
async fn request_to_merged_pr_takes_at_most_six_calls() {
    let e = env("acme", "gitops").await;
    let tree = base_tree(&e).await;
    let f = forge(&e.gh, "acme", "gitops");

    // First request for the pair: the branch does not exist yet.
    e.gh.clear_requests().await.unwrap();
    let before = f.calls();
    let pr = f
        .propose(&deploy(&e.base_sha, &tree, "1.0.0"))
        .await
        .unwrap();
    let merge = f.merge(pr.number, &pr.head_sha).await.unwrap();
    let used = f.calls() - before;
    let served = e.gh.requests().await.unwrap();
    println!("request-to-merge, new branch: {used} calls: {served:?}");
    assert!(used <= 6, "{used} calls: {served:?}");
    assert_eq!(
        u64::try_from(served.len()).unwrap(),
        used,
        "client and server agree"
    );

    // The next request for the pair reuses the branch: fewer calls.
    let (base2, tree2) = {
        let crab = octocrab::Octocrab::builder()
            .base_uri(e.gh.base_url.as_str())
            .unwrap()
            .personal_token("test:x".to_owned())
            .build()
            .unwrap();
        let v: serde_json::Value = crab
            .get(
                format!("/repos/acme/gitops/git/commits/{merge}"),
                None::<&()>,
            )
            .await
            .unwrap();
        (merge.clone(), v["tree"]["sha"].as_str().unwrap().to_owned())
    };
    let before = f.calls();
    let pr2 = f.propose(&deploy(&base2, &tree2, "1.0.1")).await.unwrap();
    assert_ne!(pr2.number, pr.number);
    let merge2 = f.merge(pr2.number, &pr2.head_sha).await.unwrap();
    let used = f.calls() - before;
    println!("request-to-merge, existing branch: {used} calls");
    assert!(used <= 6, "{used}");
    let before = f.calls();
    let t = f.read_tree("main").await.unwrap();
    assert_eq!(
        f.calls() - before,
        2,
        "read_tree = tarball redirect + download"
    );
    assert_eq!(t.commit_sha, merge2);
    assert_eq!(t.files["README.md"], b"# gitops\n");
    assert_eq!(
        t.files["environments/prod/checkout.yaml"],
        b"version: 1.0.1\n"
    );
    assert_conformant(&e.gh).await;
}

#[tokio::test]
async fn server_errors_are_retried_and_counted() {
    let e = env("acme", "gitops").await;
    let tree = base_tree(&e).await;
    let f = forge(&e.gh, "acme", "gitops");
    e.gh.set_fault(&Fault {
        path_regex: "/git/trees$".into(),
        method: Some("POST".into()),
        status: Some(503),
        retry_after: None,
        count: Some(2),
        latency_ms: None,
        primary: false,
    })
    .await
    .unwrap();
    let before = f.calls();
    let pr = f
        .propose(&deploy(&e.base_sha, &tree, "1.0.0"))
        .await
        .unwrap();
    assert_eq!(
        f.calls() - before,
        5 + 2,
        "two retried 503s on top of 5 calls"
    );
    assert_eq!(pr.state, PrState::Open);
}

#[tokio::test]
async fn rate_limits_honour_retry_after() {
    let e = env("acme", "gitops").await;
    let f = forge(&e.gh, "acme", "gitops");
    for (status, primary) in [(429, false), (403, false), (403, true)] {
        e.gh.set_fault(&Fault {
            path_regex: "/pulls$".into(),
            method: Some("GET".into()),
            status: Some(status),
            retry_after: Some(1),
            count: Some(1),
            latency_ms: None,
            primary,
        })
        .await
        .unwrap();
        let (t, before) = (Instant::now(), f.calls());
        f.open_pull_requests().await.unwrap();
        assert_eq!(f.calls() - before, 2, "{status}");
        assert!(
            t.elapsed() >= Duration::from_millis(950),
            "{status}: waited {:?}",
            t.elapsed()
        );
    }
}

#[tokio::test]
async fn exhausted_rate_limit_is_throttled_and_bounded() {
    let e = env("acme", "gitops").await;
    let f = forge(&e.gh, "acme", "gitops");
    e.gh.set_fault(&Fault {
        path_regex: "/pulls$".into(),
        method: Some("GET".into()),
        status: Some(429),
        retry_after: Some(0),
        count: None,
        latency_ms: None,
        primary: false,
    })
    .await
    .unwrap();
    let before = f.calls();
    let r = f.open_pull_requests().await;
    assert!(matches!(r, Err(Error::Throttled { .. })), "{r:?}");
    assert_eq!(f.calls() - before, 4, "bounded attempts");
    // A wait longer than the total budget is not slept: refused at once.
    e.gh.clear_faults().await.unwrap();
    e.gh.set_fault(&Fault {
        path_regex: "/pulls$".into(),
        method: Some("GET".into()),
        status: Some(429),
        retry_after: Some(3600),
        count: None,
        latency_ms: None,
        primary: false,
    })
    .await
    .unwrap();
    let started = Instant::now();
    let r = f.open_pull_requests().await;
    assert!(
        matches!(r, Err(Error::Throttled { retry_after: Some(wait) }) if wait == Duration::from_secs(3600)),
        "{r:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let e = env("acme", "gitops").await;
    let f = forge(&e.gh, "acme", "gitops");
    let before = f.calls();
    assert!(matches!(
        f.pull_request(4242).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(f.calls() - before, 1);
    let before = f.calls();
    let r = f
        .set_status(
            &"e".repeat(40),
            "ctx",
            gitops_gh_pr::StatusState::Success,
            "x",
            None,
        )
        .await;
    assert!(
        matches!(r, Err(Error::Invalid { .. } | Error::NotFound { .. })),
        "{r:?}"
    );
    assert_eq!(f.calls() - before, 1);
}

#[tokio::test]
async fn approvals_count_reviews_on_the_head() {
    let e = env("acme", "gitops").await;
    let tree = base_tree(&e).await;
    let f = forge(&e.gh, "acme", "gitops");
    let pr = f
        .propose(&deploy(&e.base_sha, &tree, "1.0.0"))
        .await
        .unwrap();
    let review = |login: &str, event: &str| {
        let url = e.gh.base_url.clone();
        let (login, event) = (login.to_owned(), event.to_owned());
        async move {
            let crab = octocrab::Octocrab::builder()
                .base_uri(url.as_str())
                .unwrap()
                .personal_token(format!("{login}:x"))
                .build()
                .unwrap();
            let _: serde_json::Value = crab
                .post(
                    format!("/repos/acme/gitops/pulls/{}/reviews", pr.number),
                    Some(&serde_json::json!({"event": event, "body": "review"})),
                )
                .await
                .unwrap();
        }
    };
    review("alice", "APPROVE").await;
    review("bob", "APPROVE").await;
    review("bob", "REQUEST_CHANGES").await;
    assert_eq!(f.approvals(pr.number).await.unwrap(), ["alice"]);
    f.propose(&deploy(&e.base_sha, &tree, "1.0.1"))
        .await
        .unwrap();
    assert!(
        f.approvals(pr.number).await.unwrap().is_empty(),
        "approval of an older head"
    );
    assert_conformant(&e.gh).await;
}

#[tokio::test]
async fn workflow_runs_are_found_by_correlation_id() {
    let e = env("acme", "gitops").await;
    let f = forge(&e.gh, "acme", "gitops");
    let id = conformance::unique("corr");
    assert!(
        f.find_workflow_run("acme/gitops", &id)
            .await
            .unwrap()
            .is_none()
    );
    // fake-github starts a run named "<event_type> <client_payload.id>" for a dispatch, as a
    // workflow with `run-name: deploy ${{ github.event.client_payload.id }}` would.
    f.dispatch("acme/gitops", "deploy", &serde_json::json!({"id": id}))
        .await
        .unwrap();
    let run = f
        .find_workflow_run("acme/gitops", &id)
        .await
        .unwrap()
        .expect("run started by the dispatch");
    assert!(
        run.name.contains(&id) || run.display_title.contains(&id),
        "{run:?}"
    );
    assert_eq!(run.conclusion, None);
    e.gh.set_run_status("acme", "gitops", run.id, "completed", Some("success"))
        .await
        .unwrap();
    let done = f
        .find_workflow_run("acme/gitops", &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((done.id, done.status.as_str()), (run.id, "completed"));
    assert_eq!(done.conclusion.as_deref(), Some("success"));
    assert!(
        f.find_workflow_run("acme/gitops", "no-such-id")
            .await
            .unwrap()
            .is_none()
    );
    assert_conformant(&e.gh).await;
}

#[tokio::test]
async fn secrets_never_show() {
    let e = env("acme", "gitops").await;
    let f = forge(&e.gh, "acme", "gitops");
    let dbg = format!("{f:?}");
    assert!(!dbg.contains(TOKEN), "{dbg}");
    let err = f.pull_request(4242).await.unwrap_err();
    assert!(!format!("{err} {err:?}").contains(TOKEN));
}
