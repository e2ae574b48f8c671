//! Loading and validating a GitOps repository from a directory or from an in-memory file map.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use gitops_event_model as em;
use serde::Serialize;

use crate::model::{Deployment, Environment, GitopsConfig, MfeConfig};
use crate::parse::{parse_json, parse_yaml, redact, shown};
use crate::read::{Kind, MAX_FILES, read_dir_files, too_large};

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

/// How a repository is loaded: what the operator allows beyond the defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Accept absolute paths as embedded (local) targets. Off by default: embedded targets are
    /// relative paths under the repository's git-ignored state directory `local/`.
    pub allow_absolute_targets: bool,
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
    /// Loads the repository files under `dir` with the default [`LoadOptions`]: see
    /// [`Repository::load_dir_with`].
    pub fn load_dir(dir: &Path) -> Result<Self, Vec<ConfigProblem>> {
        Self::load_dir_with(dir, &LoadOptions::default())
    }

    /// Loads the repository files under `dir`: only `gitops.yaml`, `mfes/*.yaml` (or `.yml`) and
    /// `deployments/<env>/*.json` are read, and only when they are regular files really inside
    /// the repository. A symbolic link anywhere on the way (the file, `mfes/`, `deployments/`,
    /// `deployments/<env>/`), a FIFO, socket, device or a directory where a file belongs is
    /// refused without being followed or read; a file larger than its bound
    /// ([`MAX_CONFIG_BYTES`](crate::MAX_CONFIG_BYTES), [`MAX_MFE_BYTES`](crate::MAX_MFE_BYTES),
    /// [`MAX_DEPLOYMENT_BYTES`](crate::MAX_DEPLOYMENT_BYTES)) and more than
    /// [`MAX_FILES`](crate::MAX_FILES) directory entries are refused. Every refusal and IO error
    /// is a problem of the path concerned.
    pub fn load_dir_with(dir: &Path, options: &LoadOptions) -> Result<Self, Vec<ConfigProblem>> {
        Self::from_files_with(&read_dir_files(dir)?, options)
    }

    /// Loads from a map of path to content with the default [`LoadOptions`]: see
    /// [`Repository::from_files_with`].
    pub fn from_files(files: &BTreeMap<String, Vec<u8>>) -> Result<Self, Vec<ConfigProblem>> {
        Self::from_files_with(files, &LoadOptions::default())
    }

    /// Loads from a map of repository-relative path (`/`-separated) to content, as the GitHub
    /// adapter reads a tree. Files outside the three known places are ignored; the others are
    /// held to the same size bounds as [`Repository::load_dir_with`], and at most
    /// [`MAX_FILES`](crate::MAX_FILES) of them are accepted. Problems never quote file content.
    pub fn from_files_with(
        files: &BTreeMap<String, Vec<u8>>,
        options: &LoadOptions,
    ) -> Result<Self, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let known: Vec<(&String, Kind)> = files
            .keys()
            .filter_map(|path| Kind::of(path).map(|kind| (path, kind)))
            .collect();
        if known.len() > MAX_FILES {
            return Err(vec![problem(
                CONFIG_FILE,
                None,
                None,
                format!(
                    "the repository has {} files under {MFES_DIR}/ and {DEPLOYMENTS_DIR}/; this tool reads at most {MAX_FILES}",
                    known.len()
                ),
            )]);
        }
        let mut oversized = BTreeSet::new();
        for (path, kind) in &known {
            if files[*path].len() > kind.max_bytes() {
                problems.push(too_large(path, *kind));
                oversized.insert(path.as_str());
            }
        }
        let config = if oversized.contains(CONFIG_FILE) {
            None
        } else {
            load_config(files, *options, &mut problems)
        };
        let mut mfes = BTreeMap::new();
        let mut deployments = BTreeMap::new();
        for (path, kind) in known {
            if oversized.contains(path.as_str()) {
                continue;
            }
            let bytes = &files[path];
            let parts: Vec<&str> = path.split('/').collect();
            match (kind, parts.as_slice()) {
                (Kind::Mfe, [_, file]) => {
                    if let Some(mfe) = load_mfe(path, file, bytes, config.as_ref(), &mut problems) {
                        mfes.insert(mfe.name.clone(), mfe);
                    }
                }
                (Kind::Deployment, [_, env, _]) => {
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

pub(crate) fn problem(
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

/// The first line (1-based) holding `key:` and `value` (when given); else the first line
/// holding `key:`, or `value` at or after it.
fn locate(text: &str, key: &str, value: Option<&str>) -> Option<usize> {
    let needle = format!("{key}:");
    let quoted = format!("\"{key}\"");
    let is_key = |l: &str| {
        l.trim_start().trim_start_matches("- ").starts_with(&needle) || l.contains(&quoted)
    };
    // `key: value` exactly (quoted or not, a comment after it), then `key:` with `value` in it.
    let exact = |l: &str, value: &str| {
        l.split_once(&needle).is_some_and(|(_, rest)| {
            let rest = rest.split(" #").next().unwrap_or(rest).trim();
            rest.trim_matches(['"', '\'']) == value
        })
    };
    if let Some(value) = value.filter(|v| !v.is_empty())
        && let Some((i, _)) = (text.lines().enumerate())
            .find(|(_, l)| is_key(l) && exact(l, value))
            .or_else(|| (text.lines().enumerate()).find(|(_, l)| is_key(l) && l.contains(value)))
    {
        return Some(i + 1);
    }
    let mut lines = text.lines().enumerate();
    let (key_line, line_text) = lines.by_ref().find(|(_, l)| is_key(l))?;
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

fn load_config(
    files: &BTreeMap<String, Vec<u8>>,
    options: LoadOptions,
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
            report(at("name"), "name", Some(&env.name), redact(&e.message));
        }
        if !seen.insert(env.name.to_lowercase()) {
            report(
                at("name"),
                "name",
                Some(&env.name),
                format!(
                    "environment {} is declared twice (names are compared ignoring case)",
                    shown(&env.name)
                ),
            );
        }
        match url::Url::parse(&env.public_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => report(
                at("public_url"),
                "public_url",
                Some(&env.public_url),
                "not an http(s) URL".into(),
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
                        "`requires` names {}, which must be an environment declared before {}",
                        shown(required),
                        shown(&env.name)
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
    for (field, key, value, message) in check_targets(&config.environments, options) {
        report(field, key, Some(value), message);
    }
    (problems.len() == before).then_some(config)
}

/// The role of a local target path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Storage,
    Registry,
    Cdn,
}

impl Role {
    fn key(self) -> &'static str {
        match self {
            Role::Storage => "storage",
            Role::Registry => "registry",
            Role::Cdn => "cdn",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Role::Storage => "storage directory",
            Role::Registry => "registry file",
            Role::Cdn => "CDN log",
        }
    }
}

/// A local target of one environment: its path split in components, compared ignoring case (a
/// case-insensitive file system would merge `local/Dev` and `local/dev`).
#[derive(Debug)]
struct LocalTarget<'a> {
    env: usize,
    role: Role,
    raw: &'a str,
    components: Vec<String>,
}

impl LocalTarget<'_> {
    fn field(&self) -> String {
        format!("environments[{}].{}", self.env, self.role.key())
    }
}

/// Whether `inner` is `outer` or lies under it.
fn within(inner: &[String], outer: &[String]) -> bool {
    inner.len() >= outer.len() && inner[..outer.len()] == *outer
}

/// The placement rules of embedded targets: absolute paths only when allowed; no two storage
/// directories the same or nested; no registry or CDN log inside a storage directory (it would
/// be served); no file where another target needs a directory; registry and CDN log distinct.
/// Returns `(field, key, value, message)` for each problem.
fn check_targets(
    environments: &[Environment],
    options: LoadOptions,
) -> Vec<(String, &'static str, &str, String)> {
    let mut found = Vec::new();
    let mut targets = Vec::new();
    for (env, e) in environments.iter().enumerate() {
        for (role, path) in [
            (Role::Storage, e.storage.local_path()),
            (Role::Registry, e.registry.local_path()),
            (Role::Cdn, e.cdn.local_path()),
        ] {
            let Some(raw) = path else { continue };
            let target = LocalTarget {
                env,
                role,
                raw,
                // An absolute path keeps its leading empty component, so it never compares
                // equal to a relative one.
                components: raw.split('/').map(str::to_lowercase).collect(),
            };
            if raw.starts_with('/') && !options.allow_absolute_targets {
                found.push((
                    target.field(),
                    role.key(),
                    raw,
                    format!(
                        "an absolute path is refused unless the operator allows absolute targets; use a path under `{}/`",
                        crate::model::STATE_DIR
                    ),
                ));
            }
            targets.push(target);
        }
    }
    let name = |t: &LocalTarget<'_>| shown(&environments[t.env].name);
    for (j, later) in targets.iter().enumerate() {
        for earlier in &targets[..j] {
            let same = later.components == earlier.components;
            let later_inside = within(&later.components, &earlier.components);
            let earlier_inside = within(&earlier.components, &later.components);
            if !later_inside && !earlier_inside {
                continue;
            }
            let pair = format!(
                "the {} of {} ({})",
                earlier.role.what(),
                name(earlier),
                earlier.field()
            );
            let message = match (later.role, earlier.role) {
                (Role::Storage, Role::Storage) => format!(
                    "this storage directory overlaps {pair}: environments' storage directories must not be the same or nested"
                ),
                (Role::Registry | Role::Cdn, Role::Storage) => format!(
                    "this {} lies inside {pair}, which is served publicly",
                    later.role.what()
                ),
                (Role::Storage, Role::Registry | Role::Cdn) if earlier_inside => {
                    // Reported on the file, wherever it is declared.
                    let storage = format!(
                        "the storage directory of {} ({})",
                        name(later),
                        later.field()
                    );
                    found.push((
                        earlier.field(),
                        earlier.role.key(),
                        earlier.raw,
                        format!(
                            "this {} lies inside {storage}, which is served publicly",
                            earlier.role.what()
                        ),
                    ));
                    continue;
                }
                (a, b) if a == b && same => continue, // one registry or log shared by environments
                _ if same => format!(
                    "this {} is the same path as {pair}: each target needs its own path",
                    later.role.what()
                ),
                _ => format!(
                    "this {} and {pair} are nested: one of them would have to be both a file and a directory",
                    later.role.what()
                ),
            };
            found.push((later.field(), later.role.key(), later.raw, message));
        }
    }
    found
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
        report("name", Some(&mfe.name), redact(&e.message));
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
    if let Err(e) = em::RepositoryName::parse(&mfe.repository) {
        report("repository", Some(&mfe.repository), redact(&e.message));
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
                format!("environment {} is not declared in gitops.yaml", shown(env)),
            );
        }
        if !seen.insert(env) {
            report(
                &format!("environments[{i}]"),
                Some(env),
                format!("environment {} is listed twice", shown(env)),
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
                "not a relative file path inside the artifact".into(),
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
            format!("{} does not match the file name {stem}.json", shown(&d.mfe)),
        );
    }
    if d.environment != env {
        report(
            "environment",
            format!(
                "{} does not match the directory deployments/{env}/",
                shown(&d.environment)
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
        None => report(
            "mfe",
            format!("MFE {} has no file under mfes/", shown(&d.mfe)),
        ),
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
            em::RepositoryName::parse(v).map(drop)
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
            report(field, redact(&e.message));
        }
    }
    let prefix = format!("/mfe/{}/", d.mfe);
    for key in &d.cache_invalidation_keys {
        if let Err(e) = em::CdnPath::parse(key) {
            report("cache_invalidation_keys", redact(&e.message));
        } else if !crate::policy::within_prefix(key, &prefix) {
            report(
                "cache_invalidation_keys",
                format!("a CDN path is outside this MFE's prefix {prefix}"),
            );
        }
    }
}
