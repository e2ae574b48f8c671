//! Pull requests: list, create, read and update, their files, reviews, and the merge.
//!
//! GitHub merges a pull request against the base it last computed the pull request's
//! mergeability on; when the base has moved since (another merge landed), `PUT .../merge`
//! answers 405 "Base branch was modified" and GitHub computes again, so a retry succeeds. The
//! fake keeps that base per pull request (in memory: a restarted fake has computed nothing
//! yet) and records it whenever it shows or merges the pull request.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};

use serde_json::{Value, json};

use super::ctx::{Ctx, People};
use super::pagination::page;
use super::wire::{ApiError, R, Resp, bad_field, err, flag, invalid, missing, not_found, s};
use crate::Error;
use crate::json::{self as j, PullGit, now};
use crate::state::{Pull, Review};

/// GitHub's answer to a merge whose base moved since the mergeability it computed.
const BASE_MODIFIED: &str = "Base branch was modified. Review and try the merge again.";

/// Per (repository directory, pull request number): the base head the pull request's
/// mergeability was last computed against.
static TESTED_BASE: LazyLock<Mutex<HashMap<(PathBuf, u64), String>>> =
    LazyLock::new(Mutex::default);

fn tested_bases() -> std::sync::MutexGuard<'static, HashMap<(PathBuf, u64), String>> {
    TESTED_BASE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Records that pull request `number`'s mergeability was computed on `base`; the base it was
/// computed on before, if any.
fn test_against(dir: &Path, number: u64, base: &str) -> Option<String> {
    tested_bases().insert((dir.to_path_buf(), number), base.to_owned())
}

impl Ctx<'_> {
    pub(super) fn find_pull(&self, n: &str) -> Result<Pull, ApiError> {
        let n: u64 = n.parse().map_err(|_| not_found())?;
        self.read(|d| d.pulls.iter().find(|p| p.number == n).cloned())
            .ok_or_else(not_found)
    }

    pub(super) fn pull_git(&self, p: &Pull) -> Result<PullGit, ApiError> {
        let comments =
            self.read(|d| d.comments.iter().filter(|c| c.issue == p.number).count() as u64);
        let head = match &p.closed_head_sha {
            Some(s) => Some(s.clone()),
            None => self.git.ref_target(&format!("refs/heads/{}", p.head_ref))?,
        };
        let base = match &p.closed_base_sha {
            Some(s) => Some(s.clone()),
            None => self.git.ref_target(&format!("refs/heads/{}", p.base_ref))?,
        };
        let (Some(head), Some(base)) = (head, base) else {
            return Ok(PullGit {
                comments,
                ..PullGit::default()
            });
        };
        let mut g = PullGit {
            head_sha: head.clone(),
            base_sha: base.clone(),
            comments,
            ..PullGit::default()
        };
        if p.state == "open" {
            g.mergeable = Some(self.git.merge_tree(&base, &head)?.is_some());
            test_against(self.git.dir(), p.number, &base);
        }
        let count = self
            .git
            .ok(&["rev-list", "--count", &format!("{base}..{head}")])?;
        g.commits = count
            .parse()
            .map_err(|e| Error::Git(format!("rev-list --count printed {count:?}: {e}")))?;
        if let Some(mb) = self.git.merge_base(&base, &head)? {
            let files = self.git.diff(&mb, &head)?;
            g.changed_files = files.len() as u64;
            g.additions = files.iter().map(|f| f.additions).sum();
            g.deletions = files.iter().map(|f| f.deletions).sum();
        }
        Ok(g)
    }

    fn pull_json(&self, p: &Pull) -> Result<Value, ApiError> {
        let g = self.pull_git(p)?;
        Ok(j::pull(self.base(), &self.repo_json(), &self.meta, p, &g))
    }

    pub(super) fn list_pulls(&self, q: &HashMap<String, String>) -> R {
        let state = q.get("state").map_or("open", String::as_str);
        let head = q
            .get("head")
            .map(|h| h.split_once(':').map_or(h.as_str(), |(_, b)| b).to_owned());
        let head_owner = q
            .get("head")
            .and_then(|h| h.split_once(':').map(|(o, _)| o.to_ascii_lowercase()));
        if head_owner
            .as_deref()
            .is_some_and(|o| o != self.meta.owner.to_ascii_lowercase())
        {
            return Ok(Resp::json(200, json!([])));
        }
        let mut pulls: Vec<Pull> = self.read(|d| {
            d.pulls
                .iter()
                .filter(|p| state == "all" || p.state == state)
                .filter(|p| head.as_ref().is_none_or(|h| p.head_ref == *h))
                .filter(|p| q.get("base").is_none_or(|b| p.base_ref == *b))
                .cloned()
                .collect()
        });
        pulls.sort_by_key(|p| std::cmp::Reverse(p.number));
        if q.get("direction").is_some_and(|d| d == "asc") {
            pulls.reverse();
        }
        let items = pulls
            .iter()
            .map(|p| self.pull_json(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page(items, q, &self.url("pulls")))
    }

    pub(super) fn create_pull(&self, b: &Value) -> R {
        let Some(title) = s(b, "title")? else {
            return Err(missing("PullRequest", "title"));
        };
        let Some(head) = s(b, "head")? else {
            return Err(missing("PullRequest", "head"));
        };
        let Some(base) = s(b, "base")? else {
            return Err(missing("PullRequest", "base"));
        };
        let head_ref = match head.split_once(':') {
            Some((o, br)) if o.eq_ignore_ascii_case(&self.meta.owner) => br,
            Some(_) => return Err(bad_field("PullRequest", "head")),
            None => head,
        };
        let Some(head_sha) = self.git.ref_target(&format!("refs/heads/{head_ref}"))? else {
            return Err(bad_field("PullRequest", "head"));
        };
        let Some(base_sha) = self.git.ref_target(&format!("refs/heads/{base}"))? else {
            return Err(bad_field("PullRequest", "base"));
        };
        let dup = self.read(|d| {
            d.pulls
                .iter()
                .any(|p| p.state == "open" && p.head_ref == head_ref && p.base_ref == base)
        });
        if dup {
            return Err(invalid(
                "Validation Failed",
                json!([{"resource": "PullRequest", "code": "custom", "message": format!("A pull request already exists for {}:{head_ref}.", self.meta.owner)}]),
            ));
        }
        if self.git.is_ancestor(&head_sha, &base_sha)? {
            return Err(invalid(
                "Validation Failed",
                json!([{"resource": "PullRequest", "code": "custom", "message": format!("No commits between {base} and {head_ref}")}]),
            ));
        }
        let body = s(b, "body")?.map(str::to_owned);
        let draft = flag(b, "draft")?.unwrap_or(false);
        let t = now();
        let pull = self.write(|d, id| {
            let number = d.next_number.max(1);
            d.next_number = number + 1;
            let p = Pull {
                id: id(),
                number,
                user: self.login.to_owned(),
                title: title.to_owned(),
                body,
                head_ref: head_ref.to_owned(),
                base_ref: base.to_owned(),
                closed_head_sha: None,
                closed_base_sha: None,
                state: "open".into(),
                draft,
                merged: false,
                merged_by: None,
                merge_commit_sha: None,
                created_at: t,
                updated_at: t,
                closed_at: None,
                merged_at: None,
            };
            d.pulls.push(p.clone());
            p
        })?;
        let v = self.pull_json(&pull)?;
        Ok(Resp::json(201, v).header("location", self.url(&format!("pulls/{}", pull.number))))
    }

    pub(super) fn get_pull(&self, n: &str) -> R {
        let p = self.find_pull(n)?;
        Ok(Resp::json(200, self.pull_json(&p)?))
    }

    pub(super) fn update_pull(&self, n: &str, b: &Value) -> R {
        let p = self.find_pull(n)?;
        let new_state = s(b, "state")?;
        if let Some(st) = new_state
            && st != "open"
            && st != "closed"
        {
            return Err(bad_field("PullRequest", "state"));
        }
        if new_state == Some("open") && p.merged {
            return Err(invalid(
                "Validation Failed",
                json!([{"resource": "PullRequest", "code": "custom", "message": "state cannot be changed. The pull request has been merged."}]),
            ));
        }
        let title = s(b, "title")?;
        // `"body": null` clears the body; an absent one leaves it.
        let body = b.get("body").map(|_| s(b, "body")).transpose()?;
        let new_base = s(b, "base")?;
        if let Some(base) = new_base
            && self
                .git
                .ref_target(&format!("refs/heads/{base}"))?
                .is_none()
        {
            return Err(bad_field("PullRequest", "base"));
        }
        let head_now = self.git.ref_target(&format!("refs/heads/{}", p.head_ref))?;
        let base_now = self.git.ref_target(&format!("refs/heads/{}", p.base_ref))?;
        let t = now();
        let updated = self.write(|d, _| {
            let p = d.pulls.iter_mut().find(|x| x.number == p.number)?;
            if let Some(title) = title {
                title.clone_into(&mut p.title);
            }
            if let Some(body) = body {
                p.body = body.map(str::to_owned);
            }
            if let Some(base) = new_base {
                base.clone_into(&mut p.base_ref);
            }
            match new_state {
                Some("closed") if p.state == "open" => {
                    p.state = "closed".into();
                    p.closed_at = Some(t);
                    p.closed_head_sha.clone_from(&head_now);
                    p.closed_base_sha.clone_from(&base_now);
                }
                Some("open") if p.state == "closed" => {
                    p.state = "open".into();
                    p.closed_at = None;
                    p.closed_head_sha = None;
                    p.closed_base_sha = None;
                }
                _ => {}
            }
            p.updated_at = t;
            Some(p.clone())
        })?;
        let p = updated.ok_or_else(not_found)?;
        Ok(Resp::json(200, self.pull_json(&p)?))
    }

    pub(super) fn pull_files(&self, n: &str, q: &HashMap<String, String>) -> R {
        let p = self.find_pull(n)?;
        let g = self.pull_git(&p)?;
        if g.head_sha.is_empty() {
            return Ok(Resp::json(200, json!([])));
        }
        let mb = self
            .git
            .merge_base(&g.base_sha, &g.head_sha)?
            .unwrap_or(g.base_sha.clone());
        let items = self
            .git
            .diff(&mb, &g.head_sha)?
            .into_iter()
            .map(|f| {
                let at = if f.status == "removed" {
                    mb.clone()
                } else {
                    g.head_sha.clone()
                };
                json!({
                    "sha": f.sha,
                    "filename": f.path,
                    "status": f.status,
                    "additions": f.additions,
                    "deletions": f.deletions,
                    "changes": f.additions + f.deletions,
                    "blob_url": format!("{}/{}/blob/{at}/{}", self.base(), self.full, f.path),
                    "raw_url": format!("{}/{}/raw/{at}/{}", self.base(), self.full, f.path),
                    "contents_url": self.url(&format!("contents/{}?ref={at}", f.path)),
                })
            })
            .collect();
        Ok(page(
            items,
            q,
            &self.url(&format!("pulls/{}/files", p.number)),
        ))
    }

    pub(super) fn list_reviews(&self, n: &str, q: &HashMap<String, String>) -> R {
        let p = self.find_pull(n)?;
        let items = self.read(|d| {
            d.reviews
                .iter()
                .filter(|r| r.pull == p.number)
                .map(|r| j::review(self.base(), &self.full, r))
                .collect()
        });
        Ok(page(
            items,
            q,
            &self.url(&format!("pulls/{}/reviews", p.number)),
        ))
    }

    pub(super) fn create_review(&self, n: &str, b: &Value) -> R {
        let p = self.find_pull(n)?;
        let state = match s(b, "event")? {
            Some("APPROVE") => "APPROVED",
            Some("REQUEST_CHANGES") => "CHANGES_REQUESTED",
            Some("COMMENT") => "COMMENTED",
            None => "PENDING",
            Some(_) => return Err(invalid("Unprocessable Entity", json!(["Invalid event"]))),
        };
        // A review without a body has GitHub's empty body.
        let body = s(b, "body")?.unwrap_or("");
        if p.state != "open" && state != "COMMENTED" {
            return Err(invalid(
                "Unprocessable Entity",
                json!(["Can not approve or request changes on a closed pull request"]),
            ));
        }
        if p.user.eq_ignore_ascii_case(self.login)
            && (state == "APPROVED" || state == "CHANGES_REQUESTED")
        {
            let what = if state == "APPROVED" {
                "approve"
            } else {
                "request changes on"
            };
            return Err(invalid(
                "Unprocessable Entity",
                json!([format!("Review Can not {what} your own pull request")]),
            ));
        }
        if (state == "CHANGES_REQUESTED" || state == "COMMENTED") && body.is_empty() {
            return Err(invalid(
                "Unprocessable Entity",
                json!(["Review body is required"]),
            ));
        }
        let g = self.pull_git(&p)?;
        let commit_id = s(b, "commit_id")?.map_or(g.head_sha, str::to_owned);
        let t = now();
        let r = self.write(|d, id| {
            let r = Review {
                id: id(),
                pull: p.number,
                user: self.login.to_owned(),
                body: body.to_owned(),
                state: state.to_owned(),
                commit_id,
                submitted_at: t,
            };
            d.reviews.push(r.clone());
            r
        })?;
        Ok(Resp::json(200, j::review(self.base(), &self.full, &r)))
    }

    pub(super) fn is_merged(&self, n: &str) -> R {
        let p = self.find_pull(n)?;
        if p.merged {
            Ok(Resp::empty(204))
        } else {
            Err(not_found())
        }
    }

    pub(super) fn merge(&self, n: &str, b: &Value) -> R {
        let p = self.find_pull(n)?;
        if p.state != "open" {
            return Err(err(405, "Pull Request is not mergeable"));
        }
        // What GitHub computed before this request (showing the pull request computes again).
        let tested = tested_bases()
            .get(&(self.git.dir().to_path_buf(), p.number))
            .cloned();
        let g = self.pull_git(&p)?;
        if g.head_sha.is_empty() {
            return Err(err(405, "Pull Request is not mergeable"));
        }
        if let Some(sha) = s(b, "sha")?
            && sha != g.head_sha
        {
            return Err(err(
                409,
                "Head branch was modified. Review and try the merge again.",
            ));
        }
        let method = s(b, "merge_method")?.unwrap_or("merge");
        let settings = self.settings()?;
        let allowed = match method {
            "merge" => settings.allow_merge_commit,
            "squash" => settings.allow_squash_merge,
            "rebase" => settings.allow_rebase_merge,
            _ => return Err(bad_field("PullRequest", "merge_method")),
        };
        if !allowed {
            let what = match method {
                "merge" => "Merge commits",
                "squash" => "Squash merges",
                _ => "Rebase merges",
            };
            return Err(err(
                405,
                format!("{what} are not allowed on this repository."),
            ));
        }
        if tested.is_some_and(|t| t != g.base_sha) {
            return Err(err(405, BASE_MODIFIED));
        }
        let Some(tree) = self.git.merge_tree(&g.base_sha, &g.head_sha)? else {
            return Err(err(405, "Pull Request is not mergeable"));
        };
        let head = self.commit_info(&g.head_sha)?;
        let (title, parents) = match method {
            "merge" => (
                format!(
                    "Merge pull request #{} from {}/{}",
                    p.number, self.meta.owner, p.head_ref
                ),
                vec![g.base_sha.clone(), g.head_sha.clone()],
            ),
            "squash" => (
                format!("{} (#{})", p.title, p.number),
                vec![g.base_sha.clone()],
            ),
            // A deploy branch holds one commit of its own: replayed on the base, it keeps its
            // message (and, below, its author).
            _ => (
                head.message.lines().next().unwrap_or_default().to_owned(),
                vec![g.base_sha.clone()],
            ),
        };
        let title = s(b, "commit_title")?.map_or(title, str::to_owned);
        let body = s(b, "commit_message")?.map_or_else(
            || match method {
                "merge" => p.title.clone(),
                "rebase" => head
                    .message
                    .split_once('\n')
                    .map(|(_, rest)| rest.trim().to_owned())
                    .unwrap_or_default(),
                _ => String::new(),
            },
            str::to_owned,
        );
        let message = if body.is_empty() {
            format!("{title}\n")
        } else {
            format!("{title}\n\n{body}\n")
        };
        let author = if method == "rebase" {
            (
                head.author.name.clone(),
                head.author.email.clone(),
                Some(format!("@{} +0000", head.author.time)),
            )
        } else {
            self.caller()
        };
        let people = People {
            author,
            committer: Some(("GitHub".into(), "noreply@github.com".into(), None)),
        };
        let sha = self.commit_as(&people, &tree, &parents, &message)?;
        if !self
            .git
            .update_ref(&format!("refs/heads/{}", p.base_ref), &sha, &g.base_sha)?
        {
            return Err(err(405, BASE_MODIFIED));
        }
        let t = now();
        self.write(|d, _| {
            if let Some(x) = d.pulls.iter_mut().find(|x| x.number == p.number) {
                x.state = "closed".into();
                x.merged = true;
                x.merged_by = Some(self.login.to_owned());
                x.merge_commit_sha = Some(sha.clone());
                x.merged_at = Some(t);
                x.closed_at = Some(t);
                x.updated_at = t;
                x.closed_head_sha = Some(g.head_sha.clone());
                x.closed_base_sha = Some(g.base_sha.clone());
            }
        })?;
        Ok(Resp::json(
            200,
            json!({"sha": sha, "merged": true, "message": "Pull Request successfully merged"}),
        ))
    }
}
