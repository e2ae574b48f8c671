//! Where events go: the [`MetricsSink`] trait and its backends.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::{Error, StageEvent};

/// The events file of a local target, relative to the directory holding the registry.
pub const DEFAULT_RELATIVE_PATH: &str = "metrics/events.jsonl";

/// The default events file for a local (SQLite) registry at `registry_file`:
/// `metrics/events.jsonl` in the registry file's directory.
pub fn default_path_beside(registry_file: &Path) -> PathBuf {
    registry_file
        .parent()
        .unwrap_or_else(|| Path::new(""))
        .join(DEFAULT_RELATIVE_PATH)
}

/// A destination for stage events.
///
/// Recording is synchronous and short (a line appended to a file at most), so async callers
/// call it directly. Metrics must never decide a deploy: callers log a recording error and go on.
pub trait MetricsSink: Send + Sync + fmt::Debug {
    /// Records one event.
    ///
    /// # Contract
    /// - Validates first: an event that [`StageEvent::to_line`] refuses is refused with the same
    ///   [`Error::Invalid`] and nothing is recorded (every backend, including [`NullSink`]).
    /// - A recorded event reads back equal to `event` (with `detail` cut to
    ///   [`crate::MAX_DETAIL_BYTES`]), in recording order for one caller.
    /// - Safe to call from many threads at once, and (for file backends) from many processes:
    ///   each event is stored whole, never interleaved with another.
    /// - A storage failure is [`Error::Io`] naming the path; the event may then be missing but
    ///   never half-written in the middle of the store.
    fn record(&self, event: &StageEvent) -> Result<(), Error>;
}

/// Appends each event as one line to a JSON Lines file.
///
/// The file is opened for each event with `O_APPEND` (created, with its parent directories,
/// when missing) and the line plus its newline goes out in one `write` call, so lines from
/// concurrent threads and processes never interleave on a local file system. Opening per event
/// also follows a file that was rotated or removed. (Network file systems such as NFS do not
/// honour `O_APPEND` atomically; keep the file on a local disk.)
#[derive(Debug, Clone)]
pub struct JsonlSink {
    path: PathBuf,
}

impl JsonlSink {
    /// A sink appending to `path`. Nothing is touched until the first event.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        JsonlSink { path: path.into() }
    }

    /// A sink at [`default_path_beside`] the local registry file.
    pub fn beside_registry(registry_file: &Path) -> Self {
        JsonlSink::new(default_path_beside(registry_file))
    }

    /// The events file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    #[allow(clippy::disallowed_methods)] // one O_APPEND open and write of at most 4 KiB per stage event, kept synchronous so this crate needs no runtime
    fn open(&self) -> Result<std::fs::File, Error> {
        let open = || {
            OpenOptions::new()
                .append(true)
                .create(true)
                .open(&self.path)
        };
        match open() {
            Ok(file) => Ok(file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
                }
                open().map_err(|e| Error::io(&self.path, e))
            }
            Err(e) => Err(Error::io(&self.path, e)),
        }
    }
}

impl MetricsSink for JsonlSink {
    fn record(&self, event: &StageEvent) -> Result<(), Error> {
        let mut line = event.to_line()?;
        line.push('\n');
        let mut file = self.open()?;
        let bytes = line.as_bytes();
        // One write for the whole line: with O_APPEND the kernel places it at the end atomically
        // with respect to other appenders. A short write (disk full, signal) is completed rather
        // than leaving half a line in the middle of the file.
        let written = file.write(bytes).map_err(|e| Error::io(&self.path, e))?;
        if written < bytes.len() {
            file.write_all(&bytes[written..])
                .map_err(|e| Error::io(&self.path, e))?;
        }
        Ok(())
    }
}

/// Keeps events in memory: for tests, and for building a job summary from one run's events.
/// Refuses what [`JsonlSink`] refuses.
#[derive(Debug, Default)]
pub struct MemorySink {
    events: Mutex<Vec<StageEvent>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        MemorySink::default()
    }

    /// A copy of the events recorded so far, in recording order.
    pub fn events(&self) -> Vec<StageEvent> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Takes the events recorded so far, leaving the sink empty.
    pub fn take(&self) -> Vec<StageEvent> {
        std::mem::take(&mut *self.events.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// How many events were recorded.
    pub fn len(&self) -> usize {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no event was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl MetricsSink for MemorySink {
    fn record(&self, event: &StageEvent) -> Result<(), Error> {
        // Store what a file would give back: validated, detail capped.
        let stored = StageEvent::from_line(&event.to_line()?)?;
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(stored);
        Ok(())
    }
}

/// Discards events (metrics switched off). Still refuses an invalid event, so a bad event is
/// caught whether or not metrics are on.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl MetricsSink for NullSink {
    fn record(&self, event: &StageEvent) -> Result<(), Error> {
        event.to_line().map(drop)
    }
}

/// Sends every event to several sinks.
///
/// Every sink is tried even when an earlier one fails; the first error is returned.
#[derive(Debug, Clone, Default)]
pub struct MultiSink {
    sinks: Vec<Arc<dyn MetricsSink>>,
}

impl MultiSink {
    /// A fan-out to `sinks`, in order.
    pub fn new(sinks: Vec<Arc<dyn MetricsSink>>) -> Self {
        MultiSink { sinks }
    }

    /// Adds a sink.
    #[must_use]
    pub fn with(mut self, sink: Arc<dyn MetricsSink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// The sinks.
    pub fn sinks(&self) -> &[Arc<dyn MetricsSink>] {
        &self.sinks
    }
}

impl MetricsSink for MultiSink {
    fn record(&self, event: &StageEvent) -> Result<(), Error> {
        // Validate once up front so an invalid event reaches no sink at all.
        event.to_line()?;
        let mut first_error = None;
        for sink in &self.sinks {
            if let Err(e) = sink.record(event) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
