//! The three file formats of a GitOps repository, as Rust types (schemas are generated from them).

use std::borrow::Cow;
use std::fmt;

pub use gitops_event_model::MergeMethod;
use gitops_event_model::{
    CdnPath, CommitSha, EnvironmentName, GitRef, Login, MfeName, RepositoryName, RequestId, Version,
};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

/// `gitops.yaml`: the environments, in promotion order, and where each one lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "mfe-gitops gitops.yaml")]
pub struct GitopsConfig {
    /// Format version; must be 1.
    pub version: u32,
    /// Environments, ordered (dev -> staging -> prod).
    pub environments: Vec<Environment>,
    /// How deploy pull requests are merged on GitHub: `merge` (default), `squash` or `rebase`;
    /// it must be one the repository allows (checked before any merge).
    #[serde(default, skip_serializing_if = "is_default_merge")]
    pub merge_method: MergeMethod,
    /// `true` only for a repository that is a local test: `gitops` may then use the local git
    /// forge and embedded targets even inside GitHub Actions (act). Otherwise, under
    /// `GITHUB_ACTIONS=true`, a missing token or an embedded target is a configuration error.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub local_test: bool,
}

impl GitopsConfig {
    /// The environment called exactly `name` (names are case-sensitive).
    pub fn environment(&self, name: &EnvironmentName) -> Option<&Environment> {
        self.environments.iter().find(|e| e.name == *name)
    }

    /// The environment whose name equals `name` ignoring ASCII case (at most one: names are
    /// unique ignoring case). For hints only ("did you mean `Prod`?"): names match exactly
    /// everywhere else.
    pub fn environment_ignoring_case(&self, name: &str) -> Option<&Environment> {
        self.environments
            .iter()
            .find(|e| e.name.as_str().eq_ignore_ascii_case(name))
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes &T
fn is_default_merge(method: &MergeMethod) -> bool {
    *method == MergeMethod::default()
}

/// One environment in `gitops.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Environment name (referenced by requests, `mfes/*.yaml` and `deployments/<env>/`). Case is
    /// kept and significant (`Prod` is not `prod`), and names are unique ignoring case, so no
    /// two environments differ only by case.
    pub name: EnvironmentName,
    /// Where artifacts are stored: a directory under `local/` (embedded backend) or
    /// `s3://bucket[/prefix]`. Never nested in or around another environment's storage.
    pub storage: StorageTarget,
    /// The live-version registry: a file under `local/` (SQLite) or `dynamodb://table`. Never
    /// inside a storage directory (it would be served).
    pub registry: RegistryTarget,
    /// The CDN: a file under `local/` (local invalidation log) or
    /// `cloudfront://DISTRIBUTION_ID`. Never inside a storage directory (it would be served).
    pub cdn: CdnTarget,
    /// Public base URL the environment's files are served from (used in the import map).
    pub public_url: String,
    /// An environment, declared earlier, in which a version must already be desired before it
    /// may come here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires: Option<EnvironmentName>,
    /// `required`: a deploy PR waits for a human approval before merge.
    #[serde(default, skip_serializing_if = "Approval::is_none")]
    pub approval: Approval,
    /// Windows during which no deploy is accepted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub freeze: Vec<FreezeWindow>,
    /// `true`: an operator may override a pin with an explicit request (`gitops process
    /// --override-pin`, `gitops promote --override-pins`), which lifts it. Default `false`: a
    /// pinned pair takes only `gitops unpin` and `gitops rollback`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_pin_override: bool,
    /// `true`: requests for different MFEs share ONE pull request (`gitops-batch/<env>`) and
    /// one merge, dividing GitHub's content-creating calls by the batch's size; each pair's
    /// newest request still wins inside the batch. Default `false`: one pull request per
    /// (environment, MFE).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub batch: bool,
}

/// Whether a human must approve deploy PRs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    /// Merge after the checks pass.
    #[default]
    None,
    /// Merge only after an approving review of the exact head.
    Required,
}

impl Approval {
    #[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes &T
    fn is_none(&self) -> bool {
        *self == Approval::None
    }
}

/// A freeze window: deploys are refused from `from` (inclusive) until `until` (exclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeWindow {
    /// Start, RFC 3339.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub from: OffsetDateTime,
    /// End, RFC 3339 (exclusive).
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub until: OffsetDateTime,
    /// Why, shown to whoever is refused.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

impl FreezeWindow {
    /// Whether `at` falls inside the window.
    pub fn contains(&self, at: OffsetDateTime) -> bool {
        self.from <= at && at < self.until
    }
}

/// The repository's git-ignored state directory: embedded (local) targets live under it
/// (`local/<env>/storage`, `local/<env>/registry.db`, `local/<env>/cdn.log`).
pub const STATE_DIR: &str = "local";

/// Declares a target enum written as one string: a local path or `scheme://rest`.
macro_rules! target {
    ($(#[$doc:meta])* $name:ident, $key:literal, $scheme:literal, $remote:ident { $field:ident }, $local:ident, $what:literal, $check:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            /// The embedded backend: a lexically normal path under the repository's state
            /// directory `local/`, or an absolute path (refused when loading unless
            /// [`LoadOptions::allow_absolute_targets`](crate::LoadOptions)).
            $local(String),
            /// The cloud service.
            $remote {
                #[doc = concat!("The ", $what, ".")]
                $field: String,
            },
        }

        impl $name {
            /// Parses `value`. A local path must be lexically normal (no `.`, `..` or empty
            /// component, no backslash, no `.git` component, no control character) and either
            /// relative under `local/` or absolute. Messages never repeat the value.
            pub fn parse(value: &str) -> Result<Self, String> {
                if let Some(rest) = value.strip_prefix(concat!($scheme, "://")) {
                    if rest.is_empty() || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
                        return Err(format!(concat!("`", $scheme, "://` must be followed by a {} without whitespace"), $what));
                    }
                    $check(rest)?;
                    return Ok(Self::$remote { $field: rest.to_owned() });
                }
                check_local(value)?;
                Ok(Self::$local(value.to_owned()))
            }

            /// The local path, when this is the embedded backend.
            pub fn local_path(&self) -> Option<&str> {
                match self {
                    Self::$local(path) => Some(path),
                    Self::$remote { .. } => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    Self::$local(path) => f.write_str(path),
                    Self::$remote { $field } => write!(f, concat!($scheme, "://{}"), $field),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                // Prefixed with the key, so a problem names its field (`environments[0].storage`).
                Self::parse(&raw).map_err(|e| serde::de::Error::custom(concat!($key, ": ").to_owned() + &e))
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({"type": "string", "minLength": 1,
                    "description": concat!("a path under local/ (embedded backend; an absolute path only when the operator allows it) or ", $scheme, "://<", $what, ">")})
            }
        }
    };
}

/// The lexical rules of a local target (see [`StorageTarget::parse`]).
fn check_local(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("a target cannot be empty".to_owned());
    }
    if let Some((scheme, _)) = value.split_once("://") {
        let known = !scheme.is_empty()
            && scheme.len() <= 16
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        return Err(if known {
            format!("unsupported scheme `{scheme}://`")
        } else {
            "unsupported scheme".to_owned()
        });
    }
    if value.chars().any(char::is_control) {
        return Err("a local target cannot contain control characters".to_owned());
    }
    if value.contains('\\') {
        return Err(
            "a local target cannot contain a backslash; separate components with `/`".to_owned(),
        );
    }
    let (absolute, rest) = match value.strip_prefix('/') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    if rest.is_empty() {
        return Err("a local target cannot be the root directory `/`".to_owned());
    }
    for component in rest.split('/') {
        match component {
            "" => {
                return Err(
                    "a local target cannot have an empty component (`//` or a trailing `/`)"
                        .to_owned(),
                );
            }
            "." | ".." => {
                return Err("a local target cannot have a `.` or `..` component".to_owned());
            }
            c if c.eq_ignore_ascii_case(".git") => {
                return Err("a local target cannot lie in a `.git` directory".to_owned());
            }
            _ => {}
        }
    }
    if !absolute {
        match rest.split_once('/') {
            Some((STATE_DIR, _)) => {}
            _ => {
                return Err(format!(
                    "a relative local target must lie under the repository's git-ignored state directory `{STATE_DIR}/` (e.g. `{STATE_DIR}/dev/storage`)"
                ));
            }
        }
    }
    Ok(())
}

target!(
    /// Where an environment's files are stored.
    StorageTarget, "storage", "s3", S3 { location }, Local, "bucket[/prefix]", check_s3_location
);
target!(
    /// Where an environment's live versions are recorded.
    RegistryTarget, "registry", "dynamodb", DynamoDb { table }, Sqlite, "table", check_table
);
target!(
    /// How an environment's CDN is invalidated.
    CdnTarget, "cdn", "cloudfront", CloudFront { distribution_id }, LocalLog, "distribution id", check_distribution
);

// The names AWS allows. They reach IAM policies (`gitops iam-policy`) as ARNs, so a wildcard or
// any character outside these sets is refused here, where the file is read: a pull request
// editing gitops.yaml cannot widen a printed policy to the whole account.

/// An S3 bucket name (3 to 63 of `a-z`, `0-9`, `.`, `-`, starting and ending with a letter or
/// digit), then an optional key prefix of non-empty components of letters, digits, `-`, `_`, `.`
/// (not `.` or `..`).
fn check_s3_location(location: &str) -> Result<(), String> {
    let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
    check_bucket(bucket)?;
    let prefix = prefix.strip_suffix('/').unwrap_or(prefix);
    let component_ok = |c: &str| {
        !c.is_empty()
            && c != "."
            && c != ".."
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    if !prefix.is_empty() && !prefix.split('/').all(component_ok) {
        return Err("an S3 key prefix is `/`-separated components of letters, digits, `-`, `_` and `.` (no `.`, `..` or empty component)".to_owned());
    }
    Ok(())
}

/// An S3 bucket name: 3 to 63 of `a-z`, `0-9`, `.`, `-`, starting and ending with a letter or a
/// digit.
pub fn check_bucket(bucket: &str) -> Result<(), String> {
    let bytes = bucket.as_bytes();
    let edge = |b: Option<&u8>| b.is_some_and(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9'));
    let ok = (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-'))
        && edge(bytes.first())
        && edge(bytes.last());
    if ok {
        Ok(())
    } else {
        Err("an S3 bucket name is 3 to 63 lowercase letters, digits, `.` and `-`, starting and ending with a letter or digit".to_owned())
    }
}

fn check_table(table: &str) -> Result<(), String> {
    let ok = (3..=255).contains(&table.len())
        && table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err("a DynamoDB table name is 3 to 255 letters, digits, `-`, `_` and `.`".to_owned())
    }
}

fn check_distribution(id: &str) -> Result<(), String> {
    let ok =
        (1..=64).contains(&id.len()) && id.bytes().all(|b| matches!(b, b'A'..=b'Z' | b'0'..=b'9'));
    if ok {
        Ok(())
    } else {
        Err("a CloudFront distribution id is uppercase letters and digits".to_owned())
    }
}

/// `mfes/<name>.yaml`: one MFE, its source and where it may go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "mfe-gitops mfes/<name>.yaml")]
pub struct MfeConfig {
    /// The MFE's name; equals the file name without `.yaml`.
    pub name: MfeName,
    /// `owner/name`: the only repository that may request deploys of this MFE (compared without
    /// case, as GitHub compares repository names).
    pub repository: RepositoryName,
    /// The artifact location template: a local path, `s3://...` or `https://...`; `{version}`
    /// (and `{name}`) are substituted.
    pub artifact: String,
    /// Environments this MFE may be deployed to, each declared in `gitops.yaml` (same case).
    pub environments: Vec<EnvironmentName>,
    /// Mutable entry files (e.g. `remoteEntry.js`): short cache, aliased and invalidated on
    /// deploy.
    #[serde(default)]
    pub entry_points: Vec<String>,
    /// Owning teams or people (`@org/team`, `@user`).
    #[serde(default)]
    pub owners: Vec<String>,
    /// Bounds on this MFE's artifact, each over the deploy's default (omitted or empty: the
    /// defaults).
    #[serde(
        default,
        skip_serializing_if = "ArchiveLimits::is_empty",
        deserialize_with = "crate::limits::de_limits"
    )]
    #[schemars(with = "Option<ArchiveLimits>")]
    pub limits: ArchiveLimits,
}

/// `limits:` of an MFE file: the bounds its artifact is fetched and unpacked within, each
/// replacing the deploy's default for this MFE only (a key left out keeps the default: 2 GiB
/// archive, 4 GiB expanded, 10,000 files, ratio 200). Sizes are bytes or a whole number with a
/// binary unit (`300MiB`, `1GiB`; decimal units such as `MB` are refused); every value is at
/// least 1 and at most a ceiling taken for a typo beyond: 16 GiB, 1,000,000 files, ratio 10,000
/// (`MAX_LIMIT_BYTES`, `MAX_LIMIT_FILES`, `MAX_LIMIT_RATIO`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchiveLimits {
    /// Largest archive (the `.tgz` or `.zip` itself), in bytes.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::limits::de_bytes"
    )]
    #[schemars(with = "Option<crate::limits::SizeSchema>")]
    pub max_archive_bytes: Option<u64>,
    /// Largest total size of the files once expanded, in bytes.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::limits::de_bytes"
    )]
    #[schemars(with = "Option<crate::limits::SizeSchema>")]
    pub max_total_bytes: Option<u64>,
    /// Most regular files in the archive.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::limits::de_files"
    )]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub max_files: Option<u64>,
    /// Largest expansion ratio (expanded bytes per archive byte; checked once 1 MiB has
    /// expanded), against compression bombs.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::limits::de_ratio"
    )]
    #[schemars(range(min = 1, max = 10_000))]
    pub max_ratio: Option<u64>,
}

impl ArchiveLimits {
    /// Whether no limit is set (every one is the deploy's default).
    pub fn is_empty(&self) -> bool {
        *self == ArchiveLimits::default()
    }
}

/// `deployments/<env>/<mfe>.json`: the desired version of one MFE in one environment. Written by
/// the bot (keys always in this order) or by a person in a pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "mfe-gitops deployments/<env>/<mfe>.json")]
pub struct Deployment {
    /// MFE name; equals the file name.
    pub mfe: MfeName,
    /// Environment; equals the directory name.
    pub environment: EnvironmentName,
    /// Desired SemVer version.
    pub version: Version,
    /// Commit the version was built from (lowercased).
    pub sha: CommitSha,
    /// Git ref the version was built from.
    #[serde(rename = "ref")]
    pub git_ref: GitRef,
    /// Requesting repository, as the request wrote it.
    pub repository: RepositoryName,
    /// Requesting login.
    pub requested_by: Login,
    /// When the requester says it asked (informational: never used for a decision, so any text
    /// is kept).
    pub requested_at: String,
    /// Correlation id of the request.
    pub request_id: RequestId,
    /// Whether this is a rollback to an older version.
    #[serde(default)]
    pub rollback: bool,
    /// CDN paths the request asked to invalidate (under `/mfe/<mfe>/`), kept for the deploy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cache_invalidation_keys: Vec<CdnPath>,
    /// Set when the pair is pinned (`gitops rollback` pins by default): requests for it are
    /// refused (`pinned`) until `gitops unpin` (or an override the environment allows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned: Option<Pin>,
    /// Ignored for ordering, never written: kept so files that have it (written by earlier
    /// versions of the bot, or by hand) still load. The deploy orders desired states by git: the
    /// first-parent position on the default branch of the commit that last changed the file, so
    /// nothing written in a file can make two states collide. Omitted when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sequence: u64,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes &T
fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// A pin on a desired state: who set it, when and why. While it is there, automation's requests
/// for the pair are refused with the reason `pinned`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    /// Who pinned it (a GitHub login).
    pub by: Login,
    /// When, RFC 3339.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub at: OffsetDateTime,
    /// Why, shown to every refused requester.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

impl Pin {
    /// When it was set, as RFC 3339 text.
    pub fn since(&self) -> String {
        self.at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| self.at.to_string())
    }
}
