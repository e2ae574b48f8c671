use gitops_metrics::{
    Aggregates, DayCount, DurationStats, Error, Outcome, Query, Stage, StageEvent, aggregate,
    environments,
};
use time::OffsetDateTime;
use time::macros::datetime;

use Outcome::{Failure, Noop, Refused, Success};
use Stage::{
    ChecksPassed, Committed, Failed, Invalidated, Merged, PrOpened, Received, Reported, Uploaded,
};

const MIN: u64 = 60_000;
const HOUR: u64 = 60 * MIN;

fn ev(
    at: OffsetDateTime,
    stage: Stage,
    outcome: Outcome,
    request: &str,
    env: &str,
    mfe: &str,
) -> StageEvent {
    StageEvent::new(at, stage, outcome, request, env, mfe, "1.0.0")
}

fn prod(
    at: OffsetDateTime,
    stage: Stage,
    outcome: Outcome,
    request: &str,
    mfe: &str,
) -> StageEvent {
    ev(at, stage, outcome, request, "prod", mfe)
}

/// A hand-made history; the expected numbers are worked out in the comments.
fn history() -> Vec<StageEvent> {
    vec![
        // Before the range: a success then a failure of checkout (incident opens 02-28 22:00).
        prod(
            datetime!(2026-02-28 10:00 UTC),
            Committed,
            Success,
            "r0",
            "checkout",
        ),
        prod(
            datetime!(2026-02-28 22:00 UTC),
            Uploaded,
            Failure,
            "r0b",
            "checkout",
        ),
        // r1 checkout: lead 10 min; restores the 02-28 incident after 11h10m.
        prod(
            datetime!(2026-03-01 09:00 UTC),
            Received,
            Success,
            "r1",
            "checkout",
        ),
        prod(
            datetime!(2026-03-01 09:02 UTC),
            PrOpened,
            Success,
            "r1",
            "checkout",
        ),
        prod(
            datetime!(2026-03-01 09:04 UTC),
            ChecksPassed,
            Success,
            "r1",
            "checkout",
        ),
        prod(
            datetime!(2026-03-01 09:05 UTC),
            Merged,
            Success,
            "r1",
            "checkout",
        ),
        prod(
            datetime!(2026-03-01 09:08 UTC),
            Uploaded,
            Success,
            "r1",
            "checkout",
        ),
        prod(
            datetime!(2026-03-01 09:10 UTC),
            Committed,
            Success,
            "r1",
            "checkout",
        ),
        prod(
            datetime!(2026-03-01 09:11 UTC),
            Invalidated,
            Success,
            "r1",
            "checkout",
        ),
        prod(
            datetime!(2026-03-01 09:11:30 UTC),
            Reported,
            Success,
            "r1",
            "checkout",
        ),
        // r2 checkout: upload fails; the deploy failed at 12:05 (`reported` is not decisive).
        prod(
            datetime!(2026-03-01 12:00 UTC),
            Received,
            Success,
            "r2",
            "checkout",
        ),
        prod(
            datetime!(2026-03-01 12:05 UTC),
            Uploaded,
            Failure,
            "r2",
            "checkout",
        ),
        prod(
            datetime!(2026-03-01 12:06 UTC),
            Reported,
            Failure,
            "r2",
            "checkout",
        ),
        // r3 checkout: lead 66 min; restores r2 after 2h01m.
        prod(
            datetime!(2026-03-01 13:00 UTC),
            Received,
            Success,
            "r3",
            "checkout",
        ),
        prod(
            datetime!(2026-03-01 14:06 UTC),
            Committed,
            Success,
            "r3",
            "checkout",
        ),
        prod(
            datetime!(2026-03-01 14:07 UTC),
            Reported,
            Success,
            "r3",
            "checkout",
        ),
        // r4 cart: first attempt killed after a failed upload, the re-run succeeds: lead 30 min.
        prod(
            datetime!(2026-03-02 08:00 UTC),
            Received,
            Success,
            "r4",
            "cart",
        ),
        prod(
            datetime!(2026-03-02 08:05 UTC),
            Uploaded,
            Failure,
            "r4",
            "cart",
        ),
        prod(
            datetime!(2026-03-02 08:20 UTC),
            Uploaded,
            Success,
            "r4",
            "cart",
        ),
        prod(
            datetime!(2026-03-02 08:30 UTC),
            Committed,
            Success,
            "r4",
            "cart",
        ),
        prod(
            datetime!(2026-03-02 08:31 UTC),
            Invalidated,
            Success,
            "r4",
            "cart",
        ),
        prod(
            datetime!(2026-03-02 08:32 UTC),
            Reported,
            Success,
            "r4",
            "cart",
        ),
        // r5 cart: already live, r6 cart: stale. Neither is a deploy.
        prod(
            datetime!(2026-03-02 10:00 UTC),
            Received,
            Success,
            "r5",
            "cart",
        ),
        prod(
            datetime!(2026-03-02 10:01 UTC),
            Committed,
            Noop,
            "r5",
            "cart",
        ),
        prod(
            datetime!(2026-03-02 10:02 UTC),
            Reported,
            Success,
            "r5",
            "cart",
        ),
        prod(
            datetime!(2026-03-02 11:00 UTC),
            Committed,
            Refused,
            "r6",
            "cart",
        ),
        // r7 cart: committed but the invalidation failed: a failed deploy, still open at `to`.
        prod(
            datetime!(2026-03-02 15:00 UTC),
            Received,
            Success,
            "r7",
            "cart",
        ),
        prod(
            datetime!(2026-03-02 15:30 UTC),
            Committed,
            Success,
            "r7",
            "cart",
        ),
        prod(
            datetime!(2026-03-02 15:31 UTC),
            Invalidated,
            Failure,
            "r7",
            "cart",
        ),
        prod(
            datetime!(2026-03-02 15:32 UTC),
            Reported,
            Failure,
            "r7",
            "cart",
        ),
        // r8 checkout: gave up; restored only after the range (r9), so open at `to`.
        prod(
            datetime!(2026-03-02 20:00 UTC),
            Failed,
            Failure,
            "r8",
            "checkout",
        ),
        prod(
            datetime!(2026-03-03 01:00 UTC),
            Committed,
            Success,
            "r9",
            "checkout",
        ),
        // A request that only got as far as its PR, and a refused one: no deploys.
        prod(
            datetime!(2026-03-02 09:00 UTC),
            Received,
            Success,
            "r10",
            "cart",
        ),
        prod(
            datetime!(2026-03-02 09:01 UTC),
            PrOpened,
            Success,
            "r10",
            "cart",
        ),
        prod(
            datetime!(2026-03-02 09:02 UTC),
            Stage::Refused,
            Refused,
            "r11",
            "cart",
        ),
        // Another environment: ignored for prod.
        ev(
            datetime!(2026-03-01 09:30 UTC),
            Committed,
            Success,
            "r1",
            "staging",
            "checkout",
        ),
        ev(
            datetime!(2026-03-01 09:40 UTC),
            Failed,
            Failure,
            "s2",
            "staging",
            "cart",
        ),
    ]
}

fn range() -> (OffsetDateTime, OffsetDateTime) {
    (
        datetime!(2026-03-01 00:00 UTC),
        datetime!(2026-03-03 00:00 UTC),
    )
}

#[test]
fn environment_aggregates_match_hand_computed_answers() {
    let (from, to) = range();
    let got = aggregate(&history(), &Query::new("prod", from, to)).unwrap();
    let expected = Aggregates {
        environment: "prod".into(),
        mfe: None,
        from,
        to,
        deployments: 3,        // r1, r3, r4
        failed_deployments: 3, // r2, r7, r8
        deployments_per_day: 1.5,
        deployments_by_day: vec![
            DayCount {
                date: "2026-03-01".into(),
                deployments: 2,
            },
            DayCount {
                date: "2026-03-02".into(),
                deployments: 1,
            },
        ],
        // 10 min, 30 min, 66 min
        lead_time: DurationStats {
            samples: 3,
            median_ms: Some(30 * MIN),
            p90_ms: Some(66 * MIN),
        },
        change_failure_rate: Some(0.5),
        // 11h10m (r0b -> r1) and 2h01m (r2 -> r3)
        time_to_restore: DurationStats {
            samples: 2,
            median_ms: Some((2 * HOUR + MIN + 11 * HOUR + 10 * MIN) / 2),
            p90_ms: Some(11 * HOUR + 10 * MIN),
        },
        open_incidents: 2, // cart (r7), checkout (r8)
    };
    assert_eq!(got, expected);
}

#[test]
fn mfe_aggregates_and_event_order_does_not_matter() {
    let (from, to) = range();
    let mut events = history();
    events.reverse();
    let got = aggregate(&events, &Query::new("prod", from, to).mfe("cart")).unwrap();
    assert_eq!(got.mfe.as_deref(), Some("cart"));
    assert_eq!((got.deployments, got.failed_deployments), (1, 1));
    assert!((got.deployments_per_day - 0.5).abs() < f64::EPSILON);
    assert_eq!(
        got.lead_time,
        DurationStats {
            samples: 1,
            median_ms: Some(30 * MIN),
            p90_ms: Some(30 * MIN)
        }
    );
    assert_eq!(got.change_failure_rate, Some(0.5));
    assert_eq!(got.time_to_restore, DurationStats::default());
    assert_eq!(got.open_incidents, 1);

    let checkout = aggregate(&events, &Query::new("prod", from, to).mfe("checkout")).unwrap();
    let all = aggregate(&history(), &Query::new("prod", from, to)).unwrap();
    assert_eq!(checkout.deployments + got.deployments, all.deployments);
    assert_eq!(checkout.time_to_restore, all.time_to_restore);
}

#[test]
fn a_later_range_sees_the_restore_of_an_earlier_failure() {
    let to = datetime!(2026-03-04 00:00 UTC);
    let got = aggregate(
        &history(),
        &Query::new("prod", datetime!(2026-03-03 00:00 UTC), to),
    )
    .unwrap();
    // r9 restores r8 (20:00 -> 01:00); r9 has no `received`, so no lead time.
    assert_eq!((got.deployments, got.failed_deployments), (1, 0));
    assert_eq!(
        got.time_to_restore,
        DurationStats {
            samples: 1,
            median_ms: Some(5 * HOUR),
            p90_ms: Some(5 * HOUR)
        }
    );
    assert_eq!(got.lead_time.samples, 0);
    assert_eq!(got.change_failure_rate, Some(0.0));
    assert_eq!(got.open_incidents, 1, "cart is still failed");
}

#[test]
fn no_events_and_bad_ranges() {
    let (from, to) = range();
    let got = aggregate(&[], &Query::new("prod", from, to)).unwrap();
    assert_eq!(
        (got.deployments, got.change_failure_rate, got.open_incidents),
        (0, None, 0)
    );
    assert_eq!(got.lead_time, DurationStats::default());
    assert!(
        matches!(aggregate(&[], &Query::new("prod", to, from)), Err(Error::Invalid { field, .. }) if field == "range")
    );
    assert!(matches!(
        aggregate(&[], &Query::new("prod", to, to)),
        Err(Error::Invalid { .. })
    ));
}

#[test]
fn aggregates_serialise_to_json() {
    let (from, to) = range();
    let got = aggregate(&history(), &Query::new("prod", from, to)).unwrap();
    let json = serde_json::to_value(&got).unwrap();
    assert_eq!(json["from"], "2026-03-01T00:00:00Z");
    assert_eq!(json["change_failure_rate"], 0.5);
    assert_eq!(json["lead_time"]["median_ms"], 30 * MIN);
    assert_eq!(json["deployments_by_day"][0]["date"], "2026-03-01");
    assert_eq!(json["mfe"], serde_json::Value::Null);
    let back: Aggregates = serde_json::from_value(json).unwrap();
    assert_eq!(back, got);
}

#[test]
fn duration_stats_percentiles() {
    assert_eq!(DurationStats::of(&[]), DurationStats::default());
    assert_eq!(
        DurationStats::of(&[7]),
        DurationStats {
            samples: 1,
            median_ms: Some(7),
            p90_ms: Some(7)
        }
    );
    assert_eq!(
        DurationStats::of(&[4, 1, 3, 2]),
        DurationStats {
            samples: 4,
            median_ms: Some(2),
            p90_ms: Some(4)
        }
    );
    let ten: Vec<u64> = (1..=10).rev().collect();
    assert_eq!(
        DurationStats::of(&ten),
        DurationStats {
            samples: 10,
            median_ms: Some(5),
            p90_ms: Some(9)
        }
    );
    assert_eq!(
        DurationStats::of(&[u64::MAX, u64::MAX]).median_ms,
        Some(u64::MAX)
    );
}

#[test]
fn environments_are_listed_once_sorted() {
    assert_eq!(environments(&history()), ["prod", "staging"]);
}

#[test]
fn a_failed_report_after_a_live_commit_is_not_a_failed_change() {
    let (from, to) = range();
    let at = |m: i64| datetime!(2026-03-01 10:00 UTC) + time::Duration::minutes(m);
    let events = vec![
        prod(at(0), Received, Success, "a", "cart"),
        prod(at(1), Committed, Success, "a", "cart"),
        prod(at(2), Invalidated, Success, "a", "cart"),
        prod(at(3), Reported, Failure, "a", "cart"),
        // A pipeline that only reports: the report decides.
        prod(at(10), Reported, Success, "b", "cart"),
        prod(at(20), Reported, Failure, "c", "cart"),
    ];
    let got = aggregate(&events, &Query::new("prod", from, to)).unwrap();
    assert_eq!((got.deployments, got.failed_deployments), (2, 1));
    assert_eq!(
        got.lead_time,
        DurationStats {
            samples: 1,
            median_ms: Some(MIN),
            p90_ms: Some(MIN)
        }
    );
    assert_eq!(got.open_incidents, 1);
}
