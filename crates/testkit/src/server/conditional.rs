//! Conditional requests as GitHub answers them: every JSON answer to a GET carries a strong
//! `ETag` (a hash of its body), and a GET whose `If-None-Match` names the current tag is
//! answered `304 Not Modified` with no body. A `304` does not count against the primary rate
//! limit ("making a conditional request ... does not count against your primary rate limit if
//! a 304 is returned"), so the caller leaves it out of `rate_limit::count`.

use std::fmt::Write as _;

use axum::http::HeaderMap;

use super::wire::{Encoded, JSON};

/// A strong entity tag of `body`: the first 128 bits of its SHA-256, quoted.
fn etag(body: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, body);
    let mut tag = String::from("\"");
    for b in &digest.as_ref()[..16] {
        let _ = write!(tag, "{b:02x}");
    }
    tag.push('"');
    tag
}

/// Whether `If-None-Match` (a list of tags, or `*`) matches `tag` (weak comparison, as HTTP
/// says for `If-None-Match`: `W/"x"` matches `"x"`).
fn matches(if_none_match: &str, tag: &str) -> bool {
    if_none_match.split(',').map(str::trim).any(|t| {
        t == "*" || t.strip_prefix("W/").unwrap_or(t) == tag.strip_prefix("W/").unwrap_or(tag)
    })
}

/// Tags a successful JSON answer to a GET and, when the request's `If-None-Match` names that
/// tag, turns it into a `304` with no body. Returns the answer and whether it is a `304`.
pub(super) fn apply(method: &str, request: &HeaderMap, mut resp: Encoded) -> (Encoded, bool) {
    if method != "GET" || resp.status != 200 || resp.content_type != Some(JSON) {
        return (resp, false);
    }
    let tag = etag(&resp.bytes);
    let not_modified = request
        .get_all("if-none-match")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| matches(v, &tag));
    resp.headers.push(("etag", tag));
    if not_modified {
        resp.status = 304;
        resp.bytes = Vec::new();
        resp.content_type = None;
    }
    (resp, not_modified)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn answer(body: &str) -> Encoded {
        Encoded {
            status: 200,
            bytes: body.as_bytes().to_vec(),
            content_type: Some(JSON),
            headers: Vec::new(),
        }
    }

    fn tag_of(resp: &Encoded) -> String {
        resp.headers
            .iter()
            .find(|(k, _)| *k == "etag")
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    #[test]
    fn a_matching_tag_is_not_modified() {
        let (first, hit) = apply("GET", &HeaderMap::new(), answer("[1]"));
        assert!(!hit);
        let tag = tag_of(&first);
        assert!(tag.starts_with('"') && tag.len() == 34, "{tag}");
        let mut h = HeaderMap::new();
        h.insert("if-none-match", HeaderValue::from_str(&tag).unwrap());
        let (again, hit) = apply("GET", &h, answer("[1]"));
        assert!(hit);
        assert_eq!(again.status, 304);
        assert!(again.bytes.is_empty());
        assert_eq!(tag_of(&again), tag);
        // A changed body is a new tag, answered whole.
        let (changed, hit) = apply("GET", &h, answer("[1,2]"));
        assert!(!hit);
        assert_eq!(changed.status, 200);
        assert_ne!(tag_of(&changed), tag);
    }

    #[test]
    fn lists_weak_tags_and_stars_match() {
        assert!(matches("\"a\", \"b\"", "\"b\""));
        assert!(matches("W/\"b\"", "\"b\""));
        assert!(matches("*", "\"b\""));
        assert!(!matches("\"a\"", "\"b\""));
    }

    #[test]
    fn only_successful_json_gets_are_tagged() {
        let mut post = answer("{}");
        post.status = 201;
        assert!(apply("POST", &HeaderMap::new(), post).0.headers.is_empty());
        let mut missing = answer("{}");
        missing.status = 404;
        assert!(
            apply("GET", &HeaderMap::new(), missing)
                .0
                .headers
                .is_empty()
        );
    }
}
