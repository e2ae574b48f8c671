//! Following a request to its end from the requester's side (`mfe dispatch --wait`, and any
//! tool that sent a request): find the deployment the GitOps side created for the request id on
//! the requester's commit, and read its statuses until one is final.
//!
//! [`verdict`] is the pure rule (which statuses end the wait, and how); [`follow`] polls a
//! [`Requester`] under a time budget and reports each step to an observer, so a binary only
//! prints.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use gitops_event_model::{DeployRequest, RepositoryName};
use gitops_gh_pr::{DeploymentState, DeploymentStatus, Requester};
use serde::Serialize;

/// How following a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The version is live.
    Deployed,
    /// Refused, failed, or superseded before it went live.
    Failed,
    /// No final status within the time allowed.
    TimedOut,
    /// The deployments cannot be read with the credentials given.
    Unauthorized,
}

/// What following a request saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FollowReport {
    /// How it ended.
    pub outcome: Outcome,
    /// The deployment found for the request, if any.
    pub deployment: Option<u64>,
    /// The newest status seen, if any.
    pub last: Option<DeploymentStatus>,
    /// Why it ended, for people (empty on success).
    pub message: String,
}

impl FollowReport {
    /// The outcome as a job-summary section: the request, links to the GitOps repository's
    /// runs, the commit and the deployment on `server` (`https://github.com` or a GitHub
    /// Enterprise Server), the last status and the reason.
    pub fn markdown(
        &self,
        gitops_repo: &RepositoryName,
        request: &DeployRequest,
        server: &str,
    ) -> String {
        let cell = |text: &str| text.replace(['\n', '\r'], " ").replace('|', "\\|");
        let outcome = match self.outcome {
            Outcome::Deployed => "deployed",
            Outcome::Failed => "failed",
            Outcome::TimedOut => "timed out",
            Outcome::Unauthorized => "could not be followed",
        };
        let repo = request.repository();
        let mut rows = vec![
            ("request id", format!("`{}`", request.id())),
            (
                "GitOps repository",
                format!("[{gitops_repo}]({server}/{gitops_repo}/actions)"),
            ),
            (
                "commit",
                format!(
                    "[`{}`]({server}/{repo}/commit/{})",
                    &request.sha().as_str()[..12],
                    request.sha()
                ),
            ),
        ];
        if let Some(d) = self.deployment {
            rows.push((
                "deployment",
                format!(
                    "[{d}]({server}/{repo}/deployments/{})",
                    request.environment()
                ),
            ));
        }
        if let Some(status) = &self.last {
            let text = status.description.as_deref().unwrap_or("");
            rows.push((
                "last status",
                format!("{}: {}", state_text(status.state), cell(text)),
            ));
            if let Some(url) = &status.log_url {
                rows.push(("logs", format!("[deploy run]({})", cell(url))));
            }
            if let Some(url) = &status.environment_url {
                rows.push((
                    "environment",
                    format!("[{}]({})", request.environment(), cell(url)),
                ));
            }
        }
        if !self.message.is_empty() {
            rows.push(("reason", cell(&self.message)));
        }
        let mut md = format!(
            "### Deploy {} {} to {}: {outcome}\n\n| | |\n|---|---|\n",
            request.mfe(),
            request.version(),
            request.environment()
        );
        for (key, value) in rows {
            let _ = writeln!(md, "| {key} | {value} |");
        }
        md.push('\n');
        md
    }
}

/// A deployment state as people read it (`in progress`, `success`, ...).
pub fn state_text(state: DeploymentState) -> String {
    state.as_str().replace('_', " ")
}

/// One step worth telling, in order.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// The GitOps side created the request's deployment.
    DeploymentFound(u64),
    /// A status not seen before, oldest first.
    Status(&'a DeploymentStatus),
    /// A poll failed; following goes on.
    PollFailed(&'a gitops_gh_pr::Error),
}

/// Polling settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowSettings {
    /// Give up after this long.
    pub timeout: Duration,
    /// Between polls.
    pub interval: Duration,
}

/// Whether `statuses` (newest first) end the wait, and how: success is deployed; failure and
/// error are failed; inactive is deployed if the request had gone live before (a newer deploy
/// replaced it), else failed (superseded before it went live); anything else waits.
pub fn verdict(statuses: &[DeploymentStatus]) -> Option<Outcome> {
    let newest = statuses.first()?;
    match newest.state {
        DeploymentState::Success => Some(Outcome::Deployed),
        DeploymentState::Failure | DeploymentState::Error => Some(Outcome::Failed),
        DeploymentState::Inactive => Some(
            if statuses.iter().any(|s| s.state == DeploymentState::Success) {
                Outcome::Deployed
            } else {
                Outcome::Failed
            },
        ),
        DeploymentState::Pending | DeploymentState::Queued | DeploymentState::InProgress => None,
    }
}

/// Follows `request` on `requester` until a final status or `settings.timeout`, telling
/// `observe` each step.
pub async fn follow(
    requester: &dyn Requester,
    request: &DeployRequest,
    settings: FollowSettings,
    observe: &mut (dyn FnMut(Step<'_>) + Send),
) -> FollowReport {
    let started = Instant::now();
    let mut report = FollowReport {
        outcome: Outcome::TimedOut,
        deployment: None,
        last: None,
        message: String::new(),
    };
    let mut printed = 0;
    loop {
        match poll(requester, request, &mut report, observe).await {
            Ok(statuses) => {
                let seen = printed;
                for status in statuses.iter().rev().filter(|s| s.id > seen) {
                    printed = status.id;
                    observe(Step::Status(status));
                }
                report.last = statuses.first().cloned();
                if let Some(outcome) = verdict(&statuses) {
                    report.outcome = outcome;
                    if outcome == Outcome::Failed {
                        report.message = match &report.last {
                            Some(s) if s.state == DeploymentState::Inactive => format!(
                                "superseded before it went live: {}",
                                s.description.as_deref().unwrap_or("a newer request")
                            ),
                            Some(s) => s
                                .description
                                .clone()
                                .unwrap_or_else(|| format!("the deploy ended with {:?}", s.state)),
                            None => String::new(),
                        };
                    }
                    return report;
                }
            }
            Err(gitops_gh_pr::Error::Unauthorized { message }) => {
                report.outcome = Outcome::Unauthorized;
                report.message = format!(
                    "unauthorized reading the deployments of {}: {message}",
                    request.repository()
                );
                return report;
            }
            Err(e) => observe(Step::PollFailed(&e)),
        }
        let Some(remaining) = settings
            .timeout
            .checked_sub(started.elapsed())
            .filter(|r| !r.is_zero())
        else {
            report.message = format!(
                "no final status after {}s (request {})",
                settings.timeout.as_secs(),
                request.id()
            );
            return report;
        };
        tokio::time::sleep(settings.interval.min(remaining)).await;
    }
}

/// The statuses of the request's deployment, newest first; empty while the GitOps side has not
/// created it.
async fn poll(
    requester: &dyn Requester,
    request: &DeployRequest,
    report: &mut FollowReport,
    observe: &mut (dyn FnMut(Step<'_>) + Send),
) -> Result<Vec<DeploymentStatus>, gitops_gh_pr::Error> {
    let deployment = if let Some(d) = report.deployment {
        d
    } else {
        let deployments = requester
            .list_deployments(request.repository(), request.sha(), request.environment())
            .await?;
        let Some(ours) = deployments
            .iter()
            .find(|d| d.payload.as_ref().is_some_and(|p| p.id == *request.id()))
        else {
            return Ok(Vec::new());
        };
        observe(Step::DeploymentFound(ours.id));
        report.deployment = Some(ours.id);
        ours.id
    };
    requester
        .deployment_statuses(request.repository(), deployment)
        .await
}
