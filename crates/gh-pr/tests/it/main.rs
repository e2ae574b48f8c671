//! Integration tests of gitops-gh-pr: the conformance suite on every backend, plus
//! adapter-specific behaviour (call budget, retries, secrets, local git semantics).

mod fake_backend;
mod github_fake;
mod github_mock;
mod local_backend;
mod revisions;
