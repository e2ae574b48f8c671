//! Process: a deploy request in, a proposed pull request (or a refusal) out, and the requester
//! told on its own commit (DESIGN.md 1 and 4.3 step 0).
//!
//! The newest intent wins: a request is judged against `main` *and* against what is pending for
//! its pair (the desired-state file on the pair's branch while unmerged), then proposed with
//! compare-and-swap on exactly the branch head it was judged against. A proposer that lost the
//! race re-reads and re-judges, so an older request can never silently replace a newer pending
//! one; the requester of a replaced request is told it was superseded, naming the newer one.

use std::sync::atomic::{AtomicU32, Ordering};

use gitops_event_model::{
    CommitSha, DeployRequest, DeploymentPayload, EnvironmentName, MfeName, Problem, Version,
};
use gitops_gh_pr::{DeploymentState, FileWrite, Forge, PairState, PullRequest, Requester};
use gitops_iac_config::{
    Code, Decision, Deployment, Intent, Outcome, Pending, Pin, Repository, deployment_path,
    evaluate_with_pending,
};
use serde::Serialize;
use time::OffsetDateTime;

use crate::Error;
use crate::lane::{Lane, LaneState};
use crate::origin::OriginCheck;
use crate::tell::{RequestRef, tell};
use gitops_retry::{Retry, RetryPolicy, retry};

/// The marker of the sticky plan comment on a deploy PR.
pub const PLAN_MARKER: &str = "gitops-plan";

/// What `process` did.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessReport {
    /// The policy's decision.
    #[serde(flatten)]
    pub decision: Decision,
    /// The pull request proposed or updated (accepted), or already holding this request
    /// (`already-pending`).
    pub pull_request: Option<u64>,
    /// Its URL.
    pub pull_request_url: Option<String>,
    /// The deployment created on the requester's commit, when a requester was given.
    pub deployment: Option<u64>,
    /// The pending request this one replaced (its requester was told it was superseded).
    pub superseded: Option<gitops_event_model::RequestId>,
}

impl ProcessReport {
    fn new(decision: Decision) -> Self {
        ProcessReport {
            decision,
            pull_request: None,
            pull_request_url: None,
            deployment: None,
            superseded: None,
        }
    }
}

/// Evaluates `request` (or reports its `problems`) against `repository` and what is pending for
/// its pair on `forge`, as of `at`; proposes the change when accepted (one PR per (env, MFE),
/// replaced by newer requests, compare-and-swap on the branch head judged) with a sticky plan
/// comment; tells the requester of a replaced pending request that it was superseded; and, when
/// a `requester` is given and the request is valid, posts on the request's deployment (see
/// [`OriginCheck`]: the one its requester made, proving its origin, or under `Trust` one created
/// here) the status `queued` (accepted, or already pending), `success` (noop: the version is
/// already desired) or `failure` (refused, with the reasons). Under `Verify`, a request whose
/// origin is not proven is refused (`unverified-origin`) before anything else, telling nobody.
#[allow(clippy::too_many_arguments)] // the use-case's inputs, each distinct
pub async fn process(
    repository: &Repository,
    base_sha: Option<&CommitSha>,
    request: Result<&DeployRequest, &[Problem]>,
    at: OffsetDateTime,
    forge: &dyn Forge,
    requester: Option<&dyn Requester>,
    origin: OriginCheck,
    metrics: &dyn gitops_metrics::MetricsSink,
) -> Result<ProcessReport, Error> {
    process_as(
        &Intent::Request,
        repository,
        base_sha,
        request,
        at,
        forge,
        requester,
        origin,
        metrics,
    )
    .await
}

/// [`process`] with an operator's `intent`: [`Intent::Override`] (`gitops process
/// --override-pin`) may change a pinned pair where the environment allows overrides, lifting
/// the pin. Anything but a request or an override is a configuration error (rollbacks go
/// through [`rollback`]).
#[allow(clippy::too_many_arguments)] // the use-case's inputs, each distinct
pub async fn process_as(
    intent: &Intent,
    repository: &Repository,
    base_sha: Option<&CommitSha>,
    request: Result<&DeployRequest, &[Problem]>,
    at: OffsetDateTime,
    forge: &dyn Forge,
    requester: Option<&dyn Requester>,
    origin: OriginCheck,
    metrics: &dyn gitops_metrics::MetricsSink,
) -> Result<ProcessReport, Error> {
    use gitops_metrics::{Outcome as Mo, Stage, StageClock};
    if intent.is_rollback() {
        return Err(Error::Config {
            reason: "a rollback is proposed by `gitops rollback`, not by processing a request"
                .to_owned(),
        });
    }
    let request = match request {
        Ok(request) => request,
        Err(problems) => return Ok(ProcessReport::new(Decision::invalid_payload(problems))),
    };
    // The proof of origin comes first: a request its claimed repository did not make is refused
    // and nobody is told (writing on a repository that never asked would be the forger's doing).
    let proven = match (origin, requester) {
        (OriginCheck::Trust, _) => None,
        (OriginCheck::Asserted(deployment), _) => Some(deployment),
        (OriginCheck::Verify, None) => {
            return Ok(ProcessReport::new(Decision::unverified_origin(
                "no forge to read the requester's deployments from",
            )));
        }
        (OriginCheck::Verify, Some(requester)) => {
            match crate::origin::prove(requester, request).await? {
                Ok(id) => Some(id),
                Err(why) => return Ok(ProcessReport::new(Decision::unverified_origin(why))),
            }
        }
    };
    let clock = StageClock::new(
        request.id().to_string(),
        request.environment().to_string(),
        request.mfe().to_string(),
        request.version().to_string(),
    );
    let timer = clock.start(Stage::PrOpened);
    let report =
        judge_and_propose(repository, request, intent, at, forge, requester, base_sha).await?;
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
    if report.decision.decision == Outcome::Accept
        && let Some(url) = &report.pull_request_url
    {
        crate::record(metrics, &timer.finish_with_detail(Mo::Success, url.clone()));
    }
    let mut report = report;
    if let Some(requester) = requester {
        report.deployment = Some(notify(requester, request, proven, &report).await?);
    }
    Ok(report)
}

/// Judges `request` against `repository` and the pair's pending change, and proposes it when
/// accepted; a proposal that lost the compare-and-swap to a concurrent proposer is re-read
/// (exactly), re-judged and retried under [`RetryPolicy::CONTENDED`].
async fn judge_and_propose(
    repository: &Repository,
    request: &DeployRequest,
    intent: &Intent,
    at: OffsetDateTime,
    forge: &dyn Forge,
    requester: Option<&dyn Requester>,
    base_sha: Option<&CommitSha>,
) -> Result<ProcessReport, Error> {
    // Identity and authorisation refusals need no forge call.
    let first = evaluate_with_pending(repository, request, intent, at, None);
    if first.decision == Outcome::Reject && first.reasons.iter().any(|r| is_identity(r.code)) {
        return Ok(ProcessReport::new(first));
    }
    let branch = format!("{}/{}", request.environment(), request.mfe());
    let policy = Lane::of(repository, request.environment(), request.mfe()).retry_policy();
    let (mut report, replaced, pr) = propose_contended_under(policy, &branch, |exact| {
        judge_once(repository, request, intent, at, forge, base_sha, exact)
    })
    .await?;
    if let (Some(replaced), Some(pr)) = (replaced, pr) {
        if let Some(requester) = requester {
            tell_superseded(requester, &replaced, request, &pr).await;
        }
        report.superseded = Some(replaced.request_id);
    }
    Ok(report)
}

/// Runs `round` (read the branch, judge, propose with compare-and-swap on the head read) until
/// it does not lose the race to a concurrent proposer (`Conflict`), under
/// [`RetryPolicy::CONTENDED`]; `round(exact)` is told whether to read exactly (every round after
/// the first). A race still lost is [`Error::Contended`] naming `what`.
pub(crate) async fn propose_contended<T, F, Fut>(what: &str, round: F) -> Result<T, Error>
where
    F: Fn(bool) -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    propose_contended_under(RetryPolicy::CONTENDED, what, round).await
}

/// [`propose_contended`] under `policy` ([`RetryPolicy::CROWDED`] for a batch, which every
/// request of its environment appends to).
pub(crate) async fn propose_contended_under<T, F, Fut>(
    policy: RetryPolicy,
    what: &str,
    round: F,
) -> Result<T, Error>
where
    F: Fn(bool) -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let attempts = AtomicU32::new(0);
    let attempt = || round(attempts.fetch_add(1, Ordering::Relaxed) > 0);
    retry(policy, attempt, |e: &Error| {
        if matches!(e, Error::Forge(gitops_gh_pr::Error::Conflict { .. })) {
            Retry::Backoff
        } else {
            Retry::Never
        }
    })
    .await
    .map_err(|e| match e {
        Error::Forge(gitops_gh_pr::Error::Conflict { reason }) => Error::Contended {
            reason: format!(
                "{what}: the branch kept moving under concurrent proposals ({reason}); retry"
            ),
        },
        e => e,
    })
}

/// One read-judge-propose round: the report, and when a proposal replaced another request's
/// pending change, that change and the pull request now holding this one.
async fn judge_once(
    repository: &Repository,
    request: &DeployRequest,
    intent: &Intent,
    at: OffsetDateTime,
    forge: &dyn Forge,
    base_sha: Option<&CommitSha>,
    exact: bool,
) -> Result<(ProcessReport, Option<Deployment>, Option<PullRequest>), Error> {
    let (env, mfe) = (request.environment(), request.mfe());
    let path = deployment_path(env, mfe);
    let lane = Lane::of(repository, env, mfe);
    let lane_state = lane.state(forge, &path, exact).await?;
    let state = &lane_state.state;
    let pending = pending_of(state);
    let mut decision = evaluate_with_pending(repository, request, intent, at, pending.as_ref());
    // Pending on the branch with no pull request (a proposal that pushed, then failed to open
    // it): judged against `main` alone and proposed again, which opens it (issue 18).
    if decision.codes().contains(&Code::AlreadyPending) && state.pull_request.is_none() {
        decision = evaluate_with_pending(repository, request, intent, at, None);
    }
    let mut report = ProcessReport::new(decision);
    match report.decision.decision {
        Outcome::Reject => return Ok((report, None, None)),
        Outcome::Noop => {
            if report.decision.codes().contains(&Code::AlreadyPending)
                && let Some(pr) = &state.pull_request
            {
                report.pull_request = Some(pr.number);
                report.pull_request_url = Some(pr.url.clone());
            }
            return Ok((report, None, None));
        }
        Outcome::Accept => {}
    }
    let pr = propose(
        forge,
        request,
        &report.decision,
        intent.is_rollback(),
        base_sha,
        (&lane, &lane_state),
    )
    .await?;
    report.pull_request = Some(pr.number);
    report.pull_request_url = Some(pr.url.clone());
    let replaced = pending
        .map(|p| p.deployment)
        .filter(|d| d.request_id != *request.id());
    Ok((report, replaced, Some(pr)))
}

/// Whether `code` is an identity or authorisation refusal (judged without the forge).
fn is_identity(code: Code) -> bool {
    matches!(
        code,
        Code::InvalidPayload
            | Code::UnknownMfe
            | Code::UnknownEnvironment
            | Code::RepositoryMismatch
            | Code::EnvironmentNotAllowed
            | Code::InvalidationOutsidePrefix
    )
}

/// The pending desired state of the pair, when the forge reports one that parses. A pending
/// file that does not parse (edited by hand on the branch) is not an intent we can order
/// against: it is replaced like any stale branch content.
pub(crate) fn pending_of(state: &PairState) -> Option<Pending> {
    let bytes = state.pending.as_ref()?;
    match serde_json::from_slice::<Deployment>(bytes) {
        Ok(deployment) => Some(Pending {
            deployment,
            reference: state.pull_request.as_ref().map_or_else(
                || "the pending change".to_owned(),
                |pr| format!("pull request #{}", pr.number),
            ),
        }),
        Err(error) => {
            tracing::warn!(%error, "the pending desired-state file does not parse; it will be replaced");
            None
        }
    }
}

async fn propose(
    forge: &dyn Forge,
    request: &DeployRequest,
    decision: &Decision,
    rollback: bool,
    base_sha: Option<&CommitSha>,
    (lane, state): (&Lane, &LaneState),
) -> Result<PullRequest, Error> {
    let previous = decision
        .previous
        .as_ref()
        .map_or_else(|| "nothing".to_owned(), |d| d.version.to_string());
    let verb = if rollback { "Roll back" } else { "Deploy" };
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
    let pr = forge
        .propose(&lane.change(state, title, body, writes, base_sha))
        .await?;
    if lane.is_batch() {
        // A batch's plan is written by the merge check, once per batch.
        return Ok(pr);
    }
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

/// Tells the requester of a replaced pending request that a newer one superseded it. Never
/// fails the new proposal: the replacement already happened.
async fn tell_superseded(
    requester: &dyn Requester,
    replaced: &Deployment,
    newer: &DeployRequest,
    pr: &PullRequest,
) {
    let description = format!(
        "superseded by request {} ({} {}) in pull request #{}",
        newer.id(),
        newer.mfe(),
        newer.version(),
        pr.number
    );
    tell(
        requester,
        &RequestRef::of_deployment(replaced),
        DeploymentState::Inactive,
        &description,
        Some(&pr.url),
        None,
    )
    .await;
}

/// Posts the decision on the request's deployment: the `proven` one the requester created
/// ([`OriginCheck::Verify`]); or, trusted, the one `process` creates on the requester's commit
/// (for a replay of a request already pending, the one it has, so a redelivery never makes a
/// second).
async fn notify(
    requester: &dyn Requester,
    request: &DeployRequest,
    proven: Option<u64>,
    report: &ProcessReport,
) -> Result<u64, Error> {
    let repo = request.repository();
    let replay = report.decision.codes().contains(&Code::AlreadyPending);
    let existing = if proven.is_some() {
        proven
    } else if replay {
        requester
            .list_deployments(repo, request.sha(), request.environment())
            .await?
            .into_iter()
            .find(|d| d.payload.as_ref().is_some_and(|p| p.id == *request.id()))
            .map(|d| d.id)
    } else {
        None
    };
    let deployment = match existing {
        Some(id) => id,
        None => {
            requester
                .create_deployment(
                    repo,
                    request.sha(),
                    request.environment(),
                    &DeploymentPayload::of(request),
                    &format!("{} {}", request.mfe(), request.version()),
                )
                .await?
        }
    };
    let reasons: Vec<String> = report
        .decision
        .reasons
        .iter()
        .map(|r| format!("{}: {}", r.code, r.message))
        .collect();
    let (state, description) = match (report.decision.decision, report.pull_request) {
        (Outcome::Accept, Some(number)) => (
            DeploymentState::Queued,
            format!("accepted; pull request #{number}"),
        ),
        (Outcome::Accept, None) => (DeploymentState::Queued, "accepted".to_owned()),
        (Outcome::Noop, _) if replay => (DeploymentState::Queued, reasons.join("; ")),
        (Outcome::Noop, _) => (DeploymentState::Success, reasons.join("; ")),
        (Outcome::Reject, _) => (
            DeploymentState::Failure,
            format!("refused: {}", reasons.join("; ")),
        ),
    };
    requester
        .create_deployment_status(
            repo,
            deployment,
            state,
            &crate::tell::clip(&description),
            report.pull_request_url.as_deref(),
            None,
        )
        .await?;
    Ok(deployment)
}

/// The request a rollback stands for: the current desired state of (env, MFE) at `version`,
/// with a fresh id, requested by `user` now.
pub fn rollback_request(
    current: &Deployment,
    version: &Version,
    user: &str,
) -> Result<DeployRequest, Error> {
    gitops_iac_config::request_builder_of(current)
        .user(user)
        .version(version.to_string())
        .build()
        .map_err(|e| Error::Config {
            reason: format!("cannot build the rollback request: {e}"),
        })
}

/// The version a rollback without `--to` returns to: the newest version in the registry's
/// history of the pair that differs from `current`.
pub fn previous_version(
    history: &[gitops_db_registry::Entry],
    current: &Version,
) -> Option<Version> {
    history
        .iter()
        .rev()
        .find(|e| e.version != *current)
        .map(|e| e.version.clone())
}

/// What `gitops rollback` asks for.
#[derive(Debug, Clone)]
pub struct RollbackAsk {
    /// The environment.
    pub environment: EnvironmentName,
    /// The MFE.
    pub mfe: MfeName,
    /// The version to return to; `None`: the newest other version in the registry's history.
    pub to: Option<Version>,
    /// Who asks (a GitHub login).
    pub user: String,
    /// As of when the policy judges.
    pub at: OffsetDateTime,
    /// Pin the pair at the rolled-back version (`gitops rollback` does unless `--no-pin`), with
    /// this reason (empty: one naming both versions); `None`: no pin (and any pin the pair had
    /// is lifted).
    pub pin: Option<String>,
}

/// Proposes the rollback `ask` describes: a request built from the current desired state of the
/// pair at the target version, through [`rollback`].
pub async fn rollback_to(
    repository: &Repository,
    backends: &dyn crate::Backends,
    ask: &RollbackAsk,
    forge: &dyn Forge,
    requester: Option<&dyn Requester>,
) -> Result<ProcessReport, Error> {
    let (environment, mfe) = (&ask.environment, &ask.mfe);
    let (Some(env), Some(current)) = (
        repository.environment(environment),
        repository.deployment(environment, mfe),
    ) else {
        return Err(Error::Config {
            reason: format!(
                "nothing is desired for {mfe} in {environment}: there is no {}",
                deployment_path(environment, mfe)
            ),
        });
    };
    let version = if let Some(version) = &ask.to {
        version.clone()
    } else {
        let history = backends
            .targets(env)
            .await?
            .registry
            .history(environment, mfe)
            .await?;
        previous_version(&history, &current.version).ok_or_else(|| Error::Config {
            reason: format!(
                "the registry has no earlier version of {mfe} in {environment}; give --to VERSION"
            ),
        })?
    };
    let request = rollback_request(current, &version, &ask.user)?;
    let pin = ask.pin.as_ref().map(|reason| Pin {
        by: request.user().clone(),
        // Whole seconds: the file is read by people.
        at: ask.at.replace_nanosecond(0).unwrap_or(ask.at),
        reason: if reason.trim().is_empty() {
            format!("rolled back from {} to {version}", current.version)
        } else {
            reason.clone()
        },
    });
    rollback(repository, &request, pin, ask.at, forge, requester).await
}

/// Proposes a rollback of (env, MFE) to `version` the GitOps way: a PR setting that version with
/// `rollback: true`, through the normal checks, merge and deploy. A rollback is the newest
/// intent: it replaces whatever is pending for the pair (whose requester, when `requester` is
/// given, is told it was superseded) and takes precedence over a pin. The desired state it
/// writes carries `pin` (none: the pair is not pinned afterwards).
pub async fn rollback(
    repository: &Repository,
    request: &DeployRequest,
    pin: Option<Pin>,
    at: OffsetDateTime,
    forge: &dyn Forge,
    requester: Option<&dyn Requester>,
) -> Result<ProcessReport, Error> {
    let intent = Intent::Rollback { pin };
    judge_and_propose(repository, request, &intent, at, forge, requester, None).await
}
