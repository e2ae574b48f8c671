use gitops_metrics::conformance::sample_event;
use gitops_metrics::{Error, EventLog, parse_event_log, read_event_log, read_events};

fn lines(n: usize) -> (Vec<gitops_metrics::StageEvent>, String) {
    let events: Vec<_> = (0..n).map(|i| sample_event(&format!("r{i}"))).collect();
    let mut text = String::new();
    for event in &events {
        text.push_str(&event.to_line().unwrap());
        text.push('\n');
    }
    (events, text)
}

#[test]
fn truncated_last_line_is_tolerated_and_reported() {
    let (events, mut text) = lines(3);
    let partial = sample_event("killed").to_line().unwrap();
    text.push_str(&partial[..partial.len() / 2]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    std::fs::write(&path, &text).unwrap();
    assert_eq!(read_events(&path).unwrap(), events);
    assert_eq!(
        read_event_log(&path).unwrap(),
        EventLog {
            events,
            truncated_line: Some(4)
        }
    );
}

#[test]
fn complete_last_line_without_newline_is_kept() {
    let (mut events, mut text) = lines(2);
    let last = sample_event("last");
    text.push_str(&last.to_line().unwrap());
    events.push(last);
    let log = parse_event_log("mem", text.as_bytes()).unwrap();
    assert_eq!(
        log,
        EventLog {
            events,
            truncated_line: None
        }
    );
}

#[test]
fn corrupt_middle_line_is_reported_with_its_number() {
    let (_, text) = lines(4);
    let mut rows: Vec<&str> = text.lines().collect();
    rows[2] = r#"{"at":"2026-03-01T10:00:00Z","stage":"uploaded""#;
    let text = rows.join("\n") + "\n";
    match parse_event_log("m/events.jsonl", text.as_bytes()) {
        Err(err @ Error::Corrupt { .. }) => {
            let Error::Corrupt { path, line, reason } = &err else {
                unreachable!()
            };
            assert_eq!((path.to_str().unwrap(), *line), ("m/events.jsonl", 3));
            assert!(!reason.is_empty());
            assert!(err.to_string().contains("line 3"), "{err}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn corrupt_last_line_with_newline_is_not_a_truncation() {
    let (_, mut text) = lines(2);
    text.push_str("{\"at\":\n");
    assert!(matches!(
        parse_event_log("f", text.as_bytes()),
        Err(Error::Corrupt { line: 3, .. })
    ));
}

#[test]
fn invalid_utf8_and_blank_lines() {
    let (events, text) = lines(2);
    let mut bytes = b"\n   \n".to_vec();
    bytes.extend_from_slice(text.as_bytes());
    assert_eq!(
        parse_event_log("f", &bytes).unwrap().events,
        events,
        "blank lines skipped"
    );
    bytes.extend_from_slice(b"\xff\xfe\n");
    bytes.extend_from_slice(text.as_bytes());
    match parse_event_log("f", &bytes) {
        Err(Error::Corrupt { line, reason, .. }) => {
            assert_eq!(line, 5);
            assert!(reason.contains("UTF-8"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn empty_and_missing_files() {
    assert_eq!(
        parse_event_log("f", b"").unwrap(),
        EventLog {
            events: vec![],
            truncated_line: None
        }
    );
    let dir = tempfile::tempdir().unwrap();
    let err = read_events(dir.path().join("none.jsonl")).unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(
        !Error::Corrupt {
            path: "p".into(),
            line: 1,
            reason: "r".into()
        }
        .is_not_found()
    );
}
