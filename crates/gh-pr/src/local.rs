//! Local-git adapter: the forge over a repository on disk, through the `git` command line
//! (`tokio::process`, bounded in time and output: [`git`]).
//!
//! - A proposal is built with a temporary index (`GIT_INDEX_FILE`), `hash-object`,
//!   `update-index --index-info`, `write-tree` and `commit-tree`: the user's index and work
//!   tree are never touched. The branch is moved with `update-ref <new> <old>` under the
//!   record lock: with the proposal's expected head as `<old>` (the zero oid for "absent"),
//!   a single compare-and-swap; a forced proposal retries with the value it read.
//! - A "pull request" is the branch plus a JSON record `<git-dir>/gitops/prs/<n>.json`;
//!   statuses, comments, reviews and deployments are JSON records under `<git-dir>/gitops/`
//!   ([`records`], [`requester`]). Every record change happens under an OS lock on
//!   `<git-dir>/gitops/lock`, taken without blocking the runtime.
//! - A merge is a real merge: `merge-tree --write-tree` (conflicts are `NotMergeable`),
//!   `commit-tree` with two parents, then either `update-ref <base> <merge> <old>` or, when the
//!   base branch is checked out in the work tree, `merge --ff-only <merge>` so the work tree
//!   follows (git refuses when local changes would be overwritten: `Conflict`).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use gitops_event_model::{CommitSha, Login};

mod git;
mod records;
mod requester;
pub(crate) mod revisions;

use records::{PrRecord, ReviewRecord};

use crate::{
    BranchHead, Change, CheckContext, CombinedChecks, Comment, Error, Forge, PairState, PrState,
    PullRequest, Result, Review, ReviewState, StatusState, Tree, has_marker, not_the_base,
    sticky_body, validate_branch, validate_context, validate_description, validate_marker,
    validate_path,
};

const ZERO_OID: &str = "0000000000000000000000000000000000000000";
/// Largest output of one git command of the forge (`cat-file --batch` of a whole tree).
const MAX_GIT_OUTPUT: usize = 256 * 1024 * 1024;

/// [`Forge`] and [`crate::Requester`] over a local (non-bare) git repository.
#[derive(Debug, Clone)]
pub struct LocalGitForge {
    work_dir: PathBuf,
    git_dir: PathBuf,
    base: String,
    name: String,
    email: String,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim().to_owned()
}

/// The commit id `command` printed.
fn oid(command: &str, out: &[u8]) -> Result<CommitSha> {
    CommitSha::parse(&text(out)).map_err(|e| Error::Git {
        command: command.to_owned(),
        message: format!("printed what is not an object id: {e}"),
    })
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
    /// checked-out branch (unless it is a pair's `gitops/` or a promotion's `gitops-promote/`
    /// branch), else `main`.
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
        if !head.is_empty()
            && !head.starts_with(crate::BRANCH_PREFIX)
            && !head.starts_with(crate::PROMOTION_PREFIX)
            && !head.starts_with(crate::BATCH_PREFIX)
        {
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

    async fn git(
        &self,
        args: &[&str],
        stdin: Option<Vec<u8>>,
        env: &[(&str, &OsStr)],
    ) -> Result<git::Output> {
        let identity: [(&str, &OsStr); 4] = [
            ("GIT_AUTHOR_NAME", OsStr::new(&self.name)),
            ("GIT_AUTHOR_EMAIL", OsStr::new(&self.email)),
            ("GIT_COMMITTER_NAME", OsStr::new(&self.name)),
            ("GIT_COMMITTER_EMAIL", OsStr::new(&self.email)),
        ];
        let all: Vec<(&str, &OsStr)> = identity.iter().chain(env).copied().collect();
        git::run(&self.work_dir, args, stdin, &all, MAX_GIT_OUTPUT).await
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
                command: git::subcommand(args).to_owned(),
                message: out.stderr,
            })
        }
    }

    /// The commit `git_ref` names, or `None`.
    async fn rev(&self, git_ref: &str) -> Result<Option<CommitSha>> {
        check_ref_arg(git_ref)?;
        let spec = format!("{git_ref}^{{commit}}");
        let out = self
            .git(&["rev-parse", "--verify", "--quiet", &spec], None, &[])
            .await?;
        if out.code == 0 {
            oid("rev-parse", &out.stdout).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The content of `path` at `commit` when it is a file (a blob) there.
    async fn file_at(&self, commit: &CommitSha, path: &str) -> Result<Option<Vec<u8>>> {
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

    async fn branch_head(&self, branch: &str) -> Result<Option<CommitSha>> {
        self.rev(&format!("refs/heads/{branch}")).await
    }

    async fn commit_exists(&self, sha: &CommitSha) -> Result<bool> {
        Ok(self.rev(sha.as_str()).await?.as_ref() == Some(sha))
    }

    async fn checked_out_branch(&self) -> Result<Option<String>> {
        let out = self
            .git(&["symbolic-ref", "--quiet", "HEAD"], None, &[])
            .await?;
        Ok((out.code == 0).then(|| text(&out.stdout)))
    }

    async fn head_of(&self, rec: &PrRecord) -> Result<CommitSha> {
        if let Some(h) = &rec.closed_head {
            return Ok(h.clone());
        }
        self.branch_head(&rec.branch)
            .await?
            .ok_or_else(|| Error::not_found(format!("branch {}", rec.branch)))
    }

    /// Tree of merging `theirs` into `ours`; `Err(NotMergeable)` on conflicts.
    async fn merge_tree(&self, ours: &CommitSha, theirs: &CommitSha) -> Result<CommitSha> {
        let out = self
            .git(
                &[
                    "merge-tree",
                    "--write-tree",
                    "--name-only",
                    "--no-messages",
                    ours.as_str(),
                    theirs.as_str(),
                ],
                None,
                &[],
            )
            .await?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = stdout.lines();
        match out.code {
            0 => oid("merge-tree", lines.next().unwrap_or("").as_bytes()),
            1 => {
                let files: Vec<&str> = lines.skip(1).filter(|l| !l.is_empty()).collect();
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
    /// command so the `approval: required` path works without GitHub): an approval, or a
    /// change request that cancels the login's earlier approval.
    pub async fn record_review(&self, number: u64, login: &Login, approved: bool) -> Result<()> {
        let _lock = self.lock().await?;
        let rec = self.pr_record(number).await?;
        if rec.state != PrState::Open {
            return Err(Error::conflict(format!(
                "pull request #{number} is not open"
            )));
        }
        let sha = self.head_of(&rec).await?;
        let rel = format!("reviews/{number}.json");
        let mut reviews: Vec<ReviewRecord> = self.read_json(&rel).await?;
        reviews.push(ReviewRecord {
            login: login.clone(),
            sha,
            approved,
        });
        self.write_json(&rel, &reviews).await
    }

    /// Record an approving review of the PR's current head.
    pub async fn record_approval(&self, number: u64, login: &Login) -> Result<()> {
        self.record_review(number, login, true).await
    }

    async fn build_commit(&self, change: &Change, base_sha: &CommitSha) -> Result<CommitSha> {
        let tmp_dir = self.records().join("tmp");
        tokio::fs::create_dir_all(&tmp_dir).await?;
        let index = tmp_dir.join(format!("index-{}-{}", std::process::id(), unique()));
        let result = self.build_commit_with_index(change, base_sha, &index).await;
        let _ = tokio::fs::remove_file(&index).await;
        result
    }

    async fn build_commit_with_index(
        &self,
        change: &Change,
        base_sha: &CommitSha,
        index: &Path,
    ) -> Result<CommitSha> {
        let env = [("GIT_INDEX_FILE", index.as_os_str())];
        self.git_ok(&["read-tree", base_sha.as_str()], None, &env)
            .await?;
        let mut info = String::new();
        for w in &change.writes {
            match &w.content {
                Some(c) => {
                    let sha = self
                        .git_ok(&["hash-object", "-w", "--stdin"], Some(c.clone()), &[])
                        .await?;
                    let _ = writeln!(info, "100644 {}\t{}", oid("hash-object", &sha)?, w.path);
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
        let tree = oid(
            "write-tree",
            &self.git_ok(&["write-tree"], None, &env).await?,
        )?;
        let message = format!("{}\n\n{}\n", change.title, change.body);
        let commit = self
            .git_ok(
                &[
                    "commit-tree",
                    "--no-gpg-sign",
                    "-p",
                    base_sha.as_str(),
                    "-F",
                    "-",
                    tree.as_str(),
                ],
                Some(message.into_bytes()),
                &[],
            )
            .await?;
        oid("commit-tree", &commit)
    }

    /// `update-ref` with the expected old value; false when someone else moved the ref.
    async fn cas_ref(
        &self,
        full_ref: &str,
        new: &CommitSha,
        old: Option<&CommitSha>,
        why: &str,
    ) -> Result<bool> {
        let out = self
            .git(
                &[
                    "update-ref",
                    "-m",
                    why,
                    full_ref,
                    new.as_str(),
                    old.map_or(ZERO_OID, CommitSha::as_str),
                ],
                None,
                &[],
            )
            .await?;
        Ok(out.code == 0)
    }
}

/// A process-unique token for temporary file names.
fn unique() -> u64 {
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
            .git_ok(
                &["ls-tree", "-r", "-z", "--full-tree", commit.as_str()],
                None,
                &[],
            )
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
        let truncated = || Error::Git {
            command: "cat-file".into(),
            message: "truncated output".into(),
        };
        let mut rest = &out[..];
        for (path, sha) in entries {
            let nl = rest
                .iter()
                .position(|b| *b == b'\n')
                .ok_or_else(truncated)?;
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
            let content = rest.get(start..start + size).ok_or_else(truncated)?;
            files.insert(path, content.to_vec());
            // Each blob is followed by a newline; the last one may end the output.
            rest = rest.get(start + size + 1..).unwrap_or(&[]);
        }
        Ok(Tree {
            commit_sha: commit,
            files,
        })
    }

    async fn branch_state(
        &self,
        branch: &str,
        path: Option<&str>,
        _exact: bool,
    ) -> Result<PairState> {
        validate_branch(branch)?;
        if let Some(path) = path {
            validate_path(path)?;
        }
        // Under the lock: a proposal moves the branch and writes its PR record together.
        let _lock = self.lock().await?;
        let Some(head) = self.branch_head(branch).await? else {
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
        let settled = open.is_none() && prs.iter().any(|p| p.closed_head.as_ref() == Some(&head));
        let pending = match path {
            Some(path) if !settled => self.file_at(&head, path).await?,
            _ => None,
        };
        Ok(PairState {
            expected: BranchHead::At(head),
            pull_request,
            pending,
        })
    }

    async fn propose(&self, change: &Change) -> Result<PullRequest> {
        change.validate()?;
        not_the_base(change.branch(), &self.base)?;
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
            if actual != tree.as_str() {
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
        let why = format!("gitops: propose {}", change.title);
        if let Some(expected) = &change.expected {
            // Compare-and-swap on exactly the head the caller judged.
            let old = match expected {
                BranchHead::Absent => None,
                BranchHead::At(h) => Some(h),
            };
            if !self.cas_ref(&full_ref, &head, old, &why).await? {
                let actual = self.branch_head(branch).await?;
                return Err(Error::conflict(format!(
                    "branch {branch} moved: expected {}, found {}",
                    old.map_or("no branch", CommitSha::as_str),
                    actual.as_ref().map_or("no branch", CommitSha::as_str)
                )));
            }
        } else {
            // Forced: compare-and-swap on the value read, so each round replaces exactly
            // that (another tool may move the ref without our lock).
            let mut moved = false;
            for _ in 0..20 {
                let old = self.branch_head(branch).await?;
                if self.cas_ref(&full_ref, &head, old.as_ref(), &why).await? {
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
                if !change.keep_description {
                    rec.title.clone_from(&change.title);
                    rec.body.clone_from(&change.body);
                }
                rec
            }
            None => PrRecord {
                number: self.next_counter("next-pr.json", 1).await?,
                branch: branch.to_owned(),
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

    async fn approvals(&self, number: u64) -> Result<Vec<Login>> {
        let rec = self.pr_record(number).await?;
        let head = self.head_of(&rec).await?;
        let reviews: Vec<ReviewRecord> = self.read_json(&format!("reviews/{number}.json")).await?;
        Ok(Review::approvals(
            &head,
            reviews.into_iter().map(|r| Review {
                login: r.login,
                commit: Some(r.sha),
                state: if r.approved {
                    ReviewState::Approved
                } else {
                    ReviewState::ChangesRequested
                },
            }),
        ))
    }

    /// A local repository has no accounts: whoever can write its records (`gitops approve`)
    /// can push to it too, so every login has write access.
    async fn has_write_access(&self, _login: &Login) -> Result<bool> {
        Ok(true)
    }

    async fn combined_checks(&self, sha: &CommitSha) -> Result<CombinedChecks> {
        if !self.commit_exists(sha).await? {
            return Err(Error::not_found(format!("commit {sha}")));
        }
        let all: Vec<CheckContext> = self.read_json(&format!("statuses/{sha}.json")).await?;
        Ok(CombinedChecks::fold_history(sha.clone(), all))
    }

    async fn set_status(
        &self,
        sha: &CommitSha,
        context: &str,
        state: StatusState,
        description: &str,
        target_url: Option<&str>,
    ) -> Result<()> {
        validate_context(context)?;
        validate_description(description)?;
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

    async fn merge(&self, number: u64, expected_head_sha: &CommitSha) -> Result<CommitSha> {
        let _lock = self.lock().await?;
        let mut rec = self.pr_record(number).await?;
        if rec.state != PrState::Open {
            return Err(Error::conflict(format!(
                "pull request #{number} is not open"
            )));
        }
        let head = self.head_of(&rec).await?;
        if head != *expected_head_sha {
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
            let commit = oid(
                "commit-tree",
                &self
                    .git_ok(
                        &[
                            "commit-tree",
                            "--no-gpg-sign",
                            "-p",
                            base_head.as_str(),
                            "-p",
                            head.as_str(),
                            "-F",
                            "-",
                            tree.as_str(),
                        ],
                        Some(message.into_bytes()),
                        &[],
                    )
                    .await?,
            )?;
            if self.checked_out_branch().await?.as_deref() == Some(base_ref.as_str()) {
                // Move the branch with the work tree: git refuses if local changes would be lost.
                let out = self
                    .git(
                        &[
                            "merge",
                            "--ff-only",
                            "--no-stat",
                            "--quiet",
                            commit.as_str(),
                        ],
                        None,
                        &[],
                    )
                    .await?;
                if out.code == 0 {
                    merged = Some(commit);
                    break;
                }
                if self.branch_head(&rec.base).await?.as_ref() == Some(&base_head) {
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
