//! The DynamoDB adapter against canned responses (aws-smithy-mocks): the error mapping that
//! moto does not reproduce faithfully (it answers some malformed requests with a 500, and
//! never returns transaction conflicts).

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::error::ErrorMetadata;
use aws_sdk_dynamodb::operation::get_item::{GetItemError, GetItemOutput};
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsError, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::error::{
    ConditionalCheckFailedException, ResourceNotFoundException, ThrottlingException,
    TransactionCanceledException, TransactionConflictException,
};
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ReturnValuesOnConditionCheckFailure,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use gitops_db_registry::conformance::{sample_entry, sample_entry_with, sample_invalidation};
use gitops_db_registry::{DynamoDbRegistry, Entry, Error, Registry};
use gitops_event_model::RequestId;
use gitops_retry::RetryPolicy;

use crate::{prod, shell};

/// A registry on the mocked client, with conflicts retried without waiting long.
fn registry(rules: &[&Rule]) -> DynamoDbRegistry {
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, rules, |c| c
        .retry_config(RetryConfig::disabled()));
    DynamoDbRegistry::new(client, "registry").with_retry_policy(RetryPolicy::FAST)
}

/// The live item as DynamoDB stores it (docs/registry-dynamodb.md).
fn live_item(entry: &Entry) -> HashMap<String, AttributeValue> {
    let s = |v: &dyn std::fmt::Display| AttributeValue::S(v.to_string());
    HashMap::from([
        ("pk".to_owned(), s(&format!("ENV#{}", entry.environment))),
        ("sk".to_owned(), s(&format!("LIVE#{}", entry.mfe))),
        ("environment".to_owned(), s(&entry.environment)),
        ("mfe".to_owned(), s(&entry.mfe)),
        ("version".to_owned(), s(&entry.version)),
        (
            "sequence".to_owned(),
            AttributeValue::N(entry.sequence.to_string()),
        ),
        ("request_id".to_owned(), s(&entry.request_id)),
        ("sha".to_owned(), s(&entry.sha)),
        (
            "deployed_at".to_owned(),
            s(&entry
                .deployed_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap()),
        ),
        ("deployed_by".to_owned(), s(&entry.deployed_by)),
        ("rollback".to_owned(), AttributeValue::Bool(entry.rollback)),
    ])
}

/// The `invalidation` attribute as documented: `{ reference: S, paths: L of S }`.
fn invalidation_attribute(reference: &str, paths: &[String]) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        (
            "reference".to_owned(),
            AttributeValue::S(reference.to_owned()),
        ),
        (
            "paths".to_owned(),
            AttributeValue::L(paths.iter().cloned().map(AttributeValue::S).collect()),
        ),
    ]))
}

fn reason(code: &str, item: Option<HashMap<String, AttributeValue>>) -> CancellationReason {
    CancellationReason::builder()
        .code(code)
        .set_item(item)
        .build()
}

fn canceled(reasons: Vec<CancellationReason>) -> TransactWriteItemsError {
    TransactWriteItemsError::TransactionCanceledException(
        TransactionCanceledException::builder()
            .message(
                "Transaction cancelled, please refer cancellation reasons for specific reasons",
            )
            .set_cancellation_reasons(Some(reasons))
            .meta(
                ErrorMetadata::builder()
                    .code("TransactionCanceledException")
                    .build(),
            )
            .build(),
    )
}

fn refused_by_live(stored: Option<Entry>) -> Rule {
    mock!(Client::transact_write_items).then_error(move || {
        canceled(vec![
            reason("ConditionalCheckFailed", stored.as_ref().map(live_item)),
            reason("None", None),
        ])
    })
}

#[tokio::test]
async fn the_request_is_one_transaction_with_both_conditions() {
    let entry = sample_entry(&prod(), &shell(), 7);
    let rule = mock!(Client::transact_write_items)
        .match_requests(|req| {
            let items = req.transact_items();
            let [live, history] = items else { return false };
            let (Some(live), Some(history)) = (live.put(), history.put()) else {
                return false;
            };
            live.table_name() == "registry"
                && live.item()["pk"].as_s().is_ok_and(|v| v == "ENV#prod")
                && live.item()["sk"].as_s().is_ok_and(|v| v == "LIVE#shell")
                && live.condition_expression() == Some("attribute_not_exists(pk) OR #seq < :seq")
                && live
                    .expression_attribute_names()
                    .is_some_and(|n| n["#seq"] == "sequence")
                && live
                    .expression_attribute_values()
                    .is_some_and(|v| v[":seq"].as_n().is_ok_and(|n| n == "7"))
                && live.return_values_on_condition_check_failure()
                    == Some(&ReturnValuesOnConditionCheckFailure::AllOld)
                && history.item()["pk"]
                    .as_s()
                    .is_ok_and(|v| v == "HIST#prod#shell")
                && history.item()["sk"]
                    .as_s()
                    .is_ok_and(|v| v == "SEQ#00000000000000000007")
                && history.condition_expression() == Some("attribute_not_exists(pk)")
        })
        .then_output(|| TransactWriteItemsOutput::builder().build());
    registry(&[&rule]).commit(&entry).await.unwrap();
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn conditional_check_failed_with_a_higher_stored_sequence_is_stale() {
    let rule = refused_by_live(Some(sample_entry(&prod(), &shell(), 9)));
    let err = registry(&[&rule])
        .commit(&sample_entry(&prod(), &shell(), 5))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Stale {
                stored: 9,
                attempted: 5
            }
        ),
        "{err:?}"
    );
    assert_eq!(rule.num_calls(), 1, "a refusal is not retried");
}

#[tokio::test]
async fn conditional_check_failed_with_an_equal_sequence_is_duplicate_or_replay() {
    let stored = sample_entry(&prod(), &shell(), 5);
    let rule = refused_by_live(Some(stored.clone()));
    let registry = registry(&[&rule]);
    let mut other = stored.clone();
    other.request_id = RequestId::generate();
    let err = registry.commit(&other).await.unwrap_err();
    assert!(matches!(err, Error::Duplicate { sequence: 5 }), "{err:?}");
    // The very same entry: an idempotent replay.
    registry.commit(&stored).await.unwrap();
}

#[tokio::test]
async fn without_the_old_item_the_live_entry_is_read_to_tell_stale_from_duplicate() {
    let transact = refused_by_live(None);
    let get = mock!(Client::get_item)
        .match_requests(|req| req.consistent_read() == Some(true))
        .then_output(|| {
            GetItemOutput::builder()
                .set_item(Some(live_item(&sample_entry(&prod(), &shell(), 12))))
                .build()
        });
    let err = registry(&[&transact, &get])
        .commit(&sample_entry(&prod(), &shell(), 11))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Stale {
                stored: 12,
                attempted: 11
            }
        ),
        "{err:?}"
    );
    assert_eq!(get.num_calls(), 1);
}

#[tokio::test]
async fn a_history_item_that_already_exists_is_duplicate() {
    let rule = mock!(Client::transact_write_items).then_error(|| {
        canceled(vec![
            reason("None", None),
            reason("ConditionalCheckFailed", None),
        ])
    });
    let err = registry(&[&rule])
        .commit(&sample_entry(&prod(), &shell(), 3))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Duplicate { sequence: 3 }), "{err:?}");
}

#[tokio::test]
async fn transaction_conflicts_are_retried_then_succeed() {
    let rule = mock!(Client::transact_write_items)
        .sequence()
        .error(|| {
            canceled(vec![
                reason("TransactionConflict", None),
                reason("None", None),
            ])
        })
        .times(2)
        .output(|| TransactWriteItemsOutput::builder().build())
        .build();
    registry(&[&rule])
        .commit(&sample_entry(&prod(), &shell(), 3))
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 3);
}

fn endless_conflicts() -> Rule {
    mock!(Client::transact_write_items).then_error(|| {
        canceled(vec![
            reason("TransactionConflict", None),
            reason("None", None),
        ])
    })
}

#[tokio::test]
async fn endless_transaction_conflicts_end_after_the_policys_attempts() {
    for attempts in [1, 3, 8] {
        let rule = endless_conflicts();
        let err = registry(&[&rule])
            .with_retry_policy(RetryPolicy::FAST.with_max_attempts(attempts))
            .commit(&sample_entry(&prod(), &shell(), 3))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::TransactionConflict { .. }), "{err:?}");
        assert!(err.is_retryable());
        assert_eq!(rule.num_calls(), attempts as usize);
        assert_eq!(
            err.to_string(),
            format!(
                "registry write conflicted with concurrent transactions: commit of prod/shell \
                 sequence 3, {attempts} attempts: TransactWriteItems canceled: \
                 [\"TransactionConflict\", \"None\"]"
            )
        );
    }
}

/// Without a policy given, conflicts are retried under `RetryPolicy::CONTENDED`: 10 attempts,
/// the waits starting at 50 ms and doubling (jitter only adds).
#[tokio::test]
async fn the_default_policy_is_contended() {
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [], |c| c
        .retry_config(RetryConfig::disabled()));
    assert_eq!(
        DynamoDbRegistry::new(client, "registry").retry_policy(),
        RetryPolicy::CONTENDED
    );
    let rule = mock!(Client::transact_write_items)
        .sequence()
        .error(|| {
            canceled(vec![
                reason("TransactionConflict", None),
                reason("None", None),
            ])
        })
        .times(2)
        .output(|| TransactWriteItemsOutput::builder().build())
        .build();
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule], |c| c
        .retry_config(RetryConfig::disabled()));
    let started = std::time::Instant::now();
    DynamoDbRegistry::new(client, "registry")
        .commit(&sample_entry(&prod(), &shell(), 3))
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(rule.num_calls(), 3);
    assert!(
        waited >= std::time::Duration::from_millis(150),
        "two backoffs of at least 50 and 100 ms: {waited:?}"
    );
}

#[tokio::test]
async fn throttling_is_throttled_and_left_to_the_sdks_retries() {
    let rule = mock!(Client::transact_write_items).then_error(|| {
        TransactWriteItemsError::ThrottlingException(
            ThrottlingException::builder()
                .message("slow down")
                .meta(ErrorMetadata::builder().code("ThrottlingException").build())
                .build(),
        )
    });
    let err = registry(&[&rule])
        .commit(&sample_entry(&prod(), &shell(), 3))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Throttled { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(rule.num_calls(), 1, "not retried again by the adapter");
    let rule = mock!(Client::transact_write_items)
        .then_error(|| canceled(vec![reason("ThrottlingError", None), reason("None", None)]));
    let err = registry(&[&rule])
        .commit(&sample_entry(&prod(), &shell(), 3))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Throttled { .. }), "{err:?}");
    assert_eq!(rule.num_calls(), 1, "not retried again by the adapter");
}

/// A cancellation for another reason is a deterministic backend error, tried once.
#[tokio::test]
async fn other_cancellations_are_not_retried() {
    let rule = mock!(Client::transact_write_items)
        .then_error(|| canceled(vec![reason("ValidationError", None), reason("None", None)]));
    let err = registry(&[&rule])
        .commit(&sample_entry(&prod(), &shell(), 3))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Backend { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn a_missing_table_is_not_found() {
    let rule = mock!(Client::get_item).then_error(|| {
        GetItemError::ResourceNotFoundException(
            ResourceNotFoundException::builder()
                .message("Requested resource not found")
                .meta(
                    ErrorMetadata::builder()
                        .code("ResourceNotFoundException")
                        .build(),
                )
                .build(),
        )
    });
    let err = registry(&[&rule]).get(&prod(), &shell()).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "registry DynamoDB table `registry` not found: run `gitops bootstrap` to create it"
    );
}

#[tokio::test]
async fn a_server_error_is_unavailable() {
    let rule = mock!(Client::get_item)
        .sequence()
        .http_status(500, Some("{}".to_owned()))
        .repeatedly()
        .build();
    let err = registry(&[&rule]).get(&prod(), &shell()).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
}

#[tokio::test]
async fn a_corrupt_item_is_reported() {
    let rule = mock!(Client::get_item).then_output(|| {
        let mut item = live_item(&sample_entry(&prod(), &shell(), 1));
        item.insert("sequence".into(), AttributeValue::S("one".into()));
        GetItemOutput::builder().set_item(Some(item)).build()
    });
    let err = registry(&[&rule]).get(&prod(), &shell()).await.unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("item \"ENV#prod\"/\"LIVE#shell\": attribute `sequence`"),
        "{err}"
    );
}

#[tokio::test]
async fn the_pending_invalidation_is_written_on_both_items_of_the_transaction() {
    let pending = sample_invalidation("deploy-7");
    let entry = sample_entry_with(&prod(), &shell(), 7, Some(pending.clone()));
    let expected = invalidation_attribute(&pending.reference, &pending.paths);
    let rule = mock!(Client::transact_write_items)
        .match_requests(move |req| {
            let items = req.transact_items();
            items.len() == 2
                && items.iter().all(|item| {
                    item.put()
                        .is_some_and(|put| put.item().get("invalidation") == Some(&expected))
                })
        })
        .then_output(|| TransactWriteItemsOutput::builder().build());
    registry(&[&rule]).commit(&entry).await.unwrap();
    assert_eq!(rule.num_calls(), 1);

    // Nothing pending: no attribute at all.
    let rule = mock!(Client::transact_write_items)
        .match_requests(|req| {
            req.transact_items().iter().all(|item| {
                item.put()
                    .is_some_and(|put| !put.item().contains_key("invalidation"))
            })
        })
        .then_output(|| TransactWriteItemsOutput::builder().build());
    registry(&[&rule])
        .commit(&sample_entry_with(&prod(), &shell(), 7, None))
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn settle_is_one_conditional_update_of_the_live_item() {
    let rule = mock!(Client::update_item)
        .match_requests(|req| {
            let names = req
                .expression_attribute_names()
                .cloned()
                .unwrap_or_default();
            let values = req
                .expression_attribute_values()
                .cloned()
                .unwrap_or_default();
            req.table_name() == Some("registry")
                && req.key().is_some_and(|key| {
                    key.len() == 2
                        && key["pk"].as_s().is_ok_and(|v| v == "ENV#prod")
                        && key["sk"].as_s().is_ok_and(|v| v == "LIVE#shell")
                })
                && req.update_expression() == Some("REMOVE #inv")
                && req.condition_expression() == Some("#seq = :seq AND #inv.#ref = :ref")
                && names.get("#seq").map(String::as_str) == Some("sequence")
                && names.get("#inv").map(String::as_str) == Some("invalidation")
                && names.get("#ref").map(String::as_str) == Some("reference")
                && values
                    .get(":seq")
                    .is_some_and(|v| v.as_n().is_ok_and(|n| n == "9"))
                && values
                    .get(":ref")
                    .is_some_and(|v| v.as_s().is_ok_and(|r| r == "deploy-9"))
        })
        .then_output(|| UpdateItemOutput::builder().build());
    let settled = registry(&[&rule])
        .settle_invalidation(&prod(), &shell(), 9, "deploy-9")
        .await
        .unwrap();
    assert!(settled);
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn settle_refused_by_its_condition_is_false() {
    let rule = mock!(Client::update_item).then_error(|| {
        UpdateItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder()
                .message("The conditional request failed")
                .meta(
                    ErrorMetadata::builder()
                        .code("ConditionalCheckFailedException")
                        .build(),
                )
                .build(),
        )
    });
    let settled = registry(&[&rule])
        .settle_invalidation(&prod(), &shell(), 9, "deploy-9")
        .await
        .unwrap();
    assert!(!settled);
    assert_eq!(rule.num_calls(), 1, "a refusal is an answer, not retried");
}

fn settle_conflict() -> UpdateItemError {
    UpdateItemError::TransactionConflictException(
        TransactionConflictException::builder()
            .message("Transaction is ongoing for the item")
            .meta(
                ErrorMetadata::builder()
                    .code("TransactionConflictException")
                    .build(),
            )
            .build(),
    )
}

#[tokio::test]
async fn settle_retries_while_a_commit_transaction_holds_the_item() {
    let rule = mock!(Client::update_item)
        .sequence()
        .error(settle_conflict)
        .times(3)
        .output(|| UpdateItemOutput::builder().build())
        .build();
    assert!(
        registry(&[&rule])
            .settle_invalidation(&prod(), &shell(), 2, "deploy-2")
            .await
            .unwrap()
    );
    assert_eq!(rule.num_calls(), 4);

    let rule = mock!(Client::update_item).then_error(settle_conflict);
    let err = registry(&[&rule])
        .with_retry_policy(RetryPolicy::FAST.with_max_attempts(8))
        .settle_invalidation(&prod(), &shell(), 2, "deploy-2")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TransactionConflict { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert!(
        err.to_string()
            .contains("settling the invalidation of prod/shell sequence 2, 8 attempts"),
        "{err}"
    );
    assert_eq!(rule.num_calls(), 8);
}

#[tokio::test]
async fn a_live_item_without_the_attribute_reads_as_nothing_pending() {
    let entry = sample_entry_with(&prod(), &shell(), 3, None);
    let rule = mock!(Client::get_item).then_output(move || {
        GetItemOutput::builder()
            .set_item(Some(live_item(&entry)))
            .build()
    });
    let got = registry(&[&rule]).get(&prod(), &shell()).await.unwrap();
    assert_eq!(got, Some(sample_entry_with(&prod(), &shell(), 3, None)));
}

#[tokio::test]
async fn a_malformed_invalidation_attribute_is_corrupt() {
    for bad in [
        AttributeValue::S("deploy-1".into()),
        AttributeValue::M(HashMap::from([(
            "reference".to_owned(),
            AttributeValue::S("deploy-1".into()),
        )])),
        AttributeValue::M(HashMap::from([
            ("reference".to_owned(), AttributeValue::S("deploy-1".into())),
            (
                "paths".to_owned(),
                AttributeValue::L(vec![AttributeValue::N("1".into())]),
            ),
        ])),
    ] {
        let rule = mock!(Client::get_item).then_output(move || {
            let mut item = live_item(&sample_entry(&prod(), &shell(), 1));
            item.insert("invalidation".into(), bad.clone());
            GetItemOutput::builder().set_item(Some(item)).build()
        });
        let err = registry(&[&rule]).get(&prod(), &shell()).await.unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("invalidation"), "{err}");
    }
}

/// Every text attribute is parsed back with the request's rule: a value it refuses is
/// `Corrupt`, naming the item's keys and the attribute, quoting a short excerpt only.
#[tokio::test]
async fn a_stored_value_that_breaks_its_rule_is_corrupt_naming_the_attribute() {
    let long = "9".repeat(5_000);
    for (attribute, bad, shown) in [
        ("environment", "a..b", "\"a..b\""),
        ("mfe", "Shell", "\"Shell\""),
        ("version", "1.0", "\"1.0\""),
        ("version", long.as_str(), "bytes long"),
        ("request_id", "req-1", "\"req-1\""),
        ("sha", "abc", "\"abc\""),
        ("deployed_by", "two words", "\"two words\""),
        ("deployed_at", "yesterday", "\"yesterday\""),
    ] {
        let bad_value = bad.to_owned();
        let rule = mock!(Client::get_item).then_output(move || {
            let mut item = live_item(&sample_entry(&prod(), &shell(), 1));
            item.insert(attribute.into(), AttributeValue::S(bad_value.clone()));
            GetItemOutput::builder().set_item(Some(item)).build()
        });
        let err = registry(&[&rule]).get(&prod(), &shell()).await.unwrap_err();
        let Error::Corrupt { reason } = &err else {
            panic!("{attribute} = {bad:?}: expected Corrupt, got {err:?}");
        };
        assert!(
            reason.starts_with(&format!(
                "item \"ENV#prod\"/\"LIVE#shell\": stored `{attribute}` is not valid: "
            )),
            "{reason}"
        );
        assert!(reason.contains(shown), "{reason}");
        assert!(reason.len() < 400, "{} bytes: {reason}", reason.len());
    }
}
