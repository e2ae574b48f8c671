//! The `mfe` binary: exit codes, output formats, hostile input; render, publish, and dispatch
//! against fake-github.

// Test code runs on the harness's threads: blocking file and process calls are fine here.
#![allow(clippy::disallowed_methods)]

mod dispatch;
mod publish;
mod render;

use std::io::Write;
use std::process::{Command, Output, Stdio};

const MFE: &str = env!("CARGO_BIN_EXE_mfe");
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(MFE)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    // Write from a thread: the child may exit before reading everything.
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn valid_examples_exit_zero() {
    for name in [
        "deploy-request.json",
        "deploy-request.seed.json",
        "repository_dispatch.deploy.json",
    ] {
        let out = run(&["validate", &format!("{EXAMPLES}/{name}")], b"");
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
        assert!(
            text(&out.stdout).starts_with("ok: deploy checkout"),
            "{}",
            text(&out.stdout)
        );
    }
}

#[test]
fn stdin_dash_and_default_read_standard_input() {
    let payload = std::fs::read(format!("{EXAMPLES}/deploy-request.json")).unwrap();
    assert_eq!(run(&["validate", "-"], &payload).status.code(), Some(0));
    assert_eq!(run(&["validate"], &payload).status.code(), Some(0));
}

#[test]
fn invalid_payload_exits_one_with_a_line_per_problem() {
    let out = run(
        &["validate", "-"],
        br#"{"id": "nope", "mfe": "Bad", "extra": 1}"#,
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.iter().all(|l| l.starts_with("error: /")), "{stderr}");
    assert!(
        lines.iter().any(|l| l.starts_with("error: /id: ")),
        "{stderr}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("error: /mfe: ")),
        "{stderr}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("error: /extra: unknown key")),
        "{stderr}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("error: /sha: ")),
        "{stderr}"
    );
}

#[test]
fn json_format_for_machines() {
    let out = run(&["validate", "--format", "json", "-"], br#"{"mfe": 1}"#);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["valid"], false);
    let problems = report["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p["field"] == "/mfe" && p["rule"] == "type")
    );

    let out = run(
        &[
            "validate",
            "--format",
            "json",
            &format!("{EXAMPLES}/deploy-request.seed.json"),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["valid"], true);
    assert_eq!(report["form"], "seed");
    assert_eq!(report["request"]["mfe"], "checkout");
}

#[test]
fn validate_checks_the_event_action() {
    let example = format!("{EXAMPLES}/repository_dispatch.deploy.json");
    let event: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&example).unwrap()).unwrap();
    assert_eq!(event["action"], "deploy-mfe-trigger");

    // The committed event carries the default type.
    let out = run(&["validate", &example], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // Another action is refused by default, naming both types.
    let mut other = event.clone();
    other["action"] = serde_json::json!("deploy-other");
    let other = serde_json::to_vec(&other).unwrap();
    let out = run(&["validate", "-"], &other);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error: /action: ")
            && stderr.contains("\"deploy-other\"")
            && stderr.contains("\"deploy-mfe-trigger\""),
        "{stderr}"
    );

    // With --event-type, that type is the one expected.
    let out = run(&["validate", "--event-type", "deploy-other", "-"], &other);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = run(&["validate", "--event-type", "deploy-other", &example], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("error: /action: "));

    // A missing action is refused; the JSON report names the rule.
    let mut missing = event.clone();
    missing.as_object_mut().unwrap().remove("action");
    let out = run(
        &["validate", "--format", "json", "-"],
        &serde_json::to_vec(&missing).unwrap(),
    );
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["problems"],
        serde_json::json!([{"field": "/action", "rule": "envelope",
            "message": report["problems"][0]["message"]}])
    );

    // A bare payload has no action: unaffected by --event-type.
    let bare = format!("{EXAMPLES}/deploy-request.json");
    let out = run(&["validate", "--event-type", "deploy-other", &bare], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // An event type GitHub would not send is a usage error.
    for bad in ["", "two words", "a/b"] {
        let out = run(&["validate", "--event-type", bad, &bare], b"");
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
}

#[test]
fn validate_refuses_duplicate_keys() {
    let payload = std::fs::read_to_string(format!("{EXAMPLES}/deploy-request.json")).unwrap();
    let doubled = payload.replacen('{', r#"{"repository": "evil/other","#, 1);
    let out = run(&["validate", "-"], doubled.as_bytes());
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: /repository: "), "{stderr}");

    let out = run(&["validate", "--format", "json", "-"], doubled.as_bytes());
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["problems"][0]["rule"], "duplicate-key");
    assert_eq!(report["problems"][0]["field"], "/repository");
}

#[test]
fn usage_and_io_errors_exit_two() {
    assert_eq!(
        run(&["validate", "/definitely/not/here.json"], b"")
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        run(&["validate", "--format", "yaml", "-"], b"{}")
            .status
            .code(),
        Some(2)
    );
    assert_eq!(run(&["frobnicate"], b"").status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        run(&["validate", dir.path().to_str().unwrap()], b"")
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn hostile_input_exits_one_with_a_clear_message() {
    let deep = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
    let big = format!("{{\"user\": \"{}\"}}", "x".repeat(70 * 1024));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("garbage", (0u8..=255).cycle().take(4096).collect()),
        ("invalid utf-8", b"{\"mfe\": \"\xff\xfe\"}".to_vec()),
        (
            "truncated",
            br#"{"id": "01JDQ8Z6X8N7W4K2M5R3T9V1YB", "mfe": "chec"#.to_vec(),
        ),
        ("deep nesting", deep.into_bytes()),
        ("70 KB", big.into_bytes()),
    ];
    for (name, input) in cases {
        let out = run(&["validate", "-"], &input);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let stderr = text(&out.stderr);
        assert!(stderr.starts_with("error: "), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}

#[test]
fn schema_prints_the_committed_schema() {
    let out = run(&["schema"], b"");
    assert_eq!(out.status.code(), Some(0));
    let committed = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schemas/deploy-request.schema.json"
    ))
    .unwrap();
    assert_eq!(out.stdout, committed);
}

/// A reader that goes away (`mfe schema | head -0`) ends the command quietly: no panic, no
/// exit 101.
#[test]
fn a_closed_stdout_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let dist = dir.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(dist.join("remoteEntry.js"), "// x\n").unwrap();
    let to = format!("{}/store/{{name}}-{{version}}.tgz", dir.path().display());
    for args in [
        vec!["schema"],
        vec!["validate", "--format", "json"],
        vec![
            "publish",
            "--dist",
            dist.to_str().unwrap(),
            "--mfe",
            "checkout",
            "--version",
            "1.0.0",
            "--to",
            &to,
        ],
    ] {
        let mut child = Command::new(MFE)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = text(&out.stderr);
        assert_ne!(out.status.code(), Some(101), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
