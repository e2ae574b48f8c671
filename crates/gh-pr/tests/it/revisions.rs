//! `desired_revisions` on real git repositories: the order of desired states is the order of
//! commits on the default branch's first-parent chain.

use std::path::Path;
use std::process::Command;

use gitops_gh_pr::{Error, desired_revisions};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.test")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.test")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn write(dir: &Path, path: &str, content: &str) {
    let p = dir.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// Commit `files` on the checked-out branch; returns the commit.
fn commit(dir: &Path, files: &[(&str, &str)], message: &str) -> String {
    for (path, content) in files {
        write(dir, path, content);
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

fn position(dir: &Path, commit: &str) -> u64 {
    git(dir, &["rev-list", "--first-parent", "--count", commit])
        .parse()
        .unwrap()
}

const A: &str = "deployments/prod/checkout.json";
const B: &str = "deployments/Staging/cart.json";

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "-b", "main"]);
    dir
}

#[tokio::test]
async fn revisions_follow_the_first_parent_history() {
    let dir = repo();
    let d = dir.path();
    // A bot commit with a sequence, then a hand edit without one, of another file.
    let bot = commit(
        d,
        &[
            ("gitops.yaml", "version: 1\n"),
            (A, "{\"version\": \"1.0.0\", \"sequence\": 1}\n"),
        ],
        "deploy checkout 1.0.0",
    );
    let hand = commit(d, &[(B, "{\"version\": \"2.0.0\"}\n")], "by hand");
    let r = desired_revisions(d, "deployments").await.unwrap();
    assert_eq!(r.head.as_str(), hand);
    assert_eq!(r.by_path.len(), 2, "{r:?}");
    assert_eq!(
        (r.by_path[A].commit.as_str(), r.by_path[A].position),
        (bot.as_str(), 1)
    );
    assert_eq!(
        (r.by_path[B].commit.as_str(), r.by_path[B].position),
        (hand.as_str(), 2)
    );

    // A pull request merged with a merge commit while main moved on: the merge commit is the
    // revision, at its own first-parent position, not the PR's inner commit.
    git(d, &["switch", "-q", "-c", "gitops/prod/checkout"]);
    let inner = commit(
        d,
        &[(A, "{\"version\": \"1.1.0\", \"sequence\": 2}\n")],
        "inner",
    );
    git(d, &["switch", "-q", "main"]);
    let other = commit(d, &[("README.md", "hello\n")], "unrelated");
    git(
        d,
        &[
            "merge",
            "-q",
            "--no-ff",
            "-m",
            "Merge pull request #1",
            "gitops/prod/checkout",
        ],
    );
    let merge = git(d, &["rev-parse", "HEAD"]);
    let r = desired_revisions(d, "deployments").await.unwrap();
    assert_eq!(r.head.as_str(), merge);
    assert_eq!(
        r.by_path[A].commit.as_str(),
        merge,
        "not the inner commit {inner}"
    );
    assert_eq!(r.by_path[A].position, 4);
    assert_eq!(
        r.by_path[B].commit.as_str(),
        hand,
        "{other} did not touch it"
    );
    assert!(
        !r.by_path.contains_key("README.md"),
        "only files under the directory"
    );

    // A hand edit merged to main that keeps the old sequence, then a deploy and its revert:
    // each is newer than what it replaces.
    let edit = commit(
        d,
        &[(B, "{\"version\": \"2.1.0\", \"sequence\": 1}\n")],
        "hand edit",
    );
    let deploy = commit(
        d,
        &[(A, "{\"version\": \"1.2.0\", \"sequence\": 3}\n")],
        "deploy 1.2.0",
    );
    git(d, &["revert", "--no-edit", &deploy]);
    let revert = git(d, &["rev-parse", "HEAD"]);
    let r = desired_revisions(d, "deployments").await.unwrap();
    assert_eq!(r.by_path[B].commit.as_str(), edit);
    assert_eq!(r.by_path[A].commit.as_str(), revert);
    assert!(
        r.by_path[A].position > position(d, &deploy),
        "the revert is newer"
    );
    assert_eq!(
        std::fs::read_to_string(d.join(A)).unwrap(),
        "{\"version\": \"1.1.0\", \"sequence\": 2}\n",
        "the revert restored the older file, sequence and all"
    );

    // Reverting the merged pull request (a merge commit, `-m 1`).
    git(d, &["revert", "--no-edit", "-m", "1", &merge]);
    let revert_merge = git(d, &["rev-parse", "HEAD"]);
    // A deleted file is not listed.
    git(d, &["rm", "-q", B]);
    git(d, &["commit", "-q", "-m", "remove cart from Staging"]);
    let r = desired_revisions(d, "deployments/").await.unwrap();
    assert_eq!(r.by_path[A].commit.as_str(), revert_merge);
    assert!(!r.by_path.contains_key(B), "{r:?}");

    // Every position is git's own count, and a subdirectory of the work tree works too.
    let from_sub = desired_revisions(&d.join("deployments"), "deployments")
        .await
        .unwrap();
    assert_eq!(from_sub, r);
    for rev in r.by_path.values() {
        assert_eq!(rev.position, position(d, rev.commit.as_str()), "{rev:?}");
    }
    assert_eq!(position(d, r.head.as_str()), 9);
}

#[tokio::test]
async fn a_shallow_clone_is_refused() {
    let dir = repo();
    commit(dir.path(), &[(A, "1\n")], "one");
    commit(dir.path(), &[(A, "2\n")], "two");
    let clone = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    git(
        clone.path(),
        &["clone", "-q", "--depth", "1", &url, "shallow"],
    );
    let err = desired_revisions(&clone.path().join("shallow"), "deployments")
        .await
        .unwrap_err();
    let Error::Invalid { reason, .. } = &err else {
        panic!("{err:?}");
    };
    assert!(reason.contains("fetch-depth: 0"), "{reason}");
    // The full clone is fine.
    git(clone.path(), &["clone", "-q", &url, "full"]);
    let r = desired_revisions(&clone.path().join("full"), "deployments")
        .await
        .unwrap();
    assert_eq!(r.by_path[A].position, 2);
}

#[tokio::test]
async fn uncommitted_or_untracked_changes_under_the_directory_are_refused() {
    let dir = repo();
    let d = dir.path();
    commit(d, &[(A, "1\n"), ("README.md", "x\n")], "one");
    write(d, "README.md", "edited outside the directory\n");
    desired_revisions(d, "deployments")
        .await
        .expect("changes outside the directory do not matter");

    write(d, A, "edited\n");
    let err = desired_revisions(d, "deployments").await.unwrap_err();
    let shown = err.to_string();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    assert!(
        shown.contains("commit them first") && shown.contains(A),
        "{shown}"
    );
    git(d, &["checkout", "-q", "--", A]);

    write(d, "deployments/prod/new.json", "{}\n");
    let err = desired_revisions(d, "deployments").await.unwrap_err();
    assert!(
        err.to_string().contains("deployments/prod/new.json"),
        "untracked: {err}"
    );
    std::fs::remove_file(d.join("deployments/prod/new.json")).unwrap();

    git(d, &["rm", "-q", "--cached", A]);
    let err = desired_revisions(d, "deployments").await.unwrap_err();
    assert!(
        err.to_string().contains("commit them first"),
        "staged: {err}"
    );
}

#[tokio::test]
async fn not_a_repository_is_refused() {
    let plain = tempfile::tempdir().unwrap();
    let err = desired_revisions(plain.path(), "deployments")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid { reason, .. } if reason.contains("not a git repository")),
        "{err:?}"
    );
    let err = desired_revisions(&plain.path().join("missing"), "deployments")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");

    let empty = repo();
    let err = desired_revisions(empty.path(), "deployments")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid { reason, .. } if reason.contains("no commit")),
        "{err:?}"
    );
    for bad in ["../x", "/abs", ""] {
        let err = desired_revisions(empty.path(), bad).await.unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{bad}: {err:?}");
    }
}

/// `desired_history` (what `gitops metrics` reads): every version the first-parent history
/// wrote, oldest first, with its commit, committer time and content; a pull request's inner
/// commits appear as its merge, deletions are left out, `since` and `limit` bound the walk.
#[tokio::test]
async fn history_lists_each_version_written_on_the_default_branch() {
    let tmp = repo();
    let dir = tmp.path();
    let none = gitops_gh_pr::desired_history(dir, "deployments", 0, 100)
        .await
        .unwrap();
    assert!(none.is_empty(), "no commit yet: {none:?}");
    let first = commit(dir, &[(A, "v1\n"), ("README.md", "x\n")], "first");
    let second = commit(dir, &[(A, "v2\n"), (B, "c1\n")], "second");
    git(dir, &["checkout", "-q", "-b", "gitops/prod/checkout"]);
    commit(dir, &[(A, "inner\n")], "inner");
    commit(dir, &[(A, "v3\n")], "pr head");
    git(dir, &["checkout", "-q", "main"]);
    git(
        dir,
        &[
            "merge",
            "-q",
            "--no-ff",
            "-m",
            "merge",
            "gitops/prod/checkout",
        ],
    );
    let merge = git(dir, &["rev-parse", "HEAD"]);
    git(dir, &["rm", "-q", B]);
    git(dir, &["commit", "-q", "-m", "remove"]);

    let history = gitops_gh_pr::desired_history(dir, "deployments", 0, 100)
        .await
        .unwrap();
    let seen: Vec<(String, &str, String)> = history
        .iter()
        .map(|v| {
            (
                v.commit.to_string(),
                v.path.as_str(),
                String::from_utf8_lossy(&v.content).into_owned(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (first.clone(), A, "v1\n".to_owned()),
            (second.clone(), A, "v2\n".to_owned()),
            (second.clone(), B, "c1\n".to_owned()),
            (merge.clone(), A, "v3\n".to_owned()),
        ]
    );
    let time: i64 = git(dir, &["log", "-1", "--format=%ct", &merge])
        .parse()
        .unwrap();
    assert_eq!(history[3].committed_at, time);
    assert_eq!(history[3].subject, "merge");
    assert_eq!(history[0].subject, "first");

    let newest = gitops_gh_pr::desired_history(dir, "deployments", 0, 1)
        .await
        .unwrap();
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].commit.to_string(), merge);
    let later = gitops_gh_pr::desired_history(dir, "deployments", time + 3600, 100)
        .await
        .unwrap();
    assert!(later.is_empty(), "{later:?}");
}

/// `since` is a bound on committer time, whatever its size: git reads `--since=@N` as a
/// timestamp only from nine digits on, so a small `since` must not cut the walk short (the
/// history of a repository whose commits are older than the present second was once empty).
#[tokio::test]
async fn history_since_is_the_committer_time_bound_for_any_value() {
    let tmp = repo();
    let dir = tmp.path();
    let mut commits = Vec::new();
    for (version, date) in [
        ("v1\n", "1971-06-01T00:00:00Z"),
        ("v2\n", "2001-06-01T00:00:00Z"),
        ("v3\n", "2020-06-01T00:00:00Z"),
    ] {
        write(dir, A, version);
        git(dir, &["add", "-A"]);
        let out = Command::new("git")
            .args(["commit", "-q", "-m", version.trim()])
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.test")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.test")
            .env("GIT_AUTHOR_DATE", date)
            .env("GIT_COMMITTER_DATE", date)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        commits.push(
            git(dir, &["log", "-1", "--format=%ct"])
                .parse::<i64>()
                .unwrap(),
        );
    }
    let versions = |since| async move {
        gitops_gh_pr::desired_history(dir, "deployments", since, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|v| String::from_utf8_lossy(&v.content).trim().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(versions(0).await, ["v1", "v2", "v3"]);
    assert_eq!(versions(1).await, ["v1", "v2", "v3"]);
    assert_eq!(versions(commits[0] + 1).await, ["v2", "v3"]);
    assert_eq!(versions(commits[1]).await, ["v2", "v3"]);
    assert_eq!(versions(commits[1] + 1).await, ["v3"]);
    assert!(versions(commits[2] + 1).await.is_empty());
}
