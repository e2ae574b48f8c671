//! # gitops-retry
//!
//! The one retry policy every adapter uses (GitHub calls, CloudFront batches, DynamoDB
//! transactions, compare-and-swap pointers, compare-and-swap proposals): [`RetryPolicy`] bounds
//! the attempts, each backoff and the total time (attempts included); [`retry`] runs an
//! operation under it with jittered exponential backoff (`backon`), and the caller's
//! classification decides, in one place per adapter, what is retried ([`Retry`]): a server that
//! says when to come back (`retry-after`) is honoured, and a wait that would overrun the budget
//! ends the retries at once, returning the last error (never a sleep past the bound).
//!
//! What is retryable stays the adapter's decision, made on its own error type, so errors keep
//! their kind: a deterministic failure is returned at once and never reported as retryable.

use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable as _};

/// Bounds of one retried operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts, the first included (at least 1).
    pub max_attempts: u32,
    /// The first backoff; each next one doubles, jittered.
    pub base_delay: Duration,
    /// The longest single backoff.
    pub max_delay: Duration,
    /// The whole operation's budget, attempts and waits included: no wait starts that would
    /// end past it.
    pub max_total: Duration,
}

impl RetryPolicy {
    /// The default for calls to outside services: 5 attempts, 0.5 s doubling to at most 20 s,
    /// 90 s in all.
    pub const OUTSIDE: RetryPolicy = RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(500),
        max_delay: Duration::from_secs(20),
        max_total: Duration::from_secs(90),
    };

    /// For compare-and-swap loops on state we share with other writers (pointers, proposals):
    /// 10 attempts, 50 ms doubling to at most 2 s, 60 s in all.
    pub const CONTENDED: RetryPolicy = RetryPolicy {
        max_attempts: 10,
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_secs(2),
        max_total: Duration::from_mins(1),
    };

    /// For compare-and-swap on a branch many writers share at once (an environment's batch,
    /// which every request of the environment appends to): 30 attempts, 100 ms doubling to at
    /// most 5 s, 3 minutes in all. Jitter spreads the writers that collided.
    pub const CROWDED: RetryPolicy = RetryPolicy {
        max_attempts: 30,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(5),
        max_total: Duration::from_mins(3),
    };

    /// Milliseconds instead of seconds, for tests.
    pub const FAST: RetryPolicy = RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_total: Duration::from_secs(5),
    };

    /// One attempt, no retry.
    pub const NONE: RetryPolicy = RetryPolicy {
        max_attempts: 1,
        base_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
        max_total: Duration::MAX,
    };

    /// This policy with `attempts` attempts.
    #[must_use]
    pub const fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::OUTSIDE
    }
}

/// What an adapter says about one failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Deterministic (a refusal, a bad input, a write that may have landed): return it now.
    Never,
    /// Transient: retry after the policy's jittered backoff.
    Backoff,
    /// The server said when: retry after exactly this long (if it fits the budget).
    After(Duration),
}

/// Runs `operation` under `policy`, retrying the failures `classify` calls transient. Returns
/// the first success, or the last error: when `classify` says [`Retry::Never`], when the
/// attempts are spent, or when the next wait would end past `policy.max_total`.
pub async fn retry<T, E, F, Fut, C>(policy: RetryPolicy, operation: F, classify: C) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    C: Fn(&E) -> Retry,
{
    let started = Instant::now();
    let backoff = ExponentialBuilder::default()
        .with_min_delay(policy.base_delay)
        .with_max_delay(policy.max_delay)
        .with_max_times(policy.max_attempts.saturating_sub(1) as usize)
        .with_jitter();
    operation
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .when(|e| classify(e) != Retry::Never)
        .adjust(|e, computed| {
            let wait = match classify(e) {
                Retry::Never => return None,
                Retry::Backoff => computed?,
                Retry::After(asked) => {
                    // The server's word wins, but only within the attempts left.
                    computed?;
                    asked
                }
            };
            (started.elapsed().saturating_add(wait) <= policy.max_total).then_some(wait)
        })
        .await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[derive(Debug, PartialEq, Eq)]
    enum E {
        Transient,
        Final,
        Later(Duration),
    }

    fn classify(e: &E) -> Retry {
        match e {
            E::Transient => Retry::Backoff,
            E::Final => Retry::Never,
            E::Later(d) => Retry::After(*d),
        }
    }

    #[tokio::test]
    async fn transient_failures_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let out = retry(
            RetryPolicy::FAST,
            || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                    Err(E::Transient)
                } else {
                    Ok(7)
                }
            },
            classify,
        )
        .await;
        assert_eq!(out, Ok(7));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_deterministic_failure_is_returned_at_once() {
        let calls = AtomicU32::new(0);
        let out: Result<(), E> = retry(
            RetryPolicy::FAST,
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(E::Final)
            },
            classify,
        )
        .await;
        assert_eq!(out, Err(E::Final));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn attempts_are_bounded() {
        let calls = AtomicU32::new(0);
        let out: Result<(), E> = retry(
            RetryPolicy::FAST.with_max_attempts(3),
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(E::Transient)
            },
            classify,
        )
        .await;
        assert_eq!(out, Err(E::Transient));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_server_asked_wait_is_honoured_within_the_budget_only() {
        let calls = AtomicU32::new(0);
        let started = Instant::now();
        let out = retry(
            RetryPolicy::FAST,
            || async {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(E::Later(Duration::from_millis(120)))
                } else {
                    Ok(())
                }
            },
            classify,
        )
        .await;
        assert_eq!(out, Ok(()));
        assert!(started.elapsed() >= Duration::from_millis(120));

        // A wait past the budget is not slept: the error comes back at once.
        let calls = AtomicU32::new(0);
        let started = Instant::now();
        let out: Result<(), E> = retry(
            RetryPolicy::FAST,
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(E::Later(Duration::from_hours(1)))
            },
            classify,
        )
        .await;
        assert_eq!(out, Err(E::Later(Duration::from_hours(1))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn the_total_budget_counts_the_attempts_too() {
        let policy = RetryPolicy {
            max_attempts: 100,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            max_total: Duration::from_millis(300),
        };
        let started = Instant::now();
        let out: Result<(), E> = retry(
            policy,
            || async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Err(E::Transient)
            },
            classify,
        )
        .await;
        assert_eq!(out, Err(E::Transient));
        assert!(
            started.elapsed() < Duration::from_millis(600),
            "{:?}",
            started.elapsed()
        );
    }
}
