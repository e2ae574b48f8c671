//! Conformance suite for [`WorkQueue`] implementations, run against every backend.
//!
//! Each check takes a fresh, empty queue (the checks count what the queue holds) and panics
//! with a message when the backend breaks the trait's contract. Visibilities are 1 to 3 s, so
//! a check takes a few seconds at most. [`queue_suite`] runs them all.
//!
//! [`Profile`] says what a backend reports that another cannot (SQS on moto): a check never
//! accepts less than the profile promises, so no check passes by not looking.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;

use crate::{Error, MAX_BODY_BYTES, Message, QueueStats, Received, Sent, WorkQueue};

/// What a backend can tell, beyond the contract's minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// `send` tells [`Sent::Enqueued`] from [`Sent::Duplicate`] (SQLite, fake); otherwise it
    /// answers [`Sent::Accepted`] for both (SQS).
    pub reports_duplicates: bool,
    /// `stats().oldest_age` is known (SQLite, fake; not SQS).
    pub oldest_age: bool,
    /// A deduplication id is remembered for the window even after its message was
    /// acknowledged (SQS, SQLite, fake; not moto, which forgets it with the message).
    pub dedup_outlives_ack: bool,
}

impl Profile {
    /// Everything: the embedded and fake queues.
    pub const FULL: Profile = Profile {
        reports_duplicates: true,
        oldest_age: true,
        dedup_outlives_ack: true,
    };

    /// Real SQS (the suite's counts assume exact answers, which SQS's approximate ones may
    /// not be at once: run it there knowing that).
    pub const SQS: Profile = Profile {
        reports_duplicates: false,
        oldest_age: false,
        dedup_outlives_ack: true,
    };

    /// SQS as moto emulates it.
    pub const SQS_ON_MOTO: Profile = Profile {
        reports_duplicates: false,
        oldest_age: false,
        dedup_outlives_ack: false,
    };
}

/// The visibility most checks use.
const VISIBILITY: Duration = Duration::from_secs(2);

/// A short long poll: enough for a message that is deliverable now.
const SHORT: Duration = Duration::from_secs(1);

/// A unique name, `<prefix>-<time>-<counter>` (ASCII letters, digits and `-` when the prefix
/// is): SQS queue names, groups and deduplication ids.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    format!(
        "{prefix}-{nanos:x}-{}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn message(group: &str, n: usize) -> Message {
    Message::new(
        group,
        unique_name("d"),
        format!("{{\"group\":\"{group}\",\"n\":{n}}}"),
    )
}

async fn send_ok(queue: &dyn WorkQueue, message: &Message, profile: Profile) {
    let sent = queue
        .send(message)
        .await
        .unwrap_or_else(|e| panic!("send: {e}"));
    let expected = if profile.reports_duplicates {
        Sent::Enqueued
    } else {
        Sent::Accepted
    };
    assert_eq!(sent, expected, "send of a new message");
}

async fn receive(queue: &dyn WorkQueue, visibility: Duration, wait: Duration) -> Option<Received> {
    queue
        .receive(visibility, wait)
        .await
        .unwrap_or_else(|e| panic!("receive: {e}"))
}

async fn receive_some(queue: &dyn WorkQueue, visibility: Duration, what: &str) -> Received {
    receive(queue, visibility, SHORT)
        .await
        .unwrap_or_else(|| panic!("nothing delivered, expected {what}"))
}

/// Nothing deliverable now (one look).
async fn assert_nothing(queue: &dyn WorkQueue, why: &str) {
    if let Some(got) = receive(queue, VISIBILITY, Duration::ZERO).await {
        panic!("{why}: delivered {:?} (attempt {})", got.body, got.attempts);
    }
}

async fn stats(queue: &dyn WorkQueue) -> QueueStats {
    queue.stats().await.unwrap_or_else(|e| panic!("stats: {e}"))
}

fn assert_stale(result: &Result<(), Error>, what: &str) {
    assert!(
        matches!(result, Err(Error::StaleReceipt)),
        "{what} with a stale receipt: {result:?}"
    );
}

/// A group's messages come in send order, one delivery each, with what was sent.
pub async fn fifo_within_group(queue: &dyn WorkQueue, profile: Profile) {
    let group = unique_name("g");
    let sent: Vec<Message> = (0..4).map(|n| message(&group, n)).collect();
    for m in &sent {
        send_ok(queue, m, profile).await;
    }
    for m in &sent {
        let got = receive_some(queue, VISIBILITY, "the group's next message").await;
        assert_eq!(
            (&got.group, &got.dedup_id, &got.body, got.attempts),
            (&m.group, &m.dedup_id, &m.body, 1)
        );
        let age = OffsetDateTime::now_utc() - got.sent_at;
        assert!(
            age > time::Duration::seconds(-5) && age < time::Duration::minutes(1),
            "sent_at {} is not about now",
            got.sent_at
        );
        queue.ack(&got.receipt).await.expect("ack");
    }
    assert_nothing(queue, "every message was acknowledged").await;
}

/// Different groups are delivered in parallel, while a group waits for its in-flight head.
pub async fn groups_in_parallel(queue: &dyn WorkQueue, profile: Profile) {
    let (a, b) = (unique_name("a"), unique_name("b"));
    let (a0, a1, b0) = (message(&a, 0), message(&a, 1), message(&b, 0));
    for m in [&a0, &a1, &b0] {
        send_ok(queue, m, profile).await;
    }
    let first = receive_some(queue, VISIBILITY, "a's head").await;
    assert_eq!(first.body, a0.body, "the oldest message first");
    let second = receive_some(queue, VISIBILITY, "b's head while a's is in flight").await;
    assert_eq!(
        second.body, b0.body,
        "a's second message is blocked behind its head"
    );
    assert_nothing(queue, "a is blocked and b is empty").await;
    queue.ack(&first.receipt).await.expect("ack a0");
    let third = receive_some(queue, VISIBILITY, "a's second message").await;
    assert_eq!(third.body, a1.body);
    queue.ack(&second.receipt).await.expect("ack b0");
    queue.ack(&third.receipt).await.expect("ack a1");
}

/// A group is blocked while its head is in flight; acknowledging the head unblocks it.
pub async fn blocked_until_ack(queue: &dyn WorkQueue, profile: Profile) {
    let group = unique_name("g");
    let (m0, m1) = (message(&group, 0), message(&group, 1));
    send_ok(queue, &m0, profile).await;
    send_ok(queue, &m1, profile).await;
    let head = receive_some(queue, VISIBILITY, "the head").await;
    assert_eq!(head.body, m0.body);
    assert_nothing(queue, "the group's head is in flight").await;
    queue.ack(&head.receipt).await.expect("ack");
    let next = receive_some(queue, VISIBILITY, "the next message after the ack").await;
    assert_eq!((next.body.as_str(), next.attempts), (m1.body.as_str(), 1));
    queue.ack(&next.receipt).await.expect("ack");
}

/// Releasing the head gives it back at once, still first, one attempt more.
pub async fn blocked_until_release(queue: &dyn WorkQueue, profile: Profile) {
    let group = unique_name("g");
    let (m0, m1) = (message(&group, 0), message(&group, 1));
    send_ok(queue, &m0, profile).await;
    send_ok(queue, &m1, profile).await;
    let head = receive_some(queue, VISIBILITY, "the head").await;
    queue.release(&head.receipt).await.expect("release");
    let again = receive_some(queue, VISIBILITY, "the released head").await;
    assert_eq!(
        (again.body.as_str(), again.attempts),
        (m0.body.as_str(), 2),
        "the released head comes back first, as its second attempt"
    );
    assert_stale(&queue.ack(&head.receipt).await, "ack after release");
    queue.ack(&again.receipt).await.expect("ack");
    let next = receive_some(queue, VISIBILITY, "the next message").await;
    assert_eq!(next.body, m1.body);
    queue.ack(&next.receipt).await.expect("ack");
}

/// A head whose visibility expires is delivered again (attempt 2), still before the rest of
/// its group; its old receipt is stale.
pub async fn blocked_until_expiry(queue: &dyn WorkQueue, profile: Profile) {
    let group = unique_name("g");
    let (m0, m1) = (message(&group, 0), message(&group, 1));
    send_ok(queue, &m0, profile).await;
    send_ok(queue, &m1, profile).await;
    let head = receive_some(queue, Duration::from_secs(1), "the head").await;
    assert_nothing(queue, "the head is in flight").await;
    let again = receive(queue, VISIBILITY, Duration::from_secs(4))
        .await
        .expect("the head again once its visibility expired");
    assert_eq!((again.body.as_str(), again.attempts), (m0.body.as_str(), 2));
    assert_stale(
        &queue.ack(&head.receipt).await,
        "ack of the expired delivery",
    );
    queue
        .ack(&again.receipt)
        .await
        .expect("ack of the new delivery");
    let next = receive_some(queue, VISIBILITY, "the next message").await;
    assert_eq!((next.body.as_str(), next.attempts), (m1.body.as_str(), 1));
    queue.ack(&next.receipt).await.expect("ack");
}

/// A second send of a deduplication id (to any group) within the window is dropped.
pub async fn dedup_within_window(queue: &dyn WorkQueue, profile: Profile) {
    let group = unique_name("g");
    let first = message(&group, 0);
    send_ok(queue, &first, profile).await;
    let mut again = message(&unique_name("other"), 1);
    again.dedup_id.clone_from(&first.dedup_id);
    let sent = queue.send(&again).await.expect("send of a duplicate");
    let expected = if profile.reports_duplicates {
        Sent::Duplicate
    } else {
        Sent::Accepted
    };
    assert_eq!(sent, expected, "send of a duplicate");
    let got = receive_some(queue, VISIBILITY, "the first message").await;
    assert_eq!(got.body, first.body);
    assert_nothing(queue, "the duplicate was dropped").await;
    queue.ack(&got.receipt).await.expect("ack");
    if profile.dedup_outlives_ack {
        let sent = queue.send(&again).await.expect("send after the ack");
        assert_eq!(sent, expected, "the id is remembered after the ack");
        assert_nothing(queue, "the duplicate sent after the ack was dropped").await;
    }
    assert_eq!(stats(queue).await.depth, 0);
}

/// `extend` keeps a delivery in flight past its first visibility.
pub async fn extend_keeps_in_flight(queue: &dyn WorkQueue, profile: Profile) {
    let group = unique_name("g");
    send_ok(queue, &message(&group, 0), profile).await;
    let got = receive_some(queue, Duration::from_secs(1), "the message").await;
    queue
        .extend(&got.receipt, Duration::from_secs(4))
        .await
        .expect("extend");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_nothing(queue, "extended past its first visibility").await;
    queue
        .extend(&got.receipt, Duration::from_secs(2))
        .await
        .expect("a second heartbeat");
    queue
        .ack(&got.receipt)
        .await
        .expect("ack within the extended visibility");
    assert_eq!(stats(queue).await, QueueStats::default(), "acknowledged");
}

/// A stale receipt (expired, then the message delivered again) changes nothing: the new
/// delivery stays in flight, is not deleted, not dead-lettered, not given back.
pub async fn stale_receipts_never_affect_a_new_delivery(queue: &dyn WorkQueue, profile: Profile) {
    let group = unique_name("g");
    let sent = message(&group, 0);
    send_ok(queue, &sent, profile).await;
    let old = receive_some(queue, Duration::from_secs(1), "the message").await;
    let new = receive(queue, Duration::from_secs(3), Duration::from_secs(4))
        .await
        .expect("the message again once its visibility expired");
    assert_eq!(new.attempts, 2);
    assert_stale(&queue.release(&old.receipt).await, "release");
    assert_nothing(queue, "a stale release gave nothing back").await;
    assert_stale(
        &queue.extend(&old.receipt, Duration::from_secs(1)).await,
        "extend",
    );
    assert_stale(&queue.ack(&old.receipt).await, "ack");
    assert_stale(
        &queue.dead_letter(&old.receipt, "stale").await,
        "dead_letter",
    );
    let now = stats(queue).await;
    assert_eq!(
        (now.depth, now.in_flight, now.dead_letters),
        (0, 1, 0),
        "still in flight, nothing dead"
    );
    // Still there: given back by its live receipt, delivered a third time.
    queue.release(&new.receipt).await.expect("release");
    let third = receive_some(queue, VISIBILITY, "the message after its release").await;
    assert_eq!(
        (third.body.as_str(), third.attempts),
        (sent.body.as_str(), 3)
    );
    queue.ack(&third.receipt).await.expect("ack");
    assert_stale(&queue.ack(&third.receipt).await, "a second ack");
    assert_stale(
        &queue.release(&new.receipt).await,
        "release of a spent receipt",
    );
    assert_eq!(stats(queue).await, QueueStats::default(), "acknowledged");
}

/// `dead_letter` moves the head out (counted, never delivered) and its group proceeds.
pub async fn dead_letter_moves_it_out(queue: &dyn WorkQueue, profile: Profile) {
    let group = unique_name("g");
    let (m0, m1) = (message(&group, 0), message(&group, 1));
    send_ok(queue, &m0, profile).await;
    send_ok(queue, &m1, profile).await;
    let head = receive_some(queue, VISIBILITY, "the head").await;
    queue
        .dead_letter(&head.receipt, "failed 3 times:\nboom")
        .await
        .expect("dead_letter");
    assert_stale(&queue.ack(&head.receipt).await, "ack after dead_letter");
    let next = receive_some(queue, VISIBILITY, "the group's next message").await;
    assert_eq!((next.body.as_str(), next.attempts), (m1.body.as_str(), 1));
    queue.ack(&next.receipt).await.expect("ack");
    assert_nothing(queue, "the dead letter is never delivered").await;
    let now = stats(queue).await;
    assert_eq!((now.depth, now.in_flight, now.dead_letters), (0, 0, 1));
}

/// A message delivered the queue's maximum number of times is dead-lettered by the queue
/// instead of a further delivery, and its group proceeds. The queue must allow 2 deliveries.
pub async fn max_receives_dead_letters(queue: &dyn WorkQueue, profile: Profile) {
    let group = unique_name("g");
    let (m0, m1) = (message(&group, 0), message(&group, 1));
    send_ok(queue, &m0, profile).await;
    send_ok(queue, &m1, profile).await;
    for attempt in 1..=2 {
        let got = receive_some(queue, VISIBILITY, "the head").await;
        assert_eq!(
            (got.body.as_str(), got.attempts),
            (m0.body.as_str(), attempt)
        );
        queue.release(&got.receipt).await.expect("release");
    }
    let next = receive_some(queue, VISIBILITY, "the next message past the dead head").await;
    assert_eq!(next.body, m1.body, "the head went to the dead letters");
    queue.ack(&next.receipt).await.expect("ack");
    let now = stats(queue).await;
    assert_eq!((now.depth, now.in_flight, now.dead_letters), (0, 0, 1));
}

/// The counts: waiting (blocked groups included), in flight, dead; the oldest age when the
/// profile says the backend knows it.
pub async fn stats_count(queue: &dyn WorkQueue, profile: Profile) {
    assert_eq!(stats(queue).await, QueueStats::default(), "an empty queue");
    let (a, b) = (unique_name("a"), unique_name("b"));
    for m in [message(&a, 0), message(&a, 1), message(&b, 0)] {
        send_ok(queue, &m, profile).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let now = stats(queue).await;
    assert_eq!((now.depth, now.in_flight, now.dead_letters), (3, 0, 0));
    if profile.oldest_age {
        let age = now.oldest_age.expect("the oldest age");
        assert!(
            age >= Duration::from_millis(40) && age < Duration::from_secs(30),
            "{age:?}"
        );
    } else {
        assert_eq!(now.oldest_age, None);
    }
    let head = receive_some(queue, VISIBILITY, "a's head").await;
    let now = stats(queue).await;
    assert_eq!((now.depth, now.in_flight, now.dead_letters), (2, 1, 0));
    queue
        .dead_letter(&head.receipt, "counted")
        .await
        .expect("dead_letter");
    let now = stats(queue).await;
    assert_eq!((now.depth, now.in_flight, now.dead_letters), (2, 0, 1));
}

/// Invalid messages and durations are refused and send nothing.
pub async fn invalid_refused(queue: &dyn WorkQueue) {
    let ok = message(&unique_name("g"), 0);
    let mut cases: Vec<(&str, Message)> = Vec::new();
    let with = |f: &dyn Fn(&mut Message)| {
        let mut m = ok.clone();
        f(&mut m);
        m
    };
    cases.push(("group", with(&|m| m.group.clear())));
    cases.push(("group", with(&|m| m.group = "x".repeat(129))));
    cases.push(("group", with(&|m| m.group = "prod shell".into())));
    cases.push(("dedup_id", with(&|m| m.dedup_id = "é".into())));
    cases.push(("body", with(&|m| m.body.clear())));
    cases.push(("body", with(&|m| m.body = "x".repeat(MAX_BODY_BYTES + 1))));
    cases.push(("body", with(&|m| m.body = "a\u{0}b".into())));
    for (field, m) in &cases {
        match queue.send(m).await {
            Err(Error::Invalid { field: got, .. }) => assert_eq!(got, *field),
            other => panic!("send of a bad {field}: {other:?}"),
        }
    }
    for (visibility, wait) in [
        (Duration::ZERO, Duration::ZERO),
        (Duration::from_hours(13), Duration::ZERO),
        (VISIBILITY, Duration::from_secs(21)),
    ] {
        assert!(
            matches!(
                queue.receive(visibility, wait).await,
                Err(Error::Invalid { .. })
            ),
            "receive({visibility:?}, {wait:?})"
        );
    }
    let largest = with(&|m| m.body = "x".repeat(MAX_BODY_BYTES));
    queue.send(&largest).await.expect("the largest body");
    let got = receive_some(queue, VISIBILITY, "the largest body").await;
    assert_eq!(got.body.len(), MAX_BODY_BYTES);
    assert!(matches!(
        queue.extend(&got.receipt, Duration::ZERO).await,
        Err(Error::Invalid { .. })
    ));
    queue.ack(&got.receipt).await.expect("ack");
    assert_eq!(
        stats(queue).await,
        QueueStats::default(),
        "only the valid one was sent"
    );
}

/// Many consumers at once (`consumers`, each a handle on the same queue: the same handle
/// repeated, or several processes' handles): `messages` messages over `groups` groups are
/// each delivered and acknowledged exactly once, every group in send order.
///
/// # Panics
/// When a message is lost, delivered twice, or out of its group's order.
pub async fn concurrent_consumers(
    consumers: Vec<Arc<dyn WorkQueue>>,
    messages: usize,
    groups: usize,
) {
    let tag = unique_name("c");
    let first = Arc::clone(consumers.first().expect("at least one consumer"));
    for n in 0..messages {
        let group = format!("{tag}-{}", n % groups);
        let m = Message::new(&group, format!("{tag}-m{n}"), format!("{}", n / groups));
        first.send(&m).await.expect("send");
    }
    let started = std::time::Instant::now();
    let next: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let done = Arc::new(AtomicUsize::new(0));
    let seen: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let last_ack: Arc<Mutex<Option<Duration>>> = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    for queue in consumers {
        let (next, done, seen) = (Arc::clone(&next), Arc::clone(&done), Arc::clone(&seen));
        let last_ack = Arc::clone(&last_ack);
        tasks.spawn(async move {
            let mut mine = 0usize;
            while done.load(Ordering::SeqCst) < messages {
                let Some(got) = queue
                    .receive(Duration::from_secs(30), Duration::from_millis(500))
                    .await
                    .expect("receive")
                else {
                    continue;
                };
                let n: usize = got.body.parse().expect("the body is the rank in its group");
                {
                    // Checked and advanced before the ack: the group stays blocked until then.
                    let mut next = next.lock().expect("lock");
                    let expected = next.entry(got.group.clone()).or_insert(0);
                    assert_eq!(n, *expected, "group {} out of order", got.group);
                    *expected += 1;
                }
                assert_eq!(got.attempts, 1, "{} delivered twice", got.dedup_id);
                assert!(
                    seen.lock().expect("lock").insert(got.dedup_id.clone()),
                    "{} delivered twice",
                    got.dedup_id
                );
                tokio::task::yield_now().await;
                queue.ack(&got.receipt).await.expect("ack");
                if done.fetch_add(1, Ordering::SeqCst) + 1 == messages {
                    *last_ack.lock().expect("lock") = Some(started.elapsed());
                }
                mine += 1;
            }
            mine
        });
    }
    let all = tokio::time::timeout(Duration::from_mins(2), async {
        let mut counts = Vec::new();
        while let Some(result) = tasks.join_next().await {
            counts.push(result.expect("a consumer panicked"));
        }
        counts
    })
    .await
    .expect("the consumers finished within 2 minutes");
    let took = last_ack.lock().expect("lock").unwrap_or_default();
    // Printed, never asserted: a figure for docs/PERFORMANCE.md.
    eprintln!(
        "concurrent_consumers: {messages} messages over {groups} groups, {} consumers \
         (per consumer {all:?}): all received and acknowledged after {took:?}",
        all.len()
    );
    assert_eq!(all.iter().sum::<usize>(), messages, "{all:?}");
    assert_eq!(seen.lock().expect("lock").len(), messages);
    let per_group = next.lock().expect("lock").clone();
    assert_eq!(per_group.len(), groups);
    assert!(
        per_group
            .values()
            .all(|&n| n == messages.div_ceil(groups) || n == messages / groups)
    );
    assert_eq!(first.stats().await.expect("stats").depth, 0);
}

/// Every single-queue check, each on a fresh queue from `make` (which must allow at least
/// 2 deliveries before the queue dead-letters, and exactly 2 for
/// [`max_receives_dead_letters`]: `make(true)` asks for that one), then
/// [`concurrent_consumers`] with 4 consumers on one queue, 100 messages over 10 groups.
pub async fn queue_suite<F, Fut>(make: F, profile: Profile)
where
    F: Fn(bool) -> Fut,
    Fut: Future<Output = Arc<dyn WorkQueue>>,
{
    fifo_within_group(make(false).await.as_ref(), profile).await;
    groups_in_parallel(make(false).await.as_ref(), profile).await;
    blocked_until_ack(make(false).await.as_ref(), profile).await;
    blocked_until_release(make(false).await.as_ref(), profile).await;
    blocked_until_expiry(make(false).await.as_ref(), profile).await;
    dedup_within_window(make(false).await.as_ref(), profile).await;
    extend_keeps_in_flight(make(false).await.as_ref(), profile).await;
    stale_receipts_never_affect_a_new_delivery(make(false).await.as_ref(), profile).await;
    dead_letter_moves_it_out(make(false).await.as_ref(), profile).await;
    max_receives_dead_letters(make(true).await.as_ref(), profile).await;
    stats_count(make(false).await.as_ref(), profile).await;
    invalid_refused(make(false).await.as_ref()).await;
    let queue = make(false).await;
    concurrent_consumers(vec![queue; 4], 100, 10).await;
}
