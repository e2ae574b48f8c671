//! Webhook events: what a request changed in a repository, turned into the events GitHub would
//! send (`push`, `pull_request`, `pull_request_review`, `repository_dispatch`, `deployment`), each with its
//! payload as GitHub sends it, handed to the workflow runner.
//!
//! Events are found by difference rather than by hooking every handler: the repository's refs,
//! pull requests, reviews and dispatches are read before a mutating request and compared after
//! it, so every way of moving a ref (the git data API, contents, merges, a `git push` through
//! the test hook) starts the same `push`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::ctx::Ctx;
use super::wire::ApiError;
use crate::git::ZERO_OID;
use crate::json as j;
use crate::runner::Trigger;
use crate::runner::workflow::EventKind;
use crate::state::Pull;

/// What the REST API's pull request has and a review payload's `simple-pull-request` has not.
const NOT_IN_SIMPLE_PULL: &[&str] = &[
    "merged",
    "mergeable",
    "rebaseable",
    "mergeable_state",
    "merged_by",
    "comments",
    "review_comments",
    "maintainer_can_modify",
    "commits",
    "additions",
    "deletions",
    "changed_files",
];

/// Users as webhook payloads carry them, in every object of a payload but what its sender
/// chose (`client_payload`, `inputs`): without the REST API's `user_view_type` (which the
/// webhook schemas do not have), and a bot (`github-actions[bot]`) as GitHub shows one: type
/// `Bot`, its login percent-encoded in its URLs (a `[` is not allowed in a URI) and its page
/// under `/apps/`.
fn hook_users(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if o.contains_key("avatar_url")
                && let Some(login) = o.get("login").and_then(Value::as_str).map(str::to_owned)
            {
                o.remove("user_view_type");
                if let Some(app) = login.strip_suffix("[bot]") {
                    let encoded = format!("{app}%5Bbot%5D");
                    for (k, x) in o.iter_mut() {
                        if let (true, Value::String(u)) = (k.ends_with("url"), &mut *x) {
                            *u = u.replace(&login, &encoded);
                        }
                    }
                    if let Some(site) = o
                        .get("html_url")
                        .and_then(Value::as_str)
                        .and_then(|h| h.strip_suffix(&encoded))
                        .map(str::to_owned)
                    {
                        o.insert("html_url".into(), json!(format!("{site}apps/{app}")));
                    }
                    o.insert("type".into(), json!("Bot"));
                }
            }
            for (k, x) in o.iter_mut() {
                if k != "client_payload" && k != "inputs" {
                    hook_users(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(hook_users),
        _ => {}
    }
}

/// What events are computed from.
pub(super) struct Snapshot {
    refs: BTreeMap<String, String>,
    pulls: Vec<(u64, String)>,
    reviews: usize,
    dispatches: usize,
    deployments: usize,
}

/// The login GitHub gives a workflow's `GITHUB_TOKEN`; events it causes start no workflow
/// (except `workflow_dispatch` and `repository_dispatch`).
pub(crate) const ACTIONS_BOT: &str = "github-actions[bot]";

impl Ctx<'_> {
    pub(super) fn snapshot(&self) -> Result<Snapshot, ApiError> {
        let refs = self
            .git
            .refs()?
            .into_iter()
            .filter(|(n, _, _)| n.starts_with("refs/heads/") || n.starts_with("refs/tags/"))
            .map(|(n, sha, _)| (n, sha))
            .collect();
        Ok(self.read(|d| Snapshot {
            refs,
            pulls: d
                .pulls
                .iter()
                .map(|p| (p.number, p.state.clone()))
                .collect(),
            reviews: d.reviews.len(),
            dispatches: d.dispatches.len(),
            deployments: d.deployments.len(),
        }))
    }

    /// The events between `before` and now, in the order GitHub sends them.
    pub(super) fn events_since(&self, before: &Snapshot) -> Result<Vec<Trigger>, ApiError> {
        let after = self.snapshot()?;
        let mut out = Vec::new();
        // Branch -> (old, new) for every moved branch (a `synchronize` carries both).
        let mut moved_heads: BTreeMap<String, (String, String)> = BTreeMap::new();
        let names: std::collections::BTreeSet<&String> =
            before.refs.keys().chain(after.refs.keys()).collect();
        for name in names {
            let (old, new) = (before.refs.get(name), after.refs.get(name));
            if old == new {
                continue;
            }
            let old = old.map_or(ZERO_OID, String::as_str);
            let new = new.map_or(ZERO_OID, String::as_str);
            if let Some(branch) = name.strip_prefix("refs/heads/") {
                moved_heads.insert(branch.to_owned(), (old.to_owned(), new.to_owned()));
            }
            if new == ZERO_OID {
                // GitHub sends a push for a deletion but starts no workflow for it.
                continue;
            }
            out.push(self.push_event(name, old, new)?);
        }
        let pulls: Vec<Pull> = self.read(|d| d.pulls.clone());
        for p in &pulls {
            let was = before.pulls.iter().find(|(n, _)| *n == p.number);
            let moved = moved_heads.get(&p.head_ref);
            let action = match (was.map(|(_, s)| s.as_str()), p.state.as_str()) {
                (None, "open") => Some("opened"),
                (Some("closed"), "open") => Some("reopened"),
                (Some("open"), "closed") => Some("closed"),
                (Some("open"), "open") if moved.is_some() => Some("synchronize"),
                _ => None,
            };
            if let Some(action) = action {
                let moved = moved.filter(|_| action == "synchronize");
                out.push(self.pull_request_event(action, p, moved)?);
            }
        }
        let reviews = self.read(|d| d.reviews[before.reviews.min(d.reviews.len())..].to_vec());
        for r in reviews {
            if let Some(p) = pulls.iter().find(|p| p.number == r.pull) {
                // A review's payload carries the pull request in its short form
                // (`simple-pull-request`: no merge state, counts or `merged_by`) and the review's
                // state in lower case (`approved`), unlike the REST API's `APPROVED`.
                let mut pull = self.pull_payload(p)?;
                if let Some(o) = pull.as_object_mut() {
                    for k in NOT_IN_SIMPLE_PULL {
                        o.remove(*k);
                    }
                }
                let mut review = j::review(self.base(), &self.full, &r);
                review["state"] = json!(r.state.to_ascii_lowercase());
                let payload = self.hook_payload(json!({
                    "action": "submitted",
                    "review": review,
                    "pull_request": pull,
                    "repository": self.hook_repo(),
                    "sender": self.sender(),
                }));
                out.push(self.pull_trigger(
                    "pull_request_review",
                    payload,
                    p,
                    EventKind::PullRequestReview {
                        action: "submitted".into(),
                    },
                )?);
            }
        }
        let deployments =
            self.read(|d| d.deployments[before.deployments.min(d.deployments.len())..].to_vec());
        for d in deployments {
            let payload = self.hook_payload(json!({
                "action": "created",
                "deployment": j::deployment(self.base(), &self.full, &d),
                "workflow": null,
                "workflow_run": null,
                "repository": self.hook_repo(),
                "sender": self.sender(),
                "installation": self.installation(),
            }));
            out.push(Trigger {
                repo: self.full.clone(),
                event: "deployment".into(),
                kind: EventKind::Deployment,
                payload,
                actor: self.login.to_owned(),
                sha: d.sha.clone(),
                git_ref: d.git_ref.clone(),
                inputs: None,
                workflow: None,
            });
        }
        let dispatches =
            self.read(|d| d.dispatches[before.dispatches.min(d.dispatches.len())..].to_vec());
        for d in dispatches {
            let branch = self.meta.default_branch.clone();
            let Some(sha) = self.git.ref_target(&format!("refs/heads/{branch}"))? else {
                continue;
            };
            // GitHub delivers `repository_dispatch` to GitHub Apps, so the payload names the
            // installation (the schema requires it).
            let payload = self.hook_payload(json!({
                "action": d.event_type,
                "branch": branch,
                "client_payload": d.client_payload,
                "repository": self.hook_repo(),
                "sender": self.sender(),
                "installation": self.installation(),
            }));
            out.push(Trigger {
                repo: self.full.clone(),
                event: "repository_dispatch".into(),
                kind: EventKind::RepositoryDispatch {
                    event_type: d.event_type.clone(),
                },
                payload,
                actor: self.login.to_owned(),
                sha,
                git_ref: format!("refs/heads/{branch}"),
                inputs: None,
                workflow: None,
            });
        }
        Ok(out)
    }

    /// The sender of an event: the caller.
    pub(super) fn sender(&self) -> Value {
        let mut u = j::user(self.base(), self.login, false);
        if self.login.ends_with("[bot]") {
            u["type"] = json!("Bot");
        }
        u
    }

    /// The repository as webhook payloads carry it: the REST API's shape without what only the
    /// REST API answers (the caller's `permissions`, `network_count`, `subscribers_count`, the
    /// `organization` object, which a payload carries at its top level instead), with the
    /// repository's `custom_properties` (none are set here).
    pub(super) fn hook_repo(&self) -> Value {
        let mut r = self.repo_json();
        if let Some(o) = r.as_object_mut() {
            for k in [
                "permissions",
                "network_count",
                "subscribers_count",
                "organization",
            ] {
                o.remove(k);
            }
            o.insert("custom_properties".into(), json!({}));
        }
        r
    }

    /// The payload's top-level `organization`, when an organisation owns the repository.
    fn hook_org(&self) -> Option<Value> {
        if !self.meta.owner_is_org {
            return None;
        }
        let login = &self.meta.owner;
        let o = j::user(self.base(), login, true);
        let u = format!("{}/orgs/{login}", self.base());
        Some(json!({
            "login": login,
            "id": o["id"],
            "node_id": o["node_id"],
            "url": u,
            "repos_url": format!("{u}/repos"),
            "events_url": format!("{u}/events"),
            "hooks_url": format!("{u}/hooks"),
            "issues_url": format!("{u}/issues"),
            "members_url": format!("{u}/members{{/member}}"),
            "public_members_url": format!("{u}/public_members{{/member}}"),
            "avatar_url": o["avatar_url"],
            "description": null,
        }))
    }

    /// The installation of the GitHub App a payload is delivered to (`installation-lite`):
    /// fake-github models one per repository owner.
    fn installation(&self) -> Value {
        let id = j::user_id(&format!("installation/{}", self.meta.owner));
        json!({"id": id, "node_id": format!("IN_kw{id:08}")})
    }

    /// A payload as GitHub sends it: with the top-level `organization` for an organisation's
    /// repository, and users as webhooks show them (`hook_users`).
    pub(super) fn hook_payload(&self, mut payload: Value) -> Value {
        if let Some(org) = self.hook_org() {
            payload["organization"] = org;
        }
        hook_users(&mut payload);
        payload
    }

    fn push_event(&self, name: &str, before: &str, after: &str) -> Result<Trigger, ApiError> {
        let commits = if before == ZERO_OID {
            Vec::new()
        } else {
            self.git
                .ok(&[
                    "rev-list",
                    "--reverse",
                    "--max-count=20",
                    &format!("{before}..{after}"),
                ])?
                .lines()
                .map(str::to_owned)
                .collect()
        };
        let commit_json = |sha: &str| -> Result<Value, ApiError> {
            let c = self.commit_info(sha)?;
            let files = match c.parents.first() {
                Some(parent) => self.git.diff(parent, sha)?,
                None => Vec::new(),
            };
            let of = |status: &str| -> Vec<String> {
                files
                    .iter()
                    .filter(|f| f.status == status)
                    .map(|f| f.path.clone())
                    .collect()
            };
            Ok(json!({
                "id": sha,
                "tree_id": c.tree,
                "distinct": true,
                "message": c.message,
                "timestamp": j::ts(c.committer.time),
                "url": format!("{}/{}/commit/{sha}", self.base(), self.full),
                "author": {"name": c.author.name, "email": c.author.email, "username": c.author.name},
                "committer": {"name": c.committer.name, "email": c.committer.email, "username": c.committer.name},
                "added": of("added"),
                "removed": of("removed"),
                "modified": of("modified"),
            }))
        };
        let head = self
            .git
            .resolve_commit(after)?
            .map(|sha| commit_json(&sha))
            .transpose()?;
        let forced = before != ZERO_OID && !self.git.is_ancestor(before, after)?;
        // Files changed by the push, for `paths` filters: unknown (None) for a new ref, as on
        // GitHub, which then runs the workflow.
        let changed = if before == ZERO_OID {
            None
        } else {
            Some(
                self.git
                    .diff(before, after)?
                    .into_iter()
                    .map(|f| f.path)
                    .collect(),
            )
        };
        let mut repository = self.hook_repo();
        // Push payloads carry GitHub's legacy repository shape: times as epoch seconds,
        // `stargazers` and `master_branch`, and an organisation's login as `organization`.
        repository["created_at"] = json!(self.meta.created_at);
        repository["pushed_at"] = json!(j::now());
        repository["stargazers"] = repository["stargazers_count"].clone();
        repository["master_branch"] = json!(self.meta.default_branch);
        if self.meta.owner_is_org {
            repository["organization"] = json!(self.meta.owner);
        }
        let payload = self.hook_payload(json!({
            "ref": name,
            "before": before,
            "after": after,
            "created": before == ZERO_OID,
            "deleted": false,
            "forced": forced,
            "base_ref": null,
            "compare": format!("{}/{}/compare/{}...{}", self.base(), self.full, &before[..12], &after[..12]),
            "commits": commits.iter().map(|c| commit_json(c)).collect::<Result<Vec<_>, _>>()?,
            "head_commit": head,
            "repository": repository,
            "pusher": {"name": self.login, "email": format!("{}@users.noreply.github.com", self.login)},
            "sender": self.sender(),
        }));
        let sha = self
            .git
            .resolve_commit(after)?
            .unwrap_or_else(|| after.to_owned());
        Ok(Trigger {
            repo: self.full.clone(),
            event: "push".into(),
            kind: EventKind::Push {
                git_ref: name.to_owned(),
                changed,
            },
            payload,
            actor: self.login.to_owned(),
            sha,
            git_ref: name.to_owned(),
            inputs: None,
            workflow: None,
        })
    }

    fn pull_payload(&self, p: &Pull) -> Result<Value, ApiError> {
        let g = self.pull_git(p)?;
        Ok(j::pull(self.base(), &self.hook_repo(), &self.meta, p, &g))
    }

    /// A `pull_request` event; `moved` (the head's old and new sha) for `synchronize`, whose
    /// payload carries them as `before` and `after`.
    fn pull_request_event(
        &self,
        action: &str,
        p: &Pull,
        moved: Option<&(String, String)>,
    ) -> Result<Trigger, ApiError> {
        let mut payload = json!({
            "action": action,
            "number": p.number,
            "pull_request": self.pull_payload(p)?,
            "repository": self.hook_repo(),
            "sender": self.sender(),
        });
        if let Some((before, after)) = moved {
            payload["before"] = json!(before);
            payload["after"] = json!(after);
        }
        let payload = self.hook_payload(payload);
        let kind = EventKind::PullRequest {
            action: action.to_owned(),
            base_ref: p.base_ref.clone(),
            changed: None,
        };
        self.pull_trigger("pull_request", payload, p, kind)
    }

    /// A pull request event runs on the merge of head into base (`refs/pull/N/merge`, which
    /// this writes, with `refs/pull/N/head`), or on the head when they do not merge.
    fn pull_trigger(
        &self,
        event: &str,
        payload: Value,
        p: &Pull,
        mut kind: EventKind,
    ) -> Result<Trigger, ApiError> {
        let g = self.pull_git(p)?;
        let (head, base) = (g.head_sha, g.base_sha);
        self.git
            .ok(&["update-ref", &format!("refs/pull/{}/head", p.number), &head])?;
        let merge = match self.git.merge_tree(&base, &head)? {
            Some(tree) if p.state == "open" => {
                let sha = self.git.commit_tree(
                    &tree,
                    &[base.clone(), head.clone()],
                    &format!("Merge {head} into {base}"),
                    None,
                    None,
                )?;
                self.git
                    .ok(&["update-ref", &format!("refs/pull/{}/merge", p.number), &sha])?;
                Some(sha)
            }
            _ => None,
        };
        if let EventKind::PullRequest { changed, .. } = &mut kind
            && let Some(mb) = self.git.merge_base(&base, &head)?
        {
            *changed = Some(
                self.git
                    .diff(&mb, &head)?
                    .into_iter()
                    .map(|f| f.path)
                    .collect(),
            );
        }
        let (sha, git_ref) = match merge {
            Some(m) => (m, format!("refs/pull/{}/merge", p.number)),
            None => (head, format!("refs/pull/{}/head", p.number)),
        };
        Ok(Trigger {
            repo: self.full.clone(),
            event: event.to_owned(),
            kind,
            payload,
            actor: self.login.to_owned(),
            sha,
            git_ref,
            inputs: None,
            workflow: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::hook_users;
    use crate::json as j;

    #[test]
    fn users_lose_user_view_type_and_bots_look_as_on_github() {
        let base = "http://127.0.0.1:1";
        let mut payload = json!({
            "sender": j::user(base, "github-actions[bot]", false),
            "pull_request": {"user": j::user(base, "octocat", false)},
            "client_payload": {"who": {"login": "x[bot]", "avatar_url": "a", "user_view_type": "public"}},
        });
        hook_users(&mut payload);
        let bot = &payload["sender"];
        assert_eq!(bot["type"], "Bot");
        assert_eq!(bot["login"], "github-actions[bot]");
        assert_eq!(bot["url"], format!("{base}/users/github-actions%5Bbot%5D"));
        assert_eq!(
            bot["followers_url"],
            format!("{base}/users/github-actions%5Bbot%5D/followers")
        );
        assert_eq!(bot["html_url"], format!("{base}/apps/github-actions"));
        assert!(bot.get("user_view_type").is_none());
        let user = &payload["pull_request"]["user"];
        assert_eq!(user["type"], "User");
        assert_eq!(user["html_url"], format!("{base}/octocat"));
        assert!(user.get("user_view_type").is_none());
        // What the sender chose is theirs.
        assert_eq!(
            payload["client_payload"],
            json!({"who": {"login": "x[bot]", "avatar_url": "a", "user_view_type": "public"}})
        );
    }
}
