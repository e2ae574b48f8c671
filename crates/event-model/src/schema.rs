//! The committed JSON Schema (`schemas/deploy-request.schema.json`), generated from the types.

use std::sync::LazyLock;

use serde_json::Value;

use crate::request::WirePayload;

static SCHEMA: LazyLock<Value> = LazyLock::new(|| {
    let schema = schemars::schema_for!(WirePayload);
    serde_json::to_value(schema).unwrap_or(Value::Null)
});

/// The deploy-request JSON Schema (draft 2020-12) as a value.
pub fn deploy_request_schema() -> &'static Value {
    &SCHEMA
}

/// The schema as committed: pretty JSON with a trailing newline.
pub fn deploy_request_schema_text() -> String {
    canonical_json_text(deploy_request_schema())
}

/// Pretty JSON with object keys sorted at every level and a trailing newline: the same bytes
/// whatever `serde_json` features the build unified (`preserve_order` changes key order).
pub fn canonical_json_text(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), sorted(v)))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    // Writing a `Value` cannot fail (its keys are strings, its numbers finite).
    let mut text = serde_json::to_string_pretty(&sorted(value)).unwrap_or_default();
    text.push('\n');
    text
}
