//! Inspection: the MIME walk of a message bound for a protected mailbox.
//!
//! Policy needs every leaf part with its decoded bytes and a classification it can trust. Names
//! and declared MIME types lie (an RFC 2231 `filename*=` slipped past other gateways), so
//! archives are found by their bytes only; names and types are used only to refuse more
//! (TNEF, S/MIME, PGP), never to accept. Anything the walk cannot read completely, or that is
//! bigger than its bounds, is an error: the caller refuses protected mail on it (fail closed).
//!
//! `mail-parser` walks multiparts iteratively, so deep nesting cannot overflow the stack here;
//! this module adds the bounds (parts, multipart depth, nested messages, header size).

mod classify;
mod failure;
mod header_text;
pub mod html;
mod side_text;
pub mod strict;

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

pub use classify::LeafKind;
pub use failure::{Bound, Unreadable};
pub use strict::AmbiguityKind;

/// Multipart levels inside one message. Real clients use three or four.
pub const MAX_MULTIPART_DEPTH: usize = 16;
/// Bytes in one header block (top-level or part). Long Received/DKIM chains stay far below.
pub const MAX_HEADER_BYTES: usize = 256 * 1024;
/// Header fields in one header block.
pub const MAX_HEADER_FIELDS: usize = 1000;

/// Why a message could not be inspected. Every variant refuses protected mail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InspectError {
    #[error("MIME structure cannot be read: {0}")]
    Unparseable(Unreadable),
    #[error("MIME structure is too complex: {0}")]
    TooComplex(Bound),
    /// Two reasonable parsers could read the bytes differently (the strict pass, [`strict`]).
    /// A closed kind: nothing taken from the message.
    #[error("MIME structure is ambiguous: {}", .0.as_str())]
    Ambiguous(AmbiguityKind),
}

/// The bounds of one walk, from the protocol's rules.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Levels of message/rfc822 inside the message (0: no nested message allowed).
    pub max_nesting_depth: usize,
    /// MIME parts in all, nested messages included.
    pub max_parts: usize,
}

/// One leaf part (not multipart, not a nested message).
#[derive(Debug, Clone)]
pub struct Leaf {
    /// Lower-case `type/subtype` as declared (default `text/plain`).
    pub content_type: String,
    /// File name from Content-Disposition or Content-Type, RFC 2231 decoded.
    pub filename: Option<String>,
    /// Levels of message/rfc822 above this part (0: the message itself).
    pub level: usize,
    /// The transfer-decoded bytes.
    pub bytes: Vec<u8>,
    /// Readable text for text/plain and text/html parts (HTML reduced to its text).
    pub text: Option<String>,
    /// The HTML source of text/html parts (charset-decoded), for scans of what
    /// `html_to_text` drops (attributes, `<title>`, CSS, text split by tags).
    pub html: Option<String>,
    /// Content-ID without angle brackets: `cid:` references point at it.
    pub content_id: Option<String>,
    pub kind: LeafKind,
}

/// What the walk found.
#[derive(Debug, Clone, Default)]
pub struct Inspection {
    pub message_id: Option<String>,
    /// Subjects of the message and of every nested message.
    pub subjects: Vec<String>,
    pub leaves: Vec<Leaf>,
    /// Declared types of containers that hold crypto nobody can judge (multipart/signed, ...).
    pub crypto_containers: Vec<String>,
    /// Every header field of the message, of every part and of every nested message, as
    /// written and decoded (one string per field): scanned for identifiers.
    pub header_texts: Vec<String>,
    /// Display names of the address fields, of the message and every nested message.
    pub display_names: Vec<String>,
    /// Values of the HTML attributes a reader sees (`alt`, `title`, `value`, ...).
    pub html_attributes: Vec<String>,
}

/// Reads `raw` with the strict pass first and, when it finds nothing ambiguous, walks it with
/// mail-parser within `limits`: the message is inspected only when both readings find exactly
/// the same leaf parts. mail-parser never sees what the strict pass refuses (its leniency, and
/// its debug assertions, are not exercised by hostile structure).
pub fn inspect(raw: &[u8], limits: &Limits) -> Result<Inspection, InspectError> {
    let strict = strict::leaves(raw, limits)?;
    let (inspection, shapes) = walk(raw, limits)?;
    if strict != shapes {
        return Err(InspectError::Ambiguous(AmbiguityKind::PartsDiffer));
    }
    Ok(inspection)
}

/// mail-parser's reading alone, without the strict pass: for measuring what the strict pass
/// closes (tests/mime_differential.rs), never for a decision.
#[doc(hidden)]
pub fn lenient_walk(raw: &[u8], limits: &Limits) -> Result<Inspection, InspectError> {
    walk(raw, limits).map(|(inspection, _)| inspection)
}

/// mail-parser's reading: the inspection and the shape of every leaf, in document order.
fn walk(raw: &[u8], limits: &Limits) -> Result<(Inspection, Vec<strict::Shape>), InspectError> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or(InspectError::Unparseable(Unreadable::NoHeader))?;
    let mut walk = Walk {
        limits: *limits,
        parts_seen: 0,
        out: Inspection {
            message_id: message.message_id().map(str::to_string),
            ..Inspection::default()
        },
        shapes: Vec::new(),
    };
    walk.message(&message, 0)?;
    classify::mark_cid_targets(&mut walk.out.leaves);
    Ok((walk.out, walk.shapes))
}

struct Walk {
    limits: Limits,
    parts_seen: usize,
    out: Inspection,
    shapes: Vec<strict::Shape>,
}

impl Walk {
    fn message(&mut self, message: &Message<'_>, level: usize) -> Result<(), InspectError> {
        if level > self.limits.max_nesting_depth {
            return Err(InspectError::TooComplex(Bound::NestedMessages));
        }
        self.parts_seen = self.parts_seen.saturating_add(message.parts.len());
        if self.parts_seen > self.limits.max_parts {
            return Err(InspectError::TooComplex(Bound::Parts));
        }
        if let Some(subject) = message.subject() {
            self.out.subjects.push(subject.to_string());
        }
        side_text::display_names(message, &mut self.out.display_names);
        let mut depth = vec![0usize; message.parts.len()];
        for (index, part) in message.parts.iter().enumerate() {
            check_header(part)?;
            let fields = header_text::fields(part, message.raw_message.as_ref());
            self.out.header_texts.extend(fields);
            match &part.body {
                PartType::Multipart(children) => {
                    if depth[index] >= MAX_MULTIPART_DEPTH {
                        return Err(InspectError::TooComplex(Bound::MultipartDepth));
                    }
                    for &child in children {
                        let child = child as usize;
                        if child > index && child < depth.len() {
                            depth[child] = depth[index] + 1;
                        }
                    }
                    let declared = content_type(part);
                    if classify::is_crypto_container(&declared) {
                        self.out.crypto_containers.push(declared);
                    }
                }
                PartType::Message(nested) => {
                    if part.is_encoding_problem {
                        return Err(undecodable(index));
                    }
                    self.message(nested, level + 1)?;
                }
                _ => {
                    let leaf = leaf(part, message.raw_message.as_ref(), level, index)?;
                    self.shapes.push(strict::Shape {
                        content_type: leaf.content_type.clone(),
                        disposition: part
                            .content_disposition()
                            .map(|d| d.ctype().to_ascii_lowercase()),
                        filename: leaf.filename.clone(),
                        decoded_len: leaf.bytes.len(),
                        level,
                    });
                    if let PartType::Html(html) = &part.body {
                        side_text::attribute_values(html, &mut self.out.html_attributes);
                    }
                    self.out.leaves.push(leaf);
                }
            }
        }
        Ok(())
    }
}

fn check_header(part: &mail_parser::MessagePart<'_>) -> Result<(), InspectError> {
    let size = part.offset_body.saturating_sub(part.offset_header) as usize;
    if size > MAX_HEADER_BYTES || part.headers.len() > MAX_HEADER_FIELDS {
        return Err(InspectError::TooComplex(Bound::HeaderBlock));
    }
    Ok(())
}

fn undecodable(_index: usize) -> InspectError {
    InspectError::Unparseable(Unreadable::UndecodablePart)
}

fn content_type(part: &mail_parser::MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
        None => "text/plain".into(),
    }
}

fn leaf(
    part: &mail_parser::MessagePart<'_>,
    raw: &[u8],
    level: usize,
    index: usize,
) -> Result<Leaf, InspectError> {
    if part.is_encoding_problem {
        return Err(undecodable(index));
    }
    let content_type = content_type(part);
    if content_type.starts_with("multipart/") || content_type.starts_with("message/") {
        // A container that mail-parser could only read as a leaf (missing boundary, ...).
        return Err(InspectError::Unparseable(
            Unreadable::ContainerWithoutStructure,
        ));
    }
    let (bytes, text, html) = match &part.body {
        PartType::Binary(b) | PartType::InlineBinary(b) => (b.to_vec(), None, None),
        PartType::Text(t) => (raw_bytes(part, raw, index)?, Some(t.to_string()), None),
        PartType::Html(h) => (
            raw_bytes(part, raw, index)?,
            Some(mail_parser::decoders::html::html_to_text(h)),
            Some(h.to_string()),
        ),
        PartType::Message(_) | PartType::Multipart(_) => (Vec::new(), None, None),
    };
    let filename = part.attachment_name().map(str::to_string);
    let disposition_attachment = part
        .content_disposition()
        .is_some_and(|d| d.is_attachment());
    let kind = classify::classify(&classify::Facts {
        bytes: &bytes,
        content_type: &content_type,
        filename: filename.as_deref(),
        disposition_attachment,
        level,
        text: text.as_deref(),
        html: html.as_deref(),
        transfer_encoding: part.content_transfer_encoding(),
    });
    Ok(Leaf {
        content_type,
        filename,
        level,
        bytes,
        text,
        html,
        content_id: part.content_id().map(str::to_string),
        kind,
    })
}

/// The transfer-decoded bytes of a text part, before any charset conversion (a 7z declared as
/// text/plain must keep its bytes).
fn raw_bytes(
    part: &mail_parser::MessagePart<'_>,
    raw: &[u8],
    index: usize,
) -> Result<Vec<u8>, InspectError> {
    let body = raw
        .get(part.offset_body as usize..part.offset_end as usize)
        .ok_or_else(|| undecodable(index))?;
    let decoded = match part.encoding {
        mail_parser::Encoding::Base64 => mail_parser::decoders::base64::base64_decode(body),
        mail_parser::Encoding::QuotedPrintable => {
            mail_parser::decoders::quoted_printable::quoted_printable_decode(body)
        }
        mail_parser::Encoding::None => Some(body.to_vec()),
    };
    decoded.ok_or_else(|| undecodable(index))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_nesting_depth: 4,
        max_parts: 100,
    };

    #[test]
    fn text_part_keeps_its_raw_bytes() {
        let raw = b"Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n--b\r\nContent-Type: TEXT/PLAIN; name=\"a.txt\"\r\nContent-Transfer-Encoding: base64\r\n\r\nN3q8ryccAAQ=\r\n--b--\r\n";
        let found = inspect(raw, &LIMITS).unwrap();
        assert_eq!(found.leaves.len(), 2);
        assert_eq!(found.leaves[0].kind, LeafKind::Body);
        assert_eq!(found.leaves[1].kind, LeafKind::Archive);
        assert_eq!(
            found.leaves[1].bytes,
            [0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C, 0, 4]
        );
    }

    #[test]
    fn deep_multipart_is_too_complex() {
        let mut raw = String::from("Subject: bomb\r\nMIME-Version: 1.0\r\n");
        for i in 0..40 {
            raw.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=b{i:02}\r\n\r\n--b{i:02}\r\n"
            ));
        }
        raw.push_str("Content-Type: text/plain\r\n\r\nx\r\n");
        for i in (0..40).rev() {
            raw.push_str(&format!("--b{i:02}--\r\n"));
        }
        let err = inspect(raw.as_bytes(), &LIMITS).unwrap_err();
        assert!(matches!(err, InspectError::TooComplex(_)), "{err}");
    }

    #[test]
    fn bad_base64_is_unparseable() {
        let raw = b"Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64***\r\n--b--\r\n";
        let err = inspect(raw, &LIMITS).unwrap_err();
        assert!(matches!(err, InspectError::Unparseable(_)), "{err}");
    }
}
