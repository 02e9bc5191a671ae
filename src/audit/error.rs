//! What can go wrong with an audit store, as a closed set.
//!
//! Why typed: the gateway defers a message when the audit write fails, `/readyz` reports the
//! store, and the command line exits 2; all of them must tell "the store is down" from "the
//! store holds something sealgate never wrote" without reading message text. Each backend maps
//! its driver's error codes (SQLite's extended codes, PostgreSQL's SQLSTATE) onto these
//! variants; the strings inside carry the driver's words for the operator only.

use super::EntryKind;

/// An error of a ledger backend (SQLite or PostgreSQL).
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// `audit.store` names no store sealgate can use: unknown kind, no path, malformed URL.
    #[error("{0}")]
    Spec(String),
    /// The store exists (or should) but cannot be opened or prepared: directory, file
    /// permissions, journal mode, TLS set-up.
    #[error("{0}")]
    Open(String),
    /// No usable connection: the server refused, did not answer in time, or the connection
    /// broke. Transient: the next call reconnects.
    #[error("{0}")]
    Unavailable(String),
    /// The schema was written by a newer sealgate.
    #[error("the schema is at version {found}, newer than this sealgate knows ({known}); run a newer sealgate")]
    SchemaTooNew { found: i64, known: usize },
    /// A statement that reads failed.
    #[error("cannot read: {0}")]
    Read(String),
    /// A statement that writes failed (disk full, read-only file, permission denied, ...).
    #[error("cannot write: {0}; check disk space and that the gateway's user may write the store")]
    Write(String),
    /// The transfer already has an entry of this kind: one decision and one outcome per id.
    #[error("transfer {transfer_id} already has a {} entry (one decision and one outcome per transaction id)", kind.as_str())]
    Duplicate {
        kind: EntryKind,
        transfer_id: String,
    },
    /// The store holds what sealgate never writes: a negative sequence number, no chain-head
    /// row, an entry whose payload does not read as a record.
    #[error("{0}; run `sealgate audit verify` to see whether the store was tampered with")]
    Corrupt(String),
    /// A record could not be turned into JSON (never expected).
    #[error("cannot encode the record: {0}")]
    Encode(String),
}

/// An audit store's error: which store (password masked) and what went wrong.
#[derive(Debug, thiserror::Error)]
#[error("audit store {store}: {kind}")]
pub struct AuditError {
    store: String,
    kind: LedgerError,
}

impl AuditError {
    pub(super) fn new(store: &str, kind: LedgerError) -> AuditError {
        AuditError {
            store: store.to_string(),
            kind,
        }
    }

    /// What went wrong, to match on.
    pub fn kind(&self) -> &LedgerError {
        &self.kind
    }

    /// The store's spec with any password masked.
    pub fn store(&self) -> &str {
        &self.store
    }
}
