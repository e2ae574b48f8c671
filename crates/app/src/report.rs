//! Reports as people read them: the text and Markdown renderings the `gitops` binary prints and
//! writes to job summaries.

use std::fmt::Write as _;

use gitops_actions::Level;
use gitops_pipeline::{DeployReport, ErrorClass, MergeOutcome, PairOutcome, StatusRow, SyncState};

/// One deploy outcome in words.
pub fn outcome_text(outcome: &PairOutcome) -> String {
    match outcome {
        PairOutcome::Deployed => "deployed".to_owned(),
        PairOutcome::Resumed => "deployed (resumed)".to_owned(),
        PairOutcome::AlreadyLive => "already live".to_owned(),
        PairOutcome::Superseded { live_sequence } => {
            format!("superseded (sequence {live_sequence} is live)")
        }
        PairOutcome::Failed { error, .. } => format!("FAILED: {error}"),
    }
}

/// One line per pair of a deploy: `env/mfe version: outcome (n files, n invalidated, n ms)`.
/// Each warning of the pair follows, `; warning: ...`.
pub fn deploy_line(pair: &gitops_pipeline::PairReport) -> String {
    let mut line = format!(
        "{}/{} {}: {} ({} files, {} invalidated, {} ms)",
        pair.environment,
        pair.mfe,
        pair.version,
        outcome_text(&pair.outcome),
        pair.files_uploaded,
        pair.invalidated.len(),
        pair.duration_ms
    );
    for warning in &pair.warnings {
        let _ = write!(line, "; warning: {warning}");
    }
    line
}

/// The deploy as a Markdown table (the job summary).
pub fn deploy_markdown(report: &DeployReport) -> String {
    let mut md = String::from(
        "### Deploy\n\n| environment | MFE | version | outcome | files | invalidated |\n|---|---|---|---|---|---|\n",
    );
    for p in &report.pairs {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            p.environment,
            p.mfe,
            p.version,
            gitops_actions::cell(&outcome_text(&p.outcome)),
            p.files_uploaded,
            p.invalidated.join("<br>")
        );
    }
    md
}

/// What a status row's state means to a person.
pub fn state_text(r: &StatusRow) -> String {
    let or_nothing = |v: Option<String>| v.unwrap_or_else(|| "nothing".to_owned());
    match r.state {
        SyncState::InSync => "in sync".to_owned(),
        SyncState::LiveDiffers => format!(
            "desired {}",
            or_nothing(r.desired.as_ref().map(ToString::to_string))
        ),
        SyncState::PointersBehind => format!(
            "pointers serve {}",
            or_nothing(r.served.as_ref().map(ToString::to_string))
        ),
        SyncState::CdnPending => "CDN invalidation pending".to_owned(),
        SyncState::NotDesired => "not desired".to_owned(),
        SyncState::Unknown => format!(
            "unknown: {}",
            r.error
                .as_deref()
                .unwrap_or("the environment could not be read")
        ),
    }
}

/// A status row's state, and its pin when the pair is pinned: `in sync; pinned by @ops at
/// 2026-11-30T10:00:00Z (bad release)`.
pub fn state_with_pin(r: &StatusRow) -> String {
    let state = state_text(r);
    match &r.pinned {
        None => state,
        Some(pin) if pin.reason.is_empty() => {
            format!("{state}; pinned by @{} at {}", pin.by, pin.since())
        }
        Some(pin) => format!(
            "{state}; pinned by @{} at {} ({})",
            pin.by,
            pin.since(),
            pin.reason
        ),
    }
}

/// The status matrix as an aligned table with a header.
pub fn status_table(rows: &[StatusRow]) -> String {
    let dash = || "-".to_owned();
    let table: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                r.environment.to_string(),
                r.mfe.to_string(),
                r.version.as_ref().map_or_else(dash, ToString::to_string),
                r.deployed_at.clone().unwrap_or_else(dash),
                state_with_pin(r),
            ]
        })
        .collect();
    aligned(
        ["ENVIRONMENT", "MFE", "LIVE", "DEPLOYED AT", "STATE"],
        &table,
    )
}

/// `header` and `rows` as an aligned table: columns padded to their widest cell, two spaces
/// apart, no trailing blanks, one line each.
pub fn aligned<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let header = header.map(str::to_owned);
    for row in std::iter::once(&header).chain(rows) {
        let parts: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    }
    out
}

/// The class of failure when some environment could not be read: configuration when one's
/// configuration is unusable, else an outside failure (the target is unreachable, refusing or
/// holding data we cannot read); `None` when every environment was read.
pub fn unreadable_class(rows: &[StatusRow]) -> Option<ErrorClass> {
    let classes: Vec<ErrorClass> = rows.iter().filter_map(|r| r.error_class).collect();
    if classes.contains(&ErrorClass::Config) {
        Some(ErrorClass::Config)
    } else if classes.is_empty() {
        None
    } else {
        Some(ErrorClass::Retryable)
    }
}

/// One thing a command shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A line of standard output.
    Out(String),
    /// A line of standard error.
    Err(String),
    /// A finding: in GitHub Actions an annotation of `level`; elsewhere `title: text` on
    /// standard output (it is the command's report).
    Finding {
        /// Annotation level.
        level: Level,
        /// Its title.
        title: String,
        /// Its text.
        text: String,
    },
    /// A failure: in GitHub Actions an annotation of `level`; elsewhere `level: title: text` on
    /// standard error.
    Problem {
        /// Annotation level.
        level: Level,
        /// Its title.
        title: String,
        /// Its text.
        text: String,
    },
}

/// What a command shows, and the class of failure its exit code reports (`None`: success).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shown {
    /// The lines, in order.
    pub lines: Vec<Line>,
    /// The failure to report, if any.
    pub class: Option<ErrorClass>,
}

/// The exit code of a failure class: 2 configuration, 3 an outside failure a retry may help, 1
/// refused.
pub fn exit_code(class: ErrorClass) -> u8 {
    match class {
        ErrorClass::Config => 2,
        ErrorClass::Retryable => 3,
        ErrorClass::Refused => 1,
    }
}

/// Prints what a command shows (findings and problems as annotations in GitHub Actions) and
/// returns its exit code.
pub fn print(shown: Shown) -> u8 {
    for line in shown.lines {
        match line {
            Line::Out(text) => gitops_actions::out(format_args!("{text}")),
            Line::Err(text) => gitops_actions::err(format_args!("{text}")),
            Line::Finding { level, title, text } if gitops_actions::in_actions() => {
                gitops_actions::annotate(level, &title, &text);
            }
            Line::Finding { title, text, .. } => {
                gitops_actions::out(format_args!("{title}: {text}"));
            }
            Line::Problem { level, title, text } => gitops_actions::annotate(level, &title, &text),
        }
    }
    shown.class.map_or(0, exit_code)
}

/// A processed request: its JSON report, and each refusal reason as a problem.
pub fn process(report: &gitops_pipeline::ProcessReport) -> Shown {
    let mut lines = vec![Line::Out(json(report))];
    let refused = report.decision.decision == gitops_iac_config::Outcome::Reject;
    if refused {
        lines.extend(report.decision.reasons.iter().map(|r| Line::Problem {
            level: Level::Error,
            title: r.code.to_string(),
            text: r.message.clone(),
        }));
    }
    Shown {
        lines,
        class: refused.then_some(ErrorClass::Refused),
    }
}

/// Merge results, one line each; the class is the worst failure (configuration over an outside
/// failure over a refusal).
pub fn merge(results: &[(u64, Result<MergeOutcome, gitops_pipeline::Error>)]) -> Shown {
    let mut shown = Shown::default();
    let worsen = |class: ErrorClass, shown: &mut Shown| {
        let rank = |c: Option<ErrorClass>| match c {
            None => 0,
            Some(ErrorClass::Refused) => 1,
            Some(ErrorClass::Retryable) => 2,
            Some(ErrorClass::Config) => 3,
        };
        if rank(Some(class)) > rank(shown.class) {
            shown.class = Some(class);
        }
    };
    for (number, result) in results {
        match result {
            Ok(MergeOutcome::Merged { sha }) => {
                shown
                    .lines
                    .push(Line::Out(format!("#{number}: merged ({sha})")));
            }
            Ok(MergeOutcome::WaitingForApproval) => shown.lines.push(Line::Out(format!(
                "#{number}: checks passed; waiting for an approval of the head"
            ))),
            Ok(MergeOutcome::Refused { reasons }) => {
                worsen(ErrorClass::Refused, &mut shown);
                for reason in reasons {
                    shown
                        .lines
                        .push(Line::Err(format!("error: #{number}: {reason}")));
                }
            }
            Ok(MergeOutcome::Skipped { reason }) => shown
                .lines
                .push(Line::Out(format!("#{number}: skipped: {reason}"))),
            Err(e) => {
                worsen(e.class(), &mut shown);
                shown
                    .lines
                    .push(Line::Err(format!("error: #{number}: {e}")));
            }
        }
    }
    shown
}

/// A deploy as a table of lines (failures as problems); the class: none when every pair is
/// done, configuration when a failure is one, retryable when only outside failures remain,
/// else refused ([`DeployReport::failure_class`]).
pub fn deploy(report: &DeployReport) -> Shown {
    let mut lines = Vec::new();
    if report.pairs.is_empty() {
        lines.push(Line::Out(
            "nothing to deploy: no desired state matches".to_owned(),
        ));
    }
    for pair in &report.pairs {
        if matches!(pair.outcome, PairOutcome::Failed { .. }) {
            lines.push(Line::Problem {
                level: Level::Error,
                title: format!("deploy {}/{} failed", pair.environment, pair.mfe),
                text: deploy_line(pair),
            });
        } else {
            lines.push(Line::Out(deploy_line(pair)));
        }
    }
    Shown {
        lines,
        class: report.failure_class(),
    }
}

/// `value` as one line of JSON; a report that cannot be written says so in JSON.
pub fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| {
        serde_json::json!({"error": format!("cannot serialise the report: {e}")}).to_string()
    })
}

/// `gitops process`/`rollback` in a workflow: the step outputs (`pull-request`, `decision`) and
/// a job summary line, then what [`process`] shows.
pub fn process_in_actions(report: &gitops_pipeline::ProcessReport) -> Shown {
    if let (Some(number), Some(url)) = (report.pull_request, &report.pull_request_url) {
        gitops_actions::set_output("pull-request", &number.to_string());
        gitops_actions::append_summary(&format!(
            "### Deploy request\n\n{}: pull request #{number} {url}\n",
            report.decision.decision
        ));
    }
    gitops_actions::set_output("decision", &report.decision.decision.to_string());
    process(report)
}

/// `gitops deploy`: the job summary, then the pairs as lines (one JSON object with `json`).
pub fn deploy_in_actions(report: &DeployReport, json_format: bool) -> Shown {
    gitops_actions::append_summary(&deploy_markdown(report));
    let mut shown = deploy(report);
    if json_format {
        shown.lines = vec![Line::Out(json(report))];
    }
    shown
}

/// `gitops bootstrap [--check]`: one line per target; with `--check` a missing target is a
/// problem and the command fails (exit 1).
pub fn bootstrap(
    states: &[(
        gitops_event_model::EnvironmentName,
        gitops_runtime::TargetState,
    )],
    check: bool,
) -> Shown {
    let mut lines = Vec::new();
    let mut missing = 0;
    for (env, state) in states {
        if state.present() {
            lines.push(Line::Out(format!("{env}: {state}")));
        } else {
            missing += 1;
            lines.push(Line::Problem {
                level: Level::Error,
                title: "missing target".to_owned(),
                text: format!(
                    "{env}: {state} (gitops bootstrap creates it; on AWS, terraform apply of deploy/terraform)"
                ),
            });
        }
    }
    if check && missing == 0 {
        lines.push(Line::Out(format!("all {} target(s) exist", states.len())));
    }
    Shown {
        lines,
        class: (missing > 0).then_some(ErrorClass::Refused),
    }
}

/// `gitops iam-policy`: the one environment's policy document (`--env`), or an object of them
/// keyed by environment, pretty-printed.
pub fn iam_policies(
    policies: &std::collections::BTreeMap<String, gitops_runtime::iam::PolicyDocument>,
    one: bool,
) -> Shown {
    let text = match policies.values().next() {
        Some(policy) if one => serde_json::to_string_pretty(policy),
        _ => serde_json::to_string_pretty(policies),
    }
    .unwrap_or_else(|e| format!("{{\"error\": \"cannot serialise the policy: {e}\"}}"));
    Shown {
        lines: vec![Line::Out(text)],
        class: None,
    }
}

/// `gitops process --dry-run`: the decision as one JSON object; a rejection fails (exit 1).
pub fn dry_run(decision: &gitops_iac_config::Decision) -> Shown {
    Shown {
        lines: vec![Line::Out(json(decision))],
        class: (decision.decision == gitops_iac_config::Outcome::Reject)
            .then_some(ErrorClass::Refused),
    }
}
