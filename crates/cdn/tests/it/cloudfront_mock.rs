//! The CloudFront adapter against aws-smithy-mocks: what moto cannot show (CallerReference
//! idempotency, TooManyInvalidationsInProgress backoff, in-progress waits, error mapping).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_cloudfront::Client;
use aws_sdk_cloudfront::error::ErrorMetadata;
use aws_sdk_cloudfront::operation::create_invalidation::{
    CreateInvalidationError, CreateInvalidationOutput,
};
use aws_sdk_cloudfront::operation::get_distribution::{
    GetDistributionError, GetDistributionOutput,
};
use aws_sdk_cloudfront::operation::get_invalidation::GetInvalidationOutput;
use aws_sdk_cloudfront::primitives::DateTime;
use aws_sdk_cloudfront::types::error::{
    AccessDenied, NoSuchDistribution, TooManyInvalidationsInProgress,
};
use aws_sdk_cloudfront::types::{Invalidation, InvalidationBatch, Paths};
use aws_smithy_mocks::{MockResponse, RuleMode, mock, mock_client};
use gitops_cdn::{Cdn, CloudFrontCdn, Error, InvalidationRequest, Polling};
use gitops_retry::RetryPolicy;

const DIST: &str = "E2EXAMPLE0DIST";

fn invalidation(id: &str, status: &str, reference: &str, paths: &[String]) -> Invalidation {
    let quantity = i32::try_from(paths.len()).unwrap();
    Invalidation::builder()
        .id(id)
        .status(status)
        .create_time(DateTime::from_secs(0))
        .invalidation_batch(
            InvalidationBatch::builder()
                .caller_reference(reference)
                .paths(
                    Paths::builder()
                        .quantity(quantity)
                        .set_items(Some(paths.to_vec()))
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

fn created(id: &str) -> CreateInvalidationOutput {
    CreateInvalidationOutput::builder()
        .invalidation(invalidation(id, "InProgress", "r", &["/a".to_owned()]))
        .build()
}

fn polled(status: &str) -> GetInvalidationOutput {
    GetInvalidationOutput::builder()
        .invalidation(invalidation("I1", status, "r", &["/a".to_owned()]))
        .build()
}

fn too_many() -> CreateInvalidationError {
    CreateInvalidationError::TooManyInvalidationsInProgress(
        TooManyInvalidationsInProgress::builder()
            .message("Your request contains too many invalidations")
            .build(),
    )
}

fn cdn(client: Client) -> CloudFrontCdn {
    CloudFrontCdn::new(client, DIST)
        .unwrap()
        .with_retry_policy(RetryPolicy::FAST)
        .with_polling(Polling::FAST)
}

fn request(reference: &str, paths: &[&str]) -> InvalidationRequest {
    InvalidationRequest {
        reference: reference.to_owned(),
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    }
}

#[tokio::test]
async fn sends_distribution_reference_and_paths() {
    let rule = mock!(Client::create_invalidation)
        .match_requests(|req| {
            let batch = req.invalidation_batch().unwrap();
            let paths = batch.paths().unwrap();
            req.distribution_id() == Some(DIST)
                && batch.caller_reference() == "deploy-01J"
                && paths.quantity() == 2
                && paths.items() == ["/importmap.json", "/mfe/a/remoteEntry.js"]
        })
        .then_output(|| created("I1"));
    let client = mock_client!(aws_sdk_cloudfront, [&rule]);
    let receipt = cdn(client)
        .invalidate(&request(
            "deploy-01J",
            &["/importmap.json", "/mfe/a/remoteEntry.js"],
        ))
        .await
        .unwrap();
    assert_eq!(receipt.ids(), vec!["I1"]);
    assert_eq!(receipt.batches[0].caller_reference, "deploy-01J");
    assert_eq!(rule.num_calls(), 1);
}

/// A CloudFront double that enforces CallerReference like the real service.
#[tokio::test]
async fn retry_with_same_reference_gets_the_existing_invalidation() {
    type Seen = HashMap<String, (String, Vec<String>)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let rule = {
        let seen = seen.clone();
        mock!(Client::create_invalidation).then_compute_response(move |req| {
            let batch = req.invalidation_batch().unwrap();
            let reference = batch.caller_reference().to_owned();
            let paths = batch.paths().unwrap().items().to_vec();
            let mut seen = seen.lock().unwrap();
            let next = format!("I{}", seen.len() + 1);
            let (id, original) = seen
                .entry(reference.clone())
                .or_insert_with(|| (next, paths.clone()))
                .clone();
            if original == paths {
                MockResponse::Output(
                    CreateInvalidationOutput::builder()
                        .invalidation(invalidation(&id, "InProgress", &reference, &paths))
                        .build(),
                )
            } else {
                MockResponse::Error(CreateInvalidationError::generic(
                    ErrorMetadata::builder()
                        .code("InvalidationBatchAlreadyExists")
                        .message("already exists")
                        .build(),
                ))
            }
        })
    };
    let client = mock_client!(aws_sdk_cloudfront, RuleMode::MatchAny, [&rule]);
    let cdn = cdn(client);
    let req = request("deploy-7", &["/importmap.json"]);
    let a = cdn.invalidate(&req).await.unwrap();
    let b = cdn.invalidate(&req).await.unwrap();
    assert_eq!(a.ids(), b.ids());
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "one invalidation for two calls"
    );
    let err = cdn
        .invalidate(&request("deploy-7", &["/mfe/a/x.js"]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { reference, .. } if reference == "deploy-7"),
        "{err:?}"
    );
}

#[tokio::test]
async fn backs_off_on_too_many_invalidations_in_progress() {
    let rule = mock!(Client::create_invalidation)
        .sequence()
        .error(too_many)
        .times(3)
        .output(|| created("I9"))
        .build();
    let client = mock_client!(aws_sdk_cloudfront, [&rule]);
    let receipt = cdn(client)
        .invalidate(&request("r", &["/a"]))
        .await
        .unwrap();
    assert_eq!(receipt.ids(), vec!["I9"]);
    assert_eq!(rule.num_calls(), 4);
}

#[tokio::test]
async fn gives_up_throttled_after_bounded_attempts() {
    let rule = mock!(Client::create_invalidation)
        .sequence()
        .error(too_many)
        .repeatedly()
        .build();
    let client = mock_client!(aws_sdk_cloudfront, [&rule]);
    let policy = RetryPolicy::FAST.with_max_attempts(5);
    let err = cdn(client)
        .with_retry_policy(policy)
        .invalidate(&request("r", &["/a"]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Throttled { attempts: 5, .. }),
        "{err:?}"
    );
    assert_eq!(rule.num_calls(), 5);
}

#[tokio::test]
async fn throttling_code_is_retried() {
    let rule = mock!(Client::create_invalidation)
        .sequence()
        .error(|| {
            CreateInvalidationError::generic(
                ErrorMetadata::builder()
                    .code("Throttling")
                    .message("Rate exceeded")
                    .build(),
            )
        })
        .output(|| created("I2"))
        .build();
    let client = mock_client!(aws_sdk_cloudfront, [&rule]);
    let receipt = cdn(client)
        .invalidate(&request("r", &["/a"]))
        .await
        .unwrap();
    assert_eq!(receipt.ids(), vec!["I2"]);
}

#[tokio::test]
async fn errors_that_retrying_cannot_fix_are_not_retried() {
    let denied = mock!(Client::create_invalidation)
        .then_error(|| CreateInvalidationError::AccessDenied(AccessDenied::builder().build()));
    let client = mock_client!(aws_sdk_cloudfront, [&denied]);
    let err = cdn(client)
        .invalidate(&request("r", &["/a"]))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    assert_eq!(denied.num_calls(), 1);

    let missing = mock!(Client::create_invalidation).then_error(|| {
        CreateInvalidationError::NoSuchDistribution(NoSuchDistribution::builder().build())
    });
    let client = mock_client!(aws_sdk_cloudfront, [&missing]);
    let err = cdn(client)
        .invalidate(&request("r", &["/a"]))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(missing.num_calls(), 1);
}

#[tokio::test]
async fn invalid_requests_never_reach_cloudfront() {
    let rule = mock!(Client::create_invalidation).then_output(|| created("I1"));
    let client = mock_client!(aws_sdk_cloudfront, [&rule]);
    let cdn = cdn(client);
    for req in [
        request("r", &[]),
        request("r", &["no-slash"]),
        request("bad ref", &["/a"]),
    ] {
        assert!(matches!(
            cdn.invalidate(&req).await,
            Err(Error::Invalid { .. })
        ));
    }
    assert_eq!(rule.num_calls(), 0);
}

#[tokio::test]
async fn batches_get_suffixed_caller_references() {
    let refs: Arc<Mutex<Vec<(String, i32)>>> = Arc::default();
    let create = {
        let refs = refs.clone();
        mock!(Client::create_invalidation).then_compute_output(move |req| {
            let batch = req.invalidation_batch().unwrap();
            let mut refs = refs.lock().unwrap();
            refs.push((
                batch.caller_reference().to_owned(),
                batch.paths().unwrap().quantity(),
            ));
            created(&format!("I{}", refs.len()))
        })
    };
    let get = mock!(Client::get_invalidation).then_output(|| polled("Completed"));
    let client = mock_client!(aws_sdk_cloudfront, RuleMode::MatchAny, [&create, &get]);
    let paths: Vec<String> = (0..3001).map(|i| format!("/mfe/a/f{i}")).collect();
    let receipt = cdn(client)
        .invalidate(&InvalidationRequest {
            reference: "big".into(),
            paths,
        })
        .await
        .unwrap();
    assert_eq!(receipt.ids(), vec!["I1", "I2"]);
    assert_eq!(
        *refs.lock().unwrap(),
        vec![("big-0".to_owned(), 3000), ("big-1".to_owned(), 1)]
    );
    assert_eq!(get.num_calls(), 1, "waited for batch 0 before batch 1");
}

#[tokio::test]
async fn wait_polls_until_completed() {
    let create = mock!(Client::create_invalidation).then_output(|| created("I1"));
    let get = mock!(Client::get_invalidation)
        .match_requests(|req| req.id() == Some("I1") && req.distribution_id() == Some(DIST))
        .sequence()
        .output(|| polled("InProgress"))
        .times(2)
        .output(|| polled("Completed"))
        .build();
    let client = mock_client!(aws_sdk_cloudfront, [&create, &get]);
    let cdn = cdn(client);
    let receipt = cdn.invalidate(&request("r", &["/a"])).await.unwrap();
    cdn.wait(&receipt, Duration::from_secs(5)).await.unwrap();
    assert_eq!(get.num_calls(), 3);
}

#[tokio::test]
async fn wait_times_out() {
    let create = mock!(Client::create_invalidation).then_output(|| created("I1"));
    let get = mock!(Client::get_invalidation)
        .sequence()
        .output(|| polled("InProgress"))
        .repeatedly()
        .build();
    let client = mock_client!(aws_sdk_cloudfront, [&create, &get]);
    let cdn = cdn(client);
    let receipt = cdn.invalidate(&request("r", &["/a"])).await.unwrap();
    let err = cdn
        .wait(&receipt, Duration::from_millis(30))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Timeout { pending, .. } if pending == &["I1".to_owned()]),
        "{err:?}"
    );
}

#[tokio::test]
async fn ensure_distribution_exists_only_reads() {
    let ok = mock!(Client::get_distribution)
        .match_requests(|req| req.id() == Some(DIST))
        .then_output(|| GetDistributionOutput::builder().build());
    let client = mock_client!(aws_sdk_cloudfront, [&ok]);
    cdn(client).ensure_distribution_exists().await.unwrap();
    assert_eq!(ok.num_calls(), 1);

    let missing = mock!(Client::get_distribution).then_error(|| {
        GetDistributionError::NoSuchDistribution(NoSuchDistribution::builder().build())
    });
    let client = mock_client!(aws_sdk_cloudfront, [&missing]);
    let err = cdn(client).ensure_distribution_exists().await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[test]
fn distribution_id_is_validated() {
    let rule =
        mock!(Client::get_distribution).then_output(|| GetDistributionOutput::builder().build());
    let client = mock_client!(aws_sdk_cloudfront, [&rule]);
    assert!(matches!(
        CloudFrontCdn::new(client.clone(), ""),
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        CloudFrontCdn::new(client, "E1/../x"),
        Err(Error::Invalid { .. })
    ));
}

/// An answer without what it must carry is an error naming it, never an empty id or a status
/// taken for "in progress"; and it is a refusal (retrying reads the same answer).
#[tokio::test]
async fn answers_missing_what_they_must_carry_are_corrupt() {
    let no_id = mock!(Client::create_invalidation).then_output(|| {
        CreateInvalidationOutput::builder()
            .invalidation(invalidation("", "InProgress", "r", &["/a".to_owned()]))
            .build()
    });
    let no_invalidation = mock!(Client::create_invalidation)
        .then_output(|| CreateInvalidationOutput::builder().build());
    for rule in [no_id, no_invalidation] {
        let client = mock_client!(aws_sdk_cloudfront, [&rule]);
        let err = cdn(client)
            .invalidate(&request("r", &["/a"]))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Corrupt { what, reason } if what == "CreateInvalidation answer" && reason.starts_with("it has no Invalidation")),
            "{err:?}"
        );
        assert!(!err.is_retryable());
        assert_eq!(rule.num_calls(), 1, "not retried");
    }

    let create = mock!(Client::create_invalidation).then_output(|| created("I1"));
    let get = mock!(Client::get_invalidation).then_output(|| polled("Paused"));
    let client = mock_client!(aws_sdk_cloudfront, [&create, &get]);
    let cdn = cdn(client);
    let receipt = cdn.invalidate(&request("r", &["/a"])).await.unwrap();
    let err = cdn
        .wait(&receipt, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Corrupt { reason, .. } if reason.contains("\"Paused\"")),
        "{err:?}"
    );
}
