//! Metadata git does not hold (pull requests, comments, statuses, deployments, runs),
//! kept in memory and persisted as one JSON file under the data directory.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;

/// File name of the persisted metadata, directly under the data directory.
pub const STATE_FILE: &str = "fake-github-state.json";

/// A repository's metadata (its objects live in the bare repository).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RepoMeta {
    pub id: u64,
    pub owner: String,
    pub name: String,
    pub owner_is_org: bool,
    pub private: bool,
    pub description: Option<String>,
    pub default_branch: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pull {
    pub id: u64,
    pub number: u64,
    pub user: String,
    pub title: String,
    pub body: Option<String>,
    pub head_ref: String,
    pub base_ref: String,
    /// Head and base shas frozen when the PR was closed or merged.
    pub closed_head_sha: Option<String>,
    pub closed_base_sha: Option<String>,
    pub state: String,
    pub draft: bool,
    pub merged: bool,
    pub merged_by: Option<String>,
    pub merge_commit_sha: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub closed_at: Option<i64>,
    pub merged_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Review {
    pub id: u64,
    pub pull: u64,
    pub user: String,
    pub body: String,
    pub state: String,
    pub commit_id: String,
    pub submitted_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comment {
    pub id: u64,
    pub issue: u64,
    pub user: String,
    pub body: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub id: u64,
    pub sha: String,
    pub state: String,
    pub context: String,
    pub description: Option<String>,
    pub target_url: Option<String>,
    pub creator: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckRun {
    pub id: u64,
    pub head_sha: String,
    pub name: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub details_url: Option<String>,
    pub external_id: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deployment {
    pub id: u64,
    pub sha: String,
    pub git_ref: String,
    pub task: String,
    pub environment: String,
    pub description: Option<String>,
    pub payload: Value,
    pub creator: String,
    pub transient_environment: bool,
    pub production_environment: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeploymentStatus {
    pub id: u64,
    pub deployment: u64,
    pub state: String,
    pub description: String,
    pub environment: String,
    pub environment_url: String,
    pub log_url: String,
    pub target_url: String,
    pub creator: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dispatch {
    pub event_type: String,
    pub client_payload: Value,
    pub sender: String,
    pub created_at: i64,
    pub run_id: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkflowRun {
    pub id: u64,
    pub run_number: u64,
    pub name: String,
    pub event: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub head_branch: String,
    pub head_sha: String,
    pub actor: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// The workflow file (`.github/workflows/x.yml`); empty for runs recorded without a runner.
    #[serde(default)]
    pub path: String,
    /// `run-name` as evaluated, else the workflow's name.
    #[serde(default)]
    pub display_title: String,
    /// The jobs the runner started (one per matrix combination).
    #[serde(default)]
    pub jobs: Vec<RunJob>,
    /// Deployments waiting for a reviewer (environments with required reviewers).
    #[serde(default)]
    pub pending: Vec<PendingDeployment>,
}

/// One job of a workflow run (`GET actions/runs/{id}/jobs`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunJob {
    pub id: u64,
    /// The job's key in the workflow (`jobs.<key>`).
    pub key: String,
    pub name: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub environment: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    /// The job summary (`$GITHUB_STEP_SUMMARY`) it wrote.
    #[serde(default)]
    pub summary: String,
}

/// A job waiting for an environment's required reviewers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingDeployment {
    pub job: u64,
    pub environment: String,
    pub environment_id: u64,
    pub reviewers: Vec<String>,
    pub prevent_self_review: bool,
    pub created_at: i64,
}

/// A deployment environment (`PUT /repos/{o}/{r}/environments/{name}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Environment {
    pub id: u64,
    pub name: String,
    /// Logins of the required reviewers (users only).
    pub reviewers: Vec<String>,
    pub prevent_self_review: bool,
    pub wait_timer: u64,
    /// `deployment_branch_policy`: `None` = any branch or tag may deploy.
    pub branch_policy: Option<BranchPolicy>,
    /// Environment variables (`vars` inside jobs of this environment).
    pub variables: BTreeMap<String, String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Which refs may deploy to an environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BranchPolicy {
    /// Only protected branches (fake-github has none, so nothing may deploy).
    pub protected_branches: bool,
    /// Custom policies: (`branch` | `tag`, name pattern).
    pub custom: Vec<(String, String)>,
}

/// A release (`POST /repos/{o}/{r}/releases`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Release {
    pub id: u64,
    pub tag_name: String,
    pub target_commitish: String,
    pub name: Option<String>,
    pub body: Option<String>,
    pub draft: bool,
    pub prerelease: bool,
    pub author: String,
    pub created_at: i64,
}

/// Everything kept per repository besides git objects.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RepoData {
    pub meta: Option<RepoMeta>,
    pub next_number: u64,
    pub pulls: Vec<Pull>,
    pub reviews: Vec<Review>,
    pub comments: Vec<Comment>,
    pub statuses: Vec<Status>,
    pub check_runs: Vec<CheckRun>,
    pub deployments: Vec<Deployment>,
    pub deployment_statuses: Vec<DeploymentStatus>,
    pub dispatches: Vec<Dispatch>,
    pub runs: Vec<WorkflowRun>,
    #[serde(default)]
    pub environments: Vec<Environment>,
    /// Repository variables (`vars`).
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub releases: Vec<Release>,
}

/// The whole persisted state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub next_id: u64,
    /// Keyed by `owner/name` in lower case.
    pub repos: BTreeMap<String, RepoData>,
}

impl State {
    /// A fresh id, unique across every kind of object.
    pub fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Loads the state file, or an empty state when there is none.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let path = dir.join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Io(format!("corrupt {}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self {
                next_id: 1000,
                ..Self::default()
            }),
            Err(e) => Err(Error::Io(e.to_string())),
        }
    }

    /// Writes the state file atomically (temp file + rename).
    pub fn save(&self, dir: &Path) -> Result<(), Error> {
        let bytes = serde_json::to_vec(self).map_err(|e| Error::Io(e.to_string()))?;
        let tmp = dir.join(format!("{STATE_FILE}.tmp"));
        std::fs::write(&tmp, bytes).map_err(|e| Error::Io(e.to_string()))?;
        std::fs::rename(&tmp, dir.join(STATE_FILE)).map_err(|e| Error::Io(e.to_string()))
    }
}
