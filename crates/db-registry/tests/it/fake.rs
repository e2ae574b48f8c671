use std::sync::Arc;

use gitops_db_registry::conformance::{env_name, mfe_name, sample_entry};
use gitops_db_registry::{Error, FakeRegistry, Registry};

#[allow(clippy::unused_async)]
async fn make(_test: &str) -> Option<Arc<dyn Registry>> {
    Some(Arc::new(FakeRegistry::new()))
}

crate::conformance_tests!(make);

#[tokio::test]
async fn injected_failures_come_first_and_change_nothing() {
    let registry = FakeRegistry::new();
    registry.fail_next_commit(Error::Throttled {
        message: "slow down".into(),
    });
    let (prod, shell) = (env_name("prod"), mfe_name("shell"));
    let entry = sample_entry(&prod, &shell, 1);
    let err = registry.commit(&entry).await.unwrap_err();
    assert!(matches!(err, Error::Throttled { .. }));
    assert!(err.is_retryable());
    assert_eq!(registry.get(&prod, &shell).await.unwrap(), None);
    assert_eq!((registry.commit_calls(), registry.writes()), (0, 0));

    registry.commit(&entry).await.unwrap();
    registry.commit(&entry).await.unwrap(); // replay: decided, not written
    assert!(
        registry
            .commit(&sample_entry(&prod, &shell, 1))
            .await
            .is_ok()
    );
    assert_eq!((registry.commit_calls(), registry.writes()), (3, 1));
}

#[tokio::test]
async fn invalid_entries_are_not_counted() {
    let registry = FakeRegistry::new();
    let entry = sample_entry(&env_name("prod"), &mfe_name("shell"), 0);
    assert!(matches!(
        registry.commit(&entry).await,
        Err(Error::Invalid {
            field: "sequence",
            ..
        })
    ));
    assert_eq!(registry.commit_calls(), 0);
}
