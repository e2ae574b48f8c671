//! The workflow model: a `.github/workflows/*.yml` file parsed and checked the way GitHub
//! checks it when it loads it, trigger matching (`on:` with its activity types and its branch,
//! tag and path filters), effective `GITHUB_TOKEN` permissions, matrix expansion, and the
//! single-job workflow handed to act.
//!
//! References: <https://docs.github.com/actions/reference/workflow-syntax-for-github-actions>,
//! <https://docs.github.com/actions/reference/events-that-trigger-workflows>.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};
use serde_yaml_ng::{Mapping, Value as Yaml};

use super::expr;

mod filters;
mod matrix;

use filters::Filters;
pub use filters::{filter_matches, filters_match};
pub use matrix::{MAX_COMBINATIONS, expand_matrix, expand_matrix_yaml};
use matrix::{eval_deep, expand};

/// A workflow GitHub would refuse, or a request that cannot be met.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct WorkflowError {
    /// What is wrong, naming the file, job and field.
    pub message: String,
}

fn err(message: impl Into<String>) -> WorkflowError {
    WorkflowError {
        message: message.into(),
    }
}

/// A permission level of the `GITHUB_TOKEN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    None,
    Read,
    Write,
}

impl Level {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Level::None),
            "read" => Some(Level::Read),
            "write" => Some(Level::Write),
            _ => None,
        }
    }
    /// `none`, `read` or `write`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Read => "read",
            Level::Write => "write",
        }
    }
}

/// The scopes a workflow's `permissions:` may name (and `read-all`/`write-all` expand to).
pub const SCOPES: &[&str] = &[
    "actions",
    "attestations",
    "checks",
    "contents",
    "deployments",
    "discussions",
    "id-token",
    "issues",
    "models",
    "packages",
    "pages",
    "pull-requests",
    "repository-projects",
    "security-events",
    "statuses",
];

/// A `permissions:` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permissions {
    ReadAll,
    WriteAll,
    /// Scope -> level; scopes not named are `none` (`{}` is the empty map).
    Scopes(BTreeMap<String, Level>),
}

/// A `concurrency:` value (the string form is the group only).
#[derive(Debug, Clone, PartialEq)]
pub struct Concurrency {
    /// The group, possibly with expressions.
    pub group: String,
    /// `cancel-in-progress`: a boolean or an expression string (`false` when absent).
    pub cancel_in_progress: Value,
}

/// A job's `environment:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentRef {
    /// The environment's name, possibly with expressions.
    pub name: String,
    pub url: Option<String>,
}

/// One job of a workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The job's key under `jobs:`.
    pub id: String,
    pub name: Option<String>,
    pub needs: Vec<String>,
    /// `if:`, as written (booleans and numbers as their text).
    pub if_: Option<String>,
    pub environment: Option<EnvironmentRef>,
    pub concurrency: Option<Concurrency>,
    pub permissions: Option<Permissions>,
    /// `strategy.matrix` as JSON (an object, or an expression string).
    pub matrix: Option<Value>,
    /// `outputs:` in file order: (name, value expression).
    pub outputs: Vec<(String, String)>,
    /// `timeout-minutes` when a number (GitHub's default, 360, when absent; `None` when absent
    /// or an expression).
    pub timeout_minutes: Option<u64>,
    /// The job as written (key order kept).
    pub raw: Yaml,
}

impl Job {
    /// The `uses:` of the job's steps, in order, each once (local `./` actions and `docker://`
    /// images included, as written).
    pub fn uses(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let steps = match &self.raw {
            Yaml::Mapping(m) => match get(m, "steps") {
                Some(Yaml::Sequence(s)) => s.as_slice(),
                _ => &[],
            },
            _ => &[],
        };
        for step in steps {
            if let Some(u) = step.get("uses").and_then(scalar)
                && !out.contains(&u)
            {
                out.push(u);
            }
        }
        out
    }

    /// The job's matrix combinations (`None` without `strategy.matrix`): expressions anywhere in
    /// the matrix evaluated against `ctx` (a string that is one `${{ }}` keeps its value's type),
    /// then [`expand_matrix`], keeping the file's key order for the product.
    pub fn matrix_combinations(
        &self,
        ctx: &Value,
    ) -> Result<Option<Vec<Map<String, Value>>>, WorkflowError> {
        let Yaml::Mapping(m) = &self.raw else {
            return Ok(None);
        };
        let Some(matrix) = get(m, "strategy").and_then(|s| s.get("matrix")) else {
            return Ok(None);
        };
        let what = format!("job `{}`: strategy.matrix", self.id);
        let eval = |v: &Value| eval_deep(v, ctx).map_err(|e| err(format!("{what}: {e}")));
        let combos = match matrix {
            Yaml::Mapping(keys) => expand(
                keys.iter()
                    .map(|(k, v)| Ok((yaml_key(k), eval(&yaml_to_json(v))?)))
                    .collect::<Result<_, WorkflowError>>()?,
            ),
            other => expand_matrix(&eval(&yaml_to_json(other))?),
        };
        combos
            .map(Some)
            .map_err(|e| err(format!("job `{}`: {}", self.id, e.message)))
    }

    /// `uses:` of the job itself (a reusable workflow call), if any.
    pub fn reusable(&self) -> Option<String> {
        match &self.raw {
            Yaml::Mapping(m) => get(m, "uses").and_then(scalar),
            _ => None,
        }
    }
}

/// One `workflow_dispatch` input as declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchInput {
    pub name: String,
    pub description: Option<String>,
    pub required: bool,
    /// The default, as text (`true`/`false` for booleans).
    pub default: Option<String>,
    /// `type`: `string` (when absent), `boolean`, `choice`, `number`, `environment`.
    pub kind: String,
    /// `options` of a `choice` input.
    pub options: Vec<String>,
}

/// A parsed, checked workflow file.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    /// The file's path in the repository (`.github/workflows/x.yml`).
    pub path: String,
    pub name: Option<String>,
    pub run_name: Option<String>,
    pub permissions: Option<Permissions>,
    pub concurrency: Option<Concurrency>,
    pub env: Map<String, Value>,
    /// In file order.
    pub jobs: Vec<Job>,
    /// The events of `on:` in file order, each with its configuration as JSON (null when
    /// none).
    pub on: Vec<(String, Value)>,
    /// The whole document (key order kept).
    pub raw: Yaml,
}

/// An event, as far as trigger matching needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// `git_ref`: `refs/heads/B` or `refs/tags/T` (a bare name is a branch). `changed`: the
    /// files the push changed, `None` when unknown (a new branch): path filters then pass.
    Push {
        git_ref: String,
        changed: Option<Vec<String>>,
    },
    /// `base_ref`: the base branch (`main` or `refs/heads/main`).
    PullRequest {
        action: String,
        base_ref: String,
        changed: Option<Vec<String>>,
    },
    PullRequestReview {
        action: String,
    },
    RepositoryDispatch {
        event_type: String,
    },
    WorkflowDispatch,
    Schedule,
    Release {
        action: String,
    },
    /// A deployment created (`on: deployment` has no filters).
    Deployment,
}

impl EventKind {
    /// The event's name in `on:`.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Push { .. } => "push",
            EventKind::PullRequest { .. } => "pull_request",
            EventKind::PullRequestReview { .. } => "pull_request_review",
            EventKind::RepositoryDispatch { .. } => "repository_dispatch",
            EventKind::WorkflowDispatch => "workflow_dispatch",
            EventKind::Schedule => "schedule",
            EventKind::Release { .. } => "release",
            EventKind::Deployment => "deployment",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// YAML helpers
// ---------------------------------------------------------------------------------------------

/// YAML to JSON: mapping keys become strings, tags are dropped.
pub fn yaml_to_json(v: &Yaml) -> Value {
    match v {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(*b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::Null, Value::Number)
            }
        }
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Sequence(items) => Value::Array(items.iter().map(yaml_to_json).collect()),
        Yaml::Mapping(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (yaml_key(k), yaml_to_json(v)))
                .collect(),
        ),
        Yaml::Tagged(t) => yaml_to_json(&t.value),
    }
}

/// JSON to YAML.
pub fn json_to_yaml(v: &Value) -> Yaml {
    match v {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Yaml::from(i)
            } else if let Some(u) = n.as_u64() {
                Yaml::from(u)
            } else {
                Yaml::from(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::String(s) => Yaml::String(s.clone()),
        Value::Array(items) => Yaml::Sequence(items.iter().map(json_to_yaml).collect()),
        Value::Object(m) => Yaml::Mapping(
            m.iter()
                .map(|(k, v)| (Yaml::String(k.clone()), json_to_yaml(v)))
                .collect(),
        ),
    }
}

fn yaml_key(k: &Yaml) -> String {
    match k {
        Yaml::String(s) => s.clone(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Null => "null".into(),
        other => serde_yaml_ng::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    }
}

/// A scalar as text (strings, booleans, numbers), as GitHub reads a string field.
fn scalar(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Bool(b) => Some(b.to_string()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Tagged(t) => scalar(&t.value),
        _ => None,
    }
}

fn get<'a>(m: &'a Mapping, key: &str) -> Option<&'a Yaml> {
    m.get(key).filter(|v| !v.is_null())
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

const FILTER_KEYS: &[(&str, &str)] = &[
    ("branches", "branches-ignore"),
    ("tags", "tags-ignore"),
    ("paths", "paths-ignore"),
];

/// A string or a list of strings (`types`, `branches`, ...).
fn string_list(v: &Value, what: &str) -> Result<Vec<String>, WorkflowError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(err(format!("{what}: expected strings, found {i}"))),
            })
            .collect(),
        other => Err(err(format!(
            "{what}: expected a string or a list, found {other}"
        ))),
    }
}

fn parse_on(path: &str, on: &Yaml) -> Result<Vec<(String, Value)>, WorkflowError> {
    let events: Vec<(String, Value)> = match on {
        Yaml::String(s) => vec![(s.clone(), Value::Null)],
        Yaml::Sequence(items) => items
            .iter()
            .map(|i| {
                scalar(i)
                    .map(|s| (s, Value::Null))
                    .ok_or_else(|| err(format!("{path}: `on` lists a non-string event")))
            })
            .collect::<Result<_, _>>()?,
        Yaml::Mapping(m) => m
            .iter()
            .map(|(k, v)| (yaml_key(k), yaml_to_json(v)))
            .collect(),
        _ => {
            return Err(err(format!(
                "{path}: `on` must be an event, a list or a map"
            )));
        }
    };
    if events.is_empty() {
        return Err(err(format!("{path}: `on` names no event")));
    }
    for (event, cfg) in &events {
        let what = format!("{path}: on.{event}");
        match (event.as_str(), cfg) {
            (_, Value::Null) => {}
            ("schedule", Value::Array(items)) => {
                for i in items {
                    if !i.get("cron").is_some_and(Value::is_string) {
                        return Err(err(format!("{what}: every entry needs a `cron` string")));
                    }
                }
            }
            ("schedule", _) => {
                return Err(err(format!("{what}: expected a list of `cron` entries")));
            }
            (_, Value::Object(m)) => {
                if let Some(t) = m.get("types") {
                    string_list(t, &format!("{what}.types"))?;
                }
                for (pos, ign) in FILTER_KEYS {
                    if m.contains_key(*pos) && m.contains_key(*ign) {
                        return Err(err(format!(
                            "{what}: `{pos}` and `{ign}` cannot both be used for one event"
                        )));
                    }
                    for (key, positive) in [(*pos, true), (*ign, false)] {
                        if let Some(v) = m.get(key) {
                            let list = string_list(v, &format!("{what}.{key}"))?;
                            Filters::parse(&list, positive, &format!("{what}.{key}"))?;
                        }
                    }
                }
            }
            (_, other) => {
                return Err(err(format!(
                    "{what}: expected a map of settings, found {other}"
                )));
            }
        }
    }
    Ok(events)
}

fn parse_permissions(v: &Yaml, what: &str) -> Result<Permissions, WorkflowError> {
    match v {
        Yaml::String(s) if s == "read-all" => Ok(Permissions::ReadAll),
        Yaml::String(s) if s == "write-all" => Ok(Permissions::WriteAll),
        Yaml::Mapping(m) => {
            let mut out = BTreeMap::new();
            for (k, lv) in m {
                let scope = yaml_key(k);
                if !SCOPES.contains(&scope.as_str()) {
                    return Err(err(format!("{what}: unknown permission scope `{scope}`")));
                }
                let level = scalar(lv).and_then(|s| Level::parse(&s)).ok_or_else(|| {
                    err(format!(
                        "{what}.{scope}: the level must be none, read or write"
                    ))
                })?;
                out.insert(scope, level);
            }
            Ok(Permissions::Scopes(out))
        }
        _ => Err(err(format!(
            "{what}: expected read-all, write-all or a map of scopes"
        ))),
    }
}

fn parse_concurrency(v: &Yaml, what: &str) -> Result<Concurrency, WorkflowError> {
    match v {
        Yaml::Mapping(m) => {
            let group = get(m, "group")
                .and_then(scalar)
                .ok_or_else(|| err(format!("{what}: `group` is required")))?;
            let cancel = match get(m, "cancel-in-progress") {
                None => Value::Bool(false),
                Some(Yaml::Bool(b)) => Value::Bool(*b),
                Some(Yaml::String(s)) => Value::String(s.clone()),
                Some(_) => {
                    return Err(err(format!(
                        "{what}.cancel-in-progress: expected a boolean or an expression"
                    )));
                }
            };
            Ok(Concurrency {
                group,
                cancel_in_progress: cancel,
            })
        }
        other => scalar(other)
            .map(|group| Concurrency {
                group,
                cancel_in_progress: Value::Bool(false),
            })
            .ok_or_else(|| err(format!("{what}: expected a group or a map"))),
    }
}

const WORKFLOW_KEYS: &[&str] = &[
    "name",
    "run-name",
    "on",
    "permissions",
    "env",
    "defaults",
    "concurrency",
    "jobs",
];
const JOB_KEYS: &[&str] = &[
    "name",
    "permissions",
    "needs",
    "if",
    "runs-on",
    "snapshot",
    "environment",
    "concurrency",
    "outputs",
    "env",
    "defaults",
    "steps",
    "timeout-minutes",
    "strategy",
    "continue-on-error",
    "container",
    "services",
    "uses",
    "with",
    "secrets",
];
/// What a job calling a reusable workflow may have besides `uses`.
const CALLER_KEYS: &[&str] = &[
    "name",
    "uses",
    "with",
    "secrets",
    "needs",
    "if",
    "permissions",
    "strategy",
    "concurrency",
];
const STEP_KEYS: &[&str] = &[
    "id",
    "if",
    "name",
    "uses",
    "run",
    "working-directory",
    "shell",
    "with",
    "env",
    "continue-on-error",
    "timeout-minutes",
];

/// Refuses keys GitHub does not know ("Unexpected value").
fn check_keys(m: &Mapping, allowed: &[&str], what: &str) -> Result<(), WorkflowError> {
    for k in m.keys() {
        let key = yaml_key(k);
        let known = allowed.contains(&key.as_str()) || (key == "true" && allowed.contains(&"on"));
        if !known {
            return Err(err(format!("{what}: unexpected key `{key}`")));
        }
    }
    Ok(())
}

fn valid_job_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn parse_job(path: &str, id: &str, v: &Yaml) -> Result<Job, WorkflowError> {
    let what = format!("{path}: job `{id}`");
    if !valid_job_id(id) {
        return Err(err(format!(
            "{what}: a job id must start with a letter or `_` and contain only letters, digits, `-` and `_`"
        )));
    }
    let Yaml::Mapping(m) = v else {
        return Err(err(format!("{what}: expected a map")));
    };
    if get(m, "runs-on").is_none() && get(m, "uses").is_none() {
        return Err(err(format!("{what}: neither `runs-on` nor `uses`")));
    }
    if get(m, "uses").is_some() {
        check_keys(
            m,
            CALLER_KEYS,
            &format!("{what} (calls a reusable workflow)"),
        )?;
    } else {
        check_keys(m, JOB_KEYS, &what)?;
    }
    let needs = match get(m, "needs") {
        None => Vec::new(),
        Some(Yaml::Sequence(items)) => items
            .iter()
            .map(|i| scalar(i).ok_or_else(|| err(format!("{what}.needs: expected job ids"))))
            .collect::<Result<_, _>>()?,
        Some(other) => {
            vec![scalar(other).ok_or_else(|| err(format!("{what}.needs: expected job ids")))?]
        }
    };
    let environment = match get(m, "environment") {
        None => None,
        Some(Yaml::Mapping(e)) => Some(EnvironmentRef {
            name: get(e, "name")
                .and_then(scalar)
                .ok_or_else(|| err(format!("{what}.environment: `name` is required")))?,
            url: get(e, "url").and_then(scalar),
        }),
        Some(other) => Some(EnvironmentRef {
            name: scalar(other)
                .ok_or_else(|| err(format!("{what}.environment: expected a name or a map")))?,
            url: None,
        }),
    };
    let outputs = match get(m, "outputs") {
        None => Vec::new(),
        Some(Yaml::Mapping(o)) => o
            .iter()
            .map(|(k, v)| {
                let name = yaml_key(k);
                let value = scalar(v)
                    .ok_or_else(|| err(format!("{what}.outputs.{name}: expected a string")))?;
                Ok((name, value))
            })
            .collect::<Result<_, WorkflowError>>()?,
        Some(_) => return Err(err(format!("{what}.outputs: expected a map"))),
    };
    let matrix = match get(m, "strategy") {
        None => None,
        Some(Yaml::Mapping(s)) => get(s, "matrix").map(yaml_to_json),
        Some(Yaml::String(s)) => Some(Value::String(s.clone())),
        Some(_) => return Err(err(format!("{what}.strategy: expected a map"))),
    };
    if let Some(steps) = get(m, "steps") {
        let Yaml::Sequence(steps) = steps else {
            return Err(err(format!("{what}.steps: expected a list")));
        };
        for (i, s) in steps.iter().enumerate() {
            let Yaml::Mapping(s) = s else {
                return Err(err(format!("{what}: step {} is not a map", i + 1)));
            };
            let step = format!("{what}: step {}", i + 1);
            match (get(s, "run").is_some(), get(s, "uses").is_some()) {
                (false, false) => return Err(err(format!("{step} has neither `run` nor `uses`"))),
                (true, true) => return Err(err(format!("{step} has both `run` and `uses`"))),
                _ => {}
            }
            check_keys(s, STEP_KEYS, &step)?;
        }
    }
    Ok(Job {
        id: id.to_owned(),
        name: get(m, "name").and_then(scalar),
        needs,
        if_: get(m, "if").and_then(scalar),
        environment,
        concurrency: get(m, "concurrency")
            .map(|c| parse_concurrency(c, &format!("{what}.concurrency")))
            .transpose()?,
        permissions: get(m, "permissions")
            .map(|p| parse_permissions(p, &format!("{what}.permissions")))
            .transpose()?,
        matrix,
        outputs,
        timeout_minutes: get(m, "timeout-minutes").and_then(Yaml::as_u64),
        raw: v.clone(),
    })
}

/// Refuses a `needs` naming an unknown job, and cycles.
fn check_needs(path: &str, jobs: &[Job]) -> Result<(), WorkflowError> {
    let ids: BTreeSet<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
    for j in jobs {
        for n in &j.needs {
            if !ids.contains(n.as_str()) {
                return Err(err(format!(
                    "{path}: job `{}` needs `{n}`, which is not a job of this workflow",
                    j.id
                )));
            }
        }
    }
    // Kahn's algorithm: whatever cannot be ordered is on (or behind) a cycle.
    let mut done: BTreeSet<&str> = BTreeSet::new();
    loop {
        let ready: Vec<&str> = jobs
            .iter()
            .filter(|j| !done.contains(j.id.as_str()))
            .filter(|j| j.needs.iter().all(|n| done.contains(n.as_str())))
            .map(|j| j.id.as_str())
            .collect();
        if ready.is_empty() {
            break;
        }
        done.extend(ready);
    }
    let stuck: Vec<&str> = jobs
        .iter()
        .map(|j| j.id.as_str())
        .filter(|id| !done.contains(id))
        .collect();
    if stuck.is_empty() {
        Ok(())
    } else {
        Err(err(format!(
            "{path}: the needs of jobs {} form a cycle",
            stuck.join(", ")
        )))
    }
}

impl Workflow {
    /// Parses and checks a workflow file, refusing what GitHub refuses: no `on`, no `jobs`, a
    /// `needs` naming an unknown job, a needs cycle, a job without `runs-on`/`uses`, invalid
    /// filters, permissions or concurrency.
    pub fn parse(path: &str, text: &str) -> Result<Workflow, WorkflowError> {
        let mut raw: Yaml = serde_yaml_ng::from_str(text)
            .map_err(|e| err(format!("{path}: not valid YAML: {e}")))?;
        raw.apply_merge()
            .map_err(|e| err(format!("{path}: YAML merge keys: {e}")))?;
        let Yaml::Mapping(m) = &raw else {
            return Err(err(format!("{path}: a workflow must be a map")));
        };
        check_keys(m, WORKFLOW_KEYS, path)?;
        // YAML 1.1 readers turn `on` into `true`; accept that spelling too.
        let on = get(m, "on")
            .or_else(|| m.get(Yaml::Bool(true)))
            .ok_or_else(|| {
                err(format!(
                    "{path}: no `on` (the events that start the workflow)"
                ))
            })?;
        let on = parse_on(path, on)?;
        let Some(Yaml::Mapping(jobs_map)) = get(m, "jobs") else {
            return Err(err(format!("{path}: no `jobs` map")));
        };
        if jobs_map.is_empty() {
            return Err(err(format!("{path}: `jobs` is empty")));
        }
        let jobs = jobs_map
            .iter()
            .map(|(k, v)| parse_job(path, &yaml_key(k), v))
            .collect::<Result<Vec<_>, _>>()?;
        check_needs(path, &jobs)?;
        let env = match get(m, "env") {
            None => Map::new(),
            Some(e @ Yaml::Mapping(_)) => match yaml_to_json(e) {
                Value::Object(o) => o,
                _ => Map::new(),
            },
            Some(_) => return Err(err(format!("{path}: `env` must be a map"))),
        };
        Ok(Workflow {
            path: path.to_owned(),
            name: get(m, "name").and_then(scalar),
            run_name: get(m, "run-name").and_then(scalar),
            permissions: get(m, "permissions")
                .map(|p| parse_permissions(p, &format!("{path}: permissions")))
                .transpose()?,
            concurrency: get(m, "concurrency")
                .map(|c| parse_concurrency(c, &format!("{path}: concurrency")))
                .transpose()?,
            env,
            jobs,
            on,
            raw,
        })
    }

    /// The inputs `on.workflow_dispatch.inputs` declares, in file order.
    pub fn dispatch_inputs(&self) -> Vec<DispatchInput> {
        let Yaml::Mapping(top) = &self.raw else {
            return Vec::new();
        };
        let on = get(top, "on").or_else(|| top.get(Yaml::Bool(true)));
        let Some(Yaml::Mapping(inputs)) = on
            .and_then(|o| o.get("workflow_dispatch"))
            .and_then(|d| d.get("inputs"))
        else {
            return Vec::new();
        };
        inputs
            .iter()
            .map(|(k, v)| {
                let field = |f: &str| v.get(f).filter(|x| !x.is_null());
                DispatchInput {
                    name: yaml_key(k),
                    description: field("description").and_then(scalar),
                    required: field("required").and_then(Yaml::as_bool).unwrap_or(false),
                    default: field("default").and_then(scalar),
                    kind: field("type")
                        .and_then(scalar)
                        .unwrap_or_else(|| "string".into()),
                    options: match field("options") {
                        Some(Yaml::Sequence(o)) => o.iter().filter_map(scalar).collect(),
                        _ => Vec::new(),
                    },
                }
            })
            .collect()
    }

    /// The jobs in an order that runs every job after the jobs it needs (file order among the
    /// jobs that are ready together), as a one-job-at-a-time runner must take them.
    pub fn job_order(&self) -> Vec<&Job> {
        let mut done: BTreeSet<&str> = BTreeSet::new();
        let mut out = Vec::new();
        while out.len() < self.jobs.len() {
            // `parse` refused cycles, so some job is always ready.
            let Some(next) = self.jobs.iter().find(|j| {
                !done.contains(j.id.as_str()) && j.needs.iter().all(|n| done.contains(n.as_str()))
            }) else {
                break;
            };
            done.insert(&next.id);
            out.push(next);
        }
        out
    }

    /// A job by id.
    pub fn job(&self, id: &str) -> Option<&Job> {
        self.jobs.iter().find(|j| j.id == id)
    }

    /// The configuration of an event in `on:` (`Some(Null)` when it has none), `None` when the
    /// workflow does not listen to it.
    pub fn trigger(&self, event: &str) -> Option<&Value> {
        self.on.iter().find(|(e, _)| e == event).map(|(_, v)| v)
    }

    /// The display title of a run: `run-name` interpolated with `ctx`, else `name`, else the
    /// file path (a `run-name` that fails to evaluate falls back the same way).
    pub fn run_name(&self, ctx: &Value) -> String {
        self.run_name
            .as_deref()
            .and_then(|r| expr::interpolate(r, ctx, expr::JobStatus::Success).ok())
            .or_else(|| self.name.clone())
            .unwrap_or_else(|| self.path.clone())
    }

    /// Whether `ev` starts this workflow, with GitHub's rules for activity types and branch,
    /// tag and path filters.
    pub fn triggered_by(&self, ev: &EventKind) -> bool {
        let Some(cfg) = self.trigger(ev.name()) else {
            return false;
        };
        let list = |key: &str| -> Option<Vec<String>> {
            cfg.get(key).and_then(|v| string_list(v, key).ok())
        };
        let filter =
            |key: &str, name: &str| -> Option<bool> { list(key).map(|l| filters_match(&l, name)) };
        let types_match = |action: &str, default: Option<&[&str]>| match list("types") {
            Some(types) => types.iter().any(|t| t == action),
            None => default.is_none_or(|d| d.contains(&action)),
        };
        let paths_match = |changed: &Option<Vec<String>>| {
            let Some(changed) = changed else { return true };
            if let Some(paths) = list("paths") {
                changed.iter().any(|f| filters_match(&paths, f))
            } else if let Some(ignore) = list("paths-ignore") {
                changed.iter().any(|f| !filters_match(&ignore, f))
            } else {
                true
            }
        };
        let has = |key: &str| cfg.get(key).is_some();
        match ev {
            EventKind::Push { git_ref, changed } => {
                let branch_filter = has("branches") || has("branches-ignore");
                let tag_filter = has("tags") || has("tags-ignore");
                if let Some(tag) = git_ref.strip_prefix("refs/tags/") {
                    // Path filters are not evaluated for tag pushes.
                    if tag_filter {
                        filter("tags", tag).unwrap_or(true)
                            && !filter("tags-ignore", tag).unwrap_or(false)
                    } else {
                        !branch_filter
                    }
                } else {
                    let branch = git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref);
                    let branch_ok = if branch_filter {
                        filter("branches", branch).unwrap_or(true)
                            && !filter("branches-ignore", branch).unwrap_or(false)
                    } else {
                        !tag_filter
                    };
                    branch_ok && paths_match(changed)
                }
            }
            EventKind::PullRequest {
                action,
                base_ref,
                changed,
            } => {
                let base = base_ref.strip_prefix("refs/heads/").unwrap_or(base_ref);
                types_match(action, Some(&["opened", "synchronize", "reopened"]))
                    && filter("branches", base).unwrap_or(true)
                    && !filter("branches-ignore", base).unwrap_or(false)
                    && paths_match(changed)
            }
            EventKind::PullRequestReview { action } | EventKind::Release { action } => {
                types_match(action, None)
            }
            EventKind::RepositoryDispatch { event_type } => types_match(event_type, None),
            EventKind::WorkflowDispatch | EventKind::Deployment => true,
            EventKind::Schedule => cfg.as_array().is_some_and(|a| !a.is_empty()),
        }
    }

    /// The workflow act must run for one job (one matrix combination): the same `name`, `on`,
    /// `env` and `defaults`; the job without `needs`, `if`, `environment`, `concurrency`,
    /// `permissions` and `timeout-minutes` (the runner models those itself); `strategy.matrix`
    /// replaced by `{include: [combo]}` when `combo` is given; every string passed through
    /// [`expr::bind`] with `known` (`if:` values through [`expr::bind_if`]); `extra_steps`
    /// appended after its steps.
    pub fn job_for_act(
        &self,
        job: &Job,
        combo: Option<&Map<String, Value>>,
        known: &Value,
        extra_steps: &[Value],
    ) -> Result<String, WorkflowError> {
        let what = format!("{}: job `{}`", self.path, job.id);
        let Yaml::Mapping(top) = &self.raw else {
            return Err(err(format!("{}: a workflow must be a map", self.path)));
        };
        let mut doc = Mapping::new();
        for (k, v) in top {
            match k.as_str() {
                Some("name" | "on" | "defaults") => {
                    doc.insert(k.clone(), v.clone());
                }
                Some("env") => {
                    doc.insert(k.clone(), bind_yaml(v, known, None, &what)?);
                }
                _ if *k == Yaml::Bool(true) => {
                    doc.insert(Yaml::String("on".into()), v.clone());
                }
                _ => {}
            }
        }
        let Yaml::Mapping(src) = &job.raw else {
            return Err(err(format!("{what}: expected a map")));
        };
        let mut out = Mapping::new();
        for (k, v) in src {
            let key = k.as_str().unwrap_or_default();
            match key {
                "needs" | "if" | "environment" | "concurrency" | "permissions"
                | "timeout-minutes" => {}
                "strategy" if combo.is_some() => {}
                _ => {
                    out.insert(k.clone(), bind_yaml(v, known, Some(key), &what)?);
                }
            }
        }
        if let Some(combo) = combo {
            let mut matrix = Mapping::new();
            matrix.insert(
                "include".into(),
                Yaml::Sequence(vec![json_to_yaml(&Value::Object(combo.clone()))]),
            );
            let mut strategy = Mapping::new();
            strategy.insert("matrix".into(), Yaml::Mapping(matrix));
            out.insert("strategy".into(), Yaml::Mapping(strategy));
        }
        if !extra_steps.is_empty() {
            if get(&out, "uses").is_some() {
                return Err(err(format!(
                    "{what}: calls a reusable workflow; steps cannot be added to it"
                )));
            }
            let steps = out
                .entry("steps".into())
                .or_insert_with(|| Yaml::Sequence(Vec::new()));
            let Yaml::Sequence(steps) = steps else {
                return Err(err(format!("{what}.steps: expected a list")));
            };
            steps.extend(extra_steps.iter().map(json_to_yaml));
        }
        let mut jobs = Mapping::new();
        jobs.insert(Yaml::String(job.id.clone()), Yaml::Mapping(out));
        doc.insert("jobs".into(), Yaml::Mapping(jobs));
        serde_yaml_ng::to_string(&Yaml::Mapping(doc))
            .map_err(|e| err(format!("{what}: cannot write the job for act: {e}")))
    }
}

/// Passes every string of `v` through [`expr::bind`] (values of `if` keys through
/// [`expr::bind_if`]).
fn bind_yaml(
    v: &Yaml,
    known: &Value,
    key: Option<&str>,
    what: &str,
) -> Result<Yaml, WorkflowError> {
    Ok(match v {
        Yaml::String(s) => {
            let bound = if key == Some("if") {
                expr::bind_if(s, known)
            } else {
                expr::bind(s, known)
            };
            Yaml::String(bound.map_err(|e| err(format!("{what}: {e}")))?)
        }
        Yaml::Sequence(items) => Yaml::Sequence(
            items
                .iter()
                .map(|i| bind_yaml(i, known, None, what))
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Mapping(m) => {
            let mut out = Mapping::new();
            for (k, v) in m {
                out.insert(k.clone(), bind_yaml(v, known, k.as_str(), what)?);
            }
            Yaml::Mapping(out)
        }
        Yaml::Tagged(t) => bind_yaml(&t.value, known, key, what)?,
        other => other.clone(),
    })
}

/// Whether a commit message skips the `push` and `pull_request` workflows (for a pull request,
/// its head commit's message), as GitHub documents: `[skip ci]`, `[ci skip]`, `[no ci]`,
/// `[skip actions]`, `[actions skip]`, or a `skip-checks: true` trailer.
pub fn skips_ci(message: &str) -> bool {
    let lower = message.to_lowercase();
    [
        "[skip ci]",
        "[ci skip]",
        "[no ci]",
        "[skip actions]",
        "[actions skip]",
    ]
    .iter()
    .any(|m| lower.contains(m))
        || message
            .lines()
            .rev()
            .take_while(|l| !l.trim().is_empty())
            .any(|l| {
                l.split_once(':').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("skip-checks") && v.trim() == "true"
                })
            })
}

/// The permissions of a job's `GITHUB_TOKEN`: the job's `permissions:` if set, else the
/// workflow's, else a repository's restricted default (contents and packages read); `metadata`
/// is always at least read. `read-all` gives read on every scope (`id-token` has no read
/// access and stays none), `write-all` write on every scope.
pub fn effective_permissions(workflow: &Workflow, job: &Job) -> BTreeMap<String, Level> {
    let mut out: BTreeMap<String, Level> = SCOPES
        .iter()
        .map(|s| ((*s).to_owned(), Level::None))
        .collect();
    match job.permissions.as_ref().or(workflow.permissions.as_ref()) {
        None => {
            out.insert("contents".into(), Level::Read);
            out.insert("packages".into(), Level::Read);
        }
        Some(Permissions::ReadAll) => {
            for (scope, level) in &mut out {
                if scope != "id-token" {
                    *level = Level::Read;
                }
            }
        }
        Some(Permissions::WriteAll) => {
            for level in out.values_mut() {
                *level = Level::Write;
            }
        }
        Some(Permissions::Scopes(scopes)) => {
            out.extend(scopes.iter().map(|(k, v)| (k.clone(), *v)));
        }
    }
    out.insert("metadata".into(), Level::Read);
    out
}

#[cfg(test)]
mod tests;
