//! Integration tests for gitops-cdn: planner, batching, backends (fake, local log,
//! CloudFront via aws-smithy-mocks and on moto).

// Test code runs on the harness's threads: blocking file and process calls are fine here.
#![allow(clippy::disallowed_methods)]

mod backends;
mod batching;
mod cloudfront_mock;
mod errors;
mod moto;
mod plan;
