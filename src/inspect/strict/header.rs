//! Header blocks and structured field values, read the narrow way: RFC 5322 fields and
//! folding, RFC 2045 `type/subtype; attribute=value` without comments or extra whitespace.
//! Whatever another reader could take differently is an ambiguity, never a guess.

use super::{ambiguous, too_complex, AmbiguityKind, Result, MAX_BOUNDARY_LEN};
use crate::inspect::{Bound, InspectError, MAX_HEADER_BYTES, MAX_HEADER_FIELDS};

pub(super) struct Field<'a> {
    pub(super) name: &'a [u8],
    /// The value with folding removed (continuation lines keep their leading whitespace).
    pub(super) value: Vec<u8>,
}

impl Field<'_> {
    pub(super) fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }
}

/// One line: its content without the line break, and where the next line starts.
pub(super) fn line_at(raw: &[u8], pos: usize) -> (&[u8], usize) {
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

pub(super) fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// True when the first line is a header field (`name:` with a printable name).
pub(super) fn starts_with_field(raw: &[u8]) -> bool {
    let (line, _) = line_at(raw, 0);
    match memchr::memchr(b':', line) {
        Some(i) if i > 0 => line[..i].iter().all(|&b| (33..=126).contains(&b)),
        _ => false,
    }
}

/// Splits an entity into its fields and its body. The block ends at an empty line; an entity
/// of headers only (no empty line) has an empty body.
pub(super) fn header_block(raw: &[u8]) -> Result<(Vec<Field<'_>>, &[u8])> {
    let mut fields: Vec<Field<'_>> = Vec::new();
    let mut pos = 0;
    while pos < raw.len() {
        let (line, next) = line_at(raw, pos);
        if line.is_empty() {
            return Ok((fields, &raw[next..]));
        }
        if next > MAX_HEADER_BYTES || fields.len() > MAX_HEADER_FIELDS {
            return Err(too_complex(Bound::HeaderBlock));
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

pub(super) struct ContentType {
    pub(super) kind: String,
    pub(super) subtype: String,
    pub(super) params: Vec<Param>,
}

impl ContentType {
    pub(super) fn text_plain() -> ContentType {
        ContentType {
            kind: "text".into(),
            subtype: "plain".into(),
            params: Vec::new(),
        }
    }
}

/// A value of the form `token *(";" attribute "=" value)`.
pub(super) struct ParamsValue {
    /// The leading token, lower case (Content-Disposition's type).
    pub(super) value: String,
    pub(super) params: Vec<Param>,
}

pub(super) struct Param {
    /// Lower-case attribute, with RFC 2231 markers (`name*`, `name*0*`) as written.
    pub(super) attribute: String,
    pub(super) value: Vec<u8>,
}

pub(super) fn is_token_byte(b: u8) -> bool {
    (33..=126).contains(&b) && !b"()<>@,;:\\\"/[]?=".contains(&b)
}

pub(super) fn skip_wsp(v: &[u8], mut i: usize) -> usize {
    while i < v.len() && is_wsp(v[i]) {
        i += 1;
    }
    i
}

pub(super) fn token(v: &[u8], i: usize) -> Option<(&[u8], usize)> {
    let end = v[i..]
        .iter()
        .position(|&b| !is_token_byte(b))
        .map_or(v.len(), |n| i + n);
    (end > i).then(|| (&v[i..end], end))
}

pub(super) fn parse_content_type(v: &[u8]) -> Result<ContentType> {
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

pub(super) fn parse_params_value(v: &[u8], bad: AmbiguityKind) -> Result<ParamsValue> {
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
pub(super) fn parse_params(v: &[u8], mut i: usize, bad: AmbiguityKind) -> Result<Vec<Param>> {
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
pub(super) fn quoted_string(v: &[u8], i: usize) -> Option<(Vec<u8>, usize)> {
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

pub(super) fn lower(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_ascii_lowercase()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    /// 7bit, 8bit, binary: the bytes as they are.
    Identity,
    Base64,
    QuotedPrintable,
}

/// `1.0`, alone or followed by whitespace (Apple Mail adds a comment).
pub(super) fn mime_version_1(v: &[u8]) -> bool {
    let v = &v[skip_wsp(v, 0)..];
    v.strip_prefix(b"1.0")
        .is_some_and(|rest| rest.first().is_none_or(|&b| is_wsp(b)))
}

/// One mechanism after optional leading whitespace. Trailing whitespace is refused: Python's
/// `email` then takes the body as it stands, others decode it.
pub(super) fn parse_encoding(v: &[u8]) -> Result<Encoding> {
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
pub(super) fn boundary(params: &[Param]) -> Result<&[u8]> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        let ct = parse_content_type(b" Multipart/Mixed;\tboundary=\"a b\"; x=y;")
            .ok()
            .unwrap();
        assert_eq!(
            (ct.kind.as_str(), ct.subtype.as_str()),
            ("multipart", "mixed")
        );
        assert_eq!(ct.params[0].value, b"a b");
        for bad in [
            &b";application/pdf; name=x"[..],
            b"application",
            b"application / pdf",
            b"application/pdf (c)",
            b"application/pdf; name = x",
            b"application/pdf; name=\"x",
            b"application/pdf; name",
            b"application/pdf;; name=x",
            b"",
        ] {
            assert!(parse_content_type(bad).is_err(), "{bad:?}");
        }
        assert!(parse_content_type(b"a/b; name=x; NAME=y").is_err());
    }

    #[test]
    fn header_blocks() {
        let (fields, body) = header_block(b"A: 1\r\n\tcont\r\nB:2\r\n\r\nbody")
            .ok()
            .unwrap();
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[0].value, b" 1\tcont");
        assert_eq!(body, b"body");
        for bad in [
            &b" \r\nA: 1\r\n\r\n"[..],
            b"A: 1\r\n\t\r\n\r\n",
            b" x\r\n\r\n",
            b"A : 1\r\n\r\n",
            b"no colon\r\n\r\n",
        ] {
            assert!(header_block(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn versions_encodings_boundaries() {
        assert!(mime_version_1(b" 1.0"));
        assert!(mime_version_1(b" 1.0 (Mac OS X Mail 16.0 \\(3774\\))"));
        assert!(!mime_version_1(b" 1.01"));
        assert!(parse_encoding(b" Base64").is_ok());
        assert!(parse_encoding(b" base64 ").is_err());
        let params = |v: &[u8]| parse_params(v, 0, AmbiguityKind::MalformedContentType);
        assert!(boundary(&params(b"; boundary=\"----=_Part_1\"").ok().unwrap()).is_ok());
        for bad in [
            &b"; x=y"[..],
            b"; boundary=\"\"",
            b"; boundary=\"a<b\"",
            b"; boundary=\"ab \"",
        ] {
            assert!(boundary(&params(bad).ok().unwrap()).is_err(), "{bad:?}");
        }
    }
}
