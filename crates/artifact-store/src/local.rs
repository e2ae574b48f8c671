//! [`LocalStore`]: the embedded storage backend, a directory served as-is, with atomic
//! conditional puts across processes and no temporary file ever inside the served tree.
//!
//! object_store's `LocalFileSystem` has no `PutMode::Update` and stages every write as
//! `<file>#<n>` next to its destination, so a killed upload leaves a partial file inside the
//! served directory and concurrent import-map updates lose each other's entries.
//! `LocalStore` keeps `LocalFileSystem` for reads (streaming, same e-tags) and does every
//! write itself:
//!
//! 1. the content goes to a temporary file in the staging directory `<root>.staging/`,
//!    beside the served root (outside it, on the same file system, which is checked);
//! 2. under an exclusive OS lock on `<root>.staging/lock` (`flock`, so it holds between
//!    processes and between independent instances in one process) the destination's
//!    current e-tag is compared with the expected one (`PutMode::Update`) or its absence
//!    checked (`PutMode::Create`);
//! 3. the temporary file is renamed into place (overwrite, update) or hard-linked
//!    (create, which fails if the destination exists).
//!
//! A replaced file's modification time is moved forward past the old one's, so e-tags
//! (inode, mtime in microseconds, size, as `LocalFileSystem` computes them) never repeat for
//! a path even on file systems with coarse clocks. Temporary files left by a killed process
//! stay in the staging directory and are removed when a store is opened a day later.
//!
//! Object attributes (Content-Type, Cache-Control) are refused with `NotImplemented`, as
//! `LocalFileSystem` does: whatever serves the directory sets headers.

// Blocking by design: LocalStore runs its file work on the blocking pool (crate::blocking); these are its synchronous insides.
#![allow(clippy::disallowed_methods)]

use std::fmt;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Seek as _, SeekFrom, Write as _};
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::{FutureExt as _, StreamExt as _};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyMode, CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};
use tempfile::NamedTempFile;

use crate::error::{Error, Result};

const STORE: &str = "LocalStore";

/// Temporary files older than this are removed from the staging directory on open.
const STALE_AFTER: Duration = Duration::from_hours(24);

/// The embedded storage backend: a local directory with atomic, cross-process conditional
/// puts and staging outside the served tree (see the module docs).
#[derive(Debug, Clone)]
pub struct LocalStore {
    inner: LocalFileSystem,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    root: PathBuf,
    staging: PathBuf,
    lock: PathBuf,
}

impl LocalStore {
    /// Opens (creating when missing) the served directory `root` and its staging directory
    /// `<root>.staging` beside it.
    ///
    /// Refuses a root without a parent directory (`/`) and a staging directory on another
    /// file system than the root (renames must be atomic).
    #[allow(clippy::disallowed_methods)] // blocking by design: callers open stores on the blocking pool
    pub fn open(root: impl AsRef<FsPath>) -> Result<Self> {
        let given = root.as_ref();
        let io = |path: &FsPath, source: io::Error| Error::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(given).map_err(|e| io(given, e))?;
        let root = std::fs::canonicalize(given).map_err(|e| io(given, e))?;
        let (Some(parent), Some(name)) = (root.parent(), root.file_name()) else {
            return Err(Error::invalid(
                "storage",
                format!(
                    "`{}` has no parent directory to hold its staging directory",
                    root.display()
                ),
            ));
        };
        let mut staging_name = name.to_os_string();
        staging_name.push(".staging");
        let staging = parent.join(staging_name);
        std::fs::create_dir_all(&staging).map_err(|e| io(&staging, e))?;
        same_file_system(&root, &staging)?;
        let lock = staging.join("lock");
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
            .map_err(|e| io(&lock, e))?;
        remove_stale_temporaries(&staging);
        let inner = LocalFileSystem::new_with_prefix(&root)?;
        Ok(LocalStore {
            inner,
            shared: Arc::new(Shared {
                root,
                staging,
                lock,
            }),
        })
    }

    /// The served directory (canonical).
    pub fn root(&self) -> &FsPath {
        &self.shared.root
    }

    /// The staging directory beside it, which holds temporary files and the lock.
    pub fn staging_dir(&self) -> &FsPath {
        &self.shared.staging
    }

    fn dest(&self, location: &Path) -> object_store::Result<PathBuf> {
        self.inner.path_to_filesystem(location)
    }
}

impl fmt::Display for LocalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LocalStore({})", self.shared.root.display())
    }
}

#[cfg(unix)]
fn same_file_system(a: &FsPath, b: &FsPath) -> Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    let dev = |p: &FsPath| {
        std::fs::metadata(p)
            .map(|m| m.dev())
            .map_err(|source| Error::Io {
                path: p.display().to_string(),
                source,
            })
    };
    if dev(a)? == dev(b)? {
        Ok(())
    } else {
        Err(Error::invalid(
            "storage",
            format!(
                "the staging directory `{}` is on another file system than `{}` (is the storage directory a mount point?); renames into place would not be atomic",
                b.display(),
                a.display()
            ),
        ))
    }
}

#[cfg(not(unix))]
fn same_file_system(_: &FsPath, _: &FsPath) -> Result<()> {
    Ok(())
}

/// Best effort, by design: temporaries of processes killed long ago only take space (they are
/// outside the served tree); a staging directory that cannot be listed, or a temporary that
/// cannot be read or removed, is left for the next open rather than failing this one.
fn remove_stale_temporaries(staging: &FsPath) {
    let Ok(entries) = std::fs::read_dir(staging) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let is_temp = name.to_str().is_some_and(|n| n.starts_with(".tmp-"));
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > STALE_AFTER);
        if is_temp && old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The e-tag `LocalFileSystem` reports for a file: `"<inode>-<mtime µs>-<size>"` in hex.
/// `path` names the file in errors.
fn e_tag(m: &Metadata, path: &FsPath) -> object_store::Result<String> {
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(m);
    #[cfg(not(unix))]
    let inode = 0u64;
    let mtime = mtime_micros(m, path)?;
    Ok(format!("\"{inode:x}-{mtime:x}-{:x}\"", m.len()))
}

/// The modification time in microseconds since the epoch, as `LocalFileSystem` uses it in
/// e-tags. A file system without modification times, or a time before 1970, is an error: a
/// made-up time would let two versions of a file share an e-tag, and a compare-and-swap pass
/// that must fail.
fn mtime_micros(m: &Metadata, path: &FsPath) -> object_store::Result<u128> {
    let modified = m
        .modified()
        .map_err(|e| generic("reading the mtime of", path, &e))?;
    let since = modified
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| {
            generic(
                "reading the mtime of",
                path,
                &io::Error::other("it is before 1970"),
            )
        })?;
    Ok(since.as_micros())
}

fn generic(op: &str, path: &FsPath, e: &io::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: STORE,
        source: format!("{op} `{}`: {e}", path.display()).into(),
    }
}

fn new_temp(staging: &FsPath) -> object_store::Result<NamedTempFile> {
    tempfile::Builder::new()
        .prefix(".tmp-")
        .suffix(".part")
        .tempfile_in(staging)
        .map_err(|e| generic("creating a temporary file in", staging, &e))
}

/// Holds the store's exclusive lock until dropped.
struct LockGuard(File);

impl Drop for LockGuard {
    fn drop(&mut self) {
        // Closing the file (dropping it right after) releases the lock too, so a failed
        // unlock loses nothing; a `Drop` has no caller to tell.
        let _ = self.0.unlock();
    }
}

fn lock(shared: &Shared) -> object_store::Result<LockGuard> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&shared.lock)
        .map_err(|e| generic("opening the lock", &shared.lock, &e))?;
    file.lock()
        .map_err(|e| generic("locking", &shared.lock, &e))?;
    Ok(LockGuard(file))
}

/// What a commit must find at the destination.
#[derive(Clone)]
enum Expect {
    Anything,
    Absent,
    ETag(Option<String>),
}

impl From<&PutMode> for Expect {
    fn from(mode: &PutMode) -> Self {
        match mode {
            PutMode::Overwrite => Expect::Anything,
            PutMode::Create => Expect::Absent,
            PutMode::Update(v) => Expect::ETag(v.e_tag.clone()),
        }
    }
}

/// Moves the finished temporary file `tmp` to `dest` under the lock, if the destination is as
/// `expect` says. Returns the new e-tag.
fn commit(
    shared: &Shared,
    tmp: NamedTempFile,
    dest: &FsPath,
    location: &Path,
    expect: &Expect,
) -> object_store::Result<PutResult> {
    let parent = dest.parent().ok_or_else(|| {
        generic(
            "finding the directory of",
            dest,
            &io::ErrorKind::NotFound.into(),
        )
    })?;
    std::fs::create_dir_all(parent).map_err(|e| generic("creating directory", parent, &e))?;

    let _guard = lock(shared)?;
    let current = match std::fs::metadata(dest) {
        Ok(m) if m.is_dir() => {
            return Err(generic(
                "writing",
                dest,
                &io::Error::other("a directory is in the way"),
            ));
        }
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(generic("reading metadata of", dest, &e)),
    };
    match (expect, &current) {
        (Expect::Anything, _) | (Expect::Absent, None) => {}
        (Expect::Absent, Some(_)) => {
            return Err(object_store::Error::AlreadyExists {
                path: location.to_string(),
                source: "the object already exists".into(),
            });
        }
        (Expect::ETag(_), None) => {
            return Err(object_store::Error::Precondition {
                path: location.to_string(),
                source: "the object does not exist".into(),
            });
        }
        (Expect::ETag(None), Some(_)) => {
            return Err(object_store::Error::Precondition {
                path: location.to_string(),
                source: "a conditional update needs an e-tag".into(),
            });
        }
        (Expect::ETag(Some(expected)), Some(m)) => {
            let actual = e_tag(m, dest)?;
            if &actual != expected {
                return Err(object_store::Error::Precondition {
                    path: location.to_string(),
                    source: format!("{actual} does not match {expected}").into(),
                });
            }
        }
    }
    // Successive versions of a path get strictly increasing modification times, so their
    // e-tags differ even when inode numbers are reused within one clock tick.
    if let Some(old) = &current {
        let new = tmp
            .as_file()
            .metadata()
            .map_err(|e| generic("reading metadata of", tmp.path(), &e))?;
        if mtime_micros(&new, tmp.path())? <= mtime_micros(old, dest)? {
            let bumped = old
                .modified()
                .map_err(|e| generic("reading the mtime of", dest, &e))?
                + Duration::from_micros(1);
            tmp.as_file()
                .set_modified(bumped)
                .map_err(|e| generic("setting the mtime of", tmp.path(), &e))?;
        }
    }
    let meta = tmp
        .as_file()
        .metadata()
        .map_err(|e| generic("reading metadata of", tmp.path(), &e))?;
    let tag = e_tag(&meta, tmp.path())?;
    match expect {
        Expect::Absent => match std::fs::hard_link(tmp.path(), dest) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(object_store::Error::AlreadyExists {
                    path: location.to_string(),
                    source: Box::new(e),
                });
            }
            Err(e) => return Err(generic("linking into place", dest, &e)),
        },
        Expect::Anything | Expect::ETag(_) => {
            tmp.persist(dest)
                .map_err(|e| generic("renaming into place", dest, &e.error))?;
        }
    }
    Ok(PutResult {
        e_tag: Some(tag),
        version: None,
        extensions: object_store::Extensions::default(),
    })
}

/// Runs blocking file work off the async threads (inline when there is no tokio runtime).
async fn blocking<T, F>(f: F) -> object_store::Result<T>
where
    F: FnOnce() -> object_store::Result<T> + Send + 'static,
    T: Send + 'static,
{
    crate::blocking::off_runtime(f, |e| object_store::Error::Generic {
        store: STORE,
        source: Box::new(e),
    })
    .await
}

fn refuse_attributes(attributes: &object_store::Attributes, op: &str) -> object_store::Result<()> {
    if attributes.is_empty() {
        Ok(())
    } else {
        Err(object_store::Error::NotImplemented {
            operation: format!("`{op}` with `opts.attributes` specified"),
            implementer: STORE.to_owned(),
        })
    }
}

#[async_trait]
impl ObjectStore for LocalStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        refuse_attributes(&opts.attributes, "put_opts")?;
        let dest = self.dest(location)?;
        let shared = Arc::clone(&self.shared);
        let location = location.clone();
        let expect = Expect::from(&opts.mode);
        blocking(move || {
            let mut tmp = new_temp(&shared.staging)?;
            for chunk in &payload {
                tmp.write_all(chunk)
                    .map_err(|e| generic("writing", tmp.path(), &e))?;
            }
            commit(&shared, tmp, &dest, &location, &expect)
        })
        .await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        refuse_attributes(&opts.attributes, "put_multipart_opts")?;
        let dest = self.dest(location)?;
        let shared = Arc::clone(&self.shared);
        let staging = shared.staging.clone();
        let tmp = blocking(move || new_temp(&staging)).await?;
        Ok(Box::new(LocalStoreUpload {
            shared,
            dest,
            location: location.clone(),
            tmp: Some(Arc::new(Mutex::new(tmp))),
            offset: 0,
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> object_store::Result<Vec<bytes::Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let this = self.clone();
        locations
            .map(move |location| {
                let this = this.clone();
                async move {
                    let location = location?;
                    let dest = this.dest(&location)?;
                    let shared = Arc::clone(&this.shared);
                    let shown = location.clone();
                    blocking(move || {
                        let _guard = lock(&shared)?;
                        match std::fs::remove_file(&dest) {
                            Ok(()) => Ok(()),
                            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                                Err(object_store::Error::NotFound {
                                    path: shown.to_string(),
                                    source: Box::new(e),
                                })
                            }
                            Err(e) => Err(generic("deleting", &dest, &e)),
                        }
                    })
                    .await?;
                    Ok(location)
                }
            })
            .buffered(10)
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        let source = self.dest(from)?;
        let dest = self.dest(to)?;
        let shared = Arc::clone(&self.shared);
        let (from, to) = (from.clone(), to.clone());
        let expect = match options.mode {
            CopyMode::Overwrite => Expect::Anything,
            CopyMode::Create => Expect::Absent,
        };
        blocking(move || {
            let mut input = match File::open(&source) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(object_store::Error::NotFound {
                        path: from.to_string(),
                        source: Box::new(e),
                    });
                }
                Err(e) => return Err(generic("opening", &source, &e)),
            };
            let mut tmp = new_temp(&shared.staging)?;
            io::copy(&mut input, tmp.as_file_mut()).map_err(|e| generic("copying", &source, &e))?;
            commit(&shared, tmp, &dest, &to, &expect).map(|_| ())
        })
        .await
    }
}

/// A multipart upload written to a temporary file in the staging directory and moved into
/// place by `complete` (overwriting, as `LocalFileSystem` does). Dropped or aborted, the
/// temporary file is removed.
#[derive(Debug)]
struct LocalStoreUpload {
    shared: Arc<Shared>,
    dest: PathBuf,
    location: Path,
    tmp: Option<Arc<Mutex<NamedTempFile>>>,
    offset: u64,
}

fn poisoned() -> object_store::Error {
    object_store::Error::Generic {
        store: STORE,
        source: "a part upload panicked".into(),
    }
}

#[async_trait]
impl MultipartUpload for LocalStoreUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let offset = self.offset;
        self.offset += data.content_length() as u64;
        let Some(tmp) = self.tmp.clone() else {
            return futures::future::ready(Err(object_store::Error::Generic {
                store: STORE,
                source: "the upload was already completed or aborted".into(),
            }))
            .boxed();
        };
        blocking(move || {
            let mut file = tmp.lock().map_err(|_| poisoned())?;
            let path = file.path().to_owned();
            file.seek(SeekFrom::Start(offset))
                .map_err(|e| generic("seeking in", &path, &e))?;
            for chunk in &data {
                file.write_all(chunk)
                    .map_err(|e| generic("writing", &path, &e))?;
            }
            Ok(())
        })
        .boxed()
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let tmp = self
            .tmp
            .take()
            .ok_or_else(|| object_store::Error::Generic {
                store: STORE,
                source: "the upload was already completed or aborted".into(),
            })?;
        let tmp = Arc::try_unwrap(tmp)
            .map_err(|_| object_store::Error::Generic {
                store: STORE,
                source: "complete called while parts are still being written".into(),
            })?
            .into_inner()
            .map_err(|_| poisoned())?;
        let shared = Arc::clone(&self.shared);
        let dest = self.dest.clone();
        let location = self.location.clone();
        blocking(move || commit(&shared, tmp, &dest, &location, &Expect::Anything)).await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        // Dropping the temporary file removes it.
        self.tmp = None;
        Ok(())
    }
}
