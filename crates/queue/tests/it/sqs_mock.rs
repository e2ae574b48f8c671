//! The SQS adapter against canned answers (aws-smithy-mocks) and a silent server: the error
//! mapping, what is retried, and the bounds, which moto does not reproduce (it never throttles
//! and refuses no expired receipt).

use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::retry::RetryConfig;
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::error::ErrorMetadata;
use aws_sdk_sqs::operation::change_message_visibility::ChangeMessageVisibilityError;
use aws_sdk_sqs::operation::delete_message::DeleteMessageError;
use aws_sdk_sqs::operation::receive_message::{ReceiveMessageError, ReceiveMessageOutput};
use aws_sdk_sqs::operation::send_message::{SendMessageError, SendMessageOutput};
use aws_sdk_sqs::types::error::{MessageNotInflight, ReceiptHandleIsInvalid, RequestThrottled};
use aws_sdk_sqs::types::{Message as SqsMessage, MessageSystemAttributeName};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use gitops_queue::{Error, Message, Received, Sent, SqsQueue, WorkQueue};
use gitops_retry::RetryPolicy;

fn queue(rules: &[&Rule]) -> SqsQueue {
    let client = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, rules, |c| c
        .retry_config(RetryConfig::disabled()));
    SqsQueue::new(client, "https://sqs/q.fifo", "https://sqs/q-dlq.fifo")
        .with_retry_policy(RetryPolicy::FAST)
}

fn throttled() -> RequestThrottled {
    RequestThrottled::builder()
        .message("Rate exceeded")
        .meta(
            ErrorMetadata::builder()
                .code("RequestThrottled")
                .message("Rate exceeded")
                .build(),
        )
        .build()
}

fn generic(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

fn delivered(handle: &str) -> ReceiveMessageOutput {
    let message = SqsMessage::builder()
        .receipt_handle(handle)
        .body("{\"n\":1}")
        .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "3")
        .attributes(MessageSystemAttributeName::SentTimestamp, "1767225600000")
        .attributes(MessageSystemAttributeName::MessageGroupId, "prod/shell")
        .attributes(
            MessageSystemAttributeName::MessageDeduplicationId,
            "delivery-1",
        )
        .build();
    ReceiveMessageOutput::builder().messages(message).build()
}

/// A delivery through `queue`, its receive answered by a rule of its own.
async fn receive_one(visibility: Duration, rules: &[&Rule]) -> (SqsQueue, Received) {
    let receive = mock!(Client::receive_message).then_output(|| delivered("handle-1"));
    let mut all = vec![&receive];
    all.extend_from_slice(rules);
    let queue = queue(&all);
    let got = queue
        .receive(visibility, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    (queue, got)
}

#[tokio::test]
async fn a_delivery_is_read_from_the_system_attributes() {
    let (_, got) = receive_one(Duration::from_secs(30), &[]).await;
    assert_eq!(
        (
            got.group.as_str(),
            got.dedup_id.as_str(),
            got.body.as_str(),
            got.attempts
        ),
        ("prod/shell", "delivery-1", "{\"n\":1}", 3)
    );
    assert_eq!(got.sent_at, time::macros::datetime!(2026-01-01 00:00 UTC));
    assert_eq!(got.receipt.handle(), "handle-1");

    let bare = mock!(Client::receive_message).then_output(|| {
        ReceiveMessageOutput::builder()
            .messages(
                SqsMessage::builder()
                    .receipt_handle("h")
                    .body("secret-body-text")
                    .build(),
            )
            .build()
    });
    let err = queue(&[&bare])
        .receive(Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(!err.to_string().contains("secret"), "never the body: {err}");
}

#[tokio::test]
async fn throttling_is_retried_under_the_policy() {
    let rule = mock!(Client::send_message)
        .sequence()
        .error(|| SendMessageError::RequestThrottled(throttled()))
        .times(2)
        .output(|| SendMessageOutput::builder().message_id("m").build())
        .build();
    let sent = queue(&[&rule])
        .send(&Message::new("g", "d", "x"))
        .await
        .unwrap();
    assert_eq!(sent, Sent::Accepted);
    assert_eq!(rule.num_calls(), 3);

    let always =
        mock!(Client::send_message).then_error(|| SendMessageError::RequestThrottled(throttled()));
    let err = queue(&[&always])
        .with_retry_policy(RetryPolicy::FAST.with_max_attempts(3))
        .send(&Message::new("g", "d", "x"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Throttled { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("SendMessage: RequestThrottled: Rate exceeded"),
        "{err}"
    );
    assert_eq!(always.num_calls(), 3);
}

#[tokio::test]
async fn a_receive_is_not_retried_after_a_failure_that_may_have_delivered() {
    let failing = mock!(Client::receive_message).then_error(|| {
        ReceiveMessageError::generic(generic("InternalError", "We encountered an internal error"))
    });
    let err = queue(&[&failing])
        .receive(Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    assert_eq!(failing.num_calls(), 1);

    let throttled_once = mock!(Client::receive_message)
        .sequence()
        .error(|| ReceiveMessageError::RequestThrottled(throttled()))
        .output(|| ReceiveMessageOutput::builder().build())
        .build();
    let got = queue(&[&throttled_once])
        .receive(Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    assert!(got.is_none());
    assert_eq!(
        throttled_once.num_calls(),
        2,
        "a throttled receive delivered nothing"
    );
}

#[tokio::test]
async fn sqs_refusing_a_receipt_makes_it_stale() {
    let invalid = mock!(Client::delete_message).then_error(|| {
        DeleteMessageError::ReceiptHandleIsInvalid(
            ReceiptHandleIsInvalid::builder()
                .message("The input receipt handle is invalid.")
                .meta(generic(
                    "ReceiptHandleIsInvalid",
                    "The input receipt handle is invalid.",
                ))
                .build(),
        )
    });
    let (queue, got) = receive_one(Duration::from_secs(30), &[&invalid]).await;
    assert!(matches!(
        queue.ack(&got.receipt).await,
        Err(Error::StaleReceipt)
    ));
    assert_eq!(invalid.num_calls(), 1, "not retried");
    assert!(matches!(
        queue.ack(&got.receipt).await,
        Err(Error::StaleReceipt)
    ));
    assert_eq!(invalid.num_calls(), 1, "spent: no second call");

    let expired = mock!(Client::change_message_visibility).then_error(|| {
        ChangeMessageVisibilityError::generic(generic(
            "InvalidParameterValue",
            "Value handle-1 for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.",
        ))
    });
    let (queue, got) = receive_one(Duration::from_secs(30), &[&expired]).await;
    assert!(matches!(
        queue.extend(&got.receipt, Duration::from_secs(30)).await,
        Err(Error::StaleReceipt)
    ));

    let not_in_flight = mock!(Client::change_message_visibility).then_error(|| {
        ChangeMessageVisibilityError::MessageNotInflight(
            MessageNotInflight::builder()
                .meta(generic(
                    "AWS.SimpleQueueService.MessageNotInflight",
                    "not in flight",
                ))
                .build(),
        )
    });
    let (queue, got) = receive_one(Duration::from_secs(30), &[&not_in_flight]).await;
    assert!(matches!(
        queue.release(&got.receipt).await,
        Err(Error::StaleReceipt)
    ));
}

#[tokio::test]
async fn an_expired_receipt_is_refused_without_a_call() {
    let delete = mock!(Client::delete_message).then_output(|| {
        aws_sdk_sqs::operation::delete_message::DeleteMessageOutput::builder().build()
    });
    let (queue, got) = receive_one(Duration::from_secs(1), &[&delete]).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        matches!(queue.ack(&got.receipt).await, Err(Error::StaleReceipt)),
        "within the margin of its expiry"
    );
    assert_eq!(delete.num_calls(), 0);
}

#[tokio::test]
async fn access_denied_is_unauthorized_and_not_retried() {
    let denied = mock!(Client::send_message).then_error(|| {
        SendMessageError::generic(generic("AccessDenied", "not authorized to sqs:SendMessage"))
    });
    let err = queue(&[&denied])
        .send(&Message::new("g", "d", "x"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
    assert_eq!(denied.num_calls(), 1);
}

/// Every call is bounded: a server that accepts and never answers costs the timeout (plus
/// the long poll's wait for a receive), not forever.
#[tokio::test]
async fn a_silent_server_costs_the_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("http://{address}"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .retry_config(RetryConfig::disabled())
        .build();
    let queue = SqsQueue::new(
        Client::from_conf(config),
        format!("http://{address}/123/q.fifo"),
        format!("http://{address}/123/q-dlq.fifo"),
    )
    .with_timeout(Duration::from_millis(300))
    .with_retry_policy(RetryPolicy::NONE);
    let started = Instant::now();
    let err = queue.send(&Message::new("g", "d", "x")).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let err = queue
        .receive(Duration::from_secs(30), Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1300) && took < Duration::from_secs(4),
        "{took:?}"
    );
    held.abort();
}
