use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use gitops_db_registry::conformance::{self, sample_entry, sample_entry_with, sample_invalidation};
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
    async fn settle_invalidation(
        &self,
        environment: &str,
        mfe: &str,
        sequence: u64,
        reference: &str,
    ) -> Result<bool, Error> {
        self.pick()
            .settle_invalidation(environment, mfe, sequence, reference)
            .await
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
    conformance::settle_races_newer_commit(registry.clone(), 64).await;
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
    assert_eq!(version, 2);
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
        .pragma_update(None, "user_version", 3)
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

/// The schema of version 1 (before the invalidation columns), as earlier releases wrote it.
const SCHEMA_V1: &str = "
CREATE TABLE registry_live (
    environment TEXT NOT NULL, mfe TEXT NOT NULL, version TEXT NOT NULL,
    sequence INTEGER NOT NULL CHECK (sequence > 0), request_id TEXT NOT NULL,
    sha TEXT NOT NULL, deployed_at TEXT NOT NULL, deployed_by TEXT NOT NULL,
    rollback INTEGER NOT NULL CHECK (rollback IN (0, 1)),
    PRIMARY KEY (environment, mfe)
) WITHOUT ROWID;
CREATE TABLE registry_history (
    environment TEXT NOT NULL, mfe TEXT NOT NULL, version TEXT NOT NULL,
    sequence INTEGER NOT NULL CHECK (sequence > 0), request_id TEXT NOT NULL,
    sha TEXT NOT NULL, deployed_at TEXT NOT NULL, deployed_by TEXT NOT NULL,
    rollback INTEGER NOT NULL CHECK (rollback IN (0, 1)),
    PRIMARY KEY (environment, mfe, sequence)
) WITHOUT ROWID;
INSERT INTO registry_live VALUES
    ('prod', 'shell', '1.2.0', 2, 'req-2', 'abc', '2026-01-02T03:04:05Z', 'octocat', 0);
INSERT INTO registry_history VALUES
    ('prod', 'shell', '1.1.0', 1, 'req-1', 'abc', '2026-01-01T03:04:05Z', 'octocat', 0),
    ('prod', 'shell', '1.2.0', 2, 'req-2', 'abc', '2026-01-02T03:04:05Z', 'octocat', 0);
PRAGMA user_version = 1;
";

#[tokio::test]
async fn a_version_1_file_is_migrated_and_its_rows_have_nothing_pending() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(SCHEMA_V1)
        .unwrap();

    let registry = SqliteRegistry::open(&path).unwrap();
    let live = registry.get("prod", "shell").await.unwrap().unwrap();
    assert_eq!((live.sequence, live.version.as_str()), (2, "1.2.0"));
    assert_eq!(live.invalidation, None);
    let history = registry.history("prod", "shell").await.unwrap();
    assert_eq!(history.len(), 2);
    assert!(history.iter().all(|e| e.invalidation.is_none()));
    // Nothing pending: nothing to settle.
    assert!(
        !registry
            .settle_invalidation("prod", "shell", 2, "deploy-2")
            .await
            .unwrap()
    );
    // The old entry replays (same deploy), a newer one commits with its invalidation.
    registry.commit(&live).await.unwrap();
    let next = sample_entry_with("prod", "shell", 3, Some(sample_invalidation("deploy-3")));
    registry.commit(&next).await.unwrap();
    assert_eq!(registry.get("prod", "shell").await.unwrap(), Some(next));
    assert!(
        registry
            .settle_invalidation("prod", "shell", 3, "deploy-3")
            .await
            .unwrap()
    );
    drop(registry);

    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, 2);
    // Opening again (already migrated) changes nothing.
    let registry = SqliteRegistry::open(&path).unwrap();
    assert_eq!(registry.history("prod", "shell").await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_half_written_invalidation_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    let registry = SqliteRegistry::open(&path).unwrap();
    registry
        .commit(&sample_entry_with(
            "prod",
            "shell",
            1,
            Some(sample_invalidation("deploy-1")),
        ))
        .await
        .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    for (sql, needle) in [
        (
            "UPDATE registry_live SET invalidation_paths = NULL",
            "only one of",
        ),
        (
            "UPDATE registry_live SET invalidation_paths = '[1]'",
            "JSON list of strings",
        ),
        (
            "UPDATE registry_live SET invalidation_reference = NULL, \
             invalidation_paths = '[\"/a\"]'",
            "only one of",
        ),
    ] {
        conn.execute(sql, []).unwrap();
        let err = registry.get("prod", "shell").await.unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains(needle), "{err}");
    }
}

#[tokio::test]
async fn settle_waits_for_another_writer_instead_of_failing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    let registry = Arc::new(SqliteRegistry::open(&path).unwrap());
    registry
        .commit(&sample_entry_with(
            "prod",
            "shell",
            1,
            Some(sample_invalidation("deploy-1")),
        ))
        .await
        .unwrap();
    let holder = rusqlite::Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let settling = tokio::spawn({
        let registry = Arc::clone(&registry);
        async move {
            registry
                .settle_invalidation("prod", "shell", 1, "deploy-1")
                .await
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!settling.is_finished(), "the settle must wait for the lock");
    holder.execute_batch("ROLLBACK").unwrap();
    assert!(settling.await.unwrap().unwrap());
    assert_eq!(
        registry
            .get("prod", "shell")
            .await
            .unwrap()
            .unwrap()
            .invalidation,
        None
    );
}
