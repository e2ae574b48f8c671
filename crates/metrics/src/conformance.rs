//! Checks every storing [`MetricsSink`] backend must pass (behind the `conformance` feature).
//!
//! Each check takes the sink and a `read_back` closure returning everything the sink has stored
//! so far, in order. They panic (assert) on a violation, so call them from tests.

use std::sync::Arc;

use time::OffsetDateTime;
use time::macros::datetime;

use crate::{Error, MAX_DETAIL_BYTES, MetricsSink, Outcome, Stage, StageEvent};

/// A valid event with the given request id.
pub fn sample_event(request_id: &str) -> StageEvent {
    StageEvent::new(
        datetime!(2026-03-01 10:00:00.125 UTC),
        Stage::Uploaded,
        Outcome::Success,
        request_id,
        "prod",
        "checkout",
        "1.4.0",
    )
    .with_duration_ms(1234)
    .with_detail("12 files, \"quoted\"\nsecond line")
}

/// Runs every check on a sink that starts empty.
pub fn run_all(sink: &Arc<dyn MetricsSink>, read_back: &dyn Fn() -> Vec<StageEvent>) {
    records_in_order(sink.as_ref(), read_back);
    refuses_unrepresentable_time(sink.as_ref(), read_back);
    caps_long_detail(sink.as_ref(), read_back);
    concurrent_records_whole(sink, read_back, 4, 50);
}

/// Recorded events read back equal and in order.
pub fn records_in_order(sink: &dyn MetricsSink, read_back: &dyn Fn() -> Vec<StageEvent>) {
    let before = read_back().len();
    let events: Vec<StageEvent> = (0..3)
        .map(|i| sample_event(&format!("order-{i}")))
        .collect();
    for event in &events {
        sink.record(event).expect("a valid event is recorded");
    }
    let stored = read_back();
    assert_eq!(
        &stored[before..],
        &events[..],
        "events read back equal, in order"
    );
}

/// An event whose time RFC 3339 cannot hold is refused with `Invalid { field: "at" }` and not
/// stored.
pub fn refuses_unrepresentable_time(
    sink: &dyn MetricsSink,
    read_back: &dyn Fn() -> Vec<StageEvent>,
) {
    let before = read_back().len();
    let mut event = sample_event("bad-time");
    event.at = OffsetDateTime::UNIX_EPOCH
        .replace_year(-5)
        .expect("year -5 exists");
    match sink.record(&event) {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, "at"),
        other => panic!("expected Invalid {{ field: \"at\" }}, got {other:?}"),
    }
    assert_eq!(read_back().len(), before, "a refused event is not stored");
}

/// A detail longer than [`MAX_DETAIL_BYTES`] is stored cut, ending with `…`.
pub fn caps_long_detail(sink: &dyn MetricsSink, read_back: &dyn Fn() -> Vec<StageEvent>) {
    let event = sample_event("long-detail").with_duration_ms(1);
    let event = StageEvent {
        detail: Some("é".repeat(MAX_DETAIL_BYTES)),
        ..event
    };
    sink.record(&event).expect("a long detail is recorded");
    let stored = read_back().pop().expect("stored");
    let detail = stored.detail.expect("detail kept");
    assert!(
        detail.len() <= MAX_DETAIL_BYTES,
        "detail cut to {} bytes",
        detail.len()
    );
    assert!(detail.ends_with('…'));
    assert!(detail.starts_with("éé"));
}

/// `threads` threads each record `per_thread` events at once; every one reads back whole.
pub fn concurrent_records_whole(
    sink: &Arc<dyn MetricsSink>,
    read_back: &dyn Fn() -> Vec<StageEvent>,
    threads: usize,
    per_thread: usize,
) {
    let before = read_back().len();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let sink = Arc::clone(sink);
            scope.spawn(move || {
                for i in 0..per_thread {
                    sink.record(&sample_event(&format!("thread-{t}-{i}")))
                        .expect("recorded");
                }
            });
        }
    });
    let stored = read_back();
    assert_eq!(stored.len() - before, threads * per_thread);
    for t in 0..threads {
        let ids: Vec<&str> = stored[before..]
            .iter()
            .map(|e| e.request_id.as_str())
            .filter(|id| id.starts_with(&format!("thread-{t}-")))
            .collect();
        let expected: Vec<String> = (0..per_thread).map(|i| format!("thread-{t}-{i}")).collect();
        assert_eq!(ids, expected, "one thread's events keep their order");
    }
}
