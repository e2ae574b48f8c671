//! The logic shared by every backend: request validation, batching within CloudFront's
//! limits, per-batch caller references, backoff with jitter, waiting with a timeout.
//!
//! A backend only implements [`Backend`]: create one batch, report one batch's status.

use std::collections::HashSet;
use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::{
    BatchReceipt, Error, InvalidationReceipt, InvalidationRequest, InvalidationStatus,
    MAX_PATH_LEN, MAX_PATHS_PER_BATCH, MAX_REFERENCE_LEN, MAX_WILDCARDS_IN_FLIGHT,
};

/// One service call per method; no retries, no batching.
#[async_trait]
pub(crate) trait Backend: Send + Sync + Debug {
    /// Create one invalidation batch. Returns [`Error::Throttled`] for
    /// `TooManyInvalidationsInProgress` and throttling (the driver retries those).
    async fn create(&self, caller_reference: &str, paths: &[String])
    -> Result<BatchReceipt, Error>;
    /// Current status of one batch.
    async fn status(&self, id: &str) -> Result<InvalidationStatus, Error>;
}

/// Bounds for retries and polling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per batch creation (first try included) before [`Error::Throttled`].
    pub max_attempts: u32,
    /// First backoff ceiling; doubled after each throttled attempt.
    pub base_delay: Duration,
    /// Largest backoff ceiling. The actual delay is uniform in `0..=ceiling` (full jitter).
    pub max_delay: Duration,
    /// Interval between status polls while waiting.
    pub poll_interval: Duration,
    /// How long a multi-batch request waits for its previous batch to complete before
    /// creating the next one.
    pub batch_wait: Duration,
}

impl Default for RetryPolicy {
    /// 8 attempts, backoff ceilings 1 s, 2 s, 4 s, ... capped at 30 s (at most about 2.5
    /// minutes in total), polls every 5 s, 15 minutes between batches.
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            poll_interval: Duration::from_secs(5),
            batch_wait: Duration::from_secs(15 * 60),
        }
    }
}

impl RetryPolicy {
    /// Millisecond delays for tests and emulators; same number of attempts as the default.
    pub fn fast() -> Self {
        Self {
            max_attempts: 8,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            poll_interval: Duration::from_millis(2),
            batch_wait: Duration::from_secs(5),
        }
    }

    /// The backoff before attempt `attempt + 1` (0-based), with full jitter.
    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1_u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.max_delay);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::random_range(0..=millis))
    }
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
    policy: &RetryPolicy,
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
            wait(backend, policy, &receipt, policy.batch_wait).await?;
        }
        let caller_reference = caller_reference(&request.reference, index, batches.len());
        let created = create_with_backoff(backend, policy, &caller_reference, batch).await?;
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

async fn create_with_backoff(
    backend: &dyn Backend,
    policy: &RetryPolicy,
    caller_reference: &str,
    batch: &[String],
) -> Result<BatchReceipt, Error> {
    let max_attempts = policy.max_attempts.max(1);
    let mut attempt = 0;
    loop {
        match backend.create(caller_reference, batch).await {
            Ok(receipt) => return Ok(receipt),
            Err(err) if err.is_retryable() => {
                attempt += 1;
                if attempt >= max_attempts {
                    let reason = match err {
                        Error::Throttled { reason, .. } => reason,
                        other => other.to_string(),
                    };
                    return Err(Error::Throttled {
                        attempts: attempt,
                        reason,
                    });
                }
                let delay = policy.backoff(attempt - 1);
                tracing::warn!(
                    reference = %caller_reference,
                    attempt,
                    delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    error = %err,
                    "CDN throttled; backing off"
                );
                tokio::time::sleep(delay).await;
            }
            Err(err) => return Err(err),
        }
    }
}

pub(crate) async fn wait(
    backend: &dyn Backend,
    policy: &RetryPolicy,
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
                // Throttled while polling: not an answer, poll again later.
                Err(err) if err.is_retryable() => still.push(id),
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
        tokio::time::sleep(policy.poll_interval.min(deadline - now)).await;
    }
}
