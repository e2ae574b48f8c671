//! Commit statuses and check runs.

use std::collections::BTreeMap;

use gitops_event_model::CommitSha;
use http::Method;
use serde::Deserialize;
use serde_json::json;

use super::GithubForge;
use super::transport::nullable;
use crate::{
    CheckContext, CheckState, CombinedChecks, Result, StatusState, validate_context,
    validate_description,
};

/// `GET commits/<sha>/status` (the latest status per context first).
#[derive(Deserialize)]
struct CombinedStatus {
    statuses: Vec<WireStatus>,
}

#[derive(Deserialize)]
struct WireStatus {
    context: String,
    state: StatusState,
    #[serde(deserialize_with = "nullable")]
    description: Option<String>,
    #[serde(deserialize_with = "nullable")]
    target_url: Option<String>,
}

/// `GET commits/<sha>/check-runs`.
#[derive(Deserialize)]
struct CheckRuns {
    check_runs: Vec<WireCheckRun>,
}

#[derive(Deserialize)]
struct WireCheckRun {
    name: String,
    status: String,
    #[serde(deserialize_with = "nullable")]
    conclusion: Option<String>,
    output: WireOutput,
    #[serde(deserialize_with = "nullable")]
    details_url: Option<String>,
    #[serde(deserialize_with = "nullable")]
    html_url: Option<String>,
}

#[derive(Deserialize)]
struct WireOutput {
    #[serde(deserialize_with = "nullable")]
    title: Option<String>,
}

impl WireCheckRun {
    fn state(&self) -> CheckState {
        if self.status != "completed" {
            return CheckState::Pending;
        }
        match self.conclusion.as_deref() {
            Some("success" | "neutral" | "skipped") => CheckState::Success,
            _ => CheckState::Failure,
        }
    }
}

impl GithubForge {
    pub(super) async fn checks_of(&self, sha: &CommitSha) -> Result<CombinedChecks> {
        let statuses = self
            .pages(
                &self.path(&format!("commits/{sha}/status")),
                |c: CombinedStatus| c.statuses,
            )
            .await?;
        let mut contexts: BTreeMap<String, CheckContext> = BTreeMap::new();
        for st in statuses {
            // The API lists the latest status per context first.
            contexts.entry(st.context.clone()).or_insert(CheckContext {
                name: st.context,
                state: st.state.into(),
                description: st.description,
                target_url: st.target_url,
            });
        }
        let runs = self
            .pages(
                &self.path(&format!("commits/{sha}/check-runs")),
                |r: CheckRuns| r.check_runs,
            )
            .await?;
        for run in runs {
            let state = run.state();
            contexts.entry(run.name.clone()).or_insert(CheckContext {
                name: run.name,
                state,
                description: run.output.title,
                target_url: run.details_url.or(run.html_url),
            });
        }
        Ok(CombinedChecks::fold(
            sha.clone(),
            contexts.into_values().collect(),
        ))
    }

    pub(super) async fn post_status(
        &self,
        sha: &CommitSha,
        context: &str,
        state: StatusState,
        description: &str,
        target_url: Option<&str>,
    ) -> Result<()> {
        validate_context(context)?;
        validate_description(description)?;
        let mut body =
            json!({"state": state.as_str(), "context": context, "description": description});
        if let Some(url) = target_url {
            body["target_url"] = json!(url);
        }
        self.write(Method::POST, &self.path(&format!("statuses/{sha}")), &body)
            .await
    }
}
