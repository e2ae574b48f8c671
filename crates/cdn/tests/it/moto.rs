//! The CloudFront adapter on moto (AWS emulator). moto completes invalidations at once and
//! never rejects a reused CallerReference, so idempotency and backoff are covered by
//! `cloudfront_mock` and the fake; here: real wire format, distribution checks, batching.

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_sdk_cloudfront::Client;
use aws_sdk_cloudfront::config::Region;
use aws_sdk_cloudfront::types::{
    DefaultCacheBehavior, DistributionConfig, Origin, Origins, S3OriginConfig, ViewerProtocolPolicy,
};
use gitops_cdn::{Cdn, CloudFrontCdn, Error, PlanInput, Polling, conformance, plan_invalidation};
use gitops_event_model::{CdnPath, MfeName};
use gitops_retry::RetryPolicy;

fn endpoint(test: &str) -> Option<String> {
    gitops_testkit::aws_endpoint(test)
}

fn client(endpoint: &str) -> Client {
    let config = aws_sdk_cloudfront::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .build();
    Client::from_conf(config)
}

fn unique(label: &str) -> String {
    format!("{label}-{}", ulid::Ulid::generate())
}

async fn create_distribution(client: &Client) -> String {
    let origin = Origin::builder()
        .id("artifacts")
        .domain_name("artifacts.s3.amazonaws.com")
        .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
        .build()
        .unwrap();
    let config = DistributionConfig::builder()
        .caller_reference(unique("dist"))
        .comment("gitops-cdn test")
        .enabled(true)
        .origins(
            Origins::builder()
                .quantity(1)
                .items(origin)
                .build()
                .unwrap(),
        )
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("artifacts")
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let out = client
        .create_distribution()
        .distribution_config(config)
        .send()
        .await
        .expect("create distribution on moto");
    out.distribution().unwrap().id().to_owned()
}

#[tokio::test]
async fn conformance_cloudfront_on_moto() {
    let Some(url) = endpoint("conformance_cloudfront_on_moto") else {
        return;
    };
    let client = client(&url);
    let dist = create_distribution(&client).await;
    let cdn = CloudFrontCdn::new(client, dist)
        .unwrap()
        .with_retry_policy(RetryPolicy::FAST)
        .with_polling(Polling::FAST);
    cdn.ensure_distribution_exists().await.unwrap();
    conformance::run_portable(&cdn, &unique("moto")).await;
}

#[tokio::test]
async fn missing_distribution_is_not_found_on_moto() {
    let Some(url) = endpoint("missing_distribution_is_not_found_on_moto") else {
        return;
    };
    let cdn = CloudFrontCdn::new(client(&url), "ENOSUCHDIST0000").unwrap();
    let err = cdn.ensure_distribution_exists().await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn deploy_creates_one_invalidation_of_mutable_paths_on_moto() {
    let Some(url) = endpoint("deploy_creates_one_invalidation_of_mutable_paths_on_moto") else {
        return;
    };
    let client = client(&url);
    let dist = create_distribution(&client).await;
    let cdn = CloudFrontCdn::new(client.clone(), dist.clone())
        .unwrap()
        .with_retry_policy(RetryPolicy::FAST)
        .with_polling(Polling::FAST);
    let mut input = PlanInput::new(
        MfeName::parse("checkout").unwrap(),
        vec!["remoteEntry.js".into()],
    );
    input.cache_invalidation_keys = vec![
        CdnPath::parse("/mfe/checkout/2.1.0/assets/index.4f3a9c.js").unwrap(),
        CdnPath::parse("/mfe/checkout/styles.css").unwrap(),
    ];
    let plan = plan_invalidation(&input).unwrap();
    let req = plan
        .to_request("01JD0000000000000000000000")
        .unwrap()
        .unwrap();
    let receipt = cdn.invalidate(&req).await.unwrap();
    cdn.wait(&receipt, std::time::Duration::from_secs(30))
        .await
        .unwrap();

    let list = client
        .list_invalidations()
        .distribution_id(&dist)
        .send()
        .await
        .unwrap();
    let items = list.invalidation_list().unwrap().items();
    assert_eq!(items.len(), 1, "{items:?}");
    let got = client
        .get_invalidation()
        .distribution_id(&dist)
        .id(items[0].id())
        .send()
        .await
        .unwrap();
    let batch = got.invalidation().unwrap().invalidation_batch().unwrap();
    assert_eq!(
        batch.caller_reference(),
        "deploy-01JD0000000000000000000000"
    );
    let mut paths = batch.paths().unwrap().items().to_vec();
    paths.sort();
    assert_eq!(
        paths,
        vec![
            "/importmap.json",
            "/mfe/checkout/remoteEntry.js",
            "/mfe/checkout/styles.css"
        ]
    );
}
