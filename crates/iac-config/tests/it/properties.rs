//! Properties: confinement of CDN keys, idempotent edits, render/parse round trips.

use gitops_iac_config::{
    Deployment, Repository, evaluate, policy::within_prefix, render_deployment,
};
use proptest::prelude::*;

/// Resolves a path the way a lenient CDN or origin might: percent-decoding (repeatedly),
/// collapsing slashes, and removing dot segments.
fn resolve(path: &str) -> String {
    let mut current = path.to_owned();
    for _ in 0..3 {
        let decoded = percent_encoding::percent_decode_str(&current)
            .decode_utf8_lossy()
            .into_owned();
        let mut collapsed = String::new();
        for (i, seg) in decoded.split('/').enumerate() {
            if i == 0 || !seg.is_empty() {
                if i > 0 {
                    collapsed.push('/');
                }
                collapsed.push_str(seg);
            }
        }
        if decoded.ends_with('/') && !collapsed.ends_with('/') {
            collapsed.push('/');
        }
        let base = url::Url::parse("http://cdn.example").unwrap();
        current = base
            .join(&collapsed.replace('%', "%25"))
            .map(|u| u.path().replace("%25", "%"))
            .unwrap_or_default();
    }
    current
}

proptest! {
    #[test]
    fn no_key_that_passes_resolves_outside_the_prefix(
        parts in prop::collection::vec(prop_oneof![
            Just("mfe"), Just("checkout"), Just("search"), Just(".."), Just("."), Just("%2e%2e"),
            Just("%2E"), Just("%2f"), Just("%2F.."), Just(""), Just("*"), Just("a.js"), Just("%6dfe"),
            Just("checkout%2f..%2f..")
        ], 1..7)
    ) {
        let key = format!("/{}", parts.join("/"));
        if within_prefix(&key, "/mfe/checkout/") {
            let resolved = resolve(&key);
            prop_assert!(resolved.starts_with("/mfe/checkout/"), "{key} resolves to {resolved}");
        }
    }

    #[test]
    fn edits_are_idempotent_and_round_trip(
        major in 0u64..50, minor in 0u64..50, patch in 0u64..50, env in prop::sample::select(vec!["dev", "staging", "prod"])
    ) {
        let version = format!("{major}.{minor}.{patch}");
        let repo = crate::example();
        let request = crate::request(env, &version).build().unwrap();
        let at = crate::at("2026-11-26T12:00:00Z");
        let first = evaluate(&repo, &request, true, at);
        let second = evaluate(&repo, &request, true, at);
        prop_assert_eq!(&first, &second);
        for change in &first.changes {
            // parse(render(x)) == x
            let parsed: Deployment = serde_json::from_str(&change.content).unwrap();
            prop_assert_eq!(render_deployment(&parsed), change.content.clone());
            // applying the change, then the same request again, changes nothing more
            let mut files = crate::example_files();
            files.insert(change.path.clone(), change.content.clone().into_bytes());
            let applied = Repository::from_files(&files).unwrap();
            let again = evaluate(&applied, &request, true, at);
            prop_assert_eq!(again.decision, gitops_iac_config::Outcome::Noop);
        }
    }
}
