//! The file formats as read, before their names are parsed: the same keys as the typed model
//! ([`crate::model`]), with every name, sha and version still text.
//!
//! The loader reads these first so that it can report every problem of a file at once (an invalid
//! repository name *and* an undeclared environment), each with its field and line, then parses
//! each value with its event-model type's own `parse` and builds the typed model from the results.
//! The typed model is the only one that leaves the crate. Each conversion destructures its raw
//! struct completely and builds its typed struct with a struct literal, so a key added to one and
//! not the other does not compile.

use serde::Deserialize;

use crate::model::{Approval, CdnTarget, FreezeWindow, MergeMethod, RegistryTarget, StorageTarget};

/// `gitops.yaml` as read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGitopsConfig {
    pub(crate) version: u32,
    pub(crate) environments: Vec<RawEnvironment>,
    #[serde(default)]
    pub(crate) merge_method: MergeMethod,
    #[serde(default)]
    pub(crate) local_test: bool,
}

/// One environment as read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEnvironment {
    pub(crate) name: String,
    pub(crate) storage: StorageTarget,
    pub(crate) registry: RegistryTarget,
    pub(crate) cdn: CdnTarget,
    pub(crate) public_url: String,
    #[serde(default)]
    pub(crate) requires: Option<String>,
    #[serde(default)]
    pub(crate) approval: Approval,
    #[serde(default)]
    pub(crate) freeze: Vec<FreezeWindow>,
    #[serde(default)]
    pub(crate) allow_pin_override: bool,
    #[serde(default)]
    pub(crate) batch: bool,
}

/// `mfes/<name>.yaml` as read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMfeConfig {
    pub(crate) name: String,
    pub(crate) repository: String,
    pub(crate) artifact: String,
    pub(crate) environments: Vec<String>,
    #[serde(default)]
    pub(crate) entry_points: Vec<String>,
    #[serde(default)]
    pub(crate) owners: Vec<String>,
    #[serde(default)]
    pub(crate) limits: Option<RawArchiveLimits>,
}

/// An MFE's `limits:` as read: each value kept as written (a number, a size as text, or
/// anything else), so the loader reports every bad one with its field and line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(clippy::struct_field_names)] // the file's keys, as `gitops_artifact_store::Limits` names them
pub(crate) struct RawArchiveLimits {
    #[serde(default)]
    pub(crate) max_archive_bytes: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    pub(crate) max_total_bytes: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    pub(crate) max_files: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    pub(crate) max_ratio: Option<serde_yaml_ng::Value>,
}

/// `deployments/<env>/<mfe>.json` as read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDeployment {
    pub(crate) mfe: String,
    pub(crate) environment: String,
    pub(crate) version: String,
    pub(crate) sha: String,
    #[serde(rename = "ref")]
    pub(crate) git_ref: String,
    pub(crate) repository: String,
    pub(crate) requested_by: String,
    pub(crate) requested_at: String,
    pub(crate) request_id: String,
    #[serde(default)]
    pub(crate) rollback: bool,
    #[serde(default)]
    pub(crate) cache_invalidation_keys: Vec<String>,
    #[serde(default)]
    pub(crate) pinned: Option<RawPin>,
    #[serde(default)]
    pub(crate) sequence: u64,
}

/// A desired state's `pinned` as read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPin {
    pub(crate) by: String,
    pub(crate) at: String,
    #[serde(default)]
    pub(crate) reason: String,
}
