//! The DynamoDB adapter on moto (`GITOPS_TEST_AWS_ENDPOINT`), one fresh table per test.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use gitops_db_registry::conformance::{
    env_name, sample_entry, sample_entry_with, sample_invalidation, unique_name,
};
use gitops_db_registry::{Bootstrap, DynamoDbRegistry, Entry, Error, Registry};
use gitops_event_model::{EnvironmentName, MfeName};

use crate::{prod, shell};

/// A client for the emulator, or `None` (after printing the skip line) when it is not set.
fn client(test: &str) -> Option<Client> {
    let endpoint = gitops_testkit::aws_endpoint(test)?;
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .build();
    Some(Client::from_conf(config))
}

fn unique_table() -> String {
    unique_name("gitops-registry-test")
}

async fn make(test: &str) -> Option<Arc<dyn Registry>> {
    let registry = DynamoDbRegistry::new(client(test)?, unique_table());
    assert_eq!(registry.bootstrap().await.unwrap(), Bootstrap::Created);
    Some(Arc::new(MotoSerialized {
        inner: registry,
        commits: tokio::sync::Mutex::new(()),
    }))
}

/// Runs one commit at a time against moto.
///
/// moto (5.2) is not safe for concurrent transactions: `transact_write_items` deep-copies the
/// whole table before applying a transaction and, when the transaction is canceled, puts that
/// copy back, erasing every write another request thread made in between. Concurrent commits
/// on moto therefore lose accepted writes (seen: a commit returned `Ok` and its history item
/// vanished). Real DynamoDB transactions are serializable. The concurrency check still spawns
/// its commits in a scrambled order here; true concurrency is covered on the fake and SQLite,
/// and DynamoDB's `TransactionConflict` handling by the aws-smithy-mocks tests.
#[derive(Debug)]
struct MotoSerialized {
    inner: DynamoDbRegistry,
    commits: tokio::sync::Mutex<()>,
}

#[async_trait::async_trait]
impl Registry for MotoSerialized {
    async fn get(
        &self,
        environment: &EnvironmentName,
        mfe: &MfeName,
    ) -> Result<Option<Entry>, Error> {
        self.inner.get(environment, mfe).await
    }
    async fn list(&self, environment: &EnvironmentName) -> Result<Vec<Entry>, Error> {
        self.inner.list(environment).await
    }
    async fn commit(&self, entry: &Entry) -> Result<(), Error> {
        let _one_at_a_time = self.commits.lock().await;
        self.inner.commit(entry).await
    }
    async fn settle_invalidation(
        &self,
        environment: &EnvironmentName,
        mfe: &MfeName,
        sequence: u64,
        reference: &str,
    ) -> Result<bool, Error> {
        // Not serialized with the commits: a single-item UpdateItem, which moto applies
        // under its own lock, racing a (non-canceled) transaction.
        self.inner
            .settle_invalidation(environment, mfe, sequence, reference)
            .await
    }
    async fn history(
        &self,
        environment: &EnvironmentName,
        mfe: &MfeName,
    ) -> Result<Vec<Entry>, Error> {
        self.inner.history(environment, mfe).await
    }
}

crate::conformance_tests!(make);

#[tokio::test]
async fn moto_bootstrap_is_idempotent() {
    let Some(client) = client("moto_bootstrap_is_idempotent") else {
        return;
    };
    let registry = DynamoDbRegistry::new(client.clone(), unique_table());
    assert_eq!(registry.bootstrap().await.unwrap(), Bootstrap::Created);
    assert_eq!(
        registry.bootstrap().await.unwrap(),
        Bootstrap::AlreadyExists
    );
    let described = client
        .describe_table()
        .table_name(registry.table())
        .send()
        .await
        .unwrap();
    let table = described.table().unwrap();
    assert_eq!(
        table.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&BillingMode::PayPerRequest)
    );
    assert!(table.global_secondary_indexes().is_empty());
}

#[tokio::test]
async fn moto_missing_table_is_not_found_with_a_hint() {
    let Some(client) = client("moto_missing_table_is_not_found_with_a_hint") else {
        return;
    };
    let registry = DynamoDbRegistry::new(client, unique_table());
    for err in [
        registry.get(&prod(), &shell()).await.unwrap_err(),
        registry.list(&prod()).await.unwrap_err(),
        registry.history(&prod(), &shell()).await.unwrap_err(),
        registry
            .commit(&sample_entry(&prod(), &shell(), 1))
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
        assert!(err.to_string().contains("gitops bootstrap"), "{err}");
    }
}

#[tokio::test]
async fn moto_foreign_table_is_refused_by_bootstrap() {
    let Some(client) = client("moto_foreign_table_is_refused_by_bootstrap") else {
        return;
    };
    let table = unique_table();
    client
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let err = DynamoDbRegistry::new(client, table)
        .bootstrap()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Invalid { field: "table", .. }),
        "{err:?}"
    );
}

/// The stored items follow the documented layout (docs/registry-dynamodb.md).
#[tokio::test]
async fn moto_items_follow_the_documented_layout() {
    let Some(client) = client("moto_items_follow_the_documented_layout") else {
        return;
    };
    let registry = DynamoDbRegistry::new(client.clone(), unique_table());
    registry.bootstrap().await.unwrap();
    registry
        .commit(&sample_entry(&prod(), &shell(), 42))
        .await
        .unwrap();
    let scan = client
        .scan()
        .table_name(registry.table())
        .send()
        .await
        .unwrap();
    let mut keys: Vec<(String, String)> = scan
        .items()
        .iter()
        .map(|item| {
            (
                item["pk"].as_s().unwrap().clone(),
                item["sk"].as_s().unwrap().clone(),
            )
        })
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            ("ENV#prod".to_owned(), "LIVE#shell".to_owned()),
            (
                "HIST#prod#shell".to_owned(),
                "SEQ#00000000000000000042".to_owned()
            ),
        ]
    );
    for item in scan.items() {
        assert_eq!(item["sequence"].as_n().unwrap(), "42");
        assert_eq!(item["version"].as_s().unwrap(), "1.42.0");
        assert_eq!(
            item["deployed_at"].as_s().unwrap(),
            "2026-11-26T21:00:42.123456789+02:00"
        );
        assert!(!item["rollback"].as_bool().unwrap());
        // 42 is a multiple of 3: the sample has nothing pending, so no attribute at all.
        assert!(!item.contains_key("invalidation"));
    }
}

/// The pending invalidation is the documented map attribute on both items; settling removes
/// it from the live item only; an item written without it (before this attribute existed)
/// reads as nothing pending.
#[tokio::test]
async fn moto_invalidation_attribute_follows_the_documented_layout() {
    let Some(client) = client("moto_invalidation_attribute_follows_the_documented_layout") else {
        return;
    };
    let registry = DynamoDbRegistry::new(client.clone(), unique_table());
    registry.bootstrap().await.unwrap();
    let pending = sample_invalidation("deploy-7");
    registry
        .commit(&sample_entry_with(
            &prod(),
            &shell(),
            7,
            Some(pending.clone()),
        ))
        .await
        .unwrap();
    let item = |pk: &str, sk: &str| {
        let client = client.clone();
        let (table, pk, sk) = (registry.table().to_owned(), pk.to_owned(), sk.to_owned());
        async move {
            client
                .get_item()
                .table_name(table)
                .key("pk", AttributeValue::S(pk))
                .key("sk", AttributeValue::S(sk))
                .consistent_read(true)
                .send()
                .await
                .unwrap()
                .item()
                .cloned()
                .unwrap()
        }
    };
    let expected = AttributeValue::M(HashMap::from([
        ("reference".to_owned(), AttributeValue::S("deploy-7".into())),
        (
            "paths".to_owned(),
            AttributeValue::L(
                pending
                    .paths
                    .iter()
                    .cloned()
                    .map(AttributeValue::S)
                    .collect(),
            ),
        ),
    ]));
    let live = item("ENV#prod", "LIVE#shell").await;
    let history = item("HIST#prod#shell", "SEQ#00000000000000000007").await;
    assert_eq!(live.get("invalidation"), Some(&expected));
    assert_eq!(history.get("invalidation"), Some(&expected));

    assert!(
        registry
            .settle_invalidation(&prod(), &shell(), 7, "deploy-7")
            .await
            .unwrap()
    );
    let live = item("ENV#prod", "LIVE#shell").await;
    let history = item("HIST#prod#shell", "SEQ#00000000000000000007").await;
    assert!(!live.contains_key("invalidation"), "{live:?}");
    assert_eq!(live["sequence"].as_n().unwrap(), "7");
    assert_eq!(history.get("invalidation"), Some(&expected));

    // An item as written before the attribute existed.
    let mut old = live.clone();
    old.insert("pk".into(), AttributeValue::S("ENV#staging".into()));
    old.insert("environment".into(), AttributeValue::S("staging".into()));
    client
        .put_item()
        .table_name(registry.table())
        .set_item(Some(old))
        .send()
        .await
        .unwrap();
    let read = registry
        .get(&env_name("staging"), &shell())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.invalidation, None);
    assert_eq!(read.sequence, 7);
    assert!(
        !registry
            .settle_invalidation(&env_name("staging"), &shell(), 7, "deploy-7")
            .await
            .unwrap()
    );
}
