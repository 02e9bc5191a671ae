//! The embedded ledger: one SQLite file (bundled SQLite), WAL journal, `synchronous = FULL`
//! so that a committed entry survives a power cut, and a busy timeout for a second process
//! (the command line) that reads or prunes while the gateway writes.
//!
//! rusqlite is blocking: one connection behind an async mutex (so waiting writers queue as
//! tasks, not as blocked threads), used only inside `spawn_blocking`.
//! Appends run in `BEGIN IMMEDIATE` transactions, which take SQLite's write lock up front and
//! so serialise writers across processes too.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use super::chain::{self, Head, LedgerEntry, NewEntry};

/// Versioned migrations: entry i brings the schema to version i + 1.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE audit_entries (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    transfer_id TEXT,
    at TEXT NOT NULL,
    instance TEXT NOT NULL,
    body TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (kind, transfer_id)
);
CREATE INDEX audit_entries_kind_at ON audit_entries (kind, at);
CREATE INDEX audit_entries_at ON audit_entries (at);
CREATE TABLE audit_chain_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_chain_head (id, seq, hash)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
"#];

pub struct SqliteLedger {
    conn: Arc<tokio::sync::Mutex<Connection>>,
}

impl SqliteLedger {
    pub async fn open(path: &str, create: bool) -> Result<SqliteLedger, String> {
        let path = PathBuf::from(path);
        let conn = blocking(move || open_connection(&path, create)).await?;
        Ok(SqliteLedger {
            conn: Arc::new(tokio::sync::Mutex::new(conn)),
        })
    }

    async fn with<T, F>(&self, f: F) -> Result<T, String>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, String> + Send + 'static,
    {
        let mut conn = Arc::clone(&self.conn).lock_owned().await;
        blocking(move || f(&mut conn)).await
    }

    pub async fn append(&self, instance: &str, entry: NewEntry) -> Result<(), String> {
        let instance = instance.to_string();
        self.with(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(write_error)?;
            let head = read_head(&tx)?;
            let sealed = chain::seal(&head, &instance, &entry);
            insert(&tx, &sealed)?;
            tx.commit().map_err(write_error)
        })
        .await
    }

    pub async fn check_writable(&self) -> Result<(), String> {
        self.with(|conn| {
            if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(true) {
                return Err("the database file is read-only; give the gateway's user write access to it and its directory".into());
            }
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(write_error)?;
            tx.execute("UPDATE audit_chain_head SET seq = seq WHERE id = 1", [])
                .map_err(write_error)?;
            tx.rollback().map_err(write_error)
        })
        .await
    }

    pub async fn head(&self) -> Result<Head, String> {
        self.with(|conn| read_head(conn)).await
    }

    pub async fn entries_after(
        &self,
        after: u64,
        upto: u64,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, String> {
        self.with(move |conn| {
            select(
                conn,
                "SELECT seq, kind, transfer_id, at, instance, body, prev_hash, hash FROM audit_entries
                 WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3",
                params![to_i64(after), to_i64(upto), limit],
            )
        })
        .await
    }

    pub async fn entries_of_kind(
        &self,
        kind: &'static str,
        since: Option<String>,
        until: Option<String>,
    ) -> Result<Vec<LedgerEntry>, String> {
        self.with(move |conn| {
            select(
                conn,
                "SELECT seq, kind, transfer_id, at, instance, body, prev_hash, hash FROM audit_entries
                 WHERE kind = ?1 AND (?2 IS NULL OR at >= ?2) AND (?3 IS NULL OR at < ?3) ORDER BY seq",
                params![kind, since, until],
            )
        })
        .await
    }

    pub async fn prune_before(
        &self,
        instance: &str,
        cutoff: String,
        now: String,
    ) -> Result<super::PruneSummary, String> {
        let instance = instance.to_string();
        self.with(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(write_error)?;
            let head = read_head(&tx)?;
            let first: Option<i64> = tx
                .query_row("SELECT min(seq) FROM audit_entries", [], |r| r.get(0))
                .map_err(read_error)?;
            let keep_from: Option<i64> = tx
                .query_row(
                    "SELECT min(seq) FROM audit_entries WHERE at >= ?1",
                    [&cutoff],
                    |r| r.get(0),
                )
                .map_err(read_error)?;
            let last_pruned = keep_from.map_or(to_i64(head.seq), |k| k - 1);
            let Some(first) = first.filter(|f| *f <= last_pruned) else {
                return Ok(super::PruneSummary {
                    pruned: 0,
                    checkpoint_seq: None,
                });
            };
            let hash: String = tx
                .query_row(
                    "SELECT hash FROM audit_entries WHERE seq = ?1",
                    [last_pruned],
                    |r| r.get(0),
                )
                .map_err(read_error)?;
            let pruned = tx
                .execute(
                    "DELETE FROM audit_entries WHERE seq >= ?1 AND seq <= ?2",
                    [first, last_pruned],
                )
                .map_err(write_error)? as u64;
            let pruned_head = Head {
                seq: from_i64(last_pruned),
                hash,
            };
            let checkpoint = chain::seal(
                &head,
                &instance,
                &NewEntry {
                    kind: "checkpoint",
                    transfer_id: None,
                    at: now,
                    payload: chain::checkpoint_payload(&pruned_head, pruned, &cutoff),
                },
            );
            insert(&tx, &checkpoint)?;
            tx.commit().map_err(write_error)?;
            Ok(super::PruneSummary {
                pruned,
                checkpoint_seq: Some(checkpoint.seq),
            })
        })
        .await
    }
}

async fn blocking<T, F>(f: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, String> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("the store's worker thread failed: {e}"))?
}

fn open_connection(path: &Path, create: bool) -> Result<Connection, String> {
    if path.as_os_str().is_empty() {
        return Err("no path after \"sqlite:\"; write e.g. audit.store = \"sqlite:/var/lib/sealgate/audit.db\"".into());
    }
    check_path(path, create)?;
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let mut conn = Connection::open_with_flags(path, flags)
        .map_err(|e| format!("cannot open {}: {e}; check that the gateway's user may write the file and its directory", path.display()))?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(write_error)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| {
            format!(
                "cannot switch {} to WAL: {e}; is it an SQLite database, and writable?",
                path.display()
            )
        })?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!(
            "{} refuses the WAL journal (got {mode}); put the store on a local file system",
            path.display()
        ));
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
            return Err(format!("{} is not a directory; fix the path in audit.store", parent.display()))
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

fn migrate(conn: &mut Connection) -> Result<(), String> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(write_error)?;
    tx.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
        [],
    )
    .map_err(write_error)?;
    let version: Option<i64> = tx
        .query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0))
        .map_err(read_error)?;
    let version = version.unwrap_or(0);
    if version > MIGRATIONS.len() as i64 {
        return Err(format!(
            "the schema is at version {version}, newer than this sealgate knows ({}); run a newer sealgate",
            MIGRATIONS.len()
        ));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql)
            .map_err(|e| format!("migration to schema version {} failed: {e}", i + 1))?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [i as i64 + 1],
        )
        .map_err(write_error)?;
    }
    tx.commit().map_err(write_error)
}

fn read_head(conn: &Connection) -> Result<Head, String> {
    conn.query_row(
        "SELECT seq, hash FROM audit_chain_head WHERE id = 1",
        [],
        |r| {
            Ok(Head {
                seq: from_i64(r.get(0)?),
                hash: r.get(1)?,
            })
        },
    )
    .optional()
    .map_err(read_error)?
    .ok_or_else(|| {
        "the chain head row is missing (tampered with?); run `sealgate audit verify`".to_string()
    })
}

fn insert(conn: &Connection, e: &LedgerEntry) -> Result<(), String> {
    conn.execute(
        "INSERT INTO audit_entries (seq, kind, transfer_id, at, instance, body, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            to_i64(e.seq),
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
        Some(rusqlite::ErrorCode::ConstraintViolation) => format!(
            "transfer {} already has a {} entry (one decision and one outcome per transaction id)",
            e.transfer_id.as_deref().unwrap_or("-"),
            e.kind
        ),
        _ => write_error(err),
    })?;
    conn.execute(
        "UPDATE audit_chain_head SET seq = ?1, hash = ?2 WHERE id = 1",
        params![to_i64(e.seq), e.hash],
    )
    .map_err(write_error)?;
    Ok(())
}

fn select(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<LedgerEntry>, String> {
    let mut stmt = conn.prepare_cached(sql).map_err(read_error)?;
    let rows = stmt
        .query_map(params, |r| {
            Ok(LedgerEntry {
                seq: from_i64(r.get(0)?),
                kind: r.get(1)?,
                transfer_id: r.get(2)?,
                at: r.get(3)?,
                instance: r.get(4)?,
                body: r.get(5)?,
                prev_hash: r.get(6)?,
                hash: r.get(7)?,
            })
        })
        .map_err(read_error)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(read_error)
}

fn write_error(e: rusqlite::Error) -> String {
    format!("cannot write: {e}; check disk space and that the gateway's user may write the file and its directory")
}

fn read_error(e: rusqlite::Error) -> String {
    format!("cannot read: {e}")
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn from_i64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}
