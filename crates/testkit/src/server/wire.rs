//! What crosses the wire: responses, GitHub-shaped API errors, request bodies, query strings
//! and base64 content, shared by every resource.

use std::collections::HashMap;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::Error;
use crate::json as j;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A response before it is encoded.
#[derive(Debug)]
pub(super) struct Resp {
    pub(super) status: u16,
    pub(super) body: RespBody,
    pub(super) headers: Vec<(&'static str, String)>,
}

#[derive(Debug)]
pub(super) enum RespBody {
    Json(Value),
    Bytes(Vec<u8>, &'static str),
    Empty,
}

/// A response as it goes on the wire: the body serialised once, for the conformance check and
/// the client alike.
#[derive(Debug)]
pub(super) struct Encoded {
    pub(super) status: u16,
    pub(super) bytes: Vec<u8>,
    /// `None` for an empty body.
    pub(super) content_type: Option<&'static str>,
    pub(super) headers: Vec<(&'static str, String)>,
}

/// The content type of JSON bodies.
pub(super) const JSON: &str = "application/json; charset=utf-8";

impl Resp {
    /// Serialises the body. One that does not serialise is answered 500 (and logged), never
    /// sent empty.
    pub(super) fn encode(self) -> Encoded {
        let (bytes, content_type) = match self.body {
            RespBody::Json(v) => match serde_json::to_vec(&v) {
                Ok(bytes) => (bytes, Some(JSON)),
                Err(e) => {
                    eprintln!("fake-github: internal error: cannot serialise a response: {e}");
                    return Encoded {
                        status: 500,
                        bytes: br#"{"message":"Server Error","documentation_url":"https://docs.github.com/rest","status":"500"}"#.to_vec(),
                        content_type: Some(JSON),
                        headers: Vec::new(),
                    };
                }
            },
            RespBody::Bytes(bytes, t) => (bytes, Some(t)),
            RespBody::Empty => (Vec::new(), None),
        };
        Encoded {
            status: self.status,
            bytes,
            content_type,
            headers: self.headers,
        }
    }

    pub(super) fn json(status: u16, v: Value) -> Self {
        Self {
            status,
            body: RespBody::Json(v),
            headers: Vec::new(),
        }
    }
    pub(super) fn empty(status: u16) -> Self {
        Self {
            status,
            body: RespBody::Empty,
            headers: Vec::new(),
        }
    }
    pub(super) fn header(mut self, k: &'static str, v: String) -> Self {
        self.headers.push((k, v));
        self
    }
}

/// An error answered the way GitHub answers it: `{"message", "documentation_url", "status", "errors"?}`.
#[derive(Debug)]
pub(super) struct ApiError {
    pub(super) status: u16,
    pub(super) message: String,
    pub(super) errors: Option<Value>,
}

/// What a handler answers.
pub(super) type R = Result<Resp, ApiError>;

pub(super) fn err(status: u16, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        message: message.into(),
        errors: None,
    }
}

pub(super) fn not_found() -> ApiError {
    err(404, "Not Found")
}

pub(super) fn invalid(message: impl Into<String>, errors: Value) -> ApiError {
    ApiError {
        status: 422,
        message: message.into(),
        errors: Some(errors),
    }
}

pub(super) fn missing(resource: &str, field: &str) -> ApiError {
    invalid(
        "Validation Failed",
        json!([{"resource": resource, "code": "missing_field", "field": field}]),
    )
}

pub(super) fn bad_field(resource: &str, field: &str) -> ApiError {
    invalid(
        "Validation Failed",
        json!([{"resource": resource, "code": "invalid", "field": field}]),
    )
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        eprintln!("fake-github: internal error: {e}");
        err(500, "Server Error")
    }
}

impl ApiError {
    pub(super) fn into_resp(self) -> Resp {
        let mut body = j::error(&self.message, self.status);
        if let (Some(errors), Some(o)) = (self.errors, body.as_object_mut()) {
            o.insert("errors".into(), errors);
        }
        Resp::json(self.status, body)
    }
}

pub(super) fn body_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let v: Value = serde_json::from_slice(body).map_err(|_| err(400, "Problems parsing JSON"))?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(err(400, "Problems parsing JSON"))
    }
}

/// Field `k` of a request body read with `read`: absent or `null` is `None`; a value of another
/// type is refused 422 as GitHub refuses a body its schema does not allow, never read as absent.
fn field<'a, T>(
    b: &'a Value,
    k: &str,
    kind: &str,
    read: impl FnOnce(&'a Value) -> Option<T>,
) -> Result<Option<T>, ApiError> {
    match b.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => read(v).map(Some).ok_or_else(|| {
            err(
                422,
                format!("Invalid request.\n\nFor 'properties/{k}', {v} is not {kind}."),
            )
        }),
    }
}

/// A string field of a request body (see [`field`]).
pub(super) fn s<'a>(b: &'a Value, k: &str) -> Result<Option<&'a str>, ApiError> {
    field(b, k, "a string", Value::as_str)
}

/// A boolean field of a request body (see [`field`]).
pub(super) fn flag(b: &Value, k: &str) -> Result<Option<bool>, ApiError> {
    field(b, k, "a boolean", Value::as_bool)
}

/// An array field of a request body (see [`field`]).
pub(super) fn list<'a>(b: &'a Value, k: &str) -> Result<Option<&'a [Value]>, ApiError> {
    field(b, k, "an array", |v| v.as_array().map(Vec::as_slice))
}

/// An object field of a request body (see [`field`]).
pub(super) fn object<'a>(b: &'a Value, k: &str) -> Result<Option<&'a Value>, ApiError> {
    field(b, k, "an object", |v| v.is_object().then_some(v))
}

/// A git identity: name, email and, when given, the date.
pub(super) type Person = (String, String, Option<String>);

/// The person `k` (`author`, `committer`) of a request body, when given: GitHub requires its
/// `name` and `email`, so one without them is refused, not replaced by the caller.
pub(super) fn who(b: &Value, k: &str) -> Result<Option<Person>, ApiError> {
    let Some(v) = object(b, k)? else {
        return Ok(None);
    };
    let supplied = |f: &str| {
        s(v, f)?.ok_or_else(|| err(422, format!("Invalid request.\n\n\"{f}\" wasn't supplied.")))
    };
    Ok(Some((
        supplied("name")?.to_owned(),
        supplied("email")?.to_owned(),
        s(v, "date")?.map(str::to_owned),
    )))
}

pub(super) fn parse_query(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

pub(super) fn decode_b64(s: &str) -> Option<Vec<u8>> {
    let clean: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    B64.decode(clean).ok()
}

/// Base64 with a newline every 60 characters, as GitHub sends file and blob content.
pub(super) fn encode_b64(bytes: &[u8]) -> String {
    let flat = B64.encode(bytes);
    let mut out = String::with_capacity(flat.len() + flat.len() / 60 + 1);
    for (i, c) in flat.chars().enumerate() {
        if i > 0 && i % 60 == 0 {
            out.push('\n');
        }
        out.push(c);
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out
}
