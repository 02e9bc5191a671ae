//! The one description of the ledger's tables and statements, and the one prune algorithm,
//! for both backends.
//!
//! Why shared: SQLite (one gateway) and PostgreSQL (several) must hold the same chain, so
//! that `verify`, `export` and a move from one to the other never depend on which store wrote
//! it. The statements below are written once in the SQL both dialects accept: `$N`
//! parameters (SQLite numbers `$1`, `$2`, ... in order of first use, which is their numeric
//! order in every statement here) and `CAST(... AS TEXT)` instead of PostgreSQL's `::text`.
//! What differs per dialect is only [`Dialect`]: the integer type of sequence numbers, and
//! how an append locks the chain head (SQLite's `BEGIN IMMEDIATE` locks the whole file;
//! PostgreSQL locks the head row with `FOR UPDATE`).

use super::chain::{self, Head, LedgerEntry, NewEntry};
use super::{EntryKind, LedgerError, PruneSummary};

/// The differences between the SQL dialects, nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The column type of sequence numbers. SQLite's `INTEGER PRIMARY KEY` is the rowid
    /// (64-bit); PostgreSQL's `INTEGER` would be 32-bit.
    fn seq_type(self) -> &'static str {
        match self {
            Dialect::Sqlite => "INTEGER",
            Dialect::Postgres => "BIGINT",
        }
    }

    /// Reads the head row inside the append's (or the prune's) transaction.
    pub fn lock_head(self) -> &'static str {
        match self {
            Dialect::Sqlite => HEAD,
            Dialect::Postgres => "SELECT seq, hash FROM audit_chain_head WHERE id = 1 FOR UPDATE",
        }
    }
}

/// Versioned migrations: entry i brings the schema to version i + 1. `{SEQ}` is
/// [`Dialect::seq_type`].
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE audit_entries (
    seq {SEQ} PRIMARY KEY,
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
    seq {SEQ} NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_chain_head (id, seq, hash)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
"#];

/// The version table, created before anything else.
pub const CREATE_VERSION_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)";
pub const SCHEMA_VERSION: &str = "SELECT max(version) FROM schema_version";
pub const RECORD_VERSION: &str = "INSERT INTO schema_version (version) VALUES ($1)";

/// The migrations a store at `version` still needs, as (new version, SQL).
pub fn pending_migrations(
    dialect: Dialect,
    version: Option<i64>,
) -> Result<Vec<(i32, String)>, LedgerError> {
    let version = version.unwrap_or(0);
    let known = MIGRATIONS.len();
    let applied = usize::try_from(version)
        .map_err(|_| LedgerError::Corrupt(format!("the schema version is {version}")))?;
    if applied > known {
        return Err(LedgerError::SchemaTooNew {
            found: version,
            known,
        });
    }
    Ok(MIGRATIONS
        .iter()
        .enumerate()
        .skip(applied)
        .map(|(i, sql)| {
            let next = i32::try_from(i + 1).unwrap_or(i32::MAX);
            (next, sql.replace("{SEQ}", dialect.seq_type()))
        })
        .collect())
}

pub const HEAD: &str = "SELECT seq, hash FROM audit_chain_head WHERE id = 1";
pub const SET_HEAD: &str = "UPDATE audit_chain_head SET seq = $1, hash = $2 WHERE id = 1";
/// A write that changes nothing: proves the store can be written right now.
pub const TOUCH_HEAD: &str = "UPDATE audit_chain_head SET seq = seq WHERE id = 1";
pub const INSERT: &str = "INSERT INTO audit_entries (seq, kind, transfer_id, at, instance, body, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
/// Parameters: after, upto, limit.
pub const ENTRIES_AFTER: &str = "SELECT seq, kind, transfer_id, at, instance, body, prev_hash, hash FROM audit_entries WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3";
/// Parameters: kind, since (or NULL), until (or NULL).
pub const ENTRIES_OF_KIND: &str = "SELECT seq, kind, transfer_id, at, instance, body, prev_hash, hash FROM audit_entries WHERE kind = $1 AND (CAST($2 AS TEXT) IS NULL OR at >= $2) AND (CAST($3 AS TEXT) IS NULL OR at < $3) ORDER BY seq";
pub const FIRST_SEQ: &str = "SELECT min(seq) FROM audit_entries";
/// Parameter: the cutoff time.
pub const FIRST_KEPT_SEQ: &str = "SELECT min(seq) FROM audit_entries WHERE at >= $1";
pub const HASH_OF: &str = "SELECT hash FROM audit_entries WHERE seq = $1";
pub const DELETE_RANGE: &str = "DELETE FROM audit_entries WHERE seq >= $1 AND seq <= $2";

/// A sequence number as the store keeps it (a signed 64-bit integer). Sequence numbers
/// start at 1 and grow by one per entry, so one beyond `i64::MAX` cannot happen in a store
/// sealgate wrote.
pub fn seq_to_store(seq: u64) -> Result<i64, LedgerError> {
    i64::try_from(seq)
        .map_err(|_| LedgerError::Corrupt(format!("sequence number {seq} is too large")))
}

/// A query bound (e.g. "up to the end"): clamped, never an error.
pub fn bound_to_store(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// A sequence number read from the store. Negative is corruption, not zero: reading it as 0
/// would make a tampered head look like an empty chain.
pub fn seq_from_store(value: i64) -> Result<u64, LedgerError> {
    u64::try_from(value).map_err(|_| {
        LedgerError::Corrupt(format!(
            "the store holds the negative sequence number {value}"
        ))
    })
}

/// An entry as a driver read it: the columns with the sequence number still in store form,
/// checked here (the entry's own `seq` is not read until then).
pub fn numbered(seq: i64, entry: LedgerEntry) -> Result<LedgerEntry, LedgerError> {
    Ok(LedgerEntry {
        seq: seq_from_store(seq)?,
        ..entry
    })
}

pub fn head_of(seq: i64, hash: String) -> Result<Head, LedgerError> {
    Ok(Head {
        seq: seq_from_store(seq)?,
        hash,
    })
}

pub fn missing_head() -> LedgerError {
    LedgerError::Corrupt("the chain head row is missing".into())
}

/// The UNIQUE (kind, transfer_id) constraint refused `entry`.
pub fn duplicate(entry: &LedgerEntry) -> LedgerError {
    match EntryKind::parse(&entry.kind) {
        Some(kind) => LedgerError::Duplicate {
            kind,
            transfer_id: entry.transfer_id.clone().unwrap_or_default(),
        },
        None => LedgerError::Corrupt(format!("entry kind {:?} is unknown", entry.kind)),
    }
}

/// The steps of a write transaction, as each backend performs them (SQLite: blocking calls,
/// complete at once; PostgreSQL: statements over the connection). The write algorithms,
/// [`append`] and [`prune`], are written once against it; the backend opens the transaction
/// before and commits it after.
pub trait WriteTx {
    /// The head row, locked until the transaction ends ([`Dialect::lock_head`]).
    async fn lock_head(&mut self) -> Result<Head, LedgerError>;
    /// The lowest sequence number of all entries ([`FIRST_SEQ`]), or of those at or after a
    /// time ([`FIRST_KEPT_SEQ`]).
    async fn first_seq(&mut self, at_or_after: Option<&str>) -> Result<Option<i64>, LedgerError>;
    /// The hash of one entry ([`HASH_OF`]).
    async fn hash_of(&mut self, seq: i64) -> Result<String, LedgerError>;
    /// Deletes a prefix of the chain ([`DELETE_RANGE`]); returns how many entries went.
    async fn delete(&mut self, range: PruneRange) -> Result<u64, LedgerError>;
    /// Inserts a sealed entry ([`INSERT`]) and moves the head to it ([`SET_HEAD`]); a
    /// second decision or outcome for a transfer is [`duplicate`].
    async fn insert(&mut self, entry: &LedgerEntry) -> Result<(), LedgerError>;
}

/// Appends `entry` after the locked head.
pub async fn append(
    tx: &mut impl WriteTx,
    instance: &str,
    entry: &NewEntry,
) -> Result<(), LedgerError> {
    let head = tx.lock_head().await?;
    tx.insert(&chain::seal(&head, instance, entry)).await
}

/// Deletes the entries before `cutoff` and appends the checkpoint; see [`Pruning`].
pub async fn prune(
    tx: &mut impl WriteTx,
    instance: &str,
    cutoff: &str,
    now: &str,
) -> Result<PruneSummary, LedgerError> {
    let pruning = Pruning {
        head: tx.lock_head().await?,
        instance,
        cutoff,
        now,
    };
    let first = tx.first_seq(None).await?;
    let first_kept = tx.first_seq(Some(cutoff)).await?;
    let Some(range) = pruning.range(first, first_kept)? else {
        return Ok(PruneSummary {
            pruned: 0,
            checkpoint_seq: None,
        });
    };
    let hash = tx.hash_of(range.last).await?;
    let deleted = tx.delete(range).await?;
    let checkpoint = pruning.checkpoint(range, hash, deleted)?;
    tx.insert(&checkpoint).await?;
    Ok(PruneSummary {
        pruned: deleted,
        checkpoint_seq: Some(checkpoint.seq),
    })
}

/// Pruning ([`prune`]), inside one write transaction:
///
/// 1. lock and read the head ([`Dialect::lock_head`]);
/// 2. read the first sequence number and the first one at or after the cutoff;
/// 3. [`Pruning::range`] says which prefix goes (none when nothing is old enough);
/// 4. read the hash of the last entry of that prefix, delete the prefix;
/// 5. append [`Pruning::checkpoint`], which names that entry and hash, so the first remaining
///    entry links to a hash the chain itself vouches for.
pub struct Pruning<'a> {
    pub head: Head,
    pub instance: &'a str,
    pub cutoff: &'a str,
    pub now: &'a str,
}

/// The prefix of the chain to delete, both ends included (store form).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneRange {
    pub first: i64,
    pub last: i64,
}

impl Pruning<'_> {
    /// Step 3: from the first sequence number and the first one to keep (None: every entry is
    /// older than the cutoff), the range to delete. Nothing inside retention is ever in it.
    pub fn range(
        &self,
        first: Option<i64>,
        first_kept: Option<i64>,
    ) -> Result<Option<PruneRange>, LedgerError> {
        let last = match first_kept {
            Some(kept) => seq_from_store(kept)?.saturating_sub(1),
            None => self.head.seq,
        };
        let Some(first) = first else { return Ok(None) };
        let first = seq_from_store(first)?;
        if first == 0 || first > last {
            return Ok(None);
        }
        Ok(Some(PruneRange {
            first: seq_to_store(first)?,
            last: seq_to_store(last)?,
        }))
    }

    /// Step 5: the checkpoint entry, sealed after the head.
    pub fn checkpoint(
        &self,
        range: PruneRange,
        last_hash: String,
        deleted: u64,
    ) -> Result<LedgerEntry, LedgerError> {
        let pruned = Head {
            seq: seq_from_store(range.last)?,
            hash: last_hash,
        };
        Ok(chain::seal(
            &self.head,
            self.instance,
            &NewEntry {
                kind: EntryKind::Checkpoint,
                transfer_id: None,
                at: self.now.to_string(),
                payload: chain::checkpoint_payload(&pruned, deleted, self.cutoff),
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pruning(head_seq: u64) -> Pruning<'static> {
        Pruning {
            head: Head {
                seq: head_seq,
                hash: chain::GENESIS.into(),
            },
            instance: "gw",
            cutoff: "2026-11-01T00:00:00.000000Z",
            now: "2026-12-01T00:00:00.000000Z",
        }
    }

    #[test]
    fn the_range_stops_before_the_first_entry_to_keep() {
        let p = pruning(10);
        assert_eq!(
            p.range(Some(1), Some(4)).unwrap(),
            Some(PruneRange { first: 1, last: 3 })
        );
        assert_eq!(
            p.range(Some(5), None).unwrap(),
            Some(PruneRange { first: 5, last: 10 })
        );
        assert_eq!(p.range(Some(4), Some(4)).unwrap(), None);
        assert_eq!(p.range(None, None).unwrap(), None);
    }

    #[test]
    fn negative_sequence_numbers_are_corruption() {
        assert!(matches!(seq_from_store(-1), Err(LedgerError::Corrupt(_))));
        assert!(matches!(
            pruning(3).range(Some(-2), None),
            Err(LedgerError::Corrupt(_))
        ));
        assert!(matches!(
            head_of(-1, String::new()),
            Err(LedgerError::Corrupt(_))
        ));
    }

    #[test]
    fn both_dialects_get_the_same_tables() {
        let sqlite = pending_migrations(Dialect::Sqlite, None).unwrap();
        let pg = pending_migrations(Dialect::Postgres, None).unwrap();
        assert_eq!(sqlite.len(), pg.len());
        assert_eq!(
            sqlite[0].1.replace("INTEGER", "BIGINT"),
            pg[0].1.replace("INTEGER", "BIGINT")
        );
        assert!(!sqlite[0].1.contains("{SEQ}"));
        assert!(pending_migrations(Dialect::Sqlite, Some(1))
            .unwrap()
            .is_empty());
        assert!(matches!(
            pending_migrations(Dialect::Sqlite, Some(2)),
            Err(LedgerError::SchemaTooNew { found: 2, known: 1 })
        ));
    }
}
