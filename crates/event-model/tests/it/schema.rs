//! The committed schema is current, and the Rust rules never accept what the schema refuses.

use gitops_event_model::{deploy_request_schema, deploy_request_schema_text};

const COMMITTED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../schemas/deploy-request.schema.json"
);

#[test]
fn committed_schema_is_not_stale() {
    let fresh = deploy_request_schema_text();
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(COMMITTED, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == fresh,
        "schemas/deploy-request.schema.json is stale; regenerate it with `UPDATE_SCHEMAS=1 cargo test -p gitops-event-model` or `mfe schema > schemas/deploy-request.schema.json`"
    );
}

#[test]
fn schema_compiles_and_accepts_the_examples() {
    let validator = jsonschema::validator_for(deploy_request_schema()).unwrap();
    assert!(validator.is_valid(&crate::canonical()));
    let mut both = crate::canonical();
    both["type"] = serde_json::json!("deploy-mfe-trigger");
    assert!(
        !validator.is_valid(&both),
        "id and type together must break oneOf"
    );
    let mut extra = crate::canonical();
    extra["x"] = serde_json::json!(1);
    assert!(!validator.is_valid(&extra));
}
