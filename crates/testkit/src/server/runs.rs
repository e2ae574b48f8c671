//! The workflow runner over the server's state: which workflows an event starts, their runs and
//! jobs, concurrency, environments (reviewers, branch rules, secrets, variables), `GITHUB_TOKEN`s
//! and OIDC tokens. One job is run by `runner::exec`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, oneshot, watch};

use super::ctx::{repo_dir, repo_key};
use super::events::ACTIONS_BOT;
use super::{App, lock};
use crate::git::Repo;
use crate::json::now;
use crate::openapi::Violation;
use crate::runner::concurrency::{Admission, Groups, Held};
use crate::runner::exec::{self, JobOutcome, JobSpec};
use crate::runner::expr::{self, JobStatus};
use crate::runner::oidc::{JobIdentity, Signer};
use crate::runner::workflow::{self, Job, Level, Workflow};
use crate::runner::{RunnerConfig, Trigger};
use crate::state::{RunJob, WorkflowRun};
use crate::webhooks::WebhookSchemas;

mod protection;
mod tokens;

use protection::branch_refused;
pub(super) use tokens::{authorize, oidc_token, oidc_verify};

/// Secrets by name.
type Secrets = BTreeMap<String, String>;

/// What a job's `GITHUB_TOKEN` may do.
#[derive(Debug, Clone)]
pub(super) struct Grant {
    /// The repository key it was issued for.
    pub(super) repo: String,
    pub(super) permissions: BTreeMap<String, Level>,
    /// Set when the job has `id-token: write`.
    pub(super) identity: Option<JobIdentity>,
}

/// The runner's part of the server.
pub(super) struct Runner {
    pub(super) cfg: RunnerConfig,
    tx: mpsc::UnboundedSender<Trigger>,
    pub(super) signer: Signer,
    pub(super) tokens: Mutex<HashMap<String, Grant>>,
    approvals: Mutex<HashMap<u64, oneshot::Sender<(bool, String)>>>,
    cancels: Mutex<HashMap<u64, watch::Sender<bool>>>,
    groups: Groups,
    /// (repository key, environment) -> name -> value. Kept in memory only, never persisted.
    secrets: Mutex<HashMap<(String, Option<String>), Secrets>>,
    /// The webhook schemas payloads are validated against (`RunnerConfig::webhook_schemas`),
    /// loaded on a thread of their own from `start_runner` on (or why they could not be).
    webhooks: Option<Arc<Schemas>>,
}

/// The webhook schemas once loaded, or why they could not be.
type Schemas = OnceLock<Result<Arc<WebhookSchemas>, String>>;

/// Loads the webhook schemas at `path` into `cell` (once: a second caller waits for the first).
fn load_webhooks(cell: &Schemas, path: &std::path::Path) -> Result<Arc<WebhookSchemas>, String> {
    cell.get_or_init(|| {
        WebhookSchemas::load_shared(path)
            .map_err(|e| format!("cannot load the webhook schemas: {e}"))
    })
    .clone()
}

impl App {
    /// Starts the workflow runner: from now on events start workflows. Returns the task that
    /// runs them; aborting it stops every run (act processes are killed).
    pub fn start_runner(self: &Arc<Self>, cfg: RunnerConfig) -> tokio::task::JoinHandle<()> {
        let (tx, rx) = mpsc::unbounded_channel();
        // Compiling the schemas takes seconds: started now, on a thread, so no request waits
        // for it unless it emits an event before it is done.
        let webhooks = cfg.webhook_schemas.clone().map(|path| {
            let cell = Arc::new(OnceLock::new());
            let c = Arc::clone(&cell);
            std::thread::spawn(move || load_webhooks(&c, &path));
            cell
        });
        let runner = Runner {
            webhooks,
            cfg,
            tx,
            signer: Signer::random(),
            tokens: Mutex::new(HashMap::new()),
            approvals: Mutex::new(HashMap::new()),
            cancels: Mutex::new(HashMap::new()),
            groups: Groups::default(),
            secrets: Mutex::new(HashMap::new()),
        };
        if self.runner.set(runner).is_err() {
            eprintln!("fake-github: the runner was already started");
        }
        tokio::spawn(run_loop(Arc::clone(self), rx))
    }

    pub(super) fn runner(&self) -> Option<&Runner> {
        self.runner.get()
    }

    /// Whether a change's events are wanted: by the workflow runner or a webhook.
    pub(super) fn wants_events(&self) -> bool {
        self.runner().is_some() || self.hooks.any()
    }

    /// Hands events to the runner, if there is one, after validating each payload against the
    /// webhook schemas (when configured): what does not conform is a violation with method
    /// `EVENT`, path `<event>.<action>` (or `<event>`) and the schema's definition.
    pub(super) fn emit(&self, triggers: Vec<Trigger>) {
        self.hooks.deliver(&triggers);
        if let Some(r) = self.runner() {
            for t in triggers {
                self.check_payload(r, &t);
                let _ = r.tx.send(t);
            }
        }
    }

    fn check_payload(&self, r: &Runner, t: &Trigger) {
        let (Some(cell), Some(path)) = (&r.webhooks, &r.cfg.webhook_schemas) else {
            return;
        };
        let event_path = match t.payload.get("action").and_then(Value::as_str) {
            Some(action) => format!("{}.{action}", t.event),
            None => t.event.clone(),
        };
        let (operation, errors) = match load_webhooks(cell, path) {
            Err(e) => (String::new(), vec![e]),
            Ok(schemas) => (
                schemas.definition(&t.event, &t.payload).unwrap_or_default(),
                schemas.validate(&t.event, &t.payload),
            ),
        };
        if errors.is_empty() {
            return;
        }
        eprintln!(
            "fake-github: the {event_path} payload does not conform to {}: {}",
            if operation.is_empty() {
                "the webhook schemas"
            } else {
                &operation
            },
            errors.join("; ")
        );
        lock(&self.violations).push(Violation {
            method: "EVENT".into(),
            path: event_path,
            operation,
            status: 0,
            errors,
        });
    }

    /// Sets a secret of a repository (or of one of its environments).
    pub(super) fn set_secret(&self, key: String, env: Option<String>, name: String, value: String) {
        if let Some(r) = self.runner() {
            lock(&r.secrets)
                .entry((key, env))
                .or_default()
                .insert(name, value);
        }
    }

    /// Records a reviewer's decision on a waiting job; false when it waits no longer.
    pub(super) fn decide(&self, job: u64, approved: bool, comment: String) -> bool {
        self.runner()
            .and_then(|r| lock(&r.approvals).remove(&job))
            .is_some_and(|tx| tx.send((approved, comment)).is_ok())
    }

    /// Cancels a run: pending jobs never start, running ones are killed.
    pub(super) fn cancel_run(&self, run: u64) -> bool {
        self.runner()
            .and_then(|r| lock(&r.cancels).get(&run).map(|c| c.send_replace(true)))
            .is_some()
    }
}

async fn run_loop(app: Arc<App>, mut rx: mpsc::UnboundedReceiver<Trigger>) {
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            t = rx.recv() => match t {
                // Runs are created and take their place in their concurrency groups here, in
                // the order the events happened; only then do they go their own ways.
                Some(t) => {
                    for queued in queue_runs(&app, &t) {
                        tasks.spawn(queued.run());
                    }
                }
                None => break,
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
}

/// The workflow files at `sha`, parsed (or why not).
fn workflows_at(repo: &Repo, sha: &str) -> Vec<(String, Result<Workflow, String>)> {
    let Ok(listing) = repo.ok(&["ls-tree", "--name-only", sha, ".github/workflows/"]) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for path in listing.lines() {
        if !(path.ends_with(".yml") || path.ends_with(".yaml")) {
            continue;
        }
        let text = repo
            .ok(&["cat-file", "blob", &format!("{sha}:{path}")])
            .map_err(|e| e.to_string());
        let parsed = text.and_then(|t| Workflow::parse(path, &t).map_err(|e| e.to_string()));
        out.push((path.to_owned(), parsed));
    }
    out
}

/// The runs an event starts: created, queued in their groups; each still to be run.
fn queue_runs(app: &Arc<App>, t: &Trigger) -> Vec<Queued> {
    // Events a workflow's GITHUB_TOKEN caused start no workflow, except the two dispatches.
    if t.actor == ACTIONS_BOT && t.event != "workflow_dispatch" && t.event != "repository_dispatch"
    {
        return Vec::new();
    }
    let Some((owner, name)) = t.repo.split_once('/') else {
        return Vec::new();
    };
    let repo = Repo::open(repo_dir(&app.data, owner, name));
    let mut runs = Vec::new();
    for (path, parsed) in workflows_at(&repo, &t.sha) {
        if t.workflow.as_ref().is_some_and(|w| *w != path) {
            continue;
        }
        match parsed {
            Ok(w) if w.triggered_by(&t.kind) => runs.extend(queue_run(app, t, w)),
            // GitHub shows a failed run for a workflow file it cannot read, on pushes.
            Err(e) if t.event == "push" => {
                let id = create_run(app, t, &path, &path, &path);
                if let Some(id) = id {
                    finish_run(app, &t.repo, id, "failure");
                    eprintln!("fake-github: {}: invalid workflow file {path}: {e}", t.repo);
                }
            }
            _ => {}
        }
    }
    runs
}

/// Records a new run (queued); its id.
fn create_run(app: &App, t: &Trigger, path: &str, name: &str, title: &str) -> Option<u64> {
    let key = repo_key_of(&t.repo);
    let head_branch = head_branch(t);
    let time = now();
    let mut st = lock(&app.state);
    let id = st.id();
    let d = st.repos.get_mut(&key)?;
    let run_number = d.runs.iter().filter(|r| r.path == path).count() as u64 + 1;
    d.runs.push(WorkflowRun {
        id,
        run_number,
        name: name.to_owned(),
        event: t.event.clone(),
        status: "queued".into(),
        conclusion: None,
        head_branch,
        head_sha: t.sha.clone(),
        actor: t.actor.clone(),
        created_at: time,
        updated_at: time,
        path: path.to_owned(),
        display_title: title.to_owned(),
        jobs: Vec::new(),
        pending: Vec::new(),
    });
    let _ = st.save(&app.data);
    Some(id)
}

fn repo_key_of(full: &str) -> String {
    let (o, n) = full.split_once('/').unwrap_or((full, ""));
    repo_key(o, n)
}

/// The run's `head_branch`: the branch or tag name, or a pull request's head branch.
fn head_branch(t: &Trigger) -> String {
    if let Some(h) = t.payload["pull_request"]["head"]["ref"].as_str() {
        return h.to_owned();
    }
    t.git_ref
        .strip_prefix("refs/heads/")
        .or_else(|| t.git_ref.strip_prefix("refs/tags/"))
        .unwrap_or(&t.git_ref)
        .to_owned()
}

/// Changes one run (and persists).
fn update_run(app: &App, repo: &str, id: u64, f: impl FnOnce(&mut WorkflowRun)) {
    let mut st = lock(&app.state);
    if let Some(r) = st
        .repos
        .get_mut(&repo_key_of(repo))
        .and_then(|d| d.runs.iter_mut().find(|r| r.id == id))
    {
        f(r);
        r.updated_at = now();
    }
    let _ = st.save(&app.data);
}

fn finish_run(app: &App, repo: &str, id: u64, conclusion: &str) {
    update_run(app, repo, id, |r| {
        r.status = "completed".into();
        r.conclusion = Some(conclusion.to_owned());
    });
    if let Some(r) = app.runner() {
        lock(&r.cancels).remove(&id);
    }
}

/// The `github` context of a run.
fn github_context(app: &App, t: &Trigger, w: &Workflow, run_id: u64, run_number: u64) -> Value {
    let (owner, _) = t.repo.split_once('/').unwrap_or((&t.repo, ""));
    let ref_name = t
        .git_ref
        .strip_prefix("refs/heads/")
        .or_else(|| t.git_ref.strip_prefix("refs/tags/"))
        .or_else(|| t.git_ref.strip_prefix("refs/pull/"))
        .unwrap_or(&t.git_ref);
    let ref_type = if t.git_ref.starts_with("refs/tags/") {
        "tag"
    } else {
        "branch"
    };
    let pr = &t.payload["pull_request"];
    let repo_id = lock(&app.state)
        .repos
        .get(&repo_key_of(&t.repo))
        .and_then(|d| d.meta.as_ref().map(|m| m.id))
        .unwrap_or(0);
    json!({
        "event_name": t.event,
        "event": t.payload,
        "ref": t.git_ref,
        "ref_name": ref_name,
        "ref_type": ref_type,
        "sha": t.sha,
        "repository": t.repo,
        "repository_id": repo_id.to_string(),
        "repository_owner": owner,
        "actor": t.actor,
        "triggering_actor": t.actor,
        "run_id": run_id.to_string(),
        "run_number": run_number.to_string(),
        "run_attempt": "1",
        "workflow": w.name.clone().unwrap_or_else(|| w.path.clone()),
        "workflow_ref": format!("{}/{}@{}", t.repo, w.path, t.git_ref),
        "head_ref": pr["head"]["ref"].as_str().unwrap_or(""),
        "base_ref": pr["base"]["ref"].as_str().unwrap_or(""),
        "server_url": "https://github.com",
        "api_url": app.base(),
        "retention_days": "90",
    })
}

/// Repository variables, then the environment's over them.
fn variables(app: &App, repo: &str, env: Option<&str>) -> BTreeMap<String, String> {
    let st = lock(&app.state);
    let Some(d) = st.repos.get(&repo_key_of(repo)) else {
        return BTreeMap::new();
    };
    let mut vars = d.variables.clone();
    if let Some(e) = env.and_then(|n| d.environments.iter().find(|e| e.name == n)) {
        vars.extend(e.variables.clone());
    }
    vars
}

fn secrets(r: &Runner, repo: &str, env: Option<&str>) -> BTreeMap<String, String> {
    let all = lock(&r.secrets);
    let key = repo_key_of(repo);
    let mut out = all.get(&(key.clone(), None)).cloned().unwrap_or_default();
    if let Some(e) = env {
        out.extend(
            all.get(&(key, Some(e.to_owned())))
                .cloned()
                .unwrap_or_default(),
        );
    }
    out
}

/// Waits for `fut` unless `cancel` turns true first.
async fn unless_cancelled<T>(
    cancel: &mut watch::Receiver<bool>,
    fut: impl std::future::Future<Output = T>,
) -> Option<T> {
    let cancelled = async {
        while !*cancel.borrow() {
            if cancel.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        v = fut => Some(v),
        () = cancelled => None,
    }
}

/// Takes a place in the concurrency group `group` of `repo` (see [`Groups::enqueue`]).
fn enqueue(
    r: &Runner,
    repo: &str,
    group: &str,
    cancel_in_progress: bool,
    holder: u64,
    cancel: &watch::Sender<bool>,
) -> Admission {
    let key = format!("{}\0{group}", repo_key_of(repo));
    r.groups
        .enqueue(key, group, holder, cancel_in_progress, cancel.clone())
}

/// Waits for an admission, unless the run is cancelled first (its place is then given up).
async fn admitted(admission: Admission, cancel: &watch::Sender<bool>) -> Result<Held, String> {
    let mut rx = cancel.subscribe();
    match unless_cancelled(&mut rx, admission.admitted()).await {
        Some(Ok(held)) => Ok(held),
        Some(Err(superseded)) => Err(superseded.0),
        None => Err("The run was canceled.".into()),
    }
}

fn cancel_in_progress(v: &Value, ctx: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => match s.trim() {
            "true" => true,
            "false" | "" => false,
            s => expr::interpolate(s, ctx, JobStatus::Success).is_ok_and(|v| v == "true"),
        },
        _ => false,
    }
}

/// A job's result, for the jobs that need it.
#[derive(Debug, Clone)]
struct JobResult {
    result: &'static str,
    outputs: BTreeMap<String, String>,
}

/// A run created and queued in its workflow's concurrency group, not yet started.
struct Queued {
    run: RunCtx,
    admission: Option<Admission>,
}

/// Creates the run of `w` for `t` and takes its place in the workflow's group, if any.
fn queue_run(app: &Arc<App>, t: &Trigger, w: Workflow) -> Option<Queued> {
    let r = app.runner()?;
    let inputs = t.inputs.clone().unwrap_or_else(|| json!({}));
    let vars = variables(app, &t.repo, None);
    let pre = json!({"github": github_context(app, t, &w, 0, 0), "inputs": inputs, "vars": vars});
    let title = w.run_name(&pre);
    let name = w.name.clone().unwrap_or_else(|| w.path.clone());
    let run_id = create_run(app, t, &w.path, &name, &title)?;
    let run_number = lock(&app.state)
        .repos
        .get(&repo_key_of(&t.repo))
        .and_then(|d| d.runs.iter().find(|x| x.id == run_id).map(|x| x.run_number))
        .unwrap_or(1);
    let base = json!({
        "github": github_context(app, t, &w, run_id, run_number),
        "inputs": inputs,
        "vars": vars,
    });
    let (cancel, _) = watch::channel(false);
    lock(&r.cancels).insert(run_id, cancel.clone());
    let admission = match &w.concurrency {
        Some(c) => match expr::interpolate(&c.group, &base, JobStatus::Success) {
            Ok(group) => {
                let cip = cancel_in_progress(&c.cancel_in_progress, &base);
                Some(enqueue(r, &t.repo, &group, cip, run_id, &cancel))
            }
            Err(e) => {
                eprintln!("fake-github: {}: concurrency group: {e}", w.path);
                finish_run(app, &t.repo, run_id, "failure");
                return None;
            }
        },
        None => None,
    };
    Some(Queued {
        run: RunCtx {
            app: Arc::clone(app),
            t: t.clone(),
            w: Arc::new(w),
            run_id,
            run_number,
            base,
            cancel,
        },
        admission,
    })
}

impl Queued {
    /// Waits for the group, then runs the jobs in the order their `needs` allow.
    async fn run(self) {
        let Queued { run, admission } = self;
        let (app, run_id) = (Arc::clone(&run.app), run.run_id);
        let _held = match admission {
            Some(a) => match admitted(a, &run.cancel).await {
                Ok(h) => Some(h),
                Err(why) => {
                    eprintln!("fake-github: run {run_id} ({}): {why}", run.w.path);
                    finish_run(&app, &run.t.repo, run_id, "cancelled");
                    return;
                }
            },
            None => None,
        };
        run.jobs().await;
    }
}

impl RunCtx {
    async fn jobs(self) {
        let run = self;
        let app = Arc::clone(&run.app);
        let run_id = run.run_id;
        update_run(&app, &run.t.repo, run_id, |x| {
            x.status = "in_progress".into();
        });
        let mut results: BTreeMap<String, JobResult> = BTreeMap::new();
        let mut started: Vec<String> = Vec::new();
        let mut jobs = tokio::task::JoinSet::new();
        loop {
            for job in &run.w.jobs {
                if started.contains(&job.id) || !job.needs.iter().all(|n| results.contains_key(n)) {
                    continue;
                }
                started.push(job.id.clone());
                let needs: BTreeMap<String, JobResult> = job
                    .needs
                    .iter()
                    .filter_map(|n| results.get(n).map(|r| (n.clone(), r.clone())))
                    .collect();
                let run = run.clone();
                let job = job.clone();
                jobs.spawn(async move {
                    let id = job.id.clone();
                    (id, run.job(&job, &needs).await)
                });
            }
            match jobs.join_next().await {
                Some(Ok((id, result))) => {
                    results.insert(id, result);
                }
                Some(Err(_)) => {}
                None => break,
            }
        }
        let conclusion = if results.values().any(|r| r.result == "failure") {
            "failure"
        } else if *run.cancel.borrow() || results.values().any(|r| r.result == "cancelled") {
            "cancelled"
        } else {
            "success"
        };
        finish_run(&app, &run.t.repo, run_id, conclusion);
    }
}

/// One run, as its jobs see it.
#[derive(Clone)]
struct RunCtx {
    app: Arc<App>,
    t: Trigger,
    w: Arc<Workflow>,
    run_id: u64,
    run_number: u64,
    base: Value,
    cancel: watch::Sender<bool>,
}

fn status_of(needs: &BTreeMap<String, JobResult>, cancelled: bool) -> JobStatus {
    if cancelled {
        JobStatus::Cancelled
    } else if needs.values().all(|r| r.result == "success") {
        JobStatus::Success
    } else {
        JobStatus::Failure
    }
}

fn needs_context(needs: &BTreeMap<String, JobResult>) -> Value {
    let mut m = Map::new();
    for (k, r) in needs {
        m.insert(k.clone(), json!({"result": r.result, "outputs": r.outputs}));
    }
    Value::Object(m)
}

/// Evaluates the expressions in a `strategy.matrix` value.
fn eval_matrix(v: &Value, ctx: &Value) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => {
            let t = s.trim();
            if let Some(inner) = t
                .strip_prefix("${{")
                .and_then(|x| x.strip_suffix("}}"))
                .filter(|x| !x.contains("${{"))
            {
                expr::eval(inner, ctx, JobStatus::Success).map_err(|e| e.to_string())?
            } else {
                Value::String(
                    expr::interpolate(s, ctx, JobStatus::Success).map_err(|e| e.to_string())?,
                )
            }
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| eval_matrix(x, ctx))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), eval_matrix(x, ctx)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

impl RunCtx {
    fn runner(&self) -> &Runner {
        self.app
            .runner()
            .expect("the runner runs only when started")
    }

    async fn job(&self, job: &Job, needs: &BTreeMap<String, JobResult>) -> JobResult {
        let mut ctx = self.base.clone();
        ctx["needs"] = needs_context(needs);
        let status = status_of(needs, *self.cancel.borrow());
        let run_it = match &job.if_ {
            Some(cond) => expr::eval_if(cond, &ctx, status).map_err(|e| e.to_string()),
            None => Ok(status == JobStatus::Success),
        };
        let skipped = JobResult {
            result: "skipped",
            outputs: BTreeMap::new(),
        };
        match run_it {
            Ok(true) => {}
            Ok(false) => {
                self.record_job(job, &job_title(job, None), None, "skipped", "");
                return skipped;
            }
            Err(e) => {
                let msg = format!("The job's `if` is invalid: {e}");
                self.record_job(job, &job_title(job, None), None, "failure", &msg);
                return JobResult {
                    result: "failure",
                    outputs: BTreeMap::new(),
                };
            }
        }
        let combos: Vec<Option<Map<String, Value>>> = match &job.matrix {
            None => vec![None],
            Some(m) => match eval_matrix(m, &ctx)
                .and_then(|m| workflow::expand_matrix(&m).map_err(|e| e.to_string()))
            {
                Ok(c) if !c.is_empty() => c.into_iter().map(Some).collect(),
                Ok(_) => {
                    let msg = "Matrix vector does not contain any values";
                    self.record_job(job, &job_title(job, None), None, "failure", msg);
                    return JobResult {
                        result: "failure",
                        outputs: BTreeMap::new(),
                    };
                }
                Err(e) => {
                    let msg = format!("Error when evaluating 'strategy': {e}");
                    self.record_job(job, &job_title(job, None), None, "failure", &msg);
                    return JobResult {
                        result: "failure",
                        outputs: BTreeMap::new(),
                    };
                }
            },
        };
        let mut set = tokio::task::JoinSet::new();
        for combo in combos {
            let (run, job, ctx) = (self.clone(), job.clone(), ctx.clone());
            let needs = needs.clone();
            set.spawn(async move { run.combo(&job, combo, ctx, &needs).await });
        }
        let mut result = JobResult {
            result: "success",
            outputs: BTreeMap::new(),
        };
        while let Some(done) = set.join_next().await {
            let Ok(o) = done else {
                result.result = "failure";
                continue;
            };
            match o.conclusion {
                "failure" => result.result = "failure",
                "cancelled" if result.result != "failure" => result.result = "cancelled",
                _ => {}
            }
            result.outputs.extend(o.outputs);
        }
        result
    }

    /// Records a job that never reached act (skipped, or refused before it started).
    fn record_job(
        &self,
        job: &Job,
        name: &str,
        env: Option<String>,
        conclusion: &str,
        message: &str,
    ) -> u64 {
        let id = self.new_job(job, name, env);
        self.end_job(id, conclusion, message);
        id
    }

    fn new_job(&self, job: &Job, name: &str, environment: Option<String>) -> u64 {
        let t = now();
        let mut st = lock(&self.app.state);
        let id = st.id();
        if let Some(r) = st
            .repos
            .get_mut(&repo_key_of(&self.t.repo))
            .and_then(|d| d.runs.iter_mut().find(|r| r.id == self.run_id))
        {
            r.jobs.push(RunJob {
                id,
                key: job.id.clone(),
                name: name.to_owned(),
                status: "queued".into(),
                conclusion: None,
                environment,
                created_at: t,
                started_at: None,
                completed_at: None,
                summary: String::new(),
            });
        }
        let _ = st.save(&self.app.data);
        id
    }

    fn update_job(&self, id: u64, f: impl FnOnce(&mut RunJob)) {
        update_run(&self.app, &self.t.repo, self.run_id, |r| {
            if let Some(j) = r.jobs.iter_mut().find(|j| j.id == id) {
                f(j);
            }
        });
    }

    fn end_job(&self, id: u64, conclusion: &str, summary: &str) {
        let t = now();
        self.update_job(id, |j| {
            j.status = "completed".into();
            j.conclusion = Some(conclusion.to_owned());
            j.completed_at = Some(t);
            if j.started_at.is_none() {
                j.started_at = Some(t);
            }
            summary.clone_into(&mut j.summary);
        });
    }

    async fn combo(
        &self,
        job: &Job,
        combo: Option<Map<String, Value>>,
        mut ctx: Value,
        needs: &BTreeMap<String, JobResult>,
    ) -> JobOutcome {
        let fail = |msg: String| JobOutcome {
            conclusion: "failure",
            outputs: BTreeMap::new(),
            summary: msg,
        };
        if let Some(c) = &combo {
            ctx["matrix"] = Value::Object(c.clone());
        }
        let name = match &job.name {
            Some(n) => expr::interpolate(n, &ctx, JobStatus::Success).unwrap_or_else(|_| n.clone()),
            None => job_title(job, combo.as_ref()),
        };
        let environment = match &job.environment {
            Some(e) => match expr::interpolate(&e.name, &ctx, JobStatus::Success) {
                Ok(n) if !n.is_empty() => Some(n),
                Ok(_) => None,
                Err(e) => {
                    let msg = format!("The environment name is invalid: {e}");
                    self.record_job(job, &name, None, "failure", &msg);
                    return fail(msg);
                }
            },
            None => None,
        };
        let id = self.new_job(job, &name, environment.clone());
        let r = self.runner();

        // Job-level concurrency.
        let _held = match &job.concurrency {
            Some(c) => {
                let group = expr::interpolate(&c.group, &ctx, JobStatus::Success)
                    .unwrap_or_else(|_| c.group.clone());
                let cip = cancel_in_progress(&c.cancel_in_progress, &ctx);
                // A newer job with cancel-in-progress cancels this job's run, as on GitHub.
                let admission = enqueue(r, &self.t.repo, &group, cip, id, &self.cancel);
                match admitted(admission, &self.cancel).await {
                    Ok(h) => Some(h),
                    Err(why) => {
                        self.end_job(id, "cancelled", &why);
                        return JobOutcome {
                            conclusion: "cancelled",
                            outputs: BTreeMap::new(),
                            summary: why,
                        };
                    }
                }
            }
            None => None,
        };

        // The environment: created on first use, as on GitHub; its rules before any step.
        let mut deployment = None;
        if let Some(env) = &environment {
            let e = self.environment(env);
            if let Some(why) = branch_refused(&e, &self.t.git_ref) {
                self.end_job(id, "failure", &why);
                return fail(why);
            }
            deployment = Some(self.create_deployment(env, &e));
            if !e.reviewers.is_empty() {
                match self.wait_for_review(id, &e, deployment).await {
                    Ok(()) => {}
                    Err(why) => {
                        if let Some(d) = deployment {
                            self.deployment_status(d, env, "failure");
                        }
                        self.end_job(id, "failure", &why);
                        return fail(why);
                    }
                }
            }
            if let Some(d) = deployment {
                self.deployment_status(d, env, "in_progress");
            }
        }

        // The job's token, its secrets and variables.
        let perms = workflow::effective_permissions(&self.w, job);
        let token = format!("ghs_{}", random_hex());
        let identity = (perms.get("id-token") == Some(&Level::Write))
            .then(|| self.identity(environment.clone()));
        lock(&r.tokens).insert(
            token.clone(),
            Grant {
                repo: repo_key_of(&self.t.repo),
                permissions: perms,
                identity: identity.clone(),
            },
        );
        let mut secrets = secrets(r, &self.t.repo, environment.as_deref());
        secrets.insert("GITHUB_TOKEN".into(), token.clone());
        let vars = variables(&self.app, &self.t.repo, environment.as_deref());

        let mut known = json!({"needs": needs_context(needs)});
        if let Some(c) = &combo {
            known["matrix"] = Value::Object(c.clone());
        }
        let yaml = match self.w.job_for_act(
            job,
            combo.as_ref(),
            &known,
            &[exec::recording_step(&job.outputs)],
        ) {
            Ok(y) => y,
            Err(e) => {
                lock(&r.tokens).remove(&token);
                let msg = format!("The job cannot run: {e}");
                self.end_job(id, "failure", &msg);
                return fail(msg);
            }
        };
        let dir = r
            .cfg
            .work
            .join(format!("run-{}", self.run_id))
            .join(format!("job-{id}"));
        let mut env = vec![
            ("GITHUB_ACTIONS".to_owned(), "true".to_owned()),
            ("CI".to_owned(), "true".to_owned()),
            ("GITHUB_API_URL".to_owned(), self.app.base().to_owned()),
            ("GITHUB_RUN_ID".to_owned(), self.run_id.to_string()),
            ("GITHUB_RUN_NUMBER".to_owned(), self.run_number.to_string()),
            ("GITHUB_RUN_ATTEMPT".to_owned(), "1".to_owned()),
            (
                "FAKE_GITHUB_GIT_DIR".to_owned(),
                self.app.data.display().to_string(),
            ),
            (
                "FAKE_GITHUB_ARTIFACTS".to_owned(),
                r.cfg
                    .work
                    .join(format!("run-{}", self.run_id))
                    .join("artifacts")
                    .display()
                    .to_string(),
            ),
        ];
        if identity.is_some() {
            env.push((
                "ACTIONS_ID_TOKEN_REQUEST_URL".into(),
                format!("{}/_fake/oidc/token?api-version=2.0", self.app.base()),
            ));
            env.push(("ACTIONS_ID_TOKEN_REQUEST_TOKEN".into(), token.clone()));
        }
        env.extend(r.cfg.env.iter().cloned());
        let actions = self.actions_for(job);
        let timeout = job.timeout_minutes.map_or(r.cfg.max_job_time, |m| {
            Duration::from_secs(m.saturating_mul(60)).min(r.cfg.max_job_time)
        });
        let (owner, repo_name) = self.t.repo.split_once('/').unwrap_or((&self.t.repo, ""));
        let spec = JobSpec {
            workflow_yaml: yaml,
            event_name: self.t.event.clone(),
            event: self.t.payload.clone(),
            actor: self.t.actor.clone(),
            repo_full: self.t.repo.clone(),
            bare: repo_dir(&self.app.data, owner, repo_name),
            sha: self.t.sha.clone(),
            git_ref: self.t.git_ref.clone(),
            secrets,
            vars,
            env,
            actions,
            output_names: job.outputs.iter().map(|(k, _)| k.clone()).collect(),
            dir,
            act: r.cfg.act.clone(),
            timeout,
        };
        let t0 = now();
        self.update_job(id, |j| {
            j.status = "in_progress".into();
            j.started_at = Some(t0);
        });
        let outcome = exec::run(spec, self.cancel.subscribe()).await;
        // As on GitHub, the token dies with the job.
        lock(&r.tokens).remove(&token);
        if let (Some(d), Some(env)) = (deployment, &environment) {
            let state = if outcome.conclusion == "success" {
                "success"
            } else {
                "failure"
            };
            self.deployment_status(d, env, state);
        }
        self.end_job(id, outcome.conclusion, &outcome.summary);
        outcome
    }

    /// `--local-repository` mappings for the `uses:` of a job's steps.
    fn actions_for(&self, job: &Job) -> Vec<(String, std::path::PathBuf)> {
        let cfg = &self.runner().cfg;
        let mut out = Vec::new();
        for uses in job.uses() {
            if let Some((_, dir)) = cfg.local_actions.iter().find(|(u, _)| *u == uses) {
                out.push((uses.clone(), dir.clone()));
            } else if let Some(dir) = cfg.stand_in(&uses) {
                out.push((uses.clone(), dir));
            }
        }
        out
    }

    fn identity(&self, environment: Option<String>) -> JobIdentity {
        let (owner, _) = self.t.repo.split_once('/').unwrap_or((&self.t.repo, ""));
        JobIdentity {
            repository: self.t.repo.clone(),
            repository_id: self.base["github"]["repository_id"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            owner: owner.to_owned(),
            git_ref: self.t.git_ref.clone(),
            sha: self.t.sha.clone(),
            environment,
            workflow: self.w.name.clone().unwrap_or_else(|| self.w.path.clone()),
            workflow_path: self.w.path.clone(),
            event_name: self.t.event.clone(),
            actor: self.t.actor.clone(),
            run_id: self.run_id,
            run_number: self.run_number,
        }
    }
}

/// The default job name: its key, with the matrix values in parentheses.
fn job_title(job: &Job, combo: Option<&Map<String, Value>>) -> String {
    match combo {
        Some(c) if !c.is_empty() => {
            let vals: Vec<String> = c.values().map(expr::to_string).collect();
            format!("{} ({})", job.id, vals.join(", "))
        }
        _ => job.id.clone(),
    }
}

fn random_hex() -> String {
    use std::fmt::Write as _;
    let mut b = [0u8; 18];
    let rng = ring::rand::SystemRandom::new();
    let _ = ring::rand::SecureRandom::fill(&rng, &mut b);
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}
