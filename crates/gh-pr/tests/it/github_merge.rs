//! Merging on fake-github as on github.com: merges racing on one base (405 "Base branch was
//! modified", retried), the merge method the repository allows, its default branch, and who
//! has write access.

use gitops_event_model::CommitSha;
use gitops_gh_pr::{
    Change, Error, FileWrite, Forge, GithubForge, MergeMethod, PrState, RetryPolicy, conformance,
    desired_revisions,
};
use gitops_testkit::FakeGithub;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::{env, login, mfe, repo, sha};

/// The token of the forge: without a `<login>:` it acts as fake-github's own account, which
/// created the repository and is its admin.
const TOKEN: &str = "ghs_merge-test-token";
/// A repository admin's token, for settings and collaborators.
const ADMIN: &str = "testkit";

struct Gh {
    _dir: tempfile::TempDir,
    fake: FakeGithub,
    base: CommitSha,
}

async fn gh() -> Gh {
    let dir = tempfile::tempdir().unwrap();
    let gh = FakeGithub::spawn(dir.path().join("data"), gitops_testkit::openapi_from_env())
        .await
        .unwrap();
    let base = gh
        .create_repo("acme", "gitops", &[("README.md", "# gitops\n")])
        .await
        .unwrap()
        .unwrap();
    Gh {
        _dir: dir,
        fake: gh,
        base: sha(&base),
    }
}

fn forge(gh: &FakeGithub) -> GithubForge {
    GithubForge::new(&gh.base_url, SecretString::from(TOKEN), repo("acme/gitops"))
        .unwrap()
        .with_retry_policy(RetryPolicy::FAST)
}

/// A call as a repository admin; its JSON answer (`null` when empty).
async fn api(gh: &FakeGithub, method: &str, path: &str, body: Option<Value>) -> Value {
    let crab = octocrab::Octocrab::builder()
        .base_uri(gh.base_url.as_str())
        .unwrap()
        .personal_token(ADMIN.to_owned())
        .build()
        .unwrap();
    let body = body.as_ref();
    let resp = match method {
        "GET" => crab._get(path).await,
        "POST" => crab._post(path, body).await,
        "PATCH" => crab._patch(path, body).await,
        "PUT" => crab._put(path, body).await,
        "DELETE" => crab._delete(path, body).await,
        other => panic!("{other}"),
    }
    .unwrap();
    let status = resp.status();
    let text = crab.body_to_string(resp).await.unwrap();
    assert!(status.is_success(), "{method} {path}: {status} {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    }
}

async fn assert_conformant(gh: &FakeGithub) {
    if gitops_testkit::openapi_from_env().is_none() {
        gitops_testkit::skip("the OpenAPI check", "GITOPS_TEST_OPENAPI is not set");
        return;
    }
    let v = gh.violations().await.unwrap();
    assert!(v.is_empty(), "not GitHub's OpenAPI: {v:#?}");
}

fn file(i: usize) -> String {
    format!("deployments/prod/mfe{i}.json")
}

/// One deploy PR per pair `prod/mfe<i>`, all on `base`.
async fn propose_pairs(f: &GithubForge, base: &CommitSha, n: usize) -> Vec<(u64, CommitSha)> {
    let mut prs = Vec::new();
    for i in 0..n {
        let change = Change::new(
            env("prod"),
            mfe(&format!("mfe{i}")),
            format!("deploy mfe{i} 1.0.0 to prod"),
            "",
            vec![FileWrite::put(
                file(i),
                format!("{{\"version\": \"1.0.{i}\"}}\n"),
            )],
        )
        .on_base(base.clone(), None);
        let pr = f.propose(&change).await.unwrap();
        prs.push((pr.number, pr.head_sha));
    }
    prs
}

/// Every PR read (as the merge step does before its checks), then all merged at once.
async fn merge_all(
    forges: &[GithubForge],
    prs: &[(u64, CommitSha)],
) -> Vec<Result<CommitSha, Error>> {
    for (f, (n, _)) in forges.iter().zip(prs) {
        assert_eq!(f.pull_request(*n).await.unwrap().state, PrState::Open);
    }
    futures::future::join_all(
        forges
            .iter()
            .zip(prs)
            .map(|(f, (n, head))| f.merge(*n, head)),
    )
    .await
}

#[tokio::test]
async fn ten_pull_requests_merged_at_once_all_land() {
    let g = gh().await;
    let f = forge(&g.fake);
    let prs = propose_pairs(&f, &g.base, 10).await;
    // One forge per merging process.
    let forges: Vec<GithubForge> = (0..10).map(|_| forge(&g.fake)).collect();
    let results = merge_all(&forges, &prs).await;
    for (r, (n, _)) in results.iter().zip(&prs) {
        assert!(r.is_ok(), "#{n}: {r:?}");
    }
    let main = f.read_tree("main").await.unwrap();
    for i in 0..10 {
        assert!(main.files.contains_key(&file(i)), "{} missing", file(i));
    }
    for (n, _) in &prs {
        assert_eq!(f.pull_request(*n).await.unwrap().state, PrState::Merged);
    }
    let served = g.fake.requests().await.unwrap();
    let refused = served
        .iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with("/merge") && r.status == 405)
        .count();
    assert!(
        refused > 0,
        "the merges raced: GitHub's 405 was answered and retried"
    );
    assert_conformant(&g.fake).await;
}

#[tokio::test]
async fn without_the_retry_merges_at_once_are_stranded() {
    let g = gh().await;
    let f = forge(&g.fake);
    let prs = propose_pairs(&f, &g.base, 10).await;
    let forges: Vec<GithubForge> = (0..10)
        .map(|_| forge(&g.fake).with_merge_retry_policy(RetryPolicy::NONE))
        .collect();
    let results = merge_all(&forges, &prs).await;
    let stranded: Vec<&Result<CommitSha, Error>> = results.iter().filter(|r| r.is_err()).collect();
    assert!(!stranded.is_empty(), "{results:?}");
    for r in stranded {
        let Err(Error::Contended { reason }) = r else {
            panic!("a base that kept moving is contention, retryable: {r:?}");
        };
        assert!(reason.contains("Base branch was modified"), "{reason}");
    }
}

#[tokio::test]
async fn a_merge_method_the_repository_refuses_fails_before_merging() {
    let g = gh().await;
    api(
        &g.fake,
        "PATCH",
        "/repos/acme/gitops",
        Some(json!({"allow_merge_commit": false, "allow_rebase_merge": false})),
    )
    .await;
    let f = forge(&g.fake).resolve().await.unwrap();
    let prs = propose_pairs(&f, &g.base, 1).await;
    let (number, head) = prs[0].clone();
    let before = f.calls();
    let err = f.merge(number, &head).await.unwrap_err();
    let text = err.to_string();
    for part in [
        "merge_method",
        "merge method merge",
        "allow_merge_commit",
        "allows: squash",
    ] {
        assert!(text.contains(part), "{text}");
    }
    assert_eq!(
        f.calls(),
        before,
        "refused with the settings read at resolve: no call"
    );
    assert_eq!(f.pull_request(number).await.unwrap().state, PrState::Open);

    // Configured to squash: one commit on main, main its only parent.
    let squash = forge(&g.fake).with_merge_method(MergeMethod::Squash);
    let merged = squash.merge(number, &head).await.unwrap();
    let commit = api(
        &g.fake,
        "GET",
        &format!("/repos/acme/gitops/git/commits/{merged}"),
        None,
    )
    .await;
    assert_eq!(commit["parents"].as_array().unwrap().len(), 1, "{commit}");
    assert_eq!(commit["parents"][0]["sha"], g.base.as_str());
    // A forge whose settings were never read pays one call for them, then the merge.
    let rebase = forge(&g.fake).with_merge_method(MergeMethod::Rebase);
    let prs = propose_pairs(&rebase, &merged, 2).await;
    let before = rebase.calls();
    assert!(
        matches!(
            rebase.merge(prs[1].0, &prs[1].1).await,
            Err(Error::Invalid { .. })
        ),
        "rebase is off"
    );
    assert_eq!(rebase.calls() - before, 1, "the settings read, no merge");
    assert_conformant(&g.fake).await;
}

/// A bare clone's work tree: `git clone` of fake-github's repository.
fn clone(gh: &FakeGithub, to: &std::path::Path) {
    let out = std::process::Command::new("git")
        .args(["clone", "-q"])
        .arg(gh.repo_path("acme", "gitops"))
        .arg(to)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn squashed_and_rebased_merges_keep_the_order_of_desired_states() {
    let g = gh().await;
    let squash = forge(&g.fake).with_merge_method(MergeMethod::Squash);
    let rebase = forge(&g.fake).with_merge_method(MergeMethod::Rebase);
    let mut base = g.base.clone();
    // mfe0 by squash, mfe1 by rebase, then mfe0 again by squash.
    for (i, f) in [(0, &squash), (1, &rebase), (0, &squash)] {
        let change = Change::new(
            env("prod"),
            mfe(&format!("mfe{i}")),
            format!("deploy mfe{i}"),
            "",
            vec![FileWrite::put(file(i), format!("{{\"at\": \"{base}\"}}\n"))],
        )
        .on_base(base.clone(), None);
        let state = f
            .pair_state(&env("prod"), &mfe(&format!("mfe{i}")), &file(i), true)
            .await
            .unwrap();
        let pr = f.propose(&change.judged_against(&state)).await.unwrap();
        base = f.merge(pr.number, &pr.head_sha).await.unwrap();
    }
    let work = tempfile::tempdir().unwrap();
    clone(&g.fake, &work.path().join("c"));
    let revisions = desired_revisions(&work.path().join("c"), "deployments")
        .await
        .unwrap();
    assert_eq!(revisions.head, base);
    let (a, b) = (&revisions.by_path[&file(0)], &revisions.by_path[&file(1)]);
    assert_eq!(a.commit, base, "the last squash is mfe0's revision");
    assert!(a.position > b.position, "{revisions:?}");
    assert_eq!(b.position, 3, "root, squash, rebase");
}

#[tokio::test]
async fn pull_requests_target_the_default_branch() {
    let g = gh().await;
    // `trunk` becomes the default branch; `main` stays, untouched.
    api(
        &g.fake,
        "POST",
        "/repos/acme/gitops/git/refs",
        Some(json!({"ref": "refs/heads/trunk", "sha": g.base})),
    )
    .await;
    let repo_json = api(
        &g.fake,
        "PATCH",
        "/repos/acme/gitops",
        Some(json!({"default_branch": "trunk"})),
    )
    .await;
    assert_eq!(repo_json["default_branch"], "trunk");
    let f = forge(&g.fake);
    assert_eq!(f.base_branch(), "main", "not resolved yet");
    let before = f.calls();
    let f = f.resolve().await.unwrap();
    assert_eq!(f.calls() - before, 1);
    assert_eq!(f.base_branch(), "trunk");
    let pr = f
        .propose(&Change::new(
            env("prod"),
            mfe("checkout"),
            "deploy checkout",
            "",
            vec![FileWrite::put(file(0), "{}\n")],
        ))
        .await
        .unwrap();
    assert_eq!(pr.base, "trunk");
    let merged = f.merge(pr.number, &pr.head_sha).await.unwrap();
    assert_eq!(f.read_tree("trunk").await.unwrap().commit_sha, merged);
    assert_eq!(f.read_tree("main").await.unwrap().commit_sha, g.base);
    let settings_reads = g
        .fake
        .requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/repos/acme/gitops")
        .count();
    assert_eq!(settings_reads, 1, "the settings are read once, by resolve");

    // GITOPS_BASE_BRANCH wins over the default branch.
    let url = g.fake.base_url.clone();
    let configured = GithubForge::from_lookup(|k| match k {
        "GITHUB_API_URL" => Some(url.clone()),
        "GITOPS_GITHUB_TOKEN" => Some(TOKEN.to_owned()),
        "GITHUB_REPOSITORY" => Some("acme/gitops".to_owned()),
        "GITOPS_BASE_BRANCH" => Some("main".to_owned()),
        _ => None,
    })
    .unwrap()
    .resolve()
    .await
    .unwrap();
    assert_eq!(configured.base_branch(), "main");
    assert_conformant(&g.fake).await;
}

#[tokio::test]
async fn write_access_is_the_collaborators_permission() {
    let g = gh().await;
    for (user, permission) in [
        ("priya", "push"),
        ("mia", "maintain"),
        ("rita", "pull"),
        ("tom", "triage"),
    ] {
        api(
            &g.fake,
            "PUT",
            &format!("/repos/acme/gitops/collaborators/{user}"),
            Some(json!({ "permission": permission })),
        )
        .await;
    }
    let f = forge(&g.fake);
    conformance::write_access_is_reported(&f, &login("priya"), Some(&login("stranger"))).await;
    for (user, can) in [
        ("priya", true),
        ("Mia", true),
        ("rita", false),
        ("tom", false),
        ("stranger", false),
        ("renovate[bot]", false),
        // The account that created the repository (fake-github's own): an admin.
        ("gitops-bot", true),
    ] {
        assert_eq!(
            f.has_write_access(&login(user)).await.unwrap(),
            can,
            "{user}"
        );
    }
    api(
        &g.fake,
        "DELETE",
        "/repos/acme/gitops/collaborators/priya",
        None,
    )
    .await;
    assert!(!f.has_write_access(&login("priya")).await.unwrap());
    // Only an admin manages collaborators: a writer cannot promote itself.
    let mia = octocrab::Octocrab::builder()
        .base_uri(g.fake.base_url.as_str())
        .unwrap()
        .personal_token("mia:x".to_owned())
        .build()
        .unwrap();
    let refused = mia
        ._put(
            "/repos/acme/gitops/collaborators/mia",
            Some(&json!({"permission": "admin"})),
        )
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_conformant(&g.fake).await;
}
