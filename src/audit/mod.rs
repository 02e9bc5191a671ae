//! The audit trail: metadata of every transfer that involves a protected mailbox, never its
//! contents, in an append-only, hash-chained store.
//!
//! (Interface fixed; the stores land with issue 5.)

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit store {store}: {message}")]
    Store { store: String, message: String },
}

/// One envelope recipient and the protocol that protects it (None: not protected).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecipient {
    pub address: String,
    pub protocol: Option<String>,
}

/// What is known of one archive, never its contents or names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveFacts {
    pub sha256: String,
    pub size: u64,
    pub verdict: String,
    pub header_encrypted: Option<bool>,
    pub kdf_cycles_power: Option<u8>,
    pub files: Option<u64>,
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
    /// "pass" or "reject".
    pub verdict: String,
    pub reasons: Vec<String>,
    pub next_hop: String,
}

/// The answer half: what the next hop (or sealgate itself) finally said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferOutcome {
    pub answered_at: DateTime<Utc>,
    /// The reply the client heard, e.g. "250 2.0.0 Ok: queued as 4Xc1" or "550 5.7.1 ...".
    pub reply_code: u16,
    pub reply_text: String,
    /// "relayed", "rejected" or "deferred".
    pub outcome: String,
    pub tls_out: Option<String>,
}

/// The store behind `audit.store`.
pub struct AuditStore {
    spec: String,
}

impl AuditStore {
    pub async fn open(spec: &str, _instance: &str) -> Result<AuditStore, AuditError> {
        Ok(AuditStore {
            spec: spec.to_string(),
        })
    }

    pub async fn record_decision(&self, _record: &TransferRecord) -> Result<(), AuditError> {
        Err(AuditError::Store {
            store: self.spec.clone(),
            message: "not built yet".into(),
        })
    }

    pub async fn record_outcome(
        &self,
        _id: &str,
        _outcome: &TransferOutcome,
    ) -> Result<(), AuditError> {
        Err(AuditError::Store {
            store: self.spec.clone(),
            message: "not built yet".into(),
        })
    }

    /// For `/readyz`: can a record be written right now?
    pub async fn check_writable(&self) -> Result<(), AuditError> {
        Ok(())
    }
}
