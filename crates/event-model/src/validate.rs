//! Validation of documents that claim to be deploy requests: bare payloads or whole
//! `repository_dispatch` envelopes, from bytes or parsed JSON.

use std::sync::LazyLock;

use serde_json::{Map, Value};

use crate::envelope::EnvelopeInfo;
use crate::fields::{
    CdnPath, CommitSha, EnvironmentName, EventType, FieldError, GitRef, Login, MfeName,
    RepositoryName, RequestId, Timestamp, Version, limits,
};
use crate::problem::{Problem, Rule, pointer};
use crate::request::{DeployRequest, Form, WirePayload, split_keys_text};
use crate::{Error, MAX_INPUT_BYTES, MAX_PAYLOAD_BYTES, MAX_TOP_LEVEL_KEYS};

/// The keys of the contract, in documented order (`type` is the seed form's alternative to `id`).
pub const KEYS: [&str; 11] = [
    "id",
    "type",
    "timestamp",
    "user",
    "mfe",
    "version",
    "environment",
    "cache_invalidation_keys",
    "repository",
    "ref",
    "sha",
];

/// A document that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    /// The request.
    pub request: DeployRequest,
    /// What the envelope said, when the document was a whole event.
    pub envelope: Option<EnvelopeInfo>,
}

impl Validated {
    /// One line for people: `ok: deploy <mfe> <version> to <env> requested by ... (id ...; form)`.
    pub fn summary(&self) -> String {
        let request = &self.request;
        let form = match request.form() {
            Form::Canonical => "canonical form",
            Form::Seed { .. } => "seed form, id derived",
        };
        let wrapped = if self.envelope.is_some() {
            ", in a repository_dispatch event"
        } else {
            ""
        };
        format!(
            "ok: deploy {} {} to {} requested by {} from {}@{} (id {}; {form}{wrapped})",
            request.mfe(),
            request.version(),
            request.environment(),
            request.user(),
            request.repository(),
            request.sha(),
            request.id(),
        )
    }
}

/// The machine-readable report of a validation (`mfe validate --format json`): `{"valid",
/// "problems": [{"field", "rule", "message"}], "request", "form", "envelope"}`.
pub fn validation_report(outcome: &Result<Validated, Error>) -> Value {
    match outcome {
        Ok(validated) => serde_json::json!({
            "valid": true,
            "form": match validated.request.form() {
                Form::Canonical => "canonical",
                Form::Seed { .. } => "seed",
            },
            "envelope": validated.envelope.is_some(),
            "request": validated.request.to_value(),
            "problems": [],
        }),
        Err(error) => serde_json::json!({
            "valid": false,
            "problems": error
                .problems()
                .iter()
                .map(|p| serde_json::json!({
                    "field": p.field,
                    "rule": p.rule.code(),
                    "message": p.message,
                }))
                .collect::<Vec<_>>(),
        }),
    }
}

/// Validates raw bytes: a bare `client_payload` or a whole `repository_dispatch` event.
///
/// The bytes are parsed once by a reader that refuses a key repeated in any object of the
/// document ([`Rule::DuplicateKey`], pointing at the repeated key): parsers disagree on which of
/// two equal keys counts, so such a document could mean two different requests.
///
/// An envelope's `action` is not checked; [`validate_event`] also checks it.
///
/// Never panics, whatever the bytes: empty, binary, not UTF-8, truncated or deeply nested input
/// is reported as a [`Rule::Syntax`] problem.
pub fn validate_bytes(input: &[u8]) -> Result<Validated, Error> {
    validate_document(&parse_document(input)?, None)
}

/// Validates raw bytes as [`validate_bytes`] does and, when they are a whole
/// `repository_dispatch` event (a JSON object with a `client_payload` key), also requires the
/// event's `action` to be present and equal to `event_type`, the event type this GitOps
/// repository is configured for (usually [`crate::EVENT_TYPE`]); a mismatch or a missing
/// `action` is a [`Rule::Envelope`] problem at `/action`. A bare payload has no `action` and is
/// judged exactly as [`validate_bytes`] judges it.
pub fn validate_event(input: &[u8], event_type: &str) -> Result<Validated, Error> {
    validate_document(&parse_document(input)?, Some(event_type))
}

/// Validates a parsed document: a bare `client_payload` or a whole `repository_dispatch` event
/// (recognised by its `client_payload` key). Problem fields are JSON pointers into `document`.
///
/// A [`Value`] cannot hold a repeated key (the parser that made it already kept one of them), so
/// this function cannot refuse duplicate keys: validate untrusted text with [`validate_bytes`] or
/// [`validate_event`], which do.
pub fn validate_value(document: &Value) -> Result<Validated, Error> {
    validate_document(document, None)
}

/// Reads bytes into a JSON value: bounded size, UTF-8, one JSON document, no repeated key.
fn parse_document(input: &[u8]) -> Result<Value, Error> {
    if input.len() > MAX_INPUT_BYTES {
        return Err(Error::invalid(vec![Problem::new(
            "",
            Rule::InputTooLarge,
            format!(
                "the input is {} bytes; a deploy request or event is at most {MAX_INPUT_BYTES}",
                input.len()
            ),
        )]));
    }
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let text = std::str::from_utf8(input).map_err(|e| {
        Error::invalid(vec![Problem::new(
            "",
            Rule::Syntax,
            format!(
                "the input is not UTF-8 text (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )])
    })?;
    if text.trim().is_empty() {
        return Err(Error::invalid(vec![Problem::new(
            "",
            Rule::Syntax,
            "the input is empty; expected a JSON object",
        )]));
    }
    let (parsed, duplicates) = crate::strict::parse(text);
    let mut problems: Vec<Problem> = duplicates
        .recorded
        .iter()
        .map(|(at, key)| {
            Problem::new(
                at.as_str(),
                Rule::DuplicateKey,
                format!(
                    "the key {} appears more than once in the same object; JSON parsers \
                     disagree on which value counts, so a key may appear only once",
                    crate::fields::excerpt(key)
                ),
            )
        })
        .collect();
    let unrecorded = duplicates.total.saturating_sub(duplicates.recorded.len());
    if unrecorded > 0
        && let Some(last) = problems.last_mut()
    {
        last.message = format!(
            "{} ({unrecorded} more repeated keys are not listed)",
            last.message
        );
    }
    match parsed {
        Ok(value) if problems.is_empty() => Ok(value),
        Ok(_) => Err(Error::invalid(problems)),
        Err(e) => {
            let what = if e.is_eof() {
                "the JSON is truncated"
            } else {
                "the input is not valid JSON"
            };
            problems.push(Problem::new("", Rule::Syntax, format!("{what}: {e}")));
            Err(Error::invalid(problems))
        }
    }
}

/// Validates a document; with `event_type`, an envelope's `action` must equal it.
fn validate_document(document: &Value, event_type: Option<&str>) -> Result<Validated, Error> {
    match document.as_object() {
        Some(object) if object.contains_key("client_payload") => {
            let (info, mut problems) = crate::envelope::inspect(object);
            if let Some(expected) = event_type
                && let Some(problem) = crate::envelope::check_action(object, expected)
            {
                problems.insert(0, problem);
            }
            match check_payload(&object["client_payload"], "/client_payload") {
                Ok(request) if problems.is_empty() => Ok(Validated {
                    request,
                    envelope: Some(info),
                }),
                Ok(_) => Err(Error::invalid(problems)),
                Err(more) => {
                    problems.extend(more);
                    Err(Error::invalid(problems))
                }
            }
        }
        _ => check_payload(document, "")
            .map(|request| Validated {
                request,
                envelope: None,
            })
            .map_err(Error::invalid),
    }
}

/// Checks one payload; `base` is its JSON pointer in the document.
fn check_payload(payload: &Value, base: &str) -> Result<DeployRequest, Vec<Problem>> {
    let Some(object) = payload.as_object() else {
        return Err(vec![Problem::new(
            base,
            Rule::NotAnObject,
            format!(
                "the deploy request must be a JSON object, found {}",
                kind(payload)
            ),
        )]);
    };
    let mut problems = Vec::new();
    let size = serde_json::to_vec(payload).map_or(usize::MAX, |v| v.len());
    if size >= MAX_PAYLOAD_BYTES {
        problems.push(Problem::new(
            base,
            Rule::TooLarge,
            format!(
                "the payload is {size} bytes; GitHub accepts less than {MAX_PAYLOAD_BYTES} (64 KB)"
            ),
        ));
    }
    if object.len() > MAX_TOP_LEVEL_KEYS {
        problems.push(Problem::new(
            base,
            Rule::TooManyKeys,
            format!(
                "the payload has {} top-level keys; GitHub allows at most {MAX_TOP_LEVEL_KEYS}",
                object.len()
            ),
        ));
    }
    check_keys(object, base, &mut problems);
    for key in KEYS {
        if let Some(value) = object.get(key) {
            check_field(key, value, &pointer(base, key), &mut problems);
        }
    }
    add_schema_problems(payload, base, &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    serde_json::from_value::<WirePayload>(payload.clone())
        .map_err(|e| vec![Problem::new(base, Rule::Schema, e.to_string())])?
        .into_request()
        .map_err(Error::into_problems)
}

/// Unknown keys, missing keys, and the `id`/`type` alternative.
fn check_keys(object: &Map<String, Value>, base: &str, problems: &mut Vec<Problem>) {
    for key in object.keys() {
        if !KEYS.contains(&key.as_str()) {
            problems.push(Problem::new(
                pointer(base, key),
                Rule::UnknownKey,
                format!(
                    "unknown key {}; the allowed keys are {}",
                    crate::fields::excerpt(key),
                    KEYS.join(", ")
                ),
            ));
        }
    }
    match (object.contains_key("id"), object.contains_key("type")) {
        (true, true) => problems.push(Problem::new(
            pointer(base, "type"),
            Rule::IdOrType,
            "`id` (canonical form) and `type` (seed form) cannot both be present",
        )),
        (false, false) => problems.push(Problem::new(
            pointer(base, "id"),
            Rule::Required,
            "`id` is required (or `type`, in the seed form, from which the id is derived)",
        )),
        _ => {}
    }
    for key in &KEYS[2..] {
        if !object.contains_key(*key) {
            problems.push(Problem::new(
                pointer(base, key),
                Rule::Required,
                format!("`{key}` is required"),
            ));
        }
    }
}

fn check_field(key: &str, value: &Value, at: &str, problems: &mut Vec<Problem>) {
    let check: fn(&str) -> Result<(), FieldError> = match key {
        "id" => |v| RequestId::parse(v).map(drop),
        "type" => |v| EventType::parse(v).map(drop),
        "timestamp" => |v| Timestamp::parse(v).map(drop),
        "user" => |v| Login::parse(v).map(drop),
        "mfe" => |v| MfeName::parse(v).map(drop),
        "version" => |v| Version::parse(v).map(drop),
        "environment" => |v| EnvironmentName::parse(v).map(drop),
        "repository" => |v| RepositoryName::parse(v).map(drop),
        "ref" => |v| GitRef::parse(v).map(drop),
        "sha" => |v| CommitSha::parse(v).map(drop),
        "cache_invalidation_keys" => return check_keys_value(value, at, problems),
        _ => return,
    };
    match value.as_str() {
        Some(text) => {
            if let Err(e) = check(text) {
                problems.push(Problem::new(at, e.rule, e.message));
            }
        }
        None => problems.push(Problem::new(
            at,
            Rule::Type,
            format!("`{key}` must be a string, found {}", kind(value)),
        )),
    }
}

fn check_keys_value(value: &Value, at: &str, problems: &mut Vec<Problem>) {
    match value {
        Value::Array(items) => {
            if items.len() > limits::CDN_PATHS {
                problems.push(Problem::new(
                    at,
                    Rule::MaxLength,
                    format!(
                        "{} paths given; at most {} are allowed",
                        items.len(),
                        limits::CDN_PATHS
                    ),
                ));
            }
            for (i, item) in items.iter().enumerate() {
                let item_at = pointer(at, &i.to_string());
                match item.as_str() {
                    Some(text) => {
                        if let Err(e) = CdnPath::parse(text) {
                            problems.push(Problem::new(item_at, e.rule, e.message));
                        }
                    }
                    None => problems.push(Problem::new(
                        item_at,
                        Rule::Type,
                        format!("a CDN path must be a string, found {}", kind(item)),
                    )),
                }
            }
        }
        Value::String(text) => {
            for path in split_keys_text(text) {
                if let Err(e) = CdnPath::parse(path) {
                    problems.push(Problem::new(at, e.rule, e.message));
                }
            }
        }
        other => problems.push(Problem::new(
            at,
            Rule::Type,
            format!(
                "`cache_invalidation_keys` must be a list of paths (or, in the seed form, one string of paths), found {}",
                kind(other)
            ),
        )),
    }
}

/// The compiled JSON Schema of the payload.
static VALIDATOR: LazyLock<Option<jsonschema::Validator>> =
    LazyLock::new(|| jsonschema::validator_for(crate::schema::deploy_request_schema()).ok());

/// Runs the JSON Schema and keeps what the Rust checks did not already say about that field.
fn add_schema_problems(payload: &Value, base: &str, problems: &mut Vec<Problem>) {
    let Some(validator) = VALIDATOR.as_ref() else {
        problems.push(Problem::new(
            base,
            Rule::Schema,
            "internal error: the deploy-request schema does not compile",
        ));
        return;
    };
    let mut extra = Vec::new();
    for error in validator.iter_errors(payload) {
        let mut at = format!("{base}{}", error.instance_path().as_str());
        let rule = match error.kind() {
            jsonschema::error::ValidationErrorKind::Required { property } => {
                at = pointer(&at, property.as_str().unwrap_or_default());
                Rule::Required
            }
            jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                if let Some(key) = unexpected.first() {
                    at = pointer(&at, key);
                }
                Rule::UnknownKey
            }
            jsonschema::error::ValidationErrorKind::OneOfNotValid { .. }
            | jsonschema::error::ValidationErrorKind::OneOfMultipleValid { .. } => Rule::IdOrType,
            jsonschema::error::ValidationErrorKind::MaxProperties { .. } => Rule::TooManyKeys,
            jsonschema::error::ValidationErrorKind::Type { .. } => Rule::Type,
            jsonschema::error::ValidationErrorKind::Pattern { .. } => Rule::Pattern,
            jsonschema::error::ValidationErrorKind::MaxLength { .. }
            | jsonschema::error::ValidationErrorKind::MaxItems { .. } => Rule::MaxLength,
            _ => Rule::Schema,
        };
        let covered = problems.iter().any(|p| {
            p.field == at
                || p.field.starts_with(&format!("{at}/"))
                || at.starts_with(&format!("{}/", p.field))
                || (p.rule == rule && matches!(rule, Rule::IdOrType | Rule::TooManyKeys))
                || (rule == Rule::IdOrType && p.field.ends_with("/id"))
        });
        if !covered {
            extra.push(Problem::new(at, rule, error.to_string()));
        }
    }
    problems.extend(extra);
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
