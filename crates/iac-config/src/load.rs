//! Loading and validating a GitOps repository from a directory or from an in-memory file map.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use gitops_event_model as em;
use serde::Serialize;

use crate::model::{Deployment, GitopsConfig, MfeConfig};

/// The repository's configuration file.
pub const CONFIG_FILE: &str = "gitops.yaml";
/// The directory of MFE files.
pub const MFES_DIR: &str = "mfes";
/// The directory of desired-state files.
pub const DEPLOYMENTS_DIR: &str = "deployments";

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigProblem {
    /// Path relative to the repository root.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The offending field (`environments[2].requires`), when known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    /// `file:line: field: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A loaded, valid GitOps repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// `gitops.yaml`.
    pub config: GitopsConfig,
    /// `mfes/*.yaml`, by MFE name.
    pub mfes: BTreeMap<String, MfeConfig>,
    /// `deployments/<env>/<mfe>.json`, by (environment, MFE).
    pub deployments: BTreeMap<(String, String), Deployment>,
}

/// The path of the desired-state file of (environment, MFE).
pub fn deployment_path(environment: &str, mfe: &str) -> String {
    format!("{DEPLOYMENTS_DIR}/{environment}/{mfe}.json")
}

impl Repository {
    /// Loads the repository files under `dir` (only `gitops.yaml`, `mfes/` and `deployments/`
    /// are read). IO errors are reported as problems of the file concerned.
    pub fn load_dir(dir: &Path) -> Result<Self, Vec<ConfigProblem>> {
        Self::from_files(&read_dir_files(dir)?)
    }

    /// Loads from a map of repository-relative path (`/`-separated) to content, as the GitHub
    /// adapter reads a tree. Files outside the three known places are ignored.
    pub fn from_files(files: &BTreeMap<String, Vec<u8>>) -> Result<Self, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let config = load_config(files, &mut problems);
        let mut mfes = BTreeMap::new();
        let mut deployments = BTreeMap::new();
        for (path, bytes) in files {
            let parts: Vec<&str> = path.split('/').collect();
            match parts.as_slice() {
                [MFES_DIR, file] if file.ends_with(".yaml") || file.ends_with(".yml") => {
                    if let Some(mfe) = load_mfe(path, file, bytes, config.as_ref(), &mut problems) {
                        mfes.insert(mfe.name.clone(), mfe);
                    }
                }
                [DEPLOYMENTS_DIR, env, file] if file.ends_with(".json") => {
                    if let Some(d) = parse_json::<Deployment>(path, bytes, &mut problems) {
                        deployments.insert((env.to_string(), d.mfe.clone()), (path.clone(), d));
                    }
                }
                _ => {}
            }
        }
        let deployments = deployments
            .into_iter()
            .filter_map(|(key, (path, d))| {
                let text = String::from_utf8_lossy(&files[&path]).into_owned();
                let before = problems.len();
                check_deployment(
                    &path,
                    &text,
                    &key.0,
                    &d,
                    config.as_ref(),
                    &mfes,
                    &mut problems,
                );
                (problems.len() == before).then_some((key, d))
            })
            .collect();
        match config {
            Some(config) if problems.is_empty() => Ok(Repository {
                config,
                mfes,
                deployments,
            }),
            _ => Err(problems),
        }
    }

    /// The environment called `name`.
    pub fn environment(&self, name: &str) -> Option<&crate::model::Environment> {
        self.config.environments.iter().find(|e| e.name == name)
    }

    /// The desired state of (environment, MFE), if any.
    pub fn deployment(&self, environment: &str, mfe: &str) -> Option<&Deployment> {
        self.deployments
            .get(&(environment.to_owned(), mfe.to_owned()))
    }
}

fn read_dir_files(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>, Vec<ConfigProblem>> {
    let mut files = BTreeMap::new();
    let mut problems = Vec::new();
    let mut read = |rel: String| match std::fs::read(dir.join(&rel)) {
        Ok(bytes) => {
            files.insert(rel, bytes);
        }
        Err(e) => problems.push(problem(&rel, None, None, format!("cannot read: {e}"))),
    };
    if dir.join(CONFIG_FILE).exists() {
        read(CONFIG_FILE.to_owned());
    }
    for name in list(&dir.join(MFES_DIR)) {
        read(format!("{MFES_DIR}/{name}"));
    }
    for env in list(&dir.join(DEPLOYMENTS_DIR)) {
        if dir.join(DEPLOYMENTS_DIR).join(&env).is_dir() {
            for name in list(&dir.join(DEPLOYMENTS_DIR).join(&env)) {
                read(format!("{DEPLOYMENTS_DIR}/{env}/{name}"));
            }
        }
    }
    if problems.is_empty() {
        Ok(files)
    } else {
        Err(problems)
    }
}

/// File names in a directory (empty when it does not exist), sorted.
fn list(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

fn problem(
    file: &str,
    line: Option<usize>,
    field: Option<&str>,
    message: impl Into<String>,
) -> ConfigProblem {
    ConfigProblem {
        file: file.to_owned(),
        line,
        field: field.map(str::to_owned),
        message: message.into(),
    }
}

/// The first line (1-based) holding `key:` (and, when given, `value` at or after it).
fn locate(text: &str, key: &str, value: Option<&str>) -> Option<usize> {
    let mut lines = text.lines().enumerate();
    let needle = format!("{key}:");
    let quoted = format!("\"{key}\"");
    let (key_line, line_text) = lines.by_ref().find(|(_, l)| {
        l.trim_start().trim_start_matches("- ").starts_with(&needle) || l.contains(&quoted)
    })?;
    let Some(value) = value else {
        return Some(key_line + 1);
    };
    if line_text.contains(value) {
        return Some(key_line + 1);
    }
    lines
        .find(|(_, l)| l.contains(value))
        .map(|(i, _)| i + 1)
        .or(Some(key_line + 1))
}

fn parse_yaml<T: serde::de::DeserializeOwned>(
    path: &str,
    bytes: &[u8],
    problems: &mut Vec<ConfigProblem>,
) -> Option<T> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        problems.push(problem(path, None, None, "not UTF-8 text"));
        return None;
    };
    match serde_yaml_ng::from_str::<T>(text) {
        Ok(v) => Some(v),
        Err(e) => {
            let line = e.location().map(|l| l.line());
            problems.push(problem(path, line, None, yaml_message(&e)));
            None
        }
    }
}

/// serde_yaml's message without its trailing "at line X column Y" (the line is reported apart).
fn yaml_message(e: &serde_yaml_ng::Error) -> String {
    let text = e.to_string();
    match text.find(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(
    path: &str,
    bytes: &[u8],
    problems: &mut Vec<ConfigProblem>,
) -> Option<T> {
    match serde_json::from_slice::<T>(bytes) {
        Ok(v) => Some(v),
        Err(e) => {
            let line = (e.line() > 0).then_some(e.line());
            let text = e.to_string();
            let message = text
                .find(" at line ")
                .map_or(text.clone(), |i| text[..i].to_owned());
            problems.push(problem(path, line, None, message));
            None
        }
    }
}

fn load_config(
    files: &BTreeMap<String, Vec<u8>>,
    problems: &mut Vec<ConfigProblem>,
) -> Option<GitopsConfig> {
    let Some(bytes) = files.get(CONFIG_FILE) else {
        problems.push(problem(
            CONFIG_FILE,
            None,
            None,
            "missing: a GitOps repository needs gitops.yaml at its root (`gitops init` writes one)",
        ));
        return None;
    };
    let config: GitopsConfig = parse_yaml(CONFIG_FILE, bytes, problems)?;
    let text = String::from_utf8_lossy(bytes);
    let before = problems.len();
    let mut report = |field: String, key: &str, value: Option<&str>, message: String| {
        problems.push(problem(
            CONFIG_FILE,
            locate(&text, key, value),
            Some(&field),
            message,
        ));
    };
    if config.version != 1 {
        report(
            "version".into(),
            "version",
            None,
            format!(
                "unsupported version {}; this tool reads version 1",
                config.version
            ),
        );
    }
    if config.environments.is_empty() {
        report(
            "environments".into(),
            "environments",
            None,
            "at least one environment is required".into(),
        );
    }
    let mut seen = BTreeSet::new();
    for (i, env) in config.environments.iter().enumerate() {
        let at = |f: &str| format!("environments[{i}].{f}");
        if let Err(e) = em::EnvironmentName::parse(&env.name) {
            report(at("name"), "name", Some(&env.name), e.message);
        }
        if !seen.insert(env.name.as_str()) {
            report(
                at("name"),
                "name",
                Some(&env.name),
                format!("environment `{}` is declared twice", env.name),
            );
        }
        match url::Url::parse(&env.public_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => report(
                at("public_url"),
                "public_url",
                Some(&env.public_url),
                format!("`{}` is not an http(s) URL", env.public_url),
            ),
        }
        if let Some(required) = &env.requires {
            let earlier = config.environments[..i].iter().any(|e| &e.name == required);
            if !earlier {
                report(
                    at("requires"),
                    "requires",
                    Some(required),
                    format!(
                        "`requires: {required}` must name an environment declared before `{}`",
                        env.name
                    ),
                );
            }
        }
        for (j, window) in env.freeze.iter().enumerate() {
            if window.from >= window.until {
                report(
                    format!("environments[{i}].freeze[{j}]"),
                    "freeze",
                    None,
                    "a freeze window must end (`until`) after it starts (`from`)".into(),
                );
            }
        }
    }
    (problems.len() == before).then_some(config)
}

fn load_mfe(
    path: &str,
    file: &str,
    bytes: &[u8],
    config: Option<&GitopsConfig>,
    problems: &mut Vec<ConfigProblem>,
) -> Option<MfeConfig> {
    let mfe: MfeConfig = parse_yaml(path, bytes, problems)?;
    let text = String::from_utf8_lossy(bytes);
    let before = problems.len();
    let mut report = |field: &str, value: Option<&str>, message: String| {
        let key = field.split(['[', '.']).next().unwrap_or(field);
        problems.push(problem(
            path,
            locate(&text, key, value),
            Some(field),
            message,
        ));
    };
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    if let Err(e) = em::MfeName::parse(&mfe.name) {
        report("name", Some(&mfe.name), e.message);
    } else if mfe.name != stem {
        report(
            "name",
            Some(&mfe.name),
            format!(
                "the MFE `{}` must be described in mfes/{}.yaml",
                mfe.name, mfe.name
            ),
        );
    }
    if let Err(e) = em::RepoSlug::parse(&mfe.repository) {
        report("repository", Some(&mfe.repository), e.message);
    }
    if !mfe.artifact.contains("{version}") {
        report(
            "artifact",
            Some(&mfe.artifact),
            "the artifact location must contain `{version}`".into(),
        );
    }
    if mfe.environments.is_empty() {
        report(
            "environments",
            None,
            "list at least one environment this MFE may be deployed to".into(),
        );
    }
    let mut seen = BTreeSet::new();
    for (i, env) in mfe.environments.iter().enumerate() {
        if let Some(config) = config
            && !config.environments.iter().any(|e| &e.name == env)
        {
            report(
                &format!("environments[{i}]"),
                Some(env),
                format!("environment `{env}` is not declared in gitops.yaml"),
            );
        }
        if !seen.insert(env) {
            report(
                &format!("environments[{i}]"),
                Some(env),
                format!("environment `{env}` is listed twice"),
            );
        }
    }
    for (i, entry) in mfe.entry_points.iter().enumerate() {
        let bad = entry.is_empty()
            || entry.starts_with('/')
            || entry.contains(['*', '?', '#', '\\'])
            || entry.chars().any(char::is_whitespace)
            || entry
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..");
        if bad {
            report(
                &format!("entry_points[{i}]"),
                Some(entry),
                format!("`{entry}` is not a relative file path inside the artifact"),
            );
        }
    }
    for (i, owner) in mfe.owners.iter().enumerate() {
        if owner.trim().is_empty() {
            report(
                &format!("owners[{i}]"),
                None,
                "an owner cannot be empty".into(),
            );
        }
    }
    (problems.len() == before).then_some(mfe)
}

/// A field check from the event model.
type Check = fn(&str) -> Result<(), em::FieldError>;

fn check_deployment(
    path: &str,
    text: &str,
    env: &str,
    d: &Deployment,
    config: Option<&GitopsConfig>,
    mfes: &BTreeMap<String, MfeConfig>,
    problems: &mut Vec<ConfigProblem>,
) {
    let mut report = |field: &str, message: String| {
        problems.push(problem(
            path,
            locate(text, field, None),
            Some(field),
            message,
        ));
    };
    let stem = path
        .rsplit('/')
        .next()
        .and_then(|f| f.strip_suffix(".json"))
        .unwrap_or_default();
    if d.mfe != stem {
        report(
            "mfe",
            format!("`{}` does not match the file name {stem}.json", d.mfe),
        );
    }
    if d.environment != env {
        report(
            "environment",
            format!(
                "`{}` does not match the directory deployments/{env}/",
                d.environment
            ),
        );
    }
    if let Some(config) = config
        && !config.environments.iter().any(|e| e.name == env)
    {
        report(
            "environment",
            format!("environment `{env}` is not declared in gitops.yaml"),
        );
    }
    match mfes.get(&d.mfe) {
        None => report("mfe", format!("MFE `{}` has no mfes/{}.yaml", d.mfe, d.mfe)),
        Some(mfe) if !mfe.environments.iter().any(|e| e == env) => {
            report(
                "environment",
                format!(
                    "MFE `{}` may not be deployed to `{env}` (see mfes/{}.yaml)",
                    d.mfe, d.mfe
                ),
            );
        }
        Some(_) => {}
    }
    let checks: [(&str, &str, Check); 6] = [
        ("version", &d.version, |v| em::Version::parse(v).map(drop)),
        ("sha", &d.sha, |v| em::CommitSha::parse(v).map(drop)),
        ("ref", &d.git_ref, |v| em::GitRef::parse(v).map(drop)),
        ("repository", &d.repository, |v| {
            em::RepoSlug::parse(v).map(drop)
        }),
        ("requested_by", &d.requested_by, |v| {
            em::Login::parse(v).map(drop)
        }),
        ("request_id", &d.request_id, |v| {
            em::RequestId::parse(v).map(drop)
        }),
    ];
    for (field, value, check) in checks {
        if let Err(e) = check(value) {
            report(field, e.message);
        }
    }
    let prefix = format!("/mfe/{}/", d.mfe);
    for key in &d.cache_invalidation_keys {
        if let Err(e) = em::CdnPath::parse(key) {
            report("cache_invalidation_keys", e.message);
        } else if !crate::policy::within_prefix(key, &prefix) {
            report(
                "cache_invalidation_keys",
                format!("CDN path `{key}` is outside this MFE's prefix {prefix}"),
            );
        }
    }
}
