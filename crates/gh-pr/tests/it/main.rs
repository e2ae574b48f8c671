//! Integration tests of gitops-gh-pr: the conformance suite on every backend, plus
//! adapter-specific behaviour (call budget, retries, typed answers, secrets, local git
//! semantics).

// Test code runs on the harness's threads: blocking file and process calls are fine here.
#![allow(clippy::disallowed_methods)]

mod fake_backend;
mod github_app;
mod github_fake;
mod github_merge;
mod github_mock;
mod local_backend;
mod revisions;
mod waiter_api;

use gitops_event_model::{CommitSha, EnvironmentName, Login, MfeName, RepositoryName};

pub fn env(name: &str) -> EnvironmentName {
    EnvironmentName::parse(name).unwrap()
}

pub fn mfe(name: &str) -> MfeName {
    MfeName::parse(name).unwrap()
}

pub fn repo(name: &str) -> RepositoryName {
    RepositoryName::parse(name).unwrap()
}

pub fn sha(text: &str) -> CommitSha {
    CommitSha::parse(text).unwrap()
}

pub fn login(name: &str) -> Login {
    Login::parse(name).unwrap()
}
