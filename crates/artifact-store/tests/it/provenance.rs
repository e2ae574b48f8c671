//! Provenance records (issue 14): written with the archive by `mfe publish`, write-once, before
//! the sidecar; read back bounded; checked against the sidecar when an artifact is fetched.

use bytes::Bytes;
use gitops_artifact_store::{
    AwsSettings, Error, MAX_PROVENANCE_BYTES, ObjectLocation, Origin, StoreOpener, WriteOutcome,
    fetch_verified, publish_dir_with, read_provenance,
};
use object_store::ObjectStoreExt as _;

use crate::support::{mfe, ver};

const BUILT: &str = "3f786850e387550fdab836ed7e6dc881de23001b";
const OTHER: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn origin(sha: &str) -> Origin {
    Origin {
        mfe: mfe("checkout"),
        version: ver("1.4.0"),
        repository: Some("acme/checkout-mfe".parse().unwrap()),
        sha: sha.parse().unwrap(),
        git_ref: Some("refs/heads/main".parse().unwrap()),
    }
}

fn dist() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("remoteEntry.js"), "export default 1;\n").unwrap();
    dir
}

/// Publish, read back, verify, re-publish, and publish from another commit, on `loc`.
async fn round_trip(loc: &ObjectLocation) {
    let src = dist();
    let report = publish_dir_with(loc, src.path(), Some(&origin(BUILT)))
        .await
        .unwrap();
    assert_eq!(report.outcome, WriteOutcome::Written);
    let recorded = report.provenance.clone().unwrap();
    assert_eq!(recorded.sha256, report.sha256);

    let read = read_provenance(loc).await.unwrap().unwrap();
    assert_eq!(read, recorded);
    assert_eq!(read.sha.as_str(), BUILT);
    assert_eq!(read.repository.unwrap().as_str(), "acme/checkout-mfe");
    let verified = fetch_verified(loc, 1 << 20).await.unwrap();
    assert_eq!(verified.provenance, Some(recorded.clone()));

    // The same build from the same commit again: idempotent.
    let again = publish_dir_with(loc, src.path(), Some(&origin(BUILT)))
        .await
        .unwrap();
    assert_eq!(again.outcome, WriteOutcome::Identical);
    // The same bytes from another commit: the version is already someone's.
    let err = publish_dir_with(loc, src.path(), Some(&origin(OTHER)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ImmutableConflict { path } if path.ends_with(".provenance.json")),
        "{err:?}"
    );
    assert_eq!(read_provenance(loc).await.unwrap(), Some(recorded));
}

#[tokio::test]
async fn provenance_round_trip_on_the_local_backend() {
    let repo = tempfile::tempdir().unwrap();
    let loc = StoreOpener::new(repo.path())
        .open_artifact(
            "local/artifacts/{name}/{name}-{version}.tgz",
            &mfe("checkout"),
            &ver("1.4.0"),
        )
        .unwrap();
    round_trip(&loc).await;
    let record = repo
        .path()
        .join("local/artifacts/checkout/checkout-1.4.0.tgz.provenance.json");
    let text = std::fs::read_to_string(record).unwrap();
    let positions: Vec<usize> = ["mfe", "version", "repository", "sha", "ref", "sha256"]
        .iter()
        .map(|k| text.find(&format!("\"{k}\":")).unwrap())
        .collect();
    assert!(positions.is_sorted(), "fields in a fixed order: {text}");
    assert!(text.ends_with("}\n"), "{text}");
}

/// A uniquely named bucket on moto (a plain, unsigned `PUT /<bucket>`, as `s3.rs` does).
async fn create_bucket(endpoint: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let bucket = format!("pv-{}", ulid::Ulid::generate().to_string().to_lowercase());
    let url = url::Url::parse(endpoint).unwrap();
    let (host, port) = (
        url.host_str().unwrap(),
        url.port_or_known_default().unwrap(),
    );
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

#[tokio::test]
async fn provenance_round_trip_on_s3() {
    let Some(endpoint) = gitops_testkit::aws_endpoint("provenance_round_trip_on_s3") else {
        return;
    };
    let bucket = create_bucket(&endpoint).await;
    let repo = tempfile::tempdir().unwrap();
    let loc = StoreOpener::new(repo.path())
        .with_aws(AwsSettings::emulator(&endpoint, "testing", "testing"))
        .open_artifact(
            &format!("s3://{bucket}/artifacts/{{name}}/{{name}}-{{version}}.tgz"),
            &mfe("checkout"),
            &ver("1.4.0"),
        )
        .unwrap();
    round_trip(&loc).await;
}

#[tokio::test]
async fn without_a_commit_no_record_is_written_and_none_is_read() {
    let repo = tempfile::tempdir().unwrap();
    let loc = StoreOpener::new(repo.path())
        .open_object("store/checkout-1.4.0.tgz")
        .unwrap();
    let report = publish_dir_with(&loc, dist().path(), None).await.unwrap();
    assert!(report.provenance.is_none());
    assert!(read_provenance(&loc).await.unwrap().is_none());
    assert!(
        fetch_verified(&loc, 1 << 20)
            .await
            .unwrap()
            .provenance
            .is_none()
    );
}

#[tokio::test]
async fn a_conflicting_record_stops_the_publish_before_the_sidecar() {
    let repo = tempfile::tempdir().unwrap();
    let loc = StoreOpener::new(repo.path())
        .open_object("store/checkout-1.4.0.tgz")
        .unwrap();
    // A record is already there (another commit's), but no archive yet.
    let src = dist();
    let mut squatted = origin(OTHER).provenance(&"0".repeat(64));
    squatted.git_ref = None;
    loc.store
        .put(
            &loc.provenance_path(),
            Bytes::from(squatted.to_bytes()).into(),
        )
        .await
        .unwrap();
    let err = publish_dir_with(&loc, src.path(), Some(&origin(BUILT)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ImmutableConflict { .. }), "{err:?}");
    // The sidecar goes last: the half-finished publish is not deployable.
    assert!(!repo.path().join("store/checkout-1.4.0.tgz.sha256").exists());
    assert!(matches!(
        fetch_verified(&loc, 1 << 20).await,
        Err(Error::ChecksumMissing { .. })
    ));
}

#[tokio::test]
async fn malformed_or_oversized_records_are_refused() {
    let repo = tempfile::tempdir().unwrap();
    let loc = StoreOpener::new(repo.path())
        .open_object("store/checkout-1.4.0.tgz")
        .unwrap();
    publish_dir_with(&loc, dist().path(), None).await.unwrap();
    let record = repo.path().join("store/checkout-1.4.0.tgz.provenance.json");
    let too_big = usize::try_from(MAX_PROVENANCE_BYTES).unwrap() + 1;
    for bad in [
        b"{\"mfe\": \"checkout\"".to_vec(),
        format!(r#"{{"mfe":"checkout","version":"1.4.0","sha":"{BUILT}"}}"#).into_bytes(),
        vec![b' '; too_big],
    ] {
        std::fs::write(&record, &bad).unwrap();
        let err = read_provenance(&loc).await.unwrap_err();
        assert!(
            matches!(&err, Error::ProvenanceMalformed { .. })
                && err.to_string().contains("provenance.json"),
            "{err:?}"
        );
        // A deploy refuses it too, as a refusal (not retryable).
        let err = fetch_verified(&loc, 1 << 20).await.unwrap_err();
        assert!(
            matches!(err, Error::ProvenanceMalformed { .. }) && !err.is_retryable(),
            "{err:?}"
        );
    }
}
