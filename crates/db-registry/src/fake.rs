//! Strict in-memory registry for tests.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use gitops_event_model::{EnvironmentName, MfeName};

use crate::entry::{validate_reference, validate_sequence};
use crate::{Decision, Entry, Error, Registry, decide};

type Key = (EnvironmentName, MfeName);

#[derive(Debug, Default)]
struct State {
    live: BTreeMap<Key, Entry>,
    history: BTreeMap<Key, Vec<Entry>>,
    /// Errors the next commits return instead of doing anything.
    commit_failures: VecDeque<Error>,
    /// Commit calls that reached the decision (failures injected excluded).
    commit_calls: usize,
    /// Commits that wrote something.
    writes: usize,
}

/// In-memory registry with the same rules as the real backends (validation, conditional
/// commit, atomic history). Clone-free; share it as `Arc<FakeRegistry>`.
///
/// Extras for tests: [`FakeRegistry::fail_next_commit`] injects a failure, and
/// [`FakeRegistry::commit_calls`] / [`FakeRegistry::writes`] count what happened.
#[derive(Debug, Default)]
pub struct FakeRegistry {
    state: Mutex<State>,
}

impl FakeRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Make the next commit (queued, first in first out) return `error` without touching
    /// anything, e.g. `Error::Throttled` or `Error::Unavailable` to test retries.
    pub fn fail_next_commit(&self, error: Error) {
        self.lock().commit_failures.push_back(error);
    }

    /// How many commits were decided (stale, duplicate, replay and writes; not invalid
    /// entries nor injected failures).
    pub fn commit_calls(&self) -> usize {
        self.lock().commit_calls
    }

    /// How many commits wrote (live replaced and history appended).
    pub fn writes(&self) -> usize {
        self.lock().writes
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated (every update is
        // a pair of infallible inserts), so a poisoned lock is still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl Registry for FakeRegistry {
    async fn get(
        &self,
        environment: &EnvironmentName,
        mfe: &MfeName,
    ) -> Result<Option<Entry>, Error> {
        Ok(self
            .lock()
            .live
            .get(&(environment.clone(), mfe.clone()))
            .cloned())
    }

    async fn list(&self, environment: &EnvironmentName) -> Result<Vec<Entry>, Error> {
        // Keys sort by environment, then MFE: this is the environment's entries by MFE name.
        Ok(self
            .lock()
            .live
            .iter()
            .filter(|((env, _), _)| env == environment)
            .map(|(_, entry)| entry.clone())
            .collect())
    }

    async fn commit(&self, entry: &Entry) -> Result<(), Error> {
        entry.validate()?;
        let mut state = self.lock();
        if let Some(error) = state.commit_failures.pop_front() {
            return Err(error);
        }
        state.commit_calls += 1;
        let key = (entry.environment.clone(), entry.mfe.clone());
        match decide(state.live.get(&key), entry)? {
            Decision::Replay => Ok(()),
            Decision::Write => {
                state.live.insert(key.clone(), entry.clone());
                state.history.entry(key).or_default().push(entry.clone());
                state.writes += 1;
                Ok(())
            }
        }
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
        let mut state = self.lock();
        let Some(live) = state.live.get_mut(&(environment.clone(), mfe.clone())) else {
            return Ok(false);
        };
        let matches = live.sequence == sequence
            && live
                .invalidation
                .as_ref()
                .is_some_and(|pending| pending.reference == reference);
        if matches {
            live.invalidation = None;
        }
        Ok(matches)
    }

    async fn history(
        &self,
        environment: &EnvironmentName,
        mfe: &MfeName,
    ) -> Result<Vec<Entry>, Error> {
        match self.lock().history.get(&(environment.clone(), mfe.clone())) {
            Some(history) => Ok(history.clone()),
            // Never committed: the contract's empty history (not a failure hidden).
            None => Ok(Vec::new()),
        }
    }
}
