//! The ledger: where the core writes what it decided about protected mail, ahead of relaying,
//! and the next hop's answer afterwards. A trait over the audit store's API so the core runs
//! with an in-memory ledger in `sealgate check` and in tests.

use std::sync::Mutex;

use crate::audit::{AuditStore, TransferOutcome, TransferRecord};

/// The ledger could not be written; the message waits (451) rather than leave unrecorded.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LedgerError(pub String);

#[async_trait::async_trait]
pub trait Ledger: Send + Sync {
    /// Writes the decision durably; must succeed before the message may leave.
    async fn record_decision(&self, record: &TransferRecord) -> Result<(), LedgerError>;
    /// Completes the record with the answer the client got.
    async fn record_outcome(&self, id: &str, outcome: &TransferOutcome) -> Result<(), LedgerError>;
}

#[async_trait::async_trait]
impl Ledger for AuditStore {
    async fn record_decision(&self, record: &TransferRecord) -> Result<(), LedgerError> {
        AuditStore::record_decision(self, record)
            .await
            .map_err(|e| LedgerError(e.to_string()))
    }

    async fn record_outcome(&self, id: &str, outcome: &TransferOutcome) -> Result<(), LedgerError> {
        AuditStore::record_outcome(self, id, outcome)
            .await
            .map_err(|e| LedgerError(e.to_string()))
    }
}

/// A ledger in memory: for `sealgate check` (which records nothing durable) and for tests.
/// Optionally unwritable, to show what the client gets when the audit store is down.
#[derive(Default)]
pub struct MemoryLedger {
    entries: Mutex<Vec<(TransferRecord, Option<TransferOutcome>)>>,
    unwritable: bool,
}

impl MemoryLedger {
    pub fn new() -> MemoryLedger {
        MemoryLedger::default()
    }

    /// A ledger whose every write fails.
    pub fn unwritable() -> MemoryLedger {
        MemoryLedger {
            entries: Mutex::default(),
            unwritable: true,
        }
    }

    /// The records written so far, with their outcomes.
    pub fn entries(&self) -> Vec<(TransferRecord, Option<TransferOutcome>)> {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn refuse(&self) -> Result<(), LedgerError> {
        if self.unwritable {
            return Err(LedgerError("memory ledger set unwritable".into()));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Ledger for MemoryLedger {
    async fn record_decision(&self, record: &TransferRecord) -> Result<(), LedgerError> {
        self.refuse()?;
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((record.clone(), None));
        Ok(())
    }

    async fn record_outcome(&self, id: &str, outcome: &TransferOutcome) -> Result<(), LedgerError> {
        self.refuse()?;
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.iter_mut().find(|(record, _)| record.id == id) {
            Some((_, slot)) => {
                *slot = Some(outcome.clone());
                Ok(())
            }
            None => Err(LedgerError(format!("no record {id}"))),
        }
    }
}
