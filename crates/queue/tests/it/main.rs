//! Integration tests: the conformance suite on every backend, plus backend specifics.

// Test code runs on the harness's threads: blocking file calls are fine here.
#![allow(clippy::disallowed_methods)]

mod fake;
mod sqlite;
mod sqs_mock;
mod sqs_moto;

/// Generate one `#[tokio::test]` per conformance check on queues made by `$make(test_name,
/// max_receives)` (an async fn returning `Option<Arc<dyn WorkQueue>>`; `None`: skipped, reason
/// printed) and, for the concurrent check, `$consumers(test_name)` (`Option<Vec<Arc<dyn
/// WorkQueue>>>`: handles on one queue), with the backend's `Profile`.
#[macro_export]
macro_rules! conformance_tests {
    ($make:ident, $consumers:ident, $profile:expr) => {
        mod conformance_suite {
            use gitops_queue::conformance;

            use super::{$consumers, $make};

            $crate::conformance_tests!(@each $make, $profile,
                fifo_within_group, groups_in_parallel, blocked_until_ack, blocked_until_release,
                blocked_until_expiry, dedup_within_window, extend_keeps_in_flight,
                stale_receipts_never_affect_a_new_delivery, dead_letter_moves_it_out,
                stats_count);

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn max_receives_dead_letters() {
                let Some(queue) = $make("max_receives_dead_letters", 2).await else { return };
                conformance::max_receives_dead_letters(queue.as_ref(), $profile).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn invalid_refused() {
                let Some(queue) = $make("invalid_refused", 5).await else { return };
                conformance::invalid_refused(queue.as_ref()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_consumers() {
                let Some(consumers) = $consumers("concurrent_consumers").await else { return };
                conformance::concurrent_consumers(consumers, 100, 10).await;
            }
        }
    };
    (@each $make:ident, $profile:expr, $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let Some(queue) = $make(stringify!($check), 5).await else { return };
                conformance::$check(queue.as_ref(), $profile).await;
            }
        )*
    };
}
