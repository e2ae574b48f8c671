//! The whole flow through the binary on fake-github (the forge and the requester) and moto (the
//! targets): process -> merge -> pull -> deploy, and the requester told on its commit.

use std::path::Path;
use std::process::{Command, Output};

use gitops_artifact_store::{AwsSettings, StoreOpener, publish_dir};

use crate::moto::{cloudfront, create_distribution, endpoint, s3, write};

async fn gitops(github: &str, aws: &str, args: &[&str]) -> Output {
    let mut command = Command::new(crate::gitops_bin());
    command
        .args(args)
        .env("GITHUB_API_URL", github)
        .env("GITHUB_TOKEN", "gitops-bot:secret")
        .env("GITHUB_REPOSITORY", "acme/gitops")
        .env("AWS_ENDPOINT_URL", aws)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ALLOW_HTTP", "true")
        .env_remove("GITHUB_SHA")
        .env_remove("GITOPS_GITHUB_TOKEN")
        .env_remove("GITHUB_EVENT_PATH")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("GITHUB_OUTPUT");
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Request to live on GitHub's API (fake-github) and AWS (moto), for an environment named `Prod`:
/// the one name rule (capitals allowed) holds in every crate, from the request through the PR
/// branch, the DynamoDB keys, the S3 prefix and CloudFront to the requester's deployment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_to_live_on_fake_github_and_moto() {
    let Some(aws) = endpoint("request_to_live_on_fake_github_and_moto") else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let github = crate::fake_github_with_job_tokens(data.path()).await;

    // Targets on moto and a published artifact.
    let id = ulid::Ulid::generate().to_string().to_lowercase();
    let (site, artifacts, table) = (
        format!("site-{id}"),
        format!("artifacts-{id}"),
        format!("registry-{id}"),
    );
    let distribution = create_distribution(&cloudfront(&aws), &format!("gh-{id}")).await;
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

    // The GitOps repository on fake-github, and a checkout of it.
    let gitops_yaml = format!(
        "version: 1\nmerge_method: squash\nenvironments:\n  - name: Prod\n    storage: s3://{site}\n    registry: dynamodb://{table}\n    cdn: cloudfront://{distribution}\n    public_url: https://cdn.example.com\n"
    );
    let mfe_yaml = format!(
        "name: checkout\nrepository: acme/checkout-mfe\nartifact: s3://{artifacts}/checkout/checkout-{{version}}.tgz\nenvironments: [Prod]\nentry_points: [remoteEntry.js]\n"
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
    // A squash-only repository: merged the way gitops.yaml says.
    let (code, settings) = github
        .api(
            "gitops-bot:secret",
            reqwest::Method::PATCH,
            "/repos/acme/gitops",
            Some(serde_json::json!({"allow_merge_commit": false, "allow_rebase_merge": false})),
        )
        .await
        .unwrap();
    assert_eq!(code, 200, "{settings}");
    let requester_head = github
        .create_repo("acme", "checkout-mfe", &[("README.md", "checkout\n")])
        .await
        .unwrap()
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let checkout = work.path().join("gitops");
    git(
        work.path(),
        &[
            "clone",
            "-q",
            github.repo_path("acme", "gitops").to_str().unwrap(),
            "gitops",
        ],
    );
    let c = checkout.to_str().unwrap();

    // The request, as the MFE repository's `mfe dispatch` sends it.
    let event = work.path().join("event.json");
    std::fs::write(&event, serde_json::json!({
        "id": "01JDQ8Z6X8N7W4K2M5R3T9V1YB", "timestamp": "2026-11-26T09:30:00Z", "user": "octocat",
        "mfe": "checkout", "version": "2.0.0", "environment": "Prod", "cache_invalidation_keys": [],
        "repository": "acme/checkout-mfe", "ref": "refs/heads/main", "sha": requester_head,
    }).to_string()).unwrap();

    // Sent by someone holding a dispatch token, with no deployment of the request in the
    // claimed repository: refused, and nothing written on either side.
    let forged = gitops(
        &github.base_url,
        &aws,
        &["process", "--repo", c, "--event", event.to_str().unwrap()],
    )
    .await;
    assert_eq!(forged.status.code(), Some(1), "{forged:?}");
    let refused: serde_json::Value = serde_json::from_slice(&forged.stdout).unwrap();
    assert_eq!(
        refused["reasons"][0]["code"], "unverified-origin",
        "{refused}"
    );
    assert_eq!(
        refused["pull_request"],
        serde_json::Value::Null,
        "{refused}"
    );
    let listed = github
        .api(
            "observer:x",
            reqwest::Method::GET,
            "/repos/acme/checkout-mfe/deployments",
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        listed.1,
        serde_json::json!([]),
        "nothing written on the requester"
    );
    let pulls = github
        .api(
            "observer:x",
            reqwest::Method::GET,
            "/repos/acme/gitops/pulls",
            None,
        )
        .await
        .unwrap();
    assert_eq!(pulls.1, serde_json::json!([]), "no pull request");

    // The MFE repository's CD job makes the request's deployment with its own GITHUB_TOKEN
    // (what `mfe dispatch` does before sending): now the origin is proven.
    let made = crate::workflow_deployment(
        &github,
        "acme/checkout-mfe",
        &requester_head,
        "Prod",
        serde_json::json!({"id": "01JDQ8Z6X8N7W4K2M5R3T9V1YB", "mfe": "checkout", "version": "2.0.0"}),
    )
    .await;

    let report: serde_json::Value = serde_json::from_str(&ok(&gitops(
        &github.base_url,
        &aws,
        &["process", "--repo", c, "--event", event.to_str().unwrap()],
    )
    .await))
    .unwrap();
    assert_eq!(report["decision"], "accept", "{report}");
    assert_eq!(
        report["deployment"], made["id"],
        "told on the requester's own deployment"
    );
    let pr = report["pull_request"].as_u64().unwrap().to_string();
    assert!(
        ok(&gitops(&github.base_url, &aws, &["merge", "--repo", c, "--pr", &pr]).await)
            .contains("merged")
    );

    git(&checkout, &["pull", "-q", "--ff-only"]);
    let parents = Command::new("git")
        .args(["rev-list", "--parents", "-n1", "HEAD"])
        .current_dir(&checkout)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&parents.stdout)
            .split_whitespace()
            .count(),
        2,
        "squashed (one parent), as gitops.yaml's merge_method says"
    );
    ok(&gitops(&github.base_url, &aws, &["bootstrap", "--repo", c]).await);
    let deployed: serde_json::Value = serde_json::from_str(&ok(&gitops(
        &github.base_url,
        &aws,
        &["deploy", "--repo", c, "--format", "json"],
    )
    .await))
    .unwrap();
    assert_eq!(deployed["pairs"][0]["outcome"], "deployed", "{deployed}");

    // The requester was told on its own commit: queued by process, success by deploy.
    let http = reqwest::Client::new();
    let deployments: serde_json::Value = http
        .get(format!(
            "{}/repos/acme/checkout-mfe/deployments?sha={requester_head}&environment=Prod",
            github.base_url
        ))
        .bearer_auth("gitops-bot:secret")
        .header("user-agent", "test")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let deployment = deployments
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["payload"]["id"] == "01JDQ8Z6X8N7W4K2M5R3T9V1YB")
        .expect("a deployment for the request");
    let statuses: serde_json::Value = http
        .get(format!(
            "{}/repos/acme/checkout-mfe/deployments/{}/statuses",
            github.base_url, deployment["id"]
        ))
        .bearer_auth("gitops-bot:secret")
        .header("user-agent", "test")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let states: Vec<&str> = statuses
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["success", "queued"], "newest first");
    if gitops_testkit::openapi_from_env().is_some() {
        assert!(github.violations().await.unwrap().is_empty());
    }
}
