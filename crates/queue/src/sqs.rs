//! SQS FIFO queue: the real backend.
//!
//! One FIFO queue (`<name>.fifo`, `ContentBasedDeduplication=false`) whose redrive policy
//! sends a message to the FIFO dead-letter queue (`<name>-dlq.fifo`) after `maxReceiveCount`
//! deliveries, the backstop for a consumer dying in its last attempt; the consumer's own
//! `dead_letter` copies the message there (same group and deduplication id, the reason and
//! the attempts as message attributes `reason` and `attempts`) and deletes it.
//!
//! Every call is bounded by the queue's request timeout (a receive by its wait on top);
//! throttling is retried under [`RetryPolicy`] (default [`RetryPolicy::OUTSIDE`]), and so are
//! transport failures of the idempotent calls (a send with its deduplication id, a delete, a
//! visibility change, reading attributes); a receive is never retried after a failure that
//! may have delivered (the message would stay in flight for its visibility).
//!
//! SDK errors become [`Error`]s naming the operation, the service's error code and message, or
//! a short cause for transport failures: never the raw HTTP response, never a message body.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use gitops_aws_errors::describe_sdk_error;
use gitops_retry::{Retry, RetryPolicy, retry};
use time::OffsetDateTime;

use crate::message::Delivery;
use crate::message::{clean_reason, validate_visibility, validate_wait};
use crate::{Error, Message, QueueStats, Receipt, Received, Sent, WorkQueue};

/// The default bound of one SQS call (a receive gets its wait on top).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// A receipt is used only while at least this much of its visibility is left by this
/// process's clock: room for the request to reach SQS before the visibility expires there.
const LEASE_MARGIN: Duration = Duration::from_millis(250);

/// The IAM actions [`SqsQueue`] calls: on the queue, `SendMessage`, `ReceiveMessage`,
/// `ChangeMessageVisibility`, `DeleteMessage` and `GetQueueAttributes`; on the dead-letter
/// queue, `SendMessage` (`dead_letter`) and `GetQueueAttributes` (`stats`).
pub const IAM_ACTIONS: &[&str] = &[
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
    "sqs:SendMessage",
];

/// What [`SqsQueue::bootstrap`] calls besides [`IAM_ACTIONS`].
pub const IAM_BOOTSTRAP_ACTIONS: &[&str] = &["sqs:CreateQueue", "sqs:GetQueueUrl"];

/// What [`SqsQueue::bootstrap`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bootstrap {
    /// The queue (and its dead-letter queue, when missing) was created.
    Created,
    /// The queue already existed; nothing was changed.
    AlreadyExists,
}

/// Work queue on an SQS FIFO queue and its FIFO dead-letter queue.
///
/// `stats().oldest_age` is `None`: SQS publishes the age of the oldest message only as the
/// CloudWatch metric `ApproximateAgeOfOldestMessage` (`GetQueueAttributes` has no such
/// attribute), and finding it ourselves would mean receiving the messages, which puts them in
/// flight and blocks their groups. The server exports the CloudWatch metric's absence as
/// unknown, and the age of each message it receives (`sent_at`).
///
/// `send` answers [`Sent::Accepted`]: SQS answers a dropped duplicate exactly like an
/// enqueued message.
///
/// Receipts are checked first by this process's clock (see [`crate::WorkQueue`]): a receipt
/// whose visibility, measured from the start of its `receive` or last `extend` call, has less
/// than 250 ms left, or that was spent, is [`Error::StaleReceipt`] without a call. SQS's own
/// answers for a receipt that is no longer current (`ReceiptHandleIsInvalid`,
/// `MessageNotInflight`, an expired receipt handle) are [`Error::StaleReceipt`] too.
#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
    dlq_url: String,
    retry: RetryPolicy,
    timeout: Duration,
}

impl std::fmt::Debug for SqsQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqsQueue")
            .field("queue_url", &self.queue_url)
            .field("dlq_url", &self.dlq_url)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Which failures of a call are tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Idempotent {
    /// Throttling and transport failures: doing it twice is doing it once.
    Yes,
    /// Throttling only (the request was refused before it did anything).
    No,
}

impl SqsQueue {
    /// A queue on `queue_url` (FIFO) whose dead letters go to `dlq_url` (FIFO), through an
    /// already configured client; throttling retried under [`RetryPolicy::OUTSIDE`], each call
    /// bounded by 20 s.
    pub fn new(client: Client, queue_url: impl Into<String>, dlq_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            dlq_url: dlq_url.into(),
            retry: RetryPolicy::OUTSIDE,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// [`SqsQueue::new`] with the client configured from the standard AWS environment
    /// (`aws_config::defaults(BehaviorVersion::latest())`).
    pub async fn from_env(queue_url: impl Into<String>, dlq_url: impl Into<String>) -> Self {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        Self::new(Client::new(&config), queue_url, dlq_url)
    }

    /// This queue with its calls retried under `policy` instead.
    #[must_use]
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// This queue with each call bounded by `timeout` instead (a receive by its wait on top).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The queue's URL.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// The dead-letter queue's URL.
    pub fn dlq_url(&self) -> &str {
        &self.dlq_url
    }

    /// Create, when missing, the FIFO queue `<name>.fifo` and its dead-letter queue
    /// `<name>-dlq.fifo` (`FifoQueue=true`, `ContentBasedDeduplication=false`; the dead
    /// letters kept 14 days), the queue's redrive policy moving a message to the dead letters
    /// after `max_receives` deliveries (at least 1; [`crate::DEFAULT_MAX_RECEIVES`] is the
    /// usual choice), and return the queue on them. Idempotent: an existing queue is used as
    /// it is ([`Bootstrap::AlreadyExists`]).
    ///
    /// `name`: 1 to 71 ASCII letters, digits, `-` and `_` (SQS's 80 characters with the
    /// `-dlq.fifo` suffix), else [`Error::Invalid`].
    pub async fn bootstrap(
        client: Client,
        name: &str,
        max_receives: u32,
    ) -> Result<(Self, Bootstrap), Error> {
        if name.is_empty()
            || name.len() > 71
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Error::Invalid {
                field: "name",
                reason: "an SQS queue name is 1 to 71 ASCII letters, digits, `-` and `_` here \
                         (80 with the `-dlq.fifo` suffix)"
                    .into(),
            });
        }
        let probe = Self::new(client, String::new(), String::new());
        let main_name = format!("{name}.fifo");
        let dlq_name = format!("{name}-dlq.fifo");
        if let Some(queue_url) = probe.queue_url_of(&main_name).await? {
            let dlq_url = probe
                .queue_url_of(&dlq_name)
                .await?
                .ok_or_else(|| Error::NotFound {
                    what: format!("SQS dead-letter queue `{dlq_name}`"),
                })?;
            return Ok((
                Self::new(probe.client, queue_url, dlq_url),
                Bootstrap::AlreadyExists,
            ));
        }
        let fifo =
            |builder: aws_sdk_sqs::operation::create_queue::builders::CreateQueueFluentBuilder| {
                builder
                    .attributes(QueueAttributeName::FifoQueue, "true")
                    .attributes(QueueAttributeName::ContentBasedDeduplication, "false")
            };
        let dlq = probe
            .call("CreateQueue", Duration::ZERO, Idempotent::Yes, || {
                fifo(probe.client.create_queue().queue_name(&dlq_name))
                    .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
                    .send()
            })
            .await?;
        let dlq_url = dlq.queue_url().unwrap_or_default().to_owned();
        let arn = probe
            .call(
                "GetQueueAttributes",
                Duration::ZERO,
                Idempotent::Yes,
                || {
                    probe
                        .client
                        .get_queue_attributes()
                        .queue_url(&dlq_url)
                        .attribute_names(QueueAttributeName::QueueArn)
                        .send()
                },
            )
            .await?
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .ok_or_else(|| Error::Backend {
                message: format!("GetQueueAttributes: no QueueArn for `{dlq_name}`"),
            })?;
        let redrive = format!(
            "{{\"deadLetterTargetArn\":\"{arn}\",\"maxReceiveCount\":{}}}",
            max_receives.max(1)
        );
        let main = probe
            .call("CreateQueue", Duration::ZERO, Idempotent::Yes, || {
                fifo(probe.client.create_queue().queue_name(&main_name))
                    .attributes(QueueAttributeName::RedrivePolicy, &redrive)
                    .send()
            })
            .await?;
        let queue_url = main.queue_url().unwrap_or_default().to_owned();
        Ok((
            Self::new(probe.client, queue_url, dlq_url),
            Bootstrap::Created,
        ))
    }

    /// The URL of queue `name`, `None` when it does not exist.
    async fn queue_url_of(&self, name: &str) -> Result<Option<String>, Error> {
        let found = self
            .call("GetQueueUrl", Duration::ZERO, Idempotent::Yes, || {
                self.client.get_queue_url().queue_name(name).send()
            })
            .await;
        match found {
            Ok(out) => Ok(out.queue_url().map(str::to_owned)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One SQS call: bounded by the timeout (plus `extra`), its errors mapped, retried as
    /// `idempotent` says under the policy.
    async fn call<T, E, F, Fut>(
        &self,
        operation: &'static str,
        extra: Duration,
        idempotent: Idempotent,
        mut send: F,
    ) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let bound = self.timeout.saturating_add(extra);
        retry(
            self.retry,
            || {
                let request = send();
                async move {
                    match tokio::time::timeout(bound, request).await {
                        Ok(Ok(out)) => Ok(out),
                        Ok(Err(e)) => Err(Self::map_sdk_err(operation, &e)),
                        Err(_) => Err(Error::Unavailable {
                            message: format!("{operation}: no answer within {} s", bound.as_secs()),
                        }),
                    }
                }
            },
            |e| match (e, idempotent) {
                (Error::Throttled { .. }, _) | (Error::Unavailable { .. }, Idempotent::Yes) => {
                    Retry::Backoff
                }
                _ => Retry::Never,
            },
        )
        .await
    }

    /// The receipt's handle when it is live by this process's clock.
    fn live(receipt: &Receipt) -> Result<&str, Error> {
        let lease = receipt.lease();
        if lease.spent || Instant::now() + LEASE_MARGIN >= lease.deadline {
            return Err(Error::StaleReceipt);
        }
        Ok(receipt.handle())
    }

    /// After an operation on `receipt`: spent when it succeeded and `spends`, or when SQS
    /// called it stale.
    fn settle(receipt: &Receipt, result: Result<(), Error>, spends: bool) -> Result<(), Error> {
        match &result {
            Ok(()) if spends => receipt.spend(),
            Err(Error::StaleReceipt) => receipt.spend(),
            _ => {}
        }
        result
    }

    async fn delete(&self, handle: &str) -> Result<(), Error> {
        self.call("DeleteMessage", Duration::ZERO, Idempotent::Yes, || {
            self.client
                .delete_message()
                .queue_url(&self.queue_url)
                .receipt_handle(handle)
                .send()
        })
        .await
        .map(|_| ())
    }

    async fn change_visibility(&self, handle: &str, seconds: i32) -> Result<(), Error> {
        self.call(
            "ChangeMessageVisibility",
            Duration::ZERO,
            Idempotent::Yes,
            || {
                self.client
                    .change_message_visibility()
                    .queue_url(&self.queue_url)
                    .receipt_handle(handle)
                    .visibility_timeout(seconds)
                    .send()
            },
        )
        .await
        .map(|_| ())
    }

    /// The numeric attributes `names` of the queue at `url` (0 when absent).
    async fn counts(&self, url: &str, names: &[QueueAttributeName]) -> Result<Vec<u64>, Error> {
        let out = self
            .call(
                "GetQueueAttributes",
                Duration::ZERO,
                Idempotent::Yes,
                || {
                    self.client
                        .get_queue_attributes()
                        .queue_url(url)
                        .set_attribute_names(Some(names.to_vec()))
                        .send()
                },
            )
            .await?;
        let attributes = out.attributes();
        names
            .iter()
            .map(|name| match attributes.and_then(|a| a.get(name)) {
                None => Ok(0),
                Some(value) => value.parse().map_err(|_| Error::Corrupt {
                    reason: format!("GetQueueAttributes: {name} is not a count"),
                }),
            })
            .collect()
    }

    /// Map an SDK error of `operation`. One line: the operation, then the service's error
    /// code and message, or a short cause ([`describe_sdk_error`]).
    fn map_sdk_err<E>(operation: &str, err: &SdkError<E>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let message = describe_sdk_error(operation, err, None);
        match err {
            SdkError::TimeoutError(_) => return Error::Unavailable { message },
            SdkError::DispatchFailure(failure) if !failure.is_user() => {
                return Error::Unavailable { message };
            }
            SdkError::ServiceError(_) => {}
            _ if err
                .raw_response()
                .is_some_and(|r| r.status().is_server_error()) =>
            {
                return Error::Unavailable { message };
            }
            _ => return Error::Backend { message },
        }
        // Query-compatible codes come as `AWS.SimpleQueueService.<Code>` or `<Code>`.
        let code = err.code().unwrap_or_default();
        let code = code.rsplit('.').next().unwrap_or(code);
        let expired = err.message().is_some_and(|m| {
            m.to_ascii_lowercase()
                .contains("receipt handle has expired")
        });
        match code {
            "ReceiptHandleIsInvalid" | "MessageNotInflight" => Error::StaleReceipt,
            "InvalidParameterValue" if expired => Error::StaleReceipt,
            "NonExistentQueue" | "QueueDoesNotExist" => Error::NotFound {
                what: format!("SQS queue (during {operation})"),
            },
            "RequestThrottled"
            | "ThrottlingException"
            | "Throttling"
            | "KmsThrottled"
            | "OverLimit" => Error::Throttled { message },
            "AccessDenied"
            | "AccessDeniedException"
            | "InvalidClientTokenId"
            | "UnrecognizedClientException"
            | "SignatureDoesNotMatch"
            | "InvalidSecurity"
            | "ExpiredToken"
            | "MissingAuthenticationToken"
            | "KmsAccessDenied" => Error::Unauthorized { message },
            "InternalError" | "InternalFailure" | "ServiceUnavailable" => {
                Error::Unavailable { message }
            }
            _ if err
                .raw_response()
                .is_some_and(|r| r.status().is_server_error()) =>
            {
                Error::Unavailable { message }
            }
            _ => Error::Backend { message },
        }
    }
}

/// Whole seconds, rounded up, as SQS takes them.
fn seconds(duration: Duration) -> i32 {
    let whole = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    i32::try_from(whole).unwrap_or(i32::MAX)
}

/// A message system attribute, or [`Error::Corrupt`] naming it.
fn attribute<'a>(
    attributes: Option<&'a HashMap<MessageSystemAttributeName, String>>,
    name: &MessageSystemAttributeName,
) -> Result<&'a str, Error> {
    attributes
        .and_then(|a| a.get(name))
        .map(String::as_str)
        .ok_or_else(|| Error::Corrupt {
            reason: format!("ReceiveMessage: a message without its {name} attribute"),
        })
}

#[async_trait::async_trait]
impl WorkQueue for SqsQueue {
    async fn send(&self, message: &Message) -> Result<Sent, Error> {
        message.validate()?;
        self.call("SendMessage", Duration::ZERO, Idempotent::Yes, || {
            self.client
                .send_message()
                .queue_url(&self.queue_url)
                .message_group_id(&message.group)
                .message_deduplication_id(&message.dedup_id)
                .message_body(&message.body)
                .send()
        })
        .await?;
        Ok(Sent::Accepted)
    }

    async fn receive(
        &self,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Option<Received>, Error> {
        validate_visibility(visibility)?;
        validate_wait(wait)?;
        let started = Instant::now();
        let wait_seconds = seconds(wait);
        let out = self
            .call(
                "ReceiveMessage",
                Duration::from_secs(u64::from(wait_seconds.unsigned_abs())),
                Idempotent::No,
                || {
                    self.client
                        .receive_message()
                        .queue_url(&self.queue_url)
                        .max_number_of_messages(1)
                        .visibility_timeout(seconds(visibility))
                        .wait_time_seconds(wait_seconds)
                        .message_system_attribute_names(MessageSystemAttributeName::All)
                        .send()
                },
            )
            .await?;
        let Some(message) = out.messages().first() else {
            return Ok(None);
        };
        let attributes = message.attributes();
        let handle = message.receipt_handle().ok_or_else(|| Error::Corrupt {
            reason: "ReceiveMessage: a message without a receipt handle".into(),
        })?;
        let attempts = attribute(
            attributes,
            &MessageSystemAttributeName::ApproximateReceiveCount,
        )?
        .parse::<u32>()
        .map_err(|_| Error::Corrupt {
            reason: "ReceiveMessage: ApproximateReceiveCount is not a count".into(),
        })?;
        let sent_ms = attribute(attributes, &MessageSystemAttributeName::SentTimestamp)?
            .parse::<i64>()
            .map_err(|_| Error::Corrupt {
                reason: "ReceiveMessage: SentTimestamp is not a time".into(),
            })?;
        let sent_at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(sent_ms) * 1_000_000)
            .map_err(|_| Error::Corrupt {
                reason: "ReceiveMessage: SentTimestamp out of range".into(),
            })?;
        let group = attribute(attributes, &MessageSystemAttributeName::MessageGroupId)?;
        let dedup_id = attribute(
            attributes,
            &MessageSystemAttributeName::MessageDeduplicationId,
        )?;
        let body = message.body().unwrap_or_default();
        let delivery = Delivery {
            group: group.to_owned(),
            dedup_id: dedup_id.to_owned(),
            body: body.to_owned(),
            attempts,
        };
        Ok(Some(Received {
            receipt: Receipt::new(handle.to_owned(), started + visibility).with_delivery(delivery),
            group: group.to_owned(),
            dedup_id: dedup_id.to_owned(),
            body: body.to_owned(),
            attempts,
            sent_at,
        }))
    }

    async fn extend(&self, receipt: &Receipt, visibility: Duration) -> Result<(), Error> {
        validate_visibility(visibility)?;
        let handle = Self::live(receipt)?;
        let started = Instant::now();
        let result = self.change_visibility(handle, seconds(visibility)).await;
        if result.is_ok() {
            receipt.set_deadline(started + visibility);
        }
        Self::settle(receipt, result, false)
    }

    async fn ack(&self, receipt: &Receipt) -> Result<(), Error> {
        let handle = Self::live(receipt)?;
        let result = self.delete(handle).await;
        Self::settle(receipt, result, true)
    }

    async fn release(&self, receipt: &Receipt) -> Result<(), Error> {
        let handle = Self::live(receipt)?;
        let result = self.change_visibility(handle, 0).await;
        Self::settle(receipt, result, true)
    }

    async fn dead_letter(&self, receipt: &Receipt, reason: &str) -> Result<(), Error> {
        let handle = Self::live(receipt)?;
        // SQS cannot read a message back: the copy is what was delivered, kept with the
        // receipt.
        let Some(copy) = receipt.delivery() else {
            return Err(Error::Invalid {
                field: "receipt",
                reason: "not a receipt of an SQS delivery".into(),
            });
        };
        let reason = clean_reason(reason);
        let attribute = |value: String, kind: &str| {
            MessageAttributeValue::builder()
                .data_type(kind)
                .string_value(value)
                .build()
                .map_err(|e| Error::Backend {
                    message: format!("SendMessage: cannot build an attribute: {e}"),
                })
        };
        let reason_value = attribute(reason, "String")?;
        let attempts_value = attribute(copy.attempts.to_string(), "Number")?;
        self.call("SendMessage", Duration::ZERO, Idempotent::Yes, || {
            self.client
                .send_message()
                .queue_url(&self.dlq_url)
                .message_group_id(&copy.group)
                .message_deduplication_id(&copy.dedup_id)
                .message_body(&copy.body)
                .message_attributes("reason", reason_value.clone())
                .message_attributes("attempts", attempts_value.clone())
                .send()
        })
        .await?;
        let result = self.delete(handle).await;
        Self::settle(receipt, result, true)
    }

    async fn stats(&self) -> Result<QueueStats, Error> {
        let main = self
            .counts(
                &self.queue_url,
                &[
                    QueueAttributeName::ApproximateNumberOfMessages,
                    QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
                ],
            )
            .await?;
        let dead = self
            .counts(
                &self.dlq_url,
                &[
                    QueueAttributeName::ApproximateNumberOfMessages,
                    QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
                ],
            )
            .await?;
        Ok(QueueStats {
            depth: main.first().copied().unwrap_or(0),
            in_flight: main.get(1).copied().unwrap_or(0),
            oldest_age: None,
            dead_letters: dead.iter().sum(),
        })
    }
}
