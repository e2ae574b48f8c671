//! The field types other crates use as their currency: one rule each, applied by parsing.

use std::collections::BTreeSet;

use gitops_event_model::{
    CommitSha, DeployRequest, DeploymentPayload, EnvironmentName, MfeName, RepositoryName,
};

#[test]
fn repository_names_compare_without_case_as_on_github() {
    let a = RepositoryName::parse("Acme/Checkout-MFE").unwrap();
    let b = RepositoryName::parse("acme/checkout-mfe").unwrap();
    assert_eq!(a, b);
    assert_eq!(a.as_str(), "Acme/Checkout-MFE", "kept as written");
    let set: BTreeSet<RepositoryName> = [a, b].into_iter().collect();
    assert_eq!(set.len(), 1, "orders and hashes alike");
    assert_ne!(
        RepositoryName::parse("acme/checkout").unwrap(),
        RepositoryName::parse("acme/checkout-mfe").unwrap()
    );
}

#[test]
fn environment_names_are_valid_branch_components_and_keep_their_case() {
    for ok in ["dev", "Staging", "prod-eu.1", "a_b", "PROD"] {
        assert!(EnvironmentName::parse(ok).is_ok(), "{ok}");
    }
    assert_ne!(
        EnvironmentName::parse("Prod").unwrap(),
        EnvironmentName::parse("prod").unwrap()
    );
    for bad in [
        "a..b", "prod.", ".prod", "x.lock", "x.LOCK", "-x", "a/b", "a b", "", "ü",
    ] {
        assert!(EnvironmentName::parse(bad).is_err(), "{bad:?}");
    }
    assert!(EnvironmentName::parse(&"a".repeat(64)).is_err());
}

#[test]
fn commit_shas_are_kept_lowercased() {
    let sha = CommitSha::parse("3F786850E387550FDAB836ED7E6DC881DE23001B").unwrap();
    assert_eq!(sha.as_str(), "3f786850e387550fdab836ed7e6dc881de23001b");
}

#[test]
fn mfe_names_are_lowercase_only() {
    assert!(MfeName::parse("checkout").is_ok());
    for bad in ["Checkout", "1x", "a_b", "a.b", ""] {
        assert!(MfeName::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn the_deployment_payload_is_one_shape_on_both_sides() {
    let request = DeployRequest::builder()
        .user("octocat")
        .mfe("checkout")
        .version("1.4.0")
        .environment("dev")
        .repository("acme/checkout-mfe")
        .git_ref("refs/heads/main")
        .sha("3f786850e387550fdab836ed7e6dc881de23001b")
        .cache_invalidation_key("/checkout/*")
        .build()
        .unwrap();
    let payload = DeploymentPayload::of(&request);
    let value = payload.to_value();
    assert_eq!(
        value,
        serde_json::json!({"id": request.id().as_str(), "mfe": "checkout", "version": "1.4.0",
            "user": "octocat", "cache_invalidation_keys": ["/checkout/*"]})
    );
    assert_eq!(DeploymentPayload::from_value(&value), Some(payload.clone()));
    // An older requester's payload (id, MFE and version only) still reads.
    let small =
        serde_json::json!({"id": request.id().as_str(), "mfe": "checkout", "version": "1.4.0"});
    let read = DeploymentPayload::from_value(&small).unwrap();
    assert_eq!((read.user, read.keys.len()), (None, 0));
    // Deployments other tools created on the same commit are not ours.
    assert_eq!(
        DeploymentPayload::from_value(&serde_json::json!({"build": 7})),
        None
    );
}

#[test]
fn a_deployment_made_for_a_request_is_that_request_again() {
    let request = DeployRequest::builder()
        .user("octocat")
        .mfe("checkout")
        .version("1.4.0")
        .environment("dev")
        .repository("acme/checkout-mfe")
        .git_ref("refs/heads/main")
        .sha("3f786850e387550fdab836ed7e6dc881de23001b")
        .cache_invalidation_key("/checkout/*")
        .build()
        .unwrap();
    let facts = gitops_event_model::DeploymentFacts {
        repository: "acme/checkout-mfe",
        sha: "3f786850e387550fdab836ed7e6dc881de23001b",
        git_ref: "main",
        environment: "dev",
        created_at: "2026-12-01T10:00:00Z",
        creator: "github-actions[bot]",
    };
    let again = DeploymentPayload::of(&request).request(&facts).unwrap();
    assert_eq!(again.id(), request.id());
    assert_eq!(again.user().as_str(), "octocat");
    assert_eq!(
        again.git_ref(),
        request.git_ref(),
        "a bare branch is refs/heads/<branch>"
    );
    assert_eq!(
        again.cache_invalidation_keys(),
        request.cache_invalidation_keys()
    );
    assert_eq!(again.timestamp().to_string(), "2026-12-01T10:00:00Z");
    // GitHub's facts, not the payload, name the repository; the creator is the user when the
    // payload names none; a bad path in the payload is a problem, not a request.
    let mut bare = DeploymentPayload::of(&request);
    bare.user = None;
    bare.keys = vec!["no-slash".to_owned()];
    let problems = bare.request(&facts).unwrap_err();
    assert!(
        problems.to_string().contains("cache_invalidation_keys"),
        "{problems}"
    );
    bare.keys.clear();
    assert_eq!(
        bare.request(&facts).unwrap().user().as_str(),
        "github-actions[bot]"
    );
}
