//! One test per field rule (DESIGN.md 4.1), valid and invalid values.

use serde_json::{Value, json};

use crate::{assert_refused, problems, with};

#[track_caller]
#[allow(clippy::needless_pass_by_value)] // call sites read better with json!(..) by value
fn accepts(key: &str, value: Value) {
    let doc = with(key, Some(value.clone()));
    assert!(
        problems(&doc).is_empty(),
        "{key} = {value} refused: {:?}",
        problems(&doc)
    );
}

#[test]
fn canonical_example_is_valid() {
    assert!(problems(&crate::canonical()).is_empty());
}

#[test]
fn id_is_a_ulid_or_a_uuid() {
    accepts("id", json!("01JDQ8Z6X8N7W4K2M5R3T9V1YB"));
    accepts("id", json!("01jdq8z6x8n7w4k2m5r3t9v1yb"));
    accepts("id", json!("6f1c2a4e-8d3b-4c5a-9e7f-0a1b2c3d4e5f"));
    for bad in [
        "",
        "deploy-1",
        "81JDQ8Z6X8N7W4K2M5R3T9V1YB",
        "01JDQ8Z6X8N7W4K2M5R3T9V1YU",
        "6f1c2a4e8d3b4c5a9e7f0a1b2c3d4e5f",
    ] {
        assert_refused(&with("id", Some(json!(bad))), "/id", "pattern");
    }
    assert_refused(&with("id", Some(json!(42))), "/id", "type");
}

#[test]
fn timestamp_is_rfc3339_with_any_offset() {
    for good in [
        "2026-11-26T09:30:00Z",
        "2026-11-26T09:30:00.123456+05:30",
        "2026-11-26t09:30:00-08:00",
        "2024-02-29T00:00:00Z",
        "2026-11-26 09:30:00Z",
    ] {
        accepts("timestamp", json!(good));
    }
    for bad in [
        "2026-11-26",
        "2026-11-26T09:30:00",
        "2026-13-01T00:00:00Z",
        "2025-02-29T00:00:00Z",
        "yesterday",
        "1732613400",
    ] {
        let found = problems(&with("timestamp", Some(json!(bad))));
        assert_eq!(found.len(), 1, "{bad}: {found:?}");
        assert_eq!(found[0].0, "/timestamp");
        assert_eq!(found[0].1, "timestamp", "{bad}");
    }
}

#[test]
fn user_is_a_github_login_including_bots() {
    for good in [
        "octocat",
        "renovate[bot]",
        "dependabot[bot]",
        "a",
        "A-b-9",
        "x23456789012345678901234567890123456789",
    ] {
        accepts("user", json!(good));
    }
    for bad in [
        "",
        "-octocat",
        "octo cat",
        "octo_cat",
        "bot]",
        "x234567890123456789012345678901234567890",
        "a[bot][bot]",
    ] {
        assert_refused(&with("user", Some(json!(bad))), "/user", "pattern");
    }
}

#[test]
fn mfe_name_rule() {
    accepts("mfe", json!("checkout"));
    accepts("mfe", json!("a"));
    accepts("mfe", json!(format!("a{}", "b".repeat(62))));
    for bad in ["", "Checkout", "1checkout", "check_out", "-x", "check/out"] {
        assert_refused(&with("mfe", Some(json!(bad))), "/mfe", "pattern");
    }
    assert_refused(
        &with("mfe", Some(json!(format!("a{}", "b".repeat(63))))),
        "/mfe",
        "max-length",
    );
}

#[test]
fn version_is_semver_2_with_prerelease_and_build() {
    for good in [
        "0.0.0",
        "1.4.0",
        "1.5.0-rc.1",
        "1.5.0-rc.1+build.7",
        "2.0.0+20261126",
        "1.0.0-alpha-a.b-c",
    ] {
        accepts("version", json!(good));
    }
    for bad in [
        "v1.4.0", "1.4", "1.4.0.1", "01.4.0", "1.4.0-", "1.4.0-01", "latest", "",
    ] {
        assert_refused(&with("version", Some(json!(bad))), "/version", "semver");
    }
}

#[test]
fn environment_rule() {
    accepts("environment", json!("prod-eu"));
    accepts("environment", json!("staging"));
    for bad in ["", "-prod", "prod eu", "prod/eu", "../prod"] {
        assert_refused(
            &with("environment", Some(json!(bad))),
            "/environment",
            "pattern",
        );
    }
}

#[test]
fn cache_invalidation_keys_are_absolute_without_dot_segments() {
    accepts("cache_invalidation_keys", json!([]));
    accepts(
        "cache_invalidation_keys",
        json!(["/mfe/checkout/remoteEntry.js", "/mfe/checkout/*"]),
    );
    accepts(
        "cache_invalidation_keys",
        json!("/mfe/checkout/a.js, /mfe/checkout/b.js"),
    );
    accepts(
        "cache_invalidation_keys",
        json!(["/mfe/checkout/100%25.js", "/mfe/checkout/caf%C3%A9.js"]),
    );
    for bad in [
        "mfe/checkout/a.js",
        "/mfe/../other/a.js",
        "/mfe/./a.js",
        "/mfe/%2E%2E/x",
        "/mfe/*/x",
        "/a b",
        "/a?x=1",
        "",
        // a '%' that does not start an escape: decoders disagree on what it means
        "/mfe/checkout/%zz.js",
        "/mfe/checkout/a%",
        "/mfe/checkout/a%4",
        "/mfe/checkout/100%.js",
    ] {
        assert_refused(
            &with(
                "cache_invalidation_keys",
                Some(json!(["/mfe/checkout/ok.js", bad])),
            ),
            "/cache_invalidation_keys/1",
            "cdn-path",
        );
    }
    assert_refused(
        &with("cache_invalidation_keys", Some(json!([1]))),
        "/cache_invalidation_keys/0",
        "type",
    );
    assert_refused(
        &with("cache_invalidation_keys", Some(json!({"a": 1}))),
        "/cache_invalidation_keys",
        "type",
    );
    assert_refused(
        &with("cache_invalidation_keys", Some(json!("/ok, ../bad"))),
        "/cache_invalidation_keys",
        "cdn-path",
    );
}

#[test]
fn repository_is_owner_slash_name() {
    accepts("repository", json!("acme/checkout-mfe"));
    accepts("repository", json!("acme/checkout.mfe_2"));
    for bad in [
        "acme",
        "acme/",
        "/checkout",
        "acme/checkout/x",
        "ac me/x",
        "acme/..",
    ] {
        let found = problems(&with("repository", Some(json!(bad))));
        assert_eq!(found.len(), 1, "{bad}: {found:?}");
        assert_eq!(
            found[0],
            ("/repository".to_owned(), "pattern".to_owned()),
            "{bad}"
        );
    }
}

#[test]
fn ref_is_a_full_git_ref() {
    for good in [
        "refs/heads/main",
        "refs/heads/feature/x-1",
        "refs/tags/v1.4.0",
        "refs/pull/12/merge",
    ] {
        accepts("ref", json!(good));
    }
    for bad in [
        "main",
        "heads/main",
        "refs/remotes/origin/main",
        "refs/heads/",
        "refs/heads/a b",
        "refs/heads/a~1",
    ] {
        assert_refused(&with("ref", Some(json!(bad))), "/ref", "pattern");
    }
    for bad in [
        "refs/heads/a..b",
        "refs/heads/x.lock",
        "refs/heads/.hidden",
        "refs/heads/a//b",
        "refs/heads/a.",
        "refs/heads/a@{1}",
        "refs/pull/x/merge",
    ] {
        assert_refused(&with("ref", Some(json!(bad))), "/ref", "git-ref");
    }
}

#[test]
fn sha_is_40_hex() {
    accepts("sha", json!("3f786850e387550fdab836ed7e6dc881de23001b"));
    for bad in ["3f78685", "zf786850e387550fdab836ed7e6dc881de23001b", ""] {
        assert_refused(&with("sha", Some(json!(bad))), "/sha", "pattern");
    }
    assert_refused(
        &with(
            "sha",
            Some(json!("3f786850e387550fdab836ed7e6dc881de23001b0")),
        ),
        "/sha",
        "max-length",
    );
}

#[test]
fn unknown_keys_are_refused_by_name() {
    // Ten known keys plus one unknown: refused by name (and as an eleventh key).
    let found = problems(&with("priority", Some(json!("high"))));
    assert_eq!(
        found,
        [
            (String::new(), "too-many-keys".to_owned()),
            ("/priority".to_owned(), "unknown-key".to_owned())
        ]
    );
    // Within the key budget (seed form without cache keys), still refused by name.
    let mut doc = with("cache_invalidation_keys", None);
    doc["priority"] = json!("high");
    assert_eq!(
        problems(&doc),
        [
            ("/cache_invalidation_keys".to_owned(), "required".to_owned()),
            ("/priority".to_owned(), "unknown-key".to_owned())
        ]
        .iter()
        .cloned()
        .rev()
        .collect::<Vec<_>>()
    );
}

#[test]
fn missing_keys_are_each_reported() {
    assert_refused(&with("mfe", None), "/mfe", "required");
    let mut doc = crate::canonical();
    doc.as_object_mut().unwrap().clear();
    let found = problems(&doc);
    assert_eq!(found.len(), 10, "{found:?}");
    assert!(found.iter().all(|(_, rule)| rule == "required"));
}

#[test]
fn every_problem_is_reported_at_once() {
    let doc = json!({"id": "x", "timestamp": "x", "user": "-", "mfe": "X", "version": "x",
        "environment": "", "cache_invalidation_keys": ["x"], "repository": "x", "ref": "x", "sha": "x"});
    let fields: Vec<String> = problems(&doc).into_iter().map(|(f, _)| f).collect();
    for key in [
        "/id",
        "/timestamp",
        "/user",
        "/mfe",
        "/version",
        "/environment",
        "/cache_invalidation_keys/0",
        "/repository",
        "/ref",
        "/sha",
    ] {
        assert!(
            fields.contains(&key.to_owned()),
            "{key} missing from {fields:?}"
        );
    }
}

#[test]
fn id_and_type_are_exclusive() {
    let found = problems(&with("type", Some(json!("deploy-mfe-trigger"))));
    assert!(
        found.contains(&("/type".to_owned(), "id-or-type".to_owned())),
        "{found:?}"
    );
    let mut seed = with("type", Some(json!("deploy-mfe-trigger")));
    seed.as_object_mut().unwrap().remove("timestamp");
    assert!(problems(&seed).contains(&("/type".to_owned(), "id-or-type".to_owned())));
}

#[test]
fn github_limits_on_keys_and_size() {
    let mut doc = crate::canonical();
    for i in 0..3 {
        doc[format!("extra{i}")] = json!(1);
    }
    let found = problems(&doc);
    assert!(
        found.contains(&(String::new(), "too-many-keys".to_owned())),
        "{found:?}"
    );
    assert_eq!(found.iter().filter(|(_, r)| r == "unknown-key").count(), 3);

    let many: Vec<String> = (0..700)
        .map(|i| format!("/mfe/checkout/{i:04}/{}", "x".repeat(80)))
        .collect();
    let found = problems(&with("cache_invalidation_keys", Some(json!(many))));
    assert_eq!(found, vec![(String::new(), "too-large".to_owned())]);
}

#[test]
fn non_object_payloads_are_refused() {
    for doc in [json!(null), json!([]), json!("x"), json!(1)] {
        assert_refused(&doc, "", "not-an-object");
    }
}
