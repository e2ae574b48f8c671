//! SQLite queue: the embedded default.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};
use time::OffsetDateTime;

use crate::message::{clean_reason, parse_handle, validate_visibility, validate_wait};
use crate::{
    DEFAULT_DEDUP_WINDOW, DEFAULT_MAX_RECEIVES, Error, Message, QueueStats, Receipt, Received,
    Sent, WorkQueue, poll,
};

/// Schema version stored in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

/// How long a connection waits for another process's write lock before giving up with
/// [`Error::Unavailable`].
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queue_messages (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id           TEXT NOT NULL,
    dedup_id           TEXT NOT NULL,
    body               TEXT NOT NULL,
    sent_at_ms         INTEGER NOT NULL,
    attempts           INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    in_flight_until_ms INTEGER NOT NULL DEFAULT 0,
    dead_reason        TEXT,
    dead_at_ms         INTEGER
);
CREATE INDEX IF NOT EXISTS queue_messages_live ON queue_messages (group_id, id)
    WHERE dead_reason IS NULL;
CREATE TABLE IF NOT EXISTS queue_dedup (
    dedup_id      TEXT PRIMARY KEY,
    first_sent_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS queue_dedup_age ON queue_dedup (first_sent_ms);
";

/// The deliverable head of each group: the oldest live message of a group with nothing in
/// flight, oldest first.
const SELECT_HEAD: &str = "
SELECT m.id, m.group_id, m.dedup_id, m.body, m.sent_at_ms, m.attempts
FROM (SELECT group_id, MIN(id) AS head FROM queue_messages
      WHERE dead_reason IS NULL GROUP BY group_id) AS h
JOIN queue_messages AS m ON m.id = h.head
WHERE m.in_flight_until_ms <= ?1
ORDER BY m.id LIMIT 1";

/// The condition of a live receipt: `?1` id, `?2` attempt, `?3` now.
const LIVE: &str = "id = ?1 AND attempts = ?2 AND dead_reason IS NULL AND in_flight_until_ms > ?3";

/// Work queue in one SQLite file of its own (bundled SQLite, WAL mode).
///
/// Several processes (replicas on one machine) may share the file: every change runs in a
/// `BEGIN IMMEDIATE` transaction or is one conditional statement, so a delivery, a receipt's
/// check and its effect are atomic across processes; a connection waits up to 30 s for
/// another's write lock. Within a process, one connection per handle behind a mutex. Times are
/// the wall clock in milliseconds (all processes share it).
///
/// Nothing blocks the async runtime: [`SqliteQueue::open`] and every call run their SQLite
/// work on tokio's blocking pool; a long poll is looks on the blocking pool separated by short
/// async sleeps (25 ms), and a look that finds nothing deliverable reads without taking the
/// write lock.
///
/// Tables: `queue_messages` (one row per message until acknowledged: `id` is the send
/// order, `attempts`, `in_flight_until_ms` (in flight while later than now), `dead_reason`
/// and `dead_at_ms` once dead-lettered; dead letters stay until removed by hand) and
/// `queue_dedup` (each deduplication id with its first send, kept for the window).
/// A receipt's handle is `<id>:<attempt>`: a later delivery of the same message has another
/// attempt, so an old receipt never matches it.
pub struct SqliteQueue {
    conn: Arc<Mutex<Connection>>,
    path: Option<PathBuf>,
    dedup_window: Duration,
    max_receives: u32,
}

impl std::fmt::Debug for SqliteQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteQueue")
            .field("path", &self.path)
            .field("dedup_window", &self.dedup_window)
            .field("max_receives", &self.max_receives)
            .finish_non_exhaustive()
    }
}

impl Drop for SqliteQueue {
    fn drop(&mut self) {
        // Closing the last connection to a WAL database checkpoints it: file I/O. Inside a
        // runtime, let the last reference go on the blocking pool.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let conn = Arc::clone(&self.conn);
            drop(runtime.spawn_blocking(move || drop(conn)));
        }
    }
}

impl SqliteQueue {
    /// Open (creating the file, its parent directories and the schema when missing) the queue
    /// at `path`, on tokio's blocking pool. 5-minute deduplication window,
    /// [`DEFAULT_MAX_RECEIVES`] deliveries.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref().to_owned();
        tokio::task::spawn_blocking(move || Self::open_blocking(&path))
            .await
            .map_err(|e| Error::Backend {
                message: format!("opening the queue failed: {e}"),
            })?
    }

    /// [`SqliteQueue::open`] for synchronous code: blocks the calling thread on file I/O and
    /// on another process's write lock (up to 30 s). Never call it on an async worker thread.
    #[allow(clippy::disallowed_methods)] // the synchronous open; `open` runs it on the blocking pool
    pub fn open_blocking(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::Backend {
                message: format!("cannot create {}: {e}", parent.display()),
            })?;
        }
        let conn = Connection::open(path).map_err(|e| Error::Backend {
            message: format!("cannot open SQLite queue {}: {e}", path.display()),
        })?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(map_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "SQLite queue is not in WAL mode");
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(map_err)?;
        Self::with_connection(conn, Some(path.to_owned()))
    }

    /// A private queue in memory (nothing persisted, one process): for tests.
    pub fn open_in_memory() -> Result<Self, Error> {
        let conn = Connection::open_in_memory().map_err(map_err)?;
        Self::with_connection(conn, None)
    }

    /// This queue with another deduplication window (SQS's is 5 minutes, fixed).
    #[must_use]
    pub fn with_dedup_window(mut self, window: Duration) -> Self {
        self.dedup_window = window;
        self
    }

    /// This queue dead-lettering a message instead of its `max_receives + 1`-th delivery (at
    /// least 1), as SQS's redrive policy does.
    #[must_use]
    pub fn with_max_receives(mut self, max_receives: u32) -> Self {
        self.max_receives = max_receives.max(1);
        self
    }

    /// The file this queue lives in (`None` in memory).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn with_connection(mut conn: Connection, path: Option<PathBuf>) -> Result<Self, Error> {
        let current: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(map_err)?;
        if current != SCHEMA_VERSION {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            let version: i64 = tx
                .query_row("PRAGMA user_version", [], |row| row.get(0))
                .map_err(map_err)?;
            match version {
                SCHEMA_VERSION => {}
                0 => {
                    tx.execute_batch(SCHEMA).map_err(map_err)?;
                    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                        .map_err(map_err)?;
                }
                other => {
                    return Err(Error::Backend {
                        message: format!(
                            "queue schema version {other} is not this tool's ({SCHEMA_VERSION}): \
                             another file, or a newer gitops"
                        ),
                    });
                }
            }
            tx.commit().map_err(map_err)?;
        }
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path,
            dedup_window: DEFAULT_DEDUP_WINDOW,
            max_receives: DEFAULT_MAX_RECEIVES,
        })
    }

    /// Run `f` with the connection on the blocking pool.
    async fn run<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, Error> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A panic inside `f` cannot leave a transaction open (the guard rolls back on
            // drop), so a poisoned connection is still usable.
            let mut guard = conn
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut guard)
        })
        .await
        .map_err(|e| Error::Backend {
            message: format!("queue task failed: {e}"),
        })?
    }

    /// One conditional statement on the message of a live receipt; [`Error::StaleReceipt`]
    /// when it matched nothing.
    async fn on_live(&self, receipt: &Receipt, change: Change) -> Result<(), Error> {
        let (id, attempt) = parse_handle(receipt.handle())?;
        let id = i64::try_from(id).map_err(|_| Error::StaleReceipt)?;
        let changed = self
            .run(move |conn| {
                let now = now_ms();
                match change {
                    Change::Extend(visibility) => conn.execute(
                        &format!("UPDATE queue_messages SET in_flight_until_ms = ?4 WHERE {LIVE}"),
                        params![id, attempt, now, now.saturating_add(visibility)],
                    ),
                    Change::Ack => conn.execute(
                        &format!("DELETE FROM queue_messages WHERE {LIVE}"),
                        params![id, attempt, now],
                    ),
                    Change::Release => conn.execute(
                        &format!("UPDATE queue_messages SET in_flight_until_ms = 0 WHERE {LIVE}"),
                        params![id, attempt, now],
                    ),
                    Change::DeadLetter(reason) => conn.execute(
                        &format!(
                            "UPDATE queue_messages SET dead_reason = ?4, dead_at_ms = ?3, \
                             in_flight_until_ms = 0 WHERE {LIVE}"
                        ),
                        params![id, attempt, now, reason],
                    ),
                }
                .map_err(map_err)
            })
            .await?;
        if changed == 1 {
            Ok(())
        } else {
            Err(Error::StaleReceipt)
        }
    }
}

/// What a live receipt does to its message.
enum Change {
    /// In flight until now plus these milliseconds.
    Extend(i64),
    Ack,
    Release,
    DeadLetter(String),
}

/// The wall clock in milliseconds since the epoch.
fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A row of [`SELECT_HEAD`].
struct Head {
    id: i64,
    group: String,
    dedup_id: String,
    body: String,
    sent_at_ms: i64,
    attempts: i64,
}

impl Head {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            group: row.get(1)?,
            dedup_id: row.get(2)?,
            body: row.get(3)?,
            sent_at_ms: row.get(4)?,
            attempts: row.get(5)?,
        })
    }
}

/// One look: deliver the oldest deliverable head, dead-lettering the heads that used up their
/// deliveries on the way.
fn receive_once(
    conn: &mut Connection,
    visibility: Duration,
    max_receives: u32,
) -> Result<Option<Received>, Error> {
    let now = now_ms();
    // Without the write lock first: most looks of a long poll find nothing.
    let any = conn
        .query_row(SELECT_HEAD, params![now], |_| Ok(()))
        .optional()
        .map_err(map_err)?;
    if any.is_none() {
        return Ok(None);
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map_err)?;
    let now = now_ms();
    loop {
        let Some(head) = tx
            .query_row(SELECT_HEAD, params![now], Head::read)
            .optional()
            .map_err(map_err)?
        else {
            tx.commit().map_err(map_err)?;
            return Ok(None);
        };
        let attempts = u32::try_from(head.attempts).map_err(|_| Error::Corrupt {
            reason: format!("queue_messages row {}: attempts {}", head.id, head.attempts),
        })?;
        if attempts >= max_receives {
            tx.execute(
                "UPDATE queue_messages SET dead_reason = ?2, dead_at_ms = ?3, \
                 in_flight_until_ms = 0 WHERE id = ?1",
                params![
                    head.id,
                    format!("delivered {attempts} times without an acknowledgement"),
                    now
                ],
            )
            .map_err(map_err)?;
            continue;
        }
        let attempts = attempts + 1;
        tx.execute(
            "UPDATE queue_messages SET attempts = ?2, in_flight_until_ms = ?3 WHERE id = ?1",
            params![head.id, attempts, now.saturating_add(ms(visibility))],
        )
        .map_err(map_err)?;
        tx.commit().map_err(map_err)?;
        let sent_at =
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(head.sent_at_ms) * 1_000_000)
                .map_err(|_| Error::Corrupt {
                    reason: format!("queue_messages row {}: sent_at_ms out of range", head.id),
                })?;
        return Ok(Some(Received {
            receipt: Receipt::new(
                format!("{}:{attempts}", head.id),
                Instant::now() + visibility,
            ),
            group: head.group,
            dedup_id: head.dedup_id,
            body: head.body,
            attempts,
            sent_at,
        }));
    }
}

#[async_trait::async_trait]
impl WorkQueue for SqliteQueue {
    async fn send(&self, message: &Message) -> Result<Sent, Error> {
        message.validate()?;
        let message = message.clone();
        let window = ms(self.dedup_window);
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            let now = now_ms();
            tx.execute(
                "DELETE FROM queue_dedup WHERE first_sent_ms <= ?1",
                params![now.saturating_sub(window)],
            )
            .map_err(map_err)?;
            let fresh = tx
                .execute(
                    "INSERT OR IGNORE INTO queue_dedup (dedup_id, first_sent_ms) VALUES (?1, ?2)",
                    params![message.dedup_id, now],
                )
                .map_err(map_err)?;
            let sent = if fresh == 1 {
                tx.execute(
                    "INSERT INTO queue_messages (group_id, dedup_id, body, sent_at_ms) \
                     VALUES (?1, ?2, ?3, ?4)",
                    params![message.group, message.dedup_id, message.body, now],
                )
                .map_err(map_err)?;
                Sent::Enqueued
            } else {
                Sent::Duplicate
            };
            tx.commit().map_err(map_err)?;
            Ok(sent)
        })
        .await
    }

    async fn receive(
        &self,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Option<Received>, Error> {
        validate_visibility(visibility)?;
        validate_wait(wait)?;
        let max_receives = self.max_receives;
        poll(wait, || {
            self.run(move |conn| receive_once(conn, visibility, max_receives))
        })
        .await
    }

    async fn extend(&self, receipt: &Receipt, visibility: Duration) -> Result<(), Error> {
        validate_visibility(visibility)?;
        self.on_live(receipt, Change::Extend(ms(visibility))).await
    }

    async fn ack(&self, receipt: &Receipt) -> Result<(), Error> {
        self.on_live(receipt, Change::Ack).await
    }

    async fn release(&self, receipt: &Receipt) -> Result<(), Error> {
        self.on_live(receipt, Change::Release).await
    }

    async fn dead_letter(&self, receipt: &Receipt, reason: &str) -> Result<(), Error> {
        self.on_live(receipt, Change::DeadLetter(clean_reason(reason)))
            .await
    }

    async fn stats(&self) -> Result<QueueStats, Error> {
        self.run(|conn| {
            let now = now_ms();
            let (depth, in_flight, oldest, dead): (i64, i64, Option<i64>, i64) = conn
                .query_row(
                    "SELECT \
                     COALESCE(SUM(dead_reason IS NULL AND in_flight_until_ms <= ?1), 0), \
                     COALESCE(SUM(dead_reason IS NULL AND in_flight_until_ms > ?1), 0), \
                     MIN(CASE WHEN dead_reason IS NULL THEN sent_at_ms END), \
                     COALESCE(SUM(dead_reason IS NOT NULL), 0) \
                     FROM queue_messages",
                    params![now],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
                )
                .map_err(map_err)?;
            let count = |n: i64| u64::try_from(n).unwrap_or(0);
            Ok(QueueStats {
                depth: count(depth),
                in_flight: count(in_flight),
                oldest_age: oldest.map(|sent| {
                    Duration::from_millis(u64::try_from(now.saturating_sub(sent)).unwrap_or(0))
                }),
                dead_letters: count(dead),
            })
        })
        .await
    }
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(map_err)`
fn map_err(e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::Unavailable {
            message: format!("SQLite queue is locked by another writer: {e}"),
        },
        Some(ErrorCode::PermissionDenied | ErrorCode::ReadOnly) => Error::Unauthorized {
            message: e.to_string(),
        },
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => Error::Corrupt {
            reason: e.to_string(),
        },
        _ => match e {
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
            | rusqlite::Error::InvalidColumnType(..) => Error::Corrupt {
                reason: e.to_string(),
            },
            other => Error::Backend {
                message: format!("SQLite: {other}"),
            },
        },
    }
}
