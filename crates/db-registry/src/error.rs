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
    /// The backend is unreachable or failed transiently (timeout, 5xx, lock contention,
    /// transaction conflict); retrying may succeed.
    #[error("registry unavailable: {message}")]
    Unavailable {
        /// What went wrong.
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
    /// Stored data cannot be read back as an entry (edited by hand, or another tool).
    #[error("registry data is corrupt: {reason}")]
    Corrupt {
        /// What is wrong with it.
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
    /// Whether retrying the same operation may succeed ([`Error::Throttled`],
    /// [`Error::Unavailable`]).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Throttled { .. } | Self::Unavailable { .. })
    }
}
