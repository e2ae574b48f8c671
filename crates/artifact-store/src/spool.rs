//! Bytes held in memory or spooled to a private temporary directory: what keeps a deploy's
//! memory flat however large the artifact. The archive is downloaded into a spool file while it
//! is hashed, unpacked from there into spooled files, and each file is read back (or streamed,
//! when large) only while it is being uploaded.
//!
//! The temporary directory is created in the system's temporary directory (`TMPDIR`; on
//! GitHub's runners point it at `$RUNNER_TEMP`), readable by the owner only, and removed when
//! the last [`Content`] that refers to it is dropped.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt as _;
use object_store::GetResult;
use sha2::{Digest as _, Sha256};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::error::{Error, Result};

/// The content of an artifact or of one of its files.
#[derive(Debug, Clone)]
pub enum Content {
    /// Held in memory (small inputs, tests, [`crate::unpack`]).
    Memory(Bytes),
    /// Spooled to a file in a private temporary directory.
    Spooled(SpooledFile),
}

/// A file in a spool directory; the directory lives as long as any file in it.
#[derive(Debug, Clone)]
pub struct SpooledFile {
    dir: Arc<TempDir>,
    name: String,
    len: u64,
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

/// Equal when both are in memory with the same bytes, or both are the same spool file (this
/// never reads a spool file).
impl PartialEq for Content {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Content::Memory(a), Content::Memory(b)) => a == b,
            (Content::Spooled(a), Content::Spooled(b)) => {
                Arc::ptr_eq(&a.dir, &b.dir) && a.name == b.name
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

    /// The whole content in memory (read from its spool file when spooled): for contents the
    /// caller knows to be small.
    ///
    /// # Errors
    /// [`Error::Io`] when the spool file cannot be read.
    pub async fn bytes(&self) -> Result<Bytes> {
        match self {
            Content::Memory(b) => Ok(b.clone()),
            Content::Spooled(f) => {
                let path = f.path();
                tokio::fs::read(&path)
                    .await
                    .map(Bytes::from)
                    .map_err(|e| io_error(&path, e))
            }
        }
    }

    /// A reader over the content, from its start.
    ///
    /// # Errors
    /// [`Error::Io`] when the spool file cannot be opened.
    pub async fn reader(&self) -> Result<Box<dyn tokio::io::AsyncRead + Send + Unpin>> {
        match self {
            Content::Memory(b) => Ok(Box::new(std::io::Cursor::new(b.clone()))),
            Content::Spooled(f) => {
                let path = f.path();
                let file = tokio::fs::File::open(&path)
                    .await
                    .map_err(|e| io_error(&path, e))?;
                Ok(Box::new(tokio::io::BufReader::with_capacity(1 << 16, file)))
            }
        }
    }
}

impl SpooledFile {
    /// The file's path on disk.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join(&self.name)
    }
}

/// A private temporary directory that spooled files are written into.
#[derive(Debug, Clone)]
pub(crate) struct SpoolDir {
    dir: Arc<TempDir>,
}

impl SpoolDir {
    /// Creates one in the system's temporary directory.
    pub(crate) fn new() -> Result<Self> {
        let mut builder = tempfile::Builder::new();
        builder.prefix("gitops-artifact-");
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
        let dir = builder
            .tempdir()
            .map_err(|e| io_error(&std::env::temp_dir(), e))?;
        Ok(SpoolDir { dir: Arc::new(dir) })
    }

    /// The path of the file named `name` in it (names are chosen by this crate: `a<N>`,
    /// `f<N>`, never from an archive).
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The [`Content`] of the file `name` already written in it, `len` bytes long.
    pub(crate) fn content(&self, name: String, len: u64) -> Content {
        Content::Spooled(SpooledFile {
            dir: Arc::clone(&self.dir),
            name,
            len,
        })
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
    let spool = SpoolDir::new()?;
    let path = spool.path("archive");
    let file = tokio::fs::File::create(&path)
        .await
        .map_err(|e| io_error(&path, e))?;
    let mut out = tokio::io::BufWriter::with_capacity(1 << 16, file);
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
        spool.content("archive".to_owned(), len),
        hex::encode(hasher.finalize()),
    )))
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
