//! The git order of desired states: for every file under a directory of a checkout, the
//! commit on HEAD's first-parent chain that last changed it, and that commit's position.
//!
//! In a GitOps repository git is the source of truth: the deploy of a commit supersedes the
//! deploy of any of its ancestors, whatever a person wrote in a file. The first-parent chain
//! of the default branch is its history of merges and direct commits; a pull request's inner
//! commits are not on it, its merge commit is.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::Path;

use gitops_event_model::CommitSha;

use super::git;
use crate::{Error, Result, validate_path};

/// Largest standard output read from one git command (the history walk prints about 45
/// bytes per first-parent commit plus the changed paths).
const MAX_OUTPUT: usize = 64 * 1024 * 1024;

/// The revision of one desired-state file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// The commit on HEAD's first-parent chain that last changed the file (for a pull request
    /// merged with a merge commit: the merge commit).
    pub commit: CommitSha,
    /// That commit's first-parent position: `git rev-list --first-parent --count <commit>`
    /// (the root commit is 1). A later commit on the chain always has a higher position.
    pub position: u64,
}

/// The revisions of the files under a directory at HEAD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revisions {
    /// The HEAD commit.
    pub head: CommitSha,
    /// Repository-relative, slash-separated path of every regular file under the directory
    /// at HEAD, to its revision.
    pub by_path: BTreeMap<String, Revision>,
}

/// The git order of the files under `dir` (relative to the repository root, e.g.
/// `deployments`) of the checkout at `repo_dir`.
///
/// Refused with [`Error::Invalid`] naming the fix: `repo_dir` not in a git work tree, a
/// shallow clone (the order needs the whole first-parent history), no commit at HEAD,
/// uncommitted or untracked changes under `dir` (what would be deployed is not what git
/// says). Each git command is bounded in time (60 s) and output (64 MiB).
pub async fn desired_revisions(repo_dir: &Path, dir: &str) -> Result<Revisions> {
    let (dir, top) = checkout_dir(repo_dir, dir).await?;
    let top = Path::new(&top);
    // Independent reads run together (a deploy's fixed cost is mostly git processes run one
    // after another); their errors are still judged in this order.
    let (shallow, head) = tokio::join!(
        git_text(top, &["rev-parse", "--is-shallow-repository"]),
        run(top, &["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])
    );
    if shallow? == "true" {
        return Err(Error::invalid(
            "repository",
            format!(
                "{} is a shallow clone: the deploy needs the whole history: use \
                 actions/checkout with fetch-depth: 0 (or git fetch --unshallow)",
                top.display()
            ),
        ));
    }
    let head = head?
        .ok()
        .map(|o| String::from_utf8_lossy(&o).trim().to_owned())
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            Error::invalid(
                "repository",
                format!("{} has no commit at HEAD: commit first", top.display()),
            )
        })?;
    let head = oid("rev-parse", &head)?;

    let status_args = [
        "status",
        "--porcelain",
        "-z",
        "--untracked-files=all",
        "--no-renames",
        "--ignore-submodules=none",
        "--",
        dir,
    ];
    let ls_tree_args = [
        "ls-tree",
        "-r",
        "-z",
        "--full-tree",
        head.as_str(),
        "--",
        dir,
    ];
    // Every first-parent commit (`--sparse`: also those that do not touch `dir`, so a
    // commit's index in the walk gives its position), newest first, each followed by the
    // paths under `dir` it changed against its first parent (a merge: the whole PR).
    let log_args = [
        "-c",
        "log.showSignature=false",
        "log",
        "--first-parent",
        "--sparse",
        "--diff-merges=first-parent",
        "--no-renames",
        "--name-only",
        "-z",
        "--no-color",
        "--format=%x01%H",
        head.as_str(),
        "--",
        dir,
    ];
    let (dirty, listing, walk) = tokio::join!(
        git_ok(top, &status_args),
        git_ok(top, &ls_tree_args),
        git_ok(top, &log_args)
    );
    let dirty = dirty?;
    let dirty: Vec<String> = dirty
        .split(|b| *b == 0)
        .filter(|e| e.len() > 3)
        .map(|e| String::from_utf8_lossy(&e[3..]).into_owned())
        .collect();
    if !dirty.is_empty() {
        let mut shown: Vec<&str> = dirty.iter().take(5).map(String::as_str).collect();
        if dirty.len() > shown.len() {
            shown.push("...");
        }
        return Err(Error::invalid(
            dir,
            format!(
                "{} uncommitted or untracked change(s) under {dir} ({}): commit them first; \
                 git is the source of truth",
                dirty.len(),
                shown.join(", ")
            ),
        ));
    }

    let listing = listing?;
    let mut wanted = BTreeSet::new();
    for item in listing.split(|b| *b == 0).filter(|i| !i.is_empty()) {
        let item = String::from_utf8_lossy(item);
        if let Some((meta, path)) = item.split_once('\t')
            && let [mode, "blob", _] = meta.split(' ').collect::<Vec<_>>()[..]
            && (mode == "100644" || mode == "100755")
        {
            wanted.insert(path.to_owned());
        }
    }

    let walk = walk?;
    let mut commits: Vec<CommitSha> = Vec::new();
    let mut last_change: BTreeMap<String, usize> = BTreeMap::new();
    for token in walk.split(|b| *b == 0) {
        if let Some(sha) = token.strip_prefix(b"\x01") {
            commits.push(oid("log", String::from_utf8_lossy(sha).trim())?);
            continue;
        }
        let name = token.strip_prefix(b"\n").unwrap_or(token);
        if name.is_empty() || commits.is_empty() {
            continue;
        }
        let name = String::from_utf8_lossy(name).into_owned();
        if wanted.contains(&name) && !last_change.contains_key(&name) {
            last_change.insert(name, commits.len() - 1);
        }
    }
    if commits.first() != Some(&head) {
        return Err(Error::Git {
            command: "log".into(),
            message: format!("the history walk did not start at HEAD {head}"),
        });
    }
    let total = commits.len();
    let mut by_path = BTreeMap::new();
    for path in wanted {
        let index = *last_change.get(&path).ok_or_else(|| Error::Git {
            command: "log".into(),
            message: format!("no commit on the first-parent history of HEAD changed {path}"),
        })?;
        by_path.insert(
            path,
            Revision {
                commit: commits[index].clone(),
                position: u64::try_from(total - index).unwrap_or(u64::MAX),
            },
        );
    }
    Ok(Revisions { head, by_path })
}

/// One version of a desired-state file on the default branch's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredCommit {
    /// The first-parent commit that wrote this version (a merge: the merge commit).
    pub commit: CommitSha,
    /// Its committer time, in seconds since the Unix epoch.
    pub committed_at: i64,
    /// Its subject line (a merge of a pull request names it: `Merge pull request #12 ...`,
    /// `title (#12)`).
    pub subject: String,
    /// Repository-relative, slash-separated path of the file.
    pub path: String,
    /// The file's content at that commit.
    pub content: Vec<u8>,
}

/// Every version of the files under `dir` that a commit on HEAD's first-parent history wrote
/// at or after `since` (seconds since the Unix epoch), oldest first: what `gitops metrics`
/// reads as the requests that reached the default branch. Deleted files are left out; at most
/// `limit` versions (the newest), each file at most 1 MiB. A repository without commits has
/// none. Each git command is bounded in time (60 s) and output (64 MiB).
pub async fn desired_history(
    repo_dir: &Path,
    dir: &str,
    since: i64,
    limit: usize,
) -> Result<Vec<DesiredCommit>> {
    let (dir, top) = checkout_dir(repo_dir, dir).await?;
    let top = Path::new(&top);
    if run(top, &["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])
        .await?
        .is_err()
    {
        return Ok(Vec::new());
    }
    // git reads `@N` as a timestamp only from nine digits on (an earlier `since` would be
    // read as another date and cut the walk short), so such a bound is applied below alone.
    let since_arg = format!("--since=@{since}");
    let mut args = vec![
        "-c",
        "log.showSignature=false",
        "log",
        "--first-parent",
        "--diff-merges=first-parent",
        "--no-renames",
        "--name-status",
        "-z",
        "--no-color",
        "--format=%x01%H %ct %s",
    ];
    if since >= 100_000_000 {
        args.push(&since_arg);
    }
    args.extend(["HEAD", "--", dir]);
    let walk = git_ok(top, &args).await?;
    // Newest first: a commit line, then (status, path) pairs.
    let mut found: Vec<(CommitSha, i64, String, String)> = Vec::new();
    let mut current: Option<(CommitSha, i64, String)> = None;
    let mut status: Option<String> = None;
    for token in walk.split(|b| *b == 0) {
        if let Some(line) = token.strip_prefix(b"\x01") {
            let line = String::from_utf8_lossy(line);
            let (sha, rest) = line.trim().split_once(' ').ok_or_else(|| Error::Git {
                command: "log".into(),
                message: format!("unexpected commit line {line:?}"),
            })?;
            let (time, subject) = rest.split_once(' ').unwrap_or((rest, ""));
            let time = time.parse::<i64>().map_err(|e| Error::Git {
                command: "log".into(),
                message: format!("unexpected commit time {time:?}: {e}"),
            })?;
            current = Some((oid("log", sha)?, time, subject.to_owned()));
            status = None;
            continue;
        }
        let token =
            String::from_utf8_lossy(token.strip_prefix(b"\n").unwrap_or(token)).into_owned();
        if token.is_empty() {
            continue;
        }
        match status.take() {
            None => status = Some(token),
            Some(kind) => match &current {
                Some((sha, time, subject)) if *time >= since && !kind.starts_with('D') => {
                    found.push((sha.clone(), *time, subject.clone(), token));
                }
                _ => {}
            },
        }
    }
    found.truncate(limit);
    found.reverse();
    let mut versions = Vec::with_capacity(found.len());
    for (commit, committed_at, subject, path) in found {
        let spec = format!("{commit}:{path}");
        let content = git_ok(top, &["cat-file", "blob", &spec]).await?;
        if content.len() > 1 << 20 {
            return Err(Error::invalid(
                "desired state",
                format!("{path} at {commit} is larger than 1 MiB"),
            ));
        }
        versions.push(DesiredCommit {
            commit,
            committed_at,
            subject,
            path,
            content,
        });
    }
    Ok(versions)
}

/// `dir` without a trailing `/`, checked to be a relative directory, and the top of the work
/// tree `repo_dir` is in.
async fn checkout_dir<'a>(repo_dir: &Path, dir: &'a str) -> Result<(&'a str, String)> {
    let dir = dir.trim_end_matches('/');
    validate_path(dir).map_err(|_| {
        Error::invalid(
            "dir",
            format!("{dir:?} is not a relative directory of the repository"),
        )
    })?;
    Ok((dir, toplevel(repo_dir).await?))
}

async fn toplevel(repo_dir: &Path) -> Result<String> {
    let not_repo = |why: &str| {
        Error::invalid(
            "repository",
            format!(
                "{} is not a git repository ({why}): run the deploy in a clone of the GitOps \
                 repository",
                repo_dir.display()
            ),
        )
    };
    if !tokio::fs::metadata(repo_dir)
        .await
        .is_ok_and(|m| m.is_dir())
    {
        return Err(not_repo("no such directory"));
    }
    match run(repo_dir, &["rev-parse", "--show-toplevel"]).await? {
        Ok(out) => {
            let top = String::from_utf8_lossy(&out).trim().to_owned();
            if top.is_empty() {
                Err(not_repo("no work tree"))
            } else {
                Ok(top)
            }
        }
        Err(stderr) => Err(not_repo(stderr.lines().next().unwrap_or("git refused"))),
    }
}

async fn git_text(dir: &Path, args: &[&str]) -> Result<String> {
    Ok(String::from_utf8_lossy(&git_ok(dir, args).await?)
        .trim()
        .to_owned())
}

async fn git_ok(dir: &Path, args: &[&str]) -> Result<Vec<u8>> {
    run(dir, args).await?.map_err(|stderr| Error::Git {
        command: git::subcommand(args).to_owned(),
        message: stderr,
    })
}

/// A commit id git printed.
fn oid(command: &str, text: &str) -> Result<CommitSha> {
    CommitSha::parse(text).map_err(|e| Error::Git {
        command: command.to_owned(),
        message: format!("printed what is not a commit id: {e}"),
    })
}

/// Run git in `dir`, bounded in time (60 s) and output (64 MiB): `Ok(Ok(stdout))` on
/// success, `Ok(Err(stderr))` when git exits non-zero.
async fn run(dir: &Path, args: &[&str]) -> Result<std::result::Result<Vec<u8>, String>> {
    let env: [(&str, &OsStr); 2] = [
        ("GIT_LITERAL_PATHSPECS", OsStr::new("1")),
        ("GIT_OPTIONAL_LOCKS", OsStr::new("0")),
    ];
    let out = git::run(dir, args, None, &env, MAX_OUTPUT).await?;
    Ok(if out.code == 0 {
        Ok(out.stdout)
    } else {
        Err(out.stderr)
    })
}
