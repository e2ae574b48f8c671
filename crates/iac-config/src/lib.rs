//! # gitops-iac-config
//!
//! The GitOps repository as files: `gitops.yaml` ([`GitopsConfig`]), `mfes/<name>.yaml`
//! ([`MfeConfig`]) and `deployments/<env>/<mfe>.json` ([`Deployment`]).
//!
//! - [`Repository::load_dir`] / [`Repository::from_files`] (and their `_with` forms taking
//!   [`LoadOptions`]) load and validate everything, reporting every [`ConfigProblem`] with its
//!   file, line and field.
//! - [`policy::evaluate_with_pending`] decides `accept` / `noop` / `reject` for a deploy request
//!   against `main` and the pair's [`Pending`] change, as of a time, with stable reason
//!   [`policy::Code`]s, and the [`FileChange`]s to propose ([`policy::evaluate`]: nothing
//!   pending).
//! - [`edit`] renders desired-state files deterministically.
//!
//! No network and no async runtime: the caller writes the files; `load_dir` is the only reader.
//!
//! ## Names
//!
//! Every name, sha and version in the model is an event-model type ([`MfeName`],
//! [`EnvironmentName`], [`RepositoryName`], [`CommitSha`], [`Version`], [`GitRef`], [`Login`],
//! [`RequestId`], [`CdnPath`]), parsed once when a file is loaded by the type's own `parse`:
//! this crate has no rule of its own for them. Its own rules are the repository's: uniqueness,
//! order (`requires`), placement of targets, file names matching contents, CDN keys under the
//! MFE's prefix. Lookups ([`Repository::environment`], [`Repository::deployment`],
//! [`deployment_path`]) take the types.
//!
//! Case, decided once:
//!
//! - environment names are case-sensitive (`Prod` is not `prod`) and unique ignoring case (a
//!   repository cannot declare both). A request, an MFE file or a `deployments/<env>/` directory
//!   naming `prod` where `Prod` is declared names an unknown environment; the problem or the
//!   `unknown-environment` reason names `Prod` as a hint;
//! - MFE names are lowercase by their rule;
//! - repository names compare without case, as GitHub compares them ([`RepositoryName`]'s
//!   equality): a request from `Acme/Checkout-MFE` for an MFE registered to `acme/checkout-mfe`
//!   is from the registered repository; the desired state records the name as the request wrote
//!   it;
//! - commit shas are kept lowercased ([`CommitSha`]).
//!
//! [`MfeName`]: gitops_event_model::MfeName
//! [`EnvironmentName`]: gitops_event_model::EnvironmentName
//! [`RepositoryName`]: gitops_event_model::RepositoryName
//! [`CommitSha`]: gitops_event_model::CommitSha
//! [`Version`]: gitops_event_model::Version
//! [`GitRef`]: gitops_event_model::GitRef
//! [`Login`]: gitops_event_model::Login
//! [`RequestId`]: gitops_event_model::RequestId
//! [`CdnPath`]: gitops_event_model::CdnPath
//!
//! ## Hostile input
//!
//! A repository's files are input from whoever can open a pull request:
//!
//! - `load_dir` reads only regular files really inside the repository: a symbolic link anywhere
//!   on the way, a FIFO, socket, device or directory where a file belongs is refused without
//!   being followed, opened for reading or waited on. Every file is read through a bound
//!   ([`MAX_CONFIG_BYTES`], [`MAX_MFE_BYTES`], [`MAX_DEPLOYMENT_BYTES`]), and at most
//!   [`MAX_FILES`] directory entries are looked at; `from_files` applies the same bounds.
//! - Problems never quote file content: parser messages have quoted values redacted (short
//!   identifiers such as an unknown field's name are kept), and our own messages name values
//!   only when they are short identifiers.
//! - YAML tags (`!foo`, `!!binary`, `!!str`, verbatim `!<...>`) and directives are refused in
//!   `gitops.yaml` and MFE files: a tagged value can mean one thing here and another to the next
//!   reader.
//! - Embedded (local) targets are lexically normal paths under the repository's git-ignored
//!   state directory `local/` ([`STATE_DIR`]); absolute paths only with
//!   [`LoadOptions::allow_absolute_targets`]. Storage directories of two environments are never
//!   the same or nested, and no registry or CDN log lies inside a (served) storage directory.
//!   Environment names are unique ignoring case, and an MFE is described by one file only
//!   (`mfes/x.yaml` and `mfes/x.yml` together are refused).
//!
//! ## Order
//!
//! Versions are compared by SemVer precedence (build metadata does not order them). The order of
//! desired states is git's, not a number in a file: the bot writes no `sequence` (files that have
//! one still load; it is ignored for ordering).

pub mod edit;
mod limits;
mod load;
pub mod model;
mod parse;
pub mod policy;
mod raw;
mod read;
mod schema;
mod targets;

pub use edit::{FileChange, render_deployment};
pub use limits::{MAX_LIMIT_BYTES, MAX_LIMIT_FILES, MAX_LIMIT_RATIO};
pub use load::{
    CONFIG_FILE, ConfigProblem, DEPLOYMENTS_DIR, LoadOptions, MFES_DIR, Repository, deployment_path,
};
pub use model::{
    Approval, ArchiveLimits, CdnTarget, Deployment, Environment, FreezeWindow, GitopsConfig,
    MergeMethod, MfeConfig, Pin, RegistryTarget, STATE_DIR, StorageTarget, check_bucket,
};
pub use policy::{
    Code, Decision, Intent, Outcome, Pending, Reason, evaluate, evaluate_with_pending,
    judge_change, request_builder_of, request_of,
};
pub use read::{MAX_CONFIG_BYTES, MAX_DEPLOYMENT_BYTES, MAX_FILES, MAX_MFE_BYTES};
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
