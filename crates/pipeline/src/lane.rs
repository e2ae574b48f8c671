//! Where a pair's change is proposed (issue 18): on the pair's own branch `gitops/<env>/<mfe>`
//! (one pull request per pair), or, in an environment that batches (`batch: true` in
//! `gitops.yaml`), appended to the environment's batch `gitops-batch/<env>`, so the pending
//! requests of every pair share one pull request and one merge.
//!
//! A batch's head holds every file of the base it started from, not only the batch's changes:
//! what is pending for a pair is its file there only while the batch's pull request changes it.
//! A change appended to an unsettled batch (its pull request open, or a head no merged or
//! closed pull request holds: a concurrent proposer pushed and has not opened it yet) is one
//! more commit on the batch's head (compare-and-swap on that head, the pull request's
//! description kept), so no proposer ever drops another's write; a settled or absent batch is
//! opened, like a pair's branch, on the base. The merge checks a batch file by file
//! ([`crate::merge`]).

use gitops_event_model::{CommitSha, EnvironmentName, MfeName};
use gitops_gh_pr::{BranchHead, Change, FileWrite, Forge, PairState, batch_branch, branch_name};
use gitops_iac_config::{Deployment, Repository};
use gitops_retry::RetryPolicy;

use crate::Error;

/// The branch a pair's changes are proposed on.
pub(crate) struct Lane {
    environment: EnvironmentName,
    branch: String,
    batch: bool,
    /// The pair's desired state on the base (a batch's file equal to it is not pending).
    desired: Option<Deployment>,
}

/// What is pending for a pair on its lane, and how to propose against it.
pub(crate) struct LaneState {
    /// The branch's state (`pending`: the pair's pending desired state, if any).
    pub(crate) state: PairState,
    /// Append to the batch's head (an unsettled batch) rather than open on the base.
    append: bool,
}

impl Lane {
    /// The lane of (`environment`, `mfe`): the environment's batch when it batches, else the
    /// pair's branch.
    pub(crate) fn of(
        repository: &Repository,
        environment: &EnvironmentName,
        mfe: &MfeName,
    ) -> Lane {
        let batch = repository.environment(environment).is_some_and(|e| e.batch);
        Lane {
            environment: environment.clone(),
            branch: if batch {
                batch_branch(environment)
            } else {
                branch_name(environment, mfe)
            },
            batch,
            desired: repository.deployment(environment, mfe).cloned(),
        }
    }

    /// Whether the lane is a batch (whose plan the merge check writes, once per batch, rather
    /// than each proposal).
    pub(crate) fn is_batch(&self) -> bool {
        self.batch
    }

    /// How proposals on the lane retry a lost compare-and-swap: a batch is shared by every
    /// request of its environment ([`RetryPolicy::CROWDED`]), a pair's branch by its own
    /// requests ([`RetryPolicy::CONTENDED`]).
    pub(crate) fn retry_policy(&self) -> RetryPolicy {
        if self.batch {
            RetryPolicy::CROWDED
        } else {
            RetryPolicy::CONTENDED
        }
    }

    /// What is pending for the pair whose desired-state file is `path` ([`Forge::branch_state`]
    /// of the lane). On a batch: with its pull request open, `pending` only when the pull
    /// request changes `path` (one more read); with none open but a branch, whether the head
    /// is unsettled (one more read: `gitops.yaml`'s state, pending exactly while unsettled),
    /// and then `pending` only when it differs from the base's desired state.
    pub(crate) async fn state(
        &self,
        forge: &dyn Forge,
        path: &str,
        exact: bool,
    ) -> Result<LaneState, Error> {
        let mut state = forge.branch_state(&self.branch, Some(path), exact).await?;
        if !self.batch {
            return Ok(LaneState {
                state,
                append: false,
            });
        }
        let append = if let Some(pr) = &state.pull_request {
            if state.pending.is_some()
                && !forge
                    .changed_files(pr.number)
                    .await?
                    .iter()
                    .any(|f| f == path)
            {
                state.pending = None;
            }
            true
        } else if matches!(state.expected, BranchHead::At(_)) {
            let config = forge
                .branch_state(&self.branch, Some(gitops_iac_config::CONFIG_FILE), exact)
                .await?;
            let unsettled = config.pending.is_some();
            if !unsettled
                || state.pending.as_deref().is_some_and(|bytes| {
                    serde_json::from_slice::<Deployment>(bytes).ok() == self.desired
                })
            {
                state.pending = None;
            }
            if unsettled {
                state.expected = config.expected;
            }
            unsettled
        } else {
            false
        };
        Ok(LaneState { state, append })
    }

    /// The change writing `writes`, judged against `lane` (from [`Lane::state`]): a pair's,
    /// built on `base_sha` when known; appended to an unsettled batch on its head, keeping the
    /// batch's description (`title` and `body` make the commit message); or opening a batch on
    /// `base_sha`, described as the batch.
    pub(crate) fn change(
        &self,
        lane: &LaneState,
        title: String,
        body: String,
        writes: Vec<FileWrite>,
        base_sha: Option<&CommitSha>,
    ) -> Change {
        let state = &lane.state;
        if lane.append
            && let BranchHead::At(head) = &state.expected
        {
            let change = if let Some(pr) = &state.pull_request {
                Change::for_branch(&self.branch, title, body, writes).with_pull_request(pr.number)
            } else {
                let (title, body) = self.batch_description();
                Change::for_branch(&self.branch, title, body, writes)
            };
            return change
                .on_base(head.clone(), None)
                .expecting(state.expected.clone())
                .keeping_description();
        }
        let (title, body) = if self.batch {
            self.batch_description()
        } else {
            (title, body)
        };
        let change = Change::for_branch(&self.branch, title, body, writes).judged_against(state);
        match base_sha {
            Some(base) => change.on_base(base.clone(), None),
            None => change,
        }
    }

    /// The title and body of a batch's pull request.
    fn batch_description(&self) -> (String, String) {
        (
            format!("Deploy batch to {}", self.environment),
            format!(
                "Desired-state changes of several MFEs in `{}`, batched (`batch: true` in \
                 gitops.yaml): each changed file is one request, judged when it arrived and \
                 again at merge, and the batch merges whole. The commits name each request.",
                self.environment
            ),
        )
    }
}
