//! A thin, blocking wrapper over the `git` command line for one bare repository.
//!
//! Every object the fake hands out (blobs, trees, commits, refs, merges) is a real git object
//! made by these calls, so a sha the fake returns is the sha `git` computes.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::Error;

/// The all-zero object id: as the old value of `update-ref` it means "must not exist".
pub const ZERO_OID: &str = "0000000000000000000000000000000000000000";

/// Who made a commit, as git records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// Seconds since the epoch.
    pub time: i64,
}

/// A parsed commit object.
#[derive(Debug, Clone)]
pub struct CommitInfo {
    /// The commit's tree.
    pub tree: String,
    /// Parent commits, in order.
    pub parents: Vec<String>,
    /// Author.
    pub author: Person,
    /// Committer.
    pub committer: Person,
    /// Full message.
    pub message: String,
}

/// One `ls-tree` entry.
#[derive(Debug, Clone)]
pub struct TreeEntry {
    /// Octal mode as git prints it (`100644`, `040000`, ...).
    pub mode: String,
    /// `blob`, `tree` or `commit`.
    pub kind: String,
    /// Object id.
    pub sha: String,
    /// Blob size (None for trees and submodules).
    pub size: Option<u64>,
    /// Path relative to the listed tree.
    pub path: String,
}

/// One change to apply when building a tree.
#[derive(Debug, Clone)]
pub enum TreeOp {
    /// Put an object (blob, gitlink or tree) at `path`.
    Put {
        /// Path.
        path: String,
        /// Mode (`100644`, `100755`, `120000`, `160000`, `040000`).
        mode: String,
        /// Object id.
        sha: String,
    },
    /// Remove `path` (a file or a whole directory).
    Delete {
        /// Path.
        path: String,
    },
}

/// One changed file between two commits.
#[derive(Debug, Clone)]
pub struct FileChange {
    /// `added`, `removed`, `modified`, ...
    pub status: &'static str,
    /// Path in the new commit.
    pub path: String,
    /// New blob id (None when removed).
    pub sha: Option<String>,
    /// Added lines.
    pub additions: u64,
    /// Deleted lines.
    pub deletions: u64,
}

/// A bare repository on disk.
#[derive(Debug, Clone)]
pub struct Repo {
    dir: PathBuf,
}

fn git_err(args: &[&str], out: &Output) -> Error {
    Error::Git(format!(
        "git {} exited with {}: {}",
        args.first().copied().unwrap_or_default(),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

impl Repo {
    /// Opens (does not create) the bare repository at `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The repository's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates a bare repository whose HEAD names `default_branch`.
    pub fn init(dir: &Path, default_branch: &str) -> Result<Self, Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io(e.to_string()))?;
        let out = Command::new("git")
            .args(["init", "--quiet", "--bare", "-b", default_branch])
            .arg(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env_remove("GIT_DIR")
            .output()
            .map_err(|e| Error::Git(format!("cannot run git init: {e}")))?;
        if !out.status.success() {
            return Err(git_err(&["init"], &out));
        }
        Ok(Self::open(dir))
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("git");
        cmd.arg("--git-dir")
            .arg(&self.dir)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_AUTHOR_NAME", "fake-github")
            .env("GIT_AUTHOR_EMAIL", "fake-github@users.noreply.github.com")
            .env("GIT_COMMITTER_NAME", "GitHub")
            .env("GIT_COMMITTER_EMAIL", "noreply@github.com")
            .env_remove("GIT_DIR")
            .env_remove("GIT_AUTHOR_DATE")
            .env_remove("GIT_COMMITTER_DATE")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("GIT_WORK_TREE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn exec(mut cmd: Command, stdin: Option<&[u8]>, args: &[&str]) -> Result<Output, Error> {
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().map_err(|e| {
            Error::Git(format!(
                "cannot run git {}: {e}",
                args.first().copied().unwrap_or_default()
            ))
        })?;
        // A git that exits early closes its stdin; its exit status tells why.
        if let Some(input) = stdin
            && let Some(mut pipe) = child.stdin.take()
        {
            let _ = pipe.write_all(input);
        }
        child
            .wait_with_output()
            .map_err(|e| Error::Io(e.to_string()))
    }

    /// Runs git and returns the raw output whatever the exit status.
    pub fn run(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
        env: &[(&str, &str)],
    ) -> Result<Output, Error> {
        let mut cmd = self.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Self::exec(cmd, stdin, args)
    }

    /// Runs git, fails on a non-zero exit, returns stdout trimmed.
    pub fn ok(&self, args: &[&str]) -> Result<String, Error> {
        self.ok_with(args, None, &[])
    }

    fn ok_with(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
        env: &[(&str, &str)],
    ) -> Result<String, Error> {
        let out = self.run(args, stdin, env)?;
        if !out.status.success() {
            return Err(git_err(args, &out));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Writes a blob and returns its id (`git hash-object -w`).
    pub fn hash_object(&self, content: &[u8]) -> Result<String, Error> {
        self.ok_with(&["hash-object", "-w", "--stdin"], Some(content), &[])
    }

    /// The type of an object (`blob`, `tree`, `commit`, `tag`), None when it does not exist.
    pub fn object_type(&self, sha: &str) -> Result<Option<String>, Error> {
        if !is_hex_sha(sha) {
            return Ok(None);
        }
        let out = self.run(&["cat-file", "-t", sha], None, &[])?;
        if out.status.success() {
            Ok(Some(String::from_utf8_lossy(&out.stdout).trim().to_owned()))
        } else {
            Ok(None)
        }
    }

    /// Raw content of a blob.
    pub fn blob(&self, sha: &str) -> Result<Vec<u8>, Error> {
        let args = ["cat-file", "blob", sha];
        let out = self.run(&args, None, &[])?;
        if !out.status.success() {
            return Err(git_err(&args, &out));
        }
        Ok(out.stdout)
    }

    /// Resolves anything `rev-parse` understands to a commit id.
    pub fn resolve_commit(&self, rev: &str) -> Result<Option<String>, Error> {
        if rev.is_empty() || rev.starts_with('-') || rev.contains("..") {
            return Ok(None);
        }
        let spec = format!("{rev}^{{commit}}");
        let out = self.run(
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &spec,
            ],
            None,
            &[],
        )?;
        if out.status.success() {
            Ok(Some(String::from_utf8_lossy(&out.stdout).trim().to_owned()))
        } else {
            Ok(None)
        }
    }

    /// Resolves `<commit>:<path>` to an object id (the root tree for an empty path).
    pub fn resolve_path(&self, commit: &str, path: &str) -> Result<Option<String>, Error> {
        let spec = format!("{commit}:{path}");
        let out = self.run(
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &spec,
            ],
            None,
            &[],
        )?;
        if out.status.success() {
            Ok(Some(String::from_utf8_lossy(&out.stdout).trim().to_owned()))
        } else {
            Ok(None)
        }
    }

    /// All refs under `refs/` as (full name, object id, object type).
    pub fn refs(&self) -> Result<Vec<(String, String, String)>, Error> {
        let out = self.ok(&[
            "for-each-ref",
            "--format=%(refname) %(objectname) %(objecttype)",
            "refs/",
        ])?;
        Ok(out
            .lines()
            .filter_map(|l| {
                let mut it = l.split(' ');
                Some((
                    it.next()?.to_owned(),
                    it.next()?.to_owned(),
                    it.next()?.to_owned(),
                ))
            })
            .collect())
    }

    /// The object a full ref name points at.
    pub fn ref_target(&self, full: &str) -> Result<Option<String>, Error> {
        Ok(self
            .refs()?
            .into_iter()
            .find(|(n, _, _)| n == full)
            .map(|(_, sha, _)| sha))
    }

    /// Atomically moves `full` to `new` if it currently is `old` (`ZERO_OID` = must not exist).
    /// Returns false when the precondition failed.
    pub fn update_ref(&self, full: &str, new: &str, old: &str) -> Result<bool, Error> {
        let out = self.run(
            &["update-ref", "-m", "fake-github", full, new, old],
            None,
            &[],
        )?;
        Ok(out.status.success())
    }

    /// Deletes `full` if it currently is `old`.
    pub fn delete_ref(&self, full: &str, old: &str) -> Result<bool, Error> {
        let out = self.run(&["update-ref", "-d", full, old], None, &[])?;
        Ok(out.status.success())
    }

    /// Whether `ancestor` is an ancestor of (or equal to) `descendant`.
    pub fn is_ancestor(&self, ancestor: &str, descendant: &str) -> Result<bool, Error> {
        let out = self.run(
            &["merge-base", "--is-ancestor", ancestor, descendant],
            None,
            &[],
        )?;
        Ok(out.status.success())
    }

    /// The best common ancestor of two commits.
    pub fn merge_base(&self, a: &str, b: &str) -> Result<Option<String>, Error> {
        let out = self.run(&["merge-base", a, b], None, &[])?;
        if out.status.success() {
            Ok(Some(String::from_utf8_lossy(&out.stdout).trim().to_owned()))
        } else {
            Ok(None)
        }
    }

    /// Lists a tree (`ls-tree -l`), recursively with `-r -t` when asked.
    pub fn ls_tree(&self, tree: &str, recursive: bool) -> Result<Vec<TreeEntry>, Error> {
        let mut args = vec!["ls-tree", "-z", "-l"];
        if recursive {
            args.extend(["-r", "-t"]);
        }
        args.push(tree);
        let args_ref: Vec<&str> = args.clone();
        let out = self.run(&args_ref, None, &[])?;
        if !out.status.success() {
            return Err(git_err(&args_ref, &out));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut entries = Vec::new();
        for rec in text.split('\0').filter(|r| !r.is_empty()) {
            let Some((meta, path)) = rec.split_once('\t') else {
                continue;
            };
            let mut f = meta.split_whitespace();
            let (Some(mode), Some(kind), Some(sha), Some(size)) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                continue;
            };
            entries.push(TreeEntry {
                mode: mode.to_owned(),
                kind: kind.to_owned(),
                sha: sha.to_owned(),
                size: size.parse().ok(),
                path: path.to_owned(),
            });
        }
        Ok(entries)
    }

    /// Builds a tree from `base` (or empty) plus `ops`, the way GitHub's `POST git/trees` does.
    pub fn build_tree(&self, base: Option<&str>, ops: &[TreeOp]) -> Result<String, Error> {
        let mut files: BTreeMap<String, (String, String)> = BTreeMap::new();
        if let Some(base) = base {
            for e in self.ls_tree(base, true)? {
                if e.kind != "tree" {
                    files.insert(e.path, (e.mode, e.sha));
                }
            }
        }
        for op in ops {
            match op {
                TreeOp::Delete { path } => remove_path(&mut files, path),
                TreeOp::Put { path, mode, sha } => {
                    remove_path(&mut files, path);
                    // A file standing where a parent directory must be is replaced.
                    let mut prefix = String::new();
                    for part in path.split('/') {
                        if !prefix.is_empty() {
                            files.remove(&prefix);
                            prefix.push('/');
                        }
                        prefix.push_str(part);
                    }
                    if mode == "040000" {
                        for e in self.ls_tree(sha, true)? {
                            if e.kind != "tree" {
                                files.insert(format!("{path}/{}", e.path), (e.mode, e.sha));
                            }
                        }
                    } else {
                        files.insert(path.clone(), (mode.clone(), sha.clone()));
                    }
                }
            }
        }
        let tmp = tempfile::Builder::new()
            .prefix("fake-index-")
            .tempdir_in(&self.dir)
            .map_err(|e| Error::Io(e.to_string()))?;
        let index = tmp.path().join("index");
        let index_s = index.to_string_lossy().into_owned();
        let env = [("GIT_INDEX_FILE", index_s.as_str())];
        self.ok_with(&["read-tree", "--empty"], None, &env)?;
        let mut info = Vec::new();
        for (path, (mode, sha)) in &files {
            info.extend_from_slice(format!("{mode} {sha}\t{path}").as_bytes());
            info.push(0);
        }
        self.ok_with(&["update-index", "-z", "--index-info"], Some(&info), &env)?;
        self.ok_with(&["write-tree"], None, &env)
    }

    /// Creates a commit object.
    pub fn commit_tree(
        &self,
        tree: &str,
        parents: &[String],
        message: &str,
        author: Option<(&str, &str, Option<&str>)>,
        committer: Option<(&str, &str, Option<&str>)>,
    ) -> Result<String, Error> {
        let mut args: Vec<&str> = vec!["commit-tree", tree];
        for p in parents {
            args.push("-p");
            args.push(p);
        }
        let mut env: Vec<(&str, &str)> = Vec::new();
        if let Some((name, email, date)) = author {
            env.push(("GIT_AUTHOR_NAME", name));
            env.push(("GIT_AUTHOR_EMAIL", email));
            if let Some(d) = date {
                env.push(("GIT_AUTHOR_DATE", d));
            }
        }
        if let Some((name, email, date)) = committer.or(author) {
            env.push(("GIT_COMMITTER_NAME", name));
            env.push(("GIT_COMMITTER_EMAIL", email));
            if let Some(d) = date {
                env.push(("GIT_COMMITTER_DATE", d));
            }
        }
        self.ok_with(&args, Some(message.as_bytes()), &env)
    }

    /// Parses a commit object.
    pub fn commit(&self, sha: &str) -> Result<Option<CommitInfo>, Error> {
        if self.object_type(sha)?.as_deref() != Some("commit") {
            return Ok(None);
        }
        let raw = self.ok_with(&["cat-file", "commit", sha], None, &[])?;
        let (head, message) = raw.split_once("\n\n").unwrap_or((raw.as_str(), ""));
        let mut tree = String::new();
        let mut parents = Vec::new();
        let mut author = None;
        let mut committer = None;
        for line in head.lines() {
            if let Some(v) = line.strip_prefix("tree ") {
                v.clone_into(&mut tree);
            } else if let Some(v) = line.strip_prefix("parent ") {
                parents.push(v.to_owned());
            } else if let Some(v) = line.strip_prefix("author ") {
                author = parse_person(v);
            } else if let Some(v) = line.strip_prefix("committer ") {
                committer = parse_person(v);
            }
        }
        let (Some(author), Some(committer)) = (author, committer) else {
            return Err(Error::Git(format!(
                "commit {sha} has no author or committer"
            )));
        };
        Ok(Some(CommitInfo {
            tree,
            parents,
            author,
            committer,
            message: message.to_owned(),
        }))
    }

    /// `git merge-tree --write-tree`: Some(tree) when clean, None on conflict.
    pub fn merge_tree(&self, ours: &str, theirs: &str) -> Result<Option<String>, Error> {
        let args = ["merge-tree", "--write-tree", "--no-messages", ours, theirs];
        let out = self.run(&args, None, &[])?;
        match out.status.code() {
            Some(0) => Ok(String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .map(str::to_owned)),
            Some(1) => Ok(None),
            _ if String::from_utf8_lossy(&out.stderr).contains("unrelated") => Ok(None),
            _ => Err(git_err(&args, &out)),
        }
    }

    /// A gzip tarball of `commit` with every path under `prefix/`.
    pub fn archive(&self, commit: &str, prefix: &str) -> Result<Vec<u8>, Error> {
        let pre = format!("--prefix={prefix}/");
        let args = ["archive", "--format=tar.gz", pre.as_str(), commit];
        let out = self.run(&args, None, &[])?;
        if !out.status.success() {
            return Err(git_err(&args, &out));
        }
        Ok(out.stdout)
    }

    /// Files changed between `from` and `to` (both commits).
    pub fn diff(&self, from: &str, to: &str) -> Result<Vec<FileChange>, Error> {
        let raw = self.ok(&["diff-tree", "-r", "-z", "--no-renames", "--raw", from, to])?;
        let mut changes = Vec::new();
        let mut it = raw.split('\0').filter(|s| !s.is_empty());
        while let (Some(meta), Some(path)) = (it.next(), it.next()) {
            let f: Vec<&str> = meta.trim_start_matches(':').split_whitespace().collect();
            if f.len() < 5 {
                continue;
            }
            let status = match f[4] {
                "A" => "added",
                "D" => "removed",
                "M" | "T" => "modified",
                _ => "changed",
            };
            changes.push(FileChange {
                status,
                path: path.to_owned(),
                sha: (status != "removed").then(|| f[3].to_owned()),
                additions: 0,
                deletions: 0,
            });
        }
        let num = self.ok(&[
            "diff-tree",
            "-r",
            "-z",
            "--no-renames",
            "--numstat",
            from,
            to,
        ])?;
        let garbled = |what: &str| Error::Git(format!("diff-tree --numstat printed {what:?}"));
        // A binary file has no line counts ("-"); GitHub counts it as 0.
        let lines = |n: &str| match n {
            "-" => Ok(0),
            n => n.parse().map_err(|_| garbled(n)),
        };
        for rec in num.split('\0').filter(|s| !s.is_empty()) {
            let mut f = rec.splitn(3, '\t');
            let (Some(a), Some(d), Some(p)) = (f.next(), f.next(), f.next()) else {
                return Err(garbled(rec));
            };
            if let Some(c) = changes.iter_mut().find(|c| c.path == p) {
                c.additions = lines(a)?;
                c.deletions = lines(d)?;
            }
        }
        Ok(changes)
    }
}

fn remove_path(files: &mut BTreeMap<String, (String, String)>, path: &str) {
    files.remove(path);
    let dir = format!("{path}/");
    files.retain(|k, _| !k.starts_with(&dir));
}

fn parse_person(v: &str) -> Option<Person> {
    let (name, rest) = v.split_once(" <")?;
    let (email, rest) = rest.split_once("> ")?;
    let time = rest.split_whitespace().next()?.parse().ok()?;
    Some(Person {
        name: name.to_owned(),
        email: email.to_owned(),
        time,
    })
}

/// Whether `s` looks like a full hex object id.
pub fn is_hex_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}
