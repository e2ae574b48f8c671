//! `mfe publish`: reproducible pack, sidecar, round trip through a deploy.

use std::path::Path as FsPath;

use gitops_artifact_store::{
    Error, Limits, Progress, StoreOpener, UploadOptions, WriteOutcome, pack_dir, publish_dir,
    sha256_hex, stage_artifact, unpack,
};

use crate::support::{list, memory_store, mfe, read, ver};

fn write(root: &FsPath, rel: &str, data: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

fn dist(root: &FsPath, reversed: bool) {
    let mut files = vec![
        ("remoteEntry.js", "entry"),
        ("assets/main.3f2a9c1b.js", "main"),
        ("assets/z/deep.css", "css"),
        ("index.html", "<p>"),
    ];
    if reversed {
        files.reverse();
    }
    for (rel, data) in files {
        write(root, rel, data);
    }
}

#[test]
fn pack_is_reproducible_and_npm_shaped() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    dist(a.path(), false);
    std::thread::sleep(std::time::Duration::from_millis(20));
    dist(b.path(), true);
    let one = pack_dir(a.path()).unwrap();
    let two = pack_dir(a.path()).unwrap();
    let other_dir = pack_dir(b.path()).unwrap();
    assert_eq!(one, two);
    assert_eq!(
        one, other_dir,
        "same content in another directory must pack identically"
    );

    // The archive lists package/<path> in sorted order with fixed metadata.
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&one[..]));
    let mut names = Vec::new();
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        assert_eq!(
            (h.mtime().unwrap(), h.uid().unwrap(), h.gid().unwrap()),
            (0, 0, 0)
        );
        assert_eq!(h.mode().unwrap(), 0o644);
        names.push(e.path().unwrap().to_string_lossy().into_owned());
    }
    assert_eq!(
        names,
        [
            "package/assets/main.3f2a9c1b.js",
            "package/assets/z/deep.css",
            "package/index.html",
            "package/remoteEntry.js"
        ]
    );
    let files = unpack("x", "x.tgz", &one, &Limits::default()).unwrap();
    assert_eq!(files.len(), 4);
    assert_eq!(files[3].path, "remoteEntry.js");
}

#[cfg(unix)]
#[test]
fn pack_refuses_symlinks_and_empty_dirs() {
    let a = tempfile::tempdir().unwrap();
    assert!(matches!(pack_dir(a.path()), Err(Error::Invalid { .. })));
    write(a.path(), "a.js", "a");
    std::os::unix::fs::symlink("/etc/passwd", a.path().join("evil")).unwrap();
    assert!(matches!(pack_dir(a.path()), Err(Error::Invalid { .. })));
}

#[tokio::test]
async fn publish_then_deploy_round_trip_on_the_local_backend() {
    let repo = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    dist(src.path(), false);
    let opener = StoreOpener::new(repo.path());
    let template = "local/artifacts/{name}/{name}-{version}.tgz";
    let loc = opener
        .open_artifact(template, &mfe("checkout"), &ver("1.4.0"))
        .unwrap();

    let report = publish_dir(&loc, src.path()).await.unwrap();
    assert_eq!(report.outcome, WriteOutcome::Written);
    let on_disk = repo
        .path()
        .join("local/artifacts/checkout/checkout-1.4.0.tgz");
    let bytes = std::fs::read(&on_disk).unwrap();
    assert_eq!(sha256_hex(&bytes), report.sha256);
    let sidecar = std::fs::read_to_string(on_disk.with_extension("tgz.sha256")).unwrap();
    assert_eq!(sidecar, format!("{}  checkout-1.4.0.tgz\n", report.sha256));

    // Publishing the same build again is fine; a different build under the same version is not.
    let again = publish_dir(&loc, src.path()).await.unwrap();
    assert_eq!(again.outcome, WriteOutcome::Identical);
    write(src.path(), "remoteEntry.js", "rebuilt");
    let err = publish_dir(&loc, src.path()).await.unwrap_err();
    assert!(matches!(err, Error::ImmutableConflict { .. }), "{err:?}");

    // Deploy it.
    let target = memory_store();
    let opts = UploadOptions {
        progress: Progress::Hidden,
        entry_points: vec!["remoteEntry.js".into()],
        ..UploadOptions::default()
    };
    let r = stage_artifact(
        &loc,
        &target,
        &mfe("checkout"),
        &ver("1.4.0"),
        &Limits::default(),
        &opts,
    )
    .await
    .unwrap();
    assert_eq!(r.files, 4);
    assert_eq!(
        list(target.as_ref()).await,
        [
            "mfe/checkout/1.4.0/assets/main.3f2a9c1b.js",
            "mfe/checkout/1.4.0/assets/z/deep.css",
            "mfe/checkout/1.4.0/index.html",
            "mfe/checkout/1.4.0/remoteEntry.js"
        ]
    );
    let (data, _) = read(target.as_ref(), "mfe/checkout/1.4.0/remoteEntry.js").await;
    assert_eq!(&data[..], b"entry");
}

#[test]
fn locations_parse_and_refuse() {
    let repo = tempfile::tempdir().unwrap();
    let opener = StoreOpener::new(repo.path());
    let loc = opener
        .open_artifact(
            "../outside/{name}-{version}.tgz",
            &mfe("checkout"),
            &ver("1.0.0"),
        )
        .unwrap();
    let parent = repo
        .path()
        .parent()
        .unwrap()
        .join("outside/checkout-1.0.0.tgz");
    assert_eq!(format!("/{}", loc.path), parent.to_str().unwrap());
    assert_eq!(loc.file_name().unwrap(), "checkout-1.0.0.tgz");
    assert_eq!(
        loc.sidecar_path().filename(),
        Some("checkout-1.0.0.tgz.sha256")
    );

    let err = opener.open_object("ftp://host/x.tgz").unwrap_err();
    assert!(
        matches!(&err, Error::UnsupportedScheme { scheme, .. } if scheme == "ftp"),
        "{err:?}"
    );
    assert!(matches!(
        opener.open_object("gs://bucket/x.tgz"),
        Err(Error::UnsupportedScheme { .. })
    ));
    assert!(matches!(
        opener.open_object("https://user:secret@host/a/x.tgz"),
        Err(Error::Invalid { .. })
    ));
    let msg = opener
        .open_object("https://user:secret@host/a/x.tgz")
        .unwrap_err()
        .to_string();
    assert!(!msg.contains("secret"), "{msg}");
    assert!(matches!(
        opener.open_object("s3://bucket"),
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        opener.open_object("s3:///key"),
        Err(Error::Invalid { .. })
    ));

    let http = opener
        .open_object(
            "https://artifactory.example.com/artifactory/generic-local/checkout/1.0.0/checkout.tgz",
        )
        .unwrap();
    assert_eq!(http.path.as_ref(), "checkout.tgz");
    assert_eq!(http.sidecar_path().as_ref(), "checkout.tgz.sha256");

    let s3 = opener
        .open_object("s3://bucket/prefix/checkout-1.0.0.tgz")
        .unwrap();
    assert_eq!(s3.path.as_ref(), "prefix/checkout-1.0.0.tgz");

    opener.open_storage("envs/dev").unwrap();
    assert!(repo.path().join("envs/dev").is_dir());
    assert!(opener.open_storage("s3://bucket/prefix").is_ok());
    assert!(matches!(
        opener.open_storage("https://host/x"),
        Err(Error::UnsupportedScheme { .. })
    ));
}
