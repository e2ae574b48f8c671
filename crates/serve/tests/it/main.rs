//! `gitops serve`'s ingress on loopback over the embedded SQLite queue: fake-github's signed
//! deliveries become jobs grouped per pair, a redelivery never a second job, refused deliveries
//! no side effect; health, readiness and metrics.

mod worker;

use std::sync::Arc;
use std::time::{Duration, Instant};

use gitops_queue::{SqliteQueue, WorkQueue};
use gitops_serve::{Envelope, Ingress, Job, router, serve};
use gitops_testkit::FakeGithub;
use gitops_webhook::{Limits, signature};
use secrecy::SecretString;
use serde_json::{Value, json};

const SECRET: &str = "the-apps-webhook-secret";

struct Server {
    url: String,
    queue: Arc<SqliteQueue>,
    _dir: tempfile::TempDir,
    http: reqwest::Client,
}

async fn server(limits: Limits) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let queue = Arc::new(
        SqliteQueue::open(dir.path().join("local/queue.db"))
            .await
            .unwrap(),
    );
    let ingress = Ingress::new(SecretString::from(SECRET), queue.clone()).with_limits(limits);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(
        listener,
        router(Arc::new(ingress)),
        std::future::pending(),
    ));
    Server {
        url,
        queue,
        _dir: dir,
        http: reqwest::Client::new(),
    }
}

impl Server {
    /// POSTs `body` as `event` with delivery `guid`, signed under `secret` (unsigned: `None`).
    async fn post(
        &self,
        event: &str,
        guid: &str,
        body: &[u8],
        secret: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}/webhook", self.url))
            .header("X-GitHub-Event", event)
            .header("X-GitHub-Delivery", guid)
            .body(body.to_vec());
        if let Some(secret) = secret {
            request = request.header(
                "X-Hub-Signature-256",
                signature(&SecretString::from(secret), body),
            );
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Every job waiting, taken off the queue: (group, dedup id, envelope).
    async fn drain(&self) -> Vec<(String, String, Envelope)> {
        let mut out = Vec::new();
        while let Some(m) = self
            .queue
            .receive(Duration::from_secs(30), Duration::ZERO)
            .await
            .unwrap()
        {
            out.push((
                m.group.clone(),
                m.dedup_id.clone(),
                serde_json::from_str(&m.body).unwrap(),
            ));
            self.queue.ack(&m.receipt).await.unwrap();
        }
        out
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

fn deployment(owner_repo: &str, env: &str, mfe: &str, id: u64) -> Vec<u8> {
    json!({
        "action": "created",
        "deployment": {
            "id": id, "sha": "3f786850e387550fdab836ed7e6dc881de23001b", "ref": "main",
            "environment": env, "creator": {"login": "github-actions[bot]"},
            "created_at": "2026-12-01T10:00:00Z",
            "payload": {"id": "01JDQ8Z6X8N7W4K2M5R3T9V1YB", "mfe": mfe, "version": "1.2.3"},
        },
        "repository": {"full_name": owner_repo},
        "installation": {"id": 77},
    })
    .to_string()
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_from_fake_github_is_one_job_of_its_pair_and_a_redelivery_none() {
    let s = server(Limits::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let gh = FakeGithub::spawn(dir.path().join("data"), None)
        .await
        .unwrap();
    let head = gh
        .create_repo("acme", "checkout-mfe", &[("README.md", "checkout\n")])
        .await
        .unwrap()
        .unwrap();
    gh.add_webhook(&format!("{}/webhook", s.url), SECRET, &[])
        .await
        .unwrap();
    let created = reqwest::Client::new()
        .post(format!(
            "{}/repos/acme/checkout-mfe/deployments",
            gh.base_url
        ))
        .header("Authorization", "Bearer ghs_the-mfe-workflows-token")
        .header("User-Agent", "test")
        .json(&json!({
            "ref": head, "environment": "prod", "auto_merge": false, "required_contexts": [],
            "payload": {"id": "01JDQ8Z6X8N7W4K2M5R3T9V1YB", "mfe": "checkout", "version": "1.2.3"},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let guid = answered(&gh, 1).await;
    // Redelivered (as GitHub's "Redeliver" does): answered as a duplicate, no second job.
    gh.redeliver(&guid).await.unwrap();
    answered(&gh, 2).await;
    let statuses: Vec<u64> = gh
        .webhook_deliveries()
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["status"].as_u64())
        .collect();
    assert_eq!(statuses, [202, 200], "enqueued, then a duplicate");
    let jobs = s.drain().await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let (group, dedup, envelope) = &jobs[0];
    assert_eq!(
        (group.as_str(), dedup.as_str()),
        ("prod/checkout", guid.as_str())
    );
    let Job::Request {
        repository,
        deployment_id,
        payload,
        ..
    } = &envelope.job
    else {
        panic!("{envelope:?}")
    };
    assert_eq!(repository.to_string(), "acme/checkout-mfe");
    assert_eq!(Some(*deployment_id), created_id(&gh).await);
    assert_eq!(payload.version.to_string(), "1.2.3");
}

/// Waits until `n` deliveries were answered; the first one's GUID.
async fn answered(gh: &FakeGithub, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let all = gh.webhook_deliveries().await.unwrap();
        let list = all.as_array().unwrap();
        if list.iter().filter(|d| !d["status"].is_null()).count() >= n {
            return list[0]["guid"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "deliveries: {all}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn created_id(gh: &FakeGithub) -> Option<u64> {
    let all: Value = reqwest::Client::new()
        .get(format!(
            "{}/repos/acme/checkout-mfe/deployments",
            gh.base_url
        ))
        .header("Authorization", "Bearer ghs_reader")
        .header("User-Agent", "test")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    all[0]["id"].as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_deliveries_get_their_status_and_enqueue_nothing() {
    let s = server(Limits {
        max_body_bytes: 4096,
    })
    .await;
    let body = deployment("acme/checkout-mfe", "prod", "checkout", 1);
    let guid = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
    assert_eq!(
        s.post("deployment", guid, &body, None).await.0,
        401,
        "unsigned"
    );
    assert_eq!(
        s.post("deployment", guid, &body, Some("a forged secret"))
            .await
            .0,
        401,
        "mis-signed"
    );
    let big = vec![b' '; 5000];
    assert_eq!(s.post("deployment", guid, &big, Some(SECRET)).await.0, 413);
    assert_eq!(
        s.post("fork", guid, b"{}", Some(SECRET)).await.0,
        400,
        "unknown event"
    );
    assert_eq!(
        s.post("deployment", "not a guid!", &body, Some(SECRET))
            .await
            .0,
        400
    );
    let (status, answer) = s
        .post("ping", guid, br#"{"zen":"z","hook_id":1}"#, Some(SECRET))
        .await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("ignored")));
    // A push to a branch that is not the default one asks for no deploy.
    let push = |branch: &str| {
        json!({"ref": format!("refs/heads/{branch}"), "after": "3f786850e387550fdab836ed7e6dc881de23001b",
               "deleted": false, "repository": {"full_name": "acme/gitops", "default_branch": "main"}})
        .to_string()
        .into_bytes()
    };
    assert_eq!(
        s.post("push", "a1", &push("gitops/prod/checkout"), Some(SECRET))
            .await
            .0,
        200
    );
    assert!(s.drain().await.is_empty(), "nothing enqueued");
    // The default branch's push is the deploy job, in the repository's deploy group.
    assert_eq!(
        s.post("push", "a2", &push("main"), Some(SECRET)).await.0,
        202
    );
    let jobs = s.drain().await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].0, "acme/gitops:deploy");
    assert!(matches!(jobs[0].2.job, Job::Deploy { .. }));

    let metrics = s.get("/metrics").await.1;
    for line in [
        r#"gitops_webhook_deliveries_total{outcome="refused",status="401"} 2"#,
        r#"gitops_webhook_deliveries_total{outcome="refused",status="413"} 1"#,
        r#"gitops_webhook_deliveries_total{outcome="enqueued",status="202"} 1"#,
        "gitops_queue_depth 0",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    assert_eq!(s.get("/healthz").await.0, 200);
    assert_eq!(s.get("/readyz").await.0, 200);
}

/// 500 deliveries for 100 pairs at once: each acknowledged (202), none lost, five jobs per
/// pair's group; the acknowledgement times are printed (no timing is asserted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_500_deliveries_for_100_pairs_is_acknowledged_and_nothing_lost() {
    let s = Arc::new(server(Limits::default()).await);
    let mut tasks = Vec::new();
    for i in 0..500u64 {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            let body = deployment("acme/app-mfe", "prod", &format!("mfe{}", i % 100), i + 1);
            let started = Instant::now();
            let (status, _) = s
                .post("deployment", &format!("guid-{i}"), &body, Some(SECRET))
                .await;
            (status, started.elapsed())
        }));
    }
    let mut took = Vec::new();
    for t in tasks {
        let (status, elapsed) = t.await.unwrap();
        assert_eq!(status, 202);
        took.push(elapsed);
    }
    took.sort();
    eprintln!(
        "500 deliveries: p50 {:?}, p99 {:?} (debug build, 2 shared cores)",
        took[249], took[494]
    );
    let jobs = s.drain().await;
    assert_eq!(jobs.len(), 500);
    let mut per_group = std::collections::BTreeMap::<String, usize>::new();
    for (group, ..) in &jobs {
        *per_group.entry(group.clone()).or_default() += 1;
    }
    assert_eq!(per_group.len(), 100);
    assert!(per_group.values().all(|n| *n == 5), "{per_group:?}");
}

/// The queue unreachable: the delivery is answered 503 (GitHub shows it failed; nothing was
/// enqueued, so its redelivery is a fresh job), and `/readyz` says not ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_queue_answers_503_and_the_redelivery_is_taken() {
    let queue = Arc::new(gitops_queue::FakeQueue::new());
    let ingress = Ingress::new(SecretString::from(SECRET), queue.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(
        listener,
        router(Arc::new(ingress)),
        std::future::pending(),
    ));
    let http = reqwest::Client::new();
    let body = deployment("acme/checkout-mfe", "prod", "checkout", 1);
    let post = || {
        http.post(format!("{url}/webhook"))
            .header("X-GitHub-Event", "deployment")
            .header("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
            .header(
                "X-Hub-Signature-256",
                signature(&SecretString::from(SECRET), &body),
            )
            .body(body.clone())
            .send()
    };
    queue.fail_next(gitops_queue::Error::Unavailable {
        message: "connection refused".to_owned(),
    });
    let down = post().await.unwrap();
    assert_eq!(down.status(), 503);
    let answer: Value = down.json().await.unwrap();
    assert_eq!(answer["outcome"], "unavailable");
    assert_eq!(queue.stats().await.unwrap().depth, 0, "nothing enqueued");
    assert_eq!(
        post().await.unwrap().status(),
        202,
        "the redelivery is taken"
    );
    assert_eq!(queue.stats().await.unwrap().depth, 1);
    queue.fail_next(gitops_queue::Error::Unavailable {
        message: "connection refused".to_owned(),
    });
    let ready = http.get(format!("{url}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
}

#[test]
fn one_sweep_an_interval_in_the_deploys_group_whichever_replica_enqueues_it() {
    let repo = gitops_event_model::RepositoryName::parse("acme/gitops").unwrap();
    let (a, b) = (
        gitops_serve::sweep_of(&repo, 1_200, 600),
        gitops_serve::sweep_of(&repo, 1_799, 600),
    );
    assert_eq!(a, b, "the same interval: one message between the replicas");
    assert_eq!(a.group, "acme/gitops:deploy", "never beside a deploy");
    let next = gitops_serve::sweep_of(&repo, 1_800, 600);
    assert_ne!(next.dedup_id, a.dedup_id, "the next interval sweeps again");
    assert_eq!(next.envelope.job.kind(), "sweep");
    let read: Envelope =
        serde_json::from_str(&serde_json::to_string(&a.envelope).unwrap()).unwrap();
    assert_eq!(read.job, Job::Sweep { repository: repo });
}
