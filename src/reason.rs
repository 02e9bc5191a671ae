//! The reasons a protected message can be refused: a closed set, written as stable codes
//! (`no_archive`, ...) in replies, metrics labels, the audit trail and `check --json`. A leaf
//! of its own so that policy (which decides them), metrics (which counts them) and the audit
//! (which stores them) share one definition without importing each other.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The fixed set of reason codes. Metrics use them as label values: add to it with care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReasonCode {
    NoArchive,
    NotSevenZ,
    ArchiveCorrupt,
    ArchiveNotEncrypted,
    ArchivePartiallyEncrypted,
    HeaderNotEncrypted,
    WeakKeyDerivation,
    OtherAttachment,
    Tnef,
    UnjudgeableCryptoBlob,
    IdentifierInText,
    PasswordInMessage,
    UnrelatedRecipient,
    ProtocolNotInForce,
    MimeUnparseable,
    MimeTooComplex,
    MimeAmbiguous,
}

impl ReasonCode {
    pub const ALL: [ReasonCode; 17] = [
        ReasonCode::NoArchive,
        ReasonCode::NotSevenZ,
        ReasonCode::ArchiveCorrupt,
        ReasonCode::ArchiveNotEncrypted,
        ReasonCode::ArchivePartiallyEncrypted,
        ReasonCode::HeaderNotEncrypted,
        ReasonCode::WeakKeyDerivation,
        ReasonCode::OtherAttachment,
        ReasonCode::Tnef,
        ReasonCode::UnjudgeableCryptoBlob,
        ReasonCode::IdentifierInText,
        ReasonCode::PasswordInMessage,
        ReasonCode::UnrelatedRecipient,
        ReasonCode::ProtocolNotInForce,
        ReasonCode::MimeUnparseable,
        ReasonCode::MimeTooComplex,
        ReasonCode::MimeAmbiguous,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::NoArchive => "no_archive",
            ReasonCode::NotSevenZ => "not_7z",
            ReasonCode::ArchiveCorrupt => "archive_corrupt",
            ReasonCode::ArchiveNotEncrypted => "archive_not_encrypted",
            ReasonCode::ArchivePartiallyEncrypted => "archive_partially_encrypted",
            ReasonCode::HeaderNotEncrypted => "header_not_encrypted",
            ReasonCode::WeakKeyDerivation => "weak_key_derivation",
            ReasonCode::OtherAttachment => "other_attachment",
            ReasonCode::Tnef => "tnef",
            ReasonCode::UnjudgeableCryptoBlob => "unjudgeable_crypto_blob",
            ReasonCode::IdentifierInText => "identifier_in_text",
            ReasonCode::PasswordInMessage => "password_in_message",
            ReasonCode::UnrelatedRecipient => "unrelated_recipient",
            ReasonCode::ProtocolNotInForce => "protocol_not_in_force",
            ReasonCode::MimeUnparseable => "mime_unparseable",
            ReasonCode::MimeTooComplex => "mime_too_complex",
            ReasonCode::MimeAmbiguous => "mime_ambiguous",
        }
    }

    pub fn parse(code: &str) -> Option<ReasonCode> {
        ReasonCode::ALL.into_iter().find(|c| c.as_str() == code)
    }
}

impl Serialize for ReasonCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ReasonCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ReasonCode::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown reason code {text:?}")))
    }
}
