//! The embedded ledger: one SQLite file (bundled SQLite), WAL journal, `synchronous = FULL`
//! so that a committed entry survives a power cut, and a busy timeout for a second process
//! (the command line) that reads or prunes while the gateway writes.
//!
//! rusqlite is blocking: one connection behind an async mutex (so waiting writers queue as
//! tasks, not as blocked threads), used only inside `spawn_blocking`.
//! Appends run in `BEGIN IMMEDIATE` transactions, which take SQLite's write lock up front and
//! so serialise writers across processes too. Tables, statements and the prune algorithm are
//! [`super::schema`]'s, shared with PostgreSQL.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use super::chain::{Head, LedgerEntry, NewEntry};
use super::schema::{self, Dialect, PruneRange, WriteTx};
use super::{EntryKind, LedgerError, PruneSummary};

/// How long a writer waits for another process's write lock before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const DIALECT: Dialect = Dialect::Sqlite;

pub struct SqliteLedger {
    conn: Arc<tokio::sync::Mutex<Connection>>,
}

impl SqliteLedger {
    pub async fn open(path: &str, create: bool) -> Result<SqliteLedger, LedgerError> {
        let path = PathBuf::from(path);
        let conn = blocking(move || open_connection(&path, create)).await?;
        Ok(SqliteLedger {
            conn: Arc::new(tokio::sync::Mutex::new(conn)),
        })
    }

    async fn with<T, F>(&self, f: F) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, LedgerError> + Send + 'static,
    {
        let mut conn = Arc::clone(&self.conn).lock_owned().await;
        blocking(move || f(&mut conn)).await
    }

    pub async fn append(&self, instance: &str, entry: NewEntry) -> Result<(), LedgerError> {
        let instance = instance.to_string();
        self.with(move |conn| {
            let tx = write_transaction(conn)?;
            ready(schema::append(&mut SqliteTx(&tx), &instance, &entry))?;
            tx.commit().map_err(write_error)
        })
        .await
    }

    pub async fn check_writable(&self) -> Result<(), LedgerError> {
        self.with(|conn| {
            if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(true) {
                return Err(LedgerError::Open("the database file is read-only; give the gateway's user write access to it and its directory".into()));
            }
            let tx = write_transaction(conn)?;
            tx.execute(schema::TOUCH_HEAD, []).map_err(write_error)?;
            tx.rollback().map_err(write_error)
        })
        .await
    }

    pub async fn head(&self) -> Result<Head, LedgerError> {
        self.with(|conn| read_head(conn)).await
    }

    pub async fn entries_after(
        &self,
        after: u64,
        upto: u64,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, LedgerError> {
        let (after, upto) = (schema::bound_to_store(after), schema::bound_to_store(upto));
        self.with(move |conn| select(conn, schema::ENTRIES_AFTER, params![after, upto, limit]))
            .await
    }

    pub async fn entries_of_kind(
        &self,
        kind: EntryKind,
        since: Option<String>,
        until: Option<String>,
    ) -> Result<Vec<LedgerEntry>, LedgerError> {
        self.with(move |conn| {
            select(
                conn,
                schema::ENTRIES_OF_KIND,
                params![kind.as_str(), since, until],
            )
        })
        .await
    }

    pub async fn prune_before(
        &self,
        instance: &str,
        cutoff: String,
        now: String,
    ) -> Result<PruneSummary, LedgerError> {
        let instance = instance.to_string();
        self.with(move |conn| {
            let tx = write_transaction(conn)?;
            let summary = ready(schema::prune(&mut SqliteTx(&tx), &instance, &cutoff, &now))?;
            tx.commit().map_err(write_error)?;
            Ok(summary)
        })
        .await
    }
}

/// The steps of the shared write algorithms on an open SQLite transaction.
struct SqliteTx<'a>(&'a Connection);

impl WriteTx for SqliteTx<'_> {
    /// `BEGIN IMMEDIATE` already holds the write lock: a plain read.
    async fn lock_head(&mut self) -> Result<Head, LedgerError> {
        read_head(self.0)
    }

    async fn first_seq(&mut self, at_or_after: Option<&str>) -> Result<Option<i64>, LedgerError> {
        match at_or_after {
            None => self.0.query_row(schema::FIRST_SEQ, [], |r| r.get(0)),
            Some(at) => self.0.query_row(schema::FIRST_KEPT_SEQ, [at], |r| r.get(0)),
        }
        .map_err(read_error)
    }

    async fn hash_of(&mut self, seq: i64) -> Result<String, LedgerError> {
        self.0
            .query_row(schema::HASH_OF, [seq], |r| r.get(0))
            .map_err(read_error)
    }

    async fn delete(&mut self, range: PruneRange) -> Result<u64, LedgerError> {
        self.0
            .execute(schema::DELETE_RANGE, [range.first, range.last])
            .map(|n| n as u64)
            .map_err(write_error)
    }

    async fn insert(&mut self, entry: &LedgerEntry) -> Result<(), LedgerError> {
        insert(self.0, entry)
    }
}

/// Drives one of the shared algorithms over SQLite: its steps are blocking calls, so the
/// future is complete after one poll.
fn ready<T>(steps: impl Future<Output = Result<T, LedgerError>>) -> Result<T, LedgerError> {
    let mut steps = std::pin::pin!(steps);
    match steps.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => result,
        Poll::Pending => Err(LedgerError::Unavailable(
            "an SQLite step did not complete at once".into(),
        )),
    }
}

async fn blocking<T, F>(f: F) -> Result<T, LedgerError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, LedgerError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| LedgerError::Unavailable(format!("the store's worker thread failed: {e}")))?
}

fn write_transaction(conn: &mut Connection) -> Result<rusqlite::Transaction<'_>, LedgerError> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(write_error)
}

fn open_connection(path: &Path, create: bool) -> Result<Connection, LedgerError> {
    if path.as_os_str().is_empty() {
        return Err(LedgerError::Spec("no path after \"sqlite:\"; write e.g. audit.store = \"sqlite:/var/lib/sealgate/audit.db\"".into()));
    }
    check_path(path, create).map_err(LedgerError::Open)?;
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let mut conn = Connection::open_with_flags(path, flags).map_err(|e| {
        LedgerError::Open(format!("cannot open {}: {e}; check that the gateway's user may write the file and its directory", path.display()))
    })?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(write_error)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| {
            LedgerError::Open(format!(
                "cannot switch {} to WAL: {e}; is it an SQLite database, and writable?",
                path.display()
            ))
        })?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(LedgerError::Open(format!(
            "{} refuses the WAL journal (got {mode}); put the store on a local file system",
            path.display()
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(write_error)?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// Says what to do when the path cannot be a store: SQLite's own message would be vague.
fn check_path(path: &Path, create: bool) -> Result<(), String> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match std::fs::metadata(&parent) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(format!(
                "{} is not a directory; fix the path in audit.store",
                parent.display()
            ))
        }
        Err(e) => {
            return Err(format!(
                "directory {} is not usable ({e}); create it and give the gateway's user write access, or fix the path in audit.store",
                parent.display()
            ))
        }
    }
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(format!(
            "{} is a directory; audit.store must name a file, e.g. sqlite:{}/audit.db",
            path.display(),
            path.display()
        )),
        Ok(_) => Ok(()),
        Err(_) if create => create_private(path),
        Err(e) => Err(format!(
            "{} cannot be read ({e}); is the path right?",
            path.display()
        )),
    }
}

/// The records name people (sender and recipient addresses): readable by the gateway's user
/// only. SQLite gives its `-wal` and `-shm` files the same mode.
fn create_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!(
            "cannot create {} ({e}); give the gateway's user write access to the directory",
            path.display()
        )),
    }
}

fn migrate(conn: &mut Connection) -> Result<(), LedgerError> {
    let tx = write_transaction(conn)?;
    tx.execute(schema::CREATE_VERSION_TABLE, [])
        .map_err(write_error)?;
    let version: Option<i64> = tx
        .query_row(schema::SCHEMA_VERSION, [], |r| r.get(0))
        .map_err(read_error)?;
    for (next, sql) in schema::pending_migrations(DIALECT, version)? {
        tx.execute_batch(&sql).map_err(|e| {
            LedgerError::Write(format!("migration to schema version {next} failed: {e}"))
        })?;
        tx.execute(schema::RECORD_VERSION, [next])
            .map_err(write_error)?;
    }
    tx.commit().map_err(write_error)
}

fn read_head(conn: &Connection) -> Result<Head, LedgerError> {
    let row = conn
        .query_row(schema::HEAD, [], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
        .optional()
        .map_err(read_error)?;
    let (seq, hash) = row.ok_or_else(schema::missing_head)?;
    schema::head_of(seq, hash)
}

fn insert(conn: &Connection, e: &LedgerEntry) -> Result<(), LedgerError> {
    let seq = schema::seq_to_store(e.seq)?;
    conn.execute(
        schema::INSERT,
        params![
            seq,
            e.kind,
            e.transfer_id,
            e.at,
            e.instance,
            e.body,
            e.prev_hash,
            e.hash
        ],
    )
    .map_err(|err| match err.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => schema::duplicate(e),
        _ => write_error(err),
    })?;
    conn.execute(schema::SET_HEAD, params![seq, e.hash])
        .map_err(write_error)?;
    Ok(())
}

fn select(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<LedgerEntry>, LedgerError> {
    let mut stmt = conn.prepare_cached(sql).map_err(read_error)?;
    let rows = stmt
        .query_map(params, |r| {
            Ok((
                r.get::<_, i64>(0)?,
                LedgerEntry {
                    seq: 0,
                    kind: r.get(1)?,
                    transfer_id: r.get(2)?,
                    at: r.get(3)?,
                    instance: r.get(4)?,
                    body: r.get(5)?,
                    prev_hash: r.get(6)?,
                    hash: r.get(7)?,
                },
            ))
        })
        .map_err(read_error)?;
    rows.map(|row| {
        let (seq, entry) = row.map_err(read_error)?;
        schema::numbered(seq, entry)
    })
    .collect()
}

fn write_error(e: rusqlite::Error) -> LedgerError {
    LedgerError::Write(e.to_string())
}

fn read_error(e: rusqlite::Error) -> LedgerError {
    LedgerError::Read(e.to_string())
}
