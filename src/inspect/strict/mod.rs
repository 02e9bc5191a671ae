//! The strict MIME pass: sealgate's own structural reading of a protected message.
//!
//! mail-parser is lenient by design: it reads what it can. For protected mail that is a hole,
//! because the program that shows the mail to the recipient (Outlook, Thunderbird, webmail,
//! Python's `email`, GMime, Courier) may read the same bytes differently, and then the gateway
//! judged parts the recipient never sees while the recipient sees parts the gateway never judged.
//! Issue 11 showed four such differentials against mail-parser 0.11 (a closing delimiter in the
//! middle of a line, a line that merely starts with the boundary, a whitespace-only header line,
//! duplicate structural fields).
//!
//! This pass reads the raw bytes by the narrowest reading of RFC 5322, 2045, 2046 and 2231 and
//! refuses everything on which two reasonable parsers could disagree, with a closed
//! [`AmbiguityKind`] that never carries text from the message. What it accepts it reduces to the
//! list of leaf parts ([`Shape`]: type, disposition, file name, decoded length); the caller then
//! requires mail-parser's list to be exactly the same.
//!
//! Bounds: recursion is bounded by [`MAX_STRICT_DEPTH`] (multipart levels plus nested
//! messages), parts by [`Limits::max_parts`], header blocks by the walk's own limits; memory is
//! the list of leaves plus one unfolded header block at a time.

mod body;
mod header;
mod names;

use super::{Bound, InspectError, Limits, Unreadable, MAX_MULTIPART_DEPTH};
use body::{decoded_len, delimiters, line_break_before, outside_text_ok, Delimiter};
use header::{
    boundary, header_block, mime_version_1, parse_content_type, parse_encoding, parse_params_value,
    starts_with_field, ContentType, Encoding,
};
use names::file_name;

/// Levels of recursion in all (multiparts and nested messages together).
pub const MAX_STRICT_DEPTH: usize = 2 * MAX_MULTIPART_DEPTH;
/// Longest boundary (RFC 2046: 1 to 70 characters).
pub const MAX_BOUNDARY_LEN: usize = 70;
/// Text allowed in a preamble or epilogue (see [`outside_text_ok`]).
pub const MAX_OUTSIDE_TEXT_BYTES: usize = 200;
/// Non-blank lines allowed in a preamble or epilogue.
pub const MAX_OUTSIDE_TEXT_LINES: usize = 2;
/// Longest non-blank line of a preamble or epilogue.
pub const MAX_OUTSIDE_LINE: usize = 78;

/// Why a message is ambiguous. A closed set: no text from the message is ever kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AmbiguityKind {
    /// A CR not followed by LF.
    BareCarriageReturn,
    /// A message with Content-* fields but without `MIME-Version: 1.0`.
    MissingMimeVersion,
    /// A line of only spaces or tabs inside a header block.
    WhitespaceOnlyHeaderLine,
    /// A header line that is neither a field, a continuation nor the end of the block.
    MalformedHeaderLine,
    /// Content-Type, Subject, From, ... twice in one header block.
    DuplicateField,
    /// A Content-Type that is not `type/subtype` with a well-formed parameter list.
    MalformedContentType,
    /// A Content-Disposition that is not a token with a well-formed parameter list.
    MalformedDisposition,
    /// A multipart without a boundary, or a boundary outside RFC 2046's characters or length.
    BadBoundary,
    /// One parameter twice (also `name` and `name*` that disagree, or RFC 2231 sections).
    DuplicateParameter,
    /// An RFC 2231 or RFC 2047 file name that cannot be decoded one way only.
    MalformedFileName,
    /// The file name of Content-Disposition and the name of Content-Type disagree.
    ConflictingFileName,
    /// A Content-Transfer-Encoding other than 7bit, 8bit, binary, base64, quoted-printable.
    UnknownTransferEncoding,
    /// A multipart or message/rfc822 with a transfer encoding other than 7bit/8bit/binary.
    EncodedContainer,
    /// A line that starts with `--boundary` but is not exactly a delimiter.
    NotADelimiter,
    /// `--boundary` somewhere else than at the start of a line.
    MidLineDelimiter,
    /// Two boundaries in scope where one is a prefix of the other.
    PrefixBoundary,
    /// A forwarded message without header, or whose body is one part not in base64: readers
    /// disagree on whether the line break before the next delimiter belongs to it.
    ForwardedMessageBody,
    /// A multipart without its closing delimiter.
    UnclosedMultipart,
    /// A multipart without any part.
    EmptyMultipart,
    /// A preamble or epilogue that carries more than a short line of text.
    DataOutsideParts,
    /// A part of multipart/digest without Content-Type (the default differs between parsers).
    DigestDefault,
    /// The leaf parts found here differ from the ones mail-parser reports.
    PartsDiffer,
}

impl AmbiguityKind {
    /// A fixed technical label (for the reply's detail and for tests).
    pub fn as_str(self) -> &'static str {
        match self {
            AmbiguityKind::BareCarriageReturn => "bare_cr",
            AmbiguityKind::MissingMimeVersion => "missing_mime_version",
            AmbiguityKind::WhitespaceOnlyHeaderLine => "whitespace_only_header_line",
            AmbiguityKind::MalformedHeaderLine => "malformed_header_line",
            AmbiguityKind::DuplicateField => "duplicate_field",
            AmbiguityKind::MalformedContentType => "malformed_content_type",
            AmbiguityKind::MalformedDisposition => "malformed_content_disposition",
            AmbiguityKind::BadBoundary => "bad_boundary",
            AmbiguityKind::DuplicateParameter => "duplicate_parameter",
            AmbiguityKind::MalformedFileName => "malformed_file_name",
            AmbiguityKind::ConflictingFileName => "conflicting_file_name",
            AmbiguityKind::UnknownTransferEncoding => "unknown_transfer_encoding",
            AmbiguityKind::EncodedContainer => "encoded_container",
            AmbiguityKind::NotADelimiter => "not_a_delimiter",
            AmbiguityKind::MidLineDelimiter => "mid_line_delimiter",
            AmbiguityKind::PrefixBoundary => "prefix_boundary",
            AmbiguityKind::ForwardedMessageBody => "forwarded_message_body",
            AmbiguityKind::UnclosedMultipart => "unclosed_multipart",
            AmbiguityKind::EmptyMultipart => "empty_multipart",
            AmbiguityKind::DataOutsideParts => "data_outside_parts",
            AmbiguityKind::DigestDefault => "digest_default",
            AmbiguityKind::PartsDiffer => "parts_differ",
        }
    }
}

/// One leaf part as the strict pass sees it; compared field by field with mail-parser's leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// Lower-case `type/subtype` (default `text/plain`).
    pub content_type: String,
    /// Lower-case disposition type, when there is a Content-Disposition.
    pub disposition: Option<String>,
    /// The file name (Content-Disposition `filename`, else Content-Type `name`), decoded.
    pub filename: Option<String>,
    /// Bytes after transfer decoding.
    pub decoded_len: usize,
    /// Levels of message/rfc822 above the part.
    pub level: usize,
}

/// Fields that may occur once in a message's header block.
const MESSAGE_UNIQUE: [&str; 11] = [
    "content-type",
    "content-disposition",
    "content-transfer-encoding",
    "content-id",
    "mime-version",
    "subject",
    "from",
    "to",
    "cc",
    "message-id",
    "date",
];
/// Fields that may occur once in a part's header block.
const PART_UNIQUE: [&str; 4] = [
    "content-type",
    "content-disposition",
    "content-transfer-encoding",
    "content-id",
];

type Result<T> = std::result::Result<T, InspectError>;

fn ambiguous<T>(kind: AmbiguityKind) -> Result<T> {
    Err(InspectError::Ambiguous(kind))
}

/// Reads `raw` strictly and returns its leaf parts in document order (nested messages walked
/// where they stand), or why it cannot be read one way only.
pub fn leaves(raw: &[u8], limits: &Limits) -> Result<Vec<Shape>> {
    if raw
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\r' && raw.get(i + 1) != Some(&b'\n'))
    {
        return ambiguous(AmbiguityKind::BareCarriageReturn);
    }
    let mut pass = Pass {
        limits: *limits,
        entities: 0,
        boundaries: Vec::new(),
        out: Vec::new(),
    };
    pass.entity(raw, &MESSAGE_UNIQUE, Default::TextPlain, 0, 0, 0)?;
    Ok(pass.out)
}

/// The Content-Type a part without one gets.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Default {
    TextPlain,
    /// Inside multipart/digest: parsers disagree on it, so it is refused.
    Digest,
}

struct Pass {
    limits: Limits,
    entities: usize,
    /// Boundaries of the multiparts that enclose the current entity.
    boundaries: Vec<Vec<u8>>,
    out: Vec<Shape>,
}

impl Pass {
    /// One entity (a message or a part): its header block, then its body.
    fn entity(
        &mut self,
        raw: &[u8],
        unique: &[&str],
        default: Default,
        level: usize,
        multipart_depth: usize,
        depth: usize,
    ) -> Result<()> {
        if depth > MAX_STRICT_DEPTH {
            return Err(too_complex(Bound::MultipartDepth));
        }
        self.entities += 1;
        if self.entities > self.limits.max_parts {
            return Err(too_complex(Bound::Parts));
        }
        let (fields, body) = match header_block(raw) {
            // Not a header at all where a message starts: not a message (as mail-parser says).
            Err(InspectError::Ambiguous(AmbiguityKind::MalformedHeaderLine))
                if depth == 0 && !starts_with_field(raw) =>
            {
                return Err(InspectError::Unparseable(Unreadable::NoHeader))
            }
            other => other?,
        };
        for (i, field) in fields.iter().enumerate() {
            if unique.iter().any(|u| field.is(u))
                && fields[..i]
                    .iter()
                    .any(|f| f.name.eq_ignore_ascii_case(field.name))
            {
                return ambiguous(AmbiguityKind::DuplicateField);
            }
        }
        let find = |name: &str| {
            fields
                .iter()
                .find(|f| f.is(name))
                .map(|f| f.value.as_slice())
        };
        // Without MIME-Version Courier reads a message as plain text whatever its Content-Type;
        // Python's `email` and mail-parser do not.
        let message = multipart_depth == 0;
        if message
            && !find("mime-version").is_some_and(mime_version_1)
            && [
                "content-type",
                "content-transfer-encoding",
                "content-disposition",
            ]
            .iter()
            .any(|name| find(name).is_some())
        {
            return ambiguous(AmbiguityKind::MissingMimeVersion);
        }
        let content_type = match find("content-type") {
            Some(value) => parse_content_type(value)?,
            None if default == Default::Digest => return ambiguous(AmbiguityKind::DigestDefault),
            None => ContentType::text_plain(),
        };
        let encoding = match find("content-transfer-encoding") {
            Some(value) => parse_encoding(value)?,
            None => Encoding::Identity,
        };
        let disposition = find("content-disposition")
            .map(|v| parse_params_value(v, AmbiguityKind::MalformedDisposition))
            .transpose()?;
        let is_leaf = content_type.kind != "multipart"
            && !(content_type.kind == "message" && content_type.subtype == "rfc822");
        // A nested message: it starts a level and no multipart of its own encloses it yet.
        let forwarded = level > 0 && multipart_depth == 0;
        if forwarded && (fields.is_empty() || is_leaf && encoding != Encoding::Base64) {
            return ambiguous(AmbiguityKind::ForwardedMessageBody);
        }

        if content_type.kind == "multipart" {
            if encoding != Encoding::Identity {
                return ambiguous(AmbiguityKind::EncodedContainer);
            }
            if multipart_depth >= MAX_MULTIPART_DEPTH {
                return Err(too_complex(Bound::MultipartDepth));
            }
            let boundary = boundary(&content_type.params)?.to_vec();
            if self.boundaries.iter().any(|b| prefix_of(b, &boundary)) {
                return ambiguous(AmbiguityKind::PrefixBoundary);
            }
            let child_default = if content_type.subtype == "digest" {
                Default::Digest
            } else {
                Default::TextPlain
            };
            return self.multipart(
                body,
                &boundary,
                child_default,
                level,
                multipart_depth,
                depth,
            );
        }
        if content_type.kind == "message" && content_type.subtype == "rfc822" {
            if encoding != Encoding::Identity {
                return ambiguous(AmbiguityKind::EncodedContainer);
            }
            if level >= self.limits.max_nesting_depth {
                return Err(too_complex(Bound::NestedMessages));
            }
            return self.entity(
                body,
                &MESSAGE_UNIQUE,
                Default::TextPlain,
                level + 1,
                0,
                depth + 1,
            );
        }
        let filename = file_name(&content_type.params, disposition.as_ref())?;
        self.out.push(Shape {
            content_type: format!("{}/{}", content_type.kind, content_type.subtype),
            disposition: disposition.map(|d| d.value),
            filename,
            decoded_len: decoded_len(encoding, body)?,
            level,
        });
        Ok(())
    }

    /// The body of a multipart: delimiters, then every part between them.
    fn multipart(
        &mut self,
        body: &[u8],
        boundary: &[u8],
        child_default: Default,
        level: usize,
        multipart_depth: usize,
        depth: usize,
    ) -> Result<()> {
        let delimiters = delimiters(body, boundary, self.limits.max_parts)?;
        self.boundaries.push(boundary.to_vec());
        let result = self.parts(
            body,
            &delimiters,
            child_default,
            level,
            multipart_depth,
            depth,
        );
        self.boundaries.pop();
        result
    }

    fn parts(
        &mut self,
        body: &[u8],
        delimiters: &[Delimiter],
        child_default: Default,
        level: usize,
        multipart_depth: usize,
        depth: usize,
    ) -> Result<()> {
        let (Some(first), Some(close)) = (delimiters.first(), delimiters.last()) else {
            return ambiguous(AmbiguityKind::UnclosedMultipart);
        };
        if !close.close {
            return ambiguous(AmbiguityKind::UnclosedMultipart);
        }
        if delimiters.len() < 2 {
            return ambiguous(AmbiguityKind::EmptyMultipart);
        }
        if !outside_text_ok(&body[..first.start]) || !outside_text_ok(&body[close.end..]) {
            return ambiguous(AmbiguityKind::DataOutsideParts);
        }
        for pair in delimiters.windows(2) {
            // The line break before a delimiter belongs to the delimiter (RFC 2046).
            let end = line_break_before(body, pair[1].start).max(pair[0].end);
            self.entity(
                &body[pair[0].end..end],
                &PART_UNIQUE,
                child_default,
                level,
                multipart_depth + 1,
                depth + 1,
            )?;
        }
        Ok(())
    }
}

fn too_complex(bound: Bound) -> InspectError {
    InspectError::TooComplex(bound)
}

/// True when `a` is a prefix of `b` or `b` of `a` (ASCII case ignored).
fn prefix_of(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a[..n].eq_ignore_ascii_case(&b[..n])
}
