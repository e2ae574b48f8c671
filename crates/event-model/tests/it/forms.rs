//! Canonical form, seed form, envelopes, and the builder.

use gitops_event_model::{DeployRequest, Form, validate_bytes, validate_value};
use serde_json::{Value, json};

fn seed_of(canonical: &Value) -> Value {
    let mut seed = canonical.clone();
    let object = seed.as_object_mut().unwrap();
    object.remove("id");
    object.insert("type".into(), json!("deploy-mfe-trigger"));
    let keys: Vec<&str> = canonical["cache_invalidation_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    object.insert("cache_invalidation_keys".into(), json!(keys.join(",")));
    seed
}

#[test]
fn canonical_and_seed_forms_validate_alike() {
    let canonical = crate::canonical();
    let seed = seed_of(&canonical);
    let a = validate_value(&canonical).unwrap().request;
    let b = validate_value(&seed).unwrap().request;
    assert_eq!(a.mfe(), b.mfe());
    assert_eq!(a.version(), b.version());
    assert_eq!(a.cache_invalidation_keys(), b.cache_invalidation_keys());
    assert_eq!(a.sha(), b.sha());
    assert_eq!(a.form(), &Form::Canonical);
    assert!(matches!(b.form(), Form::Seed { .. }));

    // The same broken field is refused alike in both forms.
    for (key, bad) in [
        ("version", json!("v1")),
        ("mfe", json!("X")),
        ("sha", json!("1")),
    ] {
        let mut broken = canonical.clone();
        broken[key] = bad;
        let seed_broken = seed_of(&broken);
        assert_eq!(
            crate::problems(&broken),
            crate::problems(&seed_broken),
            "{key}"
        );
    }
}

#[test]
fn seed_ids_are_derived_deterministically() {
    let seed = seed_of(&crate::canonical());
    let first = validate_value(&seed).unwrap().request;
    let second = validate_value(&seed).unwrap().request;
    assert_eq!(first.id(), second.id());
    let mut other = seed.clone();
    other["version"] = json!("1.4.1");
    assert_ne!(validate_value(&other).unwrap().request.id(), first.id());
    // A derived id is itself a valid canonical id: the canonical serialisation re-validates.
    let canonical = first.to_value();
    assert_eq!(validate_value(&canonical).unwrap().request.id(), first.id());
}

#[test]
fn github_envelope_around_a_payload_is_accepted() {
    // GitHub's own example of the event (octokit/webhooks payload examples, URL fields trimmed).
    let text = include_str!("../fixtures/github-example.repository_dispatch.json");
    let mut envelope: Value = serde_json::from_str(text).unwrap();
    // GitHub's own example, as is, carries a foreign payload: refused, naming the envelope path.
    let found = crate::problems(&envelope);
    assert!(
        found.contains(&("/client_payload/unit".to_owned(), "unknown-key".to_owned())),
        "{found:?}"
    );

    envelope["action"] = json!("deploy-mfe-trigger");
    envelope["client_payload"] = crate::canonical();
    let validated = validate_value(&envelope).unwrap();
    let info = validated.envelope.unwrap();
    assert_eq!(info.action.as_deref(), Some("deploy-mfe-trigger"));
    assert_eq!(info.repository.as_deref(), Some("octo-org/octo-repo"));
    assert_eq!(info.sender.as_deref(), Some("Codertocat"));
    assert_eq!(info.installation, Some(375_706));

    envelope["client_payload"]["version"] = json!("latest");
    assert_eq!(
        crate::problems(&envelope),
        vec![("/client_payload/version".to_owned(), "semver".to_owned())]
    );
    envelope["client_payload"] = json!([]);
    assert_eq!(
        crate::problems(&envelope),
        vec![("/client_payload".to_owned(), "not-an-object".to_owned())]
    );
}

#[test]
fn the_committed_examples_validate() {
    for name in [
        "deploy-request.json",
        "deploy-request.seed.json",
        "repository_dispatch.deploy.json",
    ] {
        let path = format!("{}/../../examples/{name}", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&path).unwrap();
        validate_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn builder_refuses_invalid_values_naming_each() {
    let err = DeployRequest::builder()
        .mfe("Checkout")
        .version("1.0")
        .environment("dev")
        .user("octocat")
        .repository("acme/checkout-mfe")
        .git_ref("refs/heads/main")
        .cache_invalidation_key("relative/path")
        .build()
        .unwrap_err();
    let fields: Vec<&str> = err.problems().iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        ["/mfe", "/version", "/sha", "/cache_invalidation_keys/0"]
    );
}

#[test]
fn builder_output_round_trips_through_validation() {
    let request = DeployRequest::builder()
        .user("renovate[bot]")
        .mfe("checkout")
        .version("2.0.0-beta.1+sha.3f78685")
        .environment("staging")
        .repository("acme/checkout-mfe")
        .git_ref("refs/tags/v2.0.0-beta.1")
        .sha("3f786850e387550fdab836ed7e6dc881de23001b")
        .cache_invalidation_keys(["/mfe/checkout/remoteEntry.js"])
        .build()
        .unwrap();
    let parsed = validate_bytes(request.to_json().as_bytes())
        .unwrap()
        .request;
    assert_eq!(parsed, request);
    assert_eq!(request.to_value().as_object().unwrap().len(), 10);
}
