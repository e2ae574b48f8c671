//! `gitops drift` (issue 17): desired (git), live (registry) and served (storage: the version
//! prefix against the artifact's file list, the entry-point aliases, the import map) compared
//! for each pair; each disagreement with its kind and the command that repairs it; `--repair`
//! re-publishes pointers and missing files from the artifact.

use std::fmt::Write as _;

use gitops_actions::Level;
use gitops_pipeline::{DriftOptions, DriftReport, PairDrift};

use crate::cli::Format;
use crate::report::{Line, Shown};
use crate::{Error, Session};

/// `gitops drift`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Only this environment.
    #[arg(long, visible_alias = "environment")]
    pub env: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Re-publish missing files, aliases and import-map entries from the artifact (never
    /// changes a desired or live version).
    #[arg(long)]
    pub repair: bool,
}

/// Runs `gitops drift`: exit 0 in sync, 1 drift found (or a pair's artifact refused), 3 when
/// an environment or pair could not be read, 2 for configuration (the git order of the desired
/// states included: drift reads it as the deploy does, so a shallow clone is refused).
///
/// # Errors
/// Usage (an `--env` not declared), the git order of the desired states.
pub async fn command(session: &Session, args: &Args) -> Result<Shown, Error> {
    let filters = session.filters(args.env.as_deref(), None)?;
    let options = DriftOptions {
        environment: filters.environment,
        revisions: Some(session.runtime.revisions().await?),
        repair: args.repair,
        ..DriftOptions::default()
    };
    let report = gitops_pipeline::drift(&session.repository, &session.runtime, &options).await?;
    Ok(match args.format {
        Format::Json => Shown {
            lines: vec![Line::Out(crate::report::json(&report))],
            class: report.class(),
        },
        Format::Table => shown(&report),
    })
}

/// The report for people: what `--repair` did, the pairs as a table, one finding per line
/// (`drift: env/mfe: kind: detail; repair: command`, an annotation in GitHub Actions), each pair
/// that could not be checked as a problem, and a summary line.
pub fn shown(report: &DriftReport) -> Shown {
    let mut lines = Vec::new();
    for pair in &report.pairs {
        for note in &pair.repaired {
            lines.push(Line::Out(format!(
                "repaired: {}/{}: {note}",
                pair.environment, pair.mfe
            )));
        }
    }
    lines.extend(
        table(&report.pairs)
            .lines()
            .map(|l| Line::Out(l.to_owned())),
    );
    for pair in &report.pairs {
        for finding in &pair.findings {
            lines.push(Line::Finding {
                level: Level::Warning,
                title: "drift".to_owned(),
                text: format!(
                    "{}/{}: {}: {}; repair: {}",
                    pair.environment, pair.mfe, finding.kind, finding.detail, finding.repair
                ),
            });
        }
        if let Some(error) = &pair.error {
            lines.push(Line::Problem {
                level: Level::Error,
                title: format!("cannot check {}/{}", pair.environment, pair.mfe),
                text: error.clone(),
            });
        }
    }
    lines.push(Line::Out(summary(report)));
    Shown {
        lines,
        class: report.class(),
    }
}

fn summary(report: &DriftReport) -> String {
    let total = report.pairs.len();
    let drifted = report
        .pairs
        .iter()
        .filter(|p| !p.findings.is_empty())
        .count();
    let unknown = report.pairs.iter().filter(|p| p.error.is_some()).count();
    if drifted == 0 && unknown == 0 {
        return format!("no drift: {total} pair(s) in sync");
    }
    let findings: usize = report.pairs.iter().map(|p| p.findings.len()).sum();
    let repairable = report
        .pairs
        .iter()
        .flat_map(|p| &p.findings)
        .filter(|f| f.repairable)
        .count();
    let mut line = format!(
        "{drifted} of {total} pair(s) drifted: {findings} finding(s), {repairable} repairable with `gitops drift --repair`"
    );
    if unknown > 0 {
        let _ = write!(line, "; {unknown} pair(s) could not be checked");
    }
    line
}

/// The pairs as an aligned table: environment, MFE, desired, live, served, and the state (`in
/// sync`, the kinds found, or `unknown`).
fn table(pairs: &[PairDrift]) -> String {
    let version = |v: Option<&gitops_event_model::Version>| {
        v.map_or_else(|| "-".to_owned(), ToString::to_string)
    };
    let rows: Vec<[String; 6]> = pairs
        .iter()
        .map(|p| {
            let mut kinds: Vec<&str> = p.findings.iter().map(|f| f.kind.as_str()).collect();
            kinds.dedup();
            let state = match (kinds.is_empty(), p.error.is_some()) {
                (true, false) => "in sync".to_owned(),
                (true, true) => "unknown".to_owned(),
                (false, false) => kinds.join(", "),
                (false, true) => format!("{} (incomplete)", kinds.join(", ")),
            };
            [
                p.environment.to_string(),
                p.mfe.to_string(),
                version(p.desired.as_ref()),
                version(p.live.as_ref()),
                version(p.served.as_ref()),
                state,
            ]
        })
        .collect();
    crate::report::aligned(
        ["ENVIRONMENT", "MFE", "DESIRED", "LIVE", "SERVED", "STATE"],
        &rows,
    )
}
