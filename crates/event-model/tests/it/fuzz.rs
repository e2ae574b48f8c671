//! Fuzz-style properties of the deploy-request reader (issue 18): arbitrary bytes, token soup,
//! arbitrary JSON values and near-valid payloads with one field mutated never panic; an `Ok`
//! holds a request that is what the input said and re-validates to itself; an `Err` names at
//! least one problem, each with a rule, a JSON pointer and a bounded message.

use gitops_event_model::{
    EVENT_TYPE, Error, Form, Problem, Rule, Validated, validate_bytes, validate_event,
    validation_report,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

/// The longest problem message accepted: a message names the problem, it never carries the
/// (possibly megabyte-long) offending value.
const MAX_MESSAGE_BYTES: usize = 2048;

/// The string fields a request copies from its payload (compared ASCII-case-insensitively: some
/// are kept lowercased).
const COPIED: [&str; 8] = [
    "timestamp",
    "user",
    "mfe",
    "version",
    "environment",
    "repository",
    "ref",
    "sha",
];

/// The payload inside `input` as the reader sees it (BOM stripped; `client_payload` of an
/// envelope), or why there is none.
fn payload_of(input: &[u8]) -> Result<Value, String> {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let document: Value =
        serde_json::from_slice(input).map_err(|e| format!("accepted input is not JSON: {e}"))?;
    Ok(match document.get("client_payload") {
        Some(payload) if document.is_object() => payload.clone(),
        _ => document,
    })
}

/// The properties every outcome must have, whatever the input.
fn check_outcome(input: &[u8], outcome: &Result<Validated, Error>) -> Result<(), TestCaseError> {
    // the report and the error's text never panic either
    let report = validation_report(outcome);
    prop_assert_eq!(report["valid"].as_bool(), Some(outcome.is_ok()));
    match outcome {
        Ok(validated) => {
            let request = &validated.request;
            // what the input said ...
            let payload = payload_of(input).map_err(TestCaseError::fail)?;
            let out = request.to_value();
            for key in COPIED {
                let sent = payload[key].as_str().unwrap_or_default();
                let kept = out[key].as_str().unwrap_or_default();
                prop_assert!(
                    sent.eq_ignore_ascii_case(kept),
                    "`{}` was {:?}, the request holds {:?}",
                    key,
                    sent,
                    kept
                );
            }
            if *request.form() == Form::Canonical {
                prop_assert_eq!(payload["id"].as_str(), out["id"].as_str());
            }
            // ... re-serialises and re-validates to the same request
            let json = request.to_json();
            let again = validate_bytes(json.as_bytes())
                .map_err(|e| TestCaseError::fail(format!("re-validation of {json}: {e}")))?;
            prop_assert_eq!(again.request.to_value(), out);
            prop_assert_eq!(again.request.to_json(), json);
        }
        Err(error) => {
            prop_assert!(!error.problems().is_empty(), "an error without a problem");
            for problem in error.problems() {
                prop_assert!(!problem.rule.code().is_empty());
                prop_assert!(
                    problem.field.is_empty() || problem.field.starts_with('/'),
                    "not a JSON pointer: {:?}",
                    problem.field
                );
                prop_assert!(!problem.message.is_empty(), "{:?}", problem);
                prop_assert!(
                    problem.message.len() <= MAX_MESSAGE_BYTES,
                    "a {}-byte message at {:?} ({}): {}…",
                    problem.message.len(),
                    problem.field,
                    problem.rule,
                    problem.message.chars().take(80).collect::<String>()
                );
            }
            let _ = error.to_string();
        }
    }
    Ok(())
}

/// Runs both readers on `input` and checks both outcomes.
fn check_readers(input: &[u8]) -> Result<(), TestCaseError> {
    check_outcome(input, &validate_bytes(input))?;
    check_outcome(input, &validate_event(input, EVENT_TYPE))
}

/// The canonical payload as `(key, JSON text of the value)` pairs, in documented order.
fn canonical_fields() -> Vec<(String, String)> {
    let doc = crate::canonical();
    gitops_event_model::KEYS
        .iter()
        .filter_map(|key| doc.get(*key).map(|v| ((*key).to_owned(), v.to_string())))
        .collect()
}

/// `{"k": v, ...}` from pairs, written as text (so a key may repeat).
fn object_text(fields: &[(String, String)]) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}: {v}", Value::String(k.clone())))
        .collect();
    format!("{{{}}}", body.join(", "))
}

/// One change to one field of the canonical payload.
#[derive(Debug, Clone)]
enum Mutation {
    /// The value replaced by one of another JSON type.
    TypeSwap(Value),
    /// The value replaced by a string of this many copies of the character.
    Huge(usize, char),
    /// The value wrapped in this many arrays or objects.
    Deep(usize, bool),
    /// The key written twice (the second time with this value, or the original one).
    Duplicate(Option<Value>),
    /// The text spliced into the string value at a position (in characters).
    Unicode(String, usize),
    /// An escaped NUL (`\u0000`) appended to the string value.
    EscapedNul,
    /// A raw NUL byte where the value's text starts (not JSON).
    RawNul,
    /// A lone UTF-16 surrogate escape as the value.
    LoneSurrogate,
    /// The key removed.
    Remove,
    /// The key renamed.
    Rename(String),
    /// `id` replaced by the seed form's `type` with this value.
    Seed(String),
    /// Nothing changed (the harness's baseline: valid).
    Identity,
}

fn arb_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        Just(json!(u64::MAX)),
        Just(json!(1e300)),
        arb_text().prop_map(Value::String),
    ]
}

/// Strings that stress field rules: valid values of other fields, unicode look-alikes,
/// controls, NUL, paths, very long runs.
fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,24}",
        ".{0,24}",
        "[\\x00-\\x1f\\x7f]{1,4}",
        prop::sample::select(vec![
            "",
            "checkout",
            "dev",
            "1.4.0",
            "1.4.0-rc.1+build.5",
            "01.4.0",
            "refs/heads/main",
            "refs/heads/../x",
            "acme/checkout-mfe",
            "3f786850e387550fdab836ed7e6dc881de23001b",
            "3F786850E387550FDAB836ED7E6DC881DE23001B",
            "2026-11-26T09:30:00Z",
            "2026-02-30T09:30:00Z",
            "01JDQ8Z6X8N7W4K2M5R3T9V1YB",
            "deploy-mfe-trigger",
            "/mfe/checkout/remoteEntry.js",
            "/mfe/checkout/../search/x.js",
            "/mfe/checkout/*",
            "\u{202e}tuokcehc",
            "сheckout",
            "ｃｈｅｃｋｏｕｔ",
            "check\u{200b}out",
            "che\u{301}ckout",
            "\u{feff}dev",
            "\u{ffff}",
            "🚀",
            "a\u{0}b",
        ])
        .prop_map(str::to_owned),
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    arb_leaf().prop_recursive(6, 96, 10, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..10).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    prop::sample::select(gitops_event_model::KEYS.to_vec()).prop_map(str::to_owned),
                    Just("client_payload".to_owned()),
                    Just("action".to_owned()),
                    Just("repository".to_owned()),
                    arb_text(),
                ],
                inner,
                0..12
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Mostly-valid payloads as arbitrary JSON values: the canonical payload with a few keys set
/// to arbitrary values, sometimes inside an envelope.
fn arb_near_value() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(
            (
                prop::sample::select(gitops_event_model::KEYS.to_vec()),
                arb_json(),
            ),
            0..3,
        ),
        any::<bool>(),
    )
        .prop_map(|(changes, wrap)| {
            let mut doc = crate::canonical();
            for (key, value) in changes {
                doc[key] = value;
            }
            if wrap {
                json!({"action": EVENT_TYPE, "client_payload": doc})
            } else {
                doc
            }
        })
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        arb_json().prop_map(Mutation::TypeSwap),
        (
            prop::sample::select(vec![300usize, 4096, 70_000, 1_100_000]),
            prop::sample::select(vec!['a', '/', 'é', '\u{0}', '"', '\\', '🚀'])
        )
            .prop_map(|(n, c)| Mutation::Huge(n, c)),
        (1usize..300, any::<bool>()).prop_map(|(d, o)| Mutation::Deep(d, o)),
        prop::option::of(arb_leaf()).prop_map(Mutation::Duplicate),
        (arb_text(), 0usize..50).prop_map(|(t, at)| Mutation::Unicode(t, at)),
        Just(Mutation::EscapedNul),
        Just(Mutation::RawNul),
        Just(Mutation::LoneSurrogate),
        Just(Mutation::Remove),
        prop::sample::select(vec!["ID", "mfe ", " mfe", "mfé", "mfe\u{0}", "Ref", "type"])
            .prop_map(|k| Mutation::Rename(k.to_owned())),
        arb_text().prop_map(Mutation::Seed),
        Just(Mutation::Identity),
    ]
}

/// The canonical payload's text with `mutation` applied to `key`; whether the result must be
/// refused whatever the details.
fn mutate(key: &str, mutation: &Mutation) -> (Vec<u8>, bool) {
    let mut fields = canonical_fields();
    let Some(i) = fields.iter().position(|(k, _)| k == key) else {
        // `type`: not in the canonical payload; mutate `id` as the seed form instead
        return mutate("id", &Mutation::Seed("deploy-mfe-trigger".to_owned()));
    };
    let original: Value = serde_json::from_str(&fields[i].1).unwrap_or(Value::Null);
    let text = original.as_str().unwrap_or_default().to_owned();
    let mut raw_prefix = None;
    let refused = match mutation {
        Mutation::TypeSwap(value) => {
            fields[i].1 = value.to_string();
            // a list may be a valid `cache_invalidation_keys`, a string may be a valid value
            key != "cache_invalidation_keys" && !value.is_string()
        }
        Mutation::Huge(n, c) => {
            fields[i].1 = Value::String(std::iter::repeat_n(*c, *n).collect()).to_string();
            *n >= 64 * 1024
        }
        Mutation::Deep(depth, object) => {
            let (open, close) = if *object {
                ("{\"a\": ", "}")
            } else {
                ("[", "]")
            };
            fields[i].1 = format!(
                "{}{}{}",
                open.repeat(*depth),
                fields[i].1,
                close.repeat(*depth)
            );
            true
        }
        Mutation::Duplicate(value) => {
            let again = value.as_ref().map_or(fields[i].1.clone(), Value::to_string);
            fields.push((key.to_owned(), again));
            true
        }
        Mutation::Unicode(insert, at) => {
            let at = (*at).min(text.chars().count());
            let mut changed: String = text.chars().take(at).collect();
            changed.push_str(insert);
            changed.extend(text.chars().skip(at));
            fields[i].1 = Value::String(changed).to_string();
            false
        }
        Mutation::EscapedNul => {
            fields[i].1 = Value::String(format!("{text}\u{0}")).to_string();
            true
        }
        Mutation::RawNul => {
            raw_prefix = Some(i);
            true
        }
        Mutation::LoneSurrogate => {
            "\"\\ud800\"".clone_into(&mut fields[i].1);
            true
        }
        Mutation::Remove => {
            fields.remove(i);
            true
        }
        Mutation::Rename(new) => {
            fields[i].0.clone_from(new);
            // `id` renamed `type` is the seed form, whose `type` is free text
            new != key && !(key == "id" && new == "type")
        }
        Mutation::Seed(event_type) => {
            if let Some(id) = fields.iter_mut().find(|(k, _)| k == "id") {
                *id = (
                    "type".to_owned(),
                    Value::String(event_type.clone()).to_string(),
                );
            }
            false
        }
        Mutation::Identity => false,
    };
    let mut bytes = object_text(&fields).into_bytes();
    if let Some(i) = raw_prefix {
        let value_text = &fields[i].1;
        let at = object_text(&fields)
            .find(&format!(
                "{}: {value_text}",
                Value::String(fields[i].0.clone())
            ))
            .map_or(0, |at| at + fields[i].0.len() + 4);
        bytes.insert(at, 0);
    }
    (bytes, refused)
}

/// An envelope around `payload` (text), with `action` when given.
fn envelope(payload: &[u8], action: Option<&str>) -> Vec<u8> {
    let mut out = b"{".to_vec();
    if let Some(action) = action {
        out.extend_from_slice(format!("\"action\": {}, ", Value::from(action)).as_bytes());
    }
    out.extend_from_slice(b"\"client_payload\": ");
    out.extend_from_slice(payload);
    out.extend_from_slice(b", \"sender\": {\"login\": \"octocat\"}}");
    out
}

/// JSON-ish token soup: structure-aware bytes that reach deeper than uniform noise.
fn arb_soup() -> impl Strategy<Value = Vec<u8>> {
    let tokens: Vec<&'static [u8]> = vec![
        b"{",
        b"}",
        b"[",
        b"]",
        b":",
        b",",
        b" ",
        b"\"",
        b"\\",
        b"\"id\"",
        b"\"type\"",
        b"\"mfe\"",
        b"\"client_payload\"",
        b"\"action\"",
        b"\"deploy-mfe-trigger\"",
        b"\"checkout\"",
        b"\"1.4.0\"",
        b"\"/mfe/checkout/a.js\"",
        b"\"cache_invalidation_keys\"",
        b"\"\\u0000\"",
        b"\"\\ud800\"",
        b"\"\\uDC00\\uD800\"",
        b"null",
        b"true",
        b"-0",
        b"1e999",
        b"18446744073709551616",
        b"0.1e-400",
        b"\xEF\xBB\xBF",
        b"\xff",
        b"\xc3",
        b"\0",
        b"\n",
    ];
    prop::collection::vec(prop::sample::select(tokens), 0..120).prop_map(|ts| ts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn fuzz_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        check_readers(&bytes)?;
    }

    #[test]
    fn fuzz_json_token_soup(bytes in arb_soup()) {
        check_readers(&bytes)?;
    }

    #[test]
    fn fuzz_arbitrary_json_values(doc in arb_json(), wrap in any::<bool>()) {
        let doc = if wrap { json!({"action": EVENT_TYPE, "client_payload": doc}) } else { doc };
        check_readers(doc.to_string().as_bytes())?;
        check_readers(serde_json::to_string_pretty(&doc).unwrap_or_default().as_bytes())?;
    }

    #[test]
    fn fuzz_near_valid_values(doc in arb_near_value()) {
        check_readers(doc.to_string().as_bytes())?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn fuzz_one_field_mutated(
        key in prop::sample::select(gitops_event_model::KEYS.to_vec()),
        mutation in arb_mutation(),
        wrap in prop::sample::select(vec![None, Some(Some(EVENT_TYPE)), Some(None), Some(Some("other"))]),
        bom in any::<bool>(),
    ) {
        let (payload, must_refuse) = mutate(key, &mutation);
        let mut input = match wrap {
            None => payload,
            Some(action) => envelope(&payload, action),
        };
        if bom {
            input.splice(0..0, b"\xEF\xBB\xBF".iter().copied());
        }
        check_readers(&input)?;
        if must_refuse {
            prop_assert!(
                validate_bytes(&input).is_err(),
                "accepted: {}",
                String::from_utf8_lossy(&input).chars().take(300).collect::<String>()
            );
        }
        if matches!(mutation, Mutation::Identity) && key != "type" {
            // the baseline is valid, so a mutation's refusal is the mutation's doing
            prop_assert!(validate_bytes(&input).is_ok());
            prop_assert_eq!(validate_event(&input, EVENT_TYPE).is_ok(), wrap != Some(Some("other")) && wrap != Some(None));
        }
    }
}

/// A reader that panics, to show the harness notices.
fn panicking_reader(_: &[u8]) -> Result<Validated, Error> {
    panic!("reader panicked")
}

/// The harness can fail: a panicking reader, an error without a problem, a pointer that is not
/// one, an overlong message and an `Ok` for input that is not JSON are all caught.
#[test]
fn fuzz_harness_catches_panics_and_bad_outcomes() {
    let mut runner = TestRunner::new(Config {
        cases: 4,
        failure_persistence: None,
        ..Config::default()
    });
    let panicking = runner.run(&any::<u8>(), |b| {
        check_outcome(&[b], &panicking_reader(&[b]))
    });
    assert!(panicking.is_err(), "a panic went unnoticed");

    let bad_errors = [
        Error::Invalid { problems: vec![] },
        Error::Invalid {
            problems: vec![Problem {
                field: "id".to_owned(),
                rule: Rule::Syntax,
                message: "x".to_owned(),
            }],
        },
        Error::Invalid {
            problems: vec![Problem {
                field: String::new(),
                rule: Rule::Syntax,
                message: "x".repeat(MAX_MESSAGE_BYTES + 1),
            }],
        },
    ];
    for error in bad_errors {
        assert!(
            check_outcome(b"", &Err(error.clone())).is_err(),
            "{error:?}"
        );
    }
    let valid = crate::canonical().to_string();
    let ok = validate_bytes(valid.as_bytes());
    assert!(check_outcome(valid.as_bytes(), &ok).is_ok());
    assert!(check_outcome(b"\xff not json", &ok).is_err());
    let mut other = crate::canonical();
    other["mfe"] = json!("search");
    assert!(check_outcome(other.to_string().as_bytes(), &ok).is_err());
}
