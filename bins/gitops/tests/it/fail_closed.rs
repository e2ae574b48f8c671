//! Issue 14, part 3: inside GitHub Actions (`GITHUB_ACTIONS=true`) `gitops` never falls back to
//! the local git forge or to embedded targets (they would "succeed" on the runner's disk), unless
//! `gitops.yaml` says `local_test: true`.

use std::path::Path;
use std::process::{Command, Output};

use super::{GITOPS, payload, repo_copy, write_event};

/// Runs `gitops` as a GitHub Actions step would, with `vars` on top of an environment holding
/// no token, repository or event.
fn in_actions(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(GITOPS);
    cmd.args(args)
        .env("GITHUB_ACTIONS", "true")
        .env_remove("GITHUB_EVENT_PATH")
        .env_remove("GITOPS_GITHUB_TOKEN")
        .env_remove("GITHUB_TOKEN")
        .env_remove("GITHUB_REPOSITORY")
        .env_remove("GITHUB_SHA")
        .env_remove("GITOPS_METRICS_FILE")
        .env_remove("GITOPS_ALLOW_ABSOLUTE_TARGETS")
        // Nothing may reach GitHub: a closed port, answered at once.
        .env("GITHUB_API_URL", "http://127.0.0.1:9")
        .env("GITOPS_CONNECT_TIMEOUT", "2")
        .env("GITOPS_REQUEST_TIMEOUT", "5");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
}

/// The example repository (embedded targets), committed on `main`.
fn committed_copy() -> tempfile::TempDir {
    let repo = repo_copy();
    git(repo.path(), &["init", "-q", "-b", "main"]);
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-q", "-m", "init"]);
    repo
}

fn mark_local_test(repo: &Path) {
    let path = repo.join("gitops.yaml");
    let config = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("local_test: true\n{config}")).unwrap();
}

#[test]
fn in_actions_a_missing_token_is_a_configuration_error_naming_the_secret() {
    let repo = committed_copy();
    let events = tempfile::tempdir().unwrap();
    let event = write_event(events.path(), &payload("dev", "1.5.0"));
    let process = [
        "process",
        "--repo",
        repo.path().to_str().unwrap(),
        "--event",
        &event,
        "--at",
        "2026-11-26T12:00:00Z",
    ];
    // No token at all, an empty secret (what Actions passes for a missing one), or no
    // GITHUB_REPOSITORY: never the local git repository.
    for vars in [
        vec![("GITHUB_REPOSITORY", "acme/gitops")],
        vec![
            ("GITHUB_REPOSITORY", "acme/gitops"),
            ("GITOPS_GITHUB_TOKEN", ""),
        ],
        vec![("GITOPS_GITHUB_TOKEN", "dummy")],
    ] {
        let out = in_actions(&process, &vars);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{vars:?}: {err}");
        for name in [
            "GITOPS_GITHUB_TOKEN",
            "GITOPS_APP_ID",
            "GITOPS_APP_PRIVATE_KEY",
            "local_test: true",
        ] {
            assert!(err.contains(name), "{vars:?}: {err}");
        }
        assert!(!err.contains("dummy"), "never the token: {err}");
    }
    // Nothing was proposed on the runner: no deploy branch.
    let branches = Command::new("git")
        .args(["branch", "--list", "gitops/*"])
        .current_dir(repo.path())
        .output()
        .unwrap();
    assert!(branches.stdout.is_empty(), "{branches:?}");
    // `gitops deploy` too: a job that cannot tell its requesters fails.
    let out = in_actions(
        &["deploy", "--repo", repo.path().to_str().unwrap()],
        &[("GITHUB_REPOSITORY", "acme/gitops")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("GITOPS_GITHUB_TOKEN"),
        "{}",
        stderr(&out)
    );
    assert!(!repo.path().join("local").exists(), "nothing written");
}

#[test]
fn in_actions_embedded_targets_are_a_configuration_error_naming_the_environment() {
    let repo = committed_copy();
    let token = [
        ("GITOPS_GITHUB_TOKEN", "dummy"),
        ("GITHUB_REPOSITORY", "acme/gitops"),
    ];
    let out = in_actions(
        &["bootstrap", "--repo", repo.path().to_str().unwrap()],
        &token,
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("environment `dev`")
            && err.contains("storage: s3://")
            && err.contains("registry: dynamodb://")
            && err.contains("cdn: cloudfront://")
            && err.contains("local_test: true"),
        "{err}"
    );
    assert!(!repo.path().join("local").exists(), "nothing created");

    // A deploy of the committed desired states: every pair fails as a configuration error
    // naming its environment; nothing lands on the runner's disk.
    let out = in_actions(&["deploy", "--repo", repo.path().to_str().unwrap()], &token);
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains("environment `dev`") && all.contains("storage: s3://"),
        "{all}"
    );
    assert!(!repo.path().join("local/dev/storage").exists(), "{all}");
}

#[test]
fn a_local_test_repository_still_runs_locally_in_actions() {
    let repo = committed_copy();
    mark_local_test(repo.path());
    git(repo.path(), &["commit", "-q", "-am", "local test"]);
    let out = in_actions(&["bootstrap", "--repo", repo.path().to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(repo.path().join("local/dev/storage").is_dir());

    // And process proposes on the local git forge, without a token, as before.
    let events = tempfile::tempdir().unwrap();
    let event = write_event(events.path(), &payload("dev", "1.5.0"));
    let out = in_actions(
        &[
            "process",
            "--repo",
            repo.path().to_str().unwrap(),
            "--event",
            &event,
            "--at",
            "2026-11-26T12:00:00Z",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
