//! CDN invalidation for mfe-gitops.
//!
//! * [`plan_invalidation`]: the pure planner that decides which CDN paths a deploy invalidates
//!   (the MFE's entry-point aliases, the import map, the request's keys), normalised,
//!   deduplicated, never an immutable versioned asset, never outside the MFE's own prefix.
//! * [`Cdn`]: the trait for the outside system, with three backends:
//!   [`CloudFrontCdn`] (real), [`LocalLogCdn`] (embedded default: one JSON line per
//!   invalidation in a log file) and `FakeCdn` (strict, in memory, behind the `fake` feature).
//!
//! All backends share one driver (validation, batching within CloudFront's limits, idempotent
//! caller references, retries of throttled calls under the one retry policy of `gitops-retry`,
//! waiting with a timeout), so the fake and the log exercise the same code paths as CloudFront.

#[cfg(feature = "cloudfront")]
mod cloudfront;
mod driver;
mod error;
mod local_log;
mod plan;

#[cfg(any(test, feature = "fake"))]
pub mod conformance;
#[cfg(any(test, feature = "fake"))]
mod fake;

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

#[cfg(feature = "cloudfront")]
pub use cloudfront::{CloudFrontCdn, IAM_ACTIONS};
pub use driver::{Polling, split_batches, validate_reference};
pub use error::Error;
#[cfg(any(test, feature = "fake"))]
pub use fake::{FakeCall, FakeCdn, FakeInvalidation};
pub use local_log::{LocalLogCdn, LogLine, MAX_LOG_BYTES};
pub use plan::{
    DEFAULT_COLLAPSE_THRESHOLD, IMPORT_MAP_PATH, InvalidationPlan, MAX_PATH_LEN, PlanInput,
    PlanNote, is_versioned_path, normalize_path, plan_invalidation,
};

/// CloudFront's limit of paths in one invalidation batch (and of individual paths in flight
/// per distribution).
pub const MAX_PATHS_PER_BATCH: usize = 3000;
/// CloudFront's limit of wildcard paths in flight per distribution.
pub const MAX_WILDCARDS_IN_FLIGHT: usize = 15;
/// Longest accepted idempotency reference (the batch suffix `-<index>` is added on top).
pub const MAX_REFERENCE_LEN: usize = 120;

/// One invalidation request: what [`Cdn::invalidate`] is asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidationRequest {
    /// Idempotency key derived from the deploy id (see [`InvalidationRequest::for_deploy`]).
    /// The same reference twice never invalidates twice.
    pub reference: String,
    /// CDN paths, each starting with `/`; a `*` is allowed only as the last character.
    pub paths: Vec<String>,
}

impl InvalidationRequest {
    /// A request whose reference is derived from a deploy id (ULID or UUID): `deploy-<id>`.
    ///
    /// Fails with [`Error::Invalid`] when the id contains characters outside
    /// `[A-Za-z0-9._:-]` or is too long.
    pub fn for_deploy(deploy_id: &str, paths: Vec<String>) -> Result<Self, Error> {
        let reference = format!("deploy-{deploy_id}");
        validate_reference(&reference)?;
        Ok(Self { reference, paths })
    }
}

/// State of one invalidation batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InvalidationStatus {
    /// Accepted, edges still being purged.
    InProgress,
    /// Done: every edge serves fresh content.
    Completed,
}

/// One invalidation as created by the backend (one CloudFront `CreateInvalidation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchReceipt {
    /// The backend's invalidation id (CloudFront's `Id`).
    pub id: String,
    /// The `CallerReference` sent: the request's reference, suffixed `-<index>` when the
    /// request needed several batches.
    pub caller_reference: String,
    /// Number of paths in this batch.
    pub path_count: usize,
    /// Status as reported when the batch was created.
    pub status: InvalidationStatus,
}

/// What [`Cdn::invalidate`] returns: one entry per batch, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidationReceipt {
    /// The request's reference.
    pub reference: String,
    /// One receipt per invalidation batch, in the order they were created.
    pub batches: Vec<BatchReceipt>,
}

impl InvalidationReceipt {
    /// Ids of all batches.
    pub fn ids(&self) -> Vec<&str> {
        self.batches.iter().map(|b| b.id.as_str()).collect()
    }
}

/// A CDN that can invalidate cached paths. Used as `Arc<dyn Cdn>`.
#[async_trait]
pub trait Cdn: Send + Sync + Debug {
    /// Invalidate `request.paths`.
    ///
    /// # Contract
    /// * Refuses, with [`Error::Invalid`] and before any call to the service: an empty path
    ///   list (callers skip the call when the plan is empty), a path not starting with `/`, a
    ///   `*` anywhere but at the end, control characters or whitespace, a path longer than
    ///   [`MAX_PATH_LEN`], a reference that [`validate_reference`] refuses.
    /// * Duplicated paths are sent once. The paths are split by [`split_batches`] into
    ///   batches of at most [`MAX_PATHS_PER_BATCH`] paths and [`MAX_WILDCARDS_IN_FLIGHT`]
    ///   wildcards; with one batch its caller reference is `request.reference`, with several
    ///   it is `<reference>-<index>`, and each batch after the first is created only once the
    ///   previous ones completed (CloudFront's limits are on paths *in flight*).
    /// * Idempotent: the same reference with the same paths returns the existing
    ///   invalidations and never invalidates twice; the same reference with different paths
    ///   is [`Error::Conflict`] (CloudFront's `InvalidationBatchAlreadyExists`).
    /// * Backs off with jitter on `TooManyInvalidationsInProgress` and throttling, within the
    ///   backend's [`gitops_retry::RetryPolicy`] (attempts and total time bounded), then fails
    ///   with [`Error::Throttled`] counting the attempts.
    async fn invalidate(&self, request: &InvalidationRequest)
    -> Result<InvalidationReceipt, Error>;

    /// Wait until every batch of `receipt` has completed.
    ///
    /// # Contract
    /// * Returns `Ok(())` once every batch reports [`InvalidationStatus::Completed`]
    ///   (immediately for batches already completed).
    /// * Returns [`Error::Timeout`] naming the pending batch ids when `timeout` elapses first;
    ///   the invalidations themselves go on.
    /// * A batch id the backend does not know is [`Error::NotFound`].
    async fn wait(&self, receipt: &InvalidationReceipt, timeout: Duration) -> Result<(), Error>;
}
