//! Merge: the quality checks on a deploy PR (one pair's branch), a promotion PR
//! (`gitops-promote/<from>/<to>`, one file per promoted MFE) or a batch PR
//! (`gitops-batch/<env>`, one file per requested MFE), then a merge of exactly the checked head
//! (the seed's second step).

use gitops_event_model::{EnvironmentName, Login, MfeName};
use gitops_gh_pr::{
    BranchHead, Change, DeploymentState, FileWrite, Forge, PrState, PullRequest, Requester,
    StatusState,
};
use gitops_iac_config::{Approval, Deployment, Outcome, Repository, deployment_path};
use gitops_metrics::{Outcome as Mo, Stage, StageClock};
use serde::Serialize;
use time::OffsetDateTime;

use crate::Error;
use crate::tell::{RequestRef, tell_once, tell_unfinished};

/// The commit status context the checks report under.
pub const CHECK_CONTEXT: &str = "gitops/checks";

/// How a merge attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum MergeOutcome {
    /// Checked and merged.
    Merged {
        /// The merge commit.
        sha: gitops_event_model::CommitSha,
    },
    /// Checks passed; the environment requires an approval of this head, not given yet.
    WaitingForApproval,
    /// A check failed; the reasons are on the PR's head as a failed commit status too.
    Refused {
        /// Why.
        reasons: Vec<String>,
    },
    /// The PR is closed or merged already, or not a deploy PR.
    Skipped {
        /// Why.
        reason: String,
    },
}

/// Runs the checks on PR `number` and merges its head if they pass: the PR's tree is a valid
/// repository (`gitops check`), it changes only bot-owned desired-state files of its own
/// (env, MFE) branch, the policy accepts each change against the base as of `at`, and the
/// environment's approval requirement is met on this head. The merge is guarded by the checked
/// head sha, so a push after the checks makes it fail with a conflict rather than merge
/// unchecked content.
///
/// When `requester` is given, the request the PR holds is told what the checks found (once per
/// change, however often the checks run again): `failure` with the reasons when refused,
/// `in_progress` naming who may approve while it waits. A merge is told by the deploy that
/// follows.
pub async fn merge_pull_request(
    forge: &dyn Forge,
    requester: Option<&dyn Requester>,
    number: u64,
    at: OffsetDateTime,
    metrics: &dyn gitops_metrics::MetricsSink,
) -> Result<MergeOutcome, Error> {
    let pr = forge.pull_request(number).await?;
    if pr.state != PrState::Open {
        return Ok(MergeOutcome::Skipped {
            reason: format!("#{number} is not open"),
        });
    }
    if let Some((_, to)) = gitops_gh_pr::promotion_of_branch(&pr.branch) {
        return merge_several(forge, None, &pr, &to, Several::Promotion, at, metrics, true).await;
    }
    if let Some(env) = gitops_gh_pr::batch_of_branch(&pr.branch) {
        return merge_several(
            forge,
            requester,
            &pr,
            &env,
            Several::Batch,
            at,
            metrics,
            true,
        )
        .await;
    }
    let Some((env, mfe)) = gitops_gh_pr::pair_of_branch(&pr.branch) else {
        return Ok(MergeOutcome::Skipped {
            reason: format!(
                "#{number} is not a deploy, batch or promotion PR (branch {})",
                pr.branch
            ),
        });
    };
    let mut reasons = Vec::new();
    let expected = gitops_iac_config::deployment_path(&env, &mfe);
    for file in forge.changed_files(number).await? {
        if file != expected {
            reasons.push(format!(
                "changes {file}; a deploy PR may only change {expected} (bot-owned)"
            ));
        }
    }
    let head = repository_at(forge, pr.head_sha.as_str(), &mut reasons).await?;
    let base = repository_at(forge, &pr.base, &mut reasons).await?;
    let mut approval_needed = false;
    let clock = head
        .as_ref()
        .and_then(|h| h.deployment(&env, &mfe))
        .map(crate::clock_of);
    if let (Some(head), Some(base)) = (&head, &base) {
        match head.deployment(&env, &mfe) {
            None => reasons.push(format!("{expected} is missing from the PR")),
            Some(desired) => judge_file(base, desired, at, "", &mut reasons),
        }
        approval_needed = base
            .environment(&env)
            .is_some_and(|e| e.approval == Approval::Required);
    }
    let clocks = clock.as_slice();
    if !reasons.is_empty() {
        // Another run (the sweep, a merge job of the same PR) may have merged this head, or a
        // newer request replaced it, while it was checked: the base then already holds this
        // head ("already desired"). Its requester is not told a refusal of what went through.
        let now = forge.pull_request(number).await?;
        if now.state != PrState::Open || now.head_sha != pr.head_sha {
            return Ok(MergeOutcome::Skipped {
                reason: format!("#{number} was merged, closed or moved while it was checked"),
            });
        }
        refuse(forge, &pr, &reasons, clocks, metrics).await?;
        if let (Some(requester), Some(desired)) = (
            requester,
            head.as_ref().and_then(|h| h.deployment(&env, &mfe)),
        ) {
            let what = format!("refused at merge (pull request #{number})");
            tell_refused(requester, desired, &what, &reasons, &pr).await;
        }
        return Ok(MergeOutcome::Refused { reasons });
    }
    pass(
        forge,
        &pr,
        clocks,
        metrics,
        "repository valid, policy accepts, bot-owned files only",
    )
    .await?;
    if approval_needed {
        let desired = head.as_ref().and_then(|h| h.deployment(&env, &mfe));
        let requested_by = desired.map(|d| d.requested_by.clone());
        if counting_approvals(forge, number, requested_by.as_ref())
            .await?
            .is_empty()
        {
            if let (Some(requester), Some(desired)) = (requester, desired) {
                tell_waiting(requester, base.as_ref(), desired, &pr).await;
            }
            return Ok(MergeOutcome::WaitingForApproval);
        }
    }
    let outcome = merge_head(forge, &pr, clocks, metrics).await?;
    if let (Some(requester), Some(base), Some(head)) = (requester, &base, &head) {
        tell_replaced(requester, base, head, &env, &mfe, &pr).await;
    }
    Ok(outcome)
}

/// Tells the request whose desired state the merged `head` replaced on the base that it was
/// superseded, unless its deployment already ended (it went live, failed, or was told): a
/// request merged, then replaced on the base before any deploy took it (a deploy run skipped
/// or still waiting), is never deployed, so no deploy would tell it.
async fn tell_replaced(
    requester: &dyn Requester,
    base: &Repository,
    head: &Repository,
    env: &EnvironmentName,
    mfe: &MfeName,
    pr: &PullRequest,
) {
    let (Some(replaced), Some(newer)) = (base.deployment(env, mfe), head.deployment(env, mfe))
    else {
        return;
    };
    if replaced.request_id == newer.request_id {
        return;
    }
    tell_unfinished(
        requester,
        &RequestRef::of_deployment(replaced),
        DeploymentState::Inactive,
        &format!(
            "superseded by request {} ({mfe} {}) merged in pull request #{}",
            newer.request_id, newer.version, pr.number
        ),
        Some(&pr.url),
        None,
    )
    .await;
}

/// Tells `desired`'s requester that the merge check refused it (`what`: how, and in which pull
/// request), with the `reasons`; once, however often the checks run again (the sweep checks a
/// refused PR every quarter hour).
async fn tell_refused(
    requester: &dyn Requester,
    desired: &Deployment,
    what: &str,
    reasons: &[String],
    pr: &PullRequest,
) {
    tell_once(
        requester,
        &RequestRef::of_deployment(desired),
        DeploymentState::Failure,
        &format!("{what}: {}", reasons.join("; ")),
        Some(&pr.url),
    )
    .await;
}

/// Tells `desired`'s requester, once, that `pr` waits for an approval, and who may give it
/// (the MFE's owners on the `base`).
async fn tell_waiting(
    requester: &dyn Requester,
    base: Option<&Repository>,
    desired: &Deployment,
    pr: &PullRequest,
) {
    let owners = base
        .and_then(|b| b.mfes.get(&desired.mfe))
        .map(|m| m.owners.clone())
        .unwrap_or_default();
    tell_once(
        requester,
        &RequestRef::of_deployment(desired),
        DeploymentState::InProgress,
        &waiting_text(pr.number, &owners, &desired.requested_by),
        Some(&pr.url),
    )
    .await;
}

/// What a requester waiting for an approval is told: the pull request, and who may approve
/// (the MFE's `owners` when it names any, else anyone with write access), never themselves.
fn waiting_text(
    number: u64,
    owners: &[String],
    requested_by: &gitops_event_model::Login,
) -> String {
    let who = if owners.is_empty() {
        "anyone with write access to the GitOps repository".to_owned()
    } else {
        format!("{} (with write access)", owners.join(", "))
    };
    format!("waiting for an approval of pull request #{number} by {who}, not @{requested_by}")
}

/// The approvals of PR `number`'s head that count, sorted: [`Forge::approvals`] less the
/// requester's own (`requested_by` of the desired state; logins compare without case, as on
/// GitHub), less bots' (a login ending in `[bot]`: an app, such as the workflow's own token),
/// less those of users without write access to the GitOps repository
/// ([`Forge::has_write_access`], asked only for the approvals left).
pub async fn counting_approvals(
    forge: &dyn Forge,
    number: u64,
    requester: Option<&gitops_event_model::Login>,
) -> Result<Vec<gitops_event_model::Login>, Error> {
    let mut counting = Vec::new();
    for login in forge.approvals(number).await? {
        let own = requester.is_some_and(|r| r.as_str().eq_ignore_ascii_case(login.as_str()));
        let bot = login.as_str().to_ascii_lowercase().ends_with("[bot]");
        if !own && !bot && forge.has_write_access(&login).await? {
            counting.push(login);
        }
    }
    Ok(counting)
}

/// Checks and merges `pr`, or every open pull request of a deploy branch
/// ([`gitops_gh_pr::pair_of_branch`]), a batch ([`gitops_gh_pr::batch_of_branch`]) or a
/// promotion branch ([`gitops_gh_pr::promotion_of_branch`]), in number order. Each PR's result is its own: one
/// failing does not stop the others.
pub async fn merge_pull_requests(
    forge: &dyn Forge,
    requester: Option<&dyn Requester>,
    pr: Option<u64>,
    at: OffsetDateTime,
    metrics: &dyn gitops_metrics::MetricsSink,
) -> Result<Vec<(u64, Result<MergeOutcome, Error>)>, Error> {
    let numbers = match pr {
        Some(number) => vec![number],
        None => forge
            .open_pull_requests()
            .await?
            .into_iter()
            .filter(|p| {
                p.pair().is_some()
                    || gitops_gh_pr::batch_of_branch(&p.branch).is_some()
                    || gitops_gh_pr::promotion_of_branch(&p.branch).is_some()
            })
            .map(|p| p.number)
            .collect(),
    };
    let mut results = Vec::with_capacity(numbers.len());
    for number in numbers {
        results.push((
            number,
            merge_pull_request(forge, requester, number, at, metrics).await,
        ));
    }
    Ok(results)
}

/// The MFE whose desired state in `to` the file `path` is (`deployments/<to>/<mfe>.json`).
fn promoted_mfe(to: &EnvironmentName, path: &str) -> Option<MfeName> {
    let stem = path
        .strip_prefix(&format!("deployments/{to}/"))?
        .strip_suffix(".json")?;
    let mfe = MfeName::parse(stem).ok()?;
    (deployment_path(to, &mfe) == path).then_some(mfe)
}

/// A pull request setting the desired states of several MFEs of one environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Several {
    /// `gitops-promote/<from>/<to>`: nobody asked from an MFE repository, nobody is told.
    Promotion,
    /// `gitops-batch/<env>`: each file is a request, whose requester is told.
    Batch,
}

impl Several {
    fn noun(self) -> &'static str {
        match self {
            Several::Promotion => "promotion",
            Several::Batch => "batch",
        }
    }
}

/// The checks and merge of a promotion or batch pull request: it changes only desired-state
/// files of `env` (at least one, none deleted), the repository is valid at its head and at the
/// base, each changed file is accepted by [`gitops_iac_config::judge_change`] against the base
/// as of `at`, and the environment's approval rule is met on this head by someone other than
/// those who asked (`requested_by` of the files). The merge is guarded by the checked head sha.
/// A batch's requesters are told, when `requester` is given: a refused file's requester the
/// reasons (the others' requests wait in the batch: nothing of theirs is refused), each one
/// that an approval is awaited, and after the merge the requests the batch replaced on the
/// base. A batch waiting for an approval gets a plan comment listing its changes.
#[allow(clippy::too_many_arguments)] // the check's inputs, each distinct
async fn merge_several(
    forge: &dyn Forge,
    requester: Option<&dyn Requester>,
    pr: &PullRequest,
    env: &EnvironmentName,
    kind: Several,
    at: OffsetDateTime,
    metrics: &dyn gitops_metrics::MetricsSink,
    may_drop: bool,
) -> Result<MergeOutcome, Error> {
    let (number, noun) = (pr.number, kind.noun());
    let mut reasons = Vec::new();
    let mut mfes = Vec::new();
    for file in forge.changed_files(number).await? {
        match promoted_mfe(env, &file) {
            Some(mfe) => mfes.push(mfe),
            None => reasons.push(format!(
                "changes {file}; a {noun} of {env} may only change deployments/{env}/<mfe>.json"
            )),
        }
    }
    if mfes.is_empty() && reasons.is_empty() {
        reasons.push(format!(
            "changes no desired-state file of {env}: nothing to merge"
        ));
    }
    let head = repository_at(forge, pr.head_sha.as_str(), &mut reasons).await?;
    // Read once: a dropped file goes back to exactly the base it was judged against.
    let base_tree = forge.read_tree(&pr.base).await?;
    let base = repository_of(&base_tree, &pr.base, &mut reasons);
    let mut approval_needed = false;
    let mut clocks = Vec::new();
    let mut askers: Vec<Login> = Vec::new();
    let mut desired_files: Vec<&Deployment> = Vec::new();
    let mut refused: Vec<(&Deployment, Vec<String>)> = Vec::new();
    if let (Some(head), Some(base)) = (&head, &base) {
        for mfe in &mfes {
            let Some(desired) = head.deployment(env, mfe) else {
                reasons.push(format!(
                    "deletes {}; a {noun} only sets desired states",
                    deployment_path(env, mfe)
                ));
                continue;
            };
            // A batch's file that the base holds as it is (a refused file dropped back to
            // the base's, or the same change merged meanwhile) is no change to check.
            if kind == Several::Batch && base.deployment(env, mfe) == Some(desired) {
                continue;
            }
            clocks.push(crate::clock_of(desired));
            if !askers.contains(&desired.requested_by) {
                askers.push(desired.requested_by.clone());
            }
            let mut own = Vec::new();
            judge_file(base, desired, at, &format!("{mfe}: "), &mut own);
            if own.is_empty() {
                desired_files.push(desired);
            } else {
                refused.push((desired, own));
            }
        }
        approval_needed = base
            .environment(env)
            .is_some_and(|e| e.approval == Approval::Required);
    }
    let requester = requester.filter(|_| kind == Several::Batch);
    // A batch whose only fault is files the policy refuses drops them (back to the base's
    // content, on the head it checked) and merges the rest: one stale request never holds the
    // others back.
    if kind == Several::Batch && may_drop && reasons.is_empty() && !refused.is_empty() {
        return drop_refused(
            forge,
            requester,
            pr,
            (env, &base_tree),
            &refused,
            at,
            metrics,
        )
        .await;
    }
    for (desired, own) in &refused {
        reasons.extend(own.iter().cloned());
        desired_files.push(desired);
    }
    if !reasons.is_empty() {
        // Another run may have merged this head, or moved it, while it was checked.
        let now = forge.pull_request(number).await?;
        if now.state != PrState::Open || now.head_sha != pr.head_sha {
            return Ok(MergeOutcome::Skipped {
                reason: format!("#{number} was merged, closed or moved while it was checked"),
            });
        }
        refuse(forge, pr, &reasons, &clocks, metrics).await?;
        if let Some(requester) = requester {
            let what = format!("refused at merge (batch pull request #{number})");
            for (desired, own) in &refused {
                tell_refused(requester, desired, &what, own, pr).await;
            }
        }
        return Ok(MergeOutcome::Refused { reasons });
    }
    pass(
        forge,
        pr,
        &clocks,
        metrics,
        &format!("repository valid, policy accepts every file, {env} desired states only"),
    )
    .await?;
    if approval_needed {
        let counting: Vec<Login> = counting_approvals(forge, number, None)
            .await?
            .into_iter()
            .filter(|login| {
                !askers
                    .iter()
                    .any(|p| p.as_str().eq_ignore_ascii_case(login.as_str()))
            })
            .collect();
        if counting.is_empty() {
            if kind == Several::Batch {
                forge
                    .upsert_comment(
                        number,
                        crate::process::PLAN_MARKER,
                        &batch_plan(env, &desired_files),
                    )
                    .await?;
            }
            if let Some(requester) = requester {
                for desired in &desired_files {
                    tell_waiting(requester, base.as_ref(), desired, pr).await;
                }
            }
            return Ok(MergeOutcome::WaitingForApproval);
        }
    }
    let outcome = merge_head(forge, pr, &clocks, metrics).await?;
    if let (Some(requester), Some(base), Some(head)) = (requester, &base, &head) {
        for mfe in &mfes {
            tell_replaced(requester, base, head, env, mfe, pr).await;
        }
    }
    Ok(outcome)
}

/// Drops a batch's `refused` files: tells each one's requester why (first: a run killed
/// after the drop would leave nobody to tell, while one killed before it refuses the same file
/// again and tells it once), writes the `base`'s content (or the deletion) of each on the head
/// that was checked (compare-and-swap: a head moved meanwhile is left to the next check), then
/// checks and merges what is left, once.
async fn drop_refused(
    forge: &dyn Forge,
    requester: Option<&dyn Requester>,
    pr: &PullRequest,
    (env, base): (&EnvironmentName, &gitops_gh_pr::Tree),
    refused: &[(&Deployment, Vec<String>)],
    at: OffsetDateTime,
    metrics: &dyn gitops_metrics::MetricsSink,
) -> Result<MergeOutcome, Error> {
    let number = pr.number;
    for (desired, own) in refused {
        crate::record(
            metrics,
            &crate::clock_of(desired)
                .event(Stage::ChecksPassed, Mo::Failure)
                .with_detail(own.join("; ")),
        );
        if let Some(requester) = requester {
            let what = format!("refused at merge and dropped from batch pull request #{number}");
            tell_refused(requester, desired, &what, own, pr).await;
        }
    }
    let writes = refused
        .iter()
        .map(|(desired, _)| {
            let path = deployment_path(env, &desired.mfe);
            match base.files.get(&path) {
                Some(bytes) => FileWrite::put(path, bytes.clone()),
                None => FileWrite::delete(path),
            }
        })
        .collect();
    let names: Vec<String> = refused.iter().map(|(d, _)| d.mfe.to_string()).collect();
    let change = Change::for_branch(
        &pr.branch,
        format!("Drop {} from the batch", names.join(", ")),
        "The merge check refused these files; they go back to the base's content and the rest of the batch merges.",
        writes,
    )
    .on_base(pr.head_sha.clone(), None)
    .expecting(BranchHead::At(pr.head_sha.clone()))
    .with_pull_request(number)
    .keeping_description();
    match forge.propose(&change).await {
        Ok(_) => {}
        Err(gitops_gh_pr::Error::Conflict { .. }) => {
            return Ok(MergeOutcome::Skipped {
                reason: format!("#{number} was merged, closed or moved while it was checked"),
            });
        }
        Err(e) => return Err(e.into()),
    }
    let now = forge.pull_request(number).await?;
    Box::pin(merge_several(
        forge,
        requester,
        &now,
        env,
        Several::Batch,
        at,
        metrics,
        false,
    ))
    .await
}

/// The plan comment of a batch: each change, its version and request.
fn batch_plan(env: &EnvironmentName, desired: &[&Deployment]) -> String {
    use std::fmt::Write as _;
    let mut plan = format!(
        "### Batch plan\n\n{} change(s) to `{env}`, merged together:\n\n| MFE | version | request | by |\n|---|---|---|---|\n",
        desired.len()
    );
    for d in desired {
        let _ = writeln!(
            plan,
            "| `{}` | **{}** | `{}` | @{} |",
            d.mfe, d.version, d.request_id, d.requested_by
        );
    }
    plan
}

/// Judges one changed desired-state file against the base
/// ([`gitops_iac_config::judge_change`]); each reason it is refused for goes into `reasons`,
/// prefixed with `prefix`.
fn judge_file(
    base: &Repository,
    desired: &Deployment,
    at: OffsetDateTime,
    prefix: &str,
    reasons: &mut Vec<String>,
) {
    let decision = gitops_iac_config::judge_change(base, desired, at);
    match decision.decision {
        Outcome::Accept => {}
        Outcome::Noop => reasons.push(format!(
            "{} {} is already desired in {}",
            desired.mfe, desired.version, desired.environment
        )),
        Outcome::Reject => reasons.extend(
            decision
                .reasons
                .iter()
                .map(|r| format!("{prefix}{}: {}", r.code, r.message)),
        ),
    }
}

/// The checks failed: a failed commit status on the PR's head (the reasons, clipped) and a
/// failed-checks event per clock.
async fn refuse(
    forge: &dyn Forge,
    pr: &PullRequest,
    reasons: &[String],
    clocks: &[StageClock],
    metrics: &dyn gitops_metrics::MetricsSink,
) -> Result<(), Error> {
    let description: String = reasons.join("; ").chars().take(140).collect();
    forge
        .set_status(
            &pr.head_sha,
            CHECK_CONTEXT,
            StatusState::Failure,
            &description,
            None,
        )
        .await?;
    for clock in clocks {
        crate::record(
            metrics,
            &clock
                .event(Stage::ChecksPassed, Mo::Failure)
                .with_detail(reasons.join("; ")),
        );
    }
    Ok(())
}

/// The checks passed: an event per clock and a successful commit status saying what was checked.
async fn pass(
    forge: &dyn Forge,
    pr: &PullRequest,
    clocks: &[StageClock],
    metrics: &dyn gitops_metrics::MetricsSink,
    checked: &str,
) -> Result<(), Error> {
    for clock in clocks {
        crate::record(metrics, &clock.event(Stage::ChecksPassed, Mo::Success));
    }
    forge
        .set_status(
            &pr.head_sha,
            CHECK_CONTEXT,
            StatusState::Success,
            checked,
            None,
        )
        .await?;
    Ok(())
}

/// Merges exactly the checked head (a push since makes it a conflict) and records the merge
/// per clock.
async fn merge_head(
    forge: &dyn Forge,
    pr: &PullRequest,
    clocks: &[StageClock],
    metrics: &dyn gitops_metrics::MetricsSink,
) -> Result<MergeOutcome, Error> {
    let sha = forge.merge(pr.number, &pr.head_sha).await?;
    for clock in clocks {
        crate::record(
            metrics,
            &clock
                .event(Stage::Merged, Mo::Success)
                .with_detail(sha.to_string()),
        );
    }
    Ok(MergeOutcome::Merged { sha })
}

async fn repository_at(
    forge: &dyn Forge,
    git_ref: &str,
    reasons: &mut Vec<String>,
) -> Result<Option<Repository>, Error> {
    Ok(repository_of(
        &forge.read_tree(git_ref).await?,
        git_ref,
        reasons,
    ))
}

/// The repository `tree` (read at `git_ref`) holds, or `None` with its problems in `reasons`.
fn repository_of(
    tree: &gitops_gh_pr::Tree,
    git_ref: &str,
    reasons: &mut Vec<String>,
) -> Option<Repository> {
    match Repository::from_files(&tree.files) {
        Ok(repository) => Some(repository),
        Err(problems) => {
            reasons.extend(problems.iter().map(|p| format!("at {git_ref}: {p}")));
            None
        }
    }
}
