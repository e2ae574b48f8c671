//! Two runs checking one deploy pull request at once (the quarter-hourly sweep and the PR's
//! merge job): the one that loses the race must not refuse, nor tell the requester a refusal
//! of, a head the other merged. Found by the fleet simulation: a merge job read the PR open,
//! the sweep merged it, the job then read the base (now holding the PR's own desired state),
//! refused it as "already desired" and told its requester `failure`.

use std::sync::Mutex;

use async_trait::async_trait;
use gitops_event_model::{CommitSha, EnvironmentName, Login, MfeName};
use gitops_gh_pr::{
    BranchState, Change, CombinedChecks, Comment, FakeForge, Forge, PairState, PullRequest,
    Requester, Result, StatusState, Tree,
};
use gitops_iac_config::Repository;
use gitops_pipeline::{MergeOutcome, OriginCheck, merge_pull_request, process};

use crate::forge::{files, now, request};

/// [`FakeForge`], but the first read of the base branch is preceded by another run's merge of
/// the armed pull request (the sweep finishing between this run's read of the PR and of the
/// base).
#[derive(Debug)]
struct MergedMeanwhile<'a> {
    inner: &'a FakeForge,
    armed: Mutex<Option<(u64, CommitSha)>>,
}

#[async_trait]
impl Forge for MergedMeanwhile<'_> {
    fn base_branch(&self) -> &str {
        self.inner.base_branch()
    }
    async fn read_tree(&self, git_ref: &str) -> Result<Tree> {
        if git_ref == self.inner.base_branch() {
            let armed = self.armed.lock().unwrap().take();
            if let Some((number, head)) = armed {
                self.inner.merge(number, &head).await?;
            }
        }
        self.inner.read_tree(git_ref).await
    }
    async fn branch_state(
        &self,
        branch: &str,
        path: Option<&str>,
        exact: bool,
    ) -> Result<BranchState> {
        self.inner.branch_state(branch, path, exact).await
    }
    async fn pair_state(
        &self,
        environment: &EnvironmentName,
        mfe: &MfeName,
        path: &str,
        exact: bool,
    ) -> Result<PairState> {
        self.inner.pair_state(environment, mfe, path, exact).await
    }
    async fn propose(&self, change: &Change) -> Result<PullRequest> {
        self.inner.propose(change).await
    }
    async fn pull_request(&self, number: u64) -> Result<PullRequest> {
        self.inner.pull_request(number).await
    }
    async fn open_pull_requests(&self) -> Result<Vec<PullRequest>> {
        self.inner.open_pull_requests().await
    }
    async fn changed_files(&self, number: u64) -> Result<Vec<String>> {
        self.inner.changed_files(number).await
    }
    async fn approvals(&self, number: u64) -> Result<Vec<Login>> {
        self.inner.approvals(number).await
    }
    async fn has_write_access(&self, login: &Login) -> Result<bool> {
        self.inner.has_write_access(login).await
    }
    async fn combined_checks(&self, sha: &CommitSha) -> Result<CombinedChecks> {
        self.inner.combined_checks(sha).await
    }
    async fn set_status(
        &self,
        sha: &CommitSha,
        context: &str,
        state: StatusState,
        description: &str,
        target_url: Option<&str>,
    ) -> Result<()> {
        self.inner
            .set_status(sha, context, state, description, target_url)
            .await
    }
    async fn merge(&self, number: u64, expected_head_sha: &CommitSha) -> Result<CommitSha> {
        self.inner.merge(number, expected_head_sha).await
    }
    async fn upsert_comment(&self, number: u64, marker: &str, body: &str) -> Result<u64> {
        self.inner.upsert_comment(number, marker, body).await
    }
    async fn comments(&self, number: u64) -> Result<Vec<Comment>> {
        self.inner.comments(number).await
    }
}

#[tokio::test]
async fn a_merge_losing_the_race_to_another_run_of_the_same_pr_refuses_nothing() {
    let forge = FakeForge::with_files(files());
    let repo = Repository::from_files(&files()).unwrap();
    let req = request("dev", "1.5.0");
    let number = process(
        &repo,
        None,
        Ok(&req),
        now(),
        &forge,
        Some(&forge as &dyn Requester),
        OriginCheck::Trust,
        &gitops_metrics::NullSink,
    )
    .await
    .unwrap()
    .pull_request
    .unwrap();
    let head = forge.pull_request(number).await.unwrap().head_sha;
    let racing = MergedMeanwhile {
        inner: &forge,
        armed: Mutex::new(Some((number, head.clone()))),
    };
    let outcome = merge_pull_request(
        &racing,
        Some(&forge as &dyn Requester),
        number,
        now(),
        &gitops_metrics::NullSink,
    )
    .await
    .unwrap();
    assert!(
        matches!(outcome, MergeOutcome::Skipped { .. }),
        "{outcome:?}"
    );
    assert!(racing.armed.lock().unwrap().is_none(), "the race was run");
    // The requester was told nothing but its request's queueing; the merged head has no
    // failed check.
    let deployments = forge
        .list_deployments(req.repository(), req.sha(), req.environment())
        .await
        .unwrap();
    let statuses = forge
        .deployment_statuses(req.repository(), deployments[0].id)
        .await
        .unwrap();
    assert!(
        statuses
            .iter()
            .all(|s| s.state != gitops_gh_pr::DeploymentState::Failure),
        "{statuses:?}"
    );
    let checks = forge.combined_checks(&head).await.unwrap();
    assert_ne!(
        checks.state,
        gitops_gh_pr::CheckState::Failure,
        "{checks:?}"
    );
}
