//! The hosting infrastructure as code, applied for real (issue 15): `deploy/terraform`'s
//! example is formatted, validated and applied against moto, `gitops init --from-terraform`
//! turns its outputs into `gitops.yaml`, `mfe publish` and `gitops bootstrap --check`, `deploy`,
//! `status` and `drift` run into exactly what Terraform created, and `terraform destroy` removes
//! it. On the way, every AWS call the binaries make goes through a recording proxy and must be
//! allowed by the role that would make it on GitHub; `gitops iam-policy` must print exactly what
//! the module grants; the trust policies are evaluated against GitHub OIDC claims (moto does not
//! evaluate them); and no policy has a wildcard action or resource.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use gitops_testkit::aws_proxy::{AwsCall, RecordingProxy};
use gitops_testkit::iam::{Policy, TrustPolicy, wildcard_findings};
use serde_json::{Value, json};

use crate::moto::write;
use crate::support::{OwnMoto, Stack, git, run_terraform, terraform, terraform_module_dir};

const ORG: &str = "acme";
const GITOPS_REPO: &str = "acme-gitops";
const ACTION: &str = "mfe-gitops/mfe-gitops@5e7a0b6f3c2d1e9f8a7b6c5d4e3f2a1b0c9d8e7f";
const SHA: &str = "3f786850e387550fdab836ed7e6dc881de23001b";
const AUD: &str = "token.actions.githubusercontent.com:aud";
const SUB: &str = "token.actions.githubusercontent.com:sub";
/// A binary run with the standard AWS environment pointed at `endpoint` (the proxy).
fn aws_command(bin: PathBuf, endpoint: &str, dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env_remove("AWS_ALLOW_HTTP")
        .env_remove("AWS_ENDPOINT_URL_S3")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCOUNT_ID")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_TOKEN")
        .env_remove("GITOPS_GITHUB_TOKEN")
        .env_remove("GITHUB_EVENT_PATH")
        .env_remove("GITHUB_SHA")
        .env_remove("GITHUB_REPOSITORY")
        .env_remove("GITHUB_REF")
        .output()
        .unwrap()
}

fn ok(what: &str, out: &Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every resource of a `terraform show -json` state, modules included.
fn resources(module: &Value, out: &mut Vec<Value>) {
    if let Some(list) = module["resources"].as_array() {
        out.extend(list.iter().cloned());
    }
    if let Some(children) = module["child_modules"].as_array() {
        for child in children {
            resources(child, out);
        }
    }
}

fn of_type<'a>(all: &'a [Value], kind: &str) -> Vec<&'a Value> {
    all.iter()
        .filter(|r| r["type"] == kind && r["mode"] == "managed")
        .map(|r| &r["values"])
        .collect()
}

fn parse_doc(text: &Value) -> Value {
    serde_json::from_str(text.as_str().expect("a policy is a JSON string")).unwrap()
}

/// The identity policies attached to each role (inline and managed), merged into one document
/// per role name.
fn role_policies(all: &[Value]) -> BTreeMap<String, Value> {
    let mut statements: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut add = |role: &str, doc: &Value| {
        let list = match &doc["Statement"] {
            Value::Array(list) => list.clone(),
            one => vec![one.clone()],
        };
        statements.entry(role.to_owned()).or_default().extend(list);
    };
    for inline in of_type(all, "aws_iam_role_policy") {
        add(
            inline["role"].as_str().unwrap(),
            &parse_doc(&inline["policy"]),
        );
    }
    let managed: BTreeMap<&str, Value> = of_type(all, "aws_iam_policy")
        .into_iter()
        .map(|p| (p["arn"].as_str().unwrap(), parse_doc(&p["policy"])))
        .collect();
    for attachment in of_type(all, "aws_iam_role_policy_attachment") {
        let arn = attachment["policy_arn"].as_str().unwrap();
        let doc = managed
            .get(arn)
            .unwrap_or_else(|| panic!("a role has a policy not made by the module: {arn}"));
        add(attachment["role"].as_str().unwrap(), doc);
    }
    statements
        .into_iter()
        .map(|(role, list)| (role, json!({"Version": "2012-10-17", "Statement": list})))
        .collect()
}

fn claims(sub: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (AUD.to_owned(), "sts.amazonaws.com".to_owned()),
        (SUB.to_owned(), sub.to_owned()),
    ])
}

/// The calls a command made that `policy` refuses.
fn refused<'a>(calls: &'a [AwsCall], policy: &Policy) -> Vec<&'a AwsCall> {
    calls
        .iter()
        .filter(|c| !c.action.starts_with("sts:") && !policy.allows(&c.action, &c.resource))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
#[allow(clippy::too_many_lines)] // one story: apply, adopt, deploy, check, destroy
async fn the_terraform_example_applies_on_moto_and_gitops_deploys_into_exactly_it() {
    const TEST: &str = "the_terraform_example_applies_on_moto_and_gitops_deploys_into_exactly_it";
    let Some((bin, plugins)) = terraform(TEST) else {
        return;
    };
    let Some(own_moto) = OwnMoto::start(TEST).await else {
        return;
    };
    let moto = own_moto.url.clone();

    let mut stack = Stack::copy(bin, plugins);
    let module_dir = terraform_module_dir();
    // Static checks on the module as committed (fmt only reads the checkout).
    let fmt = run_terraform(
        &stack.bin,
        &module_dir,
        &["fmt", "-check", "-recursive", "-diff", "-no-color"],
        &[],
        &stack.rc(),
    )
    .await;
    assert!(
        fmt.status.success(),
        "terraform fmt -check: the module is not formatted:\n{}{}",
        String::from_utf8_lossy(&fmt.stdout),
        String::from_utf8_lossy(&fmt.stderr)
    );
    variables_are_typed_and_described(&module_dir);
    stack.init_for_moto().await;
    stack.ok(&["validate", "-no-color"]).await;

    // Apply on moto, under a name no other test uses.
    let id = ulid::Ulid::generate().to_string().to_lowercase();
    let prefix = format!("tf{}", &id[id.len() - 8..]);
    stack.vars = vec![
        format!("moto_endpoint={moto}"),
        format!("name_prefix={prefix}"),
        format!("github_org={ORG}"),
        format!("gitops_repository={GITOPS_REPO}"),
        "storage_prefix=assets".to_owned(),
        "deletion_protection=false".to_owned(),
        "force_destroy=true".to_owned(),
        "wait_for_deployment=false".to_owned(),
    ];
    stack.applied = true;
    stack
        .ok(&["apply", "-auto-approve", "-input=false", "-no-color"])
        .await;
    let outputs = stack.ok(&["output", "-json", "-no-color"]).await;
    let state: Value =
        serde_json::from_str(&stack.ok(&["show", "-json", "-no-color"]).await).unwrap();
    let gitops_out = &serde_json::from_str::<Value>(&outputs).unwrap()["gitops"]["value"];
    let mut all = Vec::new();
    resources(&state["values"]["root_module"], &mut all);

    // The GitOps repository, adopted from the outputs in one command.
    let repo = tempfile::tempdir().unwrap();
    let r = repo.path();
    let outputs_file = stack.dir.path().join("tf-outputs.json");
    std::fs::write(&outputs_file, &outputs).unwrap();
    let init = ok(
        "gitops init --from-terraform",
        &std::process::Command::new(crate::gitops_bin())
            .args(["init", r.to_str().unwrap(), "--action", ACTION])
            .arg("--from-terraform")
            .arg(&outputs_file)
            .output()
            .unwrap(),
    );
    let dev = &gitops_out["environments"][0];
    let dev_role = dev["role_arn"].as_str().unwrap();
    assert!(
        init.contains(&format!("environment dev: AWS_ROLE_ARN={dev_role}")),
        "{init}"
    );
    let checkout = gitops_out["mfes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "checkout")
        .expect("the example has the checkout MFE");
    assert!(
        init.contains(&format!(
            "MFE_ARTIFACT_READ_ROLE_ARN={}",
            checkout["artifact_read_role_arn"].as_str().unwrap()
        )),
        "{init}"
    );
    let config = std::fs::read_to_string(r.join("gitops.yaml")).unwrap();
    for key in ["storage", "registry", "cdn"] {
        let value = dev[key].as_str().unwrap();
        assert!(
            config.contains(value),
            "gitops.yaml lacks {value}:\n{config}"
        );
    }
    assert!(
        dev["storage"].as_str().unwrap().ends_with("/assets"),
        "{dev}"
    );
    // The MFEs as the outputs describe them.
    for mfe in gitops_out["mfes"].as_array().unwrap() {
        let name = mfe["name"].as_str().unwrap();
        let envs = if name == "checkout" {
            "[dev, staging, prod]"
        } else {
            "[dev, staging]"
        };
        write(
            r,
            &format!("mfes/{name}.yaml"),
            &format!(
                "name: {name}\nrepository: {}\nartifact: {}\nenvironments: {envs}\nentry_points: [remoteEntry.js]\nowners: [\"@acme/{name}\"]\n",
                mfe["repository"].as_str().unwrap(),
                mfe["artifact"].as_str().unwrap()
            ),
        );
    }
    write(
        r,
        "deployments/dev/checkout.json",
        &format!(
            r#"{{
  "mfe": "checkout",
  "environment": "dev",
  "version": "1.5.0",
  "sha": "{SHA}",
  "ref": "refs/heads/main",
  "repository": "acme/checkout-mfe",
  "requested_by": "octocat",
  "requested_at": "2026-11-26T09:30:00Z",
  "request_id": "01JDQ8Z6X8N7W4K2M5R3T9V1YB",
  "rollback": false,
  "cache_invalidation_keys": [],
  "sequence": 1
}}
"#
        ),
    );
    for args in [
        &["init", "-q", "-b", "main", "."][..],
        &["add", "-A"],
        &["commit", "-qm", "adopted from terraform"],
    ] {
        git(r, args);
    }
    ok(
        "gitops check",
        &std::process::Command::new(crate::gitops_bin())
            .args(["check", "--repo", r.to_str().unwrap()])
            .output()
            .unwrap(),
    );

    // moto applies the artifacts bucket's TLS-only Deny to every request (it ignores the
    // `aws:SecureTransport` condition) and it only speaks HTTP here: lift it for the test. Its
    // statement is still checked above and below like every other.
    let artifacts_bucket = template_bucket(checkout["artifact"].as_str().unwrap());
    crate::moto::s3(&moto)
        .delete_bucket_policy()
        .bucket(artifacts_bucket)
        .send()
        .await
        .unwrap();
    let proxy = RecordingProxy::start(&moto).await;
    let roles: BTreeMap<String, String> = of_type(&all, "aws_iam_role")
        .into_iter()
        .map(|role| {
            (
                role["arn"].as_str().unwrap().to_owned(),
                role["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let policies = role_policies(&all);
    let policy_of = |arn: &str| -> Policy {
        let name = &roles[arn];
        Policy::parse(&policies[name]).unwrap()
    };

    // The MFE side publishes with its publish role: every call allowed by it.
    let dist = tempfile::tempdir().unwrap();
    write(dist.path(), "remoteEntry.js", "// checkout 1.5.0\n");
    write(dist.path(), "assets/main.3f2a9c1b.js", "console.log(1)\n");
    let template = checkout["artifact"].as_str().unwrap();
    ok(
        "mfe publish",
        &aws_command(
            crate::mfe_bin(),
            proxy.url(),
            dist.path(),
            &[
                "publish",
                "--dist",
                ".",
                "--mfe",
                "checkout",
                "--version",
                "1.5.0",
                "--to",
                template,
                "--sha",
                SHA,
                "--repository",
                "acme/checkout-mfe",
                "--ref",
                "refs/heads/main",
            ],
        ),
    );
    let published = proxy.calls();
    assert!(
        published.iter().any(|c| c.action == "s3:PutObject"),
        "{published:#?}"
    );
    let publish_policy = policy_of(checkout["publish_role_arn"].as_str().unwrap());
    assert_eq!(
        refused(&published, &publish_policy),
        Vec::<&AwsCall>::new(),
        "mfe publish calls what the publish role does not allow"
    );
    proxy.clear();

    // The GitOps side: bootstrap --check, deploy, status, drift into exactly what was applied.
    let rs = r.to_str().unwrap();
    let gitops = |args: &[&str]| aws_command(crate::gitops_bin(), proxy.url(), r, args);
    let checked = ok(
        "gitops bootstrap --check",
        &gitops(&["bootstrap", "--check", "--repo", rs]),
    );
    assert!(checked.contains("all 9 target(s) exist"), "{checked}");
    // Each environment's check calls only what its own deploy role allows.
    for env in gitops_out["environments"].as_array().unwrap() {
        proxy.clear();
        let name = env["name"].as_str().unwrap();
        ok(
            "gitops bootstrap --check --env",
            &gitops(&["bootstrap", "--check", "--repo", rs, "--env", name]),
        );
        let calls = proxy.calls();
        assert_eq!(
            calls.len(),
            3,
            "HeadBucket, DescribeTable, GetDistribution: {calls:#?}"
        );
        assert_eq!(
            refused(&calls, &policy_of(env["role_arn"].as_str().unwrap())),
            Vec::<&AwsCall>::new(),
            "gitops bootstrap --check calls what the {name} deploy role does not allow"
        );
    }
    proxy.clear();
    ok(
        "gitops bootstrap --check --env dev",
        &gitops(&["bootstrap", "--check", "--repo", rs, "--env", "dev"]),
    );
    let deployed = ok(
        "gitops deploy",
        &gitops(&["deploy", "--repo", rs, "--env", "dev", "--format", "json"]),
    );
    let report: Value = serde_json::from_str(&deployed).unwrap();
    assert_eq!(report["pairs"][0]["outcome"], "deployed", "{report}");
    ok(
        "gitops status",
        &gitops(&["status", "--repo", rs, "--env", "dev"]),
    );
    let drift = ok(
        "gitops drift",
        &gitops(&["drift", "--repo", rs, "--env", "dev"]),
    );
    assert!(drift.contains("no drift"), "{drift}");
    let calls = proxy.calls();
    for needed in [
        "s3:PutObject",
        "s3:ListBucket",
        "dynamodb:PutItem",
        "dynamodb:DescribeTable",
        "cloudfront:CreateInvalidation",
        "cloudfront:GetDistribution",
    ] {
        assert!(
            calls.iter().any(|c| c.action == needed),
            "the run made no {needed} call (is the proxy in the way?): {calls:#?}"
        );
    }
    let dev_policy = policy_of(dev_role);
    assert_eq!(
        refused(&calls, &dev_policy),
        Vec::<&AwsCall>::new(),
        "gitops calls what the dev deploy role does not allow"
    );
    let account = dev_role
        .split(':')
        .nth(4)
        .expect("a role ARN names its account");

    // gitops iam-policy prints exactly what the module grants, per environment; the calls are
    // allowed by it too.
    for env in gitops_out["environments"].as_array().unwrap() {
        let name = env["name"].as_str().unwrap();
        let printed = ok(
            "gitops iam-policy",
            &std::process::Command::new(crate::gitops_bin())
                .args(["iam-policy", "--repo", rs, "--env", name])
                .args(["--account", account, "--region", "us-east-1"])
                .output()
                .unwrap(),
        );
        let printed: Value = serde_json::from_str(&printed).unwrap();
        assert_eq!(
            wildcard_findings(&printed),
            Vec::<String>::new(),
            "{printed}"
        );
        let printed = Policy::parse(&printed).unwrap();
        let granted = policy_of(env["role_arn"].as_str().unwrap());
        assert_eq!(
            printed.grants(),
            granted.grants(),
            "gitops iam-policy --env {name} differs from the {name} deploy role's policy"
        );
        if name == "dev" {
            assert_eq!(refused(&calls, &printed), Vec::<&AwsCall>::new());
        }
    }

    // No policy of the module grants a wildcard action or resource.
    for (role, doc) in &policies {
        assert_eq!(
            wildcard_findings(doc),
            Vec::<String>::new(),
            "role {role}: {doc}"
        );
    }
    // No bucket is public: every bucket blocks public access, and no bucket policy allows
    // anyone but CloudFront.
    let buckets: BTreeSet<&str> = of_type(&all, "aws_s3_bucket")
        .into_iter()
        .map(|b| b["bucket"].as_str().unwrap())
        .collect();
    let blocked: BTreeSet<&str> = of_type(&all, "aws_s3_bucket_public_access_block")
        .into_iter()
        .filter(|b| {
            [
                "block_public_acls",
                "block_public_policy",
                "ignore_public_acls",
                "restrict_public_buckets",
            ]
            .iter()
            .all(|k| b[*k] == true)
        })
        .map(|b| b["bucket"].as_str().unwrap())
        .collect();
    assert_eq!(buckets, blocked, "every bucket blocks all public access");
    // Every bucket expires noncurrent versions (what `gitops prune` deletes stops being billed).
    let expiring: BTreeSet<&str> = of_type(&all, "aws_s3_bucket_lifecycle_configuration")
        .into_iter()
        .filter(|l| {
            l["rule"].as_array().is_some_and(|rules| {
                rules.iter().any(|r| {
                    r["status"] == "Enabled"
                        && r["noncurrent_version_expiration"][0]["noncurrent_days"] == 30
                })
            })
        })
        .map(|l| l["bucket"].as_str().unwrap())
        .collect();
    assert_eq!(
        buckets, expiring,
        "every bucket expires noncurrent versions"
    );
    for policy in of_type(&all, "aws_s3_bucket_policy") {
        let doc = parse_doc(&policy["policy"]);
        for statement in doc["Statement"].as_array().unwrap() {
            if statement["Effect"] == "Allow" {
                assert_eq!(
                    statement["Principal"],
                    json!({"Service": "cloudfront.amazonaws.com"}),
                    "a bucket policy allows someone else: {doc}"
                );
                assert!(
                    statement["Condition"]["StringEquals"]["AWS:SourceArn"].is_string(),
                    "CloudFront's access is bound to the distribution: {doc}"
                );
                // The CDN serves versions, aliases and the import map, never the rest of the
                // storage root (the stage events under metrics/).
                let resources: Vec<&str> = match &statement["Resource"] {
                    Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
                    one => one.as_str().into_iter().collect(),
                };
                assert!(
                    !resources.is_empty()
                        && resources
                            .iter()
                            .all(|r| r.ends_with("/mfe/*") || r.ends_with("/importmap.json")),
                    "CloudFront may read more than mfe/ and importmap.json: {doc}"
                );
            }
        }
    }

    // The trust policies admit exactly the GitHub subjects they are for.
    let provider = of_type(&all, "aws_iam_openid_connect_provider")
        .first()
        .map(|p| p["arn"].as_str().unwrap().to_owned())
        .expect("the example creates GitHub's OIDC provider");
    let trust_of = |arn: &str| -> TrustPolicy {
        let role = of_type(&all, "aws_iam_role")
            .into_iter()
            .find(|r| r["arn"] == arn)
            .unwrap();
        TrustPolicy::parse(&parse_doc(&role["assume_role_policy"])).unwrap()
    };
    let assume = "sts:AssumeRoleWithWebIdentity";
    let gitops_sub = |env: &str| format!("repo:{ORG}/{GITOPS_REPO}:environment:{env}");
    for env in gitops_out["environments"].as_array().unwrap() {
        let name = env["name"].as_str().unwrap();
        let trust = trust_of(env["role_arn"].as_str().unwrap());
        assert!(
            trust.admits(&provider, assume, &claims(&gitops_sub(name))),
            "{name}"
        );
        let other_env = if name == "dev" { "prod" } else { "dev" };
        for sub in [
            gitops_sub(other_env),
            format!("repo:{ORG}/other-repo:environment:{name}"),
            format!("repo:{ORG}/{GITOPS_REPO}-fork:environment:{name}"),
            format!("repo:evil/{GITOPS_REPO}:environment:{name}"),
            format!("repo:{ORG}/{GITOPS_REPO}:ref:refs/heads/main"),
            format!("repo:{ORG}/{GITOPS_REPO}:pull_request"),
            format!("repo:{ORG}/{GITOPS_REPO}:environment:{name}-x"),
        ] {
            assert!(
                !trust.admits(&provider, assume, &claims(&sub)),
                "the {name} deploy role admits {sub}"
            );
        }
        let mut wrong_audience = claims(&gitops_sub(name));
        wrong_audience.insert(AUD.to_owned(), "https://example.com".to_owned());
        assert!(!trust.admits(&provider, assume, &wrong_audience));
        assert!(!trust.admits(
            "arn:aws:iam::123456789012:oidc-provider/evil.example.com",
            assume,
            &claims(&gitops_sub(name))
        ));
    }
    for mfe in gitops_out["mfes"].as_array().unwrap() {
        let repo = mfe["repository"].as_str().unwrap();
        let publish = trust_of(mfe["publish_role_arn"].as_str().unwrap());
        let read = trust_of(mfe["artifact_read_role_arn"].as_str().unwrap());
        for sub in [
            format!("repo:{repo}:ref:refs/heads/main"),
            format!("repo:{repo}:ref:refs/tags/v1.2.3"),
        ] {
            assert!(publish.admits(&provider, assume, &claims(&sub)), "{sub}");
            assert!(!read.admits(&provider, assume, &claims(&sub)), "{sub}");
        }
        for sub in [
            format!("repo:{repo}:ref:refs/heads/feature"),
            format!("repo:{repo}:ref:refs/tags/1.2.3"),
            format!("repo:{repo}:pull_request"),
            format!("repo:{repo}:environment:dev"),
            format!("repo:{ORG}/someone-else:ref:refs/heads/main"),
            format!("repo:{repo}-fork:ref:refs/heads/main"),
        ] {
            assert!(
                !publish.admits(&provider, assume, &claims(&sub)),
                "the publish role of {repo} admits {sub}"
            );
        }
        assert!(read.admits(
            &provider,
            assume,
            &claims(&format!("repo:{repo}:environment:dev"))
        ));
        let prod = format!("repo:{repo}:environment:prod");
        // checkout deploys to prod; search does not.
        assert_eq!(
            read.admits(&provider, assume, &claims(&prod)),
            mfe["name"] == "checkout",
            "{repo}: {prod}"
        );
        assert!(!read.admits(
            &provider,
            assume,
            &claims(&format!("repo:{ORG}/someone-else:environment:dev"))
        ));
    }

    // Destroy leaves nothing behind.
    stack
        .ok(&["destroy", "-auto-approve", "-input=false", "-no-color"])
        .await;
    stack.applied = false;
}

/// The bucket of an `s3://bucket/key` template.
fn template_bucket(template: &str) -> &str {
    let rest = template.strip_prefix("s3://").unwrap();
    rest.split_once('/').map_or(rest, |(bucket, _)| bucket)
}

/// Every `variable` block of every module has a `type` and a `description`.
fn variables_are_typed_and_described(root: &Path) {
    let mut files = Vec::new();
    crate::collect_files(root, root, &mut files);
    let mut checked = 0;
    for (path, text) in files.iter().filter(|(p, _)| p.ends_with(".tf")) {
        let mut rest = text.as_str();
        while let Some(at) = rest
            .find("\nvariable \"")
            .or_else(|| rest.strip_prefix("variable \"").map(|_| 0))
        {
            let block = &rest[at..];
            let name: String = block
                .trim_start_matches('\n')
                .trim_start_matches("variable \"")
                .chars()
                .take_while(|c| *c != '"')
                .collect();
            let body = block_body(block);
            assert!(
                body.lines().any(|l| l.trim_start().starts_with("type ")),
                "{path}: variable {name} has no type"
            );
            assert!(
                body.lines()
                    .any(|l| l.trim_start().starts_with("description ")),
                "{path}: variable {name} has no description"
            );
            checked += 1;
            rest = &block[1 + body.len().min(block.len() - 1)..];
        }
    }
    assert!(
        checked >= 20,
        "only {checked} variables found: is the scan broken?"
    );
}

/// The text of a block from its first `{` to the matching `}` (top-level lines only matter).
fn block_body(block: &str) -> &str {
    let open = block.find('{').unwrap();
    let mut depth = 0;
    for (i, c) in block[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &block[..=open + i];
                }
            }
            _ => {}
        }
    }
    block
}
