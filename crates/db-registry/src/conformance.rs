//! Conformance suite for [`Registry`] implementations, run against every backend.
//!
//! Each check panics (with a message) when the backend breaks the trait's contract. Checks use
//! fresh, unique environment names, so they can share one registry, run in parallel and run
//! against a non-empty table. [`run_all`] runs every check.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use time::OffsetDateTime;
use time::macros::datetime;

use crate::{Entry, Error, MAX_SEQUENCE, Registry};

/// A unique, valid environment name (`<prefix>-<time>-<counter>`).
pub fn unique_environment(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    format!(
        "{prefix}-{nanos:x}-{}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A valid entry for `(environment, mfe)` at `sequence`, with a non-UTC offset and
/// nanoseconds in `deployed_at` so that a lossy time round trip is caught.
pub fn sample_entry(environment: &str, mfe: &str, sequence: u64) -> Entry {
    let seconds = i64::try_from(sequence % 1_000_000).unwrap_or_default();
    Entry {
        environment: environment.to_owned(),
        mfe: mfe.to_owned(),
        version: format!("1.{sequence}.0"),
        sequence,
        request_id: format!("req-{environment}-{mfe}-{sequence}"),
        sha: format!("{sequence:040x}"),
        deployed_at: datetime!(2026-11-26 21:00:00.123456789 +02:00)
            + time::Duration::seconds(seconds),
        deployed_by: "octocat".to_owned(),
        rollback: sequence.is_multiple_of(5),
    }
}

/// Run every check of the suite on `registry`.
pub async fn run_all(registry: Arc<dyn Registry>) {
    let r = registry.as_ref();
    get_absent(r).await;
    commit_then_get(r).await;
    list_sorted_and_scoped(r).await;
    stale_refused(r).await;
    duplicate_refused(r).await;
    identical_replay_is_ok(r).await;
    history_ascending_and_complete(r).await;
    invalid_refused(r).await;
    sequence_bounds(r).await;
    any_order_leaves_max_live(r, &[3, 1, 4, 15, 9, 2, 6, 5, 35, 8]).await;
    concurrent_commits(Arc::clone(&registry), 16).await;
}

/// Nothing committed: `get` is `None`, `list` and `history` are empty.
pub async fn get_absent(registry: &dyn Registry) {
    let env = unique_environment("absent");
    assert_eq!(registry.get(&env, "shell").await.unwrap(), None);
    assert_eq!(registry.list(&env).await.unwrap(), vec![]);
    assert_eq!(registry.history(&env, "shell").await.unwrap(), vec![]);
}

/// A committed entry comes back equal, field for field, from `get`, `list` and `history`.
pub async fn commit_then_get(registry: &dyn Registry) {
    let env = unique_environment("get");
    let entry = sample_entry(&env, "shell", 1);
    registry.commit(&entry).await.unwrap();
    assert_eq!(
        registry.get(&env, "shell").await.unwrap(),
        Some(entry.clone())
    );
    assert_eq!(registry.list(&env).await.unwrap(), vec![entry.clone()]);
    assert_eq!(
        registry.history(&env, "shell").await.unwrap(),
        vec![entry.clone()]
    );
    // Another MFE of the same environment is still absent.
    assert_eq!(registry.get(&env, "shell-2").await.unwrap(), None);

    let mut next = sample_entry(&env, "shell", 2);
    next.rollback = true;
    next.deployed_at = datetime!(2026-11-27 08:30:00 -05:00);
    registry.commit(&next).await.unwrap();
    assert_eq!(registry.get(&env, "shell").await.unwrap(), Some(next));
}

/// `list` returns the live entries of one environment only, sorted by MFE name.
pub async fn list_sorted_and_scoped(registry: &dyn Registry) {
    let env = unique_environment("list");
    // An environment whose name starts with `env`, and one that `env` starts with.
    let longer = format!("{env}x");
    for (mfe, sequence) in [
        ("zeta", 1),
        ("alpha", 1),
        ("mid", 1),
        ("Mid", 1),
        ("mid", 7),
    ] {
        registry
            .commit(&sample_entry(&env, mfe, sequence))
            .await
            .unwrap();
    }
    registry
        .commit(&sample_entry(&longer, "beta", 1))
        .await
        .unwrap();
    let listed = registry.list(&env).await.unwrap();
    let names: Vec<&str> = listed.iter().map(|e| e.mfe.as_str()).collect();
    assert_eq!(names, ["Mid", "alpha", "mid", "zeta"]);
    assert_eq!(
        listed[2],
        sample_entry(&env, "mid", 7),
        "list shows the newest"
    );
    assert_eq!(
        registry.list(&longer).await.unwrap(),
        vec![sample_entry(&longer, "beta", 1)]
    );
}

/// A lower sequence is refused with `Stale { stored, attempted }` and changes nothing.
pub async fn stale_refused(registry: &dyn Registry) {
    let env = unique_environment("stale");
    let live = sample_entry(&env, "shell", 10);
    registry.commit(&live).await.unwrap();
    let err = registry
        .commit(&sample_entry(&env, "shell", 9))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Stale {
                stored: 10,
                attempted: 9
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert_eq!(
        registry.get(&env, "shell").await.unwrap(),
        Some(live.clone())
    );
    assert_eq!(registry.history(&env, "shell").await.unwrap(), vec![live]);
}

/// A different entry with the live sequence is refused with `Duplicate` and changes nothing.
pub async fn duplicate_refused(registry: &dyn Registry) {
    let env = unique_environment("dup");
    let live = sample_entry(&env, "shell", 4);
    registry.commit(&live).await.unwrap();
    let mut other = live.clone();
    other.version = "9.9.9".into();
    let err = registry.commit(&other).await.unwrap_err();
    assert!(matches!(err, Error::Duplicate { sequence: 4 }), "{err:?}");
    assert!(!err.is_retryable());
    // A difference in any single field makes it a duplicate, not a replay.
    let mut other = live.clone();
    other.rollback = !other.rollback;
    assert!(matches!(
        registry.commit(&other).await,
        Err(Error::Duplicate { sequence: 4 })
    ));
    let mut other = live.clone();
    other.deployed_at += time::Duration::nanoseconds(1);
    assert!(matches!(
        registry.commit(&other).await,
        Err(Error::Duplicate { sequence: 4 })
    ));
    assert_eq!(
        registry.get(&env, "shell").await.unwrap(),
        Some(live.clone())
    );
    assert_eq!(registry.history(&env, "shell").await.unwrap(), vec![live]);
}

/// Committing the live entry again (a re-run) succeeds and writes nothing.
pub async fn identical_replay_is_ok(registry: &dyn Registry) {
    let env = unique_environment("replay");
    let live = sample_entry(&env, "shell", 3);
    registry.commit(&live).await.unwrap();
    registry.commit(&live).await.unwrap();
    registry.commit(&live).await.unwrap();
    assert_eq!(
        registry.history(&env, "shell").await.unwrap(),
        vec![live.clone()]
    );
    // Replaying an older, superseded entry is stale, not a replay.
    registry
        .commit(&sample_entry(&env, "shell", 5))
        .await
        .unwrap();
    assert!(matches!(
        registry.commit(&live).await,
        Err(Error::Stale {
            stored: 5,
            attempted: 3
        })
    ));
}

/// History holds every successful commit of the pair, ascending, and nothing else.
pub async fn history_ascending_and_complete(registry: &dyn Registry) {
    let env = unique_environment("hist");
    let mut expected = Vec::new();
    // 9 and 10 sort differently as text and as numbers; 2 and 7 are refused (stale).
    for sequence in [1, 9, 2, 10, 7, 100, 1_000_000_000_001] {
        let entry = sample_entry(&env, "shell", sequence);
        match registry.commit(&entry).await {
            Ok(()) => expected.push(entry),
            Err(Error::Stale { .. }) => {}
            Err(e) => panic!("commit {sequence}: {e:?}"),
        }
        // Another MFE whose name extends this one must not leak into its history.
        registry
            .commit(&sample_entry(&env, "shell-2", sequence + 1_000))
            .await
            .ok();
    }
    let sequences: Vec<u64> = expected.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, [1, 9, 10, 100, 1_000_000_000_001]);
    let history = registry.history(&env, "shell").await.unwrap();
    assert_eq!(history, expected);
    assert_eq!(
        registry.get(&env, "shell").await.unwrap().as_ref(),
        history.last(),
        "the last history entry is the live one"
    );
}

/// Invalid names and entries are `Invalid` and write nothing.
pub async fn invalid_refused(registry: &dyn Registry) {
    let env = unique_environment("invalid");
    for (environment, mfe) in [("", "shell"), (env.as_str(), ""), ("a#b", "shell")] {
        assert!(matches!(
            registry.get(environment, mfe).await,
            Err(Error::Invalid { .. })
        ));
        assert!(matches!(
            registry.history(environment, mfe).await,
            Err(Error::Invalid { .. })
        ));
    }
    assert!(matches!(
        registry.list("env/with/slash").await,
        Err(Error::Invalid {
            field: "environment",
            ..
        })
    ));
    let mut bad = sample_entry(&env, "shell", 1);
    bad.mfe = "shell#LIVE".into();
    assert!(matches!(
        registry.commit(&bad).await,
        Err(Error::Invalid { field: "mfe", .. })
    ));
    let mut bad = sample_entry(&env, "shell", 1);
    bad.version = String::new();
    assert!(matches!(
        registry.commit(&bad).await,
        Err(Error::Invalid {
            field: "version",
            ..
        })
    ));
    assert_eq!(registry.list(&env).await.unwrap(), vec![]);
}

/// Sequence 0 and above `MAX_SEQUENCE` are invalid; `MAX_SEQUENCE` itself works.
pub async fn sequence_bounds(registry: &dyn Registry) {
    let env = unique_environment("bounds");
    for sequence in [0, MAX_SEQUENCE + 1, u64::MAX] {
        assert!(
            matches!(
                registry
                    .commit(&sample_entry(&env, "shell", sequence))
                    .await,
                Err(Error::Invalid {
                    field: "sequence",
                    ..
                })
            ),
            "sequence {sequence}"
        );
    }
    let top = sample_entry(&env, "shell", MAX_SEQUENCE);
    registry.commit(&top).await.unwrap();
    assert_eq!(
        registry.get(&env, "shell").await.unwrap(),
        Some(top.clone())
    );
    assert_eq!(registry.history(&env, "shell").await.unwrap(), vec![top]);
}

/// Committing `sequences` one after the other, in that order: each one succeeds exactly when
/// it is higher than every earlier one, the maximum ends live, and history is the ascending
/// list of the successful ones. Sequences must be valid (`1..=MAX_SEQUENCE`).
pub async fn any_order_leaves_max_live(registry: &dyn Registry, sequences: &[u64]) {
    let env = unique_environment("order");
    let mut max = 0;
    let mut written = Vec::new();
    for &sequence in sequences {
        let entry = sample_entry(&env, "shell", sequence);
        let result = registry.commit(&entry).await;
        match result {
            Ok(()) if sequence > max => {
                max = sequence;
                written.push(entry);
            }
            Ok(()) if sequence == max => {} // identical replay
            Err(Error::Stale { stored, attempted })
                if sequence < max && stored == max && attempted == sequence => {}
            other => panic!("commit {sequence} after max {max}: {other:?}"),
        }
    }
    let live = registry.get(&env, "shell").await.unwrap();
    assert_eq!(live.map(|e| e.sequence), (max > 0).then_some(max));
    assert_eq!(registry.history(&env, "shell").await.unwrap(), written);
}

/// `n` concurrent commits of distinct sequences for one pair (spawned tasks, shuffled order):
/// the highest ends live, every commit that returned `Ok` is in the history and no refused
/// one is, and every refusal is `Stale` with a higher stored sequence.
pub async fn concurrent_commits(registry: Arc<dyn Registry>, n: u64) {
    assert!(n > 0);
    let env = unique_environment("race");
    // A fixed permutation of 1..=n, so the highest is neither first nor last.
    let mut sequences: Vec<u64> = (1..=n).collect();
    let len = sequences.len();
    for i in 0..len {
        sequences.swap(i, (i * 7 + 3) % len);
    }
    let tasks: Vec<_> = sequences
        .iter()
        .map(|&sequence| {
            let registry = Arc::clone(&registry);
            let entry = sample_entry(&env, "shell", sequence);
            tokio::spawn(async move { (sequence, registry.commit(&entry).await) })
        })
        .collect();
    let mut succeeded = BTreeSet::new();
    for task in tasks {
        let (sequence, result) = task.await.expect("commit task panicked");
        match result {
            Ok(()) => {
                succeeded.insert(sequence);
            }
            Err(Error::Stale { stored, attempted }) => {
                assert_eq!(attempted, sequence);
                assert!(stored > attempted, "stale {attempted} against {stored}");
            }
            Err(e) => panic!("concurrent commit {sequence}: {e:?}"),
        }
    }
    assert!(succeeded.contains(&n), "the highest sequence {n} must win");
    let live = registry.get(&env, "shell").await.unwrap().expect("live");
    assert_eq!(live, sample_entry(&env, "shell", n));
    let history: Vec<u64> = registry
        .history(&env, "shell")
        .await
        .unwrap()
        .iter()
        .map(|e| e.sequence)
        .collect();
    let expected: Vec<u64> = succeeded.into_iter().collect();
    assert_eq!(
        history, expected,
        "history = exactly the successful commits"
    );
}
