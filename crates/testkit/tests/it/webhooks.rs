//! The payloads of the events fake-github's runner sends conform to GitHub's published webhook
//! schemas (`@octokit/webhooks-schemas`, at `GITOPS_TEST_WEBHOOK_SCHEMAS`): every kind of event
//! is caused through the API and the test hooks, and no `EVENT` violation may be recorded.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use gitops_testkit::FakeGithub;
use gitops_testkit::runner::RunnerConfig;
use gitops_testkit::state::WorkflowRun;
use gitops_testkit::webhooks::ENV_TEST_WEBHOOK_SCHEMAS;
use reqwest::Method;
use serde_json::{Value, json};

const USER: &str = "octocat:ghp_octocat";
const REVIEWER: &str = "reviewer:ghp_reviewer";

/// Runs on every event kind the runner models; on `schedule` it checks the cron it was fired
/// for is in `github.event.schedule`, as GitHub sends it.
const EVERY_EVENT: &str = r#"name: every event
on:
  push:
  pull_request:
  pull_request_review:
  repository_dispatch:
  workflow_dispatch:
  schedule:
    - cron: '17 3 * * *'
jobs:
  seen:
    runs-on: ubuntu-latest
    steps:
      - name: The event
        env:
          EVENT: ${{ github.event_name }}
          CRON: ${{ github.event.schedule }}
        run: |
          echo "event $EVENT"
          if [ "$EVENT" = schedule ]; then test "$CRON" = '17 3 * * *'; fi
"#;

/// The schemas' path, or `None` after the skip line.
fn schemas(test: &str) -> Option<PathBuf> {
    let path = std::env::var_os(ENV_TEST_WEBHOOK_SCHEMAS).filter(|v| !v.is_empty());
    if path.is_none() {
        gitops_testkit::skip(test, "GITOPS_TEST_WEBHOOK_SCHEMAS is not set");
    }
    path.map(PathBuf::from)
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Dana Developer",
            "-c",
            "user.email=dana@example.com",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

async fn api(gh: &FakeGithub, token: &str, method: Method, path: &str, body: Value) -> Value {
    let body = if body.is_null() { None } else { Some(body) };
    let (status, v) = gh.api(token, method.clone(), path, body).await.unwrap();
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {v}"
    );
    v
}

/// Every kind of event, caused as a person would: pushes through contents, the git data API
/// (creating the repository) and `git push` (a new branch and a tag), a pull request opened,
/// synchronized, closed and reopened, a review, a repository dispatch, a workflow dispatch and
/// the scheduler. Each payload is validated when it is sent; the runs prove the events were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_payload_conforms_to_the_webhook_schemas() {
    let test = "every_event_payload_conforms_to_the_webhook_schemas";
    let Some(schemas) = schemas(test) else {
        return;
    };
    let Some(act) = std::env::var_os("GITOPS_TEST_ACT").filter(|v| !v.is_empty()) else {
        gitops_testkit::skip(test, "GITOPS_TEST_ACT (nektos/act) is not set");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = RunnerConfig::new(PathBuf::from(act), dir.path().join("work"));
    cfg.webhook_schemas = Some(schemas);
    let gh = FakeGithub::spawn_with_runner(
        dir.path().join("data"),
        gitops_testkit::openapi_from_env(),
        cfg,
    )
    .await
    .unwrap();
    gh.create_repo(
        "acme",
        "app",
        &[
            ("README.md", "hi\n"),
            (".github/workflows/every.yml", EVERY_EVENT),
        ],
    )
    .await
    .unwrap();
    let settle = || gh.settle("acme", "app", Duration::from_mins(4));
    settle().await.unwrap();

    // A push through contents.
    api(
        &gh,
        USER,
        Method::PUT,
        "/repos/acme/app/contents/a.txt",
        json!({"message": "Add a", "content": "YQo="}),
    )
    .await;

    // A `git push` of a new branch and a tag.
    let clone = dir.path().join("clone");
    let bare = gh.repo_path("acme", "app");
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            bare.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    git(&clone, &["checkout", "-q", "-b", "feature"]);
    std::fs::write(clone.join("b.txt"), "b\n").unwrap();
    git(&clone, &["add", "b.txt"]);
    git(&clone, &["commit", "-q", "-m", "Add b"]);
    git(&clone, &["tag", "v1.0.0"]);
    gh.git_push(
        "acme",
        "app",
        "dana",
        &clone,
        &[
            "refs/heads/feature:refs/heads/feature",
            "refs/tags/v1.0.0:refs/tags/v1.0.0",
        ],
    )
    .await
    .unwrap();
    settle().await.unwrap();

    // A pull request: opened, synchronized (a push to its head), closed, reopened, reviewed.
    let pr = api(
        &gh,
        USER,
        Method::POST,
        "/repos/acme/app/pulls",
        json!({"title": "Add b", "head": "feature", "base": "main", "body": "Adds b."}),
    )
    .await;
    let n = pr["number"].as_u64().unwrap();
    settle().await.unwrap();
    api(
        &gh,
        USER,
        Method::PUT,
        "/repos/acme/app/contents/c.txt",
        json!({"message": "Add c", "content": "Ywo=", "branch": "feature"}),
    )
    .await;
    settle().await.unwrap();
    for state in ["closed", "open"] {
        api(
            &gh,
            USER,
            Method::PATCH,
            &format!("/repos/acme/app/pulls/{n}"),
            json!({"state": state}),
        )
        .await;
    }
    settle().await.unwrap();
    api(
        &gh,
        REVIEWER,
        Method::POST,
        &format!("/repos/acme/app/pulls/{n}/reviews"),
        json!({"event": "APPROVE", "body": "Looks good."}),
    )
    .await;

    // The dispatches and the scheduler.
    api(
        &gh,
        USER,
        Method::POST,
        "/repos/acme/app/dispatches",
        json!({"event_type": "deploy", "client_payload": {"version": "1.0.0"}}),
    )
    .await;
    api(
        &gh,
        USER,
        Method::POST,
        "/repos/acme/app/actions/workflows/every.yml/dispatches",
        json!({"ref": "main", "inputs": {}}),
    )
    .await;
    gh.fire_schedule("acme", "app").await.unwrap();
    let runs = settle().await.unwrap();

    let seen: Vec<(&str, Option<&str>)> = runs
        .iter()
        .map(|r| (r.event.as_str(), r.conclusion.as_deref()))
        .collect();
    for event in [
        "push",
        "pull_request",
        "pull_request_review",
        "repository_dispatch",
        "workflow_dispatch",
        "schedule",
    ] {
        assert!(
            runs.iter().any(|r| r.event == event),
            "no {event} run: {seen:?}"
        );
    }
    // creation, contents, branch, tag, synchronize's push; opened, synchronize, reopened.
    assert_eq!(
        runs.iter().filter(|r| r.event == "push").count(),
        5,
        "{seen:?}"
    );
    assert_eq!(
        runs.iter().filter(|r| r.event == "pull_request").count(),
        3,
        "{seen:?}"
    );
    let failed: Vec<&WorkflowRun> = runs
        .iter()
        .filter(|r| r.conclusion.as_deref() != Some("success"))
        .collect();
    assert!(failed.is_empty(), "{seen:?}");
    assert_eq!(gh.violations().await.unwrap(), vec![]);
}

/// The check is live: a payload that does not conform (here, to a schema requiring a property
/// no push has) is recorded as a violation naming the event and the definition, without
/// stopping the event. Needs no act: the repository has no workflows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_conforming_payload_is_a_violation() {
    let test = "a_non_conforming_payload_is_a_violation";
    let Some(schemas) = schemas(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&schemas).unwrap()).unwrap();
    doc["definitions"]["push$event"]["required"]
        .as_array_mut()
        .unwrap()
        .push(json!("never_sent"));
    let stricter = dir.path().join("schema.json");
    std::fs::write(&stricter, serde_json::to_vec(&doc).unwrap()).unwrap();
    let mut cfg = RunnerConfig::new("/nonexistent/act", dir.path().join("work"));
    cfg.webhook_schemas = Some(stricter);
    let gh = FakeGithub::spawn_with_runner(dir.path().join("data"), None, cfg)
        .await
        .unwrap();
    gh.create_repo("acme", "app", &[("README.md", "hi\n")])
        .await
        .unwrap();
    let v = gh.violations().await.unwrap();
    assert_eq!(v.len(), 1, "{v:#?}");
    assert_eq!(
        (
            v[0].method.as_str(),
            v[0].path.as_str(),
            v[0].operation.as_str(),
            v[0].status
        ),
        ("EVENT", "push", "push$event", 0)
    );
    assert!(
        v[0].errors.iter().any(|e| e.contains("never_sent")),
        "{v:#?}"
    );

    // A schema file that cannot be read is reported the same way, not ignored.
    let mut cfg = RunnerConfig::new("/nonexistent/act", dir.path().join("work2"));
    cfg.webhook_schemas = Some(dir.path().join("missing.json"));
    let gh = FakeGithub::spawn_with_runner(dir.path().join("data2"), None, cfg)
        .await
        .unwrap();
    gh.create_repo("acme", "app", &[("README.md", "hi\n")])
        .await
        .unwrap();
    let v = gh.violations().await.unwrap();
    assert_eq!(v.len(), 1, "{v:#?}");
    assert!(
        v[0].errors[0].contains("cannot load the webhook schemas")
            && v[0].errors[0].contains("missing.json"),
        "{v:#?}"
    );
}
