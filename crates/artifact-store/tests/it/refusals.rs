//! Crafted archives that must be refused with nothing uploaded.

use bytes::Bytes;
use gitops_artifact_store::{
    Error, Limits, Progress, UnpackedFile, UploadOptions, sha256_hex, stage_artifact, unpack,
    upload_version,
};
use object_store::ObjectStoreExt as _;
use object_store::path::Path;
use tar::EntryType;

use crate::support::{
    artifact_in_memory, file, list, memory_store, mfe, special, tgz, tgz_long, ver, zip_archive,
    zip_with_duplicate,
};

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
    let err = stage_artifact(
        &artifact,
        &target,
        &mfe("checkout"),
        &ver("1.2.3"),
        limits,
        &opts(),
    )
    .await
    .expect_err("archive was accepted");
    assert!(
        list(target.as_ref()).await.is_empty(),
        "something was uploaded: {err}"
    );
    // A refusal is deterministic: retrying cannot help (exit 1, not 3).
    assert!(!err.is_retryable(), "retryable refusal: {err:?}");
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
        &mfe("checkout"),
        &ver("1.2.3"),
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
        &mfe("checkout"),
        &ver("1.2.3"),
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
        &mfe("checkout"),
        &ver("1.2.3"),
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
    let a = tgz(&[file("package/a.js", b"1"), file("./package/a.js", b"2")]);
    assert_unsafe(
        &refused("c.tgz", a, &Limits::default()).await,
        "./package/a.js",
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

#[tokio::test]
async fn overlong_names_are_refused_before_upload() {
    // A 5,000-character name (it used to reach the store and fail there, as "retryable").
    let long = format!("package/{}.js", "n".repeat(4990));
    let a = tgz_long(&[(&long, Some(b"x")), ("package/remoteEntry.js", Some(b"e"))]);
    assert_unsafe(
        &refused("c.tgz", a, &Limits::default()).await,
        &long,
        "limit",
    );

    // One path component over 255 bytes.
    let wide = format!("package/{}.js", "w".repeat(300));
    let a = tgz_long(&[("package/remoteEntry.js", Some(b"e")), (&wide, Some(b"x"))]);
    assert_unsafe(&refused("c.tgz", a, &Limits::default()).await, &wide, "255");

    // A path that fits by itself, but whose key mfe/checkout/1.2.3/<path> is over 1,024.
    let deep = (0..5)
        .map(|i| format!("{i}{}", "d".repeat(203)))
        .collect::<Vec<_>>()
        .join("/");
    assert!(deep.len() > 1000 && deep.len() <= 1024, "{}", deep.len());
    let name = format!("package/{deep}");
    let a = tgz_long(&[("package/remoteEntry.js", Some(b"e")), (&name, Some(b"x"))]);
    let files = unpack("c", "c.tgz", &a, &Limits::default()).unwrap();
    assert_eq!(files.len(), 2);
    match refused("c.tgz", a, &Limits::default()).await {
        Error::UnsafeEntry { entry, reason } => {
            assert_eq!(entry, deep);
            assert!(reason.contains("1024-byte"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn dot_and_empty_components_are_refused_in_files_and_skipped_in_directories() {
    // `package/.` as a file (it used to upload `package` and then fail on the next file).
    let a = tgz(&[
        file("package/.", b"x"),
        file("package/remoteEntry.js", b"e"),
    ]);
    assert_unsafe(
        &refused("c.tgz", a, &Limits::default()).await,
        "package/.",
        "`.`",
    );
    for bad in ["package/a/./b.js", "package//b.js", "package/b.js/"] {
        let a = tgz(&[file("package/remoteEntry.js", b"e"), file(bad, b"x")]);
        assert_unsafe(&refused("c.tgz", a, &Limits::default()).await, bad, "`.`");
    }
    // Pure directory entries create nothing and are skipped.
    let a = tgz(&[
        special("./", EntryType::Directory, ""),
        special("package/", EntryType::Directory, ""),
        special("package/./", EntryType::Directory, ""),
        special("package/assets//", EntryType::Directory, ""),
        file("package/remoteEntry.js", b"e"),
        file("./package/assets/a.js", b"a"),
    ]);
    let files = unpack("c", "c.tgz", &a, &Limits::default()).unwrap();
    let paths: Vec<_> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["assets/a.js", "remoteEntry.js"]);
    // ... but a directory entry still may not escape.
    let a = tgz(&[
        special("package/../", EntryType::Directory, ""),
        file("package/remoteEntry.js", b"e"),
    ]);
    assert_unsafe(
        &refused("c.tgz", a, &Limits::default()).await,
        "package/../",
        "..",
    );
}

#[tokio::test]
async fn a_path_that_is_both_file_and_directory_is_refused() {
    let a = tgz(&[file("package/a", b"file"), file("package/a/b.js", b"x")]);
    assert_unsafe(
        &refused("c.tgz", a, &Limits::default()).await,
        "package/a/b.js",
        "both a file and a directory",
    );
    let a = tgz(&[file("x.js#1", b"x")]);
    assert_unsafe(
        &refused("c.tgz", a, &Limits::default()).await,
        "x.js#1",
        "#<digits>",
    );
}

#[tokio::test]
async fn zip_duplicates_are_refused_including_after_normalisation() {
    // The same raw name twice: last-wins in the zip crate, first-wins elsewhere.
    let a = zip_with_duplicate("package/remoteEntry.js");
    match refused("c.zip", a, &Limits::default()).await {
        Error::Archive { reason, .. } => assert!(reason.contains("duplicate"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // Names that only differ before normalisation.
    let a = zip_archive(&[("a.js", b"1", false), ("./a.js", b"2", false)]);
    assert_unsafe(
        &refused("c.zip", a, &Limits::default()).await,
        "./a.js",
        "duplicate",
    );
    let a = zip_archive(&[("a/b.js", b"1", false), ("a//b.js", b"2", false)]);
    assert_unsafe(
        &refused("c.zip", a, &Limits::default()).await,
        "a//b.js",
        "empty",
    );
}

fn entry_opts() -> UploadOptions {
    UploadOptions {
        entry_points: vec!["remoteEntry.js".into(), "/assets/styles.css".into()],
        ..opts()
    }
}

#[tokio::test]
async fn an_artifact_without_its_entry_point_is_refused_before_upload() {
    let a = tgz(&[
        file("package/remoteEntry.js", b"e"),
        file("package/assets/other.css", b"c"),
    ]);
    let artifact = artifact_in_memory("checkout-1.2.3.tgz", a, true).await;
    let target = memory_store();
    let err = stage_artifact(
        &artifact,
        &target,
        &mfe("checkout"),
        &ver("1.2.3"),
        &Limits::default(),
        &entry_opts(),
    )
    .await
    .unwrap_err();
    match &err {
        Error::MissingEntryPoint { artifact, entry } => {
            assert_eq!(artifact, "memory:///artifacts/checkout-1.2.3.tgz");
            assert_eq!(entry, "assets/styles.css");
        }
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("assets/styles.css") && msg.contains("checkout-1.2.3.tgz"),
        "{msg}"
    );
    assert!(!err.is_retryable());
    assert!(list(target.as_ref()).await.is_empty());

    // upload_version called directly refuses too, naming <mfe>@<version>.
    let files = vec![UnpackedFile {
        path: "remoteEntry.js".into(),
        data: Bytes::from_static(b"e").into(),
    }];
    let err = upload_version(
        &target,
        &mfe("checkout"),
        &ver("1.2.3"),
        &files,
        &entry_opts(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::MissingEntryPoint { artifact, entry } if artifact == "checkout@1.2.3" && entry == "assets/styles.css"),
        "{err:?}"
    );
    assert!(list(target.as_ref()).await.is_empty());
}

#[tokio::test]
async fn a_missing_archive_is_reported_as_such_with_or_without_a_sidecar() {
    for sidecar in [true, false] {
        let artifact = artifact_in_memory("c.tgz", tgz(&[file("a.js", b"1")]), sidecar).await;
        artifact.store.delete(&artifact.path).await.unwrap();
        let target = memory_store();
        let err = stage_artifact(
            &artifact,
            &target,
            &mfe("checkout"),
            &ver("1.2.3"),
            &Limits::default(),
            &opts(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, Error::NotFound { path } if path == "memory:///artifacts/c.tgz"),
            "sidecar {sidecar}: {err:?}"
        );
        assert!(!err.to_string().contains("sidecar"), "{err}");
        assert!(!err.is_retryable());
    }
}

/// Replaces the sidecar of a fresh artifact and stages it; returns the error.
async fn with_sidecar(sidecar: Vec<u8>) -> Error {
    let archive = tgz(&[file("a.js", b"1")]);
    let artifact = artifact_in_memory("c.tgz", archive, false).await;
    artifact
        .store
        .put(
            &Path::from("artifacts/c.tgz.sha256"),
            Bytes::from(sidecar).into(),
        )
        .await
        .unwrap();
    let target = memory_store();
    let err = stage_artifact(
        &artifact,
        &target,
        &mfe("checkout"),
        &ver("1.2.3"),
        &Limits::default(),
        &opts(),
    )
    .await
    .unwrap_err();
    assert!(list(target.as_ref()).await.is_empty());
    assert!(!err.is_retryable());
    err
}

#[tokio::test]
async fn sidecars_hold_exactly_one_hash() {
    let right = sha256_hex(&tgz(&[file("a.js", b"1")]));
    let wrong = sha256_hex(b"something else");
    // A right hash followed by a wrong one used to pass (only the first line was read).
    for content in [
        format!("{right}  c.tgz\n{wrong}  c.tgz\n"),
        format!("{right}\n{wrong}\n"),
        format!("{right} {wrong}"),
        format!("{right}  c.tgz trailing"),
        format!("{right}  other.tgz\n"),
        format!("{right}\n\n"),
    ] {
        let err = with_sidecar(content.clone().into_bytes()).await;
        assert!(
            matches!(&err, Error::ChecksumMalformed { artifact, .. } if artifact.ends_with("c.tgz")),
            "{content:?}: {err:?}"
        );
    }
    // Larger than 4 KiB: malformed, and never read whole.
    let mut big = format!("{right}  c.tgz\n").into_bytes();
    big.resize(8192, b' ');
    let err = with_sidecar(big).await;
    assert!(
        matches!(&err, Error::ChecksumMalformed { reason, .. } if reason.contains("4096")),
        "{err:?}"
    );
    // Not UTF-8.
    let mut bad = right.clone().into_bytes();
    bad.extend_from_slice(b"  \xff\xfe.tgz");
    assert!(matches!(
        with_sidecar(bad).await,
        Error::ChecksumMalformed { .. }
    ));
    // The accepted forms, either case.
    for content in [
        right.clone(),
        format!("{}\n", right.to_ascii_uppercase()),
        format!("{right}  c.tgz\n"),
        format!("{right} *c.tgz\n"),
    ] {
        let archive = tgz(&[file("a.js", b"1")]);
        let artifact = artifact_in_memory("c.tgz", archive, false).await;
        artifact
            .store
            .put(
                &Path::from("artifacts/c.tgz.sha256"),
                Bytes::from(content.clone()).into(),
            )
            .await
            .unwrap();
        stage_artifact(
            &artifact,
            &memory_store(),
            &mfe("checkout"),
            &ver("1.2.3"),
            &Limits::default(),
            &opts(),
        )
        .await
        .unwrap_or_else(|e| panic!("{content:?}: {e:?}"));
    }
}
