//! Deploy: reconcile desired state (`deployments/`) with the live registry (DESIGN.md 4.3).
//!
//! Desired states are ordered by git: the deploy of a commit supersedes the deploy of any of its
//! ancestors. The order of a pair's desired state is the first-parent position of the commit on
//! the default branch that last changed its file ([`DeployOptions::revisions`]), so hand edits,
//! `git revert` and bot changes order alike and no number written in a file can make two states
//! collide. That position is the `sequence` of the registry's conditional commit.

use std::collections::BTreeSet;
use std::time::Instant;

use gitops_artifact_store as store;
use gitops_cdn::{InvalidationRequest, PlanInput, plan_invalidation};
use gitops_db_registry::{Entry, Invalidation};
use gitops_event_model::{EnvironmentName, MfeName, Version};
use gitops_gh_pr::DeploymentState;
use gitops_iac_config::{
    ArchiveLimits, Deployment, Environment, MFES_DIR, MfeConfig, Repository, deployment_path,
};
use gitops_metrics::{Outcome as Mo, Stage, StageClock};
use serde::Serialize;
use time::OffsetDateTime;

use crate::tell::{RequestRef, Told, When, tell, tell_as};
use crate::{Backends, Error, ErrorClass, Targets};

/// What to do for one pair, decided from the desired state and the live entry alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Upload, commit, publish pointers, invalidate.
    Deploy,
    /// The registry already has this deploy: make sure the pointers are published and the
    /// pending invalidation, if any, confirmed.
    Live,
    /// The registry holds a newer deploy than the desired state: touch nothing.
    Superseded {
        /// The live sequence.
        live: u64,
    },
}

/// Decides what to do for one pair whose desired state has order `sequence`.
///
/// A desired state whose version is already live from an earlier position (a later commit
/// changed only its pin or its rollback flag) is [`Action::Live`]: nothing is deployed again.
/// A live entry with the same sequence but another version cannot come from git order (one
/// commit, one content); it means the registry was written by something else, and is refused
/// as a conflict, never guessed.
pub fn decide(sequence: u64, desired: &Deployment, live: Option<&Entry>) -> Result<Action, Error> {
    match live {
        None => Ok(Action::Deploy),
        Some(live) if live.sequence > sequence => Ok(Action::Superseded {
            live: live.sequence,
        }),
        Some(live) if live.version == desired.version => Ok(Action::Live),
        Some(live) if live.sequence < sequence => Ok(Action::Deploy),
        Some(live) => Err(Error::Conflict {
            reason: format!(
                "{}/{}: the registry has {} at sequence {sequence} but the desired state says {} at the same position",
                desired.environment, desired.mfe, live.version, desired.version
            ),
        }),
    }
}

/// Options of a deploy run.
#[derive(Debug, Clone, Default)]
pub struct DeployOptions {
    /// Where to tell requesters the outcome (a deployment status on their commit, on the
    /// deployment `process` created for the request id); nobody is told when `None`.
    pub requester: Option<std::sync::Arc<dyn gitops_gh_pr::Requester>>,
    /// Only this environment.
    pub environment: Option<EnvironmentName>,
    /// Only this MFE.
    pub mfe: Option<MfeName>,
    /// Archive bounds: the defaults, each replaced for one MFE by its `limits:`
    /// (`mfes/<mfe>.yaml`).
    pub limits: store::Limits,
    /// Upload parallelism and progress; entry points are filled per MFE.
    pub upload: Option<store::UploadOptions>,
    /// The git order of the desired-state files (`gitops_gh_pr::desired_revisions`). Without
    /// it, the files' own `sequence` orders them (a file without one counts as 1): only for
    /// tools and tests that have no git history; `gitops deploy` always passes it.
    pub revisions: Option<gitops_gh_pr::Revisions>,
}

impl DeployOptions {
    /// The order of `desired`'s state ([`git_position`]).
    fn sequence_of(&self, desired: &Deployment) -> Result<u64, Error> {
        git_position(self.revisions.as_ref(), desired)
    }
}

/// The order of `desired`'s state: the first-parent position of the commit that last changed
/// its file in `revisions`, or without git its file's `sequence` (at least 1). A file git does
/// not know is a configuration error.
pub(crate) fn git_position(
    revisions: Option<&gitops_gh_pr::Revisions>,
    desired: &Deployment,
) -> Result<u64, Error> {
    let Some(revisions) = revisions else {
        return Ok(desired.sequence.max(1));
    };
    let path = deployment_path(&desired.environment, &desired.mfe);
    revisions
        .by_path
        .get(&path)
        .map(|r| r.position)
        .ok_or_else(|| Error::Config {
            reason: format!("{path} is not committed on the checked-out branch"),
        })
}

/// How one pair ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum PairOutcome {
    /// The version was uploaded, committed and published.
    Deployed,
    /// The deploy was already committed (an earlier run was interrupted); what it had left
    /// undone (pointers, the pending invalidation) was finished.
    Resumed,
    /// Already live, published and invalidated: nothing touched, not even the CDN.
    AlreadyLive,
    /// A newer deploy is live; this one was refused at the commit point.
    Superseded {
        /// The live sequence.
        live_sequence: u64,
    },
    /// The deploy failed; what is live did not change unless the commit point was passed.
    Failed {
        /// Why.
        error: String,
        /// Whether a retry may help.
        retryable: bool,
        /// The class of the failure (`config`, `retryable`, `refused`).
        class: ErrorClass,
    },
}

/// The report of one pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairReport {
    /// Environment.
    pub environment: EnvironmentName,
    /// MFE.
    pub mfe: MfeName,
    /// Desired version.
    pub version: Version,
    /// The desired state's order (the registry sequence it commits under), when known.
    pub sequence: u64,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: PairOutcome,
    /// Files written (not counting identical ones already there).
    pub files_uploaded: usize,
    /// Bytes written.
    pub bytes_uploaded: u64,
    /// CDN paths invalidated.
    pub invalidated: Vec<String>,
    /// Wall time.
    pub duration_ms: u64,
    /// What the deploy accepted but the operator should know (an artifact without provenance).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The report of a deploy run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeployReport {
    /// One entry per desired pair considered, in environment then MFE order.
    pub pairs: Vec<PairReport>,
}

impl DeployReport {
    /// Whether any pair failed.
    pub fn failed(&self) -> bool {
        self.pairs
            .iter()
            .any(|p| matches!(p.outcome, PairOutcome::Failed { .. }))
    }

    /// The class of the failures, for the exit code: `None` when no pair failed; a
    /// configuration error when any failure is one (fixing it comes first); retryable when
    /// every failure may be helped by a retry; refused otherwise.
    pub fn failure_class(&self) -> Option<ErrorClass> {
        let classes: Vec<ErrorClass> = self
            .pairs
            .iter()
            .filter_map(|p| match &p.outcome {
                PairOutcome::Failed { class, .. } => Some(*class),
                _ => None,
            })
            .collect();
        if classes.is_empty() {
            None
        } else if classes.contains(&ErrorClass::Config) {
            Some(ErrorClass::Config)
        } else if classes.iter().all(|c| *c == ErrorClass::Retryable) {
            Some(ErrorClass::Retryable)
        } else {
            Some(ErrorClass::Refused)
        }
    }

    /// Whether every failure may be helped by a retry (an outside service failed).
    pub fn all_failures_retryable(&self) -> bool {
        self.pairs.iter().all(|p| match &p.outcome {
            PairOutcome::Failed { retryable, .. } => *retryable,
            _ => true,
        })
    }
}

/// One pair's deploy: what it needs, in one place.
struct PairJob<'a> {
    environment: &'a Environment,
    mfe: &'a MfeConfig,
    desired: &'a Deployment,
    sequence: u64,
    targets: &'a Targets,
    backends: &'a dyn Backends,
    options: &'a DeployOptions,
    clock: StageClock,
}

/// Reconciles every desired (environment, MFE) pair selected by `options` with the registry.
/// One pair failing, or one environment's targets being unusable, does not stop the others; the
/// report says how each pair ended.
pub async fn deploy_all(
    repository: &Repository,
    backends: &dyn Backends,
    options: &DeployOptions,
) -> Result<DeployReport, Error> {
    let mut report = DeployReport::default();
    for environment in &repository.config.environments {
        if options
            .environment
            .as_ref()
            .is_some_and(|only| *only != environment.name)
        {
            continue;
        }
        // Owned copies: the future stays `Send` (no closure-borrowed references across awaits).
        let pairs: Vec<Deployment> = repository
            .deployments
            .iter()
            .filter(|((env, mfe), _)| {
                *env == environment.name && options.mfe.as_ref().is_none_or(|only| only == mfe)
            })
            .map(|(_, d)| d.clone())
            .collect();
        if pairs.is_empty() {
            continue;
        }
        let targets = match backends.targets(environment).await {
            Ok(targets) => targets,
            Err(error) => {
                tracing::warn!(environment = %environment.name, %error, "environment unusable");
                for desired in &pairs {
                    let mut pair = pair_report(desired, options.sequence_of(desired).unwrap_or(0));
                    fail(&mut pair, &error, options, desired, None).await;
                    report.pairs.push(pair);
                }
                continue;
            }
        };
        for desired in &pairs {
            let Some(mfe) = repository.mfes.get(&desired.mfe) else {
                continue;
            };
            let started = Instant::now();
            let sequence = options.sequence_of(desired);
            let mut pair = pair_report(desired, *sequence.as_ref().unwrap_or(&0));
            let result = match sequence {
                Ok(sequence) => {
                    let job = PairJob {
                        environment,
                        mfe,
                        desired,
                        sequence,
                        targets: &targets,
                        backends,
                        options,
                        clock: crate::clock_of(desired),
                    };
                    deploy_pair(&job, &mut pair).await
                }
                Err(e) => Err(e),
            };
            if let Err(error) = result {
                fail(&mut pair, &error, options, desired, Some(&targets)).await;
            }
            pair.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            report.pairs.push(pair);
        }
    }
    Ok(report)
}

fn pair_report(desired: &Deployment, sequence: u64) -> PairReport {
    PairReport {
        environment: desired.environment.clone(),
        mfe: desired.mfe.clone(),
        version: desired.version.clone(),
        sequence,
        outcome: PairOutcome::AlreadyLive,
        files_uploaded: 0,
        bytes_uploaded: 0,
        invalidated: Vec::new(),
        duration_ms: 0,
        warnings: Vec::new(),
    }
}

/// Marks `pair` failed with `error`: the metrics event (when the environment's sink is at
/// hand), the requester told, the log line.
async fn fail(
    pair: &mut PairReport,
    error: &Error,
    options: &DeployOptions,
    desired: &Deployment,
    targets: Option<&Targets>,
) {
    if let Some(targets) = targets {
        let clock = crate::clock_of(desired);
        crate::record(
            targets.metrics.as_ref(),
            &clock
                .event(Stage::Failed, Mo::Failure)
                .with_detail(error.to_string()),
        );
    }
    if let Some(requester) = &options.requester {
        tell(
            requester.as_ref(),
            &RequestRef::of_deployment(desired),
            DeploymentState::Failure,
            &format!("deploy failed: {error}"),
            None,
            None,
        )
        .await;
    }
    tracing::warn!(environment = %desired.environment, mfe = %desired.mfe, %error, "deploy failed");
    pair.outcome = PairOutcome::Failed {
        retryable: error.is_retryable(),
        class: error.class(),
        error: error.to_string(),
    };
}

async fn deploy_pair(job: &PairJob<'_>, pair: &mut PairReport) -> Result<(), Error> {
    let PairJob {
        environment,
        mfe,
        desired,
        sequence,
        targets,
        ..
    } = *job;
    let metrics = targets.metrics.as_ref();
    let clock = &job.clock;
    let live = targets.registry.get(&environment.name, &mfe.name).await?;
    let mut resumed = match decide(sequence, desired, live.as_ref())? {
        Action::Superseded {
            live: live_sequence,
        } => {
            crate::record(
                metrics,
                &clock
                    .event(Stage::Committed, Mo::Refused)
                    .with_detail(format!("sequence {live_sequence} is live")),
            );
            superseded(job, live.as_ref(), pair).await;
            return Ok(());
        }
        Action::Live => {
            let in_place =
                served_version(environment, mfe, targets).await?.as_ref() == Some(&desired.version);
            let pending = live.as_ref().and_then(|l| l.invalidation.clone());
            if in_place {
                match pending {
                    None => {
                        crate::record(metrics, &clock.event(Stage::Committed, Mo::Noop));
                        pair.outcome = PairOutcome::AlreadyLive;
                        // Live from another request (the pair went back to this version before
                        // a deploy took the change): this state's requester has its version
                        // live but was never told. Once: later runs find it told.
                        if live
                            .as_ref()
                            .is_some_and(|l| l.request_id != desired.request_id)
                        {
                            report_live(job, When::Unfinished).await;
                        }
                        return Ok(());
                    }
                    // Published, but the CDN was never confirmed or the requester never
                    // told: finish only that (a report already posted is not repeated).
                    Some(pending) => {
                        finish(job, Some(&pending), pair, When::Changed).await?;
                        pair.outcome = PairOutcome::Resumed;
                        return Ok(());
                    }
                }
            }
            true
        }
        Action::Deploy => false,
    };

    // Steps 1 and 2: fetch, verify (the sidecar, and the provenance against the request),
    // unpack, check the entry points, upload write-once. Nothing users see changes. A resumed
    // deploy stages again too: identical files are skipped, missing ones restored.
    let artifact = job
        .backends
        .artifact(&mfe.artifact, &mfe.name, &desired.version)?;
    let timer = clock.start(Stage::Uploaded);
    let mut upload = job.options.upload.clone().unwrap_or_default();
    upload.entry_points.clone_from(&mfe.entry_points);
    let limits = effective_limits(&job.options.limits, mfe);
    let verified = store::fetch_verified(&artifact, limits.max_archive_bytes)
        .await
        .map_err(|e| over_limit(e, mfe))?;
    check_provenance(&verified, desired, pair)?;
    let uploaded = store::stage_verified(
        verified,
        &targets.storage,
        &mfe.name,
        &desired.version,
        &limits,
        &upload,
    )
    .await
    .map_err(|e| over_limit(e, mfe))?;
    pair.files_uploaded = uploaded.files - uploaded.skipped_identical;
    pair.bytes_uploaded = uploaded.bytes;
    crate::record(
        metrics,
        &timer.finish_with_detail(
            Mo::Success,
            format!("{} files, {} bytes", uploaded.files, uploaded.bytes),
        ),
    );

    if !resumed {
        // Step 3, the commit point: only a newer sequence passes. The invalidation this deploy
        // owes is recorded with it (plus any still pending from the entry it replaces), so a
        // run that dies before the CDN confirmed leaves it for the next run to finish.
        let entry = Entry {
            environment: environment.name.clone(),
            mfe: mfe.name.clone(),
            version: desired.version.clone(),
            sequence,
            request_id: desired.request_id.clone(),
            sha: desired.sha.clone(),
            deployed_at: OffsetDateTime::now_utc(),
            deployed_by: desired.requested_by.clone(),
            rollback: desired.rollback || is_lower(&desired.version, live.as_ref()),
            invalidation: planned_invalidation(job, live.as_ref())?,
        };
        let timer = clock.start(Stage::Committed);
        match targets.registry.commit(&entry).await {
            Ok(()) => crate::record(metrics, &timer.finish(Mo::Success)),
            Err(gitops_db_registry::Error::Stale { stored, .. }) => {
                crate::record(
                    metrics,
                    &timer.finish_with_detail(Mo::Refused, format!("sequence {stored} is live")),
                );
                let now = targets.registry.get(&environment.name, &mfe.name).await?;
                superseded(job, now.as_ref(), pair).await;
                return Ok(());
            }
            // Another run committed this very deploy first: continue as a resume.
            Err(gitops_db_registry::Error::Duplicate { .. }) => resumed = true,
            Err(e) => return Err(e.into()),
        }
    }

    // Step 4: pointers (aliases first, the import map last: it marks the deploy published).
    publish_pointers(environment, mfe, &desired.version, targets).await?;
    // A newer deploy of the pair may have committed meanwhile and published before us: the
    // pointers must end on whatever is live, never on an older version.
    let now = targets.registry.get(&environment.name, &mfe.name).await?;
    if let Some(newer) = &now
        && newer.sequence > sequence
    {
        publish_pointers(environment, mfe, &newer.version, targets).await?;
        superseded(job, now.as_ref(), pair).await;
        return Ok(());
    }

    // Step 5: the invalidation recorded at the commit point, issued; the requester told; then
    // the invalidation settled.
    let pending = now.and_then(|e| e.invalidation);
    if pending.is_none() {
        crate::record(
            metrics,
            &clock.start(Stage::Invalidated).finish(Mo::Skipped),
        );
    }
    finish(job, pending.as_ref(), pair, When::Always).await?;
    pair.outcome = if resumed {
        PairOutcome::Resumed
    } else {
        PairOutcome::Deployed
    };
    Ok(())
}

/// The limits `mfe`'s artifact is fetched and unpacked within: the MFE's `limits:` over the
/// run's (`run`); the ratio's grace is always the run's.
pub(crate) fn effective_limits(run: &store::Limits, mfe: &MfeConfig) -> store::Limits {
    let ArchiveLimits {
        max_archive_bytes,
        max_total_bytes,
        max_files,
        max_ratio,
    } = mfe.limits;
    store::Limits {
        max_files: max_files.unwrap_or(run.max_files),
        max_total_bytes: max_total_bytes.unwrap_or(run.max_total_bytes),
        max_ratio: max_ratio.unwrap_or(run.max_ratio),
        ratio_grace_bytes: run.ratio_grace_bytes,
        max_archive_bytes: max_archive_bytes.unwrap_or(run.max_archive_bytes),
    }
}

/// `error`, when it is a limit refusal, as [`Error::OverLimit`] naming the MFE file to raise it
/// in; any other error unchanged.
pub(crate) fn over_limit(error: store::Error, mfe: &MfeConfig) -> Error {
    match error {
        store::Error::LimitExceeded {
            artifact,
            limit,
            max,
            entry,
        } => Error::OverLimit {
            artifact,
            limit,
            max,
            entry,
            file: format!("{MFES_DIR}/{}.yaml", mfe.name),
        },
        other => Error::Artifact(other),
    }
}

/// Checks the artifact's provenance against the desired state: the version must have been
/// built by the request's commit in the request's repository (`mfe publish` records them; the
/// record's sha256 was already checked against the sidecar), else the pair fails before anything
/// is uploaded, naming both commits. An artifact without provenance (published by an `mfe`
/// older than this check, or without a commit) is accepted with a warning in the report and the
/// log (docs/ARCHITECTURE.md, "Provenance and failing closed").
fn check_provenance(
    verified: &store::VerifiedArtifact,
    desired: &Deployment,
    pair: &mut PairReport,
) -> Result<(), Error> {
    if let Some(provenance) = &verified.provenance {
        provenance.check_request(
            &verified.display,
            &desired.mfe,
            &desired.version,
            &desired.repository,
            &desired.sha,
        )?;
        return Ok(());
    }
    let warning = format!(
        "`{}` has no provenance record (published by an older mfe, or without --sha): the request's sha {} is not checked against the commit that built it",
        verified.display, desired.sha
    );
    tracing::warn!(environment = %desired.environment, mfe = %desired.mfe, "{warning}");
    pair.warnings.push(warning);
    Ok(())
}

/// Whether `version` has a lower SemVer precedence than the live one (a return to an older
/// version: recorded as a rollback, however it was asked for).
fn is_lower(version: &Version, live: Option<&Entry>) -> bool {
    live.is_some_and(|live| {
        version.semver().cmp_precedence(live.version.semver()) == std::cmp::Ordering::Less
    })
}

/// The invalidation this deploy owes: its plan (the aliases, the import map, the request's
/// keys) plus whatever the entry it replaces still had pending, under a reference derived from
/// the deploy (request id and sequence), so re-issuing it never invalidates twice.
fn planned_invalidation(
    job: &PairJob<'_>,
    live: Option<&Entry>,
) -> Result<Option<Invalidation>, Error> {
    let mut input = PlanInput::new(job.mfe.name.clone(), job.mfe.entry_points.clone());
    input.import_map_changed = !job.mfe.entry_points.is_empty();
    input
        .cache_invalidation_keys
        .clone_from(&job.desired.cache_invalidation_keys);
    let plan = plan_invalidation(&input)?;
    let mut paths: BTreeSet<String> = plan.paths.into_iter().collect();
    if let Some(pending) = live.and_then(|l| l.invalidation.as_ref()) {
        paths.extend(pending.paths.iter().cloned());
    }
    if paths.is_empty() {
        return Ok(None);
    }
    let deploy_id = format!("{}-{}", job.desired.request_id, job.sequence);
    let request = InvalidationRequest::for_deploy(&deploy_id, paths.into_iter().collect())?;
    Ok(Some(Invalidation {
        reference: request.reference,
        paths: request.paths,
    }))
}

/// The deploy's last steps: issues `pending` (idempotent by its reference), tells the requester
/// its version is live (on the deployments `when` selects), and only then clears the
/// invalidation from the registry entry of this deploy. A report that failed leaves it
/// recorded as pending, so the next deploy finishes both (re-issuing is idempotent, the report
/// is posted unless already there): the requester is always told, and the pair reads
/// `cdn-pending` until it is. (A deploy that owes no invalidation has nothing to keep the
/// report pending on: its report is told once.)
async fn finish(
    job: &PairJob<'_>,
    pending: Option<&Invalidation>,
    pair: &mut PairReport,
    when: When,
) -> Result<(), Error> {
    if let Some(pending) = pending {
        let timer = job.clock.start(Stage::Invalidated);
        let request = InvalidationRequest {
            reference: pending.reference.clone(),
            paths: pending.paths.clone(),
        };
        job.targets.cdn.invalidate(&request).await?;
        crate::record(
            job.targets.metrics.as_ref(),
            &timer.finish_with_detail(Mo::Success, request.paths.join(" ")),
        );
        pair.invalidated = request.paths;
    }
    let told = report_live(job, when).await;
    match pending {
        Some(_) if told == Told::Failed => {
            pair.warnings.push(
                "the requester could not be told that its version is live: the deploy stays \
                 recorded as pending (cdn-pending), so the next `gitops deploy` tells it"
                    .to_owned(),
            );
        }
        Some(pending) => {
            job.targets
                .registry
                .settle_invalidation(
                    &job.environment.name,
                    &job.mfe.name,
                    job.sequence,
                    &pending.reference,
                )
                .await?;
        }
        None => {}
    }
    Ok(())
}

/// Records that a newer deploy is live, and tells this desired state's requester that it was
/// superseded (unless the live entry is its own request).
async fn superseded(job: &PairJob<'_>, live: Option<&Entry>, pair: &mut PairReport) {
    pair.outcome = PairOutcome::Superseded {
        live_sequence: live.map_or(0, |l| l.sequence),
    };
    let (Some(requester), Some(live)) = (&job.options.requester, live) else {
        return;
    };
    if live.request_id == job.desired.request_id {
        return;
    }
    tell(
        requester.as_ref(),
        &RequestRef::of_deployment(job.desired),
        DeploymentState::Inactive,
        &format!(
            "superseded: {} {} (request {}) is live in {}",
            live.mfe, live.version, live.request_id, live.environment
        ),
        None,
        None,
    )
    .await;
}

/// Tells the requester that its version is live, with the versioned entry URL, on the
/// deployments `when` selects.
async fn report_live(job: &PairJob<'_>, when: When) -> Told {
    let Some(requester) = &job.options.requester else {
        return Told::Nobody;
    };
    let (environment, mfe, desired) = (job.environment, job.mfe, job.desired);
    let url = mfe.entry_points.first().and_then(|entry| {
        store::versioned_url(&environment.public_url, &mfe.name, &desired.version, entry).ok()
    });
    let description = format!(
        "{} {} is live in {}",
        mfe.name, desired.version, environment.name
    );
    let told = tell_as(
        requester.as_ref(),
        &RequestRef::of_deployment(desired),
        DeploymentState::Success,
        &description,
        None,
        url.as_deref(),
        when,
    )
    .await;
    let outcome = match told {
        Told::Yes => Mo::Success,
        Told::Nobody => Mo::Skipped,
        Told::Failed => Mo::Failure,
    };
    crate::record(
        job.targets.metrics.as_ref(),
        &job.clock.event(Stage::Reported, outcome),
    );
    told
}

async fn publish_pointers(
    environment: &Environment,
    mfe: &MfeConfig,
    version: &Version,
    targets: &Targets,
) -> Result<(), Error> {
    store::publish_aliases(
        targets.storage.as_ref(),
        &mfe.name,
        version,
        &mfe.entry_points,
    )
    .await?;
    if let Some(entry) = mfe.entry_points.first() {
        store::update_import_map(
            targets.storage.as_ref(),
            &environment.public_url,
            &mfe.name,
            version,
            entry,
        )
        .await?;
    }
    Ok(())
}

/// The version the environment's import map serves for `mfe` (it is written last, so it says
/// whether a deploy was published); `None` when it serves none. An MFE without entry points has
/// no pointers: what is live is what is served.
pub(crate) async fn served_version(
    environment: &Environment,
    mfe: &MfeConfig,
    targets: &Targets,
) -> Result<Option<Version>, Error> {
    if mfe.entry_points.is_empty() {
        let live = targets.registry.get(&environment.name, &mfe.name).await?;
        return Ok(live.map(|l| l.version));
    }
    let imports = store::served_imports(targets.storage.as_ref()).await?;
    Ok(imports
        .get(&mfe.name)
        .and_then(|url| store::version_of_url(&environment.public_url, &mfe.name, url)))
}
