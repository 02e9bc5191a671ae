//! The archive verdict: is this byte slice a valid 7z archive whose every content stream is
//! AES-256 encrypted? Decided from the structure alone, without the password.
//!
//! (Interface fixed; the structural parser lands with issue 3.)

use serde::Serialize;

/// The five verdicts, as they appear in `check-archive --json` and in the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum VerdictKind {
    #[serde(rename = "not_7z")]
    NotSevenZ,
    #[serde(rename = "corrupt")]
    Corrupt,
    #[serde(rename = "unencrypted")]
    Unencrypted,
    #[serde(rename = "partially_encrypted")]
    PartiallyEncrypted,
    #[serde(rename = "encrypted")]
    Encrypted,
}

impl VerdictKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictKind::NotSevenZ => "not_7z",
            VerdictKind::Corrupt => "corrupt",
            VerdictKind::Unencrypted => "unencrypted",
            VerdictKind::PartiallyEncrypted => "partially_encrypted",
            VerdictKind::Encrypted => "encrypted",
        }
    }
}

/// What the structure of an archive tells, without its password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveVerdict {
    pub verdict: VerdictKind,
    /// A human sentence: why this verdict.
    pub reason: String,
    /// True when file names are hidden; None when not a readable 7z.
    pub header_encrypted: Option<bool>,
    /// NumCyclesPower of the 7zAES key derivation (19 from 7-Zip; 63 = raw key).
    pub kdf_cycles_power: Option<u8>,
    pub folders: Option<u64>,
    pub encrypted_folders: Option<u64>,
    /// Number of files, where the header is visible.
    pub files: Option<u64>,
}

/// True when `bytes` start with the 7z signature. Cheap; used to find archives by content.
pub fn has_signature(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C])
}

/// Judges `bytes`. Never panics; bounded in time and memory for any input.
pub fn verdict(bytes: &[u8]) -> ArchiveVerdict {
    let verdict = if has_signature(bytes) {
        VerdictKind::Corrupt
    } else {
        VerdictKind::NotSevenZ
    };
    ArchiveVerdict {
        verdict,
        reason: "structural parser not built yet".into(),
        header_encrypted: None,
        kdf_cycles_power: None,
        folders: None,
        encrypted_folders: None,
        files: None,
    }
}

/// Whether `password` opens the archive. `None` when it cannot be told (not encrypted, corrupt,
/// or no stream with a checksum to test against).
pub fn password_opens(_bytes: &[u8], _password: &str) -> Option<bool> {
    None
}
