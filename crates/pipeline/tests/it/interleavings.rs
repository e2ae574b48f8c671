//! Property-based interleavings (issue 18): schedules of requests, merges, deploys, rollbacks
//! and unpins over two or three environments and two or three MFEs, run on the strict fakes
//! (`FakeForge` for the GitOps repository and the requesters, the fake registry and CDN,
//! in-memory storage counting every write), then drained (merge everything, deploy
//! everything). Afterwards, for every pair:
//!
//! - **newest wins**: main's desired version and the registry's live version are the version of
//!   the newest *accepted* intent (a request `process` accepted, or a rollback); requests
//!   refused (`pinned`, `downgrade`) or no-ops do not count;
//! - **no loss**: every accepted request is live and its requester told `success`, or a newer
//!   accepted intent for the pair exists and its requester was told `inactive` (superseded);
//!   no pull request is left open;
//! - **no duplicate upload**: every object under a version prefix was written once, the deploy
//!   reports' `files_uploaded` add up to exactly those writes, and a last deploy of the drained
//!   state writes nothing at all (no upload, no registry write, no invalidation);
//! - **history complete**: the registry's history of the pair is the list of versions the
//!   deploys reported `deployed`, in order, with strictly increasing sequences; the import map
//!   and the entry-point alias serve the live version (nothing when nothing is live); `status`
//!   says in sync.
//!
//! Git order: the fake forge has no `git rev-list`, so this harness keeps the first-parent
//! positions of `main` itself (the root commit is 1, each merge adds one) and hands the deploy
//! the [`Revisions`] `desired_revisions` would compute: the position of the merge that last
//! changed each desired-state file. No `sequence` is written in any file.
//!
//! Late deploys: a deploy may run main as it was some merges ago (a deploy run that started after
//! the runs of newer merges), so deploys meet newer live entries (`superseded`).
//!
//! Concurrency: a step may run two requests, a request and a deploy, or two deploys (current or
//! late) at once with `tokio::join!` (on a multi-threaded runtime, artifacts are read on the
//! blocking pool, so the two really interleave). Two accepted concurrent requests of one pair
//! are ordered by version: the only linearisation the policy allows (a lower one after a higher
//! pending one is a `downgrade`).
//!
//! Half the schedules run with the first environment batching (`batch: true`): its pairs'
//! requests share one pull request, merged at once (the coverage test asserts such merges).
//!
//! Generation leans on pair 0 of each axis and has a `Ship` operation (request, merge, deploy)
//! and rollbacks and unpins aimed at pairs that have something to roll back or unpin, so short
//! schedules reach rollbacks, pins and supersessions; the coverage test asserts they do. Two
//! schedules the property found are kept as regression tests at the end.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::stream::BoxStream;
use gitops_db_registry::Registry as _;
use gitops_event_model::{DeployRequest, RepositoryName, RequestId, Version};
use gitops_gh_pr::{
    DeploymentState, FakeForge, Forge as _, Requester as _, Revision, Revisions, pair_of_branch,
};
use gitops_iac_config::{Code, Deployment, Outcome, Repository, deployment_path};
use gitops_pipeline::{
    DeployOptions, DeployReport, MergeOutcome, OriginCheck, PairOutcome, RollbackAsk, SyncState,
    UnpinOutcome, deploy_all, merge_pull_requests, process, rollback_to, status, unpin,
};
use object_store::memory::InMemory;
use object_store::path::Path as StorePath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree as _;
use proptest::test_runner::TestRunner;

use crate::forge::now;
use crate::{Fakes, env, files, from_files, mfe, text};

const ENVIRONMENTS: [&str; 3] = ["dev", "staging", "qa"];
const MFES: [&str; 3] = ["checkout", "search", "cart"];
/// Who rolls back and unpins.
const OPERATOR: &str = "release-manager";
/// The files of every artifact [`Fakes::publish`] packs.
const FILES_PER_VERSION: usize = 2;

/// One operation of a schedule; environments and MFEs are indexes into [`ENVIRONMENTS`] and
/// [`MFES`] (below the schedule's counts).
#[derive(Debug, Clone)]
enum Op {
    /// A deploy request: the pair's next version, or (`resend: Some(k)`) again one it was
    /// already asked for (a new request id: a late or repeated request).
    Request {
        env: usize,
        mfe: usize,
        resend: Option<usize>,
    },
    /// `merge_pull_requests` on every open pull request.
    MergeAll,
    /// `deploy_all` of main (one environment, or all).
    Deploy(Option<usize>),
    /// `deploy_all` of main as it was `back` merges ago (modulo the merges so far): a deploy
    /// run that started late, after the runs of newer merges.
    DeployPast { env: Option<usize>, back: usize },
    /// `rollback_to` the previous live version, pinned.
    Rollback { env: usize, mfe: usize },
    /// `unpin`.
    Unpin { env: usize, mfe: usize },
    /// Two requests or deploys at once.
    Together(Box<Op>, Box<Op>),
    /// The usual path of one request: the pair's next version requested, everything merged,
    /// the environment deployed.
    Ship { env: usize, mfe: usize },
}

impl Op {
    /// The operations `self` stands for, one at a time.
    fn expand(&self) -> Vec<Op> {
        match self {
            Op::Ship { env, mfe } => vec![
                Op::Request {
                    env: *env,
                    mfe: *mfe,
                    resend: None,
                },
                Op::MergeAll,
                Op::Deploy(Some(*env)),
            ],
            other => vec![other.clone()],
        }
    }
}

/// A schedule over the first `environments` x `mfes` pairs.
#[derive(Debug, Clone)]
struct Schedule {
    environments: usize,
    mfes: usize,
    /// The first environment batches (`batch: true`): its pairs share one pull request.
    batch: bool,
    ops: Vec<Op>,
}

/// An index below `n`, half the time 0: pairs see several operations each.
fn index(n: usize) -> impl Strategy<Value = usize> {
    prop_oneof![Just(0), 0..n]
}

/// A pair's indexes ([`index`]).
fn pair(environments: usize, mfes: usize) -> impl Strategy<Value = (usize, usize)> {
    (index(environments), index(mfes))
}

fn concurrent_op(environments: usize, mfes: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => pair(environments, mfes).prop_map(|(env, mfe)| Op::Request { env, mfe, resend: None }),
        1 => proptest::option::of(0..environments).prop_map(Op::Deploy),
        1 => (proptest::option::of(0..environments), 0..4usize)
            .prop_map(|(env, back)| Op::DeployPast { env, back }),
    ]
}

fn op(environments: usize, mfes: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (pair(environments, mfes), proptest::option::weighted(0.25, 0..8usize))
            .prop_map(|((env, mfe), resend)| Op::Request { env, mfe, resend }),
        3 => pair(environments, mfes).prop_map(|(env, mfe)| Op::Ship { env, mfe }),
        4 => Just(Op::MergeAll),
        4 => proptest::option::of(0..environments).prop_map(Op::Deploy),
        2 => (proptest::option::of(0..environments), 0..4usize)
            .prop_map(|(env, back)| Op::DeployPast { env, back }),
        3 => pair(environments, mfes).prop_map(|(env, mfe)| Op::Rollback { env, mfe }),
        2 => pair(environments, mfes).prop_map(|(env, mfe)| Op::Unpin { env, mfe }),
        2 => (concurrent_op(environments, mfes), concurrent_op(environments, mfes))
            .prop_map(|(a, b)| Op::Together(Box::new(a), Box::new(b))),
    ]
}

fn schedule() -> impl Strategy<Value = Schedule> {
    (2..=3usize, 2..=3usize, any::<bool>()).prop_flat_map(|(environments, mfes, batch)| {
        proptest::collection::vec(op(environments, mfes), 5..=25).prop_map(move |ops| Schedule {
            environments,
            mfes,
            batch,
            ops,
        })
    })
}

/// An operation with its versions chosen.
#[derive(Debug, Clone)]
enum Step {
    Request(Box<DeployRequest>),
    MergeAll,
    Deploy(Option<usize>),
    /// A deploy of main at an earlier merge (its commit and the git order then).
    DeployPast(Option<usize>, Option<Revisions>),
    Rollback(usize, usize),
    Unpin(usize, usize),
    Together(Box<Step>, Box<Step>),
}

/// A (environment, MFE) pair by name.
type Pair = (String, String);

fn pair_of(d: &Deployment) -> Pair {
    (d.environment.to_string(), d.mfe.to_string())
}

/// An intent the pipeline accepted.
#[derive(Debug, Clone)]
struct Accepted {
    pair: Pair,
    version: Version,
    /// The request and the deployment `process` told it on; `None` for a rollback.
    request: Option<(RequestId, RepositoryName, u64)>,
}

/// What one step did, applied to the model once the step (and its partner) finished.
#[derive(Debug)]
enum Effect {
    Accepted(Accepted),
    Refused(Vec<Code>),
    Noop,
    Superseded,
    /// Each merge: the desired-state files it changed (one for a pair's PR, several for a
    /// batch's) and its commit.
    Merged(Vec<(Vec<String>, gitops_event_model::CommitSha)>),
    Deployed(DeployReport),
    Unpinned,
    NotApplicable,
}

/// What a run exercised, summed for the coverage test.
#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    accepted: usize,
    rollbacks: usize,
    refused_pinned: usize,
    refused_downgrade: usize,
    noops: usize,
    replaced_pending: usize,
    deployed: usize,
    superseded_at_deploy: usize,
    unpins: usize,
    together: usize,
    /// Merges of a batch holding several pairs' changes.
    batch_merges: usize,
}

impl Stats {
    fn add(&mut self, o: Stats) {
        self.accepted += o.accepted;
        self.rollbacks += o.rollbacks;
        self.refused_pinned += o.refused_pinned;
        self.refused_downgrade += o.refused_downgrade;
        self.noops += o.noops;
        self.replaced_pending += o.replaced_pending;
        self.deployed += o.deployed;
        self.superseded_at_deploy += o.superseded_at_deploy;
        self.unpins += o.unpins;
        self.together += o.together;
        self.batch_merges += o.batch_merges;
    }
}

/// In-memory storage counting the successful writes per key.
#[derive(Debug, Default)]
struct Counting {
    inner: InMemory,
    puts: Mutex<BTreeMap<String, usize>>,
}

impl Counting {
    fn count(&self, location: &StorePath) {
        *self
            .puts
            .lock()
            .unwrap()
            .entry(location.to_string())
            .or_default() += 1;
    }

    fn puts(&self) -> BTreeMap<String, usize> {
        self.puts.lock().unwrap().clone()
    }
}

impl fmt::Display for Counting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting")
    }
}

#[async_trait]
impl ObjectStore for Counting {
    async fn put_opts(
        &self,
        location: &StorePath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let result = self.inner.put_opts(location, payload, opts).await?;
        self.count(location);
        Ok(result)
    }
    async fn put_multipart_opts(
        &self,
        location: &StorePath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.count(location);
        self.inner.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        location: &StorePath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }
    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<StorePath>>,
    ) -> BoxStream<'static, object_store::Result<StorePath>> {
        self.inner.delete_stream(locations)
    }
    fn list(
        &self,
        prefix: Option<&StorePath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(
        &self,
        prefix: Option<&StorePath>,
    ) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        from: &StorePath,
        to: &StorePath,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// The fakes, the forge and what the harness knows about them.
struct World {
    fakes: Fakes,
    stores: BTreeMap<String, Arc<Counting>>,
    forge: Arc<FakeForge>,
    environments: usize,
    mfes: usize,
    /// The first-parent position of main's head (the root commit is 1).
    head: u64,
    /// The revision of each desired-state file on main: the merge that last changed it.
    revisions: BTreeMap<String, Revision>,
    /// Main after each merge: its commit and the revisions then.
    merges: Vec<Revisions>,
    /// The versions asked for, per pair (the next one is `1.<len>.0`).
    asked: BTreeMap<Pair, Vec<String>>,
    /// Accepted intents per pair, in the order the pipeline took them.
    intents: BTreeMap<Pair, Vec<Accepted>>,
    /// (version, sequence) of every `deployed` pair report, per pair.
    lived: BTreeMap<Pair, Vec<(Version, u64)>>,
    /// `files_uploaded` summed per (environment, MFE, version).
    uploaded: BTreeMap<(String, String, String), usize>,
    stats: Stats,
}

impl World {
    fn new(environments: usize, mfes: usize) -> Self {
        Self::batching(environments, mfes, false)
    }

    /// [`World::new`], the first environment batching (`batch: true`) when `batch`.
    fn batching(environments: usize, mfes: usize, batch: bool) -> Self {
        let mut fakes = Fakes::new();
        let mut stores = BTreeMap::new();
        for name in ENVIRONMENTS {
            let store = Arc::new(Counting::default());
            fakes = fakes.with_storage(name, store.clone());
            stores.insert(name.to_owned(), store);
        }
        let allowed = ENVIRONMENTS[..environments].join(", ");
        let environment_list: Vec<(&str, &str)> = ENVIRONMENTS[..environments]
            .iter()
            .enumerate()
            .map(|(i, e)| {
                (
                    *e,
                    if batch && i == 0 {
                        "    batch: true\n"
                    } else {
                        ""
                    },
                )
            })
            .collect();
        let mfe_list: Vec<(&str, &str)> = MFES[..mfes]
            .iter()
            .map(|m| (*m, allowed.as_str()))
            .collect();
        let forge = Arc::new(FakeForge::with_files(files(
            &environment_list,
            &mfe_list,
            &[],
        )));
        World {
            fakes,
            stores,
            forge,
            environments,
            mfes,
            head: 1,
            revisions: BTreeMap::new(),
            merges: Vec::new(),
            asked: BTreeMap::new(),
            intents: BTreeMap::new(),
            lived: BTreeMap::new(),
            uploaded: BTreeMap::new(),
            stats: Stats::default(),
        }
    }

    fn pairs(&self) -> Vec<Pair> {
        let mut pairs = Vec::new();
        for e in &ENVIRONMENTS[..self.environments] {
            for m in &MFES[..self.mfes] {
                pairs.push(((*e).to_owned(), (*m).to_owned()));
            }
        }
        pairs
    }

    /// Chooses the versions of `op` (publishing a new version's artifact).
    fn resolve(&mut self, op: &Op) -> Step {
        match op {
            Op::Request { env, mfe, resend } => {
                let (e, m) = (ENVIRONMENTS[*env], MFES[*mfe]);
                let asked = self.asked.entry((e.to_owned(), m.to_owned())).or_default();
                let version = match resend {
                    Some(k) if !asked.is_empty() => asked[k % asked.len()].clone(),
                    _ => {
                        let version = format!("1.{}.0", asked.len());
                        asked.push(version.clone());
                        self.fakes.publish(m, &version);
                        version
                    }
                };
                Step::Request(Box::new(request(e, m, &version)))
            }
            Op::MergeAll => Step::MergeAll,
            Op::Deploy(env) => Step::Deploy(*env),
            Op::DeployPast { env, back } => {
                let past = (!self.merges.is_empty())
                    .then(|| self.merges[self.merges.len() - 1 - back % self.merges.len()].clone());
                Step::DeployPast(*env, past)
            }
            Op::Rollback { env, mfe } => {
                // Preferably a pair with something to roll back to: a version that was live
                // other than the one last asked for.
                let (env, mfe) = self.aim(*env, *mfe, |w, pair| {
                    let last = w
                        .intents
                        .get(pair)
                        .and_then(|i| i.last())
                        .map(|i| &i.version);
                    w.lived
                        .get(pair)
                        .is_some_and(|l| l.iter().any(|(v, _)| Some(v) != last))
                });
                Step::Rollback(env, mfe)
            }
            Op::Unpin { env, mfe } => {
                // Preferably a pair a rollback pinned.
                let (env, mfe) = self.aim(*env, *mfe, |w, pair| {
                    w.intents
                        .get(pair)
                        .is_some_and(|i| i.iter().any(|i| i.request.is_none()))
                });
                Step::Unpin(env, mfe)
            }
            Op::Together(a, b) => {
                Step::Together(Box::new(self.resolve(a)), Box::new(self.resolve(b)))
            }
            Op::Ship { .. } => unreachable!("expanded by World::play"),
        }
    }

    /// The pair (indexes) `env`, `mfe` picks among those `fits`, or itself when none does.
    fn aim(&self, env: usize, mfe: usize, fits: impl Fn(&World, &Pair) -> bool) -> (usize, usize) {
        let fitting: Vec<(usize, usize)> = (0..self.environments)
            .flat_map(|e| (0..self.mfes).map(move |m| (e, m)))
            .filter(|(e, m)| fits(self, &(ENVIRONMENTS[*e].to_owned(), MFES[*m].to_owned())))
            .collect();
        if fitting.is_empty() {
            (env, mfe)
        } else {
            fitting[(env * MFES.len() + mfe) % fitting.len()]
        }
    }

    /// Main's repository and the git order of its desired-state files.
    async fn main(&self) -> (Repository, Revisions) {
        let tree = self
            .forge
            .read_tree(self.forge.base_branch())
            .await
            .unwrap();
        let revisions = Revisions {
            head: tree.commit_sha.clone(),
            by_path: self.revisions.clone(),
        };
        (from_files(&tree.files), revisions)
    }

    /// Runs `step`; what it did is applied afterwards ([`World::apply`]).
    fn run<'a>(
        &'a self,
        step: &'a Step,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<Effect>> + 'a>> {
        Box::pin(async move {
            match step {
                Step::Request(request) => self.request(request).await,
                Step::MergeAll => vec![self.merge_all().await],
                Step::Deploy(env) => vec![self.deploy(*env, None).await],
                Step::DeployPast(_, None) => vec![Effect::NotApplicable],
                Step::DeployPast(env, Some(past)) => vec![self.deploy(*env, Some(past)).await],
                Step::Rollback(env, mfe) => self.rollback(*env, *mfe).await,
                Step::Unpin(env, mfe) => vec![self.unpin(*env, *mfe).await],
                Step::Together(a, b) => {
                    let (a, b) = tokio::join!(self.run(a), self.run(b));
                    // Concurrent intents of one pair linearise in version order.
                    let (mut accepted, mut effects): (Vec<Effect>, Vec<Effect>) = a
                        .into_iter()
                        .chain(b)
                        .partition(|e| matches!(e, Effect::Accepted(_)));
                    accepted.sort_by(|x, y| match (x, y) {
                        (Effect::Accepted(x), Effect::Accepted(y)) => {
                            x.version.semver().cmp_precedence(y.version.semver())
                        }
                        _ => unreachable!("partitioned"),
                    });
                    effects.extend(accepted);
                    effects
                }
            }
        })
    }

    async fn request(&self, request: &DeployRequest) -> Vec<Effect> {
        let (repo, _) = self.main().await;
        let report = process(
            &repo,
            None,
            Ok(request),
            now(),
            self.forge.as_ref(),
            Some(self.forge.as_ref()),
            OriginCheck::Trust,
            &gitops_metrics::NullSink,
        )
        .await
        .unwrap();
        let mut effects = Vec::new();
        if report.superseded.is_some() {
            effects.push(Effect::Superseded);
        }
        effects.push(match report.decision.decision {
            Outcome::Accept => Effect::Accepted(Accepted {
                pair: (request.environment().to_string(), request.mfe().to_string()),
                version: request.version().clone(),
                request: Some((
                    request.id().clone(),
                    request.repository().clone(),
                    report.deployment.expect("a requester was given"),
                )),
            }),
            Outcome::Reject => Effect::Refused(report.decision.codes()),
            Outcome::Noop => Effect::Noop,
        });
        effects
    }

    async fn merge_all(&self) -> Effect {
        // What each open pull request changes, read before it merges: a pair's file, or a
        // batch's files.
        let mut changes = BTreeMap::new();
        for pr in self.forge.open_pull_requests().await.unwrap() {
            let paths = match pair_of_branch(&pr.branch) {
                Some((env, mfe)) => vec![deployment_path(&env, &mfe)],
                None => self.forge.changed_files(pr.number).await.unwrap(),
            };
            changes.insert(pr.number, paths);
        }
        let results = merge_pull_requests(
            self.forge.as_ref(),
            Some(self.forge.as_ref()),
            None,
            now(),
            &gitops_metrics::NullSink,
        )
        .await
        .unwrap();
        let mut merged = Vec::new();
        for (number, result) in results {
            match result.unwrap() {
                MergeOutcome::Merged { sha } => {
                    merged.push((changes.remove(&number).expect("an open PR"), sha));
                }
                other => panic!("pull request #{number} was not merged: {other:?}"),
            }
        }
        Effect::Merged(merged)
    }

    /// `deploy_all` of main, or of main at the `past` merge.
    async fn deploy(&self, env: Option<usize>, past: Option<&Revisions>) -> Effect {
        let (repo, revisions) = match past {
            None => self.main().await,
            Some(past) => {
                let tree = self.forge.read_tree(past.head.as_str()).await.unwrap();
                (from_files(&tree.files), past.clone())
            }
        };
        let options = DeployOptions {
            requester: Some(self.forge.clone()),
            environment: env.map(|e| self::env(ENVIRONMENTS[e])),
            revisions: Some(revisions),
            ..DeployOptions::default()
        };
        Effect::Deployed(deploy_all(&repo, &self.fakes, &options).await.unwrap())
    }

    async fn rollback(&self, env: usize, mfe: usize) -> Vec<Effect> {
        let (repo, _) = self.main().await;
        let ask = RollbackAsk {
            environment: self::env(ENVIRONMENTS[env]),
            mfe: self::mfe(MFES[mfe]),
            to: None,
            user: OPERATOR.to_owned(),
            at: now(),
            pin: Some(String::new()),
        };
        let report = match rollback_to(
            &repo,
            &self.fakes,
            &ask,
            self.forge.as_ref(),
            Some(self.forge.as_ref()),
        )
        .await
        {
            Ok(report) => report,
            // Nothing desired yet, or no earlier version live: nothing to roll back to.
            Err(gitops_pipeline::Error::Config { .. }) => return vec![Effect::NotApplicable],
            Err(e) => panic!("rollback failed: {e}"),
        };
        let mut effects = Vec::new();
        if report.superseded.is_some() {
            effects.push(Effect::Superseded);
        }
        effects.push(match report.decision.decision {
            Outcome::Accept => {
                let change = &report.decision.changes[0];
                let written: Deployment = serde_json::from_str(&change.content).unwrap();
                assert!(written.rollback && written.pinned.is_some(), "{written:?}");
                Effect::Accepted(Accepted {
                    pair: pair_of(&written),
                    version: written.version,
                    request: None,
                })
            }
            Outcome::Reject => Effect::Refused(report.decision.codes()),
            Outcome::Noop => Effect::Noop,
        });
        effects
    }

    async fn unpin(&self, env: usize, mfe: usize) -> Effect {
        let (repo, _) = self.main().await;
        match unpin(
            &repo,
            &self::env(ENVIRONMENTS[env]),
            &self::mfe(MFES[mfe]),
            OPERATOR,
            self.forge.as_ref(),
            None,
        )
        .await
        {
            Ok(UnpinOutcome::Proposed { .. }) => Effect::Unpinned,
            Ok(UnpinOutcome::NotPinned { .. }) | Err(gitops_pipeline::Error::Config { .. }) => {
                Effect::NotApplicable
            }
            Err(e) => panic!("unpin failed: {e}"),
        }
    }

    fn apply(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Accepted(accepted) => {
                    if accepted.request.is_some() {
                        self.stats.accepted += 1;
                    } else {
                        self.stats.rollbacks += 1;
                    }
                    self.intents
                        .entry(accepted.pair.clone())
                        .or_default()
                        .push(accepted);
                }
                Effect::Refused(codes) => {
                    for code in &codes {
                        match code {
                            Code::Pinned => self.stats.refused_pinned += 1,
                            Code::Downgrade => self.stats.refused_downgrade += 1,
                            other => panic!("refused for {other}, which no schedule provokes"),
                        }
                    }
                }
                Effect::Noop => self.stats.noops += 1,
                Effect::Superseded => self.stats.replaced_pending += 1,
                Effect::Merged(merged) => {
                    for (paths, commit) in merged {
                        self.head += 1;
                        self.stats.batch_merges += usize::from(paths.len() > 1);
                        for path in paths {
                            self.revisions.insert(
                                path,
                                Revision {
                                    commit: commit.clone(),
                                    position: self.head,
                                },
                            );
                        }
                        self.merges.push(Revisions {
                            head: commit,
                            by_path: self.revisions.clone(),
                        });
                    }
                }
                Effect::Deployed(report) => self.record(&report),
                Effect::Unpinned => self.stats.unpins += 1,
                Effect::NotApplicable => {}
            }
        }
    }

    fn record(&mut self, report: &DeployReport) {
        for pair in &report.pairs {
            let key = (pair.environment.to_string(), pair.mfe.to_string());
            match &pair.outcome {
                PairOutcome::Deployed => {
                    self.stats.deployed += 1;
                    self.lived
                        .entry(key.clone())
                        .or_default()
                        .push((pair.version.clone(), pair.sequence));
                }
                PairOutcome::Superseded { .. } => self.stats.superseded_at_deploy += 1,
                PairOutcome::Resumed | PairOutcome::AlreadyLive => {}
                PairOutcome::Failed { error, .. } => {
                    panic!("{}/{} failed: {error}", pair.environment, pair.mfe)
                }
            }
            *self
                .uploaded
                .entry((key.0, key.1, pair.version.to_string()))
                .or_default() += pair.files_uploaded;
        }
    }

    /// Runs `schedule`, then drains: merge everything, deploy everything.
    async fn play(&mut self, ops: &[Op]) {
        for op in ops.iter().flat_map(Op::expand) {
            let step = self.resolve(&op);
            if matches!(step, Step::Together(..)) {
                self.stats.together += 1;
            }
            let effects = self.run(&step).await;
            self.apply(effects);
        }
        for step in [Step::MergeAll, Step::Deploy(None)] {
            let effects = self.run(&step).await;
            self.apply(effects);
        }
    }

    /// Every property of the module's documentation, on the drained state.
    async fn check(&self) -> Result<(), String> {
        let open = self.forge.open_pull_requests().await.unwrap();
        if !open.is_empty() {
            return Err(format!("no loss: pull requests left open: {open:?}"));
        }
        let (repo, revisions) = self.main().await;
        for pair in self.pairs() {
            self.check_pair(&repo, &pair).await?;
        }
        self.check_uploads()?;
        let rows = status(&repo, &self.fakes, None).await.unwrap();
        if let Some(row) = rows.iter().find(|r| r.state != SyncState::InSync) {
            return Err(format!("status: {row:?}"));
        }
        // A deploy of the drained state writes nothing: no upload, no commit, no invalidation.
        let (puts, writes, invalidations) = (
            self.all_puts(),
            self.fakes.registry.writes(),
            self.fakes.cdn.create_calls(),
        );
        let options = DeployOptions {
            revisions: Some(revisions),
            ..DeployOptions::default()
        };
        let again = deploy_all(&repo, &self.fakes, &options).await.unwrap();
        if let Some(p) = again
            .pairs
            .iter()
            .find(|p| p.outcome != PairOutcome::AlreadyLive || p.files_uploaded != 0)
        {
            return Err(format!("no duplicate upload: a re-deploy did {p:?}"));
        }
        if (
            self.all_puts(),
            self.fakes.registry.writes(),
            self.fakes.cdn.create_calls(),
        ) != (puts, writes, invalidations)
        {
            return Err("no duplicate upload: a re-deploy of the live state wrote".to_owned());
        }
        Ok(())
    }

    fn all_puts(&self) -> usize {
        self.stores
            .values()
            .map(|s| s.puts().values().sum::<usize>())
            .sum()
    }

    async fn check_pair(&self, repo: &Repository, pair: &Pair) -> Result<(), String> {
        let (e, m) = (env(&pair.0), mfe(&pair.1));
        let intents = self.intents.get(pair).map_or(&[][..], Vec::as_slice);
        let expected = intents.last().map(|i| i.version.clone());
        // Newest wins.
        let desired = repo.deployment(&e, &m).map(|d| d.version.clone());
        if desired != expected {
            return Err(format!(
                "newest wins: {pair:?} desires {desired:?} on main, the newest accepted intent is {expected:?} ({intents:?})"
            ));
        }
        let live = self.fakes.registry.get(&e, &m).await.unwrap();
        let live_version = live.as_ref().map(|l| l.version.clone());
        if live_version != expected {
            return Err(format!(
                "newest wins: {pair:?} has {live_version:?} live, the newest accepted intent is {expected:?}"
            ));
        }
        // History complete.
        let history = self.fakes.registry.history(&e, &m).await.unwrap();
        if history.windows(2).any(|w| w[0].sequence >= w[1].sequence) {
            return Err(format!(
                "history: {pair:?} sequences do not increase: {history:?}"
            ));
        }
        let recorded: Vec<(Version, u64)> = history
            .iter()
            .map(|h| (h.version.clone(), h.sequence))
            .collect();
        let mut lived = self.lived.get(pair).cloned().unwrap_or_default();
        lived.sort_by_key(|(_, sequence)| *sequence);
        if recorded != lived {
            return Err(format!(
                "history: {pair:?} records {recorded:?}, the deploys made {lived:?} live"
            ));
        }
        if history.last().map(|h| &h.version) != live.as_ref().map(|l| &l.version) {
            return Err(format!("history: {pair:?} does not end on the live entry"));
        }
        self.check_pointers(pair, live_version.as_ref()).await?;
        // No loss.
        for (i, intent) in intents.iter().enumerate() {
            let Some((id, repository, deployment)) = &intent.request else {
                continue;
            };
            let statuses = self
                .forge
                .deployment_statuses(repository, *deployment)
                .await
                .unwrap();
            let last = statuses.first().map(|s| s.state);
            // Live by its own deploy, or told live while its version was (already) live.
            let went_live = history
                .iter()
                .any(|h| h.request_id == *id || h.version == intent.version);
            let newer = i + 1 < intents.len();
            let fine = match last {
                Some(DeploymentState::Success) => went_live,
                Some(DeploymentState::Inactive) => newer,
                _ => false,
            };
            if !fine {
                return Err(format!(
                    "no loss: {pair:?} request {id} for {} (accepted as intent {} of {}) ended {last:?}; went live: {went_live}; statuses {statuses:?}",
                    intent.version,
                    i + 1,
                    intents.len()
                ));
            }
        }
        Ok(())
    }

    /// The import map and the entry-point alias serve `live` (nothing when nothing is live).
    async fn check_pointers(&self, pair: &Pair, live: Option<&Version>) -> Result<(), String> {
        let (e, m) = (pair.0.as_str(), pair.1.as_str());
        let store = self.stores[e].as_ref();
        let map = text(store, "importmap.json").await;
        let served = map.as_deref().and_then(|map| {
            let map: serde_json::Value = serde_json::from_str(map).unwrap();
            map["imports"][m].as_str().map(str::to_owned)
        });
        let alias = text(store, &format!("mfe/{m}/remoteEntry.js")).await;
        let expected_import =
            live.map(|v| format!("https://cdn.example.com/{e}/mfe/{m}/{v}/remoteEntry.js"));
        let expected_alias = live.map(|v| format!("// {m} {v}\n"));
        if served != expected_import || alias != expected_alias {
            return Err(format!(
                "pointers: {pair:?} serves {served:?} and alias {alias:?}, live is {live:?}"
            ));
        }
        Ok(())
    }

    /// Every object under a version prefix was written once, as the reports say.
    fn check_uploads(&self) -> Result<(), String> {
        for (e, store) in &self.stores {
            let mut per_version: BTreeMap<(String, String, String), usize> = BTreeMap::new();
            for (key, count) in store.puts() {
                let parts: Vec<&str> = key.split('/').collect();
                if parts.len() < 4 || parts[0] != "mfe" {
                    continue; // an alias or the import map: pointers are rewritten by design
                }
                if count != 1 {
                    return Err(format!(
                        "no duplicate upload: {e}: {key} was written {count} times"
                    ));
                }
                *per_version
                    .entry((e.clone(), parts[1].to_owned(), parts[2].to_owned()))
                    .or_default() += 1;
            }
            for ((env, m, v), files) in &per_version {
                if *files != FILES_PER_VERSION {
                    return Err(format!("{env}: {m} {v} has {files} objects"));
                }
            }
            let reported: BTreeMap<_, _> = self
                .uploaded
                .iter()
                .filter(|((env, ..), n)| env == e && **n > 0)
                .map(|(k, n)| (k.clone(), *n))
                .collect();
            if reported != per_version {
                return Err(format!(
                    "no duplicate upload: {e}: reports say {reported:?}, the store saw {per_version:?}"
                ));
            }
        }
        Ok(())
    }
}

fn request(environment: &str, mfe: &str, version: &str) -> DeployRequest {
    DeployRequest::builder()
        .user("octocat")
        .mfe(mfe)
        .version(version)
        .environment(environment)
        .repository(format!("acme/{mfe}-mfe"))
        .git_ref("refs/heads/main")
        .sha("3f786850e387550fdab836ed7e6dc881de23001b")
        .build()
        .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Plays `schedule` on fresh fakes and checks it; the stats of what it exercised.
fn play(schedule: &Schedule) -> Result<Stats, String> {
    runtime().block_on(async {
        let mut world = World::batching(schedule.environments, schedule.mfes, schedule.batch);
        world.play(&schedule.ops).await;
        world.check().await.map(|()| world.stats)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn interleavings_keep_newest_wins_no_loss_no_duplicate_upload_and_history(
        schedule in schedule()
    ) {
        if let Err(violation) = play(&schedule) {
            return Err(TestCaseError::fail(violation));
        }
    }
}

#[test]
fn interleavings_exercise_deploys_rollbacks_refusals_and_supersessions() {
    // The same strategy, a fixed seed: the generated schedules reach every kind of outcome,
    // so the property above is not vacuous.
    let mut runner = TestRunner::deterministic();
    let mut total = Stats::default();
    for _ in 0..64 {
        let schedule = schedule().new_tree(&mut runner).unwrap().current();
        total.add(play(&schedule).unwrap_or_else(|v| panic!("{v}\n{schedule:?}")));
    }
    eprintln!("what 64 generated schedules exercised: {total:?}");
    assert!(total.deployed > 0, "{total:?}");
    assert!(total.rollbacks > 0, "{total:?}");
    assert!(total.refused_pinned > 0, "{total:?}");
    assert!(total.refused_downgrade > 0, "{total:?}");
    assert!(total.replaced_pending > 0, "{total:?}");
    assert!(total.superseded_at_deploy > 0, "{total:?}");
    assert!(total.unpins > 0, "{total:?}");
    assert!(total.together > 0, "{total:?}");
    assert!(total.batch_merges > 0, "{total:?}");
}

/// A fresh request for the next version of `MFES[mfe]` in `ENVIRONMENTS[env]`.
fn next(env: usize, mfe: usize) -> Op {
    Op::Request {
        env,
        mfe,
        resend: None,
    }
}

/// Found by the property (minimised): a request merged to main, then superseded there by a
/// newer merged request before any deploy ran (a deploy run skipped, as a concurrency group
/// drops a pending run), was never told anything: its requester stayed `queued` and
/// `mfe dispatch --wait` timed out. The merge that replaces a desired state now tells the
/// replaced request, unless it already ended (it went live, or was told).
#[test]
fn a_request_superseded_on_main_before_any_deploy_is_told_so() {
    runtime().block_on(async {
        let mut world = World::new(2, 2);
        world.play(&[next(0, 0), Op::MergeAll, next(0, 0)]).await;
        world.check().await.unwrap();
        let intents = &world.intents[&("dev".to_owned(), "checkout".to_owned())];
        let (Some((_, repository, first)), Some((newer, ..))) =
            (&intents[0].request, &intents[1].request)
        else {
            panic!("two requests: {intents:?}")
        };
        let statuses = world
            .forge
            .deployment_statuses(repository, *first)
            .await
            .unwrap();
        assert_eq!(statuses[0].state, DeploymentState::Inactive, "{statuses:?}");
        assert!(
            statuses[0]
                .description
                .as_deref()
                .is_some_and(|d| d.contains(newer.as_str())),
            "{statuses:?}"
        );
        // Once the newer request is live, the older one's end stays as told.
        assert_eq!(statuses.len(), 2, "{statuses:?}");
    });
}

/// The checks fail on a state that breaks an invariant: each property can fail.
#[test]
fn the_checks_see_every_kind_of_broken_state() {
    let rt = runtime();
    let world = || {
        rt.block_on(async {
            let mut world = World::new(2, 2);
            world
                .play(&[next(0, 0), Op::MergeAll, Op::Deploy(None), next(0, 0)])
                .await;
            world.check().await.unwrap();
            world
        })
    };
    let violation = |world: &World| rt.block_on(world.check()).unwrap_err();
    let pair = ("dev".to_owned(), "checkout".to_owned());

    // An accepted intent the pipeline lost.
    let mut w = world();
    w.intents.get_mut(&pair).unwrap().push(Accepted {
        pair: pair.clone(),
        version: "1.9.0".parse().unwrap(),
        request: None,
    });
    assert!(
        violation(&w).starts_with("newest wins"),
        "{}",
        violation(&w)
    );

    // A registry commit no deploy reported.
    let w = world();
    rt.block_on(
        w.fakes
            .registry
            .commit(&crate::entry("dev", "checkout", "1.1.0", 99)),
    )
    .unwrap();
    assert!(violation(&w).starts_with("history"), "{}", violation(&w));

    // A version's object written twice.
    let w = world();
    let key = StorePath::from("mfe/checkout/1.1.0/remoteEntry.js");
    rt.block_on(w.stores["dev"].put_opts(&key, "x".into(), PutOptions::default()))
        .unwrap();
    assert!(
        violation(&w).starts_with("no duplicate upload"),
        "{}",
        violation(&w)
    );

    // The import map left on an older version.
    let w = world();
    let stale = r#"{"imports":{"checkout":"https://cdn.example.com/dev/mfe/checkout/1.0.0/remoteEntry.js"}}"#;
    rt.block_on(w.stores["dev"].inner.put_opts(
        &StorePath::from("importmap.json"),
        stale.into(),
        PutOptions::default(),
    ))
    .unwrap();
    assert!(violation(&w).starts_with("pointers"), "{}", violation(&w));

    // A request accepted and never told (its PR left open).
    let mut w = world();
    rt.block_on(async {
        let request = request("dev", "search", "1.0.0");
        w.fakes.publish("search", "1.0.0");
        let effects = w.request(&request).await;
        w.apply(effects);
    });
    assert!(violation(&w).starts_with("no loss"), "{}", violation(&w));
}

/// Found by the property (minimised): 1.1.0 live, a rollback to 1.0.0 merged (its pin lifted)
/// but not deployed, then a new request for 1.1.0 accepted and merged. The deploy found 1.1.0
/// already live (from the earlier request) and touched nothing, telling nobody: the new
/// request stayed `queued`. A version already live from another request is now reported live
/// to the desired state's requester (once).
#[test]
fn a_request_for_the_version_already_live_from_another_request_is_told_it_is_live() {
    runtime().block_on(async {
        let mut world = World::new(2, 1);
        let staging = 1;
        world
            .play(&[
                Op::Ship {
                    env: staging,
                    mfe: 0,
                },
                Op::Ship {
                    env: staging,
                    mfe: 0,
                },
                Op::Rollback {
                    env: staging,
                    mfe: 0,
                },
                Op::Unpin {
                    env: staging,
                    mfe: 0,
                },
                Op::MergeAll,
                Op::Request {
                    env: staging,
                    mfe: 0,
                    resend: Some(1),
                },
            ])
            .await;
        world.check().await.unwrap();
        let intents = world.intents[&("staging".to_owned(), "checkout".to_owned())].clone();
        assert_eq!(
            intents.len(),
            4,
            "two requests, a rollback, a request: {intents:?}"
        );
        let Some((_, repository, last)) = &intents[3].request else {
            panic!("{intents:?}")
        };
        let statuses = world
            .forge
            .deployment_statuses(repository, *last)
            .await
            .unwrap();
        assert_eq!(statuses[0].state, DeploymentState::Success, "{statuses:?}");
        // A later deploy of the same state says nothing more.
        let effect = world.deploy(None, None).await;
        world.apply(vec![effect]);
        let again = world
            .forge
            .deployment_statuses(repository, *last)
            .await
            .unwrap();
        assert_eq!(again, statuses);
    });
}
