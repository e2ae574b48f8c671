//! A GitOps repository of one MFE (`app`) and one environment (`dev`) for one measured deploy,
//! on the embedded backends or on moto (a fresh bucket, table and distribution each time), and
//! the moto clients the bench needs (the minimum of tests/tests/it/moto.rs).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::generate::{ARCHIVE_NAME, Artifact};
use crate::measure::{Sample, measured};

/// What the bench scrubs beyond the tests' list ([`gitops_e2e::SCRUBBED`]): the AWS settings a
/// developer's shell may carry.
const SCRUBBED_AWS: &[&str] = &["AWS_ALLOW_HTTP", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"];

/// Where the deploy's targets are.
#[derive(Debug, Clone)]
pub enum Backend {
    /// Local storage directory, SQLite registry, CDN log (`local/dev/...`).
    Embedded,
    /// S3, DynamoDB and CloudFront on the moto emulator at this endpoint.
    Moto(String),
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Embedded => "embedded",
            Backend::Moto(_) => "moto",
        }
    }
}

/// The standard AWS environment of the emulator at `endpoint` (dummy credentials).
pub fn aws_env(command: &mut Command, endpoint: &str) {
    command
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1");
}

fn scrub(command: &mut Command) {
    for var in gitops_e2e::SCRUBBED.iter().chain(SCRUBBED_AWS) {
        command.env_remove(var);
    }
}

pub fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh lower-case id for bucket, table and directory names.
pub fn fresh_id() -> String {
    ulid::Ulid::generate().to_string().to_lowercase()
}

/// A repository ready to deploy `app` 1.0.0 (bootstrapped, desired state committed).
#[derive(Debug)]
pub struct BenchRepo {
    pub dir: PathBuf,
    pub backend: Backend,
}

impl BenchRepo {
    /// Writes the repository under `work`, links `artifact` in as `app` 1.0.0, commits and
    /// bootstraps it. The MFE sets no `limits:` (the defaults are measured).
    pub fn new(
        rt: &tokio::runtime::Runtime,
        gitops: &Path,
        work: &Path,
        backend: &Backend,
        artifact: &Artifact,
    ) -> BenchRepo {
        let id = fresh_id();
        let dir = work.join(format!("repo-{id}"));
        std::fs::create_dir_all(dir.join("mfes")).expect("creating the repository");
        let environment = match backend {
            Backend::Embedded => "  - name: dev\n    storage: local/dev/storage\n    registry: local/dev/registry.db\n    cdn: local/dev/cdn.log\n    public_url: https://cdn.example.com/dev\n".to_owned(),
            Backend::Moto(endpoint) => {
                let distribution = rt.block_on(gitops_e2e::create_distribution(
                    &gitops_e2e::cloudfront(endpoint),
                    &id,
                ));
                format!(
                    "  - name: dev\n    storage: s3://dep-{id}\n    registry: dynamodb://dep-{id}\n    cdn: cloudfront://{distribution}\n    public_url: https://cdn.example.com\n"
                )
            }
        };
        let write = |rel: &str, text: &str| {
            let path = dir.join(rel);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            std::fs::write(path, text).expect("writing the repository");
        };
        write(
            "gitops.yaml",
            &format!("version: 1\nenvironments:\n{environment}"),
        );
        let mfe = "name: app\nrepository: acme/app-mfe\nartifact: local/artifacts/app/app-{version}.tgz\nenvironments: [dev]\nentry_points: [remoteEntry.js]\n";
        write("mfes/app.yaml", mfe);
        write(
            "deployments/dev/app.json",
            &serde_json::json!({
                "mfe": "app", "environment": "dev", "version": "1.0.0",
                "sha": "3f786850e387550fdab836ed7e6dc881de23001b", "ref": "refs/heads/main",
                "repository": "acme/app-mfe", "requested_by": "octocat",
                "requested_at": "2026-11-26T09:30:00Z", "request_id": "01JDQ8Z6X8N7W4K2M5R3T9V1YB",
            })
            .to_string(),
        );
        write(".gitignore", "local/\n");
        let artifacts = dir.join("local/artifacts/app");
        std::fs::create_dir_all(&artifacts).expect("mkdir local/artifacts");
        link(&artifact.archive, &artifacts.join(ARCHIVE_NAME));
        link(
            &artifact.sidecar,
            &artifacts.join(format!("{ARCHIVE_NAME}.sha256")),
        );
        git(&dir, &["init", "-q", "-b", "main", "."]);
        git(&dir, &["add", "-A"]);
        git(&dir, &["commit", "-qm", "app 1.0.0 in dev"]);
        let repo = BenchRepo {
            dir,
            backend: backend.clone(),
        };
        let out = repo.gitops(gitops, &["bootstrap"]);
        assert!(out.ok(), "{}", out.failure("gitops bootstrap"));
        repo
    }

    fn configure(&self, command: &mut Command) {
        scrub(command);
        command.current_dir(&self.dir);
        if let Backend::Moto(endpoint) = &self.backend {
            aws_env(command, endpoint);
        }
    }

    /// `gitops ARGS --repo <dir>`, measured.
    pub fn gitops(&self, gitops: &Path, args: &[&str]) -> Sample {
        let dir = self.dir.to_string_lossy().into_owned();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--repo", &dir]);
        measured(&self.dir, gitops, &all, |c| self.configure(c))
    }

    /// The measured `gitops deploy`, which must deploy `app` 1.0.0; the run and the stage
    /// durations (`uploaded`, `committed`, `invalidated`) it recorded, in seconds.
    pub fn deploy(&self, gitops: &Path) -> (Sample, Vec<(String, f64)>) {
        self.deploy_with(gitops, &[])
    }

    /// [`BenchRepo::deploy`] with `extra` set in the deploy's environment.
    pub fn deploy_with(
        &self,
        gitops: &Path,
        extra: &[(&str, &str)],
    ) -> (Sample, Vec<(String, f64)>) {
        let events = self.dir.join("local/events.jsonl");
        let dir = self.dir.to_string_lossy().into_owned();
        let sample = measured(
            &self.dir,
            gitops,
            &["deploy", "--repo", &dir, "--format", "json"],
            |c| {
                self.configure(c);
                c.env("GITOPS_METRICS_FILE", &events);
                c.envs(extra.iter().copied());
            },
        );
        assert!(sample.ok(), "{}", sample.failure("gitops deploy"));
        let report: serde_json::Value = serde_json::from_str(&sample.stdout).unwrap_or_default();
        assert_eq!(
            report["pairs"][0]["outcome"], "deployed",
            "gitops deploy did not deploy: {}",
            sample.stdout
        );
        let mut stages = Vec::new();
        for line in std::fs::read_to_string(&events).unwrap_or_default().lines() {
            let event: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
            if let (Some(stage), Some(ms)) =
                (event["stage"].as_str(), event["duration_ms"].as_u64())
            {
                #[allow(clippy::cast_precision_loss)]
                stages.push((stage.to_owned(), ms as f64 / 1000.0));
            }
        }
        (sample, stages)
    }

    pub fn remove(self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A hard link of `from` at `to` (a copy when the file systems differ).
fn link(from: &Path, to: &Path) {
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).expect("copying the artifact into the repository");
    }
}

pub use gitops_e2e::s3;

pub async fn create_bucket(endpoint: &str, bucket: &str) {
    s3(endpoint)
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("creating a bucket on moto");
}

/// How many objects `bucket` holds under `prefix` (every page).
pub async fn count_objects(endpoint: &str, bucket: &str, prefix: &str) -> u64 {
    let client = s3(endpoint);
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    let mut count = 0;
    while let Some(page) = pages.next().await {
        count += page.expect("listing a bucket on moto").contents().len() as u64;
    }
    count
}
