//! SDK failures become one-line registry errors without the raw HTTP response (issue 10,
//! item 13): a server that never answers is a bounded, retryable `Unavailable`; refused
//! connections and service errors name the operation and the cause, never headers or bodies.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use gitops_db_registry::conformance::{sample_entry, unique_name};
use gitops_db_registry::{DynamoDbRegistry, Error, Registry};

use crate::{prod, shell};

/// A client for `endpoint` with a 1 s attempt timeout and no retries.
fn client(endpoint: &str) -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
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

#[tokio::test]
async fn a_server_that_never_answers_is_a_bounded_retryable_error() {
    let (endpoint, server) = silent_server().await;
    let registry = DynamoDbRegistry::new(client(&endpoint), "registry");
    let started = Instant::now();
    let errors = [
        registry.get(&prod(), &shell()).await.unwrap_err(),
        registry.list(&prod()).await.unwrap_err(),
        registry.history(&prod(), &shell()).await.unwrap_err(),
        registry
            .commit(&sample_entry(&prod(), &shell(), 1))
            .await
            .unwrap_err(),
        registry
            .settle_invalidation(&prod(), &shell(), 1, "deploy-1")
            .await
            .unwrap_err(),
    ];
    let elapsed = started.elapsed();
    server.abort();
    assert!(
        elapsed < Duration::from_secs(5 * 3),
        "five calls took {elapsed:?}"
    );
    for (err, operation) in errors.iter().zip([
        "GetItem",
        "Query",
        "Query",
        "TransactWriteItems",
        "UpdateItem",
    ]) {
        assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
        assert!(err.is_retryable());
        assert_clean(err);
        let message = err.to_string();
        assert!(message.contains(operation), "{message}");
        assert!(message.contains("timed out"), "{message}");
    }
}

#[tokio::test]
async fn a_refused_connection_is_named_and_retryable() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let registry = DynamoDbRegistry::new(client(&format!("http://127.0.0.1:{port}")), "registry");
    let err = registry.get(&prod(), &shell()).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert_clean(&err);
    assert_eq!(
        err.to_string(),
        "registry unavailable: GetItem: connection refused"
    );
}

#[tokio::test]
async fn a_server_error_body_never_reaches_the_message() {
    let rule = mock!(Client::get_item)
        .sequence()
        .http_status(
            503,
            Some("<html>x-amz-secret-header: HeaderMap { leaked }</html>".to_owned()),
        )
        .repeatedly()
        .build();
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule], |c| c
        .retry_config(RetryConfig::disabled()));
    let err = DynamoDbRegistry::new(client, "registry")
        .get(&prod(), &shell())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert_clean(&err);
    assert!(!err.to_string().contains("leaked"), "{err}");
    assert!(err.to_string().contains("GetItem"), "{err}");
}

#[tokio::test]
async fn a_service_error_gives_its_code_and_message() {
    let rule = mock!(Client::update_item).then_error(|| {
        aws_sdk_dynamodb::operation::update_item::UpdateItemError::generic(
            aws_sdk_dynamodb::error::ErrorMetadata::builder()
                .code("ValidationException")
                .message("One or more parameter values were invalid:\nline two")
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule], |c| c
        .retry_config(RetryConfig::disabled()));
    let err = DynamoDbRegistry::new(client, "registry")
        .settle_invalidation(&prod(), &shell(), 1, "deploy-1")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Backend { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert_clean(&err);
    assert_eq!(
        err.to_string(),
        "registry backend error: UpdateItem: ValidationException: One or more parameter \
         values were invalid: line two"
    );
}

/// On moto: a missing table and a table name DynamoDB refuses are one clean line each.
#[tokio::test]
async fn moto_error_messages_are_one_clean_line() {
    let Some(endpoint) = gitops_testkit::aws_endpoint("moto_error_messages_are_one_clean_line")
    else {
        return;
    };
    let missing = DynamoDbRegistry::new(client(&endpoint), unique_name("missing"));
    for err in [
        missing.get(&prod(), &shell()).await.unwrap_err(),
        missing.list(&prod()).await.unwrap_err(),
        missing
            .commit(&sample_entry(&prod(), &shell(), 1))
            .await
            .unwrap_err(),
        missing
            .settle_invalidation(&prod(), &shell(), 1, "deploy-1")
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
        assert_clean(&err);
    }
    // A table with another key schema: DynamoDB refuses the key with a ValidationException.
    let table = unique_name("foreign");
    let raw = client(&endpoint);
    raw.create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let err = DynamoDbRegistry::new(raw, table)
        .get(&prod(), &shell())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Backend { .. }), "{err:?}");
    assert_clean(&err);
    assert!(
        err.to_string()
            .starts_with("registry backend error: GetItem: ValidationException: "),
        "{err}"
    );
}
