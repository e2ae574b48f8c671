//! The requester's side: deployments and their statuses, `repository_dispatch`, workflow runs.

use async_trait::async_trait;
use gitops_event_model::{
    CommitSha, DeploymentPayload, EnvironmentName, EventType, RepositoryName, RequestId,
};
use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::GithubForge;
use super::transport::nullable;
use crate::{
    Deployment, DeploymentState, DeploymentStatus, Error, Requester, Result, WorkflowRun,
    validate_client_payload, validate_description,
};

#[derive(Deserialize)]
struct Created {
    id: u64,
}

#[derive(Deserialize)]
struct WireDeployment {
    id: u64,
    sha: String,
    environment: String,
    #[serde(deserialize_with = "nullable")]
    description: Option<String>,
    /// An object, or (older deployments) the same as a JSON string.
    payload: Value,
    /// Who created it (GitHub: a user object, or null for a deleted user).
    #[serde(default)]
    creator: Option<WireUser>,
}

#[derive(Deserialize)]
struct WireUser {
    login: String,
}

#[derive(Deserialize)]
struct WireDeploymentStatus {
    id: u64,
    state: DeploymentState,
    description: String,
    #[serde(default)]
    log_url: Option<String>,
    #[serde(default)]
    environment_url: Option<String>,
}

#[derive(Deserialize)]
struct WorkflowRuns {
    workflow_runs: Vec<WireRun>,
}

#[derive(Deserialize)]
struct WireRun {
    id: u64,
    #[serde(default)]
    name: Option<String>,
    display_title: String,
    #[serde(deserialize_with = "nullable")]
    status: Option<String>,
    #[serde(deserialize_with = "nullable")]
    conclusion: Option<String>,
    html_url: String,
}

/// The request a deployment's payload names, when it is one of ours.
fn payload_of(payload: &Value) -> Option<DeploymentPayload> {
    match payload {
        Value::String(text) => serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| DeploymentPayload::from_value(&v)),
        other => DeploymentPayload::from_value(other),
    }
}

/// `None` for GitHub's empty string ("not set").
fn set(url: Option<String>) -> Option<String> {
    url.filter(|u| !u.is_empty())
}

impl GithubForge {
    fn repo_path(repo: &RepositoryName, rest: &str) -> String {
        format!("/repos/{repo}/{rest}")
    }
}

#[async_trait]
impl Requester for GithubForge {
    async fn create_deployment(
        &self,
        repo: &RepositoryName,
        sha: &CommitSha,
        environment: &EnvironmentName,
        payload: &DeploymentPayload,
        description: &str,
    ) -> Result<u64> {
        let created: Created = self
            .json(
                Method::POST,
                &Self::repo_path(repo, "deployments"),
                Some(&json!({
                    "ref": sha,
                    "environment": environment,
                    "payload": payload.to_value(),
                    "description": description,
                    "auto_merge": false,
                    "required_contexts": [],
                })),
            )
            .await?;
        Ok(created.id)
    }

    async fn create_deployment_status(
        &self,
        repo: &RepositoryName,
        deployment_id: u64,
        state: DeploymentState,
        description: &str,
        log_url: Option<&str>,
        environment_url: Option<&str>,
    ) -> Result<()> {
        validate_description(description)?;
        let mut body = json!({"state": state.as_str(), "description": description});
        if let Some(l) = log_url {
            body["log_url"] = json!(l);
        }
        if let Some(e) = environment_url {
            body["environment_url"] = json!(e);
        }
        self.write(
            Method::POST,
            &Self::repo_path(repo, &format!("deployments/{deployment_id}/statuses")),
            &body,
        )
        .await
        .map_err(|e| match e {
            Error::NotFound { .. } => {
                Error::not_found(format!("deployment {deployment_id} in {repo}"))
            }
            e => e,
        })
    }

    async fn list_deployments(
        &self,
        repo: &RepositoryName,
        sha: &CommitSha,
        environment: &EnvironmentName,
    ) -> Result<Vec<Deployment>> {
        // Environment names are letters, digits, '.', '_' and '-': nothing to encode.
        let items = self
            .list::<WireDeployment>(&Self::repo_path(
                repo,
                &format!("deployments?sha={sha}&environment={environment}"),
            ))
            .await?;
        let mut v: Vec<Deployment> = items
            .into_iter()
            // Filters are exact whatever the server did with the query.
            .filter(|d| {
                d.sha.eq_ignore_ascii_case(sha.as_str()) && d.environment == environment.as_str()
            })
            .map(|d| Deployment {
                id: d.id,
                sha: sha.clone(),
                environment: environment.clone(),
                description: d.description,
                payload: payload_of(&d.payload),
                creator: d.creator.map(|u| u.login),
            })
            .collect();
        v.sort_by_key(|d| std::cmp::Reverse(d.id));
        Ok(v)
    }

    async fn deployment_statuses(
        &self,
        repo: &RepositoryName,
        deployment_id: u64,
    ) -> Result<Vec<DeploymentStatus>> {
        let items = self
            .list::<WireDeploymentStatus>(&Self::repo_path(
                repo,
                &format!("deployments/{deployment_id}/statuses"),
            ))
            .await
            .map_err(|e| match e {
                Error::NotFound { .. } => {
                    Error::not_found(format!("deployment {deployment_id} in {repo}"))
                }
                e => e,
            })?;
        let mut v: Vec<DeploymentStatus> = items
            .into_iter()
            .map(|st| DeploymentStatus {
                id: st.id,
                state: st.state,
                description: Some(st.description),
                log_url: set(st.log_url),
                environment_url: set(st.environment_url),
            })
            .collect();
        v.sort_by_key(|d| std::cmp::Reverse(d.id));
        Ok(v)
    }

    async fn dispatch(
        &self,
        repo: &RepositoryName,
        event_type: &EventType,
        client_payload: &Value,
    ) -> Result<()> {
        validate_client_payload(client_payload)?;
        self.write(
            Method::POST,
            &Self::repo_path(repo, "dispatches"),
            &json!({"event_type": event_type, "client_payload": client_payload}),
        )
        .await
    }

    /// Looks through the 100 most recent runs of `repo` (one call).
    async fn find_workflow_run(
        &self,
        repo: &RepositoryName,
        correlation_id: &RequestId,
    ) -> Result<Option<WorkflowRun>> {
        let path = Self::repo_path(repo, "actions/runs?per_page=100");
        let runs: WorkflowRuns = self.json(Method::GET, &path, None).await?;
        Ok(runs
            .workflow_runs
            .into_iter()
            .map(|r| WorkflowRun {
                id: r.id,
                name: r.name,
                display_title: r.display_title,
                status: r.status,
                conclusion: r.conclusion,
                html_url: r.html_url,
            })
            .filter(|r| r.mentions(correlation_id))
            .max_by_key(|r| r.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_of_other_tools_are_none() {
        let ours =
            json!({"id": "01JABCDEFGHJKMNPQRSTVWXYZ0", "mfe": "checkout", "version": "1.2.3"});
        assert!(payload_of(&ours).is_some());
        assert!(payload_of(&Value::String(ours.to_string())).is_some());
        assert!(payload_of(&json!({"mfe": "checkout", "version": "1.2.3"})).is_none());
        assert!(payload_of(&json!({})).is_none());
        assert!(payload_of(&Value::String("not json".into())).is_none());
    }

    #[test]
    fn a_deployment_status_without_its_description_is_refused() {
        let err =
            serde_json::from_value::<WireDeploymentStatus>(json!({"id": 1, "state": "success"}))
                .err()
                .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("missing field `description`")),
            "{err:?}"
        );
        let unknown = serde_json::from_value::<WireDeploymentStatus>(
            json!({"id": 1, "state": "exploded", "description": ""}),
        );
        assert!(unknown.is_err());
    }
}
