//! # gitops-runtime
//!
//! Configuration to adapters: each environment's `storage`, `registry` and `cdn` targets from
//! `gitops.yaml` become an `object_store`, a [`gitops_db_registry::Registry`] and a
//! [`gitops_cdn::Cdn`]; artifact templates become locations. Local paths resolve against the
//! GitOps repository root and select the embedded backends (files, SQLite, an invalidation log);
//! `s3://`, `dynamodb://` and `cloudfront://` select AWS, configured from the standard AWS
//! environment (`AWS_ENDPOINT_URL`, region, the credential chain; `AWS_ALLOW_HTTP` for
//! object_store), so one binary runs against AWS or an emulator.
//!
//! This is the only crate that names the cloud SDKs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use gitops_artifact_store::{ObjectLocation, StoreOpener};
use gitops_cdn::{CloudFrontCdn, LocalLogCdn};
use gitops_db_registry::{DynamoDbRegistry, SqliteRegistry};
use gitops_iac_config::{CdnTarget, Environment, RegistryTarget, StorageTarget};
use gitops_pipeline::{Backends, Error, Targets};

/// The adapters of a GitOps repository checked out at `root`.
#[derive(Debug, Clone)]
pub struct Runtime {
    root: PathBuf,
    opener: StoreOpener,
}

impl Runtime {
    /// Adapters for the repository at `root`, configured from the process environment.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        // object_store's local backend needs absolute paths.
        let root = std::fs::canonicalize(&root).unwrap_or(root);
        Runtime {
            opener: StoreOpener::from_env(&root),
            root,
        }
    }

    fn local(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.root.join(p)
        }
    }

    /// Creates what `environment`'s targets need and is missing: the storage directory or S3
    /// bucket, the SQLite file or DynamoDB table, the invalidation log's directory. A CloudFront
    /// distribution is only checked, never created. Idempotent: returns one line per target
    /// saying what was done.
    pub async fn bootstrap(&self, environment: &Environment) -> Result<Vec<String>, Error> {
        let mut done = Vec::new();
        match &environment.storage {
            StorageTarget::Local(path) => {
                let dir = self.local(path);
                let existed = dir.is_dir();
                std::fs::create_dir_all(&dir)
                    .map_err(|e| config(format!("cannot create {}: {e}", dir.display())))?;
                done.push(format!(
                    "storage {}: {}",
                    dir.display(),
                    if existed { "exists" } else { "created" }
                ));
            }
            StorageTarget::S3 { location } => {
                let bucket = location.split('/').next().unwrap_or_default();
                let created = ensure_bucket(bucket).await?;
                done.push(format!(
                    "storage s3://{bucket}: {}",
                    if created { "created" } else { "exists" }
                ));
            }
        }
        match &environment.registry {
            RegistryTarget::Sqlite(path) => {
                let file = self.local(path);
                let existed = file.is_file();
                SqliteRegistry::open(&file)?;
                done.push(format!(
                    "registry {}: {}",
                    file.display(),
                    if existed { "exists" } else { "created" }
                ));
            }
            RegistryTarget::DynamoDb { table } => {
                let outcome = DynamoDbRegistry::from_env(table.clone())
                    .await
                    .bootstrap()
                    .await?;
                done.push(format!("registry dynamodb://{table}: {outcome:?}").to_lowercase());
            }
        }
        match &environment.cdn {
            CdnTarget::LocalLog(path) => {
                let file = self.local(path);
                if let Some(parent) = file.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| config(format!("cannot create {}: {e}", parent.display())))?;
                }
                done.push(format!("cdn {}: ready", file.display()));
            }
            CdnTarget::CloudFront { distribution_id } => {
                CloudFrontCdn::from_env(distribution_id.clone())
                    .await?
                    .ensure_distribution_exists()
                    .await?;
                done.push(format!("cdn cloudfront://{distribution_id}: exists"));
            }
        }
        Ok(done)
    }
}

impl Runtime {
    /// Where stage events of `environment` go: `GITOPS_METRICS_FILE` when set, otherwise
    /// `metrics/events.jsonl` beside a local (SQLite) registry; nowhere for a DynamoDB registry.
    pub fn metrics(&self, environment: &Environment) -> Arc<dyn gitops_metrics::MetricsSink> {
        if let Some(path) = std::env::var_os("GITOPS_METRICS_FILE").filter(|p| !p.is_empty()) {
            return Arc::new(gitops_metrics::JsonlSink::new(PathBuf::from(path)));
        }
        match &environment.registry {
            RegistryTarget::Sqlite(path) => Arc::new(gitops_metrics::JsonlSink::beside_registry(
                &self.local(path),
            )),
            RegistryTarget::DynamoDb { .. } => Arc::new(gitops_metrics::NullSink),
        }
    }
}

/// A sink routing each event to its environment's sink ([`Runtime::metrics`]); events of
/// undeclared environments are dropped.
#[derive(Debug, Clone, Default)]
pub struct EnvironmentSinks {
    sinks: std::collections::BTreeMap<String, Arc<dyn gitops_metrics::MetricsSink>>,
}

impl gitops_metrics::MetricsSink for EnvironmentSinks {
    fn record(&self, event: &gitops_metrics::StageEvent) -> Result<(), gitops_metrics::Error> {
        match self.sinks.get(&event.environment) {
            Some(sink) => sink.record(event),
            None => Ok(()),
        }
    }
}

impl Runtime {
    /// One sink per environment of `repository`, routed by the event's environment.
    pub fn metrics_by_environment(
        &self,
        repository: &gitops_iac_config::Repository,
    ) -> EnvironmentSinks {
        EnvironmentSinks {
            sinks: repository
                .config
                .environments
                .iter()
                .map(|e| (e.name.clone(), self.metrics(e)))
                .collect(),
        }
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

/// The forge of the GitOps repository and the requester side (deployment statuses on the MFE
/// repositories), one object serving both.
#[derive(Debug, Clone)]
pub struct ForgeHandle {
    /// The GitOps repository's forge.
    pub forge: Arc<dyn gitops_gh_pr::Forge>,
    /// The requester side.
    pub requester: Arc<dyn gitops_gh_pr::Requester>,
    /// `github` or `local`.
    pub kind: &'static str,
}

impl Runtime {
    /// The forge `choice` selects (see [`ForgeChoice::Auto`]).
    pub async fn forge(&self, choice: ForgeChoice) -> Result<ForgeHandle, Error> {
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
                    .map_err(|e| config(format!("GitHub forge: {e}")))?,
            );
            return Ok(ForgeHandle {
                forge: forge.clone(),
                requester: forge,
                kind: "github",
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
            kind: "local",
        })
    }

    /// Records an approving review of PR `number` by `login` on the local git forge.
    pub async fn approve_local(&self, number: u64, login: &str) -> Result<(), Error> {
        let forge = gitops_gh_pr::LocalGitForge::open(&self.root).await?;
        forge.record_approval(number, login).await?;
        Ok(())
    }
}

fn config(reason: String) -> Error {
    Error::Config { reason }
}

/// Creates `bucket` unless it exists; `true` when created. Path-style addressing when an
/// endpoint is configured (emulators).
async fn ensure_bucket(bucket: &str) -> Result<bool, Error> {
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let mut builder = aws_sdk_s3::config::Builder::from(&shared);
    if std::env::var_os("AWS_ENDPOINT_URL").is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
    {
        builder = builder.force_path_style(true);
    }
    let client = aws_sdk_s3::Client::from_conf(builder.build());
    match client.head_bucket().bucket(bucket).send().await {
        Ok(_) => return Ok(false),
        Err(e)
            if e.as_service_error()
                .is_some_and(aws_sdk_s3::operation::head_bucket::HeadBucketError::is_not_found) => {
        }
        Err(e) => {
            return Err(config(format!(
                "cannot check bucket {bucket}: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            )));
        }
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
            aws_sdk_s3::error::DisplayErrorContext(&e)
        ))
    })?;
    Ok(true)
}

#[async_trait]
impl Backends for Runtime {
    async fn targets(&self, environment: &Environment) -> Result<Targets, Error> {
        let storage = self.opener.open_storage(&match &environment.storage {
            StorageTarget::Local(path) => self.local(path).to_string_lossy().into_owned(),
            remote @ StorageTarget::S3 { .. } => remote.to_string(),
        })?;
        let registry: Arc<dyn gitops_db_registry::Registry> = match &environment.registry {
            RegistryTarget::Sqlite(path) => Arc::new(SqliteRegistry::open(self.local(path))?),
            RegistryTarget::DynamoDb { table } => {
                Arc::new(DynamoDbRegistry::from_env(table.clone()).await)
            }
        };
        let cdn: Arc<dyn gitops_cdn::Cdn> = match &environment.cdn {
            CdnTarget::LocalLog(path) => Arc::new(LocalLogCdn::new(self.local(path))),
            CdnTarget::CloudFront { distribution_id } => {
                Arc::new(CloudFrontCdn::from_env(distribution_id.clone()).await?)
            }
        };
        Ok(Targets {
            storage,
            registry,
            cdn,
            metrics: self.metrics(environment),
        })
    }

    fn artifact(&self, template: &str, mfe: &str, version: &str) -> Result<ObjectLocation, Error> {
        Ok(self.opener.open_artifact(template, mfe, version)?)
    }
}
