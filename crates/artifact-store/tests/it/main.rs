//! Integration tests for gitops-artifact-store (one binary).

mod http;
mod local_store;
mod pointers;
mod publish;
mod refusals;
mod s3;
mod support;
mod upload;
