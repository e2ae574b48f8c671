//! Pins (issue 17): a pinned desired state refuses automation's requests (`pinned`), a rollback
//! and an allowed override go through, and the merge check accepts pin-only changes.

use gitops_iac_config::{
    Code, Deployment, Intent, Outcome, Pending, Pin, Repository, evaluate, evaluate_with_pending,
    judge_change, render_deployment,
};

use crate::{at, env, example_files, mfe, request};

const NOW: &str = "2026-11-26T12:00:00Z";
const DEV: &str = "deployments/dev/checkout.json";

fn pin(reason: &str) -> Pin {
    Pin {
        by: "ops-lead".parse().unwrap(),
        at: at("2026-11-25T08:00:00Z"),
        reason: reason.to_owned(),
    }
}

/// The example repository with dev's checkout pinned (and `allow_pin_override` as given).
fn pinned_example(allow_override: bool) -> Repository {
    let mut files = example_files();
    let mut desired = current(&Repository::from_files(&files).unwrap());
    desired.pinned = Some(pin("bad release"));
    files.insert(DEV.to_owned(), render_deployment(&desired).into_bytes());
    if allow_override {
        let config = String::from_utf8(files["gitops.yaml"].clone()).unwrap();
        let config = config.replacen(
            "    public_url: http://localhost:8080/dev\n",
            "    public_url: http://localhost:8080/dev\n    allow_pin_override: true\n",
            1,
        );
        files.insert("gitops.yaml".to_owned(), config.into_bytes());
    }
    Repository::from_files(&files).unwrap()
}

fn current(repo: &Repository) -> Deployment {
    repo.deployment(&env("dev"), &mfe("checkout"))
        .unwrap()
        .clone()
}

#[test]
fn a_request_for_a_pinned_pair_is_refused_naming_who_and_why() {
    let repo = pinned_example(false);
    let req = request("dev", "9.0.0").build().unwrap();
    let decision = evaluate(&repo, &req, false, at(NOW));
    assert_eq!(decision.decision, Outcome::Reject);
    assert_eq!(decision.codes(), vec![Code::Pinned]);
    let message = &decision.reasons[0].message;
    for part in [
        "@ops-lead",
        "bad release",
        "gitops unpin --env dev --mfe checkout",
    ] {
        assert!(message.contains(part), "{message}");
    }
    assert!(!message.contains("override"), "{message}");
    // The same request on the unpinned example is accepted: the pin is the only reason.
    let plain = Repository::from_files(&example_files()).unwrap();
    assert_eq!(
        evaluate(&plain, &req, false, at(NOW)).decision,
        Outcome::Accept
    );
    // The desired version itself is still a noop (nothing changes).
    let same = request("dev", &current(&repo).version.to_string())
        .build()
        .unwrap();
    assert_eq!(
        evaluate(&repo, &same, false, at(NOW)).decision,
        Outcome::Noop
    );
}

#[test]
fn a_rollback_goes_through_a_pin_and_writes_its_own() {
    let repo = pinned_example(false);
    let req = request("dev", "0.1.0").build().unwrap();
    let intent = Intent::Rollback {
        pin: Some(pin("second rollback")),
    };
    let decision = evaluate_with_pending(&repo, &req, &intent, at(NOW), None);
    assert_eq!(decision.decision, Outcome::Accept, "{:?}", decision.reasons);
    let written: Deployment = serde_json::from_str(&decision.changes[0].content).unwrap();
    assert!(written.rollback);
    assert_eq!(written.pinned, Some(pin("second rollback")));
}

#[test]
fn an_override_is_accepted_only_where_the_environment_allows_it_and_lifts_the_pin() {
    let req = request("dev", "9.0.0").build().unwrap();
    let refused = evaluate_with_pending(
        &pinned_example(false),
        &req,
        &Intent::Override,
        at(NOW),
        None,
    );
    assert_eq!(refused.codes(), vec![Code::Pinned]);
    let allowed = pinned_example(true);
    let decision = evaluate_with_pending(&allowed, &req, &Intent::Override, at(NOW), None);
    assert_eq!(decision.decision, Outcome::Accept, "{:?}", decision.reasons);
    let written: Deployment = serde_json::from_str(&decision.changes[0].content).unwrap();
    assert_eq!(written.pinned, None);
    // A plain request is still refused there, and told an override exists.
    let plain = evaluate(&allowed, &req, false, at(NOW));
    assert_eq!(plain.codes(), vec![Code::Pinned]);
    assert!(plain.reasons[0].message.contains("override"));
}

#[test]
fn a_pending_pinned_rollback_refuses_requests_too() {
    let repo = Repository::from_files(&example_files()).unwrap();
    let mut pending = current(&repo);
    pending.version = "0.1.0".parse().unwrap();
    pending.rollback = true;
    pending.pinned = Some(pin("rolling back"));
    let pending = Pending {
        deployment: pending,
        reference: "pull request #7".to_owned(),
    };
    let req = request("dev", "9.0.0").build().unwrap();
    let decision = evaluate_with_pending(&repo, &req, &Intent::Request, at(NOW), Some(&pending));
    assert_eq!(decision.codes(), vec![Code::Pinned]);
    assert!(decision.reasons[0].message.contains("pending"));
}

#[test]
fn the_merge_check_accepts_pin_only_changes_and_judges_the_rest() {
    let pinned = pinned_example(false);
    // Unpin: the same desired state without its pin.
    let mut unpinned = current(&pinned);
    unpinned.pinned = None;
    assert_eq!(
        judge_change(&pinned, &unpinned, at(NOW)).decision,
        Outcome::Accept
    );
    // Pin by hand: the same desired state with a pin.
    let plain = Repository::from_files(&example_files()).unwrap();
    let mut repinned = current(&plain);
    repinned.pinned = Some(pin("hold"));
    assert_eq!(
        judge_change(&plain, &repinned, at(NOW)).decision,
        Outcome::Accept
    );
    // Unchanged: nothing to merge.
    assert_eq!(
        judge_change(&plain, &current(&plain), at(NOW)).decision,
        Outcome::Noop
    );
    // A new version on a pinned pair, without a pin: refused (no override allowed) ...
    let mut newer = current(&pinned);
    newer.version = "9.0.0".parse().unwrap();
    newer.pinned = None;
    assert_eq!(
        judge_change(&pinned, &newer, at(NOW)).codes(),
        vec![Code::Pinned]
    );
    // ... accepted where overrides are allowed ...
    assert_eq!(
        judge_change(&pinned_example(true), &newer, at(NOW)).decision,
        Outcome::Accept
    );
    // ... and a rollback goes through.
    let mut back = current(&pinned);
    back.version = "0.1.0".parse().unwrap();
    back.rollback = true;
    back.pinned = Some(pin("again"));
    assert_eq!(
        judge_change(&pinned, &back, at(NOW)).decision,
        Outcome::Accept
    );
}

#[test]
fn a_pin_that_does_not_parse_is_a_problem_of_its_field() {
    let mut files = example_files();
    let text = String::from_utf8(files[DEV].clone()).unwrap();
    let broken = text.replacen(
        "  \"rollback\": false",
        "  \"rollback\": false,\n  \"pinned\": { \"by\": \"-bad-\", \"at\": \"yesterday\" }",
        1,
    );
    assert_ne!(broken, text);
    files.insert(DEV.to_owned(), broken.into_bytes());
    let problems = Repository::from_files(&files).unwrap_err();
    let fields: Vec<String> = problems.iter().filter_map(|p| p.field.clone()).collect();
    assert!(fields.iter().any(|f| f == "pinned.by"), "{problems:?}");
    assert!(fields.iter().any(|f| f == "pinned.at"), "{problems:?}");
}
