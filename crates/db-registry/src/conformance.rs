//! Conformance suite for [`Registry`] implementations, run against every backend.
//!
//! Each check panics (with a message) when the backend breaks the trait's contract. Checks use
//! fresh, unique environment names, so they can share one registry, run in parallel and run
//! against a non-empty table. [`run_all`] runs every check.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gitops_event_model::{CommitSha, EnvironmentName, Login, MfeName, RequestId, Version};
use time::OffsetDateTime;
use time::macros::datetime;

use crate::{Entry, Error, Invalidation, MAX_SEQUENCE, Registry};

/// `name` as an environment name.
///
/// # Panics
/// When `name` is not one (a bug in the test).
pub fn env_name(name: &str) -> EnvironmentName {
    EnvironmentName::parse(name).unwrap_or_else(|e| panic!("environment {name:?}: {e}"))
}

/// `name` as an MFE name.
///
/// # Panics
/// When `name` is not one (a bug in the test).
pub fn mfe_name(name: &str) -> MfeName {
    MfeName::parse(name).unwrap_or_else(|e| panic!("MFE {name:?}: {e}"))
}

/// A unique name, `<prefix>-<time>-<counter>` (lowercase letters, digits and `-` when the
/// prefix is), also usable as a DynamoDB table name.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    format!(
        "{prefix}-{nanos:x}-{}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A unique environment name ([`unique_name`]).
///
/// # Panics
/// When `prefix` makes it an invalid environment name.
pub fn unique_environment(prefix: &str) -> EnvironmentName {
    env_name(&unique_name(prefix))
}

/// The request id of the sample entry `(environment, mfe, sequence)`: a hyphenated UUID, the
/// same for the same arguments and different for different ones within a pair.
pub fn sample_request_id(environment: &EnvironmentName, mfe: &MfeName, sequence: u64) -> RequestId {
    // FNV-1a over the pair, then the sequence: 64 + 64 bits.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in environment
        .as_str()
        .bytes()
        .chain([b'/'])
        .chain(mfe.as_str().bytes())
    {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let text = format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hash >> 32,
        (hash >> 16) & 0xffff,
        hash & 0xffff,
        sequence >> 48,
        sequence & 0xffff_ffff_ffff
    );
    RequestId::parse(&text).unwrap_or_else(|e| panic!("request id {text}: {e}"))
}

/// A valid pending invalidation under `reference`: paths in no sorted order (the order must
/// survive), a wildcard, an escape and a non-ASCII character.
pub fn sample_invalidation(reference: &str) -> Invalidation {
    Invalidation {
        reference: reference.to_owned(),
        paths: vec![
            "/mfe/shell/remoteEntry.js".to_owned(),
            "/importmap.json".to_owned(),
            "/mfe/shell/caf%C3%A9/*".to_owned(),
            "/mfe/shell/\u{e9}t\u{e9}.css".to_owned(),
        ],
    }
}

/// A valid entry for `(environment, mfe)` at `sequence`, with a non-UTC offset and
/// nanoseconds in `deployed_at` so that a lossy time round trip is caught, and a pending
/// invalidation (`deploy-<sequence>`) unless `sequence` is a multiple of 3.
///
/// # Panics
/// Never for a `sequence` up to `u64::MAX`.
pub fn sample_entry(environment: &EnvironmentName, mfe: &MfeName, sequence: u64) -> Entry {
    let version = format!("1.{sequence}.0");
    Entry {
        environment: environment.clone(),
        mfe: mfe.clone(),
        version: Version::parse(&version).unwrap_or_else(|e| panic!("{version}: {e}")),
        sequence,
        request_id: sample_request_id(environment, mfe, sequence),
        sha: CommitSha::parse(&format!("{sequence:040x}"))
            .unwrap_or_else(|e| panic!("sha of {sequence}: {e}")),
        deployed_at: datetime!(2026-11-26 21:00:00.123456789 +02:00)
            + std::time::Duration::from_secs(sequence % 1_000_000),
        deployed_by: Login::parse("octocat").unwrap_or_else(|e| panic!("login: {e}")),
        rollback: sequence.is_multiple_of(5),
        invalidation: (!sequence.is_multiple_of(3))
            .then(|| sample_invalidation(&format!("deploy-{sequence}"))),
    }
}

/// [`sample_entry`] with the given pending invalidation.
pub fn sample_entry_with(
    environment: &EnvironmentName,
    mfe: &MfeName,
    sequence: u64,
    invalidation: Option<Invalidation>,
) -> Entry {
    Entry {
        invalidation,
        ..sample_entry(environment, mfe, sequence)
    }
}

/// Run every check of the suite on `registry`.
pub async fn run_all(registry: Arc<dyn Registry>) {
    let r = registry.as_ref();
    get_absent(r).await;
    commit_then_get(r).await;
    list_sorted_and_scoped(r).await;
    names_are_the_requests_names(r).await;
    version_text_is_kept(r).await;
    stale_refused(r).await;
    duplicate_refused(r).await;
    identical_replay_is_ok(r).await;
    history_ascending_and_complete(r).await;
    invalid_refused(r).await;
    sequence_bounds(r).await;
    any_order_leaves_max_live(r, &[3, 1, 4, 15, 9, 2, 6, 5, 35, 8]).await;
    concurrent_commits(Arc::clone(&registry), 16).await;
    invalidation_round_trip(r).await;
    settle_clears_once(r).await;
    settle_mismatch_changes_nothing(r).await;
    newer_commit_keeps_its_own_invalidation(r).await;
    replay_ignores_invalidation(r).await;
    settle_invalid_refused(r).await;
    settle_races_newer_commit(Arc::clone(&registry), 8).await;
}

/// Nothing committed: `get` is `None`, `list` and `history` are empty.
pub async fn get_absent(registry: &dyn Registry) {
    let env = unique_environment("absent");
    let shell = mfe_name("shell");
    assert_eq!(registry.get(&env, &shell).await.unwrap(), None);
    assert_eq!(registry.list(&env).await.unwrap(), vec![]);
    assert_eq!(registry.history(&env, &shell).await.unwrap(), vec![]);
}

/// A committed entry comes back equal, field for field, from `get`, `list` and `history`.
pub async fn commit_then_get(registry: &dyn Registry) {
    let env = unique_environment("get");
    let shell = mfe_name("shell");
    let entry = sample_entry(&env, &shell, 1);
    registry.commit(&entry).await.unwrap();
    assert_eq!(
        registry.get(&env, &shell).await.unwrap(),
        Some(entry.clone())
    );
    assert_eq!(registry.list(&env).await.unwrap(), vec![entry.clone()]);
    assert_eq!(
        registry.history(&env, &shell).await.unwrap(),
        vec![entry.clone()]
    );
    // Another MFE of the same environment is still absent.
    assert_eq!(
        registry.get(&env, &mfe_name("shell-2")).await.unwrap(),
        None
    );

    let mut next = sample_entry(&env, &shell, 2);
    next.rollback = true;
    next.deployed_at = datetime!(2026-11-27 08:30:00 -05:00);
    registry.commit(&next).await.unwrap();
    assert_eq!(registry.get(&env, &shell).await.unwrap(), Some(next));
}

/// `list` returns the live entries of one environment only, sorted by MFE name (byte order).
pub async fn list_sorted_and_scoped(registry: &dyn Registry) {
    let env = unique_environment("list");
    // Environments whose names start with `env`'s, and so do their storage keys.
    let longer = env_name(&format!("{env}x"));
    let dotted = env_name(&format!("{env}.x"));
    for (mfe, sequence) in [
        ("zeta", 1),
        ("mida", 1),
        ("alpha", 1),
        ("mid", 1),
        ("mid-a", 1),
        ("mid0", 1),
        ("mid", 7),
    ] {
        registry
            .commit(&sample_entry(&env, &mfe_name(mfe), sequence))
            .await
            .unwrap();
    }
    for other in [&longer, &dotted] {
        registry
            .commit(&sample_entry(other, &mfe_name("beta"), 1))
            .await
            .unwrap();
    }
    let listed = registry.list(&env).await.unwrap();
    let names: Vec<&str> = listed.iter().map(|e| e.mfe.as_str()).collect();
    assert_eq!(names, ["alpha", "mid", "mid-a", "mid0", "mida", "zeta"]);
    assert_eq!(
        listed[1],
        sample_entry(&env, &mfe_name("mid"), 7),
        "list shows the newest"
    );
    for other in [&longer, &dotted] {
        assert_eq!(
            registry.list(other).await.unwrap(),
            vec![sample_entry(other, &mfe_name("beta"), 1)]
        );
    }
}

/// Names are exactly what a request may carry, kept as written: environments that differ only
/// in case (`Prod`, `prod`) or by a dotted suffix are separate, and the longest names (63
/// characters each) work; `get`, `list`, `history` and `settle_invalidation` never mix them.
pub async fn names_are_the_requests_names(registry: &dyn Registry) {
    let base = unique_name("case");
    let lower = env_name(&base);
    let upper = env_name(&base.to_ascii_uppercase());
    let dotted = env_name(&format!("{base}.eu"));
    let longest_env = env_name(&format!("{base}{}", "X".repeat(63 - base.len())));
    let longest_mfe = mfe_name(&format!("m{}", "-9".repeat(31)));
    assert_eq!(
        (longest_env.as_str().len(), longest_mfe.as_str().len()),
        (63, 63)
    );
    let shell = mfe_name("shell");
    let environments = [&lower, &upper, &dotted, &longest_env];
    // A different sequence in each, so a mix-up cannot go unnoticed.
    for (i, env) in (1u64..).zip(environments) {
        for mfe in [&shell, &longest_mfe] {
            registry
                .commit(&sample_entry(env, mfe, i))
                .await
                .unwrap_or_else(|e| panic!("commit {env}/{mfe}: {e:?}"));
        }
    }
    for (i, env) in (1u64..).zip(environments) {
        for mfe in [&shell, &longest_mfe] {
            let entry = sample_entry(env, mfe, i);
            assert_eq!(
                registry.get(env, mfe).await.unwrap(),
                Some(entry.clone()),
                "{env}/{mfe}"
            );
            assert_eq!(registry.history(env, mfe).await.unwrap(), vec![entry]);
        }
        let listed: Vec<(String, u64)> = registry
            .list(env)
            .await
            .unwrap()
            .iter()
            .map(|e| (e.environment.to_string(), e.sequence))
            .collect();
        assert_eq!(
            listed,
            [(env.to_string(), i), (env.to_string(), i)],
            "list {env}"
        );
    }
    // Settling in `Prod` does not touch `prod`, whose entry has the same reference.
    let (sequence, reference) = (1, "deploy-1");
    assert!(
        !registry
            .settle_invalidation(&upper, &shell, sequence, reference)
            .await
            .unwrap()
    );
    assert!(
        registry
            .settle_invalidation(&lower, &shell, sequence, reference)
            .await
            .unwrap()
    );
    assert_eq!(
        registry
            .get(&lower, &shell)
            .await
            .unwrap()
            .map(|e| e.invalidation),
        Some(None)
    );
    assert_eq!(
        registry.get(&upper, &shell).await.unwrap(),
        Some(sample_entry(&upper, &shell, 2))
    );
}

/// A version comes back as written (pre-release and build metadata included), and a version
/// that differs only in build metadata is another deploy: `Duplicate` at the same sequence.
pub async fn version_text_is_kept(registry: &dyn Registry) {
    let env = unique_environment("version");
    let shell = mfe_name("shell");
    let text = "10.0.0-rc.1.x-y+build.007.sha-5114f85";
    let mut entry = sample_entry(&env, &shell, 1);
    entry.version = Version::parse(text).unwrap();
    registry.commit(&entry).await.unwrap();
    let read = registry.get(&env, &shell).await.unwrap().expect("live");
    assert_eq!(read.version.to_string(), text);
    assert_eq!(read, entry);
    let mut other = entry.clone();
    other.version = Version::parse("10.0.0-rc.1.x-y+build.008.sha-5114f85").unwrap();
    assert!(matches!(
        registry.commit(&other).await,
        Err(Error::Duplicate { sequence: 1 })
    ));
    assert_eq!(registry.history(&env, &shell).await.unwrap(), vec![entry]);
}

/// A lower sequence is refused with `Stale { stored, attempted }` and changes nothing.
pub async fn stale_refused(registry: &dyn Registry) {
    let env = unique_environment("stale");
    let shell = mfe_name("shell");
    let live = sample_entry(&env, &shell, 10);
    registry.commit(&live).await.unwrap();
    let err = registry
        .commit(&sample_entry(&env, &shell, 9))
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
        registry.get(&env, &shell).await.unwrap(),
        Some(live.clone())
    );
    assert_eq!(registry.history(&env, &shell).await.unwrap(), vec![live]);
}

/// A different entry with the live sequence is refused with `Duplicate` and changes nothing.
pub async fn duplicate_refused(registry: &dyn Registry) {
    let env = unique_environment("dup");
    let shell = mfe_name("shell");
    let live = sample_entry(&env, &shell, 4);
    registry.commit(&live).await.unwrap();
    let mut other = live.clone();
    other.version = Version::parse("9.9.9").unwrap();
    let err = registry.commit(&other).await.unwrap_err();
    assert!(matches!(err, Error::Duplicate { sequence: 4 }), "{err:?}");
    assert!(!err.is_retryable());
    // A difference in any single field makes it a duplicate, not a replay.
    let mut variants = Vec::new();
    let mut other = live.clone();
    other.rollback = !other.rollback;
    variants.push(other);
    let mut other = live.clone();
    other.deployed_at += time::Duration::nanoseconds(1);
    variants.push(other);
    let mut other = live.clone();
    other.request_id = RequestId::generate();
    variants.push(other);
    let mut other = live.clone();
    other.sha = CommitSha::parse(&"f".repeat(40)).unwrap();
    variants.push(other);
    let mut other = live.clone();
    other.deployed_by = Login::parse("renovate[bot]").unwrap();
    variants.push(other);
    for other in variants {
        assert!(
            matches!(
                registry.commit(&other).await,
                Err(Error::Duplicate { sequence: 4 })
            ),
            "{other:?}"
        );
    }
    assert_eq!(
        registry.get(&env, &shell).await.unwrap(),
        Some(live.clone())
    );
    assert_eq!(registry.history(&env, &shell).await.unwrap(), vec![live]);
}

/// Committing the live entry again (a re-run) succeeds and writes nothing.
pub async fn identical_replay_is_ok(registry: &dyn Registry) {
    let env = unique_environment("replay");
    let shell = mfe_name("shell");
    let live = sample_entry(&env, &shell, 3);
    registry.commit(&live).await.unwrap();
    registry.commit(&live).await.unwrap();
    registry.commit(&live).await.unwrap();
    assert_eq!(
        registry.history(&env, &shell).await.unwrap(),
        vec![live.clone()]
    );
    // Replaying an older, superseded entry is stale, not a replay.
    registry
        .commit(&sample_entry(&env, &shell, 5))
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
    let (shell, shell_2) = (mfe_name("shell"), mfe_name("shell-2"));
    let mut expected = Vec::new();
    let mut max_2 = 0;
    // 9 and 10 sort differently as text and as numbers; 2 and 7 are refused (stale).
    for sequence in [1, 9, 2, 10, 7, 100, 1_000_000_000_001] {
        let entry = sample_entry(&env, &shell, sequence);
        match registry.commit(&entry).await {
            Ok(()) => expected.push(entry),
            Err(Error::Stale { .. }) => {}
            Err(e) => panic!("commit {sequence}: {e:?}"),
        }
        // Another MFE whose name extends this one must not leak into its history.
        let other = sequence + 1_000;
        match registry.commit(&sample_entry(&env, &shell_2, other)).await {
            Ok(()) if other > max_2 => max_2 = other,
            Err(Error::Stale { stored, .. }) if stored == max_2 && other < max_2 => {}
            result => panic!("commit {shell_2} {other} after {max_2}: {result:?}"),
        }
    }
    let sequences: Vec<u64> = expected.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, [1, 9, 10, 100, 1_000_000_000_001]);
    let history = registry.history(&env, &shell).await.unwrap();
    assert_eq!(history, expected);
    assert_eq!(
        registry.get(&env, &shell).await.unwrap().as_ref(),
        history.last(),
        "the last history entry is the live one (nothing settled)"
    );
}

/// Entries the field types allow but the registry cannot store are `Invalid`, name the field
/// and write nothing: a `deployed_at` before RFC 3339's year 0, a sequence out of range, a bad
/// pending invalidation.
pub async fn invalid_refused(registry: &dyn Registry) {
    let env = unique_environment("invalid");
    let shell = mfe_name("shell");
    let mut cases = Vec::new();
    let mut bad = sample_entry(&env, &shell, 1);
    bad.deployed_at = datetime!(-0001-12-31 23:59 UTC);
    cases.push((bad, "deployed_at"));
    cases.push((sample_entry(&env, &shell, 0), "sequence"));
    cases.push((
        sample_entry_with(
            &env,
            &shell,
            1,
            Some(Invalidation {
                reference: "deploy-1".into(),
                paths: vec![],
            }),
        ),
        "invalidation.paths",
    ));
    for (bad, field) in cases {
        let result = registry.commit(&bad).await;
        assert!(
            matches!(&result, Err(Error::Invalid { field: f, .. }) if *f == field),
            "{field}: {result:?}"
        );
        assert!(!result.unwrap_err().is_retryable());
    }
    assert_eq!(registry.list(&env).await.unwrap(), vec![]);
    assert_eq!(registry.history(&env, &shell).await.unwrap(), vec![]);
}

/// Sequence 0 and above `MAX_SEQUENCE` are invalid; `MAX_SEQUENCE` itself works.
pub async fn sequence_bounds(registry: &dyn Registry) {
    let env = unique_environment("bounds");
    let shell = mfe_name("shell");
    for sequence in [0, MAX_SEQUENCE + 1, u64::MAX] {
        assert!(
            matches!(
                registry.commit(&sample_entry(&env, &shell, sequence)).await,
                Err(Error::Invalid {
                    field: "sequence",
                    ..
                })
            ),
            "sequence {sequence}"
        );
    }
    let top = sample_entry(&env, &shell, MAX_SEQUENCE);
    registry.commit(&top).await.unwrap();
    assert_eq!(registry.get(&env, &shell).await.unwrap(), Some(top.clone()));
    assert_eq!(registry.history(&env, &shell).await.unwrap(), vec![top]);
}

/// Committing `sequences` one after the other, in that order: each one succeeds exactly when
/// it is higher than every earlier one, the maximum ends live, and history is the ascending
/// list of the successful ones. Sequences must be valid (`1..=MAX_SEQUENCE`).
pub async fn any_order_leaves_max_live(registry: &dyn Registry, sequences: &[u64]) {
    let env = unique_environment("order");
    let shell = mfe_name("shell");
    let mut max = 0;
    let mut written = Vec::new();
    for &sequence in sequences {
        let entry = sample_entry(&env, &shell, sequence);
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
    let live = registry.get(&env, &shell).await.unwrap();
    assert_eq!(live.map(|e| e.sequence), (max > 0).then_some(max));
    assert_eq!(registry.history(&env, &shell).await.unwrap(), written);
}

/// `n` concurrent commits of distinct sequences for one pair (spawned tasks, shuffled order):
/// the highest ends live, every commit that returned `Ok` is in the history and no refused
/// one is, and every refusal is `Stale` with a higher stored sequence.
pub async fn concurrent_commits(registry: Arc<dyn Registry>, n: u64) {
    assert!(n > 0);
    let env = unique_environment("race");
    let shell = mfe_name("shell");
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
            let entry = sample_entry(&env, &shell, sequence);
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
    let live = registry.get(&env, &shell).await.unwrap().expect("live");
    assert_eq!(live, sample_entry(&env, &shell, n));
    let history: Vec<u64> = registry
        .history(&env, &shell)
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

/// The pending invalidation committed with an entry comes back from `get`, `list` and
/// `history`, paths in their order; `None` comes back as `None`; the largest invalidation
/// accepted is stored whole.
pub async fn invalidation_round_trip(registry: &dyn Registry) {
    let env = unique_environment("inv");
    let (shell, other, big_mfe) = (mfe_name("shell"), mfe_name("other"), mfe_name("big"));
    let pending = sample_entry_with(&env, &shell, 1, Some(sample_invalidation("deploy-a:1")));
    let none = sample_entry_with(&env, &other, 1, None);
    registry.commit(&pending).await.unwrap();
    registry.commit(&none).await.unwrap();
    assert_eq!(
        registry.get(&env, &shell).await.unwrap(),
        Some(pending.clone())
    );
    assert_eq!(
        registry.get(&env, &other).await.unwrap(),
        Some(none.clone())
    );
    assert_eq!(
        registry.list(&env).await.unwrap(),
        vec![none.clone(), pending.clone()]
    );
    assert_eq!(registry.history(&env, &shell).await.unwrap(), vec![pending]);
    assert_eq!(registry.history(&env, &other).await.unwrap(), vec![none]);

    // Many paths, one of the longest length, a longest reference.
    let mut paths: Vec<String> = (0..2_000).map(|i| format!("/mfe/big/f{i:04}.js")).collect();
    paths.push(format!(
        "/{}",
        "x".repeat(crate::MAX_INVALIDATION_PATH_LEN - 1)
    ));
    let big = Invalidation {
        reference: "r".repeat(crate::MAX_INVALIDATION_REFERENCE_LEN),
        paths,
    };
    let entry = sample_entry_with(&env, &big_mfe, 2, Some(big));
    registry.commit(&entry).await.unwrap();
    assert_eq!(
        registry.get(&env, &big_mfe).await.unwrap(),
        Some(entry.clone())
    );
    assert_eq!(registry.history(&env, &big_mfe).await.unwrap(), vec![entry]);
}

/// Settling with the live sequence and the pending reference clears it (`true`) and leaves
/// every other field and the history as they were; settling again is `false`.
pub async fn settle_clears_once(registry: &dyn Registry) {
    let env = unique_environment("settle");
    let shell = mfe_name("shell");
    let entry = sample_entry_with(&env, &shell, 4, Some(sample_invalidation("deploy-4")));
    registry.commit(&entry).await.unwrap();
    assert!(
        registry
            .settle_invalidation(&env, &shell, 4, "deploy-4")
            .await
            .unwrap(),
        "the matching pending invalidation is cleared"
    );
    let settled = Entry {
        invalidation: None,
        ..entry.clone()
    };
    assert_eq!(
        registry.get(&env, &shell).await.unwrap(),
        Some(settled.clone())
    );
    assert_eq!(registry.list(&env).await.unwrap(), vec![settled]);
    assert_eq!(
        registry.history(&env, &shell).await.unwrap(),
        vec![entry],
        "history keeps what was committed"
    );
    assert!(
        !registry
            .settle_invalidation(&env, &shell, 4, "deploy-4")
            .await
            .unwrap(),
        "already settled"
    );
}

/// Settling with anything but the live sequence and the pending reference is `false` and
/// changes nothing: wrong reference, older or unknown sequence, other pair, nothing pending.
pub async fn settle_mismatch_changes_nothing(registry: &dyn Registry) {
    let env = unique_environment("settle-miss");
    let (shell, quiet, other) = (mfe_name("shell"), mfe_name("quiet"), mfe_name("other"));
    let old = sample_entry_with(&env, &shell, 2, Some(sample_invalidation("deploy-2")));
    let live = sample_entry_with(&env, &shell, 3, Some(sample_invalidation("deploy-3")));
    let quiet_entry = sample_entry_with(&env, &quiet, 1, None);
    for entry in [&old, &live, &quiet_entry] {
        registry.commit(entry).await.unwrap();
    }
    let other_env = env_name(&format!("{env}x"));
    let upper_env = env_name(&env.as_str().to_ascii_uppercase());
    for (environment, mfe, sequence, reference) in [
        (&env, &shell, 3, "deploy-2"),       // wrong reference
        (&env, &shell, 3, "deploy-3x"),      // reference with a suffix
        (&env, &shell, 3, "deploy-"),        // a prefix of it
        (&env, &shell, 3, "DEPLOY-3"),       // other case
        (&env, &shell, 2, "deploy-2"),       // older sequence, its own reference
        (&env, &shell, 2, "deploy-3"),       // older sequence, live reference
        (&env, &shell, 4, "deploy-3"),       // sequence not committed
        (&env, &other, 3, "deploy-3"),       // pair never committed
        (&other_env, &shell, 3, "deploy-3"), // environment never committed
        (&upper_env, &shell, 3, "deploy-3"), // the environment in other case
        (&env, &quiet, 1, "deploy-1"),       // nothing pending
    ] {
        assert!(
            !registry
                .settle_invalidation(environment, mfe, sequence, reference)
                .await
                .unwrap(),
            "settle {environment}/{mfe} {sequence} {reference} must not match"
        );
    }
    assert_eq!(
        registry.get(&env, &shell).await.unwrap(),
        Some(live.clone())
    );
    assert_eq!(
        registry.get(&env, &quiet).await.unwrap(),
        Some(quiet_entry.clone())
    );
    assert_eq!(registry.get(&env, &other).await.unwrap(), None);
    assert_eq!(registry.get(&other_env, &shell).await.unwrap(), None);
    assert_eq!(registry.get(&upper_env, &shell).await.unwrap(), None);
    assert_eq!(
        registry.history(&env, &shell).await.unwrap(),
        vec![old, live]
    );
    assert_eq!(
        registry.history(&env, &quiet).await.unwrap(),
        vec![quiet_entry]
    );
}

/// A newer commit while an older invalidation is pending carries its own (pending or none);
/// settling the older one afterwards changes nothing, even under the same reference.
pub async fn newer_commit_keeps_its_own_invalidation(registry: &dyn Registry) {
    let env = unique_environment("settle-newer");
    let shell = mfe_name("shell");
    let first = sample_entry_with(&env, &shell, 1, Some(sample_invalidation("deploy-1")));
    let second = sample_entry_with(&env, &shell, 2, Some(sample_invalidation("deploy-2")));
    registry.commit(&first).await.unwrap();
    registry.commit(&second).await.unwrap();
    assert_eq!(
        registry.get(&env, &shell).await.unwrap(),
        Some(second.clone())
    );
    assert!(
        !registry
            .settle_invalidation(&env, &shell, 1, "deploy-1")
            .await
            .unwrap()
    );
    assert_eq!(
        registry.get(&env, &shell).await.unwrap(),
        Some(second.clone())
    );

    // The same reference at a newer sequence: only the sequence tells them apart.
    let third = sample_entry_with(&env, &shell, 3, Some(sample_invalidation("deploy-2")));
    registry.commit(&third).await.unwrap();
    assert!(
        !registry
            .settle_invalidation(&env, &shell, 2, "deploy-2")
            .await
            .unwrap()
    );
    assert_eq!(
        registry.get(&env, &shell).await.unwrap(),
        Some(third.clone())
    );

    // A newer entry with nothing pending replaces a pending one: nothing is pending.
    let fourth = sample_entry_with(&env, &shell, 4, None);
    registry.commit(&fourth).await.unwrap();
    assert_eq!(
        registry.get(&env, &shell).await.unwrap(),
        Some(fourth.clone())
    );
    assert!(
        !registry
            .settle_invalidation(&env, &shell, 3, "deploy-2")
            .await
            .unwrap()
    );
    assert_eq!(
        registry.history(&env, &shell).await.unwrap(),
        vec![first, second, third, fourth]
    );
}

/// The replay rule ignores `invalidation`: committing the live entry again after its
/// invalidation was settled, or with another invalidation, is `Ok` and writes nothing; any
/// other difference is still `Duplicate`.
pub async fn replay_ignores_invalidation(registry: &dyn Registry) {
    let env = unique_environment("settle-replay");
    let shell = mfe_name("shell");
    let entry = sample_entry_with(&env, &shell, 6, Some(sample_invalidation("deploy-6")));
    registry.commit(&entry).await.unwrap();
    // Before settling, a replay with another (or no) invalidation leaves the stored one.
    for replay in [
        sample_entry_with(&env, &shell, 6, None),
        sample_entry_with(&env, &shell, 6, Some(sample_invalidation("deploy-other"))),
    ] {
        registry.commit(&replay).await.unwrap();
        assert_eq!(
            registry.get(&env, &shell).await.unwrap(),
            Some(entry.clone())
        );
    }
    assert!(
        registry
            .settle_invalidation(&env, &shell, 6, "deploy-6")
            .await
            .unwrap()
    );
    let settled = Entry {
        invalidation: None,
        ..entry.clone()
    };
    // A re-run after the invalidation was settled: a replay, and it stays settled.
    registry.commit(&entry).await.unwrap();
    assert_eq!(
        registry.get(&env, &shell).await.unwrap(),
        Some(settled.clone())
    );
    assert_eq!(
        registry.history(&env, &shell).await.unwrap(),
        vec![entry.clone()]
    );
    let mut other = entry.clone();
    other.request_id = RequestId::generate();
    assert!(matches!(
        registry.commit(&other).await,
        Err(Error::Duplicate { sequence: 6 })
    ));
    assert_eq!(registry.get(&env, &shell).await.unwrap(), Some(settled));
}

/// Invalid arguments to `settle_invalidation` and invalid invalidations in `commit` are
/// `Invalid` and write nothing.
pub async fn settle_invalid_refused(registry: &dyn Registry) {
    let env = unique_environment("settle-invalid");
    let shell = mfe_name("shell");
    let entry = sample_entry_with(&env, &shell, 1, Some(sample_invalidation("deploy-1")));
    registry.commit(&entry).await.unwrap();
    let long = "r".repeat(crate::MAX_INVALIDATION_REFERENCE_LEN + 1);
    for (sequence, reference, field) in [
        (0, "deploy-1", "sequence"),
        (MAX_SEQUENCE + 1, "deploy-1", "sequence"),
        (1, "", "invalidation.reference"),
        (1, "deploy 1", "invalidation.reference"),
        (1, long.as_str(), "invalidation.reference"),
    ] {
        let result = registry
            .settle_invalidation(&env, &shell, sequence, reference)
            .await;
        assert!(
            matches!(&result, Err(Error::Invalid { field: f, .. }) if *f == field),
            "settle {sequence} {reference:?}: {result:?}"
        );
    }
    assert_eq!(registry.get(&env, &shell).await.unwrap(), Some(entry));

    for (invalidation, field) in [
        (
            Invalidation {
                reference: "deploy-2".into(),
                paths: vec![],
            },
            "invalidation.paths",
        ),
        (
            Invalidation {
                reference: "deploy-2".into(),
                paths: vec!["no-slash".into()],
            },
            "invalidation.paths",
        ),
        (
            Invalidation {
                reference: "deploy\t2".into(),
                paths: vec!["/a".into()],
            },
            "invalidation.reference",
        ),
    ] {
        let bad = sample_entry_with(&env, &shell, 2, Some(invalidation));
        let result = registry.commit(&bad).await;
        assert!(
            matches!(&result, Err(Error::Invalid { field: f, .. }) if *f == field),
            "{result:?}"
        );
    }
    assert_eq!(registry.history(&env, &shell).await.unwrap().len(), 1);
}

/// `rounds` times: with sequence `k` live and pending, a settle of `k` races (spawned tasks)
/// a commit of `k + 1` with its own pending invalidation (every other round under the very
/// same reference, so only the sequence protects it). Whatever the order, `k + 1` ends live
/// with its invalidation still pending, and the history keeps both as committed.
pub async fn settle_races_newer_commit(registry: Arc<dyn Registry>, rounds: u64) {
    let env = unique_environment("settle-race");
    let shell = mfe_name("shell");
    let reference = |sequence: u64| {
        if sequence.is_multiple_of(2) {
            "deploy-shared".to_owned()
        } else {
            format!("deploy-{sequence}")
        }
    };
    let entry = |sequence: u64| {
        sample_entry_with(
            &env,
            &shell,
            sequence,
            Some(sample_invalidation(&reference(sequence))),
        )
    };
    registry.commit(&entry(1)).await.unwrap();
    for k in 1..=rounds {
        let newer = entry(k + 1);
        let settle = tokio::spawn({
            let (registry, env, shell, reference) = (
                Arc::clone(&registry),
                env.clone(),
                shell.clone(),
                reference(k),
            );
            async move {
                registry
                    .settle_invalidation(&env, &shell, k, &reference)
                    .await
            }
        });
        let commit = tokio::spawn({
            let (registry, newer) = (Arc::clone(&registry), newer.clone());
            async move { registry.commit(&newer).await }
        });
        let settled = settle.await.expect("settle task panicked");
        commit
            .await
            .expect("commit task panicked")
            .unwrap_or_else(|e| panic!("commit {}: {e:?}", k + 1));
        if let Err(e) = settled {
            panic!("settle {k}: {e:?}");
        }
        assert_eq!(
            registry.get(&env, &shell).await.unwrap(),
            Some(newer),
            "round {k}: the newer entry's invalidation must stay pending"
        );
    }
    let expected: Vec<Entry> = (1..=rounds + 1).map(entry).collect();
    assert_eq!(registry.history(&env, &shell).await.unwrap(), expected);
}
