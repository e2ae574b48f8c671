//! Proof of origin: a deploy request names its `repository`, and the dispatch token that sent it
//! may be held by any team (it needs `contents: write` on the GitOps repository), so the name
//! alone proves nothing. The requester's workflow therefore creates the request's GitHub
//! deployment on its own commit, with its own `GITHUB_TOKEN` (which reaches only its own
//! repository), before it dispatches. The GitOps side accepts the request only when the claimed
//! repository has that deployment: at the request's `sha`, for its environment, carrying its id,
//! MFE and version, created by [`WORKFLOW_LOGIN`]. Every later status goes to that deployment.
//!
//! [`verify`] is the pure rule; [`prove`] reads the claimed repository's deployments (one call)
//! and applies it.

use gitops_event_model::DeployRequest;
use gitops_gh_pr::{Deployment, Requester, WORKFLOW_LOGIN};

use crate::Error;

/// How `process` establishes where a request comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginCheck {
    /// The requester's workflow created the request's deployment before dispatching: find it and
    /// [`verify`] it; a request without one is refused (`unverified-origin`). GitHub.
    Verify,
    /// Nothing to prove with: a forge without accounts (the local git forge of `gitops demo`
    /// and local tests, never inside GitHub Actions) where `process` creates the deployment
    /// itself, standing in for the requester.
    Trust,
    /// GitHub asserted the origin (App mode): the request is this deployment of the claimed
    /// repository, read from a signed `deployment` webhook; its statuses go on it.
    Asserted(u64),
}

/// The id of the deployment among `deployments` (the claimed repository's deployments of the
/// request's sha and environment) that proves `request`'s origin, or why none does.
///
/// # Errors
/// A sentence for people: no deployment carries the request id; the one that does names another
/// MFE or version; or it was not created by a workflow of the repository ([`WORKFLOW_LOGIN`]).
pub fn verify(request: &DeployRequest, deployments: &[Deployment]) -> Result<u64, String> {
    let repo = request.repository();
    let ours: Vec<&Deployment> = deployments
        .iter()
        .filter(|d| d.payload.as_ref().is_some_and(|p| p.id == *request.id()))
        .collect();
    if ours.is_empty() {
        return Err(format!(
            "{repo} has no deployment of request {} on {} for {}: only a workflow of {repo} \
             can prove a request is its own (mfe dispatch creates that deployment before sending)",
            request.id(),
            request.sha(),
            request.environment()
        ));
    }
    let mut why = Vec::new();
    for d in ours {
        let payload = d.payload.as_ref().filter(|p| {
            p.mfe == *request.mfe() && p.version.to_string() == request.version().to_string()
        });
        match (payload, d.creator.as_deref()) {
            (Some(_), Some(WORKFLOW_LOGIN)) => return Ok(d.id),
            (None, _) => why.push(format!(
                "deployment {} of request {} in {repo} is for another MFE or version",
                d.id,
                request.id()
            )),
            (Some(_), creator) => why.push(format!(
                "deployment {} of request {} in {repo} was created by {}, not by a workflow of \
                 {repo} ({WORKFLOW_LOGIN})",
                d.id,
                request.id(),
                creator.unwrap_or("an unknown account")
            )),
        }
    }
    Err(why.join("; "))
}

/// Reads the claimed repository's deployments of the request's sha and environment and
/// [`verify`]s them: `Ok(Ok(id))` proven, `Ok(Err(why))` not proven; `Err` when GitHub could not
/// be read (a 404 for a repository the token cannot see is "not proven").
pub async fn prove(
    requester: &dyn Requester,
    request: &DeployRequest,
) -> Result<Result<u64, String>, Error> {
    match requester
        .list_deployments(request.repository(), request.sha(), request.environment())
        .await
    {
        Ok(deployments) => Ok(verify(request, &deployments)),
        Err(gitops_gh_pr::Error::NotFound { .. }) => Ok(Err(format!(
            "{} cannot be read (no such repository, or the GitOps token is not installed on it)",
            request.repository()
        ))),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gitops_event_model::{CommitSha, DeploymentPayload, EnvironmentName};

    fn request(version: &str) -> DeployRequest {
        DeployRequest::builder()
            .mfe("checkout")
            .version(version)
            .environment("dev")
            .repository("acme/checkout-mfe")
            .git_ref("refs/heads/main")
            .sha("a".repeat(40))
            .user("alice")
            .build()
            .unwrap()
    }

    fn deployment(
        id: u64,
        payload: Option<DeploymentPayload>,
        creator: Option<&str>,
    ) -> Deployment {
        Deployment {
            id,
            sha: CommitSha::parse(&"a".repeat(40)).unwrap(),
            environment: EnvironmentName::parse("dev").unwrap(),
            description: None,
            payload,
            creator: creator.map(str::to_owned),
        }
    }

    #[test]
    fn a_workflow_made_deployment_of_the_request_proves_it() {
        let r = request("1.0.0");
        let d = deployment(7, Some(DeploymentPayload::of(&r)), Some(WORKFLOW_LOGIN));
        assert_eq!(verify(&r, &[d]), Ok(7));
    }

    #[test]
    fn anything_else_does_not() {
        let r = request("1.0.0");
        let other = request("1.0.0");
        // None at all; another request's; another tool's.
        assert!(
            verify(&r, &[])
                .unwrap_err()
                .contains("no deployment of request")
        );
        let theirs = deployment(1, Some(DeploymentPayload::of(&other)), Some(WORKFLOW_LOGIN));
        let foreign = deployment(2, None, Some(WORKFLOW_LOGIN));
        assert!(verify(&r, &[theirs, foreign]).is_err());
        // Made by a person's token, or by nobody known.
        let by_person = deployment(3, Some(DeploymentPayload::of(&r)), Some("mallory"));
        let why = verify(&r, &[by_person]).unwrap_err();
        assert!(why.contains("created by mallory"), "{why}");
        let unknown = deployment(4, Some(DeploymentPayload::of(&r)), None);
        assert!(
            verify(&r, &[unknown])
                .unwrap_err()
                .contains("unknown account")
        );
        // The request's id on a deployment of another version.
        let mut payload = DeploymentPayload::of(&r);
        payload.version = gitops_event_model::Version::parse("9.9.9").unwrap();
        let swapped = deployment(5, Some(payload), Some(WORKFLOW_LOGIN));
        assert!(
            verify(&r, &[swapped])
                .unwrap_err()
                .contains("another MFE or version")
        );
    }

    #[test]
    fn one_good_deployment_among_bad_ones_proves_it() {
        let r = request("1.0.0");
        let bad = deployment(3, Some(DeploymentPayload::of(&r)), Some("mallory"));
        let good = deployment(9, Some(DeploymentPayload::of(&r)), Some(WORKFLOW_LOGIN));
        assert_eq!(verify(&r, &[bad, good]), Ok(9));
    }
}
