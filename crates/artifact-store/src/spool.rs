//! Bytes held in memory or spooled to a private temporary directory: what keeps a deploy's
//! memory flat however large the artifact. The archive is downloaded into a spool while it is
//! hashed, its files unpacked from there into another spool's one data file (each file a range
//! of it), and each file is read back (or streamed, when large) only while it is uploaded.
//!
//! A spool is a directory in the system's temporary directory (`TMPDIR`; on GitHub's runners
//! `$RUNNER_TEMP` is the documented place), readable by the owner only, removed when the last
//! [`Content`] that refers to it is dropped.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt as _;
use object_store::{GetResult, GetResultPayload, PutPayload};
use sha2::{Digest as _, Sha256};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};

use crate::error::{Error, Result};

/// The largest piece [`Content::payload`] reads into one buffer: 64 KiB, half of glibc's
/// initial mmap threshold.
pub const CHUNK_BYTES: usize = 64 << 10;

/// The content of an artifact or of one of its files.
#[derive(Debug, Clone)]
pub enum Content {
    /// Held in memory (small inputs, tests, [`crate::unpack`]).
    Memory(Bytes),
    /// A range of a spool file in a private temporary directory.
    Spooled(SpooledFile),
}

/// A range of a spool's data file; the spool (its directory and file) lives as long as any
/// range of it.
#[derive(Debug, Clone)]
pub struct SpooledFile {
    spool: Arc<Spool>,
    offset: u64,
    len: u64,
}

/// A private temporary directory holding one data file that contents are appended to: one
/// file for a whole archive's entries, so unpacking thousands of small files costs no file
/// creation each.
#[derive(Debug)]
struct Spool {
    /// Removed (with the data file) when the spool is dropped.
    dir: TempDir,
    /// The data file's path.
    path: PathBuf,
    /// The data file, open for reading at offsets.
    file: std::fs::File,
}

impl From<Bytes> for Content {
    fn from(bytes: Bytes) -> Self {
        Content::Memory(bytes)
    }
}

impl From<&'static [u8]> for Content {
    fn from(bytes: &'static [u8]) -> Self {
        Content::Memory(Bytes::from_static(bytes))
    }
}

impl From<Vec<u8>> for Content {
    fn from(bytes: Vec<u8>) -> Self {
        Content::Memory(Bytes::from(bytes))
    }
}

/// Equal when both are in memory with the same bytes, or both are the same range of the same
/// spool (this never reads a spool).
impl PartialEq for Content {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Content::Memory(a), Content::Memory(b)) => a == b,
            (Content::Spooled(a), Content::Spooled(b)) => {
                Arc::ptr_eq(&a.spool, &b.spool) && a.offset == b.offset && a.len == b.len
            }
            _ => false,
        }
    }
}

impl Eq for Content {}

impl PartialEq<Bytes> for Content {
    fn eq(&self, other: &Bytes) -> bool {
        matches!(self, Content::Memory(b) if b == other)
    }
}

impl Content {
    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Content::Memory(b) => b.len() as u64,
            Content::Spooled(f) => f.len,
        }
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole content in memory (read from its spool when spooled): for contents the
    /// caller knows to be small. The buffer is allocated by the calling thread and only filled
    /// on tokio's blocking threads, so the memory stays with the async threads' allocator
    /// arenas instead of one per blocking thread.
    ///
    /// # Errors
    /// [`Error::Io`] when the spool cannot be read.
    pub async fn bytes(&self) -> Result<Bytes> {
        match self {
            Content::Memory(b) => Ok(b.clone()),
            Content::Spooled(f) => {
                let len = usize::try_from(f.len).map_err(|_| {
                    Error::invalid("content", format!("{} bytes do not fit in memory", f.len))
                })?;
                let mut buf = vec![0u8; len];
                let (spool, offset) = (Arc::clone(&f.spool), f.offset);
                let buf = crate::blocking::run("reading the spool", move || {
                    std::os::unix::fs::FileExt::read_exact_at(&spool.file, &mut buf, offset)
                        .map_err(|e| io_error(&spool.path, e))?;
                    Ok(buf)
                })
                .await?;
                Ok(Bytes::from(buf))
            }
        }
    }

    /// The whole content as an upload's body, in pieces of at most [`CHUNK_BYTES`] (read from
    /// its spool when spooled, on tokio's blocking threads, into buffers allocated by the
    /// calling thread). Small pieces keep every buffer below glibc's mmap threshold: a larger
    /// buffer is mapped, and freeing it raises the threshold to its size, after which the
    /// allocator keeps freed file buffers instead of returning them (what grew a 1 GB deploy's
    /// peak memory).
    ///
    /// # Errors
    /// [`Error::Io`] when the spool cannot be read.
    pub async fn payload(&self) -> Result<PutPayload> {
        match self {
            Content::Memory(b) => Ok(PutPayload::from_bytes(b.clone())),
            Content::Spooled(f) => {
                let len = usize::try_from(f.len).map_err(|_| {
                    Error::invalid("content", format!("{} bytes do not fit in memory", f.len))
                })?;
                let mut pieces: Vec<Vec<u8>> = (0..len.div_ceil(CHUNK_BYTES))
                    .map(|i| vec![0u8; (len - i * CHUNK_BYTES).min(CHUNK_BYTES)])
                    .collect();
                let (spool, offset) = (Arc::clone(&f.spool), f.offset);
                let pieces = crate::blocking::run("reading the spool", move || {
                    let mut at = offset;
                    for piece in &mut pieces {
                        std::os::unix::fs::FileExt::read_exact_at(&spool.file, piece, at)
                            .map_err(|e| io_error(&spool.path, e))?;
                        at += piece.len() as u64;
                    }
                    Ok(pieces)
                })
                .await?;
                Ok(pieces.into_iter().map(Bytes::from).collect())
            }
        }
    }

    /// A reader over the content, from its start.
    ///
    /// # Errors
    /// [`Error::Io`] when the spool cannot be opened.
    pub async fn reader(&self) -> Result<Box<dyn tokio::io::AsyncRead + Send + Unpin>> {
        match self {
            Content::Memory(b) => Ok(Box::new(std::io::Cursor::new(b.clone()))),
            Content::Spooled(f) => {
                let path = &f.spool.path;
                let mut file = tokio::fs::File::open(path)
                    .await
                    .map_err(|e| io_error(path, e))?;
                file.seek(std::io::SeekFrom::Start(f.offset))
                    .await
                    .map_err(|e| io_error(path, e))?;
                let window = tokio::io::AsyncReadExt::take(file, f.len);
                Ok(Box::new(tokio::io::BufReader::with_capacity(
                    1 << 16,
                    window,
                )))
            }
        }
    }
}

impl SpooledFile {
    /// The spool's directory (private to the owner; removed with the last range of it).
    pub fn spool_dir(&self) -> &std::path::Path {
        self.spool.dir.path()
    }

    /// The data file's path, when this range is the whole file from its start (an archive
    /// spooled by [`crate::fetch_verified`]): what the unpacker opens.
    pub(crate) fn whole_file(&self) -> Option<&std::path::Path> {
        (self.offset == 0).then_some(self.spool.path.as_path())
    }
}

/// Creates a spool in the system's temporary directory: a private directory with an empty
/// data file named `name`; returns it and a handle to write the data file from its start.
pub(crate) fn new_spool(name: &str) -> Result<(SpoolHandle, std::fs::File)> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("gitops-artifact-");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
    let dir = builder
        .tempdir()
        .map_err(|e| io_error(&std::env::temp_dir(), e))?;
    let path = dir.path().join(name);
    #[allow(clippy::disallowed_methods)] // one file creation; async callers accept the cost
    let writer = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| io_error(&path, e))?;
    let file = writer.try_clone().map_err(|e| io_error(&path, e))?;
    Ok((
        SpoolHandle {
            spool: Arc::new(Spool { dir, path, file }),
        },
        writer,
    ))
}

/// A spool being written: hands out [`Content`] ranges of its data file.
#[derive(Debug, Clone)]
pub(crate) struct SpoolHandle {
    spool: Arc<Spool>,
}

impl SpoolHandle {
    /// The range `offset..offset + len` of the data file (written and flushed by the caller).
    pub(crate) fn content(&self, offset: u64, len: u64) -> Content {
        Content::Spooled(SpooledFile {
            spool: Arc::clone(&self.spool),
            offset,
            len,
        })
    }

    /// The data file's path (for messages).
    pub(crate) fn path(&self) -> &std::path::Path {
        &self.spool.path
    }
}

pub(crate) fn io_error(path: &std::path::Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Streams the body of `result` into a new spool file while hashing it; `Ok(None)` when it is
/// larger than `max` bytes (by its declared size or by what arrives). Returns the content and
/// its lower-case hex sha256. `location` names the object in errors.
pub(crate) async fn spool_download(
    result: GetResult,
    max: u64,
    location: &str,
) -> Result<Option<(Content, String)>> {
    if result.meta.size > max {
        return Ok(None);
    }
    let (spool, file) = new_spool("archive")?;
    let path = spool.path().to_owned();
    let result = match result.payload {
        // A local file (the local backend): copied and hashed in one blocking task, instead of
        // the stream's one hop to the blocking threads per 8 KiB.
        GetResultPayload::File(source, source_path) => {
            let range = result.range;
            let copied = crate::blocking::run("copying the artifact", move || {
                copy_hashing(source, &source_path, range, file, &path, max)
            })
            .await?;
            return Ok(copied.map(|(len, digest)| (spool.content(0, len), digest)));
        }
        payload @ GetResultPayload::Stream(_) => GetResult { payload, ..result },
    };
    let mut out = tokio::io::BufWriter::with_capacity(1 << 16, tokio::fs::File::from_std(file));
    let mut hasher = Sha256::new();
    let mut len: u64 = 0;
    let mut stream = result.into_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Error::from_store(e, location))?;
        len += chunk.len() as u64;
        if len > max {
            return Ok(None);
        }
        if chunk.len() > 1 << 18 {
            // A large chunk (a store that answers in one piece) is hashed off the async
            // threads.
            let piece = chunk.clone();
            hasher = crate::blocking::run("hashing the artifact", move || {
                hasher.update(&piece);
                Ok(hasher)
            })
            .await?;
        } else {
            hasher.update(&chunk);
        }
        out.write_all(&chunk)
            .await
            .map_err(|e| io_error(&path, e))?;
    }
    out.flush().await.map_err(|e| io_error(&path, e))?;
    Ok(Some((
        spool.content(0, len),
        hex::encode(hasher.finalize()),
    )))
}

/// Copies `range` of the local file `source` into the spool file `to` (at `path`) while
/// hashing it; `Ok(None)` when more than `max` bytes arrive. Blocking.
fn copy_hashing(
    mut source: std::fs::File,
    source_path: &std::path::Path,
    range: std::ops::Range<u64>,
    to: std::fs::File,
    path: &std::path::Path,
    max: u64,
) -> Result<Option<(u64, String)>> {
    use std::io::{Read as _, Seek as _, Write as _};
    source
        .seek(std::io::SeekFrom::Start(range.start))
        .map_err(|e| io_error(source_path, e))?;
    let mut source = source.take((range.end - range.start).min(max.saturating_add(1)));
    let mut out = std::io::BufWriter::with_capacity(CHUNK_BYTES, to);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK_BYTES];
    let mut len: u64 = 0;
    loop {
        let n = match source.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_error(source_path, e)),
        };
        len += n as u64;
        if len > max {
            return Ok(None);
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| io_error(path, e))?;
    }
    out.flush().map_err(|e| io_error(path, e))?;
    Ok(Some((len, hex::encode(hasher.finalize()))))
}

/// Whether `content` holds exactly the bytes `stored` streams, reading at most
/// `content.len()` (plus one chunk) of it.
pub(crate) async fn same_as_stored(
    content: &Content,
    stored: GetResult,
    location: &str,
) -> Result<bool> {
    if stored.meta.size != content.len() {
        return Ok(false);
    }
    let mut mine = content.reader().await?;
    let mut stream = stored.into_stream();
    let mut buf = vec![0u8; 1 << 16];
    let mut seen: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Error::from_store(e, location))?;
        seen += chunk.len() as u64;
        if seen > content.len() {
            return Ok(false);
        }
        let mut at = 0;
        while at < chunk.len() {
            let want = (chunk.len() - at).min(buf.len());
            mine.read_exact(&mut buf[..want])
                .await
                .map_err(|e| io_error(std::path::Path::new(location), e))?;
            if buf[..want] != chunk[at..at + want] {
                return Ok(false);
            }
            at += want;
        }
    }
    Ok(seen == content.len())
}
