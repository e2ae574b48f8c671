//! The test hooks under `/_fake/` (no auth): faults, GitHub's limits (`rate_limit`), the request log, OpenAPI violations, and
//! moving a workflow run along.

use serde_json::{Value, json};

use super::ctx::repo_key;
use super::faults::Fault;
use super::wire::{ApiError, R, Resp, err, not_found, s};
use super::{App, lock};
use crate::json::{self as j, now};

/// Serves `/_fake/{path}`.
pub(super) fn route(app: &App, method: &str, path: &str, body: &[u8]) -> Resp {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match (method, segs.as_slice()) {
        ("GET", ["faults"]) => Resp::json(200, json!(*lock(&app.faults))),
        ("POST", ["faults"]) => match serde_json::from_slice::<Fault>(body) {
            Ok(f) if regex::Regex::new(&f.path_regex).is_ok() => {
                lock(&app.faults).push(f);
                Resp::empty(204)
            }
            Ok(_) => Resp::json(422, j::error("path_regex is not a valid regex", 422)),
            Err(e) => Resp::json(400, j::error(&format!("bad fault: {e}"), 400)),
        },
        ("DELETE", ["faults"]) => {
            lock(&app.faults).clear();
            Resp::empty(204)
        }
        ("POST", ["hooks"]) => app.hooks.register(body),
        ("GET", ["hooks", "deliveries"]) => app.hooks.list(),
        ("POST", ["hooks", "deliveries", guid, "redeliver"]) => app.hooks.redeliver(guid),
        ("GET", ["limits"]) => super::rate_limit::describe(app),
        ("POST", ["limits"]) => super::rate_limit::enable(app, body),
        ("DELETE", ["limits"]) => {
            *lock(&app.limits) = None;
            Resp::empty(204)
        }
        ("GET", ["requests"]) => Resp::json(200, json!(*lock(&app.log))),
        ("DELETE", ["requests"]) => {
            lock(&app.log).clear();
            Resp::empty(204)
        }
        ("GET", ["violations"]) => Resp::json(200, json!(*lock(&app.violations))),
        ("DELETE", ["violations"]) => {
            lock(&app.violations).clear();
            Resp::empty(204)
        }
        ("GET", ["openapi"]) => Resp::json(200, json!({"enabled": app.openapi.is_some()})),
        // Moves a workflow run along: {"status": "completed", "conclusion": "success"}.
        ("PATCH", ["runs", owner, repo, id]) => {
            move_run(app, owner, repo, id, body).unwrap_or_else(ApiError::into_resp)
        }
        // A run as stored, its jobs' summaries included.
        ("GET", ["runs", owner, repo, id]) => {
            let st = lock(&app.state);
            st.repos
                .get(&repo_key(owner, repo))
                .and_then(|d| d.runs.iter().find(|r| r.id.to_string() == *id))
                .map_or_else(
                    || Resp::json(404, j::error("Not Found", 404)),
                    |r| Resp::json(200, json!(r)),
                )
        }
        ("POST", ["oidc", "verify"]) => super::runs::oidc_verify(app, body),
        // GitHub Apps and their installation tokens (see `apps`).
        ("POST", ["apps"]) => super::apps::register(app, body).unwrap_or_else(ApiError::into_resp),
        ("POST", ["apps", id, "token"]) => {
            super::apps::token(app, id, body).unwrap_or_else(ApiError::into_resp)
        }
        // {"name", "value", "environment"?}: a secret for the runner's jobs (memory only).
        ("PUT", ["secrets", owner, repo]) => {
            let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            match (v["name"].as_str(), v["value"].as_str()) {
                (Some(n), Some(val)) if app.runner().is_some() => {
                    let env = v["environment"].as_str().map(str::to_owned);
                    app.set_secret(repo_key(owner, repo), env, n.to_owned(), val.to_owned());
                    Resp::empty(204)
                }
                (Some(_), Some(_)) => Resp::json(409, j::error("the runner is not started", 409)),
                _ => Resp::json(422, j::error("name and value are required", 422)),
            }
        }
        // A person's `git push` from a local clone: {"pusher", "from", "refspecs", "force"?}.
        ("POST", ["git-push", owner, repo]) => {
            git_push(app, owner, repo, body).unwrap_or_else(ApiError::into_resp)
        }
        // The scheduler firing: every workflow with a `schedule` trigger on the default branch.
        ("POST", ["schedule", owner, repo]) => {
            schedule(app, owner, repo).unwrap_or_else(ApiError::into_resp)
        }
        _ => Resp::json(404, j::error("Not Found", 404)),
    }
}

/// `PATCH /_fake/runs/{owner}/{repo}/{id}`: sets the run's `status` and, when given (`null`
/// clears it), its `conclusion`.
fn move_run(app: &App, owner: &str, repo: &str, id: &str, body: &[u8]) -> R {
    let v: Value = serde_json::from_slice(body).map_err(|_| err(400, "Problems parsing JSON"))?;
    let status = s(&v, "status")?;
    let conclusion = v
        .get("conclusion")
        .map(|_| s(&v, "conclusion"))
        .transpose()?;
    let mut st = lock(&app.state);
    let run = st
        .repos
        .get_mut(&repo_key(owner, repo))
        .and_then(|d| d.runs.iter_mut().find(|r| r.id.to_string() == id))
        .ok_or_else(not_found)?;
    if let Some(status) = status {
        status.clone_into(&mut run.status);
    }
    if let Some(conclusion) = conclusion {
        run.conclusion = conclusion.map(str::to_owned);
    }
    run.updated_at = now();
    st.save(&app.data)?;
    Ok(Resp::empty(204))
}

/// `POST /_fake/git-push/{owner}/{repo}`: pushes `refspecs` from the clone at `from` into the
/// repository as `pusher`, then sends the events a push over the network would.
fn git_push(app: &App, owner: &str, repo: &str, body: &[u8]) -> R {
    let v: Value = serde_json::from_slice(body).map_err(|_| err(400, "Problems parsing JSON"))?;
    let pusher = s(&v, "pusher")?.unwrap_or("octocat").to_owned();
    let from = s(&v, "from")?
        .ok_or_else(|| err(422, "from is required"))?
        .to_owned();
    let refspecs: Vec<String> = v["refspecs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if refspecs.is_empty() {
        return Err(err(422, "refspecs is required"));
    }
    let ctx = super::ctx::Ctx::open(app, &pusher, owner, repo)?;
    let key = repo_key(owner, repo);
    let repo_lock = std::sync::Arc::clone(lock(&app.locks).entry(key).or_default());
    let _guard = lock(&repo_lock);
    let before = ctx.snapshot()?;
    let mut cmd = std::process::Command::new("git");
    cmd.arg("-C").arg(&from).arg("push").arg("-q");
    if v["force"].as_bool() == Some(true) {
        cmd.arg("--force");
    }
    cmd.arg(ctx.git.dir()).args(&refspecs);
    let out = cmd
        .output()
        .map_err(|e| err(500, format!("git push: {e}")))?;
    if !out.status.success() {
        return Err(err(
            422,
            format!(
                "git push failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    app.emit(ctx.events_since(&before)?);
    Ok(Resp::empty(204))
}

fn schedule(app: &App, owner: &str, repo: &str) -> R {
    let ctx = super::ctx::Ctx::open(app, "github-scheduler", owner, repo)?;
    let branch = ctx.meta.default_branch.clone();
    let sha = ctx
        .git
        .ref_target(&format!("refs/heads/{branch}"))?
        .ok_or_else(|| err(422, "the repository has no default branch head"))?;
    // One event per scheduled workflow, as GitHub's scheduler fires each one for itself: the
    // payload names the workflow and the cron that fired (its first `schedule` entry).
    let listing = ctx
        .git
        .ok(&["ls-tree", "--name-only", &sha, ".github/workflows/"])
        .unwrap_or_default();
    let mut triggers = Vec::new();
    for path in listing.lines() {
        if !(path.ends_with(".yml") || path.ends_with(".yaml")) {
            continue;
        }
        let Ok(text) = ctx.git.ok(&["cat-file", "blob", &format!("{sha}:{path}")]) else {
            continue;
        };
        let Ok(w) = crate::runner::workflow::Workflow::parse(path, &text) else {
            continue;
        };
        let Some(cron) =
            w.on.iter()
                .find(|(event, _)| event == "schedule")
                .and_then(|(_, cfg)| cfg.get(0)?.get("cron")?.as_str().map(str::to_owned))
        else {
            continue;
        };
        triggers.push(crate::runner::Trigger {
            repo: ctx.full.clone(),
            event: "schedule".into(),
            kind: crate::runner::workflow::EventKind::Schedule,
            payload: ctx.hook_payload(json!({
                "schedule": cron,
                "workflow": path,
                "repository": ctx.hook_repo(),
                "sender": ctx.sender(),
            })),
            actor: ctx.meta.owner.clone(),
            sha: sha.clone(),
            git_ref: format!("refs/heads/{branch}"),
            inputs: None,
            workflow: Some(path.to_owned()),
        });
    }
    app.emit(triggers);
    Ok(Resp::empty(204))
}
