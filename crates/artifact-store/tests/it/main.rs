//! Integration tests for gitops-artifact-store (one binary).

// Test code runs on the harness's threads: blocking file and process calls are fine here.
#![allow(clippy::disallowed_methods)]

mod fuzz;
mod http;
mod local_store;
mod pointers;
mod provenance;
mod publish;
mod refusals;
mod s3;
mod spooled;
mod support;
mod upload;
