//! Environments around a job: created on first use, deployment-branch policies, the
//! deployment GitHub records for a job in an environment, and required reviewers.

use serde_json::json;
use tokio::sync::oneshot;

use std::collections::BTreeMap;

use super::{RunCtx, head_branch, repo_key_of, unless_cancelled, update_run};
use crate::json::now;
use crate::runner::workflow;
use crate::server::events::ACTIONS_BOT;
use crate::server::lock;
use crate::state::{Deployment, DeploymentStatus, Environment, PendingDeployment};

impl RunCtx {
    /// The environment `name`, created (unprotected) when the repository has none of that name.
    pub(super) fn environment(&self, name: &str) -> Environment {
        let mut st = lock(&self.app.state);
        let id = st.next_id + 1;
        let Some(d) = st.repos.get_mut(&repo_key_of(&self.t.repo)) else {
            return new_environment(id, name);
        };
        if let Some(e) = d
            .environments
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(name))
        {
            return e.clone();
        }
        let e = new_environment(id, name);
        d.environments.push(e.clone());
        st.next_id = id;
        let _ = st.save(&self.app.data);
        e
    }

    /// The deployment GitHub records for a job that names an environment.
    pub(super) fn create_deployment(&self, env: &str, e: &Environment) -> u64 {
        let t = now();
        let mut st = lock(&self.app.state);
        let id = st.id();
        let git_ref = head_branch(&self.t);
        if let Some(d) = st.repos.get_mut(&repo_key_of(&self.t.repo)) {
            d.deployments.push(Deployment {
                id,
                sha: self.t.sha.clone(),
                git_ref,
                task: "deploy".into(),
                environment: env.to_owned(),
                description: None,
                payload: json!({}),
                creator: ACTIONS_BOT.into(),
                transient_environment: false,
                production_environment: false,
                created_at: t,
                updated_at: t,
            });
        }
        let _ = st.save(&self.app.data);
        drop(st);
        let state = if e.reviewers.is_empty() {
            "queued"
        } else {
            "waiting"
        };
        self.deployment_status(id, env, state);
        id
    }

    pub(super) fn deployment_status(&self, deployment: u64, env: &str, state: &str) {
        let t = now();
        let mut st = lock(&self.app.state);
        let id = st.id();
        let run_url = format!(
            "https://github.com/{}/actions/runs/{}",
            self.t.repo, self.run_id
        );
        if let Some(d) = st.repos.get_mut(&repo_key_of(&self.t.repo)) {
            d.deployment_statuses.push(DeploymentStatus {
                id,
                deployment,
                state: state.to_owned(),
                description: String::new(),
                environment: env.to_owned(),
                environment_url: String::new(),
                log_url: run_url.clone(),
                target_url: run_url,
                creator: ACTIONS_BOT.into(),
                created_at: t,
            });
            if let Some(dep) = d.deployments.iter_mut().find(|x| x.id == deployment) {
                dep.updated_at = t;
            }
        }
        let _ = st.save(&self.app.data);
    }

    /// Waits until a required reviewer approves (`Ok`) or rejects (`Err`) the job.
    pub(super) async fn wait_for_review(
        &self,
        job: u64,
        e: &Environment,
        _deployment: Option<u64>,
    ) -> Result<(), String> {
        let r = self.runner();
        let (tx, rx) = oneshot::channel();
        lock(&r.approvals).insert(job, tx);
        let t = now();
        update_run(&self.app, &self.t.repo, self.run_id, |run| {
            run.status = "waiting".into();
            run.pending.push(PendingDeployment {
                job,
                environment: e.name.clone(),
                environment_id: e.id,
                reviewers: e.reviewers.clone(),
                prevent_self_review: e.prevent_self_review,
                created_at: t,
            });
            if let Some(j) = run.jobs.iter_mut().find(|j| j.id == job) {
                j.status = "waiting".into();
            }
        });
        let mut cancel = self.cancel.subscribe();
        let decision = unless_cancelled(&mut cancel, rx).await;
        lock(&r.approvals).remove(&job);
        update_run(&self.app, &self.t.repo, self.run_id, |run| {
            run.pending.retain(|p| p.job != job);
            if run.pending.is_empty() {
                run.status = "in_progress".into();
            }
        });
        match decision {
            Some(Ok((true, _))) => Ok(()),
            Some(Ok((false, comment))) => Err(format!(
                "The deployment to {} was rejected{}",
                e.name,
                if comment.is_empty() {
                    String::new()
                } else {
                    format!(": {comment}")
                }
            )),
            _ => Err("The run was canceled.".into()),
        }
    }
}

pub(super) fn new_environment(id: u64, name: &str) -> Environment {
    let t = now();
    Environment {
        id,
        name: name.to_owned(),
        reviewers: Vec::new(),
        prevent_self_review: false,
        wait_timer: 0,
        branch_policy: None,
        variables: BTreeMap::new(),
        created_at: t,
        updated_at: t,
    }
}

/// Why `git_ref` may not deploy to `e` (GitHub's message), if it may not.
pub(super) fn branch_refused(e: &Environment, git_ref: &str) -> Option<String> {
    let policy = e.branch_policy.as_ref()?;
    let (kind, name) = if let Some(b) = git_ref.strip_prefix("refs/heads/") {
        ("branch", b)
    } else if let Some(t) = git_ref.strip_prefix("refs/tags/") {
        ("tag", t)
    } else {
        ("branch", git_ref)
    };
    let allowed = !policy.protected_branches
        && policy
            .custom
            .iter()
            .any(|(k, pattern)| k == kind && workflow::filter_matches(pattern, name));
    (!allowed).then(|| {
        let what = if kind == "tag" { "Tag" } else { "Branch" };
        format!(
            "{what} \"{name}\" is not allowed to deploy to {} due to environment protection rules.",
            e.name
        )
    })
}
