//! The deploy on real AWS emulators (moto): an `s3://` artifact store, an S3 bucket as storage,
//! DynamoDB as the registry and CloudFront as the CDN, driven through the `gitops` binary with
//! the standard AWS environment.

use std::path::Path;
use std::process::{Command, Output};

use gitops_artifact_store::{AwsSettings, StoreOpener, publish_dir};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as StorePath;
use object_store::{Attribute, GetResult, ObjectStoreExt};

pub fn endpoint(test: &str) -> Option<String> {
    gitops_testkit::aws_endpoint(test)
}

/// The standard AWS environment of the emulator at `endpoint` on `command`:
/// `AWS_ENDPOINT_URL=http://...`, dummy credentials, a region, and no `AWS_ALLOW_HTTP` (the
/// configured http:// endpoint is used over HTTP, as the AWS SDK does); no ambient Actions event.
pub fn aws_env<'c>(command: &'c mut Command, endpoint: &str) -> &'c mut Command {
    command
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env_remove("AWS_ALLOW_HTTP")
        .env_remove("AWS_ENDPOINT_URL_S3")
        .env_remove("AWS_PROFILE")
        .env_remove("GITHUB_EVENT_PATH")
        .env_remove("GITHUB_ACTIONS")
}

/// `gitops ARGS` against the emulator at `endpoint`.
pub fn gitops(endpoint: &str, args: &[&str]) -> Output {
    gitops_with(endpoint, &[], args)
}

/// `gitops ARGS` against the emulator at `endpoint`, which must exit 0; its standard output.
pub fn gitops_ok(endpoint: &str, args: &[&str]) -> String {
    let out = gitops(endpoint, args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "gitops {args:?}: {}",
        crate::support::both(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn gitops_with(endpoint: &str, extra: &[(&str, &str)], args: &[&str]) -> Output {
    aws_env(Command::new(crate::gitops_bin()).args(args), endpoint)
        .envs(extra.iter().copied())
        .output()
        .unwrap()
}

pub use gitops_e2e::{cloudfront, create_distribution, s3};

pub fn write(root: &Path, rel: &str, text: &str) {
    crate::support::write(root, rel, text.as_bytes());
}

pub async fn create_bucket(endpoint: &str, bucket: &str) {
    s3(endpoint)
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
}

/// Packs `files` (path, text) and publishes them, with the sidecar, as the artifact at
/// `location` (an `s3://` URL) on the emulator at `endpoint`.
pub async fn publish(endpoint: &str, location: &str, files: &[(&str, &str)]) {
    let dist = tempfile::tempdir().unwrap();
    for (rel, text) in files {
        write(dist.path(), rel, text);
    }
    let opener = StoreOpener::new(dist.path())
        .with_aws(AwsSettings::emulator(endpoint, "testing", "testing"));
    let location = opener.open_object(location).unwrap();
    publish_dir(&location, dist.path()).await.unwrap();
}

/// `bucket` on the emulator at `endpoint` as an object store.
pub fn store(endpoint: &str, bucket: &str) -> AmazonS3 {
    AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()
        .unwrap()
}

/// The object at `key` of `store`, parsed as JSON.
pub async fn get_json(store: &AmazonS3, key: &str) -> serde_json::Value {
    let bytes = store
        .get(&StorePath::from(key))
        .await
        .unwrap_or_else(|e| panic!("{key}: {e}"))
        .bytes()
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{key}: {e}"))
}

/// The `attribute` header an object was stored with (empty when it has none).
pub fn attribute(got: &GetResult, attribute: &Attribute) -> String {
    got.attributes
        .get(attribute)
        .map(|v| v.as_ref().to_owned())
        .unwrap_or_default()
}

/// The keys of `bucket` under `prefix`, sorted (a test bucket holds far fewer than one page).
pub async fn keys(endpoint: &str, bucket: &str, prefix: &str) -> Vec<String> {
    let listed = s3(endpoint)
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    assert!(!listed.is_truncated().unwrap_or(false));
    let mut keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    keys.sort();
    keys
}

/// The paths of every invalidation of `distribution`, each sorted, in order.
pub async fn invalidation_paths(endpoint: &str, distribution: &str) -> Vec<Vec<String>> {
    let cf = cloudfront(endpoint);
    let list = cf
        .list_invalidations()
        .distribution_id(distribution)
        .send()
        .await
        .unwrap();
    let mut all = Vec::new();
    for item in list.invalidation_list().unwrap().items() {
        let one = cf
            .get_invalidation()
            .distribution_id(distribution)
            .id(item.id())
            .send()
            .await
            .unwrap();
        let mut paths = one
            .invalidation()
            .unwrap()
            .invalidation_batch()
            .unwrap()
            .paths()
            .unwrap()
            .items()
            .to_vec();
        paths.sort();
        all.push(paths);
    }
    all.sort();
    all
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_from_s3_to_s3_dynamodb_and_cloudfront() {
    let Some(url) = endpoint("deploy_from_s3_to_s3_dynamodb_and_cloudfront") else {
        return;
    };
    let id = ulid::Ulid::generate().to_string().to_lowercase();
    let (site, artifacts, table) = (
        format!("site-{id}"),
        format!("artifacts-{id}"),
        format!("registry-{id}"),
    );
    let distribution = create_distribution(&cloudfront(&url), &id).await;
    create_bucket(&url, &artifacts).await;

    // The MFE side: publish 1.5.0 into the s3:// artifact store.
    publish(
        &url,
        &format!("s3://{artifacts}/checkout/checkout-1.5.0.tgz"),
        &[
            ("remoteEntry.js", "// checkout 1.5.0\n"),
            ("assets/main.3f2a9c1b.js", "console.log(1)\n"),
            ("assets/logo.svg", "<svg/>\n"),
        ],
    )
    .await;

    // The GitOps repository.
    let repo = tempfile::tempdir().unwrap();
    let r = repo.path();
    write(
        r,
        "gitops.yaml",
        &format!(
            "version: 1\nenvironments:\n  - name: dev\n    storage: s3://{site}\n    registry: dynamodb://{table}\n    cdn: cloudfront://{distribution}\n    public_url: https://cdn.example.com\n"
        ),
    );
    write(
        r,
        "mfes/checkout.yaml",
        &format!(
            "name: checkout\nrepository: acme/checkout-mfe\nartifact: s3://{artifacts}/checkout/checkout-{{version}}.tgz\nenvironments: [dev]\nentry_points: [remoteEntry.js]\nowners: [\"@acme/checkout\"]\n"
        ),
    );
    write(
        r,
        "deployments/dev/checkout.json",
        r#"{
  "mfe": "checkout",
  "environment": "dev",
  "version": "1.5.0",
  "sha": "3f786850e387550fdab836ed7e6dc881de23001b",
  "ref": "refs/heads/main",
  "repository": "acme/checkout-mfe",
  "requested_by": "octocat",
  "requested_at": "2026-11-26T09:30:00Z",
  "request_id": "01JDQ8Z6X8N7W4K2M5R3T9V1YB",
  "rollback": false,
  "cache_invalidation_keys": ["/mfe/checkout/manifest.json"],
  "sequence": 1
}
"#,
    );
    // The deploy orders desired states by their commits.
    for args in [
        &["init", "-q", "-b", "main", "."][..],
        &["add", "-A"],
        &["commit", "-qm", "desired state"],
    ] {
        crate::support::git(r, args);
    }
    let rs = r.to_str().unwrap();

    // Before bootstrap, --check finds the bucket and the table missing (exit 1), the
    // distribution there, and creates nothing (bootstrap below still creates both).
    let check = gitops(&url, &["bootstrap", "--check", "--repo", rs]);
    assert_eq!(
        check.status.code(),
        Some(1),
        "{}\n{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let missing = String::from_utf8_lossy(&check.stderr).into_owned();
    for target in [
        format!("dev: storage s3://{site}: MISSING"),
        format!("dev: registry dynamodb://{table}: MISSING"),
    ] {
        assert!(missing.contains(&target), "{target}: {missing}");
    }
    assert_eq!(missing.matches("MISSING").count(), 2, "{missing}");
    assert_eq!(
        String::from_utf8_lossy(&check.stdout)
            .lines()
            .collect::<Vec<_>>(),
        [format!("dev: cdn cloudfront://{distribution}: exists")]
    );

    let out = gitops_ok(&url, &["bootstrap", "--repo", rs]);
    // One line per target, each saying what was done in the same words.
    let lines = |out: &str| -> Vec<String> { out.lines().map(str::to_owned).collect() };
    assert_eq!(
        lines(&out),
        [
            format!("dev: storage s3://{site}: created"),
            format!("dev: registry dynamodb://{table}: created"),
            format!("dev: cdn cloudfront://{distribution}: exists"),
        ]
    );
    // Bootstrap is idempotent.
    let again = gitops_ok(&url, &["bootstrap", "--repo", rs]);
    assert_eq!(
        lines(&again),
        [
            format!("dev: storage s3://{site}: exists"),
            format!("dev: registry dynamodb://{table}: exists"),
            format!("dev: cdn cloudfront://{distribution}: exists"),
        ]
    );
    let check = gitops_ok(
        &url,
        &["bootstrap", "--check", "--repo", rs, "--env", "dev"],
    );
    assert_eq!(
        lines(&check),
        [
            format!("dev: storage s3://{site}: exists"),
            format!("dev: registry dynamodb://{table}: exists"),
            format!("dev: cdn cloudfront://{distribution}: exists"),
            "all 3 target(s) exist".to_owned(),
        ]
    );

    let out = gitops_ok(&url, &["deploy", "--repo", rs, "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["pairs"][0]["outcome"], "deployed", "{report}");

    // The run's stage events: one write-once object under metrics/<yyyy>/<mm>/<dd>/ in the
    // environment's bucket, which gitops metrics reads back.
    let keys = keys(&url, &site, "metrics/").await;
    assert_eq!(keys.len(), 1, "one events object per run: {keys:?}");
    assert!(
        keys[0].ends_with(".jsonl") && keys[0].split('/').count() == 5,
        "metrics/<yyyy>/<mm>/<dd>/<run>.jsonl: {keys:?}"
    );
    let metrics = gitops_ok(&url, &["metrics", "--repo", rs, "--format", "json"]);
    let metrics: serde_json::Value = serde_json::from_str(&metrics).unwrap();
    let upload = metrics["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "upload")
        .unwrap_or_else(|| panic!("no upload stage: {metrics}"));
    assert_eq!(upload["count"], 1, "{metrics}");
    assert_eq!(
        metrics["recent"][0]["version"], "1.5.0",
        "the registry's history is a source: {metrics}"
    );

    // Storage: every file under the version prefix with the right headers, aliases, import map.
    let store = store(&url, &site);
    let expect = [
        (
            "mfe/checkout/1.5.0/assets/main.3f2a9c1b.js",
            "text/javascript",
            "immutable",
        ),
        (
            "mfe/checkout/1.5.0/assets/logo.svg",
            "image/svg+xml",
            "must-revalidate",
        ),
        (
            "mfe/checkout/1.5.0/remoteEntry.js",
            "text/javascript",
            "must-revalidate",
        ),
        (
            "mfe/checkout/remoteEntry.js",
            "text/javascript",
            "must-revalidate",
        ),
    ];
    for (key, content_type, cache) in expect {
        let got = store
            .get(&StorePath::from(key))
            .await
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        let ct = attribute(&got, &Attribute::ContentType);
        let cc = attribute(&got, &Attribute::CacheControl);
        assert!(ct.starts_with(content_type), "{key}: Content-Type {ct}");
        assert!(cc.contains(cache), "{key}: Cache-Control {cc}");
    }
    let map = get_json(&store, "importmap.json").await;
    assert_eq!(
        map["imports"]["checkout"],
        "https://cdn.example.com/mfe/checkout/1.5.0/remoteEntry.js"
    );

    // Registry: the new version is live.
    let out = gitops_ok(&url, &["status", "--repo", rs, "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows[0]["version"], "1.5.0");
    assert_eq!(rows[0]["differs"], false);

    // CDN: exactly one invalidation, naming only mutable paths.
    assert_eq!(
        invalidation_paths(&url, &distribution).await,
        [[
            "/importmap.json",
            "/mfe/checkout/manifest.json",
            "/mfe/checkout/remoteEntry.js"
        ]]
    );

    // A second deploy of the same state touches nothing, not even the CDN.
    let out = gitops(&url, &["deploy", "--repo", rs, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["pairs"][0]["outcome"], "already-live");
    assert_eq!(invalidation_paths(&url, &distribution).await.len(), 1);

    // Plain HTTP explicitly forbidden with an http:// endpoint: a configuration error (exit 2,
    // never 3 "retry"), naming both variables and the fix, with no secret in it.
    let forbid = [("AWS_ALLOW_HTTP", "false")];
    for args in [
        &["deploy", "--repo", rs][..],
        &["status", "--repo", rs, "--format", "json"],
    ] {
        let out = gitops_with(&url, &forbid, args);
        let shown = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(2), "{args:?}: {shown}");
        assert!(
            shown.contains("AWS_ALLOW_HTTP=false") && shown.contains("unset AWS_ALLOW_HTTP"),
            "{args:?}: {shown}"
        );
        assert!(!shown.contains("testing"), "{args:?}: {shown}");
    }
}
