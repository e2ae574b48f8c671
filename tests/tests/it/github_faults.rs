//! Faults on GitHub (issue 18, part 3): the `gitops` binary against fake-github with its
//! injected faults (`POST /_fake/faults`), at each step that calls GitHub: `process` reading
//! the pair's state (`GET pulls`) and proposing (`POST pulls`), `merge` recording its checks
//! (`POST statuses/{sha}`, written before any merge) and merging (`PUT pulls/{n}/merge`), and
//! the deploy's report to the requester (`POST deployments/{id}/statuses` on the MFE
//! repository). For each of {5xx, secondary 403 with `retry-after`, 429 with `retry-after`,
//! primary 403 with `x-ratelimit-remaining: 0`, a slow answer, a timeout}: a transient fault is
//! retried and the command succeeds; a persistent one fails with exit 3 and a message naming
//! GitHub's call within a bound, never a wrong state (no PR merged without its checks, no
//! second PR, no status claiming success), and a re-run without the fault converges.
//!
//! Decisions of the adapter this suite holds it to: a timed-out *write* is not repeated (it
//! may have landed), so a timeout on `POST pulls`, `POST statuses` or `PUT merge` fails the
//! command even once, and the re-run must find what landed (one PR, merged once). The report
//! to the requester never fails a deploy (the version is live): a persistent fault there leaves
//! the deploy exit 0 with no status claiming success (and, a bug kept below, nobody tells the
//! requester later). Connection resets are left out: fake-github answers every request (the
//! AWS half covers resets at its proxy).
//!
//! Targets are the embedded ones (local storage, registry, CDN log): only GitHub is faulted,
//! and no moto is needed. The cases of a step run at once (~45 s for the file).

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use gitops_testkit::{FakeGithub, Fault};
use reqwest::Method;

use crate::support::{both, stderr, stdout, write};

/// The loose bound on a command that fails for good.
const FAIL_WITHIN: Duration = Duration::from_mins(1);
/// The request timeout of the timeout cases (`GITOPS_REQUEST_TIMEOUT`, seconds), and the
/// latency that outlasts it.
const SHORT_TIMEOUT: &str = "2";
const OVER_TIMEOUT_MS: u64 = 4_000;
/// The latency of the slow cases: under the default request timeout.
const SLOW_MS: u64 = 1_500;
const REQUEST_ID: &str = "01JDQ8Z6X8N7W4K2M5R3T9V1YB";
const TOKEN: &str = "gitops-bot:secret";

/// The GitOps repository `acme/gitops` on fake-github (one MFE `checkout`, one environment
/// `dev` on the embedded targets), a checkout of it with `checkout` 1.0.0 published, and a
/// request of 1.0.0 whose origin is proven (its deployment on `acme/checkout-mfe`).
struct World {
    github: FakeGithub,
    _data: tempfile::TempDir,
    _work: tempfile::TempDir,
    checkout: PathBuf,
    event: PathBuf,
    /// The request's deployment on the requester.
    deployment: u64,
}

impl World {
    async fn new() -> World {
        let data = tempfile::tempdir().unwrap();
        let github = crate::fake_github_with_job_tokens(data.path()).await;
        let config = "version: 1\nenvironments:\n  - name: dev\n    storage: local/dev/storage\n    registry: local/dev/registry.db\n    cdn: local/dev/cdn.log\n    public_url: https://cdn.example.com/dev\n";
        let mfe = "name: checkout\nrepository: acme/checkout-mfe\nartifact: local/artifacts/checkout/checkout-{version}.tgz\nenvironments: [dev]\nentry_points: [remoteEntry.js]\n";
        github
            .create_repo(
                "acme",
                "gitops",
                &[
                    ("gitops.yaml", config),
                    ("mfes/checkout.yaml", mfe),
                    (".gitignore", "local/\n"),
                ],
            )
            .await
            .unwrap();
        let head = github
            .create_repo("acme", "checkout-mfe", &[("README.md", "checkout\n")])
            .await
            .unwrap()
            .unwrap();
        let work = tempfile::tempdir().unwrap();
        let checkout = work.path().join("gitops");
        let bare = github.repo_path("acme", "gitops");
        crate::support::git(
            work.path(),
            &["clone", "-q", bare.to_str().unwrap(), "gitops"],
        );

        // The artifact, where the MFE file says (ignored by git).
        let dist = tempfile::tempdir().unwrap();
        write(dist.path(), "remoteEntry.js", b"// checkout 1.0.0\n");
        let archive = gitops_artifact_store::pack_dir(dist.path()).unwrap();
        let name = "checkout-1.0.0.tgz";
        write(
            &checkout,
            &format!("local/artifacts/checkout/{name}"),
            &archive,
        );
        write(
            &checkout,
            &format!("local/artifacts/checkout/{name}.sha256"),
            gitops_artifact_store::sidecar_line(&gitops_artifact_store::sha256_hex(&archive), name)
                .as_bytes(),
        );

        let event = work.path().join("event.json");
        std::fs::write(
            &event,
            serde_json::json!({
                "id": REQUEST_ID, "timestamp": "2026-11-26T09:30:00Z", "user": "octocat",
                "mfe": "checkout", "version": "1.0.0", "environment": "dev",
                "cache_invalidation_keys": [], "repository": "acme/checkout-mfe",
                "ref": "refs/heads/main", "sha": head,
            })
            .to_string(),
        )
        .unwrap();
        let made = crate::workflow_deployment(
            &github,
            "acme/checkout-mfe",
            &head,
            "dev",
            serde_json::json!({"id": REQUEST_ID, "mfe": "checkout", "version": "1.0.0"}),
        )
        .await;
        let world = World {
            github,
            _data: data,
            _work: work,
            checkout,
            event,
            deployment: made["id"].as_u64().unwrap(),
        };
        let (out, _) = world.gitops(&["bootstrap"], &[]).await;
        assert_eq!(out.status.code(), Some(0), "bootstrap: {}", both(&out));
        world
    }

    /// `gitops ARGS` in the checkout against fake-github, with `env` set; its output and how
    /// long it took.
    async fn gitops(&self, args: &[&str], env: &[(&str, &str)]) -> (Output, Duration) {
        let mut command = Command::new(crate::gitops_bin());
        command
            .args(args)
            .current_dir(&self.checkout)
            .stdin(std::process::Stdio::null())
            .env("GITHUB_API_URL", &self.github.base_url)
            .env("GITOPS_GITHUB_TOKEN", TOKEN)
            .env("GITHUB_REPOSITORY", "acme/gitops");
        for var in [
            "GITHUB_ACTIONS",
            "GITHUB_EVENT_PATH",
            "GITHUB_TOKEN",
            "GITHUB_STEP_SUMMARY",
            "GITHUB_OUTPUT",
            "GITHUB_SHA",
            "GITOPS_METRICS_FILE",
            "GITOPS_REQUEST_TIMEOUT",
            "GIT_DIR",
            "GIT_WORK_TREE",
        ] {
            command.env_remove(var);
        }
        command.envs(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let out = command.output().unwrap();
            (out, started.elapsed())
        })
        .await
        .unwrap()
    }

    async fn process(&self, env: &[(&str, &str)]) -> (Output, Duration) {
        let event = self.event.to_str().unwrap().to_owned();
        self.gitops(&["process", "--event", &event], env).await
    }

    /// `process` without faults, which must propose; the pull request's number.
    async fn proposed(&self) -> u64 {
        let (out, _) = self.process(&[]).await;
        assert_eq!(out.status.code(), Some(0), "process: {}", both(&out));
        let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        report["pull_request"]
            .as_u64()
            .unwrap_or_else(|| panic!("no pull request: {report}"))
    }

    /// The checkout fast-forwarded to GitHub's `main`.
    fn pull(&self) {
        crate::support::git(&self.checkout, &["pull", "-q", "--ff-only"]);
    }

    async fn api(&self, path: &str) -> serde_json::Value {
        let (status, body) = self
            .github
            .api("observer:x", Method::GET, path, None)
            .await
            .unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    /// Every pull request of the repository: (number, state, merged).
    async fn pulls(&self) -> Vec<(u64, String, bool)> {
        let list = self.api("/repos/acme/gitops/pulls?state=all").await;
        list.as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["number"].as_u64().unwrap(),
                    p["state"].as_str().unwrap().to_owned(),
                    !p["merged_at"].is_null(),
                )
            })
            .collect()
    }

    /// The states posted on the request's deployment, newest first.
    async fn told(&self) -> Vec<String> {
        let list = self
            .api(&format!(
                "/repos/acme/checkout-mfe/deployments/{}/statuses",
                self.deployment
            ))
            .await;
        list.as_array()
            .unwrap()
            .iter()
            .map(|s| s["state"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The desired version of dev/checkout on GitHub's `main` (`None` when absent).
    fn desired_on_main(&self) -> Option<String> {
        let out = Command::new("git")
            .args(["show", "main:deployments/dev/checkout.json"])
            .current_dir(self.github.repo_path("acme", "gitops"))
            .output()
            .unwrap();
        out.status.success().then(|| {
            let state: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            state["version"].as_str().unwrap().to_owned()
        })
    }

    /// The `status --format json` row of dev/checkout (the embedded registry).
    async fn status(&self) -> serde_json::Value {
        let (out, _) = self.gitops(&["status", "--format", "json"], &[]).await;
        assert_eq!(out.status.code(), Some(0), "status: {}", both(&out));
        let rows: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        rows.as_array()
            .and_then(|r| r.iter().find(|r| r["mfe"] == "checkout").cloned())
            .unwrap_or_else(|| panic!("no checkout row in {rows}"))
    }

    /// The fault answered at least once (a status fault) on `step`'s call.
    async fn fault_answered(&self, step: Step, status: u16) -> bool {
        self.github
            .requests()
            .await
            .unwrap()
            .iter()
            .any(|r| r.status == status && r.method == step.method() && step.matches(&r.path))
    }
}

/// A step that calls GitHub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// `process` reading the pair's state (its newest pull request).
    ReadState,
    /// `process` opening the pull request.
    Propose,
    /// `merge` recording its checks on the PR's head (the `gitops/checks` commit status that
    /// must be written before the merge).
    Checks,
    /// `merge` merging.
    Merge,
    /// `deploy` telling the requester.
    Report,
}

impl Step {
    fn path_regex(self) -> &'static str {
        match self {
            Step::ReadState | Step::Propose => "^/repos/acme/gitops/pulls$",
            Step::Checks => "^/repos/acme/gitops/statuses/[0-9a-f]{40}$",
            Step::Merge => "^/repos/acme/gitops/pulls/[0-9]+/merge$",
            Step::Report => "^/repos/acme/checkout-mfe/deployments/[0-9]+/statuses$",
        }
    }

    /// Whether `path` is the step's call (what [`Step::path_regex`] matches).
    fn matches(self, path: &str) -> bool {
        let (prefix, suffix) = match self {
            Step::ReadState | Step::Propose => return path == "/repos/acme/gitops/pulls",
            Step::Checks => return path.starts_with("/repos/acme/gitops/statuses/"),
            Step::Merge => ("/repos/acme/gitops/pulls/", "/merge"),
            Step::Report => ("/repos/acme/checkout-mfe/deployments/", "/statuses"),
        };
        path.starts_with(prefix) && path.ends_with(suffix)
    }

    fn method(self) -> &'static str {
        match self {
            Step::ReadState => "GET",
            Step::Propose | Step::Checks | Step::Report => "POST",
            Step::Merge => "PUT",
        }
    }

    /// A write: a timeout is not repeated (it may have landed).
    fn writes(self) -> bool {
        matches!(self, Step::Propose | Step::Checks | Step::Merge)
    }

    /// What a failure message (a 5xx, a timeout) must name one of: the call.
    fn names(self) -> &'static [&'static str] {
        match self {
            Step::ReadState => &["/repos/acme/gitops/pulls"],
            Step::Propose => &["/repos/acme/gitops/pulls", "pull request"],
            Step::Checks => &["/repos/acme/gitops/statuses/"],
            Step::Merge => &["merge"],
            Step::Report => &["/repos/acme/checkout-mfe/deployments/"],
        }
    }

    /// Brings a fresh world to just before the step.
    async fn prepare(self, world: &World) -> Option<u64> {
        match self {
            Step::ReadState | Step::Propose => None,
            Step::Checks | Step::Merge => Some(world.proposed().await),
            Step::Report => {
                let pr = world.proposed().await.to_string();
                let (out, _) = world.gitops(&["merge", "--pr", &pr], &[]).await;
                assert_eq!(out.status.code(), Some(0), "merge: {}", both(&out));
                world.pull();
                None
            }
        }
    }

    /// Runs the step's command.
    async fn run(self, world: &World, pr: Option<u64>, env: &[(&str, &str)]) -> (Output, Duration) {
        match self {
            Step::ReadState | Step::Propose => world.process(env).await,
            Step::Checks | Step::Merge => {
                let pr = pr.unwrap().to_string();
                world.gitops(&["merge", "--pr", &pr], env).await
            }
            Step::Report => world.gitops(&["deploy", "--format", "json"], env).await,
        }
    }

    /// Nothing wrong after a failure: at most one pull request, none merged before the checks
    /// were read, no status claiming success before the deploy.
    async fn never_wrong(self, world: &World, when: &str) {
        let pulls = world.pulls().await;
        assert!(pulls.len() <= 1, "{when}: more than one PR: {pulls:?}");
        let told = world.told().await;
        match self {
            Step::ReadState | Step::Propose | Step::Checks => {
                assert!(
                    pulls.iter().all(|(_, _, merged)| !merged),
                    "{when}: merged: {pulls:?}"
                );
                assert_eq!(world.desired_on_main(), None, "{when}");
                assert!(!told.iter().any(|s| s == "success"), "{when}: {told:?}");
            }
            Step::Merge => {
                assert!(!told.iter().any(|s| s == "success"), "{when}: {told:?}");
            }
            Step::Report => {
                let row = world.status().await;
                assert_eq!(row["version"], "1.0.0", "{when}: {row}");
            }
        }
    }

    /// The step's effect, complete.
    async fn converged(self, world: &World, out: &Output, when: &str) {
        assert_eq!(out.status.code(), Some(0), "{when}: {}", both(out));
        let pulls = world.pulls().await;
        assert_eq!(pulls.len(), 1, "{when}: one PR: {pulls:?}");
        let told = world.told().await;
        match self {
            Step::ReadState | Step::Propose => {
                let report: serde_json::Value = serde_json::from_str(&stdout(out)).unwrap();
                // A re-run after a proposal that landed finds it pending (`noop`, told queued).
                assert!(
                    report["decision"] == "accept" || report["decision"] == "noop",
                    "{when}: {report}"
                );
                assert_eq!(pulls[0].1, "open", "{when}: {pulls:?}");
                assert_eq!(told.first().map(String::as_str), Some("queued"), "{when}");
            }
            Step::Checks | Step::Merge => {
                assert!(pulls[0].2, "{when}: not merged: {pulls:?}");
                assert_eq!(world.desired_on_main().as_deref(), Some("1.0.0"), "{when}");
                assert!(!told.iter().any(|s| s == "success"), "{when}: {told:?}");
            }
            Step::Report => {
                let report: serde_json::Value = serde_json::from_str(&stdout(out)).unwrap();
                // A re-run after a report that failed finishes the deploy (`resumed`).
                assert!(
                    ["deployed", "already-live", "resumed"]
                        .contains(&report["pairs"][0]["outcome"].as_str().unwrap_or("")),
                    "{when}: {report}"
                );
                let row = world.status().await;
                assert_eq!(row["version"], "1.0.0", "{when}: {row}");
                assert_eq!(row["state"], "in-sync", "{when}: {row}");
                assert_eq!(
                    told.first().map(String::as_str),
                    Some("success"),
                    "{when}: {told:?}"
                );
            }
        }
    }
}

/// One fault of the matrix.
#[derive(Debug, Clone, Copy)]
struct Row {
    name: &'static str,
    /// The status answered by the transient fault, and by the persistent one.
    status: Option<(u16, u16)>,
    retry_after: Option<u64>,
    primary: bool,
    latency_ms: Option<u64>,
    /// Whether the run has the short request timeout.
    short_timeout: bool,
}

impl Row {
    fn fault(self, step: Step, persistent: bool) -> Fault {
        Fault {
            path_regex: step.path_regex().into(),
            method: Some(step.method().into()),
            status: self.status.map(|(t, p)| if persistent { p } else { t }),
            retry_after: self.retry_after,
            count: (!persistent).then_some(2),
            latency_ms: self.latency_ms,
            primary: self.primary,
        }
    }

    fn env(self) -> Vec<(&'static str, &'static str)> {
        if self.short_timeout {
            vec![("GITOPS_REQUEST_TIMEOUT", SHORT_TIMEOUT)]
        } else {
            vec![]
        }
    }

    /// Only slower: succeeds even when it persists.
    fn only_slow(self) -> bool {
        self.status.is_none() && !self.short_timeout
    }
}

const fn row(name: &'static str) -> Row {
    Row {
        name,
        status: None,
        retry_after: None,
        primary: false,
        latency_ms: None,
        short_timeout: false,
    }
}

fn matrix() -> Vec<Row> {
    vec![
        Row {
            status: Some((502, 503)),
            ..row("5xx")
        },
        Row {
            status: Some((403, 403)),
            retry_after: Some(1),
            ..row("secondary 403")
        },
        Row {
            status: Some((429, 429)),
            retry_after: Some(1),
            ..row("429")
        },
        // `x-ratelimit-remaining: 0` and a reset one second away (fake-github sends the
        // reset as now + retry-after, and the header too).
        Row {
            status: Some((403, 403)),
            retry_after: Some(1),
            primary: true,
            ..row("primary 403")
        },
        Row {
            latency_ms: Some(SLOW_MS),
            ..row("slow")
        },
        Row {
            latency_ms: Some(OVER_TIMEOUT_MS),
            short_timeout: true,
            ..row("timeout")
        },
    ]
}

/// A delayed request is still served after the client gave up: let it land before judging.
async fn let_delayed_land(row: Row) {
    if row.latency_ms.is_some() {
        tokio::time::sleep(Duration::from_millis(OVER_TIMEOUT_MS + 500)).await;
    }
}

/// A transient fault (the first 2 matches): retried and the command succeeds; a timed-out
/// write fails (exit 3) and a re-run converges.
async fn transient(step: Step, row: Row) {
    let what = format!("{step:?} {}, transient", row.name);
    let world = World::new().await;
    let pr = step.prepare(&world).await;
    world.github.clear_requests().await.unwrap();
    world
        .github
        .set_fault(&row.fault(step, false))
        .await
        .unwrap();
    let (out, took) = step.run(&world, pr, &row.env()).await;
    if let Some((status, _)) = row.status {
        assert!(
            world.fault_answered(step, status).await,
            "{what}: the fault never applied"
        );
    } else if let Some(ms) = row.latency_ms {
        assert!(
            took >= Duration::from_millis(ms.min(2_000)),
            "{what}: no delay ({took:?})"
        );
    }
    if row.short_timeout && step.writes() {
        assert_eq!(out.status.code(), Some(3), "{what}: {}", both(&out));
        world.github.clear_faults().await.unwrap();
        let_delayed_land(row).await;
        step.never_wrong(&world, &what).await;
        let (out, _) = step.run(&world, pr, &[]).await;
        step.converged(&world, &out, &format!("{what}, re-run"))
            .await;
    } else {
        step.converged(&world, &out, &format!("{what} ({took:?})"))
            .await;
    }
}

/// A persistent fault: exit 3 naming the call within [`FAIL_WITHIN`] (a slow one succeeds),
/// never a wrong state, and a re-run without it converges.
async fn persistent(step: Step, row: Row) {
    let what = format!("{step:?} {}, persistent", row.name);
    let world = World::new().await;
    let pr = step.prepare(&world).await;
    world
        .github
        .set_fault(&row.fault(step, true))
        .await
        .unwrap();
    let (out, took) = step.run(&world, pr, &row.env()).await;
    assert!(took < FAIL_WITHIN, "{what}: took {took:?}");
    if row.only_slow() {
        step.converged(&world, &out, &what).await;
        return;
    }
    assert_eq!(out.status.code(), Some(3), "{what}: {}", both(&out));
    let message = stderr(&out);
    // A rate limit says so (and the wait asked for); anything else names the call.
    let named: &[&str] = if row.retry_after.is_some() {
        &["throttled by the forge"]
    } else {
        step.names()
    };
    assert!(
        named.iter().any(|n| message.contains(n)),
        "{what}: none of {named:?} in: {}",
        both(&out)
    );
    // The wait the forge asked for reads as seconds, never as Rust's `Some(1s)`.
    assert!(!message.contains("Some("), "{what}: {message}");
    world.github.clear_faults().await.unwrap();
    let_delayed_land(row).await;
    step.never_wrong(&world, &format!("{what}, after the failure"))
        .await;
    let (out, _) = step.run(&world, pr, &[]).await;
    step.converged(&world, &out, &format!("{what}, re-run"))
        .await;
    let said = message.lines().last().unwrap_or_default();
    eprintln!("{what}: ok (failed in {took:?}: {said})");
}

/// Every row of the matrix at `step`, transient and persistent, at once.
async fn step_matrix(step: Step, rows: Vec<Row>, persistent_too: bool) {
    let mut cases = tokio::task::JoinSet::new();
    for row in rows {
        cases.spawn(transient(step, row));
        if persistent_too {
            cases.spawn(persistent(step, row));
        }
    }
    while let Some(done) = cases.join_next().await {
        if let Err(e) = done {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn github_faults_reading_the_pair_state_are_retried_then_fail_with_exit_3() {
    step_matrix(Step::ReadState, matrix(), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn github_faults_proposing_are_retried_then_fail_with_exit_3_and_never_a_second_pr() {
    step_matrix(Step::Propose, matrix(), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn github_faults_recording_the_checks_fail_with_exit_3_and_never_merge_unchecked() {
    step_matrix(Step::Checks, matrix(), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn github_faults_merging_are_retried_then_fail_with_exit_3_and_merge_once() {
    step_matrix(Step::Merge, matrix(), true).await;
}

/// The report is retried like any call; a timed-out one, or one failing for good, is the
/// case below.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn github_faults_reporting_to_the_requester_are_retried() {
    let rows = matrix().into_iter().filter(|r| !r.short_timeout).collect();
    step_matrix(Step::Report, rows, false).await;
}

/// A report that failed for good never fails the deploy (the version is live) and never
/// claims success; the deploy stays recorded as pending (its invalidation is settled only once
/// the requester was told), so the re-run tells it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_that_failed_for_good_is_told_by_the_rerun() {
    let step = Step::Report;
    let world = World::new().await;
    step.prepare(&world).await;
    let fault = matrix()[0].fault(step, true);
    world.github.set_fault(&fault).await.unwrap();
    let (out, took) = step.run(&world, None, &[]).await;
    assert!(took < FAIL_WITHIN, "took {took:?}");
    assert_eq!(out.status.code(), Some(0), "live: {}", both(&out));
    world.github.clear_faults().await.unwrap();
    step.never_wrong(&world, "after the failed report").await;
    assert!(
        !world.told().await.iter().any(|s| s == "success"),
        "success claimed through a failing report"
    );
    let (out, _) = step.run(&world, None, &[]).await;
    step.converged(&world, &out, "re-run").await;
}

/// A connection reset (fake-github drops the connection without an answer) on reading the
/// pair's state: once, it is retried and `process` proposes; always, `process` fails with exit
/// 3 naming the call, proposes nothing, and a re-run without the fault converges. (Only reads
/// are repeated after a reset: a write that was reset may have landed.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_connection_resets_are_retried_then_fail_with_exit_3_naming_the_call() {
    let step = Step::ReadState;
    let once = async {
        let world = World::new().await;
        world.github.clear_requests().await.unwrap();
        let fault = Fault::reset(step.path_regex(), Some(step.method()), Some(1));
        world.github.set_fault(&fault).await.unwrap();
        let (out, _) = step.run(&world, None, &[]).await;
        // The reset was served (logged with the 502 that never reached the client).
        assert!(
            world.fault_answered(step, 502).await,
            "the reset never applied"
        );
        step.converged(&world, &out, "one reset").await;
    };
    let always = async {
        let world = World::new().await;
        let fault = Fault::reset(step.path_regex(), Some(step.method()), None);
        world.github.set_fault(&fault).await.unwrap();
        let (out, took) = step.run(&world, None, &[]).await;
        assert!(took < FAIL_WITHIN, "took {took:?}");
        assert_eq!(out.status.code(), Some(3), "{}", both(&out));
        let message = stderr(&out);
        assert!(
            message.contains("/repos/acme/gitops/pulls"),
            "the call is not named: {}",
            both(&out)
        );
        // A failure to get an answer, not an answer (the 502 logged is never sent).
        assert!(!message.contains("502"), "{message}");
        eprintln!(
            "persistent reset: {}",
            message.lines().last().unwrap_or_default()
        );
        world.github.clear_faults().await.unwrap();
        step.never_wrong(&world, "after persistent resets").await;
        assert!(
            world.pulls().await.is_empty(),
            "proposed despite the resets"
        );
        let (out, _) = step.run(&world, None, &[]).await;
        step.converged(&world, &out, "re-run after the resets")
            .await;
    };
    tokio::join!(once, always);
}
