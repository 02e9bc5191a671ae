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
    SenderNotAllowed,
}

impl ReasonCode {
    pub const ALL: [ReasonCode; 18] = [
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
        ReasonCode::SenderNotAllowed,
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
            ReasonCode::SenderNotAllowed => "sender_not_allowed",
        }
    }

    /// May a protocol in monitor mode (`mode = "monitor"`) relay a message refused for this
    /// reason, recording it as `would_reject`? The rule: monitor mode never relaxes
    /// smuggling, size or relay-access refusals. Those are decided before policy (bare CR/LF
    /// and the size limit when DATA ends, relay access at RCPT) and are no reason code, so
    /// they cannot reach this question. Among the codes, `mime_ambiguous` is the MIME
    /// cousin of smuggling (a bare CR, a boundary two readers split differently): the gateway
    /// cannot tell what the recipient's program will show, so the audit record of a relayed
    /// message would itself be unreliable. It is never relaxed. Every other code is a rule of
    /// the protocol about a message the gateway read one way only, which is what monitor mode
    /// is for. A closed match: a new code must be decided here.
    pub fn relaxed_in_monitor(self) -> bool {
        match self {
            ReasonCode::MimeAmbiguous => false,
            ReasonCode::NoArchive
            | ReasonCode::NotSevenZ
            | ReasonCode::ArchiveCorrupt
            | ReasonCode::ArchiveNotEncrypted
            | ReasonCode::ArchivePartiallyEncrypted
            | ReasonCode::HeaderNotEncrypted
            | ReasonCode::WeakKeyDerivation
            | ReasonCode::OtherAttachment
            | ReasonCode::Tnef
            | ReasonCode::UnjudgeableCryptoBlob
            | ReasonCode::IdentifierInText
            | ReasonCode::PasswordInMessage
            | ReasonCode::UnrelatedRecipient
            | ReasonCode::ProtocolNotInForce
            | ReasonCode::MimeUnparseable
            | ReasonCode::MimeTooComplex
            | ReasonCode::SenderNotAllowed => true,
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

#[cfg(test)]
mod tests {
    use super::ReasonCode;

    /// The monitor-mode table of docs/policy.md, code by code: a change here is a change of
    /// what a protocol in monitor mode lets through, and must be a deliberate one.
    #[test]
    fn monitor_mode_relaxes_every_code_but_mime_ambiguous() {
        let table = [
            ("no_archive", true),
            ("not_7z", true),
            ("archive_corrupt", true),
            ("archive_not_encrypted", true),
            ("archive_partially_encrypted", true),
            ("header_not_encrypted", true),
            ("weak_key_derivation", true),
            ("other_attachment", true),
            ("tnef", true),
            ("unjudgeable_crypto_blob", true),
            ("identifier_in_text", true),
            ("password_in_message", true),
            ("unrelated_recipient", true),
            ("protocol_not_in_force", true),
            ("mime_unparseable", true),
            ("mime_too_complex", true),
            ("mime_ambiguous", false),
            ("sender_not_allowed", true),
        ];
        assert_eq!(table.len(), ReasonCode::ALL.len());
        for (code, relaxed) in table {
            let parsed = ReasonCode::parse(code).unwrap_or_else(|| panic!("{code}"));
            assert_eq!(parsed.relaxed_in_monitor(), relaxed, "{code}");
        }
    }

    #[test]
    fn every_code_parses_back() {
        for code in ReasonCode::ALL {
            assert_eq!(ReasonCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(
            ReasonCode::parse("sender_not_allowed"),
            Some(ReasonCode::SenderNotAllowed)
        );
    }
}
