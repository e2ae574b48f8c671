//! The one error type of this crate, and which of its failures a retry may cure.

use std::time::Duration;

/// The one error type of this crate.
///
/// Retryable ([`Error::is_retryable`]): [`Error::Throttled`], [`Error::Transport`],
/// [`Error::Api`] with a 5xx status, and [`Error::Io`] of a transient kind (timed out,
/// interrupted, would block, resource busy). Every other variant is deterministic: the same
/// call fails the same way until something changes (the input, the credentials, the state the
/// caller judged, the forge's data).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The repository, ref, pull request, commit or deployment does not exist.
    #[error("not found: {what}")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// The state moved under us: the PR head is not the expected sha, a ref was updated
    /// concurrently, the pull request is not open. Not retryable as such: the caller re-reads
    /// and re-judges.
    #[error("conflict: {reason}")]
    Conflict {
        /// Why.
        reason: String,
    },
    /// A race kept being lost through every attempt (GitHub's "Base branch was modified" on
    /// each merge try: other merges keep landing): nothing is wrong with the change, and a
    /// later try may win. Retryable, unlike [`Error::Conflict`].
    #[error("contended: {reason}")]
    Contended {
        /// Why.
        reason: String,
    },
    /// The pull request cannot be merged (a real git conflict, or the forge refuses).
    #[error("not mergeable: {reason}")]
    NotMergeable {
        /// Why.
        reason: String,
    },
    /// Rate limited, and the retry budget is spent (or the forge asked for a wait past it).
    /// Retryable.
    #[error("throttled by the forge{}", asked_wait(*.retry_after))]
    Throttled {
        /// How long the forge asked us to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// Missing, wrong or insufficient credentials.
    #[error("unauthorized: {message}")]
    Unauthorized {
        /// The forge's message (never contains the token).
        message: String,
    },
    /// A value handed to the forge is not acceptable (a forge rule: a path, a marker, one of
    /// GitHub's limits), or the forge refused it as such (422).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The offending field.
        field: String,
        /// Why it is refused.
        reason: String,
    },
    /// The request did not reach the forge, or it did not answer in time. Retryable.
    #[error("transport error: {message}")]
    Transport {
        /// What went wrong.
        message: String,
    },
    /// The forge answered, but not in the shape its API documents (a body that does not
    /// parse, a required field missing or null, a value of the wrong kind). Deterministic: the
    /// same answer comes back on a retry.
    #[error("malformed answer to {what}: {reason}")]
    Malformed {
        /// The call or record whose answer it was.
        what: String,
        /// What is wrong with it (naming the field).
        reason: String,
    },
    /// More than this crate reads at once (a repository, a list, a file).
    #[error("{what} is too large: {limit}")]
    TooLarge {
        /// What was read.
        what: String,
        /// The bound it passed.
        limit: String,
    },
    /// Any other answer of the forge's API. Retryable when the status is 5xx (the forge
    /// failed), not otherwise.
    #[error("forge API error {status}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The forge's message.
        message: String,
    },
    /// A `git` command of the local adapter failed, or printed what it should not.
    #[error("git {command} failed: {message}")]
    Git {
        /// The git subcommand.
        command: String,
        /// Its standard error, trimmed, or what was wrong with its output.
        message: String,
    },
    /// Local file-system error (local adapter records). Retryable only for transient kinds.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// Whether the same call may succeed later without anything else changing: the forge is
    /// throttling us or failed (5xx), the request did not get through or timed out, or a
    /// transient local I/O failure. Everything else is deterministic.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Throttled { .. } | Error::Transport { .. } | Error::Contended { .. } => true,
            Error::Api { status, .. } => *status >= 500,
            Error::Io(e) => matches!(
                e.kind(),
                std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::Interrupted
                    | std::io::ErrorKind::WouldBlock
                    | std::io::ErrorKind::ResourceBusy
            ),
            Error::NotFound { .. }
            | Error::Conflict { .. }
            | Error::NotMergeable { .. }
            | Error::Unauthorized { .. }
            | Error::Invalid { .. }
            | Error::Malformed { .. }
            | Error::TooLarge { .. }
            | Error::Git { .. } => false,
        }
    }

    pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound { what: what.into() }
    }
    pub(crate) fn conflict(reason: impl Into<String>) -> Self {
        Error::Conflict {
            reason: reason.into(),
        }
    }
    pub(crate) fn malformed(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Malformed {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

/// ` (it asked to retry after N s)` when the forge said how long to wait, else nothing.
fn asked_wait(wait: Option<Duration>) -> String {
    wait.map_or_else(String::new, |d| {
        format!(" (it asked to retry after {} s)", d.as_secs())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_failures_are_retryable() {
        let retryable = [
            Error::Throttled { retry_after: None },
            Error::Transport {
                message: "timed out".into(),
            },
            Error::Api {
                status: 502,
                message: "bad gateway".into(),
            },
            Error::Io(std::io::ErrorKind::TimedOut.into()),
        ];
        for e in &retryable {
            assert!(e.is_retryable(), "{e:?}");
        }
        let deterministic = [
            Error::malformed("GET pulls/1", "missing field `head`"),
            Error::Api {
                status: 418,
                message: "teapot".into(),
            },
            Error::not_found("x"),
            Error::conflict("moved"),
            Error::NotMergeable { reason: "c".into() },
            Error::Unauthorized {
                message: "no".into(),
            },
            Error::invalid("path", "bad"),
            Error::TooLarge {
                what: "tree".into(),
                limit: "256 MiB".into(),
            },
            Error::Git {
                command: "merge-tree".into(),
                message: "x".into(),
            },
            Error::Io(std::io::ErrorKind::PermissionDenied.into()),
        ];
        for e in &deterministic {
            assert!(!e.is_retryable(), "{e:?}");
        }
    }
}
