//! The logic shared by every backend: request validation, batching within CloudFront's
//! limits, per-batch caller references, retries of throttled creations (the one retry policy,
//! `gitops-retry`), waiting with a timeout.
//!
//! A backend only implements [`Backend`]: create one batch, report one batch's status.

use std::collections::HashSet;
use std::fmt::Debug;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use gitops_retry::{Retry, RetryPolicy, retry};
use tokio::time::Instant;

use crate::{
    BatchReceipt, Error, InvalidationReceipt, InvalidationRequest, InvalidationStatus,
    MAX_PATH_LEN, MAX_PATHS_PER_BATCH, MAX_REFERENCE_LEN, MAX_WILDCARDS_IN_FLIGHT,
};

/// One service call per method; no retries, no batching.
#[async_trait]
pub(crate) trait Backend: Send + Sync + Debug {
    /// Create one invalidation batch. Returns [`Error::Throttled`] for
    /// `TooManyInvalidationsInProgress` and throttling (the driver retries those, see
    /// [`Error::retry_class`]).
    async fn create(&self, caller_reference: &str, paths: &[String])
    -> Result<BatchReceipt, Error>;
    /// Current status of one batch.
    async fn status(&self, id: &str) -> Result<InvalidationStatus, Error>;
}

/// How waiting polls: the interval between status polls, and how long a multi-batch request
/// waits for its previous batches to complete before creating the next. Not a retry policy (a
/// poll that finds a batch in progress is an answer, not a failure): retries of failed calls
/// follow the backend's [`gitops_retry::RetryPolicy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Polling {
    /// Interval between status polls while waiting.
    pub interval: Duration,
    /// How long a multi-batch request waits for its previous batch to complete before
    /// creating the next one.
    pub batch_wait: Duration,
}

impl Polling {
    /// Polls every 5 s; 15 minutes between batches.
    pub const DEFAULT: Polling = Polling {
        interval: Duration::from_secs(5),
        batch_wait: Duration::from_mins(15),
    };

    /// Millisecond polls for tests and emulators; 5 s between batches.
    pub const FAST: Polling = Polling {
        interval: Duration::from_millis(2),
        batch_wait: Duration::from_secs(5),
    };
}

impl Default for Polling {
    fn default() -> Self {
        Polling::DEFAULT
    }
}

/// What a backend's [`Cdn`](crate::Cdn) runs the driver with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Settings {
    /// Bounds of the retries of a throttled batch creation.
    pub(crate) retry: RetryPolicy,
    /// Status polling.
    pub(crate) polling: Polling,
}

/// A reference is 1 to [`MAX_REFERENCE_LEN`] characters from `[A-Za-z0-9._:-]`.
pub fn validate_reference(reference: &str) -> Result<(), Error> {
    if reference.is_empty() || reference.len() > MAX_REFERENCE_LEN {
        return Err(Error::invalid(
            "reference",
            format!("must be 1 to {MAX_REFERENCE_LEN} characters"),
        ));
    }
    if let Some(c) = reference
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
    {
        return Err(Error::invalid(
            "reference",
            format!("character {c:?} is not allowed; use [A-Za-z0-9._:-]"),
        ));
    }
    Ok(())
}

/// Split paths (in the order given) into batches of at most [`MAX_PATHS_PER_BATCH`] paths
/// and [`MAX_WILDCARDS_IN_FLIGHT`] wildcards. An empty list gives no batch.
pub fn split_batches(paths: &[String]) -> Vec<Vec<String>> {
    let mut batches = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut wildcards = 0;
    for path in paths {
        let is_wildcard = path.ends_with('*');
        if current.len() == MAX_PATHS_PER_BATCH
            || (is_wildcard && wildcards == MAX_WILDCARDS_IN_FLIGHT)
        {
            batches.push(std::mem::take(&mut current));
            wildcards = 0;
        }
        if is_wildcard {
            wildcards += 1;
        }
        current.push(path.clone());
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// Validate the request and return its paths deduplicated (first occurrence kept).
fn validated_paths(request: &InvalidationRequest) -> Result<Vec<String>, Error> {
    validate_reference(&request.reference)?;
    if request.paths.is_empty() {
        return Err(Error::invalid(
            "paths",
            "an invalidation needs at least one path (skip the call when the plan is empty)",
        ));
    }
    let mut seen = HashSet::new();
    let mut paths = Vec::with_capacity(request.paths.len());
    for (i, path) in request.paths.iter().enumerate() {
        let field = || format!("paths[{i}]");
        if !path.starts_with('/') {
            return Err(Error::invalid(field(), "a CDN path must start with `/`"));
        }
        if path.len() > MAX_PATH_LEN {
            return Err(Error::invalid(
                field(),
                format!("longer than {MAX_PATH_LEN} bytes"),
            ));
        }
        if path.trim_end_matches('*').contains('*') {
            return Err(Error::invalid(
                field(),
                "`*` is allowed only as the last character",
            ));
        }
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::invalid(
                field(),
                "whitespace and control characters are not allowed",
            ));
        }
        if path.ends_with("**") {
            return Err(Error::invalid(field(), "a single trailing `*` is allowed"));
        }
        if seen.insert(path.as_str()) {
            paths.push(path.clone());
        }
    }
    Ok(paths)
}

fn caller_reference(reference: &str, index: usize, batches: usize) -> String {
    if batches == 1 {
        reference.to_owned()
    } else {
        format!("{reference}-{index}")
    }
}

pub(crate) async fn invalidate(
    backend: &dyn Backend,
    settings: &Settings,
    request: &InvalidationRequest,
) -> Result<InvalidationReceipt, Error> {
    let paths = validated_paths(request)?;
    let batches = split_batches(&paths);
    let mut receipt = InvalidationReceipt {
        reference: request.reference.clone(),
        batches: Vec::with_capacity(batches.len()),
    };
    for (index, batch) in batches.iter().enumerate() {
        if index > 0 {
            // CloudFront's limits count paths in flight: let the previous batches finish.
            wait(backend, settings, &receipt, settings.polling.batch_wait).await?;
        }
        let caller_reference = caller_reference(&request.reference, index, batches.len());
        let created =
            create_with_retries(backend, settings.retry, &caller_reference, batch).await?;
        tracing::info!(
            reference = %caller_reference,
            id = %created.id,
            paths = batch.len(),
            "CDN invalidation created"
        );
        receipt.batches.push(created);
    }
    Ok(receipt)
}

/// One batch creation under `policy`: throttling is retried with jittered backoff
/// ([`Error::retry_class`] decides); still throttled when the policy is spent, it is
/// [`Error::Throttled`] counting the attempts made.
async fn create_with_retries(
    backend: &dyn Backend,
    policy: RetryPolicy,
    caller_reference: &str,
    batch: &[String],
) -> Result<BatchReceipt, Error> {
    let attempts = AtomicU32::new(0);
    let outcome = retry(
        policy,
        || async {
            let attempt = attempts.fetch_add(1, Ordering::Relaxed) + 1;
            let result = backend.create(caller_reference, batch).await;
            if let Err(err) = &result
                && err.retry_class() != Retry::Never
            {
                tracing::warn!(
                    reference = %caller_reference,
                    attempt,
                    error = %err,
                    "CDN throttled; backing off"
                );
            }
            result
        },
        Error::retry_class,
    )
    .await;
    outcome.map_err(|err| match err {
        Error::Throttled { reason, .. } => Error::Throttled {
            attempts: attempts.load(Ordering::Relaxed),
            reason,
        },
        other => other,
    })
}

pub(crate) async fn wait(
    backend: &dyn Backend,
    settings: &Settings,
    receipt: &InvalidationReceipt,
    timeout: Duration,
) -> Result<(), Error> {
    let start = Instant::now();
    let deadline = start + timeout;
    let mut pending: Vec<&str> = receipt
        .batches
        .iter()
        .filter(|b| b.status != InvalidationStatus::Completed)
        .map(|b| b.id.as_str())
        .collect();
    loop {
        let mut still = Vec::with_capacity(pending.len());
        for id in pending {
            match backend.status(id).await {
                Ok(InvalidationStatus::Completed) => {}
                Ok(InvalidationStatus::InProgress) => still.push(id),
                // Throttled while polling: not an answer, poll again at the next interval.
                Err(err) if err.retry_class() != Retry::Never => still.push(id),
                Err(err) => return Err(err),
            }
        }
        pending = still;
        if pending.is_empty() {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::Timeout {
                waited: now - start,
                pending: pending.iter().map(|s| (*s).to_owned()).collect(),
            });
        }
        tokio::time::sleep(settings.polling.interval.min(deadline - now)).await;
    }
}
