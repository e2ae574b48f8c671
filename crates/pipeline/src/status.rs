//! Status: the environment x MFE matrix, desired (git) against live (registry) against served
//! (the import map in storage) and confirmed (no CDN invalidation pending).
//!
//! A pair is in sync only when all four agree; a pair whose environment could not be read says
//! so instead of being left out, and one unreadable environment never hides the others.

use std::collections::{BTreeMap, BTreeSet};

use gitops_iac_config::Repository;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;

use gitops_event_model::{EnvironmentName, MfeName, Version};

use crate::{Backends, Error, ErrorClass};

/// How a pair stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncState {
    /// Desired, live, served and confirmed at the CDN agree.
    InSync,
    /// Desired differs from live: a deploy is pending (or drift).
    LiveDiffers,
    /// Live, but the import map serves another version (pointers not published).
    PointersBehind,
    /// Live and served, but the CDN invalidation was never confirmed.
    CdnPending,
    /// Live but no longer desired (its desired-state file is gone).
    NotDesired,
    /// The environment's targets could not be read; nothing is known.
    Unknown,
}

/// One (environment, MFE) pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusRow {
    /// Environment.
    pub environment: EnvironmentName,
    /// MFE.
    pub mfe: MfeName,
    /// Live version (registry), if any.
    pub version: Option<Version>,
    /// When the live version was committed (RFC 3339), if any.
    pub deployed_at: Option<String>,
    /// Live deploy sequence, if any.
    pub sequence: Option<u64>,
    /// Desired version (`deployments/`), if any.
    pub desired: Option<Version>,
    /// The version the import map serves, if any.
    pub served: Option<Version>,
    /// Whether a CDN invalidation of the live deploy is still unconfirmed.
    pub cdn_pending: bool,
    /// How the pair stands.
    pub state: SyncState,
    /// Whether the pair is anything but in sync.
    pub differs: bool,
    /// Whether the live version is a rollback.
    pub rollback: bool,
    /// The desired state's pin, when the pair is pinned (requests for it are refused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned: Option<gitops_iac_config::Pin>,
    /// Why the state is unknown, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The class of that error (configuration, outside failure, refusal), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_class: Option<ErrorClass>,
}

/// The matrix for every environment (or only `environment`), rows sorted by environment order
/// then MFE. An environment whose targets cannot be read yields one `Unknown` row per desired
/// pair, with the error; the others are still read.
pub async fn status(
    repository: &Repository,
    backends: &dyn Backends,
    environment: Option<&EnvironmentName>,
) -> Result<Vec<StatusRow>, Error> {
    let mut rows = Vec::new();
    for env in &repository.config.environments {
        if environment.is_some_and(|e| *e != env.name) {
            continue;
        }
        match environment_rows(repository, backends, env).await {
            Ok(mut env_rows) => rows.append(&mut env_rows),
            Err(error) => {
                tracing::warn!(environment = %env.name, %error, "cannot read the environment");
                for ((_, mfe), desired) in repository
                    .deployments
                    .iter()
                    .filter(|((e, _), _)| *e == env.name)
                {
                    rows.push(StatusRow {
                        environment: env.name.clone(),
                        mfe: mfe.clone(),
                        version: None,
                        deployed_at: None,
                        sequence: None,
                        desired: Some(desired.version.clone()),
                        served: None,
                        cdn_pending: false,
                        state: SyncState::Unknown,
                        differs: true,
                        rollback: false,
                        pinned: desired.pinned.clone(),
                        error: Some(error.to_string()),
                        error_class: Some(error.class()),
                    });
                }
            }
        }
    }
    Ok(rows)
}

async fn environment_rows(
    repository: &Repository,
    backends: &dyn Backends,
    env: &gitops_iac_config::Environment,
) -> Result<Vec<StatusRow>, Error> {
    let targets = backends.targets(env).await?;
    let live: BTreeMap<MfeName, gitops_db_registry::Entry> = targets
        .registry
        .list(&env.name)
        .await?
        .into_iter()
        .map(|e| (e.mfe.clone(), e))
        .collect();
    let imports = gitops_artifact_store::served_imports(targets.storage.as_ref()).await?;
    let names: BTreeSet<&MfeName> = repository
        .deployments
        .keys()
        .filter(|(e, _)| e == &env.name)
        .map(|(_, m)| m)
        .chain(live.keys())
        .collect();
    let mut rows = Vec::new();
    for mfe in names {
        let desired_state = repository.deployment(&env.name, mfe);
        let desired = desired_state.map(|d| d.version.clone());
        let entry = live.get(mfe);
        let has_pointers = repository
            .mfes
            .get(mfe)
            .is_some_and(|m| !m.entry_points.is_empty());
        let served = if has_pointers {
            imports
                .get(mfe)
                .and_then(|url| gitops_artifact_store::version_of_url(&env.public_url, mfe, url))
        } else {
            entry.map(|e| e.version.clone())
        };
        let cdn_pending = entry.is_some_and(|e| e.invalidation.is_some());
        let live_version = entry.map(|e| e.version.clone());
        let state = if desired.is_none() {
            SyncState::NotDesired
        } else if desired != live_version {
            SyncState::LiveDiffers
        } else if served != live_version {
            SyncState::PointersBehind
        } else if cdn_pending {
            SyncState::CdnPending
        } else {
            SyncState::InSync
        };
        rows.push(StatusRow {
            environment: env.name.clone(),
            mfe: mfe.clone(),
            version: live_version,
            deployed_at: entry.and_then(|e| e.deployed_at.format(&Rfc3339).ok()),
            sequence: entry.map(|e| e.sequence),
            desired,
            served,
            cdn_pending,
            differs: state != SyncState::InSync,
            state,
            rollback: entry.is_some_and(|e| e.rollback),
            pinned: desired_state.and_then(|d| d.pinned.clone()),
            error: None,
            error_class: None,
        });
    }
    Ok(rows)
}
