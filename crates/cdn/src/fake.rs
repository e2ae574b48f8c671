//! Strict in-memory CDN that refuses what CloudFront refuses.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use gitops_retry::RetryPolicy;

use crate::driver::{self, Backend, Polling, Settings};
use crate::{
    BatchReceipt, Cdn, Error, InvalidationReceipt, InvalidationRequest, InvalidationStatus,
    MAX_PATHS_PER_BATCH, MAX_WILDCARDS_IN_FLIGHT,
};

/// One invalidation held by the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeInvalidation {
    /// Id, `I` followed by a counter.
    pub id: String,
    /// The caller reference it was created with.
    pub caller_reference: String,
    /// Its paths, as sent.
    pub paths: Vec<String>,
    /// Current status.
    pub status: InvalidationStatus,
}

/// A service call the fake received (as CloudFront would see it), for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakeCall {
    /// `CreateInvalidation`; `outcome` is the invalidation id or the error text.
    CreateInvalidation {
        /// The caller reference sent.
        caller_reference: String,
        /// Number of paths sent.
        path_count: usize,
        /// Invalidation id on success, error message on refusal.
        outcome: Result<String, String>,
    },
    /// `GetInvalidation`.
    GetInvalidation {
        /// The id asked for.
        id: String,
    },
}

#[derive(Debug)]
struct State {
    invalidations: Vec<(FakeInvalidation, u32)>,
    calls: Vec<FakeCall>,
    polls_to_complete: u32,
    injected_too_many: u32,
}

/// Strict in-memory CDN, shaped like CloudFront:
///
/// * refuses an empty path list, a path not starting with `/`, more than 3,000 paths in one
///   batch ([`Error::Invalid`]);
/// * refuses a batch that would put more than 15 wildcards or 3,000 individual paths in
///   flight (`TooManyInvalidationsInProgress`, reported as [`Error::Throttled`]);
/// * a reused caller reference with the same paths returns the existing invalidation; with
///   different paths it is [`Error::Conflict`] (`InvalidationBatchAlreadyExists`);
/// * invalidations start `InProgress` and complete after a number of `GetInvalidation` polls
///   (1 by default, see [`FakeCdn::with_polls_to_complete`]) or on [`FakeCdn::complete_all`].
///
/// Clones share state. Every service call is recorded ([`FakeCdn::calls`]).
#[derive(Debug, Clone)]
pub struct FakeCdn {
    state: Arc<Mutex<State>>,
    settings: Settings,
}

impl Default for FakeCdn {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeCdn {
    /// An empty fake with [`RetryPolicy::FAST`] and [`Polling::FAST`].
    pub fn new() -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                invalidations: Vec::new(),
                calls: Vec::new(),
                polls_to_complete: 1,
                injected_too_many: 0,
            })),
            settings: Settings {
                retry: RetryPolicy::FAST,
                polling: Polling::FAST,
            },
        }
    }

    /// Invalidations complete after `polls` `GetInvalidation` calls (0: complete at once;
    /// `u32::MAX`: never, unless [`FakeCdn::complete_all`]).
    #[must_use]
    pub fn with_polls_to_complete(self, polls: u32) -> Self {
        self.lock().polls_to_complete = polls;
        self
    }

    /// Replace the bounds of the retries of throttled calls.
    #[must_use]
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.settings.retry = policy;
        self
    }

    /// Replace the status polling.
    #[must_use]
    pub fn with_polling(mut self, polling: Polling) -> Self {
        self.settings.polling = polling;
        self
    }

    /// The next `n` creations fail with `TooManyInvalidationsInProgress` (as if other
    /// deploys held the in-flight budget).
    pub fn fail_next_creates_with_too_many(&self, n: u32) {
        self.lock().injected_too_many = n;
    }

    /// Mark every invalidation completed.
    pub fn complete_all(&self) {
        for (inv, _) in &mut self.lock().invalidations {
            inv.status = InvalidationStatus::Completed;
        }
    }

    /// Every invalidation created, oldest first.
    pub fn invalidations(&self) -> Vec<FakeInvalidation> {
        self.lock()
            .invalidations
            .iter()
            .map(|(i, _)| i.clone())
            .collect()
    }

    /// Every service call received, oldest first.
    pub fn calls(&self) -> Vec<FakeCall> {
        self.lock().calls.clone()
    }

    /// Number of `CreateInvalidation` calls received (accepted or not).
    pub fn create_calls(&self) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|c| matches!(c, FakeCall::CreateInvalidation { .. }))
            .count()
    }

    /// The raw service call, as CloudFront's `CreateInvalidation`: no batching, no retry.
    pub fn create_invalidation(
        &self,
        caller_reference: &str,
        paths: &[String],
    ) -> Result<BatchReceipt, Error> {
        let mut state = self.lock();
        let outcome = Self::create_locked(&mut state, caller_reference, paths);
        state.calls.push(FakeCall::CreateInvalidation {
            caller_reference: caller_reference.to_owned(),
            path_count: paths.len(),
            outcome: outcome
                .as_ref()
                .map(|r| r.id.clone())
                .map_err(ToString::to_string),
        });
        outcome
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn create_locked(
        state: &mut State,
        caller_reference: &str,
        paths: &[String],
    ) -> Result<BatchReceipt, Error> {
        if caller_reference.is_empty() {
            return Err(Error::invalid("caller_reference", "MissingBody: empty"));
        }
        if paths.is_empty() {
            return Err(Error::invalid("paths", "InvalidArgument: no path"));
        }
        if paths.len() > MAX_PATHS_PER_BATCH {
            return Err(Error::invalid(
                "paths",
                format!(
                    "BatchTooLarge: {} paths, at most {MAX_PATHS_PER_BATCH}",
                    paths.len()
                ),
            ));
        }
        if let Some(p) = paths.iter().find(|p| !p.starts_with('/')) {
            return Err(Error::invalid(
                "paths",
                format!("InvalidArgument: `{p}` does not start with `/`"),
            ));
        }
        if let Some((existing, _)) = state
            .invalidations
            .iter()
            .find(|(i, _)| i.caller_reference == caller_reference)
        {
            let mut a = existing.paths.clone();
            let mut b = paths.to_vec();
            a.sort();
            b.sort();
            if a != b {
                return Err(Error::Conflict {
                    reference: caller_reference.to_owned(),
                    reason: "InvalidationBatchAlreadyExists: the caller reference was already \
                             used with different paths"
                        .to_owned(),
                });
            }
            return Ok(receipt_of(existing));
        }
        if state.injected_too_many > 0 {
            state.injected_too_many -= 1;
            return Err(too_many("injected"));
        }
        let in_flight = state
            .invalidations
            .iter()
            .filter(|(i, _)| i.status == InvalidationStatus::InProgress);
        let (mut wildcards, mut files) = (0, 0);
        for (inv, _) in in_flight {
            for p in &inv.paths {
                if p.ends_with('*') {
                    wildcards += 1;
                } else {
                    files += 1;
                }
            }
        }
        let new_wildcards = paths.iter().filter(|p| p.ends_with('*')).count();
        if wildcards + new_wildcards > MAX_WILDCARDS_IN_FLIGHT {
            return Err(too_many(&format!(
                "{wildcards} wildcard paths in flight + {new_wildcards} > {MAX_WILDCARDS_IN_FLIGHT}"
            )));
        }
        if files + paths.len() - new_wildcards > MAX_PATHS_PER_BATCH {
            return Err(too_many(&format!(
                "{files} paths in flight + {} > {MAX_PATHS_PER_BATCH}",
                paths.len() - new_wildcards
            )));
        }
        let inv = FakeInvalidation {
            id: format!("I{:013}", state.invalidations.len() + 1),
            caller_reference: caller_reference.to_owned(),
            paths: paths.to_vec(),
            status: if state.polls_to_complete == 0 {
                InvalidationStatus::Completed
            } else {
                InvalidationStatus::InProgress
            },
        };
        let receipt = receipt_of(&inv);
        let polls = state.polls_to_complete;
        state.invalidations.push((inv, polls));
        Ok(receipt)
    }
}

fn too_many(detail: &str) -> Error {
    Error::Throttled {
        attempts: 0,
        reason: format!("TooManyInvalidationsInProgress: {detail}"),
    }
}

fn receipt_of(inv: &FakeInvalidation) -> BatchReceipt {
    BatchReceipt {
        id: inv.id.clone(),
        caller_reference: inv.caller_reference.clone(),
        path_count: inv.paths.len(),
        status: inv.status,
    }
}

#[async_trait]
impl Backend for FakeCdn {
    async fn create(
        &self,
        caller_reference: &str,
        paths: &[String],
    ) -> Result<BatchReceipt, Error> {
        self.create_invalidation(caller_reference, paths)
    }

    async fn status(&self, id: &str) -> Result<InvalidationStatus, Error> {
        let mut state = self.lock();
        state
            .calls
            .push(FakeCall::GetInvalidation { id: id.to_owned() });
        let (inv, polls_left) = state
            .invalidations
            .iter_mut()
            .find(|(i, _)| i.id == id)
            .ok_or_else(|| Error::NotFound {
                what: format!("invalidation {id}"),
            })?;
        if inv.status == InvalidationStatus::InProgress && *polls_left != u32::MAX {
            *polls_left = polls_left.saturating_sub(1);
            if *polls_left == 0 {
                inv.status = InvalidationStatus::Completed;
            }
        }
        Ok(inv.status)
    }
}

#[async_trait]
impl Cdn for FakeCdn {
    async fn invalidate(
        &self,
        request: &InvalidationRequest,
    ) -> Result<InvalidationReceipt, Error> {
        driver::invalidate(self, &self.settings, request).await
    }

    async fn wait(&self, receipt: &InvalidationReceipt, timeout: Duration) -> Result<(), Error> {
        driver::wait(self, &self.settings, receipt, timeout).await
    }
}
