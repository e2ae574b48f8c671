//! Pins (issue 17): `gitops rollback` pins the pair it rolls back; `gitops unpin` lifts a pin with
//! a pull request (through the normal checks and merge).

use gitops_pipeline::UnpinOutcome;

use crate::cli::ForgeArg;
use crate::report::{Line, Shown};
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

/// Runs `gitops unpin`: proposes a pull request lifting the pair's pin (exit 0), or says that
/// nothing pins it (exit 0: there is nothing to lift).
///
/// # Errors
/// Usage (an undeclared environment, an unregistered MFE, nothing desired), the forge.
pub async fn unpin(session: &Session, args: &UnpinArgs) -> Result<Shown, Error> {
    let filters = session.filters(Some(&args.env), Some(&args.mfe))?;
    let (Some(environment), Some(mfe)) = (filters.environment, filters.mfe) else {
        return Err(Error::Usage("unpin needs an environment and an MFE".into()));
    };
    let handle = session.runtime.forge(args.forge.into()).await?;
    let base = if handle.is_github() {
        session.runtime.checkout_head().await
    } else {
        None
    };
    let user = std::env::var("GITHUB_ACTOR").unwrap_or_else(|_| "gitops-unpin".to_owned());
    let outcome = gitops_pipeline::unpin(
        &session.repository,
        &environment,
        &mfe,
        &user,
        handle.forge.as_ref(),
        base.as_ref(),
    )
    .await?;
    let line = match &outcome {
        UnpinOutcome::Proposed {
            pin,
            pull_request,
            pull_request_url,
        } => format!(
            "proposed: unpin {mfe} in {environment} (pinned by @{} at {}) in pull request #{pull_request} {pull_request_url}",
            pin.by,
            pin.since()
        ),
        UnpinOutcome::NotPinned { detail } => format!("nothing to unpin: {detail}"),
    };
    Ok(Shown {
        lines: vec![Line::Out(line)],
        class: None,
    })
}
