use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use gitops_db_registry::conformance::{self, sample_entry};
use gitops_db_registry::{Entry, Error, Registry, SqliteRegistry};

/// Each test gets its own file in a temporary directory kept alive for the process.
#[allow(clippy::unused_async)]
async fn make(test: &str) -> Option<Arc<dyn Registry>> {
    let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
    let path = dir
        .path()
        .join("nested/dirs")
        .join(format!("{test}.sqlite"));
    Some(Arc::new(SqliteRegistry::open(path).unwrap()))
}

crate::conformance_tests!(make);

/// Two handles (two connections, as two processes would have) on one file; calls alternate
/// between them, so concurrent commits contend for SQLite's file lock.
#[derive(Debug)]
struct Alternating {
    handles: [SqliteRegistry; 2],
    next: AtomicUsize,
}

impl Alternating {
    fn pick(&self) -> &SqliteRegistry {
        &self.handles[self.next.fetch_add(1, Ordering::Relaxed) % 2]
    }
}

#[async_trait::async_trait]
impl Registry for Alternating {
    async fn get(&self, environment: &str, mfe: &str) -> Result<Option<Entry>, Error> {
        self.pick().get(environment, mfe).await
    }
    async fn list(&self, environment: &str) -> Result<Vec<Entry>, Error> {
        self.pick().list(environment).await
    }
    async fn commit(&self, entry: &Entry) -> Result<(), Error> {
        self.pick().commit(entry).await
    }
    async fn history(&self, environment: &str, mfe: &str) -> Result<Vec<Entry>, Error> {
        self.pick().history(environment, mfe).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_connections_on_one_file_pass_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.sqlite");
    let registry = Arc::new(Alternating {
        handles: [
            SqliteRegistry::open(&path).unwrap(),
            SqliteRegistry::open(&path).unwrap(),
        ],
        next: AtomicUsize::new(0),
    });
    conformance::run_all(registry.clone()).await;
    for _ in 0..4 {
        conformance::concurrent_commits(registry.clone(), 32).await;
    }
}

#[tokio::test]
async fn data_survives_reopen_and_file_is_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/registry.db");
    let entry = sample_entry("prod", "shell", 3);
    {
        let registry = SqliteRegistry::open(&path).unwrap();
        assert_eq!(registry.path(), Some(path.as_path()));
        registry.commit(&entry).await.unwrap();
    }
    let registry = SqliteRegistry::open(&path).unwrap();
    assert_eq!(
        registry.get("prod", "shell").await.unwrap(),
        Some(entry.clone())
    );
    assert_eq!(
        registry.history("prod", "shell").await.unwrap(),
        vec![entry]
    );

    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, 1);
}

#[tokio::test]
async fn a_hand_edited_row_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    let registry = SqliteRegistry::open(&path).unwrap();
    registry
        .commit(&sample_entry("prod", "shell", 1))
        .await
        .unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE registry_live SET deployed_at = 'yesterday'", [])
        .unwrap();
    let err = registry.get("prod", "shell").await.unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("yesterday"), "{err}");
    // The commit reads the live row first, so it refuses too instead of overwriting blindly.
    assert!(matches!(
        registry.commit(&sample_entry("prod", "shell", 2)).await,
        Err(Error::Corrupt { .. })
    ));
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    drop(SqliteRegistry::open(&path).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 2)
        .unwrap();
    let err = SqliteRegistry::open(&path).unwrap_err();
    assert!(err.to_string().contains("newer"), "{err}");
}

#[tokio::test]
async fn a_path_that_is_not_a_database_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-a-db");
    std::fs::write(
        &path,
        b"this is not sqlite, just some text padding it out a bit more",
    )
    .unwrap();
    assert!(SqliteRegistry::open(&path).is_err());
    // A directory where the file should be.
    assert!(SqliteRegistry::open(dir.path()).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_waits_for_another_writer_and_readers_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    let registry = Arc::new(SqliteRegistry::open(&path).unwrap());
    // Another process holds the write lock.
    let holder = rusqlite::Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    // Reads are not blocked by a writer in WAL mode.
    assert_eq!(registry.get("prod", "shell").await.unwrap(), None);
    let committing = tokio::spawn({
        let registry = Arc::clone(&registry);
        async move { registry.commit(&sample_entry("prod", "shell", 1)).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !committing.is_finished(),
        "the commit must wait for the lock"
    );
    holder.execute_batch("ROLLBACK").unwrap();
    committing.await.unwrap().unwrap();
    assert_eq!(
        registry.get("prod", "shell").await.unwrap(),
        Some(sample_entry("prod", "shell", 1))
    );
}
