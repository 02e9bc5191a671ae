//! What one leaf part is. Content decides first: a 7z signature makes an archive whatever the
//! part claims to be. Names and types can only make a part *more* suspect (TNEF, S/MIME, PGP).
//! A text part that carries a file (`data:` URIs, uuencode, yEnc, BinHex, see [`carrier`]) or
//! that HTML shows through a `cid:` reference is an attachment, not body text.

mod carrier;

use std::collections::HashSet;

use super::Leaf;

/// The kinds of leaf policy distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafKind {
    /// Starts with the 7z signature.
    Archive,
    /// Another archive format (ZIP, RAR, gzip, ...): the name of the format.
    ForeignArchive(&'static str),
    /// Outlook's TNEF (`winmail.dat`), which hides attachments inside it.
    Tnef,
    /// S/MIME or PGP data whose contents cannot be judged.
    CryptoBlob,
    /// text/plain or text/html of the message itself: the body.
    Body,
    /// A text part of a forwarded (nested) message.
    NestedText,
    /// Any other part: a document, an image (inline or not), a text file.
    Attachment,
}

pub(super) struct Facts<'a> {
    pub bytes: &'a [u8],
    pub content_type: &'a str,
    pub filename: Option<&'a str>,
    pub disposition_attachment: bool,
    pub level: usize,
    /// Charset-decoded text of text parts (HTML reduced to text).
    pub text: Option<&'a str>,
    /// HTML source of text/html parts.
    pub html: Option<&'a str>,
    /// Content-Transfer-Encoding as declared.
    pub transfer_encoding: Option<&'a str>,
}

/// Transfer encodings and declared types that are file formats written as text.
const CARRIER_MARKERS: [&str; 3] = ["uu", "binhex", "yenc"];

const TNEF_SIGNATURE: [u8; 4] = [0x78, 0x9F, 0x3E, 0x22];
/// DER of OID 1.2.840.113549.1.7 (PKCS #7 content types), as S/MIME blobs carry it.
const PKCS7_OID: [u8; 10] = [0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07];
const PGP_ARMOR: &[u8] = b"-----BEGIN PGP MESSAGE-----";

pub(super) fn classify(facts: &Facts<'_>) -> LeafKind {
    let bytes = facts.bytes;
    if crate::sevenz::has_signature(bytes) {
        return LeafKind::Archive;
    }
    if bytes.starts_with(&TNEF_SIGNATURE) {
        return LeafKind::Tnef;
    }
    if is_pkcs7(bytes) || contains(bytes, PGP_ARMOR) {
        return LeafKind::CryptoBlob;
    }
    if let Some(format) = foreign_archive(bytes) {
        return LeafKind::ForeignArchive(format);
    }
    let name = facts.filename.unwrap_or_default().to_ascii_lowercase();
    if name == "winmail.dat" || facts.content_type.ends_with("ms-tnef") {
        return LeafKind::Tnef;
    }
    if is_crypto_type(facts.content_type) || has_crypto_extension(&name) {
        return LeafKind::CryptoBlob;
    }
    let is_text = matches!(facts.content_type, "text/plain" | "text/html");
    // Only a part that would be body text needs the (linear) carrier scan: anything else is
    // an attachment already.
    if is_text && !facts.disposition_attachment && facts.filename.is_none() && !carries_file(facts)
    {
        return if facts.level == 0 {
            LeafKind::Body
        } else {
            LeafKind::NestedText
        };
    }
    LeafKind::Attachment
}

/// Text that a reader's program (or one command) turns back into a file.
fn carries_file(facts: &Facts<'_>) -> bool {
    let declared = facts
        .transfer_encoding
        .unwrap_or_default()
        .to_ascii_lowercase();
    let subtype = facts.content_type.split('/').nth(1).unwrap_or_default();
    if CARRIER_MARKERS
        .iter()
        .any(|m| declared.contains(m) || subtype.contains(m))
    {
        return true;
    }
    facts.text.is_some_and(carrier::text_carries_file)
        || facts.html.is_some_and(carrier::html_carries_file)
        || carrier::text_carries_file(&String::from_utf8_lossy(facts.bytes))
}

/// After the walk: a body or nested text part that a `cid:` URL of any HTML part of the
/// message points at is shown as an image or a file, whatever it declares: an attachment.
pub(super) fn mark_cid_targets(leaves: &mut [Leaf]) {
    let mut referenced = HashSet::new();
    for leaf in leaves.iter() {
        if let Some(html) = &leaf.html {
            carrier::cid_references(html, &mut referenced);
        }
    }
    if referenced.is_empty() {
        return;
    }
    for leaf in leaves.iter_mut() {
        let target = leaf
            .content_id
            .as_deref()
            .is_some_and(|id| referenced.contains(&carrier::normalised_content_id(id)));
        if target && matches!(leaf.kind, LeafKind::Body | LeafKind::NestedText) {
            leaf.kind = LeafKind::Attachment;
        }
    }
}

/// multipart/signed and multipart/encrypted wrap parts in crypto nobody here can judge.
pub(super) fn is_crypto_container(content_type: &str) -> bool {
    matches!(content_type, "multipart/signed" | "multipart/encrypted")
}

fn is_crypto_type(content_type: &str) -> bool {
    matches!(
        content_type,
        "application/pkcs7-mime"
            | "application/x-pkcs7-mime"
            | "application/pkcs7-signature"
            | "application/x-pkcs7-signature"
            | "application/pgp-encrypted"
            | "application/pgp-signature"
            | "application/pgp-keys"
    )
}

fn has_crypto_extension(name: &str) -> bool {
    [".p7m", ".p7s", ".p7c", ".pgp", ".gpg"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

fn is_pkcs7(bytes: &[u8]) -> bool {
    bytes.first() == Some(&0x30) && contains(&bytes[..bytes.len().min(64)], &PKCS7_OID)
}

fn foreign_archive(bytes: &[u8]) -> Option<&'static str> {
    const SIGNATURES: [(&[u8], &str); 8] = [
        (b"PK\x03\x04", "ZIP"),
        (b"PK\x05\x06", "ZIP"),
        (b"Rar!\x1a\x07", "RAR"),
        (b"\x1f\x8b", "gzip"),
        (b"BZh", "bzip2"),
        (b"\xfd7zXZ\x00", "xz"),
        (b"MSCF", "CAB"),
        (b"\x28\xb5\x2f\xfd", "zstd"),
    ];
    if bytes.get(257..262) == Some(b"ustar") {
        return Some("tar");
    }
    SIGNATURES
        .iter()
        .find(|(magic, _)| bytes.starts_with(magic))
        .map(|(_, name)| *name)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(bytes: &[u8], content_type: &str, filename: Option<&str>) -> LeafKind {
        classify(&Facts {
            bytes,
            content_type,
            filename,
            disposition_attachment: filename.is_some(),
            level: 0,
            text: std::str::from_utf8(bytes).ok(),
            html: None,
            transfer_encoding: None,
        })
    }

    #[test]
    fn content_beats_name_and_type() {
        let sevenz = [0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C, 0, 4];
        assert_eq!(
            kind(&sevenz, "application/pdf", Some("report.pdf")),
            LeafKind::Archive
        );
        assert_eq!(kind(&sevenz, "text/plain", None), LeafKind::Archive);
        assert_eq!(
            kind(b"%PDF-1.7", "application/x-7z-compressed", Some("a.7z")),
            LeafKind::Attachment
        );
        assert_eq!(
            kind(
                &[0x78, 0x9F, 0x3E, 0x22, 1],
                "application/octet-stream",
                Some("x.bin")
            ),
            LeafKind::Tnef
        );
        assert_eq!(
            kind(b"PK\x03\x04rest", "application/octet-stream", Some("a.7z")),
            LeafKind::ForeignArchive("ZIP")
        );
    }

    #[test]
    fn names_and_types_only_add_suspicion() {
        assert_eq!(
            kind(b"x", "application/octet-stream", Some("WINMAIL.DAT")),
            LeafKind::Tnef
        );
        assert_eq!(kind(b"x", "application/vnd.ms-tnef", None), LeafKind::Tnef);
        assert_eq!(
            kind(b"x", "application/pkcs7-mime", Some("smime.p7m")),
            LeafKind::CryptoBlob
        );
        assert_eq!(
            kind(b"hi\n-----BEGIN PGP MESSAGE-----\n", "text/plain", None),
            LeafKind::CryptoBlob
        );
        assert_eq!(kind(b"hello", "text/plain", None), LeafKind::Body);
        assert_eq!(
            kind(b"hello", "text/plain", Some("notes.txt")),
            LeafKind::Attachment
        );
        assert_eq!(kind(b"\x89PNG", "image/png", None), LeafKind::Attachment);
    }

    #[test]
    fn text_that_carries_a_file_is_an_attachment() {
        assert_eq!(
            kind(b"zie data:application/pdf;base64,JVBER", "text/plain", None),
            LeafKind::Attachment
        );
        assert_eq!(
            kind(b"=ybegin line=128 size=9 name=a.pdf", "text/plain", None),
            LeafKind::Attachment
        );
        let declared = classify(&Facts {
            bytes: b"M86)C",
            content_type: "text/plain",
            filename: None,
            disposition_attachment: false,
            level: 0,
            text: Some("M86)C"),
            html: None,
            transfer_encoding: Some("X-UUEncode"),
        });
        assert_eq!(declared, LeafKind::Attachment);
        let html = "<p>x</p><img src=\"data:image/png;base64,iVBOR\">";
        let from_html = classify(&Facts {
            bytes: html.as_bytes(),
            content_type: "text/html",
            filename: None,
            disposition_attachment: false,
            level: 0,
            text: Some("x"),
            html: Some(html),
            transfer_encoding: None,
        });
        assert_eq!(from_html, LeafKind::Attachment);
        assert_eq!(
            kind(b"Update data: zie hieronder", "text/plain", None),
            LeafKind::Body
        );
    }
}
