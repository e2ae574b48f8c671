//! Pins (issue 17): a pinned pair's desired state carries `pinned: {by, at, reason}`; the policy
//! refuses automation's requests for it (`pinned`). `gitops rollback` pins ([`crate::rollback`]);
//! [`unpin`] lifts a pin the GitOps way: a pull request on the pair's branch (its environment's
//! batch where it batches) writing the same
//! desired state without it, through the normal checks and merge (the merge check accepts a
//! pin-only change: `gitops_iac_config::judge_change`).

use gitops_event_model::{CommitSha, EnvironmentName, MfeName};
use gitops_gh_pr::{FileWrite, Forge, PullRequest};
use gitops_iac_config::{Deployment, Pin, Repository, deployment_path, render_deployment};
use serde::Serialize;

use crate::Error;
use crate::lane::Lane;
use crate::process::{PLAN_MARKER, pending_of, propose_contended_under};

/// What [`unpin`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum UnpinOutcome {
    /// A pull request lifting `pin` was proposed (or updated).
    Proposed {
        /// The pin it lifts.
        pin: Pin,
        /// The pull request.
        pull_request: u64,
        /// Its URL.
        pull_request_url: String,
    },
    /// Nothing to lift: neither the desired state nor the pending change pins the pair.
    NotPinned {
        /// Why, in words.
        detail: String,
    },
}

/// Proposes lifting the pin of (`environment`, `mfe`) as `user`: the pair's pending change when
/// there is one (its pin removed), else the desired state on `main` without its pin, proposed
/// with compare-and-swap on the branch head read (a lost race is re-read and retried).
///
/// # Errors
/// [`Error::Config`] when nothing is desired for the pair; the forge's errors.
pub async fn unpin(
    repository: &Repository,
    environment: &EnvironmentName,
    mfe: &MfeName,
    user: &str,
    forge: &dyn Forge,
    base_sha: Option<&CommitSha>,
) -> Result<UnpinOutcome, Error> {
    let path = deployment_path(environment, mfe);
    let Some(desired) = repository.deployment(environment, mfe) else {
        return Err(Error::Config {
            reason: format!("nothing is desired for {mfe} in {environment}: there is no {path}"),
        });
    };
    let what = format!("{environment}/{mfe}");
    let path = &path;
    let lane = &Lane::of(repository, environment, mfe);
    propose_contended_under(lane.retry_policy(), &what, |exact| async move {
        let lane_state = lane.state(forge, path, exact).await?;
        let pending = pending_of(&lane_state.state);
        let target: &Deployment = pending.as_ref().map_or(desired, |p| &p.deployment);
        let Some(pin) = target.pinned.clone() else {
            let detail = match (&desired.pinned, &pending) {
                (Some(_), Some(p)) => format!(
                    "{mfe} in {environment} is pinned on main, but {} replaces it without a pin: merging it lifts the pin",
                    p.reference
                ),
                _ => format!("{mfe} in {environment} is not pinned"),
            };
            return Ok(UnpinOutcome::NotPinned { detail });
        };
        let mut lifted = target.clone();
        lifted.pinned = None;
        let why = if pin.reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", pin.reason)
        };
        let body = format!(
            "Lifts the pin of {mfe} {} in `{environment}` set by @{} at {}{why}; asked by @{user}. Once merged, deploy requests for the pair are accepted again.",
            target.version,
            pin.by,
            pin.since()
        );
        let change = lane.change(
            &lane_state,
            format!("Unpin {mfe} in {environment}"),
            body,
            vec![FileWrite::put(
                path.clone(),
                render_deployment(&lifted).into_bytes(),
            )],
            base_sha,
        );
        let pr: PullRequest = forge.propose(&change).await?;
        let plan = format!(
            "### Unpin plan\n\n| | |\n|---|---|\n| MFE | `{mfe}` |\n| environment | `{environment}` |\n| version | {} (unchanged) |\n| pin | by @{} at {}{why} |\n\nNothing is deployed: the desired version stays; requests for the pair are judged normally again.\n",
            target.version,
            pin.by,
            pin.since()
        );
        if !lane.is_batch() {
            forge.upsert_comment(pr.number, PLAN_MARKER, &plan).await?;
        }
        Ok(UnpinOutcome::Proposed {
            pin,
            pull_request: pr.number,
            pull_request_url: pr.url,
        })
    })
    .await
}
