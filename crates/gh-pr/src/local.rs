//! Local-git adapter: the forge over a repository on disk, through the `git` command line.
//!
//! - A proposal is built with a temporary index (`GIT_INDEX_FILE`), `hash-object`,
//!   `update-index --index-info`, `write-tree` and `commit-tree`: the user's index and work
//!   tree are never touched. The branch is moved with `update-ref <new> <old>` under the
//!   record lock: with the proposal's expected head as `<old>` (the zero oid for "absent"),
//!   a single compare-and-swap; a forced proposal retries with the value it read.
//! - A "pull request" is the branch plus a JSON record `<git-dir>/gitops/prs/<n>.json`;
//!   statuses, comments, reviews and deployments are JSON records under `<git-dir>/gitops/`.
//!   Every record change happens under the lock file `<git-dir>/gitops/lock`.
//! - A merge is a real merge: `merge-tree --write-tree` (conflicts are `NotMergeable`),
//!   `commit-tree` with two parents, then either `update-ref <base> <merge> <old>` or, when the
//!   base branch is checked out in the work tree, `merge --ff-only <merge>` so the work tree
//!   follows (git refuses when local changes would be overwritten: `Conflict`).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

pub(crate) mod revisions;

use crate::{
    BranchHead, Change, CheckContext, CombinedChecks, Comment, Deployment, DeploymentState,
    DeploymentStatus, Error, Forge, PairState, PrState, PullRequest, Requester, Result,
    StatusState, Tree, WorkflowRun, branch_name, has_marker, sticky_body, validate_deployment,
    validate_dispatch, validate_marker, validate_pair, validate_path, validate_repo, validate_sha,
};

const ZERO_OID: &str = "0000000000000000000000000000000000000000";

/// [`Forge`] and [`Requester`] over a local (non-bare) git repository.
#[derive(Debug, Clone)]
pub struct LocalGitForge {
    work_dir: PathBuf,
    git_dir: PathBuf,
    base: String,
    name: String,
    email: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PrRecord {
    number: u64,
    branch: String,
    base: String,
    title: String,
    body: String,
    state: PrState,
    closed_head: Option<String>,
    merge_sha: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Review {
    login: String,
    sha: String,
    approved: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct DeploymentRecord {
    deployment: Option<Deployment>,
    statuses: Vec<DeploymentStatus>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Dispatch {
    repo: String,
    event_type: String,
    client_payload: serde_json::Value,
}

struct Out {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

/// Removes the lock file when dropped.
struct LockGuard(PathBuf);

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim().to_owned()
}

fn check_ref_arg(git_ref: &str) -> Result<()> {
    if git_ref.is_empty()
        || git_ref.starts_with('-')
        || git_ref.contains(char::is_whitespace)
        || git_ref.contains("..")
        || git_ref.contains('\0')
    {
        return Err(Error::invalid("ref", format!("{git_ref:?} is not a ref")));
    }
    Ok(())
}

impl LocalGitForge {
    /// Open the repository whose work tree contains `repo_dir`. The base branch is the
    /// checked-out branch (unless it is a `gitops/` branch), else `main`.
    pub async fn open(repo_dir: impl AsRef<Path>) -> Result<Self> {
        let work_dir = repo_dir.as_ref().to_path_buf();
        let mut me = LocalGitForge {
            work_dir,
            git_dir: PathBuf::new(),
            base: "main".to_owned(),
            name: "gitops-bot".to_owned(),
            email: "gitops-bot@localhost".to_owned(),
        };
        let top = me
            .git_ok(&["rev-parse", "--show-toplevel"], None, &[])
            .await?;
        me.work_dir = PathBuf::from(text(&top));
        let dir = me
            .git_ok(
                &["rev-parse", "--path-format=absolute", "--git-common-dir"],
                None,
                &[],
            )
            .await?;
        me.git_dir = PathBuf::from(text(&dir));
        let head = me
            .git(&["symbolic-ref", "--quiet", "--short", "HEAD"], None, &[])
            .await?;
        let head = text(&head.stdout);
        if !head.is_empty() && !head.starts_with("gitops/") {
            me.base = head;
        }
        Ok(me)
    }

    /// Target another base branch.
    #[must_use]
    pub fn with_base_branch(mut self, base: &str) -> Self {
        base.clone_into(&mut self.base);
        self
    }

    /// Author and committer of the commits this forge creates.
    #[must_use]
    pub fn with_identity(mut self, name: &str, email: &str) -> Self {
        name.clone_into(&mut self.name);
        email.clone_into(&mut self.email);
        self
    }

    /// The work tree root.
    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    fn records(&self) -> PathBuf {
        self.git_dir.join("gitops")
    }

    async fn git(
        &self,
        args: &[&str],
        stdin: Option<Vec<u8>>,
        env: &[(&str, &OsStr)],
    ) -> Result<Out> {
        let mut cmd = Command::new("git");
        cmd.args(args)
            .current_dir(&self.work_dir)
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .env("GIT_AUTHOR_NAME", &self.name)
            .env("GIT_AUTHOR_EMAIL", &self.email)
            .env("GIT_COMMITTER_NAME", &self.name)
            .env("GIT_COMMITTER_EMAIL", &self.email)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|e| Error::Git {
            command: args.first().copied().unwrap_or("git").to_owned(),
            message: format!("cannot run git: {e}"),
        })?;
        let writer = match (stdin, child.stdin.take()) {
            (Some(data), Some(mut pipe)) => Some(tokio::spawn(async move {
                let r = pipe.write_all(&data).await;
                drop(pipe);
                r
            })),
            _ => None,
        };
        let out = child.wait_with_output().await?;
        if let Some(w) = writer {
            // A broken pipe only means git stopped reading; its exit status tells the rest.
            let _ = w.await;
        }
        Ok(Out {
            code: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: text(&out.stderr),
        })
    }

    async fn git_ok(
        &self,
        args: &[&str],
        stdin: Option<Vec<u8>>,
        env: &[(&str, &OsStr)],
    ) -> Result<Vec<u8>> {
        let out = self.git(args, stdin, env).await?;
        if out.code == 0 {
            Ok(out.stdout)
        } else {
            Err(Error::Git {
                command: args.first().copied().unwrap_or("git").to_owned(),
                message: out.stderr,
            })
        }
    }

    /// The commit `git_ref` names, or `None`.
    async fn rev(&self, git_ref: &str) -> Result<Option<String>> {
        check_ref_arg(git_ref)?;
        let spec = format!("{git_ref}^{{commit}}");
        let out = self
            .git(&["rev-parse", "--verify", "--quiet", &spec], None, &[])
            .await?;
        Ok((out.code == 0).then(|| text(&out.stdout)))
    }

    /// The content of `path` at `commit` when it is a file (a blob) there.
    async fn file_at(&self, commit: &str, path: &str) -> Result<Option<Vec<u8>>> {
        let out = self
            .git_ok(
                &["cat-file", "--batch"],
                Some(format!("{commit}:{path}\n").into_bytes()),
                &[],
            )
            .await?;
        let nl = out
            .iter()
            .position(|b| *b == b'\n')
            .ok_or_else(|| Error::Git {
                command: "cat-file".into(),
                message: "truncated output".into(),
            })?;
        let header = String::from_utf8_lossy(&out[..nl]).into_owned();
        let mut parts = header.split(' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(_), Some("blob"), Some(size)) => {
                let size: usize = size.parse().map_err(|_| Error::Git {
                    command: "cat-file".into(),
                    message: format!("unexpected header {header:?}"),
                })?;
                out.get(nl + 1..nl + 1 + size)
                    .map(|c| Some(c.to_vec()))
                    .ok_or_else(|| Error::Git {
                        command: "cat-file".into(),
                        message: "truncated blob".into(),
                    })
            }
            // `missing`, or a tree, symlink target or submodule: not a file.
            _ => Ok(None),
        }
    }

    async fn branch_head(&self, branch: &str) -> Result<Option<String>> {
        self.rev(&format!("refs/heads/{branch}")).await
    }

    async fn commit_exists(&self, sha: &str) -> Result<bool> {
        Ok(self.rev(sha).await?.as_deref() == Some(sha))
    }

    async fn checked_out_branch(&self) -> Result<Option<String>> {
        let out = self
            .git(&["symbolic-ref", "--quiet", "HEAD"], None, &[])
            .await?;
        Ok((out.code == 0).then(|| text(&out.stdout)))
    }

    // ---- records -------------------------------------------------------------------------

    async fn lock(&self) -> Result<LockGuard> {
        let dir = self.records();
        tokio::fs::create_dir_all(&dir).await?;
        let path = dir.join("lock");
        let deadline = SystemTime::now() + Duration::from_secs(30);
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(_) => return Ok(LockGuard(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    // A lock older than two minutes belongs to a dead process.
                    let stale = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > Duration::from_secs(120));
                    if stale {
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                    if SystemTime::now() > deadline {
                        return Err(Error::conflict(format!("lock {} is held", path.display())));
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn read_json<T: DeserializeOwned + Default>(&self, rel: &str) -> Result<T> {
        match tokio::fs::read(self.records().join(rel)).await {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::Git {
                command: "record".into(),
                message: format!("corrupt record {rel}: {e}"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
            Err(e) => Err(e.into()),
        }
    }

    async fn write_json<T: Serialize>(&self, rel: &str, value: &T) -> Result<()> {
        let path = self.records().join(rel);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::Git {
            command: "record".into(),
            message: e.to_string(),
        })?;
        tokio::fs::write(&tmp, bytes).await?;
        tokio::fs::rename(&tmp, &path).await?;
        Ok(())
    }

    /// Next value of a counter file (call under the lock).
    async fn next_counter(&self, name: &str, start: u64) -> Result<u64> {
        let n: Option<u64> = self.read_json(name).await?;
        let n = n.unwrap_or(start);
        self.write_json(name, &(n + 1)).await?;
        Ok(n)
    }

    async fn pr_record(&self, number: u64) -> Result<PrRecord> {
        let rec: Option<PrRecord> = self.read_json(&format!("prs/{number}.json")).await?;
        rec.ok_or_else(|| Error::not_found(format!("pull request #{number}")))
    }

    async fn all_prs(&self) -> Result<Vec<PrRecord>> {
        let dir = self.records().join("prs");
        let mut out = Vec::new();
        let mut rd = match tokio::fs::read_dir(&dir).await {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e.into()),
        };
        while let Some(entry) = rd.next_entry().await? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(n) = name
                .strip_suffix(".json")
                .and_then(|n| n.parse::<u64>().ok())
            {
                out.push(self.pr_record(n).await?);
            }
        }
        out.sort_by_key(|p| p.number);
        Ok(out)
    }

    async fn head_of(&self, rec: &PrRecord) -> Result<String> {
        if let Some(h) = &rec.closed_head {
            return Ok(h.clone());
        }
        self.branch_head(&rec.branch)
            .await?
            .ok_or_else(|| Error::not_found(format!("branch {}", rec.branch)))
    }

    /// Tree of merging `theirs` into `ours`; `Err(NotMergeable)` on conflicts.
    async fn merge_tree(&self, ours: &str, theirs: &str) -> Result<String> {
        let out = self
            .git(
                &[
                    "merge-tree",
                    "--write-tree",
                    "--name-only",
                    "--no-messages",
                    ours,
                    theirs,
                ],
                None,
                &[],
            )
            .await?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        match out.code {
            0 => Ok(stdout.lines().next().unwrap_or_default().trim().to_owned()),
            1 => {
                let files: Vec<&str> = stdout.lines().skip(1).filter(|l| !l.is_empty()).collect();
                Err(Error::NotMergeable {
                    reason: format!("content conflict in {}", files.join(", ")),
                })
            }
            _ => Err(Error::Git {
                command: "merge-tree".into(),
                message: out.stderr,
            }),
        }
    }

    async fn view(&self, rec: &PrRecord) -> Result<PullRequest> {
        let head_sha = self.head_of(rec).await?;
        let mergeable = if rec.state == PrState::Open {
            match self.branch_head(&rec.base).await? {
                Some(base) => Some(self.merge_tree(&base, &head_sha).await.is_ok()),
                None => None,
            }
        } else {
            None
        };
        Ok(PullRequest {
            number: rec.number,
            branch: rec.branch.clone(),
            base: rec.base.clone(),
            head_sha,
            state: rec.state,
            mergeable,
            url: format!("file://{}#pr-{}", self.work_dir.display(), rec.number),
            title: rec.title.clone(),
            body: rec.body.clone(),
            merge_sha: rec.merge_sha.clone(),
        })
    }

    /// Record a review of the PR's current head (the `gitops` binary exposes this as a
    /// command so the `approval: required` path works without GitHub).
    pub async fn record_review(&self, number: u64, login: &str, approved: bool) -> Result<()> {
        if login.is_empty() || login.len() > 100 || login.contains(char::is_whitespace) {
            return Err(Error::invalid("login", "1..=100 characters, no spaces"));
        }
        let _lock = self.lock().await?;
        let rec = self.pr_record(number).await?;
        if rec.state != PrState::Open {
            return Err(Error::conflict(format!(
                "pull request #{number} is not open"
            )));
        }
        let sha = self.head_of(&rec).await?;
        let rel = format!("reviews/{number}.json");
        let mut reviews: Vec<Review> = self.read_json(&rel).await?;
        reviews.push(Review {
            login: login.to_owned(),
            sha,
            approved,
        });
        self.write_json(&rel, &reviews).await
    }

    /// Record an approving review of the PR's current head.
    pub async fn record_approval(&self, number: u64, login: &str) -> Result<()> {
        self.record_review(number, login, true).await
    }

    /// Every `repository_dispatch` sent through this forge: (repo, event type, payload).
    pub async fn dispatches(&self) -> Result<Vec<(String, String, serde_json::Value)>> {
        let v: Vec<Dispatch> = self.read_json("dispatches.json").await?;
        Ok(v.into_iter()
            .map(|d| (d.repo, d.event_type, d.client_payload))
            .collect())
    }

    async fn build_commit(&self, change: &Change, base_sha: &str) -> Result<String> {
        let tmp_dir = self.records().join("tmp");
        tokio::fs::create_dir_all(&tmp_dir).await?;
        let index = tmp_dir.join(format!(
            "index-{}-{}",
            std::process::id(),
            retry_free_unique()
        ));
        let result = self.build_commit_with_index(change, base_sha, &index).await;
        let _ = tokio::fs::remove_file(&index).await;
        result
    }

    async fn build_commit_with_index(
        &self,
        change: &Change,
        base_sha: &str,
        index: &Path,
    ) -> Result<String> {
        let env = [("GIT_INDEX_FILE", index.as_os_str())];
        self.git_ok(&["read-tree", base_sha], None, &env).await?;
        let mut info = String::new();
        for w in &change.writes {
            match &w.content {
                Some(c) => {
                    let sha = self
                        .git_ok(&["hash-object", "-w", "--stdin"], Some(c.clone()), &[])
                        .await?;
                    let _ = writeln!(info, "100644 {}\t{}", text(&sha), w.path);
                }
                None => {
                    let _ = writeln!(info, "0 {ZERO_OID}\t{}", w.path);
                }
            }
        }
        self.git_ok(
            &["update-index", "--index-info"],
            Some(info.into_bytes()),
            &env,
        )
        .await?;
        let tree = text(&self.git_ok(&["write-tree"], None, &env).await?);
        let message = format!("{}\n\n{}\n", change.title, change.body);
        let commit = self
            .git_ok(
                &[
                    "commit-tree",
                    "--no-gpg-sign",
                    "-p",
                    base_sha,
                    "-F",
                    "-",
                    &tree,
                ],
                Some(message.into_bytes()),
                &[],
            )
            .await?;
        Ok(text(&commit))
    }

    /// `update-ref` with the expected old value; false when someone else moved the ref.
    async fn cas_ref(
        &self,
        full_ref: &str,
        new: &str,
        old: Option<&str>,
        why: &str,
    ) -> Result<bool> {
        let out = self
            .git(
                &[
                    "update-ref",
                    "-m",
                    why,
                    full_ref,
                    new,
                    old.unwrap_or(ZERO_OID),
                ],
                None,
                &[],
            )
            .await?;
        Ok(out.code == 0)
    }
}

/// A process-unique token for temporary file names.
pub(crate) fn retry_free_unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[async_trait]
impl Forge for LocalGitForge {
    fn base_branch(&self) -> &str {
        &self.base
    }

    async fn read_tree(&self, git_ref: &str) -> Result<Tree> {
        let commit = self
            .rev(git_ref)
            .await?
            .ok_or_else(|| Error::not_found(format!("ref {git_ref}")))?;
        let listing = self
            .git_ok(&["ls-tree", "-r", "-z", "--full-tree", &commit], None, &[])
            .await?;
        let mut entries = Vec::new();
        for item in listing.split(|b| *b == 0).filter(|i| !i.is_empty()) {
            let item = String::from_utf8_lossy(item);
            let Some((meta, path)) = item.split_once('\t') else {
                continue;
            };
            let parts: Vec<&str> = meta.split(' ').collect();
            if let [mode, "blob", sha] = parts[..]
                && (mode == "100644" || mode == "100755")
            {
                entries.push((path.to_owned(), sha.to_owned()));
            }
        }
        let mut files = BTreeMap::new();
        if entries.is_empty() {
            return Ok(Tree {
                commit_sha: commit,
                files,
            });
        }
        let mut input = String::new();
        for (_, sha) in &entries {
            let _ = writeln!(input, "{sha}");
        }
        let out = self
            .git_ok(&["cat-file", "--batch"], Some(input.into_bytes()), &[])
            .await?;
        let mut rest = &out[..];
        for (path, sha) in entries {
            let nl = rest
                .iter()
                .position(|b| *b == b'\n')
                .ok_or_else(|| Error::Git {
                    command: "cat-file".into(),
                    message: "truncated output".into(),
                })?;
            let header = String::from_utf8_lossy(&rest[..nl]).into_owned();
            let size: usize = header
                .rsplit(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .filter(|_| header.starts_with(&sha))
                .ok_or_else(|| Error::Git {
                    command: "cat-file".into(),
                    message: format!("unexpected header {header:?}"),
                })?;
            let start = nl + 1;
            let content = rest.get(start..start + size).ok_or_else(|| Error::Git {
                command: "cat-file".into(),
                message: "truncated blob".into(),
            })?;
            files.insert(path, content.to_vec());
            rest = rest.get(start + size + 1..).unwrap_or_default();
        }
        Ok(Tree {
            commit_sha: commit,
            files,
        })
    }

    async fn pair_state(
        &self,
        environment: &str,
        mfe: &str,
        path: &str,
        _exact: bool,
    ) -> Result<PairState> {
        validate_pair(environment, mfe)?;
        validate_path(path)?;
        let branch = branch_name(environment, mfe);
        // Under the lock: a proposal moves the branch and writes its PR record together.
        let _lock = self.lock().await?;
        let Some(head) = self.branch_head(&branch).await? else {
            return Ok(PairState {
                expected: BranchHead::Absent,
                pull_request: None,
                pending: None,
            });
        };
        let prs: Vec<PrRecord> = self
            .all_prs()
            .await?
            .into_iter()
            .filter(|p| p.branch == branch)
            .collect();
        let open = prs.iter().rev().find(|p| p.state == PrState::Open);
        let pull_request = match open {
            Some(rec) => Some(self.view(rec).await?),
            None => None,
        };
        // Exact: pending unless the head is a merged or closed PR's head (unknown = pending).
        let settled = open.is_none()
            && prs
                .iter()
                .any(|p| p.closed_head.as_deref() == Some(head.as_str()));
        let pending = if settled {
            None
        } else {
            self.file_at(&head, path).await?
        };
        Ok(PairState {
            expected: BranchHead::At(head),
            pull_request,
            pending,
        })
    }

    async fn propose(&self, change: &Change) -> Result<PullRequest> {
        change.validate()?;
        let branch = change.branch();
        let full_ref = format!("refs/heads/{branch}");
        if self.checked_out_branch().await?.as_deref() == Some(full_ref.as_str()) {
            return Err(Error::conflict(format!(
                "{branch} is checked out in the work tree"
            )));
        }
        let base_sha = match &change.base_sha {
            Some(sha) => {
                if !self.commit_exists(sha).await? {
                    return Err(Error::not_found(format!("base commit {sha}")));
                }
                sha.clone()
            }
            None => self
                .branch_head(&self.base)
                .await?
                .ok_or_else(|| Error::not_found(format!("base branch {}", self.base)))?,
        };
        if let Some(tree) = &change.base_tree_sha {
            let actual = text(
                &self
                    .git_ok(&["rev-parse", &format!("{base_sha}^{{tree}}")], None, &[])
                    .await?,
            );
            if &actual != tree {
                return Err(Error::invalid(
                    "base_tree_sha",
                    format!("tree of {base_sha} is {actual}"),
                ));
            }
        }
        let head = self.build_commit(change, &base_sha).await?;
        // The branch move and the record update happen under the lock, so the PR's title and
        // body always describe the commit the branch holds, and a merge never interleaves.
        let _lock = self.lock().await?;
        if let Some(n) = change.pull_request
            && self.pr_record(n).await?.branch != branch
        {
            return Err(Error::invalid(
                "pull_request",
                format!("#{n} is not the pull request of {branch}"),
            ));
        }
        if let Some(expected) = &change.expected {
            // Compare-and-swap on exactly the head the caller judged.
            let old = match expected {
                BranchHead::Absent => None,
                BranchHead::At(h) => Some(h.as_str()),
            };
            if !self
                .cas_ref(
                    &full_ref,
                    &head,
                    old,
                    &format!("gitops: propose {}", change.title),
                )
                .await?
            {
                let actual = self.branch_head(&branch).await?;
                return Err(Error::conflict(format!(
                    "branch {branch} moved: expected {}, found {}",
                    old.unwrap_or("no branch"),
                    actual.as_deref().unwrap_or("no branch")
                )));
            }
        } else {
            // Forced: compare-and-swap on the value read, so each round replaces exactly
            // that (another tool may move the ref without our lock).
            let mut moved = false;
            for _ in 0..20 {
                let old = self.branch_head(&branch).await?;
                if self
                    .cas_ref(
                        &full_ref,
                        &head,
                        old.as_deref(),
                        &format!("gitops: propose {}", change.title),
                    )
                    .await?
                {
                    moved = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            if !moved {
                return Err(Error::conflict(format!("branch {branch} keeps changing")));
            }
        }

        let existing = self
            .all_prs()
            .await?
            .into_iter()
            .find(|p| p.branch == branch && p.state == PrState::Open);
        let rec = match existing {
            Some(mut rec) => {
                rec.title.clone_from(&change.title);
                rec.body.clone_from(&change.body);
                rec
            }
            None => PrRecord {
                number: self.next_counter("next-pr.json", 1).await?,
                branch,
                base: self.base.clone(),
                title: change.title.clone(),
                body: change.body.clone(),
                state: PrState::Open,
                closed_head: None,
                merge_sha: None,
            },
        };
        self.write_json(&format!("prs/{}.json", rec.number), &rec)
            .await?;
        let mut view = self.view(&rec).await?;
        view.head_sha = head;
        Ok(view)
    }

    async fn pull_request(&self, number: u64) -> Result<PullRequest> {
        let rec = self.pr_record(number).await?;
        self.view(&rec).await
    }

    async fn open_pull_requests(&self) -> Result<Vec<PullRequest>> {
        let mut out = Vec::new();
        for rec in self.all_prs().await? {
            if rec.state == PrState::Open {
                out.push(self.view(&rec).await?);
            }
        }
        Ok(out)
    }

    async fn changed_files(&self, number: u64) -> Result<Vec<String>> {
        let rec = self.pr_record(number).await?;
        let head = self.head_of(&rec).await?;
        let range = if rec.state == PrState::Open {
            let base = self
                .branch_head(&rec.base)
                .await?
                .ok_or_else(|| Error::not_found(format!("base branch {}", rec.base)))?;
            format!("{base}...{head}")
        } else {
            format!("{head}^1..{head}")
        };
        let out = self
            .git_ok(
                &["diff", "--no-renames", "--name-only", "-z", &range],
                None,
                &[],
            )
            .await?;
        let mut v: Vec<String> = out
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        v.sort();
        Ok(v)
    }

    async fn approvals(&self, number: u64) -> Result<Vec<String>> {
        let rec = self.pr_record(number).await?;
        let head = self.head_of(&rec).await?;
        let reviews: Vec<Review> = self.read_json(&format!("reviews/{number}.json")).await?;
        let mut latest = BTreeMap::new();
        for r in reviews {
            latest.insert(r.login, r.approved && r.sha == head);
        }
        Ok(latest
            .into_iter()
            .filter(|(_, ok)| *ok)
            .map(|(l, _)| l)
            .collect())
    }

    async fn combined_checks(&self, sha: &str) -> Result<CombinedChecks> {
        validate_sha("sha", sha)?;
        if !self.commit_exists(sha).await? {
            return Err(Error::not_found(format!("commit {sha}")));
        }
        let all: Vec<CheckContext> = self.read_json(&format!("statuses/{sha}.json")).await?;
        Ok(CombinedChecks::fold_history(sha, all))
    }

    async fn set_status(
        &self,
        sha: &str,
        context: &str,
        state: StatusState,
        description: &str,
        target_url: Option<&str>,
    ) -> Result<()> {
        validate_sha("sha", sha)?;
        if context.is_empty() {
            return Err(Error::invalid("context", "must not be empty"));
        }
        if !self.commit_exists(sha).await? {
            return Err(Error::invalid(
                "sha",
                format!("no commit found for SHA: {sha}"),
            ));
        }
        let _lock = self.lock().await?;
        let rel = format!("statuses/{sha}.json");
        let mut all: Vec<CheckContext> = self.read_json(&rel).await?;
        all.push(CheckContext {
            name: context.to_owned(),
            state: state.into(),
            description: Some(description.to_owned()),
            target_url: target_url.map(str::to_owned),
        });
        self.write_json(&rel, &all).await
    }

    async fn merge(&self, number: u64, expected_head_sha: &str) -> Result<String> {
        validate_sha("expected_head_sha", expected_head_sha)?;
        let _lock = self.lock().await?;
        let mut rec = self.pr_record(number).await?;
        if rec.state != PrState::Open {
            return Err(Error::conflict(format!(
                "pull request #{number} is not open"
            )));
        }
        let head = self.head_of(&rec).await?;
        if head != expected_head_sha {
            return Err(Error::conflict(format!(
                "head of #{number} is {head}, expected {expected_head_sha}"
            )));
        }
        let base_ref = format!("refs/heads/{}", rec.base);
        let mut merged = None;
        for _ in 0..20 {
            let base_head = self
                .branch_head(&rec.base)
                .await?
                .ok_or_else(|| Error::not_found(format!("base branch {}", rec.base)))?;
            let tree = self.merge_tree(&base_head, &head).await?;
            let message = format!(
                "Merge pull request #{number} from {}\n\n{}\n",
                rec.branch, rec.title
            );
            let commit = text(
                &self
                    .git_ok(
                        &[
                            "commit-tree",
                            "--no-gpg-sign",
                            "-p",
                            &base_head,
                            "-p",
                            &head,
                            "-F",
                            "-",
                            &tree,
                        ],
                        Some(message.into_bytes()),
                        &[],
                    )
                    .await?,
            );
            if self.checked_out_branch().await?.as_deref() == Some(base_ref.as_str()) {
                // Move the branch with the work tree: git refuses if local changes would be lost.
                let out = self
                    .git(
                        &["merge", "--ff-only", "--no-stat", "--quiet", &commit],
                        None,
                        &[],
                    )
                    .await?;
                if out.code == 0 {
                    merged = Some(commit);
                    break;
                }
                if self.branch_head(&rec.base).await?.as_deref() == Some(base_head.as_str()) {
                    return Err(Error::conflict(format!(
                        "cannot update the checked-out {}: {}",
                        rec.base, out.stderr
                    )));
                }
            } else if self
                .cas_ref(
                    &base_ref,
                    &commit,
                    Some(&base_head),
                    &format!("gitops: merge #{number}"),
                )
                .await?
            {
                merged = Some(commit);
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let merged =
            merged.ok_or_else(|| Error::conflict(format!("{} keeps changing", rec.base)))?;
        rec.state = PrState::Merged;
        rec.closed_head = Some(head);
        rec.merge_sha = Some(merged.clone());
        self.write_json(&format!("prs/{number}.json"), &rec).await?;
        Ok(merged)
    }

    async fn upsert_comment(&self, number: u64, marker: &str, body: &str) -> Result<u64> {
        validate_marker(marker)?;
        let _lock = self.lock().await?;
        self.pr_record(number).await?;
        let rel = format!("comments/{number}.json");
        let mut all: Vec<Comment> = self.read_json(&rel).await?;
        let full = sticky_body(marker, body);
        let id = if let Some(c) = all.iter_mut().find(|c| has_marker(&c.body, marker)) {
            c.body = full;
            c.id
        } else {
            let id = self.next_counter("next-id.json", 1).await?;
            all.push(Comment { id, body: full });
            id
        };
        self.write_json(&rel, &all).await?;
        Ok(id)
    }

    async fn comments(&self, number: u64) -> Result<Vec<Comment>> {
        self.pr_record(number).await?;
        self.read_json(&format!("comments/{number}.json")).await
    }
}

fn deployments_rel(repo: &str) -> String {
    format!("deployments/{}.json", repo.replace('/', "__"))
}

#[async_trait]
impl Requester for LocalGitForge {
    async fn create_deployment(
        &self,
        repo: &str,
        sha: &str,
        environment: &str,
        payload: &serde_json::Value,
        description: &str,
    ) -> Result<u64> {
        validate_repo(repo)?;
        validate_deployment(sha, environment, payload)?;
        let _lock = self.lock().await?;
        let id = self.next_counter("next-id.json", 1).await?;
        let rel = deployments_rel(repo);
        let mut all: Vec<DeploymentRecord> = self.read_json(&rel).await?;
        all.push(DeploymentRecord {
            deployment: Some(Deployment {
                id,
                sha: sha.to_owned(),
                environment: environment.to_owned(),
                description: Some(description.to_owned()),
                payload: payload.clone(),
            }),
            statuses: vec![],
        });
        self.write_json(&rel, &all).await?;
        Ok(id)
    }

    async fn create_deployment_status(
        &self,
        repo: &str,
        deployment_id: u64,
        state: DeploymentState,
        description: &str,
        log_url: Option<&str>,
        environment_url: Option<&str>,
    ) -> Result<()> {
        validate_repo(repo)?;
        let _lock = self.lock().await?;
        let rel = deployments_rel(repo);
        let mut all: Vec<DeploymentRecord> = self.read_json(&rel).await?;
        let idx = all
            .iter()
            .position(|r| r.deployment.as_ref().is_some_and(|d| d.id == deployment_id))
            .ok_or_else(|| Error::not_found(format!("deployment {deployment_id} in {repo}")))?;
        let id = self.next_counter("next-id.json", 1).await?;
        all[idx].statuses.push(DeploymentStatus {
            id,
            state,
            description: Some(description.to_owned()),
            log_url: log_url.map(str::to_owned),
            environment_url: environment_url.map(str::to_owned),
        });
        self.write_json(&rel, &all).await
    }

    async fn list_deployments(
        &self,
        repo: &str,
        sha: &str,
        environment: &str,
    ) -> Result<Vec<Deployment>> {
        validate_repo(repo)?;
        let all: Vec<DeploymentRecord> = self.read_json(&deployments_rel(repo)).await?;
        let mut v: Vec<Deployment> = all
            .into_iter()
            .filter_map(|r| r.deployment)
            .filter(|d| d.sha == sha && d.environment == environment)
            .collect();
        v.reverse();
        Ok(v)
    }

    async fn deployment_statuses(
        &self,
        repo: &str,
        deployment_id: u64,
    ) -> Result<Vec<DeploymentStatus>> {
        validate_repo(repo)?;
        let all: Vec<DeploymentRecord> = self.read_json(&deployments_rel(repo)).await?;
        let rec = all
            .into_iter()
            .find(|r| r.deployment.as_ref().is_some_and(|d| d.id == deployment_id))
            .ok_or_else(|| Error::not_found(format!("deployment {deployment_id} in {repo}")))?;
        let mut v = rec.statuses;
        v.reverse();
        Ok(v)
    }

    async fn dispatch(
        &self,
        repo: &str,
        event_type: &str,
        client_payload: &serde_json::Value,
    ) -> Result<()> {
        validate_repo(repo)?;
        validate_dispatch(event_type, client_payload)?;
        let _lock = self.lock().await?;
        let mut all: Vec<Dispatch> = self.read_json("dispatches.json").await?;
        all.push(Dispatch {
            repo: repo.to_owned(),
            event_type: event_type.to_owned(),
            client_payload: client_payload.clone(),
        });
        self.write_json("dispatches.json", &all).await
    }

    /// Locally nothing runs workflows: always `Ok(None)` (dispatches are recorded, see
    /// [`LocalGitForge::dispatches`]).
    async fn find_workflow_run(
        &self,
        repo: &str,
        _correlation_id: &str,
    ) -> Result<Option<WorkflowRun>> {
        validate_repo(repo)?;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_args_are_checked() {
        assert!(check_ref_arg("main").is_ok());
        assert!(check_ref_arg("gitops/prod/a").is_ok());
        assert!(check_ref_arg("--upload-pack=x").is_err());
        assert!(check_ref_arg("a..b").is_err());
        assert!(check_ref_arg("").is_err());
    }
}
