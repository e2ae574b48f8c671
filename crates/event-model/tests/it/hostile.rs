//! Hostile input: never a panic, never a hang, always a clear syntax or size problem.

use gitops_event_model::{Rule, validate_bytes};

fn rule_of(input: &[u8]) -> Vec<Rule> {
    validate_bytes(input)
        .unwrap_err()
        .problems()
        .iter()
        .map(|p| p.rule)
        .collect()
}

#[test]
fn empty_and_whitespace() {
    assert_eq!(rule_of(b""), [Rule::Syntax]);
    assert_eq!(rule_of(b"  \n\t"), [Rule::Syntax]);
}

#[test]
fn binary_garbage_and_invalid_utf8() {
    assert_eq!(rule_of(&[0xff, 0xfe, 0x00, 0x01, 0x9c]), [Rule::Syntax]);
    assert_eq!(rule_of(b"{\"mfe\": \"\xc3\x28\"}"), [Rule::Syntax]);
    let message = validate_bytes(b"\x89PNG\r\n").unwrap_err().to_string();
    assert!(message.contains("not UTF-8"), "{message}");
}

#[test]
fn truncated_json() {
    let full = serde_json::to_string(&crate::canonical()).unwrap();
    for cut in [1, full.len() / 2, full.len() - 1] {
        let err = validate_bytes(&full.as_bytes()[..cut]).unwrap_err();
        assert_eq!(err.problems()[0].rule, Rule::Syntax);
        assert!(err.to_string().contains("truncated"), "{err}");
    }
}

#[test]
fn deep_nesting_is_refused_without_overflow() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(rule_of(deep.as_bytes()), [Rule::Syntax]);
    let deep_object = format!(
        "{{\"mfe\": {}1{}}}",
        "{\"a\":".repeat(10_000),
        "}".repeat(10_000)
    );
    assert_eq!(rule_of(deep_object.as_bytes()), [Rule::Syntax]);
}

#[test]
fn seventy_kilobytes_is_too_large() {
    let mut doc = crate::canonical();
    doc["user"] = serde_json::json!("x".repeat(70 * 1024));
    let rules = rule_of(serde_json::to_string(&doc).unwrap().as_bytes());
    assert!(rules.contains(&Rule::TooLarge), "{rules:?}");
    let huge = vec![b' '; gitops_event_model::MAX_INPUT_BYTES + 1];
    assert_eq!(rule_of(&huge), [Rule::InputTooLarge]);
}
