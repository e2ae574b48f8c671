//! Repository dispatches and the workflow runs they start (`dispatches`, `actions/runs`).

use std::collections::HashMap;

use serde_json::{Value, json};

use super::ctx::Ctx;
use super::pagination::Window;
use super::wire::{ApiError, R, Resp, bad_field, invalid, missing, not_found, s};
use crate::json::{self as j, now};
use crate::state::{Dispatch, WorkflowRun};

impl Ctx<'_> {
    pub(super) fn dispatch(&self, b: &Value) -> R {
        let Some(event_type) = s(b, "event_type")?.filter(|e| !e.is_empty() && e.len() <= 100)
        else {
            return Err(missing("Dispatch", "event_type"));
        };
        let payload = b
            .get("client_payload")
            .cloned()
            .unwrap_or_else(|| json!({}));
        match payload.as_object() {
            Some(o) if o.len() <= 10 => {}
            Some(_) => {
                return Err(invalid(
                    "client_payload has too many top-level properties (max 10)",
                    json!([]),
                ));
            }
            None => return Err(bad_field("Dispatch", "client_payload")),
        }
        let head = self
            .git
            .ref_target(&format!("refs/heads/{}", self.meta.default_branch))?;
        let correlation = match payload.get("id") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(v @ Value::Number(_)) => Some(v.to_string()),
            _ => None,
        };
        let name = match &correlation {
            Some(id) => format!("{event_type} {id}"),
            None => event_type.to_owned(),
        };
        let t = now();
        // With the workflow runner, the runs are those of the workflows the event starts.
        let placeholder = self.app.runner().is_none();
        self.write(|d, id| {
            let run_id = head.as_ref().filter(|_| placeholder).map_or(0, |head| {
                let run_id = id();
                let run_number = d.runs.len() as u64 + 1;
                d.runs.push(WorkflowRun {
                    id: run_id,
                    run_number,
                    name,
                    event: "repository_dispatch".into(),
                    status: "queued".into(),
                    conclusion: None,
                    head_branch: self.meta.default_branch.clone(),
                    head_sha: head.clone(),
                    actor: self.login.to_owned(),
                    created_at: t,
                    updated_at: t,
                    path: String::new(),
                    display_title: String::new(),
                    jobs: Vec::new(),
                    pending: Vec::new(),
                });
                run_id
            });
            d.dispatches.push(Dispatch {
                event_type: event_type.to_owned(),
                client_payload: payload,
                sender: self.login.to_owned(),
                created_at: t,
                run_id,
            });
        })?;
        Ok(Resp::empty(204))
    }

    fn run_json(&self, r: &WorkflowRun) -> Result<Value, ApiError> {
        let head = self.git.commit(&r.head_sha)?;
        Ok(j::workflow_run(
            self.base(),
            &self.repo_json(),
            &self.full,
            r,
            head.as_ref(),
        ))
    }

    pub(super) fn list_runs(&self, q: &HashMap<String, String>) -> R {
        let created = q.get("created").map(|c| created_filter(c)).transpose()?;
        let runs: Vec<WorkflowRun> = self.read(|d| {
            d.runs
                .iter()
                .rev()
                .filter(|r| q.get("event").is_none_or(|e| r.event == *e))
                .filter(|r| q.get("branch").is_none_or(|e| r.head_branch == *e))
                .filter(|r| q.get("head_sha").is_none_or(|e| r.head_sha == *e))
                .filter(|r| q.get("actor").is_none_or(|e| r.actor == *e))
                .filter(|r| {
                    q.get("workflow")
                        .is_none_or(|w| r.path.rsplit('/').next() == Some(w.as_str()))
                })
                .filter(|r| {
                    q.get("status").is_none_or(|st| {
                        r.status == *st || r.conclusion.as_deref() == Some(st.as_str())
                    })
                })
                .filter(|r| {
                    created
                        .as_ref()
                        .is_none_or(|(lo, hi)| r.created_at >= *lo && r.created_at <= *hi)
                })
                .cloned()
                .collect()
        });
        let total = runs.len();
        let items = Window::of(q)
            .slice(&runs)
            .map(|r| self.run_json(r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Resp::json(
            200,
            json!({"total_count": total, "workflow_runs": items}),
        ))
    }

    pub(super) fn get_run(&self, id: &str) -> R {
        let id: u64 = id.parse().map_err(|_| not_found())?;
        let r = self
            .read(|d| d.runs.iter().find(|r| r.id == id).cloned())
            .ok_or_else(not_found)?;
        Ok(Resp::json(200, self.run_json(&r)?))
    }
}

/// Parses GitHub's `created` search qualifier into an inclusive [lo, hi] range of epoch seconds.
fn created_filter(c: &str) -> Result<(i64, i64), ApiError> {
    let bad = || {
        invalid(
            "Invalid created filter",
            json!([{"resource": "WorkflowRun", "code": "invalid", "field": "created"}]),
        )
    };
    let parse = |v: &str, end: bool| -> Result<i64, ApiError> {
        let v = v.trim();
        if let Ok(t) =
            time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
        {
            return Ok(t.unix_timestamp());
        }
        let fmt = time::macros::format_description!("[year]-[month]-[day]");
        let d = time::Date::parse(v, &fmt).map_err(|_| bad())?;
        let t = d.midnight().assume_utc().unix_timestamp();
        Ok(if end { t + 86_399 } else { t })
    };
    if let Some((a, b)) = c.split_once("..") {
        let lo = if a == "*" { i64::MIN } else { parse(a, false)? };
        let hi = if b == "*" { i64::MAX } else { parse(b, true)? };
        return Ok((lo, hi));
    }
    if let Some(v) = c.strip_prefix(">=") {
        return Ok((parse(v, false)?, i64::MAX));
    }
    if let Some(v) = c.strip_prefix('>') {
        return Ok((parse(v, true)? + 1, i64::MAX));
    }
    if let Some(v) = c.strip_prefix("<=") {
        return Ok((i64::MIN, parse(v, true)?));
    }
    if let Some(v) = c.strip_prefix('<') {
        return Ok((i64::MIN, parse(v, false)? - 1));
    }
    Ok((parse(c, false)?, parse(c, true)?))
}
