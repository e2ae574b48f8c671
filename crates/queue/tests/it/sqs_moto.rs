//! The SQS adapter on moto (`GITOPS_TEST_AWS_ENDPOINT`), a fresh queue pair per test.
//!
//! What moto (5.2) does with FIFO queues, pinned by the `moto_*` tests below so a moto upgrade
//! that changes it shows up here:
//! - groups: a group with a message in flight delivers nothing; its head comes back first
//!   after a release or an expiry, with `ApproximateReceiveCount` counting deliveries, and the
//!   redrive policy moves a message received `maxReceiveCount` times to the dead-letter queue
//!   on the next receive, as SQS does;
//! - deduplication: moto compares a new id only with the messages still in the queue, so an
//!   id is forgotten once its message is deleted (SQS remembers it for 5 minutes whatever
//!   happens to the message): `Profile::SQS_ON_MOTO` says so and the suite checks the
//!   dedup-after-ack case only on the other backends;
//! - stale receipts: moto accepts every receipt handle a message ever had, so a delete or a
//!   visibility change with an expired receipt acts on the message's current delivery (SQS
//!   FIFO refuses an expired receipt handle). `SqsQueue` checks its receipts by its own
//!   clock first, which is what keeps the stale-receipt check honest on moto;
//! - counts are exact (`ApproximateNumberOfMessages` counts every visible message, blocked
//!   groups included), and `send` answers a duplicate like a new message (a fresh message
//!   id; SQS repeats the first one's), so the adapter answers `Sent::Accepted` for both.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use gitops_queue::conformance::unique_name;
use gitops_queue::{Bootstrap, Error, Message, Sent, SqsQueue, WorkQueue};

/// A client for the emulator, or `None` (after printing the skip line) when it is not set.
fn client(test: &str) -> Option<Client> {
    let endpoint = gitops_testkit::aws_endpoint(test)?;
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .build();
    Some(Client::from_conf(config))
}

async fn queue(test: &str, max_receives: u32) -> Option<(SqsQueue, Client)> {
    let client = client(test)?;
    let (queue, outcome) =
        SqsQueue::bootstrap(client.clone(), &unique_name("gitops-q"), max_receives)
            .await
            .unwrap();
    assert_eq!(outcome, Bootstrap::Created);
    Some((queue, client))
}

async fn make(test: &str, max_receives: u32) -> Option<Arc<dyn WorkQueue>> {
    let (queue, _) = queue(test, max_receives).await?;
    Some(Arc::new(queue))
}

async fn consumers(test: &str) -> Option<Vec<Arc<dyn WorkQueue>>> {
    let (queue, _) = queue(test, 5).await?;
    Some(
        (0..4)
            .map(|_| Arc::new(queue.clone()) as Arc<dyn WorkQueue>)
            .collect(),
    )
}

crate::conformance_tests!(
    make,
    consumers,
    gitops_queue::conformance::Profile::SQS_ON_MOTO
);

const VISIBILITY: Duration = Duration::from_secs(30);

#[tokio::test]
async fn bootstrap_creates_a_fifo_pair_once() {
    let Some(client) = client("bootstrap_creates_a_fifo_pair_once") else {
        return;
    };
    let name = unique_name("gitops-boot");
    let (first, outcome) = SqsQueue::bootstrap(client.clone(), &name, 4).await.unwrap();
    assert_eq!(outcome, Bootstrap::Created);
    assert!(
        first.queue_url().ends_with(&format!("/{name}.fifo")),
        "{first:?}"
    );
    assert!(
        first.dlq_url().ends_with(&format!("/{name}-dlq.fifo")),
        "{first:?}"
    );
    let (again, outcome) = SqsQueue::bootstrap(client.clone(), &name, 4).await.unwrap();
    assert_eq!(outcome, Bootstrap::AlreadyExists);
    assert_eq!(
        (again.queue_url(), again.dlq_url()),
        (first.queue_url(), first.dlq_url())
    );
    let attributes = client
        .get_queue_attributes()
        .queue_url(first.queue_url())
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attributes = attributes.attributes().unwrap();
    let get = |name: QueueAttributeName| attributes.get(&name).cloned().unwrap_or_default();
    assert_eq!(get(QueueAttributeName::FifoQueue), "true");
    assert_eq!(get(QueueAttributeName::ContentBasedDeduplication), "false");
    let redrive = get(QueueAttributeName::RedrivePolicy);
    assert!(
        redrive.contains("\"maxReceiveCount\": 4") || redrive.contains("\"maxReceiveCount\":4"),
        "{redrive}"
    );
    assert!(redrive.contains(&format!("{name}-dlq.fifo")), "{redrive}");
    for bad in ["", "a.fifo", &"x".repeat(72)] {
        assert!(matches!(
            SqsQueue::bootstrap(client.clone(), bad, 4).await,
            Err(Error::Invalid { field: "name", .. })
        ));
    }
}

#[tokio::test]
async fn dead_letter_copies_to_the_dlq_with_the_reason() {
    let Some((queue, client)) = queue("dead_letter_copies_to_the_dlq_with_the_reason", 5).await
    else {
        return;
    };
    let m = Message::new("prod/shell", "delivery-7", "{\"n\":7}");
    queue.send(&m).await.unwrap();
    let got = queue
        .receive(VISIBILITY, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    queue
        .dead_letter(&got.receipt, "gave up after 1 attempt")
        .await
        .unwrap();
    let out = client
        .receive_message()
        .queue_url(queue.dlq_url())
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap();
    let copy = out
        .messages()
        .first()
        .expect("the copy in the dead-letter queue");
    assert_eq!(copy.body(), Some(m.body.as_str()));
    let system = copy.attributes().unwrap();
    assert_eq!(
        system
            .get(&MessageSystemAttributeName::MessageGroupId)
            .map(String::as_str),
        Some("prod/shell")
    );
    assert_eq!(
        system
            .get(&MessageSystemAttributeName::MessageDeduplicationId)
            .map(String::as_str),
        Some("delivery-7")
    );
    let user = copy.message_attributes().unwrap();
    assert_eq!(
        user["reason"].string_value(),
        Some("gave up after 1 attempt")
    );
    assert_eq!(user["attempts"].string_value(), Some("1"));
}

#[tokio::test]
async fn a_missing_queue_is_not_found() {
    let Some(client) = client("a_missing_queue_is_not_found") else {
        return;
    };
    let (real, _) = SqsQueue::bootstrap(client.clone(), &unique_name("gitops-nf"), 3)
        .await
        .unwrap();
    let gone = real.queue_url().replace("gitops-nf", "gitops-none");
    let queue = SqsQueue::new(client, gone, real.dlq_url());
    let err = queue.send(&Message::new("g", "d", "x")).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(!err.is_retryable(), "{err}");
}

/// moto forgets a deduplication id once its message is deleted (SQS keeps it 5 minutes):
/// why `Profile::SQS_ON_MOTO` has `dedup_outlives_ack: false`.
#[tokio::test]
async fn moto_forgets_dedup_ids_of_deleted_messages() {
    let Some((queue, _)) = queue("moto_forgets_dedup_ids_of_deleted_messages", 5).await else {
        return;
    };
    let m = Message::new("g", unique_name("d"), "x");
    assert_eq!(queue.send(&m).await.unwrap(), Sent::Accepted);
    let got = queue
        .receive(VISIBILITY, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    queue.ack(&got.receipt).await.unwrap();
    queue.send(&m).await.unwrap();
    assert!(
        queue
            .receive(VISIBILITY, Duration::ZERO)
            .await
            .unwrap()
            .is_some(),
        "moto now remembers deleted messages' ids: set Profile::SQS_ON_MOTO.dedup_outlives_ack"
    );
}

/// moto accepts an expired receipt handle and applies it to the current delivery (SQS FIFO
/// refuses it): why `SqsQueue` checks receipts by its own clock before calling.
#[tokio::test]
async fn moto_applies_expired_receipts_to_the_current_delivery() {
    let Some((queue, client)) =
        queue("moto_applies_expired_receipts_to_the_current_delivery", 5).await
    else {
        return;
    };
    queue
        .send(&Message::new("g", unique_name("d"), "x"))
        .await
        .unwrap();
    let old = queue
        .receive(Duration::from_secs(1), Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    let new = queue
        .receive(VISIBILITY, Duration::from_secs(4))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(new.attempts, 2);
    // Through the adapter: refused, nothing changed.
    assert!(matches!(
        queue.ack(&old.receipt).await,
        Err(Error::StaleReceipt)
    ));
    assert_eq!(queue.stats().await.unwrap().in_flight, 1);
    // Straight to moto: the old handle deletes the new delivery's message.
    client
        .delete_message()
        .queue_url(queue.queue_url())
        .receipt_handle(old.receipt.handle())
        .send()
        .await
        .expect("moto accepts the expired handle");
    let stats = queue.stats().await.unwrap();
    assert_eq!(
        (stats.depth, stats.in_flight),
        (0, 0),
        "moto no longer applies expired handles: the adapter's own check is now a second guard"
    );
}
