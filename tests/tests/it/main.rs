//! End-to-end tests: the binaries and crates working together, on the embedded backends, on
//! fake-github and on moto.

// Test code runs on the harness's threads: blocking file and process calls are fine here.
#![allow(clippy::disallowed_methods)]

mod act_workflows;
mod adopt;
mod app_mode;
mod batch;
mod convergence;
mod deploy;
mod deploy_app;
mod drift;
mod faults;
mod fleet;
mod flow;
mod github;
mod github_faults;
mod hostile;
mod large_artifact;
mod limits;
mod mermaid;
mod metrics;
mod moto;
mod npm_contract;
mod ordering;
mod pins;
mod promote;
mod prune;
mod readme;
mod scenario;
mod scenario_aws;
mod setup_action;
mod support;
mod terraform;

use std::path::{Path, PathBuf};

/// The `gitops` binary: `GITOPS_BIN` (exported by scripts/test), else the one cargo built next to
/// this test (`cargo test --workspace` builds every binary of the workspace).
pub fn gitops_bin() -> PathBuf {
    workspace_bin("gitops", "GITOPS_BIN")
}

/// The `mfe` binary: `MFE_BIN`, else the one cargo built next to this test.
pub fn mfe_bin() -> PathBuf {
    workspace_bin("mfe", "MFE_BIN")
}

fn workspace_bin(name: &str, var: &str) -> PathBuf {
    if let Some(bin) = std::env::var_os(var).filter(|b| !b.is_empty()) {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let bin = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build --bins` or scripts/test",
        bin.display()
    );
    bin
}

/// A copy of the example GitOps repository in a temporary directory, committed to git (the
/// deploy orders desired states by their commits), with `local/` ignored.
pub fn repo_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/gitops-repo"),
        dir.path(),
    );
    std::fs::write(dir.path().join(".gitignore"), "local/\n").unwrap();
    support::git(dir.path(), &["init", "-q", "-b", "main", "."]);
    support::git(dir.path(), &["add", "-A"]);
    support::git(dir.path(), &["commit", "-qm", "example repository"]);
    dir
}

/// Every file under `dir` as (path relative to `root`, text), for `FakeGithub::create_repo`.
pub fn collect_files(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    assert!(dir.is_dir(), "{} is no directory", dir.display());
    for path in support::files_under(dir) {
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        out.push((rel, std::fs::read_to_string(&path).unwrap()));
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// fake-github with its runner's token machinery (no workflow runs: act is never called), so a
/// test can act as a workflow's `GITHUB_TOKEN` ([`workflow_deployment`]).
pub async fn fake_github_with_job_tokens(dir: &Path) -> gitops_testkit::FakeGithub {
    gitops_testkit::FakeGithub::spawn_with_runner(
        dir,
        gitops_testkit::openapi_from_env(),
        gitops_testkit::runner::RunnerConfig::new("/nonexistent/act", dir.join("runner-work")),
    )
    .await
    .unwrap()
}

/// What `mfe dispatch` does first in the requester's CD job: the request's deployment on its own
/// commit, made with that job's `GITHUB_TOKEN` (`deployments: write`), so it is created by
/// `github-actions[bot]`: the proof of origin. `payload` is `{id, mfe, version}`; returns the
/// deployment as GitHub answered it.
pub async fn workflow_deployment(
    github: &gitops_testkit::FakeGithub,
    repository: &str,
    sha: &str,
    environment: &str,
    payload: serde_json::Value,
) -> serde_json::Value {
    let (status, token) = github
        .api(
            "observer:x",
            reqwest::Method::POST,
            "/_fake/tokens",
            Some(serde_json::json!({
                "repository": repository,
                "permissions": {"deployments": "write"},
            })),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{token}");
    let (status, made) = github
        .api(
            token["token"].as_str().unwrap(),
            reqwest::Method::POST,
            &format!("/repos/{repository}/deployments"),
            Some(serde_json::json!({
                "ref": sha, "environment": environment, "auto_merge": false,
                "required_contexts": [], "payload": payload,
            })),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["creator"]["login"], "github-actions[bot]", "{made}");
    made
}
