//! The archive verdict: is this byte slice a valid 7z archive whose every content stream is
//! AES-256 encrypted? Decided from the structure alone, without the password.
//!
//! An own structural parser, on purpose: the verdict must see every coder graph, the header's
//! own coders and the key-derivation cycles, and must fail closed on anything it does not
//! understand. `sevenz-rust2` stays a test oracle. Layers, from bytes up:
//! `reader` (bounded cursor) -> `signature` (32-byte start header, SFX, volumes) ->
//! `header` and `folder` (property records, coder graphs) -> `unpack` (packed header) ->
//! `archive` (the whole structure) -> `verdict` (the five words) and `password`. When the
//! header is encrypted the content's coders are hidden, so `ciphertext` judges the bytes of
//! the content streams instead (`plain`: signatures, text, histogram; `probe`: decoders).

mod archive;
mod ciphertext;
mod folder;
mod header;
mod password;
mod plain;
mod probe;
mod reader;
mod signature;
mod unpack;
mod verdict;

use serde::{Deserialize, Serialize};

pub use password::{MAX_CYCLES_POWER, RAW_KEY_POWER};
pub use verdict::{password_opens, verdict};

/// The five verdicts, as they appear in `check-archive --json` and in the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// NumCyclesPower of the 7zAES key derivation (19 from 7-Zip; 63 = raw key). The minimum
    /// over every 7zAES coder seen: the weakest link.
    pub kdf_cycles_power: Option<u8>,
    pub folders: Option<u64>,
    pub encrypted_folders: Option<u64>,
    /// Number of files, where the header is visible.
    pub files: Option<u64>,
}

/// True when `bytes` start with the 7z signature. Cheap; used to find archives by content.
pub fn has_signature(bytes: &[u8]) -> bool {
    bytes.starts_with(&signature::MAGIC)
}

/// Why a structure is not a valid archive; becomes the `corrupt` verdict's reason.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ParseError {
    #[error("truncated: {0} ends early")]
    Truncated(&'static str),
    #[error("{}", beyond_end(*.multi_volume))]
    BeyondEnd { multi_volume: bool },
    #[error("CRC mismatch: {0}")]
    Crc(&'static str),
    #[error("bad structure: {0}")]
    Structure(String),
    #[error("over a safety limit: {0}")]
    Limit(String),
    #[error("not supported: {0}")]
    Unsupported(String),
    #[error("cannot unpack: {0}")]
    Decode(String),
}

fn beyond_end(multi_volume: bool) -> &'static str {
    if multi_volume {
        "first part of a multi-volume set (the header lies beyond the end): send one single archive"
    } else {
        "truncated: the header lies beyond the end of the data (or the first part of a multi-volume set)"
    }
}
