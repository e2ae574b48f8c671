//! Where stage events go and where they are read back from.
//!
//! - `GITOPS_METRICS_FILE`, when set, is the one events file of every environment (recording and
//!   reading), whatever its targets.
//! - An environment whose storage is `s3://bucket[/prefix]` keeps the events of a run in ONE
//!   write-once object `<prefix>/metrics/<yyyy>/<mm>/<dd>/<run>.jsonl` of its bucket: the events
//!   are buffered in memory while the run records them and written when the run flushes
//!   ([`Runtime::flush_metrics`], at the end of `gitops deploy`). The date is the UTC date of the
//!   run's first event; `<run>` is `GITHUB_RUN_ID-GITHUB_RUN_ATTEMPT` in GitHub Actions, `local`
//!   elsewhere, plus `-<ULID>`, so two processes never write the same key. Environments sharing
//!   one storage target share the run's object.
//! - Otherwise a local (SQLite) registry keeps them in `metrics/events.jsonl` beside it; a
//!   DynamoDB registry with local storage keeps none.
//!
//! Recording never fails a deploy: a failed write is one warning naming the object (never a
//! credential), reported by the caller of [`Runtime::flush_metrics`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use futures::{StreamExt as _, TryStreamExt as _};
use gitops_artifact_store::StoreOpener;
use gitops_iac_config::{Environment, RegistryTarget, StorageTarget};
use gitops_metrics::{MetricsSink, StageEvent};
use gitops_pipeline::Error;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _};
use time::{Date, OffsetDateTime, UtcOffset};

use crate::{Runtime, Timeouts, config};

/// The key prefix, under the storage target, of the stage events objects.
pub const EVENTS_PREFIX: &str = "metrics";

/// Most bytes of events one run buffers for one storage target; events beyond are dropped and
/// counted in the flush warning (a run records a few dozen events of at most ~4 KiB each).
pub const MAX_RUN_BYTES: usize = 16 * 1024 * 1024;

/// How much [`Runtime::stage_events`] reads at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadBounds {
    /// Most events objects listed in the window (S3).
    pub max_objects: usize,
    /// Most bytes read in all (the events file, or the objects together).
    pub max_bytes: u64,
}

impl Default for ReadBounds {
    fn default() -> Self {
        ReadBounds {
            max_objects: 10_000,
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// The stage events of an environment read back, and what was left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageEventsRead {
    /// The environment's events at or after `since`, ordered by time.
    pub events: Vec<StageEvent>,
    /// Lines that are not a valid event (not UTF-8, not an event), skipped.
    pub bad_lines: usize,
    /// Events objects read (S3; 0 for a file).
    pub objects: usize,
}

/// The buffers of one run's events bound for S3 storage targets, keyed by target.
#[derive(Debug, Default)]
pub(crate) struct RunBuffers {
    buffers: Mutex<BTreeMap<String, Arc<S3EventBuffer>>>,
}

impl RunBuffers {
    fn buffer(&self, target: &str) -> Arc<S3EventBuffer> {
        self.buffers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(target.to_owned())
            .or_insert_with(|| Arc::new(S3EventBuffer::default()))
            .clone()
    }

    fn all(&self) -> Vec<(String, Arc<S3EventBuffer>)> {
        self.buffers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// One run's events for one S3 storage target, kept in memory until the run flushes.
#[derive(Debug, Default)]
pub struct S3EventBuffer {
    state: Mutex<Buffered>,
}

#[derive(Debug, Default)]
struct Buffered {
    /// JSON Lines, each line ending in a newline.
    lines: String,
    /// The time of the first event recorded.
    first_at: Option<OffsetDateTime>,
    /// Events dropped because the buffer was full.
    dropped: usize,
}

impl S3EventBuffer {
    /// Takes what was buffered, leaving the buffer empty.
    fn take(&self) -> Buffered {
        std::mem::take(&mut *self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// How many bytes of events are buffered.
    pub fn buffered_bytes(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .lines
            .len()
    }
}

impl MetricsSink for S3EventBuffer {
    fn record(&self, event: &StageEvent) -> Result<(), gitops_metrics::Error> {
        let mut line = event.to_line()?;
        line.push('\n');
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.lines.len() + line.len() > MAX_RUN_BYTES {
            state.dropped += 1;
            return Ok(());
        }
        state.first_at.get_or_insert(event.at);
        state.lines.push_str(&line);
        Ok(())
    }
}

/// What [`Runtime::flush_metrics`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// The objects written, as `s3://bucket[/prefix]/metrics/...jsonl`.
    pub written: Vec<String>,
    /// One line per object that could not be written (or events dropped), naming the object
    /// and the store's error, never a credential: print each once as a warning.
    pub warnings: Vec<String>,
}

/// The run's name in an events key: `GITHUB_RUN_ID-GITHUB_RUN_ATTEMPT` (attempt 1 when unset)
/// when `GITHUB_RUN_ID` is set and plain, else `local`; then `-<ULID>`.
fn run_name() -> String {
    let plain =
        |v: &str| !v.is_empty() && v.len() <= 40 && v.bytes().all(|b| b.is_ascii_alphanumeric());
    let run = std::env::var("GITHUB_RUN_ID").ok().filter(|v| plain(v));
    let attempt = std::env::var("GITHUB_RUN_ATTEMPT")
        .ok()
        .filter(|v| plain(v))
        .unwrap_or_else(|| "1".to_owned());
    let ulid = ulid::Ulid::generate();
    match run {
        Some(run) => format!("{run}-{attempt}-{ulid}"),
        None => format!("local-{ulid}"),
    }
}

/// `metrics/<yyyy>/<mm>/<dd>` of `date`.
fn day_prefix(date: Date) -> String {
    format!(
        "{EVENTS_PREFIX}/{:04}/{:02}/{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// The day of an events key `metrics/<yyyy>/<mm>/<dd>/<name>.jsonl`; `None` for any other key.
fn day_of_key(key: &str) -> Option<Date> {
    let rest = key.strip_prefix(EVENTS_PREFIX)?.strip_prefix('/')?;
    let mut parts = rest.splitn(4, '/');
    let (year, month, day, name) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(year, 4) && digits(month, 2) && digits(day, 2))
        || name.contains('/')
        || !name.ends_with(".jsonl")
    {
        return None;
    }
    let month = time::Month::try_from(month.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok()
}

/// Parses JSON Lines, keeping the events of `environment` at or after `since`; a line that is
/// not an event is counted in `read.bad_lines`.
fn parse_lines(bytes: &[u8], environment: &str, since: OffsetDateTime, read: &mut StageEventsRead) {
    for raw in bytes.split(|b| *b == b'\n') {
        let Ok(text) = std::str::from_utf8(raw) else {
            read.bad_lines += 1;
            continue;
        };
        if text.trim().is_empty() {
            continue;
        }
        match StageEvent::from_line(text) {
            Ok(event) if event.environment == environment && event.at >= since => {
                read.events.push(event);
            }
            Ok(_) => {}
            Err(_) => read.bad_lines += 1,
        }
    }
}

fn store_error(e: object_store::Error) -> Error {
    Error::Artifact(e.into())
}

impl Runtime {
    /// Storage (and the events objects in it) opened through `opener` instead of the one built
    /// from the process environment: for embedding, and for tests against an emulator.
    #[must_use]
    pub fn with_store_opener(mut self, opener: StoreOpener) -> Self {
        self.opener = opener.with_timeouts(self.timeouts.connect, self.timeouts.transfer);
        self
    }

    /// The events file of `environment` when its events live in a file: `GITOPS_METRICS_FILE`,
    /// or `metrics/events.jsonl` beside a local registry when the storage is not S3. Resolves
    /// paths: call it from blocking code.
    fn events_file(&self, environment: &Environment) -> Option<Result<PathBuf, Error>> {
        if let Some(path) = std::env::var_os("GITOPS_METRICS_FILE").filter(|p| !p.is_empty()) {
            return Some(Ok(PathBuf::from(path)));
        }
        if matches!(environment.storage, StorageTarget::S3 { .. }) {
            return None;
        }
        match &environment.registry {
            RegistryTarget::Sqlite(path) => Some(
                self.local_blocking(path)
                    .map(|file| gitops_metrics::default_path_beside(&file)),
            ),
            RegistryTarget::DynamoDb { .. } => None,
        }
    }

    /// Where stage events of `environment` go: `GITOPS_METRICS_FILE` when set; else, for S3
    /// storage, this run's buffer for the bucket (written by [`Runtime::flush_metrics`]); else
    /// `metrics/events.jsonl` beside a local (SQLite) registry; nowhere for a DynamoDB registry
    /// (or a local one whose path is refused). Resolves paths: call it from blocking code.
    pub fn metrics(&self, environment: &Environment) -> Arc<dyn MetricsSink> {
        match self.events_file(environment) {
            Some(Ok(file)) => Arc::new(gitops_metrics::JsonlSink::new(file)),
            Some(Err(_)) => Arc::new(gitops_metrics::NullSink),
            None => match &environment.storage {
                remote @ StorageTarget::S3 { .. } => self.events.buffer(&remote.to_string()),
                StorageTarget::Local(_) => Arc::new(gitops_metrics::NullSink),
            },
        }
    }

    /// One sink per environment of `repository`, routed by the event's environment. Resolves
    /// paths: call it from blocking code.
    pub fn metrics_by_environment(
        &self,
        repository: &gitops_iac_config::Repository,
    ) -> EnvironmentSinks {
        EnvironmentSinks {
            sinks: repository
                .config
                .environments
                .iter()
                .map(|e| (e.name.to_string(), self.metrics(e)))
                .collect(),
        }
    }

    /// Writes the events this run buffered for S3 storage targets: one write-once object per
    /// target holding any, then empties the buffers (a second flush writes only what was
    /// recorded since). Never fails: each object that could not be written is one line of
    /// [`FlushReport::warnings`].
    pub async fn flush_metrics(&self) -> FlushReport {
        let mut report = FlushReport::default();
        for (target, buffer) in self.events.all() {
            let Buffered {
                lines,
                first_at,
                dropped,
            } = buffer.take();
            let Some(first_at) = first_at else {
                continue;
            };
            let day = first_at.to_offset(UtcOffset::UTC).date();
            let key = format!("{}/{}.jsonl", day_prefix(day), run_name());
            let object = format!("{}/{key}", target.trim_end_matches('/'));
            if dropped > 0 {
                report.warnings.push(format!(
                    "{dropped} stage event(s) of this run were not kept: more than {MAX_RUN_BYTES} bytes of events for {object}"
                ));
            }
            match self.put_events(&target, &key, lines).await {
                Ok(()) => report.written.push(object),
                Err(e) => report
                    .warnings
                    .push(format!("cannot write the stage events {object}: {e}")),
            }
        }
        report
    }

    fn open_store(&self, target: &str) -> Result<Arc<dyn ObjectStore>, Error> {
        Ok(self.opener.open_storage(target)?)
    }

    async fn put_events(&self, target: &str, key: &str, lines: String) -> Result<(), Error> {
        let store = self.open_store(target)?;
        let path =
            ObjectPath::parse(key).map_err(|e| config(format!("events key `{key}`: {e}")))?;
        let attributes = object_store::Attributes::from_iter([(
            object_store::Attribute::ContentType,
            object_store::AttributeValue::from("application/x-ndjson"),
        )]);
        gitops_artifact_store::put_write_once(
            store.as_ref(),
            &path,
            bytes::Bytes::from(lines),
            &attributes,
        )
        .await?;
        Ok(())
    }

    /// The stage events of `environment` at or after `since`, ordered by time, within the
    /// default [`ReadBounds`]; lines that are not events are skipped (and logged as a count).
    pub async fn stage_events(
        &self,
        environment: &Environment,
        since: OffsetDateTime,
    ) -> Result<Vec<StageEvent>, Error> {
        let read = self
            .read_stage_events(environment, since, ReadBounds::default())
            .await?;
        if read.bad_lines > 0 {
            tracing::warn!(
                environment = %environment.name,
                bad_lines = read.bad_lines,
                "stage event lines that are not events were skipped"
            );
        }
        Ok(read.events)
    }

    /// [`Runtime::stage_events`] within `bounds`, saying what was skipped.
    ///
    /// A file (`GITOPS_METRICS_FILE`, or beside a local registry) is read whole (an error naming
    /// the bound when larger than `bounds.max_bytes`; nothing when missing). S3 storage: the
    /// keys under `metrics/` from the day before `since` on (a run is filed under its first
    /// event's day) are listed, other days and other keys skipped by key; more than
    /// `bounds.max_objects` objects or `bounds.max_bytes` bytes in all is an error naming the
    /// bound.
    pub async fn read_stage_events(
        &self,
        environment: &Environment,
        since: OffsetDateTime,
        bounds: ReadBounds,
    ) -> Result<StageEventsRead, Error> {
        let this = self.clone();
        let env = environment.clone();
        let file = tokio::task::spawn_blocking(move || this.events_file(&env))
            .await
            .map_err(|e| config(format!("resolving the events file was interrupted: {e}")))?;
        let name = environment.name.as_str();
        let mut read = match (file, &environment.storage) {
            (Some(file), _) => read_file(&file?, name, since, bounds).await?,
            (None, remote @ StorageTarget::S3 { .. }) => {
                self.read_objects(&remote.to_string(), name, since, bounds)
                    .await?
            }
            (None, StorageTarget::Local(_)) => StageEventsRead::default(),
        };
        read.events.sort_by_key(|e| e.at);
        Ok(read)
    }

    async fn read_objects(
        &self,
        target: &str,
        environment: &str,
        since: OffsetDateTime,
        bounds: ReadBounds,
    ) -> Result<StageEventsRead, Error> {
        let store = self.open_store(target)?;
        let first_day = (since.to_offset(UtcOffset::UTC) - time::Duration::DAY).date();
        let prefix = ObjectPath::from(EVENTS_PREFIX);
        // Keys sort by day (zero-padded): start listing at the first day of the window.
        let offset = ObjectPath::from(day_prefix(first_day).as_str());
        let mut listing = store.list_with_offset(Some(&prefix), &offset);
        let (mut keys, mut total) = (Vec::new(), 0_u64);
        while let Some(meta) = listing.try_next().await.map_err(store_error)? {
            if day_of_key(meta.location.as_ref()).is_none_or(|day| day < first_day) {
                continue;
            }
            total = total.saturating_add(meta.size);
            if keys.len() == bounds.max_objects {
                return Err(config(format!(
                    "more than {} stage events objects under {target}/{EVENTS_PREFIX}/ since {first_day}: narrow the window",
                    bounds.max_objects
                )));
            }
            if total > bounds.max_bytes {
                return Err(too_big(target, bounds.max_bytes));
            }
            keys.push(meta.location);
        }
        let mut read = StageEventsRead {
            objects: keys.len(),
            ..StageEventsRead::default()
        };
        let mut bodies = futures::stream::iter(keys)
            .map(|key| {
                let store = store.clone();
                async move {
                    let got = store.get(&key).await.map_err(store_error)?;
                    if got.meta.size > bounds.max_bytes {
                        return Err(too_big(target, bounds.max_bytes));
                    }
                    got.bytes().await.map_err(store_error)
                }
            })
            .buffered(8);
        let mut read_bytes = 0_u64;
        while let Some(body) = bodies.next().await {
            let body = body?;
            read_bytes = read_bytes.saturating_add(body.len() as u64);
            if read_bytes > bounds.max_bytes {
                return Err(too_big(target, bounds.max_bytes));
            }
            parse_lines(&body, environment, since, &mut read);
        }
        Ok(read)
    }
}

fn too_big(target: &str, max: u64) -> Error {
    config(format!(
        "the stage events under {target}/{EVENTS_PREFIX}/ in the window are more than {max} bytes: narrow the window"
    ))
}

/// Reads the events file `path` (bounded), keeping `environment`'s events since `since`.
async fn read_file(
    path: &std::path::Path,
    environment: &str,
    since: OffsetDateTime,
    bounds: ReadBounds,
) -> Result<StageEventsRead, Error> {
    use tokio::io::AsyncReadExt as _;
    let unreadable = |e: std::io::Error| config(format!("events file {}: {e}", path.display()));
    let file = match tokio::fs::File::open(path).await {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(StageEventsRead::default());
        }
        Err(e) => return Err(unreadable(e)),
    };
    let mut bytes = Vec::new();
    file.take(bounds.max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .await
        .map_err(unreadable)?;
    if bytes.len() as u64 > bounds.max_bytes {
        return Err(config(format!(
            "events file {} is larger than {} bytes",
            path.display(),
            bounds.max_bytes
        )));
    }
    let mut read = StageEventsRead::default();
    parse_lines(&bytes, environment, since, &mut read);
    Ok(read)
}

/// A sink routing each event to its environment's sink ([`Runtime::metrics`]); events of
/// undeclared environments are dropped.
#[derive(Debug, Clone, Default)]
pub struct EnvironmentSinks {
    sinks: BTreeMap<String, Arc<dyn MetricsSink>>,
}

impl MetricsSink for EnvironmentSinks {
    fn record(&self, event: &StageEvent) -> Result<(), gitops_metrics::Error> {
        match self.sinks.get(&event.environment) {
            Some(sink) => sink.record(event),
            None => Ok(()),
        }
    }
}

/// Most bytes of a Pushgateway error response quoted in an error.
const MAX_QUOTED_BODY: usize = 200;

/// Sends `body` (Prometheus exposition format 0.0.4) to the Pushgateway at `url`, replacing the
/// group `job` (`PUT <url>/metrics/job/<job>`), within [`Timeouts::from_env`]. `job` is letters,
/// digits, `_`, `-`, `.` and `:`. A non-2xx answer is an error with its status and at most 200
/// bytes of its body; the URL's user and password never appear in an error.
pub async fn push_to_pushgateway(url: &str, job: &str, body: String) -> Result<(), Error> {
    let timeouts = Timeouts::from_env()?;
    let base = reqwest::Url::parse(url.trim_end_matches('/'))
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| {
            config("the Pushgateway URL must be an http:// or https:// URL".to_owned())
        })?;
    let shown = redacted(&base);
    if job.is_empty()
        || job.len() > 128
        || !job
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b))
    {
        return Err(config(format!(
            "Pushgateway job {job:?} must be 1 to 128 letters, digits, `_`, `-`, `.` or `:`"
        )));
    }
    let target = format!("{}/metrics/job/{job}", base.as_str().trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.request)
        .build()
        .map_err(|e| {
            config(format!(
                "HTTP client for the Pushgateway: {}",
                e.without_url()
            ))
        })?;
    let outside = |what: String| {
        Error::Artifact(gitops_artifact_store::Error::Io {
            path: shown.clone(),
            source: std::io::Error::other(what),
        })
    };
    let mut response = client
        .put(&target)
        .header(
            reqwest::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )
        .body(body)
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                Error::Artifact(gitops_artifact_store::Error::Timeout {
                    location: format!("the Pushgateway {shown}"),
                })
            } else {
                outside(format!("pushing to the Pushgateway: {}", e.without_url()))
            }
        })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let mut quoted = Vec::new();
    while quoted.len() < MAX_QUOTED_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => quoted.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    quoted.truncate(MAX_QUOTED_BODY);
    let text = String::from_utf8_lossy(&quoted);
    let message = format!(
        "the Pushgateway {shown} answered {status} to PUT /metrics/job/{job}: {}",
        text.trim()
    );
    if status.is_server_error() {
        Err(outside(message))
    } else {
        Err(config(message))
    }
}

/// `url` without its user and password.
fn redacted(url: &reqwest::Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_their_day() {
        let day = Date::from_calendar_date(2024, time::Month::March, 7).unwrap();
        assert_eq!(day_prefix(day), "metrics/2024/03/07");
        assert_eq!(day_of_key("metrics/2024/03/07/local-X.jsonl"), Some(day));
        for other in [
            "metrics/2024/03/07/a/b.jsonl",
            "metrics/2024/3/07/x.jsonl",
            "metrics/2024/03/07/x.json",
            "metrics/2024/02/30/x.jsonl",
            "other/2024/03/07/x.jsonl",
        ] {
            assert_eq!(day_of_key(other), None, "{other}");
        }
    }

    #[test]
    fn run_names_differ() {
        assert_ne!(run_name(), run_name());
    }
}
