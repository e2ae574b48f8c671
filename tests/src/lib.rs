//! End-to-end tests live in `tests/it/`; they run the workspace's binaries
//! (`CARGO_BIN_EXE_*` is not available across packages, so they locate them in the target dir).
//! This library holds what they share with the benches (`benches/`): the environment a
//! spawned binary must not inherit, and the moto clients.

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_sdk_cloudfront::types::{
    DefaultCacheBehavior, DistributionConfig, Origin, Origins, S3OriginConfig, ViewerProtocolPolicy,
};

/// Environment variables of the test or bench process that would change what a spawned
/// `gitops` does (removed from its environment).
pub const SCRUBBED: &[&str] = &[
    "GITHUB_ACTIONS",
    "GITHUB_EVENT_PATH",
    "GITHUB_TOKEN",
    "GITOPS_GITHUB_TOKEN",
    "GITHUB_REPOSITORY",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_OUTPUT",
    "GITHUB_SHA",
    "GITOPS_METRICS_FILE",
    "GITOPS_ALLOW_ABSOLUTE_TARGETS",
    "GIT_DIR",
    "GIT_WORK_TREE",
];

/// A CloudFront client of moto at `endpoint` (dummy credentials, `us-east-1`).
pub fn cloudfront(endpoint: &str) -> aws_sdk_cloudfront::Client {
    aws_sdk_cloudfront::Client::from_conf(
        aws_sdk_cloudfront::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_sdk_cloudfront::config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .build(),
    )
}

/// An S3 client of moto at `endpoint` (path-style, dummy credentials, `us-east-1`).
pub fn s3(endpoint: &str) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .force_path_style(true)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .build(),
    )
}

/// Creates an enabled distribution on moto (`reference` its caller reference); its id.
///
/// # Panics
/// When moto refuses it (test and bench support).
pub async fn create_distribution(client: &aws_sdk_cloudfront::Client, reference: &str) -> String {
    let origin = Origin::builder()
        .id("site")
        .domain_name("site.s3.amazonaws.com")
        .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
        .build()
        .expect("an origin");
    let config = DistributionConfig::builder()
        .caller_reference(reference)
        .comment("gitops e2e")
        .enabled(true)
        .origins(
            Origins::builder()
                .quantity(1)
                .items(origin)
                .build()
                .expect("origins"),
        )
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("site")
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                .build()
                .expect("a cache behaviour"),
        )
        .build()
        .expect("a distribution config");
    client
        .create_distribution()
        .distribution_config(config)
        .send()
        .await
        .expect("creating a distribution on moto")
        .distribution()
        .expect("the created distribution")
        .id()
        .to_owned()
}
