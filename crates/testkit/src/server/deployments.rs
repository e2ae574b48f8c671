//! Deployments and deployment statuses (`required_contexts`, `auto_inactive`).

use std::collections::HashMap;

use serde_json::{Value, json};

use super::ctx::Ctx;
use super::pagination::page;
use super::wire::{ApiError, R, Resp, bad_field, flag, invalid, list, missing, not_found, s};
use crate::json::{self as j, now};
use crate::state::{Deployment, DeploymentStatus};

impl Ctx<'_> {
    fn find_deployment(&self, id: &str) -> Result<Deployment, ApiError> {
        let id: u64 = id.parse().map_err(|_| not_found())?;
        self.read(|d| d.deployments.iter().find(|x| x.id == id).cloned())
            .ok_or_else(not_found)
    }

    pub(super) fn create_deployment(&self, b: &Value) -> R {
        let Some(git_ref) = s(b, "ref")? else {
            return Err(missing("Deployment", "ref"));
        };
        let Some(sha) = self.commit_of(git_ref)? else {
            return Err(invalid(format!("No ref found for: {git_ref}"), json!([])));
        };
        let latest = self.latest_statuses(&sha);
        let failing: Vec<String> = match list(b, "required_contexts")? {
            Some(req) => {
                let mut failing = Vec::new();
                for c in req {
                    let c = c
                        .as_str()
                        .ok_or_else(|| bad_field("Deployment", "required_contexts"))?;
                    if !latest
                        .iter()
                        .any(|l| l.context == c && l.state == "success")
                    {
                        failing.push(c.to_owned());
                    }
                }
                failing
            }
            None => latest
                .iter()
                .filter(|l| l.state != "success")
                .map(|l| l.context.clone())
                .collect(),
        };
        if !failing.is_empty() {
            return Err(ApiError {
                status: 409,
                message: format!("Conflict: Commit status checks failed for {git_ref}."),
                errors: Some(
                    json!([{"contexts": failing, "resource": "Deployment", "field": "required_contexts", "code": "invalid"}]),
                ),
            });
        }
        let environment = s(b, "environment")?.unwrap_or("production").to_owned();
        let payload = match b.get("payload") {
            None | Some(Value::Null) => json!({}),
            // GitHub takes the payload as an object or a string; a string holding JSON is
            // that JSON, any other string stays a string.
            Some(Value::String(p)) => serde_json::from_str::<Value>(p).unwrap_or_else(|_| json!(p)),
            Some(p) => p.clone(),
        };
        let task = s(b, "task")?.unwrap_or("deploy").to_owned();
        let production_environment =
            flag(b, "production_environment")?.unwrap_or(environment == "production");
        let transient_environment = flag(b, "transient_environment")?.unwrap_or(false);
        let description = s(b, "description")?.map(str::to_owned);
        let t = now();
        let dep = self.write(|d, id| {
            let dep = Deployment {
                id: id(),
                sha,
                git_ref: git_ref.to_owned(),
                task,
                production_environment,
                transient_environment,
                environment,
                description,
                payload,
                creator: self.login.to_owned(),
                created_at: t,
                updated_at: t,
            };
            d.deployments.push(dep.clone());
            dep
        })?;
        Ok(Resp::json(
            201,
            j::deployment(self.base(), &self.full, &dep),
        ))
    }

    pub(super) fn list_deployments(&self, q: &HashMap<String, String>) -> Resp {
        let items = self.read(|d| {
            d.deployments
                .iter()
                .rev()
                .filter(|x| q.get("sha").is_none_or(|v| x.sha == *v))
                .filter(|x| q.get("ref").is_none_or(|v| x.git_ref == *v))
                .filter(|x| q.get("task").is_none_or(|v| x.task == *v))
                .filter(|x| q.get("environment").is_none_or(|v| x.environment == *v))
                .map(|x| j::deployment(self.base(), &self.full, x))
                .collect()
        });
        page(items, q, &self.url("deployments"))
    }

    pub(super) fn get_deployment(&self, id: &str) -> R {
        let dep = self.find_deployment(id)?;
        Ok(Resp::json(
            200,
            j::deployment(self.base(), &self.full, &dep),
        ))
    }

    pub(super) fn create_deployment_status(&self, id: &str, b: &Value) -> R {
        let dep = self.find_deployment(id)?;
        let Some(state) = s(b, "state")? else {
            return Err(missing("DeploymentStatus", "state"));
        };
        if ![
            "error",
            "failure",
            "inactive",
            "in_progress",
            "queued",
            "pending",
            "success",
        ]
        .contains(&state)
        {
            return Err(bad_field("DeploymentStatus", "state"));
        }
        // GitHub shows an absent description or URL as "", and `target_url` and `log_url`
        // each default to the other.
        let log_url = s(b, "log_url")?;
        let target_url = s(b, "target_url")?.or(log_url).unwrap_or("").to_owned();
        let log_url = log_url.map_or_else(|| target_url.clone(), str::to_owned);
        let description = s(b, "description")?.unwrap_or("").to_owned();
        let environment = s(b, "environment")?.unwrap_or(&dep.environment).to_owned();
        let environment_url = s(b, "environment_url")?.unwrap_or("").to_owned();
        // `auto_inactive` (default true): a new success marks older deployments of the
        // same environment inactive, as GitHub does for non-transient environments.
        let auto_inactive = state == "success" && flag(b, "auto_inactive")? != Some(false);
        let t = now();
        let st = self.write(|d, id| {
            let st = DeploymentStatus {
                id: id(),
                deployment: dep.id,
                state: state.to_owned(),
                description,
                environment,
                environment_url,
                log_url,
                target_url,
                creator: self.login.to_owned(),
                created_at: t,
            };
            if auto_inactive {
                let others: Vec<u64> = d
                    .deployments
                    .iter()
                    .filter(|x| {
                        x.environment == dep.environment
                            && x.id != dep.id
                            && !x.transient_environment
                    })
                    .map(|x| x.id)
                    .collect();
                for other in others {
                    let last = d
                        .deployment_statuses
                        .iter()
                        .rev()
                        .find(|s| s.deployment == other)
                        .map(|s| s.state.clone());
                    if last.as_deref() == Some("success") {
                        let inactive = DeploymentStatus {
                            id: id(),
                            deployment: other,
                            state: "inactive".into(),
                            description: String::new(),
                            environment: dep.environment.clone(),
                            environment_url: String::new(),
                            log_url: String::new(),
                            target_url: String::new(),
                            creator: self.login.to_owned(),
                            created_at: t,
                        };
                        d.deployment_statuses.push(inactive);
                    }
                }
            }
            d.deployment_statuses.push(st.clone());
            if let Some(x) = d.deployments.iter_mut().find(|x| x.id == dep.id) {
                x.updated_at = t;
            }
            st
        })?;
        Ok(Resp::json(
            201,
            j::deployment_status(self.base(), &self.full, &st),
        ))
    }

    pub(super) fn list_deployment_statuses(&self, id: &str, q: &HashMap<String, String>) -> R {
        let dep = self.find_deployment(id)?;
        let items = self.read(|d| {
            d.deployment_statuses
                .iter()
                .rev()
                .filter(|x| x.deployment == dep.id)
                .map(|x| j::deployment_status(self.base(), &self.full, x))
                .collect()
        });
        Ok(page(
            items,
            q,
            &self.url(&format!("deployments/{}/statuses", dep.id)),
        ))
    }
}
