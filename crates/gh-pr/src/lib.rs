//! The forge: pull requests, checks, merges and deployment statuses.
//!
//! Two traits describe what the pipeline needs from the system that hosts the GitOps
//! repository ([`Forge`]) and from the repositories that ask for deploys ([`Requester`]).
//! Three kinds of implementation exist:
//! - [`GithubForge`]: GitHub (or GitHub Enterprise Server) over octocrab, Git Data API
//!   commits, no clone, bounded retries that honour `retry-after` and `x-ratelimit-reset`,
//!   connect and request timeouts;
//! - [`LocalGitForge`]: a local repository driven through the `git` command line, a "pull
//!   request" being a branch plus a JSON record under `.git/gitops/`;
//! - `FakeForge` (feature `fake`): strict and in memory.
//!
//! Every change goes through one stable branch per (environment, MFE), `gitops/<env>/<mfe>`.
//! The newest intent wins: the pipeline reads what is pending for the pair
//! ([`Forge::pair_state`]), judges the request against it, and proposes with
//! compare-and-swap on exactly the branch head it judged ([`Change::expecting`]); a lost race
//! is [`Error::Conflict`] with nothing changed, and the pipeline re-reads and re-judges.
//!
//! [`desired_revisions`] gives the git order of the desired-state files of a checkout (the
//! first-parent position of the commit that last changed each), which `gitops deploy` uses
//! as the order of desired states.
//!
//! # GitHub API calls (budget: 6 from request to merged PR, 7 replacing an open PR)
//! With [`Change::base_sha`] and [`Change::base_tree_sha`] known from the checkout, and the
//! change built from [`Forge::pair_state`] (`exact == false`):
//!
//! | step | calls |
//! | --- | --- |
//! | `GET pulls?head=<owner>:<branch>&state=all&per_page=1` (newest PR of the branch) | 1 |
//! | `GET contents/<path>?ref=<head>`, only when that PR is open | 0 or 1 |
//! | `POST git/trees` (base_tree + inline contents) | 1 |
//! | `POST git/commits` (parents: base, and the expected head when there is one) | 1 |
//! | new branch: `POST git/refs`; else `PATCH git/refs/heads/<branch>` (`force: false`) | 1 |
//! | open PR seen: `PATCH pulls/<n>`; else `POST pulls` | 1 |
//! | `PUT pulls/<n>/merge` with `sha` | 1 |
//!
//! New pair: 6; a pair whose last PR merged or closed: 6 (a branch deleted after merge costs
//! one more call, the `POST git/refs` after the `PATCH`'s 422); a request replacing an open
//! PR for the same pair: 7 (its predecessor never merged). A lost race costs the caller one
//! exact re-read ([`Forge::pair_state`] with `exact`: one more `GET git/ref`) and a new
//! proposal. Unknown `base_tree_sha` costs one `GET git/commits`, unknown `base_sha` one
//! `GET git/ref` more. Binary (non-UTF-8) writes cost one `POST git/blobs` each. A forced
//! proposal ([`Change::expected`] `None`, tools only) skips the pair read but may cost up to
//! three more calls for the PR (`POST` 422, `GET pulls?head=`, `PATCH`). Branches are not
//! deleted after merge.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

#[cfg(feature = "github")]
mod github;
mod local;
#[cfg(feature = "github")]
mod retry;

#[cfg(any(test, feature = "fake"))]
mod fake;

#[cfg(feature = "conformance")]
pub mod conformance;

#[cfg(any(test, feature = "fake"))]
pub use fake::FakeForge;
#[cfg(feature = "github")]
pub use github::{DEFAULT_API_URL, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, GithubForge};
pub use local::LocalGitForge;
pub use local::revisions::{Revision, Revisions, desired_revisions};
#[cfg(feature = "github")]
pub use retry::RetryPolicy;

/// The one error type of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The repository, ref, pull request, commit or deployment does not exist.
    #[error("not found: {what}")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// The state moved under us: the PR head is not the expected sha, a ref was updated
    /// concurrently, the pull request is not open.
    #[error("conflict: {reason}")]
    Conflict {
        /// Why.
        reason: String,
    },
    /// The pull request cannot be merged (a real git conflict, or the forge refuses).
    #[error("not mergeable: {reason}")]
    NotMergeable {
        /// Why.
        reason: String,
    },
    /// Rate limited, and the retry budget is spent.
    #[error("throttled by the forge (retry after {retry_after:?})")]
    Throttled {
        /// How long the forge asked us to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// Missing, wrong or insufficient credentials.
    #[error("unauthorized: {message}")]
    Unauthorized {
        /// The forge's message (never contains the token).
        message: String,
    },
    /// A value handed to the forge is not acceptable.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The offending field.
        field: String,
        /// Why it is refused.
        reason: String,
    },
    /// The request did not reach the forge or its answer could not be read.
    #[error("transport error: {message}")]
    Transport {
        /// What went wrong.
        message: String,
    },
    /// Any other answer of the forge's API.
    #[error("forge API error {status}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The forge's message.
        message: String,
    },
    /// A `git` command of the local adapter failed.
    #[error("git {command} failed: {message}")]
    Git {
        /// The git subcommand.
        command: String,
        /// Its standard error, trimmed.
        message: String,
    },
    /// Local file-system error (local adapter records).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound { what: what.into() }
    }
    pub(crate) fn conflict(reason: impl Into<String>) -> Self {
        Error::Conflict {
            reason: reason.into(),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Transport {
            message: format!("malformed JSON: {e}"),
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The files of the repository at one commit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tree {
    /// The commit the files were read at.
    pub commit_sha: String,
    /// Path (slash-separated, relative) to content. Only regular files (blobs).
    pub files: BTreeMap<String, Vec<u8>>,
}

/// One file write of a [`Change`]: `content: None` deletes the file.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileWrite {
    /// Relative, slash-separated path; no `..`, no empty or `.git` component.
    pub path: String,
    /// New content, or `None` to delete.
    pub content: Option<Vec<u8>>,
}

impl fmt::Debug for FileWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileWrite")
            .field("path", &self.path)
            .field("content_len", &self.content.as_ref().map(Vec::len))
            .finish()
    }
}

impl FileWrite {
    /// Write `content` at `path`.
    pub fn put(path: impl Into<String>, content: impl Into<Vec<u8>>) -> Self {
        FileWrite {
            path: path.into(),
            content: Some(content.into()),
        }
    }
    /// Delete `path`.
    pub fn delete(path: impl Into<String>) -> Self {
        FileWrite {
            path: path.into(),
            content: None,
        }
    }
}

/// A proposed change of the GitOps repository for one (environment, MFE) pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Environment name (`[A-Za-z0-9][A-Za-z0-9._-]*`: GitHub environments may have capitals).
    pub environment: String,
    /// MFE name (`[a-z0-9][a-z0-9._-]*`).
    pub mfe: String,
    /// The base commit (head of the base branch, usually known from the checkout). When
    /// `None` the forge reads the base branch head (one extra API call on GitHub).
    pub base_sha: Option<String>,
    /// The tree of `base_sha` (`git rev-parse <base>^{tree}`), when known. GitHub's tree API
    /// needs a tree sha; without it the adapter reads the base commit (one extra call).
    pub base_tree_sha: Option<String>,
    /// All file writes, applied in order on top of the base.
    pub writes: Vec<FileWrite>,
    /// PR title, also the commit message's first line.
    pub title: String,
    /// PR body (markdown).
    pub body: String,
    /// Compare-and-swap: move the branch only if its head is still exactly this (what
    /// [`Forge::pair_state`] returned as [`PairState::expected`]); otherwise
    /// [`Error::Conflict`] and nothing changes. `None` force-replaces the branch whatever it
    /// holds: for tools and tests only, never for requests (it can replace a newer pending
    /// change with an older one).
    pub expected: Option<BranchHead>,
    /// The pair's open pull request as [`Forge::pair_state`] saw it, so the forge can edit it
    /// directly (GitHub: `PATCH pulls/<n>` instead of `POST`, 422, lookup, `PATCH`). A hint:
    /// a PR that merged or closed meanwhile is followed by a new one. Pass only the number
    /// `pair_state` returned: another pair's PR is refused (`Invalid`; the local and fake
    /// backends before changing anything, GitHub only after its `PATCH`), an unknown one is
    /// `NotFound`.
    pub pull_request: Option<u64>,
}

impl Change {
    /// A change with no known base (the forge reads the base branch head).
    pub fn new(
        environment: impl Into<String>,
        mfe: impl Into<String>,
        title: impl Into<String>,
        body: impl Into<String>,
        writes: Vec<FileWrite>,
    ) -> Self {
        Change {
            environment: environment.into(),
            mfe: mfe.into(),
            base_sha: None,
            base_tree_sha: None,
            writes,
            title: title.into(),
            body: body.into(),
            expected: None,
            pull_request: None,
        }
    }

    /// Propose with compare-and-swap on `head` (see [`Change::expected`]).
    #[must_use]
    pub fn expecting(mut self, head: BranchHead) -> Self {
        self.expected = Some(head);
        self
    }

    /// The pair's open pull request seen by [`Forge::pair_state`] (see
    /// [`Change::pull_request`]).
    #[must_use]
    pub fn with_pull_request(mut self, number: u64) -> Self {
        self.pull_request = Some(number);
        self
    }

    /// [`Change::expecting`] the state's head and [`Change::with_pull_request`] its open PR.
    #[must_use]
    pub fn judged_against(mut self, state: &PairState) -> Self {
        self.expected = Some(state.expected.clone());
        self.pull_request = state.pull_request.as_ref().map(|p| p.number);
        self
    }

    /// Build on `commit` whose tree is `tree` (both from the checkout: `git rev-parse HEAD
    /// HEAD^{tree}`), saving API calls.
    #[must_use]
    pub fn on_base(mut self, commit: impl Into<String>, tree: Option<String>) -> Self {
        self.base_sha = Some(commit.into());
        self.base_tree_sha = tree;
        self
    }

    /// The stable branch of this pair: `gitops/<env>/<mfe>`.
    pub fn branch(&self) -> String {
        branch_name(&self.environment, &self.mfe)
    }

    /// Check names, paths and title; the same rules on every backend.
    pub fn validate(&self) -> Result<()> {
        validate_pair(&self.environment, &self.mfe)?;
        if let Some(BranchHead::At(sha)) = &self.expected {
            validate_sha("expected", sha)?;
        }
        if let Some(sha) = &self.base_sha {
            validate_sha("base_sha", sha)?;
        }
        if let Some(sha) = &self.base_tree_sha {
            validate_sha("base_tree_sha", sha)?;
            if self.base_sha.is_none() {
                return Err(Error::invalid("base_tree_sha", "given without base_sha"));
            }
        }
        if self.title.trim().is_empty() {
            return Err(Error::invalid("title", "must not be empty"));
        }
        if self.writes.is_empty() {
            return Err(Error::invalid(
                "writes",
                "a change writes at least one file",
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for w in &self.writes {
            validate_path(&w.path)?;
            if !seen.insert(w.path.as_str()) {
                return Err(Error::invalid(
                    "writes",
                    format!("path {} written twice", w.path),
                ));
            }
        }
        Ok(())
    }
}

/// `gitops/<env>/<mfe>`.
pub fn branch_name(environment: &str, mfe: &str) -> String {
    format!("gitops/{environment}/{mfe}")
}

/// Check an (environment, MFE) pair's names; the same rules on every backend.
pub(crate) fn validate_pair(environment: &str, mfe: &str) -> Result<()> {
    validate_name("environment", environment, true)?;
    validate_name("mfe", mfe, false)
}

/// `[a-z0-9][a-z0-9._-]*` (capitals too when `capitals`), at most 100 bytes, no `..`, not
/// ending in `.lock` (both would make the branch name invalid for git).
pub(crate) fn validate_name(field: &str, name: &str, capitals: bool) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name.bytes().all(|b| {
            b.is_ascii_lowercase()
                || (capitals && b.is_ascii_uppercase())
                || b.is_ascii_digit()
                || b"._-".contains(&b)
        })
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && !name.to_ascii_lowercase().ends_with(".lock")
        && !name.contains("..");
    if ok {
        Ok(())
    } else {
        let rule = if capitals {
            "[A-Za-z0-9][A-Za-z0-9._-]*"
        } else {
            "[a-z0-9][a-z0-9._-]*"
        };
        Err(Error::invalid(
            field,
            format!(
                "{name:?} is not a name like {rule} (at most 100 bytes, no \"..\", not ending in \".lock\")"
            ),
        ))
    }
}

pub(crate) fn validate_sha(field: &str, sha: &str) -> Result<()> {
    if sha.len() == 40
        && sha
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("{sha:?} is not a full lowercase hex commit sha"),
        ))
    }
}

pub(crate) fn validate_path(path: &str) -> Result<()> {
    let bad = path.is_empty()
        || path.len() > 4096
        || path.starts_with('/')
        || path.contains('\\')
        || path.contains('\0')
        || path.contains('\n')
        || path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == ".." || c.eq_ignore_ascii_case(".git"));
    if bad {
        Err(Error::invalid(
            "path",
            format!("{path:?} is not a safe relative path"),
        ))
    } else {
        Ok(())
    }
}

/// Where a pair's branch `gitops/<env>/<mfe>` is (or was last seen by the forge).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BranchHead {
    /// The branch does not exist (and, on GitHub's cheap read, never had a pull request).
    Absent,
    /// The branch head is this commit (full sha).
    At(String),
}

/// What is pending for one (environment, MFE) pair: the input of "the newest intent wins".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairState {
    /// The branch head to propose against ([`Change::expecting`]).
    pub expected: BranchHead,
    /// The pair's open pull request, if any.
    pub pull_request: Option<PullRequest>,
    /// The content of the desired-state file at the branch head while the branch holds a
    /// change that is not merged; `None` when nothing is pending or the file does not exist
    /// there.
    pub pending: Option<Vec<u8>>,
}

/// State of a pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrState {
    /// Open.
    Open,
    /// Closed without merge.
    Closed,
    /// Merged.
    Merged,
}

/// A pull request as the pipeline sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    /// PR number.
    pub number: u64,
    /// Head branch (`gitops/<env>/<mfe>`).
    pub branch: String,
    /// Base branch.
    pub base: String,
    /// Current head commit.
    pub head_sha: String,
    /// Open, closed or merged.
    pub state: PrState,
    /// `None` while the forge has not computed it yet.
    pub mergeable: Option<bool>,
    /// Where a human looks at it (a `file://` path for the local adapter).
    pub url: String,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// The merge commit, once merged.
    pub merge_sha: Option<String>,
}

/// State of a commit status (GitHub's four values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusState {
    /// Still running.
    Pending,
    /// Passed.
    Success,
    /// Failed.
    Failure,
    /// Could not run.
    Error,
}

impl StatusState {
    #[cfg_attr(not(feature = "github"), allow(dead_code))]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StatusState::Pending => "pending",
            StatusState::Success => "success",
            StatusState::Failure => "failure",
            StatusState::Error => "error",
        }
    }
}

/// The folded state of all statuses and check runs of a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckState {
    /// Every context succeeded (or there is none).
    Success,
    /// No failure, at least one context still running.
    Pending,
    /// At least one context failed or errored.
    Failure,
}

/// One status context or check run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckContext {
    /// Status context or check run name.
    pub name: String,
    /// Its folded state.
    pub state: CheckState,
    /// Description, when any.
    pub description: Option<String>,
    /// Link, when any.
    pub target_url: Option<String>,
}

/// All checks of one commit, folded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CombinedChecks {
    /// The commit.
    pub sha: String,
    /// Failure if any failed, else Pending if any runs, else Success (also when empty).
    pub state: CheckState,
    /// Latest state per context name, sorted by name.
    pub contexts: Vec<CheckContext>,
}

impl CombinedChecks {
    /// Fold a history of contexts, oldest first, keeping the latest per name, as GitHub's
    /// combined status does.
    pub fn fold_history(
        sha: impl Into<String>,
        history: impl IntoIterator<Item = CheckContext>,
    ) -> Self {
        let mut latest = std::collections::BTreeMap::new();
        for context in history {
            latest.insert(context.name.clone(), context);
        }
        Self::fold(sha, latest.into_values().collect())
    }

    /// Fold contexts (latest per name already chosen) into the combined state.
    pub fn fold(sha: impl Into<String>, mut contexts: Vec<CheckContext>) -> Self {
        contexts.sort_by(|a, b| a.name.cmp(&b.name));
        let state = if contexts.iter().any(|c| c.state == CheckState::Failure) {
            CheckState::Failure
        } else if contexts.iter().any(|c| c.state == CheckState::Pending) {
            CheckState::Pending
        } else {
            CheckState::Success
        };
        CombinedChecks {
            sha: sha.into(),
            state,
            contexts,
        }
    }
}

impl From<StatusState> for CheckState {
    fn from(s: StatusState) -> Self {
        match s {
            StatusState::Pending => CheckState::Pending,
            StatusState::Success => CheckState::Success,
            StatusState::Failure | StatusState::Error => CheckState::Failure,
        }
    }
}

/// An issue comment on a pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    /// Comment id.
    pub id: u64,
    /// Full body, including the hidden marker line.
    pub body: String,
}

/// The hidden line that identifies a sticky comment: `<!-- marker -->`.
pub fn comment_marker_line(marker: &str) -> String {
    format!("<!-- {marker} -->")
}

pub(crate) fn validate_marker(marker: &str) -> Result<()> {
    if marker.is_empty()
        || marker.len() > 100
        || !marker
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b))
    {
        return Err(Error::invalid("marker", "use [A-Za-z0-9._:/-]{1,100}"));
    }
    Ok(())
}

pub(crate) fn sticky_body(marker: &str, body: &str) -> String {
    format!("{}\n{body}", comment_marker_line(marker))
}

pub(crate) fn has_marker(body: &str, marker: &str) -> bool {
    let line = comment_marker_line(marker);
    body.lines().any(|l| l.trim() == line)
}

/// State of a deployment status (GitHub's values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentState {
    /// Could not deploy.
    Error,
    /// Deploy failed.
    Failure,
    /// Superseded.
    Inactive,
    /// Running.
    InProgress,
    /// Waiting in a queue.
    Queued,
    /// Created, not started.
    Pending,
    /// Live.
    Success,
}

impl DeploymentState {
    #[cfg_attr(not(feature = "github"), allow(dead_code))]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DeploymentState::Error => "error",
            DeploymentState::Failure => "failure",
            DeploymentState::Inactive => "inactive",
            DeploymentState::InProgress => "in_progress",
            DeploymentState::Queued => "queued",
            DeploymentState::Pending => "pending",
            DeploymentState::Success => "success",
        }
    }
    /// Success, failure, error and inactive end a deployment.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            DeploymentState::Success
                | DeploymentState::Failure
                | DeploymentState::Error
                | DeploymentState::Inactive
        )
    }
}

/// A deployment on a requester's commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// Deployment id.
    pub id: u64,
    /// The commit.
    pub sha: String,
    /// Environment name.
    pub environment: String,
    /// Description.
    pub description: Option<String>,
    /// Payload as given at creation.
    pub payload: serde_json::Value,
}

/// One status of a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentStatus {
    /// Status id (increasing).
    pub id: u64,
    /// State.
    pub state: DeploymentState,
    /// Description.
    pub description: Option<String>,
    /// Link to the logs.
    pub log_url: Option<String>,
    /// Link to the deployed environment.
    pub environment_url: Option<String>,
}

/// A GitHub Actions workflow run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowRun {
    /// Run id.
    pub id: u64,
    /// Workflow name.
    pub name: String,
    /// Display title (the `run-name`).
    pub display_title: String,
    /// `queued`, `in_progress`, `completed`, ...
    pub status: String,
    /// `success`, `failure`, ... once completed.
    pub conclusion: Option<String>,
    /// Link.
    pub html_url: String,
}

/// The forge that hosts the GitOps repository.
///
/// Object-safe; use it as `Arc<dyn Forge>`. All methods are safe to call concurrently.
#[async_trait]
pub trait Forge: Send + Sync + fmt::Debug {
    /// The base branch pull requests target (usually `main`).
    fn base_branch(&self) -> &str;

    /// Read every regular file of the repository at `git_ref`.
    ///
    /// # Contract
    /// - `git_ref` is a branch name, `refs/...` name or a full commit sha.
    /// - Returns the resolved commit sha and all blobs of its tree (symlinks and submodules
    ///   are skipped), keyed by slash-separated path.
    /// - `NotFound` when the ref does not exist.
    async fn read_tree(&self, git_ref: &str) -> Result<Tree>;

    /// What is pending for the pair (`environment`, `mfe`), whose desired-state file is
    /// `path`.
    ///
    /// # Contract
    /// - Names and `path` are validated as for [`Change::validate`] (`Invalid`).
    /// - `pull_request` is the pair's OPEN pull request, if any.
    /// - `pending` is the content of `path` at the branch head when the branch holds a change
    ///   that is not merged: an open PR; or (exact reads) a head that is neither an open PR's
    ///   head nor the head of a merged or closed PR of the branch (unknown counts as
    ///   pending). `None` when there is no branch, the branch is at a merged or closed PR's
    ///   head, or `path` is not a file there.
    /// - `expected` is the head to propose against with [`Change::expecting`]. With `exact`
    ///   it is the branch's real head (`Absent` when there is no branch). Without `exact` a
    ///   backend may answer from its pull requests alone (GitHub: the newest PR's head, or
    ///   `Absent` when the branch never had one, in one call plus one for an open PR's file):
    ///   a proposal built on a stale answer loses with `Conflict`, and the caller re-reads
    ///   with `exact`. The local and fake backends are always exact.
    async fn pair_state(
        &self,
        environment: &str,
        mfe: &str,
        path: &str,
        exact: bool,
    ) -> Result<PairState>;

    /// Create or update the pull request of `change`'s (environment, MFE) pair.
    ///
    /// # Contract
    /// - `change` is validated first (`Invalid`).
    /// - The branch `gitops/<env>/<mfe>` is set to ONE new commit whose FIRST parent is the
    ///   base (`change.base_sha`, or the base branch head when `None`) and whose tree is the
    ///   base tree with all writes applied, so the PR's diff against the base is exactly the
    ///   writes. GitHub, proposing against an existing head, adds that head as a second
    ///   parent (its refs API can only compare-and-swap by fast-forward). A base that does
    ///   not exist is `NotFound`.
    /// - With [`Change::expected`] `Some(head)` the branch moves only if it is still exactly
    ///   at `head` (`Absent`: only if it does not exist); otherwise `Conflict` and NOTHING
    ///   changes: the branch, the PR, its title and body stay as they were. Of concurrent
    ///   proposals with the same expectation exactly one succeeds. (GitHub, expecting a head
    ///   whose branch was deleted after its PR merged, creates the branch again.)
    /// - With `expected` `None` the branch is force-replaced whatever it holds (tools and
    ///   tests only). Concurrent forced proposals never produce a mix: the branch ends at one
    ///   of the complete commits; a loser may get `Conflict`.
    /// - If an open PR from that branch exists it is kept (same number) and its title and
    ///   body are updated; otherwise a new PR to [`Forge::base_branch`] is opened. At most one
    ///   open PR exists for the branch.
    /// - Returns the PR as it is after the update (`head_sha` is the new commit).
    async fn propose(&self, change: &Change) -> Result<PullRequest>;

    /// Read one pull request.
    ///
    /// # Contract
    /// `NotFound` when there is no PR with that number. `head_sha` is the current head.
    async fn pull_request(&self, number: u64) -> Result<PullRequest>;

    /// All open pull requests, in increasing number order.
    ///
    /// # Contract
    /// Only state `Open`; merged or closed ones are left out.
    async fn open_pull_requests(&self) -> Result<Vec<PullRequest>>;

    /// Paths changed by the pull request (relative to its merge base), sorted.
    ///
    /// # Contract
    /// `NotFound` for an unknown PR. Deleted files are included.
    async fn changed_files(&self, number: u64) -> Result<Vec<String>>;

    /// Logins whose latest review approves the current head, sorted.
    ///
    /// # Contract
    /// A review on an older head does not count; a later non-approving review of the same
    /// login cancels an earlier approval. `NotFound` for an unknown PR.
    async fn approvals(&self, number: u64) -> Result<Vec<String>>;

    /// Statuses and check runs of `sha`, folded.
    ///
    /// # Contract
    /// Latest state per context; see [`CombinedChecks::fold`]. An unknown sha is
    /// `NotFound` or an empty (success) summary, depending on the backend's API.
    async fn combined_checks(&self, sha: &str) -> Result<CombinedChecks>;

    /// Set a commit status.
    ///
    /// # Contract
    /// A later status with the same `context` replaces the earlier one in
    /// [`Forge::combined_checks`]. `sha` must be a full sha (`Invalid`); an unknown commit is
    /// refused (`NotFound` or `Invalid`).
    async fn set_status(
        &self,
        sha: &str,
        context: &str,
        state: StatusState,
        description: &str,
        target_url: Option<&str>,
    ) -> Result<()>;

    /// Merge the pull request, only if its head is exactly `expected_head_sha`.
    ///
    /// # Contract
    /// - Head differs: `Conflict`, nothing merged.
    /// - PR not open: `Conflict`. Unknown PR: `NotFound`.
    /// - A real content conflict with the base: `NotMergeable`.
    /// - Otherwise a merge commit (parents: base head, PR head) is created on the base
    ///   branch, the PR becomes `Merged`, and the merge commit sha is returned.
    async fn merge(&self, number: u64, expected_head_sha: &str) -> Result<String>;

    /// Create or edit the one comment of this PR that carries `marker`.
    ///
    /// # Contract
    /// The stored body is the hidden line `<!-- marker -->`, a newline, then `body`. A second
    /// call with the same marker edits the same comment (same id); never two comments with
    /// one marker. Returns the comment id.
    async fn upsert_comment(&self, number: u64, marker: &str, body: &str) -> Result<u64>;

    /// All issue comments of the PR, oldest first.
    ///
    /// # Contract
    /// `NotFound` for an unknown PR.
    async fn comments(&self, number: u64) -> Result<Vec<Comment>>;
}

/// The forge side of the repositories that request deploys (`owner/name`).
#[async_trait]
pub trait Requester: Send + Sync + fmt::Debug {
    /// Create a deployment of `sha` to `environment` on `repo`.
    ///
    /// # Contract
    /// `repo` is `owner/name` (`Invalid` otherwise); `payload` must be a JSON object. No
    /// required contexts, no auto-merge. Returns the deployment id.
    async fn create_deployment(
        &self,
        repo: &str,
        sha: &str,
        environment: &str,
        payload: &serde_json::Value,
        description: &str,
    ) -> Result<u64>;

    /// Add a status to a deployment.
    ///
    /// # Contract
    /// `NotFound` for an unknown deployment. Statuses are kept in order.
    async fn create_deployment_status(
        &self,
        repo: &str,
        deployment_id: u64,
        state: DeploymentState,
        description: &str,
        log_url: Option<&str>,
        environment_url: Option<&str>,
    ) -> Result<()>;

    /// Deployments of `sha` to `environment`, newest first.
    ///
    /// # Contract
    /// Empty when none; filters are exact.
    async fn list_deployments(
        &self,
        repo: &str,
        sha: &str,
        environment: &str,
    ) -> Result<Vec<Deployment>>;

    /// Statuses of a deployment, newest first.
    ///
    /// # Contract
    /// `NotFound` for an unknown deployment.
    async fn deployment_statuses(
        &self,
        repo: &str,
        deployment_id: u64,
    ) -> Result<Vec<DeploymentStatus>>;

    /// Send a `repository_dispatch` event.
    ///
    /// # Contract
    /// `event_type` is 1..=100 characters; `client_payload` a JSON object with at most 10
    /// top-level keys (GitHub's limits; `Invalid` otherwise).
    async fn dispatch(
        &self,
        repo: &str,
        event_type: &str,
        client_payload: &serde_json::Value,
    ) -> Result<()>;

    /// The most recent workflow run whose name or display title contains `correlation_id`.
    ///
    /// # Contract
    /// `Ok(None)` when no such run (yet); the caller polls.
    async fn find_workflow_run(
        &self,
        repo: &str,
        correlation_id: &str,
    ) -> Result<Option<WorkflowRun>>;
}

pub(crate) fn validate_repo(repo: &str) -> Result<(&str, &str)> {
    let mut parts = repo.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(o), Some(n), None)
            if !o.is_empty()
                && !n.is_empty()
                && [o, n].iter().all(|s| {
                    s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                }) =>
        {
            Ok((o, n))
        }
        _ => Err(Error::invalid(
            "repo",
            format!("{repo:?} is not owner/name"),
        )),
    }
}

pub(crate) fn validate_dispatch(event_type: &str, payload: &serde_json::Value) -> Result<()> {
    if event_type.is_empty() || event_type.chars().count() > 100 {
        return Err(Error::invalid("event_type", "1 to 100 characters"));
    }
    match payload.as_object() {
        Some(o) if o.len() <= 10 => Ok(()),
        Some(_) => Err(Error::invalid(
            "client_payload",
            "at most 10 top-level keys",
        )),
        None => Err(Error::invalid("client_payload", "must be a JSON object")),
    }
}

pub(crate) fn validate_deployment(
    sha: &str,
    environment: &str,
    payload: &serde_json::Value,
) -> Result<()> {
    validate_sha("sha", sha)?;
    if environment.is_empty() || environment.len() > 255 {
        return Err(Error::invalid("environment", "1 to 255 characters"));
    }
    if !payload.is_object() {
        return Err(Error::invalid("payload", "must be a JSON object"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths_are_validated() {
        assert!(validate_name("e", "prod", false).is_ok());
        assert!(validate_name("e", "Prod", false).is_err());
        assert!(validate_name("e", "Prod", true).is_ok());
        assert!(validate_name("e", "-x", true).is_err());
        assert!(validate_name("e", "a..b", true).is_err());
        assert!(validate_name("e", "Staging.LOCK", true).is_err());
        assert!(validate_name("e", "Bad Env", true).is_err());
        assert!(validate_pair("Staging", "checkout").is_ok());
        assert!(validate_pair("staging", "Checkout").is_err());
        assert!(validate_path("envs/prod/a.yaml").is_ok());
        for bad in ["", "/abs", "a/../b", "a//b", ".git/config", "a/./b", "a\\b"] {
            assert!(validate_path(bad).is_err(), "{bad}");
        }
        assert!(validate_repo("o/r").is_ok());
        assert!(validate_repo("o/r/x").is_err());
        assert!(validate_repo("o").is_err());
    }

    #[test]
    fn checks_fold() {
        let c = |n: &str, s| CheckContext {
            name: n.into(),
            state: s,
            description: None,
            target_url: None,
        };
        assert_eq!(CombinedChecks::fold("x", vec![]).state, CheckState::Success);
        assert_eq!(
            CombinedChecks::fold(
                "x",
                vec![c("a", CheckState::Success), c("b", CheckState::Pending)]
            )
            .state,
            CheckState::Pending
        );
        assert_eq!(
            CombinedChecks::fold(
                "x",
                vec![c("a", CheckState::Failure), c("b", CheckState::Pending)]
            )
            .state,
            CheckState::Failure
        );
    }

    #[test]
    fn marker_detection() {
        let b = sticky_body("gitops:plan", "hello");
        assert!(has_marker(&b, "gitops:plan"));
        assert!(!has_marker(&b, "gitops:pla"));
        assert!(!has_marker("hello", "gitops:plan"));
    }
}
