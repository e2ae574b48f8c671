//! The GitHub adapter against fake-github (real bare git repositories behind GitHub's REST
//! paths). When `GITOPS_TEST_OPENAPI` names GitHub's OpenAPI description, every response is
//! also checked against it; otherwise that check is skipped.

use std::time::{Duration, Instant};

use gitops_event_model::{CommitSha, EventType, RequestId};
use gitops_gh_pr::conformance;
use gitops_gh_pr::{
    BranchHead, Change, Error, FileWrite, Forge, GithubForge, PairState, PrState, Requester,
    RetryPolicy,
};
use gitops_testkit::{FakeGithub, Fault};
use secrecy::SecretString;

use crate::{env as env_name, login, mfe, repo, sha};

const TOKEN: &str = "ghs_fake-token-that-must-never-leak";

struct Env {
    _dir: tempfile::TempDir,
    gh: FakeGithub,
    base_sha: CommitSha,
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
        base_sha: sha(&base_sha),
    }
}

fn forge(gh: &FakeGithub, owner: &str, name: &str) -> GithubForge {
    GithubForge::new(
        &gh.base_url,
        SecretString::from(TOKEN),
        repo(&format!("{owner}/{name}")),
    )
    .unwrap()
    .with_retry_policy(RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_total: Duration::from_secs(5),
    })
}

async fn assert_conformant(gh: &FakeGithub) {
    if gitops_testkit::openapi_from_env().is_none() {
        gitops_testkit::skip("the OpenAPI check", "GITOPS_TEST_OPENAPI is not set");
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
    conformance::requester_suite(&f, &repo("acme/checkout"), &sha(&app_sha)).await;
    assert_conformant(&e.gh).await;
}

async fn base_tree(e: &Env) -> CommitSha {
    commit_of(e, &e.base_sha).await.0
}

fn deploy(base: &CommitSha, tree: &CommitSha, version: &str) -> Change {
    Change {
        branch: gitops_gh_pr::branch_name(&env_name("prod"), &mfe("checkout")),
        base_sha: Some(base.clone()),
        base_tree_sha: Some(tree.clone()),
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
        keep_description: false,
    }
}

fn raw(e: &Env) -> octocrab::Octocrab {
    octocrab::Octocrab::builder()
        .base_uri(e.gh.base_url.as_str())
        .unwrap()
        .personal_token("test:x".to_owned())
        .build()
        .unwrap()
}

/// (tree sha, parents) of a commit, read straight from fake-github.
async fn commit_of(e: &Env, commit: &CommitSha) -> (CommitSha, Vec<CommitSha>) {
    let v: serde_json::Value = raw(e)
        .get(
            format!("/repos/acme/gitops/git/commits/{commit}"),
            None::<&()>,
        )
        .await
        .unwrap();
    let parents = v["parents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| sha(p["sha"].as_str().unwrap()))
        .collect();
    (sha(v["tree"]["sha"].as_str().unwrap()), parents)
}

async fn pair(f: &GithubForge, exact: bool) -> PairState {
    f.pair_state(&env_name("prod"), &mfe("checkout"), DESIRED, exact)
        .await
        .unwrap()
}

const DESIRED: &str = "environments/prod/checkout.yaml";

/// pair_state (cheap) + propose with compare-and-swap + merge, counted on both sides.
async fn request_to_merge(
    e: &Env,
    f: &GithubForge,
    base: &CommitSha,
    version: &str,
) -> (
    u64,
    Vec<String>,
    PairState,
    gitops_gh_pr::PullRequest,
    CommitSha,
) {
    e.gh.clear_requests().await.unwrap();
    let before = f.calls();
    let (tree, _) = commit_of(e, base).await;
    e.gh.clear_requests().await.unwrap();
    let state = pair(f, false).await;
    let pr = f
        .propose(&deploy(base, &tree, version).judged_against(&state))
        .await
        .unwrap();
    let merge = f.merge(pr.number, &pr.head_sha).await.unwrap();
    let used = f.calls() - before;
    let served: Vec<String> =
        e.gh.requests()
            .await
            .unwrap()
            .iter()
            .map(|r| format!("{} {} {}", r.method, r.path, r.status))
            .collect();
    assert_eq!(
        u64::try_from(served.len()).unwrap(),
        used,
        "client and server agree: {served:#?}"
    );
    (used, served, state, pr, merge)
}

#[tokio::test]
async fn request_to_merged_pr_takes_at_most_six_calls() {
    let e = env("acme", "gitops").await;
    // As the runtime builds it: the repository's settings read once, up front.
    let f = forge(&e.gh, "acme", "gitops").resolve().await.unwrap();

    // First request for the pair: the branch does not exist yet.
    let (used, served, state, pr, merge) = request_to_merge(&e, &f, &e.base_sha, "1.0.0").await;
    println!("request-to-merge, new pair: {used} calls: {served:#?}");
    assert!(used <= 6, "{used} calls: {served:#?}");
    assert_eq!(state.expected, BranchHead::Absent);
    let (_, parents) = commit_of(&e, &pr.head_sha).await;
    assert_eq!(
        parents,
        std::slice::from_ref(&e.base_sha),
        "a new branch: one parent, the base"
    );

    // The next request for the pair reuses the branch, whose last PR merged.
    let (used, served, state, pr2, merge2) = request_to_merge(&e, &f, &merge, "1.0.1").await;
    println!("request-to-merge, merged pair: {used} calls: {served:#?}");
    // One more than a new pair: the base branch's head, read before replacing a head.
    assert!(used <= 7, "{used} calls: {served:#?}");
    assert_ne!(pr2.number, pr.number);
    assert_eq!(state.expected, BranchHead::At(pr.head_sha.clone()));
    assert_eq!(state.pending, None);
    let (_, parents) = commit_of(&e, &pr2.head_sha).await;
    assert_eq!(
        parents,
        [merge.clone(), pr.head_sha.clone()],
        "first parent the base, second the replaced head"
    );

    // A request replacing an open PR: one more call (the pending file).
    let (tree2, _) = commit_of(&e, &merge2).await;
    let state = pair(&f, false).await;
    let open = f
        .propose(&deploy(&merge2, &tree2, "1.0.2").judged_against(&state))
        .await
        .unwrap();
    let (used, served, state, pr3, merge3) = request_to_merge(&e, &f, &merge2, "1.0.3").await;
    println!("request-to-merge, replacing an open PR: {used} calls: {served:#?}");
    assert!(used <= 8, "{used} calls: {served:#?}");
    assert_eq!(pr3.number, open.number, "the open PR is kept");
    assert_eq!(state.expected, BranchHead::At(open.head_sha.clone()));
    assert_eq!(state.pending.as_deref(), Some(&b"version: 1.0.2\n"[..]));
    assert_eq!(state.pull_request.map(|p| p.number), Some(open.number));
    let (_, parents) = commit_of(&e, &pr3.head_sha).await;
    assert_eq!(parents, [merge2.clone(), open.head_sha.clone()]);
    assert_eq!(
        f.changed_files(pr3.number).await.unwrap(),
        [DESIRED, "environments/prod/importmap.json"],
        "the PR's diff is the writes alone"
    );

    let before = f.calls();
    let t = f.read_tree("main").await.unwrap();
    assert_eq!(
        f.calls() - before,
        2,
        "read_tree = tarball redirect + download"
    );
    assert_eq!(t.commit_sha, merge3);
    assert_eq!(t.files["README.md"], b"# gitops\n");
    assert_eq!(t.files[DESIRED], b"version: 1.0.3\n");
    assert_conformant(&e.gh).await;
}

#[tokio::test]
async fn github_cas_between_two_instances_lets_exactly_one_win() {
    let e = env("acme", "gitops").await;
    let f = forge(&e.gh, "acme", "gitops");
    let g = forge(&e.gh, "acme", "gitops");
    for _ in 0..4 {
        conformance::same_expectation_exactly_one_wins(&f, &g).await;
    }
    for _ in 0..2 {
        conformance::newest_intent_wins_under_contention(&[&f, &g]).await;
    }
    assert_conformant(&e.gh).await;
}

#[tokio::test]
async fn a_branch_moved_without_a_pr_is_pending_on_an_exact_read() {
    let e = env("acme", "gitops").await;
    let f = forge(&e.gh, "acme", "gitops");
    let (_, _, _, pr, merge) = request_to_merge(&e, &f, &e.base_sha, "1.0.0").await;
    // A proposer died between moving the branch and opening its PR: the branch holds a
    // change no PR shows.
    let (tree, _) = commit_of(&e, &merge).await;
    let crab = raw(&e);
    let leftover_tree: serde_json::Value = crab
        .post(
            "/repos/acme/gitops/git/trees",
            Some(&serde_json::json!({"base_tree": tree, "tree": [
                {"path": DESIRED, "mode": "100644", "type": "blob", "content": "version: 9.9.9\n"}
            ]})),
        )
        .await
        .unwrap();
    let leftover: serde_json::Value = crab
        .post(
            "/repos/acme/gitops/git/commits",
            Some(&serde_json::json!({"message": "leftover", "tree": leftover_tree["sha"], "parents": [merge, pr.head_sha]})),
        )
        .await
        .unwrap();
    let leftover = sha(leftover["sha"].as_str().unwrap());
    let _: serde_json::Value = crab
        .patch(
            "/repos/acme/gitops/git/refs/heads/gitops/prod/checkout",
            Some(&serde_json::json!({"sha": leftover, "force": true})),
        )
        .await
        .unwrap();

    // The cheap read trusts the pull requests: its expectation is stale, and the proposal
    // built on it loses without changing anything.
    let cheap = pair(&f, false).await;
    assert_eq!(cheap.expected, BranchHead::At(pr.head_sha.clone()));
    assert_eq!(cheap.pending, None);
    let (tree, _) = commit_of(&e, &merge).await;
    let lost = f
        .propose(&deploy(&merge, &tree, "1.0.1").judged_against(&cheap))
        .await;
    assert!(matches!(lost, Err(Error::Conflict { .. })), "{lost:?}");
    assert!(
        f.open_pull_requests().await.unwrap().is_empty(),
        "no PR opened by the loser"
    );
    assert_eq!(
        f.read_tree("gitops/prod/checkout")
            .await
            .unwrap()
            .commit_sha,
        leftover
    );

    // The exact read sees the real head and counts the unknown change as pending.
    let before = f.calls();
    let exact = pair(&f, true).await;
    assert_eq!(
        f.calls() - before,
        3,
        "newest PR, the ref, the pending file"
    );
    assert_eq!(exact.expected, BranchHead::At(leftover.clone()));
    assert_eq!(exact.pending.as_deref(), Some(&b"version: 9.9.9\n"[..]));
    assert_eq!(exact.pull_request, None);
    let won = f
        .propose(&deploy(&merge, &tree, "1.0.1").judged_against(&exact))
        .await
        .unwrap();
    assert_eq!(won.state, PrState::Open);
    assert_eq!(
        f.read_tree("gitops/prod/checkout").await.unwrap().files[DESIRED],
        b"version: 1.0.1\n"
    );
    assert_conformant(&e.gh).await;
}

#[tokio::test]
async fn a_branch_deleted_after_merge_is_created_again() {
    let e = env("acme", "gitops").await;
    let f = forge(&e.gh, "acme", "gitops");
    let (_, _, _, pr, merge) = request_to_merge(&e, &f, &e.base_sha, "1.0.0").await;
    // "Automatically delete head branches".
    raw(&e)
        ._delete(
            "/repos/acme/gitops/git/refs/heads/gitops/prod/checkout",
            None::<&()>,
        )
        .await
        .unwrap();
    let exact = pair(&f, true).await;
    assert_eq!(
        exact,
        PairState {
            expected: BranchHead::Absent,
            pull_request: None,
            pending: None
        }
    );
    let (used, served, cheap, pr2, _) = request_to_merge(&e, &f, &merge, "1.0.1").await;
    assert_eq!(cheap.expected, BranchHead::At(pr.head_sha.clone()));
    assert!(
        used <= 8,
        "a merged pair's 7, and one more call to create the branch: {served:#?}"
    );
    assert_ne!(pr2.number, pr.number);
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
    // Bounded: the policy's 4 attempts in each of the 3 rounds a rate limit naming its wait
    // is waited out (transport.rs, THROTTLE_ROUNDS).
    assert_eq!(f.calls() - before, 4 * 3, "bounded attempts");
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
        matches!(r, Err(Error::Throttled { retry_after: Some(wait) }) if wait == Duration::from_hours(1)),
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
            &sha(&"e".repeat(40)),
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
    assert_eq!(f.approvals(pr.number).await.unwrap(), [login("alice")]);
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
    let gitops = repo("acme/gitops");
    let id = RequestId::generate();
    assert!(f.find_workflow_run(&gitops, &id).await.unwrap().is_none());
    // fake-github starts a run named "<event_type> <client_payload.id>" for a dispatch, as a
    // workflow with `run-name: deploy ${{ github.event.client_payload.id }}` would.
    f.dispatch(
        &gitops,
        &EventType::parse("deploy").unwrap(),
        &serde_json::json!({ "id": id }),
    )
    .await
    .unwrap();
    let run = f
        .find_workflow_run(&gitops, &id)
        .await
        .unwrap()
        .expect("run started by the dispatch");
    assert!(run.mentions(&id), "{run:?}");
    assert_eq!(run.conclusion, None);
    e.gh.set_run_status("acme", "gitops", run.id, "completed", Some("success"))
        .await
        .unwrap();
    let done = f.find_workflow_run(&gitops, &id).await.unwrap().unwrap();
    assert_eq!(
        (done.id, done.status.as_deref()),
        (run.id, Some("completed"))
    );
    assert_eq!(done.conclusion.as_deref(), Some("success"));
    assert!(
        f.find_workflow_run(&gitops, &RequestId::generate())
            .await
            .unwrap()
            .is_none()
    );
    assert_conformant(&e.gh).await;
}

#[tokio::test]
async fn deployments_of_other_tools_are_listed_without_a_payload() {
    let e = env("acme", "gitops").await;
    let app_sha =
        e.gh.create_repo("acme", "checkout", &[("package.json", "{}\n")])
            .await
            .unwrap()
            .unwrap();
    let f = forge(&e.gh, "acme", "gitops");
    // Another tool's deployment on the same commit and environment.
    let _: serde_json::Value = raw(&e)
        .post(
            "/repos/acme/checkout/deployments",
            Some(&serde_json::json!({
                "ref": app_sha, "environment": "prod", "payload": {"tool": "other"},
                "auto_merge": false, "required_contexts": []
            })),
        )
        .await
        .unwrap();
    let ours = gitops_event_model::DeploymentPayload {
        id: RequestId::generate(),
        mfe: mfe("checkout"),
        version: gitops_event_model::Version::parse("2.0.0").unwrap(),
        user: None,
        keys: Vec::new(),
    };
    let checkout = repo("acme/checkout");
    let id = f
        .create_deployment(
            &checkout,
            &sha(&app_sha),
            &env_name("prod"),
            &ours,
            "deploy",
        )
        .await
        .unwrap();
    let listed = f
        .list_deployments(&checkout, &sha(&app_sha), &env_name("prod"))
        .await
        .unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0].id, id, "newest first");
    assert_eq!(listed[0].payload.as_ref(), Some(&ours));
    assert_eq!(listed[1].payload, None, "not ours: no payload, no error");
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
