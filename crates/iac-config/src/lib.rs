//! # gitops-iac-config
//!
//! The GitOps repository as files: `gitops.yaml` ([`GitopsConfig`]), `mfes/<name>.yaml`
//! ([`MfeConfig`]) and `deployments/<env>/<mfe>.json` ([`Deployment`]).
//!
//! - [`Repository::load_dir`] / [`Repository::from_files`] load and validate everything,
//!   reporting every [`ConfigProblem`] with its file, line and field.
//! - [`policy::evaluate`] decides `accept` / `noop` / `reject` for a deploy request as of a time,
//!   with stable reason [`policy::Code`]s, and the [`FileChange`]s to propose.
//! - [`edit`] renders desired-state files deterministically.
//!
//! No network and no async runtime: the caller reads and writes the files.

pub mod edit;
mod load;
pub mod model;
pub mod policy;
mod schema;

pub use edit::{FileChange, render_deployment};
pub use load::{
    CONFIG_FILE, ConfigProblem, DEPLOYMENTS_DIR, MFES_DIR, Repository, deployment_path,
};
pub use model::{
    Approval, CdnTarget, Deployment, Environment, FreezeWindow, GitopsConfig, MfeConfig,
    RegistryTarget, StorageTarget,
};
pub use policy::{Code, Decision, Outcome, Reason, evaluate};
pub use schema::schemas;

/// The crate's error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The repository's files are invalid.
    #[error("invalid GitOps repository: {}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid {
        /// Every problem found.
        problems: Vec<ConfigProblem>,
    },
}
