//! Git data: refs, commits, trees, blobs, file contents and the repository tarball.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use base64::Engine as _;
use gitops_event_model::CommitSha;
use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::GithubForge;
use super::transport::{call_name, encode_path, first_line};
use crate::{Error, FileWrite, Result, Tree, validate_path};

/// Largest desired-state file [`crate::Forge::pair_state`] reads (GitHub's contents API
/// inlines files up to 1 MB).
const MAX_PENDING_FILE: u64 = 1024 * 1024;
/// Largest tarball `read_tree` downloads, and the most its files may hold unpacked (the
/// GitOps repository is small text files).
const MAX_TREE_BYTES: u64 = 256 * 1024 * 1024;

/// `GET git/ref/heads/<branch>`.
#[derive(Deserialize)]
struct GitRef {
    object: GitObject,
}

#[derive(Deserialize)]
struct GitObject {
    sha: CommitSha,
}

/// `GET git/commits/<sha>`, and the object ids `POST git/commits`, `git/trees` and
/// `git/blobs` answer with.
#[derive(Deserialize)]
struct GitCommit {
    tree: GitObject,
}

/// The `type` of a `GET contents/<path>` answer that is an object (a directory is a list).
#[derive(Deserialize)]
struct ContentKind {
    #[serde(rename = "type")]
    kind: String,
}

/// A `GET contents/<path>` answer of type `file`.
#[derive(Deserialize)]
struct ContentFile {
    encoding: String,
    size: u64,
    content: String,
}

type Files = BTreeMap<String, Vec<u8>>;

impl GithubForge {
    /// The commit `git_ref` names: a full sha as is, else the head of the branch.
    pub(super) async fn resolve_commit(&self, git_ref: &str) -> Result<CommitSha> {
        if let Ok(sha) = CommitSha::parse(git_ref) {
            return Ok(sha);
        }
        let name = git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref);
        self.branch_head(name)
            .await?
            .ok_or_else(|| Error::not_found(format!("ref {git_ref}")))
    }

    /// The head of `branch`, `None` when it does not exist.
    pub(super) async fn branch_head(&self, branch: &str) -> Result<Option<CommitSha>> {
        match self
            .json::<GitRef>(
                Method::GET,
                &self.path(&format!("git/ref/heads/{}", encode_path(branch))),
                None,
            )
            .await
        {
            Ok(r) => Ok(Some(r.object.sha)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The tree object of `commit`.
    pub(super) async fn tree_of(&self, commit: &CommitSha) -> Result<CommitSha> {
        let c: GitCommit = self
            .json(
                Method::GET,
                &self.path(&format!("git/commits/{commit}")),
                None,
            )
            .await?;
        Ok(c.tree.sha)
    }

    /// A tree: `base_tree` with `writes` applied (text inline, binary content uploaded as a
    /// blob first).
    pub(super) async fn write_tree(
        &self,
        base_tree: &CommitSha,
        writes: &[FileWrite],
    ) -> Result<CommitSha> {
        let mut entries = Vec::with_capacity(writes.len());
        for w in writes {
            let entry = match &w.content {
                None => json!({"path": w.path, "mode": "100644", "type": "blob", "sha": null}),
                Some(c) => {
                    if let Ok(text) = std::str::from_utf8(c) {
                        json!({"path": w.path, "mode": "100644", "type": "blob", "content": text})
                    } else {
                        // Inline content must be UTF-8: upload a blob first.
                        let blob: GitObject = self
                            .json(
                                Method::POST,
                                &self.path("git/blobs"),
                                Some(&json!({
                                    "content": base64::engine::general_purpose::STANDARD.encode(c),
                                    "encoding": "base64",
                                })),
                            )
                            .await?;
                        json!({"path": w.path, "mode": "100644", "type": "blob", "sha": blob.sha})
                    }
                }
            };
            entries.push(entry);
        }
        let tree: GitObject = self
            .json(
                Method::POST,
                &self.path("git/trees"),
                Some(&json!({"base_tree": base_tree, "tree": entries})),
            )
            .await
            .map_err(|e| match e {
                Error::Invalid { reason, .. } | Error::NotFound { what: reason } => {
                    Error::not_found(format!("base tree {base_tree}: {reason}"))
                }
                e => e,
            })?;
        Ok(tree.sha)
    }

    /// A commit of `tree` with `parents`.
    pub(super) async fn write_commit(
        &self,
        message: &str,
        tree: &CommitSha,
        parents: &[CommitSha],
    ) -> Result<CommitSha> {
        let commit: GitObject = self
            .json(
                Method::POST,
                &self.path("git/commits"),
                Some(&json!({"message": message, "tree": tree, "parents": parents})),
            )
            .await?;
        Ok(commit.sha)
    }

    /// Point `branch` at `sha`: force-update, or create when missing (forced proposals,
    /// tools only).
    pub(super) async fn set_branch(&self, branch: &str, sha: &CommitSha) -> Result<()> {
        for _ in 0..3 {
            let patch = self
                .send(
                    Method::PATCH,
                    &self.path(&format!("git/refs/heads/{}", encode_path(branch))),
                    Some(&json!({"sha": sha, "force": true})),
                )
                .await?;
            if patch.ok() {
                return Ok(());
            }
            if patch.status != 422 && patch.status != 404 {
                return Err(self.error(branch, &patch));
            }
            // The ref does not exist yet: create it.
            let post = self
                .send(
                    Method::POST,
                    &self.path("git/refs"),
                    Some(&json!({"ref": format!("refs/heads/{branch}"), "sha": sha})),
                )
                .await?;
            if post.ok() {
                return Ok(());
            }
            if post.status != 422 {
                return Err(self.error(branch, &post));
            }
            // Created concurrently by someone else: force-update it on the next round.
        }
        Err(Error::conflict(format!("branch {branch} keeps changing")))
    }

    /// Create `branch` at `sha` only if it does not exist: `Conflict` if it does.
    pub(super) async fn create_branch(&self, branch: &str, sha: &CommitSha) -> Result<()> {
        let post = self
            .send(
                Method::POST,
                &self.path("git/refs"),
                Some(&json!({"ref": format!("refs/heads/{branch}"), "sha": sha})),
            )
            .await?;
        let message = post.message().to_ascii_lowercase();
        match post.status {
            200..=299 => Ok(()),
            422 | 409 if message.contains("already exists") || post.status == 409 => {
                Err(Error::conflict(format!(
                    "branch {branch} exists: another proposal created it ({})",
                    self.scrub(&post.message())
                )))
            }
            _ => Err(self.error(branch, &post)),
        }
    }

    /// Move `branch` from `expected` to `sha` (a commit with `expected` as a parent) by
    /// fast-forward only: anything else is `Conflict`. A branch that no longer exists (deleted
    /// after its PR merged) is created, unless someone else created it first.
    pub(super) async fn advance_branch(
        &self,
        branch: &str,
        expected: &CommitSha,
        sha: &CommitSha,
    ) -> Result<()> {
        let patch = self
            .send(
                Method::PATCH,
                &self.path(&format!("git/refs/heads/{}", encode_path(branch))),
                Some(&json!({"sha": sha, "force": false})),
            )
            .await?;
        if patch.ok() {
            return Ok(());
        }
        let message = self.scrub(&patch.message());
        let lower = message.to_ascii_lowercase();
        let moved = lower.contains("fast forward") || lower.contains("cannot be updated");
        match patch.status {
            404 => self.create_branch(branch, sha).await,
            422 if lower.contains("reference does not exist") => {
                self.create_branch(branch, sha).await
            }
            409 => Err(Error::conflict(format!(
                "branch {branch} is no longer at {expected} ({message})"
            ))),
            422 if moved => Err(Error::conflict(format!(
                "branch {branch} is no longer at {expected} ({message})"
            ))),
            _ => Err(self.error(branch, &patch)),
        }
    }

    /// The content of `path` at `commit` when it is a file there.
    pub(super) async fn file_at(&self, commit: &CommitSha, path: &str) -> Result<Option<Vec<u8>>> {
        let url = self.path(&format!("contents/{}?ref={commit}", encode_path(path)));
        let call = call_name(&Method::GET, &url);
        let resp = self.send(Method::GET, &url, None).await?;
        if resp.status == 404 {
            return Ok(None);
        }
        if !resp.ok() {
            return Err(self.error(path, &resp));
        }
        // A directory is a list; a symlink or submodule another type: not a file.
        let answer: Value = resp.parse(&call)?;
        if answer.is_array() {
            return Ok(None);
        }
        let kind: ContentKind = serde_json::from_value(answer.clone())
            .map_err(|e| Error::malformed(&call, first_line(&e.to_string())))?;
        if kind.kind != "file" {
            return Ok(None);
        }
        let file: ContentFile = serde_json::from_value(answer)
            .map_err(|e| Error::malformed(&call, first_line(&e.to_string())))?;
        if file.size > MAX_PENDING_FILE {
            return Err(Error::TooLarge {
                what: format!("{path} at {commit}"),
                limit: format!("{} bytes; a desired-state file is at most 1 MiB", file.size),
            });
        }
        if file.encoding != "base64" {
            return Err(Error::malformed(
                &call,
                format!("content encoded as {:?}, not base64", file.encoding),
            ));
        }
        let clean: String = file
            .content
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(clean)
            .map(Some)
            .map_err(|e| Error::malformed(&call, format!("content is not base64: {e}")))
    }

    /// Every file of the repository at `git_ref`: one API call (the tarball redirect) plus
    /// the download it points to, unpacked off the async runtime.
    pub(super) async fn read_tarball(&self, git_ref: &str) -> Result<Tree> {
        if git_ref.is_empty() || git_ref.starts_with('-') || git_ref.contains("..") {
            return Err(Error::invalid("ref", format!("{git_ref:?} is not a ref")));
        }
        let name = git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref);
        let resp = self
            .send(Method::GET, &self.path(&format!("tarball/{name}")), None)
            .await?;
        let location = match resp.status {
            300..=399 => resp
                .headers
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .ok_or_else(|| {
                    Error::malformed(
                        format!("GET tarball/{name}"),
                        "a redirect without a location",
                    )
                })?,
            404 => return Err(Error::not_found(format!("ref {git_ref}"))),
            _ => return Err(self.error("tarball", &resp)),
        };
        self.calls.fetch_add(1, Ordering::Relaxed);
        // Named without its URL: a redirect location may carry a download token.
        let call = format!("GET tarball/{name} (download)");
        let limit = usize::try_from(MAX_TREE_BYTES).unwrap_or(usize::MAX);
        let download = async {
            let mut accept = http::HeaderMap::new();
            accept.insert(
                http::header::ACCEPT,
                http::HeaderValue::from_static("application/x-gzip"),
            );
            let r = self
                .crab
                ._get_with_headers(location.as_str(), Some(accept))
                .await
                .map_err(|e| self.transport(&call, &e))?;
            self.read_answer(&call, r, limit).await
        };
        let archive = tokio::time::timeout(self.request_timeout, download)
            .await
            .map_err(|_| Self::timed_out(&call, self.request_timeout))??;
        match archive.status {
            200..=299 => {}
            404 => return Err(Error::not_found(format!("ref {git_ref}"))),
            _ => return Err(self.error(&call, &archive)),
        }
        let what = call.clone();
        let (comment, files) = tokio::task::spawn_blocking(move || unpack_tarball(&archive.body))
            .await
            .map_err(|e| Error::malformed(what, format!("unpacking stopped: {e}")))??;
        let commit_sha = match comment.as_deref().map(CommitSha::parse) {
            Some(Ok(sha)) => sha,
            _ => self.resolve_commit(git_ref).await?,
        };
        Ok(Tree { commit_sha, files })
    }
}

/// Files of a `git archive` tarball (leading directory stripped) and the commit id from its
/// pax global header. Blocking (decompression): run it on a blocking thread.
fn unpack_tarball(gz: &[u8]) -> Result<(Option<String>, Files)> {
    use std::io::Read as _;
    let bad = |e: std::io::Error| Error::malformed("the repository tarball", e.to_string());
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gz));
    let mut comment = None;
    let mut files = BTreeMap::new();
    let mut total = 0u64;
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            if let Some(exts) = entry.pax_extensions().map_err(bad)? {
                for ext in exts.flatten() {
                    if ext.key() == Ok("comment") {
                        comment = ext.value().ok().map(|v| v.trim().to_owned());
                    }
                }
            }
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let path = entry.path().map_err(bad)?.to_string_lossy().into_owned();
        let Some((_, rel)) = path.split_once('/') else {
            continue;
        };
        if rel.is_empty() || validate_path(rel).is_err() {
            continue;
        }
        let size = entry.size();
        total += size;
        if total > MAX_TREE_BYTES {
            return Err(Error::TooLarge {
                what: "the repository".into(),
                limit: format!("more than {} MiB of files", MAX_TREE_BYTES / (1024 * 1024)),
            });
        }
        let mut content = Vec::new();
        entry
            .by_ref()
            .take(size)
            .read_to_end(&mut content)
            .map_err(bad)?;
        files.insert(rel.to_owned(), content);
    }
    Ok((comment, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tarball(entries: &[(&str, &[u8])], comment: Option<&str>) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        if let Some(c) = comment {
            // "<length> comment=<value>\n", the length counting itself.
            let rest = format!(" comment={c}\n");
            let mut length = rest.len();
            while (length.to_string().len() + rest.len()) != length {
                length = length.to_string().len() + rest.len();
            }
            let record = format!("{length}{rest}");
            let mut header = tar::Header::new_ustar();
            header.set_entry_type(tar::EntryType::XGlobalHeader);
            header.set_size(record.len() as u64);
            header.set_cksum();
            builder
                .append_data(&mut header, "pax_global_header", record.as_bytes())
                .unwrap();
        }
        for (path, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, path, *data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn tarballs_unpack_with_their_commit() {
        let sha = "a".repeat(40);
        let gz = tarball(
            &[
                ("acme-gitops-aaaaaaa/README.md", b"# gitops\n"),
                (
                    "acme-gitops-aaaaaaa/deployments/prod/checkout.json",
                    b"{}\n",
                ),
            ],
            Some(&sha),
        );
        let (comment, files) = unpack_tarball(&gz).unwrap();
        assert_eq!(comment.as_deref(), Some(sha.as_str()));
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            ["README.md", "deployments/prod/checkout.json"]
        );
        assert_eq!(files["README.md"], b"# gitops\n");
    }

    #[test]
    fn a_tarball_that_is_not_one_is_malformed_not_retryable() {
        let err = unpack_tarball(b"<html>not a tarball</html>").unwrap_err();
        assert!(matches!(err, Error::Malformed { .. }), "{err:?}");
        assert!(!err.is_retryable());
    }
}
