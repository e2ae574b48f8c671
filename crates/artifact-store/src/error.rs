//! The crate's one public error type.

/// Everything that can go wrong while locating, verifying, unpacking, uploading or publishing
/// an artifact.
///
/// Messages name the artifact, the archive entry or the object path involved, never a
/// credential.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A caller-supplied value (template, name, version, URL, option) is malformed.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Which input was wrong.
        field: &'static str,
        /// Why.
        reason: String,
    },

    /// The artifact location uses a scheme this crate cannot open.
    #[error(
        "unsupported location scheme `{scheme}` in `{location}` (use a local path, s3://, http:// or https://)"
    )]
    UnsupportedScheme {
        /// The whole location as given.
        location: String,
        /// The scheme found.
        scheme: String,
    },

    /// The artifact (or another required object) does not exist.
    #[error("not found: {path}")]
    NotFound {
        /// The missing object.
        path: String,
    },

    /// The `<artifact>.sha256` sidecar does not exist.
    #[error(
        "checksum sidecar `{artifact}.sha256` is missing; refusing to unpack `{artifact}` unverified"
    )]
    ChecksumMissing {
        /// The artifact whose sidecar is missing.
        artifact: String,
    },

    /// The sidecar exists but is not in `sha256sum` format.
    #[error("checksum sidecar of `{artifact}` is malformed: {reason}")]
    ChecksumMalformed {
        /// The artifact whose sidecar is malformed.
        artifact: String,
        /// Why it could not be read.
        reason: String,
    },

    /// The artifact's sha256 does not match its sidecar.
    #[error("checksum mismatch for `{artifact}`: sidecar says {expected}, content is {actual}")]
    ChecksumMismatch {
        /// The artifact.
        artifact: String,
        /// Hex digest from the sidecar.
        expected: String,
        /// Hex digest of the bytes read.
        actual: String,
    },

    /// The artifact is not a `.tgz`/`.tar.gz`/`.zip`, or cannot be decoded as one.
    #[error("cannot read archive `{artifact}`: {reason}")]
    Archive {
        /// The artifact.
        artifact: String,
        /// Why.
        reason: String,
    },

    /// An archive entry is unsafe (absolute path, `..`, link, device file, ...).
    #[error("refusing archive entry `{entry}`: {reason}")]
    UnsafeEntry {
        /// The entry's name as stored in the archive.
        entry: String,
        /// Why it was refused.
        reason: String,
    },

    /// A bound in [`crate::Limits`] was exceeded.
    #[error("archive `{artifact}` exceeds the {limit} limit of {max} at entry `{entry}`")]
    LimitExceeded {
        /// The artifact.
        artifact: String,
        /// Which limit (`max_files`, `max_total_bytes`, `max_ratio`, `max_archive_bytes`).
        limit: &'static str,
        /// The configured bound.
        max: u64,
        /// The entry being read when the bound was crossed (empty for the archive itself).
        entry: String,
    },

    /// An immutable object already exists with different content: the version was rebuilt.
    #[error(
        "`{path}` already exists with different content: version is immutable (was it rebuilt under the same version?)"
    )]
    ImmutableConflict {
        /// The object path.
        path: String,
    },

    /// A compare-and-swap update kept losing races and gave up.
    #[error("`{path}` changed concurrently {attempts} times; giving up")]
    Conflict {
        /// The object path.
        path: String,
        /// How many attempts were made.
        attempts: u32,
    },

    /// The store refused our credentials.
    #[error("unauthorized for {path}: {reason}")]
    Unauthorized {
        /// The object path.
        path: String,
        /// The store's message.
        reason: String,
    },

    /// Any other object store failure.
    #[error("object store: {0}")]
    Store(#[source] object_store::Error),

    /// A local filesystem failure (packing a directory).
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl From<object_store::Error> for Error {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { path, .. } => Error::NotFound { path },
            object_store::Error::Unauthenticated { path, source }
            | object_store::Error::PermissionDenied { path, source } => Error::Unauthorized {
                path,
                reason: source.to_string(),
            },
            other => Error::Store(other),
        }
    }
}

impl Error {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
