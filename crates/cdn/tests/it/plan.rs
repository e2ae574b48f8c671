//! The pure planner, rule by rule, plus properties.

use gitops_cdn::{
    DEFAULT_COLLAPSE_THRESHOLD, Error, IMPORT_MAP_PATH, InvalidationPlan, PlanInput, PlanNote,
    is_versioned_path, normalize_path, plan_invalidation,
};
use gitops_event_model::{CdnPath, MfeName};
use proptest::prelude::*;

fn mfe(name: &str) -> MfeName {
    MfeName::parse(name).unwrap()
}

/// Request keys as the request carries them: parsed by the event model's rule.
fn keys(keys: &[&str]) -> Vec<CdnPath> {
    keys.iter()
        .map(|k| CdnPath::parse(k).unwrap_or_else(|e| panic!("{k:?}: {e}")))
        .collect()
}

fn input(list: &[&str]) -> PlanInput {
    let mut input = PlanInput::new(mfe("checkout"), vec!["remoteEntry.js".to_owned()]);
    input.cache_invalidation_keys = keys(list);
    input
}

fn plan(keys: &[&str]) -> InvalidationPlan {
    plan_invalidation(&input(keys)).expect("plan")
}

fn invalid_field(result: Result<InvalidationPlan, Error>) -> (String, String) {
    match result {
        Err(Error::Invalid { field, reason }) => (field, reason),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn aliases_and_import_map_sorted() {
    let mut i = input(&[]);
    i.entry_points = vec!["remoteEntry.js".into(), "mf-manifest.json".into()];
    let p = plan_invalidation(&i).unwrap();
    assert_eq!(
        p.paths,
        vec![
            "/importmap.json",
            "/mfe/checkout/mf-manifest.json",
            "/mfe/checkout/remoteEntry.js"
        ]
    );
    assert!(p.notes.is_empty());
}

#[test]
fn import_map_only_when_changed() {
    let mut i = input(&[]);
    i.import_map_changed = false;
    assert_eq!(
        plan_invalidation(&i).unwrap().paths,
        vec!["/mfe/checkout/remoteEntry.js"]
    );
}

#[test]
fn already_live_plans_nothing() {
    let mut i = input(&["/mfe/checkout/extra.css"]);
    i.already_live = true;
    let p = plan_invalidation(&i).unwrap();
    assert!(p.is_empty());
    assert_eq!(p.notes, vec![PlanNote::AlreadyLive]);
    assert_eq!(p.to_request("01J0000000000000000000000").unwrap(), None);
}

#[test]
fn already_live_still_validates_keys() {
    let mut i = input(&["/*"]);
    i.already_live = true;
    invalid_field(plan_invalidation(&i));
}

#[test]
fn keys_are_normalised() {
    let p = plan(&[
        "//mfe//checkout///a%2Djs%7e.js",
        "/mfe/checkout/x%2fy",
        "/mfe/checkout/%41/",
    ]);
    assert_eq!(
        p.paths,
        vec![
            "/importmap.json",
            "/mfe/checkout/A/",
            "/mfe/checkout/a-js~.js",
            "/mfe/checkout/remoteEntry.js",
            "/mfe/checkout/x%2Fy",
        ]
    );
}

#[test]
fn unsafe_characters_are_encoded() {
    assert_eq!(
        normalize_path("/mfe/checkout/é {x}.js")
            .unwrap_err()
            .to_string(),
        "invalid path: whitespace and control characters are not allowed"
    );
    assert_eq!(
        normalize_path("/mfe/checkout/é{x}.js").unwrap(),
        "/mfe/checkout/%C3%A9%7Bx%7D.js"
    );
}

#[test]
fn duplicates_are_removed() {
    let p = plan(&[
        "/mfe/checkout/remoteEntry.js",
        "/mfe/checkout//remoteEntry.js",
        "/mfe/checkout/remote%45ntry.js",
        "/mfe/checkout/a.css",
        "/mfe/checkout/a.css",
    ]);
    assert_eq!(
        p.paths,
        vec![
            "/importmap.json",
            "/mfe/checkout/a.css",
            "/mfe/checkout/remoteEntry.js"
        ]
    );
}

#[test]
fn versioned_keys_are_dropped_with_a_note() {
    let p = plan(&[
        "/mfe/checkout/1.2.3/main.abc123.js",
        "/mfe/checkout/2.0.0-rc.1+build.5/chunk.js",
        "/mfe/checkout/1.2.3/*",
        "/mfe/checkout/1.2.3",
    ]);
    assert_eq!(
        p.paths,
        vec!["/importmap.json", "/mfe/checkout/remoteEntry.js"]
    );
    let dropped: Vec<&str> = p
        .notes
        .iter()
        .map(|n| match n {
            PlanNote::DroppedVersioned { path } => path.as_str(),
            other => panic!("unexpected note {other:?}"),
        })
        .collect();
    assert_eq!(dropped.len(), 4);
    assert!(p.notes[0].to_string().contains("immutable"));
}

#[test]
fn non_semver_segments_are_not_versioned() {
    assert!(is_versioned_path("/mfe/checkout/1.2.3/a.js"));
    assert!(!is_versioned_path("/mfe/checkout/v1.2.3/a.js"));
    assert!(!is_versioned_path("/mfe/checkout/1.2/a.js"));
    assert!(!is_versioned_path("/importmap.json"));
    let p = plan(&["/mfe/checkout/v1.2.3/a.js"]);
    assert!(p.paths.contains(&"/mfe/checkout/v1.2.3/a.js".to_owned()));
}

#[test]
fn keys_outside_the_prefix_are_errors() {
    for (i, key) in [
        "/mfe/other/remoteEntry.js",
        "/mfe/checkoutx/a.js",
        "/mfe/checkout",
        "/importmap.json",
        "/index.html",
        "/mfe/*",
    ]
    .iter()
    .enumerate()
    {
        let mut keys = vec!["/mfe/checkout/ok.js"; i];
        keys.push(key);
        let (field, reason) = invalid_field(plan_invalidation(&input(&keys)));
        assert_eq!(field, format!("cache_invalidation_keys[{i}]"), "{key}");
        assert!(reason.contains("outside"), "{key}: {reason}");
    }
}

#[test]
fn whole_distribution_wildcard_is_refused() {
    for key in ["/*", "//*", "///*"] {
        let (_, reason) = invalid_field(plan_invalidation(&input(&[key])));
        assert!(reason.contains("`/*` is refused"), "{reason}");
    }
}

/// Traversal and malformed keys never reach the planner: the request's own rule (`CdnPath`,
/// the one rule in `gitops-event-model`) refuses them, so the planner has no copy of it.
#[test]
fn traversal_and_malformed_keys_are_refused_by_the_request_rule() {
    for key in [
        "/mfe/checkout/../other/x.js",
        "/mfe/checkout/%2e%2E/other/x.js",
        "/mfe/checkout/./x.js",
        "/mfe/checkout/x.js?v=2",
        "/mfe/checkout/x.js#top",
        "/mfe/checkout/%zz.js",
        "/mfe/checkout/%4",
        "/mfe/checkout/*/x.js",
        "mfe/checkout/x.js",
        "",
        "/mfe/checkout/tab\there",
    ] {
        assert!(CdnPath::parse(key).is_err(), "{key:?} is a CdnPath");
    }
}

#[test]
fn wildcard_covers_paths_below_it() {
    let p = plan(&[
        "/mfe/checkout/assets/*",
        "/mfe/checkout/assets/a.css",
        "/mfe/checkout/assets/img/*",
        "/mfe/checkout/other.css",
    ]);
    assert_eq!(
        p.paths,
        vec![
            "/importmap.json",
            "/mfe/checkout/assets/*",
            "/mfe/checkout/other.css",
            "/mfe/checkout/remoteEntry.js"
        ]
    );
    assert!(p.notes.contains(&PlanNote::DroppedCovered {
        path: "/mfe/checkout/assets/a.css".into(),
        wildcard: "/mfe/checkout/assets/*".into()
    }));
    assert_eq!(p.notes.len(), 2);
}

#[test]
fn prefix_wildcard_in_request_covers_everything() {
    let p = plan(&["/mfe/checkout/*", "/mfe/checkout/a.js"]);
    assert_eq!(p.paths, vec!["/importmap.json", "/mfe/checkout/*"]);
}

#[test]
fn collapses_only_past_the_threshold() {
    // alias + 9 keys = 10 paths under the prefix: kept explicit.
    let keys: Vec<String> = (0..DEFAULT_COLLAPSE_THRESHOLD - 1)
        .map(|i| format!("/mfe/checkout/f{i}.js"))
        .collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let p = plan(&refs);
    assert_eq!(p.paths.len(), DEFAULT_COLLAPSE_THRESHOLD + 1);
    assert_eq!(p.wildcard_count(), 0);

    // one more: collapsed.
    let keys: Vec<String> = (0..DEFAULT_COLLAPSE_THRESHOLD)
        .map(|i| format!("/mfe/checkout/f{i}.js"))
        .collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let p = plan(&refs);
    assert_eq!(p.paths, vec!["/importmap.json", "/mfe/checkout/*"]);
    assert_eq!(
        p.notes,
        vec![PlanNote::Collapsed {
            wildcard: "/mfe/checkout/*".into(),
            replaced: DEFAULT_COLLAPSE_THRESHOLD + 1
        }]
    );
}

#[test]
fn collapse_threshold_is_configurable_and_bounded() {
    let mut i = input(&["/mfe/checkout/a.js"]);
    i.collapse_threshold = 1;
    assert_eq!(
        plan_invalidation(&i).unwrap().paths,
        vec!["/importmap.json", "/mfe/checkout/*"]
    );
    for bad in [0, 3000, usize::MAX] {
        i.collapse_threshold = bad;
        assert_eq!(invalid_field(plan_invalidation(&i)).0, "collapse_threshold");
    }
}

#[test]
fn too_many_wildcards_collapse_even_under_a_high_threshold() {
    let list: Vec<String> = (0..16).map(|i| format!("/mfe/checkout/d{i}/*")).collect();
    let refs: Vec<&str> = list.iter().map(String::as_str).collect();
    let mut i = input(&[]);
    i.cache_invalidation_keys = keys(&refs);
    i.collapse_threshold = 100;
    let p = plan_invalidation(&i).unwrap();
    assert_eq!(p.paths, vec!["/importmap.json", "/mfe/checkout/*"]);
}

/// The input's names and keys carry their rules to every edge, serde included: a plan input
/// with a bad MFE name or key cannot even be read.
#[test]
fn a_plan_input_with_a_bad_name_or_key_cannot_be_read() {
    let good = serde_json::to_value(input(&["/mfe/checkout/a.css"])).unwrap();
    assert!(serde_json::from_value::<PlanInput>(good.clone()).is_ok());
    let long = "a".repeat(64);
    for name in ["", "Checkout", "1abc", "a_b", long.as_str(), "../x"] {
        let mut bad = good.clone();
        bad["mfe"] = name.into();
        assert!(
            serde_json::from_value::<PlanInput>(bad).is_err(),
            "{name:?} read as an MFE name"
        );
    }
    let mut bad = good;
    bad["cache_invalidation_keys"] = serde_json::json!(["/mfe/checkout/../x.js"]);
    assert!(serde_json::from_value::<PlanInput>(bad).is_err());
    assert!(plan_invalidation(&PlanInput::new(mfe("a"), vec![])).is_ok());
}

#[test]
fn bad_entry_points_are_errors() {
    for entry in [
        "/remoteEntry.js",
        "../remoteEntry.js",
        "a/../../x.js",
        "1.2.3/remoteEntry.js",
        "*.js",
        "dir/",
        "",
        "x.js?v=1",
    ] {
        let i = PlanInput::new(mfe("checkout"), vec!["ok.js".into(), entry.into()]);
        assert_eq!(
            invalid_field(plan_invalidation(&i)).0,
            "entry_points[1]",
            "{entry:?}"
        );
    }
    let i = PlanInput::new(mfe("checkout"), vec!["js/remoteEntry.js".into()]);
    assert_eq!(
        plan_invalidation(&i).unwrap().paths,
        vec!["/importmap.json", "/mfe/checkout/js/remoteEntry.js"]
    );
}

#[test]
fn request_for_a_deploy() {
    let p = plan(&[]);
    let req = p.to_request("01JABCDEF0123456789ABCDEFG").unwrap().unwrap();
    assert_eq!(req.reference, "deploy-01JABCDEF0123456789ABCDEFG");
    assert_eq!(req.paths, p.paths);
    assert!(p.to_request("bad id").is_err());
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("mfe".to_owned()),
        Just("checkout".to_owned()),
        Just("other".to_owned()),
        Just("1.2.3".to_owned()),
        Just("0.1.0-rc.1".to_owned()),
        Just("..".to_owned()),
        Just(".".to_owned()),
        Just(String::new()),
        Just("%2E%2E".to_owned()),
        Just("%2e".to_owned()),
        Just("%31.2.3".to_owned()),
        Just("*".to_owned()),
        Just("remoteEntry.js".to_owned()),
        Just("x%2Fy".to_owned()),
        Just("importmap.json".to_owned()),
        "[a-z0-9.%*~-]{1,6}",
    ]
}

fn key() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just("/mfe/checkout/"),
            Just("//mfe//checkout/"),
            Just("/"),
            Just("/mfe/"),
            Just(""),
        ],
        prop::collection::vec(segment(), 0..5),
    )
        .prop_map(|(start, segs)| format!("{start}{}", segs.join("/")))
}

fn check_properties(mfe: &str, plan: &InvalidationPlan) {
    let prefix = format!("/mfe/{mfe}/");
    for p in &plan.paths {
        assert!(
            p == IMPORT_MAP_PATH || p.starts_with(&prefix),
            "{p} escapes {prefix}"
        );
        assert!(!is_versioned_path(p), "{p} is versioned");
        assert!(!p.split('/').any(|s| s == ".." || s == "."), "{p}");
        assert_eq!(normalize_path(p).unwrap(), *p, "not normalised");
        assert!(!p.contains("//"), "{p}");
    }
    assert!(plan.paths.windows(2).all(|w| w[0] < w[1]), "sorted, unique");
    assert!(plan.paths.len() <= 3000);
    assert!(plan.wildcard_count() <= 15);
}

proptest! {
    #[test]
    fn planned_paths_never_escape_and_are_never_versioned(
        mfe in prop_oneof![Just("checkout"), Just("other"), Just("a")],
        keys in prop::collection::vec(key(), 0..30),
        entries in prop::collection::vec("[a-zA-Z0-9._/-]{1,12}", 0..4),
        import_map_changed: bool,
        threshold in 1usize..20,
    ) {
        // Only keys the request's rule accepts can reach the planner.
        let keys: Vec<CdnPath> = keys.iter().filter_map(|k| CdnPath::parse(k).ok()).collect();
        let base = |entry_points: Vec<String>, keys: Vec<CdnPath>| PlanInput {
            mfe: MfeName::parse(mfe).unwrap(),
            entry_points,
            import_map_changed,
            cache_invalidation_keys: keys,
            already_live: false,
            collapse_threshold: threshold,
        };
        // Keep the entries and keys that are valid on their own: together they must plan.
        let entries: Vec<String> = entries
            .into_iter()
            .filter(|e| plan_invalidation(&base(vec![e.clone()], vec![])).is_ok())
            .collect();
        let (valid, invalid): (Vec<CdnPath>, Vec<CdnPath>) = keys
            .into_iter()
            .partition(|k| plan_invalidation(&base(vec![], vec![k.clone()])).is_ok());
        let plan = plan_invalidation(&base(entries.clone(), valid.clone()))
            .expect("inputs valid one by one are valid together");
        check_properties(mfe, &plan);
        // Any invalid key spoils the whole plan.
        if let Some(bad) = invalid.first() {
            let mut keys = valid;
            keys.push(bad.clone());
            prop_assert!(plan_invalidation(&base(entries, keys)).is_err());
        }
    }

    #[test]
    fn arbitrary_keys_never_panic(keys in prop::collection::vec("/\\PC{0,40}", 0..8)) {
        let mut input = PlanInput::new(mfe("checkout"), vec!["remoteEntry.js".into()]);
        input.cache_invalidation_keys =
            keys.iter().filter_map(|k| CdnPath::parse(k).ok()).collect();
        if let Ok(plan) = plan_invalidation(&input) {
            check_properties("checkout", &plan);
        }
    }

    #[test]
    fn valid_keys_under_the_prefix_are_kept_or_noted(
        names in prop::collection::vec("[a-z]{1,8}\\.(js|css|json)", 1..8),
    ) {
        let list: Vec<String> = names.iter().map(|n| format!("/mfe/checkout/{n}")).collect();
        let mut input = PlanInput::new(mfe("checkout"), vec![]);
        input.cache_invalidation_keys = list.iter().map(|k| CdnPath::parse(k).unwrap()).collect();
        input.collapse_threshold = 100;
        let plan = plan_invalidation(&input).unwrap();
        for k in &list {
            prop_assert!(plan.paths.contains(k));
        }
    }
}
