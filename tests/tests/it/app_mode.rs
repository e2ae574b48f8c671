//! App mode end to end (issue 19): `gitops serve` as a GitHub App on fake-github, which
//! delivers real signed webhooks, and moto for the targets. The MFE repository's CD job runs
//! `mfe dispatch --app --wait` with nothing but its own `GITHUB_TOKEN`: the deployment it makes
//! on its commit is the request. From there no workflow runs and no dispatch token exists:
//! the server judges and proposes (a pull request), checks and merges it on the pull request's
//! webhook, deploys on the push to the default branch, and tells the requester on its
//! deployment, which `mfe dispatch --wait` follows to success. Then every delivery is sent
//! again (GitHub's "Redeliver"), to this server and to a fresh one whose queue never saw them:
//! no second status, pull request or deploy. A forged delivery is refused with no effect.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gitops_artifact_store::{AwsSettings, StoreOpener, publish_dir};
use gitops_testkit::FakeGithub;
use reqwest::Method;
use serde_json::{Value, json};

use crate::moto::{cloudfront, create_distribution, endpoint, s3, write};

const SECRET: &str = "hook-secret-for-app-mode";
const APP_ID: u64 = 515_151;
const OBSERVER: &str = "observer:x";

fn app_key_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/testkit/fixtures/github-app-test-key.pem")
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

impl Server {
    fn start(
        dir: &Path,
        github: &FakeGithub,
        aws: &str,
        queue: &Path,
        (name, listen): (&str, &str),
    ) -> Server {
        let logs = dir.join(format!("{name}.log"));
        let mut child = Command::new(crate::gitops_bin())
            .args(["--repo", dir.join(name).to_str().unwrap(), "serve"])
            .args(["--listen", listen, "--workers", "2", "--backoff", "0.2"])
            .arg("--queue")
            .arg(format!("sqlite:{}", queue.display()))
            .env("GITOPS_WEBHOOK_SECRET", SECRET)
            .env("GITOPS_APP_ID", APP_ID.to_string())
            .env("GITOPS_APP_PRIVATE_KEY_FILE", app_key_file())
            .env("GITHUB_API_URL", &github.base_url)
            .env("GITOPS_REPOSITORY", "acme/gitops")
            .env("GITOPS_REPO_URL", github.repo_path("acme", "gitops"))
            .env("GITOPS_GITHUB_WRITE_INTERVAL_MS", "0")
            .env("AWS_ENDPOINT_URL", aws)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ALLOW_HTTP", "true")
            .env("RUST_LOG", "info")
            // No token of any kind: the App mints its own.
            .env_remove("GITHUB_TOKEN")
            .env_remove("GITOPS_GITHUB_TOKEN")
            .env_remove("GITOPS_DISPATCH_TOKEN")
            .env_remove("GITHUB_REPOSITORY")
            .env_remove("GITHUB_SHA")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&logs).unwrap())
            .spawn()
            .unwrap();
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

    /// One metric's value (summed over its labels matching `label`).
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

async fn get(github: &FakeGithub, path: &str) -> Value {
    let (code, body) = github.api(OBSERVER, Method::GET, path, None).await.unwrap();
    assert_eq!(code, 200, "GET {path}: {body}");
    body
}

/// Every delivery answered (none in flight).
async fn deliveries_answered(github: &FakeGithub) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let all = github.webhook_deliveries().await.unwrap();
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

fn statuses_of(all: &Value) -> Vec<String> {
    all.as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // one story, told in order
async fn a_deployment_made_in_an_mfe_repository_goes_live_through_gitops_serve() {
    let Some(aws) =
        endpoint("a_deployment_made_in_an_mfe_repository_goes_live_through_gitops_serve")
    else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let github = crate::fake_github_with_job_tokens(data.path()).await;
    github
        .register_app(
            APP_ID,
            "acme-gitops",
            &std::fs::read_to_string(app_key_file()).unwrap(),
            &[
                ("contents", "write"),
                ("pull_requests", "write"),
                ("statuses", "write"),
                ("deployments", "write"),
                ("checks", "read"),
                ("metadata", "read"),
            ],
        )
        .await
        .unwrap();

    // Targets on moto and a published artifact.
    let id = ulid::Ulid::generate().to_string().to_lowercase();
    let (site, artifacts, table) = (
        format!("app-site-{id}"),
        format!("app-artifacts-{id}"),
        format!("app-registry-{id}"),
    );
    let distribution = create_distribution(&cloudfront(&aws), &format!("app-{id}")).await;
    s3(&aws)
        .create_bucket()
        .bucket(&artifacts)
        .send()
        .await
        .unwrap();
    let dist = tempfile::tempdir().unwrap();
    write(dist.path(), "remoteEntry.js", "// checkout 2.0.0\n");
    let location = StoreOpener::new(dist.path())
        .with_aws(AwsSettings::emulator(&aws, "testing", "testing"))
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
    crate::support::git(
        work.path(),
        &[
            "clone",
            "-q",
            github.repo_path("acme", "gitops").to_str().unwrap(),
            "operator",
        ],
    );
    let bootstrap = Command::new(crate::gitops_bin())
        .args(["--repo", operator.to_str().unwrap(), "bootstrap"])
        .env("AWS_ENDPOINT_URL", &aws)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(bootstrap.status.success(), "{bootstrap:?}");

    // The server, and the App's webhook pointing at it.
    let queue = work.path().join("queue.sqlite");
    let server = Server::start(
        work.path(),
        &github,
        &aws,
        &queue,
        ("serve-a", "127.0.0.1:0"),
    );
    github
        .add_webhook(
            &format!("{}/webhook", server.url),
            SECRET,
            &[
                "deployment",
                "repository_dispatch",
                "pull_request",
                "pull_request_review",
                "check_suite",
                "push",
                "installation",
            ],
        )
        .await
        .unwrap();

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
    assert!(server.metric("gitops_queue_depth", "").await < 0.5, "nothing enqueued");

    // The MFE repository's CD job: its own GITHUB_TOKEN, no dispatch token.
    let (code, token) = github
        .api(
            OBSERVER,
            Method::POST,
            "/_fake/tokens",
            Some(
                json!({"repository": "acme/checkout-mfe", "permissions": {"deployments": "write"}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(code, 201, "{token}");
    let mut mfe = Command::new(crate::mfe_bin());
    mfe.args([
        "dispatch",
        "--app",
        "--wait",
        "--timeout",
        "120",
        "--interval",
        "0.3",
    ])
    .args([
        "--gitops-repo",
        "acme/gitops",
        "--mfe",
        "checkout",
        "--version",
        "2.0.0",
    ])
    .args([
        "--environment",
        "prod",
        "--cache-invalidation-key",
        "/mfe/checkout/*",
    ])
    .args([
        "--repository",
        "acme/checkout-mfe",
        "--ref",
        "refs/heads/main",
    ])
    .args(["--sha", &mfe_head, "--user", "dana"])
    .env("GITHUB_API_URL", &github.base_url)
    .env("GITHUB_TOKEN", token["token"].as_str().unwrap())
    .env("GITOPS_GITHUB_WRITE_INTERVAL_MS", "0")
    .env_remove("GITOPS_DISPATCH_TOKEN")
    .env_remove("GITOPS_GITHUB_TOKEN")
    .env_remove("GITHUB_STEP_SUMMARY")
    .env_remove("GITHUB_OUTPUT");
    let waited = tokio::task::spawn_blocking(move || mfe.output().unwrap())
        .await
        .unwrap();
    assert!(
        waited.status.success(),
        "mfe dispatch --app --wait: {}{}\n--- gitops serve:\n{}",
        String::from_utf8_lossy(&waited.stdout),
        String::from_utf8_lossy(&waited.stderr),
        server.logs()
    );
    server.drained().await;

    // Live on moto: the registry says 2.0.0 and the default branch desires it.
    crate::support::git(&operator, &["pull", "-q", "--ff-only"]);
    let status = Command::new(crate::gitops_bin())
        .args([
            "--repo",
            operator.to_str().unwrap(),
            "status",
            "--format",
            "json",
        ])
        .env("AWS_ENDPOINT_URL", &aws)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    let rows: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        (
            rows[0]["mfe"].as_str(),
            rows[0]["version"].as_str(),
            rows[0]["differs"].as_bool()
        ),
        (Some("checkout"), Some("2.0.0"), Some(false)),
        "{rows}"
    );
    for kind in ["request", "checks", "deploy"] {
        let done = format!("kind=\"{kind}\",outcome=\"done\"");
        assert!(
            server.metric("gitops_jobs_total", &done).await >= 1.0,
            "/metrics counts the {kind} job"
        );
    }
    let invalidations = crate::moto::invalidation_paths(&aws, &distribution).await;
    assert_eq!(invalidations.len(), 1, "{invalidations:?}");

    // What GitHub saw: one deployment (the request), told queued then success; one pull
    // request, merged; no repository_dispatch anywhere.
    let deployments = get(
        &github,
        &format!("/repos/acme/checkout-mfe/deployments?sha={mfe_head}"),
    )
    .await;
    let deployments = deployments.as_array().unwrap();
    assert_eq!(deployments.len(), 1, "{deployments:?}");
    let deployment = deployments[0]["id"].as_u64().unwrap();
    assert_eq!(deployments[0]["payload"]["user"], "dana");
    let path = format!("/repos/acme/checkout-mfe/deployments/{deployment}/statuses");
    let told = statuses_of(&get(&github, &path).await);
    assert_eq!(
        told.first().map(String::as_str),
        Some("success"),
        "{told:?}"
    );
    let pulls = get(&github, "/repos/acme/gitops/pulls?state=all").await;
    assert_eq!(pulls.as_array().unwrap().len(), 1, "{pulls}");
    assert!(!pulls[0]["merged_at"].is_null(), "{pulls}");
    let delivered = deliveries_answered(&github).await;
    let events: Vec<&str> = delivered
        .iter()
        .map(|d| d["event"].as_str().unwrap())
        .collect();
    assert!(events.contains(&"deployment"), "{events:?}");
    assert!(events.contains(&"push"), "{events:?}");
    assert!(!events.contains(&"repository_dispatch"), "{events:?}");
    for d in &delivered {
        assert!(
            d["status"] == 202 || d["status"] == 200,
            "every delivery accepted: {d}"
        );
    }

    // Every delivery again, to the same server: duplicates, nothing new.
    for d in &delivered {
        github.redeliver(d["guid"].as_str().unwrap()).await.unwrap();
    }
    let again = deliveries_answered(&github).await;
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
    let fresh = Server::start(
        work.path(),
        &github,
        &aws,
        &work.path().join("fresh-queue.sqlite"),
        ("serve-b", &address),
    );
    let before = again.len();
    for d in &delivered {
        github.redeliver(d["guid"].as_str().unwrap()).await.unwrap();
    }
    let last = deliveries_answered(&github).await;
    fresh.drained().await;
    assert!(
        last[before..].iter().any(|d| d["status"] == 202),
        "enqueued anew: {:?}",
        &last[before..]
    );
    assert_eq!(
        statuses_of(&get(&github, &path).await),
        told,
        "no second status\n{}",
        fresh.logs()
    );
    let pulls_after = get(&github, "/repos/acme/gitops/pulls?state=all").await;
    assert_eq!(
        pulls_after.as_array().unwrap().len(),
        1,
        "no second pull request"
    );
    assert_eq!(
        crate::moto::invalidation_paths(&aws, &distribution).await,
        invalidations,
        "no second deploy"
    );
    let logs = fresh.logs();
    assert!(logs.contains("a redelivery"), "{logs}");
}
