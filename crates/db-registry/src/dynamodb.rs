//! DynamoDB registry: the real backend.
//!
//! One table, two item kinds (see `docs/registry-dynamodb.md`):
//!
//! | item    | `pk`                        | `sk`                              |
//! |---------|-----------------------------|-----------------------------------|
//! | live    | `ENV#<environment>`         | `LIVE#<mfe>`                      |
//! | history | `HIST#<environment>#<mfe>`  | `SEQ#<sequence, 20 digits>`       |
//!
//! Live items of an environment share a partition, so `list` is one strongly consistent
//! Query (a GSI would only be eventually consistent and the import map built from `list` could
//! miss a commit that already returned). Names never contain `#` (see [`Entry::validate`]), so
//! the keys cannot collide.
//!
//! The pending invalidation is the map attribute `invalidation` (`reference`, `paths`) on both
//! items, written in the same transaction; `settle_invalidation` removes it from the live item
//! with one conditional `UpdateItem`. Items without it read as `None`.
//!
//! SDK errors become [`Error`]s naming the operation, the service's error code and message, or
//! a short cause for transport failures: never the raw HTTP response.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TableStatus, TransactWriteItem,
};
use gitops_aws_errors::describe_sdk_error;

use crate::entry::{format_time, parse_time, validate_name, validate_reference, validate_sequence};
use crate::{Decision, Entry, Error, Invalidation, Registry, decide};

type Item = HashMap<String, AttributeValue>;

/// How many times a commit (or a settle) is retried when DynamoDB cancels it for a
/// `TransactionConflict` (another transaction on the same item in flight), before
/// [`Error::Unavailable`].
const CONFLICT_ATTEMPTS: u32 = 8;

/// How long [`DynamoDbRegistry::bootstrap`] waits for a new table to become ACTIVE.
const BOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(300);

/// Registry in one DynamoDB table; the commit is one `TransactWriteItems` (conditional put of
/// the live item plus put of the history item).
#[derive(Clone)]
pub struct DynamoDbRegistry {
    client: Client,
    table: String,
}

impl std::fmt::Debug for DynamoDbRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoDbRegistry")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

/// What [`DynamoDbRegistry::bootstrap`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bootstrap {
    /// The table was created (and is now ACTIVE).
    Created,
    /// The table already existed with the expected key schema; nothing was changed.
    AlreadyExists,
}

impl DynamoDbRegistry {
    /// A registry on `table`, with the client configured from the standard AWS environment
    /// (`aws_config::defaults(BehaviorVersion::latest())`: `AWS_ENDPOINT_URL`, region,
    /// profile, credential chain, OIDC web identity).
    pub async fn from_env(table: impl Into<String>) -> Self {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        Self::new(Client::new(&config), table)
    }

    /// A registry on `table` through an already configured client.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Create the table if it is missing (on-demand billing, keys `pk`/`sk` as strings) and
    /// wait until it is ACTIVE. Idempotent; safe to run concurrently. An existing table with
    /// another key schema is refused with [`Error::Invalid`].
    pub async fn bootstrap(&self) -> Result<Bootstrap, Error> {
        let mut outcome = Bootstrap::AlreadyExists;
        match self.table_status().await {
            Ok(_) => {}
            Err(Error::NotFound { .. }) => {
                let created = self
                    .client
                    .create_table()
                    .table_name(&self.table)
                    .billing_mode(BillingMode::PayPerRequest)
                    .attribute_definitions(attribute("pk")?)
                    .attribute_definitions(attribute("sk")?)
                    .key_schema(key("pk", KeyType::Hash)?)
                    .key_schema(key("sk", KeyType::Range)?)
                    .send()
                    .await;
                match created {
                    Ok(_) => outcome = Bootstrap::Created,
                    // Someone else created it between our describe and create.
                    Err(e) if e.code() == Some("ResourceInUseException") => {}
                    Err(e) => return Err(self.map_sdk_err("CreateTable", &e)),
                }
            }
            Err(e) => return Err(e),
        }
        let deadline = tokio::time::Instant::now() + BOOTSTRAP_TIMEOUT;
        loop {
            if self.table_status().await? == Some(TableStatus::Active) {
                return Ok(outcome);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Unavailable {
                    message: format!(
                        "table `{}` not ACTIVE after {}s",
                        self.table,
                        BOOTSTRAP_TIMEOUT.as_secs()
                    ),
                });
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// The table's status, checking its key schema.
    async fn table_status(&self) -> Result<Option<TableStatus>, Error> {
        let out = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| self.map_sdk_err("DescribeTable", &e))?;
        let Some(table) = out.table() else {
            return Ok(None);
        };
        let keys: Vec<(&str, &KeyType)> = table
            .key_schema()
            .iter()
            .map(|k| (k.attribute_name(), k.key_type()))
            .collect();
        if keys != [("pk", &KeyType::Hash), ("sk", &KeyType::Range)] {
            return Err(Error::Invalid {
                field: "table",
                reason: format!(
                    "table `{}` exists with key schema {keys:?}, expected pk (HASH) and sk \
                     (RANGE); use another table name",
                    self.table
                ),
            });
        }
        Ok(table.table_status().cloned())
    }

    async fn get_live(&self, environment: &str, mfe: &str) -> Result<Option<Entry>, Error> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(live_pk(environment)))
            .key("sk", s(live_sk(mfe)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.map_sdk_err("GetItem", &e))?;
        out.item().map(decode).transpose()
    }

    /// All items of partition `pk` whose sort key starts with `prefix`, ascending by sort key.
    async fn query_partition(&self, pk: String, prefix: &str) -> Result<Vec<Entry>, Error> {
        let mut entries = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":prefix", s(prefix.to_owned()))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| self.map_sdk_err("Query", &e))?;
            for item in out.items() {
                entries.push(decode(item)?);
            }
            match out.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(entries),
            }
        }
    }

    async fn try_commit(&self, entry: &Entry) -> Result<(), SdkError<TransactWriteItemsError>> {
        let deployed_at = format_time(entry.deployed_at)
            .map_err(|e| SdkError::construction_failure(e.to_string()))?;
        let attributes = |pk: String, sk: String| -> Item {
            let mut item = HashMap::from([
                ("pk".to_owned(), s(pk)),
                ("sk".to_owned(), s(sk)),
                ("environment".to_owned(), s(entry.environment.clone())),
                ("mfe".to_owned(), s(entry.mfe.clone())),
                ("version".to_owned(), s(entry.version.clone())),
                ("sequence".to_owned(), n(entry.sequence)),
                ("request_id".to_owned(), s(entry.request_id.clone())),
                ("sha".to_owned(), s(entry.sha.clone())),
                ("deployed_at".to_owned(), s(deployed_at.clone())),
                ("deployed_by".to_owned(), s(entry.deployed_by.clone())),
                ("rollback".to_owned(), AttributeValue::Bool(entry.rollback)),
            ]);
            if let Some(pending) = &entry.invalidation {
                item.insert("invalidation".to_owned(), encode_invalidation(pending));
            }
            item
        };
        let live = Put::builder()
            .table_name(&self.table)
            .set_item(Some(attributes(
                live_pk(&entry.environment),
                live_sk(&entry.mfe),
            )))
            .condition_expression("attribute_not_exists(pk) OR #seq < :seq")
            .expression_attribute_names("#seq", "sequence")
            .expression_attribute_values(":seq", n(entry.sequence))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()?;
        let history = Put::builder()
            .table_name(&self.table)
            .set_item(Some(attributes(
                history_pk(&entry.environment, &entry.mfe),
                history_sk(entry.sequence),
            )))
            .condition_expression("attribute_not_exists(pk)")
            .build()?;
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(live).build())
            .transact_items(TransactWriteItem::builder().put(history).build())
            .send()
            .await
            .map(|_| ())
    }

    /// One conditional `UpdateItem` removing the live item's pending invalidation.
    async fn try_settle(
        &self,
        environment: &str,
        mfe: &str,
        sequence: u64,
        reference: &str,
    ) -> Result<(), SdkError<UpdateItemError>> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(live_pk(environment)))
            .key("sk", s(live_sk(mfe)))
            .update_expression("REMOVE #inv")
            .condition_expression("#seq = :seq AND #inv.#ref = :ref")
            .expression_attribute_names("#seq", "sequence")
            .expression_attribute_names("#inv", "invalidation")
            .expression_attribute_names("#ref", "reference")
            .expression_attribute_values(":seq", n(sequence))
            .expression_attribute_values(":ref", s(reference.to_owned()))
            .send()
            .await
            .map(|_| ())
    }

    /// Map a refused transaction to the registry's answer.
    async fn resolve_canceled(
        &self,
        entry: &Entry,
        reasons: &[aws_sdk_dynamodb::types::CancellationReason],
    ) -> Result<Resolution, Error> {
        let code = |i: usize| reasons.get(i).and_then(|r| r.code()).unwrap_or("None");
        let (live_code, history_code) = (code(0), code(1));
        if live_code == "ConditionalCheckFailed" {
            // The live item's old value, when DynamoDB returned it; otherwise read it.
            let stored = match reasons.first().and_then(|r| r.item()) {
                Some(item) if !item.is_empty() => Some(decode(item)?),
                _ => self.get_live(&entry.environment, &entry.mfe).await?,
            };
            return match decide(stored.as_ref(), entry)? {
                Decision::Replay => Ok(Resolution::Done),
                // The live item changed back below us between the refusal and the read: only
                // possible if someone deleted it; try again.
                Decision::Write => Ok(Resolution::Retry),
            };
        }
        if history_code == "ConditionalCheckFailed" {
            // The live item is older (or gone) but this sequence is already in the history:
            // the live item was deleted or rewritten by hand. Never overwrite history.
            return Err(Error::Duplicate {
                sequence: entry.sequence,
            });
        }
        let codes = [live_code, history_code];
        if codes.contains(&"TransactionConflict") {
            return Ok(Resolution::Retry);
        }
        if codes
            .iter()
            .any(|c| matches!(*c, "ThrottlingError" | "ProvisionedThroughputExceeded"))
        {
            return Err(Error::Throttled {
                message: format!("transaction canceled: {codes:?}"),
            });
        }
        Err(Error::Backend {
            message: format!("transaction canceled: {codes:?}"),
        })
    }

    /// Map an SDK error of `operation` to the registry's error. The message is one line:
    /// the operation, then the service's error code and message, or a short cause for
    /// transport failures ([`describe_sdk_error`]); never the raw HTTP response.
    fn map_sdk_err<E>(&self, operation: &str, err: &SdkError<E>) -> Error
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
        match err.code() {
            Some("ResourceNotFoundException") => Error::NotFound {
                what: format!("DynamoDB table `{}`", self.table),
            },
            Some(
                "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "LimitExceededException",
            ) => Error::Throttled { message },
            Some(
                "AccessDeniedException"
                | "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "ExpiredTokenException"
                | "MissingAuthenticationTokenException",
            ) => Error::Unauthorized { message },
            Some("InternalServerError" | "ServiceUnavailable") => Error::Unavailable { message },
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

/// What to do after a canceled transaction.
enum Resolution {
    /// The commit is already in place (identical replay).
    Done,
    /// Transient conflict: try the transaction again.
    Retry,
}

#[async_trait::async_trait]
impl Registry for DynamoDbRegistry {
    async fn get(&self, environment: &str, mfe: &str) -> Result<Option<Entry>, Error> {
        validate_name("environment", environment)?;
        validate_name("mfe", mfe)?;
        self.get_live(environment, mfe).await
    }

    async fn list(&self, environment: &str) -> Result<Vec<Entry>, Error> {
        validate_name("environment", environment)?;
        self.query_partition(live_pk(environment), "LIVE#").await
    }

    async fn commit(&self, entry: &Entry) -> Result<(), Error> {
        entry.validate()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let err = match self.try_commit(entry).await {
                Ok(()) => return Ok(()),
                Err(err) => err,
            };
            let resolution = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(canceled)) => {
                    self.resolve_canceled(entry, canceled.cancellation_reasons())
                        .await?
                }
                _ if err.code() == Some("TransactionConflictException") => Resolution::Retry,
                _ => return Err(self.map_sdk_err("TransactWriteItems", &err)),
            };
            match resolution {
                Resolution::Done => return Ok(()),
                Resolution::Retry if attempt < CONFLICT_ATTEMPTS => {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Resolution::Retry => {
                    return Err(Error::Unavailable {
                        message: format!(
                            "commit of {}/{} sequence {} kept conflicting with concurrent \
                             transactions ({attempt} attempts)",
                            entry.environment, entry.mfe, entry.sequence
                        ),
                    });
                }
            }
        }
    }

    async fn settle_invalidation(
        &self,
        environment: &str,
        mfe: &str,
        sequence: u64,
        reference: &str,
    ) -> Result<bool, Error> {
        validate_name("environment", environment)?;
        validate_name("mfe", mfe)?;
        validate_sequence(sequence)?;
        validate_reference(reference)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let err = match self.try_settle(environment, mfe, sequence, reference).await {
                Ok(()) => return Ok(true),
                Err(err) => err,
            };
            match err.code() {
                // No live item, another sequence, nothing pending or another reference.
                Some("ConditionalCheckFailedException") => return Ok(false),
                // A commit's transaction on the item is in flight: its outcome decides.
                Some("TransactionConflictException") if attempt < CONFLICT_ATTEMPTS => {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Some("TransactionConflictException") => {
                    return Err(Error::Unavailable {
                        message: format!(
                            "settling the invalidation of {environment}/{mfe} sequence \
                             {sequence} kept conflicting with concurrent transactions \
                             ({attempt} attempts)"
                        ),
                    });
                }
                _ => return Err(self.map_sdk_err("UpdateItem", &err)),
            }
        }
    }

    async fn history(&self, environment: &str, mfe: &str) -> Result<Vec<Entry>, Error> {
        validate_name("environment", environment)?;
        validate_name("mfe", mfe)?;
        self.query_partition(history_pk(environment, mfe), "SEQ#")
            .await
    }
}

/// Exponential backoff with jitter: delay in `[base/2, 3*base/2)` where `base` is 25 ms for
/// the first attempt, doubling up to 1.6 s.
fn backoff(attempt: u32) -> Duration {
    let base = 25u64 << attempt.saturating_sub(1).min(6);
    let jitter = u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos()),
    ) % base;
    Duration::from_millis(base / 2 + jitter)
}

fn live_pk(environment: &str) -> String {
    format!("ENV#{environment}")
}

fn live_sk(mfe: &str) -> String {
    format!("LIVE#{mfe}")
}

fn history_pk(environment: &str, mfe: &str) -> String {
    format!("HIST#{environment}#{mfe}")
}

fn history_sk(sequence: u64) -> String {
    format!("SEQ#{sequence:020}")
}

fn s(value: String) -> AttributeValue {
    AttributeValue::S(value)
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn attribute(name: &str) -> Result<AttributeDefinition, Error> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| Error::Backend {
            message: e.to_string(),
        })
}

fn key(name: &str, key_type: KeyType) -> Result<KeySchemaElement, Error> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(|e| Error::Backend {
            message: e.to_string(),
        })
}

/// Read a stored item (live or history) back as an [`Entry`].
fn decode(item: &Item) -> Result<Entry, Error> {
    let text = |name: &str| -> Result<String, Error> {
        match item.get(name) {
            Some(AttributeValue::S(value)) => Ok(value.clone()),
            other => Err(corrupt(item, name, other)),
        }
    };
    let sequence = match item.get("sequence") {
        Some(AttributeValue::N(value)) => value.parse::<u64>().ok(),
        _ => None,
    }
    .ok_or_else(|| corrupt(item, "sequence", item.get("sequence")))?;
    let rollback = match item.get("rollback") {
        Some(AttributeValue::Bool(value)) => *value,
        other => return Err(corrupt(item, "rollback", other)),
    };
    let invalidation = match item.get("invalidation") {
        None | Some(AttributeValue::Null(true)) => None,
        Some(AttributeValue::M(map)) => Some(decode_invalidation(item, map)?),
        other => return Err(corrupt(item, "invalidation", other)),
    };
    Ok(Entry {
        invalidation,
        environment: text("environment")?,
        mfe: text("mfe")?,
        version: text("version")?,
        sequence,
        request_id: text("request_id")?,
        sha: text("sha")?,
        deployed_at: parse_time(&text("deployed_at")?)?,
        deployed_by: text("deployed_by")?,
        rollback,
    })
}

/// The `invalidation` attribute: `{ reference: S, paths: L of S }`.
fn encode_invalidation(pending: &Invalidation) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("reference".to_owned(), s(pending.reference.clone())),
        (
            "paths".to_owned(),
            AttributeValue::L(pending.paths.iter().cloned().map(s).collect()),
        ),
    ]))
}

fn decode_invalidation(item: &Item, map: &Item) -> Result<Invalidation, Error> {
    let reference = match map.get("reference") {
        Some(AttributeValue::S(value)) => value.clone(),
        other => return Err(corrupt(item, "invalidation.reference", other)),
    };
    let paths = match map.get("paths") {
        Some(AttributeValue::L(values)) => values
            .iter()
            .map(|value| match value {
                AttributeValue::S(path) => Ok(path.clone()),
                other => Err(corrupt(item, "invalidation.paths[]", Some(other))),
            })
            .collect::<Result<Vec<_>, _>>()?,
        other => return Err(corrupt(item, "invalidation.paths", other)),
    };
    Ok(Invalidation { reference, paths })
}

fn corrupt(item: &Item, name: &str, found: Option<&AttributeValue>) -> Error {
    let key = |k: &str| match item.get(k) {
        Some(AttributeValue::S(v)) => v.as_str(),
        _ => "?",
    };
    // The type and a bounded preview of the value: a stored value may be large.
    let found = match found {
        None => "missing".to_owned(),
        Some(AttributeValue::S(v)) => format!("the string {:?}", preview(v)),
        Some(AttributeValue::N(v)) => format!("the number {:?}", preview(v)),
        Some(AttributeValue::Bool(v)) => format!("the boolean {v}"),
        Some(AttributeValue::Null(_)) => "null".to_owned(),
        Some(AttributeValue::M(_)) => "a map".to_owned(),
        Some(AttributeValue::L(_)) => "a list".to_owned(),
        Some(_) => "of an unexpected type".to_owned(),
    };
    Error::Corrupt {
        reason: format!(
            "item {}/{}: attribute `{name}` is {found}",
            preview(key("pk")),
            preview(key("sk"))
        ),
    }
}

/// At most 64 characters of a stored value, for an error message.
fn preview(value: &str) -> String {
    const MAX: usize = 64;
    match value.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", &value[..end]),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_sequence() {
        assert_eq!(history_sk(42), "SEQ#00000000000000000042");
        assert!(history_sk(9) < history_sk(10));
        assert_eq!(history_sk(u64::MAX).len(), 24);
        assert_eq!(live_pk("prod"), "ENV#prod");
        assert_eq!(history_pk("prod", "shell"), "HIST#prod#shell");
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        for _ in 0..100 {
            assert!((12..38).contains(&backoff(1).as_millis()));
            assert!((25..75).contains(&backoff(2).as_millis()));
            assert!((800..2400).contains(&backoff(20).as_millis()));
        }
    }
}
