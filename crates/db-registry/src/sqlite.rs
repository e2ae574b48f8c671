//! SQLite registry: the embedded default.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gitops_event_model::{EnvironmentName, MfeName};
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};

use crate::entry::{
    StoredEntry, corrupt_field, format_time, preview, validate_reference, validate_sequence,
};
use crate::{Decision, Entry, Error, Invalidation, Registry, decide};

/// Schema version stored in `PRAGMA user_version`: 1 without the invalidation columns, 2 with
/// them. A version 1 file is migrated in place when opened.
const SCHEMA_VERSION: i64 = 2;

/// How long a connection waits for another process's write lock before giving up with
/// [`Error::Unavailable`].
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

const COLUMNS: &str = "environment, mfe, version, sequence, request_id, sha, deployed_at, \
     deployed_by, rollback, invalidation_reference, invalidation_paths";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS registry_live (
    environment TEXT NOT NULL,
    mfe         TEXT NOT NULL,
    version     TEXT NOT NULL,
    sequence    INTEGER NOT NULL CHECK (sequence > 0),
    request_id  TEXT NOT NULL,
    sha         TEXT NOT NULL,
    deployed_at TEXT NOT NULL,
    deployed_by TEXT NOT NULL,
    rollback    INTEGER NOT NULL CHECK (rollback IN (0, 1)),
    invalidation_reference TEXT,
    invalidation_paths     TEXT,
    PRIMARY KEY (environment, mfe)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS registry_history (
    environment TEXT NOT NULL,
    mfe         TEXT NOT NULL,
    version     TEXT NOT NULL,
    sequence    INTEGER NOT NULL CHECK (sequence > 0),
    request_id  TEXT NOT NULL,
    sha         TEXT NOT NULL,
    deployed_at TEXT NOT NULL,
    deployed_by TEXT NOT NULL,
    rollback    INTEGER NOT NULL CHECK (rollback IN (0, 1)),
    invalidation_reference TEXT,
    invalidation_paths     TEXT,
    PRIMARY KEY (environment, mfe, sequence)
) WITHOUT ROWID;
";

/// From schema 1 to 2: the pending invalidation (both columns `NULL`: nothing pending, which
/// is what every row written before this version reads as).
const MIGRATE_1_TO_2: &str = "
ALTER TABLE registry_live ADD COLUMN invalidation_reference TEXT;
ALTER TABLE registry_live ADD COLUMN invalidation_paths TEXT;
ALTER TABLE registry_history ADD COLUMN invalidation_reference TEXT;
ALTER TABLE registry_history ADD COLUMN invalidation_paths TEXT;
";

/// Registry in one SQLite file (bundled SQLite, WAL mode).
///
/// Several processes may use the same file at once: writes take the database write lock up
/// front (`BEGIN IMMEDIATE`) and wait up to 30 s for it, so the conditional commit is atomic
/// across processes. Within a process, one connection is shared behind a mutex.
///
/// Nothing blocks the async runtime: [`SqliteRegistry::open`] and every [`Registry`] method run
/// their SQLite calls on tokio's blocking pool (`spawn_blocking`), and dropping the last
/// handle inside a runtime closes the connection (which checkpoints the WAL file) there too.
///
/// Tables: `registry_live` (one row per `(environment, mfe)`) and `registry_history` (one row
/// per successful commit), with the [`Entry`] fields as text columns (each field's text as
/// the event model writes it); `deployed_at` is RFC 3339 text, `rollback` 0 or 1, the pending
/// invalidation `invalidation_reference` (text) and `invalidation_paths` (a JSON array of
/// strings), both `NULL` when nothing is pending. Rows are parsed back into the field types
/// when read; a value that does not parse is [`Error::Corrupt`]. Files of schema version 1
/// (before the invalidation columns) are migrated when opened.
pub struct SqliteRegistry {
    conn: Arc<Mutex<Connection>>,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for SqliteRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteRegistry")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Drop for SqliteRegistry {
    fn drop(&mut self) {
        // Closing the last connection to a WAL database checkpoints it into the main file:
        // file I/O. Inside a runtime, let the last reference go on the blocking pool. (When
        // the runtime is shutting down the closure is dropped at once, here: it still closes.)
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let conn = Arc::clone(&self.conn);
            drop(runtime.spawn_blocking(move || drop(conn)));
        }
    }
}

impl SqliteRegistry {
    /// Open (creating the file, its parent directories and the schema when missing, migrating
    /// an older schema) the registry at `path`, on tokio's blocking pool: safe to await from
    /// async code. [`SqliteRegistry::open_blocking`] is the same for synchronous callers.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref().to_owned();
        tokio::task::spawn_blocking(move || Self::open_blocking(&path))
            .await
            .map_err(|e| Error::Backend {
                message: format!("opening the registry failed: {e}"),
            })?
    }

    /// [`SqliteRegistry::open`] for synchronous code: blocks the calling thread on file I/O
    /// and on another process's write lock (up to 30 s). Never call it on an async worker
    /// thread; use [`SqliteRegistry::open`] there.
    #[allow(clippy::disallowed_methods)] // the synchronous open; `open` runs it on the blocking pool
    pub fn open_blocking(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::Backend {
                message: format!("cannot create {}: {e}", parent.display()),
            })?;
        }
        let conn = Connection::open(path).map_err(|e| map_open_err(path, &e))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
        // WAL lets readers run while another process commits.
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(map_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "SQLite registry is not in WAL mode");
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(map_err)?;
        Self::with_connection(conn, Some(path.to_owned()))
    }

    /// A private registry in memory (nothing persisted): for tests and dry runs. Touches no
    /// file and waits for no lock (the schema is created in memory, microseconds of CPU), so it
    /// is safe to call from async code as it is.
    pub fn open_in_memory() -> Result<Self, Error> {
        let conn = Connection::open_in_memory().map_err(map_err)?;
        Self::with_connection(conn, None)
    }

    /// The file this registry lives in (`None` in memory).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn with_connection(mut conn: Connection, path: Option<PathBuf>) -> Result<Self, Error> {
        let current: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(map_err)?;
        if current != SCHEMA_VERSION {
            Self::create_schema(&mut conn)?;
        }
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path,
        })
    }

    /// Create or migrate the schema under the write lock (another process may be doing the
    /// same).
    fn create_schema(conn: &mut Connection) -> Result<(), Error> {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map_err)?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(map_err)?;
        if version > SCHEMA_VERSION {
            return Err(Error::Backend {
                message: format!(
                    "registry schema version {version} is newer than this tool's \
                     ({SCHEMA_VERSION}); upgrade gitops"
                ),
            });
        }
        match version {
            SCHEMA_VERSION => return Ok(()),
            1 => tx.execute_batch(MIGRATE_1_TO_2).map_err(map_err)?,
            _ => tx.execute_batch(SCHEMA).map_err(map_err)?,
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(map_err)?;
        tx.commit().map_err(map_err)
    }

    /// Run `f` with the connection on the blocking pool.
    async fn run<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, Error> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A panic inside `f` cannot leave a transaction open (the Transaction guard rolls
            // back on drop), so a poisoned connection is still usable.
            let mut guard = conn
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut guard)
        })
        .await
        .map_err(|e| Error::Backend {
            message: format!("registry task failed: {e}"),
        })?
    }
}

#[async_trait::async_trait]
impl Registry for SqliteRegistry {
    async fn get(
        &self,
        environment: &EnvironmentName,
        mfe: &MfeName,
    ) -> Result<Option<Entry>, Error> {
        let (environment, mfe) = (environment.clone(), mfe.clone());
        self.run(move |conn| select_live(conn, &environment, &mfe))
            .await
    }

    async fn list(&self, environment: &EnvironmentName) -> Result<Vec<Entry>, Error> {
        let environment = environment.clone();
        self.run(move |conn| {
            select_many(
                conn,
                "registry_live",
                &format!("SELECT {COLUMNS} FROM registry_live WHERE environment = ?1 ORDER BY mfe"),
                params![environment.as_str()],
            )
        })
        .await
    }

    async fn commit(&self, entry: &Entry) -> Result<(), Error> {
        entry.validate()?;
        let entry = entry.clone();
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            let stored = select_live(&tx, &entry.environment, &entry.mfe)?;
            match decide(stored.as_ref(), &entry)? {
                Decision::Replay => Ok(()),
                Decision::Write => {
                    let deployed_at = format_time(entry.deployed_at)?;
                    let sequence = to_sql_sequence(entry.sequence)?;
                    let (reference, paths) = match &entry.invalidation {
                        Some(pending) => (
                            Some(pending.reference.as_str()),
                            Some(serde_json::to_string(&pending.paths).map_err(|e| {
                                Error::Backend {
                                    message: format!("cannot encode invalidation paths: {e}"),
                                }
                            })?),
                        ),
                        None => (None, None),
                    };
                    for table in ["registry_live", "registry_history"] {
                        tx.execute(
                            &format!(
                                "INSERT OR REPLACE INTO {table} ({COLUMNS}) \
                                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                            ),
                            params![
                                entry.environment.as_str(),
                                entry.mfe.as_str(),
                                entry.version.to_string(),
                                sequence,
                                entry.request_id.as_str(),
                                entry.sha.as_str(),
                                deployed_at,
                                entry.deployed_by.as_str(),
                                entry.rollback,
                                reference,
                                paths,
                            ],
                        )
                        .map_err(map_err)?;
                    }
                    tx.commit().map_err(map_err)
                }
            }
        })
        .await
    }

    async fn settle_invalidation(
        &self,
        environment: &EnvironmentName,
        mfe: &MfeName,
        sequence: u64,
        reference: &str,
    ) -> Result<bool, Error> {
        validate_sequence(sequence)?;
        validate_reference(reference)?;
        let sequence = to_sql_sequence(sequence)?;
        let (environment, mfe, reference) =
            (environment.clone(), mfe.clone(), reference.to_owned());
        self.run(move |conn| {
            // One statement: the condition and the write are atomic under SQLite's write lock.
            let changed = conn
                .execute(
                    "UPDATE registry_live \
                     SET invalidation_reference = NULL, invalidation_paths = NULL \
                     WHERE environment = ?1 AND mfe = ?2 AND sequence = ?3 \
                     AND invalidation_reference = ?4",
                    params![environment.as_str(), mfe.as_str(), sequence, reference],
                )
                .map_err(map_err)?;
            Ok(changed == 1)
        })
        .await
    }

    async fn history(
        &self,
        environment: &EnvironmentName,
        mfe: &MfeName,
    ) -> Result<Vec<Entry>, Error> {
        let (environment, mfe) = (environment.clone(), mfe.clone());
        self.run(move |conn| {
            select_many(
                conn,
                "registry_history",
                &format!(
                    "SELECT {COLUMNS} FROM registry_history \
                     WHERE environment = ?1 AND mfe = ?2 ORDER BY sequence"
                ),
                params![environment.as_str(), mfe.as_str()],
            )
        })
        .await
    }
}

fn to_sql_sequence(sequence: u64) -> Result<i64, Error> {
    i64::try_from(sequence).map_err(|_| Error::Invalid {
        field: "sequence",
        reason: "does not fit SQLite's INTEGER".into(),
    })
}

fn select_live(
    conn: &Connection,
    environment: &EnvironmentName,
    mfe: &MfeName,
) -> Result<Option<Entry>, Error> {
    let raw = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM registry_live WHERE environment = ?1 AND mfe = ?2"),
            params![environment.as_str(), mfe.as_str()],
            RawRow::read,
        )
        .optional()
        .map_err(map_err)?;
    raw.map(|row| row.into_entry("registry_live")).transpose()
}

fn select_many(
    conn: &Connection,
    table: &str,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Entry>, Error> {
    let mut stmt = conn.prepare_cached(sql).map_err(map_err)?;
    let rows = stmt
        .query_map(params, RawRow::read)
        .map_err(map_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(map_err)?;
    rows.into_iter().map(|row| row.into_entry(table)).collect()
}

/// A row as SQLite returns it, before it is parsed into an [`Entry`].
struct RawRow {
    environment: String,
    mfe: String,
    version: String,
    sequence: i64,
    request_id: String,
    sha: String,
    deployed_at: String,
    deployed_by: String,
    rollback: bool,
    invalidation_reference: Option<String>,
    invalidation_paths: Option<String>,
}

impl RawRow {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            environment: row.get(0)?,
            mfe: row.get(1)?,
            version: row.get(2)?,
            sequence: row.get(3)?,
            request_id: row.get(4)?,
            sha: row.get(5)?,
            deployed_at: row.get(6)?,
            deployed_by: row.get(7)?,
            rollback: row.get(8)?,
            invalidation_reference: row.get(9)?,
            invalidation_paths: row.get(10)?,
        })
    }

    /// Parse the row of `table` into an entry (see [`StoredEntry::parse`]).
    fn into_entry(self, table: &str) -> Result<Entry, Error> {
        let location = format!(
            "{table} row {}/{} sequence {}",
            preview(&self.environment),
            preview(&self.mfe),
            self.sequence
        );
        let invalidation = match (self.invalidation_reference, self.invalidation_paths) {
            (None, None) => None,
            (Some(reference), Some(paths)) => Some(Invalidation {
                reference,
                paths: serde_json::from_str(&paths).map_err(|e| {
                    corrupt_field(
                        &location,
                        "invalidation_paths",
                        // The position only: serde's message may quote a stored string.
                        &format!(
                            "not a JSON list of strings (line {}, column {})",
                            e.line(),
                            e.column()
                        ),
                    )
                })?,
            }),
            _ => {
                return Err(Error::Corrupt {
                    reason: format!(
                        "{location}: only one of invalidation_reference and invalidation_paths \
                         is set"
                    ),
                });
            }
        };
        let sequence = u64::try_from(self.sequence)
            .map_err(|_| corrupt_field(&location, "sequence", &"a negative number"))?;
        StoredEntry {
            environment: self.environment,
            mfe: self.mfe,
            version: self.version,
            sequence,
            request_id: self.request_id,
            sha: self.sha,
            deployed_at: self.deployed_at,
            deployed_by: self.deployed_by,
            rollback: self.rollback,
            invalidation,
        }
        .parse(&location)
    }
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(map_err)`
fn map_err(e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::Unavailable {
            message: format!("SQLite registry is locked by another writer: {e}"),
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

fn map_open_err(path: &Path, e: &rusqlite::Error) -> Error {
    Error::Backend {
        message: format!("cannot open SQLite registry {}: {e}", path.display()),
    }
}
