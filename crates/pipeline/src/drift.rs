//! Three-way drift (issue 17): for every (environment, MFE) pair, desired (git), live (the
//! registry) and served (storage: the version prefix against the artifact's file list, the
//! entry-point aliases, the import map) compared; each disagreement is a [`DriftFinding`] with its
//! [`DriftKind`], a one-line explanation and the command that repairs it.
//!
//! The core is pure: [`classify`] turns one pair's observed [`PairFacts`] into findings. The
//! effects are [`drift`]: observe every pair of the selected environments (the union of desired
//! states, live entries, MFE directories in storage and import-map keys), classify, and with
//! [`DriftOptions::repair`] re-publish what belongs to the LIVE version (missing files from the
//! verified artifact, aliases, the import-map entry, the pending CDN invalidation), then observe
//! again. A repair never changes a desired or live version, never deletes, and never moves a
//! pointer to any version but the live one.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use gitops_artifact_store::{self as store, AliasState};
use gitops_db_registry::Entry;
use gitops_event_model::{EnvironmentName, MfeName, Version};
use gitops_iac_config::{Deployment, Environment, MfeConfig, Repository};
use serde::Serialize;

use crate::{Backends, Error, ErrorClass, Targets};

mod repair;

use repair::{RepairJob, repair_pair};

/// What kind of disagreement a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriftKind {
    /// A desired version is not live: no entry, or the live entry is older in git order than the
    /// desired state.
    NotDeployed,
    /// The registry holds what git does not desire: an entry newer than the desired state, or
    /// one with no desired state at all.
    RegistryAhead,
    /// The live deploy's CDN invalidation was never confirmed.
    CdnPending,
    /// The live version's prefix lacks files of the artifact's file list.
    FilesMissing,
    /// An entry-point alias is missing or does not hold the live version's bytes.
    AliasStale,
    /// The import map's entry for the MFE is missing or does not point at the live version.
    ImportmapStale,
    /// An MFE directory (or import-map key) in storage that no `mfes/<name>.yaml` registers and
    /// the registry does not know.
    UnknownInStorage,
}

impl DriftKind {
    /// The kind as JSON and the table write it (`not-deployed`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            DriftKind::NotDeployed => "not-deployed",
            DriftKind::RegistryAhead => "registry-ahead",
            DriftKind::CdnPending => "cdn-pending",
            DriftKind::FilesMissing => "files-missing",
            DriftKind::AliasStale => "alias-stale",
            DriftKind::ImportmapStale => "importmap-stale",
            DriftKind::UnknownInStorage => "unknown-in-storage",
        }
    }
}

impl std::fmt::Display for DriftKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One disagreement of one pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftFinding {
    /// Its kind.
    pub kind: DriftKind,
    /// What disagrees with what, in one line.
    pub detail: String,
    /// The command (or the manual step) that repairs it.
    pub repair: String,
    /// Whether `gitops drift --repair` repairs it.
    pub repairable: bool,
}

/// The desired state of a pair as git orders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredFact {
    /// The desired version.
    pub version: Version,
    /// Its git order: the first-parent position of the commit that last changed its file (the
    /// sequence its deploy commits under).
    pub position: u64,
}

/// The live registry entry of a pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveFact {
    /// The live version.
    pub version: Version,
    /// Its sequence (the git position of the desired state it was deployed from).
    pub sequence: u64,
    /// The reference of its CDN invalidation still unconfirmed, if any.
    pub pending_invalidation: Option<String>,
}

impl LiveFact {
    /// The facts of a registry entry.
    pub fn of(entry: &Entry) -> Self {
        LiveFact {
            version: entry.version.clone(),
            sequence: entry.sequence,
            pending_invalidation: entry.invalidation.as_ref().map(|i| i.reference.clone()),
        }
    }
}

/// The live version's prefix against its artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesFact {
    /// The artifact's files (paths relative to the version prefix).
    pub expected: BTreeSet<String>,
    /// What the prefix `mfe/<name>/<live>/` holds.
    pub listed: BTreeSet<String>,
}

/// What the import map says of the MFE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportMapFact {
    /// Not looked at (an MFE without entry points has no import-map entry).
    NotChecked,
    /// The URL of its entry, if it has one.
    Entry(Option<String>),
    /// The import map is not a valid import map (why).
    Unreadable(String),
}

/// Everything observed of one pair: what [`classify`] judges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairFacts {
    /// The environment.
    pub environment: EnvironmentName,
    /// The MFE.
    pub mfe: MfeName,
    /// Whether `mfes/<name>.yaml` registers it.
    pub registered: bool,
    /// The desired state, if any.
    pub desired: Option<DesiredFact>,
    /// The live entry, if any.
    pub live: Option<LiveFact>,
    /// Whether storage holds objects under `mfe/<name>/`.
    pub in_storage: bool,
    /// The live version's files, when they were compared.
    pub files: Option<FilesFact>,
    /// Each entry point's alias against the live version.
    pub aliases: Vec<(String, AliasState)>,
    /// The import map's entry.
    pub import_map: ImportMapFact,
    /// The URL the import map must hold for the live version (its first entry point).
    pub expected_url: Option<String>,
}

/// At most this many paths are named in a `files-missing` detail.
const NAMED_PATHS: usize = 5;

/// The findings of one pair, in a fixed order: git against the registry, the CDN, then what
/// storage serves of the live version (files, aliases, import map), then unknown objects.
/// Served state is judged against the LIVE version only (what a repair may re-publish).
pub fn classify(facts: &PairFacts) -> Vec<DriftFinding> {
    let (env, mfe) = (&facts.environment, &facts.mfe);
    let mut out = Vec::new();
    let mut push = |kind, detail: String, repair: String, repairable| {
        out.push(DriftFinding {
            kind,
            detail,
            repair,
            repairable,
        });
    };
    let repair = format!("gitops drift --env {env} --repair");
    let deploy = format!("gitops deploy --env {env} --mfe {mfe}");

    if !facts.registered && facts.desired.is_none() && facts.live.is_none() {
        let manual = |what: &str| {
            format!("manual (drift never deletes): {what}, or register {mfe} in mfes/{mfe}.yaml")
        };
        if facts.in_storage {
            push(
                DriftKind::UnknownInStorage,
                format!(
                    "mfe/{mfe}/ is in {env}'s storage, but no mfes/{mfe}.yaml registers {mfe} and the registry has no entry for it"
                ),
                manual(&format!(
                    "delete the objects under mfe/{mfe}/ in {env}'s storage"
                )),
                false,
            );
        }
        if let ImportMapFact::Entry(Some(url)) = &facts.import_map {
            push(
                DriftKind::UnknownInStorage,
                format!(
                    "importmap.json serves `{mfe}` ({url}), but no mfes/{mfe}.yaml registers it and the registry has no entry for it"
                ),
                manual(&format!("remove the `{mfe}` key of {env}'s importmap.json")),
                false,
            );
        }
        return out;
    }

    match (&facts.desired, &facts.live) {
        (Some(d), None) => push(
            DriftKind::NotDeployed,
            format!(
                "desired {} is not live: the registry has no entry",
                d.version
            ),
            deploy.clone(),
            false,
        ),
        // The desired version is live from an earlier position (a later commit changed only
        // its pin or rollback flag): the deploy has nothing to do (`deploy::decide`), so
        // neither has drift.
        (Some(d), Some(l)) if l.sequence < d.position && l.version != d.version => push(
            DriftKind::NotDeployed,
            format!(
                "desired {} is not live: the registry has {} from an older desired state (sequence {} < git position {})",
                d.version, l.version, l.sequence, d.position
            ),
            deploy.clone(),
            false,
        ),
        (Some(d), Some(l)) if l.sequence > d.position || l.version != d.version => {
            let detail = if l.sequence > d.position {
                format!(
                    "the registry has {} at sequence {}, newer than the desired state ({} at git position {}): written out of band, or git was rewound",
                    l.version, l.sequence, d.version, d.position
                )
            } else {
                format!(
                    "the registry has {} at the desired state's own git position {}, but git says {}: written out of band",
                    l.version, d.position, d.version
                )
            };
            push(
                DriftKind::RegistryAhead,
                detail,
                format!(
                    "none automatic (drift never changes live): a pull request that makes git say what runs: deployments/{env}/{mfe}.json set to {} keeps it; to return to {}, commit its desired state anew (its git position must pass sequence {}) and run `{deploy}`",
                    l.version, d.version, l.sequence
                ),
                false,
            );
        }
        (None, Some(l)) => push(
            DriftKind::RegistryAhead,
            format!(
                "the registry has {} live, but git desires nothing (there is no deployments/{env}/{mfe}.json)",
                l.version
            ),
            format!(
                "none automatic (drift never changes live): a pull request adding deployments/{env}/{mfe}.json{} for the version that should run ({} keeps it)",
                if facts.registered {
                    String::new()
                } else {
                    format!(" and mfes/{mfe}.yaml")
                },
                l.version
            ),
            false,
        ),
        _ => {}
    }

    let Some(live) = &facts.live else {
        // Nothing is live, yet the import map serves something: no live version to point at.
        if let ImportMapFact::Entry(Some(url)) = &facts.import_map {
            push(
                DriftKind::ImportmapStale,
                format!("importmap.json points `{mfe}` at {url}, but nothing is live"),
                if facts.desired.is_some() {
                    deploy
                } else {
                    format!(
                        "manual (drift never deletes): remove the `{mfe}` key of {env}'s importmap.json"
                    )
                },
                false,
            );
        }
        return out;
    };
    if let Some(reference) = &live.pending_invalidation {
        push(
            DriftKind::CdnPending,
            format!(
                "the CDN never confirmed the invalidation {reference} of the live deploy of {}",
                live.version
            ),
            repair.clone(),
            true,
        );
    }
    if let Some(files) = &facts.files {
        let missing: Vec<&String> = files.expected.difference(&files.listed).collect();
        if !missing.is_empty() {
            let mut detail = format!(
                "mfe/{mfe}/{}/ lacks {} of the artifact's {} files: ",
                live.version,
                missing.len(),
                files.expected.len()
            );
            let named: Vec<&str> = missing
                .iter()
                .take(NAMED_PATHS)
                .map(|p| p.as_str())
                .collect();
            detail.push_str(&named.join(", "));
            if missing.len() > NAMED_PATHS {
                let _ = write!(detail, " (and {} more)", missing.len() - NAMED_PATHS);
            }
            push(DriftKind::FilesMissing, detail, repair.clone(), true);
        }
    }
    for (entry, state) in &facts.aliases {
        let rel = entry.trim_start_matches('/');
        let detail = match state {
            AliasState::Missing => format!(
                "the alias mfe/{mfe}/{rel} is missing (it must be a copy of mfe/{mfe}/{}/{rel})",
                live.version
            ),
            AliasState::Differs => format!(
                "the alias mfe/{mfe}/{rel} does not hold the bytes of the live mfe/{mfe}/{}/{rel}",
                live.version
            ),
            // Current; or not comparable while the version's own file is missing (files-missing).
            AliasState::Current | AliasState::SourceMissing => continue,
        };
        push(DriftKind::AliasStale, detail, repair.clone(), true);
    }
    match &facts.import_map {
        ImportMapFact::Entry(url) if url.as_ref() != facts.expected_url.as_ref() => {
            let Some(expected) = &facts.expected_url else {
                return out;
            };
            let detail = match url {
                None => format!(
                    "importmap.json has no entry for `{mfe}`; the live {} is {expected}",
                    live.version
                ),
                Some(url) => format!(
                    "importmap.json points `{mfe}` at {url}, not at the live {}: {expected}",
                    live.version
                ),
            };
            push(DriftKind::ImportmapStale, detail, repair, true);
        }
        ImportMapFact::Unreadable(reason) => push(
            DriftKind::ImportmapStale,
            format!("importmap.json cannot be read: {reason}"),
            format!(
                "manual: restore {env}'s importmap.json to a valid import map, then `{repair}`"
            ),
            false,
        ),
        _ => {}
    }
    out
}

/// Options of a drift run.
#[derive(Debug, Clone, Default)]
pub struct DriftOptions {
    /// Only this environment.
    pub environment: Option<EnvironmentName>,
    /// The git order of the desired-state files (`gitops_gh_pr::desired_revisions`), as the
    /// deploy reads it; without it, the files' own `sequence` orders them (tools and tests
    /// only: `gitops drift` always passes it).
    pub revisions: Option<gitops_gh_pr::Revisions>,
    /// Archive bounds: the deploy's (each MFE's `limits:` over them, as the deploy applies them).
    pub limits: store::Limits,
    /// Re-publish what belongs to the live version, then check again.
    pub repair: bool,
}

impl DriftOptions {
    /// The git order of `desired`, as the deploy computes it.
    fn position_of(&self, desired: &Deployment) -> Result<u64, Error> {
        crate::deploy::git_position(self.revisions.as_ref(), desired)
    }
}

/// One pair as drift reports it (`gitops drift --format json` prints a list of these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairDrift {
    /// The environment.
    pub environment: EnvironmentName,
    /// The MFE.
    pub mfe: MfeName,
    /// The desired version (git), if any.
    pub desired: Option<Version>,
    /// The live version (registry), if any.
    pub live: Option<Version>,
    /// The version the import map serves (for an MFE without entry points: the live one).
    pub served: Option<Version>,
    /// No finding and no error.
    pub in_sync: bool,
    /// Every disagreement found.
    pub findings: Vec<DriftFinding>,
    /// What `--repair` did for the pair (empty without `--repair`).
    pub repaired: Vec<String>,
    /// Why the pair (or its environment) could not be checked whole, if so.
    pub error: Option<String>,
    /// The class of that error.
    pub error_class: Option<ErrorClass>,
}

/// Every pair of the selected environments, in environment order then MFE.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DriftReport {
    /// The pairs.
    pub pairs: Vec<PairDrift>,
}

impl DriftReport {
    /// The failure to report: an error's class when a pair could not be checked (configuration
    /// first, then an outside failure, then a refusal), else a refusal (drift, exit 1) when a
    /// finding remains, else `None` (in sync).
    pub fn class(&self) -> Option<ErrorClass> {
        let errors: Vec<ErrorClass> = self.pairs.iter().filter_map(|p| p.error_class).collect();
        if errors.contains(&ErrorClass::Config) {
            Some(ErrorClass::Config)
        } else if errors.contains(&ErrorClass::Retryable) {
            Some(ErrorClass::Retryable)
        } else if !errors.is_empty() || self.pairs.iter().any(|p| !p.findings.is_empty()) {
            Some(ErrorClass::Refused)
        } else {
            None
        }
    }
}

/// Why something could not be checked or repaired: an error's message and class, kept so one
/// artifact's failure is reported for every pair that needs it without fetching it again.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Failure {
    message: String,
    class: ErrorClass,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure {
            class: error.class(),
            message: error.to_string(),
        }
    }
}

impl From<store::Error> for Failure {
    fn from(error: store::Error) -> Self {
        Error::from(error).into()
    }
}

/// The artifacts' file lists of this run, by (MFE, version): each artifact is fetched, verified
/// and unpacked once however many environments run the version.
type ExpectedFiles = BTreeMap<(MfeName, Version), Result<BTreeSet<String>, Failure>>;

/// Checks every pair of the selected environments; with [`DriftOptions::repair`], repairs what
/// belongs to each live version and returns the check that follows, each pair carrying what was
/// repaired (and a repair's failure as its error when the check itself found none).
///
/// # Errors
/// None today: an environment or pair that cannot be read is reported in its rows.
pub async fn drift(
    repository: &Repository,
    backends: &dyn Backends,
    options: &DriftOptions,
) -> Result<DriftReport, Error> {
    let mut expected = ExpectedFiles::new();
    let report = check(repository, backends, options, &mut expected).await;
    if !options.repair {
        return Ok(report);
    }
    let mut done: BTreeMap<(EnvironmentName, MfeName), (Vec<String>, Option<Failure>)> =
        BTreeMap::new();
    for environment in selected(repository, options) {
        let pairs: Vec<&PairDrift> = report
            .pairs
            .iter()
            .filter(|p| p.environment == environment.name)
            .filter(|p| p.findings.iter().any(|f| f.repairable))
            .collect();
        if pairs.is_empty() {
            continue;
        }
        let targets = match backends.targets(environment).await {
            Ok(targets) => targets,
            Err(error) => {
                let failure = Failure::from(error);
                for pair in pairs {
                    done.insert(
                        (pair.environment.clone(), pair.mfe.clone()),
                        (Vec::new(), Some(failure.clone())),
                    );
                }
                continue;
            }
        };
        for pair in pairs {
            let Some(mfe) = repository.mfes.get(&pair.mfe) else {
                continue;
            };
            let job = RepairJob {
                environment,
                mfe,
                targets: &targets,
                backends,
                options,
            };
            let mut notes = Vec::new();
            let failure = repair_pair(&job, pair, &mut notes).await.err();
            if let Some(failure) = &failure {
                tracing::warn!(environment = %environment.name, mfe = %mfe.name, error = %failure.message, "repair failed");
                notes.push(format!("repair failed: {}", failure.message));
            }
            done.insert(
                (pair.environment.clone(), pair.mfe.clone()),
                (notes, failure),
            );
        }
    }
    let mut after = check(repository, backends, options, &mut expected).await;
    for pair in &mut after.pairs {
        if let Some((notes, failure)) = done.remove(&(pair.environment.clone(), pair.mfe.clone())) {
            pair.repaired = notes;
            if pair.error.is_none()
                && let Some(failure) = failure
            {
                pair.error = Some(format!("repair failed: {}", failure.message));
                pair.error_class = Some(failure.class);
                pair.in_sync = false;
            }
        }
    }
    Ok(after)
}

fn selected<'a>(
    repository: &'a Repository,
    options: &'a DriftOptions,
) -> impl Iterator<Item = &'a Environment> {
    repository
        .config
        .environments
        .iter()
        .filter(|env| options.environment.as_ref().is_none_or(|e| *e == env.name))
}

async fn check(
    repository: &Repository,
    backends: &dyn Backends,
    options: &DriftOptions,
    expected: &mut ExpectedFiles,
) -> DriftReport {
    let mut report = DriftReport::default();
    for environment in selected(repository, options) {
        match check_environment(repository, backends, options, environment, expected).await {
            Ok(mut pairs) => report.pairs.append(&mut pairs),
            Err(error) => {
                tracing::warn!(environment = %environment.name, %error, "cannot read the environment");
                report
                    .pairs
                    .extend(unreadable(repository, environment, &Failure::from(error)));
            }
        }
    }
    report
}

/// The rows of an environment that cannot be read: every pair desired there or registered for
/// it, each with the error. Its class is configuration or, whatever else went wrong (a target
/// unreachable, refusing, or holding data we cannot read), an outside failure: exit 3, as
/// `gitops status` reports it.
fn unreadable(
    repository: &Repository,
    environment: &Environment,
    failure: &Failure,
) -> Vec<PairDrift> {
    let class = match failure.class {
        ErrorClass::Config => ErrorClass::Config,
        ErrorClass::Retryable | ErrorClass::Refused => ErrorClass::Retryable,
    };
    let names: BTreeSet<&MfeName> = repository
        .deployments
        .keys()
        .filter(|(e, _)| *e == environment.name)
        .map(|(_, m)| m)
        .chain(
            repository
                .mfes
                .values()
                .filter(|m| m.environments.contains(&environment.name))
                .map(|m| &m.name),
        )
        .collect();
    names
        .into_iter()
        .map(|mfe| PairDrift {
            environment: environment.name.clone(),
            mfe: mfe.clone(),
            desired: repository
                .deployment(&environment.name, mfe)
                .map(|d| d.version.clone()),
            live: None,
            served: None,
            in_sync: false,
            findings: Vec::new(),
            repaired: Vec::new(),
            error: Some(failure.message.clone()),
            error_class: Some(class),
        })
        .collect()
}

/// What one environment holds, read once for all its pairs.
struct Observed {
    targets: Targets,
    live: BTreeMap<MfeName, Entry>,
    stored: BTreeSet<MfeName>,
    /// The import map's entries, or why it is not a valid import map.
    imports: Result<BTreeMap<MfeName, String>, String>,
}

async fn check_environment(
    repository: &Repository,
    backends: &dyn Backends,
    options: &DriftOptions,
    environment: &Environment,
    expected: &mut ExpectedFiles,
) -> Result<Vec<PairDrift>, Error> {
    let targets = backends.targets(environment).await?;
    let live: BTreeMap<MfeName, Entry> = targets
        .registry
        .list(&environment.name)
        .await?
        .into_iter()
        .map(|e| (e.mfe.clone(), e))
        .collect();
    let stored = store::stored_mfes(targets.storage.as_ref()).await?;
    // A corrupt import map is drift of every pair (reported, repaired by hand); an unreachable
    // one means the environment cannot be read.
    let imports = match store::served_imports(targets.storage.as_ref()).await {
        Ok(imports) => Ok(imports),
        Err(e) if e.is_retryable() || e.is_config() => return Err(e.into()),
        Err(e) => Err(e.to_string()),
    };
    let observed = Observed {
        targets,
        live,
        stored,
        imports,
    };
    let names: BTreeSet<MfeName> = repository
        .deployments
        .keys()
        .filter(|(e, _)| *e == environment.name)
        .map(|(_, m)| m.clone())
        .chain(observed.live.keys().cloned())
        .chain(observed.stored.iter().cloned())
        .chain(
            observed
                .imports
                .iter()
                .flat_map(|imports| imports.keys().cloned()),
        )
        .collect();
    let mut pairs = Vec::with_capacity(names.len());
    for mfe in &names {
        let pair = check_pair(
            repository,
            backends,
            options,
            environment,
            &observed,
            mfe,
            expected,
        )
        .await;
        pairs.push(pair);
    }
    Ok(pairs)
}

async fn check_pair(
    repository: &Repository,
    backends: &dyn Backends,
    options: &DriftOptions,
    environment: &Environment,
    observed: &Observed,
    mfe: &MfeName,
    expected: &mut ExpectedFiles,
) -> PairDrift {
    let config = repository.mfes.get(mfe);
    let entry = observed.live.get(mfe);
    let deployment = repository.deployment(&environment.name, mfe);
    let mut pair = PairDrift {
        environment: environment.name.clone(),
        mfe: mfe.clone(),
        desired: deployment.map(|d| d.version.clone()),
        live: entry.map(|e| e.version.clone()),
        served: None,
        in_sync: false,
        findings: Vec::new(),
        repaired: Vec::new(),
        error: None,
        error_class: None,
    };
    let desired = match deployment.map(|d| options.position_of(d)).transpose() {
        Ok(position) => deployment.zip(position).map(|(d, position)| DesiredFact {
            version: d.version.clone(),
            position,
        }),
        Err(error) => {
            // Without its git order the pair cannot be judged at all.
            let failure = Failure::from(error);
            pair.error = Some(failure.message);
            pair.error_class = Some(failure.class);
            return pair;
        }
    };
    let has_pointers = config.is_some_and(|c| !c.entry_points.is_empty());
    let mut facts = PairFacts {
        environment: environment.name.clone(),
        mfe: mfe.clone(),
        registered: config.is_some(),
        desired,
        live: entry.map(LiveFact::of),
        in_storage: observed.stored.contains(mfe),
        files: None,
        aliases: Vec::new(),
        import_map: ImportMapFact::NotChecked,
        expected_url: None,
    };
    let mut failures: Vec<Failure> = Vec::new();
    if let (Some(entry), Some(config)) = (entry, config) {
        let storage = observed.targets.storage.as_ref();
        let key = (mfe.clone(), entry.version.clone());
        if !expected.contains_key(&key) {
            let files = expected_files(backends, options, config, &entry.version).await;
            expected.insert(key.clone(), files);
        }
        match expected.get(&key) {
            Some(Ok(files)) => match store::list_version(storage, mfe, &entry.version).await {
                Ok(listed) => {
                    facts.files = Some(FilesFact {
                        expected: files.clone(),
                        listed: listed.into_keys().collect(),
                    });
                }
                Err(e) => failures.push(e.into()),
            },
            Some(Err(failure)) => failures.push(failure.clone()),
            None => {}
        }
        for point in &config.entry_points {
            match store::alias_state(storage, mfe, &entry.version, point).await {
                Ok(state) => facts.aliases.push((point.clone(), state)),
                Err(e) => failures.push(e.into()),
            }
        }
        facts.expected_url = config.entry_points.first().and_then(|point| {
            store::versioned_url(&environment.public_url, mfe, &entry.version, point).ok()
        });
    }
    if has_pointers || (config.is_none() && entry.is_none()) {
        facts.import_map = match &observed.imports {
            Ok(imports) => ImportMapFact::Entry(imports.get(mfe).cloned()),
            Err(reason) => ImportMapFact::Unreadable(reason.clone()),
        };
    }
    pair.served = if has_pointers {
        observed.imports.as_ref().ok().and_then(|imports| {
            imports
                .get(mfe)
                .and_then(|url| store::version_of_url(&environment.public_url, mfe, url))
        })
    } else {
        pair.live.clone()
    };
    pair.findings = classify(&facts);
    if !failures.is_empty() {
        let worst = [
            ErrorClass::Config,
            ErrorClass::Retryable,
            ErrorClass::Refused,
        ]
        .into_iter()
        .find(|c| failures.iter().any(|f| f.class == *c))
        .unwrap_or(ErrorClass::Refused);
        let messages: Vec<&str> = failures.iter().map(|f| f.message.as_str()).collect();
        pair.error = Some(messages.join("; "));
        pair.error_class = Some(worst);
    }
    pair.in_sync = pair.findings.is_empty() && pair.error.is_none();
    pair
}

/// The file list of `mfe`'s artifact at `version`: fetched, verified against its sidecar (and
/// its provenance record against the sidecar), unpacked within the deploy's limits (the MFE's
/// `limits:` over the run's) with its entry points checked, as the deploy does before uploading.
async fn expected_files(
    backends: &dyn Backends,
    options: &DriftOptions,
    mfe: &MfeConfig,
    version: &Version,
) -> Result<BTreeSet<String>, Failure> {
    let files = verified_files(backends, options, mfe, version, None).await?;
    Ok(files.into_iter().map(|f| f.path).collect())
}

/// The artifact's files after every check the deploy makes before uploading; with `live`, its
/// provenance record (when it has one) must also name the live entry's commit and the MFE's
/// repository.
async fn verified_files(
    backends: &dyn Backends,
    options: &DriftOptions,
    mfe: &MfeConfig,
    version: &Version,
    live: Option<&Entry>,
) -> Result<Vec<store::UnpackedFile>, Error> {
    let artifact = backends.artifact(&mfe.artifact, &mfe.name, version)?;
    let limits = crate::deploy::effective_limits(&options.limits, mfe);
    let verified = store::fetch_verified(&artifact, limits.max_archive_bytes)
        .await
        .map_err(|e| crate::deploy::over_limit(e, mfe))?;
    if let (Some(provenance), Some(live)) = (&verified.provenance, live) {
        provenance.check_request(
            &verified.display,
            &mfe.name,
            version,
            &mfe.repository,
            &live.sha,
        )?;
    }
    store::unpack_verified(verified, &mfe.name, version, &limits, &mfe.entry_points)
        .await
        .map_err(|e| crate::deploy::over_limit(e, mfe))
}

impl From<gitops_db_registry::Error> for Failure {
    fn from(error: gitops_db_registry::Error) -> Self {
        Error::from(error).into()
    }
}

impl From<gitops_cdn::Error> for Failure {
    fn from(error: gitops_cdn::Error) -> Self {
        Error::from(error).into()
    }
}

#[cfg(test)]
mod tests;
