//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong recording or reading metrics events.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing the events file failed.
    #[error("metrics file {}: {source}", path.display())]
    Io {
        /// The file (or directory) involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A line of an events file is not a valid event (and is not a truncated last line).
    #[error("metrics file {}, line {line}: {reason}", path.display())]
    Corrupt {
        /// The events file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },
    /// An event or a query that cannot be represented or makes no sense.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The offending field, e.g. `at`, `line`, `range`.
        field: String,
        /// Why it was refused.
        reason: String,
    },
}

impl Error {
    /// Whether this is an IO error for a file or directory that does not exist
    /// (an events file nobody has written to yet).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
