//! Desired-state files (issue 10 item 2, the file part): the bot writes no `sequence`, files
//! that have one still load, and rendering has no failure to hide.

use gitops_iac_config::{Deployment, Repository, evaluate, render_deployment};
use proptest::prelude::*;

use crate::{at, example, request};

#[test]
fn the_bot_writes_no_sequence() {
    let decision = evaluate(
        &example(),
        &request("dev", "1.5.0").build().unwrap(),
        false,
        at("2026-11-26T12:00:00Z"),
    );
    let content = &decision.changes[0].content;
    assert!(!content.contains("sequence"), "{content}");
    let parsed: Deployment = serde_json::from_str(content).unwrap();
    assert_eq!(parsed.sequence, 0);
    // whatever the previous file said
    assert_eq!(decision.previous.as_ref().unwrap().sequence, 3);
}

#[test]
fn files_with_and_without_sequence_load() {
    let repo = example();
    assert_eq!(repo.deployment("dev", "checkout").unwrap().sequence, 3);
    let mut files = crate::example_files();
    let text = String::from_utf8(files["deployments/dev/checkout.json"].clone()).unwrap();
    let without = text.replace(",\n  \"sequence\": 3", "");
    assert!(!without.contains("sequence"));
    files.insert(
        "deployments/dev/checkout.json".into(),
        without.clone().into_bytes(),
    );
    let repo = Repository::from_files(&files).unwrap();
    let d = repo.deployment("dev", "checkout").unwrap();
    assert_eq!(d.sequence, 0);
    // a hand-written file without sequence renders to itself
    assert_eq!(render_deployment(d), without);
    // a file that has one keeps it when rendered (it is ignored for ordering, not dropped)
    let with = example().deployment("dev", "checkout").unwrap().clone();
    assert_eq!(render_deployment(&with), text);
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9./:-]{0,12}",
        any::<String>(),
        Just("\"\\\u{0}\u{8}\u{c}\n\r\t\u{1f}\u{7f}é😀/".to_owned()),
    ]
}

proptest! {
    #[test]
    fn rendering_is_exactly_serde_json_pretty_and_round_trips(
        mfe in text(), environment in text(), version in text(), sha in text(), git_ref in text(),
        repository in text(), requested_by in text(), requested_at in text(), request_id in text(),
        rollback in any::<bool>(), keys in prop::collection::vec(text(), 0..3),
        sequence in prop_oneof![Just(0u64), any::<u64>()],
    ) {
        let d = Deployment {
            mfe, environment, version, sha, git_ref, repository, requested_by, requested_at,
            request_id, rollback, cache_invalidation_keys: keys, sequence,
        };
        let rendered = render_deployment(&d);
        prop_assert_eq!(&rendered, &format!("{}\n", serde_json::to_string_pretty(&d).unwrap()));
        let parsed: Deployment = serde_json::from_str(&rendered).unwrap();
        prop_assert_eq!(parsed, d);
    }
}
