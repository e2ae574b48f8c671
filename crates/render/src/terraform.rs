//! `gitops init --from-terraform FILE`: the hosting infrastructure's Terraform outputs (the
//! `gitops` output of `deploy/terraform/examples/complete`, read from `terraform output -json`)
//! become `gitops.yaml`'s environments and the list of GitHub variables to set.
//!
//! Every value is checked before it reaches a template: the scheme each target needs, the
//! characters AWS allows in it, and never a GitHub expression or a control character.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::Path;

use gitops_event_model::{MfeName, RepositoryName};
use serde::Deserialize;

use crate::{Error, Result};

/// The most `gitops init --from-terraform` reads of its file.
pub const MAX_TERRAFORM_OUTPUT_BYTES: u64 = 1 << 20;

/// The Terraform module's `gitops` output.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TerraformTargets {
    /// The AWS region of the tables and buckets.
    pub region: String,
    /// The environments, in promotion order.
    pub environments: Vec<TerraformEnvironment>,
    /// The MFEs whose publish and artifact-reader roles the module made.
    #[serde(default)]
    pub mfes: Vec<TerraformMfe>,
}

/// One environment's targets and deploy role.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TerraformEnvironment {
    /// The environment (and GitHub environment) name.
    pub name: String,
    /// `s3://bucket[/prefix]`.
    pub storage: String,
    /// `dynamodb://table`.
    pub registry: String,
    /// `cloudfront://DISTRIBUTION_ID`.
    pub cdn: String,
    /// `https://...`, the distribution's (or custom) domain.
    pub public_url: String,
    /// The deploy role the environment's jobs assume by OIDC.
    pub role_arn: String,
}

/// One MFE repository's roles and artifact location.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TerraformMfe {
    /// The MFE.
    pub name: String,
    /// Its repository, `owner/name`.
    pub repository: String,
    /// The `artifact:` template for `mfes/<name>.yaml`.
    pub artifact: String,
    /// The role its CI publish job assumes (default branch and `v*` tags).
    pub publish_role_arn: String,
    /// The role its CD jobs assume to read what was published.
    pub artifact_read_role_arn: String,
}

impl TerraformTargets {
    /// Reads and checks `path`: the whole `terraform output -json` (its `gitops` output is
    /// used) or `terraform output -json gitops` (the value alone). At most
    /// [`MAX_TERRAFORM_OUTPUT_BYTES`].
    ///
    /// # Errors
    /// [`Error::Io`] when unreadable, [`Error::Invalid`] naming the field otherwise.
    // Blocking by design, like `write_files`: command-line use, no async runtime.
    #[allow(clippy::disallowed_methods)]
    pub fn read(path: &Path) -> Result<Self> {
        let io = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        // A FIFO or a device would block or never end: regular files only.
        if !std::fs::metadata(path).map_err(io)?.is_file() {
            return Err(Error::invalid(
                "terraform output",
                format!("{} is not a regular file", path.display()),
            ));
        }
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .map_err(io)?
            .take(MAX_TERRAFORM_OUTPUT_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > MAX_TERRAFORM_OUTPUT_BYTES {
            return Err(Error::invalid(
                "terraform output",
                format!(
                    "{} is larger than {MAX_TERRAFORM_OUTPUT_BYTES} bytes",
                    path.display()
                ),
            ));
        }
        Self::parse(&bytes)
    }

    /// Parses and checks the JSON of `terraform output -json` (see [`TerraformTargets::read`]).
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the field.
    pub fn parse(json: &[u8]) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_slice(json)
            .map_err(|e| Error::invalid("terraform output", format!("not JSON: {e}")))?;
        // `terraform output -json`: {"gitops": {"value": {...}, "type": ..., "sensitive": ...}}.
        let value = match value.get("gitops") {
            Some(output) => output.get("value").cloned().ok_or_else(|| {
                Error::invalid("terraform output", "the `gitops` output has no `value`")
            })?,
            None if value.get("environments").is_some() => value,
            None => {
                return Err(Error::invalid(
                    "terraform output",
                    "no `gitops` output: pass the JSON of `terraform output -json` of a root module \
                     that uses deploy/terraform (its `gitops` output)",
                ));
            }
        };
        let targets: TerraformTargets = serde_json::from_value(value)
            .map_err(|e| Error::invalid("terraform output", format!("the `gitops` output: {e}")))?;
        targets.check()?;
        Ok(targets)
    }

    fn check(&self) -> Result<()> {
        check_region(&self.region)?;
        let names: Vec<String> = self.environments.iter().map(|e| e.name.clone()).collect();
        crate::options::check_environments(&names)?;
        for env in &self.environments {
            check_target("storage", &env.storage, "s3://", |b| {
                b.is_ascii_alphanumeric() || b"-._/".contains(&b)
            })?;
            check_target("registry", &env.registry, "dynamodb://", |b| {
                b.is_ascii_alphanumeric() || b"-._".contains(&b)
            })?;
            check_target("cdn", &env.cdn, "cloudfront://", |b| {
                b.is_ascii_uppercase() || b.is_ascii_digit()
            })?;
            check_target("public_url", &env.public_url, "https://", |b| {
                b.is_ascii_alphanumeric() || b"-._/:".contains(&b)
            })?;
            check_role("role_arn", &env.role_arn)?;
        }
        for mfe in &self.mfes {
            MfeName::parse(&mfe.name)
                .map_err(|e| Error::invalid("mfes.name", format!("`{}`: {e}", mfe.name)))?;
            RepositoryName::parse(&mfe.repository).map_err(|e| {
                Error::invalid("mfes.repository", format!("`{}`: {e}", mfe.repository))
            })?;
            check_target("mfes.artifact", &mfe.artifact, "s3://", |b| {
                b.is_ascii_alphanumeric() || b"-._/{}".contains(&b)
            })?;
            check_role("mfes.publish_role_arn", &mfe.publish_role_arn)?;
            check_role("mfes.artifact_read_role_arn", &mfe.artifact_read_role_arn)?;
        }
        Ok(())
    }

    /// The environment names, in promotion order.
    pub fn environment_names(&self) -> Vec<String> {
        self.environments.iter().map(|e| e.name.clone()).collect()
    }

    /// What to set on GitHub for these targets: the variables of each GitHub environment of the
    /// GitOps repository, its repository variable, and each MFE repository's.
    pub fn variables(&self) -> String {
        let mut out = String::from(
            "set these GitHub variables (Settings > Secrets and variables > Actions):\n",
        );
        let _ = writeln!(out, "  GitOps repository: AWS_REGION={}", self.region);
        for env in &self.environments {
            let _ = writeln!(
                out,
                "  GitOps repository, environment {}: AWS_ROLE_ARN={}",
                env.name, env.role_arn
            );
        }
        for mfe in &self.mfes {
            let _ = writeln!(
                out,
                "  {}: AWS_REGION={} MFE_PUBLISH_ROLE_ARN={} MFE_ARTIFACT_READ_ROLE_ARN={}",
                mfe.repository, self.region, mfe.publish_role_arn, mfe.artifact_read_role_arn
            );
            let _ = writeln!(
                out,
                "    mfes/{}.yaml: artifact: {}  (and `mfe render --artifact-url` the same)",
                mfe.name, mfe.artifact
            );
        }
        out
    }
}

fn check_region(region: &str) -> Result<()> {
    let ok = (1..=32).contains(&region.len())
        && region.contains('-')
        && region
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "region",
            format!(
                "`{}` is not an AWS region (like us-east-1)",
                region.escape_debug()
            ),
        ))
    }
}

/// `value` is `scheme` followed by 1 to 1024 bytes that `allowed` accepts.
fn check_target(
    field: &'static str,
    value: &str,
    scheme: &str,
    allowed: impl Fn(u8) -> bool,
) -> Result<()> {
    let rest = value.strip_prefix(scheme).unwrap_or("");
    let ok = (1..=1024).contains(&rest.len())
        && !rest.starts_with('/')
        && rest.bytes().all(allowed)
        && !rest.split('/').any(|seg| seg == "..");
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("`{}` is not a valid {scheme} target", value.escape_debug()),
        ))
    }
}

fn check_role(field: &'static str, arn: &str) -> Result<()> {
    let ok = arn
        .strip_prefix("arn:aws")
        .and_then(|rest| rest.split_once(":iam::"))
        .and_then(|(partition, rest)| {
            let account = rest.get(..12)?;
            let role = rest.get(12..)?.strip_prefix(":role/")?;
            (partition.bytes().all(|b| matches!(b, b'a'..=b'z' | b'-'))
                && account.bytes().all(|b| b.is_ascii_digit())
                && (1..=512).contains(&role.len())
                && role
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_/-".contains(&b)))
            .then_some(())
        })
        .is_some();
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("`{}` is not an IAM role ARN", arn.escape_debug()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output() -> serde_json::Value {
        serde_json::json!({
            "gitops": {
                "sensitive": false,
                "type": ["object", {}],
                "value": {
                    "region": "eu-west-1",
                    "environments": [
                        {"name": "dev", "storage": "s3://acme-mfe-dev", "registry": "dynamodb://mfe-registry-dev",
                         "cdn": "cloudfront://E2EXAMPLE1ABCD", "public_url": "https://d111.cloudfront.net",
                         "role_arn": "arn:aws:iam::123456789012:role/gitops-deploy-dev"},
                        {"name": "prod", "storage": "s3://acme-mfe-prod/assets", "registry": "dynamodb://mfe-registry-prod",
                         "cdn": "cloudfront://E2EXAMPLE1ABCE", "public_url": "https://cdn.example.com",
                         "role_arn": "arn:aws:iam::123456789012:role/gitops-deploy-prod"}
                    ],
                    "mfes": [
                        {"name": "checkout", "repository": "acme/checkout-mfe",
                         "artifact": "s3://acme-artifacts/artifacts/checkout/checkout-{version}.tgz",
                         "publish_role_arn": "arn:aws:iam::123456789012:role/mfe-publish-checkout",
                         "artifact_read_role_arn": "arn:aws:iam::123456789012:role/mfe-read-checkout"}
                    ]
                }
            }
        })
    }

    #[test]
    fn reads_the_whole_output_or_the_value() {
        let whole = TerraformTargets::parse(output().to_string().as_bytes()).unwrap();
        assert_eq!(whole.environment_names(), ["dev", "prod"]);
        let value = output()["gitops"]["value"].to_string();
        assert_eq!(TerraformTargets::parse(value.as_bytes()).unwrap(), whole);
        let vars = whole.variables();
        assert!(vars.contains(
            "environment prod: AWS_ROLE_ARN=arn:aws:iam::123456789012:role/gitops-deploy-prod"
        ));
        assert!(vars.contains("acme/checkout-mfe: AWS_REGION=eu-west-1 MFE_PUBLISH_ROLE_ARN="));
    }

    #[test]
    fn refuses_what_would_break_gitops_yaml_or_a_workflow() {
        let cases: [(&str, &str, serde_json::Value); 7] = [
            ("storage", "storage", "dynamodb://x".into()),
            ("storage", "storage", "s3://b\nx: 1".into()),
            ("cdn", "cdn", "cloudfront://${{ x }}".into()),
            ("registry", "registry", "dynamodb://".into()),
            (
                "public_url",
                "public_url",
                "http://insecure.example.com".into(),
            ),
            ("role_arn", "role_arn", "arn:aws:iam::12:role/x".into()),
            ("environment", "name", "bad name".into()),
        ];
        for (field, key, bad) in cases {
            let mut json = output();
            json["gitops"]["value"]["environments"][0][key] = bad.clone();
            let err = TerraformTargets::parse(json.to_string().as_bytes()).unwrap_err();
            assert!(
                matches!(&err, Error::Invalid { field: f, .. } if *f == field),
                "{key}={bad}: {err}"
            );
        }
        let mut json = output();
        json["gitops"]["value"]["region"] = "Mars 1".into();
        assert!(TerraformTargets::parse(json.to_string().as_bytes()).is_err());
        let err = TerraformTargets::parse(br#"{"other": {"value": 1}}"#).unwrap_err();
        assert!(err.to_string().contains("no `gitops` output"), "{err}");
        assert!(TerraformTargets::parse(b"not json").is_err());
    }
}
