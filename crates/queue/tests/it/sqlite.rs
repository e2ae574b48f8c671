//! The embedded queue: the conformance suite on files (the concurrent check over four
//! connections to one file, as four processes share it), and its specifics.

use std::sync::Arc;
use std::time::Duration;

use gitops_queue::{Error, Message, QueueStats, Receipt, Received, Sent, SqliteQueue, WorkQueue};
use tempfile::TempDir;

/// A queue on a file in a temporary directory that lives as long as the queue.
#[derive(Debug)]
struct OnFile {
    queue: SqliteQueue,
    _dir: Arc<TempDir>,
}

#[async_trait::async_trait]
impl WorkQueue for OnFile {
    async fn send(&self, message: &Message) -> Result<Sent, Error> {
        self.queue.send(message).await
    }
    async fn receive(
        &self,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Option<Received>, Error> {
        self.queue.receive(visibility, wait).await
    }
    async fn extend(&self, receipt: &Receipt, visibility: Duration) -> Result<(), Error> {
        self.queue.extend(receipt, visibility).await
    }
    async fn ack(&self, receipt: &Receipt) -> Result<(), Error> {
        self.queue.ack(receipt).await
    }
    async fn release(&self, receipt: &Receipt) -> Result<(), Error> {
        self.queue.release(receipt).await
    }
    async fn dead_letter(&self, receipt: &Receipt, reason: &str) -> Result<(), Error> {
        self.queue.dead_letter(receipt, reason).await
    }
    async fn stats(&self) -> Result<QueueStats, Error> {
        self.queue.stats().await
    }
}

async fn make(_test: &str, max_receives: u32) -> Option<Arc<dyn WorkQueue>> {
    let dir = Arc::new(TempDir::new().unwrap());
    let queue = SqliteQueue::open(dir.path().join("local/queue.sqlite"))
        .await
        .unwrap()
        .with_max_receives(max_receives);
    Some(Arc::new(OnFile { queue, _dir: dir }))
}

async fn consumers(_test: &str) -> Option<Vec<Arc<dyn WorkQueue>>> {
    let dir = Arc::new(TempDir::new().unwrap());
    let mut handles: Vec<Arc<dyn WorkQueue>> = Vec::new();
    for _ in 0..4 {
        let queue = SqliteQueue::open(dir.path().join("queue.sqlite"))
            .await
            .unwrap();
        handles.push(Arc::new(OnFile {
            queue,
            _dir: Arc::clone(&dir),
        }));
    }
    Some(handles)
}

crate::conformance_tests!(make, consumers, gitops_queue::conformance::Profile::FULL);

const VISIBILITY: Duration = Duration::from_secs(30);

#[tokio::test]
async fn messages_and_dedup_ids_outlive_the_handle() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("queue.sqlite");
    let m = Message::new("prod/shell", "delivery-1", "{\"n\":1}");
    {
        let queue = SqliteQueue::open(&path).await.unwrap();
        assert_eq!(queue.send(&m).await.unwrap(), Sent::Enqueued);
    }
    let queue = SqliteQueue::open(&path).await.unwrap();
    assert_eq!(queue.send(&m).await.unwrap(), Sent::Duplicate);
    let got = queue
        .receive(VISIBILITY, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((got.body.as_str(), got.attempts), (m.body.as_str(), 1));
    queue.ack(&got.receipt).await.unwrap();
    assert_eq!(
        queue.send(&m).await.unwrap(),
        Sent::Duplicate,
        "remembered after the ack"
    );
}

#[tokio::test]
async fn the_dedup_window_is_configurable() {
    let queue = SqliteQueue::open_in_memory()
        .unwrap()
        .with_dedup_window(Duration::from_millis(300));
    let m = Message::new("g", "d", "x");
    assert_eq!(queue.send(&m).await.unwrap(), Sent::Enqueued);
    assert_eq!(queue.send(&m).await.unwrap(), Sent::Duplicate);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        queue.send(&m).await.unwrap(),
        Sent::Enqueued,
        "the window is over"
    );
    assert_eq!(queue.stats().await.unwrap().depth, 2);
}

#[tokio::test]
async fn two_handles_share_groups_and_receipts() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("queue.sqlite");
    let (a, b) = (
        SqliteQueue::open(&path).await.unwrap(),
        SqliteQueue::open(&path).await.unwrap(),
    );
    a.send(&Message::new("g", "d0", "0")).await.unwrap();
    b.send(&Message::new("g", "d1", "1")).await.unwrap();
    let head = a
        .receive(Duration::from_secs(1), Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert!(
        b.receive(VISIBILITY, Duration::ZERO)
            .await
            .unwrap()
            .is_none(),
        "g is blocked"
    );
    // b waits (long poll) until a's delivery expires, then has the head as attempt 2.
    let again = b
        .receive(VISIBILITY, Duration::from_secs(3))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.body.as_str(), again.attempts), ("0", 2));
    assert!(matches!(
        a.ack(&head.receipt).await,
        Err(Error::StaleReceipt)
    ));
    // A receipt is the file's, not the handle's.
    a.ack(&again.receipt).await.unwrap();
    let next = b
        .receive(VISIBILITY, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.body, "1");
    b.ack(&next.receipt).await.unwrap();
}

#[tokio::test]
async fn another_schema_is_refused() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("other.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 7).unwrap();
    }
    let err = SqliteQueue::open(&path).await.unwrap_err();
    assert!(matches!(err, Error::Backend { .. }), "{err}");
    assert!(err.to_string().contains("schema version 7"), "{err}");
}

#[tokio::test]
async fn a_foreign_receipt_is_invalid_or_stale() {
    let fake = gitops_queue::FakeQueue::new();
    fake.send(&Message::new("g", "d", "x")).await.unwrap();
    let got = fake
        .receive(VISIBILITY, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    let queue = SqliteQueue::open_in_memory().unwrap();
    assert!(matches!(
        queue.ack(&got.receipt).await,
        Err(Error::StaleReceipt)
    ));
    assert_eq!(queue.stats().await.unwrap(), QueueStats::default());
}
