//! An MFE's `limits:` (`mfes/<mfe>.yaml`) over the run's archive limits, in the deploy and in
//! drift: lowered, they refuse an artifact the defaults admit, naming the limit and the file to
//! raise it in; raised, they admit one the run's limits refuse.

use gitops_artifact_store as store;
use gitops_db_registry::Registry as _;
use gitops_iac_config::Repository;
use gitops_pipeline::{DeployOptions, DriftOptions, ErrorClass, PairOutcome, deploy_all, drift};

use crate::{Fakes, desired, env, files, from_files, keys, mfe};

/// dev, and checkout desired there at 1.0.0, whose MFE file ends with `limits` (YAML lines).
fn repository(limits: &str) -> Repository {
    let mut files = files(
        &[("dev", "")],
        &[("checkout", "dev")],
        &[desired("dev", "checkout", "1.0.0", 1)],
    );
    files
        .get_mut("mfes/checkout.yaml")
        .unwrap()
        .extend_from_slice(limits.as_bytes());
    from_files(&files)
}

/// checkout 1.0.0 made of three files (one entry point).
fn published() -> Fakes {
    let fakes = Fakes::new();
    fakes.publish_files(
        "checkout",
        "1.0.0",
        &[
            ("remoteEntry.js", "// checkout 1.0.0\n"),
            ("main.3f2a9c1b.js", "console.log('1.0.0')\n"),
            ("styles.9c1b3f2a.css", "body { margin: 0 }\n"),
        ],
    );
    fakes
}

/// The run's limits, but at most two files per archive.
fn two_files() -> store::Limits {
    store::Limits {
        max_files: 2,
        ..store::Limits::default()
    }
}

/// The failure of the report's only pair: (error, class).
fn failure(outcome: &PairOutcome) -> (&str, ErrorClass) {
    match outcome {
        PairOutcome::Failed {
            error,
            retryable,
            class,
        } => {
            assert!(!retryable, "{error}");
            (error, *class)
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn a_lower_max_archive_bytes_refuses_an_artifact_the_default_admits() {
    let fakes = published();
    let report = deploy_all(
        &repository("limits:\n  max_archive_bytes: 64\n"),
        &fakes,
        &DeployOptions::default(),
    )
    .await
    .unwrap();
    let (error, class) = failure(&report.pairs[0].outcome);
    assert_eq!(class, ErrorClass::Refused);
    assert!(
        error.contains("max_archive_bytes limit of 64 bytes;"),
        "{error}"
    );
    assert!(
        error.contains("raise `limits.max_archive_bytes` in mfes/checkout.yaml"),
        "{error}"
    );
    assert!(keys(fakes.storage("dev")).await.is_empty());
    let live = fakes.registry.get(&env("dev"), &mfe("checkout")).await;
    assert!(live.unwrap().is_none());

    // The same artifact under the defaults (and under a limit it fits) deploys.
    for limits in ["", "limits:\n  max_archive_bytes: 1MiB\n"] {
        let fakes = published();
        let report = deploy_all(&repository(limits), &fakes, &DeployOptions::default())
            .await
            .unwrap();
        assert_eq!(report.pairs[0].outcome, PairOutcome::Deployed, "{limits:?}");
    }
}

#[tokio::test]
async fn a_higher_max_files_admits_an_archive_the_runs_limits_refuse() {
    let options = DeployOptions {
        limits: two_files(),
        ..DeployOptions::default()
    };
    let fakes = published();
    let report = deploy_all(&repository(""), &fakes, &options).await.unwrap();
    let (error, class) = failure(&report.pairs[0].outcome);
    assert_eq!(class, ErrorClass::Refused);
    assert!(error.contains("max_files limit of 2 at entry `"), "{error}");
    assert!(
        error.contains("raise `limits.max_files` in mfes/checkout.yaml"),
        "{error}"
    );
    assert!(keys(fakes.storage("dev")).await.is_empty());

    let fakes = published();
    let report = deploy_all(&repository("limits:\n  max_files: 3\n"), &fakes, &options)
        .await
        .unwrap();
    assert_eq!(report.pairs[0].outcome, PairOutcome::Deployed);
    assert_eq!(report.pairs[0].files_uploaded, 3);
    let live = fakes.registry.get(&env("dev"), &mfe("checkout")).await;
    assert_eq!(live.unwrap().unwrap().version.to_string(), "1.0.0");
}

#[tokio::test]
async fn a_lower_max_total_bytes_names_its_own_limit() {
    let fakes = published();
    let report = deploy_all(
        &repository("limits:\n  max_total_bytes: 16\n"),
        &fakes,
        &DeployOptions::default(),
    )
    .await
    .unwrap();
    let (error, _) = failure(&report.pairs[0].outcome);
    assert!(
        error.contains("raise `limits.max_total_bytes` in mfes/checkout.yaml"),
        "{error}"
    );
    assert!(keys(fakes.storage("dev")).await.is_empty());
}

#[tokio::test]
async fn drift_checks_the_artifact_within_the_mfes_limits() {
    let fakes = published();
    let report = deploy_all(&repository(""), &fakes, &DeployOptions::default())
        .await
        .unwrap();
    assert_eq!(report.pairs[0].outcome, PairOutcome::Deployed);
    let in_sync = drift(&repository(""), &fakes, &DriftOptions::default())
        .await
        .unwrap();
    assert!(in_sync.pairs[0].in_sync, "{in_sync:#?}");

    // Lowered: the artifact cannot be checked, and the pair says which limit and where.
    let lowered = drift(
        &repository("limits:\n  max_archive_bytes: 64\n"),
        &fakes,
        &DriftOptions::default(),
    )
    .await
    .unwrap();
    let pair = &lowered.pairs[0];
    assert!(!pair.in_sync, "{pair:#?}");
    let error = pair.error.as_deref().unwrap_or_default();
    assert!(
        error.contains("raise `limits.max_archive_bytes` in mfes/checkout.yaml"),
        "{pair:#?}"
    );
    assert_eq!(pair.error_class, Some(ErrorClass::Refused));

    // Raised over the run's limits: checked whole again.
    let options = DriftOptions {
        limits: two_files(),
        ..DriftOptions::default()
    };
    let refused = drift(&repository(""), &fakes, &options).await.unwrap();
    let error = refused.pairs[0].error.as_deref().unwrap_or_default();
    assert!(error.contains("limits.max_files"), "{refused:#?}");
    let raised = drift(&repository("limits:\n  max_files: 3\n"), &fakes, &options)
        .await
        .unwrap();
    assert!(raised.pairs[0].in_sync, "{raised:#?}");
}
