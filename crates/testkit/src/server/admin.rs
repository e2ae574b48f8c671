//! The test hooks under `/_fake/` (no auth): faults, the request log, OpenAPI violations, and
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
