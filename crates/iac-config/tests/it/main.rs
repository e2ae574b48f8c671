//! Integration tests of gitops-iac-config.

// Test code runs on the harness's threads: blocking file and process calls are fine here.
#![allow(clippy::disallowed_methods)]

mod case;
mod edit;
mod fuzz;
mod hostile;
mod limits;
mod load;
mod pending;
mod pins;
mod policy;
mod properties;
mod targets;

use std::collections::BTreeMap;
use std::path::PathBuf;

use gitops_event_model::DeployRequest;
use gitops_iac_config::Repository;

pub fn example_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/gitops-repo"
    ))
}

/// The example repository's files, as a map.
pub fn example_files() -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let root = example_dir();
    for rel in [
        "gitops.yaml",
        "mfes/checkout.yaml",
        "mfes/search.yaml",
        "deployments/dev/checkout.json",
        "deployments/staging/checkout.json",
    ] {
        files.insert(rel.to_owned(), std::fs::read(root.join(rel)).unwrap());
    }
    files
}

pub fn example() -> Repository {
    Repository::from_files(&example_files()).unwrap()
}

/// A valid request for checkout in `env` at `version`.
pub fn request(env: &str, version: &str) -> gitops_event_model::DeployRequestBuilder {
    DeployRequest::builder()
        .id("01JDQ8Z6X8N7W4K2M5R3T9V1YB")
        .timestamp("2026-11-26T09:30:00Z")
        .user("octocat")
        .mfe("checkout")
        .version(version)
        .environment(env)
        .repository("acme/checkout-mfe")
        .git_ref("refs/heads/main")
        .sha("3f786850e387550fdab836ed7e6dc881de23001b")
        .cache_invalidation_keys(["/mfe/checkout/remoteEntry.js"])
}

/// An environment name (test input: valid by construction).
pub fn env(name: &str) -> gitops_event_model::EnvironmentName {
    gitops_event_model::EnvironmentName::parse(name).unwrap()
}

/// An MFE name (test input: valid by construction).
pub fn mfe(name: &str) -> gitops_event_model::MfeName {
    gitops_event_model::MfeName::parse(name).unwrap()
}

pub fn at(text: &str) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
}
