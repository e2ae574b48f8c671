//! Faults on AWS (issue 18, part 3): `gitops deploy` on moto through the fault-injecting proxy
//! (`gitops_testkit::aws_proxy::faults`). For each AWS adapter (S3 storage, DynamoDB registry,
//! CloudFront) and each fault (5xx, throttling, connection reset, a slow answer, a timeout): a
//! transient fault is retried and the deploy succeeds; a persistent one fails with exit 3 and
//! a message naming the service, within a bound, never leaving a wrong state, and a re-run
//! without it converges. Then `kill -9` of the deploy held at each of its steps, and a re-run
//! that converges with no pointer ever ahead of the registry.
//!
//! Reduced for CI: one MFE, one environment, a two-file version, the cases of one adapter run
//! at once. Full size (`GITOPS_FAULTS_FULL=1`, what `scripts/bench` runs): the version is a
//! 300-file bundle, so the faults meet a deploy of real size (hundreds of uploads, retried
//! among their neighbours in flight).

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use gitops_testkit::aws_proxy::RecordingProxy;
use gitops_testkit::aws_proxy::faults::{Fault, Rule};

use crate::support::{Repo, both, stderr};

/// The loose bound on a deploy that fails for good.
const FAIL_WITHIN: Duration = Duration::from_mins(1);
/// The request timeout of the timeout cases (`GITOPS_REQUEST_TIMEOUT`, seconds), and the
/// delay that exceeds it; at full size both doubled, so a loaded emulator answering a
/// 300-file deploy's neighbours is not taken for the fault.
fn timeout_case() -> (&'static str, Duration) {
    if full_size() {
        ("4", Duration::from_secs(10))
    } else {
        ("2", Duration::from_secs(5))
    }
}

/// One MFE (`checkout` 1.0.0 desired) in one environment (`dev`) on moto, and a fault proxy
/// in front of moto.
struct World {
    endpoint: String,
    repo: Repo,
    proxy: RecordingProxy,
}

/// Whether the suites run at full size (`GITOPS_FAULTS_FULL=1`).
fn full_size() -> bool {
    std::env::var("GITOPS_FAULTS_FULL").is_ok_and(|v| v == "1")
}

impl World {
    async fn new(endpoint: &str) -> World {
        let repo = Repo::on_moto(endpoint, &["dev"], &["checkout"]).await;
        if full_size() {
            let chunks: Vec<(String, Vec<u8>)> = (0..299)
                .map(|i| {
                    (
                        format!("assets/chunk-{i}.{i:08x}.js"),
                        format!(
                            "export const c{i} = '{}';\n",
                            "x".repeat(64 + i * 37 % 4096)
                        )
                        .into_bytes(),
                    )
                })
                .collect();
            let mut files: Vec<(&str, &[u8])> = vec![("remoteEntry.js", b"// checkout 1.0.0\n")];
            files.extend(chunks.iter().map(|(n, d)| (n.as_str(), d.as_slice())));
            repo.publish_files("checkout", "1.0.0", &files);
        } else {
            repo.publish("checkout", "1.0.0");
        }
        repo.desire("checkout", "dev", "1.0.0");
        World {
            endpoint: endpoint.to_owned(),
            repo,
            proxy: RecordingProxy::start(endpoint).await,
        }
    }

    /// `gitops deploy` through the proxy with `env` set; its output and how long it took.
    fn deploy(&self, env: &[(&str, &str)]) -> (Output, Duration) {
        let started = Instant::now();
        let out = crate::moto::aws_env(&mut self.repo.command(&["deploy"]), self.proxy.url())
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (out, started.elapsed())
    }

    /// The `status --format json` row of dev/checkout, read past the proxy.
    fn status(&self) -> serde_json::Value {
        let rows = self
            .repo
            .aws_json(&self.endpoint, &["status", "--format", "json"]);
        rows.as_array()
            .and_then(|r| r.iter().find(|r| r["mfe"] == "checkout").cloned())
            .unwrap_or_else(|| panic!("no checkout row in {rows}"))
    }

    /// What the import map serves for checkout, read past the proxy (`None` when absent).
    async fn served(&self) -> Option<String> {
        let store = self.repo.store(&self.endpoint, "dev");
        let got = object_store::ObjectStoreExt::get(
            &store,
            &object_store::path::Path::from("importmap.json"),
        )
        .await;
        let bytes = match got {
            Ok(g) => g.bytes().await.unwrap(),
            Err(object_store::Error::NotFound { .. }) => return None,
            Err(e) => panic!("importmap.json: {e}"),
        };
        let map: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        map["imports"]["checkout"].as_str().map(str::to_owned)
    }

    /// Whether the alias `mfe/checkout/remoteEntry.js` holds 1.0.0's entry point.
    async fn alias_is_live(&self) -> bool {
        let store = self.repo.store(&self.endpoint, "dev");
        let got = object_store::ObjectStoreExt::get(
            &store,
            &object_store::path::Path::from("mfe/checkout/remoteEntry.js"),
        )
        .await;
        match got {
            Ok(g) => g.bytes().await.unwrap().as_ref() == b"// checkout 1.0.0\n",
            Err(_) => false,
        }
    }

    /// The invalidations of dev's distribution (ids and statuses), asked past the proxy.
    async fn invalidations(&self) -> Vec<(String, String)> {
        let cf = crate::moto::cloudfront(&self.endpoint);
        let list = cf
            .list_invalidations()
            .distribution_id(self.repo.distribution("dev"))
            .send()
            .await
            .unwrap();
        list.invalidation_list()
            .map(|l| {
                l.items()
                    .iter()
                    .map(|i| (i.id().to_owned(), i.status().to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The state never claims in-sync on anything but 1.0.0 live and served; the import map
    /// never names a version the registry does not have live.
    async fn never_wrong(&self, when: &str) {
        let row = self.status();
        let served = self.served().await;
        if let Some(url) = &served {
            assert!(
                url.contains("/1.0.0/") && row["version"] == "1.0.0",
                "{when}: the import map serves {url} while the registry has {row}"
            );
        }
        if row["state"] == "in-sync" {
            assert_eq!(row["version"], "1.0.0", "{when}: {row}");
            assert!(
                served.is_some(),
                "{when}: in-sync but nothing served: {row}"
            );
        }
    }

    /// Everything converged: in sync, 1.0.0 live, served and aliased.
    async fn converged(&self, when: &str) {
        let row = self.status();
        assert_eq!(row["state"], "in-sync", "{when}: {row}");
        assert_eq!(row["version"], "1.0.0", "{when}: {row}");
        let served = self.served().await.unwrap_or_default();
        assert!(served.contains("/mfe/checkout/1.0.0/"), "{when}: {served}");
        assert!(
            self.alias_is_live().await,
            "{when}: the alias is not 1.0.0's"
        );
    }
}

/// What an adapter's faults are put on, and the word its failure message must name.
#[derive(Debug, Clone, Copy)]
enum Adapter {
    /// The upload of the version's files.
    S3,
    /// The registry commit.
    DynamoDb,
    /// The invalidation.
    CloudFront,
}

impl Adapter {
    fn rule(self, fault: Fault) -> Rule {
        match self {
            Adapter::S3 => {
                Rule::new("s3:PutObject", fault).resource_contains("/mfe/checkout/1.0.0/")
            }
            Adapter::DynamoDb => Rule::new("dynamodb:TransactWriteItems", fault),
            Adapter::CloudFront => Rule::new("cloudfront:CreateInvalidation", fault),
        }
    }

    /// Words of which the failure message must name one (service or operation).
    fn names(self) -> &'static [&'static str] {
        match self {
            Adapter::S3 => &["S3", "s3", "upload", "mfe/checkout/1.0.0/"],
            Adapter::DynamoDb => &["DynamoDB", "TransactWriteItems", "registry"],
            Adapter::CloudFront => &["CloudFront", "CreateInvalidation", "invalidation"],
        }
    }
}

/// Environment variables of a run.
type Env = Vec<(&'static str, &'static str)>;

/// The faults of the matrix: (name, the fault, the environment of the run).
fn matrix() -> Vec<(&'static str, Fault, Env)> {
    vec![
        ("5xx", Fault::ServerError, vec![]),
        ("throttling", Fault::Throttle, vec![]),
        ("reset", Fault::Reset, vec![]),
        // Under the (default 60 s) request timeout: no failure at all.
        ("slow", Fault::Delay(Duration::from_millis(1500)), vec![]),
        (
            "timeout",
            Fault::Delay(timeout_case().1),
            vec![("GITOPS_REQUEST_TIMEOUT", timeout_case().0)],
        ),
    ]
}

/// One case: a transient `fault` (first 2 matches) on `adapter` is retried and the deploy
/// succeeds; then a new world where it persists: exit 3 (unless it is only slow) naming the
/// adapter within [`FAIL_WITHIN`], never a wrong state, and a re-run without it converges.
async fn case(
    endpoint: String,
    adapter: Adapter,
    name: &'static str,
    fault: Fault,
    env: Vec<(&'static str, &'static str)>,
) {
    transient_case(&endpoint, adapter, name, fault, &env).await;
    persistent_case(&endpoint, adapter, name, fault, &env).await;
}

/// A transient `fault` (first 2 matches) on `adapter` is retried and the deploy succeeds.
async fn transient_case(
    endpoint: &str,
    adapter: Adapter,
    name: &str,
    fault: Fault,
    env: &[(&str, &str)],
) {
    let what = format!("{adapter:?} {name}");
    let transient = World::new(endpoint).await;
    transient.proxy.add_fault(adapter.rule(fault).first(2));
    let (out, took) = transient.deploy(env);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}, transient: {}",
        both(&out)
    );
    assert!(
        !transient.proxy.faults_applied().is_empty(),
        "{what}: the fault never applied"
    );
    transient
        .converged(&format!("{what}, transient ({took:?})"))
        .await;
}

/// A persistent `fault`: exit 3 (unless it is only slow) naming the adapter within
/// [`FAIL_WITHIN`], never a wrong state, and a re-run without it converges.
async fn persistent_case(
    endpoint: &str,
    adapter: Adapter,
    name: &str,
    fault: Fault,
    env: &[(&str, &str)],
) {
    let what = format!("{adapter:?} {name}");
    let persistent = World::new(endpoint).await;
    persistent.proxy.add_fault(adapter.rule(fault));
    let (out, took) = persistent.deploy(env);
    assert!(took < FAIL_WITHIN, "{what}, persistent: took {took:?}");
    if matches!(fault, Fault::Delay(_)) && env.is_empty() {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{what}, always slow: {}",
            both(&out)
        );
        persistent.converged(&what).await;
        return;
    }
    assert_eq!(
        out.status.code(),
        Some(3),
        "{what}, persistent: {}",
        both(&out)
    );
    let message = stderr(&out);
    assert!(
        adapter.names().iter().any(|n| message.contains(n)),
        "{what}: the message names none of {:?}: {}",
        adapter.names(),
        both(&out)
    );
    // A delayed request still reaches moto afterwards: let it land before judging.
    if let Fault::Delay(delay) = fault {
        tokio::time::sleep(delay + Duration::from_secs(1)).await;
    }
    persistent
        .never_wrong(&format!("{what}, after the failure"))
        .await;
    persistent.proxy.clear_faults();
    let (out, _) = persistent.deploy(&[]);
    assert_eq!(out.status.code(), Some(0), "{what}, re-run: {}", both(&out));
    persistent.converged(&format!("{what}, re-run")).await;
    eprintln!("{what}: persistent ok (failed in {took:?})");
}

async fn adapter_matrix(test: &str, adapter: Adapter) {
    let Some(endpoint) = crate::moto::endpoint(test) else {
        return;
    };
    let mut cases = tokio::task::JoinSet::new();
    for (name, fault, env) in matrix() {
        if full_size() {
            // One case at a time: a 300-file deploy each, ten at once, would time out on the
            // emulator's load instead of the fault (the timeout case's limit is 2 s).
            case(endpoint.clone(), adapter, name, fault, env).await;
        } else {
            cases.spawn(case(endpoint.clone(), adapter, name, fault, env));
        }
    }
    while let Some(done) = cases.join_next().await {
        if let Err(e) = done {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn s3_faults_are_retried_then_fail_with_exit_3_and_a_rerun_converges() {
    adapter_matrix(
        "s3_faults_are_retried_then_fail_with_exit_3_and_a_rerun_converges",
        Adapter::S3,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn dynamodb_faults_are_retried_then_fail_with_exit_3_and_a_rerun_converges() {
    adapter_matrix(
        "dynamodb_faults_are_retried_then_fail_with_exit_3_and_a_rerun_converges",
        Adapter::DynamoDb,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn cloudfront_faults_are_retried_then_fail_with_exit_3_and_a_rerun_converges() {
    adapter_matrix(
        "cloudfront_faults_are_retried_then_fail_with_exit_3_and_a_rerun_converges",
        Adapter::CloudFront,
    )
    .await;
}

/// The deploy steps the kill matrix holds at: the first call of each.
fn steps() -> Vec<(&'static str, Rule)> {
    vec![
        (
            "after upload (the registry commit)",
            Rule::new("dynamodb:TransactWriteItems", Fault::Hold),
        ),
        (
            "after the registry commit (the first alias PUT)",
            Rule::new("s3:PutObject", Fault::Hold)
                .resource_contains("/mfe/checkout/remoteEntry.js"),
        ),
        (
            "after the aliases (the import map's PUT)",
            Rule::new("s3:PutObject", Fault::Hold).resource_contains("/importmap.json"),
        ),
        (
            "after the import map (CreateInvalidation)",
            Rule::new("cloudfront:CreateInvalidation", Fault::Hold),
        ),
        // moto answers CreateInvalidation `COMPLETED`, so the deploy never polls
        // GetInvalidation there: the confirmation is the registry's settle (UpdateItem).
        (
            "before the invalidation is confirmed (the settle)",
            Rule::new("dynamodb:UpdateItem", Fault::Hold),
        ),
    ]
}

/// Holds the deploy at `step`, SIGKILLs it, checks no pointer is ahead of the registry, then
/// re-runs without rules: it converges, re-issuing the invalidation when it was not confirmed.
async fn kill_at(endpoint: String, step: &'static str, rule: Rule) {
    let world = World::new(&endpoint).await;
    world.proxy.add_fault(rule);
    let mut child = crate::moto::aws_env(&mut world.repo.command(&["deploy"]), world.proxy.url())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let held = world.proxy.wait_held(Duration::from_mins(1)).await;
    assert!(!held.is_empty(), "{step}: nothing was held");
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    world.proxy.clear_faults();
    world.proxy.drop_held();
    world
        .never_wrong(&format!("right after the kill {step}"))
        .await;
    let row = world.status();
    assert_ne!(
        row["state"], "in-sync",
        "right after the kill {step}: {row}"
    );

    world.proxy.clear();
    let (out, _) = world.deploy(&[]);
    assert_eq!(out.status.code(), Some(0), "{step}, re-run: {}", both(&out));
    world.converged(&format!("{step}, re-run")).await;
    let issued = world
        .proxy
        .calls()
        .iter()
        .filter(|c| c.action == "cloudfront:CreateInvalidation")
        .count();
    assert_eq!(
        issued, 1,
        "{step}: the re-run must issue (or re-issue) the one invalidation not confirmed"
    );
    let invalidations = world.invalidations().await;
    assert!(
        !invalidations.is_empty()
            && invalidations
                .iter()
                .all(|(_, s)| s.eq_ignore_ascii_case("completed")),
        "{step}: {invalidations:?}"
    );
    eprintln!("kill -9 {step}: converged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn a_deploy_killed_at_each_step_converges_on_rerun_and_no_pointer_is_ever_ahead() {
    let Some(endpoint) = crate::moto::endpoint(
        "a_deploy_killed_at_each_step_converges_on_rerun_and_no_pointer_is_ever_ahead",
    ) else {
        return;
    };
    let mut cases = tokio::task::JoinSet::new();
    for (step, rule) in steps() {
        cases.spawn(kill_at(endpoint.clone(), step, rule));
    }
    while let Some(done) = cases.join_next().await {
        if let Err(e) = done {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}
