//! Promotion (issue 17): `gitops promote --from staging --to prod` sets every selected MFE in the
//! target environment to the version desired, and live, in the source, through the target's
//! policy, in ONE pull request with one plan comment.
//!
//! Pure planning is separated from effects:
//! - [`plan`] (pure, but for each change's fresh request id): the repository, the source's live
//!   versions and the evaluation time give a [`Plan`]: each change (`mfe: old -> new` and the
//!   desired-state file the policy writes), each refusal with its codes (the policy's own, plus
//!   [`NOT_DESIRED_IN_SOURCE`] and [`NOT_LIVE_IN_SOURCE`]) and each skip (already desired);
//! - [`live_versions`] reads the source's registry, [`propose`] opens or replaces the promotion's
//!   pull request on `gitops-promote/<from>/<to>` ([`gitops_gh_pr::promotion_branch`]) with
//!   compare-and-swap on the head it read, and writes the sticky plan comment
//!   ([`crate::process::PLAN_MARKER`]); [`promote`] runs the three.
//!
//! Each MFE is judged exactly as a request for the target would be: a [`DeployRequest`] built
//! from the source's desired state (same repository, ref, sha, cache keys; environment = the
//! target; user = the promoter; a fresh id) through
//! [`gitops_iac_config::evaluate_with_pending`], so freeze windows, `requires`, allow-lists,
//! downgrades, repository mismatches and pins all come from the policy. The merge checks a
//! promotion pull request file by file ([`crate::merge`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use gitops_event_model::{
    CommitSha, DeployRequest, EnvironmentName, Login, MfeName, RequestId, Version,
};
use gitops_gh_pr::{Change, FileWrite, Forge, PullRequest, promotion_branch};
use gitops_iac_config::{Code, Deployment, Intent, Outcome, Repository, evaluate_with_pending};
use serde::Serialize;
use time::OffsetDateTime;

use crate::process::PLAN_MARKER;
use crate::{Backends, Error};

/// The refusal code of an MFE named with `--mfe` that has no desired state in the source.
pub const NOT_DESIRED_IN_SOURCE: &str = "not-desired-in-source";
/// The refusal code of an MFE whose live version in the source is not its desired version
/// (not deployed yet, or failed): only what is proven live is promoted.
pub const NOT_LIVE_IN_SOURCE: &str = "not-live-in-source";

/// What is promoted, by whom, as of when.
#[derive(Debug, Clone)]
pub struct PromotionAsk {
    /// The source environment (its desired and live versions are promoted).
    pub from: EnvironmentName,
    /// The target environment (its policy judges).
    pub to: EnvironmentName,
    /// Only these MFEs (each registered); empty: every MFE desired in the source.
    pub mfes: Vec<MfeName>,
    /// Who promotes (the requests' `user`, `requested_by` of the files written).
    pub user: Login,
    /// [`Intent::Request`], or [`Intent::Override`] (`--override-pins`: pinned pairs change
    /// where the target allows overrides, lifting their pins).
    pub intent: Intent,
    /// As of when the policy judges (freeze windows).
    pub at: OffsetDateTime,
    /// Propose the accepted MFEs even when others are refused.
    pub allow_partial: bool,
}

/// One reason an MFE is not promoted: a stable code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanReason {
    /// The policy's code (`freeze-window`, `promotion-required`, `pinned`, ...), or
    /// [`NOT_DESIRED_IN_SOURCE`] / [`NOT_LIVE_IN_SOURCE`].
    pub code: String,
    /// Why, in words.
    pub message: String,
}

/// One change of a promotion: the target's desired state of `mfe` moves to `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedChange {
    /// The MFE.
    pub mfe: MfeName,
    /// The target's desired version before (`None`: nothing desired there yet).
    pub previous: Option<Version>,
    /// The version promoted.
    pub version: Version,
    /// The request the change stands for (a fresh id).
    pub request_id: RequestId,
    /// The desired-state file written (`deployments/<to>/<mfe>.json`).
    pub path: String,
    /// Its content, as the policy rendered it.
    #[serde(skip)]
    pub content: String,
}

/// One MFE the promotion refuses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The MFE.
    pub mfe: MfeName,
    /// The version the source desires (`None`: nothing).
    pub version: Option<Version>,
    /// Every reason.
    pub reasons: Vec<PlanReason>,
}

/// One MFE with nothing to promote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skip {
    /// The MFE.
    pub mfe: MfeName,
    /// The version desired in both environments.
    pub version: Version,
    /// Why, in words.
    pub reason: String,
}

/// What a promotion would do, per MFE (each list in MFE order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The source environment.
    pub from: EnvironmentName,
    /// The target environment.
    pub to: EnvironmentName,
    /// The changes the target's policy accepts.
    pub changes: Vec<PlannedChange>,
    /// The MFEs refused, with their reasons.
    pub refused: Vec<Refusal>,
    /// The MFEs already desired in the target at the source's version.
    pub skipped: Vec<Skip>,
}

/// How a promotion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PromotionOutcome {
    /// The changes were proposed in one pull request (with `--allow-partial`, the refused MFEs
    /// left out).
    Proposed,
    /// A dry run: the changes would be proposed.
    WouldPropose,
    /// Nothing to change: every selected MFE is already desired in the target.
    NothingToPromote,
    /// Refused: some MFE is refused and `--allow-partial` was not given, or none may go.
    /// Nothing was proposed.
    Refused,
}

impl Plan {
    /// What a promotion of this plan does: refused when an MFE is refused and `allow_partial`
    /// is not given, or when every MFE that would change is refused; nothing to promote when
    /// nothing changes and nothing is refused; else proposed.
    pub fn outcome(&self, allow_partial: bool) -> PromotionOutcome {
        if !self.refused.is_empty() && (!allow_partial || self.changes.is_empty()) {
            PromotionOutcome::Refused
        } else if self.changes.is_empty() {
            PromotionOutcome::NothingToPromote
        } else {
            PromotionOutcome::Proposed
        }
    }

    /// The plan as the pull request's sticky comment shows it (Markdown).
    pub fn markdown(&self, user: &Login, at: OffsetDateTime) -> String {
        let mut md = format!("### Promotion plan: `{}` -> `{}`\n\n", self.from, self.to);
        let _ = writeln!(
            md,
            "Promoted by @{user}, judged by `{}`'s policy as of {}.\n",
            self.to,
            rfc3339(at)
        );
        if self.changes.is_empty() {
            md.push_str("No change.\n");
        } else {
            let _ = writeln!(md, "**Changes** ({}):\n", self.changes.len());
            md.push_str("| MFE | change |\n|---|---|\n");
            for c in &self.changes {
                let _ = writeln!(
                    md,
                    "| `{}` | {} -> **{}** |",
                    c.mfe,
                    c.previous
                        .as_ref()
                        .map_or_else(|| "nothing".to_owned(), ToString::to_string),
                    c.version
                );
            }
        }
        if !self.refused.is_empty() {
            let _ = writeln!(
                md,
                "\n**Refused** ({}, not proposed):\n",
                self.refused.len()
            );
            md.push_str("| MFE | version | code | reason |\n|---|---|---|---|\n");
            for r in &self.refused {
                for reason in &r.reasons {
                    let _ = writeln!(
                        md,
                        "| `{}` | {} | `{}` | {} |",
                        r.mfe,
                        r.version
                            .as_ref()
                            .map_or_else(|| "nothing".to_owned(), ToString::to_string),
                        reason.code,
                        cell(&reason.message)
                    );
                }
            }
        }
        if !self.skipped.is_empty() {
            let _ = writeln!(
                md,
                "\n**Skipped** ({}, already desired):\n",
                self.skipped.len()
            );
            md.push_str("| MFE | version |\n|---|---|\n");
            for s in &self.skipped {
                let _ = writeln!(md, "| `{}` | {} |", s.mfe, s.version);
            }
        }
        md
    }
}

/// A Markdown table cell: no line breaks, no unescaped `|`.
fn cell(text: &str) -> String {
    text.replace(['\r', '\n'], " ").replace('|', "\\|")
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}

/// The MFEs a promotion looks at: `ask.mfes`, else every MFE with a desired state in the source
/// (in name order).
fn selected(repository: &Repository, ask: &PromotionAsk) -> Vec<MfeName> {
    if ask.mfes.is_empty() {
        repository
            .deployments
            .keys()
            .filter(|(env, _)| *env == ask.from)
            .map(|(_, mfe)| mfe.clone())
            .collect()
    } else {
        let mut mfes = ask.mfes.clone();
        mfes.sort();
        mfes.dedup();
        mfes
    }
}

/// Checks what the ask names against the repository: both environments declared and different,
/// every `--mfe` registered.
///
/// # Errors
/// [`Error::Config`] naming the first problem.
pub fn check_ask(repository: &Repository, ask: &PromotionAsk) -> Result<(), Error> {
    let declared: Vec<&str> = repository
        .config
        .environments
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    for env in [&ask.from, &ask.to] {
        if repository.environment(env).is_none() {
            return Err(Error::Config {
                reason: format!(
                    "environment `{env}` is not declared in gitops.yaml (declared: {})",
                    declared.join(", ")
                ),
            });
        }
    }
    if ask.from == ask.to {
        return Err(Error::Config {
            reason: format!("cannot promote `{}` to itself", ask.from),
        });
    }
    if let Some(mfe) = ask.mfes.iter().find(|m| !repository.mfes.contains_key(*m)) {
        return Err(Error::Config {
            reason: format!("MFE `{mfe}` is not registered: there is no mfes/{mfe}.yaml"),
        });
    }
    if ask.intent.is_rollback() {
        return Err(Error::Config {
            reason: "a promotion is a request or an override, never a rollback".to_owned(),
        });
    }
    Ok(())
}

/// The request promoting `source` (the source's desired state) to `to`, by `user`, at `at`.
fn promotion_request(
    source: &Deployment,
    to: &EnvironmentName,
    user: &Login,
    at: OffsetDateTime,
) -> Result<DeployRequest, String> {
    gitops_iac_config::request_builder_of(source)
        .timestamp(rfc3339(at))
        .user(user.to_string())
        .environment(to.to_string())
        .cache_invalidation_keys(
            source
                .cache_invalidation_keys
                .iter()
                .map(ToString::to_string),
        )
        .build()
        .map_err(|e| format!("the desired state in the source is not a valid request: {e}"))
}

/// The plan of `ask` over `repository`, given the source's `live` versions (by MFE; an MFE
/// missing from the map has nothing live), as of `ask.at`. Pure but for the fresh request id of
/// each change.
///
/// Per selected MFE, in order: no desired state in the source is refused
/// ([`NOT_DESIRED_IN_SOURCE`]); the same version desired in the target is skipped; a live
/// version in the source other than the desired one is refused ([`NOT_LIVE_IN_SOURCE`], naming
/// both); otherwise the target's policy judges the request ([`evaluate_with_pending`] with
/// `ask.intent` and nothing pending): accepted is a change, refused keeps every policy reason.
///
/// # Errors
/// [`check_ask`]'s.
pub fn plan(
    repository: &Repository,
    ask: &PromotionAsk,
    live: &BTreeMap<MfeName, Version>,
) -> Result<Plan, Error> {
    check_ask(repository, ask)?;
    let mut plan = Plan {
        from: ask.from.clone(),
        to: ask.to.clone(),
        changes: Vec::new(),
        refused: Vec::new(),
        skipped: Vec::new(),
    };
    for mfe in selected(repository, ask) {
        let refuse = |version: Option<&Version>, code: &str, message: String| Refusal {
            mfe: mfe.clone(),
            version: version.cloned(),
            reasons: vec![PlanReason {
                code: code.to_owned(),
                message,
            }],
        };
        let Some(source) = repository.deployment(&ask.from, &mfe) else {
            plan.refused.push(refuse(
                None,
                NOT_DESIRED_IN_SOURCE,
                format!("nothing is desired for {mfe} in `{}`", ask.from),
            ));
            continue;
        };
        let target = repository.deployment(&ask.to, &mfe);
        if target.is_some_and(|t| t.version == source.version) {
            plan.skipped.push(Skip {
                mfe: mfe.clone(),
                version: source.version.clone(),
                reason: format!(
                    "{mfe} {} is already desired in `{}`",
                    source.version, ask.to
                ),
            });
            continue;
        }
        if live.get(&mfe) != Some(&source.version) {
            let there = live
                .get(&mfe)
                .map_or_else(|| "nothing is live".to_owned(), |v| format!("{v} is live"));
            plan.refused.push(refuse(
                Some(&source.version),
                NOT_LIVE_IN_SOURCE,
                format!(
                    "`{}` desires {mfe} {} but {there} there: only a live version is promoted (run `gitops deploy`, see `gitops status --env {}`)",
                    ask.from, source.version, ask.from
                ),
            ));
            continue;
        }
        let request = match promotion_request(source, &ask.to, &ask.user, ask.at) {
            Ok(request) => request,
            Err(message) => {
                plan.refused.push(refuse(
                    Some(&source.version),
                    Code::InvalidPayload.as_str(),
                    message,
                ));
                continue;
            }
        };
        let decision = evaluate_with_pending(repository, &request, &ask.intent, ask.at, None);
        match (decision.decision, decision.changes.first()) {
            (Outcome::Accept, Some(file)) => plan.changes.push(PlannedChange {
                mfe: mfe.clone(),
                previous: target.map(|t| t.version.clone()),
                version: source.version.clone(),
                request_id: request.id().clone(),
                path: file.path.clone(),
                content: file.content.clone(),
            }),
            (Outcome::Noop, _) => plan.skipped.push(Skip {
                mfe: mfe.clone(),
                version: source.version.clone(),
                reason: decision
                    .reasons
                    .iter()
                    .map(|r| r.message.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            }),
            _ => plan.refused.push(Refusal {
                mfe: mfe.clone(),
                version: Some(source.version.clone()),
                reasons: decision
                    .reasons
                    .iter()
                    .map(|r| PlanReason {
                        code: r.code.to_string(),
                        message: r.message.clone(),
                    })
                    .collect(),
            }),
        }
    }
    Ok(plan)
}

/// The live versions of the source environment's registry, by MFE (one `list` of the
/// registry: the live entries of one environment are one strongly consistent read on every
/// backend).
///
/// # Errors
/// The environment is not declared; the targets or the registry fail.
pub async fn live_versions(
    repository: &Repository,
    backends: &dyn Backends,
    environment: &EnvironmentName,
) -> Result<BTreeMap<MfeName, Version>, Error> {
    let env = repository
        .environment(environment)
        .ok_or_else(|| Error::Config {
            reason: format!("environment `{environment}` is not declared in gitops.yaml"),
        })?;
    let entries = backends
        .targets(env)
        .await?
        .registry
        .list(environment)
        .await?;
    Ok(entries.into_iter().map(|e| (e.mfe, e.version)).collect())
}

/// What [`promote`] did.
#[derive(Debug, Clone, Serialize)]
pub struct PromotionReport {
    /// How it ended.
    pub outcome: PromotionOutcome,
    /// The plan (changes, refusals, skips).
    #[serde(flatten)]
    pub plan: Plan,
    /// The promotion's pull request, when proposed.
    pub pull_request: Option<u64>,
    /// Its URL.
    pub pull_request_url: Option<String>,
}

/// Proposes `plan`'s changes as ONE pull request on the promotion's branch
/// (`gitops-promote/<from>/<to>`), replacing a pending promotion between the same environments
/// (compare-and-swap on the head read; a lost race is re-read exactly and retried under
/// [`RetryPolicy::CONTENDED`]), based on `base_sha` when given, then writes the one sticky plan
/// comment. Records a `pr-opened` stage event per change.
///
/// # Errors
/// [`Error::Config`] for a plan without changes; the forge's errors; [`Error::Contended`] when
/// the branch kept moving.
pub async fn propose(
    plan: &Plan,
    user: &Login,
    at: OffsetDateTime,
    forge: &dyn Forge,
    base_sha: Option<&CommitSha>,
    metrics: &dyn gitops_metrics::MetricsSink,
) -> Result<PullRequest, Error> {
    use gitops_metrics::{Outcome as Mo, Stage, StageClock};
    if plan.changes.is_empty() {
        return Err(Error::Config {
            reason: "a promotion without changes proposes nothing".to_owned(),
        });
    }
    let branch = promotion_branch(&plan.from, &plan.to);
    let count = plan.changes.len();
    let title = format!(
        "Promote {count} MFE{} from {} to {}",
        if count == 1 { "" } else { "s" },
        plan.from,
        plan.to
    );
    let mut body = format!(
        "Promotion from `{}` to `{}` by @{user}:\n\n",
        plan.from, plan.to
    );
    for c in &plan.changes {
        let _ = writeln!(
            body,
            "- {}: {} -> {} (request `{}`)",
            c.mfe,
            c.previous
                .as_ref()
                .map_or_else(|| "nothing".to_owned(), ToString::to_string),
            c.version,
            c.request_id
        );
    }
    let writes: Vec<FileWrite> = plan
        .changes
        .iter()
        .map(|c| FileWrite::put(c.path.clone(), c.content.clone().into_bytes()))
        .collect();
    let pr = crate::process::propose_contended(&branch, |exact| {
        let (branch, title, body, writes) = (&branch, &title, &body, &writes);
        async move {
            let state = forge.branch_state(branch, None, exact).await?;
            let mut change =
                Change::for_branch(branch, title, body, writes.clone()).judged_against(&state);
            if let Some(base) = base_sha {
                change = change.on_base(base.clone(), None);
            }
            Ok::<_, Error>(forge.propose(&change).await?)
        }
    })
    .await?;
    forge
        .upsert_comment(pr.number, PLAN_MARKER, &plan.markdown(user, at))
        .await?;
    for c in &plan.changes {
        let clock = StageClock::new(
            c.request_id.to_string(),
            plan.to.to_string(),
            c.mfe.to_string(),
            c.version.to_string(),
        );
        crate::record(
            metrics,
            &clock
                .event(Stage::PrOpened, Mo::Success)
                .with_detail(pr.url.clone()),
        );
    }
    Ok(pr)
}

/// Plans `ask` (the source's live versions read from its registry) and, with a `forge` (`None`:
/// a dry run, nothing written) and a plan that is neither refused nor empty, proposes it
/// ([`propose`]).
///
/// # Errors
/// [`check_ask`]'s, the registry's, the forge's.
pub async fn promote(
    repository: &Repository,
    backends: &dyn Backends,
    ask: &PromotionAsk,
    forge: Option<&dyn Forge>,
    base_sha: Option<&CommitSha>,
    metrics: &dyn gitops_metrics::MetricsSink,
) -> Result<PromotionReport, Error> {
    check_ask(repository, ask)?;
    let live = live_versions(repository, backends, &ask.from).await?;
    let plan = plan(repository, ask, &live)?;
    let mut report = PromotionReport {
        outcome: plan.outcome(ask.allow_partial),
        plan,
        pull_request: None,
        pull_request_url: None,
    };
    if report.outcome == PromotionOutcome::Proposed {
        if let Some(forge) = forge {
            let pr = propose(&report.plan, &ask.user, ask.at, forge, base_sha, metrics).await?;
            report.pull_request = Some(pr.number);
            report.pull_request_url = Some(pr.url);
        } else {
            report.outcome = PromotionOutcome::WouldPropose;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests;
