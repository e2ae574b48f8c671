//! SemVer precedence (issue 10 item 3) and the newest intent per pair, pending changes included
//! (item 1).

use gitops_event_model::DeployRequest;
use gitops_iac_config::{
    Code, Decision, Deployment, Intent, Outcome, Pending, Repository, evaluate,
    evaluate_with_pending,
};

use crate::{at, example, request};

const NOW: &str = "2026-11-26T12:00:00Z";
const ID: &str = "01JDQ8Z6X8N7W4K2M5R3T9V1YB";
const OTHER_ID: &str = "01JDQ8Z6X8N7W4K2M5R3T9V1YC";

fn judge(repo: &Repository, version: &str, rollback: bool, pending: Option<&Pending>) -> Decision {
    let req = request("dev", version).build().unwrap();
    let intent = if rollback {
        Intent::Rollback { pin: None }
    } else {
        Intent::Request
    };
    evaluate_with_pending(repo, &req, &intent, at(NOW), pending)
}

fn outcome(decision: &Decision) -> (Outcome, Vec<Code>) {
    (decision.decision, decision.codes())
}

/// The example with `version` desired in dev.
fn desired_in_dev(version: &str) -> Repository {
    let mut files = crate::example_files();
    let text = String::from_utf8(files["deployments/dev/checkout.json"].clone()).unwrap();
    files.insert(
        "deployments/dev/checkout.json".into(),
        text.replace("\"1.4.0\"", &format!("\"{version}\""))
            .into_bytes(),
    );
    Repository::from_files(&files).unwrap()
}

/// What an accepted request for checkout in dev at `version` (request `id`) would propose.
fn pending(version: &str, id: &str) -> Pending {
    let req = request("dev", version).id(id).build().unwrap();
    let decision = evaluate(&example(), &req, true, at(NOW));
    let deployment: Deployment = serde_json::from_str(&decision.changes[0].content).unwrap();
    Pending {
        deployment,
        reference: "pull request #12".into(),
    }
}

#[test]
fn build_metadata_does_not_make_a_version_newer() {
    // the defect: 1.4.0+zzz was accepted over 1.4.0, and 1.4.0 then refused as a downgrade
    let decision = judge(&example(), "1.4.0+zzz", false, None);
    assert_eq!(outcome(&decision), (Outcome::Reject, vec![Code::Downgrade]));
    assert!(
        decision.reasons[0].message.contains("equal precedence"),
        "{}",
        decision.reasons[0].message
    );
    assert!(decision.reasons[0].message.contains("build metadata"));
    let repo = desired_in_dev("1.4.0+zzz");
    assert_eq!(
        outcome(&judge(&repo, "1.4.0", false, None)),
        (Outcome::Reject, vec![Code::Downgrade])
    );
    assert_eq!(
        outcome(&judge(&repo, "1.4.0+aaa", false, None)),
        (Outcome::Reject, vec![Code::Downgrade])
    );
    // the same string is still a noop, a higher precedence still an upgrade
    assert_eq!(
        outcome(&judge(&repo, "1.4.0+zzz", false, None)),
        (Outcome::Noop, vec![Code::AlreadyDesired])
    );
    assert_eq!(
        outcome(&judge(&repo, "1.4.1", false, None)),
        (Outcome::Accept, vec![])
    );
    assert_eq!(
        outcome(&judge(&repo, "1.4.1+b.1", false, None)),
        (Outcome::Accept, vec![])
    );
    // prereleases have precedence below their release
    assert_eq!(
        outcome(&judge(&repo, "1.4.0-rc.1+zzz", false, None)),
        (Outcome::Reject, vec![Code::Downgrade])
    );
    // a rollback lifts the rule
    assert_eq!(
        outcome(&judge(&repo, "1.4.0", true, None)),
        (Outcome::Accept, vec![])
    );
}

#[test]
fn nothing_pending_is_evaluate() {
    for version in ["1.3.0", "1.4.0", "1.5.0", "1.4.0+x"] {
        let req = request("dev", version).build().unwrap();
        assert_eq!(
            evaluate_with_pending(&example(), &req, &Intent::Request, at(NOW), None),
            evaluate(&example(), &req, false, at(NOW))
        );
    }
}

#[test]
fn an_older_request_cannot_replace_a_newer_pending_one() {
    // the defect: 2.1.0 pending, then 2.0.0 arrived and replaced it
    let newer = pending("2.1.0", OTHER_ID);
    let decision = judge(&example(), "2.0.0", false, Some(&newer));
    assert_eq!(outcome(&decision), (Outcome::Reject, vec![Code::Downgrade]));
    let message = &decision.reasons[0].message;
    assert!(
        message.contains("2.1.0") && message.contains("pull request #12"),
        "{message}"
    );
    assert!(decision.changes.is_empty());
    // equal precedence, another string: not newer either
    let decision = judge(&example(), "2.1.0+build.7", false, Some(&newer));
    assert_eq!(outcome(&decision), (Outcome::Reject, vec![Code::Downgrade]));
    assert!(decision.reasons[0].message.contains("equal precedence"));
    assert!(decision.reasons[0].message.contains("pull request #12"));
    // a rollback may replace it
    assert_eq!(
        outcome(&judge(&example(), "2.0.0", true, Some(&newer))),
        (Outcome::Accept, vec![])
    );
}

#[test]
fn a_newer_request_replaces_the_pending_one() {
    let older = pending("2.0.0", OTHER_ID);
    let decision = judge(&example(), "2.1.0", false, Some(&older));
    assert_eq!(outcome(&decision), (Outcome::Accept, vec![]));
    assert!(decision.changes[0].content.contains("\"2.1.0\""));
    // even one the pending change would have replaced on main
    let decision = judge(
        &example(),
        "1.5.0",
        false,
        Some(&pending("1.4.1", OTHER_ID)),
    );
    assert_eq!(outcome(&decision), (Outcome::Accept, vec![]));
}

#[test]
fn the_same_request_pending_is_a_noop_and_another_request_for_the_same_version_goes_on() {
    let same = pending("2.0.0", ID);
    let decision = judge(&example(), "2.0.0", false, Some(&same));
    assert_eq!(
        outcome(&decision),
        (Outcome::Noop, vec![Code::AlreadyPending])
    );
    assert!(decision.reasons[0].message.contains("pull request #12"));
    assert_eq!(Code::AlreadyPending.as_str(), "already-pending");
    assert_eq!(
        serde_json::to_value(Code::AlreadyPending).unwrap(),
        "already-pending"
    );
    // a rollback replay is a replay too
    assert_eq!(
        outcome(&judge(&example(), "2.0.0", true, Some(&same))),
        (Outcome::Noop, vec![Code::AlreadyPending])
    );
    // the same version from another request replaces it (the newest intent wins)
    let other = pending("2.0.0", OTHER_ID);
    let decision = judge(&example(), "2.0.0", false, Some(&other));
    assert_eq!(outcome(&decision), (Outcome::Accept, vec![]));
    assert!(decision.changes[0].content.contains(ID));
}

#[test]
fn identity_rules_come_before_the_pending_change() {
    let same = pending("2.0.0", ID);
    let req = request("dev", "2.0.0")
        .repository("evil/checkout-mfe")
        .build()
        .unwrap();
    let decision = evaluate_with_pending(&example(), &req, &Intent::Request, at(NOW), Some(&same));
    assert_eq!(
        outcome(&decision),
        (Outcome::Reject, vec![Code::RepositoryMismatch])
    );
}

#[test]
fn main_rules_still_apply_after_the_pending_change() {
    // pending 1.4.5 in dev, main has 1.4.0: 1.3.0 is lower than both
    let decision = judge(
        &example(),
        "1.3.0",
        false,
        Some(&pending("1.4.5", OTHER_ID)),
    );
    assert_eq!(outcome(&decision), (Outcome::Reject, vec![Code::Downgrade]));
    assert!(decision.reasons[0].message.contains("pull request #12"));
    // pending 1.3.0 (a rollback) in dev: 1.3.5 is newer than it but lower than main's 1.4.0
    let decision = judge(
        &example(),
        "1.3.5",
        false,
        Some(&pending("1.3.0", OTHER_ID)),
    );
    assert_eq!(outcome(&decision), (Outcome::Reject, vec![Code::Downgrade]));
    assert!(decision.reasons[0].message.contains("the desired 1.4.0"));
    // the version desired on main while something newer is pending: refused, not a noop
    let decision = judge(
        &example(),
        "1.4.0",
        false,
        Some(&pending("1.5.0", OTHER_ID)),
    );
    assert_eq!(outcome(&decision), (Outcome::Reject, vec![Code::Downgrade]));
    // promotion and freeze are judged against main as before
    let staging = DeployRequest::builder()
        .user("octocat")
        .mfe("checkout")
        .version("1.6.0")
        .environment("staging")
        .repository("acme/checkout-mfe")
        .git_ref("refs/heads/main")
        .sha("3f786850e387550fdab836ed7e6dc881de23001b")
        .build()
        .unwrap();
    let mut in_staging = pending("1.5.0", OTHER_ID);
    in_staging.deployment.environment = crate::env("staging");
    let decision = evaluate_with_pending(
        &example(),
        &staging,
        &Intent::Request,
        at(NOW),
        Some(&in_staging),
    );
    assert_eq!(
        outcome(&decision),
        (Outcome::Reject, vec![Code::PromotionRequired])
    );
}

#[test]
fn a_pending_change_of_another_pair_is_ignored() {
    let mut elsewhere = pending("9.0.0", OTHER_ID);
    elsewhere.deployment.environment = crate::env("staging");
    assert_eq!(
        outcome(&judge(&example(), "1.5.0", false, Some(&elsewhere))),
        (Outcome::Accept, vec![])
    );
    let mut other_mfe = pending("9.0.0", ID);
    other_mfe.deployment.mfe = crate::mfe("search");
    assert_eq!(
        outcome(&judge(&example(), "1.5.0", false, Some(&other_mfe))),
        (Outcome::Accept, vec![])
    );
}
