//! The audit trail: metadata of every transfer that involves a protected mailbox, never its
//! contents, in an append-only, hash-chained store.
//!
//! Why a ledger and not a table of rows that get updated: a row that is written once and never
//! touched again can be hash-chained, and a chain is what lets `sealgate audit verify` prove
//! that nothing was edited, deleted or reordered afterwards. So every fact is an *entry*
//! appended to one chain (see [`chain`]):
//!
//! - `decision`: the [`TransferRecord`], written durably before the message goes to the next hop;
//! - `outcome`: the [`TransferOutcome`], the reply the client finally heard;
//! - `checkpoint`: written by pruning, it names the last pruned entry and its hash.
//!
//! A transfer with a decision and no outcome is *incomplete*: the gateway stopped (or the
//! store failed) between the two. Reports show such transfers; they are never guessed.
//!
//! Concurrency: appends are serialised by a lock on the store's single chain-head row (SQLite:
//! `BEGIN IMMEDIATE`; PostgreSQL: `SELECT ... FOR UPDATE` in the append's transaction), so two
//! gateway instances on one PostgreSQL still build one linear chain. The head row also records
//! the last entry's hash, so cutting entries off the end is found too.
//!
//! What is never stored: the body, the subject, attachment file names and archive contents.
//! The record types below have no field for them; keep it that way.
//!
//! The audit stores what policy decided: the verdict, the reason codes and the archive facts
//! are policy's types ([`Verdict`], [`ReasonCode`], [`ArchiveFacts`]); policy knows nothing of
//! the audit. Both backends share one schema and one prune algorithm ([`schema`]).

pub mod chain;
mod error;
mod postgres;
pub mod report;
mod schema;
mod sqlite;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::policy::{ArchiveFacts, ReasonCode, Verdict};

pub use chain::{BrokenEntry, ChainReport, LedgerEntry};
pub use error::{AuditError, LedgerError};

/// The kinds of ledger entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A [`TransferRecord`], written before the message goes to the next hop.
    Decision,
    /// A [`TransferOutcome`], the reply the client finally heard.
    Outcome,
    /// Written by pruning: the last pruned entry and its hash.
    Checkpoint,
}

impl EntryKind {
    pub const ALL: [EntryKind; 3] = [
        EntryKind::Decision,
        EntryKind::Outcome,
        EntryKind::Checkpoint,
    ];

    /// The `kind` column and the `kind` field of the hashed body.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Decision => "decision",
            EntryKind::Outcome => "outcome",
            EntryKind::Checkpoint => "checkpoint",
        }
    }

    pub fn parse(kind: &str) -> Option<EntryKind> {
        EntryKind::ALL.into_iter().find(|k| k.as_str() == kind)
    }
}

/// What became of a transfer, as the client heard it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The next hop accepted it and the client heard 250.
    Relayed,
    /// The client heard 5xx (policy or next hop).
    Rejected,
    /// The client heard 4xx and will retry from its own queue.
    Deferred,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Relayed, Outcome::Rejected, Outcome::Deferred];

    /// As stored and exported: "relayed", "rejected", "deferred".
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Relayed => "relayed",
            Outcome::Rejected => "rejected",
            Outcome::Deferred => "deferred",
        }
    }
}

/// One envelope recipient and the protocol that protects it (None: not protected).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecipient {
    pub address: String,
    pub protocol: Option<String>,
}

/// The decision half of a record, written durably before anything goes to the next hop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferRecord {
    /// The transaction id that also stands in the logs and the Received header.
    pub id: String,
    pub instance: String,
    pub received_at: DateTime<Utc>,
    pub decided_at: DateTime<Utc>,
    pub client_address: String,
    pub helo: String,
    pub auth_user: Option<String>,
    /// e.g. "TLSv1.3 TLS13_AES_256_GCM_SHA384"; None for plaintext.
    pub tls_in: Option<String>,
    pub sender: String,
    pub recipients: Vec<AuditRecipient>,
    pub message_id: Option<String>,
    pub size: u64,
    pub archives: Vec<ArchiveFacts>,
    /// Stored as "pass" or "reject".
    pub verdict: Verdict,
    /// Stored as the codes' strings ("no_archive", ...).
    pub reasons: Vec<ReasonCode>,
    pub next_hop: String,
}

/// The answer half: what the next hop (or sealgate itself) finally said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferOutcome {
    pub answered_at: DateTime<Utc>,
    /// The reply the client heard, e.g. "250 2.0.0 Ok: queued as 4Xc1" or "550 5.7.1 ...".
    pub reply_code: u16,
    pub reply_text: String,
    /// Stored as "relayed", "rejected" or "deferred".
    pub outcome: Outcome,
    pub tls_out: Option<String>,
}

impl TransferRecord {
    /// Does any recipient fall under protocol `id`?
    pub fn involves(&self, protocol: &str) -> bool {
        self.recipients
            .iter()
            .any(|r| r.protocol.as_deref() == Some(protocol))
    }

    /// The protocols of the recipients, each once, in order of appearance.
    pub fn protocols(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = Vec::new();
        for id in self.recipients.iter().filter_map(|r| r.protocol.as_deref()) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }
}

/// A decision joined with its outcome (None: incomplete).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transfer {
    pub record: TransferRecord,
    pub outcome: Option<TransferOutcome>,
    /// The decision's place in the chain, so an export can be matched against `verify`.
    pub entry_seq: u64,
    pub entry_hash: String,
}

impl Transfer {
    pub fn complete(&self) -> bool {
        self.outcome.is_some()
    }
}

/// Which transfers to read: received in `[since, until)`, touching `protocol`.
#[derive(Debug, Clone, Default)]
pub struct TransferQuery {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub protocol: Option<String>,
}

/// What one pruning run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PruneSummary {
    pub pruned: u64,
    /// The checkpoint entry written (None when nothing was old enough).
    pub checkpoint_seq: Option<u64>,
}

enum Backend {
    Sqlite(sqlite::SqliteLedger),
    Postgres(Box<postgres::PgLedger>),
}

/// The store behind `audit.store`. Cheap to share behind an `Arc`; every method is async and
/// keeps blocking work off the runtime.
pub struct AuditStore {
    /// The spec with any password masked: safe for messages.
    store: String,
    instance: String,
    backend: Backend,
}

/// How many entries `verify` reads at a time.
const VERIFY_BATCH: u32 = 1000;

impl AuditStore {
    /// Opens (and, for SQLite, creates) the store, brings its schema up to date and checks
    /// that it can be written.
    pub async fn open(spec: &str, instance: &str) -> Result<AuditStore, AuditError> {
        Self::open_with(spec, instance, true).await
    }

    /// Like [`AuditStore::open`], but a SQLite file must already exist: for the command line,
    /// where a mistyped path must not yield an empty, "verified" store.
    pub async fn open_existing(spec: &str, instance: &str) -> Result<AuditStore, AuditError> {
        Self::open_with(spec, instance, false).await
    }

    async fn open_with(spec: &str, instance: &str, create: bool) -> Result<AuditStore, AuditError> {
        let store = redact(spec);
        let fail = |kind: LedgerError| AuditError::new(&store, kind);
        let backend = if let Some(path) = spec.strip_prefix("sqlite:") {
            Backend::Sqlite(
                sqlite::SqliteLedger::open(path, create)
                    .await
                    .map_err(fail)?,
            )
        } else if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
            Backend::Postgres(Box::new(
                postgres::PgLedger::open(spec).await.map_err(fail)?,
            ))
        } else {
            return Err(fail(LedgerError::Spec(
                "unknown kind of store: write \"sqlite:PATH\" or \"postgres://user:password@host:port/database\" in audit.store".into(),
            )));
        };
        let store = AuditStore {
            store,
            instance: instance.to_string(),
            backend,
        };
        store.check_writable().await?;
        Ok(store)
    }

    /// The spec with any password masked.
    pub fn store_name(&self) -> &str {
        &self.store
    }

    /// Appends the decision; when this returns Ok the entry is durable.
    pub async fn record_decision(&self, record: &TransferRecord) -> Result<(), AuditError> {
        let payload = to_payload(record, &self.store)?;
        self.append(chain::NewEntry {
            kind: EntryKind::Decision,
            transfer_id: Some(record.id.clone()),
            at: chain::format_time(&record.received_at),
            payload,
        })
        .await
    }

    /// Appends the outcome of transfer `id`, completing its record.
    pub async fn record_outcome(
        &self,
        id: &str,
        outcome: &TransferOutcome,
    ) -> Result<(), AuditError> {
        let payload = to_payload(outcome, &self.store)?;
        self.append(chain::NewEntry {
            kind: EntryKind::Outcome,
            transfer_id: Some(id.to_string()),
            at: chain::format_time(&outcome.answered_at),
            payload,
        })
        .await
    }

    async fn append(&self, entry: chain::NewEntry) -> Result<(), AuditError> {
        let result = match &self.backend {
            Backend::Sqlite(l) => l.append(&self.instance, entry).await,
            Backend::Postgres(l) => l.append(&self.instance, entry).await,
        };
        result.map_err(|m| self.error(m))
    }

    /// For `/readyz`: can a record be written right now?
    pub async fn check_writable(&self) -> Result<(), AuditError> {
        let result = match &self.backend {
            Backend::Sqlite(l) => l.check_writable().await,
            Backend::Postgres(l) => l.check_writable().await,
        };
        result.map_err(|m| self.error(m))
    }

    /// Walks the whole chain and says whether it holds and where it first breaks.
    pub async fn verify(&self) -> Result<ChainReport, AuditError> {
        let head = self.head().await?;
        let mut walker = chain::ChainWalker::new(head);
        let mut after = 0;
        loop {
            let batch = self.entries_after(after, walker.head_seq()).await?;
            let Some(last) = batch.last() else { break };
            after = last.seq;
            batch.iter().for_each(|e| walker.feed(e));
        }
        let mut report = walker.finish();
        if report.broken.is_none() {
            report.broken = self.entry_beyond_head().await?;
        }
        Ok(report)
    }

    /// An entry past the head row means the head was set back: appends would collide with it.
    /// The head is read after the entry, so an append committed meanwhile is not mistaken.
    async fn entry_beyond_head(&self) -> Result<Option<BrokenEntry>, AuditError> {
        let head = self.head().await?;
        let Some(entry) = self
            .entries_after(head.seq, u64::MAX)
            .await?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let head = self.head().await?;
        Ok((entry.seq > head.seq).then(|| BrokenEntry {
            seq: entry.seq,
            kind: entry.kind,
            transfer_id: entry.transfer_id,
            problem: format!(
                "it lies beyond the chain head, which records entry {} (head edited)",
                head.seq
            ),
        }))
    }

    async fn head(&self) -> Result<chain::Head, AuditError> {
        let result = match &self.backend {
            Backend::Sqlite(l) => l.head().await,
            Backend::Postgres(l) => l.head().await,
        };
        result.map_err(|m| self.error(m))
    }

    async fn entries_after(&self, after: u64, upto: u64) -> Result<Vec<LedgerEntry>, AuditError> {
        let result = match &self.backend {
            Backend::Sqlite(l) => l.entries_after(after, upto, VERIFY_BATCH).await,
            Backend::Postgres(l) => l.entries_after(after, upto, VERIFY_BATCH).await,
        };
        result.map_err(|m| self.error(m))
    }

    async fn entries_of_kind(
        &self,
        kind: EntryKind,
        since: Option<String>,
        until: Option<String>,
    ) -> Result<Vec<LedgerEntry>, AuditError> {
        let result = match &self.backend {
            Backend::Sqlite(l) => l.entries_of_kind(kind, since, until).await,
            Backend::Postgres(l) => l.entries_of_kind(kind, since, until).await,
        };
        result.map_err(|m| self.error(m))
    }

    /// The transfers received in the query's window, each with its outcome when there is one,
    /// in chain order.
    pub async fn transfers(&self, query: &TransferQuery) -> Result<Vec<Transfer>, AuditError> {
        let since = query.since.as_ref().map(chain::format_time);
        let until = query.until.as_ref().map(chain::format_time);
        let decisions = self
            .entries_of_kind(EntryKind::Decision, since.clone(), until)
            .await?;
        let outcomes = self
            .entries_of_kind(EntryKind::Outcome, since, None)
            .await?;
        let mut by_id = std::collections::HashMap::new();
        for entry in outcomes {
            let outcome: TransferOutcome = self.payload(&entry)?;
            if let Some(id) = entry.transfer_id {
                by_id.insert(id, outcome);
            }
        }
        let mut transfers = Vec::new();
        for entry in decisions {
            let record: TransferRecord = self.payload(&entry)?;
            if let Some(protocol) = &query.protocol {
                if !record.involves(protocol) {
                    continue;
                }
            }
            let outcome = entry.transfer_id.as_ref().and_then(|id| by_id.remove(id));
            transfers.push(Transfer {
                record,
                outcome,
                entry_seq: entry.seq,
                entry_hash: entry.hash,
            });
        }
        Ok(transfers)
    }

    fn payload<T: serde::de::DeserializeOwned>(
        &self,
        entry: &LedgerEntry,
    ) -> Result<T, AuditError> {
        let data = serde_json::from_str::<Value>(&entry.body)
            .ok()
            .and_then(|mut v| v.get_mut("data").map(Value::take));
        data.and_then(|d| serde_json::from_value(d).ok())
            .ok_or_else(|| {
                self.error(LedgerError::Corrupt(format!(
                    "entry {} ({}) does not read as a record",
                    entry.seq, entry.kind
                )))
            })
    }

    /// Deletes entries older than `retention_days` (0: keep forever) and writes a checkpoint
    /// that keeps the rest of the chain verifiable.
    pub async fn prune(&self, retention_days: u32) -> Result<PruneSummary, AuditError> {
        if retention_days == 0 {
            return Ok(PruneSummary {
                pruned: 0,
                checkpoint_seq: None,
            });
        }
        let cutoff = Utc::now() - chrono::Duration::days(i64::from(retention_days));
        self.prune_before(cutoff).await
    }

    /// Deletes the prefix of the chain whose entries happened before `cutoff`; stops at the
    /// first entry that is newer, so nothing inside retention is ever removed.
    pub async fn prune_before(&self, cutoff: DateTime<Utc>) -> Result<PruneSummary, AuditError> {
        let cutoff = chain::format_time(&cutoff);
        let at = chain::format_time(&Utc::now());
        let result = match &self.backend {
            Backend::Sqlite(l) => l.prune_before(&self.instance, cutoff, at).await,
            Backend::Postgres(l) => l.prune_before(&self.instance, cutoff, at).await,
        };
        result.map_err(|m| self.error(m))
    }

    fn error(&self, kind: LedgerError) -> AuditError {
        AuditError::new(&self.store, kind)
    }
}

fn to_payload<T: Serialize>(value: &T, store: &str) -> Result<Value, AuditError> {
    serde_json::to_value(value)
        .map_err(|e| AuditError::new(store, LedgerError::Encode(e.to_string())))
}

/// Masks the password of a `postgres://user:password@host` spec, in the user part and in a
/// `password=` parameter.
pub fn redact(spec: &str) -> String {
    let spec = match spec.find("password=") {
        Some(start) => {
            let value = start + "password=".len();
            let end = spec[value..].find('&').map_or(spec.len(), |e| value + e);
            format!("{}***{}", &spec[..value], &spec[end..])
        }
        None => spec.to_string(),
    };
    redact_userinfo(&spec)
}

fn redact_userinfo(spec: &str) -> String {
    let Some((scheme, rest)) = spec.split_once("://") else {
        return spec.to_string();
    };
    let Some(at) = rest.rfind('@') else {
        return spec.to_string();
    };
    let (userinfo, host) = rest.split_at(at);
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***{host}"),
        None => spec.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_store_can_be_shared_between_tasks() {
        fn shared<T: Send + Sync + 'static>() {}
        shared::<super::AuditStore>();
    }

    #[test]
    fn redact_masks_only_the_password() {
        assert_eq!(
            super::redact("postgres://gw:s3cr@t@db:5432/audit"),
            "postgres://gw:***@db:5432/audit"
        );
        assert_eq!(
            super::redact("postgres://gw@db/audit"),
            "postgres://gw@db/audit"
        );
        assert_eq!(super::redact("sqlite:/var/x.db"), "sqlite:/var/x.db");
        assert_eq!(
            super::redact("postgres://db/audit?user=gw&password=pw&sslmode=disable"),
            "postgres://db/audit?user=gw&password=***&sslmode=disable"
        );
    }
}
