//! `gitops drift` (issue 17): desired (git), live (registry) and served (storage: the version
//! prefix against the artifact's file list, the entry-point aliases, the import map) compared
//! for each pair; each disagreement with its kind and the command that repairs it; `--repair`
//! re-publishes pointers and missing files from the artifact.

use crate::cli::Format;
use crate::report::Shown;
use crate::{Error, Session};

/// `gitops drift`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Only this environment.
    #[arg(long, visible_alias = "environment")]
    pub env: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Re-publish missing files, aliases and import-map entries from the artifact (never
    /// changes a desired or live version).
    #[arg(long)]
    pub repair: bool,
}

/// Runs `gitops drift`: exit 0 in sync, 1 drift found.
///
/// # Errors
/// Usage, the targets.
#[allow(clippy::unused_async)] // until the command is built (issue 17)
pub async fn command(session: &Session, args: &Args) -> Result<Shown, Error> {
    let _ = (session, args);
    Err(Error::Usage("gitops drift: not built yet".into()))
}
