//! The crate's error type.

/// Everything a queue operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An argument is invalid (a message field, a duration, a receipt of another backend);
    /// nothing was sent, received or changed.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field or argument name.
        field: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// The receipt no longer names a live delivery: its visibility expired (the message may
    /// have been delivered again since, to anyone), or it was spent by `ack`, `release` or
    /// `dead_letter`. Nothing was changed; the message, if it still exists, belongs to
    /// whoever received it last.
    #[error(
        "stale receipt: the delivery it names is over (visibility expired, or already acknowledged, released or dead-lettered)"
    )]
    StaleReceipt,
    /// The backend throttled the request; retrying later may succeed.
    #[error("queue throttled: {message}")]
    Throttled {
        /// What the backend said.
        message: String,
    },
    /// The backend is unreachable or failed transiently (timeout, 5xx, lock contention);
    /// retrying may succeed.
    #[error("queue unavailable: {message}")]
    Unavailable {
        /// What went wrong.
        message: String,
    },
    /// The credentials were refused or lack a permission.
    #[error("queue access denied: {message}")]
    Unauthorized {
        /// What the backend said.
        message: String,
    },
    /// The queue does not exist.
    #[error("queue {what} not found: run `gitops bootstrap` to create it")]
    NotFound {
        /// What is missing (e.g. "SQS queue `https://.../jobs.fifo`").
        what: String,
    },
    /// Stored data cannot be read back (a damaged database file, a row edited by hand, an SQS
    /// message without the attributes every FIFO message has).
    #[error("queue data is corrupt: {reason}")]
    Corrupt {
        /// Where and why; never the message body.
        reason: String,
    },
    /// Any other backend failure; retrying will not help.
    #[error("queue backend error: {message}")]
    Backend {
        /// What went wrong.
        message: String,
    },
}

impl Error {
    /// Whether retrying the same operation later may succeed ([`Error::Throttled`],
    /// [`Error::Unavailable`]): an outside, transient failure, as opposed to a refusal or a
    /// deterministic failure.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Throttled { .. } | Self::Unavailable { .. } => true,
            Self::Invalid { .. }
            | Self::StaleReceipt
            | Self::Unauthorized { .. }
            | Self::NotFound { .. }
            | Self::Corrupt { .. }
            | Self::Backend { .. } => false,
        }
    }
}
