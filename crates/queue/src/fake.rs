//! Strict in-memory queue for tests.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::message::{clean_reason, parse_handle, validate_visibility, validate_wait};
use crate::{
    DEFAULT_DEDUP_WINDOW, DEFAULT_MAX_RECEIVES, Error, Message, QueueStats, Receipt, Received,
    Sent, WorkQueue, poll,
};

#[derive(Debug)]
struct Stored {
    group: String,
    dedup_id: String,
    body: String,
    sent_at: OffsetDateTime,
    sent: Instant,
    attempts: u32,
    /// In flight until then.
    in_flight_until: Option<Instant>,
    /// Dead-lettered, with the reason.
    dead: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    /// By id: send order.
    messages: BTreeMap<u64, Stored>,
    /// Deduplication ids and when they were first sent.
    dedup: HashMap<String, Instant>,
    /// Errors the next calls return instead of doing anything.
    failures: VecDeque<Error>,
    /// How far the clock was moved ([`FakeQueue::advance`]).
    offset: Duration,
}

/// In-memory queue with the same rules as the real backends (validation, FIFO per group,
/// deduplication window, visibility, stale receipts, dead letters after the maximum number of
/// deliveries). Share it as `Arc<FakeQueue>`.
///
/// Extras for tests: [`FakeQueue::advance`] moves its clock (visibility and deduplication
/// windows expire without waiting), [`FakeQueue::fail_next`] injects a failure,
/// [`FakeQueue::dead_letters`] lists what was given up and why.
#[derive(Debug)]
pub struct FakeQueue {
    state: Mutex<State>,
    dedup_window: Duration,
    max_receives: u32,
}

impl Default for FakeQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeQueue {
    /// An empty queue (5-minute deduplication window, [`DEFAULT_MAX_RECEIVES`] deliveries).
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State::default()),
            dedup_window: DEFAULT_DEDUP_WINDOW,
            max_receives: DEFAULT_MAX_RECEIVES,
        }
    }

    /// This queue with another deduplication window.
    #[must_use]
    pub fn with_dedup_window(mut self, window: Duration) -> Self {
        self.dedup_window = window;
        self
    }

    /// This queue dead-lettering a message instead of its `max_receives + 1`-th delivery
    /// (at least 1).
    #[must_use]
    pub fn with_max_receives(mut self, max_receives: u32) -> Self {
        self.max_receives = max_receives.max(1);
        self
    }

    /// Move the queue's clock forward by `by`: in-flight deliveries and deduplication ids
    /// expire as if that much time had passed.
    pub fn advance(&self, by: Duration) {
        let mut state = self.lock();
        state.offset = state.offset.saturating_add(by);
    }

    /// Make the next call (queued, first in first out; any method) return `error` without
    /// touching anything, e.g. `Error::Throttled` to test a caller's retries.
    pub fn fail_next(&self, error: Error) {
        self.lock().failures.push_back(error);
    }

    /// The dead letters: `(group, dedup_id, reason)` in send order.
    pub fn dead_letters(&self) -> Vec<(String, String, String)> {
        self.lock()
            .messages
            .values()
            .filter_map(|m| {
                m.dead
                    .as_ref()
                    .map(|reason| (m.group.clone(), m.dedup_id.clone(), reason.clone()))
            })
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update below is complete before the guard drops (no panics in between), so a
        // poisoned lock is still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The state, or the next injected failure.
    fn enter(&self) -> Result<MutexGuard<'_, State>, Error> {
        let mut state = self.lock();
        match state.failures.pop_front() {
            Some(error) => Err(error),
            None => Ok(state),
        }
    }

    fn receive_once(&self, visibility: Duration) -> Result<Option<Received>, Error> {
        let mut state = self.enter()?;
        let now = Instant::now() + state.offset;
        let mut seen: HashSet<String> = HashSet::new();
        let mut chosen = None;
        for (id, message) in &mut state.messages {
            if message.dead.is_some() || seen.contains(&message.group) {
                continue;
            }
            if message.in_flight_until.is_some_and(|until| until > now) {
                seen.insert(message.group.clone());
                continue;
            }
            if message.attempts >= self.max_receives {
                message.dead = Some(format!(
                    "delivered {} times without an acknowledgement",
                    message.attempts
                ));
                message.in_flight_until = None;
                continue;
            }
            message.attempts += 1;
            let until = now + visibility;
            message.in_flight_until = Some(until);
            chosen = Some(Received {
                receipt: Receipt::new(format!("{id}:{}", message.attempts), until),
                group: message.group.clone(),
                dedup_id: message.dedup_id.clone(),
                body: message.body.clone(),
                attempts: message.attempts,
                sent_at: message.sent_at,
            });
            break;
        }
        Ok(chosen)
    }

    /// Run `change` on the message of a live receipt; [`Error::StaleReceipt`] otherwise.
    fn with_live<T>(
        &self,
        receipt: &Receipt,
        change: impl FnOnce(&mut State, u64, Instant) -> T,
    ) -> Result<T, Error> {
        let (id, attempt) = parse_handle(receipt.handle())?;
        let mut state = self.enter()?;
        let now = Instant::now() + state.offset;
        let live = state.messages.get(&id).is_some_and(|m| {
            m.dead.is_none()
                && m.attempts == attempt
                && m.in_flight_until.is_some_and(|until| until > now)
        });
        if !live {
            return Err(Error::StaleReceipt);
        }
        Ok(change(&mut state, id, now))
    }
}

#[async_trait::async_trait]
impl WorkQueue for FakeQueue {
    async fn send(&self, message: &Message) -> Result<Sent, Error> {
        message.validate()?;
        let mut state = self.enter()?;
        let now = Instant::now() + state.offset;
        let window = self.dedup_window;
        state
            .dedup
            .retain(|_, first| now.saturating_duration_since(*first) < window);
        if state.dedup.contains_key(&message.dedup_id) {
            return Ok(Sent::Duplicate);
        }
        state.dedup.insert(message.dedup_id.clone(), now);
        let id = state.next_id;
        state.next_id += 1;
        let offset = state.offset;
        state.messages.insert(
            id,
            Stored {
                group: message.group.clone(),
                dedup_id: message.dedup_id.clone(),
                body: message.body.clone(),
                sent_at: OffsetDateTime::now_utc() + offset,
                sent: now,
                attempts: 0,
                in_flight_until: None,
                dead: None,
            },
        );
        Ok(Sent::Enqueued)
    }

    async fn receive(
        &self,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Option<Received>, Error> {
        validate_visibility(visibility)?;
        validate_wait(wait)?;
        poll(wait, || async { self.receive_once(visibility) }).await
    }

    async fn extend(&self, receipt: &Receipt, visibility: Duration) -> Result<(), Error> {
        validate_visibility(visibility)?;
        self.with_live(receipt, |state, id, now| {
            if let Some(message) = state.messages.get_mut(&id) {
                message.in_flight_until = Some(now + visibility);
            }
        })
    }

    async fn ack(&self, receipt: &Receipt) -> Result<(), Error> {
        self.with_live(receipt, |state, id, _| {
            state.messages.remove(&id);
        })
    }

    async fn release(&self, receipt: &Receipt) -> Result<(), Error> {
        self.with_live(receipt, |state, id, _| {
            if let Some(message) = state.messages.get_mut(&id) {
                message.in_flight_until = None;
            }
        })
    }

    async fn dead_letter(&self, receipt: &Receipt, reason: &str) -> Result<(), Error> {
        let reason = clean_reason(reason);
        self.with_live(receipt, |state, id, _| {
            if let Some(message) = state.messages.get_mut(&id) {
                message.in_flight_until = None;
                message.dead = Some(reason);
            }
        })
    }

    async fn stats(&self) -> Result<QueueStats, Error> {
        let state = self.enter()?;
        let now = Instant::now() + state.offset;
        let mut counts = QueueStats::default();
        for message in state.messages.values() {
            if message.dead.is_some() {
                counts.dead_letters += 1;
                continue;
            }
            if message.in_flight_until.is_some_and(|until| until > now) {
                counts.in_flight += 1;
            } else {
                counts.depth += 1;
            }
            let age = now.saturating_duration_since(message.sent);
            counts.oldest_age = Some(counts.oldest_age.map_or(age, |oldest| oldest.max(age)));
        }
        Ok(counts)
    }
}
