//! Unpack + upload: package/ strip, headers, write-once.

use std::sync::Arc;

use bytes::Bytes;
use gitops_artifact_store::headers::{IMMUTABLE, REVALIDATE};
use gitops_artifact_store::{
    Error, Limits, Progress, StoreOpener, UnpackedFile, UploadOptions, stage_artifact, unpack,
    upload_version,
};
use object_store::{Attribute, ObjectStore};

use crate::support::{artifact_in_memory, attr, file, list, memory_store, read, tgz, zip_archive};

fn opts(entry_points: &[&str]) -> UploadOptions {
    UploadOptions {
        concurrency: 4,
        entry_points: entry_points.iter().map(|s| (*s).to_owned()).collect(),
        progress: Progress::Hidden,
    }
}

fn files(list: &[(&str, &str)]) -> Vec<UnpackedFile> {
    list.iter()
        .map(|(p, d)| UnpackedFile {
            path: (*p).to_owned(),
            data: Bytes::from(d.to_string()),
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
        "checkout",
        "1.2.3",
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
    let r = upload_version(&store, "checkout", "1.0.0", &v1, &opts(&[]))
        .await
        .unwrap();
    assert_eq!((r.files, r.skipped_identical, r.bytes), (3, 0, 4));
    assert!(!r.attributes_dropped);

    let r = upload_version(&store, "checkout", "1.0.0", &v1, &opts(&[]))
        .await
        .unwrap();
    assert_eq!((r.files, r.skipped_identical), (3, 3));

    let rebuilt = files(&[("remoteEntry.js", "e2"), ("a.js", "a"), ("b.js", "b")]);
    let err = upload_version(&store, "checkout", "1.0.0", &rebuilt, &opts(&[]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ImmutableConflict { path } if path == "mfe/checkout/1.0.0/remoteEntry.js"),
        "{err:?}"
    );
    let (data, _) = read(store.as_ref(), "mfe/checkout/1.0.0/remoteEntry.js").await;
    assert_eq!(data, Bytes::from_static(b"e1"));
}

#[tokio::test]
async fn bad_names_and_options_are_invalid() {
    let store = memory_store();
    let f = files(&[("a.js", "a")]);
    for (mfe, version) in [
        ("Checkout", "1.0.0"),
        ("checkout", "1.0"),
        ("../x", "1.0.0"),
    ] {
        let err = upload_version(&store, mfe, version, &f, &opts(&[]))
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Invalid { .. }),
            "{mfe} {version}: {err:?}"
        );
    }
    let zero = UploadOptions {
        concurrency: 0,
        ..opts(&[])
    };
    assert!(
        upload_version(&store, "checkout", "1.0.0", &f, &zero)
            .await
            .is_err()
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
        "checkout",
        "1.0.0",
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
        "checkout",
        "1.0.0",
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
        "checkout",
        "1.0.0",
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
            data: Bytes::from(format!("{i}")),
        })
        .collect();
    let r = upload_version(&store, "checkout", "2.0.0", &many, &opts(&[]))
        .await
        .unwrap();
    assert_eq!(r.files, 300);
    assert_eq!(list(store.as_ref()).await.len(), 300);
}
