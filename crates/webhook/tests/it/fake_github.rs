//! fake-github delivers webhooks as GitHub does (signed with the hook's secret, an
//! `X-GitHub-Delivery` GUID, redelivered with the same GUID), and what it delivers reads back
//! through [`gitops_webhook::read`]: the seam `gitops serve` is tested through.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use gitops_testkit::FakeGithub;
use gitops_webhook::{Event, Headers, Limits, Rejection, read};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::mpsc;

const SECRET: &str = "webhook-secret-of-the-app";
const REQUEST_ID: &str = "01JDQ8Z6X8N7W4K2M5R3T9V1YB";

/// A webhook receiver on loopback answering 202; what it received.
async fn receiver() -> (String, mpsc::UnboundedReceiver<(HeaderMap, Bytes)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/webhook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((headers, body));
                StatusCode::ACCEPTED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<(HeaderMap, Bytes)>) -> (HeaderMap, Bytes) {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a delivery within 10 s")
        .expect("the receiver is up")
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn headers(h: &HeaderMap) -> Headers<'_> {
    Headers {
        event: header(h, "X-GitHub-Event"),
        delivery: header(h, "X-GitHub-Delivery"),
        signature: header(h, "X-Hub-Signature-256"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_created_on_fake_github_arrives_signed_and_reads_as_a_request() {
    let (url, mut rx) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let gh = FakeGithub::spawn(dir.path().join("data"), None)
        .await
        .unwrap();
    let head = gh
        .create_repo("acme", "checkout-mfe", &[("README.md", "checkout\n")])
        .await
        .unwrap()
        .unwrap();
    gh.add_webhook(&url, SECRET, &["deployment"]).await.unwrap();

    let created: Value = reqwest::Client::new()
        .post(format!(
            "{}/repos/acme/checkout-mfe/deployments",
            gh.base_url
        ))
        .header("Authorization", "Bearer ghs_the-mfe-workflows-token")
        .header("User-Agent", "test")
        .json(&json!({
            "ref": head, "environment": "prod", "auto_merge": false, "required_contexts": [],
            "payload": {"id": REQUEST_ID, "mfe": "checkout", "version": "1.2.3"},
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let (h, body) = next(&mut rx).await;
    assert_eq!(header(&h, "Content-Type"), Some("application/json"));
    let secret = SecretString::from(SECRET);
    let delivery = read(&secret, headers(&h), &body, Limits::default()).unwrap();
    let Event::Deployment(d) = &delivery.event else {
        panic!("{delivery:?}")
    };
    assert_eq!(d.repository.to_string(), "acme/checkout-mfe");
    assert_eq!(Some(d.deployment_id), created["id"].as_u64());
    assert_eq!(d.sha.as_str(), head);
    assert_eq!(
        (d.environment.as_str(), d.payload.id.as_str()),
        ("prod", REQUEST_ID)
    );
    assert!(delivery.installation.is_some(), "delivered to an App");
    // Under another secret the same delivery is refused.
    assert_eq!(
        read(
            &SecretString::from("not the secret"),
            headers(&h),
            &body,
            Limits::default()
        )
        .unwrap_err(),
        Rejection::BadSignature
    );
    // As GitHub's schemas describe the event.
    if let Some(path) = std::env::var_os(gitops_testkit::webhooks::ENV_TEST_WEBHOOK_SCHEMAS) {
        let schemas = gitops_testkit::webhooks::WebhookSchemas::load(path.as_ref()).unwrap();
        let payload: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            schemas.validate("deployment", &payload),
            Vec::<String>::new()
        );
    } else {
        gitops_testkit::skip(
            "the deployment payload's schema check",
            "GITOPS_TEST_WEBHOOK_SCHEMAS is not set",
        );
    }

    // Recorded, and redelivered with the same GUID and body.
    let guid = header(&h, "X-GitHub-Delivery").unwrap().to_owned();
    let deliveries = gh.webhook_deliveries().await.unwrap();
    let listed = deliveries
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["guid"] == guid.as_str())
        .expect("the delivery is recorded");
    assert_eq!(
        (listed["event"].as_str(), listed["action"].as_str()),
        (Some("deployment"), Some("created"))
    );
    gh.redeliver(&guid).await.unwrap();
    let (again, same) = next(&mut rx).await;
    assert_eq!(header(&again, "X-GitHub-Delivery"), Some(guid.as_str()));
    assert_eq!(same, body);
    assert_eq!(
        read(&secret, headers(&again), &same, Limits::default())
            .unwrap()
            .id,
        delivery.id
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_gets_only_the_events_it_names() {
    let (url, mut rx) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let gh = FakeGithub::spawn(dir.path().join("data"), None)
        .await
        .unwrap();
    gh.create_repo("acme", "gitops", &[("README.md", "gitops\n")])
        .await
        .unwrap();
    gh.add_webhook(&url, SECRET, &["repository_dispatch"])
        .await
        .unwrap();
    let client = reqwest::Client::new();
    // A push (a file created through the contents API) is not delivered; the dispatch is.
    let put = client
        .put(format!(
            "{}/repos/acme/gitops/contents/notes.md",
            gh.base_url
        ))
        .header("Authorization", "Bearer ghs_token")
        .header("User-Agent", "test")
        .json(&json!({"message": "notes", "content": "bm90ZXMK"}))
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.status());
    let dispatched = client
        .post(format!("{}/repos/acme/gitops/dispatches", gh.base_url))
        .header("Authorization", "Bearer ghs_token")
        .header("User-Agent", "test")
        .json(&json!({"event_type": "deploy-mfe-trigger", "client_payload": {"mfe": "checkout"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(dispatched.status(), 204);
    let (h, body) = next(&mut rx).await;
    let delivery = read(
        &SecretString::from(SECRET),
        headers(&h),
        &body,
        Limits::default(),
    )
    .unwrap();
    let Event::Dispatch(d) = delivery.event else {
        panic!("{delivery:?}")
    };
    assert_eq!(d.event_type, "deploy-mfe-trigger");
    assert_eq!(d.client_payload, json!({"mfe": "checkout"}));
    assert!(
        tokio::time::timeout(Duration::from_millis(300), rx.recv())
            .await
            .is_err(),
        "nothing else was delivered"
    );
}
