//! The least IAM policy an environment's deploy role needs (`gitops iam-policy`), built from the
//! lists of calls the adapters make (`gitops_artifact_store::IAM_*`,
//! `gitops_db_registry::IAM_ACTIONS`, `gitops_cdn::IAM_ACTIONS`): one source of truth. It grants
//! what `gitops deploy`, `gitops bootstrap --check`, `gitops status`, `gitops drift` and
//! `gitops prune` call on the environment's bucket, table and distribution, plus reading the
//! artifacts of the MFEs that deploy there; nothing is granted on `*`, and no action is a
//! wildcard. Deleting is granted only under the storage root's `mfe/` (the version prefixes
//! `gitops prune` removes), never on the import map or `metrics/`.
//!
//! Pure: the document depends on the configuration, the account and the region only.

use std::collections::BTreeSet;

use gitops_iac_config::{CdnTarget, Environment, RegistryTarget, Repository, StorageTarget};
use serde::Serialize;

/// An IAM policy document (`Version` 2012-10-17), as IAM and Terraform read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyDocument {
    /// Always `2012-10-17`.
    pub version: &'static str,
    /// The statements, each an `Allow`.
    pub statement: Vec<Statement>,
}

/// One `Allow` statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    /// What it is for: `Storage`, `StoragePrune`, `StorageBucket`, `Artifacts`,
    /// `ArtifactsBucket`, `Registry`, `Cdn`.
    pub sid: &'static str,
    /// Always `Allow`.
    pub effect: &'static str,
    /// The actions, sorted.
    pub action: Vec<&'static str>,
    /// The resources (ARNs), sorted.
    pub resource: Vec<String>,
}

/// The AWS account and region the ARNs name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsScope {
    /// The 12-digit account id (DynamoDB and CloudFront ARNs name it).
    pub account: Option<String>,
    /// The region of the registry tables.
    pub region: Option<String>,
}

/// Why no policy can be printed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The environment runs on the embedded backends: no AWS call, no policy.
    #[error(
        "environment `{0}` uses no AWS target (its storage, registry and cdn are embedded): it needs no IAM policy"
    )]
    NoAwsTargets(String),
    /// An ARN needs the account or region, which was not given or is malformed.
    #[error("{0}")]
    Scope(String),
    /// An MFE's artifact location cannot be named in a policy without widening it.
    #[error("mfes/{mfe}.yaml: artifact: {reason}")]
    Artifact {
        /// The MFE.
        mfe: String,
        /// Why.
        reason: String,
    },
}

impl AwsScope {
    /// `account` and `region` as given, the region defaulting to `AWS_REGION`, else
    /// `AWS_DEFAULT_REGION`.
    pub fn from_env(account: Option<String>, region: Option<String>) -> Self {
        let region = region.or_else(|| {
            ["AWS_REGION", "AWS_DEFAULT_REGION"]
                .into_iter()
                .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        });
        AwsScope { account, region }
    }

    fn account(&self, why: &str) -> Result<&str, PolicyError> {
        let account = self.account.as_deref().ok_or_else(|| {
            PolicyError::Scope(format!(
                "the {why} ARN names the AWS account: pass --account ID (or set AWS_ACCOUNT_ID)"
            ))
        })?;
        if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) {
            Ok(account)
        } else {
            Err(PolicyError::Scope(format!(
                "AWS account id `{}` is not 12 digits",
                account.escape_debug()
            )))
        }
    }

    fn region(&self) -> Result<&str, PolicyError> {
        let region = self.region.as_deref().ok_or_else(|| {
            PolicyError::Scope(
                "the DynamoDB table ARN names the region: pass --region (or set AWS_REGION)"
                    .to_owned(),
            )
        })?;
        let valid = !region.is_empty()
            && region.len() <= 32
            && region
                .bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
            && region.contains('-');
        if valid {
            Ok(region)
        } else {
            Err(PolicyError::Scope(format!(
                "`{}` is not an AWS region name (like us-east-1)",
                region.escape_debug()
            )))
        }
    }
}

/// The deploy role's policy for `environment` of `repository`.
///
/// # Errors
/// [`PolicyError::NoAwsTargets`] when every target is embedded; [`PolicyError::Scope`] when a
/// DynamoDB or CloudFront target needs an account or region that `scope` lacks.
pub fn deploy_policy(
    repository: &Repository,
    environment: &Environment,
    scope: &AwsScope,
) -> Result<PolicyDocument, PolicyError> {
    let mut statements = Vec::new();
    if let StorageTarget::S3 { location } = &environment.storage {
        let (bucket, prefix) = split_location(location);
        statements.push(allow(
            "Storage",
            gitops_artifact_store::IAM_STORAGE_ACTIONS,
            [objects_arn(bucket, prefix)],
        ));
        statements.push(allow(
            "StoragePrune",
            gitops_artifact_store::IAM_PRUNE_ACTIONS,
            [objects_arn(bucket, &join_prefix(prefix, "mfe"))],
        ));
        statements.push(allow(
            "StorageBucket",
            gitops_artifact_store::IAM_BUCKET_ACTIONS,
            [bucket_arn(bucket)],
        ));
    }
    let mut artifacts = BTreeSet::new();
    let mut artifact_buckets = BTreeSet::new();
    for mfe in repository.mfes.values() {
        if !mfe.environments.contains(&environment.name) {
            continue;
        }
        let artifact = artifact_directory(&mfe.artifact, mfe.name.as_str()).map_err(|reason| {
            PolicyError::Artifact {
                mfe: mfe.name.to_string(),
                reason,
            }
        })?;
        if let Some((bucket, dir)) = artifact {
            artifacts.insert(objects_arn(&bucket, &dir));
            artifact_buckets.insert(bucket_arn(&bucket));
        }
    }
    if !artifacts.is_empty() {
        statements.push(allow(
            "Artifacts",
            gitops_artifact_store::IAM_ARTIFACT_ACTIONS,
            artifacts,
        ));
        statements.push(allow(
            "ArtifactsBucket",
            gitops_artifact_store::IAM_BUCKET_ACTIONS,
            artifact_buckets,
        ));
    }
    if let RegistryTarget::DynamoDb { table } = &environment.registry {
        let arn = format!(
            "arn:aws:dynamodb:{}:{}:table/{table}",
            scope.region()?,
            scope.account("DynamoDB table")?
        );
        statements.push(allow("Registry", gitops_db_registry::IAM_ACTIONS, [arn]));
    }
    if let CdnTarget::CloudFront { distribution_id } = &environment.cdn {
        let arn = format!(
            "arn:aws:cloudfront::{}:distribution/{distribution_id}",
            scope.account("CloudFront distribution")?
        );
        statements.push(allow("Cdn", gitops_cdn::IAM_ACTIONS, [arn]));
    }
    let has_aws_target = !matches!(
        (
            &environment.storage,
            &environment.registry,
            &environment.cdn
        ),
        (
            StorageTarget::Local(_),
            RegistryTarget::Sqlite(_),
            CdnTarget::LocalLog(_)
        )
    );
    if !has_aws_target {
        return Err(PolicyError::NoAwsTargets(environment.name.to_string()));
    }
    Ok(PolicyDocument {
        version: "2012-10-17",
        statement: statements,
    })
}

fn allow(
    sid: &'static str,
    actions: &[&'static str],
    resources: impl IntoIterator<Item = String>,
) -> Statement {
    let mut action = actions.to_vec();
    action.sort_unstable();
    action.dedup();
    let mut resource: Vec<String> = resources.into_iter().collect();
    resource.sort();
    resource.dedup();
    Statement {
        sid,
        effect: "Allow",
        action,
        resource,
    }
}

/// `bucket[/prefix]` split at the first `/`; the prefix without surrounding slashes.
fn split_location(location: &str) -> (&str, &str) {
    match location.split_once('/') {
        Some((bucket, prefix)) => (bucket, prefix.trim_matches('/')),
        None => (location, ""),
    }
}

fn bucket_arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}

/// `prefix/dir`, or `dir` when `prefix` is empty.
fn join_prefix(prefix: &str, dir: &str) -> String {
    if prefix.is_empty() {
        dir.to_owned()
    } else {
        format!("{prefix}/{dir}")
    }
}

/// The objects under `prefix` (every object of the bucket when it is empty).
fn objects_arn(bucket: &str, prefix: &str) -> String {
    if prefix.is_empty() {
        format!("arn:aws:s3:::{bucket}/*")
    } else {
        format!("arn:aws:s3:::{bucket}/{prefix}/*")
    }
}

/// The bucket and the directory of an `s3://` artifact template of MFE `name` (`{name}`
/// expanded): the key up to the last `/` before `{version}` (the archive and its sidecars live
/// there). `None` for other schemes; an error when the bucket is not a bucket name or the
/// directory holds anything but letters, digits, `-`, `_`, `.` and `/` (a wildcard would widen
/// the policy).
fn artifact_directory(template: &str, name: &str) -> Result<Option<(String, String)>, String> {
    let Some(rest) = template.strip_prefix("s3://") else {
        return Ok(None);
    };
    let rest = rest.replace("{name}", name);
    let (bucket, key) = rest.split_once('/').unwrap_or((&rest, ""));
    gitops_iac_config::check_bucket(bucket)?;
    let fixed = &key[..key.find('{').unwrap_or(key.len())];
    let dir = fixed
        .rfind('/')
        .map_or("", |at| &fixed[..at])
        .trim_matches('/');
    let plain = dir.split('/').all(|c| {
        c != ".."
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    });
    if !plain {
        return Err("the directory of an s3:// artifact must be letters, digits, `-`, `_`, `.` and `/` (no wildcard), so that a policy can name it".to_owned());
    }
    Ok(Some((bucket.to_owned(), dir.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_directories() {
        let dir = |t: &str| artifact_directory(t, "cart");
        let some = |b: &str, d: &str| Ok(Some((b.to_owned(), d.to_owned())));
        assert_eq!(
            dir("s3://art/artifacts/checkout/checkout-{version}.tgz"),
            some("art", "artifacts/checkout")
        );
        assert_eq!(dir("s3://art/{name}/{version}.tgz"), some("art", "cart"));
        assert_eq!(
            dir("s3://art/artifacts/{name}/{name}-{version}.tgz"),
            some("art", "artifacts/cart")
        );
        assert_eq!(dir("s3://{name}-art/x-{version}.tgz"), some("cart-art", ""));
        assert_eq!(dir("s3://art/{version}/x.tgz"), some("art", ""));
        assert_eq!(dir("https://x/a/{version}.tgz"), Ok(None));
        assert_eq!(dir("local/artifacts/a.tgz"), Ok(None));
        for wide in [
            "s3://a*/x-{version}.tgz",
            "s3://art/a*/x-{version}.tgz",
            "s3://art/a?/x-{version}.tgz",
            "s3://art/../x-{version}.tgz",
            "s3://{version}/x.tgz",
            "s3://Art/x-{version}.tgz",
        ] {
            assert!(dir(wide).is_err(), "{wide}");
        }
    }

    #[test]
    fn locations_split_at_the_bucket() {
        assert_eq!(split_location("b"), ("b", ""));
        assert_eq!(split_location("b/assets"), ("b", "assets"));
        assert_eq!(split_location("b/a/b/"), ("b", "a/b"));
        assert_eq!(objects_arn("b", ""), "arn:aws:s3:::b/*");
        assert_eq!(objects_arn("b", "a/b"), "arn:aws:s3:::b/a/b/*");
        assert_eq!(
            objects_arn("b", &join_prefix("", "mfe")),
            "arn:aws:s3:::b/mfe/*"
        );
        assert_eq!(
            objects_arn("b", &join_prefix("a/b", "mfe")),
            "arn:aws:s3:::b/a/b/mfe/*"
        );
    }

    #[test]
    fn scope_is_checked() {
        let scope = AwsScope {
            account: Some("12345".into()),
            region: Some("us-east-1".into()),
        };
        assert!(scope.account("x").is_err());
        assert_eq!(scope.region().unwrap(), "us-east-1");
        let bad = AwsScope {
            account: None,
            region: Some("US East".into()),
        };
        assert!(matches!(bad.account("x"), Err(PolicyError::Scope(m)) if m.contains("--account")));
        assert!(bad.region().is_err());
    }
}
