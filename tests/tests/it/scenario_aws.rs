//! The end-to-end scenario's cloud on moto: per environment the S3 bucket, DynamoDB registry
//! table and CloudFront distribution `gitops` deploys to, one artifacts bucket where the MFE's
//! CI publishes, the GitHub OIDC trust of the deploy roles, and what is live read back from
//! moto itself (never through `gitops`), so the scenario asserts on the cloud, not on the
//! product's own view of it. The scenario's cloud comes from `terraform apply` of
//! deploy/terraform's example ([`provision_with_terraform`]); [`provision`] and [`oidc_role`]
//! make one by hand (the world's own test, and roles the module does not make).
//!
//! Every call to moto and every process has a timeout; credentials are moto's dummies.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_sdk_cloudfront::types::{
    DefaultCacheBehavior, DistributionConfig, Origin, Origins, S3OriginConfig, ViewerProtocolPolicy,
};

/// The region every client and process uses.
pub(crate) const REGION: &str = "us-east-1";
/// moto's dummy credentials (moto checks no signature).
const ACCESS_KEY: &str = "testing";
const SECRET_KEY: &str = "testing";
/// Bound of one call to moto.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound of one `gitops`, `mfe`, `npm` or `git` process.
const PROCESS_TIMEOUT: Duration = Duration::from_mins(3);
/// GitHub's OIDC issuer, as IAM names it.
const GITHUB_OIDC_HOST: &str = "token.actions.githubusercontent.com";

/// Variables of the test process that would change what `gitops` or `mfe` does (another
/// forge, another AWS account or identity, a job summary of the harness's own).
const SCRUBBED: &[&str] = &[
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "GITHUB_ACTIONS",
    "GITHUB_EVENT_PATH",
    "GITHUB_TOKEN",
    "GITOPS_GITHUB_TOKEN",
    "GITHUB_REPOSITORY",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_OUTPUT",
    "GITOPS_METRICS_FILE",
];

/// One environment's cloud resources.
#[derive(Debug, Clone)]
pub(crate) struct CloudEnv {
    /// The environment's name (`dev`, `staging`, `prod`).
    pub(crate) name: String,
    /// The storage bucket (`gitops.yaml` `storage: s3://<bucket>`).
    pub(crate) bucket: String,
    /// The registry table (`registry: dynamodb://<table>`).
    pub(crate) table: String,
    /// The CloudFront distribution's id (`cdn: cloudfront://<id>`).
    pub(crate) distribution: String,
    /// `https://<the distribution's domain name>` (`public_url`).
    pub(crate) public_url: String,
}

/// The scenario's cloud on moto, made by [`provision_with_terraform`] (or by hand, [`provision`]).
#[derive(Debug, Clone)]
pub(crate) struct Cloud {
    /// moto's base URL.
    pub(crate) endpoint: String,
    /// The environments, in the order given (the promotion order).
    pub(crate) environments: Vec<CloudEnv>,
    /// The bucket MFE CI publishes artifacts to.
    pub(crate) artifacts_bucket: String,
}

/// What is live for one (environment, MFE), read from moto.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Deployed {
    /// The registry's live item, `None` when nothing was ever deployed.
    pub(crate) live: Option<LiveEntry>,
    /// Every object under `mfe/<mfe>/<live version>/` (empty when nothing is live), by key.
    pub(crate) version_objects: Vec<StoredObject>,
    /// The entry-point aliases: the objects directly under `mfe/<mfe>/`, by key.
    pub(crate) aliases: Vec<StoredObject>,
    /// The environment's `importmap.json` entry for the MFE (`imports.<mfe>`), if any.
    pub(crate) import_map_entry: Option<String>,
    /// Every invalidation of the environment's distribution, oldest first.
    pub(crate) invalidations: Vec<Invalidation>,
}

/// The registry's live item of a pair (DynamoDB `pk = ENV#<env>`, `sk = LIVE#<mfe>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LiveEntry {
    pub(crate) version: String,
    pub(crate) sequence: u64,
    pub(crate) request_id: String,
    pub(crate) sha: String,
    pub(crate) deployed_by: String,
    pub(crate) rollback: bool,
    /// The CDN paths of an invalidation the deploy still owes (`None` once the CDN accepted it).
    pub(crate) pending_invalidation: Option<Vec<String>>,
}

/// One S3 object with the headers a browser gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredObject {
    pub(crate) key: String,
    pub(crate) content_type: String,
    pub(crate) cache_control: String,
    pub(crate) size: i64,
}

/// One CloudFront invalidation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalidation {
    pub(crate) id: String,
    pub(crate) status: String,
    /// Its paths, sorted.
    pub(crate) paths: Vec<String>,
}

/// Creates, for each of `envs` (in promotion order), a CloudFront distribution, then lets
/// `gitops bootstrap` create the storage bucket and registry table from the generated
/// `gitops.yaml` (and check the distributions exist), and creates the artifacts bucket
/// `<prefix>-artifacts`. Names start with `prefix` (lowercase letters, digits and `-`, at most
/// 40 characters) so tests sharing one moto stay apart. Panics with the reason when moto or
/// bootstrap fails.
pub(crate) async fn provision(endpoint: &str, envs: &[&str], prefix: &str) -> Cloud {
    assert!(
        (3..=40).contains(&prefix.len())
            && prefix.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
        "prefix {prefix:?}: 3 to 40 lowercase letters, digits or '-', not starting with '-' (it starts bucket names)"
    );
    assert!(!envs.is_empty(), "provision: no environment given");
    let endpoint = endpoint.trim_end_matches('/').to_owned();
    let cf = cloudfront(&endpoint);
    let mut environments = Vec::new();
    for env in envs {
        assert!(
            env.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "environment {env:?}: lowercase letters, digits or '-' (it is part of bucket names)"
        );
        let bucket = format!("{prefix}-{env}");
        let (distribution, domain) =
            create_distribution(&cf, &format!("{prefix}-{env}"), &bucket).await;
        environments.push(CloudEnv {
            name: (*env).to_owned(),
            table: format!("{prefix}-{env}-registry"),
            bucket,
            distribution,
            public_url: format!("https://{domain}"),
        });
    }
    let cloud = Cloud {
        endpoint,
        environments,
        artifacts_bucket: format!("{prefix}-artifacts"),
    };
    let artifacts = &cloud.artifacts_bucket;
    within(
        &format!("CreateBucket {artifacts}"),
        s3(&cloud.endpoint).create_bucket().bucket(artifacts).send(),
    )
    .await
    .unwrap_or_else(|e| panic!("CreateBucket {artifacts}: {}", aws_error(&e)));

    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("gitops.yaml"), cloud.gitops_yaml()).expect("write gitops.yaml");
    let out = cloud
        .run(
            crate::gitops_bin(),
            &["bootstrap", "--repo", path_str(dir.path())],
            dir.path(),
        )
        .await;
    assert!(
        out.status.success(),
        "gitops bootstrap failed\n{}",
        crate::support::both(&out)
    );
    cloud
}

/// An MFE whose publish and artifact-reader roles deploy/terraform makes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ModuleMfe<'a> {
    pub(crate) name: &'a str,
    /// `owner/name`, default branch `main`.
    pub(crate) repository: &'a str,
    /// The environments it deploys to (its artifact-reader role trusts their jobs).
    pub(crate) environments: &'a [&'a str],
}

/// One MFE's roles, as the module's `gitops` output names them.
#[derive(Debug, Clone)]
pub(crate) struct MfeRoles {
    pub(crate) name: String,
    /// `MFE_PUBLISH_ROLE_ARN` of its repository.
    pub(crate) publish: String,
    /// `MFE_ARTIFACT_READ_ROLE_ARN` of its repository.
    pub(crate) artifact_read: String,
}

/// What `terraform apply` of deploy/terraform/examples/complete made on moto.
#[derive(Debug, Clone)]
pub(crate) struct Applied {
    /// Its environments' targets and the artifacts bucket.
    pub(crate) cloud: Cloud,
    /// `terraform output -json`, as `gitops init --from-terraform` reads it.
    pub(crate) outputs: String,
    /// Each environment's deploy role: (environment, role ARN), in promotion order.
    pub(crate) deploy_roles: Vec<(String, String)>,
    /// Each MFE's roles.
    pub(crate) mfes: Vec<MfeRoles>,
}

/// Applies deploy/terraform's complete example (`terraform` and its provider mirror, a working
/// copy, the moto override) on the moto at `endpoint`, which must be a moto of the caller's own
/// (the example creates GitHub's OIDC provider): `envs` in promotion order, names starting with
/// `prefix`, deploy roles for `org`/`gitops_repo`, publish and artifact-reader roles for `mfes`.
/// Nothing is destroyed afterwards: the moto goes with its owner. moto applies the artifacts
/// bucket's TLS-only `Deny` to every request (it ignores `aws:SecureTransport`) and only speaks
/// HTTP here, so that bucket policy is lifted. Panics with terraform's output when it fails.
pub(crate) async fn provision_with_terraform(
    terraform: (std::path::PathBuf, std::path::PathBuf),
    endpoint: &str,
    envs: &[&str],
    prefix: &str,
    (org, gitops_repo): (&str, &str),
    mfes: &[ModuleMfe<'_>],
) -> Applied {
    let endpoint = endpoint.trim_end_matches('/').to_owned();
    let stack = crate::support::Stack::copy(terraform.0, terraform.1);
    stack.init_for_moto().await;
    let vars = serde_json::json!({
        "moto_endpoint": endpoint,
        "region": REGION,
        "name_prefix": prefix,
        "github_org": org,
        "gitops_repository": gitops_repo,
        "environments": envs,
        "mfes": mfes.iter().map(|m| serde_json::json!({
            "name": m.name,
            "repository": m.repository,
            "default_branch": "main",
            "environments": m.environments,
        })).collect::<Vec<_>>(),
        "deletion_protection": false,
        "force_destroy": true,
        "wait_for_deployment": false,
    });
    std::fs::write(
        stack.example().join("terraform.tfvars.json"),
        vars.to_string(),
    )
    .expect("write terraform.tfvars.json");
    stack
        .ok(&["apply", "-auto-approve", "-input=false", "-no-color"])
        .await;
    let outputs = stack.ok(&["output", "-json", "-no-color"]).await;
    let parsed: serde_json::Value = serde_json::from_str(&outputs)
        .unwrap_or_else(|e| panic!("terraform output -json is not JSON ({e}): {outputs}"));
    let gitops = &parsed["gitops"]["value"];
    let field = |v: &serde_json::Value, name: &str| -> String {
        v[name]
            .as_str()
            .unwrap_or_else(|| panic!("the `gitops` output has no string `{name}` in {v}"))
            .to_owned()
    };
    let strip = |value: String, scheme: &str| -> String {
        value
            .strip_prefix(scheme)
            .unwrap_or_else(|| panic!("`{value}` does not start with {scheme}"))
            .to_owned()
    };
    let mut environments = Vec::new();
    let mut deploy_roles = Vec::new();
    for env in gitops["environments"].as_array().into_iter().flatten() {
        let bucket = strip(field(env, "storage"), "s3://");
        assert!(
            !bucket.contains('/'),
            "the scenario's environments are at their bucket's root: {env}"
        );
        environments.push(CloudEnv {
            name: field(env, "name"),
            bucket,
            table: strip(field(env, "registry"), "dynamodb://"),
            distribution: strip(field(env, "cdn"), "cloudfront://"),
            public_url: field(env, "public_url"),
        });
        deploy_roles.push((field(env, "name"), field(env, "role_arn")));
    }
    let names: Vec<&str> = environments.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names, envs,
        "the environments, in promotion order: {gitops}"
    );
    let mut roles = Vec::new();
    let mut artifacts = Vec::new();
    for mfe in gitops["mfes"].as_array().into_iter().flatten() {
        artifacts.push((field(mfe, "name"), field(mfe, "artifact")));
        roles.push(MfeRoles {
            name: field(mfe, "name"),
            publish: field(mfe, "publish_role_arn"),
            artifact_read: field(mfe, "artifact_read_role_arn"),
        });
    }
    assert_eq!(roles.len(), mfes.len(), "one entry per MFE: {gitops}");
    let cloud = Cloud {
        endpoint,
        environments,
        artifacts_bucket: format!("{prefix}-artifacts"),
    };
    for (name, artifact) in &artifacts {
        assert_eq!(
            artifact,
            &cloud.artifact_url(name),
            "the module's artifact template of {name}"
        );
    }
    within(
        &format!("DeleteBucketPolicy {}", cloud.artifacts_bucket),
        s3(&cloud.endpoint)
            .delete_bucket_policy()
            .bucket(&cloud.artifacts_bucket)
            .send(),
    )
    .await
    .unwrap_or_else(|e| {
        panic!(
            "DeleteBucketPolicy {}: {}",
            cloud.artifacts_bucket,
            aws_error(&e)
        )
    });
    Applied {
        cloud,
        outputs,
        deploy_roles,
        mfes: roles,
    }
}

impl Cloud {
    /// The environment named `name`; panics naming the known ones.
    pub(crate) fn env(&self, name: &str) -> &CloudEnv {
        self.environments
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| {
                let known: Vec<&str> = self.environments.iter().map(|e| e.name.as_str()).collect();
                panic!("no environment {name:?} in this cloud (it has {known:?})")
            })
    }

    /// `gitops.yaml` for these environments, in the order provisioned: each on its bucket,
    /// table and distribution; every environment after the first `requires` the one before it
    /// (staging after dev, prod after staging); `prod` needs an approval.
    pub(crate) fn gitops_yaml(&self) -> String {
        let mut yaml = String::from(
            "# The end-to-end scenario's environments on moto (tests/tests/it/scenario_aws.rs).\nversion: 1\nenvironments:                        # in promotion order\n",
        );
        let mut previous: Option<&str> = None;
        for env in &self.environments {
            let _ = write!(
                yaml,
                "  - name: {}\n    storage: s3://{}\n    registry: dynamodb://{}\n    cdn: cloudfront://{}\n    public_url: {}\n",
                env.name, env.bucket, env.table, env.distribution, env.public_url
            );
            if let Some(previous) = previous {
                let _ = writeln!(yaml, "    requires: {previous}");
            }
            if env.name == "prod" {
                yaml.push_str("    approval: required\n");
            }
            previous = Some(&env.name);
        }
        yaml
    }

    /// The artifact URL template of `mfe` in the artifacts bucket, for `mfes/<mfe>.yaml` and
    /// `mfe publish --to`: `s3://<prefix>-artifacts/artifacts/<mfe>/<mfe>-{version}.tgz` (where
    /// deploy/terraform's publish role may write).
    pub(crate) fn artifact_url(&self, mfe: &str) -> String {
        format!(
            "s3://{}/artifacts/{mfe}/{mfe}-{{version}}.tgz",
            self.artifacts_bucket
        )
    }

    /// `mfes/<mfe>.yaml`: owned by `repository` (`owner/name`), artifacts at
    /// [`Cloud::artifact_url`], allowed in every environment, entry point `remoteEntry.js`.
    pub(crate) fn mfe_yaml(&self, mfe: &str, repository: &str) -> String {
        let envs: Vec<&str> = self.environments.iter().map(|e| e.name.as_str()).collect();
        format!(
            "name: {mfe}\nrepository: {repository}\nartifact: {}\nenvironments: [{}]\nentry_points: [remoteEntry.js]\nowners: [\"@{}/{mfe}-team\"]\n",
            self.artifact_url(mfe),
            envs.join(", "),
            repository.split('/').next().unwrap_or("acme"),
        )
    }

    /// The environment a `gitops` or `mfe` process needs to reach this cloud: moto's endpoint,
    /// dummy credentials and the region (an `http://` endpoint needs no `AWS_ALLOW_HTTP`).
    pub(crate) fn aws_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_DEFAULT_REGION", REGION.to_owned()),
        ]
    }

    /// Runs `program ARGS` in `dir` with [`Cloud::aws_env`] and without the variables that
    /// would point it elsewhere; killed after a timeout. Its output, whatever the exit.
    pub(crate) async fn run(&self, program: impl AsRef<Path>, args: &[&str], dir: &Path) -> Output {
        let program = program.as_ref();
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .current_dir(dir)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        for var in SCRUBBED {
            command.env_remove(var);
        }
        for (key, value) in self.aws_env() {
            command.env(key, value);
        }
        let what = format!("{} {args:?}", program.display());
        match tokio::time::timeout(PROCESS_TIMEOUT, command.output()).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => panic!("{what} could not run: {e}"),
            Err(elapsed) => panic!("{what}: {elapsed} after {PROCESS_TIMEOUT:?} (killed)"),
        }
    }

    /// What is live for (`env`, `mfe`): the registry's live item (DynamoDB `GetItem`,
    /// consistent), the objects under the live version's prefix and the aliases with their
    /// `content-type` and `cache-control` (S3 `HeadObject`), the import map's entry, and every
    /// invalidation of the environment's distribution with its paths.
    pub(crate) async fn deployed(&self, env: &str, mfe: &str) -> Deployed {
        let e = self.env(env);
        let live = live_entry(&self.endpoint, &e.table, env, mfe).await;
        let version_objects = match &live {
            Some(live) => {
                self.objects(env, &format!("mfe/{mfe}/{}/", live.version), false)
                    .await
            }
            None => Vec::new(),
        };
        let aliases = self.objects(env, &format!("mfe/{mfe}/"), true).await;
        let import_map_entry = self.import_map(env).await.and_then(|map| {
            map.get("imports")
                .and_then(|imports| imports.get(mfe))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        });
        let invalidations = self.invalidations(env).await;
        Deployed {
            live,
            version_objects,
            aliases,
            import_map_entry,
            invalidations,
        }
    }

    /// The objects of `env`'s bucket under `prefix` with their headers, by key; only those
    /// directly under it when `shallow`.
    pub(crate) async fn objects(
        &self,
        env: &str,
        prefix: &str,
        shallow: bool,
    ) -> Vec<StoredObject> {
        let bucket = &self.env(env).bucket;
        let client = s3(&self.endpoint);
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut request = client.list_objects_v2().bucket(bucket).prefix(prefix);
            if shallow {
                request = request.delimiter("/");
            }
            if let Some(token) = &token {
                request = request.continuation_token(token);
            }
            let page = within(&format!("ListObjectsV2 {bucket}/{prefix}"), request.send())
                .await
                .unwrap_or_else(|e| panic!("ListObjectsV2 {bucket}/{prefix}: {}", aws_error(&e)));
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        keys.sort();
        let mut objects = Vec::new();
        for key in keys {
            let head = within(
                &format!("HeadObject {bucket}/{key}"),
                client.head_object().bucket(bucket).key(&key).send(),
            )
            .await
            .unwrap_or_else(|e| panic!("HeadObject {bucket}/{key}: {}", aws_error(&e)));
            objects.push(StoredObject {
                content_type: head.content_type().unwrap_or_default().to_owned(),
                cache_control: head.cache_control().unwrap_or_default().to_owned(),
                size: head.content_length().unwrap_or_default(),
                key,
            });
        }
        objects
    }

    /// `env`'s `importmap.json`, parsed; `None` when there is none yet.
    pub(crate) async fn import_map(&self, env: &str) -> Option<serde_json::Value> {
        let bucket = &self.env(env).bucket;
        let got = within(
            &format!("GetObject {bucket}/importmap.json"),
            s3(&self.endpoint)
                .get_object()
                .bucket(bucket)
                .key("importmap.json")
                .send(),
        )
        .await;
        let object = match got {
            Ok(object) => object,
            Err(e)
                if e.as_service_error().is_some_and(
                    aws_sdk_s3::operation::get_object::GetObjectError::is_no_such_key,
                ) =>
            {
                return None;
            }
            Err(e) => panic!("GetObject {bucket}/importmap.json: {}", aws_error(&e)),
        };
        let bytes = within("reading importmap.json", object.body.collect())
            .await
            .unwrap_or_else(|e| panic!("reading {bucket}/importmap.json: {e}"))
            .into_bytes();
        Some(
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{bucket}/importmap.json is not JSON: {e}")),
        )
    }

    /// Every invalidation of `env`'s distribution, oldest first, with its paths.
    pub(crate) async fn invalidations(&self, env: &str) -> Vec<Invalidation> {
        let distribution = &self.env(env).distribution;
        let cf = cloudfront(&self.endpoint);
        let list = within(
            &format!("ListInvalidations {distribution}"),
            cf.list_invalidations().distribution_id(distribution).send(),
        )
        .await
        .unwrap_or_else(|e| panic!("ListInvalidations {distribution}: {}", aws_error(&e)));
        let mut summaries: Vec<_> = list
            .invalidation_list()
            .map(|l| l.items().to_vec())
            .unwrap_or_default();
        summaries.sort_by_key(|s| (s.create_time().secs(), s.create_time().subsec_nanos()));
        let mut invalidations = Vec::new();
        for summary in summaries {
            let got = within(
                &format!("GetInvalidation {}", summary.id()),
                cf.get_invalidation()
                    .distribution_id(distribution)
                    .id(summary.id())
                    .send(),
            )
            .await
            .unwrap_or_else(|e| panic!("GetInvalidation {}: {}", summary.id(), aws_error(&e)));
            let mut paths: Vec<String> = got
                .invalidation()
                .and_then(|i| i.invalidation_batch())
                .and_then(|b| b.paths())
                .map(|p| p.items().to_vec())
                .unwrap_or_default();
            paths.sort();
            invalidations.push(Invalidation {
                id: summary.id().to_owned(),
                status: summary.status().to_owned(),
                paths,
            });
        }
        invalidations
    }
}

/// The ARN of IAM role `name`, trusted only for `sts:AssumeRoleWithWebIdentity` by GitHub's
/// OIDC provider (created on first use) with `aud = sts.amazonaws.com` and `sub` matching
/// one of `subjects` (`StringLike`, e.g. `repo:acme/gitops:environment:prod`). Calling it again with
/// the same name replaces the role's trust policy. Through IAM's Query API: moto checks no
/// signature, only the service named in the `Authorization` header's credential scope.
pub(crate) async fn oidc_role(endpoint: &str, name: &str, subjects: &[&str]) -> String {
    let provider = oidc_provider(endpoint).await;
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Federated": provider },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": { format!("{GITHUB_OIDC_HOST}:aud"): "sts.amazonaws.com" },
                "StringLike": { format!("{GITHUB_OIDC_HOST}:sub"): subjects },
            },
        }],
    })
    .to_string();
    let (status, body) = iam(
        endpoint,
        &[
            ("Action", "CreateRole"),
            ("RoleName", name),
            ("AssumeRolePolicyDocument", &policy),
            ("Description", "mfe-gitops end-to-end scenario deploy role"),
            ("MaxSessionDuration", "3600"),
        ],
    )
    .await;
    if status.is_success() {
        return xml_text(&body, "Arn")
            .unwrap_or_else(|| panic!("CreateRole {name}: no <Arn> in {body}"));
    }
    assert_eq!(
        xml_text(&body, "Code").as_deref(),
        Some("EntityAlreadyExists"),
        "CreateRole {name}: HTTP {status}: {body}"
    );
    let (status, body) = iam(
        endpoint,
        &[
            ("Action", "UpdateAssumeRolePolicy"),
            ("RoleName", name),
            ("PolicyDocument", &policy),
        ],
    )
    .await;
    assert!(
        status.is_success(),
        "UpdateAssumeRolePolicy {name}: HTTP {status}: {body}"
    );
    role(endpoint, name).await.0
}

/// The ARN and trust policy of IAM role `name`.
pub(crate) async fn role(endpoint: &str, name: &str) -> (String, serde_json::Value) {
    let (status, body) = iam(endpoint, &[("Action", "GetRole"), ("RoleName", name)]).await;
    assert!(status.is_success(), "GetRole {name}: HTTP {status}: {body}");
    let arn =
        xml_text(&body, "Arn").unwrap_or_else(|| panic!("GetRole {name}: no <Arn> in {body}"));
    let document = xml_text(&body, "AssumeRolePolicyDocument")
        .unwrap_or_else(|| panic!("GetRole {name}: no trust policy in {body}"));
    // IAM returns the document URL-encoded (RFC 3986); moto may return it as is.
    let decoded = if document.trim_start().starts_with('{') {
        document
    } else {
        percent_decode(&document)
    };
    let policy = serde_json::from_str(&decoded)
        .unwrap_or_else(|e| panic!("GetRole {name}: trust policy is not JSON ({e}): {decoded}"));
    (arn, policy)
}

/// GitHub's OIDC provider in IAM (audience `sts.amazonaws.com`), created unless it exists; its ARN.
async fn oidc_provider(endpoint: &str) -> String {
    let url = format!("https://{GITHUB_OIDC_HOST}");
    let (status, body) = iam(
        endpoint,
        &[
            ("Action", "CreateOpenIDConnectProvider"),
            ("Url", &url),
            ("ClientIDList.member.1", "sts.amazonaws.com"),
            // GitHub's certificate thumbprint as AWS documents it (AWS no longer checks it).
            (
                "ThumbprintList.member.1",
                "6938fd4d98bab03faadb97b34396831e3780aea1",
            ),
        ],
    )
    .await;
    if status.is_success() {
        return xml_text(&body, "OpenIDConnectProviderArn")
            .unwrap_or_else(|| panic!("CreateOpenIDConnectProvider: no provider ARN in {body}"));
    }
    assert_eq!(
        xml_text(&body, "Code").as_deref(),
        Some("EntityAlreadyExists"),
        "CreateOpenIDConnectProvider: HTTP {status}: {body}"
    );
    let (status, body) = iam(endpoint, &[("Action", "ListOpenIDConnectProviders")]).await;
    assert!(
        status.is_success(),
        "ListOpenIDConnectProviders: HTTP {status}: {body}"
    );
    let suffix = format!(":oidc-provider/{GITHUB_OIDC_HOST}");
    body.split("<Arn>")
        .skip(1)
        .filter_map(|rest| rest.split_once("</Arn>").map(|(arn, _)| arn))
        .find(|arn| arn.ends_with(&suffix))
        .map_or_else(
            || panic!("GitHub's OIDC provider exists but is not listed: {body}"),
            str::to_owned,
        )
}

/// One IAM Query API call (`Version=2010-05-08` added); its status and body.
async fn iam(endpoint: &str, params: &[(&str, &str)]) -> (reqwest::StatusCode, String) {
    let mut form = reqwest::Url::parse("http://form.invalid/").expect("a URL");
    form.query_pairs_mut()
        .extend_pairs(params)
        .append_pair("Version", "2010-05-08");
    let body = form.query().unwrap_or_default().to_owned();
    let action = params
        .iter()
        .find(|(k, _)| *k == "Action")
        .map_or("?", |(_, v)| *v);
    let response = within(
        &format!("IAM {action}"),
        http()
            .post(format!("{}/", endpoint.trim_end_matches('/')))
            .header("authorization", authorization("iam"))
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(body)
            .send(),
    )
    .await
    .unwrap_or_else(|e| panic!("IAM {action}: {e}"));
    let status = response.status();
    let text = within(&format!("IAM {action} body"), response.text())
        .await
        .unwrap_or_else(|e| panic!("IAM {action}: reading the answer: {e}"));
    (status, text)
}

/// The registry's live item of (`env`, `mfe`) in `table`, through DynamoDB's JSON API.
async fn live_entry(endpoint: &str, table: &str, env: &str, mfe: &str) -> Option<LiveEntry> {
    let request = serde_json::json!({
        "TableName": table,
        "Key": { "pk": { "S": format!("ENV#{env}") }, "sk": { "S": format!("LIVE#{mfe}") } },
        "ConsistentRead": true,
    });
    let response = within(
        &format!("DynamoDB GetItem {table}"),
        http()
            .post(format!("{}/", endpoint.trim_end_matches('/')))
            .header("authorization", authorization("dynamodb"))
            .header("x-amz-target", "DynamoDB_20120810.GetItem")
            .header("content-type", "application/x-amz-json-1.0")
            .body(request.to_string())
            .send(),
    )
    .await
    .unwrap_or_else(|e| panic!("DynamoDB GetItem {table}: {e}"));
    let status = response.status();
    let text = within("DynamoDB GetItem body", response.text())
        .await
        .unwrap_or_else(|e| panic!("DynamoDB GetItem {table}: reading the answer: {e}"));
    assert!(
        status.is_success(),
        "DynamoDB GetItem {table}: HTTP {status}: {text}"
    );
    let answer: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("DynamoDB GetItem {table}: not JSON ({e}): {text}"));
    let item = answer.get("Item")?;
    let s = |name: &str| {
        item.pointer(&format!("/{name}/S"))
            .and_then(|v| v.as_str())
            .map_or_else(
                || panic!("live item {env}/{mfe}: no string `{name}` in {item}"),
                str::to_owned,
            )
    };
    let sequence = item
        .pointer("/sequence/N")
        .and_then(|v| v.as_str())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("live item {env}/{mfe}: no number `sequence` in {item}"));
    let pending_invalidation = item.pointer("/invalidation/M/paths/L").map(|paths| {
        paths
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("S").and_then(|s| s.as_str()).map(str::to_owned))
            .collect()
    });
    Some(LiveEntry {
        version: s("version"),
        sequence,
        request_id: s("request_id"),
        sha: s("sha"),
        deployed_by: s("deployed_by"),
        rollback: item
            .pointer("/rollback/BOOL")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or_else(|| panic!("live item {env}/{mfe}: no boolean `rollback` in {item}")),
        pending_invalidation,
    })
}

/// An `Authorization` header naming `service` in its credential scope (moto routes a request
/// to `/` by it; it checks no signature).
fn authorization(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20260101/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0"
    )
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(CALL_TIMEOUT)
        .build()
        .expect("an HTTP client")
}

/// The text of the first `<tag>` element of `xml`, XML entities decoded.
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let (_, rest) = xml.split_once(&format!("<{tag}>"))?;
    let (text, _) = rest.split_once(&format!("</{tag}>"))?;
    Some(
        text.replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

fn percent_decode(text: &str) -> String {
    let mut url = reqwest::Url::parse("http://form.invalid/").expect("a URL");
    url.set_query(Some(&format!("d={}", text.replace('+', "%2B"))));
    url.query_pairs()
        .find(|(k, _)| k == "d")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `future`, or a panic naming `what` after [`CALL_TIMEOUT`]. The future is boxed at once, so
/// the SDK's large request futures do not bloat the callers' (clippy `large_futures`).
fn within<F: Future>(what: &str, future: F) -> impl Future<Output = F::Output> {
    let future = Box::pin(future);
    let what = what.to_owned();
    async move {
        tokio::time::timeout(CALL_TIMEOUT, future)
            .await
            .unwrap_or_else(|_| panic!("{what}: no answer from moto in {CALL_TIMEOUT:?}"))
    }
}

/// An SDK error with the service's code and message (the default display says only
/// "service error").
fn aws_error<E: std::error::Error + 'static>(e: &E) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let _ = write!(text, ": {s}");
        source = s.source();
    }
    text
}

fn cloudfront(endpoint: &str) -> aws_sdk_cloudfront::Client {
    aws_sdk_cloudfront::Client::from_conf(
        aws_sdk_cloudfront::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_sdk_cloudfront::config::Region::new(REGION))
            .endpoint_url(endpoint)
            .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "moto"))
            .timeout_config(sdk_timeouts())
            .build(),
    )
}

fn s3(endpoint: &str) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new(REGION))
            .endpoint_url(endpoint)
            .force_path_style(true)
            .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "moto"))
            .timeout_config(sdk_timeouts())
            .build(),
    )
}

fn sdk_timeouts() -> aws_sdk_s3::config::timeout::TimeoutConfig {
    aws_sdk_s3::config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_timeout(CALL_TIMEOUT)
        .build()
}

/// A distribution in front of `bucket`; its id and domain name.
async fn create_distribution(
    cf: &aws_sdk_cloudfront::Client,
    reference: &str,
    bucket: &str,
) -> (String, String) {
    let origin = Origin::builder()
        .id("storage")
        .domain_name(format!("{bucket}.s3.amazonaws.com"))
        .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
        .build()
        .expect("an origin");
    let config = DistributionConfig::builder()
        .caller_reference(reference)
        .comment(format!("mfe-gitops scenario {reference}"))
        .enabled(true)
        .origins(
            Origins::builder()
                .quantity(1)
                .items(origin)
                .build()
                .expect("origins"),
        )
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("storage")
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                .build()
                .expect("a cache behaviour"),
        )
        .build()
        .expect("a distribution config");
    let out = within(
        &format!("CreateDistribution {reference}"),
        cf.create_distribution().distribution_config(config).send(),
    )
    .await
    .unwrap_or_else(|e| panic!("CreateDistribution {reference}: {}", aws_error(&e)));
    let distribution = out
        .distribution()
        .unwrap_or_else(|| panic!("CreateDistribution {reference}: no distribution in the answer"));
    (
        distribution.id().to_owned(),
        distribution.domain_name().to_owned(),
    )
}

fn path_str(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("{} is not UTF-8", path.display()))
}

/// The world the scenario stands on, without the workflows: provisioning gives three
/// environments `gitops check` accepts on moto; the fixture MFE built with npm and published
/// with `mfe publish` deploys to dev with `gitops deploy` as the deploy job runs it; and
/// `deployed()` reads back from moto exactly what went live there (version, files, headers, one
/// invalidation) and nothing in staging or prod. The OIDC role trusts exactly the subject.
#[tokio::test(flavor = "multi_thread")]
async fn scenario_aws_world_provisions_and_reads_back() {
    let Some(url) = crate::moto::endpoint("scenario_aws_world_provisions_and_reads_back") else {
        return;
    };
    let prefix = format!("w{}", ulid::Ulid::generate().to_string().to_lowercase());
    let cloud = provision(&url, &["dev", "staging", "prod"], &prefix).await;
    let yaml = cloud.gitops_yaml();
    for (env, requires) in [
        ("dev", None),
        ("staging", Some("dev")),
        ("prod", Some("staging")),
    ] {
        let e = cloud.env(env);
        let block = yaml
            .split("  - name: ")
            .find(|b| b.starts_with(&format!("{env}\n")))
            .unwrap_or_else(|| panic!("no {env} in\n{yaml}"));
        assert!(
            block.contains(&format!("storage: s3://{prefix}-{env}\n")),
            "{yaml}"
        );
        assert!(
            block.contains(&format!("registry: dynamodb://{}\n", e.table)),
            "{yaml}"
        );
        assert!(
            block.contains(&format!("cdn: cloudfront://{}\n", e.distribution)),
            "{yaml}"
        );
        assert_eq!(
            block.contains("requires:"),
            requires.is_some(),
            "{env}: {yaml}"
        );
        if let Some(previous) = requires {
            assert!(block.contains(&format!("requires: {previous}\n")), "{yaml}");
        }
        assert_eq!(
            block.contains("approval: required"),
            env == "prod",
            "{yaml}"
        );
        // Nothing is live anywhere yet.
        let nothing = cloud.deployed(env, "checkout").await;
        assert_eq!(nothing.live, None, "{env}");
        assert!(
            nothing.aliases.is_empty() && nothing.invalidations.is_empty(),
            "{env}: {nothing:?}"
        );
    }

    // The MFE's CI: npm ci (offline: the project has no dependencies), test, build, publish.
    let mfe_dir = tempfile::tempdir().unwrap();
    let project = mfe_dir.path();
    crate::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/checkout-mfe"),
        project,
    );
    for args in [
        &["ci", "--offline", "--no-audit", "--no-fund"][..],
        &["test"],
        &["run", "build"],
    ] {
        let out = cloud.run("npm", args, project).await;
        assert!(
            out.status.success(),
            "npm {args:?}\n{}",
            crate::support::both(&out)
        );
    }
    let to = cloud.artifact_url("checkout");
    let out = cloud
        .run(
            crate::mfe_bin(),
            &[
                "publish",
                "--dist",
                "dist",
                "--mfe",
                "checkout",
                "--version",
                "1.0.0",
                "--to",
                &to,
            ],
            project,
        )
        .await;
    assert!(
        out.status.success(),
        "mfe publish\n{}",
        crate::support::both(&out)
    );

    // The GitOps repository with the desired state for dev, committed; the deploy job's command.
    let repo_dir = tempfile::tempdir().unwrap();
    let repo = repo_dir.path();
    let write = |rel: &str, text: &str| {
        let path = repo.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("gitops.yaml", &yaml);
    write(
        "mfes/checkout.yaml",
        &cloud.mfe_yaml("checkout", "acme/checkout-mfe"),
    );
    write(
        "deployments/dev/checkout.json",
        &serde_json::to_string_pretty(&serde_json::json!({
            "mfe": "checkout",
            "environment": "dev",
            "version": "1.0.0",
            "sha": "3f786850e387550fdab836ed7e6dc881de23001b",
            "ref": "refs/tags/v1.0.0",
            "repository": "acme/checkout-mfe",
            "requested_by": "octocat",
            "requested_at": "2026-11-30T12:00:00Z",
            "request_id": "01JDQ8Z6X8N7W4K2M5R3T9V1YB",
            "rollback": false,
            "cache_invalidation_keys": [],
        }))
        .unwrap(),
    );
    for args in [
        &["init", "-q", "-b", "main", "."][..],
        &["add", "-A"],
        &["commit", "-qm", "deploy checkout 1.0.0 to dev"],
    ] {
        crate::support::git(repo, args);
    }
    let out = cloud
        .run(crate::gitops_bin(), &["check", "--repo", "."], repo)
        .await;
    assert!(
        out.status.success(),
        "gitops check\n{}",
        crate::support::both(&out)
    );
    let out = cloud
        .run(
            crate::gitops_bin(),
            &[
                "deploy",
                "--repo",
                ".",
                "--environment",
                "dev",
                "--mfe",
                "checkout",
                "--format",
                "json",
            ],
            repo,
        )
        .await;
    assert!(
        out.status.success(),
        "gitops deploy\n{}",
        crate::support::both(&out)
    );

    // What moto holds.
    let dev = cloud.deployed("dev", "checkout").await;
    let live = dev.live.as_ref().expect("a live entry in dev");
    assert_eq!(live.version, "1.0.0");
    assert_eq!(live.sequence, 1);
    assert_eq!(live.sha, "3f786850e387550fdab836ed7e6dc881de23001b");
    assert_eq!(live.request_id, "01JDQ8Z6X8N7W4K2M5R3T9V1YB");
    assert_eq!(live.deployed_by, "octocat");
    assert!(!live.rollback);
    assert_eq!(
        live.pending_invalidation, None,
        "the CDN accepted the invalidation"
    );
    let built: Vec<String> = std::fs::read_dir(project.join("dist/assets"))
        .unwrap()
        .map(|e| format!("assets/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    assert_eq!(built.len(), 2, "{built:?}");
    let mut expected: Vec<(String, &str, &str)> = vec![
        ("index.html".into(), "text/html", "must-revalidate"),
        (
            "remoteEntry.js".into(),
            "text/javascript",
            "must-revalidate",
        ),
    ];
    for asset in &built {
        let ct = if asset.ends_with(".css") {
            "text/css"
        } else {
            "text/javascript"
        };
        expected.push((asset.clone(), ct, "immutable"));
    }
    expected.sort();
    let got: Vec<&str> = dev.version_objects.iter().map(|o| o.key.as_str()).collect();
    let want: Vec<String> = expected
        .iter()
        .map(|(rel, _, _)| format!("mfe/checkout/1.0.0/{rel}"))
        .collect();
    assert_eq!(got, want, "the files under the version prefix");
    for ((_, ct, cc), object) in expected.iter().zip(&dev.version_objects) {
        assert!(object.content_type.starts_with(ct), "{object:?}: want {ct}");
        assert!(object.cache_control.contains(cc), "{object:?}: want {cc}");
        assert!(object.size > 0, "{object:?}");
    }
    assert_eq!(
        dev.aliases
            .iter()
            .map(|o| o.key.as_str())
            .collect::<Vec<_>>(),
        ["mfe/checkout/remoteEntry.js"]
    );
    assert!(
        dev.aliases[0].cache_control.contains("must-revalidate"),
        "{:?}",
        dev.aliases
    );
    assert_eq!(
        dev.import_map_entry.as_deref(),
        Some(
            format!(
                "{}/mfe/checkout/1.0.0/remoteEntry.js",
                cloud.env("dev").public_url
            )
            .as_str()
        )
    );
    assert_eq!(dev.invalidations.len(), 1, "{:?}", dev.invalidations);
    assert_eq!(
        dev.invalidations[0].paths,
        ["/importmap.json", "/mfe/checkout/remoteEntry.js"]
    );
    for env in ["staging", "prod"] {
        let other = cloud.deployed(env, "checkout").await;
        assert_eq!(other.live, None, "{env}: {other:?}");
        assert!(other.invalidations.is_empty(), "{env}: {other:?}");
    }

    // The deploy role of prod: trusted by GitHub's OIDC provider for exactly that subject;
    // asking again is idempotent and replaces the subject.
    let name = format!("{prefix}-deploy-prod");
    let subject = "repo:acme/gitops:environment:prod";
    let arn = oidc_role(&url, &name, &[subject]).await;
    assert!(
        arn.starts_with("arn:aws:iam::") && arn.ends_with(&format!(":role/{name}")),
        "{arn}"
    );
    assert_eq!(oidc_role(&url, &name, &[subject]).await, arn);
    let (read, policy) = role(&url, &name).await;
    assert_eq!(read, arn);
    let statements = policy["Statement"].as_array().expect("statements");
    assert_eq!(statements.len(), 1, "{policy}");
    let s = &statements[0];
    assert_eq!(s["Effect"], "Allow", "{policy}");
    assert_eq!(s["Action"], "sts:AssumeRoleWithWebIdentity", "{policy}");
    assert!(
        s["Principal"]["Federated"]
            .as_str()
            .is_some_and(|p| p.ends_with(":oidc-provider/token.actions.githubusercontent.com")),
        "{policy}"
    );
    assert_eq!(
        s["Condition"]["StringEquals"]["token.actions.githubusercontent.com:aud"],
        "sts.amazonaws.com"
    );
    assert_eq!(
        s["Condition"]["StringLike"]["token.actions.githubusercontent.com:sub"],
        serde_json::json!([subject])
    );
    let staging = "repo:acme/gitops:environment:staging";
    oidc_role(&url, &name, &[staging]).await;
    assert_eq!(
        role(&url, &name).await.1["Statement"][0]["Condition"]["StringLike"]["token.actions.githubusercontent.com:sub"],
        serde_json::json!([staging])
    );
}
