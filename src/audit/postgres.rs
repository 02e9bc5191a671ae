//! The shared ledger: PostgreSQL through `tokio-postgres`, for several gateway instances.
//!
//! Every append is one transaction that first locks the single chain-head row
//! (`SELECT ... FOR UPDATE`), so appends from all instances queue up behind one another and
//! the chain stays linear; the sequence number is the head's plus one, never a PostgreSQL
//! sequence (those leave gaps on rollback, and gaps are what `verify` looks for). A commit
//! returns after the WAL is flushed (the default `synchronous_commit = on`).
//!
//! Bodies are `text`, not `jsonb`: jsonb reorders keys and would lose the exact bytes that were
//! hashed. One connection per store, reconnected on the next call when it broke. Tables,
//! statements and the prune algorithm are [`super::schema`]'s, shared with SQLite.
//!
//! TLS (`tokio-postgres-rustls`, with the gateway's own rustls set-up): `sslmode` in the URL
//! decides, and tokio-postgres knows three values:
//! - `disable`: plain TCP;
//! - `prefer` (the default): TLS when the server offers it, certificate *not* verified, the way
//!   libpq's `prefer` behaves (Debian's clusters run TLS with a self-signed "snakeoil" cert);
//! - `require`: TLS or no connection, and the certificate must chain to a trusted root (the
//!   system's, `SSL_CERT_FILE`, or the Mozilla roots) and name the host. That is libpq's
//!   `verify-full`: a store of evidence should not be reachable through a man in the middle.

use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard};
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Transaction};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::chain::{Head, LedgerEntry, NewEntry};
use super::schema::{self, Dialect, PruneRange, WriteTx};
use super::{EntryKind, LedgerError, PruneSummary};

/// Key of the advisory lock that serialises migrations of instances starting together.
const MIGRATION_LOCK: i64 = 0x5ea1_6a7e;
/// Longest wait for one store operation, lock queue included; well inside an SMTP client's wait.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for a connection, when the URL sets none.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

const DIALECT: Dialect = Dialect::Postgres;

pub struct PgLedger {
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    client: Mutex<Option<Client>>,
}

type Guard<'a> = MutexGuard<'a, Option<Client>>;

/// What a timed operation can end in, before it becomes a [`LedgerError`].
enum Failure {
    Pg(tokio_postgres::Error),
    Ledger(LedgerError),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Failure::Pg(e)
    }
}

impl From<LedgerError> for Failure {
    fn from(e: LedgerError) -> Self {
        Failure::Ledger(e)
    }
}

type Timed<T> = Result<Result<T, Failure>, tokio::time::error::Elapsed>;

impl PgLedger {
    pub async fn open(spec: &str) -> Result<PgLedger, LedgerError> {
        let mut config: tokio_postgres::Config = spec.parse().map_err(|e| {
            LedgerError::Spec(format!("is not a valid PostgreSQL URL ({e}); write postgres://user:password@host:port/database"))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("sealgate-audit");
        }
        let verify = config.get_ssl_mode() == SslMode::Require;
        let tls = crate::tls::client_config(verify, None)
            .map_err(|e| LedgerError::Open(format!("cannot set up TLS: {e}")))?;
        let ledger = PgLedger {
            config,
            tls: MakeRustlsConnect::new((*tls).clone()),
            client: Mutex::new(None),
        };
        let mut guard = ledger.connected().await?;
        let result = tokio::time::timeout(OPERATION_TIMEOUT, migrate(client_of(&mut guard)?)).await;
        settle(&mut guard, result, Kind::Write)?;
        drop(guard);
        Ok(ledger)
    }

    /// The connection, (re)opened when there is none or it broke.
    async fn connected(&self) -> Result<Guard<'_>, LedgerError> {
        let mut guard = self.client.lock().await;
        if guard.as_ref().is_none_or(Client::is_closed) {
            let (client, connection) = self.config.connect(self.tls.clone()).await.map_err(|e| {
                LedgerError::Unavailable(format!(
                    "cannot connect to PostgreSQL ({}); start the server, check host, port, user, password and database in audit.store, and that pg_hba.conf admits this host",
                    pg_message(&e)
                ))
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

    pub async fn append(&self, instance: &str, entry: NewEntry) -> Result<(), LedgerError> {
        let mut guard = self.connected().await?;
        let client = client_of(&mut guard)?;
        let result = tokio::time::timeout(OPERATION_TIMEOUT, async {
            let tx = client.transaction().await?;
            schema::append(&mut PgTx(&tx), instance, &entry).await?;
            tx.commit().await?;
            Ok(())
        })
        .await;
        settle(&mut guard, result, Kind::Write)
    }

    pub async fn check_writable(&self) -> Result<(), LedgerError> {
        let mut guard = self.connected().await?;
        let client = client_of(&mut guard)?;
        let result = tokio::time::timeout(OPERATION_TIMEOUT, async {
            let tx = client.transaction().await?;
            tx.execute(schema::TOUCH_HEAD, &[]).await?;
            tx.rollback().await?;
            Ok(())
        })
        .await;
        settle(&mut guard, result, Kind::Write)
    }

    pub async fn head(&self) -> Result<Head, LedgerError> {
        let mut guard = self.connected().await?;
        let client = client_of(&mut guard)?;
        let result = tokio::time::timeout(OPERATION_TIMEOUT, async {
            let row = client.query_opt(schema::HEAD, &[]).await?;
            match row {
                Some(row) => Ok(head_of(&row)?),
                None => Err(schema::missing_head().into()),
            }
        })
        .await;
        settle(&mut guard, result, Kind::Read)
    }

    pub async fn entries_after(
        &self,
        after: u64,
        upto: u64,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, LedgerError> {
        let (after, upto) = (schema::bound_to_store(after), schema::bound_to_store(upto));
        let limit = i64::from(limit);
        self.select(schema::ENTRIES_AFTER, &[&after, &upto, &limit])
            .await
    }

    pub async fn entries_of_kind(
        &self,
        kind: EntryKind,
        since: Option<String>,
        until: Option<String>,
    ) -> Result<Vec<LedgerEntry>, LedgerError> {
        self.select(schema::ENTRIES_OF_KIND, &[&kind.as_str(), &since, &until])
            .await
    }

    async fn select(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<LedgerEntry>, LedgerError> {
        let mut guard = self.connected().await?;
        let client = client_of(&mut guard)?;
        let result = tokio::time::timeout(OPERATION_TIMEOUT, async {
            let mut entries = Vec::new();
            for row in client.query(sql, params).await? {
                entries.push(entry_of(&row)?);
            }
            Ok(entries)
        })
        .await;
        settle(&mut guard, result, Kind::Read)
    }

    pub async fn prune_before(
        &self,
        instance: &str,
        cutoff: String,
        now: String,
    ) -> Result<PruneSummary, LedgerError> {
        let mut guard = self.connected().await?;
        let client = client_of(&mut guard)?;
        let result = tokio::time::timeout(OPERATION_TIMEOUT, async {
            let tx = client.transaction().await?;
            let summary = schema::prune(&mut PgTx(&tx), instance, &cutoff, &now).await?;
            tx.commit().await?;
            Ok(summary)
        })
        .await;
        settle(&mut guard, result, Kind::Write)
    }
}

/// The steps of the shared write algorithms on an open PostgreSQL transaction.
struct PgTx<'a, 'b>(&'a Transaction<'b>);

impl WriteTx for PgTx<'_, '_> {
    async fn lock_head(&mut self) -> Result<Head, LedgerError> {
        let row = self
            .0
            .query_opt(DIALECT.lock_head(), &[])
            .await
            .map_err(write_failed)?;
        let row = row.ok_or_else(schema::missing_head)?;
        schema::head_of(
            row.try_get(0).map_err(read_failed)?,
            row.try_get(1).map_err(read_failed)?,
        )
    }

    async fn first_seq(&mut self, at_or_after: Option<&str>) -> Result<Option<i64>, LedgerError> {
        let row = match at_or_after {
            None => self.0.query_one(schema::FIRST_SEQ, &[]).await,
            Some(at) => self.0.query_one(schema::FIRST_KEPT_SEQ, &[&at]).await,
        };
        row.and_then(|r| r.try_get(0)).map_err(read_failed)
    }

    async fn hash_of(&mut self, seq: i64) -> Result<String, LedgerError> {
        let row = self.0.query_one(schema::HASH_OF, &[&seq]).await;
        row.and_then(|r| r.try_get(0)).map_err(read_failed)
    }

    async fn delete(&mut self, range: PruneRange) -> Result<u64, LedgerError> {
        self.0
            .execute(schema::DELETE_RANGE, &[&range.first, &range.last])
            .await
            .map_err(write_failed)
    }

    async fn insert(&mut self, e: &LedgerEntry) -> Result<(), LedgerError> {
        let seq = schema::seq_to_store(e.seq)?;
        let params: [&(dyn ToSql + Sync); 8] = [
            &seq,
            &e.kind,
            &e.transfer_id,
            &e.at,
            &e.instance,
            &e.body,
            &e.prev_hash,
            &e.hash,
        ];
        self.0
            .execute(schema::INSERT, &params)
            .await
            .map_err(|err| match err.code() {
                Some(code) if code == &SqlState::UNIQUE_VIOLATION => schema::duplicate(e),
                _ => write_failed(err),
            })?;
        self.0
            .execute(schema::SET_HEAD, &[&seq, &e.hash])
            .await
            .map_err(write_failed)?;
        Ok(())
    }
}

fn read_failed(e: tokio_postgres::Error) -> LedgerError {
    classify(&e, false, Kind::Read)
}

fn write_failed(e: tokio_postgres::Error) -> LedgerError {
    classify(&e, false, Kind::Write)
}

fn client_of<'a>(guard: &'a mut Guard<'_>) -> Result<&'a mut Client, LedgerError> {
    guard
        .as_mut()
        .ok_or_else(|| LedgerError::Unavailable("no connection to PostgreSQL".into()))
}

/// Whether the failed operation read or wrote.
#[derive(Clone, Copy)]
enum Kind {
    Read,
    Write,
}

/// Turns a timed operation's result into ours; drops the connection after a timeout or a
/// broken connection, so the next call starts clean.
fn settle<T>(guard: &mut Guard<'_>, result: Timed<T>, kind: Kind) -> Result<T, LedgerError> {
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(failure)) => {
            let closed = guard.as_ref().is_none_or(Client::is_closed);
            if closed {
                **guard = None;
            }
            match failure {
                // A statement failed because the connection broke: transient.
                Failure::Ledger(LedgerError::Read(m) | LedgerError::Write(m)) if closed => {
                    Err(LedgerError::Unavailable(m))
                }
                Failure::Ledger(e) => Err(e),
                Failure::Pg(e) => Err(classify(&e, closed, kind)),
            }
        }
        Err(_) => {
            **guard = None;
            Err(LedgerError::Unavailable(format!(
                "PostgreSQL did not answer within {} s; check the server and locks held on audit_chain_head",
                OPERATION_TIMEOUT.as_secs()
            )))
        }
    }
}

/// By SQLSTATE, never by message text.
fn classify(e: &tokio_postgres::Error, closed: bool, kind: Kind) -> LedgerError {
    let message = format!("PostgreSQL: {}", pg_message(e));
    if closed || e.is_closed() {
        return LedgerError::Unavailable(message);
    }
    match kind {
        Kind::Read => LedgerError::Read(message),
        Kind::Write => LedgerError::Write(message),
    }
}

async fn migrate(client: &mut Client) -> Result<(), Failure> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    // Checked first so that a role without CREATE rights can use a schema someone else made.
    let exists: bool = tx
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .await?
        .try_get(0)?;
    if !exists {
        tx.batch_execute(schema::CREATE_VERSION_TABLE).await?;
    }
    let version: Option<i32> = tx
        .query_one(schema::SCHEMA_VERSION, &[])
        .await?
        .try_get(0)?;
    for (next, sql) in schema::pending_migrations(DIALECT, version.map(i64::from))? {
        tx.batch_execute(&sql).await?;
        tx.execute(schema::RECORD_VERSION, &[&next]).await?;
    }
    tx.commit().await?;
    Ok(())
}

fn head_of(row: &Row) -> Result<Head, Failure> {
    Ok(schema::head_of(row.try_get(0)?, row.try_get(1)?)?)
}

fn entry_of(row: &Row) -> Result<LedgerEntry, Failure> {
    let entry = LedgerEntry {
        seq: 0,
        kind: row.try_get(1)?,
        transfer_id: row.try_get(2)?,
        at: row.try_get(3)?,
        instance: row.try_get(4)?,
        body: row.try_get(5)?,
        prev_hash: row.try_get(6)?,
        hash: row.try_get(7)?,
    };
    Ok(schema::numbered(row.try_get(0)?, entry)?)
}

/// The server's own message when there is one (tokio-postgres says only "db error" otherwise),
/// else the error and its causes (tokio-postgres's own text names none of them); a cause
/// that repeats the previous text word for word is written once.
fn pg_message(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.message().to_string();
    }
    let mut message = e.to_string();
    let mut previous = message.clone();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if text != previous {
            message = format!("{message}: {text}");
        }
        previous = text;
        source = s.source();
    }
    message
}
