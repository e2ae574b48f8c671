//! Batching within CloudFront's limits, and the fake's service-level strictness.

use gitops_cdn::{
    Error, FakeCdn, InvalidationStatus, MAX_PATHS_PER_BATCH, MAX_WILDCARDS_IN_FLIGHT, split_batches,
};
use proptest::prelude::*;

fn files(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("/mfe/a/f{i}.js")).collect()
}

fn wildcards(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("/mfe/a/d{i}/*")).collect()
}

fn sizes(batches: &[Vec<String>]) -> Vec<usize> {
    batches.iter().map(Vec::len).collect()
}

#[test]
fn no_paths_no_batch() {
    assert!(split_batches(&[]).is_empty());
}

#[test]
fn path_limit_splits() {
    assert_eq!(sizes(&split_batches(&files(3000))), vec![3000]);
    assert_eq!(sizes(&split_batches(&files(3001))), vec![3000, 1]);
    assert_eq!(sizes(&split_batches(&files(6001))), vec![3000, 3000, 1]);
}

#[test]
fn wildcard_limit_splits() {
    assert_eq!(sizes(&split_batches(&wildcards(15))), vec![15]);
    assert_eq!(sizes(&split_batches(&wildcards(16))), vec![15, 1]);
    let mut mixed = wildcards(15);
    mixed.extend(files(100));
    mixed.extend(wildcards(1));
    // Files ride along with the first batch; the 16th wildcard starts a new one.
    assert_eq!(sizes(&split_batches(&mixed)), vec![115, 1]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn batches_respect_limits_and_keep_order(
        kinds in prop::collection::vec(prop::bool::weighted(0.05), 0..7000)
    ) {
        let paths: Vec<String> = kinds
            .iter()
            .enumerate()
            .map(|(i, w)| if *w { format!("/d{i}/*") } else { format!("/f{i}") })
            .collect();
        let batches = split_batches(&paths);
        for b in &batches {
            prop_assert!(!b.is_empty());
            prop_assert!(b.len() <= MAX_PATHS_PER_BATCH);
            prop_assert!(b.iter().filter(|p| p.ends_with('*')).count() <= MAX_WILDCARDS_IN_FLIGHT);
        }
        let flat: Vec<String> = batches.concat();
        prop_assert_eq!(flat, paths);
    }
}

#[test]
fn fake_service_refuses_what_cloudfront_refuses() {
    let fake = FakeCdn::new();
    let invalid = |r: Result<_, Error>| matches!(r, Err(Error::Invalid { .. }));
    assert!(invalid(fake.create_invalidation("r", &[])));
    assert!(invalid(
        fake.create_invalidation("r", &["no-slash".to_owned()])
    ));
    assert!(invalid(fake.create_invalidation("r", &files(3001))));
    assert!(invalid(fake.create_invalidation("", &files(1))));
    assert!(fake.invalidations().is_empty());
    assert_eq!(fake.create_calls(), 4, "refused calls are recorded too");
}

#[test]
fn fake_service_limits_wildcards_and_files_in_flight() {
    let fake = FakeCdn::new().with_polls_to_complete(u32::MAX);
    fake.create_invalidation("a", &wildcards(10)).unwrap();
    let err = fake.create_invalidation("b", &wildcards(6)).unwrap_err();
    assert!(
        matches!(&err, Error::Throttled { reason, .. } if reason.contains("TooManyInvalidationsInProgress")),
        "{err:?}"
    );
    fake.create_invalidation("c", &wildcards(5)).unwrap();
    fake.create_invalidation("d", &files(2000)).unwrap();
    assert!(matches!(
        fake.create_invalidation("e", &files(1001)),
        Err(Error::Throttled { .. })
    ));
    fake.complete_all();
    fake.create_invalidation("b", &wildcards(15)).unwrap();
    fake.create_invalidation("e", &files(3000)).unwrap();
}

#[test]
fn fake_service_caller_reference_semantics() {
    let fake = FakeCdn::new();
    let first = fake.create_invalidation("ref", &files(2)).unwrap();
    assert_eq!(first.status, InvalidationStatus::InProgress);
    let mut reordered = files(2);
    reordered.reverse();
    let again = fake.create_invalidation("ref", &reordered).unwrap();
    assert_eq!(first.id, again.id);
    assert_eq!(fake.invalidations().len(), 1);
    let err = fake.create_invalidation("ref", &files(3)).unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { reason, .. } if reason.contains("InvalidationBatchAlreadyExists")),
        "{err:?}"
    );
}
