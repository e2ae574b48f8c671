//! One decision on case (issue 11 item 1): environment names are case-sensitive and unique
//! ignoring case; a name that differs only by case is unknown, with a hint naming the declared
//! one; repository names compare without case, as on GitHub. And each name rule is the event
//! model's: the loader accepts exactly what the types' own `parse` accepts.

use std::collections::BTreeMap;

use gitops_event_model::{CommitSha, EnvironmentName, MfeName, Version};
use gitops_iac_config::{Code, ConfigProblem, Outcome, Repository, evaluate};

use crate::{at, env, example_files, mfe, request};

const NOW: &str = "2026-11-26T12:00:00Z";

/// The example files with `replace` applied to `path`.
fn edited(
    mut files: BTreeMap<String, Vec<u8>>,
    path: &str,
    from: &str,
    to: &str,
) -> BTreeMap<String, Vec<u8>> {
    let text = String::from_utf8(files[path].clone()).unwrap();
    assert!(text.contains(from), "{path} has no {from:?}");
    files.insert(path.to_owned(), text.replace(from, to).into_bytes());
    files
}

/// The example with its production environment called `Prod`.
fn with_capital_prod() -> Repository {
    let files = edited(example_files(), "gitops.yaml", "name: prod", "name: Prod");
    let files = edited(
        files,
        "mfes/checkout.yaml",
        "[dev, staging, prod]",
        "[dev, staging, Prod]",
    );
    Repository::from_files(&files).unwrap()
}

fn problems(files: &BTreeMap<String, Vec<u8>>) -> Vec<ConfigProblem> {
    Repository::from_files(files).unwrap_err()
}

#[test]
fn an_environment_named_with_a_capital_is_used_as_written() {
    let repo = with_capital_prod();
    let decision = evaluate(
        &repo,
        &request("Prod", "1.4.0").build().unwrap(),
        false,
        at(NOW),
    );
    assert_eq!(
        (decision.decision, decision.codes()),
        (Outcome::Accept, vec![])
    );
    assert_eq!(decision.changes[0].path, "deployments/Prod/checkout.json");
    assert!(
        decision.changes[0]
            .content
            .contains("\"environment\": \"Prod\""),
        "{}",
        decision.changes[0].content
    );
    // and the file it writes loads back under the same name
    let mut files = edited(example_files(), "gitops.yaml", "name: prod", "name: Prod");
    files = edited(
        files,
        "mfes/checkout.yaml",
        "[dev, staging, prod]",
        "[dev, staging, Prod]",
    );
    files.insert(
        decision.changes[0].path.clone(),
        decision.changes[0].content.clone().into_bytes(),
    );
    let applied = Repository::from_files(&files).unwrap();
    assert_eq!(
        applied
            .deployment(&env("Prod"), &mfe("checkout"))
            .unwrap()
            .version
            .to_string(),
        "1.4.0"
    );
    assert!(applied.deployment(&env("prod"), &mfe("checkout")).is_none());
}

#[test]
fn a_request_for_prod_where_prod_is_capitalised_is_unknown_with_a_hint() {
    let repo = with_capital_prod();
    let decision = evaluate(
        &repo,
        &request("prod", "1.4.0").build().unwrap(),
        false,
        at(NOW),
    );
    assert_eq!(
        (decision.decision, decision.codes()),
        (Outcome::Reject, vec![Code::UnknownEnvironment])
    );
    let message = &decision.reasons[0].message;
    assert!(
        message.contains("did you mean `Prod`?"),
        "the hint names the declared environment: {message}"
    );
    assert!(message.contains("`prod` is not declared"), "{message}");
    // no hint when nothing matches, even ignoring case
    let decision = evaluate(
        &repo,
        &request("qa", "1.4.0").build().unwrap(),
        false,
        at(NOW),
    );
    assert_eq!(decision.codes(), vec![Code::UnknownEnvironment]);
    assert!(
        !decision.reasons[0].message.contains("did you mean"),
        "{}",
        decision.reasons[0].message
    );
    // and the other way round: `PROD` against the example's `prod`
    let decision = evaluate(
        &crate::example(),
        &request("PROD", "1.4.0").build().unwrap(),
        false,
        at(NOW),
    );
    assert_eq!(decision.codes(), vec![Code::UnknownEnvironment]);
    assert!(decision.reasons[0].message.contains("did you mean `prod`?"));
}

#[test]
fn a_repository_name_differing_only_by_case_is_the_same_repository() {
    // registered as acme/checkout-mfe; GitHub sends the name as the owner spelled it
    let decision = evaluate(
        &crate::example(),
        &request("dev", "1.5.0")
            .repository("Acme/Checkout-MFE")
            .build()
            .unwrap(),
        false,
        at(NOW),
    );
    assert_eq!(
        (decision.decision, decision.codes()),
        (Outcome::Accept, vec![])
    );
    // the desired state records the request as it came
    assert!(
        decision.changes[0]
            .content
            .contains("\"repository\": \"Acme/Checkout-MFE\""),
        "{}",
        decision.changes[0].content
    );
    // registered with capitals, requested in lowercase
    let files = edited(
        example_files(),
        "mfes/checkout.yaml",
        "repository: acme/checkout-mfe",
        "repository: ACME/Checkout-Mfe",
    );
    let repo = Repository::from_files(&files).unwrap();
    let decision = evaluate(
        &repo,
        &request("dev", "1.5.0").build().unwrap(),
        false,
        at(NOW),
    );
    assert_eq!(decision.decision, Outcome::Accept, "{decision:?}");
    // another repository is still refused, whatever its case
    let decision = evaluate(
        &repo,
        &request("dev", "1.5.0")
            .repository("Acme/Checkout-MFE2")
            .build()
            .unwrap(),
        false,
        at(NOW),
    );
    assert_eq!(decision.codes(), vec![Code::RepositoryMismatch]);
}

#[test]
fn names_differing_only_by_case_in_the_files_are_undeclared_with_a_hint() {
    // an MFE file naming `Dev` where gitops.yaml declares `dev`
    let files = edited(
        example_files(),
        "mfes/search.yaml",
        "[dev, staging]",
        "[Dev, staging]",
    );
    let found = problems(&files);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].field.as_deref(), Some("environments[0]"));
    assert_eq!(found[0].line, Some(4));
    assert!(
        found[0].message.contains("`Dev` is not declared")
            && found[0].message.contains("did you mean `dev`?"),
        "{}",
        found[0]
    );
    // `requires: Dev`
    let files = edited(
        example_files(),
        "gitops.yaml",
        "requires: dev",
        "requires: Dev",
    );
    let found = problems(&files);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].field.as_deref(), Some("environments[1].requires"));
    assert_eq!(found[0].line, Some(13));
    assert!(
        found[0].message.contains("did you mean `dev`?"),
        "{}",
        found[0]
    );
    // a desired-state file under deployments/Dev/
    let mut files = example_files();
    let text = String::from_utf8(files["deployments/dev/checkout.json"].clone())
        .unwrap()
        .replace("\"environment\": \"dev\"", "\"environment\": \"Dev\"");
    files.insert("deployments/Dev/checkout.json".into(), text.into_bytes());
    let found = problems(&files);
    let p = found
        .iter()
        .find(|p| p.file == "deployments/Dev/checkout.json" && p.message.contains("not declared"))
        .unwrap_or_else(|| panic!("{found:?}"));
    assert!(p.message.contains("did you mean `dev`?"), "{p}");
    assert_eq!(p.line, Some(3));
}

#[test]
fn every_problem_of_a_desired_state_file_is_reported_with_its_field_and_line() {
    let base = String::from_utf8(example_files()["deployments/dev/checkout.json"].clone()).unwrap();
    let bad = base
        .replace("\"1.4.0\"", "\"v1.4\"")
        .replace("3f786850e387550fdab836ed7e6dc881de23001b", "not-a-sha")
        .replace("refs/heads/main", "main")
        .replace("acme/checkout-mfe", "acme")
        .replace("\"octocat\"", "\"-octocat\"")
        .replace("01JD5XK0R6T8N1Q2W3E4R5T6Y7", "request-1")
        .replace(
            "\"rollback\": false",
            "\"rollback\": false,\n  \"cache_invalidation_keys\": [\"/mfe/checkout/a.js\", \"mfe/x\", \"/mfe/search/a.js\"]",
        );
    let mut files = example_files();
    files.insert("deployments/dev/checkout.json".into(), bad.into_bytes());
    let found = problems(&files);
    let summary: Vec<(Option<usize>, Option<&str>)> =
        found.iter().map(|p| (p.line, p.field.as_deref())).collect();
    assert_eq!(
        summary,
        [
            (Some(4), Some("version")),
            (Some(5), Some("sha")),
            (Some(6), Some("ref")),
            (Some(7), Some("repository")),
            (Some(8), Some("requested_by")),
            (Some(10), Some("request_id")),
            (Some(12), Some("cache_invalidation_keys[1]")),
            (Some(12), Some("cache_invalidation_keys[2]")),
        ],
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .all(|p| p.file == "deployments/dev/checkout.json")
    );
    assert!(
        found[7].message.contains("outside this MFE's prefix"),
        "{}",
        found[7]
    );
}

#[test]
fn an_mfe_described_twice_is_refused() {
    let mut files = example_files();
    files.insert("mfes/search.yml".into(), files["mfes/search.yaml"].clone());
    let found = problems(&files);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].file, "mfes/search.yml");
    assert!(
        found[0]
            .message
            .contains("already described in mfes/search.yaml"),
        "{}",
        found[0]
    );
}

#[test]
fn a_deployments_directory_not_named_after_an_environment_is_refused() {
    let mut files = example_files();
    files.insert(
        "deployments/-dev/checkout.json".into(),
        files["deployments/dev/checkout.json"].clone(),
    );
    let found = problems(&files);
    assert!(
        found
            .iter()
            .any(|p| p.file == "deployments/-dev/checkout.json"
                && p.message.contains("not named after an environment")),
        "{found:?}"
    );
}

#[test]
fn loaded_shas_are_kept_lowercased() {
    let files = edited(
        example_files(),
        "deployments/dev/checkout.json",
        "3f786850e387550fdab836ed7e6dc881de23001b",
        "3F786850E387550FDAB836ED7E6DC881DE23001B",
    );
    let repo = Repository::from_files(&files).unwrap();
    assert_eq!(
        repo.deployment(&env("dev"), &mfe("checkout"))
            .unwrap()
            .sha
            .as_str(),
        "3f786850e387550fdab836ed7e6dc881de23001b"
    );
}

/// Candidates for each rule: edge cases of the rule itself, not of this crate.
const ENVIRONMENTS: &[&str] = &[
    "qa",
    "QA",
    "Live",
    "eu.west",
    "a_b-c",
    "9",
    "a.lock",
    "a..b",
    ".a",
    "a.",
    "-a",
    "a b",
    "a/b",
    "é",
    "x1234567890123456789012345678901234567890123456789012345678901",
    "x12345678901234567890123456789012345678901234567890123456789012",
];
const MFES: &[&str] = &["cart", "cart-2", "Cart", "2cart", "-cart", "cart_x", "c"];
const VERSIONS: &[&str] = &[
    "1.5.0",
    "1.5.0-rc.1+b.7",
    "v1.5.0",
    "1.5",
    "01.5.0",
    "1.5.0-01",
    "1.5.0+001",
    "1.5.0-",
];
const SHAS: &[&str] = &[
    "3f786850e387550fdab836ed7e6dc881de23001b",
    "3F786850E387550FDAB836ED7E6DC881DE23001B",
    "3f786850e387550fdab836ed7e6dc881de23001",
    "3f786850e387550fdab836ed7e6dc881de23001g",
];

/// Whether the example loads with `name` as the name of a fourth environment.
fn loads_with_environment(name: &str) -> bool {
    let files = edited(
        example_files(),
        "gitops.yaml",
        "environments:",
        &format!(
            "environments:\n  - {{ name: \"{name}\", storage: local/e/s, registry: local/e/r.db, cdn: local/e/c.log, public_url: \"http://x/\" }}"
        ),
    );
    Repository::from_files(&files).is_ok()
}

#[test]
fn the_event_model_types_alone_decide_which_names_load() {
    for name in ENVIRONMENTS {
        assert_eq!(
            loads_with_environment(name),
            EnvironmentName::parse(name).is_ok(),
            "environment {name:?}"
        );
    }
    for name in MFES {
        let mut files = example_files();
        files.insert(
            format!("mfes/{name}.yaml"),
            format!(
                "name: \"{name}\"\nrepository: acme/x\nartifact: \"x-{{version}}.tgz\"\nenvironments: [dev]\n"
            )
            .into_bytes(),
        );
        assert_eq!(
            Repository::from_files(&files).is_ok(),
            MfeName::parse(name).is_ok(),
            "MFE {name:?}"
        );
    }
    for version in VERSIONS {
        let files = edited(
            example_files(),
            "deployments/dev/checkout.json",
            "\"1.4.0\"",
            &format!("\"{version}\""),
        );
        assert_eq!(
            Repository::from_files(&files).is_ok(),
            Version::parse(version).is_ok(),
            "version {version:?}"
        );
    }
    for sha in SHAS {
        let files = edited(
            example_files(),
            "deployments/dev/checkout.json",
            "3f786850e387550fdab836ed7e6dc881de23001b",
            sha,
        );
        assert_eq!(
            Repository::from_files(&files).is_ok(),
            CommitSha::parse(sha).is_ok(),
            "sha {sha:?}"
        );
    }
}
