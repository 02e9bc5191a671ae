//! The shared ledger: PostgreSQL through `tokio-postgres`, for several gateway instances.
//!
//! Every append is one transaction that first locks the single chain-head row
//! (`SELECT ... FOR UPDATE`), so appends from all instances queue up behind one another and
//! the chain stays linear; the sequence number is the head's plus one, never a PostgreSQL
//! sequence (those leave gaps on rollback, and gaps are what `verify` looks for). A commit
//! returns after the WAL is flushed (the default `synchronous_commit = on`).
//!
//! Bodies are `text`, not `jsonb`: jsonb reorders keys and would lose the exact bytes that were
//! hashed. One connection per store, reconnected on the next call when it broke. TLS: see
//! [`super::pg_tls`].

use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard};
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Row};

use super::chain::{self, Head, LedgerEntry, NewEntry};

const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE audit_entries (
    seq BIGINT PRIMARY KEY,
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
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_chain_head (id, seq, hash)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
"#];

/// Key of the advisory lock that serialises migrations of instances starting together.
const MIGRATION_LOCK: i64 = 0x5ea1_6a7e;
/// Longest wait for one store operation, lock queue included; well inside an SMTP client's wait.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

const COLUMNS: &str = "seq, kind, transfer_id, at, instance, body, prev_hash, hash";

pub struct PgLedger {
    config: tokio_postgres::Config,
    tls: super::pg_tls::MakeRustls,
    client: Mutex<Option<Client>>,
}

type Guard<'a> = MutexGuard<'a, Option<Client>>;

impl PgLedger {
    pub async fn open(spec: &str) -> Result<PgLedger, String> {
        let mut config: tokio_postgres::Config = spec.parse().map_err(|e| {
            format!("is not a valid PostgreSQL URL ({e}); write postgres://user:password@host:port/database")
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("sealgate-audit");
        }
        let tls = super::pg_tls::MakeRustls::new(config.get_ssl_mode() == SslMode::Require)?;
        let ledger = PgLedger {
            config,
            tls,
            client: Mutex::new(None),
        };
        let mut guard = ledger.connected().await?;
        let result = tokio::time::timeout(OPERATION_TIMEOUT, migrate(client_of(&mut guard)?)).await;
        settle(&mut guard, result)?;
        drop(guard);
        Ok(ledger)
    }

    /// The connection, (re)opened when there is none or it broke.
    async fn connected(&self) -> Result<Guard<'_>, String> {
        let mut guard = self.client.lock().await;
        if guard.as_ref().is_none_or(Client::is_closed) {
            let (client, connection) = self.config.connect(self.tls.clone()).await.map_err(|e| {
                format!(
                    "cannot connect to PostgreSQL ({}); start the server, check host, port, user, password and database in audit.store, and that pg_hba.conf admits this host",
                    pg_message(&e)
                )
            })?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(
                        "audit store: PostgreSQL connection closed: {}",
                        pg_message(&e)
                    );
                }
            });
            *guard = Some(client);
        }
        Ok(guard)
    }

    pub async fn append(&self, instance: &str, entry: NewEntry) -> Result<(), String> {
        let mut guard = self.connected().await?;
        let client = client_of(&mut guard)?;
        let result = tokio::time::timeout(OPERATION_TIMEOUT, async {
            let tx = client.transaction().await?;
            let head = lock_head(&tx).await?;
            let sealed = chain::seal(&head, instance, &entry);
            insert(&tx, &sealed).await?;
            tx.commit().await
        })
        .await;
        settle(&mut guard, result).map_err(|m| {
            if m.contains("duplicate key") {
                format!(
                    "transfer {} already has a {} entry (one decision and one outcome per transaction id)",
                    entry.transfer_id.as_deref().unwrap_or("-"),
                    entry.kind
                )
            } else {
                m
            }
        })
    }

    pub async fn check_writable(&self) -> Result<(), String> {
        let mut guard = self.connected().await?;
        let client = client_of(&mut guard)?;
        let result = tokio::time::timeout(OPERATION_TIMEOUT, async {
            let tx = client.transaction().await?;
            tx.execute("UPDATE audit_chain_head SET seq = seq WHERE id = 1", &[])
                .await?;
            tx.rollback().await
        })
        .await;
        settle(&mut guard, result)
    }

    pub async fn head(&self) -> Result<Head, String> {
        let mut guard = self.connected().await?;
        let client = client_of(&mut guard)?;
        let result = tokio::time::timeout(OPERATION_TIMEOUT, async {
            let row = client
                .query_opt("SELECT seq, hash FROM audit_chain_head WHERE id = 1", &[])
                .await?;
            row.as_ref().map(head_of).transpose()
        })
        .await;
        settle(&mut guard, result)?
            .ok_or_else(|| "the chain head row is missing (tampered with?)".to_string())
    }

    pub async fn entries_after(
        &self,
        after: u64,
        upto: u64,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, String> {
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_entries WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3"
        );
        let (after, upto, limit) = (to_i64(after), to_i64(upto), i64::from(limit));
        let mut guard = self.connected().await?;
        let client = client_of(&mut guard)?;
        let result = tokio::time::timeout(
            OPERATION_TIMEOUT,
            select(client, &sql, &[&after, &upto, &limit]),
        )
        .await;
        settle(&mut guard, result)
    }

    pub async fn entries_of_kind(
        &self,
        kind: &'static str,
        since: Option<String>,
        until: Option<String>,
    ) -> Result<Vec<LedgerEntry>, String> {
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_entries WHERE kind = $1
             AND ($2::text IS NULL OR at >= $2) AND ($3::text IS NULL OR at < $3) ORDER BY seq"
        );
        let mut guard = self.connected().await?;
        let client = client_of(&mut guard)?;
        let result = tokio::time::timeout(
            OPERATION_TIMEOUT,
            select(client, &sql, &[&kind, &since, &until]),
        )
        .await;
        settle(&mut guard, result)
    }

    pub async fn prune_before(
        &self,
        instance: &str,
        cutoff: String,
        now: String,
    ) -> Result<super::PruneSummary, String> {
        let mut guard = self.connected().await?;
        let client = client_of(&mut guard)?;
        let result = tokio::time::timeout(OPERATION_TIMEOUT, async {
            let tx = client.transaction().await?;
            let head = lock_head(&tx).await?;
            let first: Option<i64> = tx
                .query_one("SELECT min(seq) FROM audit_entries", &[])
                .await?
                .try_get(0)?;
            let keep_from: Option<i64> = tx
                .query_one(
                    "SELECT min(seq) FROM audit_entries WHERE at >= $1",
                    &[&cutoff],
                )
                .await?
                .try_get(0)?;
            let last_pruned = keep_from.map_or(to_i64(head.seq), |k| k - 1);
            let Some(first) = first.filter(|f| *f <= last_pruned) else {
                return Ok(super::PruneSummary {
                    pruned: 0,
                    checkpoint_seq: None,
                });
            };
            let hash: String = tx
                .query_one(
                    "SELECT hash FROM audit_entries WHERE seq = $1",
                    &[&last_pruned],
                )
                .await?
                .try_get(0)?;
            let pruned = tx
                .execute(
                    "DELETE FROM audit_entries WHERE seq >= $1 AND seq <= $2",
                    &[&first, &last_pruned],
                )
                .await?;
            let pruned_head = Head {
                seq: from_i64(last_pruned),
                hash,
            };
            let checkpoint = chain::seal(
                &head,
                instance,
                &NewEntry {
                    kind: "checkpoint",
                    transfer_id: None,
                    at: now,
                    payload: chain::checkpoint_payload(&pruned_head, pruned, &cutoff),
                },
            );
            insert(&tx, &checkpoint).await?;
            tx.commit().await?;
            Ok(super::PruneSummary {
                pruned,
                checkpoint_seq: Some(checkpoint.seq),
            })
        })
        .await;
        settle(&mut guard, result)
    }
}

fn client_of<'a>(guard: &'a mut Guard<'_>) -> Result<&'a mut Client, String> {
    guard
        .as_mut()
        .ok_or_else(|| "no connection to PostgreSQL".to_string())
}

/// Turns a timed operation's result into ours; drops the connection after a timeout or a
/// broken connection, so the next call starts clean.
fn settle<T>(
    guard: &mut Guard<'_>,
    result: Result<Result<T, tokio_postgres::Error>, tokio::time::error::Elapsed>,
) -> Result<T, String> {
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => {
            if guard.as_ref().is_none_or(Client::is_closed) {
                **guard = None;
            }
            Err(format!("PostgreSQL: {}", pg_message(&e)))
        }
        Err(_) => {
            **guard = None;
            Err(format!(
                "PostgreSQL did not answer within {} s; check the server and locks held on audit_chain_head",
                OPERATION_TIMEOUT.as_secs()
            ))
        }
    }
}

async fn migrate(client: &mut Client) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    // Checked first so that a role without CREATE rights can use a schema someone else made.
    let exists: bool = tx
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .await?
        .try_get(0)?;
    if !exists {
        tx.batch_execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            .await?;
    }
    let version: Option<i32> = tx
        .query_one("SELECT max(version) FROM schema_version", &[])
        .await?
        .try_get(0)?;
    let version = usize::try_from(version.unwrap_or(0)).unwrap_or(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.batch_execute(sql).await?;
        let next = i32::try_from(i + 1).unwrap_or(i32::MAX);
        tx.execute("INSERT INTO schema_version (version) VALUES ($1)", &[&next])
            .await?;
    }
    tx.commit().await
}

async fn lock_head(tx: &tokio_postgres::Transaction<'_>) -> Result<Head, tokio_postgres::Error> {
    let row = tx
        .query_one(
            "SELECT seq, hash FROM audit_chain_head WHERE id = 1 FOR UPDATE",
            &[],
        )
        .await?;
    head_of(&row)
}

async fn insert(
    tx: &tokio_postgres::Transaction<'_>,
    e: &LedgerEntry,
) -> Result<(), tokio_postgres::Error> {
    let seq = to_i64(e.seq);
    tx.execute(
        &format!("INSERT INTO audit_entries ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"),
        &[
            &seq,
            &e.kind,
            &e.transfer_id,
            &e.at,
            &e.instance,
            &e.body,
            &e.prev_hash,
            &e.hash,
        ],
    )
    .await?;
    tx.execute(
        "UPDATE audit_chain_head SET seq = $1, hash = $2 WHERE id = 1",
        &[&seq, &e.hash],
    )
    .await?;
    Ok(())
}

fn head_of(row: &Row) -> Result<Head, tokio_postgres::Error> {
    Ok(Head {
        seq: from_i64(row.try_get(0)?),
        hash: row.try_get(1)?,
    })
}

fn entry_of(row: &Row) -> Result<LedgerEntry, tokio_postgres::Error> {
    Ok(LedgerEntry {
        seq: from_i64(row.try_get(0)?),
        kind: row.try_get(1)?,
        transfer_id: row.try_get(2)?,
        at: row.try_get(3)?,
        instance: row.try_get(4)?,
        body: row.try_get(5)?,
        prev_hash: row.try_get(6)?,
        hash: row.try_get(7)?,
    })
}

async fn select(
    client: &Client,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<LedgerEntry>, tokio_postgres::Error> {
    client
        .query(sql, params)
        .await?
        .iter()
        .map(entry_of)
        .collect()
}

/// The server's own message when there is one (tokio-postgres says only "db error" otherwise).
fn pg_message(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut m = db.message().to_string();
        if db.code() == &SqlState::UNIQUE_VIOLATION {
            m = format!("duplicate key: {m}");
        }
        return m;
    }
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        source = s.source();
    }
    message
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn from_i64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}
