//! Retention on the fakes: a fleet with 50 versions per pair in in-memory storage and in the
//! strict fake registry's history; `prune` keeps exactly the protected prefixes, reports exactly
//! what it freed, refuses while a deploy is in flight, leaves a pair whose live entry moves
//! during the run, and stops at a failed delete with what it deleted before.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use gitops_db_registry::{Entry, Registry};
use gitops_event_model::Version;
use gitops_iac_config::{Pin, Repository};
use gitops_pipeline::prune::{PruneOptions, PruneReport, Reason, prune};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt as _, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::{Fakes, desired, env, files, from_files, login, mfe};

const VERSIONS: u64 = 50;
const FLEET: [&str; 4] = ["checkout", "search", "cart", "profile"];

fn version(k: u64) -> Version {
    Version::parse(&format!("1.{k}.0")).unwrap()
}

/// A repository declaring dev and prod and the fleet, with these desired states
/// (environment, MFE, version, pinned).
fn repository(deployments: &[(&str, &str, u64, bool)]) -> Repository {
    let mfes = FLEET.map(|m| (m, "dev, prod"));
    let deployments: Vec<_> = deployments
        .iter()
        .map(|(e, m, k, pinned)| {
            let mut d = desired(e, m, &version(*k).to_string(), 0);
            d.pinned = pinned.then(|| Pin {
                by: login("alice"),
                at: OffsetDateTime::parse("2026-05-01T10:00:00Z", &Rfc3339).unwrap(),
                reason: "bad release".into(),
            });
            d
        })
        .collect();
    from_files(&files(&[("dev", ""), ("prod", "")], &mfes, &deployments))
}

/// Commits (env, mfe) at each version of `versions` in order; deploy times long past.
async fn history(registry: &dyn Registry, e: &str, m: &str, versions: &[u64]) {
    let start = OffsetDateTime::now_utc() - Duration::days(20);
    let first = registry
        .history(&env(e), &mfe(m))
        .await
        .unwrap()
        .last()
        .map_or(0, |e| e.sequence);
    for (i, k) in versions.iter().enumerate() {
        let sequence = first + 1 + u64::try_from(i).unwrap();
        registry
            .commit(&entry(e, m, *k, sequence, start))
            .await
            .unwrap();
    }
}

/// (env, mfe) at version `k` and `sequence`, deployed `sequence` minutes after `start`.
fn entry(e: &str, m: &str, k: u64, sequence: u64, start: OffsetDateTime) -> Entry {
    Entry {
        deployed_at: start + Duration::minutes(i64::try_from(sequence).unwrap()),
        ..crate::entry(e, m, &version(k).to_string(), sequence)
    }
}

/// Puts version `k` of `m`: an entry point and one or two assets, sizes depending on both.
async fn put_version(store: &dyn ObjectStore, m: &str, k: u64) {
    let mut files = vec![
        ("remoteEntry.js".to_owned(), format!("// {m} 1.{k}.0\n")),
        (
            format!("assets/main.{k:02}a1b2c3.js"),
            "x".repeat(usize::try_from(100 + k * 7).unwrap()) + m,
        ),
    ];
    if k.is_multiple_of(3) {
        files.push((
            "assets/logo.svg".to_owned(),
            "<svg/>".repeat(usize::try_from(k + 1).unwrap()),
        ));
    }
    for (rel, body) in files {
        store
            .put(
                &Path::from(format!("mfe/{m}/{}/{rel}", version(k))),
                PutPayload::from(body.into_bytes()),
            )
            .await
            .unwrap();
    }
}

/// Every object: path to size.
async fn listing(store: &dyn ObjectStore) -> BTreeMap<String, u64> {
    store
        .list(None)
        .map(|m| {
            let m = m.unwrap();
            (m.location.to_string(), m.size)
        })
        .collect()
        .await
}

/// The objects of the version prefixes `versions` of `m` in `all`, and their bytes.
fn of_prefixes(all: &BTreeMap<String, u64>, m: &str, versions: &BTreeSet<u64>) -> (u64, u64) {
    let inside: Vec<u64> = all
        .iter()
        .filter(|(path, _)| {
            versions
                .iter()
                .any(|k| path.starts_with(&format!("mfe/{m}/{}/", version(*k))))
        })
        .map(|(_, size)| *size)
        .collect();
    (inside.len() as u64, inside.iter().sum())
}

fn options(keep: usize, dry_run: bool) -> PruneOptions {
    PruneOptions {
        environment: env("prod"),
        mfe: None,
        keep,
        older_than: None,
        dry_run,
        // A day on: every object is older than the CDN's max-age.
        now: OffsetDateTime::now_utc() + Duration::days(1),
    }
}

fn kept_of(report: &PruneReport, m: &str) -> BTreeMap<Version, Vec<Reason>> {
    let pair = report
        .pairs
        .iter()
        .find(|p| p.mfe.as_str() == m)
        .unwrap_or_else(|| panic!("no pair {m}: {report:#?}"));
    pair.kept
        .iter()
        .map(|k| (k.version.clone(), k.reasons.clone()))
        .collect()
}

fn versions(ks: impl IntoIterator<Item = u64>) -> BTreeSet<u64> {
    ks.into_iter().collect()
}

/// The fleet in prod (50 versions of each of four MFEs in storage and history), one pair in
/// dev, an unregistered directory, aliases, the import map and metrics. Returns the backends,
/// the repository, and the time before the last two versions of `profile` were written.
async fn fleet() -> (Fakes, Repository, OffsetDateTime) {
    let backends = Fakes::new();
    let prod = backends.storage["prod"].clone();
    let dev = backends.storage["dev"].clone();
    let registry = backends.registry.clone();
    let all: Vec<u64> = (0..VERSIONS).collect();
    for m in FLEET {
        let until = if m == "profile" {
            VERSIONS - 2
        } else {
            VERSIONS
        };
        for k in 0..until {
            put_version(prod.as_ref(), m, k).await;
        }
        prod.put(
            &Path::from(format!("mfe/{m}/remoteEntry.js")),
            PutPayload::from_static(b"// alias\n"),
        )
        .await
        .unwrap();
    }
    for k in 0..3 {
        put_version(dev.as_ref(), "checkout", k).await;
        put_version(prod.as_ref(), "legacy", k).await;
    }
    for key in [
        "importmap.json",
        "metrics/2026/05/01/run.jsonl",
        "index.html",
    ] {
        prod.put(&Path::from(key), PutPayload::from_static(b"{}"))
            .await
            .unwrap();
    }
    // checkout: every version deployed in order; live and desired 1.49.0.
    history(registry.as_ref(), "prod", "checkout", &all).await;
    // search: deployed in order, then rolled back to 1.30.0, pinned there.
    history(registry.as_ref(), "prod", "search", &all).await;
    history(registry.as_ref(), "prod", "search", &[30]).await;
    // cart: 1.40.0 and later were uploaded but never went live.
    history(registry.as_ref(), "prod", "cart", &all[..40]).await;
    // profile: live 1.20.0 only; its last two versions are written after the cut.
    history(registry.as_ref(), "prod", "profile", &[20]).await;
    history(registry.as_ref(), "dev", "checkout", &[2]).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let cut = OffsetDateTime::now_utc();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    for k in VERSIONS - 2..VERSIONS {
        put_version(prod.as_ref(), "profile", k).await;
    }
    let repo = repository(&[
        ("prod", "checkout", 49, false),
        ("prod", "search", 30, true),
        ("prod", "cart", 39, false),
        ("prod", "profile", 20, false),
        ("dev", "checkout", 2, false),
    ]);
    (backends, repo, cut)
}

#[tokio::test]
async fn prune_keeps_exactly_the_protected_versions_of_a_fleet_of_50_versions_per_pair() {
    let (backends, repo, cut) = fleet().await;
    let prod = backends.storage["prod"].clone();
    let before = listing(prod.as_ref()).await;
    let dev_before = listing(backends.storage["dev"].as_ref()).await;
    assert!(before.len() > 4 * 50 * 2, "{}", before.len());

    // What each pair keeps, by the rules, with --keep 5 and --older-than at the cut.
    let last = |from: u64| versions(from..VERSIONS);
    let protected: BTreeMap<&str, BTreeSet<u64>> = [
        ("checkout", last(45)),                                  // recent (live 49)
        ("search", versions([30, 49, 48, 47, 46])),              // live/desired/pinned 30
        ("cart", versions(35..40)),                              // recent (live 39)
        ("profile", versions([20, VERSIONS - 2, VERSIONS - 1])), // live + young
    ]
    .into_iter()
    .collect();
    let mut asked = options(5, true);
    asked.older_than = Some(cut);

    // Dry run: the plan, nothing deleted.
    let dry = prune(&repo, &backends, &asked).await.unwrap();
    assert!(
        dry.dry_run && dry.refused.is_empty() && dry.failure.is_none(),
        "{dry:#?}"
    );
    assert_eq!(
        listing(prod.as_ref()).await,
        before,
        "a dry run deletes nothing"
    );
    let mut expected = (0, 0);
    for (m, kept) in &protected {
        let doomed: BTreeSet<u64> = (0..VERSIONS).filter(|k| !kept.contains(k)).collect();
        let (objects, bytes) = of_prefixes(&before, m, &doomed);
        expected = (expected.0 + objects, expected.1 + bytes);
        let planned: BTreeSet<Version> = kept_of(&dry, m).into_keys().collect();
        assert_eq!(
            planned,
            kept.iter().map(|k| version(*k)).collect(),
            "{m} keeps exactly its protected versions"
        );
    }
    assert_eq!((dry.freed.objects, dry.freed.bytes), expected);
    let search = kept_of(&dry, "search");
    assert_eq!(
        search[&version(30)],
        [
            Reason::Live,
            Reason::Desired,
            Reason::Pinned,
            Reason::Recent
        ]
    );
    assert_eq!(search[&version(49)], [Reason::Recent]);
    assert_eq!(kept_of(&dry, "profile")[&version(49)], [Reason::Young]);
    assert_eq!(
        dry.skipped
            .iter()
            .map(|s| s.directory.as_str())
            .collect::<Vec<_>>(),
        ["mfe/legacy/"]
    );

    // The real run: exactly the unprotected prefixes go, the rest of the listing stays.
    asked.dry_run = false;
    let done = prune(&repo, &backends, &asked).await.unwrap();
    assert!(
        done.refused.is_empty() && done.failure.is_none(),
        "{done:#?}"
    );
    assert_eq!((done.freed.objects, done.freed.bytes), expected);
    for pair in &done.pairs {
        assert_eq!(pair.stopped, None);
        let planned = dry.pairs.iter().find(|p| p.mfe == pair.mfe).unwrap();
        assert_eq!(
            pair.deleted, planned.deleted,
            "{} deleted what was planned",
            pair.mfe
        );
        assert_eq!(pair.kept, planned.kept);
    }
    let after = listing(prod.as_ref()).await;
    let expected_after: BTreeMap<String, u64> = before
        .iter()
        .filter(|(path, _)| {
            let mut parts = path.split('/');
            match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some("mfe"), Some(m), Some(v), Some(_)) => protected.get(m).is_none_or(|kept| {
                    kept.iter()
                        .any(|k| Version::parse(v).ok() == Some(version(*k)))
                }),
                _ => true,
            }
        })
        .map(|(p, s)| (p.clone(), *s))
        .collect();
    assert_eq!(after, expected_after);
    assert!(after.contains_key("mfe/legacy/1.0.0/remoteEntry.js"));
    assert!(after.contains_key("mfe/checkout/remoteEntry.js"));
    assert!(
        after.contains_key("importmap.json") && after.contains_key("metrics/2026/05/01/run.jsonl")
    );
    assert_eq!(
        listing(backends.storage["dev"].as_ref()).await,
        dev_before,
        "another environment is untouched"
    );

    // Again: nothing left to free.
    let again = prune(&repo, &backends, &asked).await.unwrap();
    assert_eq!((again.freed.objects, again.freed.bytes), (0, 0));

    // --keep 0 on one pair: only live, desired and pinned stay.
    let mut zero = options(0, false);
    zero.mfe = Some(mfe("search"));
    let narrowed = prune(&repo, &backends, &zero).await.unwrap();
    assert_eq!(narrowed.pairs.len(), 1, "{narrowed:#?}");
    assert_eq!(
        kept_of(&narrowed, "search").into_keys().collect::<Vec<_>>(),
        [version(30)]
    );
    let (objects, bytes) = of_prefixes(&after, "search", &versions(46..50));
    assert_eq!(
        (narrowed.freed.objects, narrowed.freed.bytes),
        (objects, bytes)
    );
    let left: Vec<String> = listing(prod.as_ref())
        .await
        .into_keys()
        .filter(|p| p.starts_with("mfe/search/"))
        .collect();
    assert!(
        left.iter()
            .all(|p| p.starts_with("mfe/search/1.30.0/") || p == "mfe/search/remoteEntry.js"),
        "{left:?}"
    );
}

#[tokio::test]
async fn prune_refuses_while_a_deploy_is_in_flight_and_deletes_nothing() {
    let (backends, _, _) = fleet().await;
    let prod = backends.storage["prod"].clone();
    let before = listing(prod.as_ref()).await;
    // cart's desired moved to 1.45.0, not deployed yet.
    let repo = repository(&[
        ("prod", "checkout", 49, false),
        ("prod", "search", 30, true),
        ("prod", "cart", 45, false),
        ("prod", "profile", 20, false),
    ]);
    for dry_run in [true, false] {
        let report = prune(&repo, &backends, &options(0, dry_run)).await.unwrap();
        assert_eq!(report.refused.len(), 1, "{report:#?}");
        assert_eq!(report.refused[0].mfe.as_str(), "cart");
        assert!(
            report.refused[0]
                .reason
                .contains("desired 1.45.0 is not live yet (live 1.39.0)")
        );
        assert!(report.pairs.is_empty() && report.freed.objects == 0);
    }
    assert_eq!(listing(prod.as_ref()).await, before);
    // Narrowed to another pair, the run goes ahead.
    let mut other = options(5, false);
    other.mfe = Some(mfe("checkout"));
    let report = prune(&repo, &backends, &other).await.unwrap();
    assert!(report.refused.is_empty());
    assert_eq!(report.pairs[0].deleted.len(), 45);

    // An unconfirmed CDN invalidation of the live deploy is a deploy in flight too.
    let mut pending = entry("prod", "profile", 20, 2, OffsetDateTime::now_utc());
    pending.invalidation = Some(gitops_db_registry::Invalidation {
        reference: "deploy-2".into(),
        paths: vec!["/importmap.json".into()],
    });
    backends.registry.commit(&pending).await.unwrap();
    let mut profile = options(0, false);
    profile.mfe = Some(mfe("profile"));
    let report = prune(&repo, &backends, &profile).await.unwrap();
    assert!(
        report.refused[0].reason.contains("CDN invalidation"),
        "{report:#?}"
    );
}

#[tokio::test]
async fn a_pair_whose_live_entry_moves_during_the_run_is_left_alone() {
    // A deploy rolls (prod, cart) back to 1.3.0 (the sequence after its live 1) when prune
    // first reads its live entry: it commits while prune runs.
    let mut next = entry("prod", "cart", 3, 2, OffsetDateTime::now_utc());
    next.rollback = true;
    let backends = Fakes::new().racing(1, next);
    let prod = backends.storage["prod"].clone();
    for m in ["cart", "search"] {
        for k in 0..6 {
            put_version(prod.as_ref(), m, k).await;
        }
        history(backends.registry.as_ref(), "prod", m, &[5]).await;
    }
    let repo = repository(&[("prod", "cart", 5, false), ("prod", "search", 5, false)]);
    let report = prune(&repo, &backends, &options(1, false)).await.unwrap();
    assert!(report.failure.is_none(), "{report:#?}");
    let cart = report
        .pairs
        .iter()
        .find(|p| p.mfe.as_str() == "cart")
        .unwrap();
    assert!(cart.deleted.is_empty(), "{cart:#?}");
    assert!(
        cart.stopped
            .as_deref()
            .unwrap()
            .contains("now 1.3.0 at sequence 2"),
        "{cart:#?}"
    );
    let search = report
        .pairs
        .iter()
        .find(|p| p.mfe.as_str() == "search")
        .unwrap();
    assert_eq!(search.deleted.len(), 5, "the other pair is pruned");
    let left = listing(prod.as_ref()).await;
    for k in 0..6 {
        assert!(left.contains_key(&format!("mfe/cart/1.{k}.0/remoteEntry.js")));
    }
}

/// A store whose deletes of one prefix fail after `allowed` objects.
#[derive(Debug)]
struct FailingDeletes {
    inner: InMemory,
    prefix: &'static str,
}

impl fmt::Display for FailingDeletes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FailingDeletes")
    }
}

#[async_trait]
impl ObjectStore for FailingDeletes {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }
    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let prefix = self.prefix;
        let inner = self.inner.clone();
        locations
            .then(move |location| {
                let inner = inner.clone();
                async move {
                    let location = location?;
                    if location.as_ref().starts_with(prefix)
                        && location.as_ref().ends_with("remoteEntry.js")
                    {
                        return Err(object_store::Error::Generic {
                            store: "FailingDeletes",
                            source: "access denied".into(),
                        });
                    }
                    inner.delete(&location).await?;
                    Ok(location)
                }
            })
            .boxed()
    }
    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[tokio::test]
async fn a_failed_delete_stops_the_run_with_what_was_deleted_before() {
    let store = Arc::new(FailingDeletes {
        inner: InMemory::new(),
        prefix: "mfe/cart/1.2.0/",
    });
    let backends = Fakes::new().with_storage("prod", store.clone());
    for m in ["cart", "search"] {
        for k in 0..4 {
            put_version(store.as_ref(), m, k).await;
        }
        history(backends.registry.as_ref(), "prod", m, &[3]).await;
    }
    let before = listing(store.as_ref()).await;
    let repo = repository(&[("prod", "cart", 3, false), ("prod", "search", 3, false)]);
    let report = prune(&repo, &backends, &options(1, false)).await.unwrap();
    let failure = report.failure.clone().expect("the delete failed");
    assert_eq!(failure.prefix, "mfe/cart/1.2.0/");
    assert!(failure.error.contains("access denied"), "{failure:?}");
    // cart 1.0.0 and 1.1.0 went first (oldest first), then 1.2.0's assets before its entry.
    let cart = report
        .pairs
        .iter()
        .find(|p| p.mfe.as_str() == "cart")
        .unwrap();
    assert_eq!(
        cart.deleted
            .iter()
            .map(|d| d.version.to_string())
            .collect::<Vec<_>>(),
        ["1.1.0", "1.0.0"]
    );
    let (objects, bytes) = of_prefixes(&before, "cart", &versions(0..2));
    let (partial, partial_bytes) = (
        of_prefixes(&before, "cart", &versions([2])).0 - 1,
        of_prefixes(&before, "cart", &versions([2])).1 - before["mfe/cart/1.2.0/remoteEntry.js"],
    );
    assert_eq!(
        (failure.deleted.objects, failure.deleted.bytes),
        (partial, partial_bytes)
    );
    assert_eq!(
        (report.freed.objects, report.freed.bytes),
        (objects + partial, bytes + partial_bytes)
    );
    // search was not attempted.
    let search = report
        .pairs
        .iter()
        .find(|p| p.mfe.as_str() == "search")
        .unwrap();
    assert!(search.deleted.is_empty());
    assert!(search.stopped.as_deref().unwrap().contains("not attempted"));
    let after = listing(store.as_ref()).await;
    assert_eq!(
        after.len() as u64,
        before.len() as u64 - objects - partial,
        "exactly what the report says is gone"
    );
}
