//! Deterministic, minimal edits: one file per (environment, MFE), stable key order, two-space
//! indentation and a trailing newline, so a change is a one-line diff and applying the same
//! request twice yields identical bytes.

use gitops_event_model::DeployRequest;
use serde::Serialize;

use crate::model::Deployment;

/// A file to write, relative to the repository root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileChange {
    /// `/`-separated path.
    pub path: String,
    /// Full new content.
    pub content: String,
}

/// The desired-state record a request produces; the sequence is the previous one plus one.
pub fn deployment_for(
    request: &DeployRequest,
    rollback: bool,
    previous: Option<&Deployment>,
) -> Deployment {
    Deployment {
        mfe: request.mfe().to_string(),
        environment: request.environment().to_string(),
        version: request.version().to_string(),
        sha: request.sha().as_str().to_ascii_lowercase(),
        git_ref: request.git_ref().to_string(),
        repository: request.repository().to_string(),
        requested_by: request.user().to_string(),
        requested_at: request.timestamp().to_string(),
        request_id: request.id().to_string(),
        rollback,
        cache_invalidation_keys: request
            .cache_invalidation_keys()
            .iter()
            .map(ToString::to_string)
            .collect(),
        sequence: previous.map_or(0, |p| p.sequence).saturating_add(1),
    }
}

/// The canonical text of a desired-state file.
pub fn render_deployment(deployment: &Deployment) -> String {
    let mut text = serde_json::to_string_pretty(deployment).unwrap_or_default();
    text.push('\n');
    text
}
