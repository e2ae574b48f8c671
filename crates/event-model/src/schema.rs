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
    let mut text = serde_json::to_string_pretty(deploy_request_schema()).unwrap_or_default();
    text.push('\n');
    text
}
