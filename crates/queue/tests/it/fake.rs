//! The fake: the conformance suite (check by check, and once through `queue_suite`), and its
//! test extras.

use std::sync::Arc;
use std::time::Duration;

use gitops_queue::conformance::{Profile, queue_suite};
use gitops_queue::{Error, FakeQueue, Message, Sent, WorkQueue};

#[allow(clippy::unused_async)]
async fn make(_test: &str, max_receives: u32) -> Option<Arc<dyn WorkQueue>> {
    Some(Arc::new(FakeQueue::new().with_max_receives(max_receives)))
}

#[allow(clippy::unused_async)]
async fn consumers(_test: &str) -> Option<Vec<Arc<dyn WorkQueue>>> {
    let queue: Arc<dyn WorkQueue> = Arc::new(FakeQueue::new());
    Some(vec![queue; 4])
}

crate::conformance_tests!(make, consumers, gitops_queue::conformance::Profile::FULL);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_whole_suite_runs_on_the_fake() {
    queue_suite(
        |two| async move {
            let queue: Arc<dyn WorkQueue> =
                Arc::new(FakeQueue::new().with_max_receives(if two { 2 } else { 5 }));
            queue
        },
        Profile::FULL,
    )
    .await;
}

const VISIBILITY: Duration = Duration::from_secs(30);

#[tokio::test]
async fn the_clock_expires_visibility_and_dedup_windows_without_waiting() {
    let queue = FakeQueue::new().with_dedup_window(Duration::from_mins(1));
    let m = Message::new("prod/shell", "delivery-1", "{}");
    assert_eq!(queue.send(&m).await.unwrap(), Sent::Enqueued);
    let first = queue
        .receive(VISIBILITY, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert!(
        queue
            .receive(VISIBILITY, Duration::ZERO)
            .await
            .unwrap()
            .is_none()
    );
    queue.advance(Duration::from_secs(31));
    let second = queue
        .receive(VISIBILITY, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.attempts, 2);
    assert!(matches!(
        queue.ack(&first.receipt).await,
        Err(Error::StaleReceipt)
    ));
    queue.ack(&second.receipt).await.unwrap();
    assert_eq!(queue.send(&m).await.unwrap(), Sent::Duplicate);
    queue.advance(Duration::from_mins(1));
    assert_eq!(
        queue.send(&m).await.unwrap(),
        Sent::Enqueued,
        "the window is over"
    );
}

#[tokio::test]
async fn injected_failures_come_first_and_change_nothing() {
    let queue = FakeQueue::new();
    queue.fail_next(Error::Throttled {
        message: "slow down".into(),
    });
    let m = Message::new("g", "d", "x");
    let err = queue.send(&m).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(queue.stats().await.unwrap().depth, 0);
    assert_eq!(queue.send(&m).await.unwrap(), Sent::Enqueued);
}

#[tokio::test]
async fn dead_letters_keep_a_one_line_reason() {
    let queue = FakeQueue::new();
    queue.send(&Message::new("g", "d", "x")).await.unwrap();
    let got = queue
        .receive(VISIBILITY, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    queue
        .dead_letter(&got.receipt, "deploy failed:\nexit 3")
        .await
        .unwrap();
    assert_eq!(
        queue.dead_letters(),
        vec![("g".into(), "d".into(), "deploy failed: exit 3".into())]
    );
}

#[tokio::test]
async fn a_receipt_of_another_backend_is_refused() {
    let (a, b) = (FakeQueue::new(), FakeQueue::new());
    a.send(&Message::new("g", "d", "x")).await.unwrap();
    let got = a
        .receive(VISIBILITY, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        b.ack(&got.receipt).await,
        Err(Error::StaleReceipt)
    ));
    a.ack(&got.receipt).await.unwrap();
}
