//! A key repeated in any object of the document is refused (`duplicate-key`): parsers disagree
//! on which of two equal keys counts, so such a document could mean two different requests.

use gitops_event_model::{Rule, validate_bytes, validate_value};
use proptest::prelude::*;
use serde_json::Value;

/// The (field, rule code) pairs `validate_bytes` reports, or empty when valid.
fn problems_of(text: &str) -> Vec<(String, String)> {
    match validate_bytes(text.as_bytes()) {
        Ok(_) => Vec::new(),
        Err(e) => e
            .problems()
            .iter()
            .map(|p| (p.field.clone(), p.rule.code().to_owned()))
            .collect(),
    }
}

/// The canonical payload as text with `extra` (a `"key": value` fragment) inserted right after
/// the opening brace, so the document repeats a key only if `extra` does.
fn canonical_with_first(extra: &str) -> String {
    let text = serde_json::to_string(&crate::canonical()).unwrap();
    format!("{{{extra},{}", &text[1..])
}

/// The example event with `payload` as its `client_payload` and `extra` (a `"key": value`
/// fragment) as the envelope's first key.
fn event(extra: &str, payload: &str) -> String {
    let mut prefix = String::new();
    if !extra.is_empty() {
        prefix = format!("{extra},");
    }
    format!(
        r#"{{{prefix}"action": "deploy-mfe-trigger", "branch": "main", "client_payload": {payload},
            "repository": {{"full_name": "acme/gitops", "owner": {{"login": "acme"}}}},
            "sender": {{"login": "octocat", "id": 1}}, "installation": {{"id": 7}}}}"#
    )
}

fn one(field: &str) -> Vec<(String, String)> {
    vec![(field.to_owned(), "duplicate-key".to_owned())]
}

#[test]
fn the_builders_of_these_documents_make_valid_ones_without_a_repeat() {
    // Guards the tests below: without the repeated key each document is valid.
    let canonical = serde_json::to_string(&crate::canonical()).unwrap();
    assert_eq!(problems_of(&canonical), []);
    assert_eq!(problems_of(&event("", &canonical)), []);
    assert_eq!(
        problems_of(&event(r#""extra": [{"a": 1}, {"a": 2}]"#, &canonical)),
        []
    );
}

#[test]
fn first_and_last_value_of_a_repeated_key_cannot_both_be_meant() {
    // serde_json keeps the last value and other parsers the first: which repository asked?
    let text = canonical_with_first(r#""repository": "evil/b""#);
    let as_serde_json_reads_it: Value = serde_json::from_str(&text).unwrap();
    assert!(
        validate_value(&as_serde_json_reads_it).is_ok(),
        "the last value alone is a valid request"
    );
    assert_eq!(problems_of(&text), one("/repository"));
    let message = validate_bytes(text.as_bytes()).unwrap_err().to_string();
    assert!(message.contains("\"repository\""), "{message}");
    assert!(message.contains("more than once"), "{message}");

    // The literal shape from the issue: first "acme/a", last "evil/b".
    let issue = r#"{"repository": "acme/a", "id": "01JDQ8Z6X8N7W4K2M5R3T9V1YB",
        "timestamp": "2026-11-26T09:30:00Z", "user": "octocat", "mfe": "checkout",
        "version": "1.4.0", "environment": "dev", "cache_invalidation_keys": [],
        "ref": "refs/heads/main", "sha": "3f786850e387550fdab836ed7e6dc881de23001b",
        "repository": "evil/b"}"#;
    assert_eq!(problems_of(issue), one("/repository"));
}

#[test]
fn a_repeat_with_the_same_value_is_refused_too() {
    let text = canonical_with_first(r#""mfe": "checkout""#);
    assert_eq!(problems_of(&text), one("/mfe"));
}

#[test]
fn keys_compare_after_unescaping() {
    // "repos\u0069tory" is "repository" to every parser.
    let text = canonical_with_first(r#""repos\u0069tory": "evil/b""#);
    assert_eq!(problems_of(&text), one("/repository"));
}

#[test]
fn repeats_inside_client_payload_point_into_the_event() {
    let payload = canonical_with_first(r#""version": "9.9.9""#);
    assert_eq!(
        problems_of(&event("", &payload)),
        one("/client_payload/version")
    );
}

#[test]
fn repeats_in_the_envelope_are_refused() {
    let canonical = serde_json::to_string(&crate::canonical()).unwrap();
    // `action` twice: one reader sees the configured type, another something else.
    assert_eq!(
        problems_of(&event(r#""action": "other""#, &canonical)),
        one("/action")
    );
    // Two client payloads: which request is it?
    let other = canonical.replace("1.4.0", "9.9.9");
    assert_eq!(
        problems_of(&event(&format!(r#""client_payload": {other}"#), &canonical)),
        one("/client_payload")
    );
    // Nested envelope objects.
    let nested = event("", &canonical).replace(
        r#""full_name": "acme/gitops""#,
        r#""full_name": "acme/gitops", "full_name": "evil/gitops""#,
    );
    assert_eq!(problems_of(&nested), one("/repository/full_name"));
    let deeper = event("", &canonical).replace(
        r#""owner": {"login": "acme"}"#,
        r#""owner": {"login": "acme", "login": "evil"}"#,
    );
    assert_eq!(problems_of(&deeper), one("/repository/owner/login"));
}

#[test]
fn repeats_nested_in_cache_invalidation_keys_objects_are_refused() {
    // A list item cannot be an object, but a repeat is reported before anything else: the
    // document is ambiguous before it is wrong.
    let text = serde_json::to_string(&crate::canonical()).unwrap().replace(
        r#"["/mfe/checkout/remoteEntry.js"]"#,
        r#"["/mfe/checkout/a.js", {"path": "/x", "path": "/y"}]"#,
    );
    assert_eq!(problems_of(&text), one("/cache_invalidation_keys/1/path"));
    let object = serde_json::to_string(&crate::canonical()).unwrap().replace(
        r#"["/mfe/checkout/remoteEntry.js"]"#,
        r#"{"a": {"b": 1, "b": 2}}"#,
    );
    assert_eq!(problems_of(&object), one("/cache_invalidation_keys/a/b"));
}

#[test]
fn equal_keys_in_different_objects_are_not_repeats() {
    let canonical = serde_json::to_string(&crate::canonical()).unwrap();
    let text = event(
        r#""x": {"id": 1, "y": {"id": 2}}, "z": [{"id": 3}, {"id": 4}]"#,
        &canonical,
    );
    assert_eq!(problems_of(&text), []);
}

#[test]
fn pointers_escape_slash_and_tilde() {
    let canonical = serde_json::to_string(&crate::canonical()).unwrap();
    let text = event(r#""x": {"a/b~c": 1, "a/b~c": 2}"#, &canonical);
    assert_eq!(problems_of(&text), one("/x/a~1b~0c"));
}

#[test]
fn every_repeat_is_reported_up_to_a_bound() {
    let canonical = serde_json::to_string(&crate::canonical()).unwrap();
    let two = event(
        r#""x": {"a": 1, "a": 2, "b": 1, "b": 2, "a": 3}"#,
        &canonical,
    );
    assert_eq!(
        problems_of(&two),
        [one("/x/a"), one("/x/b"), one("/x/a")].concat()
    );

    let many: Vec<String> = (0..101).map(|i| format!("\"k\": {i}")).collect();
    let text = format!("{{{}}}", many.join(","));
    let err = validate_bytes(text.as_bytes()).unwrap_err();
    let problems = err.problems();
    assert_eq!(problems.len(), 32, "bounded");
    assert!(
        problems
            .iter()
            .all(|p| p.rule == Rule::DuplicateKey && p.field == "/k")
    );
    assert!(
        problems[31].message.contains("68 more"),
        "{}",
        problems[31].message
    );
}

#[test]
fn long_pointers_do_not_multiply_the_report() {
    // Every pointer below repeats a 100 KB ancestor key: the first repeat is reported, the
    // others only counted, so a 200 KB input cannot make a multi-megabyte report.
    let long = "k".repeat(100 * 1024);
    let text = format!(r#"{{"{long}": {{"a": 1, "a": 2, "b": 1, "b": 2, "c": 1, "c": 2}}}}"#);
    let err = validate_bytes(text.as_bytes()).unwrap_err();
    let problems = err.problems();
    assert_eq!(problems.len(), 1, "{:?}", problems.len());
    assert_eq!(problems[0].rule, Rule::DuplicateKey);
    assert_eq!(problems[0].field, format!("/{long}/a"));
    assert!(
        problems[0].message.contains("2 more"),
        "{}",
        &problems[0].message
    );
    assert!(
        problems[0].message.len() < 1024,
        "the message quotes only an excerpt"
    );
}

#[test]
fn a_repeat_before_a_syntax_error_is_reported_with_it() {
    let text = r#"{"mfe": "a", "mfe": "b", "#;
    assert_eq!(
        problems_of(text),
        vec![
            ("/mfe".to_owned(), "duplicate-key".to_owned()),
            (String::new(), "syntax".to_owned())
        ]
    );
    // Trailing garbage after one document is still a syntax error.
    let canonical = serde_json::to_string(&crate::canonical()).unwrap();
    assert_eq!(
        problems_of(&format!("{canonical} {{}}")),
        vec![(String::new(), "syntax".to_owned())]
    );
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        any::<u64>().prop_map(|n| serde_json::json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| serde_json::json!(f)),
        ".{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("client_payload".to_owned()),
                    Just("action".to_owned()),
                    "[a-z_]{1,10}",
                    ".{0,6}"
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Without repeated keys, reading bytes is exactly `serde_json` followed by
    /// `validate_value`: the duplicate-detecting reader builds the same value.
    #[test]
    fn without_repeats_bytes_and_values_validate_alike(doc in arb_json(), shape in 0..3u8) {
        let doc = match shape {
            // A whole document of anything.
            0 => doc,
            // Anything as the payload of an event.
            1 => serde_json::json!({"action": "deploy-mfe-trigger", "client_payload": doc}),
            // A valid event carrying anything in an envelope field (tolerated, so Ok).
            _ => serde_json::json!({"action": "deploy-mfe-trigger", "extra": doc,
                "client_payload": crate::canonical()}),
        };
        let text = serde_json::to_string_pretty(&doc).unwrap();
        let parsed: Value = serde_json::from_str(&text).unwrap();
        let from_bytes = validate_bytes(text.as_bytes());
        prop_assert_eq!(&from_bytes, &validate_value(&parsed));
        if shape == 2 {
            prop_assert!(from_bytes.is_ok());
        }
    }
}
