//! What policy decided, in the form the audit trail stores it.
//!
//! Why here and not in `audit`: the audit records what policy decided, so the types of that
//! decision belong to policy and the audit imports them (never the reverse). These are the
//! facts of a [`super::Decision`] that may be stored: hashes, sizes and verdicts, never a name
//! or a byte of content.
//!
//! The serialised names are a contract with stored records and with `audit export`:
//! a [`ReasonCode`] is written as its [`ReasonCode::as_str`] and read back through
//! [`ReasonCode::parse`], so there is one list of codes (the enum) and no copy of it.

use serde::{Deserialize, Serialize};

use crate::sevenz::VerdictKind;

/// What is known of one archive, never its contents or names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveFacts {
    /// SHA-256 of the archive's bytes, lowercase hex.
    pub sha256: String,
    pub size: u64,
    /// The archive verdict, written as in `check-archive --json` ("encrypted", "not_7z", ...).
    pub verdict: VerdictKind,
    pub header_encrypted: Option<bool>,
    pub kdf_cycles_power: Option<u8>,
    pub files: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::super::ReasonCode;
    use super::*;

    #[test]
    fn every_reason_code_round_trips_as_its_own_string() {
        for code in ReasonCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ReasonCode>(&json).unwrap(), code);
        }
        assert!(serde_json::from_str::<ReasonCode>("\"no_such_code\"").is_err());
    }

    #[test]
    fn archive_facts_keep_their_stored_field_names_and_values() {
        let stored = r#"{"sha256":"ab","size":3,"verdict":"partially_encrypted","header_encrypted":null,"kdf_cycles_power":19,"files":null}"#;
        let facts: ArchiveFacts = serde_json::from_str(stored).unwrap();
        assert_eq!(facts.verdict, VerdictKind::PartiallyEncrypted);
        assert_eq!(serde_json::to_string(&facts).unwrap(), stored);
    }
}
