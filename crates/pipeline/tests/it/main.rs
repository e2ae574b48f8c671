//! Deploys end to end on the fakes: in-memory storage, the strict fake registry and CDN, and
//! real artifacts (packed, checksummed) on the local file system. The fixtures here ([`Fakes`],
//! [`desired`], [`entry`], [`files`], ...) are the one set every module of this binary uses.

// Test code runs on the harness's threads: blocking file and process calls are fine here.
#![allow(clippy::disallowed_methods)]

mod approvals;
mod batch;
mod drift;
mod forge;
mod interleavings;
mod limits;
mod merge_race;
mod promote;
mod provenance;
mod prune;
mod waiter;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use gitops_artifact_store::{ObjectLocation, StoreOpener, pack_dir, sha256_hex, sidecar_line};
use gitops_cdn::FakeCdn;
use gitops_db_registry::{Entry, FakeRegistry, Registry};
use gitops_event_model::{EnvironmentName, Login, MfeName, Version};
use gitops_iac_config::{Deployment, Environment, Repository, deployment_path, render_deployment};
use gitops_pipeline::{
    Backends, DeployOptions, Error, ErrorClass, PairOutcome, Targets, deploy_all, status,
};
use object_store::memory::InMemory;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};

/// The commit that built every version of [`desired`] and [`entry`].
const SHA: &str = "3f786850e387550fdab836ed7e6dc881de23001b";
/// The request of every desired state of [`desired`] and entry of [`entry`].
const REQUEST_ID: &str = "01JDQ8Z6X8N7W4K2M5R3T9V1YB";

/// The targets of every environment (dev, staging, qa, prod: in-memory storage each, one
/// strict fake registry and CDN) and artifacts on the local file system.
#[derive(Debug)]
struct Fakes {
    root: tempfile::TempDir,
    storage: BTreeMap<String, Arc<dyn ObjectStore>>,
    registry: Arc<FakeRegistry>,
    /// What the targets hand out instead of `registry` when a deploy races the code under test.
    racing: Option<Arc<Racing>>,
    cdn: FakeCdn,
    metrics: Arc<gitops_metrics::MemorySink>,
}

impl Fakes {
    fn new() -> Self {
        let storage = ["dev", "staging", "qa", "prod"]
            .into_iter()
            .map(|e| {
                (
                    e.to_owned(),
                    Arc::new(InMemory::new()) as Arc<dyn ObjectStore>,
                )
            })
            .collect();
        Fakes {
            root: tempfile::tempdir().unwrap(),
            storage,
            registry: Arc::new(FakeRegistry::new()),
            racing: None,
            cdn: FakeCdn::new().with_retry_policy(gitops_retry::RetryPolicy::FAST),
            metrics: Arc::new(gitops_metrics::MemorySink::new()),
        }
    }

    /// `environment`'s storage is `store`.
    fn with_storage(mut self, environment: &str, store: Arc<dyn ObjectStore>) -> Self {
        self.storage.insert(environment.to_owned(), store);
        self
    }

    /// Another deploy commits `newer` to the registry just before the `at`-th `get` of
    /// `newer`'s pair by the code under test.
    fn racing(mut self, at: usize, newer: Entry) -> Self {
        self.racing = Some(Arc::new(Racing {
            inner: self.registry.clone(),
            gets: AtomicUsize::new(0),
            at,
            newer: Mutex::new(Some(newer)),
        }));
        self
    }

    /// Publishes `mfe` at `version` as the example repository's artifact template expects.
    fn publish(&self, mfe: &str, version: &str) {
        self.publish_files(
            mfe,
            version,
            &[
                ("remoteEntry.js", &format!("// {mfe} {version}\n")),
                ("main.3f2a9c1b.js", &format!("console.log('{version}')\n")),
            ],
        );
    }

    /// Publishes `mfe` at `version` made of `files` (path, content), as [`Fakes::publish`].
    fn publish_files(&self, mfe: &str, version: &str, files: &[(&str, &str)]) {
        let dist = tempfile::tempdir().unwrap();
        for (path, content) in files {
            std::fs::write(dist.path().join(path), content).unwrap();
        }
        let archive = pack_dir(dist.path()).unwrap();
        let dir = self.root.path().join(format!("local/artifacts/{mfe}"));
        std::fs::create_dir_all(&dir).unwrap();
        let name = format!("{mfe}-{version}.tgz");
        std::fs::write(dir.join(&name), &archive).unwrap();
        std::fs::write(
            dir.join(format!("{name}.sha256")),
            sidecar_line(&sha256_hex(&archive), &name),
        )
        .unwrap();
    }

    /// `name` `version` is live in `environment` (sequence 1).
    async fn live(&self, environment: &str, name: &str, version: &str) {
        self.registry
            .commit(&entry(environment, name, version, 1))
            .await
            .unwrap();
    }

    fn storage(&self, env: &str) -> &dyn ObjectStore {
        self.storage[env].as_ref()
    }
}

#[async_trait]
impl Backends for Fakes {
    async fn targets(&self, environment: &Environment) -> Result<Targets, Error> {
        let registry: Arc<dyn Registry> = match &self.racing {
            Some(racing) => racing.clone(),
            None => self.registry.clone(),
        };
        Ok(Targets {
            storage: self.storage[environment.name.as_str()].clone(),
            registry,
            cdn: Arc::new(self.cdn.clone()),
            metrics: self.metrics.clone(),
        })
    }

    fn artifact(
        &self,
        template: &str,
        mfe: &MfeName,
        version: &Version,
    ) -> Result<ObjectLocation, Error> {
        Ok(StoreOpener::new(self.root.path()).open_artifact(template, mfe, version)?)
    }
}

/// The fake registry, in which another deploy commits `newer` just before the `at`-th `get` of
/// `newer`'s pair ([`Fakes::racing`]).
#[derive(Debug)]
struct Racing {
    inner: Arc<FakeRegistry>,
    gets: AtomicUsize,
    at: usize,
    newer: Mutex<Option<Entry>>,
}

#[async_trait]
impl Registry for Racing {
    async fn get(
        &self,
        environment: &EnvironmentName,
        mfe: &MfeName,
    ) -> Result<Option<Entry>, gitops_db_registry::Error> {
        let newer = {
            let mut newer = self.newer.lock().unwrap();
            let ours = newer
                .as_ref()
                .is_some_and(|n| n.environment == *environment && n.mfe == *mfe);
            if ours && self.gets.fetch_add(1, Ordering::SeqCst) + 1 == self.at {
                newer.take()
            } else {
                None
            }
        };
        if let Some(newer) = newer {
            self.inner.commit(&newer).await?;
        }
        self.inner.get(environment, mfe).await
    }
    async fn list(
        &self,
        environment: &EnvironmentName,
    ) -> Result<Vec<Entry>, gitops_db_registry::Error> {
        self.inner.list(environment).await
    }
    async fn commit(&self, entry: &Entry) -> Result<(), gitops_db_registry::Error> {
        self.inner.commit(entry).await
    }
    async fn settle_invalidation(
        &self,
        environment: &EnvironmentName,
        mfe: &MfeName,
        sequence: u64,
        reference: &str,
    ) -> Result<bool, gitops_db_registry::Error> {
        self.inner
            .settle_invalidation(environment, mfe, sequence, reference)
            .await
    }
    async fn history(
        &self,
        environment: &EnvironmentName,
        mfe: &MfeName,
    ) -> Result<Vec<Entry>, gitops_db_registry::Error> {
        self.inner.history(environment, mfe).await
    }
}

fn env(name: &str) -> EnvironmentName {
    EnvironmentName::parse(name).unwrap()
}

fn mfe(name: &str) -> MfeName {
    MfeName::parse(name).unwrap()
}

fn login(l: &str) -> Login {
    Login::parse(l).unwrap()
}

fn parse<T: std::str::FromStr>(text: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    text.parse().unwrap()
}

fn desired(environment: &str, name: &str, version: &str, sequence: u64) -> Deployment {
    Deployment {
        mfe: mfe(name),
        environment: env(environment),
        version: parse(version),
        sha: parse(SHA),
        git_ref: parse("refs/heads/main"),
        repository: parse(&format!("acme/{name}-mfe")),
        requested_by: parse("octocat"),
        requested_at: "2026-11-26T09:30:00Z".into(),
        request_id: parse(REQUEST_ID),
        rollback: false,
        cache_invalidation_keys: vec![parse(&format!("/mfe/{name}/manifest.json"))],
        pinned: None,
        sequence,
    }
}

/// The registry entry of `name` `version` in `environment` at `sequence`, deployed now by
/// octocat for the request of [`desired`].
fn entry(environment: &str, name: &str, version: &str, sequence: u64) -> Entry {
    Entry {
        environment: env(environment),
        mfe: mfe(name),
        version: parse(version),
        sequence,
        request_id: parse(REQUEST_ID),
        sha: parse(SHA),
        deployed_at: time::OffsetDateTime::now_utc(),
        deployed_by: parse("octocat"),
        rollback: false,
        invalidation: None,
    }
}

/// The example repository with exactly these desired states.
fn repository(deployments: &[Deployment]) -> Repository {
    let root = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/gitops-repo"
    ));
    let mut files = BTreeMap::new();
    for rel in ["gitops.yaml", "mfes/checkout.yaml", "mfes/search.yaml"] {
        files.insert(rel.to_owned(), std::fs::read(root.join(rel)).unwrap());
    }
    for d in deployments {
        files.insert(
            format!("deployments/{}/{}.json", d.environment, d.mfe),
            render_deployment(d).into_bytes(),
        );
    }
    Repository::from_files(&files).unwrap()
}

/// The files of a GitOps repository declaring `environments` in order (name, extra YAML lines
/// of its entry), the MFEs `mfes` (name, the environments it may go to, e.g. `"dev, prod"`)
/// with their artifacts where [`Fakes::publish`] puts them, and the desired states
/// `deployments`.
fn files(
    environments: &[(&str, &str)],
    mfes: &[(&str, &str)],
    deployments: &[Deployment],
) -> BTreeMap<String, Vec<u8>> {
    let mut config = String::from("version: 1\nenvironments:\n");
    for (name, extra) in environments {
        let _ = write!(
            config,
            "  - name: {name}\n    storage: local/{name}/storage\n    registry: local/{name}/registry.db\n    cdn: local/{name}/cdn.log\n    public_url: https://cdn.example.com/{name}\n{extra}"
        );
    }
    let mut files = BTreeMap::from([("gitops.yaml".to_owned(), config.into_bytes())]);
    for (name, environments) in mfes {
        files.insert(
            format!("mfes/{name}.yaml"),
            format!("name: {name}\nrepository: acme/{name}-mfe\nartifact: local/artifacts/{name}/{name}-{{version}}.tgz\nenvironments: [{environments}]\nentry_points: [remoteEntry.js]\n").into_bytes(),
        );
    }
    for d in deployments {
        files.insert(
            deployment_path(&d.environment, &d.mfe),
            render_deployment(d).into_bytes(),
        );
    }
    files
}

/// The repository of `files`.
fn from_files(files: &BTreeMap<String, Vec<u8>>) -> Repository {
    Repository::from_files(files).unwrap_or_else(|p| panic!("{p:?}"))
}

async fn text(store: &dyn ObjectStore, path: &str) -> Option<String> {
    match store.get(&StorePath::from(path)).await {
        Ok(r) => Some(String::from_utf8(r.bytes().await.unwrap().to_vec()).unwrap()),
        Err(_) => None,
    }
}

async fn keys(store: &dyn ObjectStore) -> Vec<String> {
    use futures::StreamExt as _;
    let mut out: Vec<String> = store
        .list(None)
        .map(|m| m.unwrap().location.to_string())
        .collect()
        .await;
    out.sort();
    out
}

#[tokio::test]
async fn a_deploy_uploads_commits_publishes_and_invalidates_once() {
    let fakes = Fakes::new();
    fakes.publish("checkout", "1.5.0");
    let repo = repository(&[desired("dev", "checkout", "1.5.0", 4)]);
    let report = deploy_all(&repo, &fakes, &DeployOptions::default())
        .await
        .unwrap();
    assert_eq!(report.pairs.len(), 1);
    assert_eq!(report.pairs[0].outcome, PairOutcome::Deployed, "{report:?}");
    let store = fakes.storage("dev");
    assert_eq!(
        keys(store).await,
        [
            "importmap.json",
            "mfe/checkout/1.5.0/main.3f2a9c1b.js",
            "mfe/checkout/1.5.0/remoteEntry.js",
            "mfe/checkout/remoteEntry.js"
        ]
    );
    assert_eq!(
        text(store, "mfe/checkout/remoteEntry.js").await.unwrap(),
        "// checkout 1.5.0\n"
    );
    let map: serde_json::Value =
        serde_json::from_str(&text(store, "importmap.json").await.unwrap()).unwrap();
    assert_eq!(
        map["imports"]["checkout"],
        "http://localhost:8080/dev/mfe/checkout/1.5.0/remoteEntry.js"
    );
    let live = fakes
        .registry
        .get(&env("dev"), &mfe("checkout"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (live.version.to_string(), live.sequence),
        ("1.5.0".to_owned(), 4)
    );
    let invalidations = fakes.cdn.invalidations();
    assert_eq!(invalidations.len(), 1);
    assert_eq!(
        invalidations[0].paths,
        [
            "/importmap.json",
            "/mfe/checkout/manifest.json",
            "/mfe/checkout/remoteEntry.js"
        ]
    );
    assert!(
        invalidations[0].paths.iter().all(|p| !p.contains("1.5.0")),
        "never an immutable path"
    );
    let stages: Vec<String> = fakes
        .metrics
        .events()
        .iter()
        .map(|e| format!("{}:{}", e.stage, e.outcome))
        .collect();
    assert_eq!(
        stages,
        [
            "uploaded:success",
            "committed:success",
            "invalidated:success"
        ]
    );
}

#[tokio::test]
async fn an_unchanged_redeploy_touches_nothing() {
    let fakes = Fakes::new();
    fakes.publish("checkout", "1.5.0");
    let repo = repository(&[desired("dev", "checkout", "1.5.0", 4)]);
    deploy_all(&repo, &fakes, &DeployOptions::default())
        .await
        .unwrap();
    let (writes, cdn_calls) = (fakes.registry.writes(), fakes.cdn.create_calls());
    let report = deploy_all(&repo, &fakes, &DeployOptions::default())
        .await
        .unwrap();
    assert_eq!(report.pairs[0].outcome, PairOutcome::AlreadyLive);
    assert_eq!(fakes.registry.writes(), writes);
    assert_eq!(
        fakes.cdn.create_calls(),
        cdn_calls,
        "zero invalidations for an already-live version"
    );
}

#[tokio::test]
async fn a_deploy_killed_after_the_commit_converges_when_rerun() {
    let fakes = Fakes::new();
    fakes.publish("checkout", "1.5.0");
    let d = desired("dev", "checkout", "1.5.0", 4);
    // The earlier run uploaded and committed (recording the invalidation it owed), then died
    // before publishing the pointers.
    fakes
        .registry
        .commit(&Entry {
            invalidation: Some(gitops_db_registry::Invalidation {
                reference: format!("deploy-{}-4", d.request_id),
                paths: vec![
                    "/importmap.json".into(),
                    "/mfe/checkout/remoteEntry.js".into(),
                ],
            }),
            ..entry("dev", "checkout", "1.5.0", 4)
        })
        .await
        .unwrap();
    let report = deploy_all(&repository(&[d]), &fakes, &DeployOptions::default())
        .await
        .unwrap();
    assert_eq!(report.pairs[0].outcome, PairOutcome::Resumed);
    assert!(
        text(fakes.storage("dev"), "importmap.json")
            .await
            .unwrap()
            .contains("1.5.0")
    );
    assert_eq!(fakes.cdn.invalidations().len(), 1);
    // Confirmed, then settled: nothing is pending any more.
    let live = fakes
        .registry
        .get(&env("dev"), &mfe("checkout"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live.invalidation, None);
}

#[tokio::test]
async fn an_older_desired_state_never_overwrites_a_newer_live_one() {
    let fakes = Fakes::new();
    fakes.publish("checkout", "1.5.0");
    fakes.publish("checkout", "1.6.0");
    deploy_all(
        &repository(&[desired("dev", "checkout", "1.6.0", 5)]),
        &fakes,
        &DeployOptions::default(),
    )
    .await
    .unwrap();
    let report = deploy_all(
        &repository(&[desired("dev", "checkout", "1.5.0", 4)]),
        &fakes,
        &DeployOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        report.pairs[0].outcome,
        PairOutcome::Superseded { live_sequence: 5 }
    );
    assert_eq!(
        fakes
            .registry
            .get(&env("dev"), &mfe("checkout"))
            .await
            .unwrap()
            .unwrap()
            .version,
        "1.6.0"
    );
    assert!(
        text(fakes.storage("dev"), "importmap.json")
            .await
            .unwrap()
            .contains("1.6.0")
    );
}

#[test]
fn racing_deploys_of_one_pair_end_on_the_newer_version() {
    for _ in 0..10 {
        let fakes = Arc::new(Fakes::new());
        fakes.publish("checkout", "1.5.0");
        fakes.publish("checkout", "1.6.0");
        // Two runs on two OS threads, each with its own runtime, sharing the targets.
        let run = |repo: Repository| {
            let fakes = fakes.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(deploy_all(&repo, fakes.as_ref(), &DeployOptions::default()))
                    .map(|_| ())
            })
        };
        let a = run(repository(&[desired("dev", "checkout", "1.5.0", 4)]));
        let b = run(repository(&[desired("dev", "checkout", "1.6.0", 5)]));
        a.join().unwrap().unwrap();
        b.join().unwrap().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            assert_eq!(
                fakes
                    .registry
                    .get(&env("dev"), &mfe("checkout"))
                    .await
                    .unwrap()
                    .unwrap()
                    .version,
                "1.6.0"
            );
            let store = fakes.storage("dev");
            assert!(
                text(store, "importmap.json")
                    .await
                    .unwrap()
                    .contains("/1.6.0/")
            );
            assert_eq!(
                text(store, "mfe/checkout/remoteEntry.js").await.unwrap(),
                "// checkout 1.6.0\n"
            );
        });
    }
}

#[tokio::test]
async fn a_bad_artifact_fails_its_pair_only_and_changes_nothing_live() {
    let fakes = Fakes::new();
    fakes.publish("checkout", "1.5.0");
    fakes.publish("search", "2.0.0");
    // Corrupt the search artifact after its checksum was written.
    let path = fakes
        .root
        .path()
        .join("local/artifacts/search/search-2.0.0.tgz");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[20] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let mut search = desired("dev", "search", "2.0.0", 1);
    search.repository = parse("acme/search-mfe");
    let repo = repository(&[desired("dev", "checkout", "1.5.0", 4), search]);
    let report = deploy_all(&repo, &fakes, &DeployOptions::default())
        .await
        .unwrap();
    assert!(report.failed());
    let outcomes: Vec<&PairOutcome> = report.pairs.iter().map(|p| &p.outcome).collect();
    assert_eq!(outcomes[0], &PairOutcome::Deployed);
    match outcomes[1] {
        PairOutcome::Failed {
            error,
            retryable,
            class,
        } => {
            assert!(
                error.contains("checksum") || error.contains("sha256"),
                "{error}"
            );
            assert!(!retryable);
            assert_eq!(*class, ErrorClass::Refused);
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert!(
        fakes
            .registry
            .get(&env("dev"), &mfe("search"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        keys(fakes.storage("dev"))
            .await
            .iter()
            .all(|k| !k.contains("search"))
    );
}

#[tokio::test]
async fn status_compares_desired_and_live() {
    let fakes = Fakes::new();
    fakes.publish("checkout", "1.5.0");
    deploy_all(
        &repository(&[desired("dev", "checkout", "1.5.0", 4)]),
        &fakes,
        &DeployOptions::default(),
    )
    .await
    .unwrap();
    let repo = repository(&[
        desired("dev", "checkout", "1.6.0", 5),
        desired("staging", "checkout", "1.5.0", 1),
    ]);
    let rows = status(&repo, &fakes, None).await.unwrap();
    let summary: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.environment.as_str(),
                r.mfe.as_str(),
                r.version.as_ref().map(ToString::to_string),
                r.desired.as_ref().map(ToString::to_string),
                r.differs,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "dev",
                "checkout",
                Some("1.5.0".to_owned()),
                Some("1.6.0".to_owned()),
                true
            ),
            ("staging", "checkout", None, Some("1.5.0".to_owned()), true),
        ]
    );
    assert!(rows[0].deployed_at.is_some());
}

#[test]
fn different_mfes_deploy_in_parallel_without_conflict() {
    for _ in 0..5 {
        let fakes = Arc::new(Fakes::new());
        fakes.publish("checkout", "1.5.0");
        fakes.publish("search", "2.0.0");
        let mut search = desired("dev", "search", "2.0.0", 1);
        search.repository = parse("acme/search-mfe");
        let repo = Arc::new(repository(&[
            desired("dev", "checkout", "1.5.0", 4),
            search,
        ]));
        let run = |mfe: &'static str| {
            let (fakes, repo) = (fakes.clone(), repo.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let options = DeployOptions {
                    mfe: Some(self::mfe(mfe)),
                    ..DeployOptions::default()
                };
                rt.block_on(deploy_all(&repo, fakes.as_ref(), &options))
                    .unwrap()
            })
        };
        let (a, b) = (run("checkout"), run("search"));
        for report in [a.join().unwrap(), b.join().unwrap()] {
            assert_eq!(report.pairs.len(), 1);
            assert_eq!(report.pairs[0].outcome, PairOutcome::Deployed);
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            // Both MFEs are in the one import map: the compare-and-swap lost neither write.
            let map: serde_json::Value =
                serde_json::from_str(&text(fakes.storage("dev"), "importmap.json").await.unwrap())
                    .unwrap();
            assert!(
                map["imports"]["checkout"]
                    .as_str()
                    .unwrap()
                    .contains("/1.5.0/")
            );
            assert!(
                map["imports"]["search"]
                    .as_str()
                    .unwrap()
                    .contains("/2.0.0/")
            );
        });
    }
}

#[tokio::test]
async fn a_failed_invalidation_stays_pending_until_a_rerun_confirms_it() {
    let fakes = Fakes::new();
    fakes.publish("checkout", "1.5.0");
    let repo = repository(&[desired("dev", "checkout", "1.5.0", 4)]);
    // The CDN refuses every attempt of this run.
    fakes
        .cdn
        .fail_next_creates_with_too_many(gitops_retry::RetryPolicy::FAST.max_attempts);
    let report = deploy_all(&repo, &fakes, &DeployOptions::default())
        .await
        .unwrap();
    assert!(
        matches!(
            report.pairs[0].outcome,
            PairOutcome::Failed {
                retryable: true,
                class: ErrorClass::Retryable,
                ..
            }
        ),
        "{report:?}"
    );
    assert_eq!(report.failure_class(), Some(ErrorClass::Retryable));
    assert!(fakes.cdn.invalidations().is_empty());
    // Live and published, but the invalidation it owes is recorded with the entry.
    let live = fakes
        .registry
        .get(&env("dev"), &mfe("checkout"))
        .await
        .unwrap()
        .unwrap();
    let pending = live.invalidation.clone().expect("a pending invalidation");
    assert!(
        pending.paths.contains(&"/importmap.json".to_owned()),
        "{pending:?}"
    );
    let rows = status(&repo, &fakes, None).await.unwrap();
    assert_eq!(rows[0].state, gitops_pipeline::SyncState::CdnPending);

    // The next run issues exactly that invalidation, then settles it.
    let report = deploy_all(&repo, &fakes, &DeployOptions::default())
        .await
        .unwrap();
    assert_eq!(report.pairs[0].outcome, PairOutcome::Resumed);
    let issued = fakes.cdn.invalidations();
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].caller_reference, pending.reference);
    let live = fakes
        .registry
        .get(&env("dev"), &mfe("checkout"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live.invalidation, None);
    let rows = status(&repo, &fakes, None).await.unwrap();
    assert_eq!(rows[0].state, gitops_pipeline::SyncState::InSync);
    // And a third run touches nothing.
    let report = deploy_all(&repo, &fakes, &DeployOptions::default())
        .await
        .unwrap();
    assert_eq!(report.pairs[0].outcome, PairOutcome::AlreadyLive);
    assert_eq!(fakes.cdn.invalidations().len(), 1);
}

/// Backends whose `staging` targets cannot be opened.
#[derive(Debug)]
struct BrokenStaging<'a>(&'a Fakes);

#[async_trait]
impl Backends for BrokenStaging<'_> {
    async fn targets(&self, environment: &Environment) -> Result<Targets, Error> {
        if environment.name == "staging" {
            return Err(Error::Config {
                reason: "staging: the registry cannot be opened".into(),
            });
        }
        self.0.targets(environment).await
    }

    fn artifact(
        &self,
        template: &str,
        mfe: &MfeName,
        version: &Version,
    ) -> Result<ObjectLocation, Error> {
        self.0.artifact(template, mfe, version)
    }
}

#[tokio::test]
async fn an_unusable_environment_fails_its_own_pairs_only() {
    let fakes = Fakes::new();
    fakes.publish("checkout", "1.5.0");
    let repo = repository(&[
        desired("dev", "checkout", "1.5.0", 1),
        desired("staging", "checkout", "1.5.0", 1),
        desired("prod", "checkout", "1.5.0", 1),
    ]);
    let broken = BrokenStaging(&fakes);
    let report = deploy_all(&repo, &broken, &DeployOptions::default())
        .await
        .unwrap();
    let outcome = |env: &str| {
        report
            .pairs
            .iter()
            .find(|p| p.environment == env)
            .map(|p| p.outcome.clone())
    };
    assert_eq!(outcome("dev"), Some(PairOutcome::Deployed));
    assert_eq!(outcome("prod"), Some(PairOutcome::Deployed));
    assert!(
        matches!(outcome("staging"), Some(PairOutcome::Failed { retryable: false, class: ErrorClass::Config, ref error }) if error.contains("staging")),
        "{report:?}"
    );
    // A configuration error outranks the rest: the deploy exits as one (2), never 3.
    assert_eq!(report.failure_class(), Some(ErrorClass::Config));
    // An artifact store's own configuration error (unusable AWS_* settings) is one too.
    let store_config = Error::Artifact(gitops_artifact_store::Error::Config {
        reason: "AWS_ALLOW_HTTP=\"maybe\" is not a boolean".into(),
    });
    assert_eq!(store_config.class(), ErrorClass::Config);
    assert!(!store_config.is_retryable());
    let rows = status(&repo, &broken, None).await.unwrap();
    let staging: Vec<_> = rows.iter().filter(|r| r.environment == "staging").collect();
    assert_eq!(staging.len(), 1);
    assert_eq!(staging[0].state, gitops_pipeline::SyncState::Unknown);
    assert_eq!(
        staging[0].error_class,
        Some(gitops_pipeline::ErrorClass::Config)
    );
    assert!(
        rows.iter()
            .filter(|r| r.environment != "staging")
            .all(|r| r.state == gitops_pipeline::SyncState::InSync),
        "{rows:?}"
    );
}

#[tokio::test]
async fn a_superseded_deploy_tells_its_requester_which_request_is_live() {
    use gitops_gh_pr::Requester as _;
    let fakes = Fakes::new();
    fakes.publish("checkout", "1.5.0");
    fakes.publish("checkout", "1.6.0");
    let forge = Arc::new(gitops_gh_pr::FakeForge::new());
    let mut newer = desired("dev", "checkout", "1.6.0", 9);
    newer.request_id = parse("01JDQ8Z6X8N7W4K2M5R3T9V1YC");
    deploy_all(
        &repository(&[newer.clone()]),
        &fakes,
        &DeployOptions::default(),
    )
    .await
    .unwrap();
    // The older request's deployment, as `process` created it.
    let older = desired("dev", "checkout", "1.5.0", 4);
    let id = forge
        .create_deployment(
            &older.repository,
            &older.sha,
            &env("dev"),
            &gitops_event_model::DeploymentPayload {
                id: older.request_id.clone(),
                mfe: mfe("checkout"),
                version: parse("1.5.0"),
                user: None,
                keys: Vec::new(),
            },
            "checkout 1.5.0",
        )
        .await
        .unwrap();
    let options = DeployOptions {
        requester: Some(forge.clone()),
        ..DeployOptions::default()
    };
    let report = deploy_all(&repository(std::slice::from_ref(&older)), &fakes, &options)
        .await
        .unwrap();
    assert_eq!(
        report.pairs[0].outcome,
        PairOutcome::Superseded { live_sequence: 9 }
    );
    let statuses = forge
        .deployment_statuses(&older.repository, id)
        .await
        .unwrap();
    assert_eq!(
        statuses[0].state,
        gitops_gh_pr::DeploymentState::Inactive,
        "{statuses:?}"
    );
    assert!(
        statuses[0]
            .description
            .as_deref()
            .is_some_and(|d| d.contains(newer.request_id.as_str()) && d.contains("1.6.0")),
        "{statuses:?}"
    );
}

#[test]
fn decide_orders_by_git_and_never_redeploys_the_live_version() {
    use gitops_pipeline::deploy::{Action, decide};
    let d = desired("dev", "checkout", "1.5.0", 0);
    let live = |version: &str, sequence: u64| entry("dev", "checkout", version, sequence);
    assert_eq!(decide(4, &d, None).unwrap(), Action::Deploy);
    assert_eq!(
        decide(4, &d, Some(&live("1.4.0", 3))).unwrap(),
        Action::Deploy
    );
    assert_eq!(
        decide(4, &d, Some(&live("1.5.0", 4))).unwrap(),
        Action::Live
    );
    // A later commit kept the version (a pin lifted, a rollback flag): nothing is redeployed.
    assert_eq!(
        decide(9, &d, Some(&live("1.5.0", 4))).unwrap(),
        Action::Live
    );
    assert_eq!(
        decide(4, &d, Some(&live("1.6.0", 7))).unwrap(),
        Action::Superseded { live: 7 }
    );
    assert!(decide(4, &d, Some(&live("1.6.0", 4))).is_err());
}
