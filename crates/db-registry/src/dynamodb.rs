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
//! miss a commit that already returned). Names are the event model's `EnvironmentName` and
//! `MfeName`, which never contain `#`, so the keys cannot collide.
//!
//! A transaction cancelled by a `TransactionConflict` (another transaction on the item in
//! flight) is tried again under one [`RetryPolicy`] (default [`RetryPolicy::CONTENDED`]);
//! what is retried is decided by `Error::retry_class` alone.
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
use gitops_event_model::{EnvironmentName, MfeName};
use gitops_retry::{RetryPolicy, retry};

use crate::entry::{StoredEntry, format_time, preview, validate_reference, validate_sequence};
use crate::{Decision, Entry, Error, Invalidation, Registry, decide};

type Item = HashMap<String, AttributeValue>;

/// How long [`DynamoDbRegistry::bootstrap`] waits for a new table to become ACTIVE.
const BOOTSTRAP_TIMEOUT: Duration = Duration::from_mins(5);

/// Registry in one DynamoDB table; the commit is one `TransactWriteItems` (conditional put of
/// the live item plus put of the history item).
#[derive(Clone)]
pub struct DynamoDbRegistry {
    client: Client,
    table: String,
    retry: RetryPolicy,
}

impl std::fmt::Debug for DynamoDbRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoDbRegistry")
            .field("table", &self.table)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// The IAM actions [`DynamoDbRegistry`] calls, each on its table's ARN: `DescribeTable`
/// (bootstrap and its check), `GetItem` and `Query` (reads), `PutItem` (each `Put` of the
/// commit's `TransactWriteItems`, which has no IAM action of its own) and `UpdateItem` (settling
/// an invalidation). `gitops iam-policy` grants exactly these; creating the table is
/// [`IAM_BOOTSTRAP_ACTIONS`].
pub const IAM_ACTIONS: &[&str] = &[
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
];

/// What [`DynamoDbRegistry::bootstrap`] calls besides [`IAM_ACTIONS`] when the table is missing.
pub const IAM_BOOTSTRAP_ACTIONS: &[&str] = &["dynamodb:CreateTable"];

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

    /// A registry on `table` through an already configured client; transaction conflicts are
    /// retried under [`RetryPolicy::CONTENDED`].
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            retry: RetryPolicy::CONTENDED,
        }
    }

    /// This registry with transaction conflicts retried under `policy` instead.
    #[must_use]
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The policy transaction conflicts are retried under.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
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

    /// For `gitops bootstrap --check`: whether the table exists (`DescribeTable`); one with
    /// another key schema is refused with [`Error::Invalid`]. Creates nothing.
    pub async fn exists(&self) -> Result<bool, Error> {
        match self.table_status().await {
            Ok(_) => Ok(true),
            Err(Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
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

    async fn get_live(
        &self,
        environment: &EnvironmentName,
        mfe: &MfeName,
    ) -> Result<Option<Entry>, Error> {
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

    /// One attempt at the commit's transaction. `deployed_at` is the entry's, formatted.
    async fn try_commit(
        &self,
        entry: &Entry,
        deployed_at: &str,
    ) -> Result<(), SdkError<TransactWriteItemsError>> {
        let attributes = |pk: String, sk: String| -> Item {
            let mut item = HashMap::from([
                ("pk".to_owned(), s(pk)),
                ("sk".to_owned(), s(sk)),
                ("environment".to_owned(), s(entry.environment.to_string())),
                ("mfe".to_owned(), s(entry.mfe.to_string())),
                ("version".to_owned(), s(entry.version.to_string())),
                ("sequence".to_owned(), n(entry.sequence)),
                ("request_id".to_owned(), s(entry.request_id.to_string())),
                ("sha".to_owned(), s(entry.sha.to_string())),
                ("deployed_at".to_owned(), s(deployed_at.to_owned())),
                ("deployed_by".to_owned(), s(entry.deployed_by.to_string())),
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
        environment: &EnvironmentName,
        mfe: &MfeName,
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

    /// One attempt at the commit: the transaction, and what a refusal of it means.
    async fn commit_once(&self, entry: &Entry, deployed_at: &str) -> Result<(), Error> {
        let Err(err) = self.try_commit(entry, deployed_at).await else {
            return Ok(());
        };
        match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(canceled)) => {
                self.resolve_canceled(entry, canceled.cancellation_reasons())
                    .await
            }
            _ => Err(self.map_sdk_err("TransactWriteItems", &err)),
        }
    }

    /// Map a refused transaction to the registry's answer: `Ok(())` for an identical replay,
    /// [`Error::TransactionConflict`] for what another attempt may get through.
    async fn resolve_canceled(
        &self,
        entry: &Entry,
        reasons: &[aws_sdk_dynamodb::types::CancellationReason],
    ) -> Result<(), Error> {
        // DynamoDB gives one reason per item, `None` for an item that did not fail.
        let code = |i: usize| match reasons.get(i) {
            Some(reason) => reason.code().unwrap_or("(no code)"),
            None => "(no reason)",
        };
        let (live_code, history_code) = (code(0), code(1));
        if live_code == "ConditionalCheckFailed" {
            // The live item's old value, when DynamoDB returned it; otherwise read it.
            let stored = match reasons.first().and_then(|r| r.item()) {
                Some(item) if !item.is_empty() => Some(decode(item)?),
                _ => self.get_live(&entry.environment, &entry.mfe).await?,
            };
            return match decide(stored.as_ref(), entry)? {
                Decision::Replay => Ok(()),
                // The live item changed back below us between the refusal and the read: only
                // possible if someone deleted it; try again.
                Decision::Write => Err(Error::TransactionConflict {
                    message: "the live item changed while the transaction was refused".into(),
                }),
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
            return Err(Error::TransactionConflict {
                message: format!("TransactWriteItems canceled: {codes:?}"),
            });
        }
        if codes
            .iter()
            .any(|c| matches!(*c, "ThrottlingError" | "ProvisionedThroughputExceeded"))
        {
            return Err(Error::Throttled {
                message: format!("TransactWriteItems canceled: {codes:?}"),
            });
        }
        Err(Error::Backend {
            message: format!("TransactWriteItems canceled: {codes:?}"),
        })
    }

    /// One attempt at settling: `Ok(false)` when the condition refused it.
    async fn settle_once(
        &self,
        environment: &EnvironmentName,
        mfe: &MfeName,
        sequence: u64,
        reference: &str,
    ) -> Result<bool, Error> {
        match self.try_settle(environment, mfe, sequence, reference).await {
            Ok(()) => Ok(true),
            // No live item, another sequence, nothing pending or another reference.
            Err(err) if err.code() == Some("ConditionalCheckFailedException") => Ok(false),
            // A commit's transaction on the item in flight is a `TransactionConflict`: its
            // outcome decides, so the retry reads the item as that transaction left it.
            Err(err) => Err(self.map_sdk_err("UpdateItem", &err)),
        }
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
            // Another transaction on the item was in flight (single-item requests).
            Some("TransactionConflictException") => Error::TransactionConflict { message },
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

#[async_trait::async_trait]
impl Registry for DynamoDbRegistry {
    async fn get(
        &self,
        environment: &EnvironmentName,
        mfe: &MfeName,
    ) -> Result<Option<Entry>, Error> {
        self.get_live(environment, mfe).await
    }

    async fn list(&self, environment: &EnvironmentName) -> Result<Vec<Entry>, Error> {
        self.query_partition(live_pk(environment), "LIVE#").await
    }

    async fn commit(&self, entry: &Entry) -> Result<(), Error> {
        entry.validate()?;
        let deployed_at = format_time(entry.deployed_at)?;
        let mut attempts = 0u32;
        let result = retry(
            self.retry,
            || {
                attempts += 1;
                self.commit_once(entry, &deployed_at)
            },
            Error::retry_class,
        )
        .await;
        result.map_err(|e| match e {
            Error::TransactionConflict { message } => Error::TransactionConflict {
                message: format!(
                    "commit of {}/{} sequence {}, {attempts} attempts: {message}",
                    entry.environment, entry.mfe, entry.sequence
                ),
            },
            other => other,
        })
    }

    async fn settle_invalidation(
        &self,
        environment: &EnvironmentName,
        mfe: &MfeName,
        sequence: u64,
        reference: &str,
    ) -> Result<bool, Error> {
        validate_sequence(sequence)?;
        validate_reference(reference)?;
        let mut attempts = 0u32;
        let result = retry(
            self.retry,
            || {
                attempts += 1;
                self.settle_once(environment, mfe, sequence, reference)
            },
            Error::retry_class,
        )
        .await;
        result.map_err(|e| match e {
            Error::TransactionConflict { message } => Error::TransactionConflict {
                message: format!(
                    "settling the invalidation of {environment}/{mfe} sequence {sequence}, \
                     {attempts} attempts: {message}"
                ),
            },
            other => other,
        })
    }

    async fn history(
        &self,
        environment: &EnvironmentName,
        mfe: &MfeName,
    ) -> Result<Vec<Entry>, Error> {
        self.query_partition(history_pk(environment, mfe), "SEQ#")
            .await
    }
}

fn live_pk(environment: &EnvironmentName) -> String {
    format!("ENV#{environment}")
}

fn live_sk(mfe: &MfeName) -> String {
    format!("LIVE#{mfe}")
}

fn history_pk(environment: &EnvironmentName, mfe: &MfeName) -> String {
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

/// Read a stored item (live or history) back as an [`Entry`]: each attribute of its type,
/// each value parsed into its field's type ([`StoredEntry::parse`]).
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
    StoredEntry {
        environment: text("environment")?,
        mfe: text("mfe")?,
        version: text("version")?,
        sequence,
        request_id: text("request_id")?,
        sha: text("sha")?,
        deployed_at: text("deployed_at")?,
        deployed_by: text("deployed_by")?,
        rollback,
        invalidation,
    }
    .parse(&location(item))
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

/// Where an item is, for an error message: its keys, shortened.
fn location(item: &Item) -> String {
    let key = |k: &str| match item.get(k) {
        Some(AttributeValue::S(v)) => preview(v),
        _ => "?".to_owned(),
    };
    format!("item {}/{}", key("pk"), key("sk"))
}

/// [`Error::Corrupt`] for an attribute of `item` missing or of the wrong type.
fn corrupt(item: &Item, name: &str, found: Option<&AttributeValue>) -> Error {
    // The type and a bounded preview of the value: a stored value may be large.
    let found = match found {
        None => "missing".to_owned(),
        Some(AttributeValue::S(v)) => format!("the string {}", preview(v)),
        Some(AttributeValue::N(v)) => format!("the number {}", preview(v)),
        Some(AttributeValue::Bool(v)) => format!("the boolean {v}"),
        Some(AttributeValue::Null(_)) => "null".to_owned(),
        Some(AttributeValue::M(_)) => "a map".to_owned(),
        Some(AttributeValue::L(_)) => "a list".to_owned(),
        Some(_) => "of an unexpected type".to_owned(),
    };
    Error::Corrupt {
        reason: format!("{}: attribute `{name}` is {found}", location(item)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_sequence() {
        let prod = EnvironmentName::parse("Prod").unwrap();
        let shell = MfeName::parse("shell").unwrap();
        assert_eq!(history_sk(42), "SEQ#00000000000000000042");
        assert!(history_sk(9) < history_sk(10));
        assert_eq!(history_sk(u64::MAX).len(), 24);
        assert_eq!(live_pk(&prod), "ENV#Prod");
        assert_eq!(live_sk(&shell), "LIVE#shell");
        assert_eq!(history_pk(&prod, &shell), "HIST#Prod#shell");
    }

    #[test]
    fn only_a_transaction_conflict_is_retried_by_the_adapter() {
        use gitops_retry::Retry;
        let message = || "m".to_owned();
        assert_eq!(
            Error::TransactionConflict { message: message() }.retry_class(),
            Retry::Backoff
        );
        for err in [
            Error::Throttled { message: message() },
            Error::Unavailable { message: message() },
            Error::Stale {
                stored: 2,
                attempted: 1,
            },
            Error::Duplicate { sequence: 1 },
            Error::Unauthorized { message: message() },
            Error::NotFound { what: message() },
            Error::Invalid {
                field: "sequence",
                reason: message(),
            },
            Error::Corrupt { reason: message() },
            Error::Backend { message: message() },
        ] {
            assert_eq!(err.retry_class(), Retry::Never, "{err:?}");
        }
    }
}
