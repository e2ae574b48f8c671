//! Builders of GitHub's JSON shapes (field sets taken from GitHub's OpenAPI description).

#![allow(clippy::many_single_char_names)]

use serde_json::{Value, json};

use crate::git::{CommitInfo, Person};
use crate::state::{
    CheckRun, Comment, Deployment, DeploymentStatus, Pull, RepoMeta, Review, Status, WorkflowRun,
};

/// RFC 3339 UTC timestamp as GitHub prints it (`2024-01-02T03:04:05Z`).
pub fn ts(secs: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A stable numeric id for a login.
pub fn user_id(login: &str) -> u64 {
    // FNV-1a, folded into a positive range that cannot collide with object ids.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in login.to_ascii_lowercase().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    1_000_000 + h % 1_000_000_000
}

fn node_id(kind: &str, id: u64) -> String {
    format!("{kind}_kw{id:08}")
}

/// `simple-user`.
pub fn user(base: &str, login: &str, is_org: bool) -> Value {
    let id = user_id(login);
    let u = format!("{base}/users/{login}");
    json!({
        "login": login,
        "id": id,
        "node_id": node_id(if is_org { "O" } else { "U" }, id),
        "avatar_url": format!("{base}/avatars/{login}"),
        "gravatar_id": "",
        "url": u,
        "html_url": format!("{base}/{login}"),
        "followers_url": format!("{u}/followers"),
        "following_url": format!("{u}/following{{/other_user}}"),
        "gists_url": format!("{u}/gists{{/gist_id}}"),
        "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{u}/subscriptions"),
        "organizations_url": format!("{u}/orgs"),
        "repos_url": format!("{u}/repos"),
        "events_url": format!("{u}/events{{/privacy}}"),
        "received_events_url": format!("{u}/received_events"),
        "type": if is_org { "Organization" } else { "User" },
        "user_view_type": "public",
        "site_admin": false,
    })
}

/// Full repository object (a superset of `full-repository`, `repository`, `minimal-repository`).
pub fn repo(base: &str, m: &RepoMeta, open_issues: u64, pushed_at: i64) -> Value {
    let full = format!("{}/{}", m.owner, m.name);
    let u = format!("{base}/repos/{full}");
    let html = format!("{base}/{full}");
    let mut v = json!({
        "id": m.id,
        "node_id": node_id("R", m.id),
        "name": m.name,
        "full_name": full,
        "private": m.private,
        "owner": user(base, &m.owner, m.owner_is_org),
        "html_url": html,
        "description": m.description,
        "fork": false,
        "url": u,
        "archive_url": format!("{u}/{{archive_format}}{{/ref}}"),
        "assignees_url": format!("{u}/assignees{{/user}}"),
        "blobs_url": format!("{u}/git/blobs{{/sha}}"),
        "branches_url": format!("{u}/branches{{/branch}}"),
        "collaborators_url": format!("{u}/collaborators{{/collaborator}}"),
        "comments_url": format!("{u}/comments{{/number}}"),
        "commits_url": format!("{u}/commits{{/sha}}"),
        "compare_url": format!("{u}/compare/{{base}}...{{head}}"),
        "contents_url": format!("{u}/contents/{{+path}}"),
        "contributors_url": format!("{u}/contributors"),
        "deployments_url": format!("{u}/deployments"),
        "downloads_url": format!("{u}/downloads"),
        "events_url": format!("{u}/events"),
        "forks_url": format!("{u}/forks"),
        "git_commits_url": format!("{u}/git/commits{{/sha}}"),
        "git_refs_url": format!("{u}/git/refs{{/sha}}"),
        "git_tags_url": format!("{u}/git/tags{{/sha}}"),
        "git_url": format!("{base}/{full}.git"),
        "issue_comment_url": format!("{u}/issues/comments{{/number}}"),
        "issue_events_url": format!("{u}/issues/events{{/number}}"),
        "issues_url": format!("{u}/issues{{/number}}"),
        "keys_url": format!("{u}/keys{{/key_id}}"),
        "labels_url": format!("{u}/labels{{/name}}"),
        "languages_url": format!("{u}/languages"),
        "merges_url": format!("{u}/merges"),
        "milestones_url": format!("{u}/milestones{{/number}}"),
        "notifications_url": format!("{u}/notifications{{?since,all,participating}}"),
        "pulls_url": format!("{u}/pulls{{/number}}"),
        "releases_url": format!("{u}/releases{{/id}}"),
        "ssh_url": format!("git@fake-github:{full}.git"),
        "stargazers_url": format!("{u}/stargazers"),
        "statuses_url": format!("{u}/statuses/{{sha}}"),
        "subscribers_url": format!("{u}/subscribers"),
        "subscription_url": format!("{u}/subscription"),
        "tags_url": format!("{u}/tags"),
        "teams_url": format!("{u}/teams"),
        "trees_url": format!("{u}/git/trees{{/sha}}"),
        "clone_url": format!("{base}/{full}.git"),
        "mirror_url": null,
        "hooks_url": format!("{u}/hooks"),
        "svn_url": html,
        "homepage": null,
        "language": null,
        "forks_count": 0,
        "forks": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "watchers": 0,
        "size": 0,
        "default_branch": m.default_branch,
        "open_issues_count": open_issues,
        "open_issues": open_issues,
        "is_template": false,
        "topics": [],
        "has_issues": true,
        "has_projects": true,
        "has_wiki": true,
        "has_pages": false,
        "has_downloads": true,
        "has_discussions": false,
        "archived": false,
        "disabled": false,
        "visibility": if m.private { "private" } else { "public" },
        "pushed_at": ts(pushed_at),
        "created_at": ts(m.created_at),
        "updated_at": ts(m.updated_at),
        "permissions": {"admin": true, "maintain": true, "push": true, "triage": true, "pull": true},
        "allow_rebase_merge": true,
        "allow_squash_merge": true,
        "allow_merge_commit": true,
        "allow_auto_merge": false,
        "delete_branch_on_merge": false,
        "allow_forking": true,
        "web_commit_signoff_required": false,
        "license": null,
        "network_count": 0,
        "subscribers_count": 0,
    });
    if m.owner_is_org
        && let Some(o) = v.as_object_mut()
    {
        o.insert("organization".into(), user(base, &m.owner, true));
    }
    v
}

/// `git-ref`.
pub fn git_ref(base: &str, full: &str, name: &str, sha: &str, kind: &str) -> Value {
    let u = format!("{base}/repos/{full}");
    json!({
        "ref": name,
        "node_id": format!("REF_{}", &sha[..sha.len().min(12)]),
        "url": format!("{u}/git/{name}"),
        "object": {"type": kind, "sha": sha, "url": format!("{u}/git/{kind}s/{sha}")},
    })
}

fn person(p: &Person) -> Value {
    json!({"name": p.name, "email": p.email, "date": ts(p.time)})
}

/// `git-commit`.
pub fn git_commit(base: &str, full: &str, sha: &str, c: &CommitInfo) -> Value {
    let u = format!("{base}/repos/{full}");
    json!({
        "sha": sha,
        "node_id": format!("C_{}", &sha[..sha.len().min(12)]),
        "url": format!("{u}/git/commits/{sha}"),
        "html_url": format!("{base}/{full}/commit/{sha}"),
        "author": person(&c.author),
        "committer": person(&c.committer),
        "message": c.message,
        "tree": {"sha": c.tree, "url": format!("{u}/git/trees/{}", c.tree)},
        "parents": c.parents.iter().map(|p| json!({
            "sha": p,
            "url": format!("{u}/git/commits/{p}"),
            "html_url": format!("{base}/{full}/commit/{p}"),
        })).collect::<Vec<_>>(),
        "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null},
    })
}

/// The links triple of a content object.
fn content_links(
    base: &str,
    full: &str,
    path: &str,
    sha: &str,
    git_kind: &str,
    git_ref: &str,
) -> Value {
    json!({
        "self": format!("{base}/repos/{full}/contents/{path}?ref={git_ref}"),
        "git": format!("{base}/repos/{full}/git/{git_kind}/{sha}"),
        "html": format!("{base}/{full}/blob/{git_ref}/{path}"),
    })
}

/// A directory entry or file object of the contents API (without `content`).
pub fn content_entry(
    base: &str,
    full: &str,
    path: &str,
    sha: &str,
    kind: &str,
    size: u64,
    git_ref: &str,
) -> Value {
    let name = path.rsplit('/').next().unwrap_or(path);
    let git_kind = if kind == "dir" { "trees" } else { "blobs" };
    let links = content_links(base, full, path, sha, git_kind, git_ref);
    json!({
        "type": kind,
        "name": name,
        "path": path,
        "sha": sha,
        "size": size,
        "url": links["self"],
        "git_url": links["git"],
        "html_url": links["html"],
        "download_url": if kind == "file" {
            Value::String(format!("{base}/raw/{full}/{git_ref}/{path}"))
        } else {
            Value::Null
        },
        "_links": links,
    })
}

fn links_pull(base: &str, full: &str, n: u64, head_sha: &str) -> Value {
    let u = format!("{base}/repos/{full}");
    json!({
        "self": {"href": format!("{u}/pulls/{n}")},
        "html": {"href": format!("{base}/{full}/pull/{n}")},
        "issue": {"href": format!("{u}/issues/{n}")},
        "comments": {"href": format!("{u}/issues/{n}/comments")},
        "review_comments": {"href": format!("{u}/pulls/{n}/comments")},
        "review_comment": {"href": format!("{u}/pulls/comments{{/number}}")},
        "commits": {"href": format!("{u}/pulls/{n}/commits")},
        "statuses": {"href": format!("{u}/statuses/{head_sha}")},
    })
}

/// Facts about a pull request computed from git at response time.
#[derive(Debug, Clone, Default)]
pub struct PullGit {
    /// Head commit.
    pub head_sha: String,
    /// Base branch tip.
    pub base_sha: String,
    /// None while unknown, otherwise whether a merge would be clean.
    pub mergeable: Option<bool>,
    /// Commits on head not on base.
    pub commits: u64,
    /// Added lines.
    pub additions: u64,
    /// Deleted lines.
    pub deletions: u64,
    /// Changed files.
    pub changed_files: u64,
    /// Issue comments.
    pub comments: u64,
}

/// `pull-request` (a superset of `pull-request-simple`).
pub fn pull(base: &str, repo_json: &Value, m: &RepoMeta, p: &Pull, g: &PullGit) -> Value {
    let full = format!("{}/{}", m.owner, m.name);
    let u = format!("{base}/repos/{full}");
    let n = p.number;
    let owner = user(base, &m.owner, m.owner_is_org);
    let mergeable_state = match (p.state.as_str(), g.mergeable) {
        ("open", Some(true)) => "clean",
        ("open", Some(false)) => "dirty",
        _ => "unknown",
    };
    json!({
        "url": format!("{u}/pulls/{n}"),
        "id": p.id,
        "node_id": node_id("PR", p.id),
        "html_url": format!("{base}/{full}/pull/{n}"),
        "diff_url": format!("{base}/{full}/pull/{n}.diff"),
        "patch_url": format!("{base}/{full}/pull/{n}.patch"),
        "issue_url": format!("{u}/issues/{n}"),
        "commits_url": format!("{u}/pulls/{n}/commits"),
        "review_comments_url": format!("{u}/pulls/{n}/comments"),
        "review_comment_url": format!("{u}/pulls/comments{{/number}}"),
        "comments_url": format!("{u}/issues/{n}/comments"),
        "statuses_url": format!("{u}/statuses/{}", g.head_sha),
        "number": n,
        "state": p.state,
        "locked": false,
        "title": p.title,
        "user": user(base, &p.user, false),
        "body": p.body,
        "labels": [],
        "milestone": null,
        "active_lock_reason": null,
        "created_at": ts(p.created_at),
        "updated_at": ts(p.updated_at),
        "closed_at": p.closed_at.map(ts),
        "merged_at": p.merged_at.map(ts),
        "merge_commit_sha": p.merge_commit_sha,
        "assignee": null,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": {
            "label": format!("{}:{}", m.owner, p.head_ref),
            "ref": p.head_ref,
            "sha": g.head_sha,
            "user": owner,
            "repo": repo_json,
        },
        "base": {
            "label": format!("{}:{}", m.owner, p.base_ref),
            "ref": p.base_ref,
            "sha": g.base_sha,
            "user": owner,
            "repo": repo_json,
        },
        "_links": links_pull(base, &full, n, &g.head_sha),
        "author_association": "OWNER",
        "auto_merge": null,
        "draft": p.draft,
        "merged": p.merged,
        "mergeable": if p.state == "open" { json!(g.mergeable) } else { Value::Null },
        "rebaseable": if p.state == "open" { json!(g.mergeable) } else { Value::Null },
        "mergeable_state": mergeable_state,
        "merged_by": p.merged_by.as_deref().map(|l| user(base, l, false)),
        "comments": g.comments,
        "review_comments": 0,
        "maintainer_can_modify": false,
        "commits": g.commits,
        "additions": g.additions,
        "deletions": g.deletions,
        "changed_files": g.changed_files,
    })
}

/// `pull-request-review`.
pub fn review(base: &str, full: &str, r: &Review) -> Value {
    let pu = format!("{base}/repos/{full}/pulls/{}", r.pull);
    let html = format!("{base}/{full}/pull/{}#pullrequestreview-{}", r.pull, r.id);
    json!({
        "id": r.id,
        "node_id": node_id("PRR", r.id),
        "user": user(base, &r.user, false),
        "body": r.body,
        "state": r.state,
        "html_url": html,
        "pull_request_url": pu,
        "_links": {"html": {"href": html}, "pull_request": {"href": pu}},
        "submitted_at": ts(r.submitted_at),
        "commit_id": r.commit_id,
        "author_association": "COLLABORATOR",
    })
}

/// `issue-comment`.
pub fn comment(base: &str, full: &str, c: &Comment) -> Value {
    let u = format!("{base}/repos/{full}");
    json!({
        "id": c.id,
        "node_id": node_id("IC", c.id),
        "url": format!("{u}/issues/comments/{}", c.id),
        "html_url": format!("{base}/{full}/pull/{}#issuecomment-{}", c.issue, c.id),
        "issue_url": format!("{u}/issues/{}", c.issue),
        "body": c.body,
        "user": user(base, &c.user, false),
        "created_at": ts(c.created_at),
        "updated_at": ts(c.updated_at),
        "author_association": "OWNER",
    })
}

/// `status` (also valid as `simple-commit-status`).
pub fn status(base: &str, full: &str, s: &Status) -> Value {
    json!({
        "url": format!("{base}/repos/{full}/statuses/{}", s.sha),
        "avatar_url": format!("{base}/avatars/{}", s.creator),
        "id": s.id,
        "node_id": node_id("SC", s.id),
        "state": s.state,
        "description": s.description,
        "target_url": s.target_url,
        "context": s.context,
        "created_at": ts(s.created_at),
        "updated_at": ts(s.created_at),
        "creator": user(base, &s.creator, false),
    })
}

/// A minimal GitHub App standing for the checks author.
fn app(base: &str) -> Value {
    json!({
        "id": 1,
        "slug": "fake-github-app",
        "node_id": "A_fake",
        "owner": user(base, "fake-github", true),
        "name": "fake-github",
        "description": null,
        "external_url": base,
        "html_url": format!("{base}/apps/fake-github-app"),
        "created_at": ts(0),
        "updated_at": ts(0),
        "permissions": {"checks": "write", "statuses": "write"},
        "events": [],
    })
}

/// `check-run`.
pub fn check_run(base: &str, full: &str, c: &CheckRun) -> Value {
    let u = format!("{base}/repos/{full}");
    json!({
        "id": c.id,
        "node_id": node_id("CR", c.id),
        "head_sha": c.head_sha,
        "external_id": c.external_id,
        "url": format!("{u}/check-runs/{}", c.id),
        "html_url": format!("{base}/{full}/runs/{}", c.id),
        "details_url": c.details_url,
        "status": c.status,
        "conclusion": c.conclusion,
        "started_at": c.started_at.map(ts),
        "completed_at": c.completed_at.map(ts),
        "output": {
            "title": c.title,
            "summary": c.summary,
            "text": c.text,
            "annotations_count": 0,
            "annotations_url": format!("{u}/check-runs/{}/annotations", c.id),
        },
        "name": c.name,
        "check_suite": {"id": c.id},
        "app": app(base),
        "pull_requests": [],
    })
}

/// `deployment`.
pub fn deployment(base: &str, full: &str, d: &Deployment) -> Value {
    let u = format!("{base}/repos/{full}");
    json!({
        "url": format!("{u}/deployments/{}", d.id),
        "id": d.id,
        "node_id": node_id("DE", d.id),
        "sha": d.sha,
        "ref": d.git_ref,
        "task": d.task,
        "payload": d.payload,
        "original_environment": d.environment,
        "environment": d.environment,
        "description": d.description,
        "creator": user(base, &d.creator, false),
        "created_at": ts(d.created_at),
        "updated_at": ts(d.updated_at),
        "statuses_url": format!("{u}/deployments/{}/statuses", d.id),
        "repository_url": u,
        "transient_environment": d.transient_environment,
        "production_environment": d.production_environment,
    })
}

/// `deployment-status`.
pub fn deployment_status(base: &str, full: &str, s: &DeploymentStatus) -> Value {
    let u = format!("{base}/repos/{full}");
    json!({
        "url": format!("{u}/deployments/{}/statuses/{}", s.deployment, s.id),
        "id": s.id,
        "node_id": node_id("DES", s.id),
        "state": s.state,
        "creator": user(base, &s.creator, false),
        "description": s.description,
        "environment": s.environment,
        "target_url": s.target_url,
        "log_url": s.log_url,
        "environment_url": s.environment_url,
        "created_at": ts(s.created_at),
        "updated_at": ts(s.created_at),
        "deployment_url": format!("{u}/deployments/{}", s.deployment),
        "repository_url": u,
    })
}

/// `workflow-run`.
pub fn workflow_run(
    base: &str,
    repo_json: &Value,
    full: &str,
    r: &WorkflowRun,
    head: Option<&CommitInfo>,
) -> Value {
    let u = format!("{base}/repos/{full}");
    let ru = format!("{u}/actions/runs/{}", r.id);
    let head_commit = head.map(|c| {
        json!({
            "id": r.head_sha,
            "tree_id": c.tree,
            "message": c.message,
            "timestamp": ts(c.committer.time),
            "author": {"name": c.author.name, "email": c.author.email},
            "committer": {"name": c.committer.name, "email": c.committer.email},
        })
    });
    json!({
        "id": r.id,
        "name": r.name,
        "node_id": node_id("WFR", r.id),
        "check_suite_id": r.id,
        "check_suite_node_id": node_id("CS", r.id),
        "head_branch": r.head_branch,
        "head_sha": r.head_sha,
        "path": if r.path.is_empty() { ".github/workflows/dispatch.yml" } else { r.path.as_str() },
        "display_title": if r.display_title.is_empty() { r.name.as_str() } else { r.display_title.as_str() },
        "run_number": r.run_number,
        "run_attempt": 1,
        "event": r.event,
        "status": r.status,
        "conclusion": r.conclusion,
        "workflow_id": 1,
        "url": ru,
        "html_url": format!("{base}/{full}/actions/runs/{}", r.id),
        "pull_requests": [],
        "created_at": ts(r.created_at),
        "updated_at": ts(r.updated_at),
        "run_started_at": ts(r.created_at),
        "actor": user(base, &r.actor, false),
        "triggering_actor": user(base, &r.actor, false),
        "jobs_url": format!("{ru}/jobs"),
        "logs_url": format!("{ru}/logs"),
        "check_suite_url": format!("{u}/check-suites/{}", r.id),
        "artifacts_url": format!("{ru}/artifacts"),
        "cancel_url": format!("{ru}/cancel"),
        "rerun_url": format!("{ru}/rerun"),
        "workflow_url": format!("{u}/actions/workflows/1"),
        "head_commit": head_commit,
        "repository": repo_json,
        "head_repository": repo_json,
    })
}

/// GitHub's error body.
pub fn error(message: &str, status: u16) -> Value {
    json!({
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": status.to_string(),
    })
}
