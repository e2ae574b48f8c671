//! GitHub adapter: REST over octocrab's raw routes, Git Data API commits (no clone), every
//! HTTP attempt counted, bounded retries honouring `retry-after` and `x-ratelimit-reset`,
//! connect and request timeouts.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use base64::Engine as _;
use http::{HeaderMap, Method};
use octocrab::Octocrab;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::retry::{Retryable, classify, server_hint};
use crate::{
    BranchHead, Change, CheckContext, CheckState, CombinedChecks, Comment, Deployment,
    DeploymentState, DeploymentStatus, Error, Forge, PairState, PrState, PullRequest, Requester,
    Result, RetryPolicy, StatusState, Tree, WorkflowRun, branch_name, has_marker, sticky_body,
    validate_deployment, validate_dispatch, validate_marker, validate_pair, validate_path,
    validate_repo, validate_sha,
};

/// Default API root.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// Default time to establish a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time one HTTP request may take, its whole answer read.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest desired-state file [`Forge::pair_state`] reads (GitHub's contents API inlines
/// files up to 1 MB).
const MAX_PENDING_FILE: u64 = 1024 * 1024;

/// [`Forge`] and [`Requester`] on GitHub or GitHub Enterprise Server.
pub struct GithubForge {
    crab: Octocrab,
    token: SecretString,
    api_url: String,
    owner: String,
    repo: String,
    base: String,
    retry: RetryPolicy,
    connect_timeout: Duration,
    request_timeout: Duration,
    calls: Arc<AtomicU64>,
}

impl fmt::Debug for GithubForge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubForge")
            .field("api_url", &self.api_url)
            .field("owner", &self.owner)
            .field("repo", &self.repo)
            .field("base", &self.base)
            .field("token", &"[redacted]")
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

struct Resp {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Resp {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
    fn json(&self) -> Result<Value> {
        if self.body.trim().is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_str(&self.body)?)
    }
    fn message(&self) -> String {
        let msg = serde_json::from_str::<Value>(&self.body)
            .ok()
            .and_then(|v| {
                let m = v.get("message")?.as_str()?.to_owned();
                let errs = v
                    .get("errors")
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default();
                Some(format!("{m}{errs}"))
            })
            .unwrap_or_else(|| self.body.chars().take(300).collect());
        if msg.is_empty() {
            format!("HTTP {}", self.status)
        } else {
            msg
        }
    }
}

fn s(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}
fn opt_s(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}
fn u(v: &Value, key: &str) -> Result<u64> {
    v.get(key)
        .and_then(Value::as_u64)
        .ok_or_else(|| Error::Transport {
            message: format!("response without numeric {key}"),
        })
}

impl GithubForge {
    /// A forge for `owner/repo` at `api_url` (`https://api.github.com`, or
    /// `https://HOST/api/v3` for GitHub Enterprise Server, or a test server).
    ///
    /// Call it inside a Tokio runtime (octocrab spawns its service buffer there). octocrab's
    /// own retry layer is off: [`RetryPolicy`] decides, honouring the server's hints.
    /// Timeouts: [`DEFAULT_CONNECT_TIMEOUT`] and [`DEFAULT_REQUEST_TIMEOUT`] (see
    /// [`GithubForge::with_timeouts`]).
    pub fn new(api_url: &str, token: SecretString, owner: &str, repo: &str) -> Result<Self> {
        validate_repo(&format!("{owner}/{repo}"))?;
        let api_url = api_url.trim_end_matches('/').to_owned();
        let crab = build_client(&api_url, &token, DEFAULT_CONNECT_TIMEOUT)?;
        Ok(GithubForge {
            crab,
            token,
            api_url,
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            base: "main".to_owned(),
            retry: RetryPolicy::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            calls: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Bound each HTTP attempt: `connect` to establish the connection, `request` for the
    /// whole request and its answer (defaults 10 s and 30 s). A timed-out attempt is a
    /// retryable [`Error::Transport`] saying "timed out" and naming the call; reads are
    /// retried within the [`RetryPolicy`]'s budget, writes never (they may have landed).
    #[must_use]
    pub fn with_timeouts(mut self, connect: Duration, request: Duration) -> Self {
        match build_client(&self.api_url, &self.token, connect) {
            Ok(crab) => {
                self.crab = crab;
                self.connect_timeout = connect;
            }
            // Cannot happen with inputs `new` accepted; the request timeout still bounds
            // connecting.
            Err(e) => tracing::warn!(error = %e, "connect timeout not applied"),
        }
        self.request_timeout = request;
        self
    }

    /// From the environment: `GITHUB_API_URL` (default `https://api.github.com`), token from
    /// `GITOPS_GITHUB_TOKEN` or `GITHUB_TOKEN`, repository from `GITHUB_REPOSITORY`.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// [`GithubForge::from_env`] over any variable lookup (testable without touching the
    /// process environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let api = lookup("GITHUB_API_URL")
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_API_URL.to_owned());
        let token = lookup("GITOPS_GITHUB_TOKEN")
            .filter(|v| !v.is_empty())
            .or_else(|| lookup("GITHUB_TOKEN").filter(|v| !v.is_empty()))
            .ok_or_else(|| Error::Unauthorized {
                message: "set GITOPS_GITHUB_TOKEN or GITHUB_TOKEN".into(),
            })?;
        let repository = lookup("GITHUB_REPOSITORY")
            .ok_or_else(|| Error::invalid("GITHUB_REPOSITORY", "not set (expected owner/name)"))?;
        let (owner, name) = validate_repo(&repository)?;
        Self::new(&api, SecretString::from(token), owner, name)
    }

    /// Target another base branch than `main`.
    #[must_use]
    pub fn with_base_branch(mut self, base: &str) -> Self {
        base.clone_into(&mut self.base);
        self
    }

    /// Replace the retry policy.
    #[must_use]
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// HTTP requests sent so far (every attempt, retries included).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// `owner/name` of the GitOps repository.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.owner, self.repo)
    }

    fn scrub(&self, msg: &str) -> String {
        let t = self.token.expose_secret();
        if t.is_empty() {
            msg.to_owned()
        } else {
            msg.replace(t, "[redacted]")
        }
    }

    fn path(&self, rest: &str) -> String {
        format!("/repos/{}/{}/{rest}", self.owner, self.repo)
    }

    async fn send_once(&self, method: &Method, path: &str, body: Option<&Value>) -> Result<Resp> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let call = format!("{method} {}", path.split('?').next().unwrap_or(path));
        let attempt = async {
            let r = match *method {
                Method::GET => self.crab._get(path).await,
                Method::POST => self.crab._post(path, body).await,
                Method::PATCH => self.crab._patch(path, body).await,
                Method::PUT => self.crab._put(path, body).await,
                Method::DELETE => self.crab._delete(path, body).await,
                _ => {
                    return Err(Error::invalid("method", method.as_str()));
                }
            }
            .map_err(|e| self.transport(&call, &e))?;
            let status = r.status().as_u16();
            let headers = r.headers().clone();
            let body = self
                .crab
                .body_to_string(r)
                .await
                .map_err(|e| self.transport(&call, &e))?;
            Ok(Resp {
                status,
                headers,
                body,
            })
        };
        tokio::time::timeout(self.request_timeout, attempt)
            .await
            .unwrap_or_else(|_| Err(Self::timed_out(&call, self.request_timeout)))
    }

    fn timed_out(call: &str, after: Duration) -> Error {
        Error::Transport {
            message: format!("{call} timed out after {after:?} (the forge did not answer)"),
        }
    }

    /// A transport failure of `call`: a timeout says so; otherwise the first line of the
    /// client's error (never a response: those are handled by status), token scrubbed.
    fn transport(&self, call: &str, e: &(dyn std::error::Error + 'static)) -> Error {
        let mut source = Some(e);
        while let Some(err) = source {
            let timeout = err
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
                || err.to_string().to_ascii_lowercase().contains("timed out");
            if timeout {
                return Error::Transport {
                    message: format!(
                        "{call} timed out (connect timeout {:?}, request timeout {:?})",
                        self.connect_timeout, self.request_timeout
                    ),
                };
            }
            source = err.source();
        }
        Error::Transport {
            message: format!("{call}: {}", self.scrub(&first_line(&e.to_string()))),
        }
    }

    /// Send with retries; returns the final response whatever its status, except when
    /// retries are exhausted on a rate limit (`Throttled`) or on transport errors. No retry
    /// starts once the call has spent the policy's `max_total_wait` (attempts included).
    async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Resp> {
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let result = self.send_once(&method, path, body).await;
            let (hint, throttled) = match &result {
                Ok(resp) => match classify(resp.status, &resp.headers, &resp.body) {
                    None => return result,
                    Some(kind) => (
                        server_hint(&resp.headers, SystemTime::now()),
                        kind == Retryable::RateLimited,
                    ),
                },
                // A transport failure (a timeout too) may have reached the server: only
                // repeat reads.
                Err(_) if method == Method::GET => (None, false),
                Err(_) => return result,
            };
            match self.retry.next_wait(attempt, started.elapsed(), hint) {
                Some(wait) => {
                    tracing::debug!(%method, path, attempt, ?wait, "retrying forge call");
                    tokio::time::sleep(wait).await;
                }
                None if throttled => {
                    return Err(Error::Throttled { retry_after: hint });
                }
                None => return result,
            }
        }
    }

    fn error(&self, what: &str, resp: &Resp) -> Error {
        let message = self.scrub(&resp.message());
        match resp.status {
            401 | 403 => Error::Unauthorized { message },
            404 => Error::not_found(what.to_owned()),
            409 => Error::conflict(message),
            422 => Error::invalid(what, message),
            429 => Error::Throttled { retry_after: None },
            status => Error::Api { status, message },
        }
    }

    async fn json(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value> {
        let resp = self.send(method, path, body).await?;
        if resp.ok() {
            resp.json()
        } else {
            Err(self.error(path, &resp))
        }
    }

    /// GET a list endpoint, following `page=` while pages are full (100 items).
    async fn list(&self, path: &str, key: Option<&str>) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        let sep = if path.contains('?') { '&' } else { '?' };
        for page in 1..=50 {
            let v = self
                .json(
                    Method::GET,
                    &format!("{path}{sep}per_page=100&page={page}"),
                    None,
                )
                .await?;
            let items = match key {
                Some(k) => v.get(k).cloned().unwrap_or(Value::Null),
                None => v,
            };
            let Value::Array(items) = items else {
                return Err(Error::Transport {
                    message: format!("{path}: expected a list"),
                });
            };
            let full = items.len() >= 100;
            out.extend(items);
            if !full {
                break;
            }
        }
        Ok(out)
    }

    async fn resolve_commit(&self, git_ref: &str) -> Result<String> {
        if validate_sha("ref", git_ref).is_ok() {
            return Ok(git_ref.to_owned());
        }
        let name = git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref);
        let v = self
            .json(
                Method::GET,
                &self.path(&format!("git/ref/heads/{name}")),
                None,
            )
            .await
            .map_err(|e| match e {
                Error::NotFound { .. } => Error::not_found(format!("ref {git_ref}")),
                e => e,
            })?;
        v.pointer("/object/sha")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| Error::Transport {
                message: "ref without object.sha".into(),
            })
    }

    async fn tree_of(&self, commit: &str) -> Result<String> {
        let v = self
            .json(
                Method::GET,
                &self.path(&format!("git/commits/{commit}")),
                None,
            )
            .await?;
        v.pointer("/tree/sha")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| Error::Transport {
                message: "commit without tree.sha".into(),
            })
    }

    fn to_pr(v: &Value) -> Result<PullRequest> {
        let merged = v.get("merged").and_then(Value::as_bool).unwrap_or(false)
            || v.get("merged_at").is_some_and(|m| !m.is_null());
        let state = match (s(v, "state").as_str(), merged) {
            (_, true) => PrState::Merged,
            ("open", _) => PrState::Open,
            _ => PrState::Closed,
        };
        Ok(PullRequest {
            number: u(v, "number")?,
            branch: v
                .pointer("/head/ref")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            base: v
                .pointer("/base/ref")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            head_sha: v
                .pointer("/head/sha")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            state,
            mergeable: v.get("mergeable").and_then(Value::as_bool),
            url: s(v, "html_url"),
            title: s(v, "title"),
            body: s(v, "body"),
            merge_sha: if state == PrState::Merged {
                opt_s(v, "merge_commit_sha")
            } else {
                None
            },
        })
    }

    /// Point `gitops/<env>/<mfe>` at `sha`: force-update, or create when missing (forced
    /// proposals, tools only).
    async fn set_branch(&self, branch: &str, sha: &str) -> Result<()> {
        for _ in 0..3 {
            let patch = self
                .send(
                    Method::PATCH,
                    &self.path(&format!("git/refs/heads/{branch}")),
                    Some(&json!({"sha": sha, "force": true})),
                )
                .await?;
            if patch.ok() {
                return Ok(());
            }
            if patch.status != 422 && patch.status != 404 {
                return Err(self.error(branch, &patch));
            }
            // The ref does not exist yet: create it.
            let post = self
                .send(
                    Method::POST,
                    &self.path("git/refs"),
                    Some(&json!({"ref": format!("refs/heads/{branch}"), "sha": sha})),
                )
                .await?;
            if post.ok() {
                return Ok(());
            }
            if post.status != 422 {
                return Err(self.error(branch, &post));
            }
            // Created concurrently by someone else: force-update it on the next round.
        }
        Err(Error::conflict(format!("branch {branch} keeps changing")))
    }

    /// Create `gitops/<env>/<mfe>` at `sha` only if it does not exist: `Conflict` if it does.
    async fn create_branch(&self, branch: &str, sha: &str) -> Result<()> {
        let post = self
            .send(
                Method::POST,
                &self.path("git/refs"),
                Some(&json!({"ref": format!("refs/heads/{branch}"), "sha": sha})),
            )
            .await?;
        let message = post.message().to_ascii_lowercase();
        match post.status {
            200..=299 => Ok(()),
            422 | 409 if message.contains("already exists") || post.status == 409 => {
                Err(Error::conflict(format!(
                    "branch {branch} exists: another proposal created it ({})",
                    self.scrub(&post.message())
                )))
            }
            _ => Err(self.error(branch, &post)),
        }
    }

    /// Move `branch` from `expected` to `sha` (a commit with `expected` as a parent) by
    /// fast-forward only: anything else is `Conflict`. A branch that no longer exists (deleted
    /// after its PR merged) is created, unless someone else created it first.
    async fn advance_branch(&self, branch: &str, expected: &str, sha: &str) -> Result<()> {
        let patch = self
            .send(
                Method::PATCH,
                &self.path(&format!("git/refs/heads/{branch}")),
                Some(&json!({"sha": sha, "force": false})),
            )
            .await?;
        if patch.ok() {
            return Ok(());
        }
        let message = self.scrub(&patch.message());
        let lower = message.to_ascii_lowercase();
        let moved = lower.contains("fast forward") || lower.contains("cannot be updated");
        match patch.status {
            404 => self.create_branch(branch, sha).await,
            422 if lower.contains("reference does not exist") => {
                self.create_branch(branch, sha).await
            }
            409 => Err(Error::conflict(format!(
                "branch {branch} is no longer at {expected} ({message})"
            ))),
            422 if moved => Err(Error::conflict(format!(
                "branch {branch} is no longer at {expected} ({message})"
            ))),
            _ => Err(self.error(branch, &patch)),
        }
    }

    /// The newest pull request of `branch` (any state), in one call.
    async fn newest_pr(&self, branch: &str) -> Result<Option<PullRequest>> {
        let v = self
            .json(
                Method::GET,
                &self.path(&format!(
                    "pulls?head={}:{branch}&state=all&sort=created&direction=desc&per_page=1",
                    self.owner
                )),
                None,
            )
            .await?;
        let Value::Array(items) = v else {
            return Err(Error::Transport {
                message: "pulls: expected a list".into(),
            });
        };
        items
            .iter()
            .find(|p| p.pointer("/head/ref").and_then(Value::as_str) == Some(branch))
            .map(Self::to_pr)
            .transpose()
    }

    /// The content of `path` at `commit` when it is a file there.
    async fn file_at(&self, commit: &str, path: &str) -> Result<Option<Vec<u8>>> {
        let resp = self
            .send(
                Method::GET,
                &self.path(&format!("contents/{}?ref={commit}", encode_path(path))),
                None,
            )
            .await?;
        if resp.status == 404 {
            return Ok(None);
        }
        if !resp.ok() {
            return Err(self.error(path, &resp));
        }
        let v = resp.json()?;
        if s(&v, "type") != "file" {
            // A directory (a list), symlink or submodule: not a file.
            return Ok(None);
        }
        let size = v.get("size").and_then(Value::as_u64).unwrap_or(0);
        if size > MAX_PENDING_FILE || s(&v, "encoding") != "base64" {
            return Err(Error::invalid(
                "path",
                format!(
                    "{path} at {commit} is {size} bytes, more than a desired-state file may be (1 MiB)"
                ),
            ));
        }
        let clean: String = s(&v, "content")
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(clean)
            .map(Some)
            .map_err(|e| Error::Transport {
                message: format!("contents of {path}: malformed base64: {e}"),
            })
    }

    /// Open the PR of `change`'s branch, or (422: one is open already) edit it.
    async fn open_pr(&self, change: &Change, branch: &str) -> Result<Value> {
        let post = self
            .send(
                Method::POST,
                &self.path("pulls"),
                Some(&json!({"title": change.title, "body": change.body, "head": branch, "base": self.base})),
            )
            .await?;
        if post.ok() {
            return post.json();
        }
        if post.status != 422 {
            return Err(self.error("pull request", &post));
        }
        let open = self
            .find_open_pr(branch)
            .await?
            .ok_or_else(|| self.error("pull request", &post))?;
        let n = u(&open, "number")?;
        self.json(
            Method::PATCH,
            &self.path(&format!("pulls/{n}")),
            Some(&json!({"title": change.title, "body": change.body})),
        )
        .await
    }

    async fn find_open_pr(&self, branch: &str) -> Result<Option<Value>> {
        let v = self
            .json(
                Method::GET,
                &self.path(&format!("pulls?state=open&head={}:{branch}", self.owner)),
                None,
            )
            .await?;
        Ok(v.as_array()
            .and_then(|a| {
                a.iter()
                    .find(|p| p.pointer("/head/ref").and_then(Value::as_str) == Some(branch))
            })
            .cloned())
    }

    async fn put_merge(&self, number: u64, sha: &str) -> Result<Resp> {
        self.send(
            Method::PUT,
            &self.path(&format!("pulls/{number}/merge")),
            Some(&json!({"sha": sha, "merge_method": "merge"})),
        )
        .await
    }

    fn repo_path(repo: &str, rest: &str) -> Result<String> {
        validate_repo(repo)?;
        Ok(format!("/repos/{repo}/{rest}"))
    }
}

fn build_client(api_url: &str, token: &SecretString, connect: Duration) -> Result<Octocrab> {
    Octocrab::builder()
        .base_uri(api_url)
        .map_err(|e| Error::invalid("api_url", first_line(&e.to_string())))?
        .personal_token(token.expose_secret().to_owned())
        .add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
        .set_connect_timeout(Some(connect))
        // The request timeout wraps each whole attempt (`send_once`).
        .set_read_timeout(None)
        .build()
        .map_err(|e| Error::Transport {
            message: first_line(&e.to_string()),
        })
}

/// Percent-encode each segment of a repository path for a URL (unreserved bytes kept).
fn encode_path(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            seg.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                        char::from(b).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

type Files = std::collections::BTreeMap<String, Vec<u8>>;

/// Largest tarball `read_tree` unpacks (the GitOps repository is small text files).
const MAX_TREE_BYTES: u64 = 256 * 1024 * 1024;

/// Files of a `git archive` tarball (leading directory stripped) and the commit id from its
/// pax global header.
fn unpack_tarball(gz: &[u8]) -> Result<(Option<String>, Files)> {
    use std::io::Read as _;
    let bad = |e: std::io::Error| Error::Transport {
        message: format!("unreadable tarball: {e}"),
    };
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gz));
    let mut comment = None;
    let mut files = std::collections::BTreeMap::new();
    let mut total = 0u64;
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            if let Some(exts) = entry.pax_extensions().map_err(bad)? {
                for ext in exts.flatten() {
                    if ext.key() == Ok("comment") {
                        comment = ext.value().ok().map(|v| v.trim().to_owned());
                    }
                }
            }
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let path = entry.path().map_err(bad)?.to_string_lossy().into_owned();
        let Some((_, rel)) = path.split_once('/') else {
            continue;
        };
        if rel.is_empty() || crate::validate_path(rel).is_err() {
            continue;
        }
        total += entry.size();
        if total > MAX_TREE_BYTES {
            return Err(Error::Api {
                status: 200,
                message: "repository too large to read at once".into(),
            });
        }
        let mut content = Vec::new();
        entry.read_to_end(&mut content).map_err(bad)?;
        files.insert(rel.to_owned(), content);
    }
    Ok((comment, files))
}

fn first_line(s: &str) -> String {
    s.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

fn check_run_state(v: &Value) -> CheckState {
    if s(v, "status") != "completed" {
        return CheckState::Pending;
    }
    match v.get("conclusion").and_then(Value::as_str) {
        Some("success" | "neutral" | "skipped") => CheckState::Success,
        _ => CheckState::Failure,
    }
}

fn status_state(v: &str) -> CheckState {
    match v {
        "success" => CheckState::Success,
        "pending" => CheckState::Pending,
        _ => CheckState::Failure,
    }
}

fn deployment_state(v: &str) -> Result<DeploymentState> {
    serde_json::from_value(Value::String(v.to_owned())).map_err(|_| Error::Transport {
        message: format!("unknown deployment state {v:?}"),
    })
}

#[async_trait]
impl Forge for GithubForge {
    fn base_branch(&self) -> &str {
        &self.base
    }

    async fn read_tree(&self, git_ref: &str) -> Result<Tree> {
        if git_ref.is_empty() || git_ref.starts_with('-') || git_ref.contains("..") {
            return Err(Error::invalid("ref", format!("{git_ref:?} is not a ref")));
        }
        let name = git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref);
        // One API call (the tarball redirect) plus the download it points to.
        let resp = self
            .send(Method::GET, &self.path(&format!("tarball/{name}")), None)
            .await?;
        let location = match resp.status {
            300..=399 => resp
                .headers
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .ok_or_else(|| Error::Transport {
                    message: "tarball redirect without a location".into(),
                })?,
            404 => return Err(Error::not_found(format!("ref {git_ref}"))),
            _ => return Err(self.error("tarball", &resp)),
        };
        self.calls.fetch_add(1, Ordering::Relaxed);
        // Named without its URL: a redirect location may carry a download token.
        let call = format!("GET tarball/{name} (download)");
        let bytes = tokio::time::timeout(
            self.request_timeout,
            self.crab.download(location.as_str(), "application/x-gzip"),
        )
        .await
        .map_err(|_| Self::timed_out(&call, self.request_timeout))?
        .map_err(|e| self.transport(&call, &e))?;
        let (comment, files) = unpack_tarball(&bytes)?;
        let commit_sha = match comment {
            Some(sha) if validate_sha("sha", &sha).is_ok() => sha,
            _ => self.resolve_commit(git_ref).await?,
        };
        Ok(Tree { commit_sha, files })
    }

    async fn pair_state(
        &self,
        environment: &str,
        mfe: &str,
        path: &str,
        exact: bool,
    ) -> Result<PairState> {
        validate_pair(environment, mfe)?;
        validate_path(path)?;
        let branch = branch_name(environment, mfe);
        let newest = self.newest_pr(&branch).await?;
        let open = newest.as_ref().filter(|p| p.state == PrState::Open);
        let (expected, pending_at) = if exact {
            let head = match self
                .json(
                    Method::GET,
                    &self.path(&format!("git/ref/heads/{branch}")),
                    None,
                )
                .await
            {
                Ok(v) => Some(
                    v.pointer("/object/sha")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .ok_or_else(|| Error::Transport {
                            message: "ref without object.sha".into(),
                        })?,
                ),
                Err(Error::NotFound { .. }) => None,
                Err(e) => return Err(e),
            };
            // Pending: an open PR, or a head that is not the newest (merged or closed) PR's
            // head: unknown counts as pending.
            let pending_at = head
                .clone()
                .filter(|h| open.is_some() || newest.as_ref().is_none_or(|p| p.head_sha != *h));
            (head.map_or(BranchHead::Absent, BranchHead::At), pending_at)
        } else {
            (
                newest
                    .as_ref()
                    .map_or(BranchHead::Absent, |p| BranchHead::At(p.head_sha.clone())),
                open.map(|p| p.head_sha.clone()),
            )
        };
        let pending = match pending_at {
            Some(h) => self.file_at(&h, path).await?,
            None => None,
        };
        Ok(PairState {
            expected,
            pull_request: open.cloned(),
            pending,
        })
    }

    async fn propose(&self, change: &Change) -> Result<PullRequest> {
        change.validate()?;
        let branch = change.branch();
        let base_sha = match &change.base_sha {
            Some(s) => s.clone(),
            None => self.resolve_commit(&self.base).await?,
        };
        let base_tree = match &change.base_tree_sha {
            Some(t) if change.base_sha.is_some() => t.clone(),
            _ => self.tree_of(&base_sha).await?,
        };
        let entries: Vec<Value> = change
            .writes
            .iter()
            .map(|w| match &w.content {
                Some(c) => match std::str::from_utf8(c) {
                    Ok(text) => {
                        json!({"path": w.path, "mode": "100644", "type": "blob", "content": text})
                    }
                    Err(_) => Value::Null,
                },
                None => json!({"path": w.path, "mode": "100644", "type": "blob", "sha": null}),
            })
            .collect();
        let mut tree_entries = Vec::with_capacity(entries.len());
        for (w, e) in change.writes.iter().zip(entries) {
            if e.is_null() {
                // Binary content: inline content must be UTF-8, so upload a blob first.
                let c = w.content.as_deref().unwrap_or_default();
                let blob = self
                    .json(
                        Method::POST,
                        &self.path("git/blobs"),
                        Some(&json!({"content": base64::engine::general_purpose::STANDARD.encode(c), "encoding": "base64"})),
                    )
                    .await?;
                tree_entries.push(json!({"path": w.path, "mode": "100644", "type": "blob", "sha": s(&blob, "sha")}));
            } else {
                tree_entries.push(e);
            }
        }
        let tree = self
            .json(
                Method::POST,
                &self.path("git/trees"),
                Some(&json!({"base_tree": base_tree, "tree": tree_entries})),
            )
            .await
            .map_err(|e| match e {
                Error::Invalid { reason, .. } | Error::NotFound { what: reason } => {
                    Error::not_found(format!("base tree {base_tree}: {reason}"))
                }
                e => e,
            })?;
        // The first parent is the base, so the PR's diff against the base is the writes. A
        // compare-and-swap on an existing head adds it as the second parent: GitHub's refs
        // API compares only by fast-forward (`force: false`), which then succeeds exactly
        // when the branch is still there (or at one of the new commit's ancestors).
        let mut parents = vec![base_sha.clone()];
        if let Some(BranchHead::At(h)) = &change.expected
            && *h != base_sha
        {
            parents.push(h.clone());
        }
        let commit = self
            .json(
                Method::POST,
                &self.path("git/commits"),
                Some(&json!({"message": format!("{}\n\n{}", change.title, change.body).trim_end(), "tree": s(&tree, "sha"), "parents": parents})),
            )
            .await?;
        let head = s(&commit, "sha");
        match &change.expected {
            None => self.set_branch(&branch, &head).await?,
            Some(BranchHead::Absent) => self.create_branch(&branch, &head).await?,
            Some(BranchHead::At(h)) => self.advance_branch(&branch, h, &head).await?,
        }
        // Opening the PR is one call: `PATCH` the open PR the caller saw, else `POST`; only a
        // "pull request already exists" answer costs a lookup and an update.
        let pr = match change.pull_request {
            Some(n) => {
                let v = self
                    .json(
                        Method::PATCH,
                        &self.path(&format!("pulls/{n}")),
                        Some(&json!({"title": change.title, "body": change.body})),
                    )
                    .await?;
                if v.pointer("/head/ref").and_then(Value::as_str) != Some(branch.as_str()) {
                    return Err(Error::invalid(
                        "pull_request",
                        format!("#{n} is not the pull request of {branch}"),
                    ));
                }
                if Self::to_pr(&v)?.state == PrState::Open {
                    v
                } else {
                    // Merged or closed since the caller looked: a new PR.
                    self.open_pr(change, &branch).await?
                }
            }
            None => self.open_pr(change, &branch).await?,
        };
        let mut out = Self::to_pr(&pr)?;
        // Our commit, even if a concurrent proposer moved the branch since: merging it
        // is then refused (`Conflict`), never a silent merge of someone else's write.
        out.head_sha = head;
        Ok(out)
    }

    async fn pull_request(&self, number: u64) -> Result<PullRequest> {
        let v = self
            .json(Method::GET, &self.path(&format!("pulls/{number}")), None)
            .await
            .map_err(|e| match e {
                Error::NotFound { .. } => Error::not_found(format!("pull request #{number}")),
                e => e,
            })?;
        Self::to_pr(&v)
    }

    async fn open_pull_requests(&self) -> Result<Vec<PullRequest>> {
        let mut v = self
            .list(&self.path("pulls?state=open"), None)
            .await?
            .iter()
            .map(Self::to_pr)
            .collect::<Result<Vec<_>>>()?;
        v.sort_by_key(|p| p.number);
        Ok(v)
    }

    async fn changed_files(&self, number: u64) -> Result<Vec<String>> {
        let mut v: Vec<String> = self
            .list(&self.path(&format!("pulls/{number}/files")), None)
            .await?
            .iter()
            .map(|f| s(f, "filename"))
            .collect();
        v.sort();
        v.dedup();
        Ok(v)
    }

    async fn approvals(&self, number: u64) -> Result<Vec<String>> {
        let head = self.pull_request(number).await?.head_sha;
        let reviews = self
            .list(&self.path(&format!("pulls/{number}/reviews")), None)
            .await?;
        let mut latest = std::collections::BTreeMap::new();
        for r in &reviews {
            let login = r
                .pointer("/user/login")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            match s(r, "state").as_str() {
                "APPROVED" => {
                    latest.insert(login, s(r, "commit_id") == head);
                }
                "CHANGES_REQUESTED" | "DISMISSED" => {
                    latest.insert(login, false);
                }
                _ => {}
            }
        }
        Ok(latest
            .into_iter()
            .filter(|(l, ok)| *ok && !l.is_empty())
            .map(|(l, _)| l)
            .collect())
    }

    async fn combined_checks(&self, sha: &str) -> Result<CombinedChecks> {
        validate_sha("sha", sha)?;
        let status = self
            .json(
                Method::GET,
                &self.path(&format!("commits/{sha}/status")),
                None,
            )
            .await?;
        let mut contexts: std::collections::BTreeMap<String, CheckContext> =
            std::collections::BTreeMap::new();
        for st in status
            .get("statuses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = s(st, "context");
            // The API lists the latest status per context first.
            contexts.entry(name.clone()).or_insert(CheckContext {
                name,
                state: status_state(&s(st, "state")),
                description: opt_s(st, "description"),
                target_url: opt_s(st, "target_url"),
            });
        }
        let runs = self
            .json(
                Method::GET,
                &self.path(&format!("commits/{sha}/check-runs?per_page=100")),
                None,
            )
            .await?;
        for run in runs
            .get("check_runs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = s(run, "name");
            contexts.entry(name.clone()).or_insert(CheckContext {
                name,
                state: check_run_state(run),
                description: run
                    .pointer("/output/title")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                target_url: opt_s(run, "details_url").or_else(|| opt_s(run, "html_url")),
            });
        }
        Ok(CombinedChecks::fold(sha, contexts.into_values().collect()))
    }

    async fn set_status(
        &self,
        sha: &str,
        context: &str,
        state: StatusState,
        description: &str,
        target_url: Option<&str>,
    ) -> Result<()> {
        validate_sha("sha", sha)?;
        if context.is_empty() {
            return Err(Error::invalid("context", "must not be empty"));
        }
        let mut body =
            json!({"state": state.as_str(), "context": context, "description": description});
        if let Some(url) = target_url {
            body["target_url"] = json!(url);
        }
        self.json(
            Method::POST,
            &self.path(&format!("statuses/{sha}")),
            Some(&body),
        )
        .await?;
        Ok(())
    }

    async fn merge(&self, number: u64, expected_head_sha: &str) -> Result<String> {
        validate_sha("expected_head_sha", expected_head_sha)?;
        let mut resp = self.put_merge(number, expected_head_sha).await?;
        // "Base branch was modified" (another merge landed meanwhile) is worth a retry;
        // "Head branch was modified" is not: that is the guard doing its job.
        for _ in 0..3 {
            if resp.status == 409 && resp.message().contains("Base branch was modified") {
                resp = self.put_merge(number, expected_head_sha).await?;
            }
        }
        match resp.status {
            200..=299 => {
                let v = resp.json()?;
                Ok(s(&v, "sha"))
            }
            409 => Err(Error::conflict(self.scrub(&resp.message()))),
            404 => Err(Error::not_found(format!("pull request #{number}"))),
            405 | 422 => {
                // Not mergeable, or not open any more: ask which (error path only).
                let pr = self.pull_request(number).await?;
                if pr.state == PrState::Open {
                    if pr.head_sha != expected_head_sha {
                        return Err(Error::conflict(format!(
                            "head of #{number} is {}, expected {expected_head_sha}",
                            pr.head_sha
                        )));
                    }
                    Err(Error::NotMergeable {
                        reason: self.scrub(&resp.message()),
                    })
                } else {
                    Err(Error::conflict(format!(
                        "pull request #{number} is not open"
                    )))
                }
            }
            _ => Err(self.error("merge", &resp)),
        }
    }

    async fn upsert_comment(&self, number: u64, marker: &str, body: &str) -> Result<u64> {
        validate_marker(marker)?;
        let full = sticky_body(marker, body);
        let existing = self.comments(number).await?;
        if let Some(c) = existing.iter().find(|c| has_marker(&c.body, marker)) {
            if c.body != full {
                self.json(
                    Method::PATCH,
                    &self.path(&format!("issues/comments/{}", c.id)),
                    Some(&json!({"body": full})),
                )
                .await?;
            }
            return Ok(c.id);
        }
        let v = self
            .json(
                Method::POST,
                &self.path(&format!("issues/{number}/comments")),
                Some(&json!({"body": full})),
            )
            .await?;
        u(&v, "id")
    }

    async fn comments(&self, number: u64) -> Result<Vec<Comment>> {
        self.list(&self.path(&format!("issues/{number}/comments")), None)
            .await
            .map_err(|e| match e {
                Error::NotFound { .. } => Error::not_found(format!("pull request #{number}")),
                e => e,
            })?
            .iter()
            .map(|c| {
                Ok(Comment {
                    id: u(c, "id")?,
                    body: s(c, "body"),
                })
            })
            .collect()
    }
}

fn to_deployment(v: &Value) -> Result<Deployment> {
    let payload = match v.get("payload") {
        // The API may hand the payload back as a JSON string.
        Some(Value::String(text)) => {
            serde_json::from_str(text).unwrap_or(Value::String(text.clone()))
        }
        Some(p) => p.clone(),
        None => Value::Null,
    };
    Ok(Deployment {
        id: u(v, "id")?,
        sha: s(v, "sha"),
        environment: s(v, "environment"),
        description: opt_s(v, "description"),
        payload,
    })
}

#[async_trait]
impl Requester for GithubForge {
    async fn create_deployment(
        &self,
        repo: &str,
        sha: &str,
        environment: &str,
        payload: &Value,
        description: &str,
    ) -> Result<u64> {
        validate_deployment(sha, environment, payload)?;
        let v = self
            .json(
                Method::POST,
                &Self::repo_path(repo, "deployments")?,
                Some(&json!({
                    "ref": sha,
                    "environment": environment,
                    "payload": payload,
                    "description": description,
                    "auto_merge": false,
                    "required_contexts": [],
                })),
            )
            .await?;
        u(&v, "id")
    }

    async fn create_deployment_status(
        &self,
        repo: &str,
        deployment_id: u64,
        state: DeploymentState,
        description: &str,
        log_url: Option<&str>,
        environment_url: Option<&str>,
    ) -> Result<()> {
        let mut body = json!({"state": state.as_str(), "description": description});
        if let Some(l) = log_url {
            body["log_url"] = json!(l);
        }
        if let Some(e) = environment_url {
            body["environment_url"] = json!(e);
        }
        self.json(
            Method::POST,
            &Self::repo_path(repo, &format!("deployments/{deployment_id}/statuses"))?,
            Some(&body),
        )
        .await
        .map_err(|e| match e {
            Error::NotFound { .. } => {
                Error::not_found(format!("deployment {deployment_id} in {repo}"))
            }
            e => e,
        })?;
        Ok(())
    }

    async fn list_deployments(
        &self,
        repo: &str,
        sha: &str,
        environment: &str,
    ) -> Result<Vec<Deployment>> {
        let env: String = environment
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let items = self
            .list(
                &Self::repo_path(repo, &format!("deployments?sha={sha}&environment={env}"))?,
                None,
            )
            .await?;
        let mut v = items
            .iter()
            .map(to_deployment)
            .collect::<Result<Vec<_>>>()?;
        v.retain(|d| d.sha == sha && d.environment == environment);
        v.sort_by_key(|d| std::cmp::Reverse(d.id));
        Ok(v)
    }

    async fn deployment_statuses(
        &self,
        repo: &str,
        deployment_id: u64,
    ) -> Result<Vec<DeploymentStatus>> {
        let items = self
            .list(
                &Self::repo_path(repo, &format!("deployments/{deployment_id}/statuses"))?,
                None,
            )
            .await
            .map_err(|e| match e {
                Error::NotFound { .. } => {
                    Error::not_found(format!("deployment {deployment_id} in {repo}"))
                }
                e => e,
            })?;
        let mut v = items
            .iter()
            .map(|st| {
                Ok(DeploymentStatus {
                    id: u(st, "id")?,
                    state: deployment_state(&s(st, "state"))?,
                    description: opt_s(st, "description"),
                    log_url: opt_s(st, "log_url").filter(|x| !x.is_empty()),
                    environment_url: opt_s(st, "environment_url").filter(|x| !x.is_empty()),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        v.sort_by_key(|d| std::cmp::Reverse(d.id));
        Ok(v)
    }

    async fn dispatch(&self, repo: &str, event_type: &str, client_payload: &Value) -> Result<()> {
        let path = Self::repo_path(repo, "dispatches")?;
        validate_dispatch(event_type, client_payload)?;
        self.json(
            Method::POST,
            &path,
            Some(&json!({"event_type": event_type, "client_payload": client_payload})),
        )
        .await?;
        Ok(())
    }

    async fn find_workflow_run(
        &self,
        repo: &str,
        correlation_id: &str,
    ) -> Result<Option<WorkflowRun>> {
        let v = self
            .json(
                Method::GET,
                &Self::repo_path(repo, "actions/runs?per_page=100")?,
                None,
            )
            .await?;
        let runs = v
            .get("workflow_runs")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut found: Vec<WorkflowRun> = runs
            .iter()
            .filter(|r| {
                s(r, "name").contains(correlation_id)
                    || s(r, "display_title").contains(correlation_id)
            })
            .map(|r| {
                Ok(WorkflowRun {
                    id: u(r, "id")?,
                    name: s(r, "name"),
                    display_title: s(r, "display_title"),
                    status: s(r, "status"),
                    conclusion: opt_s(r, "conclusion"),
                    html_url: s(r, "html_url"),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        found.sort_by_key(|r| std::cmp::Reverse(r.id));
        Ok(found.into_iter().next())
    }
}
