//! The deploy on real AWS emulators (moto): an `s3://` artifact store, an S3 bucket as storage,
//! DynamoDB as the registry and CloudFront as the CDN, driven through the `gitops` binary with
//! the standard AWS environment.

use std::path::Path;
use std::process::{Command, Output};

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_sdk_cloudfront::config::Region;
use aws_sdk_cloudfront::types::{
    DefaultCacheBehavior, DistributionConfig, Origin, Origins, S3OriginConfig, ViewerProtocolPolicy,
};
use gitops_artifact_store::{AwsSettings, StoreOpener, publish_dir};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as StorePath;
use object_store::{Attribute, ObjectStoreExt};

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

pub fn cloudfront(endpoint: &str) -> aws_sdk_cloudfront::Client {
    aws_sdk_cloudfront::Client::from_conf(
        aws_sdk_cloudfront::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .build(),
    )
}

pub fn s3(endpoint: &str) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .force_path_style(true)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .build(),
    )
}

pub async fn create_distribution(client: &aws_sdk_cloudfront::Client, reference: &str) -> String {
    let origin = Origin::builder()
        .id("site")
        .domain_name("site.s3.amazonaws.com")
        .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
        .build()
        .unwrap();
    let config = DistributionConfig::builder()
        .caller_reference(reference)
        .comment("gitops e2e")
        .enabled(true)
        .origins(
            Origins::builder()
                .quantity(1)
                .items(origin)
                .build()
                .unwrap(),
        )
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("site")
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let out = client
        .create_distribution()
        .distribution_config(config)
        .send()
        .await
        .unwrap();
    out.distribution().unwrap().id().to_owned()
}

pub fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
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
    let cf = cloudfront(&url);
    let distribution = create_distribution(&cf, &id).await;
    s3(&url)
        .create_bucket()
        .bucket(&artifacts)
        .send()
        .await
        .unwrap();

    // The MFE side: publish 1.5.0 into the s3:// artifact store.
    let dist = tempfile::tempdir().unwrap();
    write(dist.path(), "remoteEntry.js", "// checkout 1.5.0\n");
    write(dist.path(), "assets/main.3f2a9c1b.js", "console.log(1)\n");
    write(dist.path(), "assets/logo.svg", "<svg/>\n");
    let opener =
        StoreOpener::new(dist.path()).with_aws(AwsSettings::emulator(&url, "testing", "testing"));
    let location = opener
        .open_object(&format!("s3://{artifacts}/checkout/checkout-1.5.0.tgz"))
        .unwrap();
    publish_dir(&location, dist.path()).await.unwrap();

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

    let out = gitops(&url, &["bootstrap", "--repo", rs]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One line per target, each saying what was done in the same words.
    let lines = |out: &Output| -> Vec<String> {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        lines(&out),
        [
            format!("dev: storage s3://{site}: created"),
            format!("dev: registry dynamodb://{table}: created"),
            format!("dev: cdn cloudfront://{distribution}: exists"),
        ]
    );
    let again = gitops(&url, &["bootstrap", "--repo", rs]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "bootstrap is idempotent: {}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        lines(&again),
        [
            format!("dev: storage s3://{site}: exists"),
            format!("dev: registry dynamodb://{table}: exists"),
            format!("dev: cdn cloudfront://{distribution}: exists"),
        ]
    );
    let check = gitops(
        &url,
        &["bootstrap", "--check", "--repo", rs, "--env", "dev"],
    );
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stderr)
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

    let out = gitops(&url, &["deploy", "--repo", rs, "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["pairs"][0]["outcome"], "deployed", "{report}");

    // The run's stage events: one write-once object under metrics/<yyyy>/<mm>/<dd>/ in the
    // environment's bucket, which gitops metrics reads back.
    let listed = s3(&url)
        .list_objects_v2()
        .bucket(&site)
        .prefix("metrics/")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys.len(), 1, "one events object per run: {keys:?}");
    assert!(
        keys[0].ends_with(".jsonl") && keys[0].split('/').count() == 5,
        "metrics/<yyyy>/<mm>/<dd>/<run>.jsonl: {keys:?}"
    );
    let metrics = gitops(&url, &["metrics", "--repo", rs, "--format", "json"]);
    assert_eq!(
        metrics.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&metrics.stderr)
    );
    let metrics: serde_json::Value = serde_json::from_slice(&metrics.stdout).unwrap();
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
    let store = AmazonS3Builder::new()
        .with_bucket_name(&site)
        .with_endpoint(&url)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()
        .unwrap();
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
        let ct = got
            .attributes
            .get(&Attribute::ContentType)
            .map(|v| v.as_ref().to_owned())
            .unwrap_or_default();
        let cc = got
            .attributes
            .get(&Attribute::CacheControl)
            .map(|v| v.as_ref().to_owned())
            .unwrap_or_default();
        assert!(ct.starts_with(content_type), "{key}: Content-Type {ct}");
        assert!(cc.contains(cache), "{key}: Cache-Control {cc}");
    }
    let map = store
        .get(&StorePath::from("importmap.json"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let map: serde_json::Value = serde_json::from_slice(&map).unwrap();
    assert_eq!(
        map["imports"]["checkout"],
        "https://cdn.example.com/mfe/checkout/1.5.0/remoteEntry.js"
    );

    // Registry: the new version is live.
    let out = gitops(&url, &["status", "--repo", rs, "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["version"], "1.5.0");
    assert_eq!(rows[0]["differs"], false);

    // CDN: exactly one invalidation, naming only mutable paths.
    let list = cf
        .list_invalidations()
        .distribution_id(&distribution)
        .send()
        .await
        .unwrap();
    let items = list.invalidation_list().unwrap().items();
    assert_eq!(items.len(), 1, "{items:?}");
    let one = cf
        .get_invalidation()
        .distribution_id(&distribution)
        .id(items[0].id())
        .send()
        .await
        .unwrap();
    let mut paths: Vec<String> = one
        .invalidation()
        .unwrap()
        .invalidation_batch()
        .unwrap()
        .paths()
        .unwrap()
        .items()
        .to_vec();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/importmap.json",
            "/mfe/checkout/manifest.json",
            "/mfe/checkout/remoteEntry.js"
        ]
    );

    // A second deploy of the same state touches nothing, not even the CDN.
    let out = gitops(&url, &["deploy", "--repo", rs, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["pairs"][0]["outcome"], "already-live");
    let list = cf
        .list_invalidations()
        .distribution_id(&distribution)
        .send()
        .await
        .unwrap();
    assert_eq!(list.invalidation_list().unwrap().items().len(), 1);

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
