//! Deterministic, minimal edits: one file per (environment, MFE), stable key order, two-space
//! indentation and a trailing newline, so a change is a one-line diff and applying the same
//! request twice yields identical bytes.

use gitops_event_model::{CdnPath, DeployRequest};
use schemars::JsonSchema;
use serde::Serialize;

use crate::model::{Deployment, Pin};

/// A file to write, relative to the repository root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct FileChange {
    /// `/`-separated path.
    pub path: String,
    /// Full new content.
    pub content: String,
}

/// The desired-state record a request produces: the request's own typed values, copied. It
/// carries no `sequence`: the order of desired states comes from git (the first-parent position
/// of the commit that last changed the file), not from a number in the file.
pub fn deployment_for(request: &DeployRequest, rollback: bool, pinned: Option<Pin>) -> Deployment {
    Deployment {
        mfe: request.mfe().clone(),
        environment: request.environment().clone(),
        version: request.version().clone(),
        sha: request.sha().clone(),
        git_ref: request.git_ref().clone(),
        repository: request.repository().clone(),
        requested_by: request.user().clone(),
        requested_at: request.timestamp().to_string(),
        request_id: request.id().clone(),
        rollback,
        cache_invalidation_keys: request.cache_invalidation_keys().to_vec(),
        pinned,
        sequence: 0,
    }
}

/// One value of a desired-state file.
enum Field<'a> {
    Text(&'a str),
    Flag(bool),
    List(Vec<&'a str>),
    Object(Vec<(&'a str, String)>),
    Number(u64),
}

/// The canonical text of a desired-state file: the keys in [`Deployment`]'s order,
/// `cache_invalidation_keys` omitted when empty and `sequence` omitted when 0, exactly as
/// `serde_json::to_string_pretty` writes it, plus a trailing newline.
///
/// Written directly rather than through a fallible serializer: there is no error to lose, so a
/// failure can never turn into an empty file.
pub fn render_deployment(deployment: &Deployment) -> String {
    let d = deployment;
    let version = d.version.to_string();
    let mut fields = vec![
        ("mfe", Field::Text(d.mfe.as_str())),
        ("environment", Field::Text(d.environment.as_str())),
        ("version", Field::Text(&version)),
        ("sha", Field::Text(d.sha.as_str())),
        ("ref", Field::Text(d.git_ref.as_str())),
        ("repository", Field::Text(d.repository.as_str())),
        ("requested_by", Field::Text(d.requested_by.as_str())),
        ("requested_at", Field::Text(&d.requested_at)),
        ("request_id", Field::Text(d.request_id.as_str())),
        ("rollback", Field::Flag(d.rollback)),
    ];
    if !d.cache_invalidation_keys.is_empty() {
        fields.push((
            "cache_invalidation_keys",
            Field::List(
                d.cache_invalidation_keys
                    .iter()
                    .map(CdnPath::as_str)
                    .collect(),
            ),
        ));
    }
    if let Some(pin) = &d.pinned {
        let mut keys = vec![("by", pin.by.to_string()), ("at", pin.since())];
        if !pin.reason.is_empty() {
            keys.push(("reason", pin.reason.clone()));
        }
        fields.push(("pinned", Field::Object(keys)));
    }
    if d.sequence != 0 {
        fields.push(("sequence", Field::Number(d.sequence)));
    }
    let mut out = String::from("{\n");
    for (i, (key, value)) in fields.iter().enumerate() {
        out.push_str("  ");
        push_json_string(&mut out, key);
        out.push_str(": ");
        match value {
            Field::Text(text) => push_json_string(&mut out, text),
            Field::Flag(flag) => out.push_str(if *flag { "true" } else { "false" }),
            Field::Number(n) => out.push_str(&n.to_string()),
            Field::List(items) if items.is_empty() => out.push_str("[]"),
            Field::List(items) => {
                out.push_str("[\n");
                for (j, item) in items.iter().enumerate() {
                    out.push_str("    ");
                    push_json_string(&mut out, item);
                    if j + 1 < items.len() {
                        out.push(',');
                    }
                    out.push('\n');
                }
                out.push_str("  ]");
            }
            Field::Object(keys) => {
                out.push_str("{\n");
                for (j, (key, value)) in keys.iter().enumerate() {
                    out.push_str("    ");
                    push_json_string(&mut out, key);
                    out.push_str(": ");
                    push_json_string(&mut out, value);
                    if j + 1 < keys.len() {
                        out.push(',');
                    }
                    out.push('\n');
                }
                out.push_str("  }");
            }
        }
        if i + 1 < fields.len() {
            out.push(',');
        }
        out.push('\n');
    }
    out.push_str("}\n");
    out
}

/// Appends `text` as a JSON string, escaped as serde_json escapes it.
fn push_json_string(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c => match u8::try_from(c) {
                Ok(byte) if byte < 0x20 => {
                    out.push_str("\\u00");
                    out.push(char::from(HEX[usize::from(byte >> 4)]));
                    out.push(char::from(HEX[usize::from(byte & 0xf)]));
                }
                _ => out.push(c),
            },
        }
    }
    out.push('"');
}
