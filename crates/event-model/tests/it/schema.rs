//! The committed schema is current, and the Rust rules never accept what the schema refuses.

use gitops_event_model::{deploy_request_schema, deploy_request_schema_text};

const COMMITTED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../schemas/deploy-request.schema.json"
);

#[test]
fn committed_schema_is_not_stale() {
    let fresh = deploy_request_schema_text();
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(COMMITTED, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == fresh,
        "schemas/deploy-request.schema.json is stale; regenerate it with `UPDATE_SCHEMAS=1 cargo test -p gitops-event-model` or `mfe schema > schemas/deploy-request.schema.json`"
    );
}

#[test]
fn schema_compiles_and_accepts_the_examples() {
    let validator = jsonschema::validator_for(deploy_request_schema()).unwrap();
    assert!(validator.is_valid(&crate::canonical()));
    let mut both = crate::canonical();
    both["type"] = serde_json::json!("deploy-mfe-trigger");
    assert!(
        !validator.is_valid(&both),
        "id and type together must break oneOf"
    );
    let mut extra = crate::canonical();
    extra["x"] = serde_json::json!(1);
    assert!(!validator.is_valid(&extra));
}

/// `key = value` in the canonical payload: (Rust accepts, the schema accepts).
fn verdicts(key: &str, value: &serde_json::Value) -> (bool, bool) {
    let doc = crate::with(key, Some(value.clone()));
    (
        gitops_event_model::validate_value(&doc).is_ok(),
        crate::schema_validator().is_valid(&doc),
    )
}

#[track_caller]
fn both_refuse(key: &str, value: &serde_json::Value) {
    assert_eq!(
        verdicts(key, value),
        (false, false),
        "{key} = {value}: (Rust accepts, schema accepts)"
    );
}

#[track_caller]
fn both_accept(key: &str, value: &serde_json::Value) {
    assert_eq!(
        verdicts(key, value),
        (true, true),
        "{key} = {value}: (Rust accepts, schema accepts)"
    );
}

#[test]
fn the_schema_refuses_the_cdn_paths_rust_refuses() {
    for bad in [
        // dot segments, plain or percent-encoded (any case), or behind an encoded slash
        "/mfe/./a.js",
        "/mfe/../a.js",
        "/mfe/.",
        "/mfe/..",
        "/.",
        "/mfe/%2e/a.js",
        "/mfe/%2E%2E/a.js",
        "/mfe/%2e./a.js",
        "/mfe/.%2E/a.js",
        "/mfe/%2e%2e",
        "/mfe%2f..%2fother",
        "/mfe/a%2F%2e%2e",
        "/mfe/..%2Fx",
        // wildcards: not last, or more than one
        "/mfe/*/a.js",
        "/mfe/a*b",
        "/mfe/**",
        "/*x*",
        // whitespace, control characters, query, fragment
        "/mfe/a b",
        "/mfe/a\tb",
        "/mfe/a\u{a0}b",
        "/mfe/a\u{3000}b",
        "/mfe/a\u{7f}",
        "/mfe/a\u{1}",
        "/mfe/a?v=1",
        "/mfe/a#top",
        // escapes of whitespace or control characters; a '%' that is not an escape
        "/mfe/a%20b",
        "/mfe/a%0A",
        "/mfe/a%7f",
        "/mfe/a%zz",
        "/mfe/a%4",
        "/mfe/a%",
        // not absolute
        "mfe/a.js",
        "",
        "%2fmfe/a.js",
    ] {
        both_refuse("cache_invalidation_keys", &serde_json::json!([bad]));
    }
}

#[test]
fn the_schema_accepts_cdn_paths_rust_accepts() {
    for good in [
        "/",
        "//",
        "/mfe/checkout/*",
        "/*",
        "/mfe/.well-known/a",
        "/mfe/.../a",
        "/mfe/a..b/c.",
        "/mfe/.*",
        "/mfe/..*",
        "/mfe/%2e%2e%2e/a",
        "/mfe/%41%2A%3F%23",
        "/mfe/a%2Fb",
        "/mfe/caf\u{e9}/a,b.js",
        "/mfe/%C3%A9",
        "/mfe/a\u{feff}b",
    ] {
        both_accept("cache_invalidation_keys", &serde_json::json!([good]));
    }
}

#[test]
fn the_schema_refuses_seed_form_key_strings_rust_refuses() {
    for bad in [
        "/mfe/a.js, /mfe/../x",
        "/mfe/a.js /mfe/*/x",
        "/mfe/a.js,relative",
        "/mfe/a?x",
        "/mfe/%2E%2E",
        "/mfe/a%",
        "/mfe/a\u{0}b",
    ] {
        both_refuse("cache_invalidation_keys", &serde_json::json!(bad));
    }
    for good in [
        "",
        " , ",
        "/mfe/a.js",
        "/mfe/a.js,/mfe/b.js",
        " /mfe/a.js ,\n\t/mfe/*\u{2003}",
    ] {
        both_accept("cache_invalidation_keys", &serde_json::json!(good));
    }
}

#[test]
fn the_schema_refuses_the_refs_rust_refuses() {
    for bad in [
        // not under heads, tags or pull
        "main",
        "heads/main",
        "refs/remotes/origin/main",
        "refs/heads",
        "refs/heads/",
        // pull refs are refs/pull/<digits>/(merge|head)
        "refs/pull/x/merge",
        "refs/pull/1",
        "refs/pull/1/",
        "refs/pull//merge",
        "refs/pull/1/other",
        "refs/pull/1/merge/x",
        // git check-ref-format
        "refs/heads/a..b",
        "refs/heads/a@{1}",
        "refs/heads/@{",
        "refs/heads/a//b",
        "refs/heads/.hidden",
        "refs/heads/a/.b",
        "refs/heads/x.lock",
        "refs/heads/x.LoCk",
        "refs/heads/x.lock/y",
        "refs/tags/a.b.lock",
        "refs/heads/a/",
        "refs/heads/a.",
        "refs/heads/a/b.",
        "refs/heads/a\u{1}",
        "refs/heads/a\u{7f}",
        "refs/heads/a b",
        "refs/heads/a\u{a0}b",
        "refs/heads/a~1",
        "refs/heads/a^",
        "refs/heads/a:b",
        "refs/heads/a?",
        "refs/heads/a*",
        "refs/heads/a[b",
        "refs/heads/a\\b",
    ] {
        both_refuse("ref", &serde_json::json!(bad));
    }
}

#[test]
fn the_schema_accepts_refs_rust_accepts() {
    for good in [
        "refs/heads/main",
        "refs/heads/feature/x-1",
        "refs/tags/v1.4.0",
        "refs/pull/12/merge",
        "refs/pull/007/head",
        "refs/heads/lock",
        "refs/heads/a.locks",
        "refs/heads/a.lock.b",
        "refs/heads/x.lock./y",
        "refs/heads/a./b",
        "refs/heads/a@b",
        "refs/heads/@",
        "refs/heads/{x}",
        "refs/heads/a.{b",
        "refs/heads/a@.{b",
        "refs/heads/\u{fc}n\u{ef}code",
    ] {
        both_accept("ref", &serde_json::json!(good));
    }
}

#[test]
fn the_schema_refuses_dot_repository_names() {
    for bad in ["acme/.", "acme/..", "acme"] {
        both_refuse("repository", &serde_json::json!(bad));
    }
    for good in ["acme/.github", "acme/..x", "acme/a.b", "acme/x.."] {
        both_accept("repository", &serde_json::json!(good));
    }
}

mod equivalence {
    //! On strings built from the tokens the rules treat specially, the schema and the Rust checks
    //! agree on every string (for CDN paths: every string whose escapes decode to UTF-8, which
    //! the schema does not check).

    use gitops_event_model::{CdnPath, GitRef};
    use proptest::prelude::*;
    use serde_json::json;

    fn from(tokens: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(tokens), 0..max).prop_map(|t| t.concat())
    }

    fn schema_accepts(key: &str, value: serde_json::Value) -> bool {
        crate::schema_validator().is_valid(&crate::with(key, Some(value)))
    }

    const REF_TOKENS: &[&str] = &[
        "a", "a", "l", "lock", "LoCK", "lock", ".", ".", "/", "/", "@", "{", "~", " ", "\u{1}",
        "1", "x.lock", "..", "@{",
    ];
    const PREFIXES: &[&str] = &[
        "refs/heads/",
        "refs/tags/",
        "refs/heads/a/",
        "refs/remotes/",
        "",
    ];
    const PULL_TOKENS: &[&str] = &["1", "0", "/", "merge", "head", "x", "/merge", "/head"];
    const PATH_TOKENS: &[&str] = &[
        "/", "/", "/", ".", ".", "..", "%2e", "%2E", "%2f", "%2F", "%", "%2", "%20", "%7f", "%0a",
        "%41", "%3f", "%e9", "a", "*", "?", "#", " ", ",", "\u{e9}", "\u{a0}",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]

        #[test]
        fn refs_schema_accepts_exactly_what_rust_accepts(
            prefix in prop::sample::select(PREFIXES),
            rest in from(REF_TOKENS, 8),
        ) {
            let value = format!("{prefix}{rest}");
            let rust = GitRef::parse(&value).is_ok();
            prop_assert_eq!(schema_accepts("ref", json!(value)), rust, "{:?}", value);
        }

        #[test]
        fn pull_refs_schema_accepts_exactly_what_rust_accepts(rest in from(PULL_TOKENS, 5)) {
            let value = format!("refs/pull/{rest}");
            let rust = GitRef::parse(&value).is_ok();
            prop_assert_eq!(schema_accepts("ref", json!(value)), rust, "{:?}", value);
        }

        #[test]
        fn cdn_paths_schema_accepts_exactly_what_rust_accepts(
            slash in any::<bool>(),
            rest in from(PATH_TOKENS, 8),
        ) {
            let value = if slash { format!("/{rest}") } else { rest };
            prop_assume!(percent_encoding::percent_decode_str(&value).decode_utf8().is_ok());
            let rust = CdnPath::parse(&value).is_ok();
            prop_assert_eq!(
                schema_accepts("cache_invalidation_keys", json!([value])),
                rust,
                "{:?}",
                value
            );
        }

        #[test]
        fn seed_key_strings_schema_accepts_exactly_what_rust_accepts(
            rest in from(PATH_TOKENS, 12),
        ) {
            let value = format!("/{rest}");
            prop_assume!(percent_encoding::percent_decode_str(&value).decode_utf8().is_ok());
            let doc = crate::with("cache_invalidation_keys", Some(json!(value)));
            let rust = gitops_event_model::validate_value(&doc).is_ok();
            prop_assert_eq!(
                schema_accepts("cache_invalidation_keys", json!(value)),
                rust,
                "{:?}",
                value
            );
        }
    }
}
