//! Pull requests: a branch's state, proposals (on the git data of `git_data`), reads, files,
//! reviews, merges and sticky comments.

use gitops_event_model::{CommitSha, Login};
use gitops_retry::Retry;
use http::Method;
use serde::Deserialize;
use serde_json::json;

use super::GithubForge;
use super::transport::{Resp, encode_path, nullable};
use crate::{
    BranchHead, Change, Comment, Error, PairState, PrState, PullRequest, Result, Review,
    ReviewState, has_marker, not_the_base, sticky_body, validate_branch, validate_marker,
    validate_path,
};

/// A pull request as GitHub answers it (`pull-request` and, in lists,
/// `pull-request-simple`, which lacks `merged` and `mergeable`).
#[derive(Deserialize)]
pub(super) struct WirePull {
    number: u64,
    state: WirePullState,
    title: String,
    #[serde(deserialize_with = "nullable")]
    body: Option<String>,
    html_url: String,
    #[serde(default)]
    merged: Option<bool>,
    #[serde(deserialize_with = "nullable")]
    merged_at: Option<String>,
    #[serde(default)]
    mergeable: Option<bool>,
    #[serde(deserialize_with = "nullable")]
    merge_commit_sha: Option<CommitSha>,
    head: WireBranch,
    base: WireBranch,
}

#[derive(Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum WirePullState {
    Open,
    Closed,
}

#[derive(Deserialize)]
struct WireBranch {
    #[serde(rename = "ref")]
    name: String,
    sha: CommitSha,
}

impl WirePull {
    fn into_pull_request(self, what: &str) -> Result<PullRequest> {
        if self.head.name.is_empty() || self.base.name.is_empty() {
            return Err(Error::malformed(
                what,
                format!(
                    "pull request #{} without a head or base branch",
                    self.number
                ),
            ));
        }
        let merged = self.merged == Some(true) || self.merged_at.is_some();
        // GitHub says `null` for a pull request without a description: not a failure.
        #[expect(
            clippy::manual_unwrap_or_default,
            reason = "a documented null, spelled out so it is not mistaken for a swallowed failure"
        )]
        let body = match self.body {
            Some(body) => body,
            None => String::new(),
        };
        let state = match (self.state, merged) {
            (_, true) => PrState::Merged,
            (WirePullState::Open, false) => PrState::Open,
            (WirePullState::Closed, false) => PrState::Closed,
        };
        Ok(PullRequest {
            number: self.number,
            branch: self.head.name,
            base: self.base.name,
            head_sha: self.head.sha,
            state,
            mergeable: self.mergeable,
            url: self.html_url,
            title: self.title,
            body,
            merge_sha: if state == PrState::Merged {
                self.merge_commit_sha
            } else {
                None
            },
        })
    }
}

#[derive(Deserialize)]
struct WireReview {
    /// `null` for a deleted account ("ghost").
    #[serde(deserialize_with = "nullable")]
    user: Option<WireUser>,
    state: ReviewState,
    #[serde(deserialize_with = "nullable")]
    commit_id: Option<CommitSha>,
}

#[derive(Deserialize)]
struct WireUser {
    login: Login,
}

#[derive(Deserialize)]
struct WireComment {
    id: u64,
    body: String,
}

#[derive(Deserialize)]
struct Created {
    id: u64,
}

#[derive(Deserialize)]
struct WireFile {
    filename: String,
}

#[derive(Deserialize)]
struct MergeResult {
    sha: CommitSha,
}

/// `repository-collaborator-permission`.
#[derive(Deserialize)]
struct WirePermission {
    permission: String,
    role_name: String,
}

/// A permission or role that may push.
fn can_write(permission: &str) -> bool {
    matches!(permission, "admin" | "maintain" | "write")
}

/// GitHub's answer when the base moved between its mergeability check and the merge (405;
/// some servers said 409).
fn base_modified(resp: &Resp) -> bool {
    matches!(resp.status, 405 | 409) && resp.message().contains("Base branch was modified")
}

/// A merge attempt that did not end the merge.
enum MergeAttempt {
    /// 405 "Base branch was modified": retried.
    BaseMoved(Resp),
    /// No answer to judge (transport, rate limit past the budget): final.
    Failed(Error),
}

impl GithubForge {
    async fn pull(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<PullRequest> {
        let call = super::transport::call_name(&method, path);
        let pull: WirePull = self.json(method, path, body).await?;
        pull.into_pull_request(&call)
    }

    /// The newest pull request of `branch` (any state), in one call.
    async fn newest_pr(&self, branch: &str) -> Result<Option<PullRequest>> {
        let path = self.path(&format!(
            "pulls?head={}:{}&state=all&sort=created&direction=desc&per_page=1",
            self.owner,
            encode_path(branch)
        ));
        let call = super::transport::call_name(&Method::GET, &path);
        let pulls: Vec<WirePull> = self.json(Method::GET, &path, None).await?;
        pulls
            .into_iter()
            .find(|p| p.head.name == branch)
            .map(|p| p.into_pull_request(&call))
            .transpose()
    }

    /// The open pull request of `branch`, if any.
    async fn find_open_pr(&self, branch: &str) -> Result<Option<PullRequest>> {
        let path = self.path(&format!(
            "pulls?state=open&head={}:{}",
            self.owner,
            encode_path(branch)
        ));
        let call = super::transport::call_name(&Method::GET, &path);
        let pulls: Vec<WirePull> = self.json(Method::GET, &path, None).await?;
        pulls
            .into_iter()
            .find(|p| p.head.name == branch)
            .map(|p| p.into_pull_request(&call))
            .transpose()
    }

    pub(super) async fn read_branch_state(
        &self,
        branch: &str,
        path: Option<&str>,
        exact: bool,
    ) -> Result<PairState> {
        validate_branch(branch)?;
        if let Some(path) = path {
            validate_path(path)?;
        }
        let newest = self.newest_pr(branch).await?;
        let open = newest.as_ref().filter(|p| p.state == PrState::Open);
        let (expected, pending_at) = if exact {
            let head = self.branch_head(branch).await?;
            // Pending: an open PR, or a head that is not the newest (merged or closed) PR's
            // head: unknown counts as pending.
            let pending_at = head
                .clone()
                .filter(|h| open.is_some() || newest.as_ref().is_none_or(|p| p.head_sha != *h));
            (head.map_or(BranchHead::Absent, BranchHead::At), pending_at)
        } else {
            (
                newest
                    .as_ref()
                    .map_or(BranchHead::Absent, |p| BranchHead::At(p.head_sha.clone())),
                open.map(|p| p.head_sha.clone()),
            )
        };
        let pending = match (pending_at, path) {
            (Some(h), Some(path)) => self.file_at(&h, path).await?,
            _ => None,
        };
        Ok(PairState {
            expected,
            pull_request: open.cloned(),
            pending,
        })
    }

    pub(super) async fn propose_change(&self, change: &Change) -> Result<PullRequest> {
        change.validate()?;
        not_the_base(change.branch(), &self.base)?;
        let branch = change.branch();
        let mut base_sha = match &change.base_sha {
            Some(s) => s.clone(),
            None => self.resolve_commit(&self.base).await?,
        };
        let mut base_tree = change.base_tree_sha.clone();
        // Replacing a head built on another base: when the caller's checkout is behind the
        // base branch (a merge landed since it was cloned), the replaced head may already
        // hold that merge, and a tree of the checkout plus the writes would revert it. The
        // writes are whole files, so they are applied to the base branch's head instead.
        if let Some(BranchHead::At(h)) = &change.expected
            && *h != base_sha
            && change.base_sha.is_some()
        {
            let now = self.resolve_commit(&self.base).await?;
            if now != base_sha {
                base_sha = now;
                base_tree = None;
            }
        }
        let base_tree = match base_tree {
            Some(t) => t,
            None => self.tree_of(&base_sha).await?,
        };
        let tree = self.write_tree(&base_tree, &change.writes).await?;
        // The first parent is the base, so the PR's diff against the base is the writes. A
        // compare-and-swap on an existing head adds it as the second parent: GitHub's refs
        // API compares only by fast-forward (`force: false`), which then succeeds exactly
        // when the branch is still there (or at one of the new commit's ancestors).
        let mut parents = vec![base_sha.clone()];
        if let Some(BranchHead::At(h)) = &change.expected
            && *h != base_sha
        {
            parents.push(h.clone());
        }
        let message = format!("{}\n\n{}", change.title, change.body);
        let head = self
            .write_commit(message.trim_end(), &tree, &parents)
            .await?;
        match &change.expected {
            None => self.set_branch(branch, &head).await?,
            Some(BranchHead::Absent) => self.create_branch(branch, &head).await?,
            Some(BranchHead::At(h)) => self.advance_branch(branch, h, &head).await?,
        }
        // Opening the PR is one call: `PATCH` the open PR the caller saw, else `POST`; only a
        // "pull request already exists" answer costs a lookup and an update.
        let mut pr = match change.pull_request {
            Some(n) => {
                // A batch's PR keeps its description: a read (free of the content-creation
                // limit) instead of an edit.
                let edited = if change.keep_description {
                    self.get_pull(n).await?
                } else {
                    self.pull(
                        Method::PATCH,
                        &self.path(&format!("pulls/{n}")),
                        Some(&json!({"title": change.title, "body": change.body})),
                    )
                    .await?
                };
                if edited.branch != branch {
                    return Err(Error::invalid(
                        "pull_request",
                        format!("#{n} is not the pull request of {branch}"),
                    ));
                }
                if edited.state == PrState::Open {
                    edited
                } else {
                    // Merged or closed since the caller looked: a new PR.
                    self.open_pr(change, branch).await?
                }
            }
            None => self.open_pr(change, branch).await?,
        };
        // Our commit, even if a concurrent proposer moved the branch since: merging it
        // is then refused (`Conflict`), never a silent merge of someone else's write.
        pr.head_sha = head;
        Ok(pr)
    }

    /// Open the PR of `change`'s branch, or (422: one is open already) edit it.
    async fn open_pr(&self, change: &Change, branch: &str) -> Result<PullRequest> {
        let path = self.path("pulls");
        let post = self
            .send(
                Method::POST,
                &path,
                Some(&json!({"title": change.title, "body": change.body, "head": branch, "base": self.base})),
            )
            .await?;
        if post.ok() {
            let pull: WirePull = post.parse("POST pulls")?;
            return pull.into_pull_request("POST pulls");
        }
        if post.status != 422 {
            return Err(self.error("pull request", &post));
        }
        let open = self
            .find_open_pr(branch)
            .await?
            .ok_or_else(|| self.error("pull request", &post))?;
        self.pull(
            Method::PATCH,
            &self.path(&format!("pulls/{}", open.number)),
            Some(&json!({"title": change.title, "body": change.body})),
        )
        .await
    }

    pub(super) async fn get_pull(&self, number: u64) -> Result<PullRequest> {
        self.pull(Method::GET, &self.path(&format!("pulls/{number}")), None)
            .await
            .map_err(|e| match e {
                Error::NotFound { .. } => Error::not_found(format!("pull request #{number}")),
                e => e,
            })
    }

    pub(super) async fn open_pulls(&self) -> Result<Vec<PullRequest>> {
        let path = self.path("pulls?state=open");
        let call = super::transport::call_name(&Method::GET, &path);
        let mut v = self
            .list::<WirePull>(&path)
            .await?
            .into_iter()
            .map(|p| p.into_pull_request(&call))
            .collect::<Result<Vec<_>>>()?;
        v.sort_by_key(|p| p.number);
        Ok(v)
    }

    pub(super) async fn pull_files(&self, number: u64) -> Result<Vec<String>> {
        let mut v: Vec<String> = self
            .list::<WireFile>(&self.path(&format!("pulls/{number}/files")))
            .await
            .map_err(|e| match e {
                Error::NotFound { .. } => Error::not_found(format!("pull request #{number}")),
                e => e,
            })?
            .into_iter()
            .map(|f| f.filename)
            .collect();
        v.sort();
        v.dedup();
        Ok(v)
    }

    /// [`Review::approvals`] of the PR's reviews (oldest first, as GitHub lists them) on its
    /// current head. A review by a deleted account counts for no one.
    pub(super) async fn pull_approvals(&self, number: u64) -> Result<Vec<Login>> {
        let head = self.get_pull(number).await?.head_sha;
        let reviews = self
            .list::<WireReview>(&self.path(&format!("pulls/{number}/reviews")))
            .await?
            .into_iter()
            .filter_map(|r| {
                r.user.map(|user| Review {
                    login: user.login,
                    commit: r.commit_id,
                    state: r.state,
                })
            });
        Ok(Review::approvals(&head, reviews))
    }

    async fn put_merge(&self, number: u64, sha: &CommitSha) -> Result<Resp> {
        self.send(
            Method::PUT,
            &self.path(&format!("pulls/{number}/merge")),
            Some(&json!({"sha": sha, "merge_method": self.merge_method.as_str()})),
        )
        .await
    }

    /// Merges, guarded by the head: 405 "Base branch was modified" (another merge landed
    /// between GitHub's mergeability check and ours) is retried with jittered exponential
    /// backoff within the merge retry policy, always with the same `sha`, so a head that moved
    /// meanwhile is refused, never merged. Every other answer is final.
    pub(super) async fn merge_pull(
        &self,
        number: u64,
        expected_head_sha: &CommitSha,
    ) -> Result<CommitSha> {
        self.check_merge_method().await?;
        let outcome = gitops_retry::retry(
            self.merge_retry,
            || async {
                match self.put_merge(number, expected_head_sha).await {
                    Ok(resp) if base_modified(&resp) => {
                        tracing::debug!(number, "base branch was modified; merge retried");
                        Err(MergeAttempt::BaseMoved(resp))
                    }
                    Ok(resp) => Ok(resp),
                    Err(e) => Err(MergeAttempt::Failed(e)),
                }
            },
            |attempt| match attempt {
                MergeAttempt::BaseMoved(_) => Retry::Backoff,
                MergeAttempt::Failed(_) => Retry::Never,
            },
        )
        .await;
        let resp = match outcome {
            Ok(resp) => resp,
            Err(MergeAttempt::Failed(e)) => return Err(e),
            Err(MergeAttempt::BaseMoved(resp)) => {
                return Err(Error::Contended {
                    reason: format!(
                        "#{number}: {} (the base kept moving through {} attempts; merge it again)",
                        self.scrub(&resp.message()),
                        self.merge_retry.max_attempts
                    ),
                });
            }
        };
        match resp.status {
            200..=299 => Ok(resp.parse::<MergeResult>("PUT pulls/merge")?.sha),
            409 => Err(Error::conflict(self.scrub(&resp.message()))),
            404 => Err(Error::not_found(format!("pull request #{number}"))),
            405 if resp.message().contains("not allowed on this repository") => {
                Err(super::settings::method_not_allowed(
                    self.repository.as_str(),
                    self.merge_method,
                    &[],
                ))
            }
            405 | 422 => {
                // Not mergeable, or not open any more: ask which (error path only).
                let pr = self.get_pull(number).await?;
                if pr.state == PrState::Open {
                    if pr.head_sha != *expected_head_sha {
                        return Err(Error::conflict(format!(
                            "head of #{number} is {}, expected {expected_head_sha}",
                            pr.head_sha
                        )));
                    }
                    Err(Error::NotMergeable {
                        reason: self.scrub(&resp.message()),
                    })
                } else {
                    Err(Error::conflict(format!(
                        "pull request #{number} is not open"
                    )))
                }
            }
            _ => Err(self.error("merge", &resp)),
        }
    }

    /// Whether `login` may push to the repository: GitHub's collaborator permission (`admin`,
    /// `write`; or the role `admin`, `maintain`, `write`, or a custom role GitHub reports with
    /// one of those base permissions). 404 (not a collaborator, no such user): no.
    pub(super) async fn collaborator_can_write(&self, login: &Login) -> Result<bool> {
        let path = self.path(&format!("collaborators/{login}/permission"));
        let resp = self.send(Method::GET, &path, None).await?;
        match resp.status {
            200 => {
                let p: WirePermission = resp.parse("GET collaborators/permission")?;
                Ok(can_write(&p.permission) || can_write(&p.role_name))
            }
            404 => Ok(false),
            _ => Err(self.error("collaborator permission", &resp)),
        }
    }

    pub(super) async fn upsert_sticky(&self, number: u64, marker: &str, body: &str) -> Result<u64> {
        validate_marker(marker)?;
        let full = sticky_body(marker, body);
        let existing = self.issue_comments(number).await?;
        if let Some(c) = existing.iter().find(|c| has_marker(&c.body, marker)) {
            if c.body != full {
                self.write(
                    Method::PATCH,
                    &self.path(&format!("issues/comments/{}", c.id)),
                    &json!({"body": full}),
                )
                .await?;
            }
            return Ok(c.id);
        }
        let created: Created = self
            .json(
                Method::POST,
                &self.path(&format!("issues/{number}/comments")),
                Some(&json!({"body": full})),
            )
            .await?;
        Ok(created.id)
    }

    pub(super) async fn issue_comments(&self, number: u64) -> Result<Vec<Comment>> {
        Ok(self
            .list::<WireComment>(&self.path(&format!("issues/{number}/comments")))
            .await
            .map_err(|e| match e {
                Error::NotFound { .. } => Error::not_found(format!("pull request #{number}")),
                e => e,
            })?
            .into_iter()
            .map(|c| Comment {
                id: c.id,
                body: c.body,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pull(json: &serde_json::Value) -> Result<PullRequest> {
        serde_json::from_value::<WirePull>(json.clone())
            .map_err(|e| Error::malformed("GET pulls/1", e.to_string()))?
            .into_pull_request("GET pulls/1")
    }

    fn sample() -> serde_json::Value {
        json!({
            "number": 7, "state": "closed", "title": "t", "body": null,
            "html_url": "https://example.test/pr/7", "merged_at": "2025-01-01T00:00:00Z",
            "merge_commit_sha": "c".repeat(40),
            "head": {"ref": "gitops/prod/checkout", "sha": "a".repeat(40)},
            "base": {"ref": "main", "sha": "b".repeat(40)}
        })
    }

    #[test]
    fn a_listed_merged_pull_request_reads_whole() {
        let pr = pull(&sample()).unwrap();
        assert_eq!(pr.state, PrState::Merged);
        assert_eq!(
            pr.merge_sha.as_ref().map(ToString::to_string),
            Some("c".repeat(40))
        );
        assert_eq!(pr.body, "");
        assert_eq!(pr.mergeable, None);
        assert_eq!(
            pr.pair().map(|(e, m)| format!("{e}/{m}")).as_deref(),
            Some("prod/checkout")
        );
    }

    #[test]
    fn a_pull_request_missing_what_we_need_is_malformed() {
        for (pointer, field) in [
            ("head", "head"),
            ("base", "base"),
            ("number", "number"),
            ("merged_at", "merged_at"),
        ] {
            let mut v = sample();
            v.as_object_mut().unwrap().remove(pointer);
            let err = pull(&v).unwrap_err();
            assert!(
                err.to_string()
                    .contains(&format!("missing field `{field}`")),
                "{pointer}: {err}"
            );
            assert!(!err.is_retryable());
        }
        let mut v = sample();
        v["head"]["sha"] = json!("");
        assert!(matches!(pull(&v), Err(Error::Malformed { .. })));
        let mut v = sample();
        v["head"]["ref"] = json!("");
        let err = pull(&v).unwrap_err();
        assert!(err.to_string().contains("without a head"), "{err}");
        let mut v = sample();
        v["state"] = json!("draft");
        assert!(matches!(pull(&v), Err(Error::Malformed { .. })));
    }

    #[test]
    fn reviews_read_their_verdict() {
        let r: WireReview = serde_json::from_value(json!({
            "user": {"login": "renovate[bot]"}, "state": "CHANGES_REQUESTED",
            "commit_id": "a".repeat(40)
        }))
        .unwrap();
        assert_eq!(r.state, ReviewState::ChangesRequested);
        assert_eq!(
            r.user.map(|u| u.login.to_string()).as_deref(),
            Some("renovate[bot]")
        );
        let ghost: WireReview =
            serde_json::from_value(json!({"user": null, "state": "APPROVED", "commit_id": null}))
                .unwrap();
        assert!(ghost.user.is_none() && ghost.commit_id.is_none());
        assert!(
            serde_json::from_value::<WireReview>(json!({"state": "APPROVED", "commit_id": null}))
                .is_err(),
            "user is required (nullable)"
        );
    }
}
