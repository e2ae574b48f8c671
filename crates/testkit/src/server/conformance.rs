//! Conformance to GitHub's OpenAPI description, when one is loaded: request bodies GitHub's
//! schema refuses are answered 422 as GitHub does; responses that do not match are recorded as
//! violations (`GET /_fake/violations`) and logged.

use super::wire::{ApiError, Encoded, JSON, err};
use super::{App, lock};
use crate::openapi::Violation;

/// GitHub validates request bodies against its schema and answers 422 when they do not
/// conform; with the description loaded, so does the fake. That is the client's mistake,
/// answered like GitHub answers it, not a violation of the fake's own.
pub(super) fn check_request(
    app: &App,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<(), ApiError> {
    if let Some(api) = &app.openapi
        && !body.iter().all(u8::is_ascii_whitespace)
        && let Some((_, errors)) = api.check_request(method, path, body)
        && let Some(first) = errors.first()
    {
        eprintln!("fake-github: invalid request body: {method} {path}: {first}");
        return Err(err(422, format!("Invalid request.\n\n{first}")));
    }
    Ok(())
}

/// Checks a response against the operation it answers and records any violation.
pub(super) fn check_response(app: &App, method: &str, path: &str, resp: &Encoded) {
    let Some(api) = &app.openapi else {
        return;
    };
    let is_json = resp.content_type == Some(JSON);
    let checked = match api.check(method, path, resp.status, &resp.bytes, is_json) {
        Some(found) => Some(found),
        // GitHub answers 404 for paths it does not know, so only successes must match.
        None if resp.status >= 400 => None,
        None => Some((
            String::new(),
            vec!["no operation in the OpenAPI description matches this request".to_owned()],
        )),
    };
    if let Some((operation, errors)) = checked
        && !errors.is_empty()
    {
        for e in &errors {
            eprintln!(
                "fake-github: OpenAPI violation: {method} {path} -> {}: {e}",
                resp.status
            );
        }
        lock(&app.violations).push(Violation {
            method: method.to_owned(),
            path: path.to_owned(),
            operation,
            status: resp.status,
            errors,
        });
    }
}
