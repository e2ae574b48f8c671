//! Safe unpacking of `.tgz`/`.tar.gz` and `.zip` artifacts, in memory ([`unpack`]) or from a
//! spooled archive into a spool directory ([`unpack_spooled`]).
//!
//! Every entry is checked before its data is kept; the whole archive is read before anything
//! is returned, so a refused entry anywhere means nothing is uploaded. The naming rules are
//! documented on [`unpack`].

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{Cursor, Read, Seek};
use std::rc::Rc;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::spool::{Content, SpoolHandle, io_error, new_spool};

/// The longest accepted path of a file inside the archive, in bytes (S3's key limit; the
/// whole key `mfe/<name>/<version>/<path>` is checked against the same bound before upload).
pub const MAX_PATH_BYTES: usize = 1024;

/// The longest accepted path component, in bytes (`NAME_MAX` of common file systems).
pub const MAX_COMPONENT_BYTES: usize = 255;

/// Bounds applied while fetching and unpacking an artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum number of regular files in an archive. Default 10,000.
    pub max_files: u64,
    /// Maximum total size of all files once expanded. Default 4 GiB.
    pub max_total_bytes: u64,
    /// Maximum expansion ratio (expanded bytes / archive bytes). Default 200.
    pub max_ratio: u64,
    /// The ratio is only enforced once the expanded size passes this many bytes, so a tiny
    /// but very compressible archive is not refused. Default 1 MiB.
    pub ratio_grace_bytes: u64,
    /// Maximum size of the archive itself. Default 2 GiB (a 1 GB artifact passes; memory
    /// does not grow with it: the archive and its files are spooled to disk).
    pub max_archive_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_files: 10_000,
            max_total_bytes: 4 * 1024 * 1024 * 1024,
            max_ratio: 200,
            ratio_grace_bytes: 1024 * 1024,
            max_archive_bytes: 2 * 1024 * 1024 * 1024,
        }
    }
}

/// One regular file taken out of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackedFile {
    /// Relative, `/`-separated, normalized path (no `.`, `..`, empty or absolute parts), with
    /// a single top-level `package/` stripped.
    pub path: String,
    /// The file's content: in memory from [`unpack`], spooled to disk from
    /// [`unpack_spooled`].
    pub data: Content,
}

/// The archive formats understood, chosen by file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// `.tgz` or `.tar.gz`.
    TarGz,
    /// `.zip`.
    Zip,
}

impl ArchiveFormat {
    /// The format for a file name, or `None` when the extension is not supported.
    #[allow(clippy::case_sensitive_file_extension_comparisons)] // `lower` is lower-cased
    pub fn from_file_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".tgz") || lower.ends_with(".tar.gz") {
            Some(ArchiveFormat::TarGz)
        } else if lower.ends_with(".zip") {
            Some(ArchiveFormat::Zip)
        } else {
            None
        }
    }
}

/// Unpacks `data` (the verified bytes of `artifact`, whose file name is `file_name`).
///
/// Refuses absolute paths, `..`, backslashes, symlinks, hard links, device files, FIFOs,
/// duplicate paths (also after normalisation, and duplicate zip records), ambiguous names
/// (empty or `.` components in a file's name), overlong names ([`MAX_PATH_BYTES`],
/// [`MAX_COMPONENT_BYTES`]), a path that is both a file and a directory, and archives beyond
/// `limits`, all with [`Error::UnsafeEntry`], [`Error::Archive`] or [`Error::LimitExceeded`]
/// (none retryable). Returns the files sorted by path.
///
/// Entry names, decided once for both formats:
/// - leading `./` components are dropped (`tar -C dist -czf x.tgz .` writes `./a.js`);
/// - a *file* whose name still holds an empty or `.` component (`a//b`, `a/./b`, `package/.`,
///   a trailing `/`) is refused: such names mean different paths to different tools;
/// - a pure *directory* entry (`package/`, `package/./`, `./`) creates nothing and is skipped
///   (its `..`, absolute or overlong names are still refused);
/// - names whose normalised path (after stripping `package/`) exceeds [`MAX_PATH_BYTES`]
///   (or whose raw name is much longer still), components over
///   [`MAX_COMPONENT_BYTES`], `..`, absolute paths, drive letters, backslashes, control
///   characters, non-UTF-8 and names ending in `#<digits>` (reserved by the local backend)
///   are refused;
/// - two entries with the same normalised path (tar or zip; in a zip also two central
///   directory records with the same raw name) are refused, and so is a path that is both a
///   file and the directory of another file (`a` and `a/b`).
pub fn unpack(
    artifact: &str,
    file_name: &str,
    data: &[u8],
    limits: &Limits,
) -> Result<Vec<UnpackedFile>> {
    let format = ArchiveFormat::from_file_name(file_name).ok_or_else(|| Error::Archive {
        artifact: artifact.to_owned(),
        reason: "unsupported archive type (expected .tgz, .tar.gz or .zip)".to_owned(),
    })?;
    unpack_with(
        artifact,
        format,
        Cursor::new(data),
        data.len() as u64,
        limits,
        &mut Sink::Memory,
    )
}

/// [`unpack`] for an archive spooled to disk (`archive`, from [`crate::fetch_verified`]):
/// the same checks and limits, each file appended to the one data file of a new private spool
/// as it is read (no file is created per entry), so memory stays flat however large the
/// archive. Blocking: run it on tokio's blocking threads. A refused archive leaves nothing
/// behind (the spool is removed when its last range is dropped).
///
/// # Errors
/// As [`unpack`]; [`Error::Io`] when the spool cannot be read or written.
pub fn unpack_spooled(
    artifact: &str,
    file_name: &str,
    archive: &Content,
    limits: &Limits,
) -> Result<Vec<UnpackedFile>> {
    let format = ArchiveFormat::from_file_name(file_name).ok_or_else(|| Error::Archive {
        artifact: artifact.to_owned(),
        reason: "unsupported archive type (expected .tgz, .tar.gz or .zip)".to_owned(),
    })?;
    let len = archive.len();
    let (spool, data) = new_spool("files")?;
    let mut sink = Sink::Spool {
        spool,
        out: std::io::BufWriter::with_capacity(1 << 16, data),
        at: 0,
    };
    let files = match archive {
        Content::Memory(data) => unpack_with(
            artifact,
            format,
            Cursor::new(&data[..]),
            len,
            limits,
            &mut sink,
        ),
        Content::Spooled(file) => {
            let path = file.whole_file().ok_or_else(|| {
                Error::invalid(
                    "archive",
                    "a spooled archive is read from its spool's start",
                )
            })?;
            #[allow(clippy::disallowed_methods)] // synchronous: runs on the blocking threads
            let opened = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
            let reader = std::io::BufReader::with_capacity(1 << 16, opened);
            unpack_with(artifact, format, reader, len, limits, &mut sink)
        }
    }?;
    if let Sink::Spool { spool, mut out, .. } = sink {
        std::io::Write::flush(&mut out).map_err(|e| io_error(spool.path(), e))?;
    }
    Ok(files)
}

fn unpack_with<R: Read + Seek>(
    artifact: &str,
    format: ArchiveFormat,
    reader: R,
    len: u64,
    limits: &Limits,
    sink: &mut Sink,
) -> Result<Vec<UnpackedFile>> {
    if len > limits.max_archive_bytes {
        return Err(Error::LimitExceeded {
            artifact: artifact.to_owned(),
            limit: "max_archive_bytes",
            max: limits.max_archive_bytes,
            entry: String::new(),
        });
    }
    let mut budget = Budget::new(artifact, len, limits);
    let raw = match format {
        ArchiveFormat::TarGz => read_tar_gz(artifact, reader, &mut budget, sink)?,
        ArchiveFormat::Zip => read_zip(artifact, reader, &mut budget, sink)?,
    };
    finish(artifact, raw)
}

/// Where the files' data goes.
enum Sink {
    /// Into memory.
    Memory,
    /// Appended to a spool's data file, `at` bytes written so far.
    Spool {
        spool: SpoolHandle,
        out: std::io::BufWriter<std::fs::File>,
        at: u64,
    },
}

/// Counts files and bytes against the limits.
struct Budget<'a> {
    artifact: &'a str,
    limits: Limits,
    files: u64,
    total: u64,
    /// The expanded-size ceiling: the smaller of the total bound and the ratio bound.
    ceiling: u64,
    ceiling_is_ratio: bool,
}

impl<'a> Budget<'a> {
    fn new(artifact: &'a str, compressed: u64, limits: &Limits) -> Self {
        let by_ratio = compressed
            .saturating_mul(limits.max_ratio)
            .max(limits.ratio_grace_bytes);
        let ceiling = by_ratio.min(limits.max_total_bytes);
        Budget {
            artifact,
            limits: *limits,
            files: 0,
            total: 0,
            ceiling,
            ceiling_is_ratio: by_ratio < limits.max_total_bytes,
        }
    }

    fn remaining(&self) -> u64 {
        self.ceiling.saturating_sub(self.total)
    }

    fn exceeded(&self, entry: &str) -> Error {
        let (limit, max) = if self.ceiling_is_ratio {
            ("max_ratio", self.limits.max_ratio)
        } else {
            ("max_total_bytes", self.limits.max_total_bytes)
        };
        Error::LimitExceeded {
            artifact: self.artifact.to_owned(),
            limit,
            max,
            entry: entry.to_owned(),
        }
    }

    fn add_file(&mut self, entry: &str) -> Result<()> {
        self.files += 1;
        if self.files > self.limits.max_files {
            return Err(Error::LimitExceeded {
                artifact: self.artifact.to_owned(),
                limit: "max_files",
                max: self.limits.max_files,
                entry: entry.to_owned(),
            });
        }
        Ok(())
    }

    /// Reads at most the remaining budget from `reader` into `sink`; errors when there is
    /// more.
    fn read(
        &mut self,
        entry: &str,
        declared: u64,
        reader: &mut dyn Read,
        sink: &mut Sink,
    ) -> Result<Content> {
        let remaining = self.remaining();
        if declared > remaining {
            return Err(self.exceeded(entry));
        }
        let mut limited = reader.take(remaining.saturating_add(1));
        let unreadable = |e: std::io::Error| Error::Archive {
            artifact: self.artifact.to_owned(),
            reason: format!("reading `{entry}`: {e}"),
        };
        let (content, n) = match sink {
            Sink::Memory => {
                // A first allocation only (at most 1 MiB); the buffer grows as it is read.
                let mut buf =
                    Vec::with_capacity(usize::try_from(declared.min(1 << 20)).unwrap_or(0));
                limited.read_to_end(&mut buf).map_err(unreadable)?;
                let n = buf.len() as u64;
                (Content::Memory(Bytes::from(buf)), n)
            }
            Sink::Spool { spool, out, at } => {
                let n = copy(&mut limited, out, spool.path()).map_err(|e| match e {
                    Copied::Read(e) => unreadable(e),
                    Copied::Write(e) => e,
                })?;
                let content = spool.content(*at, n);
                *at += n;
                (content, n)
            }
        };
        if n > remaining {
            return Err(self.exceeded(entry));
        }
        self.total += n;
        Ok(content)
    }
}

/// A reader that fails once more than `cap` bytes have been read through it, so metadata the
/// tar crate reads on its own (long names, PAX headers, skipped entries) is bounded too.
struct CappedReader<R> {
    inner: R,
    left: u64,
    tripped: Rc<Cell<bool>>,
}

impl<R: Read> Read for CappedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            self.tripped.set(true);
            return Err(std::io::Error::other("expanded size limit exceeded"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Why [`copy`] stopped.
enum Copied {
    /// Reading the entry failed (a corrupt archive, or the capped reader tripped).
    Read(std::io::Error),
    /// Writing the spool failed.
    Write(Error),
}

/// Copies `from` into `to`, telling read failures from write failures.
fn copy(
    from: &mut dyn Read,
    to: &mut dyn std::io::Write,
    path: &std::path::Path,
) -> std::result::Result<u64, Copied> {
    let mut buf = vec![0u8; 1 << 16];
    let mut n: u64 = 0;
    loop {
        let got = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(got) => got,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Copied::Read(e)),
        };
        to.write_all(&buf[..got])
            .map_err(|e| Copied::Write(io_error(path, e)))?;
        n += got as u64;
    }
    Ok(n)
}

fn read_tar_gz<R: Read>(
    artifact: &str,
    data: R,
    budget: &mut Budget<'_>,
    sink: &mut Sink,
) -> Result<Vec<(String, Vec<String>, Content)>> {
    let tripped = Rc::new(Cell::new(false));
    // Headers and padding cost at most 1.5 KiB per entry; allow that on top of the data.
    let overhead = budget
        .limits
        .max_files
        .saturating_add(64)
        .saturating_mul(2048)
        .saturating_add(1 << 20);
    let capped = CappedReader {
        inner: flate2::read::GzDecoder::new(data),
        left: budget.ceiling.saturating_add(overhead),
        tripped: Rc::clone(&tripped),
    };
    let mut archive = tar::Archive::new(capped);
    let corrupt = |e: std::io::Error, tripped: &Cell<bool>, budget: &Budget<'_>, entry: &str| {
        if tripped.get() {
            budget.exceeded(entry)
        } else {
            Error::Archive {
                artifact: artifact.to_owned(),
                reason: e.to_string(),
            }
        }
    };
    let entries = archive
        .entries()
        .map_err(|e| corrupt(e, &tripped, budget, ""))?;
    let mut out = Vec::new();
    let mut last = String::new();
    for entry in entries {
        let mut entry = entry.map_err(|e| corrupt(e, &tripped, budget, &last))?;
        let raw_name = entry.path_bytes();
        let name = String::from_utf8(raw_name.to_vec()).map_err(|_| Error::UnsafeEntry {
            entry: String::from_utf8_lossy(&raw_name).into_owned(),
            reason: "name is not valid UTF-8".to_owned(),
        })?;
        last.clone_from(&name);
        let size = entry.size();
        let kind = entry.header().entry_type();
        let is_dir = matches!(
            kind,
            tar::EntryType::Directory | tar::EntryType::XGlobalHeader
        );
        let parts = entry_parts(&name, is_dir)?;
        let refuse = |reason: &str| Error::UnsafeEntry {
            entry: name.clone(),
            reason: reason.to_owned(),
        };
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                budget.add_file(&name)?;
                let data = budget.read(&name, size, &mut entry, sink).map_err(|e| {
                    if tripped.get() {
                        budget.exceeded(&name)
                    } else {
                        e
                    }
                })?;
                out.push((name, parts, data));
            }
            tar::EntryType::Directory | tar::EntryType::XGlobalHeader => {
                if size > 0 && kind == tar::EntryType::Directory {
                    return Err(refuse("a directory entry carrying data"));
                }
            }
            tar::EntryType::Symlink => return Err(refuse("symbolic links are not allowed")),
            tar::EntryType::Link => return Err(refuse("hard links are not allowed")),
            tar::EntryType::Char | tar::EntryType::Block => {
                return Err(refuse("device files are not allowed"));
            }
            tar::EntryType::Fifo => return Err(refuse("FIFOs are not allowed")),
            other => {
                return Err(refuse(&format!(
                    "unsupported entry type {:?}",
                    other.as_byte() as char
                )));
            }
        }
    }
    Ok(out)
}

fn read_zip<R: Read + Seek>(
    artifact: &str,
    data: R,
    budget: &mut Budget<'_>,
    sink: &mut Sink,
) -> Result<Vec<(String, Vec<String>, Content)>> {
    let corrupt = |e: &dyn std::fmt::Display| Error::Archive {
        artifact: artifact.to_owned(),
        reason: e.to_string(),
    };
    let mut archive = zip::ZipArchive::new(data).map_err(|e| corrupt(&e))?;
    // The zip crate keys entries by name, so a second record with the same name would be
    // silently dropped (and other tools take the other one): refuse the archive.
    if archive.has_duplicate_names() {
        return Err(Error::Archive {
            artifact: artifact.to_owned(),
            reason: "duplicate entry names in the zip's central directory (tools disagree on which copy wins)".to_owned(),
        });
    }
    // Directory entries cost nothing to list, but an archive with millions of them is still
    // an attack: bound the central directory too.
    let max_entries = budget
        .limits
        .max_files
        .saturating_mul(2)
        .saturating_add(1024);
    if archive.len() as u64 > max_entries {
        return Err(Error::LimitExceeded {
            artifact: artifact.to_owned(),
            limit: "max_files",
            max: budget.limits.max_files,
            entry: String::new(),
        });
    }
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).map_err(|e| corrupt(&e))?;
        let name = String::from_utf8(file.name_raw().to_vec()).map_err(|_| Error::UnsafeEntry {
            entry: String::from_utf8_lossy(file.name_raw()).into_owned(),
            reason: "name is not valid UTF-8".to_owned(),
        })?;
        let refuse = |reason: &str| Error::UnsafeEntry {
            entry: name.clone(),
            reason: reason.to_owned(),
        };
        let parts = entry_parts(&name, file.is_dir())?;
        if file.encrypted() {
            return Err(refuse("encrypted entries are not supported"));
        }
        // Zips written on other systems carry no Unix mode: their entries are plain files and
        // directories (0 below), which is what such a zip can hold.
        let file_type = file.unix_mode().map_or(0, |m| m & 0o170_000);
        match file_type {
            0o120_000 => return Err(refuse("symbolic links are not allowed")),
            0o020_000 | 0o060_000 => return Err(refuse("device files are not allowed")),
            0o010_000 => return Err(refuse("FIFOs are not allowed")),
            0o140_000 => return Err(refuse("sockets are not allowed")),
            0 | 0o100_000 | 0o040_000 => {}
            _ => return Err(refuse("unknown file type")),
        }
        if file.is_symlink() {
            return Err(refuse("symbolic links are not allowed"));
        }
        if file.is_dir() {
            continue;
        }
        budget.add_file(&name)?;
        let declared = file.size();
        let data = budget.read(&name, declared, &mut file, sink)?;
        out.push((name, parts, data));
    }
    Ok(out)
}

/// Splits and checks an entry name (see the module docs). Returns the normal components:
/// never empty for a file; possibly empty for a directory entry, which creates nothing.
fn entry_parts(name: &str, is_dir: bool) -> Result<Vec<String>> {
    let refuse = |reason: String| Error::UnsafeEntry {
        entry: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(refuse("empty name".to_owned()));
    }
    if name.len() > MAX_PATH_BYTES + 2 * 64 {
        // Bounded before anything else looks at it; the exact bound applies to the path
        // once normalised and stripped of `package/` (in `finish`).
        return Err(refuse(format!(
            "the name is {} bytes, over the {MAX_PATH_BYTES}-byte limit",
            name.len()
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(refuse("control characters in the name".to_owned()));
    }
    if name.starts_with('/') {
        return Err(refuse("absolute path".to_owned()));
    }
    if name.contains('\\') {
        return Err(refuse("backslash in the path".to_owned()));
    }
    let raw: Vec<&str> = name.split('/').collect();
    // Leading `./` components are how `tar -C dir -c .` names everything.
    let lead = raw.iter().take_while(|p| **p == ".").count();
    let rest = &raw[lead..];
    // A directory entry may end with `/` (its name's last component is then empty).
    let body = match rest.split_last() {
        Some((last, init)) if is_dir && last.is_empty() => init,
        _ => rest,
    };
    let mut parts = Vec::with_capacity(body.len());
    for (i, part) in body.iter().enumerate() {
        match *part {
            ".." => return Err(refuse("`..` path component".to_owned())),
            "" | "." if is_dir => {}
            "" | "." => {
                return Err(refuse(
                    "empty or `.` path component (the name is ambiguous)".to_owned(),
                ));
            }
            p if i == 0 && lead == 0 && p.len() == 2 && p.ends_with(':') => {
                return Err(refuse("absolute path (drive letter)".to_owned()));
            }
            p if p.len() > MAX_COMPONENT_BYTES => {
                return Err(refuse(format!(
                    "a path component is {} bytes, over the {MAX_COMPONENT_BYTES}-byte limit",
                    p.len()
                )));
            }
            p => parts.push(p.to_owned()),
        }
    }
    if !is_dir && parts.is_empty() {
        return Err(refuse("a file with an empty path".to_owned()));
    }
    if !is_dir && parts.last().is_some_and(|p| reserved_suffix(p)) {
        return Err(refuse(
            "file names ending in `#<digits>` are reserved by the local storage backend".to_owned(),
        ));
    }
    Ok(parts)
}

/// `name#123`: object_store's local backend reserves these names for its staging files.
fn reserved_suffix(file_name: &str) -> bool {
    file_name
        .rsplit_once('#')
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Strips a single top-level `package/`, refuses duplicates and file/directory clashes,
/// checks object paths, sorts.
fn finish(artifact: &str, raw: Vec<(String, Vec<String>, Content)>) -> Result<Vec<UnpackedFile>> {
    if raw.is_empty() {
        return Err(Error::Archive {
            artifact: artifact.to_owned(),
            reason: "the archive contains no files".to_owned(),
        });
    }
    let strip = raw
        .iter()
        .all(|(_, parts, _)| parts.len() >= 2 && parts[0] == "package");
    let mut files = BTreeMap::new();
    let mut names = BTreeMap::new();
    for (name, parts, data) in raw {
        let rel = if strip { &parts[1..] } else { &parts[..] }.join("/");
        if rel.len() > MAX_PATH_BYTES {
            return Err(Error::UnsafeEntry {
                entry: name,
                reason: format!(
                    "the path is {} bytes, over the {MAX_PATH_BYTES}-byte limit",
                    rel.len()
                ),
            });
        }
        if object_store::path::Path::parse(&rel).is_err() {
            return Err(Error::UnsafeEntry {
                entry: name,
                reason: "not a valid object path".to_owned(),
            });
        }
        if files.insert(rel.clone(), data).is_some() {
            return Err(Error::UnsafeEntry {
                entry: name,
                reason: "duplicate path in the archive".to_owned(),
            });
        }
        names.insert(rel, name);
    }
    // `a` and `a/b` cannot both exist on a file system (and mean two things on S3).
    for (rel, name) in &names {
        let mut at = 0;
        while let Some(i) = rel[at..].find('/') {
            let dir = &rel[..at + i];
            if files.contains_key(dir) {
                return Err(Error::UnsafeEntry {
                    entry: name.clone(),
                    reason: format!("`{dir}` is both a file and a directory in the archive"),
                });
            }
            at += i + 1;
        }
    }
    Ok(files
        .into_iter()
        .map(|(path, data)| UnpackedFile { path, data })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names() {
        assert_eq!(
            entry_parts("./package/a/b.js", false).unwrap(),
            vec!["package", "a", "b.js"]
        );
        assert_eq!(entry_parts("./", true).unwrap(), Vec::<String>::new());
        assert_eq!(entry_parts("package/./", true).unwrap(), vec!["package"]);
        assert_eq!(entry_parts("package/", true).unwrap(), vec!["package"]);
        for bad in [
            "package/a/./b.js",
            "package/.",
            "package/",
            "a//b",
            "./",
            "a/#1",
            "x.js#12",
        ] {
            assert!(
                matches!(entry_parts(bad, false), Err(Error::UnsafeEntry { .. })),
                "{bad:?} accepted as a file"
            );
        }
        assert!(entry_parts("x.js#v1", false).is_ok());
        for bad in [
            "/etc/passwd",
            "../evil",
            "a/../../b",
            "a\\..\\b",
            "C:/x",
            "a\u{0}b",
            "",
        ] {
            for is_dir in [false, true] {
                assert!(
                    matches!(entry_parts(bad, is_dir), Err(Error::UnsafeEntry { .. })),
                    "{bad:?} accepted"
                );
            }
        }
    }

    #[test]
    fn formats() {
        assert_eq!(
            ArchiveFormat::from_file_name("a-1.0.0.TGZ"),
            Some(ArchiveFormat::TarGz)
        );
        assert_eq!(
            ArchiveFormat::from_file_name("a.tar.gz"),
            Some(ArchiveFormat::TarGz)
        );
        assert_eq!(
            ArchiveFormat::from_file_name("a.zip"),
            Some(ArchiveFormat::Zip)
        );
        assert_eq!(ArchiveFormat::from_file_name("a.tar"), None);
    }
}
