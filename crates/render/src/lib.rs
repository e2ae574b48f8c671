//! # gitops-render
//!
//! Renders the files mfe-gitops puts into repositories, from templates embedded in the binary
//! (minijinja), and writes them without ever losing a human edit:
//!
//! - [`render_mfe_workflows`]: `.github/workflows/micro-frontend-ci.yml` and
//!   `micro-frontend-cd.yml` for an MFE repository (`mfe render`);
//! - [`render_gitops_scaffold`]: a GitOps repository (`gitops init`): `gitops.yaml`, `mfes/`,
//!   `deployments/`, `.gitignore`, an operator README and four workflows;
//! - [`write_files`]: idempotent writing, `--check`, and edit protection;
//! - [`init_gitops_repository`]: `gitops init`, the scaffold pinned and written;
//! - [`upgrade_mfe_workflows`]: `mfe upgrade`, a re-render with the options recorded in the
//!   workflows (the `mfe render` command in their comments) and a new pin.
//!
//! Every workflow installs `mfe`/`gitops` with the project's setup action pinned by commit
//! ([`ActionRef`], `uses: OWNER/REPO@SHA # v<version>`), never with `cargo install`: the commit
//! holds the checksums the action verifies the binaries against. The pin is an option; its
//! default ([`ActionRef::resolve`]) is `--action`, else `MFE_GITOPS_ACTION` (which the setup
//! action exports, so a workflow re-rendering pins the release it runs), else the value built
//! into the binary, else an error. The install step runs before any cloud credentials exist
//! in the job.
//!
//! Every rendered workflow is secure by construction: top-level `permissions: {}` and the least
//! each job needs, OIDC only in the jobs that reach the cloud, actions pinned to full commit
//! shas, `persist-credentials: false`, and no `${{ }}` expression inside a `run:` script (values
//! reach scripts through `env:`). User-supplied values are validated against strict patterns
//! before they reach a template, and a value containing `${{` is refused everywhere. The GitOps
//! jobs that call GitHub mint a GitHub App token per job (`actions/create-github-app-token`,
//! limited to what the job needs; the `GITOPS_GITHUB_TOKEN` secret otherwise), and those acting
//! for a requester end with a step telling it when they failed before `gitops` could.
//!
//! *Managed* files (the workflows) start with a header recording the sha256 of the rest of the
//! file: a file whose body no longer matches was edited by hand and is not overwritten without
//! `force`. *Seed* files (`gitops.yaml`, README, ...) are written once and then belong to the
//! operator. The crate is pure apart from [`write_files`]: no network.

mod action;
mod board;
mod commands;
mod options;
mod record;
mod render;
mod terraform;
mod write;

pub use action::{ACTION_ENV, ActionRef, BUILT_IN_ACTION, PinSource};
pub use board::{
    BoardCell, BoardData, BoardDeployment, BoardDora, BoardFigure, BoardLinks, CellState,
    render_board,
};
pub use commands::{
    MFE_WORKFLOWS, init_gitops_repository, read_mfe_options, upgrade_mfe_workflows,
};
pub use options::{GitopsOptions, MfeOptions, PackageManager};
pub use render::{
    GITOPS_GENERATOR, MFE_GENERATOR, Policy, RenderedFile, VERSION, render_gitops_scaffold,
    render_mfe_workflows,
};
pub use terraform::{
    MAX_TERRAFORM_OUTPUT_BYTES, TerraformEnvironment, TerraformMfe, TerraformTargets,
};
pub use write::{FileReport, Outcome, PinChange, Status, header_line, parse_header, write_files};

/// Pinned third-party actions: `(name, full commit sha, version tag)`. Every other `uses:` in a
/// rendered workflow is one of these, written as `name@sha # tag`.
pub const PINNED_ACTIONS: &[(&str, &str, &str)] = &[
    (
        "actions/checkout",
        "11bd71901bbe5b1630ceea73d27597364c9af683",
        "v4.2.2",
    ),
    (
        "actions/setup-node",
        "a0853c24544627f65ddf259abe73b1d18a591444",
        "v5.0.0",
    ),
    (
        "actions/upload-artifact",
        "b4b15b8c7c6ac21ea08fcf65892d2ee8f75cf882",
        "v4.4.3",
    ),
    (
        "actions/download-artifact",
        "fa0a91b85d4f404e444e00e005971372dc801d16",
        "v4.1.8",
    ),
    (
        "aws-actions/configure-aws-credentials",
        "e3dd6a429d7300a6a4c196c26e071d42e0343502",
        "v4.0.2",
    ),
    (
        "pnpm/action-setup",
        "fe02b34f77f8bc703788d5817da081398fad5dd2",
        "v4.0.0",
    ),
    (
        "actions/create-github-app-token",
        "fee1f7d63c2ff003460e3d139729b119787bc349",
        "v2.2.2",
    ),
];

/// The crate's error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An option is not acceptable (it would break the YAML, inject an expression, or is not
    /// what the other side accepts).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The option.
        field: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// No setup action pin was given and none is known (see [`ActionRef::resolve`]).
    #[error(
        "no pin for the setup action that installs mfe/gitops: pass --action OWNER/REPO@SHA \
         (the full sha of the mfe-gitops/mfe-gitops commit that holds the release's checksums) \
         or set MFE_GITOPS_ACTION"
    )]
    MissingAction,
    /// A rendered file cannot be read back (`mfe upgrade`).
    #[error("{path}: {reason}")]
    Unreadable {
        /// The file or directory.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A template failed to render (a bug in this crate).
    #[error("template {name}: {reason}")]
    Template {
        /// The template.
        name: String,
        /// What minijinja said.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

/// The crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
