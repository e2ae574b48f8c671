//! # gitops-runtime
//!
//! Configuration to adapters: each environment's `storage`, `registry` and `cdn` targets from
//! `gitops.yaml` become an `object_store`, a [`gitops_db_registry::Registry`] and a
//! [`gitops_cdn::Cdn`]; artifact templates become locations. Local paths resolve against the
//! GitOps repository root and select the embedded backends (files, SQLite, an invalidation log);
//! `s3://`, `dynamodb://` and `cloudfront://` select AWS, configured from the standard AWS
//! environment (`AWS_ENDPOINT_URL`, region, the credential chain; an `http://` endpoint is used
//! over plain HTTP by the SDK and by object_store alike, without `AWS_ALLOW_HTTP`), so one
//! binary runs against AWS or an emulator.
//!
//! Every outside call is bounded: `GITOPS_CONNECT_TIMEOUT` and `GITOPS_REQUEST_TIMEOUT`
//! (seconds; defaults 10, and 60 for an API request or 300 for an artifact transfer) apply to
//! GitHub, the artifact stores and the AWS clients alike ([`Timeouts`]).
//!
//! Embedded targets stay inside the repository: a local target whose real path (symlinks
//! resolved) leaves the repository root, or enters `.git`, is a configuration error, unless the
//! operator allowed absolute targets (`GITOPS_ALLOW_ABSOLUTE_TARGETS=1`).
//!
//! This is the only crate that names the cloud SDKs.

pub mod iam;
pub mod metrics;

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gitops_artifact_store::{ObjectLocation, StoreOpener};
use gitops_cdn::{CloudFrontCdn, LocalLogCdn};
use gitops_db_registry::{DynamoDbRegistry, SqliteRegistry};
use gitops_event_model::{MfeName, Version};
use gitops_iac_config::{CdnTarget, Environment, RegistryTarget, StorageTarget};
use gitops_pipeline::{Backends, Error, Targets};
pub use metrics::{
    EnvironmentSinks, FlushReport, ReadBounds, StageEventsRead, push_to_pushgateway,
};

/// The repository's git-ignored directory holding the embedded backends' state.
const STATE_DIR: &str = "local";

/// Connect and request timeouts of every outside call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing a connection.
    pub connect: Duration,
    /// One API request (GitHub, DynamoDB, CloudFront).
    pub request: Duration,
    /// One artifact transfer (download of an archive, upload of a file).
    pub transfer: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_mins(1),
            transfer: Duration::from_mins(5),
        }
    }
}

impl Timeouts {
    /// From `GITOPS_CONNECT_TIMEOUT` and `GITOPS_REQUEST_TIMEOUT` (whole seconds, 1 to 3600);
    /// a set but unusable value is a configuration error naming the variable. When set, the
    /// request timeout bounds artifact transfers too.
    pub fn from_env() -> Result<Self, Error> {
        let mut timeouts = Timeouts::default();
        if let Some(connect) = seconds("GITOPS_CONNECT_TIMEOUT")? {
            timeouts.connect = connect;
        }
        if let Some(request) = seconds("GITOPS_REQUEST_TIMEOUT")? {
            timeouts.request = request;
            timeouts.transfer = request;
        }
        Ok(timeouts)
    }
}

fn seconds(name: &str) -> Result<Option<Duration>, Error> {
    let Some(raw) = std::env::var_os(name).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let text = raw.to_string_lossy();
    match text.trim().parse::<u64>() {
        Ok(n) if (1..=3600).contains(&n) => Ok(Some(Duration::from_secs(n))),
        _ => Err(config(format!(
            "{name}={text:?} is not a number of seconds between 1 and 3600"
        ))),
    }
}

/// The adapters of a GitOps repository checked out at `root`.
#[derive(Debug, Clone)]
pub struct Runtime {
    root: PathBuf,
    opener: StoreOpener,
    timeouts: Timeouts,
    allow_absolute: bool,
    /// `GITHUB_ACTIONS=true`: a GitHub Actions job.
    in_actions: bool,
    /// `gitops.yaml` says `local_test: true`.
    local_test: bool,
    aws: Arc<tokio::sync::OnceCell<aws_config::SdkConfig>>,
    /// This run's stage events bound for S3 storage, written by [`Runtime::flush_metrics`].
    events: Arc<metrics::RunBuffers>,
}

impl Runtime {
    /// Adapters for the repository at `root`, configured from the process environment; a set but
    /// unusable `GITOPS_*_TIMEOUT` or `ARTIFACTORY_*` variable is a configuration error naming it.
    pub fn from_env(root: impl Into<PathBuf>) -> Result<Self, Error> {
        let root = root.into();
        let timeouts = Timeouts::from_env()?;
        // object_store's local backend needs absolute paths.
        let root = std::fs::canonicalize(&root)
            .map_err(|e| config(format!("the repository {}: {e}", root.display())))?;
        Ok(Runtime {
            opener: StoreOpener::from_env(&root)?
                .with_timeouts(timeouts.connect, timeouts.transfer),
            root,
            timeouts,
            allow_absolute: std::env::var("GITOPS_ALLOW_ABSOLUTE_TARGETS")
                .is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true")),
            in_actions: std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true"),
            local_test: false,
            aws: Arc::default(),
            events: Arc::default(),
        })
    }

    /// Whether the repository is a local test (`gitops.yaml` `local_test: true`): only then may
    /// gitops, inside GitHub Actions, use the local git forge and embedded targets. The
    /// application sets it from the configuration it loaded ([`Runtime::fails_closed`]).
    #[must_use]
    pub fn with_local_test(mut self, local_test: bool) -> Self {
        self.local_test = local_test;
        self
    }

    /// Whether gitops fails closed: inside GitHub Actions (`GITHUB_ACTIONS=true`) for a
    /// repository that is not a local test. It then never falls back to the local git forge
    /// (a missing token is a configuration error, [`Runtime::forge`]) nor uses embedded
    /// targets (a configuration error naming the environment and the key, `Backends::targets`
    /// and [`Runtime::bootstrap`]): on a runner they would "succeed" on its disk.
    pub fn fails_closed(&self) -> bool {
        self.in_actions && !self.local_test
    }

    /// In a job that fails closed, refuses a forge `choice` that would be the local git
    /// repository: `Local`, or `Auto` without a token or `GITHUB_REPOSITORY`.
    fn refuse_local_forge(&self, choice: ForgeChoice) -> Result<(), Error> {
        if !self.fails_closed() || choice == ForgeChoice::Github {
            return Ok(());
        }
        let has = |k: &str| std::env::var(k).is_ok_and(|v| !v.is_empty());
        let token = has("GITOPS_GITHUB_TOKEN") || has("GITHUB_TOKEN");
        let repository = has("GITHUB_REPOSITORY");
        let mut why = Vec::new();
        if choice == ForgeChoice::Local {
            why.push("--forge local was asked");
        }
        if !token {
            why.push("GITOPS_GITHUB_TOKEN is empty or unset");
        }
        if !repository {
            why.push("GITHUB_REPOSITORY is unset");
        }
        if why.is_empty() {
            return Ok(());
        }
        Err(config(format!(
            "in GitHub Actions gitops never falls back to the local git repository ({}): set the repository secret GITOPS_GITHUB_TOKEN (a fine-grained token), or the variable GITOPS_APP_ID and the secret GITOPS_APP_PRIVATE_KEY (a GitHub App), for the job's GITOPS_GITHUB_TOKEN; only a repository that is a local test (`local_test: true` in gitops.yaml) may use the local git forge in Actions",
            why.join(", ")
        )))
    }

    /// In a job that fails closed, refuses `environment` when any of its targets is embedded
    /// (a local path): a configuration error naming the environment and each key to set.
    fn refuse_embedded_targets(&self, environment: &Environment) -> Result<(), Error> {
        if !self.fails_closed() {
            return Ok(());
        }
        let mut keys = Vec::new();
        if let StorageTarget::Local(path) = &environment.storage {
            keys.push(format!("storage: s3://BUCKET[/PREFIX] (not `{path}`)"));
        }
        if let RegistryTarget::Sqlite(path) = &environment.registry {
            keys.push(format!("registry: dynamodb://TABLE (not `{path}`)"));
        }
        if let CdnTarget::LocalLog(path) = &environment.cdn {
            keys.push(format!("cdn: cloudfront://DISTRIBUTION_ID (not `{path}`)"));
        }
        if keys.is_empty() {
            return Ok(());
        }
        Err(config(format!(
            "environment `{}` uses embedded targets, which in GitHub Actions would write to the runner's disk: set {} for it in gitops.yaml (or `local_test: true` if this repository is a local test)",
            environment.name,
            keys.join(", ")
        )))
    }

    /// Whether the operator allowed embedded targets outside the repository
    /// (`GITOPS_ALLOW_ABSOLUTE_TARGETS=1`); pass it to the repository loader.
    pub fn allows_absolute_targets(&self) -> bool {
        self.allow_absolute
    }

    /// The timeouts every outside call gets.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// [`Runtime::local_blocking`] on the blocking pool.
    async fn local(&self, path: &str) -> Result<PathBuf, Error> {
        let this = self.clone();
        let owned = path.to_owned();
        tokio::task::spawn_blocking(move || this.local_blocking(&owned))
            .await
            .map_err(|e| config(format!("resolving `{path}` was interrupted: {e}")))?
    }

    /// The real path of the embedded target `path`: inside the repository's state directory,
    /// symlinks resolved, unless absolute targets are allowed. Reads file metadata: call it from
    /// blocking code.
    fn local_blocking(&self, path: &str) -> Result<PathBuf, Error> {
        let p = Path::new(path);
        if p.is_absolute() {
            if self.allow_absolute {
                return Ok(p.to_path_buf());
            }
            return Err(config(format!(
                "embedded target `{path}` is outside the repository; set GITOPS_ALLOW_ABSOLUTE_TARGETS=1 to allow absolute targets"
            )));
        }
        if p.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(config(format!(
                "embedded target `{path}` must be a plain relative path under the repository"
            )));
        }
        let joined = self.root.join(p);
        // Resolve the deepest part that exists (a committed symlink could point anywhere), then
        // append the rest, which cannot hold links because it does not exist yet.
        let mut existing = joined.as_path();
        let mut rest = Vec::new();
        while std::fs::symlink_metadata(existing).is_err() {
            let (Some(parent), Some(name)) = (existing.parent(), existing.file_name()) else {
                break;
            };
            rest.push(name.to_owned());
            existing = parent;
        }
        let mut real = std::fs::canonicalize(existing)
            .map_err(|e| config(format!("embedded target `{path}`: {e}")))?;
        real.extend(rest.iter().rev());
        let state = self.root.join(STATE_DIR);
        if real
            .strip_prefix(&state)
            .is_ok_and(|r| !r.as_os_str().is_empty())
        {
            return Ok(real);
        }
        Err(config(format!(
            "embedded target `{path}` resolves to {}, outside the repository's state directory {}",
            real.display(),
            state.display()
        )))
    }

    /// The AWS configuration shared by every client, loaded once, with [`Timeouts`].
    async fn aws(&self) -> &aws_config::SdkConfig {
        self.aws
            .get_or_init(|| async {
                let timeouts = aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(self.timeouts.connect)
                    .operation_attempt_timeout(self.timeouts.request)
                    // The SDK makes 3 attempts with backoffs of up to 1 s and 2 s between them:
                    // the whole operation's bound leaves room for all three, or a short request
                    // timeout (two attempts timed out) cut the third before it could answer.
                    .operation_timeout(
                        self.timeouts.request * 3 + std::time::Duration::from_secs(5),
                    )
                    .build();
                aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .timeout_config(timeouts)
                    .load()
                    .await
            })
            .await
    }

    async fn dynamodb(&self, table: &str) -> DynamoDbRegistry {
        DynamoDbRegistry::new(aws_sdk_dynamodb::Client::new(self.aws().await), table)
    }

    async fn cloudfront(&self, distribution_id: &str) -> Result<CloudFrontCdn, Error> {
        let shared = self.aws().await;
        let mut builder = aws_sdk_cloudfront::config::Builder::from(shared);
        if shared.region().is_none() {
            builder = builder.region(aws_sdk_cloudfront::config::Region::new("us-east-1"));
        }
        Ok(CloudFrontCdn::new(
            aws_sdk_cloudfront::Client::from_conf(builder.build()),
            distribution_id,
        )?)
    }

    /// The git order of the repository's desired-state files (the first-parent position of the
    /// commit that last changed each): what `gitops deploy` commits under. Needs the whole
    /// history and a clean `deployments/`.
    pub async fn revisions(&self) -> Result<gitops_gh_pr::Revisions, Error> {
        gitops_gh_pr::desired_revisions(&self.root, gitops_iac_config::DEPLOYMENTS_DIR)
            .await
            .map_err(|e| config(format!("the order of the desired states: {e}")))
    }

    /// Creates what `environment`'s targets need and is missing (`create`), or only checks that
    /// each exists (`!create`: `gitops bootstrap --check`, which calls nothing but reads): the
    /// storage directory or S3 bucket (`HeadBucket`), the SQLite file or DynamoDB table
    /// (`DescribeTable`, with its key schema), the invalidation log's directory. A CloudFront
    /// distribution is only checked (`GetDistribution`), never created. Idempotent: one
    /// [`TargetState`] per target.
    pub async fn bootstrap(
        &self,
        environment: &Environment,
        create: bool,
    ) -> Result<Vec<TargetState>, Error> {
        self.refuse_embedded_targets(environment)?;
        // Where the invalidation log goes, and whether it was there before the storage
        // directory (its sibling, created first) made their common parent.
        let log_dir = match &environment.cdn {
            CdnTarget::LocalLog(path) => {
                let file = self.local(path).await?;
                let dir = file.parent().map(Path::to_path_buf);
                let existed = match &dir {
                    Some(dir) => tokio::fs::metadata(dir).await.is_ok_and(|m| m.is_dir()),
                    None => true,
                };
                Some((file, dir, existed))
            }
            CdnTarget::CloudFront { .. } => None,
        };
        let mut done = Vec::new();
        match &environment.storage {
            StorageTarget::Local(path) => {
                let dir = self.local(path).await?;
                let existed = tokio::fs::metadata(&dir).await.is_ok_and(|m| m.is_dir());
                if create {
                    tokio::fs::create_dir_all(&dir)
                        .await
                        .map_err(|e| config(format!("cannot create {}: {e}", dir.display())))?;
                }
                done.push(TargetState::new(
                    format!("storage {}", dir.display()),
                    existed,
                    create,
                ));
            }
            StorageTarget::S3 { location } => {
                let bucket = location
                    .split_once('/')
                    .map_or(location.as_str(), |(b, _)| b);
                let existed = ensure_bucket(self.aws().await, bucket, create).await?;
                done.push(TargetState::new(
                    format!("storage s3://{bucket}"),
                    existed,
                    create,
                ));
            }
        }
        match &environment.registry {
            RegistryTarget::Sqlite(path) => {
                let file = self.local(path).await?;
                let existed = tokio::fs::metadata(&file).await.is_ok_and(|m| m.is_file());
                if create || existed {
                    // Opening checks (and on create makes) the schema.
                    SqliteRegistry::open(&file).await?;
                }
                done.push(TargetState::new(
                    format!("registry {}", file.display()),
                    existed,
                    create,
                ));
            }
            RegistryTarget::DynamoDb { table } => {
                let registry = self.dynamodb(table).await;
                let existed = if create {
                    registry.bootstrap().await? == gitops_db_registry::Bootstrap::AlreadyExists
                } else {
                    registry.exists().await?
                };
                done.push(TargetState::new(
                    format!("registry dynamodb://{table}"),
                    existed,
                    create,
                ));
            }
        }
        if let Some((file, dir, existed)) = log_dir {
            if let (Some(dir), true) = (&dir, create) {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| config(format!("cannot create {}: {e}", dir.display())))?;
            }
            done.push(TargetState::new(
                format!("cdn {}", file.display()),
                existed,
                create,
            ));
        } else if let CdnTarget::CloudFront { distribution_id } = &environment.cdn {
            let cdn = self.cloudfront(distribution_id).await?;
            let existed = match cdn.ensure_distribution_exists().await {
                Ok(()) => true,
                // A distribution is never created: missing is an error to bootstrap, a
                // finding to its check.
                Err(gitops_cdn::Error::NotFound { .. }) if !create => false,
                Err(e) => return Err(e.into()),
            };
            done.push(TargetState::new(
                format!("cdn cloudfront://{distribution_id}"),
                existed,
                false,
            ));
        }
        Ok(done)
    }
}

/// One target as `gitops bootstrap` left it (or, with `--check`, found it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetState {
    /// The target, e.g. `storage s3://bucket`, `registry dynamodb://table`.
    pub target: String,
    /// It existed before.
    pub existed: bool,
    /// It did not exist and was created now.
    pub created: bool,
}

impl TargetState {
    fn new(target: String, existed: bool, create: bool) -> Self {
        TargetState {
            target,
            existed,
            created: create && !existed,
        }
    }

    /// Present after the command: existed or created.
    pub fn present(&self) -> bool {
        self.existed || self.created
    }
}

impl std::fmt::Display for TargetState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let word = match (self.existed, self.created) {
            (true, _) => "exists",
            (false, true) => "created",
            (false, false) => "MISSING",
        };
        write!(f, "{}: {word}", self.target)
    }
}

/// Which forge to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForgeChoice {
    /// GitHub when a token (`GITOPS_GITHUB_TOKEN` or `GITHUB_TOKEN`) and `GITHUB_REPOSITORY` are
    /// set, otherwise the local git repository.
    Auto,
    /// GitHub (`GITHUB_API_URL`, token and `GITHUB_REPOSITORY` from the environment).
    Github,
    /// The local git repository at the GitOps repository root.
    Local,
}

/// Which kind of forge a [`ForgeHandle`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForgeKind {
    /// GitHub (or GitHub Enterprise Server).
    Github,
    /// The local git repository.
    Local,
}

/// The forge of the GitOps repository and the requester side (deployment statuses on the MFE
/// repositories), one object serving both.
#[derive(Debug, Clone)]
pub struct ForgeHandle {
    /// The GitOps repository's forge.
    pub forge: Arc<dyn gitops_gh_pr::Forge>,
    /// The requester side.
    pub requester: Arc<dyn gitops_gh_pr::Requester>,
    /// Which forge it is.
    pub kind: ForgeKind,
}

impl ForgeHandle {
    /// Whether the forge is GitHub (pull requests are then based on the checkout's commit).
    pub fn is_github(&self) -> bool {
        self.kind == ForgeKind::Github
    }
}

impl Runtime {
    /// The forge `choice` selects (see [`ForgeChoice::Auto`]), merging with the default method
    /// (`merge`); see [`Runtime::forge_with`].
    pub async fn forge(&self, choice: ForgeChoice) -> Result<ForgeHandle, Error> {
        self.forge_with(choice, gitops_event_model::MergeMethod::default())
            .await
    }

    /// The forge `choice` selects, merging deploy pull requests with `merge_method` (the
    /// configuration's `merge_method:`). On GitHub the repository's settings are read once
    /// here (one call): pull requests target its default branch unless `GITOPS_BASE_BRANCH`
    /// names one, and the merge method is checked against the methods it allows before the
    /// first merge.
    pub async fn forge_with(
        &self,
        choice: ForgeChoice,
        merge_method: gitops_event_model::MergeMethod,
    ) -> Result<ForgeHandle, Error> {
        self.refuse_local_forge(choice)?;
        let has = |k: &str| std::env::var(k).is_ok_and(|v| !v.is_empty());
        let github = match choice {
            ForgeChoice::Github => true,
            ForgeChoice::Local => false,
            ForgeChoice::Auto => {
                (has("GITOPS_GITHUB_TOKEN") || has("GITHUB_TOKEN")) && has("GITHUB_REPOSITORY")
            }
        };
        if github {
            let forge = Arc::new(
                gitops_gh_pr::GithubForge::from_env()
                    .map_err(|e| config(format!("GitHub forge: {e}")))?
                    .with_timeouts(self.timeouts.connect, self.timeouts.request)
                    .with_merge_method(merge_method)
                    // One call: the default branch and the allowed merge methods. Its failure
                    // keeps its class (a 5xx or a timeout is retryable, not a configuration
                    // error).
                    .resolve()
                    .await?,
            );
            return Ok(ForgeHandle {
                forge: forge.clone(),
                requester: forge,
                kind: ForgeKind::Github,
            });
        }
        let forge = Arc::new(
            gitops_gh_pr::LocalGitForge::open(&self.root)
                .await
                .map_err(|e| config(format!("local git forge at {}: {e}", self.root.display())))?,
        );
        Ok(ForgeHandle {
            forge: forge.clone(),
            requester: forge,
            kind: ForgeKind::Local,
        })
    }

    /// Records an approving review of PR `number` by `login` on the local git forge.
    pub async fn approve_local(&self, number: u64, login: &str) -> Result<(), Error> {
        let forge = gitops_gh_pr::LocalGitForge::open(&self.root).await?;
        let login = gitops_event_model::Login::parse(login)
            .map_err(|e| config(format!("--user {login}: {}", e.message)))?;
        forge.record_approval(number, &login).await?;
        Ok(())
    }
}

fn config(reason: String) -> Error {
    Error::Config { reason }
}

/// Runs `git ARGS` in `dir` (without blocking the async runtime, bounded to a minute); its
/// standard output, or a configuration error with git's message.
pub async fn git(dir: &Path, args: &[&str]) -> Result<String, Error> {
    git_with(dir, args, &[], Duration::from_mins(1)).await
}

/// [`git`] with more environment (`env`: never shown in an error, so a credential may travel
/// there) and another bound. Git never prompts.
pub async fn git_with(
    dir: &Path,
    args: &[&str],
    env: &[(&str, String)],
    bound: Duration,
) -> Result<String, Error> {
    let run = tokio::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env("GIT_AUTHOR_NAME", "gitops")
        .env("GIT_AUTHOR_EMAIL", "gitops@example.invalid")
        .env("GIT_COMMITTER_NAME", "gitops")
        .env("GIT_COMMITTER_EMAIL", "gitops@example.invalid")
        .env("GIT_TERMINAL_PROMPT", "0")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(bound, run)
        .await
        .map_err(|_| config(format!("git {} timed out", args.join(" "))))?
        .map_err(|e| config(format!("cannot run git: {e}")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(config(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl Runtime {
    /// The commit the checkout is on (`GITHUB_SHA` in Actions, else `git rev-parse HEAD`), to
    /// base a pull request on it; `None` when neither says.
    pub async fn checkout_head(&self) -> Option<gitops_event_model::CommitSha> {
        if let Ok(sha) = std::env::var("GITHUB_SHA")
            && let Ok(sha) = gitops_event_model::CommitSha::parse(&sha)
        {
            return Some(sha);
        }
        let head = git(&self.root, &["rev-parse", "HEAD"]).await.ok()?;
        gitops_event_model::CommitSha::parse(head.trim()).ok()
    }
}

/// Whether `bucket` existed (`HeadBucket`); when it did not and `create`, creates it.
/// Path-style addressing when an endpoint is configured (emulators).
async fn ensure_bucket(
    shared: &aws_config::SdkConfig,
    bucket: &str,
    create: bool,
) -> Result<bool, Error> {
    let mut builder = aws_sdk_s3::config::Builder::from(shared);
    if std::env::var_os("AWS_ENDPOINT_URL").is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
    {
        builder = builder.force_path_style(true);
    }
    let client = aws_sdk_s3::Client::from_conf(builder.build());
    match client.head_bucket().bucket(bucket).send().await {
        Ok(_) => return Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(aws_sdk_s3::operation::head_bucket::HeadBucketError::is_not_found) => {
        }
        Err(e) => {
            return Err(config(format!(
                "cannot check bucket {bucket}: {}",
                gitops_aws_errors::describe_sdk_error("HeadBucket", &e, None)
            )));
        }
    }
    if !create {
        return Ok(false);
    }
    let mut create = client.create_bucket().bucket(bucket);
    if let Some(region) = shared.region().map(ToString::to_string)
        && region != "us-east-1"
    {
        create = create.create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                    region.as_str(),
                ))
                .build(),
        );
    }
    create.send().await.map_err(|e| {
        config(format!(
            "cannot create bucket {bucket}: {}",
            gitops_aws_errors::describe_sdk_error("CreateBucket", &e, None)
        ))
    })?;
    Ok(false)
}

#[async_trait]
impl Backends for Runtime {
    async fn targets(&self, environment: &Environment) -> Result<Targets, Error> {
        self.refuse_embedded_targets(environment)?;
        let target = match &environment.storage {
            StorageTarget::Local(path) => self.local(path).await?.to_string_lossy().into_owned(),
            remote @ StorageTarget::S3 { .. } => remote.to_string(),
        };
        // The three targets are opened together: an S3 client and the AWS SDK's each load the
        // system's root certificates, and the SDK reads its configuration, before any request.
        // Opening a local store creates its directories: on the blocking pool.
        let opener = self.opener.clone();
        let storage = async {
            tokio::task::spawn_blocking(move || opener.open_storage(&target))
                .await
                .map_err(|e| config(format!("opening the storage was interrupted: {e}")))?
                .map_err(Error::from)
        };
        let registry = async {
            let registry: Arc<dyn gitops_db_registry::Registry> = match &environment.registry {
                RegistryTarget::Sqlite(path) => {
                    let file = self.local(path).await?;
                    Arc::new(SqliteRegistry::open(file).await?)
                }
                RegistryTarget::DynamoDb { table } => Arc::new(self.dynamodb(table).await),
            };
            Ok::<_, Error>(registry)
        };
        let cdn = async {
            let cdn: Arc<dyn gitops_cdn::Cdn> = match &environment.cdn {
                CdnTarget::LocalLog(path) => Arc::new(LocalLogCdn::new(self.local(path).await?)),
                CdnTarget::CloudFront { distribution_id } => {
                    Arc::new(self.cloudfront(distribution_id).await?)
                }
            };
            Ok::<_, Error>(cdn)
        };
        let (storage, registry, cdn) = tokio::try_join!(storage, registry, cdn)?;
        Ok(Targets {
            storage,
            registry,
            cdn,
            metrics: self.metrics(environment),
        })
    }

    fn artifact(
        &self,
        template: &str,
        mfe: &MfeName,
        version: &Version,
    ) -> Result<ObjectLocation, Error> {
        Ok(self.opener.open_artifact(template, mfe, version)?)
    }
}
