//! The `gitops` binary: check and process --dry-run (the flows are in the workspace `tests/`).

// Test code runs on the harness's threads: blocking file and process calls are fine here.
#![allow(clippy::disallowed_methods)]

mod fail_closed;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const GITOPS: &str = env!("CARGO_BIN_EXE_gitops");
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");

fn gitops(args: &[&str]) -> Output {
    Command::new(GITOPS)
        .args(args)
        .env_remove("GITHUB_EVENT_PATH")
        .output()
        .unwrap()
}

/// A copy of the example GitOps repository in a temporary directory.
fn repo_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&Path::new(EXAMPLES).join("gitops-repo"), dir.path());
    dir
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

fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

fn write_event(dir: &Path, json: &serde_json::Value) -> String {
    let path = dir.join("event.json");
    std::fs::write(&path, json.to_string()).unwrap();
    path.to_string_lossy().into_owned()
}

fn payload(env: &str, version: &str) -> serde_json::Value {
    let mut p: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{EXAMPLES}/deploy-request.json")).unwrap())
            .unwrap();
    p["environment"] = env.into();
    p["version"] = version.into();
    p
}

#[test]
fn check_passes_on_the_example_and_fails_listing_problems() {
    let repo = repo_copy();
    let out = gitops(&["check", "--repo", repo.path().to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(
        repo.path().join("mfes/search.yaml"),
        "name: search\nrepository: nope\n",
    )
    .unwrap();
    let out = gitops(&["check", "--repo", repo.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: mfes/search.yaml:"), "{stderr}");
}

#[test]
fn dry_run_prints_the_decision_and_changes_nothing() {
    let repo = repo_copy();
    let events = tempfile::tempdir().unwrap();
    let before = snapshot(repo.path());
    let event = write_event(events.path(), &payload("dev", "1.5.0"));
    let out = gitops(&[
        "process",
        "--dry-run",
        "--repo",
        repo.path().to_str().unwrap(),
        "--event",
        &event,
        "--at",
        "2026-11-26T12:00:00Z",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decision: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(decision["decision"], "accept");
    assert_eq!(decision["reasons"], serde_json::json!([]));
    assert_eq!(
        decision["changes"][0]["path"],
        "deployments/dev/checkout.json"
    );
    assert!(
        decision["changes"][0]["content"]
            .as_str()
            .unwrap()
            .contains("\"version\": \"1.5.0\"")
    );
    assert_eq!(snapshot(repo.path()), before, "a dry run must not write");
}

#[test]
fn freeze_refuses_prod_and_allows_dev_at_the_given_time() {
    let repo = repo_copy();
    let events = tempfile::tempdir().unwrap();
    let prod = write_event(events.path(), &payload("prod", "1.4.0"));
    let r = repo.path().to_str().unwrap();
    let out = gitops(&[
        "process",
        "--dry-run",
        "--repo",
        r,
        "--event",
        &prod,
        "--at",
        "2026-12-24T00:00:00Z",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let decision: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(decision["decision"], "reject");
    assert_eq!(decision["reasons"][0]["code"], "freeze-window");
    let out = gitops(&[
        "process",
        "--dry-run",
        "--repo",
        r,
        "--event",
        &prod,
        "--at",
        "2026-11-24T00:00:00Z",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let dev = write_event(events.path(), &payload("dev", "1.5.0"));
    let out = gitops(&[
        "process",
        "--dry-run",
        "--repo",
        r,
        "--event",
        &dev,
        "--at",
        "2026-12-24T00:00:00Z",
    ]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn invalid_payloads_and_envelopes() {
    let repo = repo_copy();
    let r = repo.path().to_str().unwrap();
    let events = tempfile::tempdir().unwrap();
    let garbage = events.path().join("garbage.json");
    std::fs::write(&garbage, b"\x00\x01not json").unwrap();
    let out = gitops(&[
        "process",
        "--dry-run",
        "--repo",
        r,
        "--event",
        garbage.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let decision: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(decision["reasons"][0]["code"], "invalid-payload");

    let envelope = format!("{EXAMPLES}/repository_dispatch.deploy.json");
    let out = Command::new(GITOPS)
        .args([
            "process",
            "--dry-run",
            "--repo",
            r,
            "--at",
            "2026-11-26T12:00:00Z",
        ])
        .env("GITHUB_EVENT_PATH", &envelope)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decision: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(decision["decision"], "noop");
}

#[test]
fn usage_and_configuration_errors_exit_two() {
    let repo = repo_copy();
    let r = repo.path().to_str().unwrap();
    assert_eq!(
        gitops(&["process", "--dry-run", "--repo", r]).status.code(),
        Some(2)
    );
    assert_eq!(
        gitops(&["process", "--dry-run", "--repo", r, "--event", "/nope.json"])
            .status
            .code(),
        Some(2)
    );
    let event = format!("{EXAMPLES}/deploy-request.json");
    assert_eq!(
        gitops(&[
            "process",
            "--dry-run",
            "--repo",
            r,
            "--event",
            &event,
            "--at",
            "tomorrow"
        ])
        .status
        .code(),
        Some(2)
    );
    std::fs::write(repo.path().join("gitops.yaml"), "version: [").unwrap();
    assert_eq!(
        gitops(&["process", "--dry-run", "--repo", r, "--event", &event])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        gitops(&["check", "--repo", "/definitely/missing"])
            .status
            .code(),
        Some(2)
    );
}
