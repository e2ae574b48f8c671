//! The metrics report: the DORA four per environment and per (environment, MFE), per-stage
//! times and the last deploys, from the three sources of truth. Pure: no IO, no clock.
//!
//! # Inputs
//! - [`DesiredChange`]: one version of `deployments/<env>/<mfe>.json` merged on the default
//!   branch (what was requested, by whom, when);
//! - [`LiveRecord`]: one entry of the registry's history (what went live, when);
//! - [`StageEvent`]: the stage events (durations, failed deploys).
//!
//! # The window
//! `[since, until)`: a record exactly at `since` is in, one exactly at `until` is out. The report
//! describes the pairs as they stood at `until`: anything at or after `until` (a later rollback,
//! a later failed deploy) is ignored. Days in the window = `(until - since)` in seconds / 86400;
//! an empty or inverted window makes every figure null (never a panic).
//!
//! # The DORA four
//! - **Deployment frequency** = deploys that went live in the window (registry history entries
//!   with `deployed_at` in the window, rollbacks included) / days in the window.
//! - **Lead time for changes** = median (and p90) of `deployed_at - (source_commit_at, else
//!   requested_at)` over the *changes* in the window (below) matched to their desired change by
//!   (`request_id`, environment, MFE; the earliest merge when several). `basis` counts how many
//!   used each timestamp; unmatched changes, matched ones with neither timestamp, and ones whose
//!   start is after `deployed_at` (clock skew) are counted and left out.
//! - **Change failure rate** = failed changes / changes. A *change* is a non-rollback live
//!   record deployed in the window. It *failed* when the next live record of the pair (before
//!   `until`) is a rollback, or when a deploy of the pair failed (the stage events' failed
//!   deploys, with exactly [`aggregate`](crate::aggregate)'s rules) at or after the change went
//!   live and before the next change (non-rollback live record) of the pair.
//! - **Failed-deployment recovery time** = median (and p90) over the failed changes of
//!   (the next live record of the pair: the rollback or the forward fix) - (the failure: the
//!   failed change's `deployed_at` when a rollback followed it, else the first failed deploy's
//!   time). A failed change with no later live record before `until` is *unrecovered*.
//!
//! Durations use [`DurationStats`] (median of an even count = mean of the middle two, rounded
//! down to the millisecond; p90 = nearest rank) and are reported in seconds.
//!
//! # Stage times
//! One [`StageStats`] per [`ReportStage`], over the stage events in the window of the selection
//! whose outcome is `success` or `failure` (a `noop`, `skipped` or `refused` stage did no work).
//! A stage's duration is its measured `duration_ms`; for the stages recorded without one
//! (checks, merge, report) it is the time since the request's previous stage finished (the
//! latest earlier-stage event of the same request and pair at or before it), so `merge`
//! includes waiting for an approval. `slowest_stage` has the highest p50 (then the highest max).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime, UtcOffset};

use crate::aggregate::{DeployResult, classify};
use crate::{DayCount, DurationStats, Outcome, Stage, StageEvent};

/// How many deploys [`MetricsReport::recent`] lists.
pub const RECENT_LIMIT: usize = 20;

/// One desired-state change from the git history of `deployments/<env>/<mfe>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredChange {
    /// The environment.
    pub environment: String,
    /// The MFE.
    pub mfe: String,
    /// The requested version.
    pub version: String,
    /// Whether the change is a rollback.
    pub rollback: bool,
    /// The request's id (what the registry's history records too).
    pub request_id: String,
    /// Who asked.
    pub requested_by: String,
    /// The request's timestamp (the file's `requested_at`).
    #[serde(with = "time::serde::rfc3339::option")]
    pub requested_at: Option<OffsetDateTime>,
    /// The requester's commit time, when known.
    #[serde(with = "time::serde::rfc3339::option")]
    pub source_commit_at: Option<OffsetDateTime>,
    /// Committer time of the commit on the default branch.
    #[serde(with = "time::serde::rfc3339")]
    pub merged_at: OffsetDateTime,
    /// That GitOps commit's sha.
    pub commit: String,
}

/// One entry of the registry's history: what went live and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveRecord {
    /// The environment.
    pub environment: String,
    /// The MFE.
    pub mfe: String,
    /// The version that went live.
    pub version: String,
    /// The registry's sequence number.
    pub sequence: u64,
    /// When it went live.
    #[serde(with = "time::serde::rfc3339")]
    pub deployed_at: OffsetDateTime,
    /// Whether it was a rollback.
    pub rollback: bool,
    /// The request's id.
    pub request_id: String,
    /// Who deployed it.
    pub deployed_by: String,
}

/// Everything [`report`] reads (any order; duplicates of a live record are counted once).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsInput {
    /// The desired-state changes.
    pub desired: Vec<DesiredChange>,
    /// The registry's history.
    pub live: Vec<LiveRecord>,
    /// The stage events.
    pub events: Vec<StageEvent>,
}

/// What to report on: optionally one environment and one MFE, over `[since, until)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsQuery {
    /// Only this environment, or all.
    pub environment: Option<String>,
    /// Only this MFE, or all.
    pub mfe: Option<String>,
    /// Start of the window (inclusive).
    pub since: OffsetDateTime,
    /// End of the window (exclusive).
    pub until: OffsetDateTime,
}

/// The report; its serde form is the JSON format of `gitops metrics --format json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsReport {
    /// The window.
    pub window: Window,
    /// The environment filter, if any.
    pub environment: Option<String>,
    /// The MFE filter, if any.
    pub mfe: Option<String>,
    /// One row per environment (`mfe` null) and per (environment, MFE) in the selection, sorted
    /// by environment, the environment's row first, then by MFE.
    pub dora: Vec<DoraFigures>,
    /// One row per [`ReportStage`], in pipeline order.
    pub stages: Vec<StageStats>,
    /// The stage with the highest p50, when any stage has a duration.
    pub slowest_stage: Option<ReportStage>,
    /// The last [`RECENT_LIMIT`] deploys before `until` (newest first).
    pub recent: Vec<LiveRecord>,
}

/// The report's window `[since, until)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Start (inclusive).
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    /// End (exclusive).
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    /// Days in the window (fractional; 0 for an empty or inverted window).
    pub days: f64,
}

/// The DORA four for one environment (`mfe` null) or one (environment, MFE) pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DoraFigures {
    /// The environment.
    pub environment: String,
    /// The MFE, or null for the whole environment.
    pub mfe: Option<String>,
    /// Deploys per day.
    pub deployment_frequency: DeploymentFrequency,
    /// Lead time for changes, in seconds.
    pub lead_time: LeadTime,
    /// Failed changes / changes.
    pub change_failure_rate: ChangeFailureRate,
    /// Failed-deployment recovery time, in seconds.
    pub recovery_time: RecoveryTime,
    /// Deploys per UTC day of the window, only days with at least one, ascending.
    pub deployments_by_day: Vec<DayCount>,
}

/// Deployment frequency: deploys live in the window / days in the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentFrequency {
    /// Deploys per day; null for an empty window.
    pub value: Option<f64>,
    /// The formula with its numbers.
    pub formula: String,
    /// The counts behind it.
    pub counts: FrequencyCounts,
}

/// The counts behind [`DeploymentFrequency`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrequencyCounts {
    /// Deploys that went live in the window (rollbacks included).
    pub deployments: u64,
    /// Of which rollbacks.
    pub rollbacks: u64,
}

/// Lead time for changes, in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadTime {
    /// Median, in seconds; null without a sample.
    pub value: Option<f64>,
    /// 90th percentile, in seconds; null without a sample.
    pub p90: Option<f64>,
    /// The formula with its numbers.
    pub formula: String,
    /// The counts behind it.
    pub counts: LeadTimeCounts,
    /// Which start timestamp the samples used.
    pub basis: LeadTimeBasis,
}

/// The counts behind [`LeadTime`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadTimeCounts {
    /// Changes (non-rollback deploys) in the window.
    pub changes: u64,
    /// Changes matched to their desired change.
    pub matched: u64,
    /// Changes with no desired change of the same request.
    pub unmatched: u64,
    /// Matched changes whose desired change has neither timestamp.
    pub without_timestamp: u64,
    /// Matched changes whose start is after their `deployed_at` (left out).
    pub clock_skew: u64,
    /// Samples (= `basis.source_commit + basis.requested_at`).
    pub samples: u64,
}

/// How many lead-time samples started from each timestamp.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadTimeBasis {
    /// From the requester's commit time.
    pub source_commit: u64,
    /// From the request's `requested_at` (no commit time known).
    pub requested_at: u64,
}

/// Change failure rate: failed changes / changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeFailureRate {
    /// The ratio (0 to 1); null without a change.
    pub value: Option<f64>,
    /// The formula with its numbers.
    pub formula: String,
    /// The counts behind it.
    pub counts: FailureCounts,
}

/// The counts behind [`ChangeFailureRate`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureCounts {
    /// Changes (non-rollback deploys) in the window.
    pub changes: u64,
    /// Failed changes.
    pub failed: u64,
    /// Failed changes followed by a rollback.
    pub rolled_back: u64,
    /// Failed changes followed by a failed deploy (and no rollback).
    pub failed_deploy: u64,
}

/// Failed-deployment recovery time, in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryTime {
    /// Median, in seconds; null without a recovery.
    pub value: Option<f64>,
    /// 90th percentile, in seconds; null without a recovery.
    pub p90: Option<f64>,
    /// The formula with its numbers.
    pub formula: String,
    /// The counts behind it.
    pub counts: RecoveryCounts,
}

/// The counts behind [`RecoveryTime`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCounts {
    /// Failed changes.
    pub failures: u64,
    /// Recovered by a rollback.
    pub by_rollback: u64,
    /// Recovered by a forward fix.
    pub by_forward_fix: u64,
    /// Not recovered before `until`.
    pub unrecovered: u64,
}

/// The stages the report times, in pipeline order (kebab-case names are stable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReportStage {
    /// Received -> pull request opened (`pr-opened` events).
    Proposed,
    /// Quality checks (`checks-passed` events).
    Checks,
    /// Merge, approval waits included (`merged` events).
    Merge,
    /// Artifact upload (`uploaded` events).
    Upload,
    /// Registry commit (`committed` events).
    Commit,
    /// CDN invalidation (`invalidated` events).
    Invalidation,
    /// Telling the requester (`reported` events).
    Report,
}

impl ReportStage {
    /// Every stage, in pipeline order.
    pub const ALL: [ReportStage; 7] = [
        ReportStage::Proposed,
        ReportStage::Checks,
        ReportStage::Merge,
        ReportStage::Upload,
        ReportStage::Commit,
        ReportStage::Invalidation,
        ReportStage::Report,
    ];

    /// The stable kebab-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReportStage::Proposed => "proposed",
            ReportStage::Checks => "checks",
            ReportStage::Merge => "merge",
            ReportStage::Upload => "upload",
            ReportStage::Commit => "commit",
            ReportStage::Invalidation => "invalidation",
            ReportStage::Report => "report",
        }
    }

    /// The event stage it is timed from.
    pub const fn event_stage(self) -> Stage {
        match self {
            ReportStage::Proposed => Stage::PrOpened,
            ReportStage::Checks => Stage::ChecksPassed,
            ReportStage::Merge => Stage::Merged,
            ReportStage::Upload => Stage::Uploaded,
            ReportStage::Commit => Stage::Committed,
            ReportStage::Invalidation => Stage::Invalidated,
            ReportStage::Report => Stage::Reported,
        }
    }
}

impl std::fmt::Display for ReportStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Durations of one stage over the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageStats {
    /// The stage.
    pub stage: ReportStage,
    /// Stage events that did work (outcome `success` or `failure`).
    pub count: u64,
    /// Of which failures.
    pub failures: u64,
    /// Of which with a duration (the samples of the figures below).
    pub samples: u64,
    /// Median duration.
    pub p50_ms: Option<u64>,
    /// 90th percentile.
    pub p90_ms: Option<u64>,
    /// Longest.
    pub max_ms: Option<u64>,
}

type Pair<'a> = (&'a str, &'a str);

/// What one pair's history yields for the window.
#[derive(Debug, Default)]
struct Tally {
    frequency: FrequencyCounts,
    by_day: BTreeMap<String, u64>,
    lead: LeadTimeCounts,
    basis: LeadTimeBasis,
    lead_ms: Vec<u64>,
    failure: FailureCounts,
    recovery: RecoveryCounts,
    recovery_ms: Vec<u64>,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        let f = &mut self.frequency;
        f.deployments += other.frequency.deployments;
        f.rollbacks += other.frequency.rollbacks;
        for (day, n) in &other.by_day {
            *self.by_day.entry(day.clone()).or_default() += n;
        }
        let l = &mut self.lead;
        l.changes += other.lead.changes;
        l.matched += other.lead.matched;
        l.unmatched += other.lead.unmatched;
        l.without_timestamp += other.lead.without_timestamp;
        l.clock_skew += other.lead.clock_skew;
        l.samples += other.lead.samples;
        self.basis.source_commit += other.basis.source_commit;
        self.basis.requested_at += other.basis.requested_at;
        self.lead_ms.extend_from_slice(&other.lead_ms);
        let c = &mut self.failure;
        c.changes += other.failure.changes;
        c.failed += other.failure.failed;
        c.rolled_back += other.failure.rolled_back;
        c.failed_deploy += other.failure.failed_deploy;
        let r = &mut self.recovery;
        r.failures += other.recovery.failures;
        r.by_rollback += other.recovery.by_rollback;
        r.by_forward_fix += other.recovery.by_forward_fix;
        r.unrecovered += other.recovery.unrecovered;
        self.recovery_ms.extend_from_slice(&other.recovery_ms);
    }
}

/// The report of `input` for `query`. Pure and total: never panics, never fails; a figure that
/// is undefined (no deploy, no change, an empty window) is null with the reason in `formula`.
pub fn report(input: &MetricsInput, query: &MetricsQuery) -> MetricsReport {
    let (since, until) = (query.since, query.until);
    let selected = |environment: &str, mfe: &str| {
        query
            .environment
            .as_deref()
            .is_none_or(|e| e == environment)
            && query.mfe.as_deref().is_none_or(|m| m == mfe)
    };
    let in_window = |at: OffsetDateTime| since <= at && at < until;

    // Live records of the selection before `until`, per pair, in order, each once.
    let mut live: BTreeMap<Pair<'_>, Vec<&LiveRecord>> = BTreeMap::new();
    for record in &input.live {
        if selected(&record.environment, &record.mfe) && record.deployed_at < until {
            live.entry((&record.environment, &record.mfe))
                .or_default()
                .push(record);
        }
    }
    for records in live.values_mut() {
        records.sort_by(|a, b| {
            (
                a.deployed_at,
                a.sequence,
                a.rollback,
                &a.request_id,
                &a.version,
            )
                .cmp(&(
                    b.deployed_at,
                    b.sequence,
                    b.rollback,
                    &b.request_id,
                    &b.version,
                ))
        });
        records.dedup_by(|a, b| a.sequence == b.sequence && a == b);
    }

    // Desired changes by (request, pair): the earliest merge.
    let mut desired: HashMap<(&str, &str, &str), &DesiredChange> = HashMap::new();
    for change in &input.desired {
        if !selected(&change.environment, &change.mfe) {
            continue;
        }
        let key = (
            change.request_id.as_str(),
            change.environment.as_str(),
            change.mfe.as_str(),
        );
        desired
            .entry(key)
            .and_modify(|d| {
                if (change.merged_at, &change.commit) < (d.merged_at, &d.commit) {
                    *d = change;
                }
            })
            .or_insert(change);
    }

    let events: Vec<&StageEvent> = input
        .events
        .iter()
        .filter(|e| selected(&e.environment, &e.mfe))
        .collect();
    let failed_deploys = failed_deploys(&events, until);

    // The pairs of the selection: any live record, desired change or deploy-phase event.
    let mut pairs: BTreeSet<Pair<'_>> = live.keys().copied().collect();
    pairs.extend(input.desired.iter().filter_map(|d| {
        selected(&d.environment, &d.mfe).then_some((d.environment.as_str(), d.mfe.as_str()))
    }));
    pairs.extend(
        events
            .iter()
            .filter(|e| e.stage.is_deploy_phase())
            .map(|e| (e.environment.as_str(), e.mfe.as_str())),
    );

    let days = window_days(since, until);
    let mut dora = Vec::new();
    let mut environment: Option<(&str, Tally, Vec<DoraFigures>)> = None;
    for pair in &pairs {
        let records = live.get(pair).map_or(&[][..], Vec::as_slice);
        let failures = failed_deploys.get(pair).map_or(&[][..], Vec::as_slice);
        let tally = tally(records, failures, &desired, &in_window);
        if environment
            .as_ref()
            .is_none_or(|(name, _, _)| *name != pair.0)
        {
            if let Some((name, total, rows)) = environment.take() {
                dora.push(figures(name, None, &total, days));
                dora.extend(rows);
            }
            environment = Some((pair.0, Tally::default(), Vec::new()));
        }
        if let Some((_, total, rows)) = environment.as_mut() {
            total.add(&tally);
            rows.push(figures(pair.0, Some(pair.1), &tally, days));
        }
    }
    if let Some((name, total, rows)) = environment {
        dora.push(figures(name, None, &total, days));
        dora.extend(rows);
    }

    let stages = stage_stats(&events, &in_window);
    let slowest_stage = stages
        .iter()
        .filter_map(|s| Some((s.p50_ms?, s.max_ms.unwrap_or(0), s.stage)))
        .max_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then(b.2.cmp(&a.2)))
        .map(|(_, _, stage)| stage);

    let mut recent: Vec<&LiveRecord> = live.values().flatten().copied().collect();
    recent.sort_by(|a, b| {
        (b.deployed_at, &a.environment, &a.mfe, b.sequence).cmp(&(
            a.deployed_at,
            &b.environment,
            &b.mfe,
            a.sequence,
        ))
    });
    recent.truncate(RECENT_LIMIT);

    MetricsReport {
        window: Window { since, until, days },
        environment: query.environment.clone(),
        mfe: query.mfe.clone(),
        dora,
        stages,
        slowest_stage,
        recent: recent.into_iter().cloned().collect(),
    }
}

fn window_days(since: OffsetDateTime, until: OffsetDateTime) -> f64 {
    if since >= until {
        return 0.0;
    }
    (until - since).as_seconds_f64() / 86_400.0
}

/// One pair's counts: `records` are its live records before `until` in order, `failures` the
/// times of its failed deploys before `until`, ascending.
fn tally(
    records: &[&LiveRecord],
    failures: &[OffsetDateTime],
    desired: &HashMap<(&str, &str, &str), &DesiredChange>,
    in_window: &dyn Fn(OffsetDateTime) -> bool,
) -> Tally {
    let mut t = Tally::default();
    for (i, record) in records.iter().enumerate() {
        if !in_window(record.deployed_at) {
            continue;
        }
        t.frequency.deployments += 1;
        *t.by_day.entry(day(record.deployed_at)).or_default() += 1;
        if record.rollback {
            t.frequency.rollbacks += 1;
            continue;
        }
        // A change.
        t.lead.changes += 1;
        t.failure.changes += 1;
        let key = (
            record.request_id.as_str(),
            record.environment.as_str(),
            record.mfe.as_str(),
        );
        match desired.get(&key) {
            None => t.lead.unmatched += 1,
            Some(change) => {
                t.lead.matched += 1;
                let start = match (change.source_commit_at, change.requested_at) {
                    (Some(at), _) => Some((at, true)),
                    (None, Some(at)) => Some((at, false)),
                    (None, None) => None,
                };
                match start {
                    None => t.lead.without_timestamp += 1,
                    Some((at, from_commit)) => match millis(record.deployed_at - at) {
                        None => t.lead.clock_skew += 1,
                        Some(ms) => {
                            t.lead.samples += 1;
                            if from_commit {
                                t.basis.source_commit += 1;
                            } else {
                                t.basis.requested_at += 1;
                            }
                            t.lead_ms.push(ms);
                        }
                    },
                }
            }
        }
        // Failed? The next live record, and the next change.
        let next = records.get(i + 1);
        let next_change_at = records[i + 1..]
            .iter()
            .find(|r| !r.rollback)
            .map(|r| r.deployed_at);
        let failed_deploy = failures
            .iter()
            .find(|f| **f >= record.deployed_at && next_change_at.is_none_or(|n| **f < n));
        let failure_at = match (next, failed_deploy) {
            (Some(next), _) if next.rollback => {
                t.failure.rolled_back += 1;
                record.deployed_at
            }
            (_, Some(at)) => {
                t.failure.failed_deploy += 1;
                *at
            }
            _ => continue,
        };
        t.failure.failed += 1;
        t.recovery.failures += 1;
        match next {
            None => t.recovery.unrecovered += 1,
            Some(next) => {
                if next.rollback {
                    t.recovery.by_rollback += 1;
                } else {
                    t.recovery.by_forward_fix += 1;
                }
                // `next` is after the failure: a failed deploy is before the next change, and
                // the next record is that change unless it is a rollback (then the failure is
                // the change's own time).
                t.recovery_ms
                    .push(millis(next.deployed_at - failure_at).unwrap_or(0));
            }
        }
    }
    t
}

fn figures(environment: &str, mfe: Option<&str>, tally: &Tally, days: f64) -> DoraFigures {
    let freq = tally.frequency;
    let deployment_frequency = DeploymentFrequency {
        value: (days > 0.0).then(|| count(freq.deployments) / days),
        formula: if days > 0.0 {
            format!(
                "deploys live in window / days in window = {} / {}",
                freq.deployments,
                number(days)
            )
        } else {
            "undefined: the window is empty".to_owned()
        },
        counts: freq,
    };

    let lead = DurationStats::of(&tally.lead_ms);
    let lc = tally.lead;
    let lead_time = LeadTime {
        value: seconds(lead.median_ms),
        p90: seconds(lead.p90_ms),
        formula: if lead.samples > 0 {
            format!(
                "median (p90) of deployed_at - (source_commit_at, else requested_at) over {} of \
                 {} changes ({} from the commit time, {} from requested_at; {} unmatched, {} \
                 without a timestamp, {} skewed)",
                lc.samples,
                lc.changes,
                tally.basis.source_commit,
                tally.basis.requested_at,
                lc.unmatched,
                lc.without_timestamp,
                lc.clock_skew
            )
        } else if lc.changes == 0 {
            "undefined: no change (non-rollback deploy) in window".to_owned()
        } else {
            format!(
                "undefined: none of the {} changes has a start time ({} unmatched, {} without a \
                 timestamp, {} skewed)",
                lc.changes, lc.unmatched, lc.without_timestamp, lc.clock_skew
            )
        },
        counts: lc,
        basis: tally.basis,
    };

    let fc = tally.failure;
    let change_failure_rate = ChangeFailureRate {
        value: (fc.changes > 0).then(|| count(fc.failed) / count(fc.changes)),
        formula: if fc.changes > 0 {
            format!(
                "failed changes / changes = {} / {} ({} rolled back, {} followed by a failed \
                 deploy)",
                fc.failed, fc.changes, fc.rolled_back, fc.failed_deploy
            )
        } else {
            "undefined: no change (non-rollback deploy) in window".to_owned()
        },
        counts: fc,
    };

    let recovery = DurationStats::of(&tally.recovery_ms);
    let rc = tally.recovery;
    let recovery_time = RecoveryTime {
        value: seconds(recovery.median_ms),
        p90: seconds(recovery.p90_ms),
        formula: if recovery.samples > 0 {
            format!(
                "median (p90) of next live deploy - failure over {} recovered of {} failed \
                 changes ({} by rollback, {} by forward fix, {} unrecovered)",
                recovery.samples, rc.failures, rc.by_rollback, rc.by_forward_fix, rc.unrecovered
            )
        } else if rc.failures == 0 {
            "undefined: no failed change in window".to_owned()
        } else {
            format!(
                "undefined: none of the {} failed changes recovered before the window's end",
                rc.failures
            )
        },
        counts: rc,
    };

    DoraFigures {
        environment: environment.to_owned(),
        mfe: mfe.map(str::to_owned),
        deployment_frequency,
        lead_time,
        change_failure_rate,
        recovery_time,
        deployments_by_day: tally
            .by_day
            .iter()
            .map(|(date, n)| DayCount {
                date: date.clone(),
                deployments: *n,
            })
            .collect(),
    }
}

/// The times of the failed deploys before `until`, per pair, ascending: the events grouped per
/// (request, environment, MFE) and classified with the rules of [`crate::aggregate`] (its
/// module docs): a group is a failed deploy when its last decisive deploy-phase event (a
/// `reported` one only when no other is decisive) is a failure; the time is that event's.
fn failed_deploys<'a>(
    events: &[&'a StageEvent],
    until: OffsetDateTime,
) -> BTreeMap<Pair<'a>, Vec<OffsetDateTime>> {
    let mut groups: BTreeMap<(&str, &str, &str), Vec<&StageEvent>> = BTreeMap::new();
    for event in events {
        if event.stage.is_deploy_phase() && event.at < until {
            groups
                .entry((&event.request_id, &event.environment, &event.mfe))
                .or_default()
                .push(event);
        }
    }
    let mut failed: BTreeMap<Pair<'a>, Vec<OffsetDateTime>> = BTreeMap::new();
    for ((_, environment, mfe), mut group) in groups {
        group.sort_by_key(|e| e.at);
        // The one rule of what a failed deploy is: the events aggregate's.
        if let Some((DeployResult::Failed, at)) = classify(&group) {
            failed.entry((environment, mfe)).or_default().push(at);
        }
    }
    for times in failed.values_mut() {
        times.sort();
    }
    failed
}

fn stage_stats(
    events: &[&StageEvent],
    in_window: &dyn Fn(OffsetDateTime) -> bool,
) -> Vec<StageStats> {
    // Every event per (request, pair), by time, to find a stage's predecessor.
    let mut requests: HashMap<(&str, &str, &str), Vec<&StageEvent>> = HashMap::new();
    for event in events {
        requests
            .entry((&event.request_id, &event.environment, &event.mfe))
            .or_default()
            .push(event);
    }
    for group in requests.values_mut() {
        group.sort_by_key(|e| e.at);
    }
    let previous_finish = |event: &StageEvent| {
        requests
            .get(&(
                event.request_id.as_str(),
                event.environment.as_str(),
                event.mfe.as_str(),
            ))
            .and_then(|group| {
                group
                    .iter()
                    .filter(|e| {
                        e.stage < event.stage
                            && !matches!(e.stage, Stage::Refused | Stage::Failed)
                            && e.at <= event.at
                    })
                    .map(|e| e.at)
                    .max()
            })
    };
    ReportStage::ALL
        .into_iter()
        .map(|stage| {
            let mut count = 0;
            let mut failures = 0;
            let mut durations = Vec::new();
            for event in events.iter().filter(|e| {
                e.stage == stage.event_stage()
                    && matches!(e.outcome, Outcome::Success | Outcome::Failure)
                    && in_window(e.at)
            }) {
                count += 1;
                if event.outcome == Outcome::Failure {
                    failures += 1;
                }
                let duration = event
                    .duration_ms
                    .or_else(|| previous_finish(event).and_then(|start| millis(event.at - start)));
                durations.extend(duration);
            }
            let stats = DurationStats::of(&durations);
            StageStats {
                stage,
                count,
                failures,
                samples: stats.samples,
                p50_ms: stats.median_ms,
                p90_ms: stats.p90_ms,
                max_ms: durations.iter().copied().max(),
            }
        })
        .collect()
}

fn millis(duration: Duration) -> Option<u64> {
    u64::try_from(duration.whole_milliseconds()).ok()
}

#[allow(clippy::cast_precision_loss)] // milliseconds far below 2^52
fn seconds(ms: Option<u64>) -> Option<f64> {
    ms.map(|ms| ms as f64 / 1000.0)
}

#[allow(clippy::cast_precision_loss)] // counts far below 2^52
fn count(n: u64) -> f64 {
    n as f64
}

/// A number for a formula: integral values without a fraction, others to 3 decimals.
pub(crate) fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        let text = format!("{value:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// `YYYY-MM-DD` of `at` in UTC.
pub(crate) fn day(at: OffsetDateTime) -> String {
    let date = at.checked_to_offset(UtcOffset::UTC).unwrap_or(at).date();
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}
