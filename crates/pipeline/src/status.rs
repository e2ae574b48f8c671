//! Status: the environment x MFE matrix, desired (git) against live (registry).

use std::collections::BTreeMap;

use gitops_iac_config::Repository;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;

use crate::{Backends, Error};

/// One (environment, MFE) pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusRow {
    /// Environment.
    pub environment: String,
    /// MFE.
    pub mfe: String,
    /// Live version (registry), if any.
    pub version: Option<String>,
    /// When the live version was committed (RFC 3339), if any.
    pub deployed_at: Option<String>,
    /// Live deploy sequence, if any.
    pub sequence: Option<u64>,
    /// Desired version (`deployments/`), if any.
    pub desired: Option<String>,
    /// Whether desired and live differ (a deploy is pending, or drift).
    pub differs: bool,
    /// Whether the live version is a rollback.
    pub rollback: bool,
}

/// The matrix for every environment (or only `environment`), rows sorted by environment order
/// then MFE.
pub async fn status(
    repository: &Repository,
    backends: &dyn Backends,
    environment: Option<&str>,
) -> Result<Vec<StatusRow>, Error> {
    let mut rows = Vec::new();
    for env in &repository.config.environments {
        if environment.is_some_and(|e| e != env.name) {
            continue;
        }
        let targets = backends.targets(env).await?;
        let live: BTreeMap<String, gitops_db_registry::Entry> = targets
            .registry
            .list(&env.name)
            .await?
            .into_iter()
            .map(|e| (e.mfe.clone(), e))
            .collect();
        let mut names: Vec<&String> = repository
            .deployments
            .keys()
            .filter(|(e, _)| e == &env.name)
            .map(|(_, m)| m)
            .chain(live.keys())
            .collect();
        names.sort();
        names.dedup();
        for mfe in names {
            let desired = repository
                .deployment(&env.name, mfe)
                .map(|d| d.version.clone());
            let entry = live.get(mfe);
            rows.push(StatusRow {
                environment: env.name.clone(),
                mfe: mfe.clone(),
                version: entry.map(|e| e.version.clone()),
                deployed_at: entry.and_then(|e| e.deployed_at.format(&Rfc3339).ok()),
                sequence: entry.map(|e| e.sequence),
                differs: desired != entry.map(|e| e.version.clone()),
                desired,
                rollback: entry.is_some_and(|e| e.rollback),
            });
        }
    }
    Ok(rows)
}
