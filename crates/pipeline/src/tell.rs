//! Telling a requester: deployment statuses on the deployment `process` created for a request
//! on the requester's own commit (whose payload is a [`DeploymentPayload`]).

use gitops_event_model::{CommitSha, EnvironmentName, RepositoryName, RequestId};
use gitops_gh_pr::{DeploymentState, Requester};
use gitops_iac_config::Deployment;

/// GitHub's limit on a deployment status description, in characters.
const DESCRIPTION_CHARS: usize = 140;

/// `text` cut to what GitHub keeps of a deployment status description.
pub fn clip(text: &str) -> String {
    text.chars().take(DESCRIPTION_CHARS).collect()
}

/// Where a request's deployment lives: the requester's repository, commit and environment, and
/// the request id in its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestRef<'a> {
    pub repository: &'a RepositoryName,
    pub sha: &'a CommitSha,
    pub environment: &'a EnvironmentName,
    pub request_id: &'a RequestId,
}

impl<'a> RequestRef<'a> {
    /// The request a desired-state file records.
    pub fn of_deployment(desired: &'a Deployment) -> Self {
        RequestRef {
            repository: &desired.repository,
            sha: &desired.sha,
            environment: &desired.environment,
            request_id: &desired.request_id,
        }
    }
}

/// Posts `state` on the deployment of `request` (on every one, should a replayed request have
/// made two, so no waiter is left behind). Returns whether one was found and told; not finding
/// it, or failing to post, is logged and never fails the caller (the work it reports on is
/// already done).
pub(crate) async fn tell(
    requester: &dyn Requester,
    request: &RequestRef<'_>,
    state: DeploymentState,
    description: &str,
    log_url: Option<&str>,
    environment_url: Option<&str>,
) -> bool {
    tell_as(
        requester,
        request,
        state,
        description,
        log_url,
        environment_url,
        When::Always,
    )
    .await
        == Told::Yes
}

/// [`tell`], but a deployment whose newest status already says exactly this (state and
/// description) is left alone: for what repeats (a PR waiting for approval is checked again on
/// every review and every sweep), so the requester's history stays one line per change.
pub(crate) async fn tell_once(
    requester: &dyn Requester,
    request: &RequestRef<'_>,
    state: DeploymentState,
    description: &str,
    log_url: Option<&str>,
) -> bool {
    tell_as(
        requester,
        request,
        state,
        description,
        log_url,
        None,
        When::Changed,
    )
    .await
        == Told::Yes
}

/// [`tell`], but a deployment that already ended (its newest status is final: it went live,
/// failed, or was told it was superseded) is left alone: for news about a request that may have
/// ended meanwhile (a merge replacing its desired state after it went live), or that would
/// repeat (a deploy finding a version live from another request on every run).
pub(crate) async fn tell_unfinished(
    requester: &dyn Requester,
    request: &RequestRef<'_>,
    state: DeploymentState,
    description: &str,
    log_url: Option<&str>,
    environment_url: Option<&str>,
) -> bool {
    tell_as(
        requester,
        request,
        state,
        description,
        log_url,
        environment_url,
        When::Unfinished,
    )
    .await
        == Told::Yes
}

/// Which deployments [`tell_as`] posts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum When {
    /// Every one.
    Always,
    /// Those whose newest status does not already say exactly this.
    Changed,
    /// Those whose newest status is not final.
    Unfinished,
}

/// What [`tell_as`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Told {
    /// A deployment of the request was told (or, [`When::Changed`], already said exactly this).
    Yes,
    /// Nobody to tell: no deployment carries the request, or `when` selected none.
    Nobody,
    /// Reading the deployments, or posting on one, failed in a way a later attempt may not
    /// (GitHub down, a rate limit; logged): the news may not have reached the requester. A
    /// failure no retry would change (no access, a repository gone) is logged and counts as
    /// [`Told::Nobody`].
    Failed,
}

/// Posts `state` on the deployments of `request` that `when` selects (see [`tell`]).
pub(crate) async fn tell_as(
    requester: &dyn Requester,
    request: &RequestRef<'_>,
    state: DeploymentState,
    description: &str,
    log_url: Option<&str>,
    environment_url: Option<&str>,
    when: When,
) -> Told {
    let description = clip(description);
    let deployments = match requester
        .list_deployments(request.repository, request.sha, request.environment)
        .await
    {
        Ok(d) => d,
        Err(error) => {
            tracing::warn!(%error, "cannot list the requester's deployments");
            return if error.is_retryable() {
                Told::Failed
            } else {
                Told::Nobody
            };
        }
    };
    let (mut told, mut failed) = (false, false);
    for deployment in deployments.iter().filter(|d| {
        d.payload
            .as_ref()
            .is_some_and(|p| p.id == *request.request_id)
    }) {
        if when != When::Always
            && let Ok(statuses) = requester
                .deployment_statuses(request.repository, deployment.id)
                .await
            && statuses.first().is_some_and(|newest| match when {
                When::Changed => {
                    newest.state == state
                        && newest.description.as_deref() == Some(description.as_str())
                }
                When::Unfinished => newest.state.is_terminal(),
                When::Always => false,
            })
        {
            told |= when == When::Changed;
            continue;
        }
        match requester
            .create_deployment_status(
                request.repository,
                deployment.id,
                state,
                &description,
                log_url,
                environment_url,
            )
            .await
        {
            Ok(()) => told = true,
            Err(error) => {
                failed |= error.is_retryable();
                tracing::warn!(%error, "cannot post the deployment status");
            }
        }
    }
    match (failed, told) {
        (true, _) => Told::Failed,
        (false, true) => Told::Yes,
        (false, false) => Told::Nobody,
    }
}
