//! The crate's error type.

/// Everything a registry operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The stored entry has a higher sequence: this deploy is older than what is live.
    /// Nothing was changed.
    #[error("stale commit: sequence {attempted} is older than the live sequence {stored}")]
    Stale {
        /// Sequence of the live entry.
        stored: u64,
        /// Sequence of the refused commit.
        attempted: u64,
    },
    /// A different entry with the same sequence is already live. Nothing was changed.
    #[error("duplicate commit: a different entry with sequence {sequence} is already live")]
    Duplicate {
        /// The sequence both entries share.
        sequence: u64,
    },
    /// The backend throttled the request; retrying later may succeed.
    #[error("registry throttled: {message}")]
    Throttled {
        /// What the backend said.
        message: String,
    },
    /// The backend is unreachable or failed transiently (timeout, 5xx, lock contention);
    /// retrying may succeed.
    #[error("registry unavailable: {message}")]
    Unavailable {
        /// What went wrong.
        message: String,
    },
    /// Concurrent transactions on the same item kept cancelling this one (DynamoDB's
    /// `TransactionConflict`), through all the attempts of the adapter's retry policy.
    /// Nothing was changed; retrying later may succeed.
    #[error("registry write conflicted with concurrent transactions: {message}")]
    TransactionConflict {
        /// What kept conflicting, and how often it was tried.
        message: String,
    },
    /// The credentials were refused or lack a permission.
    #[error("registry access denied: {message}")]
    Unauthorized {
        /// What the backend said.
        message: String,
    },
    /// The registry's storage does not exist.
    #[error("registry {what} not found: run `gitops bootstrap` to create it")]
    NotFound {
        /// What is missing (e.g. "DynamoDB table `mfe-registry`").
        what: String,
    },
    /// An argument or entry field is invalid; nothing was read or written.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field or argument name.
        field: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// Stored data cannot be read back as an entry (edited by hand, or another tool): a value
    /// that does not parse into its field's type, an attribute of the wrong type, a damaged
    /// database file.
    #[error("registry data is corrupt: {reason}")]
    Corrupt {
        /// Where, which field and why; quotes at most a short excerpt of a stored value.
        reason: String,
    },
    /// Any other backend failure; retrying will not help.
    #[error("registry backend error: {message}")]
    Backend {
        /// What went wrong.
        message: String,
    },
}

impl Error {
    /// Whether retrying the same operation later may succeed ([`Error::Throttled`],
    /// [`Error::Unavailable`], [`Error::TransactionConflict`]): an outside, transient failure,
    /// as opposed to a refusal or a deterministic failure.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Throttled { .. }
            | Self::Unavailable { .. }
            | Self::TransactionConflict { .. } => true,
            Self::Stale { .. }
            | Self::Duplicate { .. }
            | Self::Unauthorized { .. }
            | Self::NotFound { .. }
            | Self::Invalid { .. }
            | Self::Corrupt { .. }
            | Self::Backend { .. } => false,
        }
    }

    /// What the DynamoDB adapter's own retry loop (under [`gitops_retry::RetryPolicy`]) does
    /// with a failed attempt, decided here and nowhere else: only a transaction conflict is
    /// tried again, with backoff. Throttling, timeouts and 5xx answers are not: the AWS SDK's
    /// retry strategy already retried them inside the call, and retrying them again here
    /// would multiply the attempts. Everything else is a refusal or deterministic.
    #[cfg(feature = "dynamodb")]
    pub(crate) fn retry_class(&self) -> gitops_retry::Retry {
        use gitops_retry::Retry;
        match self {
            Self::TransactionConflict { .. } => Retry::Backoff,
            Self::Throttled { .. }
            | Self::Unavailable { .. }
            | Self::Stale { .. }
            | Self::Duplicate { .. }
            | Self::Unauthorized { .. }
            | Self::NotFound { .. }
            | Self::Invalid { .. }
            | Self::Corrupt { .. }
            | Self::Backend { .. } => Retry::Never,
        }
    }
}
