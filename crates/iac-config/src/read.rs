//! Reading a repository from disk: only regular files really inside it, never through a
//! symbolic link, each with a size bound, and a bounded number of directory entries.

// Blocking by design: the loader is synchronous; async callers run it on the blocking pool.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::fs::{File, Metadata, OpenOptions};
use std::io::Read;
use std::path::Path;

use crate::load::{CONFIG_FILE, ConfigProblem, DEPLOYMENTS_DIR, MFES_DIR, problem};

/// Largest `gitops.yaml` read, in bytes (1 MiB).
pub const MAX_CONFIG_BYTES: usize = 1 << 20;
/// Largest `mfes/<name>.yaml` read, in bytes (256 KiB).
pub const MAX_MFE_BYTES: usize = 256 << 10;
/// Largest `deployments/<env>/<mfe>.json` read, in bytes (64 KiB).
pub const MAX_DEPLOYMENT_BYTES: usize = 64 << 10;
/// Most directory entries [`Repository::load_dir`](crate::Repository::load_dir) looks at under
/// `mfes/` and `deployments/` together, and most repository files
/// [`Repository::from_files`](crate::Repository::from_files) accepts.
pub const MAX_FILES: usize = 10_000;

/// The three kinds of repository file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Config,
    Mfe,
    Deployment,
}

impl Kind {
    /// The kind of the repository file at `path` (`/`-separated), or `None` for a file the
    /// loader ignores.
    pub(crate) fn of(path: &str) -> Option<Kind> {
        let parts: Vec<&str> = path.split('/').collect();
        match parts.as_slice() {
            [CONFIG_FILE] => Some(Kind::Config),
            [MFES_DIR, file] if is_mfe_file(file) => Some(Kind::Mfe),
            [DEPLOYMENTS_DIR, _, file] if is_deployment_file(file) => Some(Kind::Deployment),
            _ => None,
        }
    }

    /// The size bound of this kind, in bytes.
    pub(crate) fn max_bytes(self) -> usize {
        match self {
            Kind::Config => MAX_CONFIG_BYTES,
            Kind::Mfe => MAX_MFE_BYTES,
            Kind::Deployment => MAX_DEPLOYMENT_BYTES,
        }
    }
}

fn is_mfe_file(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml")
}

fn is_deployment_file(name: &str) -> bool {
    name.ends_with(".json")
}

/// `n` bytes in words (`256 KiB`).
pub(crate) fn size_text(n: usize) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

/// The problem of a file larger than its bound.
pub(crate) fn too_large(path: &str, kind: Kind) -> ConfigProblem {
    problem(
        path,
        None,
        None,
        format!(
            "larger than {}, the most this tool reads for such a file",
            size_text(kind.max_bytes())
        ),
    )
}

/// Reads the repository files under `root`: `gitops.yaml`, `mfes/*.yaml|yml` and
/// `deployments/*/*.json`. Every refusal is a problem of the path concerned.
pub(crate) fn read_dir_files(root: &Path) -> Result<BTreeMap<String, Vec<u8>>, Vec<ConfigProblem>> {
    let mut reader = Reader {
        root,
        files: BTreeMap::new(),
        problems: Vec::new(),
        entries: 0,
    };
    if reader.exists(CONFIG_FILE) {
        reader.file(CONFIG_FILE, Kind::Config);
    }
    for name in reader.dir(MFES_DIR) {
        if is_mfe_file(&name) {
            reader.file(&format!("{MFES_DIR}/{name}"), Kind::Mfe);
        }
    }
    for env in reader.dir(DEPLOYMENTS_DIR) {
        let env_dir = format!("{DEPLOYMENTS_DIR}/{env}");
        // Plain files beside the environment directories (a README) are not ours: ignored.
        if !reader.is_dir_or_refused(&env_dir) {
            continue;
        }
        for name in reader.dir(&env_dir) {
            if is_deployment_file(&name) {
                reader.file(&format!("{env_dir}/{name}"), Kind::Deployment);
            }
        }
    }
    if reader.problems.is_empty() {
        Ok(reader.files)
    } else {
        Err(reader.problems)
    }
}

#[derive(Debug)]
struct Reader<'a> {
    root: &'a Path,
    files: BTreeMap<String, Vec<u8>>,
    problems: Vec<ConfigProblem>,
    /// Directory entries looked at so far.
    entries: usize,
}

impl Reader<'_> {
    fn refuse(&mut self, rel: &str, message: impl Into<String>) {
        self.problems.push(problem(rel, None, None, message));
    }

    /// `symlink_metadata` of `rel`; `None` (and a problem unless it does not exist) on error.
    fn lstat(&mut self, rel: &str, missing_is_fine: bool) -> Option<Metadata> {
        match std::fs::symlink_metadata(self.root.join(rel)) {
            Ok(meta) => Some(meta),
            Err(e) if missing_is_fine && e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                self.refuse(rel, format!("cannot read: {e}"));
                None
            }
        }
    }

    fn exists(&mut self, rel: &str) -> bool {
        self.lstat(rel, true).is_some()
    }

    /// Whether `rel` is a real directory; a symbolic link is refused (and `false`).
    fn is_dir_or_refused(&mut self, rel: &str) -> bool {
        let Some(meta) = self.lstat(rel, false) else {
            return false;
        };
        if meta.file_type().is_symlink() {
            self.refuse(rel, symlink_message());
            return false;
        }
        meta.is_dir()
    }

    /// The names in directory `rel` (empty when it does not exist), sorted; hidden and
    /// non-UTF-8 names are skipped. A symbolic link or a non-directory is refused, and so is a
    /// repository with more than [`MAX_FILES`] entries.
    fn dir(&mut self, rel: &str) -> Vec<String> {
        let Some(meta) = self.lstat(rel, true) else {
            return Vec::new();
        };
        if meta.file_type().is_symlink() {
            self.refuse(rel, symlink_message());
            return Vec::new();
        }
        if !meta.is_dir() {
            self.refuse(
                rel,
                format!("is {}, a directory was expected", describe(&meta)),
            );
            return Vec::new();
        }
        if self.entries > MAX_FILES {
            return Vec::new();
        }
        let listing = match std::fs::read_dir(self.root.join(rel)) {
            Ok(listing) => listing,
            Err(e) => {
                self.refuse(rel, format!("cannot list: {e}"));
                return Vec::new();
            }
        };
        let mut names = Vec::new();
        for entry in listing {
            self.entries += 1;
            if self.entries > MAX_FILES {
                self.refuse(
                    rel,
                    format!("the repository has more than {MAX_FILES} files under {MFES_DIR}/ and {DEPLOYMENTS_DIR}/, the most this tool reads"),
                );
                break;
            }
            match entry {
                Ok(entry) => {
                    if let Ok(name) = entry.file_name().into_string()
                        && !name.starts_with('.')
                    {
                        names.push(name);
                    }
                }
                Err(e) => {
                    self.refuse(rel, format!("cannot list: {e}"));
                    break;
                }
            }
        }
        names.sort();
        names
    }

    /// Reads the regular file `rel`, at most its kind's bound.
    fn file(&mut self, rel: &str, kind: Kind) {
        let Some(meta) = self.lstat(rel, false) else {
            return;
        };
        if meta.file_type().is_symlink() {
            self.refuse(rel, symlink_message());
            return;
        }
        if !meta.is_file() {
            self.refuse(
                rel,
                format!("is {}, a regular file was expected", describe(&meta)),
            );
            return;
        }
        let bound = kind.max_bytes();
        if meta.len() > bound as u64 {
            self.problems.push(too_large(rel, kind));
            return;
        }
        let file = match open_no_follow(&self.root.join(rel)) {
            Ok(file) => file,
            Err(e) => {
                self.refuse(rel, format!("cannot read: {e}"));
                return;
            }
        };
        // The path may have changed since it was looked at: judge what was opened.
        match file.metadata() {
            Ok(opened) if opened.is_file() => {}
            Ok(opened) => {
                self.refuse(
                    rel,
                    format!("is {}, a regular file was expected", describe(&opened)),
                );
                return;
            }
            Err(e) => {
                self.refuse(rel, format!("cannot read: {e}"));
                return;
            }
        }
        let mut bytes = Vec::new();
        match file.take(bound as u64 + 1).read_to_end(&mut bytes) {
            Ok(_) if bytes.len() > bound => self.problems.push(too_large(rel, kind)),
            Ok(_) => {
                self.files.insert(rel.to_owned(), bytes);
            }
            Err(e) => self.refuse(rel, format!("cannot read: {e}")),
        }
    }
}

fn symlink_message() -> String {
    "is a symbolic link; repository files and directories must be real, not links (the target is not read)".to_owned()
}

/// What kind of file `meta` describes, with its article.
fn describe(meta: &Metadata) -> &'static str {
    let kind = meta.file_type();
    if kind.is_dir() {
        return "a directory";
    }
    if kind.is_symlink() {
        return "a symbolic link";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_block_device() || kind.is_char_device() {
            return "a device";
        }
    }
    if kind.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// Opens `path` for reading without following a final symbolic link and without blocking on a
/// FIFO or device (the caller checks the opened file's type before reading).
fn open_no_follow(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    options.open(path)
}
