//! `mfe dispatch [--wait]` against fake-github, with the GitOps side simulated: `mfe` creates
//! the request's deployment on its own commit (the proof of origin) and dispatches; the
//! simulated GitOps side finds that deployment by the request id and posts statuses on it.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use gitops_event_model::{
    CommitSha, DeploymentPayload, EnvironmentName, RepositoryName, RequestId,
};
use gitops_gh_pr::{DeploymentState, GithubForge, Requester};
use gitops_testkit::FakeGithub;
use secrecy::SecretString;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::MFE;

const REQUESTER: &str = "acme/checkout-mfe";
const GITOPS: &str = "acme/gitops";

fn repo(name: &str) -> RepositoryName {
    RepositoryName::parse(name).unwrap()
}

struct World {
    _dir: tempfile::TempDir,
    fake: FakeGithub,
    sha: String,
    summary: std::path::PathBuf,
    output: std::path::PathBuf,
    /// The GitOps side's client (writes deployments on the requester's repository).
    bot: Arc<dyn Requester>,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeGithub::spawn(dir.path().join("data"), gitops_testkit::openapi_from_env())
        .await
        .unwrap();
    let sha = fake
        .create_repo("acme", "checkout-mfe", &[("package.json", "{}\n")])
        .await
        .unwrap()
        .unwrap();
    fake.create_repo("acme", "gitops", &[("gitops.yaml", "version: 1\n")])
        .await
        .unwrap();
    let bot: Arc<dyn Requester> = Arc::new(
        GithubForge::new(
            &fake.base_url,
            SecretString::from("gitops-bot-token"),
            repo(GITOPS),
        )
        .unwrap(),
    );
    World {
        summary: dir.path().join("summary.md"),
        output: dir.path().join("output.txt"),
        _dir: dir,
        fake,
        sha,
        bot,
    }
}

fn command(w: &World, extra: &[&str]) -> tokio::process::Command {
    command_to(w, GITOPS, extra)
}

fn command_to(w: &World, gitops: &str, extra: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(MFE);
    cmd.args([
        "dispatch",
        "--gitops-repo",
        gitops,
        "--mfe",
        "checkout",
        "--version",
        "1.4.0",
        "--environment",
        "dev",
        "--cache-invalidation-key",
        "/mfe/checkout/remoteEntry.js",
        "--interval",
        "0.1",
    ])
    .args(extra)
    .env("GITHUB_API_URL", &w.fake.base_url)
    .env("GITHUB_TOKEN", "requester:token")
    .env("GITOPS_DISPATCH_TOKEN", "dispatch:token")
    .env_remove("GITOPS_GITHUB_TOKEN")
    .env("GITHUB_REPOSITORY", REQUESTER)
    .env("GITHUB_REF", "refs/heads/main")
    .env("GITHUB_SHA", &w.sha)
    .env("GITHUB_ACTOR", "octocat")
    .env("GITHUB_SERVER_URL", "https://github.example")
    .env("GITHUB_STEP_SUMMARY", &w.summary)
    .env("GITHUB_OUTPUT", &w.output)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    cmd
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `mfe dispatch`, handing the request id (from its first line) to `gitops_side`.
async fn run_with<F, Fut>(w: &World, extra: &[&str], gitops_side: F) -> Run
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut child = command(w, extra).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stderr = child.stderr.take().unwrap();
    let first = tokio::time::timeout(Duration::from_secs(30), stdout.next_line())
        .await
        .expect("mfe printed nothing")
        .unwrap()
        .unwrap_or_default();
    let id = first
        .strip_prefix("request ")
        .and_then(|r| r.split(':').next())
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    let rest = tokio::spawn(async move {
        let mut lines = vec![first];
        while let Ok(Some(l)) = stdout.next_line().await {
            lines.push(l);
        }
        lines.join("\n")
    });
    let err = tokio::spawn(async move {
        let mut s = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut s)
            .await
            .unwrap();
        s
    });
    gitops_side(id).await;
    let status = tokio::time::timeout(Duration::from_mins(1), child.wait())
        .await
        .expect("mfe did not finish")
        .unwrap();
    Run {
        code: status.code(),
        stdout: rest.await.unwrap(),
        stderr: err.await.unwrap(),
    }
}

/// Waits until the dispatch for `id` reached the GitOps repository, and returns its payload.
async fn received(w: &World, id: &str) {
    for _ in 0..100 {
        let id = RequestId::parse(id).unwrap();
        if w.bot
            .find_workflow_run(&repo(GITOPS), &id)
            .await
            .unwrap()
            .is_some()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no repository_dispatch with id {id} reached {GITOPS}");
}

async fn post(w: &World, deployment: u64, state: DeploymentState, description: &str) {
    tokio::time::sleep(Duration::from_millis(150)).await;
    w.bot
        .create_deployment_status(
            &repo(REQUESTER),
            deployment,
            state,
            description,
            Some("https://github.example/acme/gitops/actions/runs/7"),
            (state == DeploymentState::Success).then_some("https://cdn.example.com/dev"),
        )
        .await
        .unwrap();
}

/// The deployment `mfe dispatch` made for request `id` before sending it: exactly one, with
/// the request's payload, by the requester's token.
async fn made_deployment(w: &World, id: &str) -> u64 {
    let ours: Vec<_> = w
        .bot
        .list_deployments(
            &repo(REQUESTER),
            &CommitSha::parse(&w.sha).unwrap(),
            &EnvironmentName::parse("dev").unwrap(),
        )
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.payload.as_ref().is_some_and(|p| p.id.as_str() == id))
        .collect();
    assert_eq!(ours.len(), 1, "one deployment per request: {ours:?}");
    let d = &ours[0];
    let payload = d.payload.as_ref().unwrap();
    assert_eq!(
        (payload.mfe.as_str(), payload.version.to_string().as_str()),
        ("checkout", "1.4.0")
    );
    assert_eq!(
        d.creator.as_deref(),
        Some("requester"),
        "made with GITHUB_TOKEN"
    );
    d.id
}

/// Another request's deployment of the same commit and environment.
async fn deployment(w: &World, id: &str) -> u64 {
    w.bot
        .create_deployment(
            &repo(REQUESTER),
            &CommitSha::parse(&w.sha).unwrap(),
            &EnvironmentName::parse("dev").unwrap(),
            &DeploymentPayload::from_value(
                &serde_json::json!({"id": id, "mfe": "checkout", "version": "1.4.0"}),
            )
            .unwrap(),
            "deploy checkout 1.4.0 to dev",
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_reports_success_and_follows_only_its_own_deployment() {
    let w = world().await;
    let w = &w;
    let run = run_with(w, &["--wait", "--timeout", "30"], move |id| async move {
        received(w, &id).await;
        // Another request's deploy of the same commit and environment fails: not ours.
        let other = deployment(w, "01JAAAAAAAAAAAAAAAAAAAAAAA").await;
        post(w, other, DeploymentState::Failure, "someone else's deploy").await;
        let ours = made_deployment(w, &id).await;
        post(w, ours, DeploymentState::Queued, "pull request #3 opened").await;
        post(w, ours, DeploymentState::InProgress, "deploying").await;
        post(
            w,
            ours,
            DeploymentState::Success,
            "checkout 1.4.0 is live in dev",
        )
        .await;
    })
    .await;
    assert_eq!(
        run.code,
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    for line in [
        "queued: pull request #3 opened",
        "in progress: deploying",
        "success: checkout 1.4.0 is live in dev",
    ] {
        assert!(
            run.stdout.contains(line),
            "{line} missing from:\n{}",
            run.stdout
        );
    }
    assert!(!run.stdout.contains("someone else"), "{}", run.stdout);
    let summary = std::fs::read_to_string(&w.summary).unwrap();
    assert!(
        summary.contains("### Deploy checkout 1.4.0 to dev: deployed"),
        "{summary}"
    );
    assert!(
        summary.contains("(https://github.example/acme/gitops/actions/runs/7)"),
        "{summary}"
    );
    assert!(
        summary.contains("(https://cdn.example.com/dev)"),
        "{summary}"
    );
    let output = std::fs::read_to_string(&w.output).unwrap();
    assert!(output.starts_with("request-id="), "{output}");
    assert_eq!(
        w.fake.violations().await.unwrap().len(),
        0,
        "OpenAPI violations"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_reports_failure_with_the_reasons() {
    let w = world().await;
    let w = &w;
    let run = run_with(w, &["--wait", "--timeout", "30"], move |id| async move {
        received(w, &id).await;
        let ours = made_deployment(w, &id).await;
        post(w, ours, DeploymentState::Queued, "checking the request").await;
        post(
            w,
            ours,
            DeploymentState::Failure,
            "rejected: freeze-window: dev is frozen until 2027-01-04T00:00:00Z",
        )
        .await;
    })
    .await;
    assert_eq!(
        run.code,
        Some(1),
        "stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stdout.contains("failure: rejected: freeze-window"),
        "{}",
        run.stdout
    );
    let summary = std::fs::read_to_string(&w.summary).unwrap();
    assert!(summary.contains(": failed"), "{summary}");
    assert!(summary.contains("freeze-window"), "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_times_out_with_exit_3_when_nothing_happens() {
    let w = world().await;
    let w = &w;
    let run = run_with(w, &["--wait", "--timeout", "1"], move |id| async move {
        received(w, &id).await;
    })
    .await;
    assert_eq!(
        run.code,
        Some(3),
        "stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    assert!(run.stderr.contains("timeout"), "{}", run.stderr);
    let summary = std::fs::read_to_string(&w.summary).unwrap();
    assert!(summary.contains("timed out"), "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_wait_the_request_is_sent_once_with_the_typed_payload() {
    let w = world().await;
    let w = &w;
    let run = run_with(w, &[], move |id| async move {
        received(w, &id).await;
    })
    .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(w.fake.data_dir().join("fake-github-state.json")).unwrap(),
    )
    .unwrap();
    let text = state.to_string();
    // The payload is the canonical request: typed fields, the requester's context.
    for needle in [
        "\"event_type\":\"deploy-mfe-trigger\"",
        "\"repository\":\"acme/checkout-mfe\"",
        "\"ref\":\"refs/heads/main\"",
        "\"user\":\"octocat\"",
        "\"cache_invalidation_keys\":[\"/mfe/checkout/remoteEntry.js\"]",
    ] {
        assert!(text.contains(needle), "{needle} not in the fake's state");
    }
    let dispatches = w
        .fake
        .requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.path.ends_with("/dispatches"))
        .count();
    assert_eq!(dispatches, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_request_is_never_sent() {
    let w = world().await;
    let out = command(&w, &[])
        .env("GITHUB_SHA", "not-a-sha")
        .env("GITHUB_REF", "main")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/ref") && stderr.contains("/sha"),
        "{stderr}"
    );
    let sent = w
        .fake
        .requests()
        .await
        .unwrap()
        .into_iter()
        .any(|r| r.path.ends_with("/dispatches"));
    assert!(!sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deployment_is_made_before_the_request_is_sent() {
    let w = world().await;
    let w = &w;
    let run = run_with(w, &[], move |id| async move {
        received(w, &id).await;
        made_deployment(w, &id).await;
    })
    .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let calls = w.fake.requests().await.unwrap();
    let made = calls
        .iter()
        .position(|r| r.method == "POST" && r.path.ends_with("/deployments"))
        .expect("a deployment was created");
    let sent = calls
        .iter()
        .position(|r| r.path.ends_with("/dispatches"))
        .expect("the request was sent");
    assert!(made < sent, "the deployment comes first: {calls:?}");
    assert_eq!(
        calls[made].login, "requester",
        "with the job's GITHUB_TOKEN"
    );
    assert_eq!(calls[sent].login, "dispatch", "with the dispatch token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_cannot_be_sent_marks_its_deployment_error() {
    let w = world().await;
    // A GitOps repository that does not exist: the dispatch answers 404.
    let out = command_to(&w, "acme/no-such-gitops", &[])
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deployments = w
        .bot
        .list_deployments(
            &repo(REQUESTER),
            &CommitSha::parse(&w.sha).unwrap(),
            &EnvironmentName::parse("dev").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(deployments.len(), 1);
    let statuses = w
        .bot
        .deployment_statuses(&repo(REQUESTER), deployments[0].id)
        .await
        .unwrap();
    assert_eq!(statuses[0].state, DeploymentState::Error, "{statuses:?}");
    assert!(
        statuses[0]
            .description
            .as_deref()
            .is_some_and(|d| d.contains("acme/no-such-gitops")),
        "{statuses:?}"
    );
}

/// Publishes a one-file build of checkout 1.4.0 into `store` as built by `sha` of
/// `repository`; returns the location template.
fn publish_built_by(store: &std::path::Path, sha: &str, repository: &str) -> String {
    let dist = store.join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(dist.join("remoteEntry.js"), "// checkout\n").unwrap();
    let to = format!("{}/{{name}}-{{version}}.tgz", store.display());
    let out = std::process::Command::new(MFE)
        .args([
            "publish",
            "--dist",
            dist.to_str().unwrap(),
            "--mfe",
            "checkout",
        ])
        .args(["--version", "1.4.0", "--to", &to])
        .env("GITHUB_SHA", sha)
        .env("GITHUB_REPOSITORY", repository)
        .env("GITHUB_REF", "refs/heads/main")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    to
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_artifact_the_request_names_the_commit_that_built_the_version() {
    let w = world().await;
    let store = tempfile::tempdir().unwrap();
    let to = publish_built_by(store.path(), &w.sha, REQUESTER);
    // A manual CD run started on another branch head: not the build commit.
    let elsewhere = "c".repeat(40);
    let run = {
        let w = &w;
        let mut cmd = command(w, &["--artifact", &to]);
        cmd.env("GITHUB_SHA", &elsewhere);
        let out = cmd.output().await.unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(run.0, Some(0), "{}\n{}", run.1, run.2);
    assert!(
        run.1.contains(&format!("build commit: {}", w.sha)),
        "{}",
        run.1
    );
    let id = run
        .1
        .lines()
        .find_map(|l| l.strip_prefix("request "))
        .and_then(|r| r.split(':').next())
        .unwrap()
        .to_owned();
    made_deployment(&w, &id).await;

    // A version another repository built is not this repository's to request.
    let store = tempfile::tempdir().unwrap();
    let to = publish_built_by(store.path(), &w.sha, "acme/evil");
    let out = command(&w, &["--artifact", &to]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("acme/evil"));
}
