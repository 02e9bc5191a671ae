//! File names of a part: Content-Disposition `filename` and Content-Type `name`, plain, RFC
//! 2231 (extended and in sections) or RFC 2047. Readers pick different spellings when several
//! are given, and not every reader decodes every form: what they could show differently is an
//! ambiguity.

use super::header::{skip_wsp, Param, ParamsValue};
use super::{ambiguous, AmbiguityKind, Result};
use crate::inspect::InspectError;

/// The part's file name: Content-Disposition's `filename`, else Content-Type's `name`; each
/// may be plain, RFC 2231 extended or in RFC 2231 sections. Two spellings of one parameter,
/// or the two parameters, that decode differently are refused: parsers pick different ones.
pub(super) fn file_name(ct: &[Param], disposition: Option<&ParamsValue>) -> Result<Option<String>> {
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
pub(super) const MAX_SECTIONS: usize = 64;

pub(super) fn parameter_text(params: &[Param], key: &str, rfc2047: bool) -> Result<Option<String>> {
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
pub(super) fn plain_text(value: &[u8], rfc2047: bool) -> Result<String> {
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
pub(super) fn extended_text(value: &[u8]) -> Result<String> {
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
pub(super) fn sections_text(params: &[Param], key: &str) -> Result<Option<String>> {
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

pub(super) fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

pub(super) fn percent_decode(text: &[u8]) -> Option<Vec<u8>> {
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
pub(super) fn decode_charset(charset: &[u8], bytes: &[u8]) -> Option<String> {
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
pub(super) fn encoded_words(value: &[u8]) -> Option<String> {
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

pub(super) fn q_decode(text: &[u8]) -> Option<Vec<u8>> {
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

pub(super) fn base64_strict(text: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::strict::header::parse_params;

    fn name(params: &[u8], disposition: &[u8]) -> Result<Option<String>> {
        let bad = AmbiguityKind::MalformedContentType;
        let ct = parse_params(params, 0, bad)?;
        let d = ParamsValue {
            value: "attachment".into(),
            params: parse_params(disposition, 0, bad)?,
        };
        file_name(&ct, Some(&d))
    }

    #[test]
    fn names_decode_one_way() {
        let ok = |p: &[u8], d: &[u8]| name(p, d).ok().flatten();
        assert_eq!(
            ok(b"; name=\"a.7z\"", b"; filename=a.7z").as_deref(),
            Some("a.7z")
        );
        assert_eq!(
            ok(b"", b"; filename*=UTF-8''caf%C3%A9.7z").as_deref(),
            Some("caf\u{e9}.7z")
        );
        assert_eq!(
            ok(
                b"; name=\"=?utf-8?Q?caf=C3=A9.7z?=\"",
                b"; filename*0*=utf-8''caf%C3%A9; filename*1=.7z"
            )
            .as_deref(),
            Some("caf\u{e9}.7z")
        );
        assert_eq!(ok(b"", b"").as_deref(), None);
        for (p, d) in [
            (&b"; name=\"a.7z\""[..], &b"; filename=b.7z"[..]),
            (b"", b"; filename=\"=?utf-8?Q?a.7z?=\""),
            (b"; name=\"=?utf-8?Q?a.7z?=\"", b""),
            (b"", b"; filename=a.7z; filename*=utf-8''b.7z"),
            (b"", b"; filename*0=a; filename*2=b"),
            (b"", b"; filename*00=a"),
            (b"", b"; filename*=koi8-r''a"),
            (b"", b"; filename*=utf-8''%ZZ"),
        ] {
            assert!(name(p, d).is_err(), "{p:?} {d:?}");
        }
    }
}
