//! `gitops promote --from SOURCE --to TARGET` (issue 17): one pull request setting every selected
//! MFE in the target environment to the version desired and live in the source, through the
//! target's policy, with one plan comment listing each change and each refusal.

use gitops_event_model::{EnvironmentName, Login};
use gitops_iac_config::Intent;
use gitops_pipeline::ErrorClass;
use gitops_pipeline::promote::{Plan, PromotionAsk, PromotionOutcome, PromotionReport};
use time::OffsetDateTime;

use crate::cli::{ForgeArg, Format};
use crate::report::{Line, Shown, json};
use crate::{Error, Session};

/// Who promotes when `GITHUB_ACTOR` is not set.
const DEFAULT_USER: &str = "gitops-promote";

/// `gitops promote`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The environment whose desired (and live) versions are promoted.
    #[arg(long)]
    pub from: String,
    /// The environment they are promoted to.
    #[arg(long)]
    pub to: String,
    /// Only these MFEs (repeatable); default: every MFE desired in the source.
    #[arg(long = "mfe", value_name = "MFE")]
    pub mfes: Vec<String>,
    /// Print the plan (each change and each refusal) without proposing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Propose the MFEs that may go even when others are refused.
    #[arg(long)]
    pub allow_partial: bool,
    /// Override pins in the target where its `allow_pin_override` allows it (the promoted
    /// desired states lift them).
    #[arg(long)]
    pub override_pins: bool,
    /// Evaluate the policy as of this RFC 3339 time instead of now (freeze windows).
    #[arg(long, value_parser = crate::parse_time)]
    pub at: Option<OffsetDateTime>,
    /// The forge.
    #[arg(long, value_enum, default_value_t = ForgeArg::Auto)]
    pub forge: ForgeArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Runs `gitops promote`: exit 0 when proposed (or, dry, would be) or nothing to promote, 1 when
/// refused (nothing proposed), 2 for a usage or configuration problem, 3 when an outside service
/// failed.
///
/// # Errors
/// Usage (an undeclared environment, an unregistered MFE, a bad `GITHUB_ACTOR`), the
/// registries, the forge.
pub async fn command(session: &Session, args: &Args) -> Result<Shown, Error> {
    let environment = |raw: &str| -> Result<EnvironmentName, Error> {
        session
            .filters(Some(raw), None)?
            .environment
            .ok_or_else(|| Error::Usage(format!("environment `{raw}` is not declared")))
    };
    let (from, to) = (environment(&args.from)?, environment(&args.to)?);
    if from == to {
        return Err(Error::Usage(format!("cannot promote `{from}` to itself")));
    }
    let mut mfes = Vec::with_capacity(args.mfes.len());
    for raw in &args.mfes {
        if let Some(mfe) = session.filters(None, Some(raw))?.mfe {
            mfes.push(mfe);
        }
    }
    let actor = std::env::var("GITHUB_ACTOR").unwrap_or_else(|_| DEFAULT_USER.to_owned());
    let user = Login::parse(&actor)
        .map_err(|e| Error::Usage(format!("GITHUB_ACTOR {actor:?}: {}", e.message)))?;
    let ask = PromotionAsk {
        from,
        to,
        mfes,
        user,
        intent: if args.override_pins {
            Intent::Override
        } else {
            Intent::Request
        },
        at: args.at.unwrap_or_else(OffsetDateTime::now_utc),
        allow_partial: args.allow_partial,
    };
    let handle = if args.dry_run {
        None
    } else {
        Some(session.runtime.forge(args.forge.into()).await?)
    };
    let base = match &handle {
        Some(h) if h.is_github() => session.runtime.checkout_head().await,
        _ => None,
    };
    let report = gitops_pipeline::promote::promote(
        &session.repository,
        &session.runtime,
        &ask,
        handle.as_ref().map(|h| h.forge.as_ref()),
        base.as_ref(),
        &session.metrics,
    )
    .await?;
    Ok(shown(&report, args.format))
}

/// What `gitops promote` shows: the report as one JSON document, or the plan as lines.
pub fn shown(report: &PromotionReport, format: Format) -> Shown {
    let class = (report.outcome == PromotionOutcome::Refused).then_some(ErrorClass::Refused);
    let lines = match format {
        Format::Json => vec![Line::Out(json(report))],
        Format::Table => table(report),
    };
    Shown { lines, class }
}

fn table(report: &PromotionReport) -> Vec<Line> {
    let plan: &Plan = &report.plan;
    let mut lines = vec![Line::Out(format!(
        "promote {} -> {}: {} change(s), {} refused, {} skipped",
        plan.from,
        plan.to,
        plan.changes.len(),
        plan.refused.len(),
        plan.skipped.len()
    ))];
    let width = plan
        .changes
        .iter()
        .map(|c| c.mfe.as_str().len())
        .chain(plan.refused.iter().map(|r| r.mfe.as_str().len()))
        .chain(plan.skipped.iter().map(|s| s.mfe.as_str().len()))
        .max()
        .unwrap_or(0);
    for c in &plan.changes {
        let previous = c
            .previous
            .as_ref()
            .map_or_else(|| "nothing".to_owned(), ToString::to_string);
        lines.push(Line::Out(format!(
            "  change   {:width$}  {previous} -> {}",
            c.mfe, c.version
        )));
    }
    for r in &plan.refused {
        let version = r
            .version
            .as_ref()
            .map_or_else(|| "nothing".to_owned(), ToString::to_string);
        for reason in &r.reasons {
            lines.push(Line::Out(format!(
                "  refused  {:width$}  {version}: {}: {}",
                r.mfe, reason.code, reason.message
            )));
        }
    }
    for s in &plan.skipped {
        lines.push(Line::Out(format!(
            "  skipped  {:width$}  {}: already desired in {}",
            s.mfe, s.version, plan.to
        )));
    }
    lines.push(match report.outcome {
        PromotionOutcome::Proposed => Line::Out(format!(
            "proposed: pull request #{} {}",
            report.pull_request.unwrap_or_default(),
            report.pull_request_url.as_deref().unwrap_or_default()
        )),
        PromotionOutcome::WouldPropose => Line::Out(format!(
            "dry run: would propose {} change(s) in one pull request; nothing written",
            plan.changes.len()
        )),
        PromotionOutcome::NothingToPromote => Line::Out("nothing to promote".to_owned()),
        PromotionOutcome::Refused if plan.changes.is_empty() => Line::Err(format!(
            "refused: nothing may be promoted to {}; nothing proposed",
            plan.to
        )),
        PromotionOutcome::Refused => Line::Err(format!(
            "refused: {} MFE(s) refused; nothing proposed (--allow-partial proposes the {} other change(s))",
            plan.refused.len(),
            plan.changes.len()
        )),
    });
    lines
}
