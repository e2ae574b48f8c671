//! The local forge as a [`Requester`]: deployments, their statuses and dispatches as records
//! (`deployments/<owner>__<name>.json`, `dispatches.json`); nothing runs workflows.

use async_trait::async_trait;
use gitops_event_model::{
    CommitSha, DeploymentPayload, EnvironmentName, EventType, RepositoryName, RequestId,
};
use serde::{Deserialize, Serialize};

use super::LocalGitForge;
use crate::{
    Deployment, DeploymentState, DeploymentStatus, Error, Requester, Result, WorkflowRun,
    validate_client_payload, validate_description,
};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct DeploymentRecord {
    deployment: Option<Deployment>,
    statuses: Vec<DeploymentStatus>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Dispatch {
    repo: RepositoryName,
    event_type: EventType,
    client_payload: serde_json::Value,
}

/// The record of a repository's deployments: one per repository, whatever the case it is
/// written in (GitHub compares repository names without case).
fn deployments_rel(repo: &RepositoryName) -> String {
    format!(
        "deployments/{}.json",
        repo.as_str().to_ascii_lowercase().replace('/', "__")
    )
}

impl LocalGitForge {
    /// Every `repository_dispatch` sent through this forge: (repo, event type, payload).
    pub async fn dispatches(&self) -> Result<Vec<(RepositoryName, EventType, serde_json::Value)>> {
        let v: Vec<Dispatch> = self.read_json("dispatches.json").await?;
        Ok(v.into_iter()
            .map(|d| (d.repo, d.event_type, d.client_payload))
            .collect())
    }
}

#[async_trait]
impl Requester for LocalGitForge {
    async fn create_deployment(
        &self,
        repo: &RepositoryName,
        sha: &CommitSha,
        environment: &EnvironmentName,
        payload: &DeploymentPayload,
        description: &str,
    ) -> Result<u64> {
        let _lock = self.lock().await?;
        let id = self.next_counter("next-id.json", 1).await?;
        let rel = deployments_rel(repo);
        let mut all: Vec<DeploymentRecord> = self.read_json(&rel).await?;
        all.push(DeploymentRecord {
            deployment: Some(Deployment {
                id,
                sha: sha.clone(),
                environment: environment.clone(),
                description: Some(description.to_owned()),
                payload: Some(payload.clone()),
                // The local requester stands for the MFE repository's workflow on this machine.
                creator: Some(crate::WORKFLOW_LOGIN.to_owned()),
            }),
            statuses: vec![],
        });
        self.write_json(&rel, &all).await?;
        Ok(id)
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
        let _lock = self.lock().await?;
        let rel = deployments_rel(repo);
        let mut all: Vec<DeploymentRecord> = self.read_json(&rel).await?;
        let idx = all
            .iter()
            .position(|r| r.deployment.as_ref().is_some_and(|d| d.id == deployment_id))
            .ok_or_else(|| Error::not_found(format!("deployment {deployment_id} in {repo}")))?;
        let id = self.next_counter("next-id.json", 1).await?;
        all[idx].statuses.push(DeploymentStatus {
            id,
            state,
            description: Some(description.to_owned()),
            log_url: log_url.map(str::to_owned),
            environment_url: environment_url.map(str::to_owned),
        });
        self.write_json(&rel, &all).await
    }

    async fn list_deployments(
        &self,
        repo: &RepositoryName,
        sha: &CommitSha,
        environment: &EnvironmentName,
    ) -> Result<Vec<Deployment>> {
        let all: Vec<DeploymentRecord> = self.read_json(&deployments_rel(repo)).await?;
        let mut v: Vec<Deployment> = all
            .into_iter()
            .filter_map(|r| r.deployment)
            .filter(|d| d.sha == *sha && d.environment == *environment)
            .collect();
        v.reverse();
        Ok(v)
    }

    async fn deployment_statuses(
        &self,
        repo: &RepositoryName,
        deployment_id: u64,
    ) -> Result<Vec<DeploymentStatus>> {
        let all: Vec<DeploymentRecord> = self.read_json(&deployments_rel(repo)).await?;
        let rec = all
            .into_iter()
            .find(|r| r.deployment.as_ref().is_some_and(|d| d.id == deployment_id))
            .ok_or_else(|| Error::not_found(format!("deployment {deployment_id} in {repo}")))?;
        let mut v = rec.statuses;
        v.reverse();
        Ok(v)
    }

    async fn dispatch(
        &self,
        repo: &RepositoryName,
        event_type: &EventType,
        client_payload: &serde_json::Value,
    ) -> Result<()> {
        validate_client_payload(client_payload)?;
        let _lock = self.lock().await?;
        let mut all: Vec<Dispatch> = self.read_json("dispatches.json").await?;
        all.push(Dispatch {
            repo: repo.clone(),
            event_type: event_type.clone(),
            client_payload: client_payload.clone(),
        });
        self.write_json("dispatches.json", &all).await
    }

    /// Locally nothing runs workflows: always `Ok(None)` (dispatches are recorded, see
    /// [`LocalGitForge::dispatches`]).
    async fn find_workflow_run(
        &self,
        _repo: &RepositoryName,
        _correlation_id: &RequestId,
    ) -> Result<Option<WorkflowRun>> {
        Ok(None)
    }
}
