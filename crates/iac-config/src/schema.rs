//! JSON Schemas of the three file formats and of the policy's decision (with its stable reason
//! codes), committed under `schemas/`.

use crate::model::{Deployment, GitopsConfig, MfeConfig};
use crate::policy::Decision;

/// `(file name under schemas/, pretty JSON text with a trailing newline)` for each format and
/// the decision.
pub fn schemas() -> Vec<(&'static str, String)> {
    let render =
        |schema: schemars::Schema| gitops_event_model::canonical_json_text(&schema.to_value());
    vec![
        (
            "gitops.schema.json",
            render(schemars::schema_for!(GitopsConfig)),
        ),
        ("mfe.schema.json", render(schemars::schema_for!(MfeConfig))),
        (
            "deployment.schema.json",
            render(schemars::schema_for!(Deployment)),
        ),
        (
            "decision.schema.json",
            render(schemars::schema_for!(Decision)),
        ),
    ]
}
