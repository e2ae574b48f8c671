//! `report()` on a fixture history whose figures are worked out by hand below.

use gitops_metrics::{
    DesiredChange, DoraFigures, LiveRecord, MetricsInput, MetricsQuery, MetricsReport, Outcome,
    ReportStage, Stage, StageEvent, StageStats, aggregate, report,
};
use time::OffsetDateTime;
use time::macros::datetime;

use Outcome::{Failure, Refused, Skipped, Success};
use Stage::{
    ChecksPassed, Committed, Failed, Invalidated, Merged, PrOpened, Received, Reported, Uploaded,
};

const MIN: f64 = 60.0;
const HOUR: f64 = 3600.0;

pub(crate) const SINCE: OffsetDateTime = datetime!(2026-03-01 00:00 UTC);
pub(crate) const UNTIL: OffsetDateTime = datetime!(2026-03-31 00:00 UTC);

fn live(
    env: &str,
    mfe: &str,
    sequence: u64,
    at: OffsetDateTime,
    version: &str,
    rollback: bool,
    request: &str,
) -> LiveRecord {
    LiveRecord {
        environment: env.into(),
        mfe: mfe.into(),
        version: version.into(),
        sequence,
        deployed_at: at,
        rollback,
        request_id: request.into(),
        deployed_by: "gitops-bot".into(),
    }
}

fn desired(
    env: &str,
    mfe: &str,
    request: &str,
    source_commit_at: Option<OffsetDateTime>,
    requested_at: Option<OffsetDateTime>,
) -> DesiredChange {
    DesiredChange {
        environment: env.into(),
        mfe: mfe.into(),
        version: "x".into(),
        rollback: request.contains("rb"),
        request_id: request.into(),
        requested_by: "octocat".into(),
        requested_at,
        source_commit_at,
        merged_at: requested_at.or(source_commit_at).unwrap_or(SINCE),
        commit: format!("sha-{request}"),
    }
}

fn ev(
    at: OffsetDateTime,
    stage: Stage,
    outcome: Outcome,
    request: &str,
    env: &str,
    mfe: &str,
    duration_ms: Option<u64>,
) -> StageEvent {
    let event = StageEvent::new(at, stage, outcome, request, env, mfe, "x");
    match duration_ms {
        Some(ms) => event.with_duration_ms(ms),
        None => event,
    }
}

/// The fixture: 2 environments x 3 MFEs over [2026-03-01, 2026-03-31), 30 days.
///
/// Live records (S = staging, P = prod; times UTC):
/// - staging/search S0 02-20 10:00 (before the window: not counted);
/// - staging/search S4 03-01 00:00 exactly at `since` (in), lead from commit 02-28 23:00 = 1h;
/// - staging/cart S1 03-02 10:00, lead from commit 09:00 = 1h;
/// - staging/checkout S3 03-05 08:00, lead from commit 06:00 = 2h;
/// - staging/cart S2 03-10 12:00, no commit time, lead from requested_at 11:00 = 1h;
/// - staging/search S5 03-31 00:00 exactly at `until` (out, and ignored as a "next record");
/// - prod/cart P1 03-03 10:00 (listed twice: counted once), lead from commit 03-02 10:00 = 24h;
/// - prod/checkout P4 03-04 12:00, lead from commit 10:00 = 2h;
/// - prod/cart P2 03-12 09:00, lead from commit 08:00 = 1h; rolled back by
/// - prod/cart R1 03-12 11:00 (rollback): P2 failed at 09:00, recovered at 11:00 = 2h;
/// - prod/checkout: the deploy `p-co-2` fails (committed: failure) 03-15 10:05: P4 failed then;
/// - prod/checkout P5 03-15 16:05 forward fix, lead from commit 15:05 = 1h; P4 recovered after
///   16:05 - 10:05 = 6h;
/// - prod/cart P3 03-20 15:00, no commit time, lead from requested_at 14:30 = 30m;
/// - prod/search P6 03-25 09:00: its desired change has no timestamp (no lead sample);
/// - prod/search P7 03-28 09:00: no desired change (unmatched); the deploy `p-se-3` fails
///   (stage `failed`) 03-29 12:00: P7 failed, not recovered before `until`;
/// - prod/search P8 03-31 01:00 (after `until`: would recover P7, ignored).
///
/// Also: staging/cart's deploy `s-cart-3` fails exactly at `until` (ignored; else S2 would have
/// failed), and a refused request for a pair "Bad Name" (no deploy-phase event: not a row).
pub(crate) fn fixture() -> MetricsInput {
    let (s, p) = ("staging", "prod");
    let live = vec![
        live(
            s,
            "search",
            1,
            datetime!(2026-02-20 10:00 UTC),
            "0.9.0",
            false,
            "s-se-0",
        ),
        live(s, "search", 2, SINCE, "1.0.0", false, "s-se-1"),
        live(
            s,
            "cart",
            3,
            datetime!(2026-03-02 10:00 UTC),
            "1.1.0",
            false,
            "s-cart-1",
        ),
        live(
            s,
            "checkout",
            4,
            datetime!(2026-03-05 08:00 UTC),
            "2.0.0",
            false,
            "s-co-1",
        ),
        live(
            s,
            "cart",
            5,
            datetime!(2026-03-10 12:00 UTC),
            "1.2.0",
            false,
            "s-cart-2",
        ),
        live(s, "search", 6, UNTIL, "1.1.0", false, "s-se-2"),
        live(
            p,
            "cart",
            1,
            datetime!(2026-03-03 10:00 UTC),
            "1.1.0",
            false,
            "p-cart-1",
        ),
        live(
            p,
            "cart",
            1,
            datetime!(2026-03-03 10:00 UTC),
            "1.1.0",
            false,
            "p-cart-1",
        ),
        live(
            p,
            "checkout",
            2,
            datetime!(2026-03-04 12:00 UTC),
            "2.0.0",
            false,
            "p-co-1",
        ),
        live(
            p,
            "cart",
            3,
            datetime!(2026-03-12 09:00 UTC),
            "1.2.0",
            false,
            "p-cart-2",
        ),
        live(
            p,
            "cart",
            4,
            datetime!(2026-03-12 11:00 UTC),
            "1.1.0",
            true,
            "p-cart-rb",
        ),
        live(
            p,
            "checkout",
            5,
            datetime!(2026-03-15 16:05 UTC),
            "2.0.2",
            false,
            "p-co-3",
        ),
        live(
            p,
            "cart",
            6,
            datetime!(2026-03-20 15:00 UTC),
            "1.3.0",
            false,
            "p-cart-3",
        ),
        live(
            p,
            "search",
            7,
            datetime!(2026-03-25 09:00 UTC),
            "3.0.0",
            false,
            "p-se-1",
        ),
        live(
            p,
            "search",
            8,
            datetime!(2026-03-28 09:00 UTC),
            "3.1.0",
            false,
            "p-se-2",
        ),
        live(
            p,
            "search",
            9,
            datetime!(2026-03-31 01:00 UTC),
            "3.0.0",
            true,
            "p-se-rb",
        ),
    ];
    let t = |at: OffsetDateTime| Some(at);
    let desired = vec![
        desired(
            s,
            "search",
            "s-se-1",
            t(datetime!(2026-02-28 23:00 UTC)),
            None,
        ),
        desired(
            s,
            "cart",
            "s-cart-1",
            t(datetime!(2026-03-02 09:00 UTC)),
            t(datetime!(2026-03-02 09:30 UTC)),
        ),
        desired(
            s,
            "checkout",
            "s-co-1",
            t(datetime!(2026-03-05 06:00 UTC)),
            None,
        ),
        desired(
            s,
            "cart",
            "s-cart-2",
            None,
            t(datetime!(2026-03-10 11:00 UTC)),
        ),
        desired(
            p,
            "cart",
            "p-cart-1",
            t(datetime!(2026-03-02 10:00 UTC)),
            t(datetime!(2026-03-03 09:00 UTC)),
        ),
        desired(
            p,
            "checkout",
            "p-co-1",
            t(datetime!(2026-03-04 10:00 UTC)),
            None,
        ),
        desired(
            p,
            "cart",
            "p-cart-2",
            t(datetime!(2026-03-12 08:00 UTC)),
            None,
        ),
        desired(
            p,
            "cart",
            "p-cart-rb",
            None,
            t(datetime!(2026-03-12 10:50 UTC)),
        ),
        desired(
            p,
            "checkout",
            "p-co-3",
            t(datetime!(2026-03-15 15:05 UTC)),
            t(datetime!(2026-03-15 15:09 UTC)),
        ),
        desired(
            p,
            "cart",
            "p-cart-3",
            None,
            t(datetime!(2026-03-20 14:30 UTC)),
        ),
        desired(p, "search", "p-se-1", None, None),
    ];
    let events = vec![
        // p-co-3, the forward fix: every stage.
        ev(
            datetime!(2026-03-15 15:10:00 UTC),
            Received,
            Success,
            "p-co-3",
            p,
            "checkout",
            None,
        ),
        ev(
            datetime!(2026-03-15 15:10:30 UTC),
            PrOpened,
            Success,
            "p-co-3",
            p,
            "checkout",
            Some(30_000),
        ),
        ev(
            datetime!(2026-03-15 15:12:30 UTC),
            ChecksPassed,
            Success,
            "p-co-3",
            p,
            "checkout",
            None,
        ),
        ev(
            datetime!(2026-03-15 15:20:30 UTC),
            Merged,
            Success,
            "p-co-3",
            p,
            "checkout",
            None,
        ),
        ev(
            datetime!(2026-03-15 16:04:00 UTC),
            Uploaded,
            Success,
            "p-co-3",
            p,
            "checkout",
            Some(40_000),
        ),
        ev(
            datetime!(2026-03-15 16:05:00 UTC),
            Committed,
            Success,
            "p-co-3",
            p,
            "checkout",
            Some(1_000),
        ),
        ev(
            datetime!(2026-03-15 16:05:20 UTC),
            Invalidated,
            Success,
            "p-co-3",
            p,
            "checkout",
            Some(20_000),
        ),
        ev(
            datetime!(2026-03-15 16:05:25 UTC),
            Reported,
            Success,
            "p-co-3",
            p,
            "checkout",
            None,
        ),
        // p-cart-3: checks fail once, then pass; invalidation skipped.
        ev(
            datetime!(2026-03-20 14:31 UTC),
            PrOpened,
            Success,
            "p-cart-3",
            p,
            "cart",
            Some(10_000),
        ),
        ev(
            datetime!(2026-03-20 14:33 UTC),
            ChecksPassed,
            Failure,
            "p-cart-3",
            p,
            "cart",
            None,
        ),
        ev(
            datetime!(2026-03-20 14:40 UTC),
            ChecksPassed,
            Success,
            "p-cart-3",
            p,
            "cart",
            None,
        ),
        ev(
            datetime!(2026-03-20 14:41 UTC),
            Merged,
            Success,
            "p-cart-3",
            p,
            "cart",
            None,
        ),
        ev(
            datetime!(2026-03-20 14:59 UTC),
            Uploaded,
            Success,
            "p-cart-3",
            p,
            "cart",
            Some(20_000),
        ),
        ev(
            datetime!(2026-03-20 15:00 UTC),
            Committed,
            Success,
            "p-cart-3",
            p,
            "cart",
            Some(2_000),
        ),
        ev(
            datetime!(2026-03-20 15:00:01 UTC),
            Invalidated,
            Skipped,
            "p-cart-3",
            p,
            "cart",
            Some(0),
        ),
        ev(
            datetime!(2026-03-20 15:00:10 UTC),
            Reported,
            Success,
            "p-cart-3",
            p,
            "cart",
            None,
        ),
        // p-co-2: the failed deploy of checkout.
        ev(
            datetime!(2026-03-15 10:00 UTC),
            Uploaded,
            Success,
            "p-co-2",
            p,
            "checkout",
            Some(30_000),
        ),
        ev(
            datetime!(2026-03-15 10:05 UTC),
            Committed,
            Failure,
            "p-co-2",
            p,
            "checkout",
            Some(3_000),
        ),
        // p-se-3: the failed deploy of search.
        ev(
            datetime!(2026-03-29 12:00 UTC),
            Failed,
            Failure,
            "p-se-3",
            p,
            "search",
            None,
        ),
        // s-se-1 committed exactly at `since` (in the window).
        ev(
            SINCE,
            Committed,
            Success,
            "s-se-1",
            s,
            "search",
            Some(4_000),
        ),
        // Outside the window: before `since`, and exactly at `until`.
        ev(
            datetime!(2026-02-20 10:00 UTC),
            Uploaded,
            Success,
            "s-se-0",
            s,
            "search",
            Some(500_000),
        ),
        ev(
            UNTIL,
            Uploaded,
            Failure,
            "s-cart-3",
            s,
            "cart",
            Some(99_000_000),
        ),
        // A refused request for a pair that never deploys: no row.
        ev(
            datetime!(2026-03-06 10:00 UTC),
            Received,
            Refused,
            "bad-1",
            p,
            "Bad Name",
            None,
        ),
    ];
    MetricsInput {
        desired,
        live,
        events,
    }
}

pub(crate) fn query() -> MetricsQuery {
    MetricsQuery {
        environment: None,
        mfe: None,
        since: SINCE,
        until: UNTIL,
    }
}

fn row<'a>(report: &'a MetricsReport, env: &str, mfe: Option<&str>) -> &'a DoraFigures {
    report
        .dora
        .iter()
        .find(|r| r.environment == env && r.mfe.as_deref() == mfe)
        .unwrap_or_else(|| panic!("no row {env}/{mfe:?}"))
}

fn close(actual: Option<f64>, expected: f64) {
    let actual = actual.expect("a value");
    assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
}

#[test]
fn rows_are_one_per_environment_then_its_mfes() {
    let report = report(&fixture(), &query());
    let rows: Vec<(&str, Option<&str>)> = report
        .dora
        .iter()
        .map(|r| (r.environment.as_str(), r.mfe.as_deref()))
        .collect();
    assert_eq!(
        rows,
        [
            ("prod", None),
            ("prod", Some("cart")),
            ("prod", Some("checkout")),
            ("prod", Some("search")),
            ("staging", None),
            ("staging", Some("cart")),
            ("staging", Some("checkout")),
            ("staging", Some("search")),
        ]
    );
    assert!((report.window.days - 30.0).abs() < 1e-12);
}

#[test]
fn prod_dora_four_by_hand() {
    let report = report(&fixture(), &query());
    let prod = row(&report, "prod", None);

    // Frequency: P1 (once), P2, R1, P3, P4, P5, P6, P7 = 8 deploys (1 rollback) / 30 days.
    let f = &prod.deployment_frequency;
    assert_eq!((f.counts.deployments, f.counts.rollbacks), (8, 1));
    close(f.value, 8.0 / 30.0);
    assert_eq!(
        f.formula,
        "deploys live in window / days in window = 8 / 30"
    );

    // Lead time over the 7 changes (R1 is not one): samples P3 30m, P2 1h, P5 1h, P4 2h,
    // P1 24h (4 from the commit time, 1 from requested_at); P6 has no timestamp, P7 no desired
    // change. Sorted [30m, 1h, 1h, 2h, 24h]: median 1h; p90 = rank ceil(0.9*5) = 5th = 24h.
    let l = &prod.lead_time;
    assert_eq!(
        (l.counts.changes, l.counts.matched, l.counts.unmatched),
        (7, 6, 1)
    );
    assert_eq!((l.counts.without_timestamp, l.counts.clock_skew), (1, 0));
    assert_eq!(l.counts.samples, 5);
    assert_eq!((l.basis.source_commit, l.basis.requested_at), (4, 1));
    close(l.value, HOUR);
    close(l.p90, 24.0 * HOUR);

    // Change failure rate: P2 (rolled back by R1), P4 (the failed deploy at 03-15 10:05 comes
    // before the next change P5), P7 (the failed deploy 03-29) = 3 of 7.
    let c = &prod.change_failure_rate;
    assert_eq!(
        (
            c.counts.changes,
            c.counts.failed,
            c.counts.rolled_back,
            c.counts.failed_deploy
        ),
        (7, 3, 1, 2)
    );
    close(c.value, 3.0 / 7.0);
    assert!(c.formula.contains("= 3 / 7"), "{}", c.formula);

    // Recovery: P2 2h (by the rollback), P4 6h (by the forward fix P5), P7 unrecovered (P8 is
    // after `until`). Median of [2h, 6h] = 4h; p90 = rank ceil(1.8) = 2nd = 6h.
    let r = &prod.recovery_time;
    assert_eq!(
        (
            r.counts.failures,
            r.counts.by_rollback,
            r.counts.by_forward_fix,
            r.counts.unrecovered
        ),
        (3, 1, 1, 1)
    );
    close(r.value, 4.0 * HOUR);
    close(r.p90, 6.0 * HOUR);
}

#[test]
fn prod_pairs_by_hand() {
    let report = report(&fixture(), &query());

    // cart: P1, P2, R1, P3 = 4 deploys; leads [30m, 1h, 24h]: median 1h, p90 rank 3 = 24h;
    // 1 failed (P2) of 3 changes; recovered in 2h.
    let cart = row(&report, "prod", Some("cart"));
    assert_eq!(cart.deployment_frequency.counts.deployments, 4);
    close(cart.deployment_frequency.value, 4.0 / 30.0);
    close(cart.lead_time.value, HOUR);
    close(cart.lead_time.p90, 24.0 * HOUR);
    close(cart.change_failure_rate.value, 1.0 / 3.0);
    close(cart.recovery_time.value, 2.0 * HOUR);
    assert_eq!(cart.recovery_time.counts.by_rollback, 1);

    // checkout: P4, P5; leads [1h, 2h]: median = mean of the two = 1h30m, p90 = 2h; P4 failed
    // (1 of 2), recovered by P5 after 6h.
    let checkout = row(&report, "prod", Some("checkout"));
    assert_eq!(checkout.deployment_frequency.counts.deployments, 2);
    close(checkout.lead_time.value, 90.0 * MIN);
    close(checkout.lead_time.p90, 2.0 * HOUR);
    close(checkout.change_failure_rate.value, 0.5);
    assert_eq!(checkout.change_failure_rate.counts.failed_deploy, 1);
    close(checkout.recovery_time.value, 6.0 * HOUR);
    assert_eq!(checkout.recovery_time.counts.by_forward_fix, 1);

    // search: P6, P7 (P8 is after `until`); no lead sample (P6 without timestamp, P7
    // unmatched): null with the reason; P7 failed (1 of 2), unrecovered: recovery null.
    let search = row(&report, "prod", Some("search"));
    assert_eq!(search.deployment_frequency.counts.deployments, 2);
    assert_eq!(search.lead_time.value, None);
    assert_eq!(search.lead_time.p90, None);
    assert!(
        search
            .lead_time
            .formula
            .starts_with("undefined: none of the 2 changes"),
        "{}",
        search.lead_time.formula
    );
    close(search.change_failure_rate.value, 0.5);
    assert_eq!(search.recovery_time.value, None);
    assert_eq!(search.recovery_time.counts.unrecovered, 1);
    assert!(
        search
            .recovery_time
            .formula
            .starts_with("undefined: none of the 1 failed")
    );
}

#[test]
fn staging_and_window_edges_by_hand() {
    let report = report(&fixture(), &query());

    // S4 (exactly at `since`) is in, S0 (before) and S5 (exactly at `until`) are out:
    // S1, S2, S3, S4 = 4 deploys / 30 days.
    let staging = row(&report, "staging", None);
    assert_eq!(staging.deployment_frequency.counts.deployments, 4);
    close(staging.deployment_frequency.value, 4.0 / 30.0);
    // Leads S1 1h, S2 1h (requested_at), S3 2h, S4 1h: sorted [1h, 1h, 1h, 2h], median 1h,
    // p90 = rank ceil(3.6) = 4th = 2h.
    close(staging.lead_time.value, HOUR);
    close(staging.lead_time.p90, 2.0 * HOUR);
    assert_eq!(
        (
            staging.lead_time.basis.source_commit,
            staging.lead_time.basis.requested_at
        ),
        (3, 1)
    );
    // No failure: the failed deploy of staging/cart exactly at `until` is ignored.
    close(staging.change_failure_rate.value, 0.0);
    assert_eq!(staging.change_failure_rate.counts.changes, 4);
    assert_eq!(staging.recovery_time.value, None);
    assert_eq!(
        staging.recovery_time.formula,
        "undefined: no failed change in window"
    );

    let search = row(&report, "staging", Some("search"));
    assert_eq!(search.deployment_frequency.counts.deployments, 1);
    assert_eq!(search.deployments_by_day[0].date, "2026-03-01");

    // Per day over the environment, only days with deploys.
    let days: Vec<(&str, u64)> = staging
        .deployments_by_day
        .iter()
        .map(|d| (d.date.as_str(), d.deployments))
        .collect();
    assert_eq!(
        days,
        [
            ("2026-03-01", 1),
            ("2026-03-02", 1),
            ("2026-03-05", 1),
            ("2026-03-10", 1)
        ]
    );
}

#[test]
fn stage_times_by_hand() {
    let report = report(&fixture(), &query());
    let stats = |stage: ReportStage| -> StageStats {
        *report.stages.iter().find(|s| s.stage == stage).unwrap()
    };
    let figures = |s: StageStats| (s.count, s.failures, s.p50_ms, s.p90_ms, s.max_ms);
    assert_eq!(
        report.stages.iter().map(|s| s.stage).collect::<Vec<_>>(),
        ReportStage::ALL
    );
    // proposed (measured): [10s, 30s]: median 20s, p90 rank 2 = 30s.
    assert_eq!(
        figures(stats(ReportStage::Proposed)),
        (2, 0, Some(20_000), Some(30_000), Some(30_000))
    );
    // checks (since the PR opened): p-co-3 2m; p-cart-3 2m (failure) and 9m (14:31 -> 14:40):
    // [2m, 2m, 9m]: median 2m, p90 rank 3 = 9m.
    assert_eq!(
        figures(stats(ReportStage::Checks)),
        (3, 1, Some(120_000), Some(540_000), Some(540_000))
    );
    // merge (since the checks passed): [1m, 8m]: median 4m30s, p90 8m.
    assert_eq!(
        figures(stats(ReportStage::Merge)),
        (2, 0, Some(270_000), Some(480_000), Some(480_000))
    );
    // upload (measured; the one before `since` and the one at `until` are out): [20s, 30s, 40s].
    assert_eq!(
        figures(stats(ReportStage::Upload)),
        (3, 0, Some(30_000), Some(40_000), Some(40_000))
    );
    // commit: [1s, 2s, 3s (failure), 4s (at `since`)]: median 2.5s, p90 rank 4 = 4s.
    assert_eq!(
        figures(stats(ReportStage::Commit)),
        (4, 1, Some(2_500), Some(4_000), Some(4_000))
    );
    // invalidation: the skipped one does not count: [20s].
    assert_eq!(
        figures(stats(ReportStage::Invalidation)),
        (1, 0, Some(20_000), Some(20_000), Some(20_000))
    );
    // report (since the previous stage): p-co-3 5s after the invalidation, p-cart-3 9s after
    // the skipped invalidation at 15:00:01: [5s, 9s]: median 7s.
    assert_eq!(
        figures(stats(ReportStage::Report)),
        (2, 0, Some(7_000), Some(9_000), Some(9_000))
    );
    // The highest p50: merge (4m30s).
    assert_eq!(report.slowest_stage, Some(ReportStage::Merge));
}

#[test]
fn recent_is_newest_first_before_until() {
    let report = report(&fixture(), &query());
    // 16 records - the duplicate P1 - S5 and P8 (not before `until`) = 13.
    assert_eq!(report.recent.len(), 13);
    assert_eq!(report.recent[0].request_id, "p-se-2");
    assert_eq!(report.recent[12].request_id, "s-se-0");
    assert!(
        report
            .recent
            .windows(2)
            .all(|w| w[0].deployed_at >= w[1].deployed_at)
    );
}

#[test]
fn recent_keeps_the_last_twenty() {
    let mut input = MetricsInput::default();
    for i in 0..30u8 {
        input.live.push(live(
            "prod",
            "cart",
            u64::from(i),
            SINCE + time::Duration::hours(i64::from(i)),
            "1.0.0",
            false,
            &format!("r{i}"),
        ));
    }
    let report = report(&input, &query());
    assert_eq!(report.recent.len(), gitops_metrics::RECENT_LIMIT);
    assert_eq!(report.recent[0].request_id, "r29");
    assert_eq!(report.recent[19].request_id, "r10");
}

#[test]
fn filters_select_environment_and_mfe() {
    let mut q = query();
    q.environment = Some("prod".into());
    q.mfe = Some("checkout".into());
    let report = report(&fixture(), &q);
    let rows: Vec<(&str, Option<&str>)> = report
        .dora
        .iter()
        .map(|r| (r.environment.as_str(), r.mfe.as_deref()))
        .collect();
    assert_eq!(rows, [("prod", None), ("prod", Some("checkout"))]);
    // The environment row is the selection's: checkout's figures only.
    assert_eq!(report.dora[0].deployment_frequency.counts.deployments, 2);
    assert!(report.recent.iter().all(|r| r.mfe == "checkout"));
    // Upload: p-co-3 40s and p-co-2 30s only.
    let upload = report.stages[ReportStage::Upload as usize];
    assert_eq!((upload.count, upload.p50_ms), (2, Some(35_000)));
}

#[test]
fn failed_deploys_match_aggregate() {
    // The report's failed deploys follow `aggregate`'s rules: same count over a wide range.
    let input = fixture();
    let wide_from = datetime!(2026-01-01 00:00 UTC);
    let wide_to = datetime!(2026-03-30 00:00 UTC);
    for env in ["prod", "staging"] {
        let agg = aggregate(
            &input.events,
            &gitops_metrics::Query::new(env, wide_from, wide_to),
        )
        .unwrap();
        let expected = if env == "prod" { 2 } else { 0 };
        assert_eq!(agg.failed_deployments, expected, "{env}");
    }
    let report = report(&input, &query());
    let prod = row(&report, "prod", None);
    assert_eq!(prod.change_failure_rate.counts.failed_deploy, 2);
}

#[test]
fn empty_input_gives_no_rows_and_null_stages() {
    let report = report(&MetricsInput::default(), &query());
    assert!(report.dora.is_empty());
    assert!(report.recent.is_empty());
    assert_eq!(report.slowest_stage, None);
    assert_eq!(report.stages.len(), 7);
    for stats in &report.stages {
        assert_eq!((stats.count, stats.failures, stats.samples), (0, 0, 0));
        assert_eq!(
            (stats.p50_ms, stats.p90_ms, stats.max_ms),
            (None, None, None)
        );
    }
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["slowest_stage"], serde_json::Value::Null);
    assert_eq!(json["stages"][0]["p50_ms"], serde_json::Value::Null);
}

#[test]
fn a_pair_without_deploys_has_every_figure_null() {
    let input = MetricsInput {
        desired: vec![desired("prod", "cart", "r1", None, Some(SINCE))],
        ..MetricsInput::default()
    };
    let report = report(&input, &query());
    assert_eq!(report.dora.len(), 2);
    for row in &report.dora {
        close(row.deployment_frequency.value, 0.0);
        assert_eq!(row.lead_time.value, None);
        assert_eq!(row.change_failure_rate.value, None);
        assert_eq!(row.recovery_time.value, None);
        assert!(row.change_failure_rate.formula.starts_with("undefined"));
    }
    let json = serde_json::to_value(&report.dora[0]).unwrap();
    for figure in [
        "deployment_frequency",
        "lead_time",
        "change_failure_rate",
        "recovery_time",
    ] {
        let figure = &json[figure];
        assert!(figure["formula"].is_string(), "{figure}");
        assert!(figure["counts"].is_object(), "{figure}");
        assert!(figure.get("value").is_some(), "{figure}");
    }
    assert_eq!(json["lead_time"]["value"], serde_json::Value::Null);
}

#[test]
fn empty_inverted_and_extreme_windows_never_panic() {
    let input = fixture();
    for (since, until) in [
        (SINCE, SINCE),
        (UNTIL, SINCE),
        (OffsetDateTime::UNIX_EPOCH, UNTIL),
        (
            datetime!(-9999-01-01 00:00 UTC),
            datetime!(+9999-12-31 23:59:59.999_999_999 UTC),
        ),
        (
            datetime!(+9999-12-31 23:59:59.999_999_999 UTC),
            datetime!(-9999-01-01 00:00 UTC),
        ),
    ] {
        let q = MetricsQuery {
            since,
            until,
            ..query()
        };
        let report = report(&input, &q);
        if since >= until {
            assert!(report.window.days.abs() < f64::EPSILON);
            for row in &report.dora {
                assert_eq!(row.deployment_frequency.value, None);
                assert_eq!(
                    row.deployment_frequency.formula,
                    "undefined: the window is empty"
                );
                assert_eq!(row.lead_time.value, None);
                assert_eq!(row.change_failure_rate.value, None);
            }
        }
        // Every renderer copes.
        let _ = gitops_metrics::render::table(&report);
        let _ = gitops_metrics::render::markdown(&report);
        let _ = gitops_metrics::render::prometheus(&report);
    }
}

#[test]
fn json_round_trips() {
    let report = report(&fixture(), &query());
    let json = serde_json::to_string(&report).unwrap();
    let back: MetricsReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["window"]["since"], "2026-03-01T00:00:00Z");
    assert_eq!(value["slowest_stage"], "merge");
    assert_eq!(value["stages"][0]["stage"], "proposed");
}
