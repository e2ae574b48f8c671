//! `validate_event`: an envelope's `action` must be the configured event type; a bare payload is
//! judged as `validate_bytes` judges it.

use gitops_event_model::{EVENT_TYPE, Rule, validate_bytes, validate_event};
use serde_json::{Value, json};

fn event(action: Option<Value>) -> Vec<u8> {
    let mut event = json!({
        "branch": "main",
        "client_payload": crate::canonical(),
        "repository": {"full_name": "acme/gitops"},
        "sender": {"login": "octocat"}
    });
    if let Some(action) = action {
        event["action"] = action;
    }
    serde_json::to_vec(&event).unwrap()
}

/// The (field, rule code) pairs of `validate_event`, or empty when valid.
fn problems(bytes: &[u8], event_type: &str) -> Vec<(String, String)> {
    match validate_event(bytes, event_type) {
        Ok(_) => Vec::new(),
        Err(e) => e
            .problems()
            .iter()
            .map(|p| (p.field.clone(), p.rule.code().to_owned()))
            .collect(),
    }
}

fn at_action() -> Vec<(String, String)> {
    vec![("/action".to_owned(), "envelope".to_owned())]
}

#[test]
fn the_default_event_type_is_deploy_mfe_trigger() {
    assert_eq!(EVENT_TYPE, "deploy-mfe-trigger");
}

#[test]
fn an_envelope_of_the_configured_type_is_accepted() {
    let bytes = event(Some(json!(EVENT_TYPE)));
    let validated = validate_event(&bytes, EVENT_TYPE).unwrap();
    assert_eq!(
        validated.envelope.unwrap().action.as_deref(),
        Some(EVENT_TYPE)
    );
    assert_eq!(validate_event(&bytes, EVENT_TYPE), validate_bytes(&bytes));

    // Another configured type: its own events pass, default-type events do not.
    let custom = event(Some(json!("deploy-mfe-custom")));
    assert!(validate_event(&custom, "deploy-mfe-custom").is_ok());
    assert_eq!(problems(&bytes, "deploy-mfe-custom"), at_action());
}

#[test]
fn an_envelope_of_another_type_is_refused_naming_both() {
    let bytes = event(Some(json!("deploy-something-else")));
    // validate_bytes keeps its behaviour: it does not judge the action.
    assert!(validate_bytes(&bytes).is_ok());

    let err = validate_event(&bytes, EVENT_TYPE).unwrap_err();
    assert_eq!(problems(&bytes, EVENT_TYPE), at_action());
    let message = &err.problems()[0].message;
    assert!(message.contains("\"deploy-something-else\""), "{message}");
    assert!(message.contains("\"deploy-mfe-trigger\""), "{message}");
    assert_eq!(err.problems()[0].rule, Rule::Envelope);

    // Case matters: GitHub passes the type through as sent.
    let upper = event(Some(json!("DEPLOY-MFE-TRIGGER")));
    assert_eq!(problems(&upper, EVENT_TYPE), at_action());
}

#[test]
fn an_envelope_without_action_is_refused() {
    for bytes in [event(None), event(Some(Value::Null))] {
        let err = validate_event(&bytes, EVENT_TYPE).unwrap_err();
        assert_eq!(problems(&bytes, EVENT_TYPE), at_action());
        let message = &err.problems()[0].message;
        assert!(message.contains("no `action`"), "{message}");
        assert!(message.contains("\"deploy-mfe-trigger\""), "{message}");
        assert!(validate_bytes(&bytes).is_ok());
    }
}

#[test]
fn an_action_that_is_not_a_string_is_reported_once() {
    let bytes = event(Some(json!(["deploy-mfe-trigger"])));
    let err = validate_event(&bytes, EVENT_TYPE).unwrap_err();
    assert_eq!(problems(&bytes, EVENT_TYPE), at_action());
    assert!(
        err.problems()[0].message.contains("must be a string"),
        "{err}"
    );
}

#[test]
fn a_wrong_action_is_reported_with_the_payload_problems() {
    let mut event: Value = serde_json::from_slice(&event(Some(json!("other")))).unwrap();
    event["client_payload"]["version"] = json!("latest");
    let bytes = serde_json::to_vec(&event).unwrap();
    assert_eq!(
        problems(&bytes, EVENT_TYPE),
        vec![
            ("/action".to_owned(), "envelope".to_owned()),
            ("/client_payload/version".to_owned(), "semver".to_owned())
        ]
    );
}

#[test]
fn a_bare_payload_is_unaffected() {
    let bare = serde_json::to_vec(&crate::canonical()).unwrap();
    for event_type in [EVENT_TYPE, "deploy-mfe-custom"] {
        let validated = validate_event(&bare, event_type).unwrap();
        assert!(validated.envelope.is_none());
        assert_eq!(Ok(validated), validate_bytes(&bare));
    }
    // A bare payload's problems are the same as validate_bytes's, with no action problem.
    let broken = serde_json::to_vec(&crate::with("mfe", Some(json!("X")))).unwrap();
    assert_eq!(validate_event(&broken, EVENT_TYPE), validate_bytes(&broken));
    assert_eq!(
        problems(&broken, EVENT_TYPE),
        vec![("/mfe".to_owned(), "pattern".to_owned())]
    );
}

#[test]
fn the_committed_event_example_passes_validate_event() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/repository_dispatch.deploy.json"
    );
    let bytes = std::fs::read(path).unwrap();
    assert!(validate_event(&bytes, EVENT_TYPE).is_ok());
    assert_eq!(problems(&bytes, "other-type"), at_action());
}

#[test]
fn duplicate_keys_are_refused_by_validate_event_too() {
    let text = String::from_utf8(event(Some(json!(EVENT_TYPE)))).unwrap();
    let doubled = text.replacen(
        "\"action\":",
        "\"action\":\"deploy-mfe-trigger\",\"action\":",
        1,
    );
    assert_ne!(doubled, text);
    assert_eq!(
        problems(doubled.as_bytes(), EVENT_TYPE),
        vec![("/action".to_owned(), "duplicate-key".to_owned())]
    );
}
