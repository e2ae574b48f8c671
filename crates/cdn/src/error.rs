use std::path::PathBuf;
use std::time::Duration;

use gitops_retry::Retry;

/// Everything that can go wrong planning or running an invalidation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad input: a path, reference or setting the planner or the service refuses.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The offending field, e.g. `cache_invalidation_keys[2]`, `paths`, `reference`.
        field: String,
        /// Why it was refused.
        reason: String,
    },
    /// The reference was already used for an invalidation with different paths
    /// (CloudFront's `InvalidationBatchAlreadyExists`).
    #[error("conflict on caller reference `{reference}`: {reason}")]
    Conflict {
        /// The caller reference that was reused.
        reference: String,
        /// What differed.
        reason: String,
    },
    /// The distribution or invalidation does not exist.
    #[error("not found: {what}")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// Still throttled (or `TooManyInvalidationsInProgress`) after the bounded retries.
    #[error("throttled after {attempts} attempt(s): {reason}")]
    Throttled {
        /// Attempts made (0 when reported by a backend before any retry).
        attempts: u32,
        /// The last error the service gave.
        reason: String,
    },
    /// The invalidations did not complete in time; they go on in the background.
    #[error("invalidation not completed after {waited:?}; pending: {}", pending.join(", "))]
    Timeout {
        /// How long was waited.
        waited: Duration,
        /// Ids of the batches still in progress.
        pending: Vec<String>,
    },
    /// Credentials missing, expired or not allowed to do this.
    #[error("unauthorized: {reason}")]
    Unauthorized {
        /// The service's message (never a secret).
        reason: String,
    },
    /// Local file system error (the local log backend).
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Something that should hold a record cannot be read as one: a line of the invalidation
    /// log that is not an invalidation record, a log over [`crate::MAX_LOG_BYTES`], a CloudFront
    /// answer without a field it must have. Deterministic: retrying reads the same thing.
    #[error("unreadable {what}: {reason}")]
    Corrupt {
        /// What could not be read (the log file, the operation's answer).
        what: String,
        /// Why.
        reason: String,
    },
    /// Any other error from the CDN service or the SDK.
    #[error("CDN backend error: {reason}")]
    Backend {
        /// The error with its context chain.
        reason: String,
    },
}

impl Error {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// What the driver does with this error, in the one place that decides it: throttling
    /// (`TooManyInvalidationsInProgress`, rate limits) is retried with backoff under the
    /// backend's [`gitops_retry::RetryPolicy`]; nothing else is. A `Backend` error is not
    /// retried here: for CloudFront the SDK's own retries already ran inside the call.
    pub(crate) fn retry_class(&self) -> Retry {
        match self {
            Self::Throttled { .. } => Retry::Backoff,
            Self::Invalid { .. }
            | Self::Conflict { .. }
            | Self::NotFound { .. }
            | Self::Timeout { .. }
            | Self::Unauthorized { .. }
            | Self::Io { .. }
            | Self::Corrupt { .. }
            | Self::Backend { .. } => Retry::Never,
        }
    }

    /// Whether a later attempt (a re-run of the deploy) may succeed: an outside failure
    /// (throttled, not completed in time, the service or the local file system failing), as
    /// opposed to a refusal (bad input, a reused reference, a missing distribution or
    /// invalidation, refused credentials, an unreadable log or answer).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Throttled { .. }
            | Self::Timeout { .. }
            | Self::Io { .. }
            | Self::Backend { .. } => true,
            Self::Invalid { .. }
            | Self::Conflict { .. }
            | Self::NotFound { .. }
            | Self::Unauthorized { .. }
            | Self::Corrupt { .. } => false,
        }
    }
}
