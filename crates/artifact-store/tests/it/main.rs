//! Integration tests for gitops-artifact-store (one binary).

mod pointers;
mod publish;
mod refusals;
mod s3;
mod support;
mod upload;
