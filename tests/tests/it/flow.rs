//! init -> process -> merge -> deploy -> status on the local git forge and embedded backends.

use std::path::Path;
use std::process::{Command, Output};

fn gitops(dir: &Path, args: &[&str]) -> Output {
    Command::new(crate::gitops_bin())
        .args(args)
        .current_dir(dir)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_EVENT_PATH")
        .env_remove("GITHUB_TOKEN")
        .env_remove("GITOPS_GITHUB_TOKEN")
        .env_remove("GITHUB_REPOSITORY")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("GITHUB_OUTPUT")
        .output()
        .unwrap()
}

/// The setup action pin the scaffold's workflows are rendered with (a binary built from source
/// knows none).
const ACTION: &str = "mfe-gitops/mfe-gitops@5e7a0b6f3c2d1e9f8a7b6c5d4e3f2a1b0c9d8e7f";

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn request_to_live_on_the_local_forge() {
    let repo = tempfile::tempdir().unwrap();
    let r = repo.path();
    let said = ok(&gitops(r, &["init", ".", "--action", ACTION]));
    assert!(r.join(".github/workflows").is_dir());
    // What the files cannot do: the App's credentials and the default branch's ruleset.
    for needle in [
        "GITOPS_APP_ID",
        "GITOPS_APP_PRIVATE_KEY",
        "ruleset",
        "gitops/checks",
    ] {
        assert!(said.contains(needle), "gitops init says {needle}: {said}");
    }
    ok(&gitops(r, &["init", ".", "--check", "--action", ACTION]));
    ok(&gitops(r, &["check", "--repo", "."]));
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/gitops-repo/mfes/checkout.yaml"
        ),
        r.join("mfes/checkout.yaml"),
    )
    .unwrap();
    git(r, &["init", "-q", "-b", "main", "."]);
    git(r, &["add", "-A"]);
    git(r, &["commit", "-qm", "init"]);
    ok(&gitops(r, &["check", "--repo", "."]));

    // An artifact for the request's version.
    let dist = tempfile::tempdir().unwrap();
    std::fs::write(dist.path().join("remoteEntry.js"), "// checkout 1.4.0\n").unwrap();
    let archive = gitops_artifact_store::pack_dir(dist.path()).unwrap();
    let artifacts = r.join("local/artifacts/checkout");
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::write(artifacts.join("checkout-1.4.0.tgz"), &archive).unwrap();
    std::fs::write(
        artifacts.join("checkout-1.4.0.tgz.sha256"),
        gitops_artifact_store::sidecar_line(
            &gitops_artifact_store::sha256_hex(&archive),
            "checkout-1.4.0.tgz",
        ),
    )
    .unwrap();

    let event = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/deploy-request.json"
    );
    let report: serde_json::Value = serde_json::from_str(&ok(&gitops(
        r,
        &["process", "--repo", ".", "--event", event],
    )))
    .unwrap();
    assert_eq!(report["decision"], "accept");
    assert_eq!(report["pull_request"], 1);
    // A replay is a no-op and opens nothing new.
    let replay: serde_json::Value = serde_json::from_str(&ok(&gitops(
        r,
        &["process", "--repo", ".", "--event", event],
    )))
    .unwrap();
    assert_eq!(
        replay["pull_request"], 1,
        "the same pair updates the same PR"
    );

    assert!(ok(&gitops(r, &["merge", "--repo", ".", "--all"])).contains("#1: merged"));
    assert!(
        git(r, &["show", "HEAD:deployments/dev/checkout.json"]).contains("\"version\": \"1.4.0\"")
    );

    assert!(ok(&gitops(r, &["deploy", "--repo", "."])).contains("dev/checkout 1.4.0: deployed"));
    let rows: serde_json::Value = serde_json::from_str(&ok(&gitops(
        r,
        &["status", "--repo", ".", "--format", "json"],
    )))
    .unwrap();
    assert_eq!(rows[0]["version"], "1.4.0");
    assert_eq!(rows[0]["differs"], false);

    // One event per stage, beside the registry, all for the same request.
    let events = std::fs::read_to_string(r.join("local/dev/metrics/events.jsonl")).unwrap();
    let stages: Vec<String> = events
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["request_id"] == "01JDQ8Z6X8N7W4K2M5R3T9V1YB" && e["outcome"] == "success")
        .map(|e| e["stage"].as_str().unwrap().to_owned())
        .collect();
    for stage in [
        "received",
        "pr-opened",
        "checks-passed",
        "merged",
        "uploaded",
        "committed",
        "invalidated",
        "reported",
    ] {
        assert!(
            stages.iter().any(|s| s == stage),
            "no successful {stage} event in {stages:?}"
        );
    }
}

#[test]
fn a_refused_request_exits_one_with_its_reasons() {
    let repo = tempfile::tempdir().unwrap();
    let r = repo.path();
    ok(&gitops(r, &["init", ".", "--action", ACTION]));
    git(r, &["init", "-q", "-b", "main", "."]);
    git(r, &["add", "-A"]);
    git(r, &["commit", "-qm", "init"]);
    let event = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/deploy-request.json"
    );
    let out = gitops(r, &["process", "--repo", ".", "--event", event]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown-mfe"));
}

#[test]
fn the_demo_walks_the_whole_flow_and_leaves_its_files() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("demo");
    let out = ok(&gitops(
        parent.path(),
        &["demo", "--dir", dir.to_str().unwrap()],
    ));
    for step in [
        "pull request #1",
        "merged #2",
        "refused (promotion-required)",
        "already live",
        "rollback",
        "refused (pinned)",
        "Done.",
    ] {
        assert!(out.contains(step), "missing `{step}` in:\n{out}");
    }
    let rows: serde_json::Value = serde_json::from_str(&ok(&gitops(
        &dir,
        &["status", "--repo", ".", "--format", "json"],
    )))
    .unwrap();
    assert_eq!(rows[0]["version"], "1.0.0", "rolled back");
    assert_eq!(rows[0]["rollback"], true);
    // The demo is a local test: inside GitHub Actions too, where gitops otherwise refuses the
    // local forge and embedded targets.
    let in_actions = parent.path().join("in-actions");
    let out = Command::new(crate::gitops_bin())
        .args(["demo", "--dir", in_actions.to_str().unwrap()])
        .current_dir(parent.path())
        .env("GITHUB_ACTIONS", "true")
        .env_remove("GITHUB_TOKEN")
        .env_remove("GITOPS_GITHUB_TOKEN")
        .env_remove("GITHUB_REPOSITORY")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("GITHUB_OUTPUT")
        .output()
        .unwrap();
    assert!(ok(&out).contains("Done."));
    // A second demo into the same, now non-empty, directory is refused.
    assert_eq!(
        gitops(parent.path(), &["demo", "--dir", dir.to_str().unwrap()])
            .status
            .code(),
        Some(2)
    );
}
