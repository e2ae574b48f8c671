//! `gitops prune` (issue 17): retention of version prefixes in an environment's storage.

use crate::cli::Format;
use crate::report::Shown;
use crate::{Error, Session};

/// `gitops prune`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The environment.
    #[arg(long, visible_alias = "environment")]
    pub env: String,
    /// Only this MFE.
    #[arg(long)]
    pub mfe: Option<String>,
    /// Also keep the last N live versions of each pair (registry history).
    #[arg(long, default_value_t = 5)]
    pub keep: usize,
    /// Only delete version prefixes older than this (30d, 12h, 2w, 90m).
    #[arg(long, value_name = "AGE")]
    pub older_than: Option<String>,
    /// List what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Runs `gitops prune`.
///
/// # Errors
/// Usage, the targets.
#[allow(clippy::unused_async)] // until the command is built (issue 17)
pub async fn command(session: &Session, args: &Args) -> Result<Shown, Error> {
    let _ = (session, args);
    Err(Error::Usage("gitops prune: not built yet".into()))
}
