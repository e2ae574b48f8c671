//! # gitops-app
//!
//! The use-cases of the GitOps repository, as a command, a scheduled job or a GitHub App runs
//! them: open a checkout ([`Session`]), then process a request, merge deploy pull requests,
//! deploy, report status and drift, roll back, bootstrap; plus the narrated [`demo`] built from
//! the very same calls, and the text renderings of their reports ([`report`]). The `gitops`
//! binary only parses arguments, calls these, prints and maps [`Error::class`] to an exit code.
//!
//! Everything configuration-dependent comes from the checkout (`gitops.yaml`, `mfes/`,
//! `deployments/`) and the process environment through `gitops-runtime`.

pub mod cli;
pub mod demo;
pub mod drift;
pub mod metrics;
pub mod pins;
pub mod promote;
pub mod prune;
pub mod report;
pub mod serve;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gitops_event_model::{DeployRequest, EnvironmentName, MfeName, Version};
use gitops_iac_config::{ConfigProblem, Decision, LoadOptions, Repository};
use gitops_pipeline::{
    DeployOptions, DeployReport, ErrorClass, MergeOutcome, ProcessReport, StatusRow,
};
pub use gitops_runtime::ForgeChoice;
use gitops_runtime::Runtime;
use time::OffsetDateTime;

/// What a use-case failed with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The repository path is not a directory.
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// The repository's files have problems (what `gitops check` lists).
    #[error("{} problem(s) in {}", .problems.len(), .dir.display())]
    Repository {
        /// The repository.
        dir: PathBuf,
        /// Every problem, with file, line and field.
        problems: Vec<ConfigProblem>,
    },
    /// An argument, option or input file is unusable.
    #[error("{0}")]
    Usage(String),
    /// The pipeline refused or failed.
    #[error(transparent)]
    Pipeline(#[from] gitops_pipeline::Error),
}

impl Error {
    /// The class of the failure (exit 2, 3 or 1): a broken repository, usage or configuration
    /// is [`ErrorClass::Config`]; a pipeline error keeps its own class.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::NotADirectory(_) | Error::Repository { .. } | Error::Usage(_) => {
                ErrorClass::Config
            }
            Error::Pipeline(e) => e.class(),
        }
    }
}

/// How the repository's files are loaded: absolute embedded targets only when the operator
/// allows them (`GITOPS_ALLOW_ABSOLUTE_TARGETS=1`).
pub fn load_options() -> LoadOptions {
    LoadOptions {
        allow_absolute_targets: std::env::var("GITOPS_ALLOW_ABSOLUTE_TARGETS")
            .is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true")),
    }
}

/// `gitops init [--from-terraform FILE]`: the scaffold written into `dir` (with `--check`, only
/// compared), its environments and targets from Terraform's outputs when given, and then the
/// GitHub variables those outputs call for. Fails (exit 1) when `--check` finds a difference or a
/// file was not written.
pub fn init(
    dir: &Path,
    action: Option<&str>,
    from_terraform: Option<&Path>,
    check: bool,
    force: bool,
) -> Result<report::Shown, Error> {
    let usage = |e: gitops_render::Error| Error::Usage(e.to_string());
    let aws = from_terraform
        .map(gitops_render::TerraformTargets::read)
        .transpose()
        .map_err(usage)?;
    let outcome = gitops_render::init_gitops_repository(dir, action, aws.as_ref(), check, force)
        .map_err(usage)?;
    let failed = outcome.failed(check);
    let mut text = outcome.init_report(check, dir);
    if let Some(aws) = aws.filter(|_| !check && !failed) {
        text.push_str(&aws.variables());
    }
    Ok(report::Shown {
        lines: text
            .lines()
            .map(|l| report::Line::Out(l.to_owned()))
            .collect(),
        class: failed.then_some(ErrorClass::Refused),
    })
}

/// An RFC 3339 time from a command-line flag (`--at`), or why not.
///
/// # Errors
/// The value and the parser's reason.
pub fn parse_time(value: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("`{value}` is not an RFC 3339 time: {e}"))
}

/// Loads and checks the repository at `dir` (`gitops check`).
pub fn load(dir: &Path) -> Result<Repository, Error> {
    if !dir.is_dir() {
        return Err(Error::NotADirectory(dir.to_path_buf()));
    }
    Repository::load_dir_with(dir, &load_options()).map_err(|problems| Error::Repository {
        dir: dir.to_path_buf(),
        problems,
    })
}

/// Checks every file of the repository at `dir` (`gitops check`): a summary line, or one line per
/// problem (a refusal, exit 1); a missing directory is a usage error.
pub fn check(dir: &Path) -> report::Shown {
    use report::Line;
    match load(dir) {
        Ok(repository) => report::Shown {
            lines: vec![Line::Out(format!(
                "ok: {} environment(s), {} MFE(s), {} deployment(s)",
                repository.config.environments.len(),
                repository.mfes.len(),
                repository.deployments.len()
            ))],
            class: None,
        },
        Err(e) => {
            let mut lines: Vec<Line> = match &e {
                Error::Repository { problems, .. } => problems
                    .iter()
                    .map(|p| Line::Err(format!("error: {p}")))
                    .collect(),
                _ => Vec::new(),
            };
            lines.push(Line::Err(format!("error: {e}")));
            let class = if matches!(e, Error::Repository { .. }) {
                ErrorClass::Refused
            } else {
                e.class()
            };
            report::Shown {
                lines,
                class: Some(class),
            }
        }
    }
}

/// Reads a deploy request from `event` (a bare payload or a `repository_dispatch` event): at most
/// one byte more than the validator accepts, from a regular file only (a FIFO or a device would
/// block or never end), validated with the envelope's `action` required to be `event_type`. An
/// unreadable file is a usage error; an invalid request is the inner `Err`. Synchronous: call it
/// before starting an async runtime.
#[allow(clippy::disallowed_methods)] // synchronous by design, see above
pub fn read_event(
    event: Option<&Path>,
    event_type: &str,
) -> Result<Result<DeployRequest, gitops_event_model::Error>, Error> {
    let event = event.ok_or_else(|| {
        Error::Usage("no event: give --event FILE or set GITHUB_EVENT_PATH".into())
    })?;
    let unreadable =
        |e: std::io::Error| Error::Usage(format!("cannot read {}: {e}", event.display()));
    let limit = u64::try_from(gitops_event_model::MAX_INPUT_BYTES).unwrap_or(u64::MAX) + 1;
    let file = std::fs::File::open(event).map_err(unreadable)?;
    if !file.metadata().map_err(unreadable)?.is_file() {
        return Err(Error::Usage(format!(
            "cannot read {}: not a regular file",
            event.display()
        )));
    }
    let mut bytes = Vec::new();
    file.take(limit)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    Ok(gitops_event_model::validate_event(&bytes, event_type).map(|v| v.request))
}

/// The intent of a request processed with or without `--override-pin`.
fn intent(override_pin: bool) -> gitops_iac_config::Intent {
    if override_pin {
        gitops_iac_config::Intent::Override
    } else {
        gitops_iac_config::Intent::Request
    }
}

/// Evaluates `request` against the repository at `dir` as of `at`, writing nothing (`gitops
/// process --dry-run`).
pub fn dry_run(
    dir: &Path,
    request: &Result<DeployRequest, gitops_event_model::Error>,
    at: OffsetDateTime,
    override_pin: bool,
) -> Result<Decision, Error> {
    let repository = load(dir)?;
    Ok(match request {
        Ok(request) => gitops_iac_config::evaluate_with_pending(
            &repository,
            request,
            &intent(override_pin),
            at,
            None,
        ),
        Err(error) => Decision::invalid_payload(error.problems()),
    })
}

/// `--env`/`--mfe` filters, parsed and checked against the repository: a name that is not
/// declared is a usage error, so a typo never reads as "nothing to do" or "no drift".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// Only this environment.
    pub environment: Option<EnvironmentName>,
    /// Only this MFE.
    pub mfe: Option<MfeName>,
}

/// A checkout of the GitOps repository and its adapters.
#[derive(Debug)]
pub struct Session {
    dir: PathBuf,
    /// The repository's files, checked.
    pub repository: Repository,
    /// Its adapters.
    pub runtime: Runtime,
    /// Where each environment's stage events go.
    metrics: gitops_runtime::EnvironmentSinks,
}

impl Session {
    /// Loads the repository at `dir` and its adapters from the process environment (the file
    /// reads run on the blocking pool, never on the async runtime).
    pub async fn open(dir: &Path) -> Result<Self, Error> {
        let owned = dir.to_path_buf();
        let (repository, runtime, metrics) = tokio::task::spawn_blocking(move || {
            let repository = load(&owned)?;
            let runtime = Runtime::from_env(&owned)?.with_local_test(repository.config.local_test);
            let metrics = runtime.metrics_by_environment(&repository);
            Ok::<_, Error>((repository, runtime, metrics))
        })
        .await
        .map_err(|e| Error::Usage(format!("loading {} was interrupted: {e}", dir.display())))??;
        Ok(Session {
            dir: dir.to_path_buf(),
            repository,
            runtime,
            metrics,
        })
    }

    /// The repository's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Parses and checks `--env`/`--mfe`.
    pub fn filters(&self, environment: Option<&str>, mfe: Option<&str>) -> Result<Filters, Error> {
        let mut filters = Filters::default();
        if let Some(raw) = environment {
            let declared: Vec<&str> = self
                .repository
                .config
                .environments
                .iter()
                .map(|e| e.name.as_str())
                .collect();
            let name = EnvironmentName::parse(raw)
                .ok()
                .filter(|n| self.repository.environment(n).is_some())
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "environment `{raw}` is not declared in gitops.yaml (declared: {})",
                        declared.join(", ")
                    ))
                })?;
            filters.environment = Some(name);
        }
        if let Some(raw) = mfe {
            let name = MfeName::parse(raw)
                .ok()
                .filter(|n| self.repository.mfes.contains_key(n))
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "MFE `{raw}` is not registered: there is no mfes/{raw}.yaml"
                    ))
                })?;
            filters.mfe = Some(name);
        }
        Ok(filters)
    }

    /// Reconciles every selected desired pair with what is live (`gitops deploy`), in git order,
    /// telling requesters when a forge is at hand. At the end the run's stage events for S3
    /// storage are written (one object per bucket); a failed write is one warning line on the
    /// standard error stream, never a failed deploy.
    pub async fn deploy(&self, filters: &Filters) -> Result<DeployReport, Error> {
        let result = self.deploy_pairs(filters).await;
        for warning in self.runtime.flush_metrics().await.warnings {
            eprintln!("warning: {warning}");
        }
        result
    }

    async fn deploy_pairs(&self, filters: &Filters) -> Result<DeployReport, Error> {
        // Both read git (the desired states' order, the forge's remote): together, not one
        // after the other.
        let (revisions, forge) = tokio::join!(
            self.runtime.revisions(),
            self.runtime.forge(ForgeChoice::Auto)
        );
        let requester = match forge {
            Ok(handle) => Some(handle.requester),
            // In Actions a missing token fails the job (fail closed), never a silent deploy.
            Err(e) if e.is_config() && self.runtime.fails_closed() => return Err(e.into()),
            Err(e) => {
                tracing::warn!(error = %e, "requesters will not be told");
                None
            }
        };
        self.deploy_telling(filters, revisions?, requester).await
    }

    /// [`Session::deploy`] in the order `revisions` gives (read from the checkout when it was
    /// loaded), telling requesters through `requester` (App mode: the App's installations),
    /// its stage events flushed at the end.
    pub async fn deploy_with(
        &self,
        filters: &Filters,
        revisions: gitops_gh_pr::Revisions,
        requester: Arc<dyn gitops_gh_pr::Requester>,
    ) -> Result<DeployReport, Error> {
        let result = self
            .deploy_telling(filters, revisions, Some(requester))
            .await;
        for warning in self.runtime.flush_metrics().await.warnings {
            tracing::warn!(%warning, "stage events");
        }
        result
    }

    async fn deploy_telling(
        &self,
        filters: &Filters,
        revisions: gitops_gh_pr::Revisions,
        requester: Option<Arc<dyn gitops_gh_pr::Requester>>,
    ) -> Result<DeployReport, Error> {
        let options = DeployOptions {
            environment: filters.environment.clone(),
            mfe: filters.mfe.clone(),
            requester,
            revisions: Some(revisions),
            ..DeployOptions::default()
        };
        Ok(gitops_pipeline::deploy_all(&self.repository, &self.runtime, &options).await?)
    }

    /// The environment x MFE matrix (`gitops status`, `gitops drift`).
    pub async fn status(&self, filters: &Filters) -> Result<Vec<StatusRow>, Error> {
        Ok(gitops_pipeline::status(
            &self.repository,
            &self.runtime,
            filters.environment.as_ref(),
        )
        .await?)
    }

    /// Creates what the selected environments' targets need (`gitops bootstrap`), or with
    /// `create` false only checks that each exists (`--check`): one state per target.
    pub async fn bootstrap(
        &self,
        filters: &Filters,
        create: bool,
    ) -> Result<Vec<(EnvironmentName, gitops_runtime::TargetState)>, Error> {
        let mut done = Vec::new();
        for env in self.selected(filters) {
            for state in self.runtime.bootstrap(env, create).await? {
                done.push((env.name.clone(), state));
            }
        }
        Ok(done)
    }

    /// The least IAM policy of each selected environment's deploy role (`gitops iam-policy`),
    /// keyed by environment; environments on the embedded backends are left out unless one was
    /// asked for by name, which is an error.
    pub fn iam_policies(
        &self,
        filters: &Filters,
        scope: &gitops_runtime::iam::AwsScope,
    ) -> Result<std::collections::BTreeMap<String, gitops_runtime::iam::PolicyDocument>, Error>
    {
        use gitops_runtime::iam::{PolicyError, deploy_policy};
        let mut policies = std::collections::BTreeMap::new();
        for env in self.selected(filters) {
            match deploy_policy(&self.repository, env, scope) {
                Ok(policy) => {
                    policies.insert(env.name.to_string(), policy);
                }
                Err(PolicyError::NoAwsTargets(_)) if filters.environment.is_none() => {}
                Err(e) => return Err(Error::Usage(e.to_string())),
            }
        }
        if policies.is_empty() {
            return Err(Error::Usage(
                "no environment of gitops.yaml has an AWS target (s3://, dynamodb://, cloudfront://): nothing needs an IAM policy".to_owned(),
            ));
        }
        Ok(policies)
    }

    fn selected(&self, filters: &Filters) -> impl Iterator<Item = &gitops_iac_config::Environment> {
        self.repository.config.environments.iter().filter(|env| {
            filters
                .environment
                .as_ref()
                .is_none_or(|name| *name == env.name)
        })
    }

    /// Judges `request` and proposes it (`gitops process`), telling its requester; on GitHub the
    /// pull request is based on the checkout. `override_pin`: an operator's explicit override of
    /// a pin (`--override-pin`), accepted where the environment allows overrides.
    pub async fn process(
        &self,
        request: &Result<DeployRequest, gitops_event_model::Error>,
        at: OffsetDateTime,
        override_pin: bool,
        forge: ForgeChoice,
    ) -> Result<ProcessReport, Error> {
        let handle = self.runtime.forge(forge).await?;
        // GitHub has accounts to prove origin with; the local git forge has none. On GitHub
        // the pull request is based on the checkout's commit.
        let (origin, base) = if handle.is_github() {
            let head = self.runtime.checkout_head().await;
            (gitops_pipeline::OriginCheck::Verify, head)
        } else {
            (gitops_pipeline::OriginCheck::Trust, None)
        };
        self.process_on(request, at, override_pin, &handle, (origin, base.as_ref()))
            .await
    }

    /// [`Session::process`] on a given forge, its origin established as `origin` says and its
    /// pull request based on `base` (App mode: the App's forge, the request's own deployment
    /// as its origin, the commit the session was loaded from).
    pub async fn process_on(
        &self,
        request: &Result<DeployRequest, gitops_event_model::Error>,
        at: OffsetDateTime,
        override_pin: bool,
        handle: &gitops_runtime::ForgeHandle,
        (origin, base): (
            gitops_pipeline::OriginCheck,
            Option<&gitops_event_model::CommitSha>,
        ),
    ) -> Result<ProcessReport, Error> {
        let input = match request {
            Ok(r) => Ok(r),
            Err(e) => Err(e.problems()),
        };
        Ok(gitops_pipeline::process_as(
            &intent(override_pin),
            &self.repository,
            base,
            input,
            at,
            handle.forge.as_ref(),
            Some(handle.requester.as_ref()),
            origin,
            &self.metrics,
        )
        .await?)
    }

    /// Checks and merges deploy pull request `pr`, or every open one, on a given forge (App
    /// mode), telling requesters through it: each pull request's outcome.
    pub async fn merge_on(
        &self,
        handle: &gitops_runtime::ForgeHandle,
        pr: Option<u64>,
        at: OffsetDateTime,
    ) -> Result<Vec<(u64, Result<MergeOutcome, gitops_pipeline::Error>)>, Error> {
        Ok(gitops_pipeline::merge_pull_requests(
            handle.forge.as_ref(),
            Some(handle.requester.as_ref()),
            pr,
            at,
            &self.metrics,
        )
        .await?)
    }

    /// Proposes a rollback of (`environment`, `mfe`) to `to`, or to the previous live version
    /// in the registry's history (`gitops rollback`), pinned with the reason `pin` (by default
    /// one naming both versions) unless `pin` is `None`.
    pub async fn rollback(
        &self,
        environment: &str,
        mfe: &str,
        to: Option<&str>,
        pin: Option<Option<String>>,
        forge: ForgeChoice,
    ) -> Result<ProcessReport, Error> {
        let filters = self.filters(Some(environment), Some(mfe))?;
        let (Some(env), Some(mfe)) = (filters.environment, filters.mfe) else {
            return Err(Error::Usage(
                "rollback needs an environment and an MFE".into(),
            ));
        };
        let user = std::env::var("GITHUB_ACTOR").unwrap_or_else(|_| "gitops-rollback".to_owned());
        let to = to
            .map(|v| {
                Version::parse(v).map_err(|e| Error::Usage(format!("--to {v}: {}", e.message)))
            })
            .transpose()?;
        let handle = self.runtime.forge(forge).await?;
        let ask = gitops_pipeline::RollbackAsk {
            environment: env,
            mfe,
            to,
            user,
            at: OffsetDateTime::now_utc(),
            pin: pin.map(Option::unwrap_or_default),
        };
        Ok(gitops_pipeline::rollback_to(
            &self.repository,
            &self.runtime,
            &ask,
            handle.forge.as_ref(),
            Some(handle.requester.as_ref()),
        )
        .await?)
    }
}

/// Checks and merges deploy pull requests (`gitops merge`): `pr`, or every open one of a
/// deploy branch. The checkout only provides where metrics go; it need not be valid.
pub async fn merge(
    dir: &Path,
    pr: Option<u64>,
    at: OffsetDateTime,
    forge: ForgeChoice,
) -> Result<Vec<(u64, Result<MergeOutcome, gitops_pipeline::Error>)>, Error> {
    let owned = dir.to_path_buf();
    let (runtime, metrics, merge_method) = tokio::task::spawn_blocking(move || {
        let loaded = Repository::load_dir_with(&owned, &load_options());
        let local_test = loaded.as_ref().is_ok_and(|r| r.config.local_test);
        let merge_method = loaded.as_ref().map_or_else(
            |_| gitops_iac_config::MergeMethod::default(),
            |r| r.config.merge_method,
        );
        let runtime = Runtime::from_env(&owned)?.with_local_test(local_test);
        let metrics = loaded.map_or_else(
            |problems| {
                tracing::warn!(
                    count = problems.len(),
                    "the checkout's configuration does not load; merge events are not recorded"
                );
                gitops_runtime::EnvironmentSinks::default()
            },
            |r| runtime.metrics_by_environment(&r),
        );
        Ok::<_, Error>((runtime, metrics, merge_method))
    })
    .await
    .map_err(|e| Error::Usage(format!("loading {} was interrupted: {e}", dir.display())))??;
    // Merged the way gitops.yaml says (`merge_method:`), checked against the repository's.
    let handle = runtime.forge_with(forge, merge_method).await?;
    Ok(gitops_pipeline::merge_pull_requests(
        handle.forge.as_ref(),
        Some(handle.requester.as_ref()),
        pr,
        at,
        &metrics,
    )
    .await?)
}
