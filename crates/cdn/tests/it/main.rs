//! Integration tests for gitops-cdn: planner, batching, backends (fake, local log,
//! CloudFront via aws-smithy-mocks and on moto).

mod backends;
mod batching;
mod cloudfront_mock;
mod errors;
mod moto;
mod plan;
