//! `gitops promote --from SOURCE --to TARGET` (issue 17): one pull request setting every selected
//! MFE in the target environment to the version desired and live in the source, through the
//! target's policy, with one plan comment listing each change and each refusal.

use time::OffsetDateTime;

use crate::cli::{ForgeArg, Format};
use crate::report::Shown;
use crate::{Error, Session};

/// `gitops promote`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The environment whose desired (and live) versions are promoted.
    #[arg(long)]
    pub from: String,
    /// The environment they are promoted to.
    #[arg(long)]
    pub to: String,
    /// Only these MFEs (repeatable); default: every MFE desired in the source.
    #[arg(long = "mfe", value_name = "MFE")]
    pub mfes: Vec<String>,
    /// Print the plan (each change and each refusal) without proposing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Propose the MFEs that may go even when others are refused.
    #[arg(long)]
    pub allow_partial: bool,
    /// Evaluate the policy as of this RFC 3339 time instead of now (freeze windows).
    #[arg(long, value_parser = crate::parse_time)]
    pub at: Option<OffsetDateTime>,
    /// The forge.
    #[arg(long, value_enum, default_value_t = ForgeArg::Auto)]
    pub forge: ForgeArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Runs `gitops promote`.
///
/// # Errors
/// Usage, the forge, the registries.
#[allow(clippy::unused_async)] // until the command is built (issue 17)
pub async fn command(session: &Session, args: &Args) -> Result<Shown, Error> {
    let _ = (session, args);
    Err(Error::Usage("gitops promote: not built yet".into()))
}
