//! Branches and the changes proposed on them: the stable branch of a pair
//! (`gitops/<env>/<mfe>`), the branch of a promotion (`gitops-promote/<from>/<to>`), the batch
//! of an environment that batches (`gitops-batch/<env>`), any other branch a tool names, and the [`Change`] a forge proposes on one of them with
//! compare-and-swap on the head it judged ([`BranchHead`], [`PairState`]).

use std::fmt;

use gitops_event_model::{CommitSha, EnvironmentName, GitRef, MfeName};
use serde::{Deserialize, Serialize};

use crate::{Error, PullRequest, Result};

/// The prefix of every pair's branch: `gitops/<env>/<mfe>`.
pub const BRANCH_PREFIX: &str = "gitops/";

/// The prefix of every promotion's branch: `gitops-promote/<from>/<to>` (never a pair's branch:
/// [`pair_of_branch`] parses none of them).
pub const PROMOTION_PREFIX: &str = "gitops-promote/";

/// The prefix of every environment's batch branch: `gitops-batch/<env>` (never a pair's or a
/// promotion's branch).
pub const BATCH_PREFIX: &str = "gitops-batch/";

/// The stable branch of a pair: `gitops/<env>/<mfe>`.
pub fn branch_name(environment: &EnvironmentName, mfe: &MfeName) -> String {
    format!("{BRANCH_PREFIX}{environment}/{mfe}")
}

/// The pair a branch belongs to: `gitops/<env>/<mfe>` with a valid environment and MFE name;
/// `None` for any other branch.
pub fn pair_of_branch(branch: &str) -> Option<(EnvironmentName, MfeName)> {
    let (environment, mfe) = branch.strip_prefix(BRANCH_PREFIX)?.split_once('/')?;
    Some((
        EnvironmentName::parse(environment).ok()?,
        MfeName::parse(mfe).ok()?,
    ))
}

/// The stable branch of the promotion from `from` to `to`: `gitops-promote/<from>/<to>` (an
/// environment name holds no `/`, so the two names are read back unambiguously). A newer
/// promotion between the same environments replaces a pending one on this branch.
pub fn promotion_branch(from: &EnvironmentName, to: &EnvironmentName) -> String {
    format!("{PROMOTION_PREFIX}{from}/{to}")
}

/// The (source, target) environments of a promotion branch
/// (`gitops-promote/<from>/<to>`, two valid environment names); `None` for any other branch.
pub fn promotion_of_branch(branch: &str) -> Option<(EnvironmentName, EnvironmentName)> {
    let (from, to) = branch.strip_prefix(PROMOTION_PREFIX)?.split_once('/')?;
    Some((
        EnvironmentName::parse(from).ok()?,
        EnvironmentName::parse(to).ok()?,
    ))
}

/// The batch branch of `environment`: `gitops-batch/<env>`. In an environment that batches
/// (`batch: true` in `gitops.yaml`), every pair's change is proposed on it, so the pending
/// requests of several pairs share ONE pull request (and one merge).
pub fn batch_branch(environment: &EnvironmentName) -> String {
    format!("{BATCH_PREFIX}{environment}")
}

/// The environment of a batch branch (`gitops-batch/<env>`, a valid environment name); `None`
/// for any other branch.
pub fn batch_of_branch(branch: &str) -> Option<EnvironmentName> {
    EnvironmentName::parse(branch.strip_prefix(BATCH_PREFIX)?).ok()
}

/// A branch name a forge may propose on: `refs/heads/<branch>` is a valid git ref (the event
/// model's rule, `git check-ref-format`'s shapes).
pub(crate) fn validate_branch(branch: &str) -> Result<()> {
    GitRef::parse(&format!("refs/heads/{branch}"))
        .map(drop)
        .map_err(|e| Error::invalid("branch", e.message))
}

/// A proposal's branch is not the base branch it targets: a change is always a pull request.
pub(crate) fn not_the_base(branch: &str, base: &str) -> Result<()> {
    if branch == base {
        return Err(Error::invalid(
            "branch",
            format!("{branch} is the base branch; a change is proposed on another branch"),
        ));
    }
    Ok(())
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

/// A proposed change of the GitOps repository on one branch: a pair's
/// `gitops/<env>/<mfe>` ([`Change::new`]), or any other ([`Change::for_branch`], e.g. a
/// promotion's [`promotion_branch`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The branch the change is proposed on, and its pull request's head branch.
    pub branch: String,
    /// The base commit (head of the base branch, usually known from the checkout). When
    /// `None` the forge reads the base branch head (one extra API call on GitHub).
    pub base_sha: Option<CommitSha>,
    /// The tree object of `base_sha` (`git rev-parse <base>^{tree}`, an object id spelled
    /// like a commit id), when known. GitHub's tree API needs a tree sha; without it the
    /// adapter reads the base commit (one extra call).
    pub base_tree_sha: Option<CommitSha>,
    /// All file writes, applied in order on top of the base.
    pub writes: Vec<FileWrite>,
    /// PR title, also the commit message's first line.
    pub title: String,
    /// PR body (markdown).
    pub body: String,
    /// Compare-and-swap: move the branch only if its head is still exactly this (what
    /// [`crate::Forge::branch_state`] returned as [`PairState::expected`]); otherwise
    /// [`Error::Conflict`] and nothing changes. `None` force-replaces the branch whatever it
    /// holds: for tools and tests only, never for requests (it can replace a newer pending
    /// change with an older one).
    pub expected: Option<BranchHead>,
    /// The branch's open pull request as [`crate::Forge::branch_state`] saw it, so the forge
    /// can edit it directly (GitHub: `PATCH pulls/<n>` instead of `POST`, 422, lookup,
    /// `PATCH`). A hint: a PR that merged or closed meanwhile is followed by a new one. Pass
    /// only the number `branch_state` returned: another branch's PR is refused (`Invalid`; the
    /// local and fake backends before changing anything, GitHub only after its `PATCH`), an
    /// unknown one is `NotFound`.
    pub pull_request: Option<u64>,
    /// An open pull request keeps its title and body ([`Change::keeping_description`]): the
    /// change is one more commit of a pull request that describes more than this change (an
    /// environment's batch). The title and body then only make the commit message (and the
    /// pull request's, when one has to be opened). On GitHub the open PR is read, not edited.
    pub keep_description: bool,
}

impl Change {
    /// A change of the pair (`environment`, `mfe`), on its branch `gitops/<env>/<mfe>`, with
    /// no known base (the forge reads the base branch head).
    #[allow(clippy::needless_pass_by_value)] // the names are owned, as before branches were first-class
    pub fn new(
        environment: EnvironmentName,
        mfe: MfeName,
        title: impl Into<String>,
        body: impl Into<String>,
        writes: Vec<FileWrite>,
    ) -> Self {
        Self::for_branch(branch_name(&environment, &mfe), title, body, writes)
    }

    /// A change on `branch` (checked by [`Change::validate`]: a valid branch name, not the base
    /// branch), with no known base.
    pub fn for_branch(
        branch: impl Into<String>,
        title: impl Into<String>,
        body: impl Into<String>,
        writes: Vec<FileWrite>,
    ) -> Self {
        Change {
            branch: branch.into(),
            base_sha: None,
            base_tree_sha: None,
            writes,
            title: title.into(),
            body: body.into(),
            expected: None,
            pull_request: None,
            keep_description: false,
        }
    }

    /// Propose with compare-and-swap on `head` (see [`Change::expected`]).
    #[must_use]
    pub fn expecting(mut self, head: BranchHead) -> Self {
        self.expected = Some(head);
        self
    }

    /// The branch's open pull request seen by [`crate::Forge::branch_state`] (see
    /// [`Change::pull_request`]).
    #[must_use]
    pub fn with_pull_request(mut self, number: u64) -> Self {
        self.pull_request = Some(number);
        self
    }

    /// Leave an open pull request's title and body as they are (see
    /// [`Change::keep_description`]).
    #[must_use]
    pub fn keeping_description(mut self) -> Self {
        self.keep_description = true;
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
    pub fn on_base(mut self, commit: CommitSha, tree: Option<CommitSha>) -> Self {
        self.base_sha = Some(commit);
        self.base_tree_sha = tree;
        self
    }

    /// The branch the change is proposed on (`gitops/<env>/<mfe>` for a pair's change).
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// The (environment, MFE) pair of a pair's change ([`pair_of_branch`] of its branch);
    /// `None` for a change on any other branch.
    pub fn pair(&self) -> Option<(EnvironmentName, MfeName)> {
        pair_of_branch(&self.branch)
    }

    /// Check the forge's rules on the change (branch, paths, title, a tree with its commit);
    /// the same on every backend. Shas are valid by their types.
    pub fn validate(&self) -> Result<()> {
        validate_branch(&self.branch)?;
        if self.base_tree_sha.is_some() && self.base_sha.is_none() {
            return Err(Error::invalid("base_tree_sha", "given without base_sha"));
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

/// A safe relative path of the repository: no absolute path, no `.`, `..`, empty or `.git`
/// component, no backslash, NUL or newline, at most 4,096 bytes.
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

/// Where a branch (a pair's `gitops/<env>/<mfe>`, a promotion's, ...) is, or was last seen by
/// the forge.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BranchHead {
    /// The branch does not exist (and, on GitHub's cheap read, never had a pull request).
    Absent,
    /// The branch head is this commit.
    At(CommitSha),
}

/// What is pending on one branch (for a pair's branch: the input of "the newest intent wins").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairState {
    /// The branch head to propose against ([`Change::expecting`]).
    pub expected: BranchHead,
    /// The branch's open pull request, if any.
    pub pull_request: Option<PullRequest>,
    /// The content of the file asked about (a pair's desired-state file) at the branch head
    /// while the branch holds a change that is not merged; `None` when nothing is pending, no
    /// file was asked about or the file does not exist there.
    pub pending: Option<Vec<u8>>,
}

/// [`PairState`] by the name that fits any branch ([`crate::Forge::branch_state`]).
pub type BranchState = PairState;
