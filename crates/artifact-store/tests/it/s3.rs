//! Round trips on moto (S3). Skipped with one line when `GITOPS_TEST_AWS_ENDPOINT` is unset.

use std::sync::Arc;

use bytes::Bytes;
use gitops_artifact_store::headers::{IMMUTABLE, REVALIDATE};
use gitops_artifact_store::{
    AwsSettings, Error, Limits, Progress, StoreOpener, UnpackedFile, UploadOptions, WriteOutcome,
    publish_aliases, publish_dir, put_write_once, stage_artifact, update_import_map,
    upload_version,
};
use object_store::path::Path;
use object_store::{Attribute, Attributes, ObjectStore};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::{attr, list, mfe, read, ver};

fn endpoint(test: &str) -> Option<String> {
    gitops_testkit::aws_endpoint(test)
}

/// Creates a uniquely named bucket with a plain, unsigned `PUT /<bucket>` (moto accepts it;
/// object_store cannot create buckets).
pub(crate) async fn create_bucket(endpoint: &str) -> String {
    let bucket = format!("as-{}", ulid::Ulid::generate().to_string().to_lowercase());
    let url = url::Url::parse(endpoint).unwrap();
    let host = url.host_str().unwrap();
    let port = url.port_or_known_default().unwrap();
    let mut s = tokio::net::TcpStream::connect((host, port)).await.unwrap();
    let req = format!(
        "PUT /{bucket} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "create bucket: {resp}");
    bucket
}

fn opener(endpoint: &str, base: &std::path::Path) -> StoreOpener {
    StoreOpener::new(base).with_aws(AwsSettings::emulator(endpoint, "testing", "testing"))
}

fn opts() -> UploadOptions {
    UploadOptions {
        progress: Progress::Hidden,
        entry_points: vec!["remoteEntry.js".into()],
        ..UploadOptions::default()
    }
}

#[tokio::test]
async fn s3_publish_stage_and_pointers_round_trip() {
    let Some(endpoint) = endpoint("s3_publish_stage_and_pointers_round_trip") else {
        return;
    };
    let bucket = create_bucket(&endpoint).await;
    let repo = tempfile::tempdir().unwrap();
    let opener = opener(&endpoint, repo.path());

    // mfe publish to s3://
    let dist = tempfile::tempdir().unwrap();
    for (rel, data) in [
        ("remoteEntry.js", "entry"),
        ("assets/main.3f2a9c1b.js", "main"),
        ("assets/logo.svg", "<svg/>"),
        ("app.wasm", "\0asm"),
    ] {
        let p = dist.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    let template = format!("s3://{bucket}/artifacts/{{name}}/{{name}}-{{version}}.tgz");
    let artifact = opener
        .open_artifact(&template, &mfe("checkout"), &ver("2.0.0"))
        .unwrap();
    let published = publish_dir(&artifact, dist.path()).await.unwrap();
    assert_eq!(published.outcome, WriteOutcome::Written);
    let again = publish_dir(&artifact, dist.path()).await.unwrap();
    assert_eq!(again.outcome, WriteOutcome::Identical);

    // Deploy into a prefixed storage target in the same bucket.
    let target = opener.open_storage(&format!("s3://{bucket}/site")).unwrap();
    let r = stage_artifact(
        &artifact,
        &target,
        &mfe("checkout"),
        &ver("2.0.0"),
        &Limits::default(),
        &opts(),
    )
    .await
    .unwrap();
    assert_eq!((r.files, r.skipped_identical), (4, 0));
    assert!(!r.attributes_dropped);
    let r = stage_artifact(
        &artifact,
        &target,
        &mfe("checkout"),
        &ver("2.0.0"),
        &Limits::default(),
        &opts(),
    )
    .await
    .unwrap();
    assert_eq!(r.skipped_identical, 4);

    for (name, ct, cc) in [
        (
            "remoteEntry.js",
            "text/javascript; charset=utf-8",
            REVALIDATE,
        ),
        (
            "assets/main.3f2a9c1b.js",
            "text/javascript; charset=utf-8",
            IMMUTABLE,
        ),
        ("assets/logo.svg", "image/svg+xml", REVALIDATE),
        ("app.wasm", "application/wasm", REVALIDATE),
    ] {
        let (_, attrs) = read(target.as_ref(), &format!("mfe/checkout/2.0.0/{name}")).await;
        assert_eq!(attr(&attrs, &Attribute::ContentType), ct, "{name}");
        assert_eq!(attr(&attrs, &Attribute::CacheControl), cc, "{name}");
    }

    // The prefix store really wrote under site/.
    let root = opener.open_storage(&format!("s3://{bucket}")).unwrap();
    let all = list(root.as_ref()).await;
    assert!(
        all.contains(&"site/mfe/checkout/2.0.0/remoteEntry.js".to_owned()),
        "{all:?}"
    );
    assert!(all.contains(&"artifacts/checkout/checkout-2.0.0.tgz.sha256".to_owned()));

    // Pointers.
    let u = publish_aliases(
        target.as_ref(),
        &mfe("checkout"),
        &ver("2.0.0"),
        &["remoteEntry.js".into()],
    )
    .await
    .unwrap();
    assert!(u[0].changed);
    let (data, attrs) = read(target.as_ref(), "mfe/checkout/remoteEntry.js").await;
    assert_eq!(&data[..], b"entry");
    assert_eq!(attr(&attrs, &Attribute::CacheControl), REVALIDATE);
    let u = update_import_map(
        target.as_ref(),
        "https://cdn.example.com",
        &mfe("checkout"),
        &ver("2.0.0"),
        "remoteEntry.js",
    )
    .await
    .unwrap();
    assert!(u.changed);
    let (data, attrs) = read(target.as_ref(), "importmap.json").await;
    let v: serde_json::Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(
        v["imports"]["checkout"],
        "https://cdn.example.com/mfe/checkout/2.0.0/remoteEntry.js"
    );
    assert_eq!(attr(&attrs, &Attribute::ContentType), "application/json");
}

#[tokio::test]
async fn s3_write_once_refuses_a_rebuilt_version() {
    let Some(endpoint) = endpoint("s3_write_once_refuses_a_rebuilt_version") else {
        return;
    };
    let bucket = create_bucket(&endpoint).await;
    let repo = tempfile::tempdir().unwrap();
    let store = opener(&endpoint, repo.path())
        .open_storage(&format!("s3://{bucket}"))
        .unwrap();
    let path = Path::from("mfe/checkout/1.0.0/a.js");
    let a = Attributes::new();
    let w = put_write_once(store.as_ref(), &path, Bytes::from_static(b"1"), &a).await;
    assert_eq!(w.unwrap(), WriteOutcome::Written);
    let w = put_write_once(store.as_ref(), &path, Bytes::from_static(b"1"), &a).await;
    assert_eq!(w.unwrap(), WriteOutcome::Identical);
    let err = put_write_once(store.as_ref(), &path, Bytes::from_static(b"2"), &a)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ImmutableConflict { .. }), "{err:?}");

    let files = vec![UnpackedFile {
        path: "a.js".into(),
        data: Bytes::from_static(b"2").into(),
    }];
    let no_entry_points = UploadOptions {
        entry_points: Vec::new(),
        ..opts()
    };
    let err = upload_version(
        &store,
        &mfe("checkout"),
        &ver("1.0.0"),
        &files,
        &no_entry_points,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::ImmutableConflict { .. }), "{err:?}");
    assert!(!err.is_retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_import_map_compare_and_swap() {
    let Some(endpoint) = endpoint("s3_import_map_compare_and_swap") else {
        return;
    };
    let bucket = create_bucket(&endpoint).await;
    let repo = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = opener(&endpoint, repo.path())
        .open_storage(&format!("s3://{bucket}/prod"))
        .unwrap();
    crate::pointers::concurrent_import_map_updates(store).await;
}

#[tokio::test]
async fn s3_missing_sidecar_and_bad_checksum_upload_nothing() {
    let Some(endpoint) = endpoint("s3_missing_sidecar_and_bad_checksum_upload_nothing") else {
        return;
    };
    let bucket = create_bucket(&endpoint).await;
    let repo = tempfile::tempdir().unwrap();
    let opener = opener(&endpoint, repo.path());
    let archive = crate::support::tgz(&[crate::support::file("package/a.js", b"a")]);
    let artifact = opener
        .open_object(&format!("s3://{bucket}/artifacts/c-1.0.0.tgz"))
        .unwrap();
    object_store::ObjectStoreExt::put(artifact.store.as_ref(), &artifact.path, archive.into())
        .await
        .unwrap();
    let target = opener.open_storage(&format!("s3://{bucket}/site")).unwrap();
    let err = stage_artifact(
        &artifact,
        &target,
        &mfe("c"),
        &ver("1.0.0"),
        &Limits::default(),
        &opts(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::ChecksumMissing { .. }), "{err:?}");
    object_store::ObjectStoreExt::put(
        artifact.store.as_ref(),
        &artifact.sidecar_path(),
        Bytes::from(format!("{}  c-1.0.0.tgz\n", "0".repeat(64))).into(),
    )
    .await
    .unwrap();
    let err = stage_artifact(
        &artifact,
        &target,
        &mfe("c"),
        &ver("1.0.0"),
        &Limits::default(),
        &opts(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::ChecksumMismatch { .. }), "{err:?}");
    assert!(list(target.as_ref()).await.is_empty());
}

/// What platform teams run locally and in CI: `AWS_ENDPOINT_URL=http://...` (moto, MinIO,
/// LocalStack) without `AWS_ALLOW_HTTP`. The endpoint the operator configured is used over
/// HTTP (as the AWS SDK does): publishing and staging work; `AWS_ALLOW_HTTP=false` with it is
/// a configuration error naming both variables and the fix, found before any request.
#[tokio::test]
async fn s3_plain_http_endpoint_works_without_aws_allow_http() {
    let Some(endpoint) = endpoint("s3_plain_http_endpoint_works_without_aws_allow_http") else {
        return;
    };
    let bucket = create_bucket(&endpoint).await;
    let repo = tempfile::tempdir().unwrap();
    let vars = |extra: &[(&str, &str)]| {
        let mut v = vec![
            ("AWS_ENDPOINT_URL", endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
        ];
        v.extend_from_slice(extra);
        AwsSettings::from_vars(v)
    };
    let opener = StoreOpener::new(repo.path()).with_aws(vars(&[]));
    let dist = tempfile::tempdir().unwrap();
    std::fs::write(dist.path().join("remoteEntry.js"), "entry").unwrap();
    let artifact = opener
        .open_object(&format!("s3://{bucket}/artifacts/c-1.0.0.tgz"))
        .unwrap();
    let published = publish_dir(&artifact, dist.path()).await.unwrap();
    assert_eq!(published.outcome, WriteOutcome::Written);
    let target = opener.open_storage(&format!("s3://{bucket}/site")).unwrap();
    let r = stage_artifact(
        &artifact,
        &target,
        &mfe("c"),
        &ver("1.0.0"),
        &Limits::default(),
        &opts(),
    )
    .await
    .unwrap();
    assert_eq!(r.files, 1);
    let (data, _) = read(target.as_ref(), "mfe/c/1.0.0/remoteEntry.js").await;
    assert_eq!(&data[..], b"entry");

    let forbidden = StoreOpener::new(repo.path()).with_aws(vars(&[("AWS_ALLOW_HTTP", "false")]));
    for err in [
        forbidden
            .open_object(&format!("s3://{bucket}/artifacts/c-1.0.0.tgz"))
            .unwrap_err(),
        forbidden
            .open_storage(&format!("s3://{bucket}/site"))
            .unwrap_err(),
    ] {
        assert!(err.is_config() && !err.is_retryable(), "{err:?}");
        let shown = err.to_string();
        assert!(
            shown.contains(&format!("AWS_ENDPOINT_URL `{endpoint}`"))
                && shown.contains("AWS_ALLOW_HTTP=false")
                && shown.contains("unset AWS_ALLOW_HTTP"),
            "{shown}"
        );
        assert!(!shown.contains("testing"), "{shown}");
    }
}
