//! The npm package `@mfe-gitops/deploy-request` (`packages/deploy-request`) and `mfe validate`
//! agree on every payload of the shared corpus (`tests/corpus/deploy-request`): the same
//! verdict, the same set of `(field, rule)` problems and, for a valid request, the same canonical
//! request, form and envelope flag. Files under `event-type-<TYPE>/` are checked with
//! `--event-type <TYPE>`.
//!
//! The package's dependencies must be installed (`scripts/check-npm` runs `npm ci`); without them,
//! or without `node`, the test skips, or fails under `GITOPS_TEST_REQUIRE_ALL=1`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const TEST: &str = "npm_contract";
/// Every rule a corpus file must break at least once (`schema` is the fallback for schema
/// keywords the Rust checks always pre-empt, so no payload can produce it).
const RULES: [&str; 17] = [
    "syntax",
    "input-too-large",
    "duplicate-key",
    "not-an-object",
    "required",
    "unknown-key",
    "too-many-keys",
    "too-large",
    "id-or-type",
    "type",
    "pattern",
    "max-length",
    "semver",
    "timestamp",
    "git-ref",
    "cdn-path",
    "envelope",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn package() -> PathBuf {
    root().join("packages/deploy-request")
}

/// `node` and the package's installed dependencies, or why not (after skipping).
fn node_ready() -> bool {
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output();
    let Ok(node) = node.map_err(|e| e.to_string()).and_then(|o| {
        o.status
            .success()
            .then_some(o)
            .ok_or_else(|| "`node --version` failed".to_owned())
    }) else {
        gitops_testkit::skip(
            TEST,
            "`node` is not on PATH (scripts/check-npm installs Node.js and the package's dependencies)",
        );
        return false;
    };
    let version = String::from_utf8_lossy(&node.stdout).trim().to_owned();
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if major < 18 {
        gitops_testkit::skip(
            TEST,
            &format!("node {version} is older than 18 (scripts/check-npm installs a newer one)"),
        );
        return false;
    }
    if !package().join("node_modules/ajv/package.json").is_file() {
        gitops_testkit::skip(
            TEST,
            "packages/deploy-request/node_modules is missing: run scripts/check-npm (it runs `npm ci`)",
        );
        return false;
    }
    true
}

/// Runs a command with a deadline (a stuck child is killed, never waited on forever); returns
/// its exit code and stdout.
fn run(command: &mut Command, what: &str) -> (Option<i32>, Vec<u8>) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        stdout.read_to_end(&mut buf).map(|_| buf)
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        stderr.read_to_end(&mut buf).map(|_| buf)
    });
    let deadline = Instant::now() + Duration::from_mins(2);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within 2 minutes");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = out.join().unwrap().unwrap();
    let err = err.join().unwrap().unwrap();
    assert!(
        matches!(status.code(), Some(0 | 1)),
        "{what} exited with {status}:\n{}",
        String::from_utf8_lossy(&err)
    );
    (status.code(), out)
}

/// The corpus: each file with the event type to check it with (`None`: the default).
fn corpus() -> Vec<(PathBuf, Option<String>)> {
    let dir = root().join("tests/corpus/deploy-request");
    let mut files = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            let event_type = name
                .strip_prefix("event-type-")
                .unwrap_or_else(|| panic!("unexpected directory {}", path.display()))
                .to_owned();
            let mut inner: Vec<_> = std::fs::read_dir(&path)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            inner.sort();
            files.extend(inner.into_iter().map(|p| (p, Some(event_type.clone()))));
        } else if name != "README.md" && !name.starts_with('.') {
            files.push((path, None));
        }
    }
    files
}

fn problems(report: &Value) -> BTreeSet<(String, String)> {
    report["problems"]
        .as_array()
        .expect("a `problems` list")
        .iter()
        .map(|p| {
            (
                p["field"].as_str().expect("a field").to_owned(),
                p["rule"].as_str().expect("a rule").to_owned(),
            )
        })
        .collect()
}

#[test]
fn npm_package_and_mfe_validate_agree_on_the_corpus() {
    let mfe = crate::mfe_bin();
    if !node_ready() {
        return;
    }
    let files = corpus();
    assert!(
        files.len() >= 60,
        "the corpus has {} files; it must keep at least 60",
        files.len()
    );

    // The package, in one node process per event type.
    let mut by_type: BTreeMap<Option<String>, Vec<PathBuf>> = BTreeMap::new();
    for (path, event_type) in &files {
        by_type
            .entry(event_type.clone())
            .or_default()
            .push(path.clone());
    }
    let mut node_reports: BTreeMap<PathBuf, Value> = BTreeMap::new();
    for (event_type, paths) in &by_type {
        let mut command = Command::new("node");
        command.arg(package().join("test/cli.mjs"));
        if let Some(t) = event_type {
            command.args(["--event-type", t]);
        }
        command.args(paths);
        let (_, out) = run(&mut command, "node test/cli.mjs");
        let lines: Vec<&str> = std::str::from_utf8(&out).unwrap().lines().collect();
        assert_eq!(lines.len(), paths.len(), "one report per file from node");
        for (path, line) in paths.iter().zip(lines) {
            node_reports.insert(path.clone(), serde_json::from_str(line).unwrap());
        }
    }

    let mut disagreements = Vec::new();
    let mut rules_seen = BTreeSet::new();
    let (mut valid, mut invalid) = (0, 0);
    for (path, event_type) in &files {
        let mut command = Command::new(&mfe);
        command.args(["validate", "--format", "json"]);
        if let Some(t) = event_type {
            command.args(["--event-type", t]);
        }
        command.arg(path);
        let (code, out) = run(&mut command, "mfe validate");
        let rust: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            code == Some(0),
            rust["valid"] == Value::Bool(true),
            "mfe validate's exit code matches its verdict"
        );
        let node = &node_reports[path];
        let name = path.strip_prefix(root()).unwrap_or(path).display();
        let (rust_problems, node_problems) = (problems(&rust), problems(node));
        rules_seen.extend(rust_problems.iter().map(|(_, rule)| rule.clone()));
        if rust["valid"] == Value::Bool(true) {
            valid += 1;
        } else {
            invalid += 1;
        }
        if rust["valid"] != node["valid"] || rust_problems != node_problems {
            disagreements.push(format!(
                "{name}:\n  mfe validate: valid={} {rust_problems:?}\n  npm package:  valid={} {node_problems:?}",
                rust["valid"], node["valid"]
            ));
        } else if rust["valid"] == Value::Bool(true) {
            for key in ["request", "form", "envelope"] {
                if rust[key] != node[key] {
                    disagreements.push(format!(
                        "{name}: `{key}` differs:\n  mfe validate: {}\n  npm package:  {}",
                        rust[key], node[key]
                    ));
                }
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "the npm package and `mfe validate` disagree on {} of {} corpus files:\n{}",
        disagreements.len(),
        files.len(),
        disagreements.join("\n")
    );
    assert!(
        valid >= 10 && invalid >= 40,
        "the corpus has {valid} valid and {invalid} invalid files"
    );
    let missing: Vec<_> = RULES.iter().filter(|r| !rules_seen.contains(**r)).collect();
    assert!(
        missing.is_empty(),
        "no corpus file breaks the rules {missing:?}"
    );
}

/// The package's copy of the schema is the schema `mfe schema` prints (the Rust types' schema),
/// byte for byte: a stale copy fails here as well as in `npm run check`.
#[test]
fn npm_package_schema_copy_is_current() {
    let mfe = crate::mfe_bin();
    let (code, printed) = run(Command::new(&mfe).arg("schema"), "mfe schema");
    assert_eq!(code, Some(0));
    let copy = std::fs::read(package().join("generated/deploy-request.schema.json")).unwrap();
    assert!(
        copy == printed,
        "packages/deploy-request/generated/deploy-request.schema.json differs from `mfe schema`: \
         regenerate schemas/deploy-request.schema.json, then run `npm run build` in \
         packages/deploy-request (scripts/check-npm checks it)"
    );
}
