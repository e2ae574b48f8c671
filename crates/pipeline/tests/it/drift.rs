//! Drift's effects on the strict fakes: `--repair` re-publishes what belongs to the live
//! version, and another deploy committing during the repair keeps its pointers. The classifier
//! is tested kind by kind beside it, in `src/drift/tests.rs`.

use gitops_artifact_store as store;
use gitops_db_registry::Registry as _;
use gitops_iac_config::Repository;
use gitops_pipeline::{Backends as _, DriftKind, DriftOptions, drift};
use object_store::ObjectStoreExt as _;
use object_store::path::Path;

use crate::{Fakes, desired, entry, files, from_files, mfe, parse, text};

/// dev, and checkout desired there at 1.0.0.
fn repository() -> Repository {
    from_files(&files(
        &[("dev", "")],
        &[("checkout", "dev")],
        &[desired("dev", "checkout", "1.0.0", 1)],
    ))
}

/// Versions 1.0.0 (live) and 1.1.0 uploaded, pointers on 1.0.0 but for an alias
/// overwritten by hand; another deploy commits 1.1.0 before the `at`-th registry read.
async fn fleet(at: usize) -> Fakes {
    let fakes = Fakes::new().racing(at, entry("dev", "checkout", "1.1.0", 2));
    let mfe = mfe("checkout");
    let template = repository().mfes[&mfe].artifact.clone();
    let storage = fakes.storage["dev"].clone();
    for v in ["1.0.0", "1.1.0"] {
        fakes.publish_files("checkout", v, &[("remoteEntry.js", &format!("// {v}\n"))]);
        let location = fakes.artifact(&template, &mfe, &parse(v)).unwrap();
        let opts = store::UploadOptions {
            entry_points: vec!["remoteEntry.js".to_owned()],
            progress: store::Progress::Hidden,
            ..store::UploadOptions::default()
        };
        store::stage_artifact(
            &location,
            &storage,
            &mfe,
            &parse(v),
            &store::Limits::default(),
            &opts,
        )
        .await
        .unwrap();
    }
    fakes
        .registry
        .commit(&entry("dev", "checkout", "1.0.0", 1))
        .await
        .unwrap();
    let entries = ["remoteEntry.js".to_owned()];
    store::publish_aliases(storage.as_ref(), &mfe, &parse("1.0.0"), &entries)
        .await
        .unwrap();
    store::update_import_map(
        storage.as_ref(),
        "https://cdn.example.com/dev",
        &mfe,
        &parse("1.0.0"),
        "remoteEntry.js",
    )
    .await
    .unwrap();
    storage
        .put(
            &Path::from("mfe/checkout/remoteEntry.js"),
            "// junk\n".into(),
        )
        .await
        .unwrap();
    fakes
}

fn repair() -> DriftOptions {
    DriftOptions {
        repair: true,
        ..DriftOptions::default()
    }
}

#[tokio::test]
async fn a_deploy_committing_during_the_repair_keeps_its_pointers() {
    // The repair's reads: the live entry, before publishing, after publishing; the
    // newer deploy commits between the last two.
    let fakes = fleet(3).await;
    let report = drift(&repository(), &fakes, &repair()).await.unwrap();
    let pair = &report.pairs[0];
    assert!(
        pair.repaired
            .iter()
            .any(|n| n == "1.1.0 went live during the repair: pointers published for it"),
        "{pair:#?}"
    );
    assert_eq!(
        text(fakes.storage("dev"), "mfe/checkout/remoteEntry.js")
            .await
            .unwrap(),
        "// 1.1.0\n"
    );
    assert!(
        text(fakes.storage("dev"), "importmap.json")
            .await
            .unwrap()
            .contains("/mfe/checkout/1.1.0/remoteEntry.js")
    );
    assert_eq!(pair.live, Some(parse("1.1.0")));
    assert_eq!(
        pair.findings.iter().map(|f| f.kind).collect::<Vec<_>>(),
        [DriftKind::RegistryAhead],
        "the registry is ahead of git now; its pointers are in place"
    );
}

#[tokio::test]
async fn a_live_entry_that_moved_since_the_check_is_left_alone() {
    let fakes = fleet(1).await;
    let report = drift(&repository(), &fakes, &repair()).await.unwrap();
    let pair = &report.pairs[0];
    assert_eq!(
        pair.repaired,
        ["1.1.0 went live since the check: nothing repaired (run gitops drift again)"]
    );
    assert_eq!(
        text(fakes.storage("dev"), "mfe/checkout/remoteEntry.js")
            .await
            .unwrap(),
        "// junk\n"
    );
    assert_eq!(fakes.cdn.create_calls(), 0);
}

#[tokio::test]
async fn a_repair_without_a_race_repairs_the_alias_and_invalidates_it() {
    let fakes = fleet(usize::MAX).await;
    let checked = drift(&repository(), &fakes, &DriftOptions::default())
        .await
        .unwrap();
    assert_eq!(
        checked.pairs[0]
            .findings
            .iter()
            .map(|f| f.kind)
            .collect::<Vec<_>>(),
        [DriftKind::AliasStale]
    );
    let report = drift(&repository(), &fakes, &repair()).await.unwrap();
    assert!(report.pairs[0].in_sync, "{report:#?}");
    assert_eq!(report.class(), None);
    assert_eq!(
        text(fakes.storage("dev"), "mfe/checkout/remoteEntry.js")
            .await
            .unwrap(),
        "// 1.0.0\n"
    );
    assert_eq!(fakes.cdn.create_calls(), 1);
}
