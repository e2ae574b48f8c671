//! Artifacts spooled to disk: the archive is streamed into a temporary file while hashed, its
//! files unpacked into a spool directory, and files over `LARGE_FILE_BYTES` uploaded in parts
//! streamed from there, write-once like every other file. Here on the in-memory store, the
//! local backend and (when configured) moto's S3.

use std::sync::Arc;

use bytes::Bytes;
use gitops_artifact_store::headers::REVALIDATE;
use gitops_artifact_store::{
    AwsSettings, CHUNK_BYTES, Content, Error, LARGE_FILE_BYTES, Limits, LocalStore, Progress,
    StoreOpener, UploadOptions, fetch_verified, sha256_hex, sidecar_line, stage_artifact, unpack,
    unpack_spooled,
};
use object_store::{Attribute, ObjectStore};

use crate::support::{artifact_in_memory, attr, file, list, memory_store, mfe, read, tgz, ver};

/// `len` bytes that do not compress.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

fn opts() -> UploadOptions {
    UploadOptions {
        progress: Progress::Hidden,
        entry_points: vec!["remoteEntry.js".into()],
        ..UploadOptions::default()
    }
}

/// An archive with an entry point, small files and one file over the large-file threshold.
fn archive(big: &[u8]) -> Bytes {
    tgz(&[
        file("package/remoteEntry.js", b"entry"),
        file("package/assets/a.js", b"a"),
        file("package/assets/big.bin", big),
        file("package/assets/z.css", b"z"),
    ])
}

/// A file over the large-file threshold (made once: generating and compressing it is the
/// slow part of these tests in a debug build).
fn big() -> &'static [u8] {
    static BIG: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BIG.get_or_init(|| {
        noise(
            usize::try_from(LARGE_FILE_BYTES).unwrap() + 3 * 1024 * 1024 + 17,
            7,
        )
    })
}

/// [`archive`] of [`big`], made once.
fn big_archive() -> Bytes {
    static ARCHIVE: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    ARCHIVE.get_or_init(|| archive(big())).clone()
}

#[tokio::test]
async fn a_verified_archive_is_spooled_and_unpacks_as_in_memory() {
    let archive = big_archive();
    let location = artifact_in_memory("checkout-1.0.0.tgz", archive.clone(), true).await;
    let verified = fetch_verified(&location, Limits::default().max_archive_bytes)
        .await
        .unwrap();
    assert!(
        matches!(verified.archive, Content::Spooled(_)),
        "the archive is spooled: {:?}",
        verified.archive
    );
    assert_eq!(verified.archive.len(), archive.len() as u64);
    assert_eq!(verified.archive.bytes().await.unwrap(), archive);
    let in_memory = unpack("a", "a.tgz", &archive, &Limits::default()).unwrap();
    let spooled = tokio::task::spawn_blocking(move || {
        unpack_spooled("a", "a.tgz", &verified.archive, &Limits::default())
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(spooled.len(), in_memory.len());
    for (s, m) in spooled.iter().zip(&in_memory) {
        assert_eq!(s.path, m.path);
        assert!(matches!(s.data, Content::Spooled(_)), "{}", s.path);
        let Content::Spooled(f) = &s.data else {
            unreachable!()
        };
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(f.spool_dir()).unwrap().permissions(),
        );
        assert_eq!(mode & 0o077, 0, "the spool directory is private: {mode:o}");
        assert_eq!(s.data.len(), m.data.len());
        assert_eq!(s.data.bytes().await.unwrap(), m.data.bytes().await.unwrap());
    }
    // The spool directory goes with the last file that refers to it.
    let Content::Spooled(f) = &spooled[0].data else {
        unreachable!()
    };
    let dir = f.spool_dir().to_owned();
    assert!(dir.is_dir());
    drop(spooled);
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[tokio::test]
async fn a_local_archive_is_copied_into_the_spool_while_hashed() {
    // A local artifact is copied in one blocking task (not streamed 8 KiB at a time): the
    // spooled copy is the file's bytes, and a file whose bytes are not the sidecar's is refused.
    let dir = tempfile::tempdir().unwrap();
    let archive = big_archive();
    let name = "checkout-1.0.0.tgz";
    std::fs::write(dir.path().join(name), &archive).unwrap();
    std::fs::write(
        dir.path().join(format!("{name}.sha256")),
        sidecar_line(&sha256_hex(&archive), name),
    )
    .unwrap();
    let location = StoreOpener::new(dir.path()).open_object(name).unwrap();
    let verified = fetch_verified(&location, Limits::default().max_archive_bytes)
        .await
        .unwrap();
    assert!(matches!(verified.archive, Content::Spooled(_)));
    assert_eq!(verified.sha256, sha256_hex(&archive));
    assert_eq!(verified.archive.bytes().await.unwrap(), archive);
    assert_eq!(
        verified.archive.payload().await.unwrap().iter().count(),
        archive.len().div_ceil(CHUNK_BYTES),
        "the upload body is read in pieces of at most CHUNK_BYTES"
    );

    let mut changed = archive.to_vec();
    changed[archive.len() / 2] ^= 1;
    std::fs::write(dir.path().join(name), &changed).unwrap();
    let err = fetch_verified(&location, Limits::default().max_archive_bytes)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ChecksumMismatch { .. }), "{err:?}");
}

#[tokio::test]
async fn a_refused_spooled_archive_leaves_no_files_behind() {
    // A unique entry point, so its spooled copy could be told from other tests' files.
    let marker = format!("refused-{}", ulid::Ulid::generate());
    let archive = tgz(&[
        file("package/remoteEntry.js", marker.as_bytes()),
        file("package/assets/big.bin", big()),
    ]);
    let location = artifact_in_memory("checkout-1.0.0.tgz", archive, true).await;
    let verified = fetch_verified(&location, Limits::default().max_archive_bytes)
        .await
        .unwrap();
    let Content::Spooled(f) = &verified.archive else {
        panic!("not spooled")
    };
    let archive_dir = f.spool_dir().to_owned();
    let tight = Limits {
        max_total_bytes: 4 << 20,
        ..Limits::default()
    };
    let archive = verified.archive.clone();
    let err = tokio::task::spawn_blocking(move || unpack_spooled("a", "a.tgz", &archive, &tight))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::LimitExceeded { .. }), "{err:?}");
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("gitops-artifact-")
        })
        .filter(|e| e.path() != archive_dir)
        .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten())
        .filter_map(Result::ok)
        .filter(|f| {
            std::fs::read(f.path())
                .is_ok_and(|c| c.windows(marker.len()).any(|w| w == marker.as_bytes()))
        })
        .map(|f| f.path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    drop(verified);
    assert!(
        !archive_dir.exists(),
        "{} left behind",
        archive_dir.display()
    );
}

/// Stages the archive into `target` twice (the second run finds every file identical), then
/// checks a different large file under the same version is refused.
async fn stages_large_files_write_once(target: &Arc<dyn ObjectStore>, headers: bool) {
    let big = big();
    let location = artifact_in_memory("checkout-1.0.0.tgz", big_archive(), true).await;
    let (m, v) = (mfe("checkout"), ver("1.0.0"));
    let report = stage_artifact(&location, target, &m, &v, &Limits::default(), &opts())
        .await
        .unwrap();
    assert_eq!((report.files, report.skipped_identical), (4, 0));
    let (stored, attrs) = read(target.as_ref(), "mfe/checkout/1.0.0/assets/big.bin").await;
    assert_eq!(stored.len(), big.len());
    assert!(stored[..] == big[..], "the large file arrived intact");
    if headers {
        // Not a content-hashed name: the revalidating Cache-Control, as for a small file.
        assert_eq!(attr(&attrs, &Attribute::CacheControl), REVALIDATE);
        assert_eq!(
            attr(&attrs, &Attribute::ContentType),
            "application/octet-stream"
        );
    }
    assert_eq!(
        list(target.as_ref()).await,
        [
            "mfe/checkout/1.0.0/assets/a.js",
            "mfe/checkout/1.0.0/assets/big.bin",
            "mfe/checkout/1.0.0/assets/z.css",
            "mfe/checkout/1.0.0/remoteEntry.js",
        ]
    );
    let again = stage_artifact(&location, target, &m, &v, &Limits::default(), &opts())
        .await
        .unwrap();
    assert_eq!(
        again.skipped_identical, 4,
        "a re-run finds every file identical"
    );

    // The same version rebuilt with one byte of the large file changed (same length).
    let mut rebuilt = big.to_vec();
    rebuilt[usize::try_from(LARGE_FILE_BYTES).unwrap() + 1] ^= 1;
    let location = artifact_in_memory("checkout-1.0.0.tgz", archive(&rebuilt), true).await;
    let err = stage_artifact(&location, target, &m, &v, &Limits::default(), &opts())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ImmutableConflict { path } if path.ends_with("assets/big.bin")),
        "{err:?}"
    );
    let (stored, _) = read(target.as_ref(), "mfe/checkout/1.0.0/assets/big.bin").await;
    assert!(stored[..] == big[..], "the stored version is untouched");
}

#[tokio::test]
async fn large_files_are_streamed_in_parts_write_once_in_memory() {
    stages_large_files_write_once(&memory_store(), true).await;
}

#[tokio::test]
async fn large_files_are_streamed_in_parts_write_once_on_the_local_backend() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(LocalStore::open(dir.path()).unwrap());
    stages_large_files_write_once(&store, false).await;
}

#[tokio::test]
async fn large_files_are_streamed_in_parts_write_once_on_s3() {
    let Some(endpoint) =
        gitops_testkit::aws_endpoint("large_files_are_streamed_in_parts_write_once_on_s3")
    else {
        return;
    };
    let bucket = crate::s3::create_bucket(&endpoint).await;
    let repo = tempfile::tempdir().unwrap();
    let store = StoreOpener::new(repo.path())
        .with_aws(AwsSettings::emulator(&endpoint, "testing", "testing"))
        .open_storage(&format!("s3://{bucket}"))
        .unwrap();
    stages_large_files_write_once(&store, true).await;
}
