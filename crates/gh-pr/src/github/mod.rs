//! GitHub adapter: REST over octocrab's raw routes, every answer read into typed structs,
//! Git Data API commits (no clone), every HTTP attempt counted, bounded retries under
//! [`gitops_retry`] honouring `retry-after` and `x-ratelimit-reset`, connect and request
//! timeouts.
//!
//! By resource: [`transport`] (one attempt, retries, typed reading), [`git_data`] (refs,
//! commits, trees, contents, the tarball), [`pulls`] (pair state, proposals, reviews, merges,
//! comments), [`checks`] (statuses and check runs), [`deployments`] (the [`Requester`] side),
//! [`settings`] (the repository's default branch and allowed merge methods, read once).
//! Content-creating calls are paced per API and token ([`pacing`]: one at a time; once GitHub
//! pushed back, one per `GITOPS_GITHUB_WRITE_INTERVAL_MS`, default 1,000 ms, after a burst of
//! 8), and a rate limit that names its wait is waited out within the retry policy's total time.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use gitops_event_model::{CommitSha, Login, RepositoryName};
use gitops_retry::RetryPolicy;
use octocrab::Octocrab;
use secrecy::SecretString;

use crate::{
    Change, CombinedChecks, Comment, Error, Forge, PairState, PullRequest, Result, StatusState,
    Tree,
};

#[cfg(feature = "app")]
mod app;
mod checks;
mod conditional;
mod deployments;
mod git_data;
mod pacing;
mod pulls;
mod settings;
mod transport;

#[cfg(feature = "app")]
pub use app::{AppCredentials, InstallationRequester, InstallationTokens};
pub use gitops_event_model::MergeMethod;

/// Default API root.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// Default time to establish a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time one HTTP request may take, its whole answer read.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// [`Forge`] and [`crate::Requester`] on GitHub or GitHub Enterprise Server.
pub struct GithubForge {
    crab: Octocrab,
    token: SecretString,
    api_url: String,
    repository: RepositoryName,
    owner: String,
    base: String,
    /// Whether `base` was chosen ([`GithubForge::with_base_branch`], `GITOPS_BASE_BRANCH`)
    /// rather than to be read from the repository ([`GithubForge::resolve`]).
    base_set: bool,
    merge_method: MergeMethod,
    /// The repository's settings, read once (shared by clones of the forge).
    settings: Arc<tokio::sync::OnceCell<settings::RepoSettings>>,
    retry: RetryPolicy,
    /// Bounds the retries of a merge GitHub refused because the base moved meanwhile.
    merge_retry: RetryPolicy,
    connect_timeout: Duration,
    request_timeout: Duration,
    calls: Arc<AtomicU64>,
    /// Conditional GETs: remembered `ETag`s and bodies, and the `304`s they earned.
    conditional: conditional::Conditional,
    /// Paces content-creating calls (shared by the process's forges with this API and token).
    pacer: Arc<pacing::Pacer>,
}

impl fmt::Debug for GithubForge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubForge")
            .field("api_url", &self.api_url)
            .field("repository", &self.repository.as_str())
            .field("base", &self.base)
            .field("merge_method", &self.merge_method)
            .field("token", &"[redacted]")
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

impl GithubForge {
    /// A forge for `repository` at `api_url` (`https://api.github.com`, or
    /// `https://HOST/api/v3` for GitHub Enterprise Server, or a test server).
    ///
    /// Call it inside a Tokio runtime (octocrab spawns its service buffer there). octocrab's
    /// own retry layer is off: the [`RetryPolicy`] ([`RetryPolicy::OUTSIDE`] unless
    /// [`GithubForge::with_retry_policy`]) bounds the retries this adapter decides, honouring
    /// the server's hints. Timeouts: [`DEFAULT_CONNECT_TIMEOUT`] and
    /// [`DEFAULT_REQUEST_TIMEOUT`] (see [`GithubForge::with_timeouts`]).
    pub fn new(api_url: &str, token: SecretString, repository: RepositoryName) -> Result<Self> {
        let api_url = api_url.trim_end_matches('/').to_owned();
        let crab = transport::build_client(&api_url, &token, DEFAULT_CONNECT_TIMEOUT)?;
        let pacer = pacing::pacer(&api_url, &token);
        let owner = repository
            .as_str()
            .split_once('/')
            .map_or(repository.as_str(), |(owner, _)| owner)
            .to_owned();
        Ok(GithubForge {
            crab,
            token,
            api_url,
            repository,
            owner,
            base: "main".to_owned(),
            base_set: false,
            merge_method: MergeMethod::Merge,
            settings: Arc::new(tokio::sync::OnceCell::new()),
            retry: RetryPolicy::OUTSIDE,
            merge_retry: RetryPolicy::CONTENDED,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            calls: Arc::new(AtomicU64::new(0)),
            conditional: conditional::Conditional::default(),
            pacer,
        })
    }

    /// Bound each HTTP attempt: `connect` to establish the connection, `request` for the
    /// whole request and its answer (defaults 10 s and 30 s). A timed-out attempt is a
    /// retryable [`Error::Transport`] saying "timed out" and naming the call; reads are
    /// retried within the [`RetryPolicy`]'s budget, writes never (they may have landed).
    #[must_use]
    pub fn with_timeouts(mut self, connect: Duration, request: Duration) -> Self {
        match transport::build_client(&self.api_url, &self.token, connect) {
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
    /// `GITOPS_GITHUB_TOKEN` or `GITHUB_TOKEN`, repository from `GITHUB_REPOSITORY`, and the
    /// base branch from `GITOPS_BASE_BRANCH` when set (otherwise `main` until
    /// [`GithubForge::resolve`] reads the repository's default branch).
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
        let repository = RepositoryName::parse(&repository)
            .map_err(|e| Error::invalid("GITHUB_REPOSITORY", e.message))?;
        let forge = Self::new(&api, SecretString::from(token), repository)?;
        match lookup("GITOPS_BASE_BRANCH").filter(|v| !v.trim().is_empty()) {
            Some(base) => Ok(forge.with_base_branch(base.trim())),
            None => Ok(forge),
        }
    }

    /// Target this base branch, whatever the repository's default branch is
    /// ([`GithubForge::resolve`] then keeps it).
    #[must_use]
    pub fn with_base_branch(mut self, base: &str) -> Self {
        base.clone_into(&mut self.base);
        self.base_set = true;
        self
    }

    /// Merge with `method` (default [`MergeMethod::Merge`]); checked against the methods the
    /// repository allows before the first merge.
    #[must_use]
    pub fn with_merge_method(mut self, method: MergeMethod) -> Self {
        self.merge_method = method;
        self
    }

    /// Bound the retries of a merge GitHub refuses with 405 "Base branch was modified"
    /// (another merge landed meanwhile); default [`RetryPolicy::CONTENDED`].
    #[must_use]
    pub fn with_merge_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.merge_retry = retry;
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

    /// The GitOps repository.
    pub fn repository(&self) -> &RepositoryName {
        &self.repository
    }
}

#[async_trait]
impl Forge for GithubForge {
    fn base_branch(&self) -> &str {
        &self.base
    }

    async fn read_tree(&self, git_ref: &str) -> Result<Tree> {
        self.read_tarball(git_ref).await
    }

    async fn branch_state(
        &self,
        branch: &str,
        path: Option<&str>,
        exact: bool,
    ) -> Result<PairState> {
        self.read_branch_state(branch, path, exact).await
    }

    async fn propose(&self, change: &Change) -> Result<PullRequest> {
        self.propose_change(change).await
    }

    async fn pull_request(&self, number: u64) -> Result<PullRequest> {
        self.get_pull(number).await
    }

    async fn open_pull_requests(&self) -> Result<Vec<PullRequest>> {
        self.open_pulls().await
    }

    async fn changed_files(&self, number: u64) -> Result<Vec<String>> {
        self.pull_files(number).await
    }

    async fn approvals(&self, number: u64) -> Result<Vec<Login>> {
        self.pull_approvals(number).await
    }

    async fn has_write_access(&self, login: &Login) -> Result<bool> {
        self.collaborator_can_write(login).await
    }

    async fn combined_checks(&self, sha: &CommitSha) -> Result<CombinedChecks> {
        self.checks_of(sha).await
    }

    async fn set_status(
        &self,
        sha: &CommitSha,
        context: &str,
        state: StatusState,
        description: &str,
        target_url: Option<&str>,
    ) -> Result<()> {
        self.post_status(sha, context, state, description, target_url)
            .await
    }

    async fn merge(&self, number: u64, expected_head_sha: &CommitSha) -> Result<CommitSha> {
        self.merge_pull(number, expected_head_sha).await
    }

    async fn upsert_comment(&self, number: u64, marker: &str, body: &str) -> Result<u64> {
        self.upsert_sticky(number, marker, body).await
    }

    async fn comments(&self, number: u64) -> Result<Vec<Comment>> {
        self.issue_comments(number).await
    }
}
