//! Unpack + upload: package/ strip, headers, write-once.

use std::sync::Arc;

use bytes::Bytes;
use gitops_artifact_store::headers::{IMMUTABLE, REVALIDATE};
use gitops_artifact_store::{
    Error, Limits, Progress, StoreOpener, UnpackedFile, UploadOptions, stage_artifact, unpack,
    upload_version,
};
use object_store::{Attribute, ObjectStore};

use crate::support::{
    artifact_in_memory, attr, file, list, memory_store, mfe, read, tgz, ver, zip_archive,
};

fn opts(entry_points: &[&str]) -> UploadOptions {
    UploadOptions {
        concurrency: 4,
        entry_points: entry_points.iter().map(|s| (*s).to_owned()).collect(),
        progress: Progress::Hidden,
        ..UploadOptions::default()
    }
}

fn files(list: &[(&str, &str)]) -> Vec<UnpackedFile> {
    list.iter()
        .map(|(p, d)| UnpackedFile {
            path: (*p).to_owned(),
            data: Bytes::from(d.to_string()).into(),
        })
        .collect()
}

#[test]
fn npm_package_prefix_is_stripped_only_when_everything_is_under_it() {
    let a = tgz(&[
        file("package/remoteEntry.js", b"e"),
        file("package/assets/x.css", b"c"),
    ]);
    let out = unpack("a", "a.tgz", &a, &Limits::default()).unwrap();
    let paths: Vec<_> = out.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["assets/x.css", "remoteEntry.js"]);
    assert_eq!(out[1].data, Bytes::from_static(b"e"));

    let a = tgz(&[file("package/a.js", b"e"), file("other.js", b"c")]);
    let out = unpack("a", "a.tgz", &a, &Limits::default()).unwrap();
    let paths: Vec<_> = out.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["other.js", "package/a.js"]);

    let a = zip_archive(&[
        ("package/", b"", false),
        ("package/index.html", b"<p>", false),
    ]);
    let out = unpack("a", "a.zip", &a, &Limits::default()).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].path, "index.html");
}

#[tokio::test]
async fn headers_per_extension() {
    let store = memory_store();
    let list_ = files(&[
        ("remoteEntry.js", "e"),
        ("main.3f2a9c1b.js", "m"),
        ("chunk-5GX7K2QD.mjs", "c"),
        ("main.3f2a9c1b.js.map", "{}"),
        ("app.wasm", "w"),
        ("data.json", "{}"),
        ("logo.svg", "<svg/>"),
        ("img.webp", "i"),
        ("img.avif", "i"),
        ("font.woff2", "f"),
        ("style.a1b2c3d4e5.css", "s"),
        ("index.html", "<p>"),
        ("LICENSE", "l"),
    ]);
    upload_version(
        &store,
        &mfe("checkout"),
        &ver("1.2.3"),
        &list_,
        &opts(&["remoteEntry.js"]),
    )
    .await
    .unwrap();
    let expect = [
        (
            "remoteEntry.js",
            "text/javascript; charset=utf-8",
            REVALIDATE,
        ),
        (
            "main.3f2a9c1b.js",
            "text/javascript; charset=utf-8",
            IMMUTABLE,
        ),
        (
            "chunk-5GX7K2QD.mjs",
            "text/javascript; charset=utf-8",
            IMMUTABLE,
        ),
        ("main.3f2a9c1b.js.map", "application/json", IMMUTABLE),
        ("app.wasm", "application/wasm", REVALIDATE),
        ("data.json", "application/json", REVALIDATE),
        ("logo.svg", "image/svg+xml", REVALIDATE),
        ("img.webp", "image/webp", REVALIDATE),
        ("img.avif", "image/avif", REVALIDATE),
        ("font.woff2", "font/woff2", REVALIDATE),
        ("style.a1b2c3d4e5.css", "text/css; charset=utf-8", IMMUTABLE),
        ("index.html", "text/html; charset=utf-8", REVALIDATE),
        ("LICENSE", "application/octet-stream", REVALIDATE),
    ];
    for (name, ct, cc) in expect {
        let (_, attrs) = read(store.as_ref(), &format!("mfe/checkout/1.2.3/{name}")).await;
        assert_eq!(attr(&attrs, &Attribute::ContentType), ct, "{name}");
        assert_eq!(attr(&attrs, &Attribute::CacheControl), cc, "{name}");
    }
}

#[tokio::test]
async fn write_once_identical_reupload_is_skipped_and_a_rebuild_is_refused() {
    let store = memory_store();
    let v1 = files(&[("remoteEntry.js", "e1"), ("a.js", "a"), ("b.js", "b")]);
    let r = upload_version(&store, &mfe("checkout"), &ver("1.0.0"), &v1, &opts(&[]))
        .await
        .unwrap();
    assert_eq!((r.files, r.skipped_identical, r.bytes), (3, 0, 4));
    assert!(!r.attributes_dropped);

    let r = upload_version(&store, &mfe("checkout"), &ver("1.0.0"), &v1, &opts(&[]))
        .await
        .unwrap();
    assert_eq!((r.files, r.skipped_identical), (3, 3));

    let rebuilt = files(&[("remoteEntry.js", "e2"), ("a.js", "a"), ("b.js", "b")]);
    let err = upload_version(
        &store,
        &mfe("checkout"),
        &ver("1.0.0"),
        &rebuilt,
        &opts(&[]),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::ImmutableConflict { path } if path == "mfe/checkout/1.0.0/remoteEntry.js"),
        "{err:?}"
    );
    let (data, _) = read(store.as_ref(), "mfe/checkout/1.0.0/remoteEntry.js").await;
    assert_eq!(data, Bytes::from_static(b"e1"));
}

/// Names and versions are valid by their types (the event model's rules); what remains for
/// the upload to refuse is its own options.
#[tokio::test]
async fn bad_options_are_invalid() {
    let store = memory_store();
    let f = files(&[("a.js", "a")]);
    let zero = UploadOptions {
        concurrency: 0,
        ..opts(&[])
    };
    let err = upload_version(&store, &mfe("checkout"), &ver("1.0.0"), &f, &zero)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid {
                field: "concurrency",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(list(store.as_ref()).await.is_empty());
}

#[tokio::test]
async fn local_filesystem_target_stores_files_without_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let opener = StoreOpener::new(dir.path());
    let target = opener.open_storage("public").unwrap();
    let a = tgz(&[
        file("package/remoteEntry.js", b"e"),
        file("package/assets/chunk-5GX7K2QD.js", b"c"),
    ]);
    let artifact = artifact_in_memory("checkout-1.0.0.tgz", a, true).await;
    let r = stage_artifact(
        &artifact,
        &target,
        &mfe("checkout"),
        &ver("1.0.0"),
        &Limits::default(),
        &opts(&[]),
    )
    .await
    .unwrap();
    assert_eq!((r.files, r.skipped_identical), (2, 0));
    assert!(r.attributes_dropped);
    let on_disk = dir
        .path()
        .join("public/mfe/checkout/1.0.0/assets/chunk-5GX7K2QD.js");
    assert_eq!(std::fs::read(on_disk).unwrap(), b"c");
    // Write-once on the local backend too.
    let r = stage_artifact(
        &artifact,
        &target,
        &mfe("checkout"),
        &ver("1.0.0"),
        &Limits::default(),
        &opts(&[]),
    )
    .await
    .unwrap();
    assert_eq!(r.skipped_identical, 2);
    let other = tgz(&[file("package/remoteEntry.js", b"changed")]);
    let artifact = artifact_in_memory("checkout-1.0.0.tgz", other, true).await;
    let err = stage_artifact(
        &artifact,
        &target,
        &mfe("checkout"),
        &ver("1.0.0"),
        &Limits::default(),
        &opts(&[]),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::ImmutableConflict { .. }), "{err:?}");
}

#[tokio::test]
async fn many_files_upload_with_bounded_parallelism() {
    let store: Arc<dyn ObjectStore> = memory_store();
    let many: Vec<UnpackedFile> = (0..300)
        .map(|i| UnpackedFile {
            path: format!("assets/f{i}.js"),
            data: Bytes::from(format!("{i}")).into(),
        })
        .collect();
    let r = upload_version(&store, &mfe("checkout"), &ver("2.0.0"), &many, &opts(&[]))
        .await
        .unwrap();
    assert_eq!(r.files, 300);
    assert_eq!(list(store.as_ref()).await.len(), 300);
}

/// Hashing and unpacking a large archive run on tokio's blocking threads: on a runtime with a
/// single thread, a ticking task keeps ticking while `stage_artifact` works, although the same
/// hashing and unpacking done inline take far longer than any gap between ticks.
#[test]
fn staging_leaves_the_async_thread_free() {
    // 8 MiB that gzip cannot shrink (xorshift), so the ratio limit does not apply.
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let noise: Vec<u8> = (0..8 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    let archive = tgz(&[
        file("package/remoteEntry.js", b"e"),
        file("package/big.bin", &noise),
    ]);
    let started = std::time::Instant::now();
    gitops_artifact_store::sha256_hex(&archive);
    unpack("a", "a.tgz", &archive, &Limits::default()).unwrap();
    let inline = started.elapsed();
    assert!(
        inline > std::time::Duration::from_millis(100),
        "hashing and unpacking took only {inline:?}: too little to see a blocked thread"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let longest_gap = runtime.block_on(async {
        let artifact = artifact_in_memory("checkout-9.0.0.tgz", archive, true).await;
        let target = memory_store();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ticker = {
            let done = Arc::clone(&done);
            tokio::spawn(async move {
                let mut longest = std::time::Duration::ZERO;
                let mut last = std::time::Instant::now();
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    longest = longest.max(last.elapsed());
                    last = std::time::Instant::now();
                }
                longest
            })
        };
        // Let the ticker start before the work does.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let report = stage_artifact(
            &artifact,
            &target,
            &mfe("checkout"),
            &ver("9.0.0"),
            &Limits::default(),
            &opts(&["remoteEntry.js"]),
        )
        .await
        .unwrap();
        assert_eq!(report.files, 2);
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        ticker.await.unwrap()
    });
    assert!(
        longest_gap < inline / 2,
        "the async thread was blocked for {longest_gap:?} (inline work takes {inline:?})"
    );
}
