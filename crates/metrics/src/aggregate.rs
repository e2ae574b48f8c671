//! DORA aggregates over recorded events: pure functions, no IO.
//!
//! # How events become deploys
//! A *deploy* is the set of events sharing (`request_id`, `environment`, `mfe`) that has at least
//! one deploy-phase event ([`Stage::is_deploy_phase`]); a re-run of a killed deploy carries the
//! same request id and so continues the same deploy. Its result:
//! - **failed** when its last *decisive* deploy-phase event (outcome `success` or `failure`, or
//!   stage `failed`) is a failure; its time is that event's `at`. A `reported` event is decisive
//!   only when no other stage is: failing to tell the requester about a deploy that went live
//!   is not a failed change;
//! - **succeeded** when that event is a success and the deploy has a successful `committed`
//!   event (the commit point: the version is live), or has no `committed` event at all and a
//!   successful `reported` one; its time is the first such event's `at`;
//! - otherwise **no change** (already live: `noop`/`skipped`; stale: `refused`), which counts
//!   neither as a deploy nor as a failure.
//!
//! A deploy is in the range when its time is in `[from, to)`.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::{Error, Outcome, Stage, StageEvent};

/// What to aggregate: one environment, optionally one MFE, over `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The environment.
    pub environment: String,
    /// Only this MFE, or every MFE of the environment.
    pub mfe: Option<String>,
    /// Start of the range (inclusive).
    pub from: OffsetDateTime,
    /// End of the range (exclusive).
    pub to: OffsetDateTime,
}

impl Query {
    /// Every MFE of `environment` over `[from, to)`.
    pub fn new(environment: impl Into<String>, from: OffsetDateTime, to: OffsetDateTime) -> Self {
        Query {
            environment: environment.into(),
            mfe: None,
            from,
            to,
        }
    }

    /// Only `mfe`.
    #[must_use]
    pub fn mfe(mut self, mfe: impl Into<String>) -> Self {
        self.mfe = Some(mfe.into());
        self
    }
}

/// Median and 90th percentile of a set of durations, in milliseconds.
///
/// The median of an even count is the mean of the two middle values (rounded down); the p90 is
/// the nearest-rank value (the smallest value with at least 90% of the samples at or below it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DurationStats {
    /// How many durations.
    pub samples: u64,
    /// Median, when there is at least one sample.
    pub median_ms: Option<u64>,
    /// 90th percentile, when there is at least one sample.
    pub p90_ms: Option<u64>,
}

impl DurationStats {
    /// The statistics of `durations` (any order).
    pub fn of(durations: &[u64]) -> Self {
        let mut sorted = durations.to_vec();
        sorted.sort_unstable();
        let n = sorted.len();
        if n == 0 {
            return DurationStats::default();
        }
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            u64::midpoint(sorted[n / 2 - 1], sorted[n / 2])
        };
        let rank = (9 * n).div_ceil(10).max(1);
        DurationStats {
            samples: n as u64,
            median_ms: Some(median),
            p90_ms: Some(sorted[rank - 1]),
        }
    }
}

/// Successful deploys on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCount {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// Successful deploys that day.
    pub deployments: u64,
}

/// The four DORA numbers for one environment (and optionally one MFE) over a range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aggregates {
    /// The environment.
    pub environment: String,
    /// The MFE, when the query named one.
    pub mfe: Option<String>,
    /// Start of the range (inclusive).
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    /// End of the range (exclusive).
    #[serde(with = "time::serde::rfc3339")]
    pub to: OffsetDateTime,
    /// Successful deploys in the range.
    pub deployments: u64,
    /// Failed deploys in the range.
    pub failed_deployments: u64,
    /// Deployment frequency: successful deploys per day of the range.
    pub deployments_per_day: f64,
    /// Successful deploys per UTC day, only days with at least one, ascending.
    pub deployments_by_day: Vec<DayCount>,
    /// Lead time for changes: from the request's first `received` event to its successful
    /// `committed` event, over successful deploys in the range whose `received` was recorded.
    pub lead_time: DurationStats,
    /// Change failure rate: failed / (failed + successful) deploys in the range; `None` with no
    /// deploys.
    pub change_failure_rate: Option<f64>,
    /// Time to restore: for each (environment, MFE), from the first failed deploy after a
    /// success to the next successful deploy, over restorations that happen in the range (the
    /// failure may be earlier).
    pub time_to_restore: DurationStats,
    /// Pairs whose last deploy before `to` failed and that are not yet restored.
    pub open_incidents: u64,
}

/// The environments that appear in `events`, sorted.
pub fn environments(events: &[StageEvent]) -> Vec<String> {
    let mut names: Vec<String> = events.iter().map(|e| e.environment.clone()).collect();
    names.sort();
    names.dedup();
    names
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeployResult {
    Succeeded,
    Failed,
}

#[derive(Debug)]
struct Deploy<'a> {
    request_id: &'a str,
    mfe: &'a str,
    result: DeployResult,
    at: OffsetDateTime,
}

/// Computes the aggregates of `query` over `events` (any order). Refuses an empty or inverted
/// range.
pub fn aggregate(events: &[StageEvent], query: &Query) -> Result<Aggregates, Error> {
    if query.from >= query.to {
        return Err(Error::invalid(
            "range",
            format!("`from` ({}) must be before `to` ({})", query.from, query.to),
        ));
    }
    let selected: Vec<&StageEvent> = events
        .iter()
        .filter(|e| e.environment == query.environment)
        .filter(|e| query.mfe.as_ref().is_none_or(|mfe| &e.mfe == mfe))
        .collect();

    // First `received` per (request, mfe).
    let mut received: HashMap<(&str, &str), OffsetDateTime> = HashMap::new();
    // Deploy-phase events per (request, mfe), in file order.
    let mut groups: BTreeMap<(&str, &str), Vec<&StageEvent>> = BTreeMap::new();
    for event in &selected {
        let key = (event.request_id.as_str(), event.mfe.as_str());
        if event.stage == Stage::Received {
            received
                .entry(key)
                .and_modify(|at| *at = (*at).min(event.at))
                .or_insert(event.at);
        }
        if event.stage.is_deploy_phase() {
            groups.entry(key).or_default().push(event);
        }
    }

    let mut deploys: Vec<Deploy<'_>> = groups
        .into_iter()
        .filter_map(|((request_id, mfe), mut group)| {
            group.sort_by_key(|e| e.at); // stable: ties keep file order
            classify(&group).map(|(result, at)| Deploy {
                request_id,
                mfe,
                result,
                at,
            })
        })
        .collect();
    deploys.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.mfe.cmp(b.mfe)));

    let in_range = |at: OffsetDateTime| query.from <= at && at < query.to;
    let mut deployments = 0u64;
    let mut failed = 0u64;
    let mut by_day: BTreeMap<String, u64> = BTreeMap::new();
    let mut lead_times = Vec::new();
    for deploy in deploys.iter().filter(|d| in_range(d.at)) {
        match deploy.result {
            DeployResult::Failed => failed += 1,
            DeployResult::Succeeded => {
                deployments += 1;
                *by_day.entry(day(deploy.at)).or_default() += 1;
                if let Some(start) = received.get(&(deploy.request_id, deploy.mfe))
                    && let Some(ms) = millis(deploy.at - *start)
                {
                    lead_times.push(ms);
                }
            }
        }
    }

    // Time to restore, per MFE, over every deploy before `to`.
    let mut incident_start: BTreeMap<&str, OffsetDateTime> = BTreeMap::new();
    let mut restores = Vec::new();
    for deploy in deploys.iter().filter(|d| d.at < query.to) {
        match deploy.result {
            DeployResult::Failed => {
                incident_start.entry(deploy.mfe).or_insert(deploy.at);
            }
            DeployResult::Succeeded => {
                if let Some(start) = incident_start.remove(deploy.mfe)
                    && in_range(deploy.at)
                    && let Some(ms) = millis(deploy.at - start)
                {
                    restores.push(ms);
                }
            }
        }
    }

    let days = (query.to - query.from).as_seconds_f64() / 86_400.0;
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let (deployments_per_day, change_failure_rate) = (
        deployments as f64 / days,
        (deployments + failed > 0).then(|| failed as f64 / (deployments + failed) as f64),
    );
    Ok(Aggregates {
        environment: query.environment.clone(),
        mfe: query.mfe.clone(),
        from: query.from,
        to: query.to,
        deployments,
        failed_deployments: failed,
        deployments_per_day,
        deployments_by_day: by_day
            .into_iter()
            .map(|(date, deployments)| DayCount { date, deployments })
            .collect(),
        lead_time: DurationStats::of(&lead_times),
        change_failure_rate,
        time_to_restore: DurationStats::of(&restores),
        open_incidents: incident_start.len() as u64,
    })
}

/// The result and time of one deploy's events (sorted by time), or `None` for no change.
pub(crate) fn classify(group: &[&StageEvent]) -> Option<(DeployResult, OffsetDateTime)> {
    let is_failure = |e: &StageEvent| e.stage == Stage::Failed || e.outcome == Outcome::Failure;
    let is_decisive = |e: &&&StageEvent| is_failure(e) || e.outcome == Outcome::Success;
    let decisive = group
        .iter()
        .rev()
        .filter(|e| e.stage != Stage::Reported)
        .find(is_decisive)
        .or_else(|| group.iter().rev().find(is_decisive))?;
    if is_failure(decisive) {
        return Some((DeployResult::Failed, decisive.at));
    }
    let success = |stage: Stage| {
        group
            .iter()
            .find(|e| e.stage == stage && e.outcome == Outcome::Success)
            .map(|e| e.at)
    };
    let has_committed = group.iter().any(|e| e.stage == Stage::Committed);
    let live_at = if has_committed {
        success(Stage::Committed)
    } else {
        success(Stage::Reported)
    };
    live_at.map(|at| (DeployResult::Succeeded, at))
}

fn millis(duration: Duration) -> Option<u64> {
    u64::try_from(duration.whole_milliseconds()).ok()
}

fn day(at: OffsetDateTime) -> String {
    let date = at
        .checked_to_offset(time::UtcOffset::UTC)
        .unwrap_or(at)
        .date();
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}
