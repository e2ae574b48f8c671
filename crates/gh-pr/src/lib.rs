//! The forge: pull requests, checks, merges and deployment statuses.
//!
//! Two traits describe what the pipeline needs from the system that hosts the GitOps
//! repository ([`Forge`]) and from the repositories that ask for deploys ([`Requester`]).
//! Three kinds of implementation exist:
//! - [`GithubForge`]: GitHub (or GitHub Enterprise Server) over octocrab, Git Data API
//!   commits, no clone, every response read into typed structs (a missing field is
//!   [`Error::Malformed`] naming it), bounded retries under `gitops-retry` that honour
//!   `retry-after` and `x-ratelimit-reset`, connect and request timeouts;
//! - [`LocalGitForge`]: a local repository driven through the `git` command line
//!   (`tokio::process`), a "pull request" being a branch plus a JSON record under
//!   `.git/gitops/`;
//! - `FakeForge` (feature `fake`): strict and in memory.
//!
//! Names cross the traits as the event model's types ([`EnvironmentName`], [`MfeName`],
//! [`RepositoryName`], [`CommitSha`], [`Login`], [`RequestId`], [`EventType`],
//! [`DeploymentPayload`]): each rule exists once, in `gitops-event-model`, and a value of one
//! of those types is valid by construction. This crate checks only the forge's own rules:
//! safe relative paths, comment markers, and GitHub's limits ([`MAX_DESCRIPTION_CHARS`],
//! [`MAX_TOP_LEVEL_KEYS`], [`MAX_PAYLOAD_BYTES`]).
//!
//! Every change of a pair goes through one stable branch per (environment, MFE),
//! `gitops/<env>/<mfe>` ([`branch_name`], [`pair_of_branch`]); a promotion goes through
//! `gitops-promote/<from>/<to>` ([`promotion_branch`], [`promotion_of_branch`]). A
//! [`Change`] names its branch ([`Change::new`] for a pair, [`Change::for_branch`] for any
//! other). The newest intent wins: the pipeline reads what is pending on the branch
//! ([`Forge::branch_state`], or [`Forge::pair_state`] for a pair), judges the request against
//! it, and proposes with compare-and-swap on exactly the branch head it judged
//! ([`Change::expecting`]); a lost race is [`Error::Conflict`] with nothing changed, and the
//! pipeline re-reads and re-judges.
//!
//! Approvals are folded once ([`Review::approvals`]) and statuses once
//! ([`CombinedChecks::fold_history`]); each backend feeds the fold its own records.
//!
//! [`desired_revisions`] gives the git order of the desired-state files of a checkout (the
//! first-parent position of the commit that last changed each), which `gitops deploy` uses
//! as the order of desired states.
//!
//! # GitHub API calls (budget: 6 from request to merged PR, 8 replacing a PR's head)
//! With [`Change::base_sha`] and [`Change::base_tree_sha`] known from the checkout, and the
//! change built from [`Forge::pair_state`] (`exact == false`), and the repository's settings
//! read once per process (`GET /repos/{owner}/{repo}`: default branch, allowed merge methods;
//! [`GithubForge::resolve`], or the first merge):
//!
//! | step | calls |
//! | --- | --- |
//! | `GET pulls?head=<owner>:<branch>&state=all&per_page=1` (newest PR of the branch) | 1 |
//! | `GET contents/<path>?ref=<head>`, only when that PR is open | 0 or 1 |
//! | `GET git/ref/heads/<base>`, only when replacing an existing head | 0 or 1 |
//! | `POST git/trees` (base_tree + inline contents) | 1 |
//! | `POST git/commits` (parents: base, and the expected head when there is one) | 1 |
//! | new branch: `POST git/refs`; else `PATCH git/refs/heads/<branch>` (`force: false`) | 1 |
//! | open PR seen: `PATCH pulls/<n>`; else `POST pulls` | 1 |
//! | `PUT pulls/<n>/merge` with `sha` | 1 |
//!
//! New pair: 6; a pair whose last PR merged or closed: 7 (a branch deleted after merge costs
//! one more call, the `POST git/refs` after the `PATCH`'s 422); a request replacing an open
//! PR for the same pair: 8 (its predecessor never merged). Replacing an existing head costs
//! one `GET git/ref/heads/<base>` (the 7th and 8th call): when a merge landed since the
//! checkout was cloned, the new commit is built on the base branch's head (one more `GET
//! git/commits` for its tree), because the replaced head may hold that merge and the checkout's
//! tree plus the writes would revert it. A lost race costs the caller one
//! exact re-read ([`Forge::pair_state`] with `exact`: one more `GET git/ref`) and a new
//! proposal. Unknown `base_tree_sha` costs one `GET git/commits`, unknown `base_sha` one
//! `GET git/ref` more. Binary (non-UTF-8) writes cost one `POST git/blobs` each. A forced
//! proposal ([`Change::expected`] `None`, tools only) skips the pair read but may cost up to
//! three more calls for the PR (`POST` 422, `GET pulls?head=`, `PATCH`). Branches are not
//! deleted after merge. Retries (5xx, rate limits, timed-out reads) are extra attempts of the
//! same call, each counted by [`GithubForge::calls`]. A merge refused because the base moved
//! (405 "Base branch was modified") costs one more `PUT` per retry. The merge step's approval
//! check costs `GET pulls/<n>` and the reviews, plus one `GET collaborators/<login>/permission`
//! per approver it has to judge ([`Forge::has_write_access`]).
//!
//! An append to an environment's open batch ([`batch_branch`]; built on the batch head with
//! [`Change::keeping_description`]) writes 3 (`POST git/trees`, `POST git/commits`, `PATCH
//! git/refs`) and reads the batch head's tree (`GET git/commits`) and the PR (`GET pulls/<n>`)
//! instead of editing it; the batch's PR and merge are paid once per batch.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use gitops_event_model::{
    CommitSha, DeploymentPayload, EnvironmentName, EventType, Login, MfeName, RepositoryName,
    RequestId,
};
pub use gitops_event_model::{MAX_PAYLOAD_BYTES, MAX_TOP_LEVEL_KEYS};
use serde::{Deserialize, Serialize};

mod branch;
mod error;
#[cfg(feature = "github")]
mod github;
mod local;

#[cfg(any(test, feature = "fake"))]
mod fake;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use branch::{
    BATCH_PREFIX, BRANCH_PREFIX, BranchHead, BranchState, Change, FileWrite, PROMOTION_PREFIX,
    PairState, batch_branch, batch_of_branch, branch_name, pair_of_branch, promotion_branch,
    promotion_of_branch,
};
pub(crate) use branch::{not_the_base, validate_branch, validate_path};
pub use error::Error;
#[cfg(any(test, feature = "fake"))]
pub use fake::FakeForge;
#[cfg(feature = "app")]
pub use github::{AppCredentials, InstallationRequester, InstallationTokens};
#[cfg(feature = "github")]
pub use github::{
    DEFAULT_API_URL, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, GithubForge, MergeMethod,
};
#[cfg(feature = "github")]
pub use gitops_retry::RetryPolicy;
pub use local::LocalGitForge;
pub use local::revisions::{
    DesiredCommit, Revision, Revisions, desired_history, desired_revisions,
};

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The login GitHub records for what a workflow does with its own `GITHUB_TOKEN`: the creator
/// of a deployment made by a workflow of the repository it is in.
pub const WORKFLOW_LOGIN: &str = "github-actions[bot]";

/// GitHub's limit on a commit status or deployment status description, in characters; a
/// longer one is refused ([`Error::Invalid`]) by every backend.
pub const MAX_DESCRIPTION_CHARS: usize = 140;

/// The files of the repository at one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    /// The commit the files were read at.
    pub commit_sha: CommitSha,
    /// Path (slash-separated, relative) to content. Only regular files (blobs).
    pub files: BTreeMap<String, Vec<u8>>,
}

/// A commit status or deployment status description GitHub keeps: at most
/// [`MAX_DESCRIPTION_CHARS`] characters.
pub(crate) fn validate_description(description: &str) -> Result<()> {
    let chars = description.chars().count();
    if chars > MAX_DESCRIPTION_CHARS {
        return Err(Error::invalid(
            "description",
            format!("{chars} characters; GitHub keeps at most {MAX_DESCRIPTION_CHARS}"),
        ));
    }
    Ok(())
}

/// A commit status context: not empty, at most 255 characters (GitHub's limit).
pub(crate) fn validate_context(context: &str) -> Result<()> {
    if context.trim().is_empty() || context.chars().count() > 255 {
        return Err(Error::invalid("context", "1 to 255 characters"));
    }
    Ok(())
}

/// A `repository_dispatch` client payload GitHub accepts: a JSON object of at most
/// [`MAX_TOP_LEVEL_KEYS`] keys, smaller than [`MAX_PAYLOAD_BYTES`] serialised.
pub(crate) fn validate_client_payload(payload: &serde_json::Value) -> Result<()> {
    let Some(object) = payload.as_object() else {
        return Err(Error::invalid("client_payload", "must be a JSON object"));
    };
    if object.len() > MAX_TOP_LEVEL_KEYS {
        return Err(Error::invalid(
            "client_payload",
            format!(
                "{} top-level keys; GitHub allows at most {MAX_TOP_LEVEL_KEYS}",
                object.len()
            ),
        ));
    }
    let size = serde_json::to_vec(payload)
        .map_err(|e| Error::invalid("client_payload", format!("cannot serialise: {e}")))?
        .len();
    if size >= MAX_PAYLOAD_BYTES {
        return Err(Error::invalid(
            "client_payload",
            format!("{size} bytes serialised; GitHub refuses {MAX_PAYLOAD_BYTES} or more"),
        ));
    }
    Ok(())
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
    /// Head branch (`gitops/<env>/<mfe>` for the PRs this crate opens; see
    /// [`PullRequest::pair`]).
    pub branch: String,
    /// Base branch.
    pub base: String,
    /// Current head commit.
    pub head_sha: CommitSha,
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
    pub merge_sha: Option<CommitSha>,
}

impl PullRequest {
    /// The (environment, MFE) pair of a deploy PR ([`pair_of_branch`] of its branch); `None`
    /// for any other PR.
    pub fn pair(&self) -> Option<(EnvironmentName, MfeName)> {
        pair_of_branch(&self.branch)
    }
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
    pub sha: CommitSha,
    /// Failure if any failed, else Pending if any runs, else Success (also when empty).
    pub state: CheckState,
    /// Latest state per context name, sorted by name.
    pub contexts: Vec<CheckContext>,
}

impl CombinedChecks {
    /// Fold a history of contexts, oldest first, keeping the latest per name, as GitHub's
    /// combined status does.
    pub fn fold_history(sha: CommitSha, history: impl IntoIterator<Item = CheckContext>) -> Self {
        let mut latest = BTreeMap::new();
        for context in history {
            latest.insert(context.name.clone(), context);
        }
        Self::fold(sha, latest.into_values().collect())
    }

    /// Fold contexts (latest per name already chosen) into the combined state.
    pub fn fold(sha: CommitSha, mut contexts: Vec<CheckContext>) -> Self {
        contexts.sort_by(|a, b| a.name.cmp(&b.name));
        let state = if contexts.iter().any(|c| c.state == CheckState::Failure) {
            CheckState::Failure
        } else if contexts.iter().any(|c| c.state == CheckState::Pending) {
            CheckState::Pending
        } else {
            CheckState::Success
        };
        CombinedChecks {
            sha,
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

/// The state of one pull request review (GitHub's values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReviewState {
    /// Approves the commit it was made on.
    Approved,
    /// Asks for changes: cancels the reviewer's earlier approval.
    ChangesRequested,
    /// A comment: neither approves nor cancels.
    Commented,
    /// An approval or change request dismissed since: cancels.
    Dismissed,
    /// Not submitted yet: neither approves nor cancels.
    Pending,
}

/// One pull request review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// Who reviewed.
    pub login: Login,
    /// The head the review was made on (`None` when the forge no longer knows it).
    pub commit: Option<CommitSha>,
    /// Its state.
    pub state: ReviewState,
}

impl Review {
    /// The one fold of approvals, fed by every backend: the logins whose latest verdict, in
    /// `reviews` oldest first, approves exactly `head`, sorted. A verdict is an approval, a
    /// change request or a dismissal; comments and pending reviews are none. So an approval
    /// of an older head does not count, and a later change request or dismissal of the same
    /// login cancels an earlier approval, while a later comment does not.
    pub fn approvals(head: &CommitSha, reviews: impl IntoIterator<Item = Review>) -> Vec<Login> {
        let mut verdict: BTreeMap<Login, bool> = BTreeMap::new();
        for review in reviews {
            match review.state {
                ReviewState::Approved => {
                    let on_head = review.commit.as_ref() == Some(head);
                    verdict.insert(review.login, on_head);
                }
                ReviewState::ChangesRequested | ReviewState::Dismissed => {
                    verdict.insert(review.login, false);
                }
                ReviewState::Commented | ReviewState::Pending => {}
            }
        }
        verdict
            .into_iter()
            .filter_map(|(login, approves)| approves.then_some(login))
            .collect()
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

impl fmt::Display for DeploymentState {
    /// GitHub's name of the state (`in_progress`, `success`, ...).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl DeploymentState {
    /// GitHub's name of the state (`in_progress`, `success`, ...).
    pub fn as_str(self) -> &'static str {
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
    pub sha: CommitSha,
    /// The environment.
    pub environment: EnvironmentName,
    /// Description.
    pub description: Option<String>,
    /// The request this deployment reports on; `None` for a deployment another tool made
    /// (its payload is not a [`DeploymentPayload`]).
    pub payload: Option<DeploymentPayload>,
    /// The login that created it: [`WORKFLOW_LOGIN`] when a workflow of the repository created
    /// it with its own `GITHUB_TOKEN` (the proof that a request comes from that repository);
    /// `None` when the forge does not say.
    #[serde(default)]
    pub creator: Option<String>,
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
    /// Workflow name (GitHub may leave it out).
    pub name: Option<String>,
    /// Display title (the `run-name`).
    pub display_title: String,
    /// `queued`, `in_progress`, `completed`, ... (GitHub may leave it null).
    pub status: Option<String>,
    /// `success`, `failure`, ... once completed.
    pub conclusion: Option<String>,
    /// Link.
    pub html_url: String,
}

impl WorkflowRun {
    /// Whether the run's name or display title carries `correlation_id`.
    pub fn mentions(&self, correlation_id: &RequestId) -> bool {
        let id = correlation_id.as_str();
        self.display_title.contains(id) || self.name.as_deref().is_some_and(|n| n.contains(id))
    }
}

/// The forge that hosts the GitOps repository.
///
/// Object-safe; use it as `Arc<dyn Forge>`. All methods are safe to call concurrently.
#[async_trait]
pub trait Forge: Send + Sync + fmt::Debug {
    /// The base branch pull requests target and merges land on. GitHub: the repository's
    /// default branch, read once by [`GithubForge::resolve`] (or the one configured); local
    /// git: the branch checked out when opened.
    fn base_branch(&self) -> &str;

    /// Read every regular file of the repository at `git_ref`.
    ///
    /// # Contract
    /// - `git_ref` is a branch name, `refs/...` name or a full commit sha.
    /// - Returns the resolved commit sha and all blobs of its tree (symlinks and submodules
    ///   are skipped), keyed by slash-separated path.
    /// - `NotFound` when the ref does not exist.
    async fn read_tree(&self, git_ref: &str) -> Result<Tree>;

    /// What is pending on `branch` (a pair's `gitops/<env>/<mfe>`, a promotion's
    /// `gitops-promote/<from>/<to>`, any branch a [`Change`] may name), and the content of the
    /// file `path` there when one is asked about.
    ///
    /// # Contract
    /// - `branch` is validated as for [`Change::validate`] and `path`, when given, as a
    ///   [`FileWrite`]'s path (`Invalid`).
    /// - `pull_request` is the branch's OPEN pull request, if any.
    /// - `pending` is the content of `path` at the branch head when the branch holds a change
    ///   that is not merged: an open PR; or (exact reads) a head that is neither an open PR's
    ///   head nor the head of a merged or closed PR of the branch (unknown counts as
    ///   pending). `None` when no `path` is given, there is no branch, the branch is at a
    ///   merged or closed PR's head, or `path` is not a file there.
    /// - `expected` is the head to propose against with [`Change::expecting`]. With `exact`
    ///   it is the branch's real head (`Absent` when there is no branch). Without `exact` a
    ///   backend may answer from its pull requests alone (GitHub: the newest PR's head, or
    ///   `Absent` when the branch never had one, in one call plus one for an open PR's file):
    ///   a proposal built on a stale answer loses with `Conflict`, and the caller re-reads
    ///   with `exact`. The local and fake backends are always exact.
    async fn branch_state(
        &self,
        branch: &str,
        path: Option<&str>,
        exact: bool,
    ) -> Result<BranchState>;

    /// What is pending for the pair (`environment`, `mfe`), whose desired-state file is
    /// `path`: [`Forge::branch_state`] of its branch `gitops/<env>/<mfe>` ([`branch_name`]).
    ///
    /// # Contract
    /// As [`Forge::branch_state`] with `Some(path)`: `pull_request` is the pair's open PR,
    /// `pending` the pair's pending desired state, `expected` the head to propose against.
    async fn pair_state(
        &self,
        environment: &EnvironmentName,
        mfe: &MfeName,
        path: &str,
        exact: bool,
    ) -> Result<PairState> {
        self.branch_state(&branch_name(environment, mfe), Some(path), exact)
            .await
    }

    /// Create or update the pull request of `change`'s branch ([`Change::branch`]: a pair's
    /// `gitops/<env>/<mfe>`, a promotion's, ...).
    ///
    /// # Contract
    /// - `change` is validated first (`Invalid`); a change on the base branch itself is
    ///   `Invalid`.
    /// - The branch is set to ONE new commit whose FIRST parent is the
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

    /// Logins whose latest verdict approves the current head, sorted.
    ///
    /// # Contract
    /// [`Review::approvals`] of the PR's reviews, oldest first, and its current head: a
    /// review on an older head does not count; a later change request or dismissal of the
    /// same login cancels an earlier approval. `NotFound` for an unknown PR.
    async fn approvals(&self, number: u64) -> Result<Vec<Login>>;

    /// Whether `login` has write access to the repository (may push), so that its approval
    /// of a deploy pull request can count.
    ///
    /// # Contract
    /// - `true` only for a login that may push: GitHub, a collaborator whose permission or
    ///   role is `admin`, `maintain` or `write`; the fake, a login granted with
    ///   `FakeForge::grant_write`.
    /// - No access, read or triage only, or no such account: `false`, not an error.
    /// - The local git forge has no accounts: whoever can write its checkout's records can
    ///   push, so every login answers `true`.
    /// - Requesters and bots are not this method's concern: the merge step leaves them out.
    async fn has_write_access(&self, login: &Login) -> Result<bool>;

    /// Statuses and check runs of `sha`, folded.
    ///
    /// # Contract
    /// Latest state per context; see [`CombinedChecks::fold`]. An unknown sha is
    /// `NotFound` or an empty (success) summary, depending on the backend's API.
    async fn combined_checks(&self, sha: &CommitSha) -> Result<CombinedChecks>;

    /// Set a commit status.
    ///
    /// # Contract
    /// A later status with the same `context` replaces the earlier one in
    /// [`Forge::combined_checks`]. `context` is 1 to 255 characters and `description` at
    /// most [`MAX_DESCRIPTION_CHARS`] (`Invalid` otherwise); an unknown commit is refused
    /// (`NotFound` or `Invalid`).
    async fn set_status(
        &self,
        sha: &CommitSha,
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
    /// - Otherwise the PR's changes land on the base branch, the PR becomes `Merged`, and the
    ///   new base head is returned: a merge commit (parents: base head, PR head), or on GitHub
    ///   with [`GithubForge::with_merge_method`] `squash` or `rebase`, one commit whose only
    ///   parent is the base head. A method the repository does not allow is `Invalid`
    ///   (`merge_method`), before any merge.
    /// - GitHub: a merge refused because the base moved meanwhile (405 "Base branch was
    ///   modified") is retried with backoff, within a bound, with the same head guard; a base
    ///   that kept moving through every attempt is `Contended` (retryable: merge again later).
    async fn merge(&self, number: u64, expected_head_sha: &CommitSha) -> Result<CommitSha>;

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

/// The forge side of the repositories that request deploys.
#[async_trait]
pub trait Requester: Send + Sync + fmt::Debug {
    /// Create a deployment of `sha` to `environment` on `repo`, carrying `payload`.
    ///
    /// # Contract
    /// No required contexts, no auto-merge. Returns the deployment id.
    async fn create_deployment(
        &self,
        repo: &RepositoryName,
        sha: &CommitSha,
        environment: &EnvironmentName,
        payload: &DeploymentPayload,
        description: &str,
    ) -> Result<u64>;

    /// Add a status to a deployment.
    ///
    /// # Contract
    /// `description` is at most [`MAX_DESCRIPTION_CHARS`] (`Invalid` otherwise). `NotFound`
    /// for an unknown deployment. Statuses are kept in order.
    async fn create_deployment_status(
        &self,
        repo: &RepositoryName,
        deployment_id: u64,
        state: DeploymentState,
        description: &str,
        log_url: Option<&str>,
        environment_url: Option<&str>,
    ) -> Result<()>;

    /// Deployments of `sha` to `environment`, newest first.
    ///
    /// # Contract
    /// Empty when none; filters are exact. A deployment another tool made is listed with
    /// `payload: None`.
    async fn list_deployments(
        &self,
        repo: &RepositoryName,
        sha: &CommitSha,
        environment: &EnvironmentName,
    ) -> Result<Vec<Deployment>>;

    /// Statuses of a deployment, newest first.
    ///
    /// # Contract
    /// `NotFound` for an unknown deployment.
    async fn deployment_statuses(
        &self,
        repo: &RepositoryName,
        deployment_id: u64,
    ) -> Result<Vec<DeploymentStatus>>;

    /// Send a `repository_dispatch` event.
    ///
    /// # Contract
    /// `client_payload` is a JSON object with at most [`MAX_TOP_LEVEL_KEYS`] top-level keys,
    /// smaller than [`MAX_PAYLOAD_BYTES`] serialised (GitHub's limits; `Invalid` otherwise,
    /// before any call).
    async fn dispatch(
        &self,
        repo: &RepositoryName,
        event_type: &EventType,
        client_payload: &serde_json::Value,
    ) -> Result<()>;

    /// The most recent workflow run whose name or display title contains `correlation_id`
    /// ([`WorkflowRun::mentions`]).
    ///
    /// # Contract
    /// `Ok(None)` when no such run (yet); the caller polls.
    async fn find_workflow_run(
        &self,
        repo: &RepositoryName,
        correlation_id: &RequestId,
    ) -> Result<Option<WorkflowRun>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(c: char) -> CommitSha {
        CommitSha::parse(&c.to_string().repeat(40)).unwrap()
    }

    fn login(l: &str) -> Login {
        Login::parse(l).unwrap()
    }

    #[test]
    fn branches_and_pairs_round_trip() {
        let env = EnvironmentName::parse("Staging").unwrap();
        let mfe = MfeName::parse("checkout").unwrap();
        let branch = branch_name(&env, &mfe);
        assert_eq!(branch, "gitops/Staging/checkout");
        assert_eq!(pair_of_branch(&branch), Some((env, mfe)));
        for other in [
            "main",
            "gitops/",
            "gitops/prod",
            "gitops/prod/",
            "gitops/prod/Checkout",
            "gitops/prod/checkout/x",
            "gitops/pr..od/checkout",
            "gitops/prod.lock/checkout",
            "feature/prod/checkout",
            "xgitops/prod/checkout",
        ] {
            assert_eq!(pair_of_branch(other), None, "{other}");
        }
    }

    #[test]
    fn promotion_branches_are_never_pairs() {
        let (staging, prod) = (
            EnvironmentName::parse("staging").unwrap(),
            EnvironmentName::parse("Prod").unwrap(),
        );
        let branch = promotion_branch(&staging, &prod);
        assert_eq!(branch, "gitops-promote/staging/Prod");
        assert_eq!(
            promotion_of_branch(&branch),
            Some((staging.clone(), prod.clone()))
        );
        assert_eq!(pair_of_branch(&branch), None, "not a pair's branch");
        let pair = branch_name(&staging, &MfeName::parse("checkout").unwrap());
        assert_eq!(promotion_of_branch(&pair), None, "not a promotion's branch");
        for other in [
            "gitops-promote/",
            "gitops-promote/staging",
            "gitops-promote/staging/",
            "gitops-promote/staging/prod/x",
            "gitops-promote/st..aging/prod",
            "xgitops-promote/staging/prod",
        ] {
            assert_eq!(promotion_of_branch(other), None, "{other}");
        }
        assert!(validate_branch(&branch).is_ok());
        assert!(validate_branch("gitops/Staging/checkout").is_ok());
        for bad in [
            "", "a..b", "a b", "a/", "a//b", ".a", "a.lock", "a~1", "a:b", "a\\b",
        ] {
            assert!(validate_branch(bad).is_err(), "{bad}");
        }
        assert!(not_the_base("main", "main").is_err());
        assert!(not_the_base(&branch, "main").is_ok());
        let change = Change::for_branch(&branch, "promote", "", vec![FileWrite::put("a", "b")]);
        assert_eq!((change.branch(), change.pair()), (branch.as_str(), None));
        assert!(change.validate().is_ok());
        let pair = Change::new(
            prod.clone(),
            MfeName::parse("checkout").unwrap(),
            "deploy",
            "",
            vec![FileWrite::put("a", "b")],
        );
        assert_eq!(pair.branch(), "gitops/Prod/checkout");
        assert_eq!(
            pair.pair(),
            Some((prod, MfeName::parse("checkout").unwrap()))
        );
        let bad = Change::for_branch("a..b", "t", "", vec![FileWrite::put("a", "b")]);
        assert!(matches!(bad.validate(), Err(Error::Invalid { .. })));
    }

    #[test]
    fn paths_and_github_limits_are_validated() {
        assert!(validate_path("envs/prod/a.yaml").is_ok());
        for bad in ["", "/abs", "a/../b", "a//b", ".git/config", "a/./b", "a\\b"] {
            assert!(validate_path(bad).is_err(), "{bad}");
        }
        assert!(validate_description(&"é".repeat(MAX_DESCRIPTION_CHARS)).is_ok());
        assert!(validate_description(&"x".repeat(MAX_DESCRIPTION_CHARS + 1)).is_err());
        assert!(validate_context("gitops/checks").is_ok());
        assert!(validate_context(" ").is_err());
        assert!(validate_context(&"c".repeat(256)).is_err());
        let keys: serde_json::Map<String, serde_json::Value> = (0..=MAX_TOP_LEVEL_KEYS)
            .map(|i| (format!("k{i}"), serde_json::Value::Null))
            .collect();
        assert!(validate_client_payload(&serde_json::Value::Object(keys)).is_err());
        assert!(validate_client_payload(&serde_json::json!({"id": "x"})).is_ok());
        assert!(validate_client_payload(&serde_json::json!(["x"])).is_err());
        let big = "x".repeat(MAX_PAYLOAD_BYTES);
        assert!(validate_client_payload(&serde_json::json!({ "big": big })).is_err());
    }

    #[test]
    fn checks_fold() {
        let c = |n: &str, s| CheckContext {
            name: n.into(),
            state: s,
            description: None,
            target_url: None,
        };
        assert_eq!(
            CombinedChecks::fold(sha('a'), vec![]).state,
            CheckState::Success
        );
        assert_eq!(
            CombinedChecks::fold(
                sha('a'),
                vec![c("a", CheckState::Success), c("b", CheckState::Pending)]
            )
            .state,
            CheckState::Pending
        );
        assert_eq!(
            CombinedChecks::fold(
                sha('a'),
                vec![c("a", CheckState::Failure), c("b", CheckState::Pending)]
            )
            .state,
            CheckState::Failure
        );
    }

    #[test]
    fn approvals_fold_the_latest_verdict_per_login_on_the_head() {
        let head = sha('f');
        let review = |l: &str, at: Option<char>, state| Review {
            login: login(l),
            commit: at.map(sha),
            state,
        };
        let reviews = vec![
            // alice: approves the head, then comments: still approves.
            review("alice", Some('f'), ReviewState::Approved),
            review("alice", Some('f'), ReviewState::Commented),
            // bob: approves, then asks for changes: cancelled.
            review("bob", Some('f'), ReviewState::Approved),
            review("bob", Some('f'), ReviewState::ChangesRequested),
            // carol: approved an older head only.
            review("carol", Some('0'), ReviewState::Approved),
            // dave: asked for changes, then approved the head.
            review("dave", Some('0'), ReviewState::ChangesRequested),
            review("dave", Some('f'), ReviewState::Approved),
            // erin: approved the head, then the approval was dismissed.
            review("erin", Some('f'), ReviewState::Approved),
            review("erin", Some('f'), ReviewState::Dismissed),
            // frank: approved a head the forge no longer knows.
            review("frank", None, ReviewState::Approved),
            // grace: approved the head, then approved an older head (a stale client).
            review("grace", Some('f'), ReviewState::Approved),
            review("grace", Some('0'), ReviewState::Approved),
            // heidi: a pending review only.
            review("heidi", Some('f'), ReviewState::Pending),
        ];
        assert_eq!(
            Review::approvals(&head, reviews),
            [login("alice"), login("dave")]
        );
        assert!(Review::approvals(&head, vec![]).is_empty());
    }

    #[test]
    fn marker_detection() {
        let b = sticky_body("gitops:plan", "hello");
        assert!(has_marker(&b, "gitops:plan"));
        assert!(!has_marker(&b, "gitops:pla"));
        assert!(!has_marker("hello", "gitops:plan"));
    }

    #[test]
    fn workflow_runs_mention_a_correlation_id() {
        let id = RequestId::generate();
        let run = WorkflowRun {
            id: 1,
            name: None,
            display_title: format!("deploy {id}"),
            status: None,
            conclusion: None,
            html_url: "https://example.test".into(),
        };
        assert!(run.mentions(&id));
        assert!(!run.mentions(&RequestId::generate()));
        let named = WorkflowRun {
            name: Some(format!("run {id}")),
            display_title: "other".into(),
            ..run
        };
        assert!(named.mentions(&id));
    }
}
