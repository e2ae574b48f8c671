//! Telling a requester: deployment statuses on the deployment `process` created for a request
//! on the requester's own commit. One place knows the deployment payload's shape.

use gitops_gh_pr::{DeploymentState, Requester};
use gitops_iac_config::Deployment;

/// GitHub's limit on a deployment status description, in characters.
const DESCRIPTION_CHARS: usize = 140;

/// The payload of the deployment `process` creates for a request; `mfe dispatch --wait` and the
/// later statuses find it by `id`.
pub fn deployment_payload(request_id: &str, mfe: &str, version: &str) -> serde_json::Value {
    serde_json::json!({"id": request_id, "mfe": mfe, "version": version})
}

/// The request id a deployment payload carries, if it is one of ours.
pub fn request_id_of(payload: &serde_json::Value) -> Option<&str> {
    payload.get("id").and_then(serde_json::Value::as_str)
}

/// `text` cut to what GitHub keeps of a deployment status description.
pub(crate) fn clip(text: &str) -> String {
    text.chars().take(DESCRIPTION_CHARS).collect()
}

/// Where a request's deployment lives: the requester's repository, commit and environment, and
/// the request id in its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestRef<'a> {
    pub repository: &'a str,
    pub sha: &'a str,
    pub environment: &'a str,
    pub request_id: &'a str,
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

/// Posts `state` on the deployment of `request`. Returns whether one was found and told; not
/// finding it, or failing to post, is logged and never fails the caller (the work it reports on
/// is already done).
pub(crate) async fn tell(
    requester: &dyn Requester,
    request: &RequestRef<'_>,
    state: DeploymentState,
    description: &str,
    log_url: Option<&str>,
    environment_url: Option<&str>,
) -> bool {
    let deployments = match requester
        .list_deployments(request.repository, request.sha, request.environment)
        .await
    {
        Ok(d) => d,
        Err(error) => {
            tracing::warn!(%error, "cannot list the requester's deployments");
            return false;
        }
    };
    let Some(deployment) = deployments
        .iter()
        .find(|d| request_id_of(&d.payload) == Some(request.request_id))
    else {
        return false;
    };
    match requester
        .create_deployment_status(
            request.repository,
            deployment.id,
            state,
            &clip(description),
            log_url,
            environment_url,
        )
        .await
    {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!(%error, "cannot post the deployment status");
            false
        }
    }
}
