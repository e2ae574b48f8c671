// Test support: fake-github drives git and reads its own state files synchronously, on purpose.
#![allow(clippy::disallowed_methods)]
#![recursion_limit = "512"]
//! Test support for mfe-gitops.
//!
//! The centrepiece is **fake-github**: a stateful stand-in for the subset of GitHub's REST API
//! the GitOps bot uses. Repositories are real bare git repositories under a data directory
//! (`DIR/<owner>/<repo>.git`, driven with the `git` command line), so blob, tree and commit
//! shas are git's own and merges are real merges; metadata git does not hold (pull requests,
//! comments, statuses, deployments, runs) is persisted as JSON under the same directory.
//! Given GitHub's OpenAPI description, every response body is validated against the matching
//! operation and non-conformance is exposed at `GET /_fake/violations`.
//!
//! Tests start it in-process with [`FakeGithub::spawn`], or as the `fake-github` binary with
//! [`FakeGithub::spawn_bin`] / [`FakeGithub::spawn_from_env`] (`FAKE_GITHUB_BIN`).
//!
//! Tokens: any `Authorization: Bearer|token X` is accepted; a token of the form
//! `<login>:<anything>` acts as user `<login>`, every other token as `gitops-bot`.

pub mod aws_proxy;
pub mod chromium;
pub mod git;
pub mod iam;
pub mod json;
pub mod openapi;
pub mod runner;
mod server;
pub mod state;
pub mod webhooks;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;

pub use openapi::Violation;
pub use server::{App, BucketUse, Fault, RateLimits, RequestRecord, router};

/// Environment variable naming the `fake-github` binary for out-of-process tests.
pub const ENV_BIN: &str = "FAKE_GITHUB_BIN";
/// Environment variable naming GitHub's OpenAPI description for tests.
pub const ENV_TEST_OPENAPI: &str = "GITOPS_TEST_OPENAPI";
/// Environment variable the binary reads when `--openapi` is not given.
pub const ENV_OPENAPI: &str = "FAKE_GITHUB_OPENAPI";

/// Errors of the testkit.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem or socket operation failed.
    #[error("io: {0}")]
    Io(String),
    /// A git command failed.
    #[error("git: {0}")]
    Git(String),
    /// The server could not be started.
    #[error("cannot start fake-github: {0}")]
    Spawn(String),
    /// A request to the fake failed or it answered an unexpected status.
    #[error("fake-github request {what} failed: {reason}")]
    Request {
        /// What was asked.
        what: String,
        /// Why it failed.
        reason: String,
    },
}

/// Serves fake-github on an already bound listener until the future is dropped.
pub async fn serve(listener: tokio::net::TcpListener, app: Arc<App>) -> Result<(), Error> {
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Io(e.to_string()))?;
    app.set_base_url(format!("http://{addr}"));
    // Connections a fault can reset (`Fault::reset`).
    let service = router(app).into_make_service_with_connect_info::<aws_proxy::faults::ConnReset>();
    axum::serve(aws_proxy::faults::ResettableListener(listener), service)
        .await
        .map_err(|e| Error::Io(e.to_string()))
}

/// A running fake-github, in-process or as a child process; stopped when dropped.
#[derive(Debug)]
pub struct FakeGithub {
    /// `http://127.0.0.1:PORT`, the API root (use it as `GITHUB_API_URL`).
    pub base_url: String,
    data_dir: PathBuf,
    http: reqwest::Client,
    task: Option<tokio::task::JoinHandle<()>>,
    runner: Option<tokio::task::JoinHandle<()>>,
    _child: Option<tokio::process::Child>,
}

impl Drop for FakeGithub {
    fn drop(&mut self) {
        for t in [&self.task, &self.runner].into_iter().flatten() {
            t.abort();
        }
    }
}

/// Set to `1` by the test command (`scripts/test`, CI): a test whose emulator or fixture is
/// missing then fails instead of skipping, so coverage can never go missing silently.
pub const ENV_REQUIRE_ALL: &str = "GITOPS_TEST_REQUIRE_ALL";

/// Reports that `test` cannot run because `missing` is not available: a skip line written
/// straight to the standard error stream (not through `eprintln!`, which the test harness
/// captures and swallows for a passing test), or, when [`ENV_REQUIRE_ALL`] is `1`, a failure
/// naming what is missing.
///
/// # Panics
/// When skipping is forbidden.
pub fn skip(test: &str, missing: &str) {
    use std::io::Write as _;
    assert!(
        std::env::var(ENV_REQUIRE_ALL).as_deref() != Ok("1"),
        "{test} cannot run: {missing}, and {ENV_REQUIRE_ALL}=1 forbids skipping (run scripts/test)"
    );
    let _ = writeln!(
        std::io::stderr().lock(),
        "skipping {test}: {missing} (run scripts/test)"
    );
}

/// `GITOPS_TEST_AWS_ENDPOINT` (moto), or `None` after [`skip`]ping `test`.
pub fn aws_endpoint(test: &str) -> Option<String> {
    match std::env::var("GITOPS_TEST_AWS_ENDPOINT") {
        Ok(url) if !url.is_empty() => Some(url.trim_end_matches('/').to_owned()),
        _ => {
            skip(
                test,
                "GITOPS_TEST_AWS_ENDPOINT (the moto emulator) is not set",
            );
            None
        }
    }
}

/// The OpenAPI description tests should validate against (`GITOPS_TEST_OPENAPI`), if set.
pub fn openapi_from_env() -> Option<PathBuf> {
    std::env::var_os(ENV_TEST_OPENAPI)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

impl FakeGithub {
    /// Starts the server in-process (a tokio task on the current runtime) on 127.0.0.1:0.
    pub async fn spawn(
        data_dir: impl Into<PathBuf>,
        openapi: Option<PathBuf>,
    ) -> Result<Self, Error> {
        Self::spawn_in_process(data_dir.into(), openapi, None).await
    }

    /// Starts the server in-process with its workflow runner: events on the repositories it
    /// hosts run their workflows with act (see [`runner`]).
    pub async fn spawn_with_runner(
        data_dir: impl Into<PathBuf>,
        openapi: Option<PathBuf>,
        cfg: runner::RunnerConfig,
    ) -> Result<Self, Error> {
        Self::spawn_in_process(data_dir.into(), openapi, Some(cfg)).await
    }

    async fn spawn_in_process(
        data_dir: PathBuf,
        openapi: Option<PathBuf>,
        runner: Option<runner::RunnerConfig>,
    ) -> Result<Self, Error> {
        let (d, o) = (data_dir.clone(), openapi.clone());
        let app = tokio::task::spawn_blocking(move || App::new(&d, o.as_deref()))
            .await
            .map_err(|e| Error::Spawn(e.to_string()))??;
        let app = Arc::new(app);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Error::Spawn(e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Spawn(e.to_string()))?;
        app.set_base_url(format!("http://{addr}"));
        let runner = runner.map(|cfg| app.start_runner(cfg));
        let served = Arc::clone(&app);
        let task = tokio::spawn(async move {
            if let Err(e) = serve(listener, served).await {
                eprintln!("fake-github: {e}");
            }
        });
        Ok(Self {
            base_url: format!("http://{addr}"),
            data_dir,
            http: reqwest::Client::new(),
            task: Some(task),
            runner,
            _child: None,
        })
    }

    /// Starts the `fake-github` binary at `bin` and reads its base URL from its first line.
    pub async fn spawn_bin(
        bin: &Path,
        data_dir: impl Into<PathBuf>,
        openapi: Option<PathBuf>,
    ) -> Result<Self, Error> {
        let data_dir = data_dir.into();
        let mut cmd = tokio::process::Command::new(bin);
        cmd.arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data")
            .arg(&data_dir);
        if let Some(o) = &openapi {
            cmd.arg("--openapi").arg(o);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::Spawn(format!("{}: {e}", bin.display())))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| Error::Spawn("no stdout".into()))?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let first = tokio::time::timeout(std::time::Duration::from_mins(1), lines.next_line())
            .await
            .map_err(|_| Error::Spawn("no base URL within 60 s".into()))?
            .map_err(|e| Error::Spawn(e.to_string()))?
            .ok_or_else(|| Error::Spawn("exited before printing its base URL".into()))?;
        if !first.starts_with("http://") {
            return Err(Error::Spawn(format!("unexpected first line {first:?}")));
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self {
            base_url: first.trim().to_owned(),
            data_dir,
            http: reqwest::Client::new(),
            task: None,
            runner: None,
            _child: Some(child),
        })
    }

    /// The binary named by `FAKE_GITHUB_BIN` when set, otherwise in-process.
    pub async fn spawn_from_env(
        data_dir: impl Into<PathBuf>,
        openapi: Option<PathBuf>,
    ) -> Result<Self, Error> {
        match std::env::var_os(ENV_BIN).filter(|v| !v.is_empty()) {
            Some(bin) => Self::spawn_bin(Path::new(&bin), data_dir, openapi).await,
            None => Self::spawn(data_dir, openapi).await,
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Where the bare repository `owner/name` lives.
    pub fn repo_path(&self, owner: &str, name: &str) -> PathBuf {
        self.data_dir
            .join(owner.to_ascii_lowercase())
            .join(format!("{}.git", name.to_ascii_lowercase()))
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), Error> {
        let what = format!("{method} {path}");
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .header("authorization", "Bearer testkit")
            .header("accept", "application/vnd.github+json")
            .header("user-agent", "gitops-testkit");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| Error::Request {
            what: what.clone(),
            reason: e.to_string(),
        })?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| Error::Request {
            what: what.clone(),
            reason: e.to_string(),
        })?;
        if status >= 300 {
            return Err(Error::Request {
                what,
                reason: format!("status {status}: {}", String::from_utf8_lossy(&bytes)),
            });
        }
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|e| Error::Request {
                what,
                reason: format!("status {status}, but the body is not JSON: {e}"),
            })?
        };
        Ok((status, v))
    }

    async fn get_as<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        let (_, v) = self.call(reqwest::Method::GET, path, None).await?;
        serde_json::from_value(v).map_err(|e| Error::Request {
            what: path.to_owned(),
            reason: e.to_string(),
        })
    }

    /// Responses that did not conform to the OpenAPI description so far.
    pub async fn violations(&self) -> Result<Vec<Violation>, Error> {
        self.get_as("/_fake/violations").await
    }

    /// Every request served so far (method, path, status), in order.
    pub async fn requests(&self) -> Result<Vec<RequestRecord>, Error> {
        self.get_as("/_fake/requests").await
    }

    /// Forgets the request log.
    pub async fn clear_requests(&self) -> Result<(), Error> {
        self.call(reqwest::Method::DELETE, "/_fake/requests", None)
            .await
            .map(drop)
    }

    /// Injects a fault.
    pub async fn set_fault(&self, fault: &Fault) -> Result<(), Error> {
        let body = serde_json::to_value(fault).map_err(|e| Error::Io(e.to_string()))?;
        self.call(reqwest::Method::POST, "/_fake/faults", Some(body))
            .await
            .map(drop)
    }

    /// Registers a webhook: every later event of every repository is POSTed to `url`, signed
    /// with `secret`, when `events` is empty or names it (see `server/hooks.rs`).
    pub async fn add_webhook(&self, url: &str, secret: &str, events: &[&str]) -> Result<(), Error> {
        let mut body = serde_json::json!({"url": url, "secret": secret});
        if !events.is_empty() {
            body["events"] = serde_json::json!(events);
        }
        self.call(reqwest::Method::POST, "/_fake/hooks", Some(body))
            .await
            .map(drop)
    }

    /// Every webhook delivery made: `[{"guid", "event", "action", "url", "status", "error"}]`.
    pub async fn webhook_deliveries(&self) -> Result<Value, Error> {
        self.get_as("/_fake/hooks/deliveries").await
    }

    /// Sends delivery `guid` again: the same body, GUID and signature, as GitHub's "Redeliver".
    pub async fn redeliver(&self, guid: &str) -> Result<(), Error> {
        self.call(
            reqwest::Method::POST,
            &format!("/_fake/hooks/deliveries/{guid}/redeliver"),
            None,
        )
        .await
        .map(drop)
    }

    /// Turns GitHub's limits on (see [`RateLimits`]), on a fresh modelled clock.
    pub async fn set_limits(&self, limits: &RateLimits) -> Result<(), Error> {
        let body = serde_json::to_value(limits).map_err(|e| Error::Io(e.to_string()))?;
        self.call(reqwest::Method::POST, "/_fake/limits", Some(body))
            .await
            .map(drop)
    }

    /// The limits' state: `{"limits", "modelled_seconds", "buckets": {key: BucketUse}}`.
    pub async fn limits(&self) -> Result<Value, Error> {
        self.get_as("/_fake/limits").await
    }

    /// Removes every fault.
    pub async fn clear_faults(&self) -> Result<(), Error> {
        self.call(reqwest::Method::DELETE, "/_fake/faults", None)
            .await
            .map(drop)
    }

    /// Moves a workflow run to `status` (and `conclusion`).
    pub async fn set_run_status(
        &self,
        owner: &str,
        repo: &str,
        run_id: u64,
        status: &str,
        conclusion: Option<&str>,
    ) -> Result<(), Error> {
        let path = format!("/_fake/runs/{owner}/{repo}/{run_id}");
        self.call(
            reqwest::Method::PATCH,
            &path,
            Some(json!({"status": status, "conclusion": conclusion})),
        )
        .await
        .map(drop)
    }

    /// Calls the API as `token` (`<login>:<secret>` acts as `<login>`): the status and the JSON
    /// body (`null` when empty), whatever the status.
    pub async fn api(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), Error> {
        let what = format!("{method} {path}");
        let fail = |e: reqwest::Error| Error::Request {
            what: what.clone(),
            reason: e.to_string(),
        };
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .header("authorization", format!("Bearer {token}"))
            .header("accept", "application/vnd.github+json")
            .header("user-agent", "gitops-testkit")
            .timeout(std::time::Duration::from_mins(1));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(fail)?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(fail)?;
        let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, v))
    }

    /// Sets a secret of `owner/repo`, or of its `environment`, for the runner's jobs.
    pub async fn set_secret(
        &self,
        owner: &str,
        repo: &str,
        environment: Option<&str>,
        name: &str,
        value: &str,
    ) -> Result<(), Error> {
        self.call(
            reqwest::Method::PUT,
            &format!("/_fake/secrets/{owner}/{repo}"),
            Some(json!({"name": name, "value": value, "environment": environment})),
        )
        .await
        .map(drop)
    }

    /// A person's `git push` of `refspecs` from the clone at `from` into `owner/repo`, as
    /// `pusher`: the push events follow as they would from GitHub.
    pub async fn git_push(
        &self,
        owner: &str,
        repo: &str,
        pusher: &str,
        from: &Path,
        refspecs: &[&str],
    ) -> Result<(), Error> {
        self.call(
            reqwest::Method::POST,
            &format!("/_fake/git-push/{owner}/{repo}"),
            Some(json!({"pusher": pusher, "from": from, "refspecs": refspecs})),
        )
        .await
        .map(drop)
    }

    /// Fires the scheduler for `owner/repo` (every workflow with a `schedule` trigger).
    pub async fn fire_schedule(&self, owner: &str, repo: &str) -> Result<(), Error> {
        self.call(
            reqwest::Method::POST,
            &format!("/_fake/schedule/{owner}/{repo}"),
            None,
        )
        .await
        .map(drop)
    }

    /// The workflow runs of `owner/repo` as stored (jobs, their summaries, pending reviews).
    pub async fn runs(&self, owner: &str, repo: &str) -> Result<Vec<state::WorkflowRun>, Error> {
        let (_, v) = self
            .api(
                "observer:fake-github-testkit",
                reqwest::Method::GET,
                &format!("/repos/{owner}/{repo}/actions/runs?per_page=100"),
                None,
            )
            .await?;
        let ids: Vec<u64> = v["workflow_runs"]
            .as_array()
            .map(|a| a.iter().filter_map(|r| r["id"].as_u64()).collect())
            .unwrap_or_default();
        let mut out = Vec::new();
        for id in ids {
            out.push(
                self.get_as(&format!("/_fake/runs/{owner}/{repo}/{id}"))
                    .await?,
            );
        }
        out.reverse();
        Ok(out)
    }

    /// Waits until every run of `owner/repo` has completed and no new one started for a
    /// moment; the runs. Fails after `timeout`.
    pub async fn settle(
        &self,
        owner: &str,
        repo: &str,
        timeout: std::time::Duration,
    ) -> Result<Vec<state::WorkflowRun>, Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut quiet = 0;
        let mut last = 0;
        loop {
            let runs = self.runs(owner, repo).await?;
            let busy = runs.iter().any(|r| r.status != "completed");
            if !busy && runs.len() == last {
                quiet += 1;
                if quiet >= 3 {
                    return Ok(runs);
                }
            } else {
                quiet = 0;
            }
            last = runs.len();
            if tokio::time::Instant::now() > deadline {
                return Err(Error::Request {
                    what: format!("settle {owner}/{repo}"),
                    reason: format!("runs still busy after {timeout:?}: {runs:?}"),
                });
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
    }

    /// Creates `owner/name` (as an organisation repository) holding `files` in one commit on
    /// `main` (an empty repository when `files` is empty). Returns the commit sha, if any.
    pub async fn create_repo(
        &self,
        owner: &str,
        name: &str,
        files: &[(&str, &str)],
    ) -> Result<Option<String>, Error> {
        use reqwest::Method;
        self.call(
            Method::POST,
            &format!("/orgs/{owner}/repos"),
            Some(json!({"name": name})),
        )
        .await?;
        if files.is_empty() {
            return Ok(None);
        }
        let r = format!("/repos/{owner}/{name}");
        let tree: Vec<Value> = files
            .iter()
            .map(|(p, c)| json!({"path": p, "mode": "100644", "type": "blob", "content": c}))
            .collect();
        let trees = format!("{r}/git/trees");
        let (_, t) = self
            .call(Method::POST, &trees, Some(json!({"tree": tree})))
            .await?;
        let tree = sha_of(&t, &trees)?;
        let commits = format!("{r}/git/commits");
        let (_, c) = self
            .call(
                Method::POST,
                &commits,
                Some(json!({"message": "Initial commit", "tree": tree, "parents": []})),
            )
            .await?;
        let sha = sha_of(&c, &commits)?;
        self.call(
            Method::POST,
            &format!("{r}/git/refs"),
            Some(json!({"ref": "refs/heads/main", "sha": sha})),
        )
        .await?;
        Ok(Some(sha))
    }
}

/// The `sha` of the object `POST {path}` created, which GitHub always sends.
fn sha_of(v: &Value, path: &str) -> Result<String, Error> {
    v.get("sha")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Error::Request {
            what: format!("POST {path}"),
            reason: format!("the response has no sha: {v}"),
        })
}
