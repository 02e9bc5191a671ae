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

use super::{InspectError, Limits, MAX_HEADER_BYTES, MAX_HEADER_FIELDS, MAX_MULTIPART_DEPTH};

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
            return Err(too_complex("MIME structure nested too deep"));
        }
        self.entities += 1;
        if self.entities > self.limits.max_parts {
            return Err(too_complex("too many MIME parts"));
        }
        let (fields, body) = match header_block(raw) {
            // Not a header at all where a message starts: not a message (as mail-parser says).
            Err(InspectError::Ambiguous(AmbiguityKind::MalformedHeaderLine))
                if depth == 0 && !starts_with_field(raw) =>
            {
                return Err(InspectError::Unparseable("no message header found".into()))
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
                return Err(too_complex("multipart nested too deep"));
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
                return Err(too_complex("too many nested messages"));
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

fn too_complex(what: &str) -> InspectError {
    InspectError::TooComplex(what.to_string())
}

/// True when `a` is a prefix of `b` or `b` of `a` (ASCII case ignored).
fn prefix_of(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a[..n].eq_ignore_ascii_case(&b[..n])
}

// ------------------------------------------------------------------------ header blocks

struct Field<'a> {
    name: &'a [u8],
    /// The value with folding removed (continuation lines keep their leading whitespace).
    value: Vec<u8>,
}

impl Field<'_> {
    fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }
}

/// One line: its content without the line break, and where the next line starts.
fn line_at(raw: &[u8], pos: usize) -> (&[u8], usize) {
    let rest = &raw[pos..];
    match memchr::memchr(b'\n', rest) {
        Some(i) => {
            let content = &rest[..i];
            let content = content.strip_suffix(b"\r").unwrap_or(content);
            (content, pos + i + 1)
        }
        None => (rest, raw.len()),
    }
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// True when the first line is a header field (`name:` with a printable name).
fn starts_with_field(raw: &[u8]) -> bool {
    let (line, _) = line_at(raw, 0);
    match memchr::memchr(b':', line) {
        Some(i) if i > 0 => line[..i].iter().all(|&b| (33..=126).contains(&b)),
        _ => false,
    }
}

/// Splits an entity into its fields and its body. The block ends at an empty line; an entity
/// of headers only (no empty line) has an empty body.
fn header_block(raw: &[u8]) -> Result<(Vec<Field<'_>>, &[u8])> {
    let mut fields: Vec<Field<'_>> = Vec::new();
    let mut pos = 0;
    while pos < raw.len() {
        let (line, next) = line_at(raw, pos);
        if line.is_empty() {
            return Ok((fields, &raw[next..]));
        }
        if next > MAX_HEADER_BYTES || fields.len() > MAX_HEADER_FIELDS {
            return Err(too_complex("header block too large"));
        }
        if line.iter().all(|&b| is_wsp(b)) {
            return ambiguous(AmbiguityKind::WhitespaceOnlyHeaderLine);
        }
        if is_wsp(line[0]) {
            match fields.last_mut() {
                Some(field) => field.value.extend_from_slice(line),
                None => return ambiguous(AmbiguityKind::MalformedHeaderLine),
            }
        } else {
            let colon = memchr::memchr(b':', line);
            let name = match colon {
                Some(i) if i > 0 => &line[..i],
                _ => return ambiguous(AmbiguityKind::MalformedHeaderLine),
            };
            if !name.iter().all(|&b| (33..=126).contains(&b)) {
                return ambiguous(AmbiguityKind::MalformedHeaderLine);
            }
            let value_start = name.len() + 1;
            fields.push(Field {
                name,
                value: line[value_start..].to_vec(),
            });
        }
        pos = next;
    }
    Ok((fields, &raw[raw.len()..]))
}

// ------------------------------------------------------------------------ structured values

struct ContentType {
    kind: String,
    subtype: String,
    params: Vec<Param>,
}

impl ContentType {
    fn text_plain() -> ContentType {
        ContentType {
            kind: "text".into(),
            subtype: "plain".into(),
            params: Vec::new(),
        }
    }
}

/// A value of the form `token *(";" attribute "=" value)`.
struct ParamsValue {
    /// The leading token, lower case (Content-Disposition's type).
    value: String,
    params: Vec<Param>,
}

struct Param {
    /// Lower-case attribute, with RFC 2231 markers (`name*`, `name*0*`) as written.
    attribute: String,
    value: Vec<u8>,
}

fn is_token_byte(b: u8) -> bool {
    (33..=126).contains(&b) && !b"()<>@,;:\\\"/[]?=".contains(&b)
}

fn skip_wsp(v: &[u8], mut i: usize) -> usize {
    while i < v.len() && is_wsp(v[i]) {
        i += 1;
    }
    i
}

fn token(v: &[u8], i: usize) -> Option<(&[u8], usize)> {
    let end = v[i..]
        .iter()
        .position(|&b| !is_token_byte(b))
        .map_or(v.len(), |n| i + n);
    (end > i).then(|| (&v[i..end], end))
}

fn parse_content_type(v: &[u8]) -> Result<ContentType> {
    let bad = AmbiguityKind::MalformedContentType;
    let i = skip_wsp(v, 0);
    let Some((kind, i)) = token(v, i) else {
        return ambiguous(bad);
    };
    if v.get(i) != Some(&b'/') {
        return ambiguous(bad);
    }
    let Some((subtype, i)) = token(v, i + 1) else {
        return ambiguous(bad);
    };
    let params = parse_params(v, i, bad)?;
    Ok(ContentType {
        kind: lower(kind),
        subtype: lower(subtype),
        params,
    })
}

fn parse_params_value(v: &[u8], bad: AmbiguityKind) -> Result<ParamsValue> {
    let i = skip_wsp(v, 0);
    let Some((value, i)) = token(v, i) else {
        return ambiguous(bad);
    };
    Ok(ParamsValue {
        value: lower(value),
        params: parse_params(v, i, bad)?,
    })
}

/// `*(";" attribute "=" (token / quoted-string))`, whitespace around `;` only, an optional
/// trailing `;`. Comments, whitespace around `=` and a repeated attribute are refused.
fn parse_params(v: &[u8], mut i: usize, bad: AmbiguityKind) -> Result<Vec<Param>> {
    let mut params: Vec<Param> = Vec::new();
    loop {
        i = skip_wsp(v, i);
        if i == v.len() {
            return Ok(params);
        }
        if v[i] != b';' {
            return ambiguous(bad);
        }
        i = skip_wsp(v, i + 1);
        if i == v.len() {
            return Ok(params);
        }
        let Some((attribute, next)) = token(v, i) else {
            return ambiguous(bad);
        };
        i = next;
        if v.get(i) != Some(&b'=') {
            return ambiguous(bad);
        }
        i += 1;
        let value = if v.get(i) == Some(&b'"') {
            let (value, next) = quoted_string(v, i).ok_or(InspectError::Ambiguous(bad))?;
            i = next;
            value
        } else {
            let Some((value, next)) = token(v, i) else {
                return ambiguous(bad);
            };
            i = next;
            value.to_vec()
        };
        let attribute = lower(attribute);
        if params.iter().any(|p| p.attribute == attribute) {
            return ambiguous(AmbiguityKind::DuplicateParameter);
        }
        params.push(Param { attribute, value });
    }
}

/// A quoted-string starting at `v[i] == '"'`: its unescaped bytes and the index after it.
/// Control characters other than tab are refused; 8-bit bytes (UTF-8 names) are kept.
fn quoted_string(v: &[u8], i: usize) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut j = i + 1;
    while j < v.len() {
        match v[j] {
            b'"' => return Some((out, j + 1)),
            b'\\' => {
                let next = *v.get(j + 1)?;
                if next < 32 && next != b'\t' || next == 127 {
                    return None;
                }
                out.push(next);
                j += 2;
            }
            b if b < 32 && b != b'\t' || b == 127 => return None,
            b => {
                out.push(b);
                j += 1;
            }
        }
    }
    None
}

fn lower(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_ascii_lowercase()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// 7bit, 8bit, binary: the bytes as they are.
    Identity,
    Base64,
    QuotedPrintable,
}

/// `1.0`, alone or followed by whitespace (Apple Mail adds a comment).
fn mime_version_1(v: &[u8]) -> bool {
    let v = &v[skip_wsp(v, 0)..];
    v.strip_prefix(b"1.0")
        .is_some_and(|rest| rest.first().is_none_or(|&b| is_wsp(b)))
}

/// One mechanism after optional leading whitespace. Trailing whitespace is refused: Python's
/// `email` then takes the body as it stands, others decode it.
fn parse_encoding(v: &[u8]) -> Result<Encoding> {
    let word = &v[skip_wsp(v, 0)..];
    let is = |name: &str| word.eq_ignore_ascii_case(name.as_bytes());
    if is("7bit") || is("8bit") || is("binary") {
        Ok(Encoding::Identity)
    } else if is("base64") {
        Ok(Encoding::Base64)
    } else if is("quoted-printable") {
        Ok(Encoding::QuotedPrintable)
    } else {
        ambiguous(AmbiguityKind::UnknownTransferEncoding)
    }
}

/// The multipart's boundary: present once, plain (no RFC 2231 form), 1 to 70 of RFC 2046's
/// bchars, not ending in a space.
fn boundary(params: &[Param]) -> Result<&[u8]> {
    if params.iter().any(|p| p.attribute.starts_with("boundary*")) {
        return ambiguous(AmbiguityKind::BadBoundary);
    }
    let Some(param) = params.iter().find(|p| p.attribute == "boundary") else {
        return ambiguous(AmbiguityKind::BadBoundary);
    };
    let b = param.value.as_slice();
    let bchar = |c: u8| c.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&c);
    if b.is_empty()
        || b.len() > MAX_BOUNDARY_LEN
        || !b.iter().all(|&c| bchar(c))
        || b.ends_with(b" ")
    {
        return ambiguous(AmbiguityKind::BadBoundary);
    }
    Ok(b)
}

// ------------------------------------------------------------------------ file names

/// The part's file name: Content-Disposition's `filename`, else Content-Type's `name`; each
/// may be plain, RFC 2231 extended or in RFC 2231 sections. Two spellings of one parameter,
/// or the two parameters, that decode differently are refused: parsers pick different ones.
fn file_name(ct: &[Param], disposition: Option<&ParamsValue>) -> Result<Option<String>> {
    let from_disposition = match disposition {
        Some(d) => parameter_text(&d.params, "filename", false)?,
        None => None,
    };
    // RFC 2047 inside a parameter is not standard: Python's `email` (default policy) and
    // mail-parser decode it, Courier and Python's compat32 show it raw. Allowed only in the
    // Content-Type name beside a disposition file name, which every reader prefers (that is
    // Thunderbird's way with non-ASCII names).
    let from_type = parameter_text(ct, "name", from_disposition.is_some())?;
    match (from_disposition, from_type) {
        (Some(a), Some(b)) if a != b => ambiguous(AmbiguityKind::ConflictingFileName),
        (Some(a), _) => Ok(Some(a)),
        (None, b) => Ok(b),
    }
}

/// Longest RFC 2231 section list.
const MAX_SECTIONS: usize = 64;

fn parameter_text(params: &[Param], key: &str, rfc2047: bool) -> Result<Option<String>> {
    let plain = params
        .iter()
        .find(|p| p.attribute == key)
        .map(|p| plain_text(&p.value, rfc2047))
        .transpose()?;
    let extended = params
        .iter()
        .find(|p| {
            p.attribute.len() == key.len() + 1
                && p.attribute.starts_with(key)
                && p.attribute.ends_with('*')
        })
        .map(|p| extended_text(&p.value))
        .transpose()?;
    let sections = sections_text(params, key)?;
    let mut found = [plain, extended, sections].into_iter().flatten();
    let first = found.next();
    if let Some(first) = &first {
        if found.any(|other| &other != first) {
            return ambiguous(AmbiguityKind::DuplicateParameter);
        }
    }
    Ok(first)
}

/// A plain value: UTF-8 as it stands, or (when `rfc2047`) RFC 2047 encoded words only.
fn plain_text(value: &[u8], rfc2047: bool) -> Result<String> {
    let bad = AmbiguityKind::MalformedFileName;
    if memchr::memmem::find(value, b"=?").is_some() {
        if !rfc2047 {
            return ambiguous(bad);
        }
        return encoded_words(value).ok_or(InspectError::Ambiguous(bad));
    }
    String::from_utf8(value.to_vec()).or_else(|_| ambiguous(bad))
}

/// `charset'language'percent-encoded`.
fn extended_text(value: &[u8]) -> Result<String> {
    let bad = InspectError::Ambiguous(AmbiguityKind::MalformedFileName);
    let mut pieces = value.splitn(3, |&b| b == b'\'');
    let (Some(charset), Some(_language), Some(text)) =
        (pieces.next(), pieces.next(), pieces.next())
    else {
        return Err(bad);
    };
    let bytes = percent_decode(text).ok_or(bad.clone())?;
    decode_charset(charset, &bytes).ok_or(bad)
}

/// `key*0`, `key*1*`, ...: contiguous from 0, each index once; the first section names the
/// charset when it is extended.
fn sections_text(params: &[Param], key: &str) -> Result<Option<String>> {
    let bad = || InspectError::Ambiguous(AmbiguityKind::MalformedFileName);
    let mut sections: Vec<(usize, bool, &[u8])> = Vec::new();
    for p in params {
        let Some(rest) = p
            .attribute
            .strip_prefix(key)
            .and_then(|r| r.strip_prefix('*'))
        else {
            continue;
        };
        if rest.is_empty() {
            continue; // the extended form, handled elsewhere
        }
        let (digits, extended) = match rest.strip_suffix('*') {
            Some(d) => (d, true),
            None => (rest, false),
        };
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || (digits.len() > 1 && digits.starts_with('0'))
        {
            return Err(bad());
        }
        let index: usize = digits.parse().map_err(|_| bad())?;
        if index >= MAX_SECTIONS || sections.iter().any(|s| s.0 == index) {
            return ambiguous(AmbiguityKind::DuplicateParameter);
        }
        sections.push((index, extended, &p.value));
    }
    if sections.is_empty() {
        return Ok(None);
    }
    sections.sort_by_key(|s| s.0);
    if sections.iter().enumerate().any(|(i, s)| s.0 != i) {
        return Err(bad());
    }
    let mut charset: Option<&[u8]> = None;
    let mut bytes = Vec::new();
    for (index, extended, value) in sections {
        if !extended {
            bytes.extend_from_slice(value);
            continue;
        }
        let text = if index == 0 {
            let mut pieces = value.splitn(3, |&b| b == b'\'');
            let (Some(cs), Some(_), Some(text)) = (pieces.next(), pieces.next(), pieces.next())
            else {
                return Err(bad());
            };
            charset = Some(cs);
            text
        } else {
            value
        };
        bytes.extend(percent_decode(text).ok_or_else(bad)?);
    }
    decode_charset(charset.unwrap_or(b"us-ascii"), &bytes)
        .ok_or_else(bad)
        .map(Some)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn percent_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'%' {
            let hi = hex_value(*text.get(i + 1)?)?;
            let lo = hex_value(*text.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    Some(out)
}

/// UTF-8, US-ASCII and ISO-8859-1 only: the charsets every reader decodes the same way.
fn decode_charset(charset: &[u8], bytes: &[u8]) -> Option<String> {
    let cs = charset.to_ascii_lowercase();
    match cs.as_slice() {
        b"utf-8" | b"utf8" => String::from_utf8(bytes.to_vec()).ok(),
        b"us-ascii" | b"" => bytes
            .is_ascii()
            .then(|| String::from_utf8_lossy(bytes).into()),
        b"iso-8859-1" | b"latin1" => Some(bytes.iter().map(|&b| b as char).collect()),
        _ => None,
    }
}

/// A value made only of RFC 2047 encoded words, separated by nothing or whitespace.
fn encoded_words(value: &[u8]) -> Option<String> {
    let mut out = String::new();
    let mut rest = value;
    loop {
        let start = skip_wsp(rest, 0);
        rest = &rest[start..];
        if rest.is_empty() {
            return (!out.is_empty()).then_some(out);
        }
        let body = rest.strip_prefix(b"=?")?;
        let end = memchr::memmem::find(body, b"?=")?;
        let word = &body[..end];
        let mut pieces = word.splitn(3, |&b| b == b'?');
        let (charset, encoding, text) = (pieces.next()?, pieces.next()?, pieces.next()?);
        let bytes = match encoding {
            b"B" | b"b" => base64_strict(text)?,
            b"Q" | b"q" => q_decode(text)?,
            _ => return None,
        };
        out.push_str(&decode_charset(charset, &bytes)?);
        rest = &body[end + 2..];
    }
}

fn q_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'_' => {
                out.push(b' ');
                i += 1;
            }
            b'=' => {
                out.push(hex_value(*text.get(i + 1)?)? << 4 | hex_value(*text.get(i + 2)?)?);
                i += 3;
            }
            b if (33..=126).contains(&b) && b != b'?' => {
                out.push(b);
                i += 1;
            }
            _ => return None,
        }
    }
    Some(out)
}

fn base64_strict(text: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

// ------------------------------------------------------------------------ delimiters

struct Delimiter {
    /// Where the delimiter line starts.
    start: usize,
    /// Just after its line break.
    end: usize,
    close: bool,
}

/// Every delimiter of `boundary` in `body`. Any other occurrence of `--boundary` (ASCII case
/// ignored): in the middle of a line, followed by anything but the line break (or `--` and
/// the line break), or after the closing delimiter, makes the multipart ambiguous.
fn delimiters(body: &[u8], boundary: &[u8], max: usize) -> Result<Vec<Delimiter>> {
    let mut found: Vec<Delimiter> = Vec::new();
    for i in memchr::memchr_iter(b'-', body) {
        if body.get(i + 1) != Some(&b'-') {
            continue;
        }
        let Some(candidate) = body.get(i + 2..i + 2 + boundary.len()) else {
            continue;
        };
        if !candidate.eq_ignore_ascii_case(boundary) {
            continue;
        }
        if i > 0 && body[i - 1] != b'\n' {
            return ambiguous(AmbiguityKind::MidLineDelimiter);
        }
        if found.last().is_some_and(|d| d.close) {
            return ambiguous(AmbiguityKind::NotADelimiter);
        }
        let (line, end) = line_at(body, i);
        let rest = &line[2..];
        let close = if rest == boundary {
            false
        } else if rest.len() == boundary.len() + 2
            && rest.starts_with(boundary)
            && rest.ends_with(b"--")
        {
            true
        } else {
            return ambiguous(AmbiguityKind::NotADelimiter);
        };
        if found.len() > max {
            return Err(too_complex("too many MIME parts"));
        }
        found.push(Delimiter {
            start: i,
            end,
            close,
        });
    }
    Ok(found)
}

/// Where the line break that ends just before `pos` starts (`pos` itself when there is none).
fn line_break_before(body: &[u8], pos: usize) -> usize {
    if pos >= 2 && &body[pos - 2..pos] == b"\r\n" {
        pos - 2
    } else if pos >= 1 && body[pos - 1] == b'\n' {
        pos - 1
    } else {
        pos
    }
}

/// A preamble or epilogue may hold whitespace, or one or two short lines of plain text such
/// as "This is a multi-part message in MIME format.": at most [`MAX_OUTSIDE_TEXT_BYTES`] of
/// printable ASCII, at most [`MAX_OUTSIDE_TEXT_LINES`] non-blank lines of at most
/// [`MAX_OUTSIDE_LINE`] characters, each with a space in it (a sentence, not an encoded blob).
fn outside_text_ok(text: &[u8]) -> bool {
    if text.iter().all(|b| b.is_ascii_whitespace()) {
        return true;
    }
    if text.len() > MAX_OUTSIDE_TEXT_BYTES
        || !text
            .iter()
            .all(|&b| (32..=126).contains(&b) || b == b'\r' || b == b'\n' || b == b'\t')
    {
        return false;
    }
    let lines: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.iter().all(|&b| is_wsp(b)))
        .collect();
    lines.len() <= MAX_OUTSIDE_TEXT_LINES
        && lines
            .iter()
            .all(|l| l.len() <= MAX_OUTSIDE_LINE && l.trim_ascii().contains(&b' '))
}

// ------------------------------------------------------------------------ bodies

/// A body that is not valid in its transfer encoding: decoders differ on what they make of it,
/// but it is reported as undecodable (`mime_unparseable`), like mail-parser's own failures.
fn undecodable(encoding: &str) -> InspectError {
    InspectError::Unparseable(format!("a MIME part is not valid {encoding}"))
}

fn decoded_len(encoding: Encoding, body: &[u8]) -> Result<usize> {
    match encoding {
        Encoding::Identity => Ok(body.len()),
        Encoding::Base64 => base64_len(body).ok_or_else(|| undecodable("base64")),
        Encoding::QuotedPrintable => qp_len(body).ok_or_else(|| undecodable("quoted-printable")),
    }
}

/// The decoded length of a base64 body: only the alphabet and whitespace, padding only at the
/// end, a multiple of four characters in all.
fn base64_len(body: &[u8]) -> Option<usize> {
    let mut data = 0usize;
    let mut padding = 0usize;
    for &b in body {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' if padding == 0 => data += 1,
            b'=' if padding < 2 => padding += 1,
            b' ' | b'\t' | b'\r' | b'\n' => {}
            _ => return None,
        }
    }
    let total = data + padding;
    (total % 4 == 0).then(|| total / 4 * 3 - padding)
}

/// The decoded length of a quoted-printable body. Refused: `=` not followed by two hex digits
/// or by the line break (soft break), `=` at the very end, and spaces or tabs before a line
/// break (RFC 2045 has decoders drop them, and not every decoder does).
fn qp_len(body: &[u8]) -> Option<usize> {
    let mut len = 0usize;
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'=' => match (body.get(i + 1), body.get(i + 2)) {
                (Some(b'\n'), _) => i += 2,
                (Some(b'\r'), Some(b'\n')) => i += 3,
                (Some(&hi), Some(&lo)) if hex_value(hi).is_some() && hex_value(lo).is_some() => {
                    len += 1;
                    i += 3;
                }
                _ => return None,
            },
            b' ' | b'\t' => {
                match body.get(i + 1) {
                    Some(b'\n') | Some(b'\r') => return None,
                    _ => {}
                }
                // Whitespace at the very end of the body: the last line's trailing space.
                if i + 1 == body.len() {
                    return None;
                }
                len += 1;
                i += 1;
            }
            _ => {
                len += 1;
                i += 1;
            }
        }
    }
    Some(len)
}
