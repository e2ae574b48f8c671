//! Pins (issue 17): `gitops rollback` pins the pair it rolls back; `gitops unpin` lifts a pin with
//! a pull request.

use crate::cli::ForgeArg;
use crate::report::Shown;
use crate::{Error, Session};

/// `gitops unpin`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct UnpinArgs {
    /// The environment.
    #[arg(long, visible_alias = "environment")]
    pub env: String,
    /// The MFE.
    #[arg(long)]
    pub mfe: String,
    /// The forge.
    #[arg(long, value_enum, default_value_t = ForgeArg::Auto)]
    pub forge: ForgeArg,
}

/// Runs `gitops unpin`.
///
/// # Errors
/// Usage, the forge.
#[allow(clippy::unused_async)] // until the command is built (issue 17)
pub async fn unpin(session: &Session, args: &UnpinArgs) -> Result<Shown, Error> {
    let _ = (session, args);
    Err(Error::Usage("gitops unpin: not built yet".into()))
}
