//! # gitops-pipeline
//!
//! The orchestration of mfe-gitops over the adapter traits, with pure planning separated from
//! effects (DESIGN.md 4.3):
//!
//! - [`deploy::decide`] (pure): what to do for one (environment, MFE) given the desired state and
//!   the live registry entry;
//! - [`deploy::deploy_all`]: reconcile every desired pair: upload write-once, the conditional
//!   registry commit as the single commit point, pointers, one minimal invalidation;
//! - [`drift::classify`] (pure) and [`drift::drift`]: desired, live and served (files, aliases,
//!   import map) compared per pair, each disagreement with its repair; `--repair` re-publishes
//!   what belongs to the live version;
//! - [`status::status`]: the environment x MFE matrix, desired against live;
//! - [`prune::plan`] (pure) and [`prune::prune`]: retention of an environment's version prefixes.
//!
//! Concrete adapters come from a [`Backends`] implementation (`gitops-runtime` for the binary,
//! fakes in tests). This crate names no SDK, no `octocrab` and no `rusqlite`.

pub mod deploy;
pub mod drift;
pub mod follow;
mod lane;
pub mod merge;
pub mod origin;
pub mod pins;
pub mod process;
pub mod promote;
pub mod prune;
pub mod send;
pub mod status;
mod tell;

use std::sync::Arc;

use async_trait::async_trait;
use gitops_artifact_store::ObjectLocation;
use gitops_iac_config::Environment;
use object_store::ObjectStore;

pub use deploy::{DeployOptions, DeployReport, PairOutcome, PairReport, deploy_all};
pub use drift::{DriftFinding, DriftKind, DriftOptions, DriftReport, PairDrift, drift};
pub use merge::{MergeOutcome, merge_pull_request, merge_pull_requests};
pub use origin::OriginCheck;
pub use pins::{UnpinOutcome, unpin};
pub use process::{
    ProcessReport, RollbackAsk, previous_version, process, process_as, rollback, rollback_request,
    rollback_to,
};
pub use promote::{Plan, PromotionAsk, PromotionOutcome, PromotionReport, promote};
pub use prune::{PruneOptions, PruneReport, prune};
pub use status::{StatusRow, SyncState, status};
pub use tell::clip;

/// The concrete targets of one environment.
#[derive(Debug, Clone)]
pub struct Targets {
    /// Where files are served from (artifacts under `mfe/<name>/<version>/`, aliases, import map).
    pub storage: Arc<dyn ObjectStore>,
    /// The live-version registry.
    pub registry: Arc<dyn gitops_db_registry::Registry>,
    /// The CDN in front of the storage.
    pub cdn: Arc<dyn gitops_cdn::Cdn>,
    /// Where the stage events of this environment's deploys go.
    pub metrics: Arc<dyn gitops_metrics::MetricsSink>,
}

/// The stage clock of a desired state's deploy, keyed by the request that asked for it (metrics
/// events carry plain text).
pub(crate) fn clock_of(desired: &gitops_iac_config::Deployment) -> gitops_metrics::StageClock {
    gitops_metrics::StageClock::new(
        desired.request_id.to_string(),
        desired.environment.to_string(),
        desired.mfe.to_string(),
        desired.version.to_string(),
    )
}

/// Records `event`; a metrics failure is logged and never fails a deploy.
pub(crate) fn record(sink: &dyn gitops_metrics::MetricsSink, event: &gitops_metrics::StageEvent) {
    if let Err(error) = sink.record(event) {
        tracing::warn!(%error, stage = %event.stage, "cannot record a metrics event");
    }
}

/// Turns configuration into adapters.
#[async_trait]
pub trait Backends: Send + Sync + std::fmt::Debug {
    /// The targets of `environment`.
    ///
    /// # Contract
    /// Returns adapters for exactly the targets `environment` names; an unusable target (bad
    /// URL, missing credentials) is an [`Error::Config`]. Creating nothing remote: creation is
    /// `gitops bootstrap`'s job.
    async fn targets(&self, environment: &Environment) -> Result<Targets, Error>;

    /// The artifact of `mfe` at `version`, from the MFE's `artifact` template.
    ///
    /// # Contract
    /// Resolves the location only (no read); reading and checksum verification are the
    /// pipeline's.
    fn artifact(
        &self,
        template: &str,
        mfe: &gitops_event_model::MfeName,
        version: &gitops_event_model::Version,
    ) -> Result<ObjectLocation, Error>;
}

/// The crate's error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A target or option is unusable.
    #[error("configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// The artifact or the storage refused or failed.
    #[error(transparent)]
    Artifact(#[from] gitops_artifact_store::Error),
    /// The registry refused or failed.
    #[error(transparent)]
    Registry(#[from] gitops_db_registry::Error),
    /// The CDN refused or failed.
    #[error(transparent)]
    Cdn(#[from] gitops_cdn::Error),
    /// The forge refused or failed.
    #[error(transparent)]
    Forge(#[from] gitops_gh_pr::Error),
    /// The artifact is over one of its MFE's archive limits (the run's, with the `limits:` of
    /// `mfes/<mfe>.yaml` over them): refused, naming the limit and where to raise it.
    #[error(
        "archive `{artifact}` exceeds the {limit} limit of {max}{}{}; to admit it, raise `limits.{limit}` in {file}",
        unit(limit),
        at_entry(entry)
    )]
    OverLimit {
        /// The artifact.
        artifact: String,
        /// Which limit (`max_archive_bytes`, `max_total_bytes`, `max_files`, `max_ratio`).
        limit: &'static str,
        /// The bound in force.
        max: u64,
        /// The archive entry being read when the bound was crossed (empty: the archive itself).
        entry: String,
        /// The MFE file that sets it (`mfes/<mfe>.yaml`).
        file: String,
    },
    /// The live state contradicts the desired state in a way no deploy may resolve.
    #[error("conflict: {reason}")]
    Conflict {
        /// What contradicts what.
        reason: String,
    },
    /// Concurrent requests for the same pair kept winning the race; a retry may succeed.
    #[error("contended: {reason}")]
    Contended {
        /// What kept moving.
        reason: String,
    },
}

/// ` bytes` after a size limit's bound.
fn unit(limit: &str) -> &'static str {
    if limit.ends_with("_bytes") {
        " bytes"
    } else {
        ""
    }
}

/// ` at entry `name`` when the bound was crossed inside the archive.
fn at_entry(entry: &str) -> String {
    if entry.is_empty() {
        String::new()
    } else {
        format!(" at entry `{entry}`")
    }
}

/// What kind of failure an [`Error`] is, for exit codes and reports: the binaries exit 2, 3 and
/// 1 respectively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorClass {
    /// The configuration or an option is unusable: fix it, a retry will not help.
    Config,
    /// An outside service failed or timed out: a retry may help.
    Retryable,
    /// A refusal or a deterministic failure (bad artifact, conflict): a retry will not help.
    Refused,
}

impl Error {
    /// The class of this error: configuration, outside failure, or refusal.
    pub fn class(&self) -> ErrorClass {
        if self.is_config() {
            ErrorClass::Config
        } else if self.is_retryable() {
            ErrorClass::Retryable
        } else {
            ErrorClass::Refused
        }
    }

    /// Whether the configuration is at fault: [`Error::Config`], or an adapter's own
    /// configuration error (an artifact store's unusable `AWS_*` settings).
    pub fn is_config(&self) -> bool {
        match self {
            Error::Config { .. } => true,
            Error::Artifact(e) => e.is_config(),
            _ => false,
        }
    }

    /// Whether retrying later may succeed (an outside service failed), as opposed to a refusal.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Config { .. } | Error::Conflict { .. } | Error::OverLimit { .. } => false,
            Error::Contended { .. } => true,
            Error::Registry(e) => e.is_retryable(),
            Error::Cdn(e) => e.is_retryable(),
            Error::Artifact(e) => e.is_retryable(),
            Error::Forge(e) => e.is_retryable(),
        }
    }
}
