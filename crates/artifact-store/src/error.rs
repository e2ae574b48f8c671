//! The crate's one public error type.

use gitops_retry::Retry;

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

    /// The store's configuration is unusable (an `AWS_*` setting, an endpoint, a client option
    /// the HTTP client refuses): fixing the configuration is the only remedy, a retry will not
    /// help. The reason names the setting and the fix; never a credential.
    #[error("configuration: {reason}")]
    Config {
        /// What is wrong and how to fix it.
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

    /// The `<artifact>.provenance.json` record exists but is not a valid provenance record
    /// (or is larger than [`crate::MAX_PROVENANCE_BYTES`]).
    #[error("provenance record `{artifact}.provenance.json` is malformed: {reason}")]
    ProvenanceMalformed {
        /// The artifact whose record is malformed.
        artifact: String,
        /// Why it could not be read.
        reason: String,
    },

    /// The provenance record contradicts the sidecar (another archive's digest) or the deploy
    /// request (another commit, repository, MFE or version). Found before anything is uploaded.
    #[error("{reason} (provenance record of `{artifact}`)")]
    ProvenanceMismatch {
        /// The artifact.
        artifact: String,
        /// What disagrees with what, naming both sides (first, so that it survives GitHub's
        /// 140-character deployment status description).
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

    /// The archive lacks one of the MFE's entry points (e.g. `remoteEntry.js`): deploying it
    /// would publish pointers to a file that does not exist. Found before anything is uploaded.
    #[error(
        "artifact `{artifact}` has no entry point `{entry}` (looked for it at the top of the unpacked archive, after stripping `package/`); nothing was uploaded"
    )]
    MissingEntryPoint {
        /// The artifact (its location, or `<mfe>@<version>` when files were handed in directly).
        artifact: String,
        /// The missing entry point, relative to the version prefix.
        entry: String,
    },

    /// A connect or request timeout expired while talking to the store (an HTTP or S3 server
    /// that accepts connections but does not answer, or answers too slowly).
    #[error(
        "timed out talking to the store for `{location}` (connect or request timeout exceeded, retries included)"
    )]
    Timeout {
        /// The artifact or object involved.
        location: String,
    },

    /// A compare-and-swap update kept losing races and gave up (its retries are bounded by
    /// `gitops_retry::RetryPolicy::CONTENDED`).
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

    /// Any other object store failure. The message is a summary (operation, path, HTTP
    /// status); response bodies and headers are left out. The original error is the source.
    #[error("object store: {}", describe_store_error(.0))]
    Store(#[source] object_store::Error),

    /// Work moved off the async threads (unpacking, hashing, packing) did not finish: it
    /// panicked (a defect) or the runtime shut down while it ran (`cancelled`).
    #[error("{task} did not finish: {reason}")]
    Interrupted {
        /// What was being done.
        task: &'static str,
        /// The panic or cancellation, as the runtime reports it.
        reason: String,
        /// The runtime cancelled it (shutting down); a later run may finish it.
        cancelled: bool,
    },

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
                reason: redact(&source.to_string()),
            },
            other if is_timeout(&other) => Error::Timeout {
                location: store_error_path(&other).unwrap_or_else(|| "the store".to_owned()),
            },
            other => match unbuildable_request(&other) {
                Some(cause) => Error::Config {
                    reason: format!(
                        "the store's HTTP client cannot build the request ({cause}); check the endpoint (AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_S3: a URL starting with http:// or https://) and the AWS_* client settings"
                    ),
                },
                None => Error::Store(other),
            },
        }
    }
}

impl Error {
    /// Whether this is a configuration error ([`Error::Config`]): the operator must fix a
    /// setting; callers report it as a configuration error (exit 2), never as retryable.
    pub fn is_config(&self) -> bool {
        matches!(self, Error::Config { .. })
    }

    pub(crate) fn config(reason: impl Into<String>) -> Self {
        Error::Config {
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field,
            reason: reason.into(),
        }
    }

    /// Converts a store error about `location` (an artifact as written, or an object path),
    /// so that "not found" and "timed out" name it.
    pub(crate) fn from_store(e: object_store::Error, location: &str) -> Self {
        match e {
            object_store::Error::NotFound { .. } => Error::NotFound {
                path: location.to_owned(),
            },
            other if is_timeout(&other) => Error::Timeout {
                location: location.to_owned(),
            },
            other => other.into(),
        }
    }

    /// Whether retrying later may succeed: true only for failures outside the artifact and
    /// the caller's input (store or file-system IO, network errors, timeouts, throttling and
    /// server errors, a compare-and-swap that kept losing). Everything deterministic is
    /// false: checksums, archives, unsafe entries, limits, missing entry points, invalid
    /// input, immutable conflicts, missing objects, refused credentials, unsupported
    /// operations. A pipeline maps `true` to "outside failure" (exit 3) and `false` to a
    /// refusal (exit 1).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Timeout { .. } | Error::Conflict { .. } | Error::Io { .. } => true,
            Error::Interrupted { cancelled, .. } => *cancelled,
            Error::Store(e) => store_error_is_retryable(e),
            Error::Invalid { .. }
            | Error::Config { .. }
            | Error::UnsupportedScheme { .. }
            | Error::NotFound { .. }
            | Error::ChecksumMissing { .. }
            | Error::ChecksumMalformed { .. }
            | Error::ChecksumMismatch { .. }
            | Error::ProvenanceMalformed { .. }
            | Error::ProvenanceMismatch { .. }
            | Error::Archive { .. }
            | Error::UnsafeEntry { .. }
            | Error::LimitExceeded { .. }
            | Error::MissingEntryPoint { .. }
            | Error::ImmutableConflict { .. }
            | Error::Unauthorized { .. } => false,
        }
    }
}

impl Error {
    /// What this crate's own retry loop (the compare-and-swap of the pointers, under
    /// `gitops_retry::RetryPolicy::CONTENDED`) does with this error, decided here only: a lost
    /// race ([`Error::Conflict`]) is read again after a jittered backoff; nothing else is
    /// retried here (object_store retries transient HTTP failures inside each call, within the
    /// request timeout). [`Error::is_retryable`] is the other question: whether a later run
    /// may succeed.
    pub(crate) fn retry_class(&self) -> Retry {
        match self {
            Error::Conflict { .. } => Retry::Backoff,
            _ => Retry::Never,
        }
    }
}

/// Whether a store error is (or wraps) a connect/request timeout.
pub(crate) fn is_timeout(e: &object_store::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(h) = err.downcast_ref::<object_store::client::HttpError>()
            && h.kind() == object_store::client::HttpErrorKind::Timeout
        {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        source = err.source();
    }
    false
}

/// When the HTTP client refused to build a request (reqwest's "builder error": a URL scheme
/// the client is not allowed to use, a malformed URL or header), the innermost cause; such a
/// request never reaches the server, so no retry can help.
fn unbuildable_request(e: &object_store::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(h) = err.downcast_ref::<object_store::client::HttpError>()
            && h.kind() == object_store::client::HttpErrorKind::Unknown
            && let Some(inner) = std::error::Error::source(h)
            && inner.to_string().starts_with("builder error")
        {
            let mut cause: &(dyn std::error::Error + 'static) = inner;
            while let Some(next) = cause.source() {
                cause = next;
            }
            return Some(redact(&cause.to_string()));
        }
        source = err.source();
    }
    None
}

fn store_error_is_retryable(e: &object_store::Error) -> bool {
    use object_store::Error as E;
    match e {
        E::NotImplemented { .. }
        | E::NotSupported { .. }
        | E::InvalidPath { .. }
        | E::UnknownConfigurationKey { .. }
        | E::AlreadyExists { .. }
        | E::Precondition { .. }
        | E::NotModified { .. }
        | E::NotFound { .. }
        | E::PermissionDenied { .. }
        | E::Unauthenticated { .. } => false,
        other => match http_status(&other.to_string()) {
            // A client error other than "timeout" or "too many requests" will not go away.
            Some(status) if (400..500).contains(&status) => matches!(status, 408 | 429),
            _ => true,
        },
    }
}

fn store_error_path(e: &object_store::Error) -> Option<String> {
    use object_store::Error as E;
    match e {
        E::NotFound { path, .. }
        | E::AlreadyExists { path, .. }
        | E::Precondition { path, .. }
        | E::NotModified { path, .. }
        | E::PermissionDenied { path, .. }
        | E::Unauthenticated { path, .. } => Some(path.clone()),
        _ => None,
    }
}

/// The HTTP status object_store reports in its message (`... status code: 503 ...`).
fn http_status(message: &str) -> Option<u16> {
    let at = message.find(STATUS_MARKER)? + STATUS_MARKER.len();
    message.get(at..at + 3)?.parse().ok()
}

const STATUS_MARKER: &str = "status code: ";
const BODY_MARKER: &str = "Server returned error response";
const MAX_MESSAGE: usize = 400;

/// A store error's message without response bodies: object_store appends the server's body
/// after the status (`...status code: 403 Forbidden: <body>`); the body can be a whole HTML
/// page or XML with request ids, so it is cut. Control characters become spaces and the
/// result is bounded.
pub(crate) fn redact(message: &str) -> String {
    let mut cut = message.len();
    if let Some(i) = message.find(STATUS_MARKER) {
        let after = i + STATUS_MARKER.len();
        let status_end = message[after..]
            .find(": ")
            .map_or(message.len(), |j| after + j);
        cut = cut.min(status_end);
    }
    if let Some(i) = message.find(BODY_MARKER) {
        cut = cut.min(i + BODY_MARKER.len());
    }
    let mut out: String = message[..cut]
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if out.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push_str("...");
    }
    out.trim_end().to_owned()
}

/// The summary shown for [`Error::Store`].
fn describe_store_error(e: &object_store::Error) -> String {
    if is_timeout(e) {
        return "timed out".to_owned();
    }
    redact(&e.to_string())
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(message: &str) -> object_store::Error {
        object_store::Error::Generic {
            store: "S3",
            source: message.to_owned().into(),
        }
    }

    #[test]
    fn bodies_are_cut_from_store_messages() {
        let raw = "Error performing GET http://h/a.tgz in 1ms - Server returned non-2xx status code: 500 Internal Server Error: <Error><Code>InternalError</Code><RequestId>abc</RequestId></Error>";
        let shown = Error::from(generic(raw)).to_string();
        assert!(shown.contains("500 Internal Server Error"), "{shown}");
        assert!(!shown.contains("RequestId"), "{shown}");
        let shown = redact("Server returned error response: secret body\nmore");
        assert_eq!(shown, "Server returned error response");
        let long = "x".repeat(10_000);
        assert!(redact(&long).len() <= MAX_MESSAGE + 3);
        assert_eq!(redact("a\nb\tc"), "a b c");
    }

    #[test]
    fn only_outside_failures_are_retryable() {
        let timeout = Error::Timeout {
            location: "a".into(),
        };
        assert!(timeout.is_retryable());
        assert!(
            Error::Conflict {
                path: "p".into(),
                attempts: 10
            }
            .is_retryable()
        );
        assert!(Error::from(generic("connection reset")).is_retryable());
        assert!(Error::from(generic("... status code: 503 Service Unavailable: x")).is_retryable());
        assert!(Error::from(generic("... status code: 429 Too Many Requests")).is_retryable());
        assert!(!Error::from(generic("... status code: 400 Bad Request: x")).is_retryable());
        assert!(
            !Error::Store(object_store::Error::NotImplemented {
                operation: "x".into(),
                implementer: "y".into()
            })
            .is_retryable()
        );
        for refusal in [
            Error::invalid("f", "r"),
            Error::NotFound { path: "p".into() },
            Error::ChecksumMismatch {
                artifact: "a".into(),
                expected: "e".into(),
                actual: "b".into(),
            },
            Error::UnsafeEntry {
                entry: "e".into(),
                reason: "r".into(),
            },
            Error::MissingEntryPoint {
                artifact: "a".into(),
                entry: "remoteEntry.js".into(),
            },
            Error::ImmutableConflict { path: "p".into() },
        ] {
            assert!(!refusal.is_retryable(), "{refusal:?}");
        }
    }

    /// reqwest's error for a request it refuses to build, as object_store wraps it.
    #[derive(Debug)]
    struct Builder(std::io::Error);
    impl std::fmt::Display for Builder {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("builder error")
        }
    }
    impl std::error::Error for Builder {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_request_the_client_cannot_build_is_a_configuration_error() {
        fn http(
            kind: object_store::client::HttpErrorKind,
            inner: impl std::error::Error + Send + Sync + 'static,
        ) -> object_store::Error {
            object_store::Error::Generic {
                store: "S3",
                source: Box::new(object_store::client::HttpError::new(kind, inner)),
            }
        }
        let e = http(
            object_store::client::HttpErrorKind::Unknown,
            Builder(std::io::Error::other("URL scheme is not allowed")),
        );
        let err = Error::from(e);
        assert!(err.is_config() && !err.is_retryable(), "{err:?}");
        let shown = err.to_string();
        assert!(
            shown.contains("URL scheme is not allowed") && shown.contains("AWS_ENDPOINT_URL"),
            "{shown}"
        );
        // Another unknown HTTP failure stays a store error (retryable).
        let e = http(
            object_store::client::HttpErrorKind::Unknown,
            std::io::Error::other("connection refused"),
        );
        let err = Error::from(e);
        assert!(
            matches!(err, Error::Store(_)) && err.is_retryable(),
            "{err:?}"
        );
    }

    #[test]
    fn timeouts_are_recognised_through_the_source_chain() {
        let e = object_store::Error::Generic {
            store: "HTTP",
            source: Box::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "deadline",
            )),
        };
        let err = Error::from_store(e, "https://h/a.tgz");
        assert!(
            matches!(&err, Error::Timeout { location } if location == "https://h/a.tgz"),
            "{err:?}"
        );
        let e = object_store::Error::Generic {
            store: "HTTP",
            source: Box::new(object_store::client::HttpError::new(
                object_store::client::HttpErrorKind::Timeout,
                std::io::Error::other("x"),
            )),
        };
        assert!(matches!(Error::from(e), Error::Timeout { .. }));
    }
}
