//! Reports as people read them: the text and Markdown renderings the `gitops` binary prints and
//! writes to job summaries.

use std::fmt::Write as _;

use gitops_pipeline::{DeployReport, ErrorClass, PairOutcome, StatusRow, SyncState};

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
pub fn deploy_line(pair: &gitops_pipeline::PairReport) -> String {
    format!(
        "{}/{} {}: {} ({} files, {} invalidated, {} ms)",
        pair.environment,
        pair.mfe,
        pair.version,
        outcome_text(&pair.outcome),
        pair.files_uploaded,
        pair.invalidated.len(),
        pair.duration_ms
    )
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
                state_text(r),
            ]
        })
        .collect();
    let header = ["ENVIRONMENT", "MFE", "LIVE", "DEPLOYED AT", "STATE"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for row in &table {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&table) {
        let parts: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    }
    out
}

/// One line per pair that is not in sync: `env/mfe: desired X, live Y: state`.
pub fn drift_line(r: &StatusRow) -> String {
    let or_nothing = |v: Option<String>| v.unwrap_or_else(|| "nothing".to_owned());
    format!(
        "{}/{}: desired {}, live {}: {}",
        r.environment,
        r.mfe,
        or_nothing(r.desired.as_ref().map(ToString::to_string)),
        or_nothing(r.version.as_ref().map(ToString::to_string)),
        state_text(r)
    )
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
