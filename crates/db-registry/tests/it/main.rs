//! Integration tests: the conformance suite on every backend, plus backend specifics.

// Test code runs on the harness's threads: blocking file and process calls are fine here.
#![allow(clippy::disallowed_methods)]

mod dynamodb_mock;
mod dynamodb_moto;
mod errors;
mod fake;
mod order;
mod sqlite;

use gitops_db_registry::conformance::{env_name, mfe_name};
use gitops_event_model::{EnvironmentName, MfeName};

/// The environment most tests use.
fn prod() -> EnvironmentName {
    env_name("prod")
}

/// The MFE most tests use.
fn shell() -> MfeName {
    mfe_name("shell")
}

/// Generate one `#[tokio::test]` per conformance check, each on a registry made by
/// `$make(test_name)`, an async expression returning `Option<Arc<dyn Registry>>` (`None`:
/// skipped, reason already printed).
#[macro_export]
macro_rules! conformance_tests {
    ($make:ident) => {
        mod conformance_suite {
            use gitops_db_registry::conformance;

            use super::$make;

            $crate::conformance_tests!(@ref $make,
                get_absent, commit_then_get, list_sorted_and_scoped,
                names_are_the_requests_names, version_text_is_kept, stale_refused,
                duplicate_refused, identical_replay_is_ok, history_ascending_and_complete,
                invalid_refused, sequence_bounds, invalidation_round_trip, settle_clears_once,
                settle_mismatch_changes_nothing, newer_commit_keeps_its_own_invalidation,
                replay_ignores_invalidation, settle_invalid_refused);

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn any_order_leaves_max_live() {
                let Some(registry) = $make("any_order_leaves_max_live").await else { return };
                conformance::any_order_leaves_max_live(
                    registry.as_ref(),
                    &[5, 3, 8, 8, 1, 13, 2, 21, 20, 21],
                )
                .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_commits() {
                let Some(registry) = $make("concurrent_commits").await else { return };
                conformance::concurrent_commits(registry, 16).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn settle_races_newer_commit() {
                let Some(registry) = $make("settle_races_newer_commit").await else { return };
                conformance::settle_races_newer_commit(registry, 48).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn run_all_on_one_registry() {
                let Some(registry) = $make("run_all_on_one_registry").await else { return };
                conformance::run_all(registry).await;
            }
        }
    };
    (@ref $make:ident, $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let Some(registry) = $make(stringify!($check)).await else { return };
                conformance::$check(registry.as_ref()).await;
            }
        )*
    };
}
