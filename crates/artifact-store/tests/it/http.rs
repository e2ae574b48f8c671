//! `http(s)://` artifact stores (Artifactory generic repositories), against a tiny in-process
//! server that checks the `Authorization` header and stores PUT bodies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use gitops_artifact_store::{
    AwsSettings, Error, HttpAuth, Limits, Progress, StoreOpener, UploadOptions, WriteOutcome,
    fetch_verified, publish_dir, stage_artifact,
};
use secrecy::SecretString;

use crate::support::{list, memory_store, mfe, ver};

#[derive(Clone, Default)]
struct Server {
    objects: Arc<Mutex<HashMap<String, (Bytes, String)>>>,
    expected_auth: String,
}

async fn handle(
    axum::extract::State(s): axum::extract::State<Server>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth != s.expected_auth {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let path = uri.path().to_owned();
    let mut objects = s.objects.lock().unwrap();
    match method {
        Method::PUT => {
            let ct = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            objects.insert(path, (body, ct));
            StatusCode::CREATED.into_response()
        }
        Method::GET | Method::HEAD => match objects.get(&path) {
            Some((data, ct)) => {
                ([(header::CONTENT_TYPE, ct.clone())], data.clone()).into_response()
            }
            None => StatusCode::NOT_FOUND.into_response(),
        },
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

async fn serve(expected_auth: &str) -> (String, Server) {
    let state = Server {
        objects: Arc::default(),
        expected_auth: expected_auth.to_owned(),
    };
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), state)
}

fn dist() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("remoteEntry.js"), "entry").unwrap();
    d
}

#[tokio::test]
async fn publish_and_fetch_through_artifactory_with_bearer_auth() {
    let (base, server) = serve("Bearer s3cr3t-token").await;
    let repo = tempfile::tempdir().unwrap();
    let opener = StoreOpener::new(repo.path())
        .with_http_auth(HttpAuth::Bearer(SecretString::from("s3cr3t-token")));
    let template = format!("{base}/artifactory/generic-local/{{name}}/{{version}}/{{name}}.tgz");
    let loc = opener
        .open_artifact(&template, &mfe("checkout"), &ver("1.0.0"))
        .unwrap();
    let src = dist();

    let r = publish_dir(&loc, src.path()).await.unwrap();
    assert_eq!(r.outcome, WriteOutcome::Written);
    {
        let objects = server.objects.lock().unwrap();
        let (_, ct) = &objects["/artifactory/generic-local/checkout/1.0.0/checkout.tgz"];
        assert_eq!(ct, "application/gzip");
        let (sidecar, _) =
            &objects["/artifactory/generic-local/checkout/1.0.0/checkout.tgz.sha256"];
        assert_eq!(
            std::str::from_utf8(sidecar).unwrap(),
            format!("{}  checkout.tgz\n", r.sha256)
        );
    }
    // Same build again: identical, no conflict (write-once emulated with GET + PUT).
    assert_eq!(
        publish_dir(&loc, src.path()).await.unwrap().outcome,
        WriteOutcome::Identical
    );
    std::fs::write(src.path().join("remoteEntry.js"), "rebuilt").unwrap();
    assert!(matches!(
        publish_dir(&loc, src.path()).await,
        Err(Error::ImmutableConflict { .. })
    ));

    let target = memory_store();
    let opts = UploadOptions {
        progress: Progress::Hidden,
        ..UploadOptions::default()
    };
    stage_artifact(
        &loc,
        &target,
        &mfe("checkout"),
        &ver("1.0.0"),
        &Limits::default(),
        &opts,
    )
    .await
    .unwrap();
    assert_eq!(
        list(target.as_ref()).await,
        ["mfe/checkout/1.0.0/remoteEntry.js"]
    );
}

#[tokio::test]
async fn basic_auth_and_refused_credentials() {
    // "deployer:pa55" in base64.
    let (base, _server) = serve("Basic ZGVwbG95ZXI6cGE1NQ==").await;
    let repo = tempfile::tempdir().unwrap();
    let url = format!("{base}/artifactory/generic-local/checkout/1.0.0/checkout.tgz");
    let good = StoreOpener::new(repo.path()).with_http_auth(HttpAuth::Basic {
        user: "deployer".into(),
        password: SecretString::from("pa55"),
    });
    let loc = good.open_object(&url).unwrap();
    publish_dir(&loc, dist().path()).await.unwrap();

    let bad = StoreOpener::new(repo.path())
        .with_http_auth(HttpAuth::Bearer(SecretString::from("wrong-token-value")));
    let loc = bad.open_object(&url).unwrap();
    let target = memory_store();
    let err = stage_artifact(
        &loc,
        &target,
        &mfe("checkout"),
        &ver("1.0.0"),
        &Limits::default(),
        &UploadOptions {
            progress: Progress::Hidden,
            ..UploadOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    let msg = format!("{err} {err:?}");
    assert!(!msg.contains("wrong-token-value"), "{msg}");
    assert!(list(target.as_ref()).await.is_empty());
    // Debug output of the opener never shows the secret either.
    assert!(!format!("{bad:?}").contains("wrong-token-value"));
}

/// A TCP server that accepts connections and never answers; returns its address. The
/// accepted sockets are kept open (never read, never written) until the runtime ends.
async fn silent_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{addr}")
}

const CONNECT: std::time::Duration = std::time::Duration::from_millis(500);
const REQUEST: std::time::Duration = std::time::Duration::from_secs(1);
/// Each operation: at most about twice the request timeout (one attempt, then retries until
/// the request timeout has passed since the first), plus backoff; with margin for slow CI.
const BOUND: std::time::Duration = std::time::Duration::from_secs(8);

fn assert_timeout(err: &Error, location: &str, started: std::time::Instant) {
    assert!(started.elapsed() < BOUND, "took {:?}", started.elapsed());
    assert!(
        matches!(err, Error::Timeout { location: l } if l == location),
        "{err:?}"
    );
    assert!(err.is_retryable());
    let msg = err.to_string();
    assert!(msg.contains("timed out") && msg.contains(location), "{msg}");
}

#[tokio::test]
async fn an_artifact_server_that_never_answers_times_out_within_the_bound() {
    let base = silent_server().await;
    let repo = tempfile::tempdir().unwrap();
    let opener = StoreOpener::new(repo.path()).with_timeouts(CONNECT, REQUEST);
    let url = format!("{base}/artifactory/generic-local/checkout/1.0.0/checkout.tgz");
    let loc = opener.open_object(&url).unwrap();
    let target = memory_store();
    let started = std::time::Instant::now();
    let err = stage_artifact(
        &loc,
        &target,
        &mfe("checkout"),
        &ver("1.0.0"),
        &Limits::default(),
        &UploadOptions {
            progress: Progress::Hidden,
            ..UploadOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert_timeout(&err, &url, started);
    assert!(list(target.as_ref()).await.is_empty());
}

#[tokio::test]
async fn an_s3_endpoint_that_never_answers_times_out_within_the_bound() {
    let endpoint = silent_server().await;
    let repo = tempfile::tempdir().unwrap();
    let opener = StoreOpener::new(repo.path())
        .with_aws(AwsSettings::emulator(&endpoint, "testing", "testing"))
        .with_timeouts(CONNECT, REQUEST);
    let loc = opener
        .open_object("s3://artifacts/checkout/checkout-1.0.0.tgz")
        .unwrap();
    let started = std::time::Instant::now();
    let err = fetch_verified(&loc, 1 << 20).await.unwrap_err();
    assert_timeout(&err, "s3://artifacts/checkout/checkout-1.0.0.tgz", started);
}

const BODY_MARKER: &str = "<html>internal-details-4f1c: stack trace and request headers</html>";

/// A server that answers HEAD with 200 and every GET with `status` and a verbose body.
async fn failing_server(status: StatusCode) -> String {
    let app = axum::Router::new().fallback(move |method: Method| async move {
        if method == Method::HEAD {
            (StatusCode::OK, [(header::CONTENT_LENGTH, "10")]).into_response()
        } else {
            (status, BODY_MARKER).into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn response_bodies_never_reach_error_messages() {
    for (status, retryable) in [
        (StatusCode::INTERNAL_SERVER_ERROR, true),
        (StatusCode::BAD_REQUEST, false),
        (StatusCode::FORBIDDEN, false),
    ] {
        let base = failing_server(status).await;
        let repo = tempfile::tempdir().unwrap();
        let opener = StoreOpener::new(repo.path()).with_timeouts(CONNECT, REQUEST);
        let loc = opener
            .open_object(&format!("{base}/repo/checkout/checkout.tgz"))
            .unwrap();
        let err = fetch_verified(&loc, 1 << 20).await.unwrap_err();
        let msg = err.to_string();
        assert!(!msg.contains("internal-details"), "{status}: {msg}");
        assert!(msg.contains(status.as_str()), "{status}: {msg}");
        assert_eq!(err.is_retryable(), retryable, "{status}: {err:?}");
    }
}

#[tokio::test]
async fn provenance_round_trip_through_artifactory() {
    use gitops_artifact_store::{Origin, publish_dir_with, read_provenance};
    let (base, server) = serve("Bearer s3cr3t-token").await;
    let repo = tempfile::tempdir().unwrap();
    let opener = StoreOpener::new(repo.path())
        .with_http_auth(HttpAuth::Bearer(SecretString::from("s3cr3t-token")));
    let template = format!("{base}/artifactory/generic-local/{{name}}/{{version}}/{{name}}.tgz");
    let loc = opener
        .open_artifact(&template, &mfe("checkout"), &ver("1.0.0"))
        .unwrap();
    // Nothing published yet: no record (a 404), not an error.
    assert_eq!(read_provenance(&loc).await.unwrap(), None);
    let origin = |sha: &str| Origin {
        mfe: mfe("checkout"),
        version: ver("1.0.0"),
        repository: Some("acme/checkout-mfe".parse().unwrap()),
        sha: sha.parse().unwrap(),
        git_ref: None,
    };
    let built = "3f786850e387550fdab836ed7e6dc881de23001b";
    let src = dist();
    let r = publish_dir_with(&loc, src.path(), Some(&origin(built)))
        .await
        .unwrap();
    assert!(
        server
            .objects
            .lock()
            .unwrap()
            .contains_key("/artifactory/generic-local/checkout/1.0.0/checkout.tgz.provenance.json")
    );
    let read = read_provenance(&loc).await.unwrap().unwrap();
    assert_eq!(
        (read.sha.as_str(), read.sha256.as_str()),
        (built, r.sha256.as_str())
    );
    assert_eq!(
        fetch_verified(&loc, 1 << 20).await.unwrap().provenance,
        Some(read)
    );
    // Write-once is emulated over HTTP (GET, then PUT): another commit is still refused.
    let err = publish_dir_with(&loc, src.path(), Some(&origin(&"b".repeat(40))))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ImmutableConflict { .. }), "{err:?}");
}
