//! Integration tests of gitops-event-model (one test binary per crate).

// Test code runs on the harness's threads: blocking file and process calls are fine here.
#![allow(clippy::disallowed_methods)]

mod duplicate_keys;
mod event_action;
mod forms;
mod fuzz;
mod hostile;
mod properties;
mod rules;
mod schema;
mod seams;

use serde_json::{Value, json};

/// The compiled deploy-request schema, compiled once (compiling it is slow in debug builds).
pub fn schema_validator() -> &'static jsonschema::Validator {
    static VALIDATOR: std::sync::LazyLock<jsonschema::Validator> = std::sync::LazyLock::new(|| {
        jsonschema::validator_for(gitops_event_model::deploy_request_schema()).unwrap()
    });
    &VALIDATOR
}

/// A valid canonical payload.
pub fn canonical() -> Value {
    json!({
        "id": "01JDQ8Z6X8N7W4K2M5R3T9V1YB",
        "timestamp": "2026-11-26T09:30:00Z",
        "user": "octocat",
        "mfe": "checkout",
        "version": "1.4.0",
        "environment": "dev",
        "cache_invalidation_keys": ["/mfe/checkout/remoteEntry.js"],
        "repository": "acme/checkout-mfe",
        "ref": "refs/heads/main",
        "sha": "3f786850e387550fdab836ed7e6dc881de23001b"
    })
}

/// `canonical()` with one key set (or removed when `value` is None).
pub fn with(key: &str, value: Option<Value>) -> Value {
    let mut doc = canonical();
    let object = doc.as_object_mut().unwrap();
    match value {
        Some(v) => {
            object.insert(key.to_owned(), v);
        }
        None => {
            object.remove(key);
        }
    }
    doc
}

/// The (field, rule code) pairs of the problems found, or empty when valid.
pub fn problems(doc: &Value) -> Vec<(String, String)> {
    match gitops_event_model::validate_value(doc) {
        Ok(_) => Vec::new(),
        Err(e) => e
            .problems()
            .iter()
            .map(|p| (p.field.clone(), p.rule.code().to_owned()))
            .collect(),
    }
}

/// Asserts `doc` is refused with exactly one problem, at `field`, for `rule`.
#[track_caller]
pub fn assert_refused(doc: &Value, field: &str, rule: &str) {
    assert_eq!(
        problems(doc),
        vec![(field.to_owned(), rule.to_owned())],
        "document: {doc}"
    );
}
