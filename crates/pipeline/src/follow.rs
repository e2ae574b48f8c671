//! Following a request to its end from the requester's side (`mfe dispatch --wait`, and any
//! tool that sent a request): read the statuses of the request's deployment (the one the
//! requester created before dispatching, or, when its id is not known, the one whose payload
//! names the request id on the requester's commit) until one is final.
//!
//! [`verdict`] is the pure rule (which statuses end the wait, and how); [`Backoff`] the pure
//! schedule of polls; [`follow_deployment`] polls a [`Requester`] under a time budget and
//! reports each step to an observer, so a binary only prints.
//!
//! # The API budget
//!
//! A job's `GITHUB_TOKEN` may make 1,000 requests per hour per repository, shared by every job
//! of the MFE repository; twenty requests waiting at once must fit. Two things make them fit:
//!
//! - **Conditional requests.** The GitHub adapter sends `If-None-Match` with the `ETag` of the
//!   last answer to the same URL; GitHub answers `304 Not Modified` while nothing changed, and
//!   a `304` does not count against the primary rate limit. With the deployment id known, a
//!   poll is one `GET deployments/{id}/statuses`, so a waiter spends one counted request for its
//!   first poll and one per status posted afterwards; every other poll is a free `304`.
//! - **Backoff.** Polls start `interval` apart (`--interval`, default 5 s) and, while nothing
//!   changes, each wait is 1.5 times the last, up to [`MAX_INTERVAL`] (30 s; or `interval` if
//!   that is longer); a new status resets it to `interval`. A final status ends the wait at the
//!   poll that sees it, so the requester is told at most one wait (at most 30 s) after it is
//!   posted; only the overall `--timeout` yields [`Outcome::TimedOut`].
//!
//! Worst case per waiter-hour with nothing changing ([`polls_within`]): 123 polls at a 5 s
//! base and 30 s cap (5, 7.5, 11.25, 16.9, 25.3 s, then every 30 s), all `304`s but the first.
//! Counted requests per request followed: its first poll plus one per status (a deploy posts
//! about five: queued, in progress, waiting for approval, in progress, success), plus the
//! deployment `mfe dispatch` creates: under ten. Twenty concurrent waiters: under 200 counted
//! requests an hour against the 1,000 allowed. Counting the `304`s as well (a server that
//! charged them) it would be 20 x 123 = 2,460: the budget relies on conditional requests, and
//! [`FollowReport::api`] shows what a waiter actually spent.

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

impl Outcome {
    /// `mfe dispatch --wait`'s exit code (0 deployed, 1 failed, 2 unauthorized, 3 timed out)
    /// and the word its last line starts with.
    pub fn exit(self) -> (u8, &'static str) {
        match self {
            Outcome::Deployed => (0, "deployed"),
            Outcome::Failed => (1, "failed"),
            Outcome::Unauthorized => (2, "error"),
            Outcome::TimedOut => (3, "timeout"),
        }
    }
}

/// GitHub API requests made on the requester's side (filled by the caller from the adapter's
/// counters: `GithubForge::calls` and `GithubForge::not_modified`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ApiUse {
    /// HTTP requests sent (retries included).
    pub requests: u64,
    /// Of those, answered `304 Not Modified` (free on GitHub's rate limit).
    pub not_modified: u64,
}

impl ApiUse {
    /// What was spent between `before` and `self` (two readings of the same counters).
    #[must_use]
    pub fn since(self, before: ApiUse) -> ApiUse {
        ApiUse {
            requests: self.requests.saturating_sub(before.requests),
            not_modified: self.not_modified.saturating_sub(before.not_modified),
        }
    }

    /// Requests that count against the rate limit.
    pub fn counted(self) -> u64 {
        self.requests.saturating_sub(self.not_modified)
    }
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
    /// Polls made.
    pub polls: u32,
    /// GitHub API requests spent (zero until the caller fills it: see [`ApiUse`]).
    pub api: ApiUse,
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
        if self.api.requests > 0 {
            rows.push((
                "GitHub API",
                format!(
                    "{} requests, {} not modified (free)",
                    self.api.requests, self.api.not_modified
                ),
            ));
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
    /// Between polls at first and after each change; longer while nothing changes, up to
    /// [`MAX_INTERVAL`] (see [`Backoff`]).
    pub interval: Duration,
}

/// The longest wait between two polls while nothing changes (unless `interval` is longer).
pub const MAX_INTERVAL: Duration = Duration::from_secs(30);

/// The schedule of polls: `base` apart after a change, 1.5 times longer after each poll that
/// saw nothing new, never more than `cap`. Pure: [`Backoff::after_poll`] says how long to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    current: Duration,
}

impl Backoff {
    /// The schedule of `settings`: its interval, capped at [`MAX_INTERVAL`] (or the interval,
    /// if longer).
    pub fn new(settings: &FollowSettings) -> Self {
        Self::with_cap(settings.interval, MAX_INTERVAL)
    }

    /// `base` apart at first, never more than `cap` (or `base`, if longer).
    pub fn with_cap(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap: cap.max(base),
            current: base,
        }
    }

    /// The wait after a poll: `base` when it saw something new (the first poll always does),
    /// otherwise 1.5 times the last wait, up to the cap.
    pub fn after_poll(&mut self, changed: bool) -> Duration {
        self.current = if changed {
            self.base
        } else {
            // Never zero: a zero base still backs off.
            (self.current * 3 / 2)
                .max(Duration::from_millis(1))
                .min(self.cap)
        };
        self.current
    }
}

/// How many polls the schedule makes within `horizon` when nothing ever changes after the
/// first (the worst case of a waiter's requests: `polls_within(5 s, 30 s, 1 h)` is 123).
pub fn polls_within(base: Duration, cap: Duration, horizon: Duration) -> u64 {
    let mut backoff = Backoff::with_cap(base, cap);
    let (mut at, mut polls) = (Duration::ZERO, 0u64);
    let mut changed = true;
    while at <= horizon {
        polls += 1;
        at += backoff.after_poll(changed);
        changed = false;
    }
    polls
}

/// Whether `statuses` (newest first) end the wait, and how, by the newest final status:
/// success is deployed; failure and error are failed; inactive is deployed if the request had
/// gone live before (a newer deploy replaced it), else failed (superseded before it went
/// live); no final status waits. A non-final status newer than a final one does not reopen the
/// request: it is a late write that lost a race (found by the fleet simulation: `process`'s
/// `queued`, throttled, landed after the deploy's `success`).
pub fn verdict(statuses: &[DeploymentStatus]) -> Option<Outcome> {
    let newest = statuses.iter().find(|s| s.state.is_terminal())?;
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
/// `observe` each step. With `deployment` known (the requester created it), each poll is one
/// read of its statuses; otherwise the deployments of the request's commit are listed until
/// one names the request. Polls follow [`Backoff`]; a final status ends the wait at the poll
/// that sees it.
pub async fn follow_deployment(
    requester: &dyn Requester,
    request: &DeployRequest,
    deployment: Option<u64>,
    settings: FollowSettings,
    observe: &mut (dyn FnMut(Step<'_>) + Send),
) -> FollowReport {
    let started = Instant::now();
    let mut report = FollowReport {
        outcome: Outcome::TimedOut,
        deployment,
        last: None,
        message: String::new(),
        polls: 0,
        api: ApiUse::default(),
    };
    let mut backoff = Backoff::new(&settings);
    let mut printed = 0;
    let mut first = true;
    loop {
        report.polls += 1;
        let found_before = report.deployment.is_some();
        let mut changed = std::mem::take(&mut first);
        let mut hint = None;
        match poll(requester, request, &mut report, observe).await {
            Ok(statuses) => {
                changed |= report.deployment.is_some() != found_before;
                let seen = printed;
                for status in statuses.iter().rev().filter(|s| s.id > seen) {
                    printed = status.id;
                    changed = true;
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
            Err(e) => {
                if let gitops_gh_pr::Error::Throttled { retry_after } = &e {
                    hint = *retry_after;
                }
                observe(Step::PollFailed(&e));
            }
        }
        let wait = backoff.after_poll(changed).max(hint.unwrap_or_default());
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
        tokio::time::sleep(wait.min(remaining)).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(states: &[DeploymentState]) -> Vec<DeploymentStatus> {
        states
            .iter()
            .zip(1..)
            .map(|(state, id)| DeploymentStatus {
                id,
                state: *state,
                description: None,
                log_url: None,
                environment_url: None,
            })
            .collect()
    }

    #[test]
    fn the_newest_final_status_decides_even_under_a_late_queued() {
        use DeploymentState::{Failure, InProgress, Inactive, Queued, Success};
        assert_eq!(verdict(&statuses(&[Queued])), None);
        assert_eq!(verdict(&statuses(&[InProgress, Queued])), None);
        assert_eq!(
            verdict(&statuses(&[Queued, Success, Queued])),
            Some(Outcome::Deployed),
            "a late queued never buries success"
        );
        assert_eq!(
            verdict(&statuses(&[Queued, Failure, Queued])),
            Some(Outcome::Failed)
        );
        assert_eq!(
            verdict(&statuses(&[Inactive, Success, Queued])),
            Some(Outcome::Deployed)
        );
        assert_eq!(
            verdict(&statuses(&[Queued, Inactive, Queued])),
            Some(Outcome::Failed)
        );
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn polls_back_off_while_nothing_changes_and_reset_on_a_change() {
        let mut b = Backoff::new(&FollowSettings {
            timeout: S(3600),
            interval: S(5),
        });
        let waits: Vec<Duration> = [true, false, false, false, false, false, false]
            .into_iter()
            .map(|changed| b.after_poll(changed))
            .collect();
        assert_eq!(
            waits,
            [
                S(5),
                Duration::from_millis(7500),
                Duration::from_millis(11250),
                Duration::from_millis(16875),
                Duration::from_micros(25_312_500),
                S(30),
                S(30)
            ]
        );
        assert_eq!(b.after_poll(true), S(5), "a new status: back to the base");
        assert_eq!(b.after_poll(false), Duration::from_millis(7500));
        // An interval above the cap is kept as it is.
        let mut slow = Backoff::with_cap(S(60), MAX_INTERVAL);
        assert_eq!(slow.after_poll(false), S(60));
        // A zero interval still backs off.
        let mut zero = Backoff::with_cap(Duration::ZERO, S(1));
        assert!(zero.after_poll(false) > Duration::ZERO);
    }

    #[test]
    fn twenty_waiters_fit_a_github_token_budget() {
        let per_hour = polls_within(S(5), MAX_INTERVAL, S(3600));
        assert_eq!(per_hour, 123);
        // Without backoff it would be 720 polls an hour.
        assert_eq!(polls_within(S(5), S(5), S(3600)), 721);
        // Counted requests per request followed: the deployment, the first poll, one per
        // status (a deploy through an approval posts five or so; allow ten).
        let counted_per_waiter = 1 + 1 + 10;
        assert!(20 * counted_per_waiter <= 1000);
        // Were the 304s charged, twenty waiters would not fit: the budget rests on them.
        assert!(20 * per_hour > 1000);
    }

    #[test]
    fn the_summary_states_the_api_use() {
        let request = DeployRequest::builder()
            .user("octocat")
            .mfe("checkout")
            .version("1.2.3")
            .environment("prod")
            .repository("acme/checkout")
            .git_ref("refs/heads/main")
            .sha("3f786850e387550fdab836ed7e6dc881de23001b")
            .build()
            .unwrap();
        let mut report = FollowReport {
            outcome: Outcome::Deployed,
            deployment: Some(7),
            last: None,
            message: String::new(),
            polls: 9,
            api: ApiUse::default(),
        };
        let gitops = RepositoryName::parse("acme/gitops").unwrap();
        let md = report.markdown(&gitops, &request, "https://github.com");
        assert!(!md.contains("GitHub API"), "{md}");
        report.api = ApiUse {
            requests: 12,
            not_modified: 8,
        }
        .since(ApiUse::default());
        let md = report.markdown(&gitops, &request, "https://github.com");
        assert!(
            md.contains("| GitHub API | 12 requests, 8 not modified (free) |"),
            "{md}"
        );
        assert_eq!(report.api.counted(), 4);
    }
}
