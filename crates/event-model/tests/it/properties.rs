//! Properties: the validator never panics; the builder never emits an invalid request; what the
//! Rust rules accept the JSON Schema accepts too.

use gitops_event_model::{DeployRequest, validate_bytes, validate_value};
use proptest::prelude::*;
use serde_json::{Value, json};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("id".to_owned()),
                    Just("type".to_owned()),
                    Just("mfe".to_owned()),
                    Just("client_payload".to_owned()),
                    Just("cache_invalidation_keys".to_owned()),
                    Just("version".to_owned()),
                    "[a-z_]{1,12}"
                ],
                inner,
                0..12
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_field_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        ".{0,30}".prop_map(Value::String),
        "[a-z0-9./\\[\\]:+-]{0,30}".prop_map(Value::String),
        Just(json!("1.2.3-rc.1+b.2")),
        Just(json!("/mfe/checkout/a.js")),
        Just(json!(["/mfe/checkout/../x"])),
        any::<i32>().prop_map(|n| json!(n)),
        Just(Value::Null),
    ]
}

fn valid_parts() -> impl Strategy<Value = (String, String, String, String, String, Vec<String>)> {
    (
        "[a-z][a-z0-9-]{0,20}",
        (
            0u64..100,
            0u64..100,
            0u64..100,
            prop::option::of("[a-z][a-z0-9]{0,5}(\\.[1-9][0-9]{0,2})?"),
            prop::option::of("[0-9a-zA-Z-]{1,8}"),
        )
            .prop_map(|(a, b, c, pre, build)| {
                let mut v = format!("{a}.{b}.{c}");
                if let Some(p) = pre {
                    v.push('-');
                    v.push_str(&p);
                }
                if let Some(b) = build {
                    v.push('+');
                    v.push_str(&b);
                }
                v
            }),
        "[a-z0-9][a-z0-9_-]{0,15}",
        "[A-Za-z0-9][A-Za-z0-9-]{0,20}(\\[bot\\])?",
        "[0-9a-f]{40}",
        prop::collection::vec("[a-zA-Z0-9_-]{1,12}(\\.[a-z]{1,4})?", 0..5),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_json_never_panics(doc in arb_json()) {
        let _ = validate_value(&doc);
        let _ = validate_bytes(doc.to_string().as_bytes());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = validate_bytes(&bytes);
    }

    #[test]
    fn mutated_documents_never_panic_and_rust_accepts_only_what_the_schema_accepts(
        key in prop::sample::select(gitops_event_model::KEYS.to_vec()),
        value in arb_field_value(),
    ) {
        let doc = crate::with(key, Some(value));
        let rust_ok = validate_value(&doc).is_ok();
        let validator = crate::schema_validator();
        if rust_ok {
            prop_assert!(validator.is_valid(&doc), "Rust accepted what the schema refuses: {doc}");
        }
    }

    #[test]
    fn builder_output_always_validates_and_round_trips(
        (mfe, version, env, user, sha, files) in valid_parts()
    ) {
        let keys: Vec<String> = files.iter().map(|f| format!("/mfe/{mfe}/{f}")).collect();
        let request = DeployRequest::builder()
            .mfe(mfe.clone())
            .version(version)
            .environment(env)
            .user(user)
            .repository(format!("acme/{mfe}"))
            .git_ref(format!("refs/heads/{mfe}"))
            .sha(sha)
            .cache_invalidation_keys(keys)
            .build();
        let request = request.map_err(|e| TestCaseError::fail(e.to_string()))?;
        let json = request.to_json();
        let parsed = validate_bytes(json.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&parsed.request, &request);
        prop_assert!(crate::schema_validator().is_valid(&request.to_value()));
        // serialise -> parse -> serialise is stable
        prop_assert_eq!(parsed.request.to_json(), json);
    }
}
