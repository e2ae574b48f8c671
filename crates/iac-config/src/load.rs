//! Loading and validating a GitOps repository from a directory or from an in-memory file map.

// Blocking by design: the loader is synchronous; async callers run it on the blocking pool.
#![allow(clippy::disallowed_methods)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use gitops_event_model::{
    self as em, CdnPath, CommitSha, EnvironmentName, GitRef, Login, MfeName, RepositoryName,
    RequestId, Version,
};
use serde::Serialize;

use crate::limits::{Kind as LimitKind, Written};
use crate::model::{ArchiveLimits, Deployment, Environment, GitopsConfig, MfeConfig, Pin};
use crate::parse::{parse_json, parse_yaml, redact, shown};
use crate::raw::{RawArchiveLimits, RawDeployment, RawEnvironment, RawGitopsConfig, RawMfeConfig};
use crate::read::{Kind, MAX_FILES, read_dir_files, too_large};
use crate::targets::check_targets;
use time::OffsetDateTime;

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
    pub mfes: BTreeMap<MfeName, MfeConfig>,
    /// `deployments/<env>/<mfe>.json`, by (environment, MFE).
    pub deployments: BTreeMap<(EnvironmentName, MfeName), Deployment>,
}

/// The path of the desired-state file of (environment, MFE): `deployments/<env>/<mfe>.json`.
pub fn deployment_path(environment: &EnvironmentName, mfe: &MfeName) -> String {
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
    /// [`MAX_FILES`](crate::MAX_FILES) of them are accepted. Every name, sha and version is
    /// parsed by its event-model type; every problem of every file is reported, each with its
    /// file, line and field, and never quoting file content.
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
        let readable: Vec<(&String, Kind, Vec<&str>)> = known
            .into_iter()
            .filter(|(path, _)| !oversized.contains(path.as_str()))
            .map(|(path, kind)| (path, kind, path.split('/').collect()))
            .collect();
        // MFE files first: desired-state files are checked against them.
        let mut mfes = BTreeMap::new();
        let mut mfe_files: BTreeMap<MfeName, &str> = BTreeMap::new();
        for (path, kind, parts) in &readable {
            let (Kind::Mfe, [_, file]) = (kind, parts.as_slice()) else {
                continue;
            };
            let Some(mfe) = load_mfe(path, file, &files[*path], config.as_ref(), &mut problems)
            else {
                continue;
            };
            if let Some(first) = mfe_files.get(&mfe.name) {
                // `mfes/x.yaml` and `mfes/x.yml`: neither silently wins.
                problems.push(problem(
                    path,
                    None,
                    Some("name"),
                    format!(
                        "MFE `{}` is already described in {first}: describe each MFE in one file",
                        mfe.name
                    ),
                ));
                continue;
            }
            mfe_files.insert(mfe.name.clone(), path.as_str());
            mfes.insert(mfe.name.clone(), mfe);
        }
        let mut deployments = BTreeMap::new();
        for (path, kind, parts) in &readable {
            if let (Kind::Deployment, [_, env, file]) = (kind, parts.as_slice())
                && let Some(stem) = file.strip_suffix(".json")
                && let Some(d) = load_deployment(
                    path,
                    (env, stem),
                    &files[*path],
                    config.as_ref(),
                    &mfes,
                    &mut problems,
                )
            {
                // The key is the file's path: a loaded file's environment and MFE equal it.
                deployments.insert((d.environment.clone(), d.mfe.clone()), d);
            }
        }
        match config {
            Some(config) if problems.is_empty() => Ok(Repository {
                config,
                mfes,
                deployments,
            }),
            _ => Err(problems),
        }
    }

    /// The environment called exactly `name` (see [`GitopsConfig::environment`]).
    pub fn environment(&self, name: &EnvironmentName) -> Option<&Environment> {
        self.config.environment(name)
    }

    /// The desired state of (environment, MFE), if any.
    pub fn deployment(&self, environment: &EnvironmentName, mfe: &MfeName) -> Option<&Deployment> {
        self.deployments.get(&(environment.clone(), mfe.clone()))
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

/// The problems of one file, each located in its text.
struct Reporter<'a> {
    path: &'a str,
    text: &'a str,
    problems: &'a mut Vec<ConfigProblem>,
    before: usize,
}

impl<'a> Reporter<'a> {
    fn new(path: &'a str, text: &'a str, problems: &'a mut Vec<ConfigProblem>) -> Self {
        let before = problems.len();
        Reporter {
            path,
            text,
            problems,
            before,
        }
    }

    /// Reports `message` about `field` (`environments[0].name`), on the line of the field's key
    /// (its last segment, without index) holding `value` when given. `value` only locates the
    /// line; it is never shown.
    fn report(&mut self, field: &str, value: Option<&str>, message: impl Into<String>) {
        let last = field.rsplit('.').next().unwrap_or(field);
        let key = last.split('[').next().unwrap_or(last);
        self.problems.push(problem(
            self.path,
            locate(self.text, key, value),
            Some(field),
            message,
        ));
    }

    /// `value` parsed by its type's own rule, or `None` once the rule's message (redacted) is
    /// reported for `field`.
    fn parse<T>(
        &mut self,
        field: &str,
        value: &str,
        parse: fn(&str) -> Result<T, em::FieldError>,
    ) -> Option<T> {
        match parse(value) {
            Ok(parsed) => Some(parsed),
            Err(e) => {
                self.report(field, Some(value), redact(&e.message));
                None
            }
        }
    }

    /// Whether nothing was reported.
    fn clean(&self) -> bool {
        self.problems.len() == self.before
    }
}

/// ` (names are case-sensitive: did you mean `Prod`?)` when one of `declared` equals `name`
/// ignoring case, else nothing.
fn case_hint<'n>(declared: impl IntoIterator<Item = &'n str>, name: &str) -> String {
    match declared.into_iter().find(|d| d.eq_ignore_ascii_case(name)) {
        Some(d) => format!(" (names are case-sensitive: did you mean {}?)", shown(d)),
        None => String::new(),
    }
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
    let raw: RawGitopsConfig = parse_yaml(CONFIG_FILE, bytes, problems)?;
    let text = String::from_utf8_lossy(bytes);
    let mut at = Reporter::new(CONFIG_FILE, &text, problems);
    if raw.version != 1 {
        at.report(
            "version",
            None,
            format!(
                "unsupported version {}; this tool reads version 1",
                raw.version
            ),
        );
    }
    if raw.environments.is_empty() {
        at.report("environments", None, "at least one environment is required");
    }
    let mut seen = BTreeSet::new();
    // The parsed `name` and `requires` of each environment (`None`: reported).
    let mut parsed: Vec<(Option<EnvironmentName>, Option<Option<EnvironmentName>>)> = Vec::new();
    for (i, env) in raw.environments.iter().enumerate() {
        let field = |f: &str| format!("environments[{i}].{f}");
        let name = at.parse(&field("name"), &env.name, EnvironmentName::parse);
        if !seen.insert(env.name.to_ascii_lowercase()) {
            at.report(
                &field("name"),
                Some(&env.name),
                format!(
                    "environment {} is declared twice (names are compared ignoring case)",
                    shown(&env.name)
                ),
            );
        }
        match url::Url::parse(&env.public_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => at.report(
                &field("public_url"),
                Some(&env.public_url),
                "not an http(s) URL",
            ),
        }
        let requires = match &env.requires {
            None => Some(None),
            Some(text) => {
                let required = at.parse(&field("requires"), text, EnvironmentName::parse);
                let earlier = || parsed.iter().filter_map(|(n, _)| n.as_ref());
                if let Some(required) = &required
                    && !earlier().any(|e| e == required)
                {
                    at.report(
                        &field("requires"),
                        Some(text),
                        format!(
                            "`requires` names {}, which must be an environment declared before {}{}",
                            shown(text),
                            shown(&env.name),
                            case_hint(earlier().map(EnvironmentName::as_str), text)
                        ),
                    );
                }
                required.map(Some)
            }
        };
        for (j, window) in env.freeze.iter().enumerate() {
            if window.from >= window.until {
                at.report(
                    &format!("environments[{i}].freeze[{j}]"),
                    None,
                    "a freeze window must end (`until`) after it starts (`from`)",
                );
            }
        }
        parsed.push((name, requires));
    }
    for (field, value, message) in check_targets(&raw.environments, options) {
        at.report(&field, Some(value), message);
    }
    if !at.clean() {
        return None;
    }
    // Nothing was reported, so every name parsed.
    let environments = raw
        .environments
        .into_iter()
        .zip(parsed)
        .map(|(env, (name, requires))| {
            let RawEnvironment {
                name: _,
                storage,
                registry,
                cdn,
                public_url,
                requires: _,
                approval,
                freeze,
                allow_pin_override,
                batch,
            } = env;
            Some(Environment {
                name: name?,
                storage,
                registry,
                cdn,
                public_url,
                requires: requires?,
                approval,
                freeze,
                allow_pin_override,
                batch,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(GitopsConfig {
        version: raw.version,
        environments,
        merge_method: raw.merge_method,
        local_test: raw.local_test,
    })
}

fn load_mfe(
    path: &str,
    file: &str,
    bytes: &[u8],
    config: Option<&GitopsConfig>,
    problems: &mut Vec<ConfigProblem>,
) -> Option<MfeConfig> {
    let raw: RawMfeConfig = parse_yaml(path, bytes, problems)?;
    let text = String::from_utf8_lossy(bytes);
    let mut at = Reporter::new(path, &text, problems);
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    let name = at.parse("name", &raw.name, MfeName::parse);
    if let Some(name) = &name
        && name.as_str() != stem
    {
        at.report(
            "name",
            Some(&raw.name),
            format!(
                "the MFE {} must be described in mfes/<name>.yaml, the file named after it",
                shown(name.as_str())
            ),
        );
    }
    let repository = at.parse("repository", &raw.repository, RepositoryName::parse);
    if !raw.artifact.contains("{version}") {
        at.report(
            "artifact",
            Some(&raw.artifact),
            "the artifact location must contain `{version}`",
        );
    }
    if raw.environments.is_empty() {
        at.report(
            "environments",
            None,
            "list at least one environment this MFE may be deployed to",
        );
    }
    let mut environments = Vec::new();
    for (i, env) in raw.environments.iter().enumerate() {
        let field = format!("environments[{i}]");
        let Some(parsed) = at.parse(&field, env, EnvironmentName::parse) else {
            continue;
        };
        if let Some(config) = config
            && config.environment(&parsed).is_none()
        {
            at.report(
                &field,
                Some(env),
                format!(
                    "environment {} is not declared in gitops.yaml{}",
                    shown(env),
                    case_hint(config.environments.iter().map(|e| e.name.as_str()), env)
                ),
            );
        }
        if environments.contains(&parsed) {
            at.report(
                &field,
                Some(env),
                format!("environment {} is listed twice", shown(env)),
            );
        }
        environments.push(parsed);
    }
    for (i, entry) in raw.entry_points.iter().enumerate() {
        let bad = entry.is_empty()
            || entry.starts_with('/')
            || entry.contains(['*', '?', '#', '\\'])
            || entry.chars().any(char::is_whitespace)
            || entry
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..");
        if bad {
            at.report(
                &format!("entry_points[{i}]"),
                Some(entry),
                "not a relative file path inside the artifact",
            );
        }
    }
    for (i, owner) in raw.owners.iter().enumerate() {
        if owner.trim().is_empty() {
            at.report(&format!("owners[{i}]"), None, "an owner cannot be empty");
        }
    }
    let limits = raw
        .limits
        .as_ref()
        .map(|limits| load_limits(limits, &mut at))
        .unwrap_or_default();
    if !at.clean() {
        return None;
    }
    let RawMfeConfig {
        name: _,
        repository: _,
        artifact,
        environments: _,
        entry_points,
        owners,
        limits: _,
    } = raw;
    // Nothing was reported, so every name parsed.
    Some(MfeConfig {
        name: name?,
        repository: repository?,
        artifact,
        environments,
        entry_points,
        owners,
        limits,
    })
}

/// An MFE's `limits:`, each value checked by its kind ([`crate::limits`]); a bad one is
/// reported on its own line (and left unset: the file is refused anyway).
fn load_limits(raw: &RawArchiveLimits, at: &mut Reporter<'_>) -> ArchiveLimits {
    let RawArchiveLimits {
        max_archive_bytes,
        max_total_bytes,
        max_files,
        max_ratio,
    } = raw;
    let mut check = |key: &str, kind: LimitKind, value: &Option<serde_yaml_ng::Value>| {
        let value = value.as_ref()?;
        let written = Written::from(value);
        match crate::limits::check(kind, written) {
            Ok(parsed) => Some(parsed),
            Err(message) => {
                let shown = match written {
                    Written::Text(text) => Some(text),
                    _ => None,
                };
                at.report(&format!("limits.{key}"), shown, message);
                None
            }
        }
    };
    ArchiveLimits {
        max_archive_bytes: check("max_archive_bytes", LimitKind::Bytes, max_archive_bytes),
        max_total_bytes: check("max_total_bytes", LimitKind::Bytes, max_total_bytes),
        max_files: check("max_files", LimitKind::Files, max_files),
        max_ratio: check("max_ratio", LimitKind::Ratio, max_ratio),
    }
}

/// Loads `deployments/<env>/<stem>.json` (`place` is `(env, stem)`): every field parsed by its
/// type, the file's MFE and environment equal to its path, declared, registered and allowed, and
/// its CDN keys under the MFE's prefix.
fn load_deployment(
    path: &str,
    place: (&str, &str),
    bytes: &[u8],
    config: Option<&GitopsConfig>,
    mfes: &BTreeMap<MfeName, MfeConfig>,
    problems: &mut Vec<ConfigProblem>,
) -> Option<Deployment> {
    let (env, stem) = place;
    let raw: RawDeployment = parse_json(path, bytes, problems)?;
    let text = String::from_utf8_lossy(bytes);
    let mut at = Reporter::new(path, &text, problems);
    let mfe = at.parse("mfe", &raw.mfe, MfeName::parse);
    if let Some(mfe) = &mfe
        && mfe.as_str() != stem
    {
        at.report(
            "mfe",
            None,
            format!(
                "{} does not match the file name {}",
                shown(mfe.as_str()),
                shown(&format!("{stem}.json"))
            ),
        );
    }
    let environment = at.parse("environment", &raw.environment, EnvironmentName::parse);
    if let Some(environment) = &environment
        && environment.as_str() != env
    {
        at.report(
            "environment",
            None,
            format!(
                "{} does not match the directory {}",
                shown(environment.as_str()),
                shown(&format!("deployments/{env}/"))
            ),
        );
    }
    // The directory names the environment, whatever the file says.
    match (EnvironmentName::parse(env), config) {
        (Err(_), _) => at.report(
            "environment",
            None,
            format!(
                "the directory {} is not named after an environment",
                shown(&format!("deployments/{env}/"))
            ),
        ),
        (Ok(declared), Some(config)) if config.environment(&declared).is_none() => at.report(
            "environment",
            None,
            format!(
                "environment `{declared}` is not declared in gitops.yaml{}",
                case_hint(config.environments.iter().map(|e| e.name.as_str()), env)
            ),
        ),
        (Ok(_), _) => {}
    }
    if let Some(mfe) = &mfe {
        match mfes.get(mfe) {
            None => at.report(
                "mfe",
                None,
                format!("MFE {} has no file under mfes/", shown(mfe.as_str())),
            ),
            Some(registered) if !registered.environments.iter().any(|e| e.as_str() == env) => {
                at.report(
                    "environment",
                    None,
                    format!(
                        "MFE `{mfe}` may not be deployed to {} (see mfes/{mfe}.yaml)",
                        shown(env)
                    ),
                );
            }
            Some(_) => {}
        }
    }
    let version = at.parse("version", &raw.version, Version::parse);
    let sha = at.parse("sha", &raw.sha, CommitSha::parse);
    let git_ref = at.parse("ref", &raw.git_ref, GitRef::parse);
    let repository = at.parse("repository", &raw.repository, RepositoryName::parse);
    let requested_by = at.parse("requested_by", &raw.requested_by, Login::parse);
    let request_id = at.parse("request_id", &raw.request_id, RequestId::parse);
    let prefix = format!("/mfe/{stem}/");
    let mut cache_invalidation_keys = Vec::new();
    for (i, key) in raw.cache_invalidation_keys.iter().enumerate() {
        let field = format!("cache_invalidation_keys[{i}]");
        let Some(parsed) = at.parse(&field, key, CdnPath::parse) else {
            continue;
        };
        if !crate::policy::within_prefix(parsed.as_str(), &prefix) {
            at.report(
                &field,
                Some(key),
                format!("a CDN path is outside this MFE's prefix {}", shown(&prefix)),
            );
        }
        cache_invalidation_keys.push(parsed);
    }
    let pinned = raw.pinned.as_ref().and_then(|pin| {
        let by = at.parse("pinned.by", &pin.by, Login::parse);
        let when =
            OffsetDateTime::parse(&pin.at, &time::format_description::well_known::Rfc3339).ok();
        if when.is_none() {
            at.report("pinned.at", Some(&pin.at), "not an RFC 3339 time");
        }
        Some(Pin {
            by: by?,
            at: when?,
            reason: pin.reason.clone(),
        })
    });
    if !at.clean() {
        return None;
    }
    let RawDeployment {
        mfe: _,
        environment: _,
        version: _,
        sha: _,
        git_ref: _,
        repository: _,
        requested_by: _,
        requested_at,
        request_id: _,
        rollback,
        cache_invalidation_keys: _,
        pinned: _,
        sequence,
    } = raw;
    // Nothing was reported, so every field parsed.
    Some(Deployment {
        mfe: mfe?,
        environment: environment?,
        version: version?,
        sha: sha?,
        git_ref: git_ref?,
        repository: repository?,
        requested_by: requested_by?,
        requested_at,
        request_id: request_id?,
        rollback,
        cache_invalidation_keys,
        pinned,
        sequence,
    })
}
