//! The renderers: the Prometheus exposition parsed line by line, the Markdown tables and
//! Mermaid blocks, the terminal table.

use std::collections::{BTreeMap, BTreeSet};

use gitops_metrics::render::{markdown, prometheus, table};
use gitops_metrics::{
    DesiredChange, LiveRecord, MetricsInput, MetricsReport, Outcome, Stage, StageEvent, report,
};

use crate::report::{SINCE, fixture, query};

fn fixture_report() -> MetricsReport {
    report(&fixture(), &query())
}

/// A report whose names hold every character the formats care about.
fn hostile_report() -> MetricsReport {
    let env = "pr\"od\\\n<b>|x";
    let mfe = "ca\"rt} x=\"1\"\n# TYPE";
    let input = MetricsInput {
        live: vec![LiveRecord {
            environment: env.into(),
            mfe: mfe.into(),
            version: "1.0.0|`x`".into(),
            sequence: 1,
            deployed_at: SINCE,
            rollback: false,
            request_id: "r1\n| inject |".into(),
            deployed_by: "<script>alert(1)</script>".into(),
        }],
        events: vec![
            StageEvent::new(
                SINCE,
                Stage::Uploaded,
                Outcome::Success,
                "r1",
                env,
                mfe,
                "1.0.0",
            )
            .with_duration_ms(1_500),
        ],
        desired: vec![DesiredChange {
            environment: env.into(),
            mfe: mfe.into(),
            version: "1.0.0|`x`".into(),
            rollback: false,
            request_id: "r1\n| inject |".into(),
            requested_by: "<script>".into(),
            requested_at: Some(SINCE - time::Duration::hours(2)),
            source_commit_at: None,
            merged_at: SINCE,
            commit: "abc".into(),
        }],
    };
    report(&input, &query())
}

/// One sample line: `name{k="v",...} value`, label values unescaped.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn parse_sample(line: &str) -> Sample {
    let open = line
        .find('{')
        .unwrap_or_else(|| panic!("no labels: {line}"));
    let name = &line[..open];
    assert!(
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
        "bad name in {line:?}"
    );
    let mut labels = BTreeMap::new();
    let mut rest = line[open + 1..].chars().peekable();
    loop {
        if rest.peek() == Some(&'}') {
            rest.next();
            break;
        }
        let key: String = rest.by_ref().take_while(|c| *c != '=').collect();
        assert!(
            !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad label name {key:?} in {line:?}"
        );
        assert_eq!(rest.next(), Some('"'), "{line:?}");
        let mut value = String::new();
        loop {
            match rest.next() {
                Some('\\') => match rest.next() {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => panic!("bad escape {other:?} in {line:?}"),
                },
                Some('"') => break,
                Some('\n') | None => panic!("unterminated label value in {line:?}"),
                Some(c) => value.push(c),
            }
        }
        assert!(
            labels.insert(key, value).is_none(),
            "duplicate label in {line:?}"
        );
        match rest.next() {
            Some(',') => {}
            Some('}') => break,
            other => panic!("expected , or }} got {other:?} in {line:?}"),
        }
    }
    assert_eq!(rest.next(), Some(' '), "{line:?}");
    let value: String = rest.collect();
    let value: f64 = value
        .parse()
        .unwrap_or_else(|_| panic!("bad value {value:?} in {line:?}"));
    Sample {
        name: name.to_owned(),
        labels,
        value,
    }
}

/// Parses the exposition: every line a HELP, a TYPE or a sample; HELP and TYPE once per name,
/// before its samples; no duplicate series.
fn parse_exposition(text: &str) -> Vec<Sample> {
    assert!(text.ends_with('\n'));
    let mut helped = BTreeSet::new();
    let mut typed = BTreeSet::new();
    let mut series = BTreeSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(helped.insert(name.to_owned()), "HELP twice for {name}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert_eq!(kind, "gauge", "{line}");
            assert!(helped.contains(name), "TYPE before HELP for {name}");
            assert!(typed.insert(name.to_owned()), "TYPE twice for {name}");
        } else {
            assert!(!line.starts_with('#'), "unexpected comment {line:?}");
            let sample = parse_sample(line);
            assert!(typed.contains(&sample.name), "sample before TYPE: {line}");
            assert!(
                series.insert((sample.name.clone(), sample.labels.clone())),
                "duplicate series {line}"
            );
            samples.push(sample);
        }
    }
    samples
}

fn find<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Option<&'a Sample> {
    samples.iter().find(|s| {
        s.name == name
            && s.labels.len() == labels.len()
            && labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
    })
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    find(samples, name, labels)
        .unwrap_or_else(|| panic!("no {name} {labels:?}"))
        .value
}

#[test]
fn prometheus_exposition_parses_and_holds_the_figures() {
    let text = prometheus(&fixture_report());
    let samples = parse_exposition(&text);
    for name in [
        "gitops_deployments",
        "gitops_deployment_frequency_per_day",
        "gitops_lead_time_seconds",
        "gitops_change_failure_rate",
        "gitops_recovery_time_seconds",
        "gitops_stage_duration_seconds",
    ] {
        assert_eq!(
            text.matches(&format!("# TYPE {name} gauge\n")).count(),
            1,
            "{name}"
        );
    }
    let prod = [("environment", "prod")];
    assert!((value(&samples, "gitops_deployments", &prod) - 8.0).abs() < 1e-9);
    assert!(
        (value(
            &samples,
            "gitops_deployments",
            &[("environment", "prod"), ("mfe", "cart")]
        ) - 4.0)
            .abs()
            < 1e-9
    );
    assert!(
        (value(&samples, "gitops_deployment_frequency_per_day", &prod) - 8.0 / 30.0).abs() < 1e-9
    );
    let lead = |q| {
        value(
            &samples,
            "gitops_lead_time_seconds",
            &[prod[0], ("quantile", q)],
        )
    };
    assert!((lead("0.5") - 3600.0).abs() < 1e-9);
    assert!((lead("0.9") - 86_400.0).abs() < 1e-9);
    assert!((value(&samples, "gitops_change_failure_rate", &prod) - 3.0 / 7.0).abs() < 1e-9);
    assert!((value(&samples, "gitops_recovery_time_seconds", &prod) - 14_400.0).abs() < 1e-9);
    let merge = |q| {
        value(
            &samples,
            "gitops_stage_duration_seconds",
            &[("stage", "merge"), ("quantile", q)],
        )
    };
    assert!((merge("0.5") - 270.0).abs() < 1e-9);
    assert!((merge("0.9") - 480.0).abs() < 1e-9);
    assert!((merge("1") - 480.0).abs() < 1e-9);
    // Undefined figures have no sample: prod/search has no lead time, no recovery.
    let search = [("environment", "prod"), ("mfe", "search")];
    assert!(find(&samples, "gitops_recovery_time_seconds", &search).is_none());
    assert!(
        find(
            &samples,
            "gitops_lead_time_seconds",
            &[search[0], search[1], ("quantile", "0.5")]
        )
        .is_none()
    );
}

#[test]
fn prometheus_escapes_label_values() {
    let text = prometheus(&hostile_report());
    let samples = parse_exposition(&text);
    let env = "pr\"od\\\n<b>|x";
    let mfe = "ca\"rt} x=\"1\"\n# TYPE";
    assert!(
        (value(
            &samples,
            "gitops_deployments",
            &[("environment", env), ("mfe", mfe)]
        ) - 1.0)
            .abs()
            < 1e-9
    );
    assert!(text.contains(r#"environment="pr\"od\\\n<b>|x""#), "{text}");
}

#[test]
fn prometheus_of_an_empty_report_has_headers_only() {
    let text = prometheus(&report(&MetricsInput::default(), &query()));
    assert!(parse_exposition(&text).is_empty());
    assert_eq!(text.matches("# HELP ").count(), 6);
}

/// The Mermaid blocks of `text`, each block's lines.
fn mermaid_blocks(text: &str) -> Vec<Vec<&str>> {
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line == "```mermaid" {
            blocks.push(lines.by_ref().take_while(|l| *l != "```").collect());
        }
    }
    blocks
}

/// The items of `x-axis [..]` or `bar [..]`.
fn list<'a>(block: &[&'a str], key: &str) -> Vec<&'a str> {
    let line = block
        .iter()
        .find_map(|l| l.trim().strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in {block:?}"));
    let inner = line
        .trim()
        .strip_prefix('[')
        .and_then(|l| l.strip_suffix(']'))
        .unwrap();
    inner.split(", ").collect()
}

/// What Mermaid's xychart-beta grammar accepts, in the shape we write it.
fn check_xychart(block: &[&str]) {
    assert_eq!(block[0], "xychart-beta");
    for line in &block[1..] {
        let line = line.trim();
        let ok = (line.starts_with("title \"") && line.ends_with('"'))
            || line.starts_with("x-axis [")
            || line.starts_with("y-axis \"")
            || line.starts_with("bar [");
        assert!(ok, "unexpected line {line:?}");
        // Quoted strings: no quote inside, only characters the grammar's string token takes.
        for (i, part) in line.split('"').enumerate() {
            if i % 2 == 1 {
                assert!(
                    part.chars()
                        .all(|c| c.is_ascii_alphanumeric() || " -_.:/()".contains(c)),
                    "label {part:?}"
                );
            }
        }
    }
    let labels = list(block, "x-axis");
    let bars = list(block, "bar");
    assert_eq!(labels.len(), bars.len());
    for bar in bars {
        let value: f64 = bar.parse().unwrap_or_else(|_| panic!("bar {bar}"));
        assert!(value.is_finite() && value >= 0.0);
    }
}

#[test]
fn markdown_has_the_tables_and_mermaid_charts() {
    let text = markdown(&fixture_report());
    assert!(text.contains("| Environment | MFE | Deploys |"), "{text}");
    assert!(
        text.contains("| prod | *(all)* | 8 (1 rollback) | 0.267 |"),
        "{text}"
    );
    assert!(
        text.contains("| prod | checkout | 2 | 0.067 | 1h 30m | 2h 00m |"),
        "{text}"
    );
    assert!(text.contains("| 42.857% (3/7) |"), "{text}");
    assert!(text.contains("| Stage | Count | Failures | p50 | p90 | Max |"));
    assert!(
        text.contains("| merge | 2 | 0 | 4m 30s | 8m 00s | 8m 00s |"),
        "{text}"
    );
    assert!(text.contains("Slowest stage: merge (p50 4m 30s)"));
    assert!(text.contains("| Deployed at | Environment | MFE | Version |"));
    assert!(text.contains("<details><summary>Formulas and counts</summary>"));
    assert!(text.contains("failed changes / changes = 3 / 7"));

    let blocks = mermaid_blocks(&text);
    assert_eq!(blocks.len(), 2, "{text}");
    for block in &blocks {
        check_xychart(block);
    }
    // Deploys per day: 30 days, 03-01 .. 03-30, 12 deploys in all (8 prod + 4 staging).
    let days = list(&blocks[0], "x-axis");
    assert_eq!(days.len(), 30);
    assert_eq!((days[0], days[29]), ("\"03-01\"", "\"03-30\""));
    let bars: Vec<u64> = list(&blocks[0], "bar")
        .iter()
        .map(|b| b.parse().unwrap())
        .collect();
    assert_eq!(bars.iter().sum::<u64>(), 12);
    assert_eq!(bars[11], 2, "03-12: P2 and R1");
    // Lead time: both environments 1h.
    assert_eq!(list(&blocks[1], "x-axis"), ["\"prod\"", "\"staging\""]);
    assert_eq!(list(&blocks[1], "bar"), ["1", "1"]);
}

#[test]
fn markdown_escapes_hostile_names_and_keeps_mermaid_valid() {
    let text = markdown(&hostile_report());
    assert!(!text.contains("<script>"), "{text}");
    assert!(!text.contains("<b>"), "{text}");
    assert!(text.contains("&lt;script&gt;"));
    // Every table row keeps its cell count.
    for line in text.lines().filter(|l| l.starts_with("| ")) {
        let cells = line.replace("\\|", "").matches('|').count();
        assert!(cells == 8 || cells == 10 || cells == 7, "{line}");
    }
    let blocks = mermaid_blocks(&text);
    assert_eq!(blocks.len(), 2, "{text}");
    for block in &blocks {
        check_xychart(block);
    }
    assert_eq!(list(&blocks[1], "x-axis"), ["\"pr_od___b__x\""]);
    assert_eq!(list(&blocks[1], "bar"), ["2"]);
}

#[test]
fn markdown_of_an_empty_report() {
    let text = markdown(&report(&MetricsInput::default(), &query()));
    assert!(text.contains("No deploys, requests or events in the selection."));
    assert!(text.contains("No lead time in the window."));
    let blocks = mermaid_blocks(&text);
    assert_eq!(blocks.len(), 1);
    check_xychart(&blocks[0]);
    assert!(list(&blocks[0], "bar").iter().all(|b| *b == "0"));
}

#[test]
fn long_windows_group_days() {
    let mut q = query();
    q.since = SINCE - time::Duration::days(365);
    let text = markdown(&report(&fixture(), &q));
    let blocks = mermaid_blocks(&text);
    check_xychart(&blocks[0]);
    assert!(
        blocks[0][1].contains("Deploys per 7 days"),
        "{:?}",
        blocks[0]
    );
    assert!(list(&blocks[0], "bar").len() <= 60);
    let total: u64 = list(&blocks[0], "bar")
        .iter()
        .map(|b| b.parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 13, "S0 is in the longer window too");
}

#[test]
fn table_lists_rows_formulas_stages_and_recent() {
    let text = table(&fixture_report());
    assert!(
        text.starts_with("Deploy metrics, 2026-03-01T00:00:00Z to 2026-03-31T00:00:00Z (30 days)")
    );
    assert!(text.contains("ENVIRONMENT"));
    let prod = text
        .lines()
        .find(|l| l.starts_with("prod ") && l.contains("(all)"))
        .unwrap();
    assert!(prod.contains("8 (1 rollback)"), "{prod}");
    assert!(prod.contains("42.857% (3/7)"), "{prod}");
    assert!(prod.contains("4h 00m (1 unrecovered)"), "{prod}");
    assert!(text.contains("  change failure rate: failed changes / changes = 3 / 7"));
    assert!(text.contains("Slowest stage: merge (p50 4m 30s)"));
    assert!(text.contains("Last 13 deploys:"));
    // The hostile names cannot add lines.
    let hostile = table(&hostile_report());
    assert!(hostile.contains(r#"pr\"od\\\n<b>|x"#), "{hostile}");
}
