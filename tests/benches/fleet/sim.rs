//! The fleet simulation (issue 18), shared by `benches/fleet.rs` (full size, the report) and
//! `tests/it/fleet.rs` (reduced, in CI, correctness figures only).
//!
//! fake-github with GitHub's limits on ([`gitops_testkit::RateLimits`], time-scaled) and a
//! modelled latency per call hosts the GitOps repository `acme/gitops` (MFEs x environments on
//! the embedded targets) and one requester repository per MFE. Requests arrive in a burst or as
//! a Poisson stream; each is driven as Actions would, through the `gitops` binary:
//!
//! 1. the requester's CD job makes its deployment with its `GITHUB_TOKEN` (the proof of origin);
//! 2. the process job (a runner's fresh checkout of `main`) runs `gitops process --event`;
//! 3. the merge job runs `gitops merge --pr N`, triggered by each push to the pull request in
//!    its concurrency group (one runs, at most one waits: with `batch: true` the requests pushed
//!    to an environment's batch while one runs share the next); a merge job giving up (its PR
//!    left open) is left to the sweep, `gitops merge --all` every 15 modelled minutes (and once
//!    at the end) on the same runners, as the rendered `gitops-checks.yml` schedules it; which
//!    requests a merge took is read from its commit;
//! 4. the deploy job (one at a time, as the concurrency group keeps it; runs coalesce) pulls
//!    `main` and runs `gitops deploy`, which reports to the requesters;
//! 5. the requester waits, polling its deployment's statuses conditionally.
//!
//! The GitOps jobs share one App installation's budget: their tokens are `<stage>:app`, so
//! fake-github charges one budget and its request log tells the stages apart by login. Jobs run
//! on a pool of runners (concurrent `gitops` processes).

#![allow(dead_code)]
// each user takes the parts it needs
// A simulation's figures: counts as floats, percentiles as indices; test code's blocking calls.
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    clippy::format_push_string,
    clippy::disallowed_methods
)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gitops_testkit::{FakeGithub, RateLimits};

/// The App installation's secret: every GitOps job's token is `<stage>:app`.
const APP_SECRET: &str = "app";
const ENVIRONMENTS: [&str; 2] = ["dev", "prod"];

/// How requests arrive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrival {
    /// All at once.
    Burst,
    /// A Poisson stream of this many requests per modelled minute.
    Poisson(f64),
}

/// One simulation's shape.
#[derive(Debug, Clone)]
pub struct Config {
    pub requests: usize,
    pub mfes: usize,
    pub arrival: Arrival,
    /// Modelled seconds per real second.
    pub scale: f64,
    /// Modelled latency of each call, ms.
    pub latency_ms: u64,
    /// Concurrent jobs (runners).
    pub runners: usize,
    pub seed: u64,
    /// The requester's poll interval, modelled seconds.
    pub poll_s: f64,
    /// Deploy after each merge, one at a time, instead of coalescing deploy runs as a
    /// concurrency group does (a run pending while one runs is replaced by a newer one).
    pub deploy_each_merge: bool,
    /// `batch: true` for every environment: one pull request per environment takes every
    /// pending request of it (`gitops-batch/<env>`).
    pub batch: bool,
    pub gitops_bin: PathBuf,
}

/// A stage of a request, as the request log tells it (by login).
pub const STAGES: [&str; 6] = [
    "request",
    "process",
    "merge",
    "sweep",
    "deploy report",
    "requester wait",
];

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub requests: usize,
    pub pairs: usize,
    /// Requests whose PR was merged (by their own merge step or by the sweep).
    pub merged: usize,
    /// Of those, merged by the sweep.
    pub merged_by_sweep: usize,
    /// Merge steps that gave up with their PR still open (the base moved through every
    /// attempt), left to the sweep.
    pub left_to_sweep: usize,
    /// Sweeps run (`gitops merge --all`).
    pub sweeps: usize,
    /// Requests told superseded (`inactive`) by a newer one (some after their merge: a newer
    /// request of the pair merged before the deploy ran).
    pub superseded: usize,
    /// Requests settled (each counted once): merged, else told superseded, else refused as
    /// older than a pending request (and told so).
    pub settled: usize,
    /// Of the settled, the ones told superseded without having been merged.
    pub superseded_unmerged: usize,
    /// Requests refused by `process` as older than one pending for their pair (and told so).
    pub refused_older: usize,
    /// Requests whose requester saw neither success nor supersession.
    pub lost: Vec<String>,
    /// For each lost request: its statuses (newest first) and the calls about its deployment
    /// or its pair that fake-github refused.
    pub lost_records: Vec<String>,
    /// Pairs not live on their newest request's version.
    pub not_newest: Vec<String>,
    /// Commands that failed, with the last line of their error.
    pub failures: Vec<String>,
    /// Merge steps that found their PR already merged or its head moved by a newer request
    /// (that request's own merge step merges it).
    pub merge_races: usize,
    /// Failures that were a rate limit surfacing to a user.
    pub secondary_surfaced: usize,
    /// Secondary and primary refusals fake-github answered (retried by the client).
    pub secondary_refused: u64,
    pub primary_refused: u64,
    /// Modelled seconds from the first arrival to the last request settled (merged, told
    /// superseded or refused as older).
    pub span_s: f64,
    /// Of the span, the tail after the last request settled other than by a sweep: time spent
    /// waiting for the 15-minute sweep (real latency, but not the limits' doing).
    pub sweep_tail_s: f64,
    /// Pull requests merged (merge commits): one per merged request without batching, one per
    /// batch with it.
    pub merge_commits: usize,
    /// Merge jobs run (`gitops merge --pr N`), and the ones a newer trigger of the same pull
    /// request replaced while pending (the checks workflow's concurrency group).
    pub merge_jobs: usize,
    pub merge_jobs_coalesced: usize,
    /// The installation's content-creating requests admitted up to the last merge.
    pub app_writes_in_span: u64,
    /// Request-to-merged latencies, modelled seconds, sorted.
    pub latencies_s: Vec<f64>,
    /// API calls per stage (method, calls) summed over the run.
    pub calls: BTreeMap<String, StageCalls>,
    /// The installation's budget: requests, content-creating requests and points admitted.
    pub app_requests: u64,
    pub app_writes: u64,
    pub app_points: u64,
    pub peak_writes_per_minute: u64,
    pub peak_points_per_minute: u64,
    /// Real seconds the run took.
    pub real_s: f64,
}

/// Calls of one stage.
#[derive(Debug, Clone, Default)]
pub struct StageCalls {
    pub reads: u64,
    pub writes: u64,
    pub not_modified: u64,
    /// Of the writes, the ones answered with a conflict (405, 409, 422: a compare-and-swap
    /// lost, a merge refused because the head or the base moved).
    pub conflicts: u64,
}

impl Outcome {
    /// Requests settled per modelled minute over the span.
    pub fn throughput(&self) -> f64 {
        self.per_minute(self.settled)
    }

    /// Merged requests per modelled minute over the span.
    pub fn merged_per_minute(&self) -> f64 {
        self.per_minute(self.merged)
    }

    fn per_minute(&self, n: usize) -> f64 {
        if self.span_s <= 0.0 {
            return 0.0;
        }
        n as f64 * 60.0 / self.span_s
    }

    /// The installation's content-creating requests over the span, as a share of the 80 a
    /// minute the secondary limit allows.
    pub fn write_utilisation(&self) -> f64 {
        if self.span_s <= 0.0 {
            return 0.0;
        }
        self.app_writes_in_span as f64 / (80.0 * self.span_s / 60.0)
    }

    /// The merges the limits allow per minute: min(80 / writes, 900 / points) per merged
    /// request.
    pub fn merge_ceiling(&self) -> f64 {
        let n = self.merged.max(1) as f64;
        let (w, p) = (self.app_writes as f64 / n, self.app_points as f64 / n);
        (80.0 / w.max(1e-9)).min(900.0 / p.max(1e-9))
    }

    pub fn percentile(&self, p: f64) -> f64 {
        if self.latencies_s.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies_s.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_s[i.min(self.latencies_s.len() - 1)]
    }

    /// Per request (whatever became of it): content-creating calls, points and primary calls
    /// of the installation.
    pub fn per_request(&self) -> (f64, f64, f64) {
        let n = self.requests.max(1) as f64;
        (
            self.app_writes as f64 / n,
            self.app_points as f64 / n,
            self.app_requests as f64 / n,
        )
    }

    /// The throughput the limits allow (requests per modelled minute): the secondary limits
    /// (80 writes, 900 points a minute), and the primary one sustained (5,000 an hour).
    pub fn ceilings(&self) -> (f64, f64) {
        let (w, p, c) = self.per_request();
        let secondary = (80.0 / w.max(1e-9)).min(900.0 / p.max(1e-9));
        let primary = 5_000.0 / 60.0 / c.max(1e-9);
        (secondary, primary)
    }
}

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One request of the plan.
#[derive(Debug, Clone)]
struct Planned {
    index: usize,
    mfe: String,
    env: &'static str,
    version: String,
    /// Modelled seconds after the start.
    at_s: f64,
}

/// The id of the plan's request `index` (a ULID ordered as the plan).
fn request_id(index: usize) -> String {
    ulid::Ulid::from_parts(
        1_764_547_200_000 + index as u64,
        u128::from(index as u64 + 1),
    )
    .to_string()
}

fn mfe_name(i: usize) -> String {
    format!("mfe{i:03}")
}

fn plan(cfg: &Config) -> Vec<Planned> {
    let mut rng = Rng(cfg.seed);
    let mut counts: HashMap<(usize, usize), u32> = HashMap::new();
    let mut t = 0.0;
    (0..cfg.requests)
        .map(|index| {
            // Random pairs: some get several requests, so the newest must win.
            let pairs = cfg.mfes * ENVIRONMENTS.len();
            let pair = (rng.next() % pairs as u64) as usize;
            let _ = index;
            let (m, e) = (pair / ENVIRONMENTS.len(), pair % ENVIRONMENTS.len());
            let n = counts.entry((m, e)).or_insert(0);
            *n += 1;
            if let Arrival::Poisson(per_minute) = cfg.arrival {
                t += -(1.0 - rng.unit()).ln() * 60.0 / per_minute;
            }
            Planned {
                index,
                mfe: mfe_name(m),
                env: ENVIRONMENTS[e],
                version: format!("1.0.{n}"),
                at_s: t,
            }
        })
        .collect()
}

/// An RFC 3339 UTC timestamp of `secs` since the epoch (civil-from-days).
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "sim")
        .env("GIT_AUTHOR_EMAIL", "sim@example.com")
        .env("GIT_COMMITTER_NAME", "sim")
        .env("GIT_COMMITTER_EMAIL", "sim@example.com")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    std::fs::write(path, bytes).expect("write");
}

/// The world a run happens in.
struct World {
    github: FakeGithub,
    dir: tempfile::TempDir,
    base_url: String,
    bare: PathBuf,
    deploy_clone: PathBuf,
    events: PathBuf,
    heads: HashMap<String, String>,
    gitops_bin: PathBuf,
    http: reqwest::Client,
    scale: f64,
    poll_s: f64,
    write_interval_ms: String,
    request_timeout: String,
}

/// A finished command: exit code, stdout, stderr.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl World {
    async fn gitops(&self, dir: &Path, stage: &str, args: &[&str]) -> Ran {
        let mut command = Command::new(&self.gitops_bin);
        command
            .args(args)
            .current_dir(dir)
            .stdin(std::process::Stdio::null())
            .env("GITHUB_API_URL", &self.base_url)
            .env("GITOPS_GITHUB_TOKEN", format!("{stage}:{APP_SECRET}"))
            .env("GITHUB_REPOSITORY", "acme/gitops")
            .env("GITOPS_GITHUB_WRITE_INTERVAL_MS", &self.write_interval_ms)
            .env("GITOPS_REQUEST_TIMEOUT", &self.request_timeout);
        for var in [
            "GITHUB_ACTIONS",
            "GITHUB_EVENT_PATH",
            "GITHUB_TOKEN",
            "GITHUB_STEP_SUMMARY",
            "GITHUB_OUTPUT",
            "GITHUB_SHA",
            "GITOPS_METRICS_FILE",
            "GIT_DIR",
            "GIT_WORK_TREE",
        ] {
            command.env_remove(var);
        }
        tokio::task::spawn_blocking(move || {
            let out = command.output().expect("gitops runs");
            Ran {
                code: out.status.code(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        })
        .await
        .expect("joined")
    }

    /// A job token of `repository` (its `GITHUB_TOKEN`).
    async fn job_token(&self, repository: &str) -> String {
        let (status, token) = self
            .github
            .api(
                "observer:x",
                reqwest::Method::POST,
                "/_fake/tokens",
                Some(serde_json::json!({
                    "repository": repository,
                    "permissions": {"deployments": "write"},
                })),
            )
            .await
            .expect("token");
        assert_eq!(status, 201, "{token}");
        token["token"].as_str().expect("a token").to_owned()
    }

    /// A GitHub call with `token`, retried as a careful requester would (honouring
    /// `retry-after`); the status, body and `ETag`.
    async fn call(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
        etag: Option<&str>,
    ) -> (u16, serde_json::Value, Option<String>) {
        loop {
            let mut rq = self
                .http
                .request(method.clone(), format!("{}{path}", self.base_url))
                .bearer_auth(token)
                .header("accept", "application/vnd.github+json");
            if let Some(tag) = etag {
                rq = rq.header("if-none-match", tag);
            }
            if let Some(b) = &body {
                rq = rq.json(b);
            }
            let resp = rq.send().await.expect("fake-github answers");
            let status = resp.status().as_u16();
            let header = |k: &str| {
                resp.headers()
                    .get(k)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let (retry_after, tag) = (header("retry-after"), header("etag"));
            let text = resp.text().await.unwrap_or_default();
            if matches!(status, 403 | 429)
                && let Some(secs) = retry_after.and_then(|s| s.parse::<u64>().ok())
            {
                tokio::time::sleep(Duration::from_secs(secs)).await;
                continue;
            }
            let value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
            return (status, value, tag);
        }
    }
}

async fn setup(cfg: &Config, planned: &[Planned]) -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("github");
    let github = FakeGithub::spawn_with_runner(
        &data,
        None,
        gitops_testkit::runner::RunnerConfig::new("/nonexistent/act", dir.path().join("runner")),
    )
    .await
    .expect("fake-github starts");
    let mut config = String::from("version: 1\nenvironments:\n");
    for env in ENVIRONMENTS {
        config.push_str(&format!(
            "  - name: {env}\n    storage: local/{env}/storage\n    registry: local/{env}/registry.db\n    cdn: local/{env}/cdn.log\n    public_url: https://cdn.example.com/{env}\n"
        ));
        if cfg.batch {
            config.push_str("    batch: true\n");
        }
    }
    let mut files = vec![
        ("gitops.yaml".to_owned(), config),
        (".gitignore".to_owned(), "local/\n".to_owned()),
    ];
    for i in 0..cfg.mfes {
        let name = mfe_name(i);
        files.push((
            format!("mfes/{name}.yaml"),
            format!(
                "name: {name}\nrepository: acme/{name}-app\nartifact: local/artifacts/{name}/{name}-{{version}}.tgz\nenvironments: [{}]\nentry_points: [remoteEntry.js]\n",
                ENVIRONMENTS.join(", ")
            ),
        ));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    github
        .create_repo("acme", "gitops", &refs)
        .await
        .expect("acme/gitops");
    let mut heads = HashMap::new();
    for i in 0..cfg.mfes {
        let name = mfe_name(i);
        let head = github
            .create_repo("acme", &format!("{name}-app"), &[("README.md", "app\n")])
            .await
            .expect("an MFE repository")
            .expect("a head");
        heads.insert(name, head);
    }
    let bare = github.repo_path("acme", "gitops");
    let deploy_clone = dir.path().join("deploy");
    git(
        dir.path(),
        &["clone", "-q", bare.to_str().expect("utf-8"), "deploy"],
    );
    // Every planned version's artifact, where the MFE files say (ignored by git).
    let dist = dir.path().join("dist");
    write(&dist, "remoteEntry.js", b"// an MFE\n");
    let archive = gitops_artifact_store::pack_dir(&dist).expect("pack");
    let sum = gitops_artifact_store::sha256_hex(&archive);
    for p in planned {
        let name = format!("{}-{}.tgz", p.mfe, p.version);
        let rel = format!("local/artifacts/{}/{name}", p.mfe);
        if !deploy_clone.join(&rel).exists() {
            write(&deploy_clone, &rel, &archive);
            write(
                &deploy_clone,
                &format!("{rel}.sha256"),
                gitops_artifact_store::sidecar_line(&sum, &name).as_bytes(),
            );
        }
    }
    let events = dir.path().join("events");
    std::fs::create_dir_all(&events).expect("events dir");
    let world = World {
        base_url: github.base_url.clone(),
        github,
        bare,
        deploy_clone,
        events,
        heads,
        gitops_bin: cfg.gitops_bin.clone(),
        http: reqwest::Client::new(),
        scale: cfg.scale,
        poll_s: cfg.poll_s,
        // GitHub's "one second between writes", in modelled time.
        write_interval_ms: format!("{}", (1000.0 / cfg.scale).round().max(1.0) as u64),
        request_timeout: "30".into(),
        dir,
    };
    let ran = world
        .gitops(&world.deploy_clone, "deploy", &["bootstrap"])
        .await;
    assert_eq!(ran.code, Some(0), "bootstrap: {}", ran.stderr);
    world
}

/// What became of one request.
#[derive(Debug, Default, Clone)]
struct Fate {
    /// Modelled time of the arrival.
    arrived: f64,
    /// (modelled seconds from arrival to merged, modelled time of the merge).
    merged: Option<(f64, f64)>,
    /// Merged by the sweep rather than by its own merge step.
    by_sweep: bool,
    /// The requester's token and deployment (to read its statuses when it is lost).
    deployment: Option<(String, String, u64)>,
    /// The pull request `process` gave it.
    pr: Option<u64>,
    /// Refused by `process` (exit 1): older than a request already pending for its pair; or
    /// dropped from a batch at merge as older than what its pair merged meanwhile (told).
    refused: bool,
    /// Modelled time `process` refused it (and told its requester).
    refused_at: Option<f64>,
    final_state: Option<String>,
    /// Modelled time its requester saw the final status (within one poll of it being told).
    told_at: Option<f64>,
}

/// The checks workflow's concurrency group of one pull request (`gitops-checks-<N>`, no
/// cancelling in progress): one merge job runs, at most one waits, a newer trigger replaces the
/// waiting one.
#[derive(Debug, Default)]
struct PrGroup {
    running: bool,
    pending: bool,
}

struct Shared {
    world: World,
    started: Instant,
    runners: tokio::sync::Mutex<Vec<PathBuf>>,
    free: tokio::sync::Semaphore,
    fates: Mutex<Vec<Fate>>,
    failures: Mutex<Vec<String>>,
    races: std::sync::atomic::AtomicUsize,
    left_to_sweep: std::sync::atomic::AtomicUsize,
    sweeps: std::sync::atomic::AtomicUsize,
    /// Request id -> index of the plan.
    ids: HashMap<String, usize>,
    deploy_lock: tokio::sync::Mutex<()>,
    deploy_each_merge: bool,
    merges: tokio::sync::watch::Sender<u64>,
    deploying_done: tokio::sync::watch::Sender<bool>,
    /// Pull request -> its checks workflow's concurrency group.
    groups: Mutex<HashMap<u64, PrGroup>>,
    merge_jobs: std::sync::atomic::AtomicUsize,
    merge_jobs_coalesced: std::sync::atomic::AtomicUsize,
    /// Merge commits seen (a merge step's and a sweep's).
    merge_commits: Mutex<std::collections::HashSet<String>>,
    /// (modelled time, the installation's writes admitted) after each merge.
    budget: Mutex<Vec<(f64, u64)>>,
}

impl Shared {
    fn now_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * self.world.scale
    }

    fn fail(&self, what: String) {
        self.failures.lock().expect("lock").push(what);
    }

    /// Merges landed: a deploy runs after each, or the coalescing deploy job is woken.
    async fn merged(&self) {
        if self.deploy_each_merge {
            deploy(self).await;
        } else {
            self.merges.send_modify(|n| *n += 1);
        }
    }

    /// A runner's checkout, fetched to `main` (actions/checkout), for one job.
    async fn job(&self, stage: &str, args: &[&str]) -> Ran {
        let _permit = self.free.acquire().await.expect("open");
        let dir = self.runners.lock().await.pop().expect("a free runner");
        let d = dir.clone();
        tokio::task::spawn_blocking(move || {
            git(&d, &["fetch", "-q", "origin", "main"]);
            git(&d, &["reset", "-q", "--hard", "origin/main"]);
        })
        .await
        .expect("joined");
        let ran = self.world.gitops(&dir, stage, args).await;
        self.runners.lock().await.push(dir);
        ran
    }
}

fn last_line(s: &str) -> String {
    s.lines().last().unwrap_or_default().to_owned()
}

/// A request up to its merge step; returns its requester's wait, still running.
async fn request(shared: Arc<Shared>, p: Planned) -> tokio::task::JoinHandle<()> {
    let wait = Duration::from_secs_f64(p.at_s / shared.world.scale);
    tokio::time::sleep_until(tokio::time::Instant::from_std(shared.started + wait)).await;
    let arrived = shared.now_s();
    let world = &shared.world;
    let repository = format!("acme/{}-app", p.mfe);
    let head = world.heads[&p.mfe].clone();
    let id = request_id(p.index);
    shared.fates.lock().expect("lock")[p.index].arrived = arrived;
    // 1. The requester's deployment, with its job's token.
    let token = world.job_token(&repository).await;
    let (status, made, _) = world
        .call(
            &token,
            reqwest::Method::POST,
            &format!("/repos/{repository}/deployments"),
            Some(serde_json::json!({
                "ref": head, "environment": p.env, "auto_merge": false,
                "required_contexts": [],
                "payload": {"id": id, "mfe": p.mfe, "version": p.version},
            })),
            None,
        )
        .await;
    assert_eq!(status, 201, "deployment: {made}");
    let deployment = made["id"].as_u64().expect("an id");
    shared.fates.lock().expect("lock")[p.index].deployment =
        Some((token.clone(), repository.clone(), deployment));
    let event = world.events.join(format!("{id}.json"));
    std::fs::write(
        &event,
        serde_json::json!({
            "id": id, "timestamp": rfc3339(1_764_547_200 + p.index as u64), "user": "octocat",
            "mfe": p.mfe, "version": p.version, "environment": p.env,
            "cache_invalidation_keys": [], "repository": repository,
            "ref": "refs/heads/main", "sha": head,
        })
        .to_string(),
    )
    .expect("event file");
    let waiter = tokio::spawn(wait_for(
        Arc::clone(&shared),
        p.index,
        token,
        repository,
        deployment,
    ));
    // 2. The process job.
    let ran = shared
        .job(
            "process",
            &["process", "--event", event.to_str().expect("utf-8")],
        )
        .await;
    let pr = if ran.code == Some(0) {
        serde_json::from_str::<serde_json::Value>(&ran.stdout)
            .ok()
            .and_then(|r| r["pull_request"].as_u64())
    } else if ran.code == Some(1) {
        // A refusal, told to the requester: in a burst an older request of a pair may be
        // judged after a newer one is pending ("the newest intent wins").
        let at = shared.now_s();
        let mut fates = shared.fates.lock().expect("lock");
        fates[p.index].refused = true;
        fates[p.index].refused_at = Some(at);
        None
    } else {
        shared.fail(format!("process {}: {}", p.index, last_line(&ran.stderr)));
        None
    };
    shared.fates.lock().expect("lock")[p.index].pr = pr;
    // 3. The merge job, triggered by the push to the pull request.
    if let Some(pr) = pr {
        trigger_merge(&shared, pr).await;
    }
    waiter
}

/// A push to pull request `pr` triggered its checks workflow: its merge job runs now, or waits
/// in the pull request's concurrency group (replacing one already waiting), as Actions runs
/// it. With batching, the requests pushed to the batch while its merge job runs share the next
/// one: the batch window is the merge job's own run.
async fn trigger_merge(shared: &Shared, pr: u64) {
    {
        let mut groups = shared.groups.lock().expect("lock");
        let group = groups.entry(pr).or_default();
        if group.running {
            if group.pending {
                shared
                    .merge_jobs_coalesced
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            group.pending = true;
            return;
        }
        group.running = true;
    }
    loop {
        merge_job(shared, pr).await;
        let mut groups = shared.groups.lock().expect("lock");
        let group = groups.entry(pr).or_default();
        if group.pending {
            group.pending = false;
        } else {
            group.running = false;
            return;
        }
    }
}

/// One merge job: `gitops merge --pr N` on a runner's checkout.
async fn merge_job(shared: &Shared, pr: u64) {
    shared
        .merge_jobs
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let n = pr.to_string();
    let ran = shared.job("merge", &["merge", "--pr", &n]).await;
    let at = shared.now_s();
    let shas = merged_shas(&ran.stdout);
    if ran.code == Some(0) && !shas.is_empty() {
        landed(shared, shas, at, false).await;
    } else if ran.code == Some(0)
        || ran.stderr.contains("is not open")
        || ran.stderr.contains("Head branch was modified")
    {
        // Merged, closed or moved by a newer request meanwhile: a later job merges it.
        shared
            .races
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    } else if ran.stderr.contains("Base branch was modified") {
        // Gave up under a burst with the PR open: the sweep merges it.
        shared
            .left_to_sweep
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    } else {
        shared.fail(format!("merge #{pr}: {}", last_line(&ran.stderr)));
    }
}

/// The merge commits a `gitops merge` printed (`#N: merged (<sha>)`).
fn merged_shas(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| {
            let rest = l.split_once(": merged (")?.1;
            Some(rest.trim_end_matches(')').to_owned())
        })
        .collect()
}

/// The requests merge commits took: the ids in the desired-state files each changed (its
/// first-parent diff), one per commit without batching, a batch's with it.
async fn merged_requests(shared: &Shared, shas: Vec<String>) -> Vec<String> {
    let bare = shared.world.bare.clone();
    tokio::task::spawn_blocking(move || {
        let mut ids = Vec::new();
        for sha in shas {
            let changed = git_out(&bare, &["diff", "--name-only", &format!("{sha}^1"), &sha]);
            for file in changed.lines().filter(|f| f.starts_with("deployments/")) {
                let text = git_out(&bare, &["show", &format!("{sha}:{file}")]);
                let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                if let Some(id) = value["request_id"].as_str() {
                    ids.push(id.to_owned());
                }
            }
        }
        ids
    })
    .await
    .expect("joined")
}

/// Merges landed at modelled time `at` (by a sweep when `by_sweep`): the requests they took
/// are merged, the installation's writes so far noted, the deploy woken.
async fn landed(shared: &Shared, shas: Vec<String>, at: f64, by_sweep: bool) {
    if shas.is_empty() {
        return;
    }
    shared
        .merge_commits
        .lock()
        .expect("lock")
        .extend(shas.iter().cloned());
    let ids = merged_requests(shared, shas).await;
    {
        let mut fates = shared.fates.lock().expect("lock");
        for id in ids {
            if let Some(&i) = shared.ids.get(&id)
                && fates[i].merged.is_none()
            {
                fates[i].merged = Some((at - fates[i].arrived, at));
                fates[i].by_sweep = by_sweep;
            }
        }
    }
    if let Some((_, writes, _)) = app_budget(&shared.world).await {
        shared.budget.lock().expect("lock").push((at, writes));
    }
    shared.merged().await;
}

/// The installation's budget spent so far: requests, content-creating requests, points.
async fn app_budget(world: &World) -> Option<(u64, u64, u64)> {
    let limits = world.github.limits().await.ok()?;
    let (_, b) = limits["buckets"]
        .as_object()?
        .iter()
        .filter(|(key, _)| key.starts_with("token *:"))
        .max_by_key(|(_, b)| b["requests"].as_u64().unwrap_or(0))?;
    Some((
        b["requests"].as_u64().unwrap_or(0),
        b["writes"].as_u64().unwrap_or(0),
        b["points"].as_u64().unwrap_or(0),
    ))
}

/// The requester waiting: its deployment's statuses, polled conditionally, until a final one.
async fn wait_for(shared: Arc<Shared>, index: usize, token: String, repository: String, id: u64) {
    let world = &shared.world;
    let path = format!("/repos/{repository}/deployments/{id}/statuses");
    // A backoff: the first poll after `poll_s`, then 1.5 times longer each time, at most 4x.
    let first = world.poll_s / world.scale;
    let mut interval = Duration::from_secs_f64(first);
    let mut etag: Option<String> = None;
    let mut done = *shared.deploying_done.borrow();
    loop {
        let (status, body, tag) = world
            .call(&token, reqwest::Method::GET, &path, None, etag.as_deref())
            .await;
        if status == 200 {
            etag = tag;
            // As `mfe dispatch --wait` reads them (`follow::verdict`): the newest final
            // status, whatever late non-final one came after it.
            let last = body.as_array().and_then(|a| {
                a.iter().find(|s| {
                    s["state"]
                        .as_str()
                        .is_some_and(|s| ["success", "inactive", "failure", "error"].contains(&s))
                })
            });
            if let Some(last) = last {
                let newest = last["state"].as_str().unwrap_or_default();
                let at = shared.now_s();
                let mut fates = shared.fates.lock().expect("lock");
                fates[index].final_state = Some(newest.to_owned());
                fates[index].told_at = Some(at);
                // A batch's merge check drops a request gone stale (older than what its pair
                // merged meanwhile) and tells it: refused as older, like `process` refusing it.
                if newest == "failure"
                    && last["description"]
                        .as_str()
                        .is_some_and(|d| d.contains("refused at merge and dropped"))
                {
                    fates[index].refused = true;
                    fates[index].refused_at = Some(at);
                }
                return;
            }
        }
        if done {
            return;
        }
        tokio::time::sleep(interval).await;
        interval = interval
            .mul_f64(1.5)
            .min(Duration::from_secs_f64(first * 4.0));
        done = *shared.deploying_done.borrow();
    }
}

/// The deploy job: one at a time; each run after merges landed (runs coalesce, as a
/// concurrency group keeps at most one pending), until every request's merge step is done.
async fn deploy_loop(
    shared: Arc<Shared>,
    mut merges: tokio::sync::watch::Receiver<u64>,
    mut all_merged: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let finishing = *all_merged.borrow_and_update();
        let seen = *merges.borrow_and_update();
        if seen > 0 || finishing {
            deploy(&shared).await;
        }
        if finishing {
            shared.deploying_done.send_replace(true);
            return;
        }
        tokio::select! {
            r = merges.changed() => { let _ = r; }
            r = all_merged.changed() => { let _ = r; }
        }
    }
}

/// One deploy run: `main` pulled, `gitops deploy` (one at a time).
async fn deploy(shared: &Shared) {
    let world = &shared.world;
    let _one = shared.deploy_lock.lock().await;
    let dir = world.deploy_clone.clone();
    tokio::task::spawn_blocking(move || git(&dir, &["pull", "-q", "--ff-only"]))
        .await
        .expect("joined");
    let ran = world
        .gitops(
            &world.deploy_clone,
            "deploy",
            &["deploy", "--format", "json"],
        )
        .await;
    if ran.code != Some(0) {
        shared.fail(format!("deploy: {}", last_line(&ran.stderr)));
    }
}

/// Modelled seconds between two sweeps (the rendered workflow's `*/15 * * * *`).
const SWEEP_EVERY_S: f64 = 900.0;

/// One sweep: `gitops merge --all` on a runner; the requests whose PRs it merged are merged
/// now ([`landed`]).
/// Whether it left nothing behind; a sweep throttled by the limits is a failure only when it
/// is the `last` (else the next sweep takes what it left).
async fn sweep(shared: &Shared, last: bool) -> bool {
    shared
        .sweeps
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let ran = shared.job("sweep", &["merge", "--all"]).await;
    let at = shared.now_s();
    let shas = merged_shas(&ran.stdout);
    // A PR merged or moved by a merge job meanwhile, or the base moving through every
    // attempt (the next sweep takes it), is a race the sweep loses, not a failure.
    let clean = ran.code == Some(0);
    for line in ran.stderr.lines().filter(|l| l.starts_with("error")) {
        if line.contains("throttled") && !last {
            continue;
        }
        if line.contains("is not open")
            || line.contains("Head branch was modified")
            || line.contains("Base branch was modified")
        {
            shared
                .races
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        } else {
            shared.fail(format!("sweep: {line}"));
        }
    }
    if ran.code != Some(0) && !ran.stderr.lines().any(|l| l.starts_with("error")) {
        shared.fail(format!("sweep: {}", last_line(&ran.stderr)));
    }
    landed(shared, shas, at, true).await;
    clean
}

/// The sweep's schedule: every [`SWEEP_EVERY_S`] modelled seconds until `stop`.
async fn sweep_loop(shared: Arc<Shared>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let every = Duration::from_secs_f64(SWEEP_EVERY_S / shared.world.scale);
    let mut next = tokio::time::Instant::from_std(shared.started) + every;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next) => { sweep(&shared, false).await; }
            r = stop.changed() => { let _ = r; return; }
        }
        if *stop.borrow() {
            return;
        }
        next += every;
    }
}

/// A git command's standard output.
fn git_out(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The stage of a logged call: the login of the GitOps jobs, else the requester's (its
/// deployment is the request, its reads the wait).
fn stage_of(login: &str, method: &str) -> Option<&'static str> {
    match login {
        "process" => Some("process"),
        "merge" => Some("merge"),
        "sweep" => Some("sweep"),
        "deploy" => Some("deploy report"),
        "github-actions[bot]" if method == "GET" => Some("requester wait"),
        "github-actions[bot]" => Some("request"),
        _ => None,
    }
}

/// Runs one simulation.
pub async fn run(cfg: &Config) -> Outcome {
    let planned = plan(cfg);
    let world = setup(cfg, &planned).await;
    let runners_dir = world.dir.path().join("runners");
    let mut runners = Vec::new();
    for k in 0..cfg.runners {
        let name = format!("r{k}");
        std::fs::create_dir_all(&runners_dir).expect("runners");
        git(
            &runners_dir,
            &["clone", "-q", world.bare.to_str().expect("utf-8"), &name],
        );
        runners.push(runners_dir.join(name));
    }
    world.github.clear_requests().await.expect("log cleared");
    world
        .github
        .set_limits(&RateLimits {
            scale: cfg.scale,
            latency_ms: cfg.latency_ms,
            ..RateLimits::default()
        })
        .await
        .expect("limits on");
    let (merges, merges_rx) = tokio::sync::watch::channel(0_u64);
    let (all_merged, all_merged_rx) = tokio::sync::watch::channel(false);
    let shared = Arc::new(Shared {
        world,
        started: Instant::now(),
        runners: tokio::sync::Mutex::new(runners),
        free: tokio::sync::Semaphore::new(cfg.runners),
        fates: Mutex::new(vec![Fate::default(); planned.len()]),
        failures: Mutex::new(Vec::new()),
        races: std::sync::atomic::AtomicUsize::new(0),
        left_to_sweep: std::sync::atomic::AtomicUsize::new(0),
        sweeps: std::sync::atomic::AtomicUsize::new(0),
        ids: planned
            .iter()
            .map(|p| (request_id(p.index), p.index))
            .collect(),
        deploy_lock: tokio::sync::Mutex::new(()),
        deploy_each_merge: cfg.deploy_each_merge,
        merges,
        deploying_done: tokio::sync::watch::channel(false).0,
        groups: Mutex::new(HashMap::new()),
        merge_jobs: std::sync::atomic::AtomicUsize::new(0),
        merge_jobs_coalesced: std::sync::atomic::AtomicUsize::new(0),
        merge_commits: Mutex::new(std::collections::HashSet::new()),
        budget: Mutex::new(Vec::new()),
    });
    let deployer = tokio::spawn(deploy_loop(Arc::clone(&shared), merges_rx, all_merged_rx));
    let (stop_sweeps, stop_rx) = tokio::sync::watch::channel(false);
    let sweeper = tokio::spawn(sweep_loop(Arc::clone(&shared), stop_rx));
    let steps: Vec<_> = planned
        .iter()
        .cloned()
        .map(|p| tokio::spawn(request(Arc::clone(&shared), p)))
        .collect();
    let mut waiters = Vec::new();
    for step in steps {
        waiters.push(step.await.expect("a request ran"));
    }
    // Every merge step done: the last sweep, the last deploy, then the requesters' last polls.
    let _ = stop_sweeps.send(true);
    sweeper.await.expect("the sweeps ran");
    // Sweeps go on every 15 modelled minutes while one leaves something behind (the limits
    // throttled it), up to an hour more.
    let every = Duration::from_secs_f64(SWEEP_EVERY_S / cfg.scale);
    for more in (0..4).rev() {
        if sweep(&shared, more == 0).await {
            break;
        }
        tokio::time::sleep(every).await;
    }
    let _ = all_merged.send(true);
    deployer.await.expect("the deploy job ran");
    for w in waiters {
        w.await.expect("a requester waited");
    }
    collect(&shared, &planned).await
}

/// The figures of a finished run.
async fn collect(shared: &Shared, planned: &[Planned]) -> Outcome {
    let world = &shared.world;
    let fates = shared.fates.lock().expect("lock").clone();
    let failures = shared.failures.lock().expect("lock").clone();
    let mut out = Outcome {
        requests: planned.len(),
        real_s: shared.started.elapsed().as_secs_f64(),
        ..Outcome::default()
    };
    // The span: from the first arrival to the last request settled, at its merge, at its
    // refusal, or when its requester saw it superseded (within one poll of being told).
    let first = fates
        .iter()
        .map(|f| f.arrived)
        .fold(f64::INFINITY, f64::min);
    let (mut last, mut last_not_by_sweep) = (first, first);
    for (p, f) in planned.iter().zip(&fates) {
        if let Some((latency, _)) = f.merged {
            out.merged += 1;
            out.merged_by_sweep += usize::from(f.by_sweep);
            out.latencies_s.push(latency);
        }
        let settled = match (f.merged, f.final_state.as_deref()) {
            (Some((_, at)), _) => Some(at),
            (None, Some("inactive")) => f.told_at,
            (None, Some("failure" | "error")) if f.refused => f.refused_at.or(f.told_at),
            _ => None,
        };
        if let Some(at) = settled {
            out.settled += 1;
            out.superseded_unmerged += usize::from(f.merged.is_none() && !f.refused);
            last = last.max(at);
            if !f.by_sweep {
                last_not_by_sweep = last_not_by_sweep.max(at);
            }
        }
        match f.final_state.as_deref() {
            Some("success") => {}
            Some("inactive") => out.superseded += 1,
            Some("failure" | "error") if f.refused => out.refused_older += 1,
            other => {
                out.lost.push(format!(
                    "{} {}/{} {}: {} (pr {:?}, merged {:?}, by the sweep {})",
                    p.index,
                    p.env,
                    p.mfe,
                    p.version,
                    other.unwrap_or("no final status"),
                    f.pr,
                    f.merged.map(|(_, at)| at.round()),
                    f.by_sweep,
                ));
                if let Some((token, repository, id)) = &f.deployment {
                    let (_, statuses, _) = world
                        .call(
                            token,
                            reqwest::Method::GET,
                            &format!("/repos/{repository}/deployments/{id}/statuses"),
                            None,
                            None,
                        )
                        .await;
                    let told: Vec<String> = statuses
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|s| {
                                    format!(
                                        "{}: {}",
                                        s["state"].as_str().unwrap_or("?"),
                                        s["description"].as_str().unwrap_or("")
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    out.lost_records
                        .push(format!("{} {repository} told {told:?}", p.index));
                }
            }
        }
    }
    out.span_s = last - first;
    out.sweep_tail_s = last - last_not_by_sweep;
    out.app_writes_in_span = shared
        .budget
        .lock()
        .expect("lock")
        .iter()
        .filter(|(at, _)| *at <= last)
        .map(|&(_, writes)| writes)
        .max()
        .unwrap_or(0);
    out.merge_commits = shared.merge_commits.lock().expect("lock").len();
    out.merge_jobs = shared.merge_jobs.load(std::sync::atomic::Ordering::Relaxed);
    out.merge_jobs_coalesced = shared
        .merge_jobs_coalesced
        .load(std::sync::atomic::Ordering::Relaxed);
    out.latencies_s.sort_by(f64::total_cmp);
    // Newest wins per pair.
    let mut newest: BTreeMap<(String, String), String> = BTreeMap::new();
    for p in planned {
        newest.insert((p.env.to_owned(), p.mfe.clone()), p.version.clone());
    }
    out.pairs = newest.len();
    let ran = world
        .gitops(
            &world.deploy_clone,
            "status",
            &["status", "--format", "json"],
        )
        .await;
    let rows: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap_or_default();
    let live: HashMap<(String, String), String> = rows
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| {
                    Some((
                        (
                            r["environment"].as_str()?.to_owned(),
                            r["mfe"].as_str()?.to_owned(),
                        ),
                        r["version"].as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    for (pair, version) in &newest {
        if live.get(pair) != Some(version) {
            out.not_newest.push(format!(
                "{}/{}: wants {version}, live {:?}",
                pair.0,
                pair.1,
                live.get(pair)
            ));
        }
    }
    out.secondary_surfaced = failures
        .iter()
        .filter(|f| {
            let f = f.to_ascii_lowercase();
            f.contains("rate limit") || f.contains("throttled")
        })
        .count();
    out.failures = failures;
    out.merge_races = shared.races.load(std::sync::atomic::Ordering::Relaxed);
    out.left_to_sweep = shared
        .left_to_sweep
        .load(std::sync::atomic::Ordering::Relaxed);
    out.sweeps = shared.sweeps.load(std::sync::atomic::Ordering::Relaxed);
    let log = world.github.requests().await.expect("the request log");
    for p in planned.iter().filter(|p| {
        out.lost
            .iter()
            .any(|l| l.starts_with(&format!("{} ", p.index)))
    }) {
        let repo = format!("/repos/acme/{}-app/", p.mfe);
        let refused: Vec<String> = log
            .iter()
            .filter(|r| r.path.starts_with(&repo) && r.status >= 400)
            .map(|r| format!("{} {} {} {}", r.login, r.method, r.path, r.status))
            .collect();
        out.lost_records
            .push(format!("{} refused calls on {repo}: {refused:?}", p.index));
        // The pair's requests, in the plan's order: which was merged, when, by which PR.
        let pair: Vec<String> = planned
            .iter()
            .zip(&fates)
            .filter(|(q, _)| q.mfe == p.mfe && q.env == p.env)
            .map(|(q, f)| {
                format!(
                    "{} {} arrived {:.0} pr {:?} refused {} merged {:?} told {:?} at {:?}",
                    q.index,
                    q.version,
                    f.arrived,
                    f.pr,
                    f.refused,
                    f.merged.map(|(_, at)| at.round()),
                    f.final_state,
                    f.told_at.map(f64::round),
                )
            })
            .collect();
        out.lost_records
            .push(format!("{} its pair's requests: {pair:?}", p.index));
    }
    for r in log {
        let Some(stage) = stage_of(&r.login, &r.method) else {
            continue;
        };
        let c = out.calls.entry(stage.to_owned()).or_default();
        if r.status == 304 {
            c.not_modified += 1;
        } else if r.method == "GET" {
            c.reads += 1;
        } else {
            c.writes += 1;
            c.conflicts += u64::from(matches!(r.status, 405 | 409 | 422));
        }
    }
    let limits = world.github.limits().await.expect("the limits");
    if let Some(buckets) = limits["buckets"].as_object() {
        for (key, b) in buckets {
            out.secondary_refused += b["secondary_refused"].as_u64().unwrap_or(0);
            out.primary_refused += b["primary_refused"].as_u64().unwrap_or(0);
            if key.starts_with("token *:") && b["requests"].as_u64() > Some(out.app_requests) {
                out.app_requests = b["requests"].as_u64().unwrap_or(0);
                out.app_writes = b["writes"].as_u64().unwrap_or(0);
                out.app_points = b["points"].as_u64().unwrap_or(0);
                out.peak_writes_per_minute = b["peak_writes_per_minute"].as_u64().unwrap_or(0);
                out.peak_points_per_minute = b["peak_points_per_minute"].as_u64().unwrap_or(0);
            }
        }
    }
    out
}
