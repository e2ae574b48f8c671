//! SDK failures become one-line CDN errors without the raw HTTP response (issue 10, item 13):
//! a CloudFront endpoint that never answers fails in bounded time, refused connections and
//! service errors name the operation and the cause, never headers or bodies.

use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_sdk_cloudfront::Client;
use aws_sdk_cloudfront::config::Region;
use aws_sdk_cloudfront::config::retry::RetryConfig;
use aws_sdk_cloudfront::config::timeout::TimeoutConfig;
use aws_sdk_cloudfront::error::ErrorMetadata;
use aws_sdk_cloudfront::operation::create_invalidation::CreateInvalidationError;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use gitops_cdn::{
    BatchReceipt, Cdn, CloudFrontCdn, Error, InvalidationReceipt, InvalidationRequest,
    InvalidationStatus,
};
use gitops_retry::RetryPolicy;

const DIST: &str = "E2EXAMPLE0DIST";

/// A client for `endpoint` with a 1 s attempt timeout and no retries.
fn client(endpoint: &str) -> Client {
    let config = aws_sdk_cloudfront::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_attempt_timeout(Duration::from_secs(1))
                .build(),
        )
        .build();
    Client::from_conf(config)
}

fn request() -> InvalidationRequest {
    InvalidationRequest {
        reference: "deploy-01J-1".to_owned(),
        paths: vec!["/importmap.json".to_owned()],
    }
}

/// What an error message must never contain: pieces of a raw HTTP response.
fn assert_clean(err: &Error) {
    let message = err.to_string();
    for raw in [
        "HeaderMap",
        "x-amz",
        "X-Amz",
        "Response {",
        "headers",
        "SdkBody",
        "body:",
        "<?xml",
    ] {
        assert!(!message.contains(raw), "{raw:?} in {message:?}");
    }
    assert!(!message.contains('\n'), "not one line: {message:?}");
    assert!(message.len() < 600, "too long: {message:?}");
}

/// A TCP server that accepts connections and never answers (nor closes them).
async fn silent_server() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (format!("http://{address}"), task)
}

/// With the default retry policy (`RetryPolicy::OUTSIDE`: 5 attempts, seconds of backoff): an
/// endpoint that never answers is one attempt, not five.
#[tokio::test]
async fn a_cloudfront_that_never_answers_fails_in_bounded_time() {
    let (endpoint, server) = silent_server().await;
    let cdn = CloudFrontCdn::new(client(&endpoint), DIST).unwrap();
    let receipt = InvalidationReceipt {
        reference: "deploy-01J-1".to_owned(),
        batches: vec![BatchReceipt {
            id: "I1".to_owned(),
            caller_reference: "deploy-01J-1".to_owned(),
            path_count: 1,
            status: InvalidationStatus::InProgress,
        }],
    };
    let started = Instant::now();
    let errors = [
        cdn.invalidate(&request()).await.unwrap_err(),
        cdn.wait(&receipt, Duration::from_mins(1))
            .await
            .unwrap_err(),
        cdn.ensure_distribution_exists().await.unwrap_err(),
    ];
    let elapsed = started.elapsed();
    server.abort();
    assert!(
        elapsed < Duration::from_secs(3 * 3),
        "three calls took {elapsed:?}"
    );
    for (err, operation) in
        errors
            .iter()
            .zip(["CreateInvalidation", "GetInvalidation", "GetDistribution"])
    {
        // `Backend` is what the pipeline retries later (exit 3).
        assert!(matches!(err, Error::Backend { .. }), "{err:?}");
        assert_clean(err);
        assert_eq!(
            err.to_string(),
            format!("CDN backend error: {operation}: timed out")
        );
    }
}

#[tokio::test]
async fn a_refused_connection_is_named() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cdn = CloudFrontCdn::new(client(&format!("http://127.0.0.1:{port}")), DIST).unwrap();
    let err = cdn.invalidate(&request()).await.unwrap_err();
    assert!(matches!(err, Error::Backend { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "CDN backend error: CreateInvalidation: connection refused"
    );
}

#[tokio::test]
async fn a_server_error_body_never_reaches_the_message() {
    let rule = mock!(Client::create_invalidation)
        .sequence()
        .http_status(
            503,
            Some("<html>x-amz-secret-header: HeaderMap { leaked }</html>".to_owned()),
        )
        .repeatedly()
        .build();
    let client = mock_client!(aws_sdk_cloudfront, RuleMode::MatchAny, [&rule], |c| c
        .retry_config(RetryConfig::disabled()));
    let err = CloudFrontCdn::new(client, DIST)
        .unwrap()
        .with_retry_policy(RetryPolicy::FAST)
        .invalidate(&request())
        .await
        .unwrap_err();
    assert_clean(&err);
    assert!(!err.to_string().contains("leaked"), "{err}");
    assert!(err.to_string().contains("CreateInvalidation"), "{err}");
}

#[tokio::test]
async fn a_service_error_gives_its_code_and_message() {
    let rule = mock!(Client::create_invalidation).then_error(|| {
        CreateInvalidationError::generic(
            ErrorMetadata::builder()
                .code("InvalidArgument")
                .message("Your request contains one or more invalid paths.\nline two")
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_cloudfront, RuleMode::MatchAny, [&rule]);
    let err = CloudFrontCdn::new(client, DIST)
        .unwrap()
        .invalidate(&request())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid { field, .. } if field == "paths"),
        "{err:?}"
    );
    assert_clean(&err);
    assert_eq!(
        err.to_string(),
        "invalid paths: CreateInvalidation: InvalidArgument: Your request contains one or more \
         invalid paths. line two"
    );
}

/// On moto: a missing distribution is `NotFound`, one clean line naming it, for every call.
#[tokio::test]
async fn moto_missing_distribution_messages_are_one_clean_line() {
    let Some(endpoint) =
        gitops_testkit::aws_endpoint("moto_missing_distribution_messages_are_one_clean_line")
    else {
        return;
    };
    let cdn = CloudFrontCdn::new(client(&endpoint), "ENOSUCHDIST0000")
        .unwrap()
        .with_retry_policy(RetryPolicy::FAST);
    for err in [
        cdn.ensure_distribution_exists().await.unwrap_err(),
        cdn.invalidate(&request()).await.unwrap_err(),
    ] {
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
        assert_clean(&err);
        let message = err.to_string();
        assert!(
            message.starts_with("not found: CloudFront distribution `ENOSUCHDIST0000`"),
            "{message}"
        );
        assert!(message.contains("NoSuchDistribution"), "{message}");
    }
}
