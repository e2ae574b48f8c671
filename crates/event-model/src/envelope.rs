//! The `repository_dispatch` event as GitHub Actions writes it to `GITHUB_EVENT_PATH`.
//!
//! Only `client_payload` matters to validation; the other fields are read leniently (GitHub adds
//! fields over time: `branch`, `installation`, `organization`, `enterprise`...), so unknown
//! envelope fields are tolerated while unknown payload keys are not.

use serde_json::{Map, Value};

use crate::problem::{Problem, Rule};

/// What the envelope around a payload said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvelopeInfo {
    /// `action`: the event type the sender chose (`deploy-mfe-trigger`).
    pub action: Option<String>,
    /// `branch`: the default branch of the receiving repository.
    pub branch: Option<String>,
    /// `repository.full_name`: the receiving (GitOps) repository.
    pub repository: Option<String>,
    /// `sender.login`: who sent the event (the token's owner).
    pub sender: Option<String>,
    /// `installation.id`, when sent by a GitHub App.
    pub installation: Option<u64>,
}

/// Reads the envelope fields and reports malformed ones (wrong JSON types).
pub(crate) fn inspect(object: &Map<String, Value>) -> (EnvelopeInfo, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut string_at = |key: &str, value: Option<&Value>| -> Option<String> {
        match value {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                problems.push(Problem::new(
                    format!("/{key}"),
                    Rule::Envelope,
                    format!("the event's `{key}` must be a string"),
                ));
                None
            }
        }
    };
    let action = string_at("action", object.get("action"));
    let branch = string_at("branch", object.get("branch"));
    let repository = string_at(
        "repository/full_name",
        object.get("repository").and_then(|r| r.get("full_name")),
    );
    let sender = string_at(
        "sender/login",
        object.get("sender").and_then(|s| s.get("login")),
    );
    let installation = object
        .get("installation")
        .and_then(|i| i.get("id"))
        .and_then(Value::as_u64);
    (
        EnvelopeInfo {
            action,
            branch,
            repository,
            sender,
            installation,
        },
        problems,
    )
}

/// With a configured event type: the envelope's `action` must be present and equal it. A
/// non-string `action` is already reported by [`inspect`], so it is not reported twice.
pub(crate) fn check_action(object: &Map<String, Value>, event_type: &str) -> Option<Problem> {
    let message = match object.get("action") {
        None | Some(Value::Null) => format!(
            "the event has no `action`; expected the configured event type {}",
            crate::fields::excerpt(event_type)
        ),
        Some(Value::String(action)) if action == event_type => return None,
        Some(Value::String(action)) => format!(
            "the event's `action` is {}, not the configured event type {}",
            crate::fields::excerpt(action),
            crate::fields::excerpt(event_type)
        ),
        Some(_) => return None,
    };
    Some(Problem::new("/action", Rule::Envelope, message))
}
