//! `LocalStore`: conditional puts that hold across processes, and no temporary file ever
//! inside the served tree.
//!
//! Some tests re-run this test binary as a child process (the `child_process_role` test,
//! switched on by `GITOPS_ARTIFACT_STORE_CHILD`).

use std::path::{Path as FsPath, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::TryStreamExt as _;
use gitops_artifact_store::{
    Error, LocalStore, StoreOpener, put_write_once, served_imports, update_import_map,
};
use object_store::path::Path;

use crate::support::{mfe, ver};
use object_store::{
    Attribute, Attributes, CopyMode, CopyOptions, ObjectStore, ObjectStoreExt as _, PutMode,
    PutOptions, UpdateVersion,
};

const CHILD_ROLE: &str = "GITOPS_ARTIFACT_STORE_CHILD";
const CHILD_DIR: &str = "GITOPS_ARTIFACT_STORE_CHILD_DIR";
const CHILD_INDEX: &str = "GITOPS_ARTIFACT_STORE_CHILD_INDEX";

const ROUNDS: usize = 30;
const WRITERS: usize = 4;

/// Every regular file under `dir`, relative, sorted.
fn files_under(dir: &FsPath) -> Vec<String> {
    let mut out: Vec<String> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| !e.file_type().is_dir())
        .map(|e| {
            e.path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    out.sort();
    out
}

fn put(mode: PutMode) -> PutOptions {
    PutOptions {
        mode,
        ..PutOptions::default()
    }
}

#[tokio::test]
async fn conditional_puts_follow_object_store_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path().join("public")).unwrap();
    assert_eq!(
        store.staging_dir(),
        dir.path().canonicalize().unwrap().join("public.staging")
    );
    let p = Path::from("a/b.json");

    // Create: once only.
    let created = store
        .put_opts(&p, Bytes::from_static(b"one").into(), put(PutMode::Create))
        .await
        .unwrap();
    let err = store
        .put_opts(&p, Bytes::from_static(b"two").into(), put(PutMode::Create))
        .await
        .unwrap_err();
    assert!(
        matches!(err, object_store::Error::AlreadyExists { .. }),
        "{err:?}"
    );

    // The e-tag a read reports is the one the write returned, and Update accepts it.
    let got = store.get(&p).await.unwrap();
    assert_eq!(got.meta.e_tag, created.e_tag);
    let seen = UpdateVersion {
        e_tag: got.meta.e_tag.clone(),
        version: None,
    };
    assert_eq!(&got.bytes().await.unwrap()[..], b"one");
    let updated = store
        .put_opts(
            &p,
            Bytes::from_static(b"two").into(),
            put(PutMode::Update(seen.clone())),
        )
        .await
        .unwrap();
    assert_ne!(updated.e_tag, created.e_tag);
    assert_eq!(store.head(&p).await.unwrap().e_tag, updated.e_tag);

    // A stale e-tag (even with content of the same size) is a precondition failure.
    let err = store
        .put_opts(
            &p,
            Bytes::from_static(b"xxx").into(),
            put(PutMode::Update(seen)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, object_store::Error::Precondition { .. }),
        "{err:?}"
    );
    assert_eq!(
        &store.get(&p).await.unwrap().bytes().await.unwrap()[..],
        b"two"
    );

    // Update of a missing object, or without an e-tag, fails too.
    for v in [
        UpdateVersion {
            e_tag: updated.e_tag.clone(),
            version: None,
        },
        UpdateVersion {
            e_tag: None,
            version: None,
        },
    ] {
        let target = if v.e_tag.is_some() {
            Path::from("missing.json")
        } else {
            p.clone()
        };
        let err = store
            .put_opts(
                &target,
                Bytes::from_static(b"z").into(),
                put(PutMode::Update(v)),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, object_store::Error::Precondition { .. }),
            "{err:?}"
        );
    }

    // Attributes are refused as LocalFileSystem refuses them (callers then drop them).
    let mut attributes = Attributes::new();
    attributes.insert(Attribute::ContentType, "text/plain".into());
    let err = store
        .put_opts(
            &Path::from("x.txt"),
            Bytes::from_static(b"x").into(),
            PutOptions {
                attributes,
                ..PutOptions::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, object_store::Error::NotImplemented { operation, .. } if operation.contains("attributes")),
        "{err:?}"
    );

    // Copy (both modes), multipart, list, delete.
    store.copy(&p, &Path::from("c/copy.json")).await.unwrap();
    let err = store
        .copy_opts(
            &p,
            &Path::from("c/copy.json"),
            CopyOptions::new().with_mode(CopyMode::Create),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, object_store::Error::AlreadyExists { .. }),
        "{err:?}"
    );
    let mut upload = store.put_multipart(&Path::from("m/big.bin")).await.unwrap();
    upload
        .put_part(Bytes::from(vec![1u8; 1000]).into())
        .await
        .unwrap();
    upload
        .put_part(Bytes::from(vec![2u8; 10]).into())
        .await
        .unwrap();
    upload.complete().await.unwrap();
    let big = store
        .get(&Path::from("m/big.bin"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(big.len(), 1010);
    assert_eq!((big[999], big[1000]), (1, 2));
    let listed: Vec<String> = store
        .list(None)
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    let mut listed = listed;
    listed.sort();
    assert_eq!(listed, ["a/b.json", "c/copy.json", "m/big.bin"]);
    store.delete(&Path::from("c/copy.json")).await.unwrap();
    assert!(matches!(
        store.delete(&Path::from("c/copy.json")).await,
        Err(object_store::Error::NotFound { .. })
    ));
    assert!(matches!(
        store.get(&Path::from("c/copy.json")).await,
        Err(object_store::Error::NotFound { .. })
    ));

    // Nothing but objects in the served tree; nothing but the lock left in staging.
    assert_eq!(
        files_under(&dir.path().join("public")),
        ["a/b.json", "m/big.bin"]
    );
    assert_eq!(files_under(store.staging_dir()), ["lock"]);
}

#[tokio::test]
async fn successive_writes_of_one_path_never_repeat_an_e_tag() {
    // Same size, written as fast as possible: inode numbers get reused and coarse clocks
    // repeat, but the e-tags must not (a repeat would let a stale compare-and-swap win).
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path().join("public")).unwrap();
    let p = Path::from("importmap.json");
    let mut seen = std::collections::HashSet::new();
    for i in 0..200u32 {
        let r = store
            .put(&p, Bytes::from(format!("{:04}", i % 2)).into())
            .await
            .unwrap();
        assert!(
            seen.insert(r.e_tag.clone().unwrap()),
            "e-tag repeated at {i}"
        );
        assert_eq!(store.head(&p).await.unwrap().e_tag, r.e_tag);
    }
}

#[tokio::test]
async fn open_storage_gives_a_local_store_and_refuses_a_root_without_parent() {
    let repo = tempfile::tempdir().unwrap();
    let store = StoreOpener::new(repo.path())
        .open_storage("state/dev")
        .unwrap();
    assert!(store.to_string().starts_with("LocalStore("), "{store}");
    assert!(repo.path().join("state/dev.staging/lock").is_file());
    // Write-once on it: identical bytes are a success, different bytes a conflict.
    let p = Path::from("mfe/a/1.0.0/x.js");
    let none = Attributes::new();
    put_write_once(store.as_ref(), &p, Bytes::from_static(b"x"), &none)
        .await
        .unwrap();
    assert_eq!(
        put_write_once(store.as_ref(), &p, Bytes::from_static(b"x"), &none)
            .await
            .unwrap(),
        gitops_artifact_store::WriteOutcome::Identical
    );
    assert!(matches!(
        put_write_once(store.as_ref(), &p, Bytes::from_static(b"y"), &none).await,
        Err(Error::ImmutableConflict { .. })
    ));
    assert!(matches!(
        LocalStore::open("/"),
        Err(Error::Invalid {
            field: "storage",
            ..
        })
    ));
}

/// The same MFE set, written by `WRITERS` independent store instances at once, `ROUNDS`
/// times: every round must keep every MFE. (`LocalFileSystem`'s plain-put fallback lost one
/// in about a third of such rounds.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn import_map_updates_from_independent_instances_never_lose_an_mfe() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..ROUNDS {
        let root = dir.path().join(format!("round-{round}"));
        let barrier = Arc::new(tokio::sync::Barrier::new(WRITERS));
        let mut tasks = Vec::new();
        for i in 0..WRITERS {
            let store = LocalStore::open(&root).unwrap();
            let barrier = Arc::clone(&barrier);
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                update_import_map(
                    &store,
                    "https://cdn",
                    &mfe(&format!("mfe{i}")),
                    &ver("1.0.0"),
                    "e.js",
                )
                .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let store = LocalStore::open(&root).unwrap();
        let served = served_imports(&store).await.unwrap();
        assert_eq!(served.len(), WRITERS, "round {round}: {served:?}");
    }
}

fn spawn_child(role: &str, dir: &FsPath, index: usize) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "local_store::child_process_role",
            "--exact",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ROLE, role)
        .env(CHILD_DIR, dir)
        .env(CHILD_INDEX, index.to_string())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_for(what: &str, deadline: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `WRITERS` separate OS processes, `ROUNDS` rounds, each round started together through a
/// file-system barrier, each process adding its own MFE to that round's import map.
#[test]
fn import_map_updates_from_separate_processes_never_lose_an_mfe() {
    let dir = tempfile::tempdir().unwrap();
    let children: Vec<Child> = (0..WRITERS)
        .map(|i| spawn_child("cas", dir.path(), i))
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "writer process {i} failed: {out:?}");
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    for round in 0..ROUNDS {
        let store = LocalStore::open(dir.path().join(format!("round-{round}"))).unwrap();
        let served = rt.block_on(served_imports(&store)).unwrap();
        let expected: Vec<String> = (0..WRITERS).map(|i| format!("mfe{i}")).collect();
        assert_eq!(
            served.keys().map(ToString::to_string).collect::<Vec<_>>(),
            expected,
            "round {round}"
        );
    }
}

/// `kill -9` in the middle of an upload: the served tree holds nothing (no zero-byte or
/// half-written file); the interrupted temporary file is in the staging directory.
#[test]
fn a_killed_upload_leaves_nothing_in_the_served_tree() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_child("slow-writer", dir.path(), 0);
    let started = dir.path().join("started");
    wait_for("the writer to start", Duration::from_mins(1), || {
        started.exists()
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let served = dir.path().join("public");
    assert_eq!(files_under(&served), Vec::<String>::new());
    let staging = dir.path().join("public.staging");
    let temps: Vec<PathBuf> = std::fs::read_dir(&staging)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".tmp-")
        })
        .collect();
    assert_eq!(temps.len(), 1, "the interrupted write should be in staging");
    assert_eq!(std::fs::metadata(&temps[0]).unwrap().len(), 1 << 20);

    // The store still works, and the leftover never shows up in listings.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = LocalStore::open(&served).unwrap();
    rt.block_on(store.put(
        &Path::from("mfe/a/1.0.0/x.js"),
        Bytes::from_static(b"x").into(),
    ))
    .unwrap();
    assert_eq!(files_under(&served), ["mfe/a/1.0.0/x.js"]);
}

/// An upload abandoned in-process (future dropped, upload dropped) leaves no file anywhere.
#[tokio::test]
async fn a_dropped_upload_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path().join("public")).unwrap();
    let mut upload = store
        .put_multipart(&Path::from("mfe/a/1.0.0/big.js"))
        .await
        .unwrap();
    upload
        .put_part(Bytes::from(vec![0u8; 4096]).into())
        .await
        .unwrap();
    assert_eq!(files_under(store.staging_dir()).len(), 2);
    drop(upload);
    assert_eq!(
        files_under(&dir.path().join("public")),
        Vec::<String>::new()
    );
    assert_eq!(files_under(store.staging_dir()), ["lock"]);
}

/// Not a test on its own: the body of the child processes above. Does nothing unless
/// `GITOPS_ARTIFACT_STORE_CHILD` is set.
#[test]
fn child_process_role() {
    let Ok(role) = std::env::var(CHILD_ROLE) else {
        return;
    };
    let dir = PathBuf::from(std::env::var(CHILD_DIR).unwrap());
    let index: usize = std::env::var(CHILD_INDEX).unwrap().parse().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    match role.as_str() {
        "cas" => {
            for round in 0..ROUNDS {
                std::fs::write(dir.join(format!("ready-{round}-{index}")), "").unwrap();
                wait_for("the other writers", Duration::from_mins(1), || {
                    (0..WRITERS).all(|i| dir.join(format!("ready-{round}-{i}")).exists())
                });
                let store = LocalStore::open(dir.join(format!("round-{round}"))).unwrap();
                rt.block_on(update_import_map(
                    &store,
                    "https://cdn",
                    &mfe(&format!("mfe{index}")),
                    &ver("1.0.0"),
                    "e.js",
                ))
                .unwrap();
            }
        }
        "slow-writer" => {
            let store = LocalStore::open(dir.join("public")).unwrap();
            rt.block_on(async {
                let mut upload = store
                    .put_multipart(&Path::from("mfe/a/1.0.0/big.js"))
                    .await
                    .unwrap();
                upload
                    .put_part(Bytes::from(vec![7u8; 1 << 20]).into())
                    .await
                    .unwrap();
                std::fs::write(dir.join("started"), "").unwrap();
                tokio::time::sleep(Duration::from_mins(2)).await;
            });
        }
        other => panic!("unknown child role {other}"),
    }
}
