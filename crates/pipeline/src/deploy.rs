//! Deploy: reconcile desired state (`deployments/`) with the live registry (DESIGN.md 4.3).

use std::time::Instant;

use gitops_artifact_store as store;
use gitops_cdn::{PlanInput, plan_invalidation};
use gitops_db_registry::Entry;
use gitops_iac_config::{Deployment, Environment, MfeConfig, Repository};
use gitops_metrics::{Outcome as Mo, Stage, StageClock};
use object_store::ObjectStoreExt;
use serde::Serialize;
use time::OffsetDateTime;

use crate::{Backends, Error, Targets};

/// What to do for one pair, decided from the desired state and the live entry alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Upload, commit, publish pointers, invalidate.
    Deploy,
    /// The registry already has this deploy: make sure the pointers are published.
    Live,
    /// The registry holds a newer deploy than the desired state: touch nothing.
    Superseded {
        /// The live sequence.
        live: u64,
    },
}

/// The sequence a desired-state file stands for (files written by hand without one count as 1).
pub fn effective_sequence(desired: &Deployment) -> u64 {
    desired.sequence.max(1)
}

/// Decides what to do for one pair.
///
/// A live entry with the desired sequence but another version means the desired-state file was
/// rewritten without a new sequence: refused as a conflict, never guessed.
pub fn decide(desired: &Deployment, live: Option<&Entry>) -> Result<Action, Error> {
    let sequence = effective_sequence(desired);
    match live {
        None => Ok(Action::Deploy),
        Some(live) if live.sequence < sequence => Ok(Action::Deploy),
        Some(live) if live.sequence > sequence => Ok(Action::Superseded {
            live: live.sequence,
        }),
        Some(live) if live.version == desired.version => Ok(Action::Live),
        Some(live) => Err(Error::Conflict {
            reason: format!(
                "{}/{}: the registry has {} at sequence {sequence} but the desired state says {} at the same sequence; desired-state files must be written by the bot (`gitops process`), which increments `sequence`",
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
    pub environment: Option<String>,
    /// Only this MFE.
    pub mfe: Option<String>,
    /// Archive bounds.
    pub limits: store::Limits,
    /// Upload parallelism and progress; entry points are filled per MFE.
    pub upload: Option<store::UploadOptions>,
}

/// How one pair ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum PairOutcome {
    /// The version was uploaded, committed and published.
    Deployed,
    /// The deploy was already committed (an earlier run was interrupted); pointers were
    /// published and the CDN invalidated again under the same reference.
    Resumed,
    /// Already live and published: nothing touched, not even the CDN.
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
    },
}

/// The report of one pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairReport {
    /// Environment.
    pub environment: String,
    /// MFE.
    pub mfe: String,
    /// Desired version.
    pub version: String,
    /// Desired sequence.
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

    /// Whether every failure may be helped by a retry (an outside service failed).
    pub fn all_failures_retryable(&self) -> bool {
        self.pairs.iter().all(|p| match &p.outcome {
            PairOutcome::Failed { retryable, .. } => *retryable,
            _ => true,
        })
    }
}

/// Reconciles every desired (environment, MFE) pair selected by `options` with the registry.
/// One pair failing does not stop the others; the report says how each ended.
pub async fn deploy_all(
    repository: &Repository,
    backends: &dyn Backends,
    options: &DeployOptions,
) -> Result<DeployReport, Error> {
    let mut report = DeployReport::default();
    for environment in &repository.config.environments {
        if let Some(only) = &options.environment
            && *only != environment.name
        {
            continue;
        }
        // Owned copies: the future stays `Send` (no closure-borrowed references across awaits).
        let mut pairs: Vec<Deployment> = Vec::new();
        for ((env, mfe), d) in &repository.deployments {
            let selected = match &options.mfe {
                Some(only) => only == mfe,
                None => true,
            };
            if *env == environment.name && selected {
                pairs.push(d.clone());
            }
        }
        if pairs.is_empty() {
            continue;
        }
        let targets = backends.targets(environment).await?;
        for desired in &pairs {
            let Some(mfe) = repository.mfes.get(&desired.mfe) else {
                continue;
            };
            let started = Instant::now();
            let mut pair = PairReport {
                environment: environment.name.clone(),
                mfe: desired.mfe.clone(),
                version: desired.version.clone(),
                sequence: effective_sequence(desired),
                outcome: PairOutcome::AlreadyLive,
                files_uploaded: 0,
                bytes_uploaded: 0,
                invalidated: Vec::new(),
                duration_ms: 0,
            };
            let clock = clock_of(environment, desired);
            if let Err(error) = deploy_pair(
                environment,
                mfe,
                desired,
                &targets,
                backends,
                options,
                &mut pair,
            )
            .await
            {
                crate::record(
                    targets.metrics.as_ref(),
                    &clock
                        .event(Stage::Failed, Mo::Failure)
                        .with_detail(error.to_string()),
                );
                if let Some(requester) = &options.requester {
                    report_to_requester(
                        requester.as_ref(),
                        desired,
                        gitops_gh_pr::DeploymentState::Failure,
                        &format!("deploy failed: {error}"),
                        None,
                    )
                    .await;
                }
                tracing::warn!(environment = %environment.name, mfe = %desired.mfe, %error, "deploy failed");
                pair.outcome = PairOutcome::Failed {
                    retryable: error.is_retryable(),
                    error: error.to_string(),
                };
            }
            pair.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            report.pairs.push(pair);
        }
    }
    Ok(report)
}

/// The stage clock of one pair's deploy, keyed by the request that asked for it.
fn clock_of(environment: &Environment, desired: &Deployment) -> StageClock {
    StageClock::new(
        desired.request_id.clone(),
        environment.name.clone(),
        desired.mfe.clone(),
        desired.version.clone(),
    )
}

async fn deploy_pair(
    environment: &Environment,
    mfe: &MfeConfig,
    desired: &Deployment,
    targets: &Targets,
    backends: &dyn Backends,
    options: &DeployOptions,
    pair: &mut PairReport,
) -> Result<(), Error> {
    let clock = &clock_of(environment, desired);
    let metrics = targets.metrics.as_ref();
    let live = targets.registry.get(&environment.name, &mfe.name).await?;
    let mut resumed = match decide(desired, live.as_ref())? {
        Action::Superseded { live } => {
            crate::record(
                metrics,
                &clock
                    .event(Stage::Committed, Mo::Refused)
                    .with_detail(format!("sequence {live} is live")),
            );
            pair.outcome = PairOutcome::Superseded {
                live_sequence: live,
            };
            return Ok(());
        }
        Action::Live => {
            if pointers_in_place(environment, mfe, desired, targets).await? {
                crate::record(metrics, &clock.event(Stage::Committed, Mo::Noop));
                pair.outcome = PairOutcome::AlreadyLive;
                return Ok(());
            }
            true
        }
        Action::Deploy => false,
    };

    // Steps 1 and 2: fetch, verify, unpack, upload write-once. Nothing users see changes. A
    // resumed deploy stages again too: identical files are skipped, missing ones restored.
    let artifact = backends.artifact(&mfe.artifact, &mfe.name, &desired.version)?;
    let timer = clock.start(Stage::Uploaded);
    let mut upload = options.upload.clone().unwrap_or_default();
    upload.entry_points.clone_from(&mfe.entry_points);
    let uploaded = store::stage_artifact(
        &artifact,
        &targets.storage,
        &mfe.name,
        &desired.version,
        &options.limits,
        &upload,
    )
    .await?;
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
        // Step 3, the commit point: only a newer sequence passes.
        let entry = Entry {
            environment: environment.name.clone(),
            mfe: mfe.name.clone(),
            version: desired.version.clone(),
            sequence: effective_sequence(desired),
            request_id: desired.request_id.clone(),
            sha: desired.sha.clone(),
            deployed_at: OffsetDateTime::now_utc(),
            deployed_by: desired.requested_by.clone(),
            rollback: desired.rollback,
        };
        let timer = clock.start(Stage::Committed);
        match targets.registry.commit(&entry).await {
            Ok(()) => crate::record(metrics, &timer.finish(Mo::Success)),
            Err(gitops_db_registry::Error::Stale { stored, .. }) => {
                crate::record(
                    metrics,
                    &timer.finish_with_detail(Mo::Refused, format!("sequence {stored} is live")),
                );
                pair.outcome = PairOutcome::Superseded {
                    live_sequence: stored,
                };
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
    if let Some(newer) = targets.registry.get(&environment.name, &mfe.name).await?
        && newer.sequence > effective_sequence(desired)
    {
        publish_pointers(environment, mfe, &newer.version, targets).await?;
        pair.outcome = PairOutcome::Superseded {
            live_sequence: newer.sequence,
        };
        return Ok(());
    }

    // Step 5: one invalidation of the mutable paths, idempotent by deploy id.
    let mut input = PlanInput::new(mfe.name.clone(), mfe.entry_points.clone());
    input.import_map_changed = !mfe.entry_points.is_empty();
    input
        .cache_invalidation_keys
        .clone_from(&desired.cache_invalidation_keys);
    let plan = plan_invalidation(&input)?;
    let deploy_id = format!("{}-{}", desired.request_id, effective_sequence(desired));
    let timer = clock.start(Stage::Invalidated);
    if let Some(request) = plan.to_request(&deploy_id)? {
        targets.cdn.invalidate(&request).await?;
        crate::record(
            metrics,
            &timer.finish_with_detail(Mo::Success, request.paths.join(" ")),
        );
        pair.invalidated = request.paths;
    } else {
        crate::record(metrics, &timer.finish(Mo::Skipped));
    }
    if let Some(requester) = &options.requester {
        let url = mfe.entry_points.first().and_then(|entry| {
            store::versioned_url(&environment.public_url, &mfe.name, &desired.version, entry).ok()
        });
        let told = report_to_requester(
            requester.as_ref(),
            desired,
            gitops_gh_pr::DeploymentState::Success,
            &format!(
                "{} {} is live in {}",
                mfe.name, desired.version, environment.name
            ),
            url.as_deref(),
        )
        .await;
        let outcome = if told { Mo::Success } else { Mo::Skipped };
        crate::record(metrics, &clock.event(Stage::Reported, outcome));
    }
    pair.outcome = if resumed {
        PairOutcome::Resumed
    } else {
        PairOutcome::Deployed
    };
    Ok(())
}

async fn publish_pointers(
    environment: &Environment,
    mfe: &MfeConfig,
    version: &str,
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

/// Posts `state` on the deployment `process` created for the request of `desired` on the
/// requester's commit. Returns whether one was found and told; a failure to tell is logged and
/// never fails the deploy.
async fn report_to_requester(
    requester: &dyn gitops_gh_pr::Requester,
    desired: &Deployment,
    state: gitops_gh_pr::DeploymentState,
    description: &str,
    environment_url: Option<&str>,
) -> bool {
    let deployments = match requester
        .list_deployments(&desired.repository, &desired.sha, &desired.environment)
        .await
    {
        Ok(d) => d,
        Err(error) => {
            tracing::warn!(%error, "cannot list the requester's deployments");
            return false;
        }
    };
    let Some(deployment) = deployments
        .iter()
        .find(|d| d.payload["id"].as_str() == Some(desired.request_id.as_str()))
    else {
        return false;
    };
    let description: String = description.chars().take(140).collect();
    match requester
        .create_deployment_status(
            &desired.repository,
            deployment.id,
            state,
            &description,
            None,
            environment_url,
        )
        .await
    {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!(%error, "cannot post the deployment status");
            false
        }
    }
}

/// Whether the import map already points at this version (it is written last).
async fn pointers_in_place(
    environment: &Environment,
    mfe: &MfeConfig,
    desired: &Deployment,
    targets: &Targets,
) -> Result<bool, Error> {
    let Some(entry) = mfe.entry_points.first() else {
        return Ok(true);
    };
    let expected =
        store::versioned_url(&environment.public_url, &mfe.name, &desired.version, entry)?;
    let path = object_store::path::Path::from(store::IMPORT_MAP);
    let bytes = match targets.storage.get(&path).await {
        Ok(result) => result
            .bytes()
            .await
            .map_err(|e| Error::Artifact(e.into()))?,
        Err(object_store::Error::NotFound { .. }) => return Ok(false),
        Err(e) => return Err(Error::Artifact(e.into())),
    };
    let map: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    Ok(map["imports"][&mfe.name].as_str() == Some(expected.as_str()))
}
