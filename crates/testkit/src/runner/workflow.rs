//! The workflow model: a `.github/workflows/*.yml` file parsed and checked the way GitHub
//! checks it when it loads it, trigger matching (`on:` with its activity types and its branch,
//! tag and path filters), effective `GITHUB_TOKEN` permissions, matrix expansion, and the
//! single-job workflow handed to act.
//!
//! References: <https://docs.github.com/actions/reference/workflow-syntax-for-github-actions>,
//! <https://docs.github.com/actions/reference/events-that-trigger-workflows>.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;
use serde_json::{Map, Value};
use serde_yaml_ng::{Mapping, Value as Yaml};

use super::expr;

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
// Filter patterns
// ---------------------------------------------------------------------------------------------

/// Compiles one GitHub filter pattern (without its leading `!`): `*` (not `/`), `**`, `?` and
/// `+` (quantifying the preceding character), `[...]` (alphanumerics and ranges), `\` escapes.
fn filter_regex(pattern: &str) -> Result<Regex, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut re = String::from("^(?:");
    let mut quantifiable = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                re.push_str(".*");
                i += 2;
                quantifiable = false;
                continue;
            }
            '*' => {
                re.push_str("[^/]*");
                quantifiable = false;
            }
            '?' | '+' => {
                if !quantifiable {
                    return Err(format!(
                        "`{c}` in `{pattern}` follows nothing it can repeat"
                    ));
                }
                re.push(c);
                quantifiable = false;
            }
            '[' => {
                let end = chars[i..]
                    .iter()
                    .position(|&x| x == ']')
                    .ok_or_else(|| format!("`[` without `]` in `{pattern}`"))?;
                let body: String = chars[i + 1..i + end].iter().collect();
                if body.is_empty() || !body.chars().all(|x| x.is_ascii_alphanumeric() || x == '-') {
                    return Err(format!(
                        "`[{body}]` in `{pattern}`: only letters, digits and ranges go in brackets"
                    ));
                }
                re.push('[');
                re.push_str(&body);
                re.push(']');
                i += end + 1;
                quantifiable = true;
                continue;
            }
            '\\' => {
                let next = chars
                    .get(i + 1)
                    .ok_or_else(|| format!("`{pattern}` ends with `\\`"))?;
                re.push_str(&regex::escape(&next.to_string()));
                i += 2;
                quantifiable = true;
                continue;
            }
            other => {
                re.push_str(&regex::escape(&other.to_string()));
                quantifiable = true;
            }
        }
        i += 1;
    }
    re.push_str(")$");
    Regex::new(&re).map_err(|e| format!("`{pattern}`: {e}"))
}

/// A list of filter patterns, in order (`!` patterns negate).
#[derive(Debug, Clone)]
struct Filters(Vec<(bool, Regex)>);

impl Filters {
    fn parse(patterns: &[String], positive_list: bool, what: &str) -> Result<Self, WorkflowError> {
        let mut out = Vec::new();
        for p in patterns {
            let (neg, body) = match p.strip_prefix('!') {
                Some(b) => (true, b),
                None => (false, p.as_str()),
            };
            let re = filter_regex(body).map_err(|e| err(format!("{what}: {e}")))?;
            out.push((neg, re));
        }
        if positive_list && !out.is_empty() && out.iter().all(|(neg, _)| *neg) {
            return Err(err(format!(
                "{what}: only negative (`!`) patterns; a `!` pattern needs a positive one before it"
            )));
        }
        Ok(Self(out))
    }

    /// GitHub's rule: the last pattern that matches decides.
    fn matches(&self, name: &str) -> bool {
        let mut result = false;
        for (neg, re) in &self.0 {
            if re.is_match(name) {
                result = !neg;
            }
        }
        result
    }
}

/// Whether `name` matches the filter `patterns` (GitHub's pattern syntax, `!` negation, the last
/// matching pattern wins). An invalid pattern matches nothing.
pub fn filters_match(patterns: &[String], name: &str) -> bool {
    Filters::parse(patterns, false, "filter").is_ok_and(|f| f.matches(name))
}

/// Whether `name` matches one filter `pattern` (no `!` handling: a leading `!` is literal).
/// An invalid pattern matches nothing.
pub fn filter_matches(pattern: &str, name: &str) -> bool {
    filter_regex(pattern).is_ok_and(|re| re.is_match(name))
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
            EventKind::WorkflowDispatch => true,
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

// ---------------------------------------------------------------------------------------------
// Matrices
// ---------------------------------------------------------------------------------------------

/// GitHub's limit on the combinations of one matrix.
pub const MAX_COMBINATIONS: usize = 256;

/// Expands `strategy.matrix` (already evaluated: an object) into its combinations, in GitHub's
/// order: the product of the keys (serde_json keeps keys sorted; [`expand_matrix_yaml`] keeps
/// the file's order), then `exclude` (partial matches), then `include` (an entry extends every
/// original combination it does not contradict without overwriting original values, else it
/// is added as a new combination). An empty matrix gives no combination.
pub fn expand_matrix(matrix: &Value) -> Result<Vec<Map<String, Value>>, WorkflowError> {
    let Value::Object(m) = matrix else {
        return Err(err(format!(
            "strategy.matrix: expected a map, found {matrix} (evaluate expressions first)"
        )));
    };
    expand(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// [`expand_matrix`] for the matrix as written in the file (its key order kept).
pub fn expand_matrix_yaml(matrix: &Yaml) -> Result<Vec<Map<String, Value>>, WorkflowError> {
    let Yaml::Mapping(m) = matrix else {
        return Err(err(
            "strategy.matrix: expected a map (evaluate expressions first)",
        ));
    };
    expand(
        m.iter()
            .map(|(k, v)| (yaml_key(k), yaml_to_json(v)))
            .collect(),
    )
}

/// Every string of `v` through [`expr::eval_template`].
fn eval_deep(v: &Value, ctx: &Value) -> Result<Value, expr::ExprError> {
    Ok(match v {
        Value::String(_) => expr::eval_template(v, ctx, expr::JobStatus::Success)?,
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| eval_deep(i, ctx))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), eval_deep(v, ctx)?)))
                .collect::<Result<_, expr::ExprError>>()?,
        ),
        other => other.clone(),
    })
}

fn entries(v: &Value, key: &str) -> Result<Vec<Map<String, Value>>, WorkflowError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_object().cloned().ok_or_else(|| {
                    err(format!(
                        "strategy.matrix.{key}: every entry must be a map, found {i}"
                    ))
                })
            })
            .collect(),
        other => Err(err(format!(
            "strategy.matrix.{key}: expected a list of maps, found {other}"
        ))),
    }
}

fn expand(keys: Vec<(String, Value)>) -> Result<Vec<Map<String, Value>>, WorkflowError> {
    let mut include = Vec::new();
    let mut exclude = Vec::new();
    let mut vectors = Vec::new();
    for (k, v) in keys {
        match k.as_str() {
            "include" => include = entries(&v, "include")?,
            "exclude" => exclude = entries(&v, "exclude")?,
            _ => match v {
                Value::Array(items) if !items.is_empty() => vectors.push((k, items)),
                Value::Array(_) => {
                    return Err(err(format!(
                        "strategy.matrix.{k}: a matrix vector must have at least one value"
                    )));
                }
                other => {
                    return Err(err(format!(
                        "strategy.matrix.{k}: expected a list, found {other} (evaluate expressions first)"
                    )));
                }
            },
        }
    }
    let too_many = || {
        err(format!(
            "strategy.matrix: more than {MAX_COMBINATIONS} combinations"
        ))
    };
    let mut combos: Vec<Map<String, Value>> = if vectors.is_empty() {
        Vec::new()
    } else {
        vec![Map::new()]
    };
    for (k, values) in &vectors {
        let mut next = Vec::new();
        for c in &combos {
            for v in values {
                let mut c = c.clone();
                c.insert(k.clone(), v.clone());
                next.push(c);
                if next.len() > MAX_COMBINATIONS * 64 {
                    return Err(too_many());
                }
            }
        }
        combos = next;
    }
    combos.retain(|c| {
        !exclude
            .iter()
            .any(|x| x.iter().all(|(k, v)| c.get(k) == Some(v)))
    });
    let original: BTreeSet<&str> = vectors.iter().map(|(k, _)| k.as_str()).collect();
    let n_original = combos.len();
    for entry in include {
        let mut matched = false;
        for c in combos.iter_mut().take(n_original) {
            let fits = entry
                .iter()
                .filter(|(k, _)| original.contains(k.as_str()))
                .all(|(k, v)| c.get(k) == Some(v));
            if fits {
                matched = true;
                for (k, v) in &entry {
                    if !original.contains(k.as_str()) {
                        c.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        if !matched {
            combos.push(entry);
        }
    }
    if combos.len() > MAX_COMBINATIONS {
        return Err(too_many());
    }
    Ok(combos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DEPLOY: &str = r"
name: Deploy
run-name: Deploy ${{ inputs.env }}
on:
  workflow_dispatch:
    inputs:
      env: {required: true}
      mode: {type: choice, options: [fast, slow], default: fast, description: How}
      dry: {type: boolean, default: false}
  repository_dispatch:
    types: [deploy]
permissions:
  contents: read
concurrency: deploy-${{ inputs.env }}
env:
  GLOBAL: ${{ needs.plan.outputs.x }}
  PLAIN: plain
jobs:
  plan:
    runs-on: ubuntu-latest
    outputs:
      pairs: ${{ steps.p.outputs.pairs }}
      count: ${{ steps.p.outputs.count }}
    steps:
      - id: p
        run: echo pairs=[] >> $GITHUB_OUTPUT
  deploy:
    name: deploy ${{ matrix.pair.mfe }}
    needs: plan
    if: needs.plan.outputs.count > 0
    runs-on: ubuntu-latest
    timeout-minutes: 10
    environment:
      name: ${{ inputs.env }}
      url: https://example.test
    concurrency:
      group: deploy-${{ inputs.env }}
      cancel-in-progress: ${{ inputs.env != 'prod' }}
    permissions:
      id-token: write
      contents: read
    strategy:
      fail-fast: false
      matrix:
        pair: ${{ fromJSON(needs.plan.outputs.pairs) }}
    env:
      PAIRS: ${{ needs.plan.outputs.pairs }}
      ENV: ${{ inputs.env }}
    steps:
      - name: deploy ${{ matrix.pair.mfe }}
        if: ${{ needs.plan.result == 'success' && matrix.pair.env != '' }}
        run: echo '${{ toJSON(needs.plan.outputs) }}'
      - uses: actions/checkout@v4
        with:
          ref: ${{ needs.plan.outputs.count }}
  report:
    needs: [plan, deploy]
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: echo done
";

    fn deploy() -> Workflow {
        Workflow::parse(".github/workflows/deploy.yml", DEPLOY).unwrap()
    }

    fn parse_err(text: &str) -> String {
        Workflow::parse("w.yml", text).unwrap_err().message
    }

    #[test]
    fn parses_the_model() {
        let w = deploy();
        assert_eq!(w.name.as_deref(), Some("Deploy"));
        assert_eq!(
            w.on.iter().map(|(e, _)| e.as_str()).collect::<Vec<_>>(),
            ["workflow_dispatch", "repository_dispatch"]
        );
        assert_eq!(
            w.jobs.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
            ["plan", "deploy", "report"]
        );
        let plan = w.job("plan").unwrap();
        assert_eq!(plan.outputs[0].0, "pairs");
        assert_eq!(plan.outputs[1].0, "count");
        let d = w.job("deploy").unwrap();
        assert_eq!(d.needs, ["plan"]);
        assert_eq!(d.if_.as_deref(), Some("needs.plan.outputs.count > 0"));
        assert_eq!(
            d.environment,
            Some(EnvironmentRef {
                name: "${{ inputs.env }}".into(),
                url: Some("https://example.test".into())
            })
        );
        let c = d.concurrency.as_ref().unwrap();
        assert_eq!(c.group, "deploy-${{ inputs.env }}");
        assert_eq!(c.cancel_in_progress, json!("${{ inputs.env != 'prod' }}"));
        assert_eq!(
            w.concurrency,
            Some(Concurrency {
                group: "deploy-${{ inputs.env }}".into(),
                cancel_in_progress: json!(false)
            })
        );
        assert_eq!(
            d.matrix,
            Some(json!({"pair": "${{ fromJSON(needs.plan.outputs.pairs) }}"}))
        );
        assert_eq!(w.job("report").unwrap().needs, ["plan", "deploy"]);
        assert_eq!(d.timeout_minutes, Some(10));
        assert_eq!(plan.timeout_minutes, None);
        assert_eq!(d.uses(), ["actions/checkout@v4"]);
        assert!(plan.uses().is_empty() && d.reusable().is_none());
        let inputs = w.dispatch_inputs();
        assert_eq!(
            inputs
                .iter()
                .map(|i| (
                    i.name.as_str(),
                    i.kind.as_str(),
                    i.required,
                    i.default.as_deref()
                ))
                .collect::<Vec<_>>(),
            [
                ("env", "string", true, None),
                ("mode", "choice", false, Some("fast")),
                ("dry", "boolean", false, Some("false"))
            ]
        );
        assert_eq!(inputs[1].options, ["fast", "slow"]);
        assert_eq!(inputs[1].description.as_deref(), Some("How"));
        assert_eq!(w.env["PLAIN"], json!("plain"));
        assert_eq!(w.run_name(&json!({"inputs": {"env": "dev"}})), "Deploy dev");
        let mut unnamed = w.clone();
        unnamed.run_name = None;
        unnamed.name = None;
        assert_eq!(unnamed.run_name(&json!({})), ".github/workflows/deploy.yml");
    }

    #[test]
    fn on_forms() {
        let w = Workflow::parse(
            "a.yml",
            "on: push\njobs: {a: {runs-on: x, steps: [{run: a}]}}",
        )
        .unwrap();
        assert_eq!(w.on, [("push".to_owned(), Value::Null)]);
        let w = Workflow::parse(
            "a.yml",
            "on: [push, pull_request]\njobs: {a: {runs-on: x, steps: [{run: a}]}}",
        )
        .unwrap();
        assert_eq!(w.on.len(), 2);
        assert!(w.triggered_by(&EventKind::Push {
            git_ref: "refs/heads/x".into(),
            changed: None
        }));
        assert!(!w.triggered_by(&EventKind::WorkflowDispatch));
    }

    #[test]
    fn refuses_what_github_refuses() {
        assert!(parse_err("jobs: {a: {runs-on: x}}").contains("no `on`"));
        assert!(parse_err("on: push").contains("no `jobs`"));
        assert!(parse_err("on: push\njobs: {a: {runs-on: x, needs: b}}").contains("needs `b`"));
        let e = parse_err(
            "on: push\njobs: {a: {runs-on: x, needs: b}, b: {runs-on: x, needs: [a]}, c: {runs-on: x}}",
        );
        assert!(e.contains("cycle") && e.contains("jobs a, b form"), "{e}");
        assert!(
            parse_err("on: push\njobs: {a: {steps: []}}").contains("neither `runs-on` nor `uses`")
        );
        assert!(parse_err("on: push\njobs: {1a: {runs-on: x}}").contains("job id"));
        assert!(
            parse_err("on: {push: {branches: [a], branches-ignore: [b]}}\njobs: {a: {runs-on: x}}")
                .contains("cannot both")
        );
        assert!(
            parse_err("on: {push: {branches: ['!a']}}\njobs: {a: {runs-on: x}}")
                .contains("negative")
        );
        assert!(
            parse_err("on: push\npermissions: {contents: admin}\njobs: {a: {runs-on: x}}")
                .contains("none, read or write")
        );
        assert!(
            parse_err("on: push\npermissions: {foo: read}\njobs: {a: {runs-on: x}}")
                .contains("unknown permission scope `foo`")
        );
        assert!(
            parse_err("on: push\njobs: {a: {runs-on: x, concurrency: {cancel-in-progress: true}}}")
                .contains("`group` is required")
        );
        assert!(parse_err("on: [push\n").contains("not valid YAML"));
        assert!(
            parse_err("on: push\njobs: {a: {runs-on: x, steps: [{name: x}]}}")
                .contains("neither `run` nor `uses`")
        );
        assert!(parse_err("- a").contains("must be a map"));
        // Unknown keys, as GitHub's "Unexpected value".
        assert!(
            parse_err("on: push\nenvironment: x\njobs: {a: {runs-on: x}}")
                .contains("unexpected key `environment`")
        );
        let e = parse_err("on: push\njobs: {a: {runs-on: x, timeout: 3}}");
        assert_eq!(e, "w.yml: job `a`: unexpected key `timeout`");
        let e = parse_err("on: push\njobs: {a: {runs-on: x, steps: [{run: a, uses: b}]}}");
        assert!(e.contains("step 1 has both"), "{e}");
        let e = parse_err(
            "on: push\njobs: {a: {runs-on: x, steps: [{run: a, with: {}}, {run: b, env-vars: {}}]}}",
        );
        assert_eq!(e, "w.yml: job `a`: step 2: unexpected key `env-vars`");
        let e = parse_err("on: push\njobs: {a: {uses: ./b.yml, runs-on: x}}");
        assert!(e.contains("reusable") && e.contains("`runs-on`"), "{e}");
        // The message names the file.
        assert!(parse_err("on: push").starts_with("w.yml: "));
    }

    #[test]
    fn filter_pattern_syntax() {
        let m = |p: &[&str], name: &str| {
            filters_match(&p.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(), name)
        };
        assert!(m(&["feature/*"], "feature/a"));
        assert!(!m(&["feature/*"], "feature/a/b"));
        assert!(m(&["feature/**"], "feature/a/b"));
        assert!(m(&["**"], "a/b/c"));
        assert!(!m(&["*"], "a/b"));
        assert!(m(&["v1.?"], "v1.") && m(&["v1.?"], "v1") && !m(&["v1.?"], "v12"));
        assert!(m(&["v2+"], "v222") && !m(&["v2+"], "v"));
        assert!(m(&["v[12].[0-9]+.[0-9]+"], "v1.10.3"));
        assert!(!m(&["v[12].[0-9]+.[0-9]+"], "v3.1.1"));
        assert!(!m(&["v1.0"], "v1x0")); // `.` is literal
        assert!(m(&["a\\*"], "a*") && !m(&["a\\*"], "ab"));
        assert!(m(&["*.md"], "README.md") && !m(&["*.md"], "docs/x.md"));
        assert!(m(&["**.md"], "docs/x.md"));
        // Negation, in order: the last matching pattern wins.
        assert!(!m(
            &["releases/**", "!releases/**-alpha"],
            "releases/1-alpha"
        ));
        assert!(m(
            &[
                "releases/**",
                "!releases/**-alpha",
                "releases/special-alpha"
            ],
            "releases/special-alpha"
        ));
        assert!(m(&["!a", "a"], "a"));
        assert!(!m(&["a", "!a"], "a"));
        // One pattern (deployment branch policies).
        assert!(filter_matches("release/*", "release/1") && !filter_matches("release/*", "main"));
        // An invalid pattern matches nothing (and parse refuses it).
        assert!(!m(&["[a"], "[a"));
        assert!(!m(&["+a"], "a"));
        assert!(
            parse_err("on: {push: {branches: ['[a']}}\njobs: {a: {runs-on: x}}")
                .contains("on.push.branches")
        );
    }

    fn wf(on: &str) -> Workflow {
        Workflow::parse(
            "t.yml",
            &format!("on: {on}\njobs: {{a: {{runs-on: x, steps: [{{run: a}}]}}}}"),
        )
        .unwrap()
    }

    fn push(r: &str, changed: Option<&[&str]>) -> EventKind {
        EventKind::Push {
            git_ref: r.into(),
            changed: changed.map(|c| c.iter().map(|s| (*s).to_owned()).collect()),
        }
    }

    #[test]
    fn job_order_respects_needs() {
        let w = Workflow::parse(
            "o.yml",
            "on: push\njobs: {z: {runs-on: x, needs: [b, a]}, a: {runs-on: x}, b: {runs-on: x, needs: a}, c: {runs-on: x}}",
        )
        .unwrap();
        let ids: Vec<&str> = w.job_order().iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "z", "c"]);
    }

    #[test]
    fn skip_ci_markers() {
        assert!(skips_ci("fix: x [skip ci]"));
        assert!(skips_ci("Fix [CI SKIP] now"));
        assert!(skips_ci("subject\n\nbody\n\nskip-checks: true"));
        assert!(!skips_ci("subject\n\nskip-checks: true\n\nlater paragraph"));
        assert!(!skips_ci("skip ci please"));
    }

    #[test]
    fn push_branch_and_tag_filters() {
        let any = wf("push");
        assert!(any.triggered_by(&push("refs/heads/main", None)));
        assert!(any.triggered_by(&push("refs/tags/v1", None)));

        let tags = wf("{push: {tags: ['v*']}}");
        assert!(tags.triggered_by(&push("refs/tags/v1.0.0", None)));
        assert!(!tags.triggered_by(&push("refs/tags/x1", None)));
        // Only tags: a branch push runs nothing.
        assert!(!tags.triggered_by(&push("refs/heads/main", Some(&["a"]))));

        let branches = wf("{push: {branches: [main]}}");
        assert!(branches.triggered_by(&push("refs/heads/main", Some(&["a"]))));
        assert!(!branches.triggered_by(&push("refs/heads/dev", Some(&["a"]))));
        // Only branches: a tag push runs nothing.
        assert!(!branches.triggered_by(&push("refs/tags/v1", None)));

        let ignore = wf("{push: {branches-ignore: ['dependabot/**'], tags-ignore: [wip]}}");
        assert!(ignore.triggered_by(&push("refs/heads/main", None)));
        assert!(!ignore.triggered_by(&push("refs/heads/dependabot/npm/x", None)));
        assert!(ignore.triggered_by(&push("refs/tags/v1", None)));
        assert!(!ignore.triggered_by(&push("refs/tags/wip", None)));

        let both = wf("{push: {branches: [main], tags: ['v*']}}");
        assert!(both.triggered_by(&push("refs/heads/main", None)));
        assert!(both.triggered_by(&push("refs/tags/v2", None)));
        assert!(!both.triggered_by(&push("refs/tags/x", None)));
    }

    #[test]
    fn push_path_filters() {
        let paths = wf("{push: {branches: [main], paths: ['src/**', '!src/**/*.md']}}");
        assert!(paths.triggered_by(&push("refs/heads/main", Some(&["README.md", "src/a.rs"]))));
        assert!(!paths.triggered_by(&push("refs/heads/main", Some(&["README.md"]))));
        assert!(!paths.triggered_by(&push("refs/heads/main", Some(&["src/docs/x.md"]))));
        // Unknown changes (a new branch): the workflow runs.
        assert!(paths.triggered_by(&push("refs/heads/main", None)));
        // Both the branch and the paths filter must pass.
        assert!(!paths.triggered_by(&push("refs/heads/dev", Some(&["src/a.rs"]))));

        let ignore = wf("{push: {paths-ignore: ['docs/**']}}");
        assert!(!ignore.triggered_by(&push("refs/heads/x", Some(&["docs/a.md"]))));
        assert!(ignore.triggered_by(&push("refs/heads/x", Some(&["docs/a.md", "b"]))));

        // Path filters are not evaluated for tag pushes.
        let only_paths = wf("{push: {paths: ['src/**']}}");
        assert!(only_paths.triggered_by(&push("refs/tags/v1", Some(&["docs/x"]))));
        assert!(!only_paths.triggered_by(&push("refs/heads/main", Some(&["docs/x"]))));
    }

    #[test]
    fn pull_request_types_and_base_filters() {
        let pr = |action: &str, base: &str| EventKind::PullRequest {
            action: action.into(),
            base_ref: base.into(),
            changed: Some(vec!["src/a".into()]),
        };
        let w = wf("{pull_request: {branches: [main]}}");
        for a in ["opened", "synchronize", "reopened"] {
            assert!(w.triggered_by(&pr(a, "main")), "{a}");
        }
        // Default activity types only.
        assert!(!w.triggered_by(&pr("closed", "main")));
        assert!(!w.triggered_by(&pr("opened", "dev")));
        assert!(w.triggered_by(&pr("opened", "refs/heads/main")));
        let closed = wf("{pull_request: {types: [closed]}}");
        assert!(closed.triggered_by(&pr("closed", "dev")));
        assert!(!closed.triggered_by(&pr("opened", "dev")));
        let paths = wf("{pull_request: {paths: ['docs/**']}}");
        assert!(!paths.triggered_by(&pr("opened", "main")));
        // A push does not start a pull_request workflow.
        assert!(!w.triggered_by(&push("refs/heads/main", None)));
    }

    #[test]
    fn other_events() {
        let w = deploy();
        let rd = |t: &str| EventKind::RepositoryDispatch {
            event_type: t.into(),
        };
        assert!(w.triggered_by(&rd("deploy")));
        assert!(!w.triggered_by(&rd("other")));
        assert!(w.triggered_by(&EventKind::WorkflowDispatch));
        assert!(!w.triggered_by(&EventKind::Schedule));
        assert!(wf("repository_dispatch").triggered_by(&rd("anything")));

        let review = |a: &str| EventKind::PullRequestReview { action: a.into() };
        assert!(wf("pull_request_review").triggered_by(&review("dismissed")));
        let submitted = wf("{pull_request_review: {types: [submitted]}}");
        assert!(submitted.triggered_by(&review("submitted")));
        assert!(!submitted.triggered_by(&review("edited")));

        let rel = |a: &str| EventKind::Release { action: a.into() };
        assert!(wf("release").triggered_by(&rel("created")));
        assert!(!wf("{release: {types: [published]}}").triggered_by(&rel("created")));

        let sched = wf("{schedule: [{cron: '0 0 * * *'}]}");
        assert!(sched.triggered_by(&EventKind::Schedule));
        assert!(!sched.triggered_by(&EventKind::WorkflowDispatch));
    }

    #[test]
    #[allow(clippy::many_single_char_names)]
    fn permissions() {
        let text = |wp: &str, jp: &str| {
            format!("on: push\n{wp}\njobs: {{a: {{runs-on: x, {jp} steps: [{{run: a}}]}}}}")
        };
        let eff = |wp: &str, jp: &str| {
            let w = Workflow::parse("p.yml", &text(wp, jp)).unwrap();
            effective_permissions(&w, &w.jobs[0])
        };
        let l = |m: &BTreeMap<String, Level>, s: &str| m[s];
        // Restricted default.
        let d = eff("", "");
        assert_eq!(l(&d, "contents"), Level::Read);
        assert_eq!(l(&d, "packages"), Level::Read);
        assert_eq!(l(&d, "metadata"), Level::Read);
        assert_eq!(l(&d, "pull-requests"), Level::None);
        // The workflow's, unless the job sets its own (which replaces it entirely).
        let w = eff("permissions: {pull-requests: write}", "");
        assert_eq!(
            (l(&w, "pull-requests"), l(&w, "contents")),
            (Level::Write, Level::None)
        );
        let j = eff(
            "permissions: {pull-requests: write}",
            "permissions: {id-token: write},",
        );
        assert_eq!(
            (l(&j, "pull-requests"), l(&j, "id-token")),
            (Level::None, Level::Write)
        );
        // `{}`: nothing but metadata.
        let e = eff("permissions: {}", "");
        assert!(e.iter().all(|(k, v)| if k == "metadata" {
            *v == Level::Read
        } else {
            *v == Level::None
        }));
        let r = eff("permissions: read-all", "");
        assert_eq!(
            (l(&r, "issues"), l(&r, "id-token"), l(&r, "models")),
            (Level::Read, Level::None, Level::Read)
        );
        let wa = eff("", "permissions: write-all,");
        assert!(SCOPES.iter().all(|s| wa[*s] == Level::Write));
        assert_eq!(wa.len(), SCOPES.len() + 1);
    }

    #[test]
    fn matrix_product_exclude_include() {
        // GitHub's documented example.
        let m: Yaml = serde_yaml_ng::from_str(
            r"
fruit: [apple, pear]
animal: [cat, dog]
include:
  - color: green
  - color: pink
    animal: cat
  - fruit: apple
    shape: circle
  - fruit: banana
  - fruit: banana
    animal: cat
",
        )
        .unwrap();
        let got = expand_matrix_yaml(&m).unwrap();
        let want = [
            json!({"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"}),
            json!({"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"}),
            json!({"fruit": "pear", "animal": "cat", "color": "pink"}),
            json!({"fruit": "pear", "animal": "dog", "color": "green"}),
            json!({"fruit": "banana"}),
            json!({"fruit": "banana", "animal": "cat"}),
        ];
        assert_eq!(got.into_iter().map(Value::Object).collect::<Vec<_>>(), want);

        let m =
            json!({"os": ["a", "b"], "v": [1, 2, 3], "exclude": [{"os": "a", "v": 2}, {"v": 3}]});
        let got = expand_matrix(&m).unwrap();
        assert_eq!(
            got.into_iter().map(Value::Object).collect::<Vec<_>>(),
            [
                json!({"os": "a", "v": 1}),
                json!({"os": "b", "v": 1}),
                json!({"os": "b", "v": 2})
            ]
        );
        // `include` alone: one combination per entry; empty: none.
        let only = expand_matrix(&json!({"include": [{"a": 1}, {"a": 2}]})).unwrap();
        assert_eq!(only.len(), 2);
        assert!(expand_matrix(&json!({})).unwrap().is_empty());
        // Limits and errors.
        let big = json!({"a": (0..16).collect::<Vec<_>>(), "b": (0..17).collect::<Vec<_>>()});
        assert!(expand_matrix(&big).unwrap_err().message.contains("256"));
        assert!(
            expand_matrix(
                &json!({"a": (0..16).collect::<Vec<_>>(), "b": (0..16).collect::<Vec<_>>()})
            )
            .is_ok()
        );
        assert!(
            expand_matrix(&json!("${{ fromJSON(x) }}"))
                .unwrap_err()
                .message
                .contains("evaluate")
        );
        assert!(expand_matrix(&json!({"a": []})).is_err());
        assert!(expand_matrix(&json!({"a": "x"})).is_err());
        assert!(expand_matrix(&json!({"include": [1]})).is_err());
    }

    #[test]
    fn job_matrices_are_evaluated_then_expanded_in_file_order() {
        let w = Workflow::parse(
            "m.yml",
            r"
on: push
jobs:
  a:
    runs-on: x
    strategy:
      matrix:
        zone: ['${{ vars.ZONE }}', b]
        app: [one, two]
        include: ${{ fromJSON(vars.EXTRA) }}
    steps: [{run: a}]
  b:
    runs-on: x
    strategy:
      matrix: ${{ fromJSON(vars.M) }}
    steps: [{run: a}]
  c:
    runs-on: x
    steps: [{run: a}]
",
        )
        .unwrap();
        let ctx = json!({"vars": {"ZONE": "z", "EXTRA": "[{\"app\": \"one\", \"big\": true}]",
                                  "M": "{\"include\": [{\"x\": 1}]}"}});
        let combos = w.jobs[0].matrix_combinations(&ctx).unwrap().unwrap();
        // `zone` comes first in the file, so it varies slowest (serde_json would sort `app` first).
        assert_eq!(
            combos.into_iter().map(Value::Object).collect::<Vec<_>>(),
            [
                json!({"zone": "z", "app": "one", "big": true}),
                json!({"zone": "z", "app": "two"}),
                json!({"zone": "b", "app": "one", "big": true}),
                json!({"zone": "b", "app": "two"}),
            ]
        );
        let b = w.jobs[1].matrix_combinations(&ctx).unwrap().unwrap();
        assert_eq!(b, [json!({"x": 1}).as_object().unwrap().clone()]);
        assert_eq!(w.jobs[2].matrix_combinations(&ctx).unwrap(), None);
        let e = w.jobs[1].matrix_combinations(&json!({})).unwrap_err();
        assert!(e.message.starts_with("job `b`: strategy.matrix"), "{e}");
    }

    #[test]
    fn job_for_act_is_a_runnable_single_job_workflow() {
        let w = deploy();
        let known = json!({"needs": {"plan": {"result": "success",
            "outputs": {"pairs": "[{\"mfe\":\"checkout\",\"env\":\"dev\"}]", "count": "1", "x": "it's"}}}});
        let combo = json!({"pair": {"mfe": "checkout", "env": "dev"}});
        let extra = [json!({"name": "outputs", "run": "echo done"})];
        let yaml = w
            .job_for_act(w.job("deploy").unwrap(), combo.as_object(), &known, &extra)
            .unwrap();
        assert!(!yaml.contains("needs"), "{yaml}");
        let back = Workflow::parse("act.yml", &yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        assert_eq!(back.jobs.len(), 1);
        let j = &back.jobs[0];
        assert_eq!(j.id, "deploy");
        assert!(j.needs.is_empty() && j.if_.is_none() && j.environment.is_none());
        assert!(j.concurrency.is_none() && j.permissions.is_none());
        let raw = yaml_to_json(&j.raw);
        assert!(raw.get("timeout-minutes").is_none());
        assert_eq!(raw["strategy"], json!({"matrix": {"include": [combo]}}));
        assert_eq!(
            back.trigger("repository_dispatch"),
            Some(&json!({"types": ["deploy"]}))
        );
        assert_eq!(back.name.as_deref(), Some("Deploy"));
        assert!(back.permissions.is_none() && back.concurrency.is_none());
        // Strings are bound: evaluating them without `needs` gives what GitHub would.
        let steps = raw["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[2], extra[0]);
        let ctx = json!({"matrix": combo});
        let cond = steps[0]["if"].as_str().unwrap();
        assert!(!cond.contains("${{"), "{cond}");
        assert!(expr::eval_if(cond, &ctx, expr::JobStatus::Success).unwrap());
        let pairs = raw["env"]["PAIRS"].as_str().unwrap();
        assert_eq!(
            expr::interpolate(pairs, &ctx, expr::JobStatus::Success).unwrap(),
            "[{\"mfe\":\"checkout\",\"env\":\"dev\"}]"
        );
        assert_eq!(raw["env"]["ENV"], json!("${{ inputs.env }}"));
        assert_eq!(raw["steps"][1]["with"]["ref"], json!("${{ '1' }}"));
        assert_eq!(
            yaml_to_json(&back.raw)["env"]["GLOBAL"],
            json!("${{ 'it''s' }}")
        );
        assert_eq!(raw["name"], json!("deploy ${{ matrix.pair.mfe }}"));

        // Without a combination the strategy stays (bound); a reusable-workflow job takes no
        // extra steps.
        let yaml = w
            .job_for_act(w.job("plan").unwrap(), None, &known, &[])
            .unwrap();
        assert!(Workflow::parse("act.yml", &yaml).is_ok());
        let reusable = Workflow::parse(
            "r.yml",
            "on: push\njobs: {a: {uses: ./.github/workflows/b.yml}}",
        )
        .unwrap();
        assert!(
            reusable
                .job_for_act(&reusable.jobs[0], None, &json!({}), &extra)
                .is_err()
        );
    }

    /// The workflows this project renders (the golden snapshots of `crates/render`) and its own
    /// release workflow load, every expression in them parses, and they trigger as intended.
    #[test]
    fn the_projects_workflows_load_and_trigger() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let snaps = root.join("crates/render/tests/it/snapshots");
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&snaps)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".yml.snap"))
            .collect();
        files.sort();
        assert!(
            files.len() >= 10,
            "golden workflows under {}",
            snaps.display()
        );
        files.push(root.join(".github/workflows/release.yml"));
        let mut loaded = BTreeMap::new();
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            // insta snapshots: a `---` header, then the file.
            let body = match text.strip_prefix("---\n") {
                Some(rest) => rest.split_once("---\n").unwrap().1.to_owned(),
                None => text,
            };
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            let w = Workflow::parse(&name, &body).unwrap_or_else(|e| panic!("{e}"));
            let none = json!({});
            for text in [
                &w.run_name,
                &w.concurrency.as_ref().map(|c| c.group.clone()),
            ]
            .into_iter()
            .flatten()
            {
                expr::bind(text, &none).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
            for j in &w.jobs {
                let yaml = w
                    .job_for_act(j, None, &none, &[])
                    .unwrap_or_else(|e| panic!("{e}"));
                Workflow::parse("act.yml", &yaml).unwrap_or_else(|e| panic!("{e}"));
                if let Some(c) = &j.if_ {
                    expr::bind_if(c, &none).unwrap_or_else(|e| panic!("{name}: {e}"));
                }
            }
            loaded.insert(name, w);
        }
        let get = |part: &str| {
            loaded
                .iter()
                .find_map(|(k, w)| k.contains(part).then_some(w))
                .unwrap_or_else(|| panic!("no golden workflow named like {part}"))
        };
        let deploy = get("gitops-default__.github_workflows_gitops-deploy");
        assert!(deploy.triggered_by(&push(
            "refs/heads/main",
            Some(&["deployments/dev/checkout.json"])
        )));
        assert!(!deploy.triggered_by(&push("refs/heads/main", Some(&["README.md"]))));
        assert!(!deploy.triggered_by(&push(
            "refs/heads/dev",
            Some(&["deployments/dev/checkout.json"])
        )));
        let process = get("gitops-default__.github_workflows_gitops-process");
        assert!(process.triggered_by(&EventKind::RepositoryDispatch {
            event_type: "deploy-mfe-trigger".into()
        }));
        let checks = get("gitops-default__.github_workflows_gitops-checks");
        assert!(checks.triggered_by(&EventKind::PullRequestReview {
            action: "submitted".into()
        }));
        assert!(!checks.triggered_by(&EventKind::PullRequestReview {
            action: "dismissed".into()
        }));
    }
}
