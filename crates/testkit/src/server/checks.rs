//! Commit statuses (`statuses/{sha}`, `commits/{ref}/status[es]`) and check runs.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::ctx::Ctx;
use super::pagination::page;
use super::wire::{ApiError, R, Resp, bad_field, err, invalid, missing, not_found, object, s};
use crate::git;
use crate::json::{self as j, now};
use crate::state::{CheckRun, Status};

impl Ctx<'_> {
    pub(super) fn create_status(&self, sha: &str, b: &Value) -> R {
        if !git::is_hex_sha(sha) || self.git.object_type(sha)?.as_deref() != Some("commit") {
            return Err(invalid(
                format!("No commit found for SHA: {sha}"),
                json!([]),
            ));
        }
        let Some(state) = s(b, "state")? else {
            return Err(missing("Status", "state"));
        };
        if !["error", "failure", "pending", "success"].contains(&state) {
            return Err(bad_field("Status", "state"));
        }
        let context = s(b, "context")?.unwrap_or("default").to_owned();
        let description = s(b, "description")?.map(str::to_owned);
        let target_url = s(b, "target_url")?.map(str::to_owned);
        let t = now();
        let st = self.write(|d, id| {
            let st = Status {
                id: id(),
                sha: sha.to_owned(),
                state: state.to_owned(),
                context,
                description,
                target_url,
                creator: self.login.to_owned(),
                created_at: t,
            };
            d.statuses.push(st.clone());
            st
        })?;
        Ok(Resp::json(201, j::status(self.base(), &self.full, &st)))
    }

    pub(super) fn latest_statuses(&self, sha: &str) -> Vec<Status> {
        self.read(|d| {
            let mut latest: Vec<Status> = Vec::new();
            for st in d.statuses.iter().rev().filter(|x| x.sha == sha) {
                if !latest.iter().any(|l| l.context == st.context) {
                    latest.push(st.clone());
                }
            }
            latest
        })
    }

    pub(super) fn combined_status(&self, rev: &str) -> R {
        let sha = self
            .commit_of(rev)?
            .ok_or_else(|| err(404, format!("No commit found for SHA: {rev}")))?;
        let latest = self.latest_statuses(&sha);
        let state = if latest
            .iter()
            .any(|x| x.state == "error" || x.state == "failure")
        {
            "failure"
        } else if latest.is_empty() || latest.iter().any(|x| x.state == "pending") {
            "pending"
        } else {
            "success"
        };
        let statuses: Vec<Value> = latest
            .iter()
            .map(|x| j::status(self.base(), &self.full, x))
            .collect();
        Ok(Resp::json(
            200,
            json!({
                "state": state,
                "statuses": statuses,
                "sha": sha,
                "total_count": latest.len(),
                "repository": self.repo_json(),
                "commit_url": self.url(&format!("commits/{sha}")),
                "url": self.url(&format!("commits/{sha}/status")),
            }),
        ))
    }

    pub(super) fn list_statuses(&self, rev: &str, q: &HashMap<String, String>) -> R {
        let sha = self.commit_of(rev)?.ok_or_else(not_found)?;
        let items = self.read(|d| {
            d.statuses
                .iter()
                .rev()
                .filter(|x| x.sha == sha)
                .map(|x| j::status(self.base(), &self.full, x))
                .collect()
        });
        Ok(page(
            items,
            q,
            &self.url(&format!("commits/{rev}/statuses")),
        ))
    }

    pub(super) fn create_check_run(&self, update: Option<&str>, b: &Value) -> R {
        let existing = match update {
            Some(id) => {
                let id: u64 = id.parse().map_err(|_| not_found())?;
                Some(
                    self.read(|d| d.check_runs.iter().find(|c| c.id == id).cloned())
                        .ok_or_else(not_found)?,
                )
            }
            None => None,
        };
        let name = s(b, "name")?
            .map(str::to_owned)
            .or_else(|| existing.as_ref().map(|c| c.name.clone()));
        let Some(name) = name else {
            return Err(missing("CheckRun", "name"));
        };
        let head_sha = s(b, "head_sha")?
            .map(str::to_owned)
            .or_else(|| existing.as_ref().map(|c| c.head_sha.clone()));
        let Some(head_sha) = head_sha else {
            return Err(missing("CheckRun", "head_sha"));
        };
        if self.git.object_type(&head_sha)?.as_deref() != Some("commit") {
            return Err(invalid(
                "No commit found for SHA",
                json!([{"resource": "CheckRun", "code": "invalid", "field": "head_sha"}]),
            ));
        }
        let conclusion = s(b, "conclusion")?
            .map(str::to_owned)
            .or_else(|| existing.as_ref().and_then(|c| c.conclusion.clone()));
        let mut status = s(b, "status")?
            .map(str::to_owned)
            .or_else(|| existing.as_ref().map(|c| c.status.clone()))
            .unwrap_or_else(|| "queued".into());
        if conclusion.is_some() {
            status = "completed".into();
        }
        if ![
            "queued",
            "in_progress",
            "completed",
            "waiting",
            "requested",
            "pending",
        ]
        .contains(&status.as_str())
        {
            return Err(bad_field("CheckRun", "status"));
        }
        if status == "completed" && conclusion.is_none() {
            return Err(invalid(
                "Validation Failed",
                json!([{"resource": "CheckRun", "code": "missing_field", "field": "conclusion"}]),
            ));
        }
        if let Some(c) = &conclusion
            && ![
                "action_required",
                "cancelled",
                "failure",
                "neutral",
                "success",
                "skipped",
                "stale",
                "timed_out",
            ]
            .contains(&c.as_str())
        {
            return Err(bad_field("CheckRun", "conclusion"));
        }
        let old = existing.as_ref();
        let time_of = |k: &str| -> Result<Option<i64>, ApiError> {
            s(b, k)?
                .map(|v| {
                    time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
                        .map(time::OffsetDateTime::unix_timestamp)
                        .map_err(|_| bad_field("CheckRun", k))
                })
                .transpose()
        };
        let output = object(b, "output")?;
        let text_of = |k: &str, was: Option<&String>| -> Result<Option<String>, ApiError> {
            let given = match output {
                Some(o) => s(o, k)?,
                None => None,
            };
            Ok(given.map(str::to_owned).or_else(|| was.cloned()))
        };
        let details_url = match s(b, "details_url")? {
            Some(u) => Some(u.to_owned()),
            None => old.and_then(|e| e.details_url.clone()),
        };
        let external_id = match s(b, "external_id")? {
            Some(x) => Some(x.to_owned()),
            None => old.and_then(|e| e.external_id.clone()),
        };
        let title = text_of("title", old.and_then(|e| e.title.as_ref()))?;
        let summary = text_of("summary", old.and_then(|e| e.summary.as_ref()))?;
        let text = text_of("text", old.and_then(|e| e.text.as_ref()))?;
        let t = now();
        let started_at = time_of("started_at")?
            .or_else(|| old.and_then(|e| e.started_at))
            .or(Some(t));
        let completed_at = if status == "completed" {
            time_of("completed_at")?
                .or_else(|| old.and_then(|e| e.completed_at))
                .or(Some(t))
        } else {
            None
        };
        let c = self.write(|d, id| {
            let c = CheckRun {
                id: match &existing {
                    Some(e) => e.id,
                    None => id(),
                },
                head_sha,
                name,
                details_url,
                external_id,
                title,
                summary,
                text,
                started_at,
                completed_at,
                status,
                conclusion,
            };
            d.check_runs.retain(|x| x.id != c.id);
            d.check_runs.push(c.clone());
            c
        })?;
        let code = if update.is_some() { 200 } else { 201 };
        Ok(Resp::json(code, j::check_run(self.base(), &self.full, &c)))
    }

    pub(super) fn get_check_run(&self, id: &str) -> R {
        let id: u64 = id.parse().map_err(|_| not_found())?;
        let c = self
            .read(|d| d.check_runs.iter().find(|c| c.id == id).cloned())
            .ok_or_else(not_found)?;
        Ok(Resp::json(200, j::check_run(self.base(), &self.full, &c)))
    }

    pub(super) fn list_check_runs(&self, rev: &str, q: &HashMap<String, String>) -> R {
        let sha = self
            .commit_of(rev)?
            .ok_or_else(|| err(422, format!("No commit found for SHA: {rev}")))?;
        let mut runs: Vec<CheckRun> = self.read(|d| {
            d.check_runs
                .iter()
                .rev()
                .filter(|c| c.head_sha == sha)
                .filter(|c| q.get("check_name").is_none_or(|n| c.name == *n))
                .filter(|c| q.get("status").is_none_or(|st| c.status == *st))
                .cloned()
                .collect()
        });
        if q.get("filter").is_none_or(|f| f == "latest") {
            let mut seen = Vec::new();
            runs.retain(|c| {
                let fresh = !seen.contains(&c.name);
                seen.push(c.name.clone());
                fresh
            });
        }
        let items: Vec<Value> = runs
            .iter()
            .map(|c| j::check_run(self.base(), &self.full, c))
            .collect();
        Ok(Resp::json(
            200,
            json!({"total_count": items.len(), "check_runs": items}),
        ))
    }
}
