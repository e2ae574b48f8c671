//! Sending a deploy request from the requester's side (`mfe dispatch`): which commit to name
//! ([`build_commit`]: the one that built the version, from its provenance record), then the
//! request's deployment on that commit (the proof of origin the GitOps side checks, and where it
//! reports) and only then the `repository_dispatch` ([`send`]). A request that cannot be sent
//! marks its deployment `error`, so nobody waits on it.

use gitops_artifact_store::Provenance;
use gitops_event_model::{
    DeployRequest, DeploymentPayload, EventType, MfeName, RepositoryName, Version,
};
use gitops_gh_pr::{DeploymentState, Requester};

/// Why a request was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The request's deployment could not be made on the requester's commit.
    #[error(
        "could not create the request's deployment on {repository} (the job needs `permissions: deployments: write`): {source}"
    )]
    Deployment {
        /// The requester's repository.
        repository: RepositoryName,
        /// What GitHub said.
        source: gitops_gh_pr::Error,
    },
    /// The `repository_dispatch` failed (the deployment is marked `error`).
    #[error("could not send the deploy request to {gitops_repo}: {source}")]
    Dispatch {
        /// The GitOps repository.
        gitops_repo: RepositoryName,
        /// What GitHub said.
        source: gitops_gh_pr::Error,
    },
}

/// Makes `request`'s deployment on its own commit with `own` (the requester's workflow token),
/// carrying the whole request ([`DeploymentPayload::of`]): in App mode that deployment IS the
/// request (`gitops serve` receives it by webhook; nothing is dispatched), in the Actions mode
/// it is the proof of origin [`send`] makes first. Returns the deployment's id.
///
/// # Errors
/// [`SendError::Deployment`].
pub async fn deployment(own: &dyn Requester, request: &DeployRequest) -> Result<u64, SendError> {
    let repository = request.repository();
    own.create_deployment(
        repository,
        request.sha(),
        request.environment(),
        &DeploymentPayload::of(request),
        &format!("{} {}", request.mfe(), request.version()),
    )
    .await
    .map_err(|source| SendError::Deployment {
        repository: repository.clone(),
        source,
    })
}

/// Makes `request`'s deployment on its own commit with `own` (the requester's workflow token),
/// then sends the request to `gitops_repo` as `event_type` with `dispatcher`. Returns the
/// deployment's id.
///
/// # Errors
/// [`SendError::Deployment`] (nothing sent), or [`SendError::Dispatch`] (the deployment is
/// marked `error`, best effort).
pub async fn send(
    own: &dyn Requester,
    dispatcher: &dyn Requester,
    gitops_repo: &RepositoryName,
    event_type: &EventType,
    request: &DeployRequest,
) -> Result<u64, SendError> {
    let repository = request.repository();
    let deployment = deployment(own, request).await?;
    if let Err(source) = dispatcher
        .dispatch(gitops_repo, event_type, &request.to_value())
        .await
    {
        let description = format!("could not send the request to {gitops_repo}");
        if let Err(error) = own
            .create_deployment_status(
                repository,
                deployment,
                DeploymentState::Error,
                &description,
                None,
                None,
            )
            .await
        {
            tracing::warn!(%error, deployment, "cannot mark the deployment as failed");
        }
        return Err(SendError::Dispatch {
            gitops_repo: gitops_repo.clone(),
            source,
        });
    }
    Ok(deployment)
}

/// The commit and ref to name in a request for `mfe` `version` from `repository`, read from
/// the provenance record of the artifact at `template` (as `mfe publish --to`, opened with the
/// store settings of the environment, paths relative to `base`): see [`build_commit`]. Also
/// whether there was a record.
///
/// # Errors
/// `(1, why)` for a refusal (a bad name or version, a record of another build), `(2, why)`
/// when the store cannot be read.
pub async fn build_commit_at(
    template: &str,
    base: &std::path::Path,
    (mfe, version, repository): (&str, &str, &str),
    ambient: (String, String),
) -> Result<((String, String), bool), (u8, String)> {
    let refused = |e: String| (1, e);
    let mfe = MfeName::parse(mfe).map_err(|e| refused(format!("--mfe: {}", e.message)))?;
    let version =
        Version::parse(version).map_err(|e| refused(format!("--version: {}", e.message)))?;
    let repository = RepositoryName::parse(repository)
        .map_err(|e| refused(format!("--repository: {}", e.message)))?;
    let store = |e: gitops_artifact_store::Error| (2, e.to_string());
    let url = gitops_artifact_store::expand_template(template, &mfe, &version).map_err(store)?;
    let object = gitops_artifact_store::StoreOpener::from_env(base)
        .and_then(|opener| opener.open_object(&url))
        .map_err(store)?;
    let record = gitops_artifact_store::read_provenance(&object)
        .await
        .map_err(store)?;
    let chosen =
        build_commit(record.as_ref(), &mfe, &version, &repository, ambient).map_err(refused)?;
    Ok((chosen, record.is_some()))
}

/// The commit (and ref) to name in a request for `mfe` `version` from `repository`: the one
/// that built it, as `provenance` (read from the artifact store) records, not the branch head
/// a manual run happens to start on (`ambient`, its `GITHUB_SHA`/`GITHUB_REF`). Without a record
/// (an artifact published by an older `mfe`), the ambient commit.
///
/// # Errors
/// A record for another MFE, version or repository: naming the request after it would deploy a
/// build someone else made.
pub fn build_commit(
    provenance: Option<&Provenance>,
    mfe: &MfeName,
    version: &Version,
    repository: &RepositoryName,
    ambient: (String, String),
) -> Result<(String, String), String> {
    let Some(p) = provenance else {
        return Ok(ambient);
    };
    if p.mfe != *mfe || p.version.to_string() != version.to_string() {
        return Err(format!(
            "the artifact's provenance is {} {}, not {mfe} {version}",
            p.mfe, p.version
        ));
    }
    if let Some(built_by) = &p.repository
        && !built_by.as_str().eq_ignore_ascii_case(repository.as_str())
    {
        return Err(format!(
            "{mfe} {version} was built by {built_by}, not {repository}"
        ));
    }
    let git_ref = p.git_ref.as_ref().map_or(ambient.1, ToString::to_string);
    Ok((p.sha.to_string(), git_ref))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(repository: Option<&str>) -> Provenance {
        Provenance {
            mfe: MfeName::parse("checkout").unwrap(),
            version: Version::parse("1.0.1-main.7.1").unwrap(),
            repository: repository.map(|r| RepositoryName::parse(r).unwrap()),
            sha: gitops_event_model::CommitSha::parse(&"b".repeat(40)).unwrap(),
            git_ref: Some(gitops_event_model::GitRef::parse("refs/heads/main").unwrap()),
            sha256: "0".repeat(64),
        }
    }

    fn ask(p: Option<&Provenance>, repo: &str) -> Result<(String, String), String> {
        build_commit(
            p,
            &MfeName::parse("checkout").unwrap(),
            &Version::parse("1.0.1-main.7.1").unwrap(),
            &RepositoryName::parse(repo).unwrap(),
            ("a".repeat(40), "refs/heads/hotfix".to_owned()),
        )
    }

    #[test]
    fn the_build_commit_wins_over_the_branch_a_run_starts_on() {
        let p = record(Some("acme/checkout-mfe"));
        assert_eq!(
            ask(Some(&p), "acme/checkout-mfe"),
            Ok(("b".repeat(40), "refs/heads/main".to_owned()))
        );
        assert_eq!(
            ask(None, "acme/checkout-mfe"),
            Ok(("a".repeat(40), "refs/heads/hotfix".to_owned())),
            "no record: the ambient commit"
        );
    }

    #[test]
    fn a_record_of_another_repository_or_version_is_refused() {
        let p = record(Some("acme/evil"));
        assert!(
            ask(Some(&p), "acme/checkout-mfe")
                .unwrap_err()
                .contains("acme/evil")
        );
        let mut other = record(None);
        other.version = Version::parse("2.0.0").unwrap();
        assert!(ask(Some(&other), "acme/checkout-mfe").is_err());
    }
}
