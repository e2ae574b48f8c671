//! The work queue of `gitops serve` (issue 19): webhooks are enqueued, workers take them one
//! at a time per ordering group.
//!
//! [`WorkQueue`] is the trait: FIFO per group (the server's group is `<env>/<mfe>`), different
//! groups in parallel, deduplication by id within a window (the server's id is GitHub's
//! delivery id), a visibility timeout with a heartbeat ([`WorkQueue::extend`]) for long jobs,
//! and dead letters.
//!
//! Backends:
//! - [`SqsQueue`]: SQS FIFO (the real one, feature `sqs`), with a FIFO dead-letter queue;
//!   [`SqsQueue::bootstrap`] creates both;
//! - [`SqliteQueue`]: the embedded default (one file under `local/`, WAL, `BEGIN IMMEDIATE`),
//!   safe for several processes on one machine (feature `sqlite`);
//! - `FakeQueue`: strict, in memory, with a clock tests can move (feature `fake`).
//!
//! Every backend passes the same [`conformance`] suite (feature `conformance`), SQS on moto;
//! where moto differs from SQS the suite's `Profile` says so.

mod error;
#[cfg(any(test, feature = "fake"))]
mod fake;
mod message;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "sqs")]
mod sqs;

#[cfg(feature = "conformance")]
pub mod conformance;

use std::time::Duration;

pub use error::Error;
#[cfg(any(test, feature = "fake"))]
pub use fake::FakeQueue;
pub use message::{
    DEFAULT_DEDUP_WINDOW, DEFAULT_MAX_RECEIVES, MAX_BODY_BYTES, MAX_ID_LEN, MAX_REASON_CHARS,
    MAX_VISIBILITY, MAX_WAIT, MIN_VISIBILITY, Message, QueueStats, Receipt, Received, Sent,
};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteQueue;
#[cfg(feature = "sqs")]
pub use sqs::{Bootstrap, IAM_ACTIONS, IAM_BOOTSTRAP_ACTIONS, SqsQueue};

/// A work queue. Object-safe; use it as `Arc<dyn WorkQueue>`.
///
/// A message is, in turn: *waiting* (sent, not delivered, or given back), *in flight* (delivered;
/// its receipt is live until its visibility expires), then gone (acknowledged) or *dead*
/// (dead-lettered, by the consumer, or by the queue once it was delivered its maximum number
/// of times, [`DEFAULT_MAX_RECEIVES`] by default). A message whose visibility expires is
/// waiting again, for anyone.
///
/// Receipts: a [`Receipt`] is live from its delivery until its visibility (as last set by
/// `receive` or `extend`) expires, or until `ack`, `release` or `dead_letter` spends it. Every
/// method taking a receipt that is not live returns [`Error::StaleReceipt`] and changes
/// nothing: in particular it never touches a later delivery of the same message to another
/// consumer. (SQS: checked by this process's clock against the deadline measured from the
/// start of the `receive` or `extend` call, minus a small margin, and by SQS itself.)
///
/// Transient backend trouble is [`Error::Throttled`] or [`Error::Unavailable`]
/// ([`Error::is_retryable`]); the SQS adapter already retried it.
#[async_trait::async_trait]
pub trait WorkQueue: Send + Sync + std::fmt::Debug {
    /// Enqueue `message` at the end of its group.
    ///
    /// # Contract
    /// - Validates first ([`Message::validate`]): an invalid message is [`Error::Invalid`]
    ///   and nothing is sent.
    /// - A message whose `dedup_id` was sent (to any group) within the deduplication window
    ///   (5 minutes on SQS; the embedded queue's is configurable, 5 minutes by default),
    ///   counted from that first send and whether or not it was delivered or acknowledged
    ///   since, is accepted and dropped: it is never delivered.
    /// - Answers [`Sent::Enqueued`] or [`Sent::Duplicate`] when the backend can tell (SQLite,
    ///   fake), [`Sent::Accepted`] when it cannot (SQS).
    /// - Safe to retry: a retry of a send that landed is a duplicate.
    async fn send(&self, message: &Message) -> Result<Sent, Error>;

    /// Deliver one message, waiting up to `wait` (long polling) for one.
    ///
    /// # Contract
    /// - `visibility` is 1 s to 12 h ([`MIN_VISIBILITY`], [`MAX_VISIBILITY`]) and `wait` at
    ///   most 20 s ([`MAX_WAIT`]), else [`Error::Invalid`]. SQS counts whole seconds: both
    ///   are rounded up there.
    /// - Only the oldest waiting message of a group is deliverable, and only while no message
    ///   of its group is in flight: a group's messages are delivered in send order, one at a
    ///   time. Messages of different groups are delivered in parallel.
    /// - The message is in flight for `visibility`, then waiting again (with its place at the
    ///   head of its group) unless acknowledged, released, dead-lettered or extended.
    /// - `attempts` counts the deliveries of the message, this one included.
    /// - A message delivered the queue's maximum number of times without being acknowledged
    ///   (SQS's redrive policy; [`DEFAULT_MAX_RECEIVES`] by default) goes to the dead letters
    ///   instead of being delivered again; its group proceeds.
    /// - `Ok(None)` when nothing is deliverable within `wait` (`wait` zero: one look).
    async fn receive(
        &self,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Option<Received>, Error>;

    /// Keep the delivery in flight for `visibility` from now (the heartbeat of a long job).
    ///
    /// # Contract
    /// - `visibility` as in [`WorkQueue::receive`], else [`Error::Invalid`].
    /// - A receipt that is not live is [`Error::StaleReceipt`] (see the trait's docs).
    async fn extend(&self, receipt: &Receipt, visibility: Duration) -> Result<(), Error>;

    /// The job is done: delete the message. Spends the receipt.
    ///
    /// # Contract
    /// - A receipt that is not live is [`Error::StaleReceipt`]: the message stays (another
    ///   consumer may hold it).
    /// - Unblocks the group: its next message is deliverable.
    async fn ack(&self, receipt: &Receipt) -> Result<(), Error>;

    /// Give the message back now (visibility zero, e.g. on graceful shutdown): it is waiting
    /// again at the head of its group, and its next delivery counts one more attempt. Spends
    /// the receipt.
    ///
    /// # Contract
    /// - A receipt that is not live is [`Error::StaleReceipt`].
    async fn release(&self, receipt: &Receipt) -> Result<(), Error>;

    /// Give up on the message: move it to the dead letters with `reason` (cut to
    /// [`MAX_REASON_CHARS`] characters on one line). Spends the receipt; its group proceeds.
    ///
    /// # Contract
    /// - A receipt that is not live is [`Error::StaleReceipt`] and nothing is dead-lettered
    ///   (SQS: except when the receipt expires between the copy to the dead-letter queue and
    ///   the delete; the copy then carries the same deduplication id).
    /// - Dead letters are never delivered by [`WorkQueue::receive`]; [`QueueStats`] counts
    ///   them.
    async fn dead_letter(&self, receipt: &Receipt, reason: &str) -> Result<(), Error>;

    /// What the queue holds (approximate on SQS).
    async fn stats(&self) -> Result<QueueStats, Error>;
}

/// The pause between two looks of a long poll on the embedded and fake queues.
#[cfg_attr(not(any(test, feature = "fake", feature = "sqlite")), allow(dead_code))]
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// Long polling by short sleeps: `look` until it finds something or `wait` is over (one look
/// when `wait` is zero).
#[cfg_attr(not(any(test, feature = "fake", feature = "sqlite")), allow(dead_code))]
pub(crate) async fn poll<T, F, Fut>(wait: Duration, mut look: F) -> Result<Option<T>, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, Error>>,
{
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if let Some(found) = look().await? {
            return Ok(Some(found));
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await;
    }
}
