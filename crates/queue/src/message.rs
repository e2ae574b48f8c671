//! What goes through the queue, and the rules every backend checks alike.

// The receipt's lease and delivery copy serve the SQS adapter, its `<id>:<attempt>` handles
// the embedded and fake queues; without them (`default-features = false`) only the types are
// used.
#![cfg_attr(
    not(all(feature = "sqs", any(test, feature = "fake", feature = "sqlite"))),
    allow(dead_code)
)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::Error;

/// The largest message body, in bytes of UTF-8: 256 KiB, SQS's historical limit (SQS now
/// admits 1 MiB; the smaller bound leaves room for the dead-letter copy's attributes).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The longest group or deduplication id, in characters (SQS's limit).
pub const MAX_ID_LEN: usize = 128;

/// The longest long poll of one [`crate::WorkQueue::receive`] (SQS's `WaitTimeSeconds` limit).
pub const MAX_WAIT: Duration = Duration::from_secs(20);

/// The shortest visibility a delivery can be given (SQS counts whole seconds).
pub const MIN_VISIBILITY: Duration = Duration::from_secs(1);

/// The longest visibility a delivery can be given (SQS's limit: 12 hours).
pub const MAX_VISIBILITY: Duration = Duration::from_hours(12);

/// The deduplication window: SQS's fixed 5 minutes, and the embedded queue's default.
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_mins(5);

/// How many deliveries without an acknowledgement a message gets before the queue itself moves
/// it to the dead letters (SQS's `maxReceiveCount` in the redrive policy): the backstop for a
/// consumer that dies in its last attempt, above the attempts the consumer counts itself.
pub const DEFAULT_MAX_RECEIVES: u32 = 10;

/// The longest dead-letter reason kept, in characters; longer ones are cut.
pub const MAX_REASON_CHARS: usize = 1000;

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The ordering key: messages of one group are delivered one at a time, in send order
    /// (the server uses `<env>/<mfe>`). 1 to 128 characters, each an ASCII letter, digit or
    /// punctuation character (`!"#$%&'()*+,-./:;<=>?@[\]^_` `` ` `` `{|}~`), as SQS requires.
    pub group: String,
    /// The deduplication id (the server uses GitHub's delivery id): a second message with the
    /// same id within the deduplication window is accepted and dropped. Same rule as `group`.
    pub dedup_id: String,
    /// The body: text (the server sends JSON), 1 byte to [`MAX_BODY_BYTES`] of UTF-8, only
    /// characters SQS admits (no control characters but tab, line feed and carriage return;
    /// not U+FFFE or U+FFFF). Bytes are not supported: encode them (base64) first.
    pub body: String,
}

impl Message {
    /// A message of `group` with deduplication id `dedup_id` and `body`.
    pub fn new(
        group: impl Into<String>,
        dedup_id: impl Into<String>,
        body: impl Into<String>,
    ) -> Self {
        Self {
            group: group.into(),
            dedup_id: dedup_id.into(),
            body: body.into(),
        }
    }

    /// Check every field against the rules above; the first broken one is [`Error::Invalid`]
    /// naming the field (never quoting the body).
    pub fn validate(&self) -> Result<(), Error> {
        validate_id("group", &self.group)?;
        validate_id("dedup_id", &self.dedup_id)?;
        validate_body(&self.body)
    }
}

fn validate_id(field: &'static str, id: &str) -> Result<(), Error> {
    let len = id.chars().count();
    if len == 0 || len > MAX_ID_LEN {
        return Err(Error::Invalid {
            field,
            reason: format!("must be 1 to {MAX_ID_LEN} characters, is {len}"),
        });
    }
    if let Some(position) = id.chars().position(|c| !c.is_ascii_graphic()) {
        return Err(Error::Invalid {
            field,
            reason: format!(
                "character {} is not an ASCII letter, digit or punctuation character",
                position + 1
            ),
        });
    }
    Ok(())
}

fn validate_body(body: &str) -> Result<(), Error> {
    if body.is_empty() {
        return Err(Error::Invalid {
            field: "body",
            reason: "is empty".into(),
        });
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(Error::Invalid {
            field: "body",
            reason: format!(
                "is {} bytes, more than the {MAX_BODY_BYTES} allowed",
                body.len()
            ),
        });
    }
    // SQS admits #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF;
    // a Rust string holds no surrogates, so what is left to refuse is this.
    let refused = |c: char| {
        (c < '\u{20}' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{FFFE}' || c == '\u{FFFF}'
    };
    if let Some(position) = body.chars().position(refused) {
        return Err(Error::Invalid {
            field: "body",
            reason: format!(
                "character {} is not allowed in an SQS message",
                position + 1
            ),
        });
    }
    Ok(())
}

/// Check a visibility timeout.
pub(crate) fn validate_visibility(visibility: Duration) -> Result<(), Error> {
    if visibility < MIN_VISIBILITY || visibility > MAX_VISIBILITY {
        return Err(Error::Invalid {
            field: "visibility",
            reason: format!("must be 1 s to 12 h, is {:.3} s", visibility.as_secs_f64()),
        });
    }
    Ok(())
}

/// Check a long poll's wait.
pub(crate) fn validate_wait(wait: Duration) -> Result<(), Error> {
    if wait > MAX_WAIT {
        return Err(Error::Invalid {
            field: "wait",
            reason: format!("must be at most 20 s, is {:.3} s", wait.as_secs_f64()),
        });
    }
    Ok(())
}

/// A dead-letter reason on one line, at most [`MAX_REASON_CHARS`] characters.
pub(crate) fn clean_reason(reason: &str) -> String {
    let mut out: String = reason
        .chars()
        .take(MAX_REASON_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if out.trim().is_empty() {
        "(no reason given)".clone_into(&mut out);
    }
    out
}

/// `<id>:<attempt>`, the handle of the fake's and the embedded queue's receipts.
pub(crate) fn parse_handle(handle: &str) -> Result<(u64, u32), Error> {
    handle
        .split_once(':')
        .and_then(|(id, attempt)| Some((id.parse().ok()?, attempt.parse().ok()?)))
        .ok_or_else(|| Error::Invalid {
            field: "receipt",
            reason: "not a receipt of this queue".into(),
        })
}

/// What [`crate::WorkQueue::send`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// The message was enqueued.
    Enqueued,
    /// A message with the same deduplication id was sent within the deduplication window: this
    /// one was accepted and dropped.
    Duplicate,
    /// Accepted; the backend does not say whether it was enqueued or dropped as a duplicate
    /// (SQS answers both alike). Either way, at most one of them is delivered.
    Accepted,
}

/// One delivery of a message.
#[derive(Debug, Clone)]
pub struct Received {
    /// What `extend`, `ack`, `release` and `dead_letter` take: valid for this delivery only.
    pub receipt: Receipt,
    /// The message's group.
    pub group: String,
    /// The message's deduplication id.
    pub dedup_id: String,
    /// The message's body.
    pub body: String,
    /// Which delivery of the message this is, 1-based (SQS's `ApproximateReceiveCount`): 2 or
    /// more after a visibility expired or a release.
    pub attempts: u32,
    /// When the message was first sent (SQS's `SentTimestamp`; milliseconds).
    pub sent_at: OffsetDateTime,
}

/// The handle of one delivery. Cheap to clone; clones share the delivery's state, so once one
/// of them is spent (`ack`, `release`, `dead_letter`) all are. Made only by the backend that
/// delivered the message; a receipt of another backend is [`Error::Invalid`] or
/// [`Error::StaleReceipt`].
#[derive(Clone)]
pub struct Receipt {
    handle: String,
    lease: Arc<Mutex<Lease>>,
    delivery: Option<Arc<Delivery>>,
}

/// What was delivered, kept with the receipt where the backend cannot read a message back
/// (SQS's `dead_letter` copies it to the dead-letter queue).
#[derive(Debug)]
pub(crate) struct Delivery {
    pub(crate) group: String,
    pub(crate) dedup_id: String,
    pub(crate) body: String,
    pub(crate) attempts: u32,
}

/// What the receiving process knows of a delivery: until when it is surely still in flight
/// (by this process's clock), and whether it was spent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lease {
    pub(crate) deadline: Instant,
    pub(crate) spent: bool,
}

impl std::fmt::Debug for Receipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // SQS receipt handles are long; a prefix identifies one in a log.
        let short: String = self.handle.chars().take(24).collect();
        f.debug_struct("Receipt")
            .field("handle", &short)
            .finish_non_exhaustive()
    }
}

impl Receipt {
    /// A receipt for `handle`, live until `deadline` by this process's clock.
    pub(crate) fn new(handle: String, deadline: Instant) -> Self {
        Self {
            handle,
            lease: Arc::new(Mutex::new(Lease {
                deadline,
                spent: false,
            })),
            delivery: None,
        }
    }

    /// This receipt keeping a copy of what was delivered.
    pub(crate) fn with_delivery(mut self, delivery: Delivery) -> Self {
        self.delivery = Some(Arc::new(delivery));
        self
    }

    /// The copy of what was delivered, when kept.
    pub(crate) fn delivery(&self) -> Option<&Delivery> {
        self.delivery.as_deref()
    }

    /// The backend's handle of the delivery (SQS's receipt handle; `<id>:<attempt>` for the
    /// embedded and fake queues). For logs: it grants nothing without the queue's credentials.
    pub fn handle(&self) -> &str {
        &self.handle
    }

    pub(crate) fn lease(&self) -> Lease {
        *self
            .lease
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn set_deadline(&self, deadline: Instant) {
        self.lease
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .deadline = deadline;
    }

    pub(crate) fn spend(&self) {
        self.lease
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .spent = true;
    }
}

/// What the queue holds, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    /// Messages waiting to be delivered (not in flight, not dead), including those whose group
    /// is blocked by an in-flight message (SQS's `ApproximateNumberOfMessages`).
    pub depth: u64,
    /// Messages delivered and neither acknowledged nor expired yet
    /// (`ApproximateNumberOfMessagesNotVisible`).
    pub in_flight: u64,
    /// The age of the oldest message not yet acknowledged or dead (waiting or in flight), or
    /// `None` when the queue is empty or the backend cannot tell (SQS: see
    /// [`crate::SqsQueue`]).
    pub oldest_age: Option<Duration>,
    /// Messages in the dead letters.
    pub dead_letters: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_sqs_characters() {
        for good in [
            "a",
            "prod/shell",
            "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
            &"x".repeat(128),
        ] {
            assert!(validate_id("group", good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "é", "a\tb", &"x".repeat(129)] {
            assert!(
                matches!(
                    validate_id("group", bad),
                    Err(Error::Invalid { field: "group", .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn bodies_are_sqs_text() {
        assert!(validate_body("{\"a\": \"é\u{10000}\"}\n\t\r").is_ok());
        assert!(validate_body(&"x".repeat(MAX_BODY_BYTES)).is_ok());
        for bad in [
            String::new(),
            "x".repeat(MAX_BODY_BYTES + 1),
            "a\u{0}b".into(),
            "a\u{1b}b".into(),
            "\u{FFFF}".into(),
        ] {
            let err = validate_body(&bad).unwrap_err();
            assert!(matches!(err, Error::Invalid { field: "body", .. }));
            assert!(!err.to_string().contains('\u{1b}'));
        }
    }

    #[test]
    fn durations_are_bounded() {
        assert!(validate_visibility(Duration::from_secs(1)).is_ok());
        assert!(validate_visibility(MAX_VISIBILITY).is_ok());
        assert!(validate_visibility(Duration::from_millis(999)).is_err());
        assert!(validate_visibility(MAX_VISIBILITY + Duration::from_millis(1)).is_err());
        assert!(validate_wait(Duration::ZERO).is_ok());
        assert!(validate_wait(MAX_WAIT).is_ok());
        assert!(validate_wait(MAX_WAIT + Duration::from_millis(1)).is_err());
    }

    #[test]
    fn reasons_are_one_bounded_line() {
        assert_eq!(clean_reason("a\nb"), "a b");
        assert_eq!(clean_reason(" "), "(no reason given)");
        assert_eq!(
            clean_reason(&"x".repeat(5000)).chars().count(),
            MAX_REASON_CHARS
        );
    }
}
