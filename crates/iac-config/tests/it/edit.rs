//! Desired-state files (issue 10 item 2, the file part): the bot writes no `sequence`, files
//! that have one still load, and rendering has no failure to hide.

use gitops_event_model::{
    CdnPath, CommitSha, EnvironmentName, GitRef, Login, MfeName, RepositoryName, RequestId, Version,
};
use gitops_iac_config::{Deployment, Pin, Repository, evaluate, render_deployment};
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
    assert_eq!(
        repo.deployment(&crate::env("dev"), &crate::mfe("checkout"))
            .unwrap()
            .sequence,
        3
    );
    let mut files = crate::example_files();
    let text = String::from_utf8(files["deployments/dev/checkout.json"].clone()).unwrap();
    let without = text.replace(",\n  \"sequence\": 3", "");
    assert!(!without.contains("sequence"));
    files.insert(
        "deployments/dev/checkout.json".into(),
        without.clone().into_bytes(),
    );
    let repo = Repository::from_files(&files).unwrap();
    let d = repo
        .deployment(&crate::env("dev"), &crate::mfe("checkout"))
        .unwrap();
    assert_eq!(d.sequence, 0);
    // a hand-written file without sequence renders to itself
    assert_eq!(render_deployment(d), without);
    // a file that has one keeps it when rendered (it is ignored for ordering, not dropped)
    let with = example()
        .deployment(&crate::env("dev"), &crate::mfe("checkout"))
        .unwrap()
        .clone();
    assert_eq!(render_deployment(&with), text);
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9./:-]{0,12}",
        any::<String>(),
        Just("\"\\\u{0}\u{8}\u{c}\n\r\t\u{1f}\u{7f}é😀/".to_owned()),
    ]
}

/// Values of `pattern` that `parse` accepts (the event model's own rule decides).
fn parsed<T: std::fmt::Debug + Clone>(
    pattern: &'static str,
    parse: fn(&str) -> Result<T, gitops_event_model::FieldError>,
) -> impl Strategy<Value = T> {
    pattern.prop_filter_map("valid by its type's rule", move |text| parse(&text).ok())
}

proptest! {
    #[test]
    fn rendering_is_exactly_serde_json_pretty_and_round_trips(
        mfe in parsed("[a-z][a-z0-9-]{0,20}", MfeName::parse),
        environment in parsed("[A-Za-z0-9][A-Za-z0-9_-]{0,10}([.][A-Za-z0-9_-]{1,5})?", EnvironmentName::parse),
        version in parsed(
            "(0|[1-9][0-9]{0,3})[.](0|[1-9][0-9]{0,2})[.](0|[1-9][0-9]{0,2})(-[0-9A-Za-z-]{1,6}([.][0-9A-Za-z-]{1,4})?)?([+][0-9A-Za-z-]{1,6})?",
            Version::parse,
        ),
        sha in parsed("[0-9a-fA-F]{40}", CommitSha::parse),
        git_ref in parsed("refs/(heads|tags)/[A-Za-z0-9/._-]{1,20}", GitRef::parse),
        repository in parsed("[A-Za-z0-9][A-Za-z0-9-]{0,10}/[A-Za-z0-9._-]{1,20}", RepositoryName::parse),
        requested_by in parsed("[A-Za-z0-9][A-Za-z0-9-]{0,15}(\\[bot\\])?", Login::parse),
        requested_at in text(),
        request_id in parsed("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", RequestId::parse),
        rollback in any::<bool>(),
        keys in prop::collection::vec(parsed("/mfe/[a-z]{1,5}/[A-Za-z0-9%._~-]{0,10}[*]?", CdnPath::parse), 0..3),
        sequence in prop_oneof![Just(0u64), any::<u64>()],
        pin in prop::option::of((
            parsed("[A-Za-z0-9][A-Za-z0-9-]{0,15}", Login::parse),
            0i64..4_000_000_000,
            text(),
        )),
    ) {
        let pinned = pin.map(|(by, seconds, reason)| Pin {
            by,
            at: time::OffsetDateTime::from_unix_timestamp(seconds).unwrap(),
            reason,
        });
        let d = Deployment {
            mfe, environment, version, sha, git_ref, repository, requested_by, requested_at,
            request_id, rollback, cache_invalidation_keys: keys, pinned, sequence,
        };
        let rendered = render_deployment(&d);
        prop_assert_eq!(&rendered, &format!("{}\n", serde_json::to_string_pretty(&d).unwrap()));
        let parsed: Deployment = serde_json::from_str(&rendered).unwrap();
        prop_assert_eq!(parsed, d);
    }
}

/// The bytes written for a request, fixed: the desired-state file of the same request on the same
/// repository never changes (a change would be a diff in every pending pull request). Captured
/// before the model was typed; the sha is lowercased, everything else is kept as written.
#[test]
fn the_desired_state_file_of_a_request_is_fixed_byte_for_byte() {
    let req = gitops_event_model::DeployRequest::builder()
        .id("01JDQ8Z6X8N7W4K2M5R3T9V1YB")
        .timestamp("2026-11-26T10:30:00+01:00")
        .user("renovate[bot]")
        .mfe("checkout")
        .version("1.5.0-rc.1+build.7")
        .environment("dev")
        .repository("acme/checkout-mfe")
        .git_ref("refs/tags/v1.5.0-rc.1")
        .sha("3F786850E387550FDAB836ED7E6DC881DE23001B")
        .cache_invalidation_keys(["/mfe/checkout/remoteEntry.js", "/mfe/checkout/assets/*"])
        .build()
        .unwrap();
    let decision = evaluate(&example(), &req, true, at("2026-11-26T12:00:00Z"));
    assert_eq!(decision.changes.len(), 1, "{decision:?}");
    assert_eq!(decision.changes[0].path, "deployments/dev/checkout.json");
    assert_eq!(
        decision.changes[0].content,
        r#"{
  "mfe": "checkout",
  "environment": "dev",
  "version": "1.5.0-rc.1+build.7",
  "sha": "3f786850e387550fdab836ed7e6dc881de23001b",
  "ref": "refs/tags/v1.5.0-rc.1",
  "repository": "acme/checkout-mfe",
  "requested_by": "renovate[bot]",
  "requested_at": "2026-11-26T10:30:00+01:00",
  "request_id": "01JDQ8Z6X8N7W4K2M5R3T9V1YB",
  "rollback": true,
  "cache_invalidation_keys": [
    "/mfe/checkout/remoteEntry.js",
    "/mfe/checkout/assets/*"
  ]
}
"#
    );
}
