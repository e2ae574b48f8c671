//! GitHub webhooks in (issue 19, App mode): a delivery is verified before anything is read, then
//! read into the typed [`Event`] `gitops serve` acts on.
//!
//! [`read`] is the one entry: the body's size is bounded ([`Limits`]), the
//! `X-Hub-Signature-256` header is checked against HMAC-SHA256 of the raw body under the
//! webhook secret (compared in constant time by the `hmac` crate; a missing, malformed or
//! wrong signature is refused before the body is parsed), the delivery id (`X-GitHub-Delivery`,
//! the idempotency key of everything downstream) and the event name (`X-GitHub-Event`) are
//! checked, and only then is the JSON read, into the few fields each event needs (a missing
//! one is [`Rejection::Malformed`] naming it). Each [`Rejection`] carries the HTTP status the
//! server answers with ([`Rejection::status`]); nothing here has a side effect.
//!
//! Events of interest (and the only ones an App installation should subscribe to):
//! `deployment` (created in an MFE repository: the request itself, whose repository GitHub
//! asserts), `repository_dispatch` (the Actions mode's request, for compatibility),
//! `pull_request`, `pull_request_review` and `check_suite` (checks and merge in the GitOps
//! repository), `push` (deploy), `installation` (onboarding) and `ping`. Any other event is
//! refused ([`Rejection::UnknownEvent`]); a known event that is none of ours (a deployment
//! whose payload is not a deploy request, an action we do not act on) is [`Event::Ignored`],
//! answered without work.

use gitops_event_model::{CommitSha, DeploymentPayload, EnvironmentName, Login, RepositoryName};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

mod wire;

/// The header holding the signature: `sha256=<64 hex digits>`.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";
/// The header naming the event.
pub const EVENT_HEADER: &str = "X-GitHub-Event";
/// The header holding the delivery's id (a GUID; the same on a redelivery).
pub const DELIVERY_HEADER: &str = "X-GitHub-Delivery";

/// The events a GitHub App running `gitops serve` subscribes to (its manifest's
/// `default_events`, `deploy/github-app/manifest.json`): every event [`read`] acts on except
/// `installation` (sent to every App, it cannot be subscribed to) and `ping` (sent once when the
/// webhook is created).
pub const EVENTS: &[&str] = &[
    "deployment",
    "repository_dispatch",
    "pull_request",
    "pull_request_review",
    "check_suite",
    "push",
];

/// Bounds on a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest body accepted, in bytes. GitHub caps payloads at 25 MB; the events of interest
    /// are far smaller (a `push` lists at most 20 commits), so the default is 2 MiB.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 2 * 1024 * 1024,
        }
    }
}

/// The request headers [`read`] needs, as received (`None`: absent).
#[derive(Debug, Clone, Copy, Default)]
pub struct Headers<'a> {
    /// `X-GitHub-Event`.
    pub event: Option<&'a str>,
    /// `X-GitHub-Delivery`.
    pub delivery: Option<&'a str>,
    /// `X-Hub-Signature-256`.
    pub signature: Option<&'a str>,
}

/// Why a delivery is refused. Nothing was done for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The body is larger than [`Limits::max_body_bytes`].
    #[error("the delivery's body is over {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// No `X-Hub-Signature-256` header: an unsigned delivery (or a webhook without a secret).
    #[error("the delivery is not signed (no {SIGNATURE_HEADER} header)")]
    Unsigned,
    /// The signature is not `sha256=<64 hex digits>`, or not the body's under the secret.
    #[error("the delivery's {SIGNATURE_HEADER} does not match its body")]
    BadSignature,
    /// A required header is missing or malformed.
    #[error("the delivery's {header} header is {problem}")]
    BadHeader {
        /// Which.
        header: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// An event this server does not handle (it should not be subscribed to).
    #[error("event `{0}` is not one gitops serve handles")]
    UnknownEvent(String),
    /// The body is not the event's JSON, or lacks a field this server reads.
    #[error("the `{event}` delivery is malformed: {reason}")]
    Malformed {
        /// The event.
        event: String,
        /// What is wrong (the field, never the body's content).
        reason: String,
    },
}

impl Rejection {
    /// The HTTP status to answer with: 413 too large, 401 unsigned or mis-signed, 400 for a bad
    /// header, an unknown event or a malformed body.
    pub fn status(&self) -> u16 {
        match self {
            Rejection::TooLarge { .. } => 413,
            Rejection::Unsigned | Rejection::BadSignature => 401,
            Rejection::BadHeader { .. }
            | Rejection::UnknownEvent(_)
            | Rejection::Malformed { .. } => 400,
        }
    }
}

/// A delivery's id (`X-GitHub-Delivery`): 1 to 64 ASCII letters, digits and `-` (GitHub sends a
/// GUID). A redelivery carries the same id: it is the idempotency key downstream.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeliveryId(String);

impl DeliveryId {
    /// Checks `id`.
    pub fn parse(id: &str) -> Result<Self, Rejection> {
        let ok = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if ok {
            Ok(DeliveryId(id.to_owned()))
        } else {
            Err(Rejection::BadHeader {
                header: DELIVERY_HEADER,
                problem: "not 1 to 64 letters, digits and dashes",
            })
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A verified delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Its id (the same on a redelivery).
    pub id: DeliveryId,
    /// The App installation it is for, when the payload names one.
    pub installation: Option<u64>,
    /// What happened.
    pub event: Event,
}

/// What a delivery says happened, reduced to what `gitops serve` acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `ping`: the webhook was set up. Answered, nothing to do.
    Ping,
    /// `deployment` `created` in an MFE repository, carrying a deploy request's payload.
    Deployment(DeploymentCreated),
    /// `repository_dispatch` (the Actions mode's request): its `action` is the event type.
    Dispatch(Dispatch),
    /// `pull_request` opened, reopened, synchronized or ready for review: run the checks.
    PullRequest(PullRequestChanged),
    /// `pull_request_review` submitted or dismissed: an approval may have changed.
    Review(ReviewChanged),
    /// `check_suite` completed: checks of a head may now pass.
    CheckSuite(CheckSuiteCompleted),
    /// `push` to a branch (not a deletion): the default branch's means deploy.
    Push(Pushed),
    /// `installation` created, deleted, suspended or unsuspended: onboarding.
    Installation(InstallationChanged),
    /// A known event none of ours: a deployment whose payload is no deploy request, an action
    /// we do not act on. Answered, nothing to do.
    Ignored {
        /// The event.
        event: String,
        /// Its action, if any.
        action: Option<String>,
        /// Why it is not ours.
        why: &'static str,
    },
}

/// A deployment created in a repository: a deploy request GitHub vouches for (the repository
/// and the creator are GitHub's, not the payload's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentCreated {
    /// The repository the deployment is in (the MFE's).
    pub repository: RepositoryName,
    /// The deployment's id (statuses go on it).
    pub deployment_id: u64,
    /// The commit deployed.
    pub sha: CommitSha,
    /// The ref the deployment was created from, as given.
    pub git_ref: String,
    /// The environment.
    pub environment: EnvironmentName,
    /// Who created it (a workflow's token: `github-actions[bot]`).
    pub creator: Login,
    /// When GitHub created it (RFC 3339, as sent): the request's time.
    pub created_at: String,
    /// The request id, MFE and version it carries.
    pub payload: DeploymentPayload,
}

/// A `repository_dispatch`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dispatch {
    /// The repository dispatched to (the GitOps repository).
    pub repository: RepositoryName,
    /// The event type (`deploy-mfe-trigger`).
    pub event_type: String,
    /// The client payload as sent (validated as a deploy request downstream).
    pub client_payload: Value,
}

/// A pull request whose head or state changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestChanged {
    /// The repository.
    pub repository: RepositoryName,
    /// The action.
    pub action: String,
    /// The pull request's number.
    pub number: u64,
    /// Its head branch.
    pub head_ref: String,
    /// Its head commit.
    pub head_sha: CommitSha,
    /// Its base branch.
    pub base_ref: String,
}

/// A review submitted or dismissed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewChanged {
    /// The repository.
    pub repository: RepositoryName,
    /// The action.
    pub action: String,
    /// The pull request's number.
    pub number: u64,
    /// The review's state as GitHub spells it (`approved`, `changes_requested`, ...).
    pub state: String,
}

/// A check suite completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSuiteCompleted {
    /// The repository.
    pub repository: RepositoryName,
    /// The commit checked.
    pub head_sha: CommitSha,
    /// The pull requests whose head it is.
    pub pull_requests: Vec<u64>,
}

/// A push to a branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The repository.
    pub repository: RepositoryName,
    /// The full ref (`refs/heads/main`).
    pub git_ref: String,
    /// The commit the ref points at now.
    pub after: CommitSha,
    /// Whether the branch is the repository's default branch (a deploy's trigger).
    pub to_default_branch: bool,
}

/// The App installed, removed, suspended or unsuspended on an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallationChanged {
    /// The action.
    pub action: String,
    /// The installation.
    pub installation: u64,
    /// The account it is on.
    pub account: Login,
    /// The repositories the payload names (those selected at installation).
    pub repositories: Vec<RepositoryName>,
}

/// `sha256=<hex>`: the signature GitHub sends for `body` under `secret` (for tests and for
/// fake-github's deliveries).
pub fn signature(secret: &SecretString, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(mac(secret, body).finalize().into_bytes())
    )
}

fn mac(secret: &SecretString, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose_secret().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(body);
    mac
}

/// Checks `header` (`X-Hub-Signature-256`) against HMAC-SHA256 of `body` under `secret`, in
/// constant time.
pub fn verify(secret: &SecretString, body: &[u8], header: Option<&str>) -> Result<(), Rejection> {
    let header = header.ok_or(Rejection::Unsigned)?;
    let digest = header
        .strip_prefix("sha256=")
        .filter(|hex| hex.len() == 64)
        .and_then(|hex| hex::decode(hex).ok())
        .ok_or(Rejection::BadSignature)?;
    mac(secret, body)
        .verify_slice(&digest)
        .map_err(|_| Rejection::BadSignature)
}

/// Verifies and reads one delivery: size, signature, delivery id and event name first, then the
/// body. See the crate's documentation.
pub fn read(
    secret: &SecretString,
    headers: Headers<'_>,
    body: &[u8],
    limits: Limits,
) -> Result<Delivery, Rejection> {
    if body.len() > limits.max_body_bytes {
        return Err(Rejection::TooLarge {
            limit: limits.max_body_bytes,
        });
    }
    verify(secret, body, headers.signature)?;
    let id = DeliveryId::parse(headers.delivery.ok_or(Rejection::BadHeader {
        header: DELIVERY_HEADER,
        problem: "missing",
    })?)?;
    let event = headers.event.ok_or(Rejection::BadHeader {
        header: EVENT_HEADER,
        problem: "missing",
    })?;
    if !wire::KNOWN.contains(&event) {
        return Err(Rejection::UnknownEvent(
            event.chars().take(64).collect::<String>(),
        ));
    }
    let malformed = |reason: String| Rejection::Malformed {
        event: event.to_owned(),
        reason,
    };
    let common: wire::Common =
        serde_json::from_slice(body).map_err(|e| malformed(wire::reason(&e)))?;
    let event = wire::event(event, common.action.as_deref(), body).map_err(malformed)?;
    Ok(Delivery {
        id,
        installation: common.installation.map(|i| i.id),
        event,
    })
}

/// A JSON body read into `T`, or the reason it is malformed (the field, never the content).
fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| wire::reason(&e))
}
