//! `http(s)://` artifact stores (Artifactory generic repositories), against a tiny in-process
//! server that checks the `Authorization` header and stores PUT bodies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use gitops_artifact_store::{
    Error, HttpAuth, Limits, Progress, StoreOpener, UploadOptions, WriteOutcome, publish_dir,
    stage_artifact,
};
use secrecy::SecretString;

use crate::support::{list, memory_store};

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
        .open_artifact(&template, "checkout", "1.0.0")
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
        "checkout",
        "1.0.0",
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
        "checkout",
        "1.0.0",
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
