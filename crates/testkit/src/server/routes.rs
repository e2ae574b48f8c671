//! Routing: every REST operation fake-github serves, matched over path segments.

use std::collections::HashMap;
use std::sync::Arc;

use super::ctx::{Ctx, repo_key};
use super::rate_limit;
use super::repos::create_repo;
use super::wire::{R, Resp, body_json, not_found};
use super::{App, lock};

/// Routes an authenticated API request (path segments percent-decoded, so refs and paths may
/// hold slashes). Mutating requests to one repository are serialised, so racing clients see
/// GitHub's conflicts.
pub(super) fn route(
    app: &App,
    login: &str,
    method: &str,
    segs: &[&str],
    q: &HashMap<String, String>,
    body: &[u8],
) -> R {
    match (method, segs) {
        ("GET", ["rate_limit"]) => Ok(rate_limit::endpoint(app)),
        ("POST", ["user", "repos"]) => create_repo(app, login, false, &body_json(body)?),
        ("POST", ["orgs", org, "repos"]) => create_repo(app, org, true, &body_json(body)?),
        ("GET", ["_codeload", owner, repo, "legacy.tar.gz", sha]) => {
            let ctx = Ctx::open(app, login, owner, repo)?;
            ctx.codeload(sha)
        }
        (_, ["repos", owner, repo, rest @ ..]) => {
            let ctx = Ctx::open(app, login, owner, repo)?;
            let mutating = method != "GET" && method != "HEAD";
            let repo_lock = if mutating {
                let key = repo_key(owner, repo);
                Some(Arc::clone(lock(&app.locks).entry(key).or_default()))
            } else {
                None
            };
            let _guard = repo_lock.as_ref().map(|l| lock(l));
            // With the workflow runner, what a change did becomes the events GitHub sends.
            let before = if mutating && app.wants_events() {
                Some(ctx.snapshot()?)
            } else {
                None
            };
            let answer = ctx.route(method, rest, q, body)?;
            if let Some(before) = before {
                app.emit(ctx.events_since(&before)?);
            }
            Ok(answer)
        }
        ("GET", ["users", user]) => {
            // `public-user`: the simple user plus the profile fields.
            let mut u = crate::json::user(app.base(), user, false);
            for (k, v) in [
                ("name", serde_json::Value::Null),
                ("company", serde_json::Value::Null),
                ("blog", "".into()),
                ("location", serde_json::Value::Null),
                ("email", serde_json::Value::Null),
                ("hireable", serde_json::Value::Null),
                ("bio", serde_json::Value::Null),
                ("public_repos", 0.into()),
                ("public_gists", 0.into()),
                ("followers", 0.into()),
                ("following", 0.into()),
                ("created_at", "2020-01-01T00:00:00Z".into()),
                ("updated_at", "2020-01-01T00:00:00Z".into()),
            ] {
                u[k] = v;
            }
            Ok(Resp::json(200, u))
        }
        _ => Err(not_found()),
    }
}

impl Ctx<'_> {
    /// Routes `/repos/{owner}/{repo}/{rest}`, one arm per operation, grouped by resource.
    fn route(&self, method: &str, rest: &[&str], q: &HashMap<String, String>, body: &[u8]) -> R {
        match (method, rest) {
            ("GET", []) => self.get_repo(),
            ("PATCH", []) => self.update_repo(&body_json(body)?),
            ("GET", ["contents", path @ ..]) => self.get_contents(&path.join("/"), q),
            ("PUT", ["contents", path @ ..]) => {
                self.put_contents(&path.join("/"), &body_json(body)?)
            }
            ("GET", ["git", "refs", name @ ..])
                if !name.is_empty() && self.is_ref(&name.join("/"))? =>
            {
                self.get_ref(&name.join("/"))
            }
            ("GET", ["git", "refs" | "matching-refs", prefix @ ..]) => {
                self.list_refs(&prefix.join("/"), q)
            }
            ("GET", ["git", "ref", name @ ..]) => self.get_ref(&name.join("/")),
            ("POST", ["git", "refs"]) => self.create_ref(&body_json(body)?),
            ("PATCH", ["git", "refs", name @ ..]) => {
                self.update_ref(&name.join("/"), &body_json(body)?)
            }
            ("DELETE", ["git", "refs", name @ ..]) => self.delete_ref(&name.join("/")),
            ("POST", ["git", "blobs"]) => self.create_blob(&body_json(body)?),
            ("GET", ["git", "blobs", sha]) => self.get_blob(sha),
            ("POST", ["git", "trees"]) => self.create_tree(&body_json(body)?),
            ("GET", ["git", "trees", sha @ ..]) => self.get_tree(&sha.join("/"), q),
            ("POST", ["git", "commits"]) => self.create_commit(&body_json(body)?),
            ("GET", ["git", "commits", sha]) => self.get_commit(sha),
            ("GET", ["tarball", r @ ..]) => self.tarball(&r.join("/")),
            ("GET", ["pulls"]) => self.list_pulls(q),
            ("POST", ["pulls"]) => self.create_pull(&body_json(body)?),
            ("GET", ["pulls", n]) => self.get_pull(n),
            ("PATCH", ["pulls", n]) => self.update_pull(n, &body_json(body)?),
            ("GET", ["pulls", n, "files"]) => self.pull_files(n, q),
            ("GET", ["pulls", n, "reviews"]) => self.list_reviews(n, q),
            ("POST", ["pulls", n, "reviews"]) => self.create_review(n, &body_json(body)?),
            ("GET", ["pulls", n, "merge"]) => self.is_merged(n),
            ("PUT", ["pulls", n, "merge"]) => self.merge(n, &body_json(body)?),
            ("GET", ["issues", n, "comments"]) => self.list_comments(n, q),
            ("POST", ["issues", n, "comments"]) => self.create_comment(n, &body_json(body)?),
            ("GET", ["issues", "comments", id]) => self.get_comment(id),
            ("PATCH", ["issues", "comments", id]) => self.update_comment(id, &body_json(body)?),
            ("DELETE", ["issues", "comments", id]) => self.delete_comment(id),
            ("POST", ["statuses", sha]) => self.create_status(sha, &body_json(body)?),
            ("GET", ["commits", r @ .., "status"]) if !r.is_empty() => {
                self.combined_status(&r.join("/"))
            }
            ("GET", ["commits", r @ .., "statuses"]) if !r.is_empty() => {
                self.list_statuses(&r.join("/"), q)
            }
            ("GET", ["commits", r @ .., "check-runs"]) if !r.is_empty() => {
                self.list_check_runs(&r.join("/"), q)
            }
            ("POST", ["check-runs"]) => self.create_check_run(None, &body_json(body)?),
            ("PATCH", ["check-runs", id]) => self.create_check_run(Some(id), &body_json(body)?),
            ("GET", ["check-runs", id]) => self.get_check_run(id),
            ("GET", ["deployments"]) => Ok(self.list_deployments(q)),
            ("POST", ["deployments"]) => self.create_deployment(&body_json(body)?),
            ("GET", ["deployments", id]) => self.get_deployment(id),
            ("GET", ["deployments", id, "statuses"]) => self.list_deployment_statuses(id, q),
            ("POST", ["deployments", id, "statuses"]) => {
                self.create_deployment_status(id, &body_json(body)?)
            }
            ("POST", ["dispatches"]) => self.dispatch(&body_json(body)?),
            ("PUT", ["collaborators", user]) => self.add_collaborator(user, &body_json(body)?),
            ("DELETE", ["collaborators", user]) => self.remove_collaborator(user),
            ("GET", ["collaborators", user, "permission"]) => self.collaborator_permission(user),
            ("GET", ["releases"]) => Ok(self.list_releases()),
            ("POST", ["releases"]) => self.create_release(&body_json(body)?),
            ("GET", ["actions", "runs"]) => self.list_runs(q),
            ("GET", ["actions", "runs", id]) => self.get_run(id),
            ("GET", ["actions", "workflows", w, "runs"]) => {
                let mut q = q.clone();
                q.insert("workflow".into(), (*w).to_owned());
                self.list_runs(&q)
            }
            ("POST", ["actions", "workflows", w, "dispatches"]) => {
                self.workflow_dispatch(w, &body_json(body)?)
            }
            ("GET", ["actions", "runs", id, "jobs"]) => self.list_jobs(id),
            ("GET", ["actions", "runs", id, "pending_deployments"]) => self.pending_deployments(id),
            ("POST", ["actions", "runs", id, "pending_deployments"]) => {
                self.review_deployments(id, &body_json(body)?)
            }
            ("POST", ["actions", "runs", id, "cancel"]) => self.cancel(id),
            ("POST", ["actions", "variables"]) => self.create_variable(None, &body_json(body)?),
            ("GET", ["environments"]) => Ok(self.list_environments()),
            ("GET", ["environments", name]) => self.get_environment(name),
            ("PUT", ["environments", name]) => self.put_environment(name, &body_json(body)?),
            ("POST", ["environments", name, "variables"]) => {
                self.create_variable(Some(name), &body_json(body)?)
            }
            ("POST", ["environments", name, "deployment-branch-policies"]) => {
                self.add_branch_policy(name, &body_json(body)?)
            }
            _ => Err(not_found()),
        }
    }
}
