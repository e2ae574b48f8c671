use std::path::Path;
use std::sync::Arc;

use gitops_metrics::conformance::{self, sample_event};
use gitops_metrics::{
    DEFAULT_RELATIVE_PATH, Error, JsonlSink, MemorySink, MetricsSink, MultiSink, NullSink,
    StageEvent, default_path_beside, read_event_log, read_events,
};

#[test]
fn jsonl_sink_passes_conformance_and_creates_parent_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep/er/metrics/events.jsonl");
    let sink: Arc<dyn MetricsSink> = Arc::new(JsonlSink::new(&path));
    assert!(!path.exists(), "nothing is created before the first event");
    let read_back = || read_events(&path).unwrap_or_default();
    conformance::run_all(&sink, &read_back);
    assert!(path.is_file());
}

#[test]
fn memory_sink_passes_conformance() {
    let memory = Arc::new(MemorySink::new());
    let sink: Arc<dyn MetricsSink> = memory.clone();
    conformance::run_all(&sink, &|| memory.events());
    assert!(!memory.is_empty());
    let n = memory.len();
    assert_eq!(memory.take().len(), n);
    assert!(memory.is_empty());
}

#[test]
fn multi_sink_passes_conformance_on_each_backend() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let memory = Arc::new(MemorySink::new());
    let multi = MultiSink::new(vec![memory.clone()]).with(Arc::new(JsonlSink::new(&path)));
    assert_eq!(multi.sinks().len(), 2);
    let sink: Arc<dyn MetricsSink> = Arc::new(multi);
    conformance::run_all(&sink, &|| memory.events());
    // Same events in both; concurrent threads may reach the two backends in different orders.
    let ids = |events: Vec<StageEvent>| {
        let mut ids: Vec<String> = events.into_iter().map(|e| e.request_id).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(read_events(&path).unwrap()), ids(memory.events()));
}

#[test]
fn file_is_one_line_per_event_with_the_exact_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let sink = JsonlSink::new(&path);
    let a = sample_event("a");
    let b = sample_event("b");
    sink.record(&a).unwrap();
    sink.record(&b).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        format!("{}\n{}\n", a.to_line().unwrap(), b.to_line().unwrap())
    );
    // Appends, never truncates: a second sink on the same file adds to it.
    JsonlSink::new(&path).record(&a).unwrap();
    assert_eq!(read_events(&path).unwrap(), vec![a.clone(), b, a]);
}

#[test]
fn concurrent_writers_produce_only_whole_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics/events.jsonl");
    let (threads, per_thread) = (8, 150);
    std::thread::scope(|scope| {
        for t in 0..threads {
            // A sink per thread, as separate processes would each have.
            let sink = JsonlSink::new(&path);
            scope.spawn(move || {
                for i in 0..per_thread {
                    // Long lines make an interleaving visible.
                    let detail = format!("{t}-{i}:").repeat(300);
                    let event = StageEvent {
                        detail: Some(detail),
                        ..sample_event(&format!("t{t}-{i}"))
                    };
                    sink.record(&event).unwrap();
                }
            });
        }
    });
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with('\n'));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), threads * per_thread);
    for line in &lines {
        let event =
            StageEvent::from_line(line).unwrap_or_else(|e| panic!("torn line {e}: {line:.200}"));
        let (t, i) = event.request_id[1..].split_once('-').unwrap();
        assert_eq!(event.detail.unwrap(), format!("{t}-{i}:").repeat(300));
    }
    let log = read_event_log(&path).unwrap();
    assert_eq!(
        (log.events.len(), log.truncated_line),
        (threads * per_thread, None)
    );
}

#[test]
fn unwritable_path_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    let path = blocker.join("events.jsonl");
    match JsonlSink::new(&path).record(&sample_event("x")) {
        Err(err @ Error::Io { .. }) => {
            let Error::Io { path: named, .. } = &err else {
                unreachable!()
            };
            assert!(named.starts_with(&blocker), "{err}");
            assert!(err.to_string().contains("not-a-dir"), "{err}");
        }
        other => panic!("expected Io, got {other:?}"),
    }
}

#[test]
fn multi_sink_tries_every_sink_and_returns_the_first_error() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "").unwrap();
    let memory = Arc::new(MemorySink::new());
    let multi = MultiSink::default()
        .with(Arc::new(JsonlSink::new(blocker.join("events.jsonl"))))
        .with(memory.clone());
    assert!(matches!(
        multi.record(&sample_event("x")),
        Err(Error::Io { .. })
    ));
    assert_eq!(memory.len(), 1, "the later sink still got the event");

    let mut bad = sample_event("bad");
    bad.at = time::macros::datetime!(9999-12-31 23:00 -02:00);
    assert!(matches!(multi.record(&bad), Err(Error::Invalid { .. })));
    assert_eq!(memory.len(), 1, "an invalid event reaches no sink");
}

#[test]
fn null_sink_discards_but_validates() {
    let sink: Arc<dyn MetricsSink> = Arc::new(NullSink);
    sink.record(&sample_event("x")).unwrap();
    let mut bad = sample_event("bad");
    bad.at = time::macros::datetime!(0000-01-01 00:30 +01:00);
    assert!(matches!(sink.record(&bad), Err(Error::Invalid { field, .. }) if field == "at"));
}

#[test]
fn default_location_is_beside_the_registry() {
    assert_eq!(DEFAULT_RELATIVE_PATH, "metrics/events.jsonl");
    assert_eq!(
        default_path_beside(Path::new("state/prod/registry.sqlite")),
        Path::new("state/prod/metrics/events.jsonl")
    );
    assert_eq!(
        default_path_beside(Path::new("registry.sqlite")),
        Path::new("metrics/events.jsonl")
    );
    let sink = JsonlSink::beside_registry(Path::new("/x/registry.db"));
    assert_eq!(sink.path(), Path::new("/x/metrics/events.jsonl"));
}

#[test]
fn sinks_are_object_safe_and_shareable() {
    fn assert_send_sync<T: Send + Sync + ?Sized>() {}
    assert_send_sync::<dyn MetricsSink>();
    let sinks: Vec<Arc<dyn MetricsSink>> = vec![
        Arc::new(NullSink),
        Arc::new(MemorySink::new()),
        Arc::new(JsonlSink::new("unused")),
    ];
    assert!(format!("{:?}", MultiSink::new(sinks)).contains("JsonlSink"));
}

const CHILD_FILE: &str = "GITOPS_METRICS_TEST_CHILD_FILE";
const CHILD_TAG: &str = "GITOPS_METRICS_TEST_CHILD_TAG";
const CHILD_EVENTS: usize = 200;

fn child_detail(tag: &str, i: usize) -> String {
    format!("{tag}-{i}:").repeat(400)
}

/// Not a test on its own: `concurrent_processes_produce_only_whole_lines` runs this test binary
/// again with `CHILD_FILE` set, so that each child process appends to the same file.
#[test]
fn child_writer() {
    let (Ok(path), Ok(tag)) = (std::env::var(CHILD_FILE), std::env::var(CHILD_TAG)) else {
        return;
    };
    let sink = JsonlSink::new(path);
    for i in 0..CHILD_EVENTS {
        let event = StageEvent {
            detail: Some(child_detail(&tag, i)),
            ..sample_event(&format!("{tag}-{i}"))
        };
        sink.record(&event).unwrap();
    }
}

#[test]
fn concurrent_processes_produce_only_whole_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics/events.jsonl");
    let exe = std::env::current_exe().unwrap();
    let tags = ["p0", "p1", "p2", "p3"];
    let children: Vec<_> = tags
        .iter()
        .map(|tag| {
            std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "sink::child_writer",
                    "--test-threads=1",
                    "--quiet",
                ])
                .env(CHILD_FILE, &path)
                .env(CHILD_TAG, tag)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success(), "a child writer failed");
    }
    let log = read_event_log(&path).unwrap();
    assert_eq!(log.truncated_line, None);
    assert_eq!(log.events.len(), tags.len() * CHILD_EVENTS);
    for tag in tags {
        let mine: Vec<&StageEvent> = log
            .events
            .iter()
            .filter(|e| e.request_id.starts_with(&format!("{tag}-")))
            .collect();
        assert_eq!(mine.len(), CHILD_EVENTS);
        for (i, event) in mine.into_iter().enumerate() {
            assert_eq!(
                event.request_id,
                format!("{tag}-{i}"),
                "one process's lines keep their order"
            );
            assert_eq!(event.detail.as_deref(), Some(child_detail(tag, i).as_str()));
        }
    }
}
