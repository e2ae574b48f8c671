//! `gitops prune` (issue 17): retention of version prefixes in an environment's storage.

use std::fmt::Write as _;

use gitops_pipeline::ErrorClass;
use gitops_pipeline::prune::{PairPrune, PruneOptions, PruneReport};
use time::OffsetDateTime;

use crate::cli::Format;
use crate::report::{Line, Shown};
use crate::{Error, Session};

/// `--keep`'s default: the last five distinct live versions of each pair stay.
pub const DEFAULT_KEEP: usize = 5;

/// `gitops prune`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The environment.
    #[arg(long, visible_alias = "environment")]
    pub env: String,
    /// Only this MFE.
    #[arg(long)]
    pub mfe: Option<String>,
    /// Also keep the last N distinct live versions of each pair (registry history; the live
    /// one counts). 0 keeps only what another rule protects.
    #[arg(long, default_value_t = DEFAULT_KEEP)]
    pub keep: usize,
    /// Only delete version prefixes older than this (30d, 12h, 2w, 90m, or an RFC 3339 time).
    #[arg(long, value_name = "AGE")]
    pub older_than: Option<String>,
    /// List what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Runs `gitops prune`: exit 0 done, 1 refused (a deploy in flight), 3 a deletion failed.
///
/// # Errors
/// Usage, the targets, reading the storage or the registry before anything was deleted.
pub async fn command(session: &Session, args: &Args) -> Result<Shown, Error> {
    let filters = session.filters(Some(&args.env), args.mfe.as_deref())?;
    let Some(environment) = filters.environment else {
        return Err(Error::Usage("gitops prune needs --env".into()));
    };
    let now = OffsetDateTime::now_utc();
    let older_than = args
        .older_than
        .as_deref()
        .map(|value| {
            crate::metrics::parse_since(value, now).map_err(|_| {
                Error::Usage(format!(
                    "--older-than `{}`: give an age (30d, 12h, 2w, 90m) or an RFC 3339 time",
                    value.escape_debug()
                ))
            })
        })
        .transpose()?;
    let options = PruneOptions {
        environment,
        mfe: filters.mfe,
        keep: args.keep,
        older_than,
        dry_run: args.dry_run,
        now,
    };
    let report = gitops_pipeline::prune(&session.repository, &session.runtime, &options).await?;
    Ok(shown(&report, args.format))
}

/// The report as the command shows it, and its exit class.
pub fn shown(report: &PruneReport, format: Format) -> Shown {
    let class = if !report.refused.is_empty() {
        Some(ErrorClass::Refused)
    } else if report.failure.is_some() {
        Some(ErrorClass::Retryable)
    } else {
        None
    };
    let lines = match format {
        Format::Json => vec![Line::Out(crate::report::json(report))],
        Format::Table => text(report),
    };
    Shown { lines, class }
}

/// The report in lines: per pair what is kept (and why) and deleted, then what was freed.
fn text(report: &PruneReport) -> Vec<Line> {
    let env = &report.environment;
    if !report.refused.is_empty() {
        let mut lines = vec![Line::Err(format!(
            "error: refused: a deploy is in flight in {env}; nothing deleted (run gitops deploy, then prune again)"
        ))];
        for pair in &report.refused {
            lines.push(Line::Err(format!("  {env}/{}: {}", pair.mfe, pair.reason)));
        }
        return lines;
    }
    let mut lines = Vec::new();
    let mut rules = format!(
        "prune {env}: keeping live, desired and pinned versions, the last {} live version(s), versions younger than {}s",
        report.keep, report.min_age_seconds
    );
    if let Some(at) = report.older_than.and_then(|t| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    }) {
        let _ = write!(rules, " or changed after {at}");
    }
    lines.push(Line::Out(rules));
    let delete_word = if report.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    for pair in &report.pairs {
        lines.push(Line::Out(pair_heading(env, pair)));
        for kept in &pair.kept {
            let reasons: Vec<&str> = kept.reasons.iter().map(|r| r.as_str()).collect();
            lines.push(Line::Out(format!(
                "  keep          {}  {}",
                kept.version,
                reasons.join(", ")
            )));
        }
        for gone in &pair.deleted {
            lines.push(Line::Out(format!(
                "  {delete_word:<12}  {}  {}",
                gone.version,
                amount(gone.objects, gone.bytes)
            )));
        }
        if let Some(why) = &pair.stopped {
            lines.push(Line::Err(format!("warning: {env}/{}: {why}", pair.mfe)));
        }
    }
    for skipped in &report.skipped {
        lines.push(Line::Out(format!(
            "skipped {}: {} (left alone; see gitops drift)",
            skipped.directory, skipped.reason
        )));
    }
    let freed = amount(report.freed.objects, report.freed.bytes);
    lines.push(Line::Out(if report.dry_run {
        format!("dry run: would free {freed}; nothing deleted")
    } else {
        format!("freed {freed}")
    }));
    if let Some(failure) = &report.failure {
        lines.push(Line::Err(format!(
            "error: deleting {} failed: {} ({} of it deleted before the failure, counted above); run gitops prune again",
            failure.prefix,
            failure.error,
            amount(failure.deleted.objects, failure.deleted.bytes)
        )));
    }
    lines
}

fn pair_heading(env: &gitops_event_model::EnvironmentName, pair: &PairPrune) -> String {
    let or_nothing = |v: Option<&gitops_event_model::Version>| {
        v.map_or_else(|| "nothing".to_owned(), ToString::to_string)
    };
    let mut heading = format!(
        "{env}/{}: live {}, desired {}",
        pair.mfe,
        or_nothing(pair.live.as_ref()),
        or_nothing(pair.desired.as_ref())
    );
    if let Some(pinned) = &pair.pinned {
        let _ = write!(heading, ", pinned {pinned}");
    }
    heading
}

fn amount(objects: u64, bytes: u64) -> String {
    format!("{objects} object(s), {bytes} bytes")
}
