//! Process: a deploy request in, a proposed pull request (or a refusal) out, and the requester
//! told on its own commit (DESIGN.md 1, the seed's first step).

use gitops_event_model::{DeployRequest, Problem};
use gitops_gh_pr::{Change, DeploymentState, FileWrite, Forge, PullRequest, Requester};
use gitops_iac_config::{Decision, Outcome, Repository, evaluate};
use serde::Serialize;
use time::OffsetDateTime;

use crate::Error;

/// The marker of the sticky plan comment on a deploy PR.
pub const PLAN_MARKER: &str = "gitops-plan";

/// What `process` did.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessReport {
    /// The policy's decision.
    #[serde(flatten)]
    pub decision: Decision,
    /// The pull request proposed or updated, when accepted.
    pub pull_request: Option<u64>,
    /// Its URL.
    pub pull_request_url: Option<String>,
    /// The deployment created on the requester's commit, when a requester was given.
    pub deployment: Option<u64>,
}

/// Evaluates `request` (or reports its `problems`) against `repository` as of `at`, proposes the
/// change on `forge` when accepted (one PR per (env, MFE), updated by newer requests) with a
/// sticky plan comment, and, when a `requester` is given and the request is valid, creates a
/// deployment on the requester's commit with status `queued` (accepted), `success` (noop: the
/// version is already desired) or `failure` (refused, with the reasons).
pub async fn process(
    repository: &Repository,
    base_sha: Option<&str>,
    request: Result<&DeployRequest, &[Problem]>,
    at: OffsetDateTime,
    forge: &dyn Forge,
    requester: Option<&dyn Requester>,
    metrics: &dyn gitops_metrics::MetricsSink,
) -> Result<ProcessReport, Error> {
    use gitops_metrics::{Outcome as Mo, Stage, StageClock};
    let decision = match request {
        Ok(request) => evaluate(repository, request, false, at),
        Err(problems) => Decision::invalid_payload(problems),
    };
    let mut report = ProcessReport {
        decision,
        pull_request: None,
        pull_request_url: None,
        deployment: None,
    };
    let Ok(request) = request else {
        return Ok(report);
    };
    let clock = StageClock::new(
        request.id().to_string(),
        request.environment().to_string(),
        request.mfe().to_string(),
        request.version().to_string(),
    );
    let received = match report.decision.decision {
        Outcome::Accept => Mo::Success,
        Outcome::Noop => Mo::Noop,
        Outcome::Reject => Mo::Refused,
    };
    let codes: Vec<&str> = report
        .decision
        .reasons
        .iter()
        .map(|r| r.code.as_str())
        .collect();
    crate::record(
        metrics,
        &clock
            .event(Stage::Received, received)
            .with_detail(codes.join(" ")),
    );
    if report.decision.decision == Outcome::Accept {
        let timer = clock.start(Stage::PrOpened);
        let pr = propose(forge, request, &report.decision, base_sha).await?;
        crate::record(
            metrics,
            &timer.finish_with_detail(Mo::Success, pr.url.clone()),
        );
        report.pull_request = Some(pr.number);
        report.pull_request_url = Some(pr.url.clone());
    }
    if let Some(requester) = requester {
        report.deployment = Some(notify(requester, request, &report).await?);
    }
    Ok(report)
}

async fn propose(
    forge: &dyn Forge,
    request: &DeployRequest,
    decision: &Decision,
    base_sha: Option<&str>,
) -> Result<PullRequest, Error> {
    let previous = decision
        .previous
        .as_ref()
        .map_or_else(|| "nothing".to_owned(), |d| d.version.clone());
    let verb = if decision
        .changes
        .iter()
        .any(|c| c.content.contains("\"rollback\": true"))
    {
        "Roll back"
    } else {
        "Deploy"
    };
    let title = format!(
        "{verb} {} {} to {}",
        request.mfe(),
        request.version(),
        request.environment()
    );
    let body = format!(
        "Requested by @{} from {}@{} ({}).\n\nRequest id: `{}`",
        request.user(),
        request.repository(),
        request.sha(),
        request.git_ref(),
        request.id()
    );
    let writes = decision
        .changes
        .iter()
        .map(|c| FileWrite::put(c.path.clone(), c.content.clone().into_bytes()))
        .collect();
    let mut change = Change::new(
        request.environment().as_str(),
        request.mfe().as_str(),
        title,
        body,
        writes,
    );
    if let Some(base) = base_sha {
        change = change.on_base(base, None);
    }
    let pr = forge.propose(&change).await?;
    let mut plan = format!(
        "### Deploy plan\n\n| | |\n|---|---|\n| MFE | `{}` |\n| environment | `{}` |\n| version | {previous} -> **{}** |\n| request | `{}` by @{} |\n",
        request.mfe(),
        request.environment(),
        request.version(),
        request.id(),
        request.user()
    );
    let mut paths: Vec<String> = vec!["/importmap.json".to_owned()];
    paths.extend(
        request
            .cache_invalidation_keys()
            .iter()
            .map(ToString::to_string),
    );
    let listed: Vec<String> = paths.iter().map(|p| format!("`{p}`")).collect();
    plan.push_str("\nCDN paths to invalidate after deploy: the MFE's entry-point aliases and ");
    plan.push_str(&listed.join(", "));
    plan.push_str(".\n");
    forge.upsert_comment(pr.number, PLAN_MARKER, &plan).await?;
    Ok(pr)
}

async fn notify(
    requester: &dyn Requester,
    request: &DeployRequest,
    report: &ProcessReport,
) -> Result<u64, Error> {
    let payload = serde_json::json!({
        "id": request.id().as_str(),
        "mfe": request.mfe().as_str(),
        "version": request.version().to_string(),
    });
    let repo = request.repository().as_str();
    let deployment = requester
        .create_deployment(
            repo,
            request.sha().as_str(),
            request.environment().as_str(),
            &payload,
            &format!("{} {}", request.mfe(), request.version()),
        )
        .await?;
    let reasons: Vec<String> = report
        .decision
        .reasons
        .iter()
        .map(|r| format!("{}: {}", r.code, r.message))
        .collect();
    let (state, description) = match report.decision.decision {
        Outcome::Accept => (
            DeploymentState::Queued,
            format!(
                "accepted; pull request #{}",
                report.pull_request.unwrap_or_default()
            ),
        ),
        Outcome::Noop => (DeploymentState::Success, reasons.join("; ")),
        Outcome::Reject => (
            DeploymentState::Failure,
            format!("refused: {}", reasons.join("; ")),
        ),
    };
    // GitHub caps the description at 140 characters.
    let description: String = description.chars().take(140).collect();
    requester
        .create_deployment_status(
            repo,
            deployment,
            state,
            &description,
            report.pull_request_url.as_deref(),
            None,
        )
        .await?;
    Ok(deployment)
}

/// The request a rollback stands for: the current desired state of (env, MFE) at `version`,
/// with a fresh id, requested by `user` now.
pub fn rollback_request(
    current: &gitops_iac_config::Deployment,
    version: &str,
    user: &str,
) -> Result<DeployRequest, Error> {
    DeployRequest::builder()
        .user(user)
        .mfe(current.mfe.clone())
        .version(version)
        .environment(current.environment.clone())
        .repository(current.repository.clone())
        .git_ref(current.git_ref.clone())
        .sha(current.sha.clone())
        .build()
        .map_err(|e| Error::Config {
            reason: format!("cannot build the rollback request: {e}"),
        })
}

/// The version a rollback without `--to` returns to: the newest version in the registry's
/// history of the pair that differs from `current`.
pub fn previous_version(history: &[gitops_db_registry::Entry], current: &str) -> Option<String> {
    history
        .iter()
        .rev()
        .find(|e| e.version != current)
        .map(|e| e.version.clone())
}

/// Proposes a rollback of (env, MFE) to `version` the GitOps way: a PR setting that version with
/// `rollback: true`, through the normal checks, merge and deploy.
pub async fn rollback(
    repository: &Repository,
    request: &DeployRequest,
    at: OffsetDateTime,
    forge: &dyn Forge,
) -> Result<ProcessReport, Error> {
    let decision = evaluate(repository, request, true, at);
    let mut report = ProcessReport {
        decision,
        pull_request: None,
        pull_request_url: None,
        deployment: None,
    };
    if report.decision.decision == Outcome::Accept {
        let pr = propose(forge, request, &report.decision, None).await?;
        report.pull_request = Some(pr.number);
        report.pull_request_url = Some(pr.url);
    }
    Ok(report)
}
