//! Conformance suite for [`Cdn`] backends: `pub async fn` checks that panic on failure, run
//! against the fake, the local log and CloudFront on an emulator.
//!
//! Every check takes a `unique` string used to build references, so checks can share one
//! backend (one distribution, one log file) without colliding. Every check waits for the
//! invalidations it created, so none is left in flight for the next.

use std::time::Duration;

use crate::{
    Cdn, Error, InvalidationReceipt, InvalidationRequest, InvalidationStatus, MAX_PATHS_PER_BATCH,
    MAX_WILDCARDS_IN_FLIGHT,
};

const WAIT: Duration = Duration::from_mins(1);

fn request(reference: String, paths: &[&str]) -> InvalidationRequest {
    InvalidationRequest {
        reference,
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    }
}

/// All checks; for backends that enforce caller-reference idempotency like CloudFront.
pub async fn run_all(cdn: &dyn Cdn, unique: &str) {
    run_portable(cdn, unique).await;
    same_reference_is_idempotent(cdn, unique).await;
    reused_reference_with_other_paths_conflicts(cdn, unique).await;
}

/// The checks that hold on emulators that do not enforce `CallerReference` (moto).
pub async fn run_portable(cdn: &dyn Cdn, unique: &str) {
    invalidate_and_wait(cdn, unique).await;
    refuses_bad_requests(cdn, unique).await;
    deduplicates_paths(cdn, unique).await;
    batches_over_path_limit(cdn, unique).await;
    batches_over_wildcard_limit(cdn, unique).await;
    wait_on_unknown_invalidation_is_not_found(cdn).await;
}

/// One batch, reference as caller reference, completes within the wait.
pub async fn invalidate_and_wait(cdn: &dyn Cdn, unique: &str) {
    let reference = format!("{unique}-basic");
    let receipt = cdn
        .invalidate(&request(
            reference.clone(),
            &["/importmap.json", "/mfe/checkout/remoteEntry.js"],
        ))
        .await
        .expect("invalidate");
    assert_eq!(receipt.reference, reference);
    assert_eq!(receipt.batches.len(), 1, "{receipt:?}");
    assert_eq!(receipt.batches[0].caller_reference, reference);
    assert_eq!(receipt.batches[0].path_count, 2);
    assert!(!receipt.batches[0].id.is_empty());
    cdn.wait(&receipt, WAIT).await.expect("wait");
}

/// Empty lists, relative paths, misplaced wildcards, whitespace and bad references are
/// refused before anything is sent.
pub async fn refuses_bad_requests(cdn: &dyn Cdn, unique: &str) {
    let reference = format!("{unique}-bad");
    let cases: Vec<(String, Vec<&str>)> = vec![
        (reference.clone(), vec![]),
        (reference.clone(), vec!["mfe/checkout/remoteEntry.js"]),
        (reference.clone(), vec!["/mfe/*/remoteEntry.js"]),
        (reference.clone(), vec!["/mfe/checkout/a b.js"]),
        (reference.clone(), vec!["/mfe/checkout/**"]),
        (String::new(), vec!["/importmap.json"]),
        (format!("{unique} spaced"), vec!["/importmap.json"]),
        ("x".repeat(500), vec!["/importmap.json"]),
    ];
    for (reference, paths) in cases {
        let req = request(reference, &paths);
        match cdn.invalidate(&req).await {
            Err(Error::Invalid { .. }) => {}
            other => panic!("{req:?} must be refused as invalid, got {other:?}"),
        }
    }
}

/// Duplicates are sent once.
pub async fn deduplicates_paths(cdn: &dyn Cdn, unique: &str) {
    let receipt = cdn
        .invalidate(&request(
            format!("{unique}-dedup"),
            &["/mfe/a/x.js", "/mfe/a/x.js", "/mfe/a/y.js"],
        ))
        .await
        .expect("invalidate");
    assert_eq!(receipt.batches.len(), 1);
    assert_eq!(receipt.batches[0].path_count, 2);
    cdn.wait(&receipt, WAIT).await.expect("wait");
}

/// 3,001 paths need two batches, referenced `<reference>-0` and `<reference>-1`.
pub async fn batches_over_path_limit(cdn: &dyn Cdn, unique: &str) {
    let reference = format!("{unique}-many");
    let paths: Vec<String> = (0..=MAX_PATHS_PER_BATCH)
        .map(|i| format!("/mfe/big/f{i}.js"))
        .collect();
    let receipt = cdn
        .invalidate(&InvalidationRequest {
            reference: reference.clone(),
            paths,
        })
        .await
        .expect("invalidate");
    let shape: Vec<(String, usize)> = receipt
        .batches
        .iter()
        .map(|b| (b.caller_reference.clone(), b.path_count))
        .collect();
    assert_eq!(
        shape,
        vec![
            (format!("{reference}-0"), MAX_PATHS_PER_BATCH),
            (format!("{reference}-1"), 1)
        ]
    );
    cdn.wait(&receipt, WAIT).await.expect("wait");
}

/// 16 wildcards need two batches (at most 15 wildcards in flight).
pub async fn batches_over_wildcard_limit(cdn: &dyn Cdn, unique: &str) {
    let reference = format!("{unique}-wild");
    let paths: Vec<String> = (0..=MAX_WILDCARDS_IN_FLIGHT)
        .map(|i| format!("/mfe/w{i}/*"))
        .collect();
    let receipt = cdn
        .invalidate(&InvalidationRequest {
            reference: reference.clone(),
            paths,
        })
        .await
        .expect("invalidate");
    let counts: Vec<usize> = receipt.batches.iter().map(|b| b.path_count).collect();
    assert_eq!(counts, vec![MAX_WILDCARDS_IN_FLIGHT, 1]);
    cdn.wait(&receipt, WAIT).await.expect("wait");
}

/// Waiting on an id the backend never issued is `NotFound`.
pub async fn wait_on_unknown_invalidation_is_not_found(cdn: &dyn Cdn) {
    let receipt = InvalidationReceipt {
        reference: "unknown".to_owned(),
        batches: vec![crate::BatchReceipt {
            id: "INOSUCHINVALIDATION".to_owned(),
            caller_reference: "unknown".to_owned(),
            path_count: 1,
            status: InvalidationStatus::InProgress,
        }],
    };
    match cdn.wait(&receipt, Duration::from_secs(5)).await {
        Err(Error::NotFound { .. }) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// The same reference and paths twice: the same invalidation, not a second one.
pub async fn same_reference_is_idempotent(cdn: &dyn Cdn, unique: &str) {
    let req = request(
        format!("{unique}-idem"),
        &["/mfe/checkout/remoteEntry.js", "/importmap.json"],
    );
    let first = cdn.invalidate(&req).await.expect("first");
    // Paths in another order are the same batch.
    let mut reordered = req.clone();
    reordered.paths.reverse();
    let second = cdn.invalidate(&reordered).await.expect("second");
    assert_eq!(
        first.ids(),
        second.ids(),
        "a retry must not invalidate twice"
    );
    cdn.wait(&second, WAIT).await.expect("wait");
    // Still the same after completion.
    let third = cdn.invalidate(&req).await.expect("third");
    assert_eq!(first.ids(), third.ids());
}

/// The same reference with other paths is a conflict.
pub async fn reused_reference_with_other_paths_conflicts(cdn: &dyn Cdn, unique: &str) {
    let reference = format!("{unique}-conflict");
    let first = cdn
        .invalidate(&request(reference.clone(), &["/mfe/a/remoteEntry.js"]))
        .await
        .expect("first");
    cdn.wait(&first, WAIT).await.expect("wait");
    match cdn
        .invalidate(&request(reference, &["/mfe/a/other.js"]))
        .await
    {
        Err(Error::Conflict { .. }) => {}
        other => panic!("expected Conflict, got {other:?}"),
    }
}
