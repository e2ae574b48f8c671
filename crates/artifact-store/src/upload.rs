//! Write-once upload of an unpacked version to `mfe/<name>/<version>/`.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _, stream};
use gitops_event_model::{MfeName, Version};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use object_store::path::Path;
use object_store::{Attributes, ObjectStore, ObjectStoreExt as _, PutMode, PutOptions};

use gitops_retry::{Retry, RetryPolicy, retry};

use crate::blocking;
use crate::bounded::read_bounded;
use crate::error::{Error, Result};
use crate::headers;
use crate::location::ObjectLocation;
use crate::pointers::check_entry;
use crate::unpack::{Limits, UnpackedFile, unpack};
use crate::verify::{VerifiedArtifact, fetch_verified};

/// When to draw a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Progress {
    /// Only when stderr is a terminal.
    #[default]
    Auto,
    /// Never.
    Hidden,
}

/// Options for [`upload_version`].
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Maximum uploads in flight. Default 16; must be at least 1.
    pub concurrency: usize,
    /// Paths (relative to the version prefix) of the MFE's entry points, e.g.
    /// `remoteEntry.js`. They always get the short, revalidating Cache-Control, and
    /// [`upload_version`] / [`stage_artifact`] refuse files that lack one of them
    /// ([`Error::MissingEntryPoint`]) before anything is uploaded.
    pub entry_points: Vec<String>,
    /// Progress display.
    pub progress: Progress,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            concurrency: 16,
            entry_points: Vec::new(),
            progress: Progress::Auto,
        }
    }
}

/// What [`upload_version`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadReport {
    /// Files in the version (written + skipped).
    pub files: usize,
    /// Bytes in the version.
    pub bytes: u64,
    /// Files that were already there with identical content.
    pub skipped_identical: usize,
    /// Whether the store refused object attributes (LocalFileSystem does) so files were
    /// stored without Content-Type/Cache-Control; whatever serves them must set headers.
    pub attributes_dropped: bool,
    /// Wall-clock time taken.
    pub duration: Duration,
}

/// Outcome of one write-once put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The object was created.
    Written,
    /// The object already existed with identical content.
    Identical,
}

/// Remembers what a store refused, so each refusal costs one request per upload, not one per
/// file.
#[derive(Debug, Default)]
pub(crate) struct StoreQuirks {
    /// The store returned `NotImplemented` for attributes (LocalFileSystem).
    pub(crate) no_attributes: AtomicBool,
    /// The store returned `NotImplemented` for conditional puts (HTTP store, S3 with
    /// conditional put disabled).
    pub(crate) no_conditional: AtomicBool,
}

pub(crate) enum Refusal {
    Attributes,
    Conditional,
}

/// Classifies `NotImplemented` by its operation text (object_store names the option it
/// does not support).
pub(crate) fn not_implemented(e: &object_store::Error) -> Option<Refusal> {
    match e {
        object_store::Error::NotImplemented { operation, .. } => {
            if operation.contains("attributes") {
                Some(Refusal::Attributes)
            } else {
                Some(Refusal::Conditional)
            }
        }
        _ => None,
    }
}

impl StoreQuirks {
    pub(crate) fn attrs(&self, a: &Attributes) -> Attributes {
        if self.no_attributes.load(Ordering::Relaxed) {
            Attributes::new()
        } else {
            a.clone()
        }
    }
}

/// Puts `data` at `path` only if nothing is there (`PutMode::Create`).
///
/// An existing object with identical content is [`WriteOutcome::Identical`]; different
/// content is [`Error::ImmutableConflict`]. Stores without conditional puts (the HTTP store)
/// get a read-then-write emulation, which is not atomic: acceptable because publishing one
/// version is serialised by CI and deploys of one (env, mfe) run in one concurrency group.
pub async fn put_write_once(
    store: &dyn ObjectStore,
    path: &Path,
    data: Bytes,
    attributes: &Attributes,
) -> Result<WriteOutcome> {
    put_write_once_inner(store, path, data, attributes, &StoreQuirks::default()).await
}

pub(crate) async fn put_write_once_inner(
    store: &dyn ObjectStore,
    path: &Path,
    data: Bytes,
    attributes: &Attributes,
    quirks: &StoreQuirks,
) -> Result<WriteOutcome> {
    loop {
        let emulate = quirks.no_conditional.load(Ordering::Relaxed);
        if emulate {
            match store.get(path).await {
                Ok(existing) => return compare_existing(path, existing, &data).await,
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(Error::from_store(e, path.as_ref())),
            }
        }
        let opts = PutOptions {
            mode: if emulate {
                PutMode::Overwrite
            } else {
                PutMode::Create
            },
            attributes: quirks.attrs(attributes),
            ..PutOptions::default()
        };
        match store.put_opts(path, data.clone().into(), opts).await {
            Ok(_) => return Ok(WriteOutcome::Written),
            Err(object_store::Error::AlreadyExists { .. }) => {
                let existing = store
                    .get(path)
                    .await
                    .map_err(|e| Error::from_store(e, path.as_ref()))?;
                return compare_existing(path, existing, &data).await;
            }
            Err(e) => match not_implemented(&e) {
                Some(Refusal::Attributes)
                    if !quirks.no_attributes.swap(true, Ordering::Relaxed) =>
                {
                    tracing::debug!(store = %store, "store refuses object attributes; storing without headers");
                }
                Some(Refusal::Conditional) if !emulate => {
                    quirks.no_conditional.store(true, Ordering::Relaxed);
                    tracing::debug!(store = %store, "store refuses conditional puts; emulating write-once");
                }
                _ => return Err(Error::from_store(e, path.as_ref())),
            },
        }
    }
}

/// Compares what is stored with `data`, reading at most `data.len()` bytes of it (anything
/// longer differs anyway).
async fn compare_existing(
    path: &Path,
    existing: object_store::GetResult,
    data: &[u8],
) -> Result<WriteOutcome> {
    let same = read_bounded(existing, data.len() as u64, path.as_ref())
        .await?
        .is_some_and(|stored| stored[..] == data[..]);
    if same {
        Ok(WriteOutcome::Identical)
    } else {
        Err(Error::ImmutableConflict {
            path: path.to_string(),
        })
    }
}

/// The immutable prefix of a version: `mfe/<name>/<version>`. Both parts are valid object
/// path segments by their types (an MFE name is `[a-z0-9-]`, a SemVer version
/// `[0-9A-Za-z.+-]` and never `.` or `..`), so this cannot fail.
pub fn version_prefix(mfe: &MfeName, version: &Version) -> Path {
    Path::from_iter(["mfe", mfe.as_str(), &version.to_string()])
}

/// The longest object key accepted, in bytes (S3's limit).
pub const MAX_KEY_BYTES: usize = 1024;

/// Checks, before anything is uploaded, that `files` hold every entry point in
/// `entry_points` ([`Error::MissingEntryPoint`] naming `artifact` otherwise) and that every
/// key `mfe/<name>/<version>/<path>` fits [`MAX_KEY_BYTES`] ([`Error::UnsafeEntry`]).
pub(crate) fn check_files(
    artifact: &str,
    prefix: &Path,
    files: &[UnpackedFile],
    entry_points: &[String],
) -> Result<()> {
    for entry in entry_points {
        let rel = check_entry(entry)?;
        if !files.iter().any(|f| f.path == rel) {
            return Err(Error::MissingEntryPoint {
                artifact: artifact.to_owned(),
                entry: rel,
            });
        }
    }
    let prefix_len = prefix.as_ref().len() + 1;
    if let Some(f) = files
        .iter()
        .find(|f| prefix_len + f.path.len() > MAX_KEY_BYTES)
    {
        return Err(Error::UnsafeEntry {
            entry: f.path.clone(),
            reason: format!(
                "its object key `{prefix}/...` would be {} bytes, over the {MAX_KEY_BYTES}-byte limit",
                prefix_len + f.path.len()
            ),
        });
    }
    Ok(())
}

/// Uploads `files` to `mfe/<name>/<version>/<path>` with write-once semantics, headers from
/// [`crate::headers`], and at most `opts.concurrency` puts in flight.
///
/// Before the first byte is uploaded, every entry point in `opts.entry_points` must be among
/// `files` ([`Error::MissingEntryPoint`], naming `<mfe>@<version>`) and every key must fit
/// [`MAX_KEY_BYTES`].
///
/// Re-running after a partial upload converges: files already there with identical content
/// are skipped. A file there with different content fails the upload with
/// [`Error::ImmutableConflict`].
pub async fn upload_version(
    store: &Arc<dyn ObjectStore>,
    mfe: &MfeName,
    version: &Version,
    files: &[UnpackedFile],
    opts: &UploadOptions,
) -> Result<UploadReport> {
    if opts.concurrency == 0 {
        return Err(Error::invalid("concurrency", "must be at least 1"));
    }
    let prefix = version_prefix(mfe, version);
    check_files(
        &format!("{mfe}@{version}"),
        &prefix,
        files,
        &opts.entry_points,
    )?;
    let started = Instant::now();
    let total_bytes: u64 = files.iter().map(|f| f.data.len() as u64).sum();
    let bar = progress_bar(opts.progress, total_bytes, &format!("{mfe}@{version}"));
    let quirks = StoreQuirks::default();
    let skipped = AtomicUsize::new(0);

    let uploads = files.iter().map(|file| {
        let path = Path::from(format!("{prefix}/{}", file.path));
        let cache = headers::cache_control(&file.path, &opts.entry_points);
        let attributes = headers::attributes(&file.path, cache);
        let (quirks, skipped, bar) = (&quirks, &skipped, &bar);
        async move {
            // A write-once put is safe to repeat: when an attempt that seemed to fail (a reset,
            // a timeout) did land, the retry finds the object and compares its content. The
            // store's own retries do not cover a failed send of a conditional put, nor a
            // timeout that used their whole budget, so a transient failure is retried here.
            let outcome = retry(
                RetryPolicy::OUTSIDE,
                || {
                    put_write_once_inner(
                        store.as_ref(),
                        &path,
                        file.data.clone(),
                        &attributes,
                        quirks,
                    )
                },
                |e: &Error| {
                    if e.is_retryable() {
                        Retry::Backoff
                    } else {
                        Retry::Never
                    }
                },
            )
            .await?;
            if outcome == WriteOutcome::Identical {
                skipped.fetch_add(1, Ordering::Relaxed);
            }
            bar.inc(file.data.len() as u64);
            Ok::<_, Error>(())
        }
    });
    let result: Result<Vec<()>> = stream::iter(uploads)
        .buffer_unordered(opts.concurrency)
        .try_collect()
        .await;
    match result {
        Ok(_) => bar.finish_and_clear(),
        Err(e) => {
            bar.abandon();
            return Err(e);
        }
    }
    let report = UploadReport {
        files: files.len(),
        bytes: total_bytes,
        skipped_identical: skipped.into_inner(),
        attributes_dropped: quirks.no_attributes.load(Ordering::Relaxed),
        duration: started.elapsed(),
    };
    tracing::info!(
        %mfe,
        %version,
        files = report.files,
        bytes = report.bytes,
        skipped_identical = report.skipped_identical,
        "uploaded version"
    );
    Ok(report)
}

/// Deploy steps 1 and 2: fetch `artifact`, verify its sidecar, unpack within `limits`,
/// check that the MFE's entry points (`opts.entry_points`) are in it, upload to
/// `mfe/<name>/<version>/` in `target`. Nothing is uploaded unless every step before the
/// upload succeeded for the whole archive. Hashing and unpacking (up to
/// [`Limits::max_total_bytes`] of gzip, tar or zip) run on tokio's blocking threads.
pub async fn stage_artifact(
    artifact: &ObjectLocation,
    target: &Arc<dyn ObjectStore>,
    mfe: &MfeName,
    version: &Version,
    limits: &Limits,
    opts: &UploadOptions,
) -> Result<UploadReport> {
    let verified = fetch_verified(artifact, limits.max_archive_bytes).await?;
    stage_verified(verified, target, mfe, version, limits, opts).await
}

/// [`stage_artifact`]'s steps after [`fetch_verified`]: for a caller that checks the verified
/// artifact (its provenance) before anything is unpacked or uploaded.
pub async fn stage_verified(
    verified: VerifiedArtifact,
    target: &Arc<dyn ObjectStore>,
    mfe: &MfeName,
    version: &Version,
    limits: &Limits,
    opts: &UploadOptions,
) -> Result<UploadReport> {
    let prefix = version_prefix(mfe, version);
    let (limits_, entry_points) = (*limits, opts.entry_points.clone());
    let files = blocking::run("unpacking the artifact", move || {
        let files = unpack(
            &verified.display,
            &verified.file_name,
            &verified.bytes,
            &limits_,
        )?;
        check_files(&verified.display, &prefix, &files, &entry_points)?;
        Ok(files)
    })
    .await?;
    upload_version(target, mfe, version, &files, opts).await
}

fn progress_bar(mode: Progress, total: u64, label: &str) -> ProgressBar {
    if mode == Progress::Hidden || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(label.to_owned());
    bar
}
