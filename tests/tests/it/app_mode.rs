//! App mode end to end (issue 19): `gitops serve` as a GitHub App on fake-github, which
//! delivers real signed webhooks, and moto for the targets. The MFE repository's CD job runs
//! `mfe dispatch --app --wait` with nothing but its own `GITHUB_TOKEN`: the deployment it makes
//! on its commit is the request. From there no workflow runs and no dispatch token exists:
//! the server judges and proposes (a pull request), checks and merges it on the pull request's
//! webhook, deploys on the push to the default branch, and tells the requester on its
//! deployment, which `mfe dispatch --wait` follows to success.
//!
//! - One server on the SQLite queue: the whole path; then every delivery is sent again
//!   (GitHub's "Redeliver"), to this server and to a fresh one whose queue never saw them: no
//!   second status, pull request or deploy. A forged delivery is refused with no effect.
//! - Two replicas on one SQS FIFO queue (moto) behind a round-robin balancer: the replica
//!   that takes the deploy is killed (`kill -9`) while its upload is held at its AWS proxy;
//!   the other finishes the deploy when the lease expires, and the requester is told success
//!   once.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use gitops_artifact_store::{AwsSettings, StoreOpener, publish_dir};
use gitops_testkit::FakeGithub;
use gitops_testkit::aws_proxy::RecordingProxy;
use gitops_testkit::aws_proxy::faults::{Fault, Rule};
use reqwest::Method;
use serde_json::{Value, json};

use crate::moto::{cloudfront, create_distribution, endpoint, invalidation_paths, s3, write};

const SECRET: &str = "hook-secret-for-app-mode";
const APP_ID: u64 = 515_151;
const OBSERVER: &str = "observer:x";

/// The App's permissions (deploy/github-app/manifest.json).
const PERMISSIONS: &[(&str, &str)] = &[
    ("contents", "write"),
    ("pull_requests", "write"),
    ("statuses", "write"),
    ("deployments", "write"),
    ("checks", "read"),
    ("metadata", "read"),
];

fn app_key_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/testkit/fixtures/github-app-test-key.pem")
}

/// `command` talking to moto (or a proxy of it) at `aws` with dummy credentials.
fn on_aws<'a>(command: &'a mut Command, aws: &str) -> &'a mut Command {
    command
        .env("AWS_ENDPOINT_URL", aws)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ALLOW_HTTP", "true")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One `gitops serve` process, killed when dropped; its JSON logs in a file.
struct Server {
    child: Child,
    url: String,
    logs: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How to start a server: its name (its clone and log), address, queue, lease and AWS endpoint.
struct Spec<'a> {
    name: &'a str,
    listen: &'a str,
    queue: &'a str,
    visibility: u64,
    aws: &'a str,
    workers: u16,
    /// Seconds between sweeps (0: none).
    sweep: u64,
}

impl Server {
    fn start(github: &FakeGithub, dir: &Path, spec: &Spec<'_>) -> Server {
        let logs = dir.join(format!("{}.log", spec.name));
        let mut command = Command::new(crate::gitops_bin());
        command
            .args(["--repo", dir.join(spec.name).to_str().unwrap(), "serve"])
            .args(["--listen", spec.listen, "--backoff", "0.2"])
            .args(["--workers", &spec.workers.to_string()])
            .args(["--sweep-interval", &spec.sweep.to_string()])
            .args(["--queue", spec.queue])
            .args(["--visibility", &spec.visibility.to_string()])
            .env("GITOPS_WEBHOOK_SECRET", SECRET)
            .env("GITOPS_APP_ID", APP_ID.to_string())
            .env("GITOPS_APP_PRIVATE_KEY_FILE", app_key_file())
            .env("GITHUB_API_URL", &github.base_url)
            .env("GITOPS_REPOSITORY", "acme/gitops")
            .env("GITOPS_REPO_URL", github.repo_path("acme", "gitops"))
            .env("GITOPS_GITHUB_WRITE_INTERVAL_MS", "0")
            .env("RUST_LOG", "info")
            // No token of any kind: the App mints its own.
            .env_remove("GITHUB_TOKEN")
            .env_remove("GITOPS_GITHUB_TOKEN")
            .env_remove("GITOPS_DISPATCH_TOKEN")
            .env_remove("GITHUB_REPOSITORY")
            .env_remove("GITHUB_SHA")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&logs).unwrap());
        let mut child = on_aws(&mut command, spec.aws).spawn().unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "gitops serve did not announce its address: {first:?}\n{}",
                    std::fs::read_to_string(&logs).unwrap_or_default()
                )
            })
            .to_owned();
        Server { child, url, logs }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.logs).unwrap_or_default()
    }

    /// One metric's value (summed over the lines whose labels contain `label`).
    async fn metric(&self, name: &str, label: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| l.starts_with(name) && l.contains(label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Waits until the queue holds nothing, ready or in flight.
    async fn drained(&self) {
        let deadline = Instant::now() + Duration::from_mins(2);
        loop {
            let depth = self.metric("gitops_queue_depth", "").await;
            let flight = self.metric("gitops_queue_in_flight", "").await;
            if depth < 0.5 && flight < 0.5 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the queue did not drain\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A load balancer in front of replicas (as the ALB is): each request to the next replica in
/// turn, skipping one that does not answer; the replica's answer is passed back as it is.
struct Balancer {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Balancer {
    async fn start(replicas: Vec<String>) -> Balancer {
        use axum::http::{HeaderMap, StatusCode};
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let http = reqwest::Client::new();
        let forward = move |uri: axum::http::Uri, headers: HeaderMap, body: axum::body::Bytes| {
            let (next, http, replicas) = (next.clone(), http.clone(), replicas.clone());
            async move {
                let first = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                for i in 0..replicas.len() {
                    let target = &replicas[(first + i) % replicas.len()];
                    let mut request = http.post(format!("{target}{}", uri.path()));
                    for (name, value) in &headers {
                        if name.as_str().starts_with("x-") || name == "content-type" {
                            request = request.header(name.as_str(), value.as_bytes());
                        }
                    }
                    if let Ok(answer) = request.body(body.clone()).send().await {
                        let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
                        return (status, answer.bytes().await.unwrap_or_default());
                    }
                }
                (StatusCode::BAD_GATEWAY, axum::body::Bytes::new())
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(axum::routing::post(forward));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Balancer { url, task }
    }
}

/// fake-github with the App installed, the GitOps and MFE repositories, the targets on moto
/// (bootstrapped by the operator from a checkout) and a published artifact.
struct World {
    _data: tempfile::TempDir,
    github: FakeGithub,
    work: tempfile::TempDir,
    operator: PathBuf,
    aws: String,
    distribution: String,
    mfe_head: String,
    /// The environment's bucket (its stage events under `metrics/`).
    site: String,
}

impl World {
    async fn new(aws: &str) -> World {
        let data = tempfile::tempdir().unwrap();
        let github = crate::fake_github_with_job_tokens(data.path()).await;
        github
            .register_app(
                APP_ID,
                "acme-gitops",
                &std::fs::read_to_string(app_key_file()).unwrap(),
                PERMISSIONS,
            )
            .await
            .unwrap();
        let id = ulid::Ulid::generate().to_string().to_lowercase();
        let (site, artifacts, table) = (
            format!("app-site-{id}"),
            format!("app-artifacts-{id}"),
            format!("app-registry-{id}"),
        );
        let distribution = create_distribution(&cloudfront(aws), &format!("app-{id}")).await;
        s3(aws)
            .create_bucket()
            .bucket(&artifacts)
            .send()
            .await
            .unwrap();
        let dist = tempfile::tempdir().unwrap();
        write(dist.path(), "remoteEntry.js", "// checkout 2.0.0\n");
        let location = StoreOpener::new(dist.path())
            .with_aws(AwsSettings::emulator(aws, "testing", "testing"))
            .open_object(&format!("s3://{artifacts}/checkout/checkout-2.0.0.tgz"))
            .unwrap();
        publish_dir(&location, dist.path()).await.unwrap();
        let gitops_yaml = format!(
            "version: 1\nenvironments:\n  - name: prod\n    storage: s3://{site}\n    registry: dynamodb://{table}\n    cdn: cloudfront://{distribution}\n    public_url: https://cdn.example.com\n"
        );
        let mfe_yaml = format!(
            "name: checkout\nrepository: acme/checkout-mfe\nartifact: s3://{artifacts}/checkout/checkout-{{version}}.tgz\nenvironments: [prod]\nentry_points: [remoteEntry.js]\n"
        );
        github
            .create_repo(
                "acme",
                "gitops",
                &[
                    ("gitops.yaml", &gitops_yaml),
                    ("mfes/checkout.yaml", &mfe_yaml),
                ],
            )
            .await
            .unwrap();
        let mfe_head = github
            .create_repo("acme", "checkout-mfe", &[("README.md", "checkout\n")])
            .await
            .unwrap()
            .unwrap();
        // The operator creates the targets once (`gitops bootstrap`, from a checkout).
        let work = tempfile::tempdir().unwrap();
        let operator = work.path().join("operator");
        let origin = github.repo_path("acme", "gitops");
        crate::support::git(
            work.path(),
            &["clone", "-q", origin.to_str().unwrap(), "operator"],
        );
        let mut bootstrap = Command::new(crate::gitops_bin());
        bootstrap.args(["--repo", operator.to_str().unwrap(), "bootstrap"]);
        let out = on_aws(&mut bootstrap, aws).output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
        World {
            _data: data,
            github,
            work,
            operator,
            aws: aws.to_owned(),
            distribution,
            mfe_head,
            site,
        }
    }

    /// A server named `name` on its own SQLite queue and moto, sweeping every `sweep` seconds
    /// (0: never).
    fn serve(&self, name: &str, sweep: u64) -> Server {
        let queue = self.work.path().join(format!("{name}.sqlite"));
        let queue = format!("sqlite:{}", queue.display());
        let spec = Spec {
            name,
            listen: "127.0.0.1:0",
            queue: &queue,
            visibility: 60,
            aws: &self.aws,
            workers: 2,
            sweep,
        };
        Server::start(&self.github, self.work.path(), &spec)
    }

    /// Points the App's webhook at `url` (a server's or a balancer's).
    async fn hook(&self, url: &str) {
        self.hook_for(url, gitops_webhook::EVENTS).await;
    }

    /// A webhook at `url` taking only `events` (the others are lost).
    async fn hook_for(&self, url: &str, events: &[&str]) {
        self.github
            .add_webhook(&format!("{url}/webhook"), SECRET, events)
            .await
            .unwrap();
    }

    /// The MFE repository's CD job asking for checkout 2.0.0 in prod: `mfe dispatch --app
    /// --wait` with its own GITHUB_TOKEN (deployments: write) and no dispatch token; its output.
    async fn request(&self) -> Output {
        self.request_as(None, "2.0.0").await
    }

    /// [`World::request`] of `version`, or in the Actions mode's way (a `repository_dispatch`
    /// sent with `dispatch_token`) when one is given.
    async fn request_as(&self, dispatch_token: Option<&str>, version: &str) -> Output {
        let (code, token) = self
            .github
            .api(
                OBSERVER,
                Method::POST,
                "/_fake/tokens",
                Some(json!({"repository": "acme/checkout-mfe",
                            "permissions": {"deployments": "write"}})),
            )
            .await
            .unwrap();
        assert_eq!(code, 201, "{token}");
        let mut mfe = Command::new(crate::mfe_bin());
        mfe.args(["dispatch", "--wait", "--timeout", "120"])
            .args(["--interval", "0.3", "--gitops-repo", "acme/gitops"])
            .args(["--mfe", "checkout", "--version", version])
            .args(["--environment", "prod"])
            .args(["--cache-invalidation-key", "/mfe/checkout/*"])
            .args([
                "--repository",
                "acme/checkout-mfe",
                "--ref",
                "refs/heads/main",
            ])
            .args(["--sha", &self.mfe_head, "--user", "dana"])
            .env("GITHUB_API_URL", &self.github.base_url)
            .env("GITHUB_TOKEN", token["token"].as_str().unwrap())
            .env("GITOPS_GITHUB_WRITE_INTERVAL_MS", "0")
            .env_remove("GITOPS_DISPATCH_TOKEN")
            .env_remove("GITOPS_GITHUB_TOKEN")
            .env_remove("GITHUB_STEP_SUMMARY")
            .env_remove("GITHUB_OUTPUT");
        match dispatch_token {
            None => mfe.arg("--app"),
            Some(token) => mfe.env("GITOPS_DISPATCH_TOKEN", token),
        };
        tokio::task::spawn_blocking(move || mfe.output().unwrap())
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        let (code, body) = self
            .github
            .api(OBSERVER, Method::GET, path, None)
            .await
            .unwrap();
        assert_eq!(code, 200, "GET {path}: {body}");
        body
    }

    /// Checks that checkout 2.0.0 is live and desired in prod, invalidated once, from one
    /// merged pull request, and that the request's one deployment was told success last;
    /// returns the deployment's statuses path and its states, newest first.
    async fn live_once(&self) -> (String, Vec<String>) {
        crate::support::git(&self.operator, &["pull", "-q", "--ff-only"]);
        let mut status = Command::new(crate::gitops_bin());
        status.args(["--repo", self.operator.to_str().unwrap(), "status"]);
        let out = on_aws(status.args(["--format", "json"]), &self.aws)
            .output()
            .unwrap();
        let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            (
                rows[0]["mfe"].as_str(),
                rows[0]["version"].as_str(),
                rows[0]["differs"].as_bool()
            ),
            (Some("checkout"), Some("2.0.0"), Some(false)),
            "{rows}"
        );
        let invalidations = invalidation_paths(&self.aws, &self.distribution).await;
        assert_eq!(invalidations.len(), 1, "{invalidations:?}");
        let pulls = self.get("/repos/acme/gitops/pulls?state=all").await;
        assert_eq!(pulls.as_array().unwrap().len(), 1, "{pulls}");
        assert!(!pulls[0]["merged_at"].is_null(), "{pulls}");
        let deployments = self
            .get(&format!(
                "/repos/acme/checkout-mfe/deployments?sha={}",
                self.mfe_head
            ))
            .await;
        let deployments = deployments.as_array().unwrap();
        assert_eq!(deployments.len(), 1, "{deployments:?}");
        assert_eq!(deployments[0]["payload"]["user"], "dana");
        let path = format!(
            "/repos/acme/checkout-mfe/deployments/{}/statuses",
            deployments[0]["id"]
        );
        let told = states(&self.get(&path).await);
        assert_eq!(
            told.first().map(String::as_str),
            Some("success"),
            "{told:?}"
        );
        assert_eq!(
            told.iter().filter(|s| *s == "success").count(),
            1,
            "told success once: {told:?}"
        );
        (path, told)
    }

    /// The event of every delivery, once none is in flight.
    async fn events(&self) -> Vec<String> {
        self.deliveries()
            .await
            .iter()
            .map(|d| d["event"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Every delivery, once none is in flight.
    async fn deliveries(&self) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let all = self.github.webhook_deliveries().await.unwrap();
            let all = all.as_array().cloned().unwrap_or_default();
            if all
                .iter()
                .all(|d| !d["status"].is_null() || !d["error"].is_null())
            {
                return all;
            }
            assert!(Instant::now() < deadline, "deliveries still in flight");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn states(all: &Value) -> Vec<String> {
    all.as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_made_in_an_mfe_repository_goes_live_through_gitops_serve() {
    let Some(aws) =
        endpoint("a_deployment_made_in_an_mfe_repository_goes_live_through_gitops_serve")
    else {
        return;
    };
    let w = World::new(&aws).await;
    let queue = format!("sqlite:{}", w.work.path().join("queue.sqlite").display());
    let spec = Spec {
        name: "serve-a",
        listen: "127.0.0.1:0",
        queue: &queue,
        visibility: 60,
        aws: &aws,
        workers: 2,
        sweep: 0,
    };
    let server = Server::start(&w.github, w.work.path(), &spec);
    w.hook(&server.url).await;

    // A forged delivery: refused, nothing enqueued.
    let forged = reqwest::Client::new()
        .post(format!("{}/webhook", server.url))
        .header("X-GitHub-Event", "deployment")
        .header("X-GitHub-Delivery", "forged-1")
        .header("X-Hub-Signature-256", format!("sha256={}", "0".repeat(64)))
        .body(r#"{"deployment": {}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    assert!(
        server.metric("gitops_queue_depth", "").await < 0.5,
        "nothing enqueued"
    );

    // A deployment in a repository the MFE is not registered to (anyone may create one in a
    // repository they can write to): refused and told so there, nothing proposed.
    let evil_head = w
        .github
        .create_repo("acme", "evil-mfe", &[("README.md", "evil\n")])
        .await
        .unwrap()
        .unwrap();
    let evil = crate::workflow_deployment(
        &w.github,
        "acme/evil-mfe",
        &evil_head,
        "prod",
        json!({"id": ulid::Ulid::generate().to_string(), "mfe": "checkout", "version": "2.0.0"}),
    )
    .await;
    let path = format!("/repos/acme/evil-mfe/deployments/{}/statuses", evil["id"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let refused = loop {
        let told = w.get(&path).await;
        if !states(&told).is_empty() {
            break told;
        }
        assert!(Instant::now() < deadline, "not told\n{}", server.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(states(&refused), ["failure"], "{refused}");
    assert!(
        refused[0]["description"]
            .as_str()
            .unwrap()
            .contains("acme/evil-mfe"),
        "{refused}"
    );
    assert_eq!(w.get("/repos/acme/gitops/pulls?state=all").await, json!([]));

    let waited = w.request().await;
    assert!(
        waited.status.success(),
        "mfe dispatch --app --wait: {}\n--- gitops serve:\n{}",
        text(&waited),
        server.logs()
    );
    server.drained().await;
    let (path, told) = w.live_once().await;
    // JSON logs: each job's lines carry its delivery, kind and request id.
    let logs = server.logs();
    let processed: Value = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["fields"]["message"] == "processed")
        .unwrap_or_else(|| panic!("no `processed` line: {logs}"));
    assert_eq!(processed["span"]["kind"], "request", "{processed}");
    assert!(processed["span"]["delivery"].is_string(), "{processed}");
    assert_eq!(
        processed["span"]["request"].as_str().map(str::len),
        Some(26),
        "{processed}"
    );
    // Each job wrote the stage events it recorded: the request's, the merge's, the deploy's.
    let events = s3(&aws)
        .list_objects_v2()
        .bucket(&w.site)
        .prefix("metrics/")
        .send()
        .await
        .unwrap();
    assert!(
        events.contents().len() >= 3,
        "stage events of the request, merge and deploy jobs: {:?}",
        events.contents()
    );
    for kind in ["request", "checks", "deploy"] {
        let done = format!("kind=\"{kind}\",outcome=\"done\"");
        assert!(
            server.metric("gitops_jobs_total", &done).await >= 1.0,
            "/metrics counts the {kind} job"
        );
    }
    let delivered = w.deliveries().await;
    let events: Vec<&str> = delivered
        .iter()
        .map(|d| d["event"].as_str().unwrap())
        .collect();
    assert!(events.contains(&"deployment"), "{events:?}");
    assert!(events.contains(&"push"), "{events:?}");
    assert!(
        !events.contains(&"repository_dispatch"),
        "no dispatch: {events:?}"
    );
    for d in &delivered {
        assert!(d["status"] == 202 || d["status"] == 200, "accepted: {d}");
    }

    // Every delivery again, to the same server: duplicates, nothing new.
    for d in &delivered {
        w.github
            .redeliver(d["guid"].as_str().unwrap())
            .await
            .unwrap();
    }
    let again = w.deliveries().await;
    server.drained().await;
    assert!(
        again[delivered.len()..].iter().all(|d| d["status"] == 200),
        "redeliveries are duplicates: {:?}",
        &again[delivered.len()..]
    );

    // And to a fresh server on the same address whose queue never saw them (past any
    // deduplication window): enqueued and run, and still nothing new, because GitHub itself
    // records what was done.
    let address = server.url.trim_start_matches("http://").to_owned();
    drop(server);
    let queue = format!("sqlite:{}", w.work.path().join("fresh.sqlite").display());
    let fresh = Server::start(
        &w.github,
        w.work.path(),
        &Spec {
            name: "serve-b",
            listen: &address,
            queue: &queue,
            ..spec
        },
    );
    for d in &delivered {
        w.github
            .redeliver(d["guid"].as_str().unwrap())
            .await
            .unwrap();
    }
    let last = w.deliveries().await;
    fresh.drained().await;
    assert!(
        last[again.len()..].iter().any(|d| d["status"] == 202),
        "enqueued anew: {:?}",
        &last[again.len()..]
    );
    let (_, told_again) = w.live_once().await;
    assert_eq!(told_again, told, "no second status\n{}", fresh.logs());
    assert_eq!(states(&w.get(&path).await), told);
    let logs = fresh.logs();
    assert!(logs.contains("a redelivery"), "{logs}");
}

/// What a server cannot work is dead-lettered and its requester told `error`; the Actions
/// mode's `repository_dispatch` goes through the same server (its origin proven from the
/// requester's deployment); SIGTERM stops the server cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_given_up_is_told_error_a_dispatch_is_served_and_sigterm_stops_cleanly() {
    let Some(aws) =
        endpoint("a_request_given_up_is_told_error_a_dispatch_is_served_and_sigterm_stops_cleanly")
    else {
        return;
    };
    let w = World::new(&aws).await;
    let server = w.serve("serve-c", 0);
    w.hook(&server.url).await;

    // A broken gitops.yaml on the default branch (pushed past the API: no webhook): the
    // request cannot be judged, no retry can help, the requester is told at once.
    let config = w.operator.join("gitops.yaml");
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, "version: 1\nenvironments: [[[\n").unwrap();
    crate::support::git(&w.operator, &["commit", "-qam", "break gitops.yaml"]);
    crate::support::git(&w.operator, &["push", "-q", "origin", "HEAD:main"]);
    let refused = w.request().await;
    assert!(!refused.status.success(), "{}", text(&refused));
    let deployments = w
        .get(&format!(
            "/repos/acme/checkout-mfe/deployments?sha={}",
            w.mfe_head
        ))
        .await;
    let id = deployments[0]["id"].as_u64().unwrap();
    let statuses = w
        .get(&format!(
            "/repos/acme/checkout-mfe/deployments/{id}/statuses"
        ))
        .await;
    assert_eq!(states(&statuses), ["error"], "{statuses}");
    let said = statuses[0]["description"].as_str().unwrap();
    assert!(
        said.starts_with(
            "gitops serve gave up: the GitOps repository's default branch does not load"
        ) && said.contains("gitops.yaml"),
        "{said}"
    );
    assert!(
        server
            .metric("gitops_jobs_total", "kind=\"request\",outcome=\"dead\"")
            .await
            >= 1.0,
        "{}",
        server.logs()
    );

    // Repaired, the Actions mode's request (a dispatch token, the deployment as proof of
    // origin) goes through the server to live.
    std::fs::write(&config, good).unwrap();
    crate::support::git(&w.operator, &["commit", "-qam", "repair gitops.yaml"]);
    crate::support::git(&w.operator, &["push", "-q", "origin", "HEAD:main"]);
    let sent = w.request_as(Some("gitops-bot:secret"), "2.0.0").await;
    assert!(
        sent.status.success(),
        "{}\n--- gitops serve:\n{}",
        text(&sent),
        server.logs()
    );
    server.drained().await;
    let events = w.events().await;
    assert!(
        events.iter().any(|e| e == "repository_dispatch"),
        "{events:?}"
    );
    assert!(
        server
            .metric("gitops_jobs_total", "kind=\"dispatch\",outcome=\"done\"")
            .await
            >= 1.0
    );

    // SIGTERM: no new deliveries, the workers stop, exit 0.
    let mut server = server;
    let pid = server.child.id().to_string();
    let term = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(term.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "gitops serve did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(exit.code(), Some(0), "{}", server.logs());
    assert!(server.logs().contains("shutting down"));
}

/// GitHub does not redeliver a failed delivery by itself: with every webhook but the request's
/// lost (the pull request's and the push's never arrive), the server's sweep merges the pull
/// request and deploys, and the requester is told success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_finishes_what_lost_webhooks_left() {
    let Some(aws) = endpoint("the_sweep_finishes_what_lost_webhooks_left") else {
        return;
    };
    let w = World::new(&aws).await;
    let server = w.serve("serve-d", 2);
    w.hook_for(&server.url, &["deployment"]).await;
    let waited = w.request().await;
    assert!(
        waited.status.success(),
        "{}\n--- gitops serve:\n{}",
        text(&waited),
        server.logs()
    );
    server.drained().await;
    w.live_once().await;
    let events = w.events().await;
    assert_eq!(events, ["deployment"], "only the request was delivered");
    assert!(
        server
            .metric("gitops_jobs_total", "kind=\"sweep\",outcome=\"done\"")
            .await
            >= 1.0,
        "{}",
        server.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_sqs_fifo_queue_one_killed_mid_deploy_the_other_finishes() {
    let Some(aws) =
        endpoint("two_replicas_on_one_sqs_fifo_queue_one_killed_mid_deploy_the_other_finishes")
    else {
        return;
    };
    let w = World::new(&aws).await;
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .endpoint_url(&aws)
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .build(),
    );
    let name = format!(
        "gitops-{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    );
    let (queue, _) = gitops_queue::SqsQueue::bootstrap(sqs, &name, 5)
        .await
        .unwrap();
    // Each replica reaches AWS through its own proxy, which holds the first upload into the
    // MFE's prefix: whichever replica takes the deploy stops there.
    let proxies = [
        RecordingProxy::start(&aws).await,
        RecordingProxy::start(&aws).await,
    ];
    for proxy in &proxies {
        proxy.add_fault(
            Rule::new("s3:PutObject", Fault::Hold)
                .resource_contains("/mfe/checkout/")
                .first(1),
        );
    }
    let mut replicas: Vec<Option<Server>> = ["replica-a", "replica-b"]
        .iter()
        .zip(&proxies)
        .map(|(name, proxy)| {
            Some(Server::start(
                &w.github,
                w.work.path(),
                &Spec {
                    name,
                    listen: "127.0.0.1:0",
                    queue: queue.queue_url(),
                    visibility: 3,
                    aws: proxy.url(),
                    workers: 2,
                    sweep: 0,
                },
            ))
        })
        .collect();
    let balancer =
        Balancer::start(replicas.iter().flatten().map(|r| r.url.clone()).collect()).await;
    w.hook(&balancer.url).await;
    // The replica holding the upload is killed; the other's proxy lets everything through.
    let kill = async {
        let deadline = Instant::now() + Duration::from_mins(1);
        let victim = loop {
            if let Some(i) = proxies.iter().position(|p| !p.held().is_empty()) {
                break i;
            }
            assert!(
                Instant::now() < deadline,
                "no replica reached the deploy's upload\n{}\n{}",
                replicas[0].as_ref().unwrap().logs(),
                replicas[1].as_ref().unwrap().logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        proxies[1 - victim].clear_faults();
        let killed = replicas[victim].take().unwrap();
        let logs = killed.logs();
        drop(killed); // SIGKILL, then reaped
        proxies[victim].drop_held();
        (1 - victim, logs)
    };
    let (waited, (survivor, killed_logs)) = tokio::join!(w.request(), kill);
    let survivor = replicas[survivor].as_ref().unwrap();
    assert!(
        waited.status.success(),
        "mfe dispatch --app --wait: {}\n--- survivor:\n{}\n--- killed:\n{killed_logs}",
        text(&waited),
        survivor.logs()
    );
    survivor.drained().await;
    w.live_once().await;
    let logs = survivor.logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("deploying the default branch") && l.contains("\"attempt\":2")),
        "the survivor ran the killed replica's deploy again: {logs}"
    );
    assert!(
        !logs.contains("dead-lettered") && !logs.contains("stale receipt"),
        "every job of the survivor ended within its lease: {logs}"
    );
}

/// A burst of deployments (five versions for each pair of MFEs x two environments, the
/// versions of a pair made in order, the pairs interleaved) into one server on the embedded
/// backends: when the queue is drained, the newest version of every pair is live and desired,
/// every request was told a final state (none left queued), the newest ones success, and no
/// pair ever had two pull requests open at once. CI's size: 10 MFEs, 100 deliveries for 20
/// pairs; the issue's 500 for 100 pairs with `GITOPS_BURST_MFES=50` (`scripts/bench` runs it;
/// fake-github serialises the GitOps repository's writes, so it takes minutes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // one story, told in order
async fn a_burst_of_deployments_ends_with_the_newest_of_every_pair_live_and_nothing_lost() {
    const VERSIONS: usize = 5;
    let mfes_n: usize = std::env::var("GITOPS_BURST_MFES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let data = tempfile::tempdir().unwrap();
    let github = crate::fake_github_with_job_tokens(data.path()).await;
    let key = std::fs::read_to_string(app_key_file()).unwrap();
    github
        .register_app(APP_ID, "acme-gitops", &key, PERMISSIONS)
        .await
        .unwrap();
    let mfes: Vec<String> = (0..mfes_n).map(|i| format!("m{i:02}")).collect();
    let envs = ["dev", "prod"];
    let mut config = String::from("version: 1\nenvironments:\n");
    for e in envs {
        let _ = write!(
            config,
            "  - name: {e}\n    storage: local/{e}/storage\n    registry: local/{e}/registry.db\n    cdn: local/{e}/cdn.log\n    public_url: https://cdn.example.com/{e}\n"
        );
    }
    let mut files = vec![("gitops.yaml".to_owned(), config)];
    files.push((".gitignore".to_owned(), "local/\n".to_owned()));
    for mfe in &mfes {
        files.push((
            format!("mfes/{mfe}.yaml"),
            format!("name: {mfe}\nrepository: acme/{mfe}-mfe\nartifact: local/artifacts/{mfe}/{mfe}-{{version}}.tgz\nenvironments: [dev, prod]\nentry_points: [remoteEntry.js]\n"),
        ));
    }
    let listed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    github.create_repo("acme", "gitops", &listed).await.unwrap();

    // The server's clone made beforehand, with the artifacts and targets under its ignored
    // local/ (the embedded backends are files beside the clone).
    let work = tempfile::tempdir().unwrap();
    let origin = github.repo_path("acme", "gitops");
    crate::support::git(
        work.path(),
        &["clone", "-q", origin.to_str().unwrap(), "burst"],
    );
    let clone = work.path().join("burst");
    for mfe in &mfes {
        let dir = clone.join(format!("local/artifacts/{mfe}"));
        std::fs::create_dir_all(&dir).unwrap();
        for v in 1..=VERSIONS {
            let dist = tempfile::tempdir().unwrap();
            write(
                dist.path(),
                "remoteEntry.js",
                &format!("// {mfe} 1.0.{v}\n"),
            );
            let archive = gitops_artifact_store::pack_dir(dist.path()).unwrap();
            let name = format!("{mfe}-1.0.{v}.tgz");
            std::fs::write(dir.join(&name), &archive).unwrap();
            std::fs::write(
                dir.join(format!("{name}.sha256")),
                gitops_artifact_store::sidecar_line(
                    &gitops_artifact_store::sha256_hex(&archive),
                    &name,
                ),
            )
            .unwrap();
        }
    }
    let out = Command::new(crate::gitops_bin())
        .args(["--repo", clone.to_str().unwrap(), "bootstrap"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let queue = format!("sqlite:{}", work.path().join("queue.sqlite").display());
    let server = Server::start(
        &github,
        work.path(),
        &Spec {
            name: "burst",
            listen: "127.0.0.1:0",
            queue: &queue,
            visibility: 60,
            aws: "http://127.0.0.1:9",
            workers: 8,
            sweep: 0,
        },
    );
    github
        .add_webhook(
            &format!("{}/webhook", server.url),
            SECRET,
            gitops_webhook::EVENTS,
        )
        .await
        .unwrap();

    // The MFE repositories, each with a job token, then the burst.
    let mut heads = Vec::new();
    for mfe in &mfes {
        let repository = format!("{mfe}-mfe");
        let head = github
            .create_repo("acme", &repository, &[("README.md", "mfe\n")])
            .await
            .unwrap()
            .unwrap();
        let (code, token) = github
            .api(
                OBSERVER,
                Method::POST,
                "/_fake/tokens",
                Some(json!({"repository": format!("acme/{repository}"),
                            "permissions": {"deployments": "write"}})),
            )
            .await
            .unwrap();
        assert_eq!(code, 201, "{token}");
        heads.push((
            mfe.clone(),
            head,
            token["token"].as_str().unwrap().to_owned(),
        ));
    }
    let started = Instant::now();
    let mut made: Vec<(String, String, String, u64)> = Vec::new();
    for v in 1..=VERSIONS {
        let version = format!("1.0.{v}");
        let mut round = tokio::task::JoinSet::new();
        for (mfe, head, token) in &heads {
            for env in envs {
                let (github_url, mfe, head, token, version) = (
                    github.base_url.clone(),
                    mfe.clone(),
                    head.clone(),
                    token.clone(),
                    version.clone(),
                );
                round.spawn(async move {
                    let body = json!({
                        "ref": head, "environment": env, "auto_merge": false,
                        "required_contexts": [],
                        "payload": {"id": ulid::Ulid::generate().to_string(), "mfe": mfe,
                                    "version": version, "user": "dana"},
                    });
                    let made: Value = reqwest::Client::new()
                        .post(format!("{github_url}/repos/acme/{mfe}-mfe/deployments"))
                        .bearer_auth(&token)
                        .header("user-agent", "burst")
                        .json(&body)
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    (mfe, env.to_owned(), version, made["id"].as_u64().unwrap())
                });
            }
        }
        while let Some(one) = round.join_next().await {
            made.push(one.unwrap());
        }
    }
    assert_eq!(made.len(), mfes_n * envs.len() * VERSIONS);

    // Settled: every delivery answered, the queue empty and no pull request open, twice.
    // fake-github serialises the GitOps repository's writes: about 1.5 s of them per request
    // on 2 cores in a debug build.
    let deadline = Instant::now() + Duration::from_secs(60 + 30 * mfes_n as u64);
    let mut quiet = 0;
    while quiet < 2 {
        if Instant::now() > deadline {
            let logs = server.logs();
            if let Some(keep) = std::env::var_os("GITOPS_BURST_LOG") {
                std::fs::write(keep, &logs).unwrap();
            }
            let tail: Vec<&str> = logs.lines().rev().take(30).collect();
            panic!(
                "the burst did not settle; the server's last lines, newest first:\n{}",
                tail.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let answered = github.webhook_deliveries().await.unwrap();
        let in_flight = answered
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["status"].is_null() && d["error"].is_null());
        let depth = server.metric("gitops_queue_depth", "").await
            + server.metric("gitops_queue_in_flight", "").await;
        let (_, open) = github
            .api(
                OBSERVER,
                Method::GET,
                "/repos/acme/gitops/pulls?state=open&per_page=100",
                None,
            )
            .await
            .unwrap();
        let settled = !in_flight && depth < 0.5 && open.as_array().is_some_and(Vec::is_empty);
        quiet = if settled { quiet + 1 } else { 0 };
    }
    eprintln!(
        "burst of {} deliveries settled in {:.1} s",
        made.len(),
        started.elapsed().as_secs_f64()
    );

    // The newest of every pair is live and desired.
    let out = Command::new(crate::gitops_bin())
        .args([
            "--repo",
            clone.to_str().unwrap(),
            "status",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), mfes_n * envs.len(), "{rows:?}");
    let newest = format!("1.0.{VERSIONS}");
    for row in rows {
        assert_eq!(
            (row["version"].as_str(), row["differs"].as_bool()),
            (Some(newest.as_str()), Some(false)),
            "{row}"
        );
    }
    // Every request told a final state; the newest ones success.
    for (mfe, env, version, id) in &made {
        let (code, all) = github
            .api(
                OBSERVER,
                Method::GET,
                &format!("/repos/acme/{mfe}-mfe/deployments/{id}/statuses"),
                None,
            )
            .await
            .unwrap();
        assert_eq!(code, 200);
        let told = states(&all);
        let last = told.first().map(String::as_str);
        assert!(
            matches!(last, Some("success" | "failure" | "inactive" | "error")),
            "{mfe} {version} in {env} left {told:?}"
        );
        if *version == newest {
            assert_eq!(last, Some("success"), "{mfe} {version} in {env}: {told:?}");
        }
    }
    // No pair ever had two pull requests open at once.
    let mut pulls: Vec<Value> = Vec::new();
    for page in 1.. {
        let (_, some) = github
            .api(
                OBSERVER,
                Method::GET,
                &format!("/repos/acme/gitops/pulls?state=all&per_page=100&page={page}"),
                None,
            )
            .await
            .unwrap();
        let some = some.as_array().cloned().unwrap_or_default();
        if some.is_empty() {
            break;
        }
        pulls.extend(some);
    }
    let mut by_branch: std::collections::BTreeMap<String, Vec<(String, String)>> =
        std::collections::BTreeMap::new();
    for pr in &pulls {
        by_branch
            .entry(pr["head"]["ref"].as_str().unwrap().to_owned())
            .or_default()
            .push((
                pr["created_at"].as_str().unwrap().to_owned(),
                pr["closed_at"].as_str().unwrap_or("open").to_owned(),
            ));
    }
    for (branch, mut spans) in by_branch {
        spans.sort();
        for pair in spans.windows(2) {
            assert!(
                pair[0].1 <= pair[1].0,
                "{branch}: two pull requests open at once: {pair:?}"
            );
        }
    }
    eprintln!("{} pull requests for {} pairs", pulls.len(), rows.len());
    if let Some(keep) = std::env::var_os("GITOPS_BURST_LOG") {
        std::fs::write(keep, server.logs()).unwrap();
    }
}

/// `gitops serve` refuses to start on a missing or wrong setting, naming it (exit 2), and
/// never prints the secret or the key it was given.
#[test]
fn gitops_serve_names_what_is_missing_or_wrong_and_shows_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let bad_key = dir.path().join("bad.pem");
    std::fs::write(
        &bad_key,
        "-----BEGIN RSA PRIVATE KEY-----\nnot-a-key-XYZZY\n",
    )
    .unwrap();
    let serve = |env: &[(&str, &str)], args: &[&str]| {
        let mut command = Command::new(crate::gitops_bin());
        command
            .args([
                "--repo",
                dir.path().join("clone").to_str().unwrap(),
                "serve",
            ])
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("GITOPS_WEBHOOK_SECRET")
            .env_remove("GITOPS_APP_ID")
            .env_remove("GITOPS_APP_PRIVATE_KEY_FILE")
            .env_remove("GITOPS_APP_PRIVATE_KEY")
            .env_remove("GITOPS_REPOSITORY")
            .env_remove("GITHUB_REPOSITORY")
            .env("GITOPS_REPO_URL", dir.path().join("nowhere"));
        for (k, v) in env {
            command.env(k, v);
        }
        let out = command.output().unwrap();
        (out.status.code(), text(&out))
    };
    let secret = ("GITOPS_WEBHOOK_SECRET", "s3cr3t-hook-PLUGH");
    let (code, said) = serve(&[], &[]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("GITOPS_WEBHOOK_SECRET is not set"), "{said}");
    let (code, said) = serve(&[secret], &[]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("GITOPS_REPOSITORY is not set"), "{said}");
    let repo = ("GITOPS_REPOSITORY", "acme/gitops");
    let (code, said) = serve(&[secret, repo, ("GITOPS_APP_ID", "x")], &[]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("GITOPS_APP_ID"), "{said}");
    let key = bad_key.to_str().unwrap();
    let (code, said) = serve(
        &[
            secret,
            repo,
            ("GITOPS_APP_ID", "7"),
            ("GITOPS_APP_PRIVATE_KEY_FILE", key),
        ],
        &[],
    );
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("GITOPS_APP_PRIVATE_KEY_FILE") && said.contains("not an RSA private key"),
        "{said}"
    );
    assert!(
        !said.contains("XYZZY") && !said.contains("PLUGH"),
        "no key or secret shown: {said}"
    );
    let good_key = app_key_file();
    let app = [
        secret,
        repo,
        ("GITOPS_APP_ID", "7"),
        ("GITOPS_APP_PRIVATE_KEY_FILE", good_key.to_str().unwrap()),
    ];
    let (code, said) = serve(&app, &[]);
    assert_eq!(code, Some(2), "the clone cannot be made: {said}");
    assert!(said.contains("git clone"), "{said}");
    std::fs::create_dir_all(dir.path().join("clone/.git")).unwrap();
    let (code, said) = serve(&app, &["--queue", "redis://queue"]);
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("--queue redis://queue: give sqlite:PATH or an SQS FIFO queue's URL"),
        "{said}"
    );
    assert!(!said.contains("PLUGH"), "{said}");
}
