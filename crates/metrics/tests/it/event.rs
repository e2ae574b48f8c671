use std::time::Duration;

use gitops_metrics::{Error, MAX_DETAIL_BYTES, Outcome, Stage, StageClock, StageEvent};
use proptest::prelude::*;
use time::macros::datetime;
use time::{OffsetDateTime, UtcOffset};

fn sample() -> StageEvent {
    StageEvent::new(
        datetime!(2026-03-01 11:30:00.125 +01:30),
        Stage::Uploaded,
        Outcome::Success,
        "01JABCDEF",
        "prod",
        "checkout",
        "1.4.0",
    )
    .with_duration_ms(1234)
}

#[test]
fn line_has_fixed_key_order_utc_time_and_nulls() {
    let line = sample().to_line().unwrap();
    assert_eq!(
        line,
        r#"{"at":"2026-03-01T10:00:00.125Z","stage":"uploaded","outcome":"success","request_id":"01JABCDEF","environment":"prod","mfe":"checkout","version":"1.4.0","duration_ms":1234,"detail":null}"#
    );
    let back = StageEvent::from_line(&line).unwrap();
    assert_eq!(back, sample());
    assert_eq!(back.at.offset(), UtcOffset::UTC);
}

#[test]
fn detail_with_newlines_stays_on_one_line() {
    let event = sample().with_detail("line one\nline two\r\n\u{0}end");
    let line = event.to_line().unwrap();
    assert!(!line.contains('\n') && !line.contains('\r'), "{line}");
    assert!(
        line.ends_with(r#""detail":"line one\nline two\r\n\u0000end"}"#),
        "{line}"
    );
    assert_eq!(StageEvent::from_line(&format!("{line}\n")).unwrap(), event);
}

#[test]
fn stage_and_outcome_names_are_stable() {
    let names: Vec<&str> = Stage::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        names,
        [
            "received",
            "pr-opened",
            "checks-passed",
            "merged",
            "uploaded",
            "committed",
            "invalidated",
            "reported",
            "refused",
            "failed"
        ]
    );
    for stage in Stage::ALL {
        assert_eq!(
            serde_json::to_string(&stage).unwrap(),
            format!("\"{stage}\"")
        );
        assert_eq!(stage.as_str().parse::<Stage>().unwrap(), stage);
    }
    let outcomes: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
    assert_eq!(
        outcomes,
        ["success", "failure", "skipped", "noop", "refused"]
    );
    for outcome in Outcome::ALL {
        assert_eq!(
            serde_json::to_string(&outcome).unwrap(),
            format!("\"{outcome}\"")
        );
        assert_eq!(outcome.as_str().parse::<Outcome>().unwrap(), outcome);
    }
    assert!(matches!(
        "deployed".parse::<Stage>(),
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        "ok".parse::<Outcome>(),
        Err(Error::Invalid { .. })
    ));
}

#[test]
fn missing_optional_keys_and_unknown_keys_are_accepted() {
    let line = r#"{"at":"2026-03-01T10:00:00+02:00","stage":"pr-opened","outcome":"noop","request_id":"r","environment":"dev","mfe":"m","version":"1.0.0","extra":1}"#;
    let event = StageEvent::from_line(line).unwrap();
    assert_eq!(event.at, datetime!(2026-03-01 08:00:00 UTC));
    assert_eq!(event.stage, Stage::PrOpened);
    assert_eq!(event.outcome, Outcome::Noop);
    assert_eq!((event.duration_ms, event.detail), (None, None));
}

#[test]
fn bad_lines_are_refused_with_a_reason() {
    for (line, needle) in [
        (
            r#"{"at":"yesterday","stage":"merged","outcome":"success","request_id":"r","environment":"dev","mfe":"m","version":"1"}"#,
            "RFC 3339",
        ),
        (
            r#"{"at":"2026-03-01T10:00:00Z","stage":"deployed","outcome":"success","request_id":"r","environment":"dev","mfe":"m","version":"1"}"#,
            "deployed",
        ),
        (
            r#"{"at":"2026-03-01T10:00:00Z","stage":"merged","outcome":"success","environment":"dev","mfe":"m","version":"1"}"#,
            "request_id",
        ),
        ("not json", "expected"),
    ] {
        match StageEvent::from_line(line) {
            Err(Error::Invalid { field, reason }) => {
                assert_eq!(field, "line");
                assert!(reason.contains(needle), "{reason} should mention {needle}");
            }
            other => panic!("{line}: expected Invalid, got {other:?}"),
        }
    }
}

#[test]
fn unrepresentable_time_is_refused() {
    let mut event = sample();
    event.at = datetime!(9999-12-31 23:30:00 -01:00); // year 10000 in UTC
    assert!(matches!(event.to_line(), Err(Error::Invalid { field, .. }) if field == "at"));
}

#[test]
fn long_detail_is_cut_on_a_char_boundary() {
    let event = sample().with_detail("ü".repeat(MAX_DETAIL_BYTES));
    let detail = event.detail.clone().unwrap();
    assert!(detail.len() <= MAX_DETAIL_BYTES && detail.ends_with('…'));
    // to_line cuts too when the field was set directly.
    let direct = StageEvent {
        detail: Some("x".repeat(MAX_DETAIL_BYTES + 10)),
        ..sample()
    };
    let back = StageEvent::from_line(&direct.to_line().unwrap()).unwrap();
    assert_eq!(back.detail.unwrap().len(), MAX_DETAIL_BYTES);
    // A detail exactly at the bound is kept whole.
    let exact = sample().with_detail("y".repeat(MAX_DETAIL_BYTES));
    assert_eq!(exact.detail.unwrap(), "y".repeat(MAX_DETAIL_BYTES));
}

#[test]
fn clock_stamps_and_timer_measures() {
    let clock = StageClock::new("req-1", "staging", "cart", "2.0.0");
    let before = OffsetDateTime::now_utc();
    let timer = clock.start(Stage::Committed);
    assert_eq!(timer.stage(), Stage::Committed);
    std::thread::sleep(Duration::from_millis(30));
    let event = timer.finish_with_detail(Outcome::Refused, "stale: 2.1.0 is live");
    let after = OffsetDateTime::now_utc();
    assert!(event.duration_ms.unwrap() >= 30, "{event:?}");
    assert!(before <= event.at && event.at <= after);
    assert_eq!(
        (
            event.request_id.as_str(),
            event.environment.as_str(),
            event.mfe.as_str(),
            event.version.as_str()
        ),
        ("req-1", "staging", "cart", "2.0.0")
    );
    assert_eq!(
        (event.stage, event.outcome),
        (Stage::Committed, Outcome::Refused)
    );
    assert_eq!(event.detail.as_deref(), Some("stale: 2.1.0 is live"));

    let at = datetime!(2026-01-02 03:04:05 UTC);
    let instant = clock.event_at(at, Stage::Received, Outcome::Success);
    assert_eq!(
        (instant.at, instant.duration_ms, instant.detail),
        (at, None, None)
    );
    assert_eq!(clock.request_id(), "req-1");
}

fn arb_event() -> impl Strategy<Value = StageEvent> {
    let at = (
        // 0001-01-01 .. 9998-12-31 in UTC, so any offset stays within years 0000..=9999.
        -62_135_596_800i64..253_370_764_800i64,
        0u32..1_000_000_000,
        -86_399i32..=86_399,
    )
        .prop_map(|(secs, nanos, offset)| {
            let utc = OffsetDateTime::from_unix_timestamp(secs)
                .unwrap()
                .replace_nanosecond(nanos)
                .unwrap();
            utc.to_offset(UtcOffset::from_whole_seconds(offset).unwrap())
        });
    (
        at,
        prop::sample::select(Stage::ALL.to_vec()),
        prop::sample::select(Outcome::ALL.to_vec()),
        any::<String>(),
        any::<String>(),
        any::<String>(),
        any::<String>(),
        any::<Option<u64>>(),
        prop::option::of(any::<String>()),
    )
        .prop_map(
            |(at, stage, outcome, request_id, environment, mfe, version, duration_ms, detail)| {
                StageEvent {
                    at,
                    stage,
                    outcome,
                    request_id,
                    environment,
                    mfe,
                    version,
                    duration_ms,
                    detail,
                }
            },
        )
}

proptest! {
    #[test]
    fn any_event_round_trips_through_one_line(event in arb_event()) {
        let line = event.to_line().unwrap();
        prop_assert!(!line.contains('\n') && !line.contains('\r'));
        let starts = line.starts_with(r#"{"at":""#);
        prop_assert!(starts, "line starts with `at`: {}", line);
        let back = StageEvent::from_line(&line).unwrap();
        prop_assert_eq!(back.at.offset(), UtcOffset::UTC);
        prop_assert_eq!(back, event);
    }
}
