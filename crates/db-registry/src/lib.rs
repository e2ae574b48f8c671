//! The live-version registry: which version of each micro-frontend is live in each
//! environment, plus the append-only history of every deploy.
//!
//! [`Registry::commit`] is the deploy's single commit point (DESIGN.md 4.3): a conditional
//! write that only succeeds when the new entry's deploy `sequence` is strictly higher than the
//! stored one (or nothing is stored), and that replaces the live entry and appends to history
//! atomically. A stale or duplicate deploy is refused here with a distinct error
//! ([`Error::Stale`], [`Error::Duplicate`]).
//!
//! The entry carries the CDN invalidation the deploy still owes ([`Entry::invalidation`]),
//! committed with it; [`Registry::settle_invalidation`] clears it once the CDN confirmed it,
//! so a re-run after a failed invalidation finds it pending and issues it again.
//!
//! Backends:
//! - [`DynamoDbRegistry`]: the real one (one table, `TransactWriteItems`); see
//!   `docs/registry-dynamodb.md` for the table layout;
//! - [`SqliteRegistry`]: the embedded default (one file, WAL mode, `BEGIN IMMEDIATE`);
//! - `FakeRegistry`: strict, in memory, behind the `fake` feature.
//!
//! Every backend passes the same [`conformance`] suite (behind the `conformance` feature).
//!
//! Names and the other text fields are the event model's types (`EnvironmentName`, `MfeName`,
//! `Version`, `RequestId`, `CommitSha`, `Login` of `gitops_event_model`): the registry has no
//! rule of its own for them, and reads stored data back through the same parsers (a stored value
//! that does not parse is [`Error::Corrupt`]).

#[cfg(feature = "dynamodb")]
mod dynamodb;
mod entry;
mod error;
#[cfg(any(test, feature = "fake"))]
mod fake;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(feature = "conformance")]
pub mod conformance;

#[cfg(feature = "dynamodb")]
pub use dynamodb::{Bootstrap, DynamoDbRegistry, IAM_ACTIONS, IAM_BOOTSTRAP_ACTIONS};
pub use entry::{
    Entry, Invalidation, MAX_INVALIDATION_BYTES, MAX_INVALIDATION_PATH_LEN, MAX_INVALIDATION_PATHS,
    MAX_INVALIDATION_REFERENCE_LEN, MAX_SEQUENCE,
};
pub use error::Error;
#[cfg(any(test, feature = "fake"))]
pub use fake::FakeRegistry;
use gitops_event_model::{EnvironmentName, MfeName};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteRegistry;

/// The live-version registry. Object-safe; use it as `Arc<dyn Registry>`.
///
/// Names are typed ([`EnvironmentName`], [`MfeName`]), so every name a method receives is one
/// a request could carry; environment names keep their case (`Prod` and `prod` are two
/// environments).
///
/// Every method may fail with [`Error::Corrupt`] when stored data does not parse back into an
/// [`Entry`] (a field that breaks its type's rule, an attribute of the wrong type).
#[async_trait::async_trait]
pub trait Registry: Send + Sync + std::fmt::Debug {
    /// The live entry for `(environment, mfe)`.
    ///
    /// # Contract
    /// - `Ok(None)` when nothing was ever committed for the pair.
    /// - Strongly consistent: a `commit` (or `settle_invalidation`) that returned is visible
    ///   to every later `get`.
    /// - Returns exactly the entry that was committed (all fields equal), except that its
    ///   `invalidation` is the current one: `None` once settled.
    async fn get(
        &self,
        environment: &EnvironmentName,
        mfe: &MfeName,
    ) -> Result<Option<Entry>, Error>;

    /// Every live entry of `environment`, sorted by `mfe` in byte order (`-`, then digits,
    /// then letters: `mid`, `mid-a`, `mid0`, `mida`).
    ///
    /// # Contract
    /// - Only entries of that environment; an unknown environment is an empty list.
    /// - Strongly consistent, like [`Registry::get`]: the import map built from it never
    ///   misses a commit that already returned.
    /// - Each entry is what [`Registry::get`] returns for it (current `invalidation`).
    async fn list(&self, environment: &EnvironmentName) -> Result<Vec<Entry>, Error>;

    /// The single commit point of a deploy.
    ///
    /// # Contract
    /// - Validates the entry first ([`Entry::validate`]); an invalid entry is
    ///   [`Error::Invalid`] and nothing is written.
    /// - Succeeds only when nothing is stored for `(entry.environment, entry.mfe)` or the
    ///   stored entry's `sequence` is strictly lower. It then replaces the live entry **and**
    ///   appends the entry to the history of the pair, atomically: both or neither. Both
    ///   include `entry.invalidation`, so the pending invalidation becomes durable at the
    ///   commit point itself.
    /// - Stored sequence higher: [`Error::Stale`] `{ stored, attempted }`, nothing changed.
    /// - Stored sequence equal: `Ok(())` without writing anything when the stored entry is
    ///   equal to `entry` **ignoring `invalidation`** (an idempotent replay of the same deploy,
    ///   so a re-run converges, also after its invalidation was settled; the stored
    ///   `invalidation` is left as it is); otherwise [`Error::Duplicate`], nothing changed.
    /// - Safe under concurrency, across processes: of N concurrent commits for one pair the
    ///   one with the highest sequence ends live, and every commit that returned `Ok` (and
    ///   only those) is in the history.
    /// - Transient backend trouble is [`Error::Throttled`], [`Error::Unavailable`] or
    ///   [`Error::TransactionConflict`] ([`Error::is_retryable`]); retrying the same entry is
    ///   then safe.
    async fn commit(&self, entry: &Entry) -> Result<(), Error>;

    /// Record that the CDN confirmed the pending invalidation `reference` of the live entry
    /// with `sequence`: clear the live entry's `invalidation`.
    ///
    /// # Contract
    /// - Validates the arguments first (`sequence` in `1..=MAX_SEQUENCE`, `reference` as
    ///   [`Invalidation::reference`]); a bad one is [`Error::Invalid`] and nothing is read or
    ///   written.
    /// - A conditional write: clears the invalidation only when the live entry of
    ///   `(environment, mfe)` has exactly `sequence` **and** a pending invalidation with exactly
    ///   `reference`; returns `Ok(true)` when it cleared it.
    /// - `Ok(false)`, nothing changed, when nothing matches: no live entry, another sequence
    ///   live (a newer deploy committed meanwhile: its own invalidation stays pending), no
    ///   pending invalidation (already settled), or another reference.
    /// - Never touches history, and changes no other field of the live entry.
    /// - Safe under concurrency, across processes: racing a commit of a newer entry, it never
    ///   clears the newer entry's invalidation.
    /// - Transient backend trouble is [`Error::Throttled`], [`Error::Unavailable`] or
    ///   [`Error::TransactionConflict`]; retrying is then safe.
    async fn settle_invalidation(
        &self,
        environment: &EnvironmentName,
        mfe: &MfeName,
        sequence: u64,
        reference: &str,
    ) -> Result<bool, Error>;

    /// Every committed entry of `(environment, mfe)`, ascending by `sequence`.
    ///
    /// # Contract
    /// - Complete: one element per successful (non-replayed) commit, none for a refused one.
    /// - Each element is the entry as committed, `invalidation` included (settling never
    ///   changes history).
    /// - Empty when nothing was ever committed for the pair.
    /// - The last element, if any, equals [`Registry::get`] except for `invalidation`.
    async fn history(
        &self,
        environment: &EnvironmentName,
        mfe: &MfeName,
    ) -> Result<Vec<Entry>, Error>;
}

/// What a commit attempt must do, given what is stored for the pair. Shared by every backend
/// so that they decide identically.
#[cfg_attr(
    not(any(test, feature = "fake", feature = "sqlite", feature = "dynamodb")),
    allow(dead_code)
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Write: live entry replaced, history appended.
    Write,
    /// Identical replay: nothing to write, report success.
    Replay,
}

/// Decide what committing `attempt` means when `stored` is live.
#[cfg_attr(
    not(any(test, feature = "fake", feature = "sqlite", feature = "dynamodb")),
    allow(dead_code)
)]
pub(crate) fn decide(stored: Option<&Entry>, attempt: &Entry) -> Result<Decision, Error> {
    match stored {
        None => Ok(Decision::Write),
        Some(stored) if stored.sequence < attempt.sequence => Ok(Decision::Write),
        Some(stored) if stored.sequence > attempt.sequence => Err(Error::Stale {
            stored: stored.sequence,
            attempted: attempt.sequence,
        }),
        Some(stored) if stored.same_deploy(attempt) => Ok(Decision::Replay),
        Some(stored) => Err(Error::Duplicate {
            sequence: stored.sequence,
        }),
    }
}

#[cfg(test)]
mod tests {
    use gitops_event_model::{CommitSha, Login, RequestId, Version};

    use super::*;

    fn entry(sequence: u64) -> Entry {
        Entry {
            environment: EnvironmentName::parse("prod").unwrap(),
            mfe: MfeName::parse("shell").unwrap(),
            version: Version::parse("1.0.0").unwrap(),
            sequence,
            request_id: RequestId::parse(&format!("00000000-0000-0000-0000-{sequence:012}"))
                .unwrap(),
            sha: CommitSha::parse(&"a".repeat(40)).unwrap(),
            deployed_at: time::macros::datetime!(2026-01-01 00:00 UTC),
            deployed_by: Login::parse("alice").unwrap(),
            rollback: false,
            invalidation: None,
        }
    }

    #[test]
    fn decide_covers_every_case() {
        assert_eq!(decide(None, &entry(1)).unwrap(), Decision::Write);
        assert_eq!(decide(Some(&entry(1)), &entry(2)).unwrap(), Decision::Write);
        assert_eq!(
            decide(Some(&entry(2)), &entry(2)).unwrap(),
            Decision::Replay
        );
        // A replay after the invalidation was settled (or with another one) is still a replay.
        let mut pending = entry(2);
        pending.invalidation = Some(Invalidation {
            reference: "deploy-2".into(),
            paths: vec!["/importmap.json".into()],
        });
        assert_eq!(decide(Some(&entry(2)), &pending).unwrap(), Decision::Replay);
        assert_eq!(decide(Some(&pending), &entry(2)).unwrap(), Decision::Replay);
        assert!(matches!(
            decide(Some(&entry(3)), &entry(2)),
            Err(Error::Stale {
                stored: 3,
                attempted: 2
            })
        ));
        let mut other = entry(2);
        other.version = Version::parse("2.0.0").unwrap();
        assert!(matches!(
            decide(Some(&entry(2)), &other),
            Err(Error::Duplicate { sequence: 2 })
        ));
    }
}
