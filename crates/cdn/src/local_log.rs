//! Embedded default backend: an invalidation log file, one JSON line per invalidation.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use std::io::{Read as _, Write as _};

use async_trait::async_trait;
use gitops_retry::RetryPolicy;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt as _;

use crate::driver::{self, Backend, Polling, Settings};
use crate::{
    BatchReceipt, Cdn, Error, InvalidationReceipt, InvalidationRequest, InvalidationStatus,
};

/// The largest invalidation log read (64 MiB, some 300,000 invalidations); a larger one is
/// refused ([`Error::Corrupt`]) rather than read: rotate it.
pub const MAX_LOG_BYTES: u64 = 64 << 20;

/// One line of the invalidation log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// When the invalidation was recorded, RFC 3339 UTC.
    pub timestamp: String,
    /// The batch's caller reference (the request's reference, or `<reference>-<index>`).
    pub reference: String,
    /// Invalidation id (a ULID).
    pub id: String,
    /// The paths invalidated.
    pub paths: Vec<String>,
}

/// Appends one JSON line per invalidation to a log file; the embedded default used by
/// `gitops demo` and every setup without a CDN.
///
/// Idempotent on the reference: a reference already in the log is not appended again (same
/// paths: the existing entry is returned; different paths: [`Error::Conflict`]). Parent
/// directories are created. Invalidations are complete as soon as they are logged. Writers
/// hold an exclusive advisory lock on the log file (`File::lock`) while they check and append,
/// so concurrent processes on one machine append a reference at most once. The file work
/// (lock, read, append, sync) runs on tokio's blocking threads, never on the async ones, and
/// reads at most [`MAX_LOG_BYTES`].
#[derive(Debug, Clone)]
pub struct LocalLogCdn {
    backend: Arc<LogBackend>,
    settings: Settings,
}

#[derive(Debug)]
struct LogBackend {
    path: PathBuf,
    lock: tokio::sync::Mutex<()>,
}

impl LocalLogCdn {
    /// A log at `path` (created on the first invalidation).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            backend: Arc::new(LogBackend {
                path: path.into(),
                lock: tokio::sync::Mutex::new(()),
            }),
            settings: Settings {
                // The log never throttles: nothing to retry.
                retry: RetryPolicy::NONE,
                // Invalidations are complete once logged: waits end at the first poll.
                polling: Polling::FAST,
            },
        }
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.backend.path
    }

    /// Every line of the log, oldest first (empty when the file does not exist yet).
    pub async fn entries(&self) -> Result<Vec<LogLine>, Error> {
        self.backend.read().await
    }
}

#[async_trait]
impl Cdn for LocalLogCdn {
    async fn invalidate(
        &self,
        request: &InvalidationRequest,
    ) -> Result<InvalidationReceipt, Error> {
        driver::invalidate(self.backend.as_ref(), &self.settings, request).await
    }

    async fn wait(&self, receipt: &InvalidationReceipt, timeout: Duration) -> Result<(), Error> {
        driver::wait(self.backend.as_ref(), &self.settings, receipt, timeout).await
    }
}

impl LogBackend {
    fn io(&self, source: std::io::Error) -> Error {
        Error::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// Every line, read with `tokio::fs` and at most [`MAX_LOG_BYTES`].
    async fn read(&self) -> Result<Vec<LogLine>, Error> {
        let file = match tokio::fs::File::open(&self.path).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(e)),
        };
        let mut raw = Vec::new();
        file.take(MAX_LOG_BYTES + 1)
            .read_to_end(&mut raw)
            .await
            .map_err(|e| self.io(e))?;
        let text = log_text(&self.path, raw)?;
        parse_lines(&self.path, &text)
    }
}

/// The log's bytes as text: at most [`MAX_LOG_BYTES`], UTF-8.
fn log_text(path: &Path, raw: Vec<u8>) -> Result<String, Error> {
    let corrupt = |reason: String| Error::Corrupt {
        what: format!("invalidation log {}", path.display()),
        reason,
    };
    if raw.len() as u64 > MAX_LOG_BYTES {
        return Err(corrupt(format!(
            "larger than {MAX_LOG_BYTES} bytes; rotate it"
        )));
    }
    String::from_utf8(raw).map_err(|_| corrupt("not UTF-8 text".to_owned()))
}

/// Append one line for `caller_reference` unless it is already there, holding an exclusive
/// advisory lock on the log file so that concurrent processes append at most once.
#[allow(clippy::disallowed_methods)] // runs on the blocking pool (the log's lock and writes)
fn append_once(
    path: &Path,
    caller_reference: &str,
    paths: &[String],
) -> Result<BatchReceipt, Error> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| Error::Io { path: p, source }
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(io(path))?;
    file.lock().map_err(io(path))?;
    let mut raw = Vec::new();
    (&file)
        .take(MAX_LOG_BYTES + 1)
        .read_to_end(&mut raw)
        .map_err(io(path))?;
    let text = log_text(path, raw)?;
    let existing = parse_lines(path, &text)?
        .into_iter()
        .find(|l| l.reference == caller_reference);
    if let Some(existing) = existing {
        if !same_paths(&existing.paths, paths) {
            return Err(Error::Conflict {
                reference: caller_reference.to_owned(),
                reason: "the reference is already in the log with different paths".to_owned(),
            });
        }
        return Ok(BatchReceipt {
            id: existing.id,
            caller_reference: caller_reference.to_owned(),
            path_count: existing.paths.len(),
            status: InvalidationStatus::Completed,
        });
    }
    let line = LogLine {
        timestamp: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| Error::Backend {
                reason: e.to_string(),
            })?,
        reference: caller_reference.to_owned(),
        id: ulid::Ulid::generate().to_string(),
        paths: paths.to_vec(),
    };
    let mut record = serde_json::to_string(&line).map_err(|e| Error::Backend {
        reason: e.to_string(),
    })?;
    if !text.is_empty() && !text.ends_with('\n') {
        // A previous writer died mid-line: start on a fresh line (parse will still refuse
        // the torn line, loudly).
        record.insert(0, '\n');
    }
    record.push('\n');
    file.write_all(record.as_bytes()).map_err(io(path))?;
    file.sync_data().map_err(io(path))?;
    Ok(BatchReceipt {
        id: line.id,
        caller_reference: caller_reference.to_owned(),
        path_count: paths.len(),
        status: InvalidationStatus::Completed,
    })
}

fn parse_lines(path: &Path, text: &str) -> Result<Vec<LogLine>, Error> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            serde_json::from_str(line).map_err(|e| Error::Corrupt {
                what: format!("invalidation log {}", path.display()),
                reason: format!("line {} is not an invalidation record: {e}", n + 1),
            })
        })
        .collect()
}

fn same_paths(a: &[String], b: &[String]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}

#[async_trait]
impl Backend for LogBackend {
    async fn create(
        &self,
        caller_reference: &str,
        paths: &[String],
    ) -> Result<BatchReceipt, Error> {
        let _guard = self.lock.lock().await;
        let path = self.path.clone();
        let caller_reference = caller_reference.to_owned();
        let paths = paths.to_vec();
        tokio::task::spawn_blocking(move || append_once(&path, &caller_reference, &paths))
            .await
            .map_err(|e| Error::Backend {
                reason: format!("invalidation log writer failed: {e}"),
            })?
    }

    async fn status(&self, id: &str) -> Result<InvalidationStatus, Error> {
        if self.read().await?.iter().any(|l| l.id == id) {
            Ok(InvalidationStatus::Completed)
        } else {
            Err(Error::NotFound {
                what: format!("invalidation {id} in {}", self.path.display()),
            })
        }
    }
}
