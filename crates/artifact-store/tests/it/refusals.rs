//! Crafted archives that must be refused with nothing uploaded.

use bytes::Bytes;
use gitops_artifact_store::{Error, Limits, Progress, UploadOptions, stage_artifact};
use tar::EntryType;

use crate::support::{artifact_in_memory, file, list, memory_store, special, tgz, zip_archive};

fn opts() -> UploadOptions {
    UploadOptions {
        progress: Progress::Hidden,
        ..UploadOptions::default()
    }
}

/// Stages `archive` into an empty target and returns the error; asserts the target stayed
/// empty.
async fn refused(file_name: &str, archive: Bytes, limits: &Limits) -> Error {
    let artifact = artifact_in_memory(file_name, archive, true).await;
    let target = memory_store();
    let err = stage_artifact(&artifact, &target, "checkout", "1.2.3", limits, &opts())
        .await
        .expect_err("archive was accepted");
    assert!(
        list(target.as_ref()).await.is_empty(),
        "something was uploaded: {err}"
    );
    err
}

fn assert_unsafe(err: &Error, entry: &str, reason_part: &str) {
    match err {
        Error::UnsafeEntry { entry: e, reason } => {
            assert_eq!(e, entry);
            assert!(reason.contains(reason_part), "reason `{reason}`");
            // The message names the entry.
            assert!(err.to_string().contains(entry));
        }
        other => panic!("expected UnsafeEntry for {entry}, got {other:?}"),
    }
}

#[tokio::test]
async fn zip_slip_in_tgz_is_refused_after_good_files() {
    let a = tgz(&[
        file("package/remoteEntry.js", b"ok"),
        file("package/../../evil.js", b"pwned"),
    ]);
    let err = refused("c.tgz", a, &Limits::default()).await;
    assert_unsafe(&err, "package/../../evil.js", "..");
}

#[tokio::test]
async fn absolute_path_is_refused() {
    let a = tgz(&[file("package/a.js", b"ok"), file("/etc/cron.d/evil", b"x")]);
    let err = refused("c.tgz", a, &Limits::default()).await;
    assert_unsafe(&err, "/etc/cron.d/evil", "absolute");
}

#[tokio::test]
async fn symlink_is_refused() {
    let a = tgz(&[
        file("package/a.js", b"ok"),
        special("package/link", EntryType::Symlink, "/etc/passwd"),
    ]);
    let err = refused("c.tgz", a, &Limits::default()).await;
    assert_unsafe(&err, "package/link", "symbolic link");
}

#[tokio::test]
async fn hard_link_is_refused() {
    let a = tgz(&[
        file("package/a.js", b"ok"),
        special("package/hard", EntryType::Link, "package/a.js"),
    ]);
    let err = refused("c.tgz", a, &Limits::default()).await;
    assert_unsafe(&err, "package/hard", "hard link");
}

#[tokio::test]
async fn device_and_fifo_files_are_refused() {
    let a = tgz(&[special("package/tty", EntryType::Char, "")]);
    assert_unsafe(
        &refused("c.tgz", a, &Limits::default()).await,
        "package/tty",
        "device",
    );
    let a = tgz(&[special("package/disk", EntryType::Block, "")]);
    assert_unsafe(
        &refused("c.tgz", a, &Limits::default()).await,
        "package/disk",
        "device",
    );
    let a = tgz(&[special("package/pipe", EntryType::Fifo, "")]);
    assert_unsafe(
        &refused("c.tgz", a, &Limits::default()).await,
        "package/pipe",
        "FIFO",
    );
}

#[tokio::test]
async fn too_many_files_is_refused() {
    let names: Vec<String> = (0..6).map(|i| format!("package/f{i}.js")).collect();
    let entries: Vec<_> = names.iter().map(|n| file(n, b"x")).collect();
    let limits = Limits {
        max_files: 5,
        ..Limits::default()
    };
    match refused("c.tgz", tgz(&entries), &limits).await {
        Error::LimitExceeded {
            limit, max, entry, ..
        } => {
            assert_eq!((limit, max), ("max_files", 5));
            assert_eq!(entry, "package/f5.js");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn gzip_bomb_over_the_ratio_is_refused() {
    let zeros = vec![0u8; 24 * 1024 * 1024];
    let bomb = tgz(&[
        file("package/a.js", b"ok"),
        file("package/zeros.bin", &zeros),
    ]);
    assert!(bomb.len() < 100 * 1024, "bomb is {} bytes", bomb.len());
    match refused("c.tgz", bomb, &Limits::default()).await {
        Error::LimitExceeded { limit, entry, .. } => {
            assert_eq!(limit, "max_ratio");
            assert_eq!(entry, "package/zeros.bin");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn total_size_bound_is_enforced() {
    let big = vec![7u8; 3 * 1024 * 1024];
    let limits = Limits {
        max_total_bytes: 2 * 1024 * 1024,
        max_ratio: 1_000_000,
        ..Limits::default()
    };
    match refused("c.tgz", tgz(&[file("package/big.bin", &big)]), &limits).await {
        Error::LimitExceeded { limit, .. } => assert_eq!(limit, "max_total_bytes"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn bad_checksum_is_refused_before_unpacking() {
    let good = tgz(&[file("package/a.js", b"ok")]);
    let artifact = artifact_in_memory("c.tgz", good, true).await;
    // Replace the archive after the sidecar was written.
    let tampered = tgz(&[file("package/a.js", b"tampered")]);
    object_store::ObjectStoreExt::put(artifact.store.as_ref(), &artifact.path, tampered.into())
        .await
        .unwrap();
    let target = memory_store();
    let err = stage_artifact(
        &artifact,
        &target,
        "checkout",
        "1.2.3",
        &Limits::default(),
        &opts(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::ChecksumMismatch { artifact, .. } if artifact.ends_with("c.tgz")),
        "{err:?}"
    );
    assert!(err.to_string().contains("c.tgz"));
    assert!(list(target.as_ref()).await.is_empty());
}

#[tokio::test]
async fn missing_sidecar_is_refused() {
    let artifact = artifact_in_memory("c.tgz", tgz(&[file("package/a.js", b"ok")]), false).await;
    let target = memory_store();
    let err = stage_artifact(
        &artifact,
        &target,
        "checkout",
        "1.2.3",
        &Limits::default(),
        &opts(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::ChecksumMissing { artifact } if artifact.ends_with("c.tgz")),
        "{err:?}"
    );
    assert!(list(target.as_ref()).await.is_empty());
}

#[tokio::test]
async fn missing_artifact_is_not_found() {
    let artifact = artifact_in_memory("c.tgz", tgz(&[file("package/a.js", b"ok")]), true).await;
    object_store::ObjectStoreExt::delete(artifact.store.as_ref(), &artifact.path)
        .await
        .unwrap();
    let target = memory_store();
    let err = stage_artifact(
        &artifact,
        &target,
        "checkout",
        "1.2.3",
        &Limits::default(),
        &opts(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn zip_slip_and_symlink_in_zip_are_refused() {
    let a = zip_archive(&[("package/a.js", b"ok", false), ("../evil.js", b"x", false)]);
    assert_unsafe(
        &refused("c.zip", a, &Limits::default()).await,
        "../evil.js",
        "..",
    );
    let a = zip_archive(&[
        ("package/a.js", b"ok", false),
        ("package/l", b"/etc/passwd", true),
    ]);
    assert_unsafe(
        &refused("c.zip", a, &Limits::default()).await,
        "package/l",
        "symbolic link",
    );
    let a = zip_archive(&[("/abs.js", b"x", false)]);
    assert_unsafe(
        &refused("c.zip", a, &Limits::default()).await,
        "/abs.js",
        "absolute",
    );
}

#[tokio::test]
async fn zip_bomb_is_refused() {
    let zeros = vec![0u8; 24 * 1024 * 1024];
    let a = zip_archive(&[("package/zeros.bin", &zeros, false)]);
    match refused("c.zip", a, &Limits::default()).await {
        Error::LimitExceeded { limit, .. } => assert_eq!(limit, "max_ratio"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn duplicate_and_empty_archives_are_refused() {
    let a = tgz(&[file("package/a.js", b"1"), file("package/./a.js", b"2")]);
    assert_unsafe(
        &refused("c.tgz", a, &Limits::default()).await,
        "package/./a.js",
        "duplicate",
    );
    let a = tgz(&[special("package/", EntryType::Directory, "")]);
    assert!(matches!(
        refused("c.tgz", a, &Limits::default()).await,
        Error::Archive { .. }
    ));
    assert!(matches!(
        refused("c.tgz", Bytes::from_static(b"not gzip"), &Limits::default()).await,
        Error::Archive { .. }
    ));
    assert!(matches!(
        refused("c.tar", tgz(&[file("a", b"1")]), &Limits::default()).await,
        Error::Archive { .. }
    ));
}

#[tokio::test]
async fn archive_size_bound_is_checked_before_reading() {
    let a = tgz(&[file("package/a.js", &[1u8; 4096])]);
    let limits = Limits {
        max_archive_bytes: 16,
        ..Limits::default()
    };
    match refused("c.tgz", a, &limits).await {
        Error::LimitExceeded { limit, max, .. } => {
            assert_eq!((limit, max), ("max_archive_bytes", 16));
        }
        other => panic!("{other:?}"),
    }
}
