use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use gitops_db_registry::conformance::{
    self, env_name, sample_entry, sample_entry_with, sample_invalidation,
};
use gitops_db_registry::{Entry, Error, Registry, SqliteRegistry};
use gitops_event_model::{EnvironmentName, MfeName};

use crate::{prod, shell};

/// Each test gets its own file in a temporary directory kept alive for the process.
async fn make(test: &str) -> Option<Arc<dyn Registry>> {
    let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
    let path = dir
        .path()
        .join("nested/dirs")
        .join(format!("{test}.sqlite"));
    Some(Arc::new(SqliteRegistry::open(path).await.unwrap()))
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
    async fn get(
        &self,
        environment: &EnvironmentName,
        mfe: &MfeName,
    ) -> Result<Option<Entry>, Error> {
        self.pick().get(environment, mfe).await
    }
    async fn list(&self, environment: &EnvironmentName) -> Result<Vec<Entry>, Error> {
        self.pick().list(environment).await
    }
    async fn commit(&self, entry: &Entry) -> Result<(), Error> {
        self.pick().commit(entry).await
    }
    async fn settle_invalidation(
        &self,
        environment: &EnvironmentName,
        mfe: &MfeName,
        sequence: u64,
        reference: &str,
    ) -> Result<bool, Error> {
        self.pick()
            .settle_invalidation(environment, mfe, sequence, reference)
            .await
    }
    async fn history(
        &self,
        environment: &EnvironmentName,
        mfe: &MfeName,
    ) -> Result<Vec<Entry>, Error> {
        self.pick().history(environment, mfe).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_connections_on_one_file_pass_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.sqlite");
    let registry = Arc::new(Alternating {
        handles: [
            SqliteRegistry::open(&path).await.unwrap(),
            SqliteRegistry::open(&path).await.unwrap(),
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
    let entry = sample_entry(&prod(), &shell(), 3);
    {
        let registry = SqliteRegistry::open(&path).await.unwrap();
        assert_eq!(registry.path(), Some(path.as_path()));
        registry.commit(&entry).await.unwrap();
    }
    let registry = SqliteRegistry::open(&path).await.unwrap();
    assert_eq!(
        registry.get(&prod(), &shell()).await.unwrap(),
        Some(entry.clone())
    );
    assert_eq!(
        registry.history(&prod(), &shell()).await.unwrap(),
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

/// The columns hold each field's text as the event model writes it (the layout did not
/// change when the fields became typed), and `Prod` is kept as written.
#[tokio::test]
async fn columns_hold_the_fields_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    let registry = SqliteRegistry::open(&path).await.unwrap();
    let entry = sample_entry(&env_name("Prod"), &shell(), 7);
    registry.commit(&entry).await.unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    for table in ["registry_live", "registry_history"] {
        let row: [String; 7] = conn
            .query_row(
                &format!(
                    "SELECT environment, mfe, version, request_id, sha, deployed_at, deployed_by \
                     FROM {table}"
                ),
                [],
                |row| {
                    Ok([
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                        row.get(5)?,
                        row.get(6)?,
                    ])
                },
            )
            .unwrap();
        assert_eq!(
            row,
            [
                "Prod".to_owned(),
                "shell".to_owned(),
                "1.7.0".to_owned(),
                entry.request_id.to_string(),
                format!("{:040x}", 7),
                "2026-11-26T21:00:07.123456789+02:00".to_owned(),
                "octocat".to_owned(),
            ],
            "{table}"
        );
    }
}

#[tokio::test]
async fn a_hand_edited_row_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    let registry = SqliteRegistry::open(&path).await.unwrap();
    registry
        .commit(&sample_entry(&prod(), &shell(), 1))
        .await
        .unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE registry_live SET deployed_at = 'yesterday'", [])
        .unwrap();
    let err = registry.get(&prod(), &shell()).await.unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("yesterday"), "{err}");
    assert!(err.to_string().contains("`deployed_at`"), "{err}");
    // The commit reads the live row first, so it refuses too instead of overwriting blindly.
    assert!(matches!(
        registry.commit(&sample_entry(&prod(), &shell(), 2)).await,
        Err(Error::Corrupt { .. })
    ));
}

/// Every text column is parsed back with the request's rule: a value the rule refuses is
/// `Corrupt`, naming the row and the column, quoting a short excerpt only; `get`, `list` and
/// `history` all refuse it.
#[tokio::test]
async fn a_stored_value_that_breaks_its_rule_is_corrupt_naming_the_field() {
    let long = format!("{}!", "y".repeat(5_000));
    for (column, bad, shown) in [
        ("version", "1.0", "\"1.0\""),
        ("version", long.as_str(), "bytes long"),
        ("request_id", "req-1", "\"req-1\""),
        ("sha", "abc", "\"abc\""),
        ("deployed_by", "not a login", "\"not a login\""),
        ("mfe", "Shell", "\"Shell\""),
        ("environment", "prod.lock", "\"prod.lock\""),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.db");
        let registry = SqliteRegistry::open(&path).await.unwrap();
        let entry = sample_entry(&prod(), &shell(), 1);
        registry.commit(&entry).await.unwrap();
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(&format!(
                "UPDATE registry_live SET {column} = '{bad}'; \
                 UPDATE registry_history SET {column} = '{bad}';"
            ))
            .unwrap();
        // The name columns are keys: an edited name is found under the edited name only, so
        // read the rows through the edited key where needed.
        let env = if column == "environment" {
            None
        } else {
            Some(prod())
        };
        let mfe = if column == "mfe" { None } else { Some(shell()) };
        let mut errors = Vec::new();
        if let Some(env) = &env {
            errors.push(registry.list(env).await.unwrap_err());
            if let Some(mfe) = &mfe {
                errors.push(registry.get(env, mfe).await.unwrap_err());
                errors.push(registry.history(env, mfe).await.unwrap_err());
            }
        }
        if env.is_none() {
            // `prod.lock` is not an environment name: nothing can ask for it, so the row is
            // unreachable, not wrongly read. Its neighbours still read.
            assert_eq!(registry.list(&prod()).await.unwrap(), vec![]);
            continue;
        }
        assert!(!errors.is_empty());
        for err in errors {
            let Error::Corrupt { reason } = &err else {
                panic!("{column} = {bad:?}: expected Corrupt, got {err:?}");
            };
            assert!(reason.contains(&format!("`{column}`")), "{reason}");
            assert!(reason.contains(shown), "{reason}");
            assert!(reason.contains("row \"prod\"/"), "{reason}");
            assert!(reason.len() < 400, "{} bytes: {reason}", reason.len());
            assert!(!err.is_retryable());
        }
    }
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    drop(SqliteRegistry::open(&path).await.unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 3)
        .unwrap();
    let err = SqliteRegistry::open(&path).await.unwrap_err();
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
    assert!(SqliteRegistry::open(&path).await.is_err());
    // A directory where the file should be.
    assert!(SqliteRegistry::open(dir.path()).await.is_err());
}

/// A task on the current runtime counting 10 ms ticks: it only counts while the runtime's
/// threads are free to run it.
fn count_ticks() -> (Arc<AtomicU32>, tokio::task::JoinHandle<()>) {
    let ticks = Arc::new(AtomicU32::new(0));
    let task = tokio::spawn({
        let ticks = Arc::clone(&ticks);
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                ticks.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    (ticks, task)
}

/// A file whose schema must be created, while another process holds the write lock: opening
/// waits for the lock (the busy timeout), and a runtime with a single thread keeps running its
/// other tasks meanwhile, because the open runs on the blocking pool.
#[tokio::test(flavor = "current_thread")]
async fn open_waits_for_the_lock_without_blocking_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    let holder = rusqlite::Connection::open(&path).unwrap();
    let _: String = holder
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        holder.execute_batch("ROLLBACK").unwrap();
    });
    let (ticks, background) = count_ticks();
    let started = std::time::Instant::now();
    let registry = SqliteRegistry::open(&path).await.unwrap();
    let waited = started.elapsed();
    let ticked = ticks.load(Ordering::SeqCst);
    background.abort();
    release.join().unwrap();
    assert!(
        waited >= Duration::from_millis(400),
        "did not wait: {waited:?}"
    );
    assert!(
        ticked >= 10,
        "the runtime's only thread was blocked: {ticked} ticks in {waited:?}"
    );
    registry
        .commit(&sample_entry(&prod(), &shell(), 1))
        .await
        .unwrap();
}

/// The same for the registry's calls: a commit waiting for another writer's lock leaves a
/// single-threaded runtime free.
#[tokio::test(flavor = "current_thread")]
async fn a_waiting_commit_does_not_block_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    let registry = SqliteRegistry::open(&path).await.unwrap();
    let holder = rusqlite::Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        holder.execute_batch("ROLLBACK").unwrap();
    });
    let (ticks, background) = count_ticks();
    registry
        .commit(&sample_entry(&prod(), &shell(), 1))
        .await
        .unwrap();
    let ticked = ticks.load(Ordering::SeqCst);
    background.abort();
    release.join().unwrap();
    assert!(
        ticked >= 10,
        "the runtime's only thread was blocked: {ticked}"
    );
}

/// `open_blocking` is for synchronous callers (no runtime at all) and sees the same file.
#[test]
fn open_blocking_works_without_a_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x/registry.db");
    let registry = SqliteRegistry::open_blocking(&path).unwrap();
    assert_eq!(registry.path(), Some(path.as_path()));
    drop(registry);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let registry = SqliteRegistry::open(&path).await.unwrap();
        registry
            .commit(&sample_entry(&prod(), &shell(), 1))
            .await
            .unwrap();
    });
    drop(runtime);
    let registry = SqliteRegistry::open_blocking(&path).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(
        runtime
            .block_on(registry.get(&prod(), &shell()))
            .unwrap()
            .map(|e| e.sequence),
        Some(1)
    );
}

/// Dropping the last handle inside a runtime hands the connection to the blocking pool, and it
/// is closed there: SQLite checkpoints and removes the WAL file when its last connection closes.
#[tokio::test(flavor = "current_thread")]
async fn dropping_the_last_handle_in_a_runtime_closes_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    let wal = dir.path().join("registry.db-wal");
    let registry = SqliteRegistry::open(&path).await.unwrap();
    registry
        .commit(&sample_entry(&prod(), &shell(), 1))
        .await
        .unwrap();
    assert!(wal.exists(), "a WAL file while the connection is open");
    drop(registry);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while wal.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the connection was never closed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_waits_for_another_writer_and_readers_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    let registry = Arc::new(SqliteRegistry::open(&path).await.unwrap());
    // Another process holds the write lock.
    let holder = rusqlite::Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    // Reads are not blocked by a writer in WAL mode.
    assert_eq!(registry.get(&prod(), &shell()).await.unwrap(), None);
    let committing = tokio::spawn({
        let registry = Arc::clone(&registry);
        async move { registry.commit(&sample_entry(&prod(), &shell(), 1)).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !committing.is_finished(),
        "the commit must wait for the lock"
    );
    holder.execute_batch("ROLLBACK").unwrap();
    committing.await.unwrap().unwrap();
    assert_eq!(
        registry.get(&prod(), &shell()).await.unwrap(),
        Some(sample_entry(&prod(), &shell(), 1))
    );
}

/// The schema of version 1 (before the invalidation columns), as earlier releases wrote it,
/// with what they stored: a sha in capitals (kept as requested then; read lowercased now).
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
    ('prod', 'shell', '1.2.0', 2, '01J9Z3V7Q8M6N5P4R3S2T1V0W9',
     'ABCDEF0123456789ABCDEF0123456789ABCDEF01', '2026-01-02T03:04:05Z', 'octocat', 0);
INSERT INTO registry_history VALUES
    ('prod', 'shell', '1.1.0', 1, '4a1c7e0e-2f4b-4c8e-9d3a-1b2c3d4e5f60',
     'abcdef0123456789abcdef0123456789abcdef01', '2026-01-01T03:04:05Z', 'octocat', 0),
    ('prod', 'shell', '1.2.0', 2, '01J9Z3V7Q8M6N5P4R3S2T1V0W9',
     'ABCDEF0123456789ABCDEF0123456789ABCDEF01', '2026-01-02T03:04:05Z', 'octocat', 0);
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

    let registry = SqliteRegistry::open(&path).await.unwrap();
    let live = registry.get(&prod(), &shell()).await.unwrap().unwrap();
    assert_eq!(
        (live.sequence, live.version.to_string().as_str()),
        (2, "1.2.0")
    );
    assert_eq!(
        live.sha.as_str(),
        "abcdef0123456789abcdef0123456789abcdef01"
    );
    assert_eq!(live.invalidation, None);
    let history = registry.history(&prod(), &shell()).await.unwrap();
    assert_eq!(history.len(), 2);
    assert!(history.iter().all(|e| e.invalidation.is_none()));
    // Nothing pending: nothing to settle.
    assert!(
        !registry
            .settle_invalidation(&prod(), &shell(), 2, "deploy-2")
            .await
            .unwrap()
    );
    // The old entry replays (same deploy: the sha compares lowercased), a newer one commits
    // with its invalidation.
    registry.commit(&live).await.unwrap();
    let next = sample_entry_with(&prod(), &shell(), 3, Some(sample_invalidation("deploy-3")));
    registry.commit(&next).await.unwrap();
    assert_eq!(registry.get(&prod(), &shell()).await.unwrap(), Some(next));
    assert!(
        registry
            .settle_invalidation(&prod(), &shell(), 3, "deploy-3")
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
    let registry = SqliteRegistry::open(&path).await.unwrap();
    assert_eq!(registry.history(&prod(), &shell()).await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_half_written_invalidation_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    let registry = SqliteRegistry::open(&path).await.unwrap();
    registry
        .commit(&sample_entry_with(
            &prod(),
            &shell(),
            1,
            Some(sample_invalidation("deploy-1")),
        ))
        .await
        .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let secret = "z".repeat(1_000);
    for (sql, needle) in [
        (
            "UPDATE registry_live SET invalidation_paths = NULL".to_owned(),
            "only one of",
        ),
        (
            "UPDATE registry_live SET invalidation_paths = '[1]'".to_owned(),
            "JSON list of strings",
        ),
        (
            format!("UPDATE registry_live SET invalidation_paths = '\"{secret}\"'"),
            "JSON list of strings",
        ),
        (
            "UPDATE registry_live SET invalidation_reference = NULL, \
             invalidation_paths = '[\"/a\"]'"
                .to_owned(),
            "only one of",
        ),
    ] {
        conn.execute(&sql, []).unwrap();
        let err = registry.get(&prod(), &shell()).await.unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains(needle), "{err}");
        assert!(!err.to_string().contains("zzzzzzzzzz"), "{err}");
    }
}

#[tokio::test]
async fn settle_waits_for_another_writer_instead_of_failing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    let registry = Arc::new(SqliteRegistry::open(&path).await.unwrap());
    registry
        .commit(&sample_entry_with(
            &prod(),
            &shell(),
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
                .settle_invalidation(&prod(), &shell(), 1, "deploy-1")
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!settling.is_finished(), "the settle must wait for the lock");
    holder.execute_batch("ROLLBACK").unwrap();
    assert!(settling.await.unwrap().unwrap());
    assert_eq!(
        registry
            .get(&prod(), &shell())
            .await
            .unwrap()
            .unwrap()
            .invalidation,
        None
    );
}
