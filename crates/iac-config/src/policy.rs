//! The policy: a deploy request against the repository, as of a time, gives a decision with
//! reasons (stable codes plus sentences) and the file changes to propose.

use std::cmp::Ordering;
use std::fmt;

use gitops_event_model::{DeployRequest, EnvironmentName, Problem};
use percent_encoding::percent_decode_str;
use schemars::JsonSchema;
use serde::Serialize;
use time::OffsetDateTime;

use crate::edit::{FileChange, deployment_for};
use crate::load::{Repository, deployment_path};
use crate::model::{Deployment, Pin};

/// What to do with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Propose the changes.
    Accept,
    /// Nothing to do: the version is already desired.
    Noop,
    /// Refuse, for the reasons given.
    Reject,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Accept => "accept",
            Outcome::Noop => "noop",
            Outcome::Reject => "reject",
        })
    }
}

/// Stable machine codes of the reasons. Keep these strings: workflows and people match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    /// The payload breaks the deploy-request contract.
    InvalidPayload,
    /// No `mfes/<mfe>.yaml`.
    UnknownMfe,
    /// The environment is not declared in `gitops.yaml`.
    UnknownEnvironment,
    /// The request comes from another repository than the MFE's.
    RepositoryMismatch,
    /// The MFE may not go to this environment.
    EnvironmentNotAllowed,
    /// The version is not yet desired in the environment this one `requires`.
    PromotionRequired,
    /// The claimed `repository` has no deployment of this request at `sha` created by one of its
    /// own workflows (the proof that the request comes from that repository).
    UnverifiedOrigin,
    /// The environment is frozen at the evaluation time.
    FreezeWindow,
    /// A version of lower precedence than the one desired or pending, or of equal precedence
    /// written differently (build metadata does not order versions), and not a rollback.
    Downgrade,
    /// A CDN key outside `/mfe/<name>/`.
    InvalidationOutsidePrefix,
    /// The version is already desired (the reason of a `noop`).
    AlreadyDesired,
    /// The same request (version and request id) is already pending for the pair, in an open
    /// pull request (the reason of a `noop`).
    AlreadyPending,
    /// The pair is pinned (`gitops rollback` pins it): automation may not change it until
    /// `gitops unpin`, or an override the environment allows.
    Pinned,
}

impl Code {
    /// The code as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidPayload => "invalid-payload",
            Code::UnknownMfe => "unknown-mfe",
            Code::UnknownEnvironment => "unknown-environment",
            Code::RepositoryMismatch => "repository-mismatch",
            Code::EnvironmentNotAllowed => "environment-not-allowed",
            Code::PromotionRequired => "promotion-required",
            Code::UnverifiedOrigin => "unverified-origin",
            Code::FreezeWindow => "freeze-window",
            Code::Downgrade => "downgrade",
            Code::InvalidationOutsidePrefix => "invalidation-outside-prefix",
            Code::AlreadyDesired => "already-desired",
            Code::AlreadyPending => "already-pending",
            Code::Pinned => "pinned",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reason: a code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Reason {
    /// Stable machine code.
    pub code: Code,
    /// Human sentence.
    pub message: String,
}

/// The policy's answer (`gitops process --dry-run` prints it; `schemas/decision.schema.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(title = "mfe-gitops decision")]
pub struct Decision {
    /// Accept, noop or reject.
    pub decision: Outcome,
    /// Why (empty for a plain accept).
    pub reasons: Vec<Reason>,
    /// Files to write when accepted (empty otherwise).
    pub changes: Vec<FileChange>,
    /// The desired state before the request, if any.
    #[serde(skip)]
    #[schemars(skip)]
    pub previous: Option<Deployment>,
}

impl Decision {
    fn reject(reasons: Vec<Reason>, previous: Option<Deployment>) -> Self {
        Decision {
            decision: Outcome::Reject,
            reasons,
            changes: Vec::new(),
            previous,
        }
    }

    /// A rejection for a payload that breaks the contract: one reason per problem.
    /// Each message names the payload's rule code too (`(rule duplicate-key)`), so the exact
    /// rule broken survives into the PR, the requester's status and the logs.
    pub fn invalid_payload(problems: &[Problem]) -> Self {
        let reasons = problems
            .iter()
            .map(|p| Reason {
                code: Code::InvalidPayload,
                message: format!("{p} (rule {})", p.rule),
            })
            .collect();
        Decision::reject(reasons, None)
    }

    /// A rejection because the request's origin could not be proven (see
    /// [`Code::UnverifiedOrigin`]): `why` says what was missing.
    pub fn unverified_origin(why: impl Into<String>) -> Self {
        Decision::reject(
            vec![Reason {
                code: Code::UnverifiedOrigin,
                message: why.into(),
            }],
            None,
        )
    }

    /// The reason codes, in order.
    pub fn codes(&self) -> Vec<Code> {
        self.reasons.iter().map(|r| r.code).collect()
    }
}

/// What a proposal is, beyond the request it carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Intent {
    /// A deploy request (automation's): refused `pinned` on a pinned pair.
    #[default]
    Request,
    /// An operator's explicit override of a pin (`--override-pin`): accepted on a pinned pair
    /// only where the environment sets `allow_pin_override`, and it lifts the pin.
    Override,
    /// A deliberate return to an older version (`gitops rollback`): lifts the `downgrade` and
    /// `promotion-required` rules and takes precedence over a pin; the desired state it writes
    /// carries `pin` (a rollback pins the pair unless asked not to).
    Rollback {
        /// The pin the rolled-back desired state carries.
        pin: Option<Pin>,
    },
}

impl Intent {
    /// Whether this is a rollback.
    pub fn is_rollback(&self) -> bool {
        matches!(self, Intent::Rollback { .. })
    }
}

/// A change not yet on `main` for a pair: the desired state an open pull request proposes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The pending desired state.
    pub deployment: Deployment,
    /// Where it is pending, for messages (`pull request #12`).
    pub reference: String,
}

/// Evaluates `request` against `repository` (`main`) as of `at`, with nothing pending: see
/// [`evaluate_with_pending`].
pub fn evaluate(
    repository: &Repository,
    request: &DeployRequest,
    rollback: bool,
    at: OffsetDateTime,
) -> Decision {
    let intent = if rollback {
        Intent::Rollback { pin: None }
    } else {
        Intent::Request
    };
    evaluate_with_pending(repository, request, &intent, at, None)
}

/// Evaluates `request` against `repository` (`main`) and what is `pending` for its pair, as of
/// `at` (the evaluator's clock: never the payload's timestamp, which the requester controls).
/// `intent` says what the proposal is ([`Intent`]): a rollback lifts the `downgrade` and
/// `promotion-required` rules; only a rollback, or an override where the environment allows
/// one, may change a pinned pair.
///
/// Order:
/// 1. identity and authorisation (`unknown-mfe`, `unknown-environment`, `repository-mismatch`,
///    `environment-not-allowed`, `invalidation-outside-prefix`): any of them rejects.
///    Environment names match exactly (`prod` where `Prod` is declared is `unknown-environment`,
///    whose message names `Prod`); repository names compare without case, as on GitHub
///    ([`RepositoryName`](gitops_event_model::RepositoryName)'s equality);
/// 2. the pending change of the pair, if any (a `pending` for another pair is ignored): the same
///    version string and request id is a `noop` (`already-pending`); a version of lower
///    precedence than the pending one, or of equal precedence written differently, is a
///    `downgrade` (unless `rollback`); anything else goes on and will replace the pending change
///    (the newest intent wins);
/// 3. a version already desired on `main` is a `noop` (`already-desired`; a replay changes
///    nothing, freeze or not);
/// 4. the change rules against `main` (`pinned` when `main` or the pending change pins the pair,
///    `promotion-required`, `freeze-window`, `downgrade`).
///
/// Versions are compared by SemVer precedence: build metadata does not order them, so a version
/// of equal precedence but another string is refused as a `downgrade`. Every applicable reason
/// of a stage is reported, not just the first.
pub fn evaluate_with_pending(
    repository: &Repository,
    request: &DeployRequest,
    intent: &Intent,
    at: OffsetDateTime,
    pending: Option<&Pending>,
) -> Decision {
    let rollback = intent.is_rollback();
    let mfe_name = request.mfe();
    let env_name = request.environment();
    let version = request.version();
    let mfe = repository.mfes.get(mfe_name);
    let env = repository.environment(env_name);
    let previous = repository.deployment(env_name, mfe_name).cloned();
    let mut reasons = Vec::new();

    if mfe.is_none() {
        reasons.push(Reason {
            code: Code::UnknownMfe,
            message: format!(
                "MFE `{mfe_name}` is not registered: there is no mfes/{mfe_name}.yaml"
            ),
        });
    }
    if env.is_none() {
        let known: Vec<&str> = repository
            .config
            .environments
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        // Names are case-sensitive: `prod` is not `Prod`, but the requester is told which one
        // it probably meant.
        let hint = match repository
            .config
            .environment_ignoring_case(env_name.as_str())
        {
            Some(e) => format!("; names are case-sensitive: did you mean `{}`?", e.name),
            None => String::new(),
        };
        reasons.push(Reason {
            code: Code::UnknownEnvironment,
            message: format!(
                "environment `{env_name}` is not declared in gitops.yaml (declared: {}){hint}",
                known.join(", ")
            ),
        });
    }
    if let Some(mfe) = mfe {
        // `RepositoryName` compares without case, as GitHub does.
        if mfe.repository != *request.repository() {
            reasons.push(Reason {
                code: Code::RepositoryMismatch,
                message: format!(
                    "MFE `{mfe_name}` may only be deployed from {}, not from {}",
                    mfe.repository,
                    request.repository()
                ),
            });
        }
        if env.is_some() && !mfe.environments.contains(env_name) {
            let allowed: Vec<&str> = mfe
                .environments
                .iter()
                .map(EnvironmentName::as_str)
                .collect();
            reasons.push(Reason {
                code: Code::EnvironmentNotAllowed,
                message: format!(
                    "MFE `{mfe_name}` may not be deployed to `{env_name}` (allowed: {})",
                    allowed.join(", ")
                ),
            });
        }
    }
    let prefix = format!("/mfe/{mfe_name}/");
    for key in request.cache_invalidation_keys() {
        if !within_prefix(key.as_str(), &prefix) {
            reasons.push(Reason {
                code: Code::InvalidationOutsidePrefix,
                message: format!("CDN path `{key}` is outside this MFE's prefix {prefix}"),
            });
        }
    }
    if !reasons.is_empty() {
        return Decision::reject(reasons, previous);
    }

    if let Some(pending) =
        pending.filter(|p| p.deployment.environment == *env_name && p.deployment.mfe == *mfe_name)
    {
        let reference = &pending.reference;
        let theirs = &pending.deployment.version;
        if theirs == version {
            if pending.deployment.request_id == *request.id() {
                return Decision {
                    decision: Outcome::Noop,
                    reasons: vec![Reason {
                        code: Code::AlreadyPending,
                        message: format!(
                            "{mfe_name} {version} (request {}) is already pending for `{env_name}` in {reference}",
                            request.id()
                        ),
                    }],
                    changes: Vec::new(),
                    previous,
                };
            }
        } else if !rollback {
            match version.semver().cmp_precedence(theirs.semver()) {
                Ordering::Less => {
                    return Decision::reject(
                        vec![Reason {
                            code: Code::Downgrade,
                            message: format!(
                                "{version} is lower than {theirs}, pending for `{env_name}` in {reference}; the newest intent wins (use `gitops rollback` to go back)"
                            ),
                        }],
                        previous,
                    );
                }
                Ordering::Equal => {
                    return Decision::reject(
                        vec![Reason {
                            code: Code::Downgrade,
                            message: format!(
                                "{version} has equal precedence with {theirs}, pending for `{env_name}` in {reference} (build metadata does not order versions), so it is not newer"
                            ),
                        }],
                        previous,
                    );
                }
                Ordering::Greater => {}
            }
        }
    }

    if let Some(current) = &previous
        && current.version == *version
    {
        return Decision {
            decision: Outcome::Noop,
            reasons: vec![Reason {
                code: Code::AlreadyDesired,
                message: format!(
                    "{mfe_name} {version} is already the desired version in {env_name}"
                ),
            }],
            changes: Vec::new(),
            previous,
        };
    }

    let Some(env) = env else {
        return Decision::reject(reasons, previous);
    };
    let pins = previous
        .iter()
        .map(|d| (d, "desired"))
        .chain(pending.map(|p| (&p.deployment, "pending")));
    for (pinned, (deployment, which)) in
        pins.filter_map(|(d, w)| d.pinned.as_ref().map(|p| (p, (d, w))))
    {
        if deployment.environment != *env_name || deployment.mfe != *mfe_name {
            continue;
        }
        let lifted = match intent {
            Intent::Rollback { .. } => true,
            Intent::Override => env.allow_pin_override,
            Intent::Request => false,
        };
        if !lifted {
            let why = if pinned.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", pinned.reason)
            };
            let override_hint = if env.allow_pin_override {
                " or an explicit override"
            } else {
                ""
            };
            reasons.push(Reason {
                code: Code::Pinned,
                message: format!(
                    "{mfe_name} is pinned at {} in `{env_name}` ({which}) by @{} since {}{why}; lift it with `gitops unpin --env {env_name} --mfe {mfe_name}`{override_hint}",
                    deployment.version,
                    pinned.by,
                    pinned.since()
                ),
            });
        }
    }
    if let Some(required) = &env.requires
        && !rollback
    {
        let there = repository.deployment(required, mfe_name);
        if there.is_none_or(|d| d.version != *version) {
            let has = there.map_or_else(|| "nothing".to_owned(), |d| d.version.to_string());
            reasons.push(Reason { code: Code::PromotionRequired, message: format!("{mfe_name} {version} must be desired in `{required}` before `{env_name}` (`{required}` has {has})") });
        }
    }
    for window in &env.freeze {
        if window.contains(at) {
            let why = if window.reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", window.reason)
            };
            reasons.push(Reason {
                code: Code::FreezeWindow,
                message: format!(
                    "`{env_name}` is frozen from {} until {}{why}",
                    rfc3339(window.from),
                    rfc3339(window.until)
                ),
            });
        }
    }
    if let Some(current) = &previous
        && !rollback
    {
        let current_version = &current.version;
        match version.semver().cmp_precedence(current_version.semver()) {
            Ordering::Less => reasons.push(Reason {
                code: Code::Downgrade,
                message: format!(
                    "{version} is lower than the desired {current_version} in `{env_name}`; use `gitops rollback` to go back"
                ),
            }),
            // Not the same version (that was `already-desired` above).
            Ordering::Equal => reasons.push(Reason {
                code: Code::Downgrade,
                message: format!(
                    "{version} has equal precedence with the desired {current_version} in `{env_name}` (build metadata does not order versions), so it is not newer"
                ),
            }),
            Ordering::Greater => {}
        }
    }
    if !reasons.is_empty() {
        return Decision::reject(reasons, previous);
    }
    let pin = match intent {
        Intent::Rollback { pin } => pin.clone(),
        Intent::Request | Intent::Override => None,
    };
    let deployment = deployment_for(request, rollback, pin);
    Decision {
        decision: Outcome::Accept,
        reasons,
        changes: vec![FileChange {
            path: deployment_path(env_name, mfe_name),
            content: crate::edit::render_deployment(&deployment),
        }],
        previous,
    }
}

/// The merge-time check of one changed desired-state file: `desired` (the pull request's
/// version of `deployments/<env>/<mfe>.json`) against `base` (the branch it merges into) as of
/// `at`.
///
/// - A change of the pin alone (the same desired state with `pinned` added, changed or removed:
///   `gitops unpin`, or a pin set by hand in a reviewed pull request) is accepted.
/// - Otherwise the request the file stands for ([`request_of`]) is judged with the intent the
///   file shows: `rollback: true` is a rollback (its own `pinned` is what it writes); a file that
///   drops the base's pin where the environment allows overrides is an override; anything else
///   is a request, refused `pinned` on a pinned pair.
pub fn judge_change(base: &Repository, desired: &Deployment, at: OffsetDateTime) -> Decision {
    let current = base.deployment(&desired.environment, &desired.mfe);
    if let Some(current) = current {
        let mut repinned = current.clone();
        repinned.pinned.clone_from(&desired.pinned);
        if repinned == *desired && current.pinned != desired.pinned {
            return Decision {
                decision: Outcome::Accept,
                reasons: Vec::new(),
                changes: vec![FileChange {
                    path: deployment_path(&desired.environment, &desired.mfe),
                    content: crate::edit::render_deployment(desired),
                }],
                previous: Some(current.clone()),
            };
        }
    }
    let request = match request_of(desired) {
        Ok(request) => request,
        Err(message) => {
            return Decision::reject(
                vec![Reason {
                    code: Code::InvalidPayload,
                    message,
                }],
                current.cloned(),
            );
        }
    };
    let lifts_pin = current.is_some_and(|c| c.pinned.is_some()) && desired.pinned.is_none();
    let allows_override = base
        .environment(&desired.environment)
        .is_some_and(|e| e.allow_pin_override);
    let intent = if desired.rollback {
        Intent::Rollback {
            pin: desired.pinned.clone(),
        }
    } else if lifts_pin && allows_override {
        Intent::Override
    } else {
        Intent::Request
    };
    evaluate_with_pending(base, &request, &intent, at, None)
}

/// The deploy request a desired-state file stands for, to re-run the policy on it (at merge
/// time, or to promote it to another environment).
///
/// # Errors
/// Why the file's values do not make a valid request.
pub fn request_of(desired: &Deployment) -> Result<DeployRequest, String> {
    request_builder_of(desired)
        .id(desired.request_id.to_string())
        .timestamp(desired.requested_at.clone())
        .user(desired.requested_by.to_string())
        .cache_invalidation_keys(
            desired
                .cache_invalidation_keys
                .iter()
                .map(ToString::to_string),
        )
        .build()
        .map_err(|e| format!("the desired state is not a valid request: {e}"))
}

/// A request builder holding what a desired state says of its artifact: the MFE, version,
/// environment, repository, ref and sha. Callers add who asks and when (and may replace the
/// version or the environment: a rollback, a promotion); without an id the request gets a fresh
/// one.
pub fn request_builder_of(desired: &Deployment) -> gitops_event_model::DeployRequestBuilder {
    DeployRequest::builder()
        .mfe(desired.mfe.to_string())
        .version(desired.version.to_string())
        .environment(desired.environment.to_string())
        .repository(desired.repository.to_string())
        .git_ref(desired.git_ref.to_string())
        .sha(desired.sha.to_string())
}

/// Whether a CDN key lies under `prefix` once normalised: percent-decoded, duplicate slashes
/// collapsed; any `.`/`..` segment or control character refuses it.
pub fn within_prefix(key: &str, prefix: &str) -> bool {
    let Ok(decoded) = percent_decode_str(key).decode_utf8() else {
        return false;
    };
    if decoded.chars().any(|c| c.is_control() || c == '\\') {
        return false;
    }
    let mut normal = String::with_capacity(decoded.len());
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        if segment == "." || segment == ".." {
            return false;
        }
        normal.push('/');
        normal.push_str(segment);
    }
    if decoded.ends_with('/') {
        normal.push('/');
    }
    normal.starts_with(prefix) && normal.len() > prefix.len()
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}
