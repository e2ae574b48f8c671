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
use object_store::{
    Attributes, ObjectStore, ObjectStoreExt as _, PutMode, PutMultipartOptions, PutOptions,
    PutPayload, WriteMultipart,
};
use tokio::io::AsyncReadExt as _;
use tokio::sync::Semaphore;

use gitops_retry::{Retry, RetryPolicy, retry};

use crate::bounded::read_bounded;
use crate::error::{Error, Result};
use crate::headers;
use crate::location::ObjectLocation;
use crate::pointers::check_entry;
use crate::spool::{Content, io_error, same_as_stored};
use crate::unpack::{Limits, UnpackedFile};
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
    /// Maximum uploads in flight. Default 32; must be at least 1.
    pub concurrency: usize,
    /// Maximum bytes of file content held in memory by uploads in flight. Default 8 MiB; at
    /// least [`PART_BYTES`] (what one large file's upload holds) is used. A file larger than
    /// [`LARGE_FILE_BYTES`] is streamed from its spool in parts of [`PART_BYTES`], one at a
    /// time, so the whole upload's memory is bounded by this, not by the artifact's size.
    pub max_bytes_in_flight: u64,
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
            concurrency: 32,
            max_bytes_in_flight: 8 << 20,
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
    put_write_once_inner(
        store,
        path,
        PutPayload::from_bytes(data),
        attributes,
        &StoreQuirks::default(),
    )
    .await
}

pub(crate) async fn put_write_once_inner(
    store: &dyn ObjectStore,
    path: &Path,
    data: PutPayload,
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
        match store.put_opts(path, data.clone(), opts).await {
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

/// Compares what is stored with `data`, reading at most `data.content_length()` bytes of it
/// (anything longer differs anyway).
async fn compare_existing(
    path: &Path,
    existing: object_store::GetResult,
    data: &PutPayload,
) -> Result<WriteOutcome> {
    let same = read_bounded(existing, data.content_length() as u64, path.as_ref())
        .await?
        .is_some_and(|stored| same_bytes(&stored, data));
    if same {
        Ok(WriteOutcome::Identical)
    } else {
        Err(Error::ImmutableConflict {
            path: path.to_string(),
        })
    }
}

/// Whether `stored` holds exactly the bytes of `data`'s pieces.
fn same_bytes(stored: &[u8], data: &PutPayload) -> bool {
    if stored.len() != data.content_length() {
        return false;
    }
    let mut at = 0;
    data.iter().all(|piece| {
        let same = stored.get(at..at + piece.len()) == Some(&piece[..]);
        at += piece.len();
        same
    })
}

/// Files larger than this are uploaded in parts ([`PART_BYTES`]) streamed from disk: 8 MiB.
pub const LARGE_FILE_BYTES: u64 = 8 << 20;

/// The part size of a large file's upload: 5 MiB (S3's smallest part).
pub const PART_BYTES: u64 = 5 << 20;

/// Puts a large `content` at `path` streamed in parts, write-once by a read first: an object
/// already there is compared byte for byte ([`WriteOutcome::Identical`] or
/// [`Error::ImmutableConflict`]). The read-then-write is not atomic (a multipart upload has no
/// conditional form here), which is acceptable for the same reason as the emulation in
/// [`put_write_once`]: one version of one MFE is deployed by one job at a time.
async fn put_large_write_once(
    store: &dyn ObjectStore,
    path: &Path,
    content: &Content,
    attributes: &Attributes,
    quirks: &StoreQuirks,
) -> Result<WriteOutcome> {
    match store.get(path).await {
        Ok(existing) => {
            return if same_as_stored(content, existing, path.as_ref()).await? {
                Ok(WriteOutcome::Identical)
            } else {
                Err(Error::ImmutableConflict {
                    path: path.to_string(),
                })
            };
        }
        Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(Error::from_store(e, path.as_ref())),
    }
    let upload = loop {
        let opts = PutMultipartOptions {
            attributes: quirks.attrs(attributes),
            ..PutMultipartOptions::default()
        };
        match store.put_multipart_opts(path, opts).await {
            Ok(upload) => break upload,
            Err(e) => match not_implemented(&e) {
                Some(Refusal::Attributes)
                    if !quirks.no_attributes.swap(true, Ordering::Relaxed) => {}
                _ => return Err(Error::from_store(e, path.as_ref())),
            },
        }
    };
    #[allow(clippy::cast_possible_truncation)] // 5 MiB
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES as usize);
    let written: Result<()> = async {
        let mut reader = content.reader().await?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = reader
                .read(&mut buf)
                .await
                .map_err(|e| io_error(std::path::Path::new(path.as_ref()), e))?;
            if n == 0 {
                return Ok(());
            }
            writer
                .wait_for_capacity(0)
                .await
                .map_err(|e| Error::from_store(e, path.as_ref()))?;
            writer.write(&buf[..n]);
        }
    }
    .await;
    match written {
        Ok(()) => {
            writer
                .finish()
                .await
                .map_err(|e| Error::from_store(e, path.as_ref()))?;
            Ok(WriteOutcome::Written)
        }
        Err(e) => {
            let _ = writer.abort().await;
            Err(e)
        }
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
    let total_bytes: u64 = files.iter().map(|f| f.data.len()).sum();
    // Memory held by uploads in flight, in KiB (a semaphore counts in u32).
    let budget_kib = (opts.max_bytes_in_flight.max(PART_BYTES) >> 10).min(u64::from(u32::MAX));
    let in_flight = Semaphore::new(usize::try_from(budget_kib).unwrap_or(usize::MAX));
    let bar = progress_bar(opts.progress, total_bytes, &format!("{mfe}@{version}"));
    let quirks = StoreQuirks::default();
    let skipped = AtomicUsize::new(0);

    // Largest first: the last requests in flight are then small ones, so the upload does not
    // end waiting on one large file sent late (longest-first order shortens the whole).
    let mut order: Vec<&UnpackedFile> = files.iter().collect();
    order.sort_by_key(|f| std::cmp::Reverse(f.data.len()));
    let uploads = order.into_iter().map(|file| {
        let path = Path::from(format!("{prefix}/{}", file.path));
        let cache = headers::cache_control(&file.path, &opts.entry_points);
        let attributes = headers::attributes(&file.path, cache);
        let (quirks, skipped, bar, in_flight) = (&quirks, &skipped, &bar, &in_flight);
        async move {
            let large = file.data.len() > LARGE_FILE_BYTES;
            let cost = if large { PART_BYTES } else { file.data.len() };
            #[allow(clippy::cast_possible_truncation)] // at most budget_kib, a u32
            let kib = (cost.div_ceil(1024).clamp(1, budget_kib)) as u32;
            let _held = in_flight
                .acquire_many(kib)
                .await
                .map_err(|e| Error::invalid("upload", e.to_string()))?;
            let data = if large {
                None
            } else {
                Some(file.data.payload().await?)
            };
            // A write-once put is safe to repeat: when an attempt that seemed to fail (a reset,
            // a timeout) did land, the retry finds the object and compares its content. The
            // store's own retries do not cover a failed send of a conditional put, nor a
            // timeout that used their whole budget, so a transient failure is retried here.
            let outcome = retry(
                RetryPolicy::OUTSIDE,
                || async {
                    match &data {
                        Some(data) => {
                            put_write_once_inner(
                                store.as_ref(),
                                &path,
                                data.clone(),
                                &attributes,
                                quirks,
                            )
                            .await
                        }
                        None => {
                            put_large_write_once(
                                store.as_ref(),
                                &path,
                                &file.data,
                                &attributes,
                                quirks,
                            )
                            .await
                        }
                    }
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
            bar.inc(file.data.len());
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
/// upload succeeded for the whole archive. The archive and its files (up to
/// [`Limits::max_total_bytes`] of gzip, tar or zip) are spooled to a private temporary
/// directory, unpacked on tokio's blocking threads; memory does not grow with their size.
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
    let files = crate::unpack_verified(verified, mfe, version, limits, &opts.entry_points).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_in_pieces_is_compared_byte_for_byte() {
        let pieces: PutPayload = [&b"abc"[..], b"", b"defg"]
            .into_iter()
            .map(Bytes::from_static)
            .collect();
        assert!(same_bytes(b"abcdefg", &pieces));
        assert!(!same_bytes(b"abcdefx", &pieces));
        assert!(!same_bytes(b"abcdef", &pieces));
        assert!(!same_bytes(b"abcdefgh", &pieces));
        assert!(same_bytes(b"", &PutPayload::default()));
    }
}
