//! Each reason code is produced by the case it names, and only then.

use gitops_iac_config::{Code, Outcome, evaluate};

use crate::{at, example, request};

const NOW: &str = "2026-11-26T12:00:00Z";

fn codes(
    builder: gitops_event_model::DeployRequestBuilder,
    rollback: bool,
    when: &str,
) -> (Outcome, Vec<Code>) {
    let decision = evaluate(&example(), &builder.build().unwrap(), rollback, at(when));
    (decision.decision, decision.codes())
}

#[test]
fn a_new_version_in_dev_is_accepted_with_one_file_change() {
    let decision = evaluate(
        &example(),
        &request("dev", "1.5.0").build().unwrap(),
        false,
        at(NOW),
    );
    assert_eq!(decision.decision, Outcome::Accept);
    assert!(decision.reasons.is_empty());
    assert_eq!(decision.changes.len(), 1);
    assert_eq!(decision.changes[0].path, "deployments/dev/checkout.json");
    let written: serde_json::Value = serde_json::from_str(&decision.changes[0].content).unwrap();
    assert_eq!(written["version"], "1.5.0");
    // the order of desired states comes from git: the bot writes no sequence
    assert!(written.get("sequence").is_none(), "{written}");
    assert_eq!(written["rollback"], false);
    assert!(decision.changes[0].content.ends_with("}\n"));
}

#[test]
fn same_version_is_a_noop() {
    assert_eq!(
        codes(request("dev", "1.4.0"), false, NOW),
        (Outcome::Noop, vec![Code::AlreadyDesired])
    );
}

#[test]
fn unknown_mfe() {
    let cart = gitops_event_model::DeployRequest::builder()
        .user("octocat")
        .mfe("cart")
        .version("1.0.0")
        .environment("dev")
        .repository("acme/cart")
        .git_ref("refs/heads/main")
        .sha("3f786850e387550fdab836ed7e6dc881de23001b")
        .cache_invalidation_key("/mfe/cart/remoteEntry.js");
    assert_eq!(
        codes(cart, false, NOW),
        (Outcome::Reject, vec![Code::UnknownMfe])
    );
}

#[test]
fn unknown_environment() {
    assert_eq!(
        codes(request("qa", "1.5.0"), false, NOW),
        (Outcome::Reject, vec![Code::UnknownEnvironment])
    );
}

#[test]
fn repository_mismatch() {
    assert_eq!(
        codes(
            request("dev", "1.5.0").repository("evil/checkout-mfe"),
            false,
            NOW
        ),
        (Outcome::Reject, vec![Code::RepositoryMismatch])
    );
    // even when the version is already desired: identity is checked first
    assert_eq!(
        codes(
            request("dev", "1.4.0").repository("evil/checkout-mfe"),
            false,
            NOW
        ),
        (Outcome::Reject, vec![Code::RepositoryMismatch])
    );
}

#[test]
fn environment_not_allowed() {
    let builder = gitops_event_model::DeployRequest::builder()
        .user("octocat")
        .mfe("search")
        .version("1.0.0")
        .environment("prod")
        .repository("acme/search-mfe")
        .git_ref("refs/heads/main")
        .sha("3f786850e387550fdab836ed7e6dc881de23001b");
    assert_eq!(
        codes(builder, false, NOW),
        (Outcome::Reject, vec![Code::EnvironmentNotAllowed])
    );
}

#[test]
fn promotion_required() {
    assert_eq!(
        codes(request("staging", "1.5.0"), false, NOW),
        (Outcome::Reject, vec![Code::PromotionRequired])
    );
    // prod requires staging, which has 1.4.0: 1.4.0 may go to prod
    assert_eq!(
        codes(request("prod", "1.4.0"), false, NOW),
        (Outcome::Accept, vec![])
    );
}

#[test]
fn freeze_window_refuses_prod_and_allows_dev() {
    let inside = "2026-12-24T10:00:00Z";
    assert_eq!(
        codes(request("prod", "1.4.0"), false, inside),
        (Outcome::Reject, vec![Code::FreezeWindow])
    );
    assert_eq!(
        codes(request("dev", "1.5.0"), false, inside),
        (Outcome::Accept, vec![])
    );
    // bounds: from is inclusive, until exclusive
    assert_eq!(
        codes(request("prod", "1.4.0"), false, "2026-12-20T00:00:00Z").1,
        vec![Code::FreezeWindow]
    );
    assert_eq!(
        codes(request("prod", "1.4.0"), false, "2027-01-04T00:00:00Z").1,
        vec![]
    );
    // the payload's own timestamp is ignored: only the evaluator's clock counts
    assert_eq!(
        codes(
            request("prod", "1.4.0").timestamp("2026-11-01T00:00:00Z"),
            false,
            inside
        )
        .1,
        vec![Code::FreezeWindow]
    );
}

#[test]
fn downgrade_unless_rollback() {
    assert_eq!(
        codes(request("dev", "1.3.9"), false, NOW),
        (Outcome::Reject, vec![Code::Downgrade])
    );
    assert_eq!(
        codes(request("dev", "1.4.0-rc.1"), false, NOW),
        (Outcome::Reject, vec![Code::Downgrade])
    );
    let decision = evaluate(
        &example(),
        &request("dev", "1.3.9").build().unwrap(),
        true,
        at(NOW),
    );
    assert_eq!(decision.decision, Outcome::Accept);
    assert!(decision.changes[0].content.contains("\"rollback\": true"));
}

#[test]
fn invalidation_outside_prefix() {
    for bad in [
        "/*",
        "/mfe/*",
        "/mfe/search/remoteEntry.js",
        "/mfe/checkout",
        "/mfe/checkoutx/a.js",
        "/importmap.json",
        "/mfe//search/a.js",
        "/%6dfe/search/a.js",
        "/mfe/check%6fut2/a.js",
    ] {
        let (outcome, found) = codes(
            request("dev", "1.5.0").cache_invalidation_key(bad),
            false,
            NOW,
        );
        assert_eq!(
            (outcome, found),
            (Outcome::Reject, vec![Code::InvalidationOutsidePrefix]),
            "{bad}"
        );
    }
    for good in [
        "/mfe/checkout/*",
        "/mfe//checkout//a.js",
        "/%6Dfe/checkout/a.js",
        "/mfe/checkout/x%41y.js",
    ] {
        assert_eq!(
            codes(
                request("dev", "1.5.0").cache_invalidation_key(good),
                false,
                NOW
            )
            .0,
            Outcome::Accept,
            "{good}"
        );
    }
}

#[test]
fn invalid_payload_is_one_reason_per_problem() {
    let problems = gitops_event_model::validate_bytes(b"{\"mfe\": 1}").unwrap_err();
    let decision = gitops_iac_config::Decision::invalid_payload(problems.problems());
    assert_eq!(decision.decision, Outcome::Reject);
    assert!(decision.codes().iter().all(|c| *c == Code::InvalidPayload));
    assert_eq!(decision.reasons.len(), problems.problems().len());
}

#[test]
fn several_reasons_are_reported_together() {
    let (outcome, found) = codes(
        request("dev", "1.5.0")
            .repository("evil/x")
            .cache_invalidation_key("/*"),
        false,
        NOW,
    );
    assert_eq!(outcome, Outcome::Reject);
    assert_eq!(
        found,
        vec![Code::RepositoryMismatch, Code::InvalidationOutsidePrefix]
    );
}
