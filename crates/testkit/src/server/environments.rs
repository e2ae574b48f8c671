//! The Actions resources around the runner: environments (reviewers, deployment-branch
//! policies), variables, workflow dispatches, a run's jobs and pending deployments, cancelling.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::ctx::Ctx;
use super::wire::{
    ApiError, R, Resp, bad_field, err, flag, invalid, list, missing, not_found, object, s,
};
use crate::json::{self as j, now, ts};
use crate::runner::Trigger;
use crate::runner::workflow::{EventKind, Workflow};
use crate::state::{BranchPolicy, Environment, RunJob, WorkflowRun};

impl Ctx<'_> {
    fn environment_json(&self, e: &Environment) -> Value {
        let mut rules = Vec::new();
        if !e.reviewers.is_empty() {
            let reviewers: Vec<Value> = e
                .reviewers
                .iter()
                .map(|l| json!({"type": "User", "reviewer": j::user(self.base(), l, false)}))
                .collect();
            rules.push(json!({"id": e.id * 10 + 1, "node_id": format!("GA_{}", e.id), "type": "required_reviewers", "prevent_self_review": e.prevent_self_review, "reviewers": reviewers}));
        }
        if e.branch_policy.is_some() {
            rules.push(json!({"id": e.id * 10 + 2, "node_id": format!("GA_b{}", e.id), "type": "branch_policy"}));
        }
        let policy = e.branch_policy.as_ref().map(|p| {
            json!({"protected_branches": p.protected_branches, "custom_branch_policies": !p.protected_branches})
        });
        json!({
            "id": e.id,
            "node_id": format!("EN_{}", e.id),
            "name": e.name,
            "url": self.url(&format!("environments/{}", e.name)),
            "html_url": format!("https://github.com/{}/deployments/activity_log?environments_filter={}", self.full, e.name),
            "created_at": ts(e.created_at),
            "updated_at": ts(e.updated_at),
            "protection_rules": rules,
            "deployment_branch_policy": policy,
        })
    }

    /// `PUT /repos/{o}/{r}/environments/{name}`: creates or updates (reviewers are users, by id).
    pub(super) fn put_environment(&self, name: &str, b: &Value) -> R {
        if name.is_empty() || name.len() > 255 {
            return Err(bad_field("Environment", "name"));
        }
        let mut reviewers = Vec::new();
        for r in list(b, "reviewers")?.unwrap_or(&[]) {
            if r.get("type").and_then(Value::as_str) != Some("User") {
                return Err(invalid("Only users can be reviewers here", json!([])));
            }
            let id = r
                .get("id")
                .and_then(Value::as_u64)
                .ok_or_else(|| bad_field("Environment", "reviewers"))?;
            let login = self
                .app
                .known_login(id)
                .ok_or_else(|| invalid(format!("User {id} does not exist"), json!([])))?;
            reviewers.push(login);
        }
        if reviewers.len() > 6 {
            return Err(invalid(
                "An environment can have at most 6 reviewers",
                json!([]),
            ));
        }
        let policy = match object(b, "deployment_branch_policy")? {
            None => None,
            Some(p) => {
                let protected = flag(p, "protected_branches")?.unwrap_or(false);
                let custom = flag(p, "custom_branch_policies")?.unwrap_or(false);
                if protected == custom {
                    return Err(invalid(
                        "Exactly one of protected_branches and custom_branch_policies must be true",
                        json!([]),
                    ));
                }
                Some(BranchPolicy {
                    protected_branches: protected,
                    custom: Vec::new(),
                })
            }
        };
        let prevent = flag(b, "prevent_self_review")?.unwrap_or(false);
        let wait = b.get("wait_timer").and_then(Value::as_u64).unwrap_or(0);
        let t = now();
        let e = self.write(|d, id| {
            if let Some(e) = d
                .environments
                .iter_mut()
                .find(|e| e.name.eq_ignore_ascii_case(name))
            {
                e.reviewers = reviewers;
                e.prevent_self_review = prevent;
                e.wait_timer = wait;
                let keep = e
                    .branch_policy
                    .as_ref()
                    .map(|p| p.custom.clone())
                    .unwrap_or_default();
                e.branch_policy = policy.map(|mut p| {
                    p.custom = keep;
                    p
                });
                e.updated_at = t;
                return e.clone();
            }
            let e = Environment {
                id: id(),
                name: name.to_owned(),
                reviewers,
                prevent_self_review: prevent,
                wait_timer: wait,
                branch_policy: policy,
                variables: BTreeMap::new(),
                created_at: t,
                updated_at: t,
            };
            d.environments.push(e.clone());
            e
        })?;
        Ok(Resp::json(200, self.environment_json(&e)))
    }

    fn find_environment(&self, name: &str) -> Result<Environment, ApiError> {
        self.read(|d| {
            d.environments
                .iter()
                .find(|e| e.name.eq_ignore_ascii_case(name))
                .cloned()
        })
        .ok_or_else(not_found)
    }

    pub(super) fn get_environment(&self, name: &str) -> R {
        Ok(Resp::json(
            200,
            self.environment_json(&self.find_environment(name)?),
        ))
    }

    pub(super) fn list_environments(&self) -> Resp {
        let envs: Vec<Value> = self
            .read(|d| d.environments.clone())
            .iter()
            .map(|e| self.environment_json(e))
            .collect();
        Resp::json(
            200,
            json!({"total_count": envs.len(), "environments": envs}),
        )
    }

    /// `POST .../environments/{env}/deployment-branch-policies` `{name, type}`.
    pub(super) fn add_branch_policy(&self, env: &str, b: &Value) -> R {
        let Some(pattern) = s(b, "name")? else {
            return Err(missing("DeploymentBranchPolicy", "name"));
        };
        let kind = s(b, "type")?.unwrap_or("branch");
        if kind != "branch" && kind != "tag" {
            return Err(bad_field("DeploymentBranchPolicy", "type"));
        }
        let e = self.find_environment(env)?;
        match &e.branch_policy {
            Some(p) if !p.protected_branches => {}
            _ => {
                return Err(err(
                    404,
                    "Custom deployment branch policies are not enabled for this environment",
                ));
            }
        }
        let id = self.write(|d, id| {
            let new = id();
            if let Some(p) = d
                .environments
                .iter_mut()
                .find(|x| x.id == e.id)
                .and_then(|x| x.branch_policy.as_mut())
            {
                p.custom.push((kind.to_owned(), pattern.to_owned()));
            }
            new
        })?;
        Ok(Resp::json(
            200,
            json!({"id": id, "node_id": format!("DBP_{id}"), "name": pattern, "type": kind}),
        ))
    }

    /// `POST /repos/{o}/{r}/actions/variables` and `.../environments/{env}/variables`.
    pub(super) fn create_variable(&self, env: Option<&str>, b: &Value) -> R {
        let (Some(name), Some(value)) = (s(b, "name")?, s(b, "value")?) else {
            return Err(missing("Variable", "name"));
        };
        let valid = !name.is_empty()
            && !name.to_ascii_uppercase().starts_with("GITHUB_")
            && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
            && !name.as_bytes()[0].is_ascii_digit();
        if !valid {
            return Err(bad_field("Variable", "name"));
        }
        if let Some(env) = env {
            self.find_environment(env)?;
        }
        let name = name.to_ascii_uppercase();
        let exists = self.write(|d, _| {
            let vars = match env {
                Some(env) => match d
                    .environments
                    .iter_mut()
                    .find(|e| e.name.eq_ignore_ascii_case(env))
                {
                    Some(e) => &mut e.variables,
                    None => return true,
                },
                None => &mut d.variables,
            };
            if vars.contains_key(&name) {
                return true;
            }
            vars.insert(name.clone(), value.to_owned());
            false
        })?;
        if exists {
            return Err(err(409, "Already exists - Variable already exists"));
        }
        Ok(Resp::json(201, json!({})))
    }

    /// `POST /repos/{o}/{r}/actions/workflows/{id}/dispatches` `{ref, inputs}`.
    pub(super) fn workflow_dispatch(&self, workflow: &str, b: &Value) -> R {
        let Some(git_ref) = s(b, "ref")? else {
            return Err(missing("WorkflowDispatch", "ref"));
        };
        let full_ref = if git_ref.starts_with("refs/") {
            git_ref.to_owned()
        } else if self
            .git
            .ref_target(&format!("refs/heads/{git_ref}"))?
            .is_some()
        {
            format!("refs/heads/{git_ref}")
        } else {
            format!("refs/tags/{git_ref}")
        };
        let Some(sha) = self.git.ref_target(&full_ref)? else {
            return Err(invalid(format!("No ref found for: {git_ref}"), json!([])));
        };
        let sha = self.git.resolve_commit(&sha)?.unwrap_or(sha);
        let path = if workflow.contains('/') {
            workflow.to_owned()
        } else {
            format!(".github/workflows/{workflow}")
        };
        let Some(text) = self
            .git
            .resolve_path(&sha, &path)?
            .map(|blob| self.git.blob(&blob))
            .transpose()?
        else {
            return Err(not_found());
        };
        let w = Workflow::parse(&path, &String::from_utf8_lossy(&text))
            .map_err(|e| invalid(format!("Invalid workflow file: {e}"), json!([])))?;
        if !w.triggered_by(&EventKind::WorkflowDispatch) {
            return Err(invalid(
                "Workflow does not have 'workflow_dispatch' trigger",
                json!([]),
            ));
        }
        let given = match b.get("inputs") {
            None | Some(Value::Null) => serde_json::Map::new(),
            Some(Value::Object(o)) => o.clone(),
            Some(_) => return Err(bad_field("WorkflowDispatch", "inputs")),
        };
        let inputs = dispatch_inputs(&w, &given)?;
        let payload = self.hook_payload(json!({
            "inputs": inputs,
            "ref": full_ref,
            "repository": self.hook_repo(),
            "sender": self.sender(),
            "workflow": path,
        }));
        self.app.emit(vec![Trigger {
            repo: self.full.clone(),
            event: "workflow_dispatch".into(),
            kind: EventKind::WorkflowDispatch,
            payload,
            actor: self.login.to_owned(),
            sha,
            git_ref: full_ref,
            inputs: Some(inputs),
            workflow: Some(path),
        }]);
        Ok(Resp::empty(204))
    }

    fn find_run(&self, id: &str) -> Result<WorkflowRun, ApiError> {
        let id: u64 = id.parse().map_err(|_| not_found())?;
        self.read(|d| d.runs.iter().find(|r| r.id == id).cloned())
            .ok_or_else(not_found)
    }

    fn job_json(&self, r: &WorkflowRun, job: &RunJob) -> Value {
        let u = self.url("actions");
        json!({
            "id": job.id,
            "run_id": r.id,
            "run_url": format!("{u}/runs/{}", r.id),
            "run_attempt": 1,
            "node_id": format!("CR_{}", job.id),
            "head_sha": r.head_sha,
            "head_branch": r.head_branch,
            "url": format!("{u}/jobs/{}", job.id),
            "html_url": format!("https://github.com/{}/actions/runs/{}/job/{}", self.full, r.id, job.id),
            "status": job.status,
            "conclusion": job.conclusion,
            "created_at": ts(job.created_at),
            "started_at": ts(job.started_at.unwrap_or(job.created_at)),
            "completed_at": job.completed_at.map(ts),
            "name": job.name,
            "steps": [],
            "check_run_url": self.url(&format!("check-runs/{}", job.id)),
            "labels": ["ubuntu-latest"],
            "runner_id": null,
            "runner_name": null,
            "runner_group_id": null,
            "runner_group_name": null,
            "workflow_name": r.name,
        })
    }

    /// `GET /repos/{o}/{r}/actions/runs/{id}/jobs`.
    pub(super) fn list_jobs(&self, id: &str) -> R {
        let r = self.find_run(id)?;
        let jobs: Vec<Value> = r.jobs.iter().map(|job| self.job_json(&r, job)).collect();
        Ok(Resp::json(
            200,
            json!({"total_count": jobs.len(), "jobs": jobs}),
        ))
    }

    /// `GET /repos/{o}/{r}/actions/runs/{id}/pending_deployments`.
    pub(super) fn pending_deployments(&self, id: &str) -> R {
        let r = self.find_run(id)?;
        let items: Vec<Value> = r
            .pending
            .iter()
            .map(|p| {
                let reviewers: Vec<Value> = p
                    .reviewers
                    .iter()
                    .map(|l| json!({"type": "User", "reviewer": j::user(self.base(), l, false)}))
                    .collect();
                json!({
                    "environment": {"id": p.environment_id, "node_id": format!("EN_{}", p.environment_id), "name": p.environment, "url": self.url(&format!("environments/{}", p.environment)), "html_url": format!("https://github.com/{}/deployments", self.full)},
                    "wait_timer": 0,
                    "wait_timer_started_at": ts(p.created_at),
                    "current_user_can_approve": self.may_review(&r, p),
                    "reviewers": reviewers,
                })
            })
            .collect();
        Ok(Resp::json(200, Value::Array(items)))
    }

    fn may_review(&self, r: &WorkflowRun, p: &crate::state::PendingDeployment) -> bool {
        p.reviewers
            .iter()
            .any(|l| l.eq_ignore_ascii_case(self.login))
            && !(p.prevent_self_review && r.actor.eq_ignore_ascii_case(self.login))
    }

    /// `POST /repos/{o}/{r}/actions/runs/{id}/pending_deployments`
    /// `{environment_ids, state: approved|rejected, comment}`.
    pub(super) fn review_deployments(&self, id: &str, b: &Value) -> R {
        let r = self.find_run(id)?;
        let ids: Vec<u64> = list(b, "environment_ids")?
            .ok_or_else(|| missing("PendingDeployment", "environment_ids"))?
            .iter()
            .map(|v| {
                v.as_u64()
                    .ok_or_else(|| bad_field("PendingDeployment", "environment_ids"))
            })
            .collect::<Result<_, _>>()?;
        let approved = match s(b, "state")? {
            Some("approved") => true,
            Some("rejected") => false,
            _ => return Err(bad_field("PendingDeployment", "state")),
        };
        let comment = s(b, "comment")?.unwrap_or("").to_owned();
        let mut decided = Vec::new();
        for env in ids {
            let Some(p) = r.pending.iter().find(|p| p.environment_id == env) else {
                return Err(invalid(
                    format!("There are no pending deployments for environment {env} in this run"),
                    json!([]),
                ));
            };
            if !self.may_review(&r, p) {
                return Err(invalid(
                    format!(
                        "{} is not allowed to review deployments to {}",
                        self.login, p.environment
                    ),
                    json!([]),
                ));
            }
            decided.push(p.clone());
        }
        let deployments: Vec<Value> = decided
            .iter()
            .filter_map(|p| {
                self.app.decide(p.job, approved, comment.clone());
                self.read(|d| {
                    d.deployments
                        .iter()
                        .rev()
                        .find(|x| x.environment == p.environment && x.sha == r.head_sha)
                        .cloned()
                })
            })
            .map(|d| j::deployment(self.base(), &self.full, &d))
            .collect();
        Ok(Resp::json(200, Value::Array(deployments)))
    }

    /// `POST /repos/{o}/{r}/actions/runs/{id}/cancel`.
    pub(super) fn cancel(&self, id: &str) -> R {
        let r = self.find_run(id)?;
        if r.status == "completed" || !self.app.cancel_run(r.id) {
            return Err(err(409, "Cannot cancel a workflow run that is completed."));
        }
        Ok(Resp::json(202, json!({})))
    }
}

/// `workflow_dispatch` inputs checked against the workflow's declaration, defaults applied and
/// booleans typed, as GitHub does.
fn dispatch_inputs(
    w: &Workflow,
    given: &serde_json::Map<String, Value>,
) -> Result<Value, ApiError> {
    let declared = w.dispatch_inputs();
    let unexpected: Vec<&String> = given
        .keys()
        .filter(|k| !declared.iter().any(|d| d.name == **k))
        .collect();
    if !unexpected.is_empty() {
        return Err(invalid(
            format!("Unexpected inputs provided: {unexpected:?}"),
            json!([]),
        ));
    }
    if given.len() > 25 {
        return Err(invalid("A maximum of 25 inputs is allowed", json!([])));
    }
    let mut out = serde_json::Map::new();
    for d in &declared {
        let v = match given.get(&d.name) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(_) => {
                return Err(invalid(
                    format!("Input '{}' must be a string", d.name),
                    json!([]),
                ));
            }
            None => d.default.clone(),
        };
        let Some(v) = v else {
            if d.required {
                return Err(invalid(
                    format!("Required input '{}' not provided", d.name),
                    json!([]),
                ));
            }
            continue;
        };
        let typed = match d.kind.as_str() {
            "boolean" => match v.as_str() {
                "true" => json!(true),
                "false" => json!(false),
                _ => {
                    return Err(invalid(
                        format!(
                            "Provided value '{v}' for input '{}' not in the list of allowed values",
                            d.name
                        ),
                        json!([]),
                    ));
                }
            },
            "choice" if !d.options.contains(&v) => {
                return Err(invalid(
                    format!(
                        "Provided value '{v}' for input '{}' not in the list of allowed values",
                        d.name
                    ),
                    json!([]),
                ));
            }
            "number" if v.parse::<f64>().is_err() => {
                return Err(invalid(
                    format!(
                        "Provided value '{v}' for input '{}' is not a number",
                        d.name
                    ),
                    json!([]),
                ));
            }
            _ => json!(v),
        };
        out.insert(d.name.clone(), typed);
    }
    Ok(Value::Object(out))
}
