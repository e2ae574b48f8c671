//! `mfe publish` to a local directory, then the sidecar is checked; to `s3://` on moto over
//! plain HTTP.

use std::process::{Command, Output};

use super::{MFE, text};

fn publish(cwd: &std::path::Path, dist: &str, version: &str) -> std::process::Output {
    Command::new(MFE)
        .current_dir(cwd)
        .args([
            "publish",
            "--dist",
            dist,
            "--mfe",
            "checkout",
            "--version",
            version,
            "--to",
            "store/{name}/{name}-{version}.tgz",
        ])
        .output()
        .unwrap()
}

#[test]
fn publish_to_a_local_store_writes_artifact_and_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let dist = dir.path().join("dist");
    std::fs::create_dir_all(dist.join("assets")).unwrap();
    std::fs::write(dist.join("remoteEntry.js"), "export default 1;\n").unwrap();
    std::fs::write(dist.join("assets/app.3f2a.js"), "console.log(1);\n").unwrap();

    let out = publish(dir.path(), "dist", "1.2.3");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let artifact = dir.path().join("store/checkout/checkout-1.2.3.tgz");
    let bytes = std::fs::read(&artifact).unwrap();
    let sha = gitops_artifact_store::sha256_hex(&bytes);
    assert!(stdout.contains(&format!("sha256: {sha}")), "{stdout}");
    assert!(
        stdout.contains("store/checkout/checkout-1.2.3.tgz"),
        "{stdout}"
    );
    let sidecar =
        std::fs::read_to_string(dir.path().join("store/checkout/checkout-1.2.3.tgz.sha256"))
            .unwrap();
    assert_eq!(sidecar, format!("{sha}  checkout-1.2.3.tgz\n"));
    assert_eq!(
        gitops_artifact_store::parse_sidecar(&sidecar, "checkout-1.2.3.tgz", "checkout-1.2.3.tgz")
            .unwrap(),
        sha
    );
    // The archive holds the files under package/, like npm pack.
    let mut names: Vec<String> = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]))
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["package/assets/app.3f2a.js", "package/remoteEntry.js"]
    );

    // Reproducible: the same build publishes again as identical.
    let again = publish(dir.path(), "dist", "1.2.3");
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert!(text(&again.stdout).contains("already published"));

    // A different build under the same version is refused.
    std::fs::write(dist.join("remoteEntry.js"), "export default 2;\n").unwrap();
    let conflict = publish(dir.path(), "dist", "1.2.3");
    assert_eq!(
        conflict.status.code(),
        Some(1),
        "{}",
        text(&conflict.stderr)
    );
    assert!(
        text(&conflict.stderr).contains("immutable"),
        "{}",
        text(&conflict.stderr)
    );
    assert_eq!(std::fs::read(&artifact).unwrap(), bytes);
}

#[test]
fn bad_version_or_missing_dist_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("dist")).unwrap();
    std::fs::write(dir.path().join("dist/a.js"), "1").unwrap();
    let out = publish(dir.path(), "dist", "1.2");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let out = publish(dir.path(), "nowhere", "1.2.3");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(!dir.path().join("store").exists());
}

/// Creates a uniquely named bucket on the emulator with a plain, unsigned `PUT /<bucket>`
/// (moto accepts it), bounded by timeouts.
fn create_bucket(endpoint: &str) -> String {
    use std::io::{Read as _, Write as _};
    let bucket = format!(
        "mfe-publish-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let authority = endpoint.trim_start_matches("http://");
    let addr = std::net::ToSocketAddrs::to_socket_addrs(authority)
        .unwrap()
        .next()
        .unwrap();
    let mut s =
        std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(10)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        s,
        "PUT /{bucket} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "create bucket: {resp}");
    bucket
}

fn publish_s3(cwd: &std::path::Path, endpoint: &str, to: &str, extra: &[(&str, &str)]) -> Output {
    Command::new(MFE)
        .current_dir(cwd)
        .args([
            "publish",
            "--dist",
            "dist",
            "--mfe",
            "checkout",
            "--version",
            "1.0.0",
            "--to",
            to,
        ])
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_ALLOW_HTTP")
        .env_remove("AWS_ENDPOINT_URL_S3")
        .env_remove("AWS_PROFILE")
        .envs(extra.iter().copied())
        .output()
        .unwrap()
}

/// `AWS_ENDPOINT_URL=http://...` (moto, MinIO, LocalStack) without `AWS_ALLOW_HTTP`: the
/// endpoint the operator configured is used over HTTP and the artifact lands in the bucket;
/// `AWS_ALLOW_HTTP=false` with it exits 2 with a message naming both variables and the fix.
#[test]
fn publish_to_s3_over_plain_http_without_aws_allow_http() {
    let Some(endpoint) =
        gitops_testkit::aws_endpoint("publish_to_s3_over_plain_http_without_aws_allow_http")
    else {
        return;
    };
    let bucket = create_bucket(&endpoint);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("dist")).unwrap();
    std::fs::write(
        dir.path().join("dist/remoteEntry.js"),
        "export default 1;\n",
    )
    .unwrap();
    let to = format!("s3://{bucket}/artifacts/{{name}}-{{version}}.tgz");

    let out = publish_s3(dir.path(), &endpoint, &to, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("published: "),
        "{}",
        text(&out.stdout)
    );
    // The artifact and its sidecar are really in the bucket.
    let opener = gitops_artifact_store::StoreOpener::new(dir.path()).with_aws(
        gitops_artifact_store::AwsSettings::emulator(&endpoint, "testing", "testing"),
    );
    let artifact = opener
        .open_object(&format!("s3://{bucket}/artifacts/checkout-1.0.0.tgz"))
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Verified against its sidecar, as a deploy reads it.
    let verified = rt
        .block_on(gitops_artifact_store::fetch_verified(&artifact, 1 << 20))
        .unwrap();
    assert!(
        text(&out.stdout).contains(&format!("sha256: {}", verified.sha256)),
        "{}",
        text(&out.stdout)
    );
    let again = publish_s3(dir.path(), &endpoint, &to, &[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert!(text(&again.stdout).contains("already published"));

    let forbidden = publish_s3(dir.path(), &endpoint, &to, &[("AWS_ALLOW_HTTP", "false")]);
    let stderr = text(&forbidden.stderr);
    assert_eq!(forbidden.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("AWS_ENDPOINT_URL `{endpoint}`"))
            && stderr.contains("AWS_ALLOW_HTTP=false")
            && stderr.contains("unset AWS_ALLOW_HTTP"),
        "{stderr}"
    );
    assert!(!stderr.contains("testing"), "{stderr}");
}

fn publish_from(
    cwd: &std::path::Path,
    version: &str,
    github: &[(&str, &str)],
    args: &[&str],
) -> std::process::Output {
    let mut cmd = Command::new(MFE);
    cmd.current_dir(cwd)
        .args([
            "publish",
            "--dist",
            "dist",
            "--mfe",
            "checkout",
            "--version",
            version,
            "--to",
            "store/{name}/{name}-{version}.tgz",
        ])
        .args(args)
        .env_remove("GITHUB_SHA")
        .env_remove("GITHUB_REPOSITORY")
        .env_remove("GITHUB_REF");
    for (k, v) in github {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

const BUILT: &str = "3f786850e387550fdab836ed7e6dc881de23001b";

#[test]
fn publish_in_actions_records_the_commit_that_built_the_version() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("dist")).unwrap();
    std::fs::write(
        dir.path().join("dist/remoteEntry.js"),
        "export default 1;\n",
    )
    .unwrap();
    let actions = [
        ("GITHUB_SHA", BUILT),
        ("GITHUB_REPOSITORY", "acme/checkout-mfe"),
        ("GITHUB_REF", "refs/tags/v1.2.3"),
    ];
    let out = publish_from(dir.path(), "1.2.3", &actions, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("provenance: {BUILT} of acme/checkout-mfe")),
        "{}",
        text(&out.stdout)
    );
    let record = dir
        .path()
        .join("store/checkout/checkout-1.2.3.tgz.provenance.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    let archive = std::fs::read(dir.path().join("store/checkout/checkout-1.2.3.tgz")).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "mfe": "checkout", "version": "1.2.3", "repository": "acme/checkout-mfe",
            "sha": BUILT, "ref": "refs/tags/v1.2.3",
            "sha256": gitops_artifact_store::sha256_hex(&archive),
        })
    );
    // Again from the same commit: fine. From another commit (a manual run on a later head):
    // refused, the version already records who built it.
    let again = publish_from(dir.path(), "1.2.3", &actions, &[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    let other = publish_from(dir.path(), "1.2.3", &actions, &["--sha", &"b".repeat(40)]);
    let stderr = text(&other.stderr);
    assert_eq!(other.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("provenance.json"), "{stderr}");

    // Flags win over the environment; an unusable value is a usage error naming the flag.
    let bad = publish_from(dir.path(), "1.2.4", &actions, &["--sha", "main"]);
    let stderr = text(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--sha"), "{stderr}");
    let bad = publish_from(dir.path(), "1.2.4", &actions, &["--ref", "main"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
    assert!(
        !dir.path()
            .join("store/checkout/checkout-1.2.4.tgz")
            .exists(),
        "nothing published on a usage error"
    );

    // Outside Actions, without --sha: no record, as before.
    let local = publish_from(dir.path(), "1.2.5", &[], &[]);
    assert_eq!(local.status.code(), Some(0), "{}", text(&local.stderr));
    assert!(text(&local.stdout).contains("provenance: none"));
    assert!(
        !dir.path()
            .join("store/checkout/checkout-1.2.5.tgz.provenance.json")
            .exists()
    );
}
