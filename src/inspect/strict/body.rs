//! Multipart bodies and leaf bodies: where the delimiters are (only whole lines, nothing else
//! that looks like one), what may stand outside the parts, and the decoded length of a leaf.

use super::header::{is_wsp, line_at, starts_with_field, Encoding};
use super::names::hex_value;
use super::{ambiguous, too_complex, AmbiguityKind, Result};
use super::{MAX_OUTSIDE_LINE, MAX_OUTSIDE_TEXT_BYTES, MAX_OUTSIDE_TEXT_LINES};
use crate::inspect::{Bound, InspectError, Unreadable};

pub(super) struct Delimiter {
    /// Where the delimiter line starts.
    pub(super) start: usize,
    /// Just after its line break.
    pub(super) end: usize,
    pub(super) close: bool,
}

/// Every delimiter of `boundary` in `body`. Any other occurrence of `--boundary` (ASCII case
/// ignored): in the middle of a line, followed by anything but the line break (or `--` and
/// the line break), or after the closing delimiter, makes the multipart ambiguous.
pub(super) fn delimiters(body: &[u8], boundary: &[u8], max: usize) -> Result<Vec<Delimiter>> {
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
            return Err(too_complex(Bound::Parts));
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
pub(super) fn line_break_before(body: &[u8], pos: usize) -> usize {
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
/// [`MAX_OUTSIDE_LINE`] characters, each with a space in it and none that looks like a header
/// field (a sentence, not an encoded blob or a part's header).
pub(super) fn outside_text_ok(text: &[u8]) -> bool {
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
        && lines.iter().all(|l| {
            l.len() <= MAX_OUTSIDE_LINE && l.trim_ascii().contains(&b' ') && !starts_with_field(l)
        })
}

/// A body that is not valid in its transfer encoding: decoders differ on what they make of it,
/// but it is reported as undecodable (`mime_unparseable`), like mail-parser's own failures.
pub(super) fn undecodable(_encoding: &str) -> InspectError {
    InspectError::Unparseable(Unreadable::UndecodablePart)
}

pub(super) fn decoded_len(encoding: Encoding, body: &[u8]) -> Result<usize> {
    match encoding {
        Encoding::Identity => Ok(body.len()),
        Encoding::Base64 => base64_len(body).ok_or_else(|| undecodable("base64")),
        Encoding::QuotedPrintable => qp_len(body).ok_or_else(|| undecodable("quoted-printable")),
    }
}

/// The decoded length of a base64 body: only the alphabet and whitespace, padding only at the
/// end, a multiple of four characters in all.
pub(super) fn base64_len(body: &[u8]) -> Option<usize> {
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
    total.is_multiple_of(4).then(|| total / 4 * 3 - padding)
}

/// The decoded length of a quoted-printable body. Refused: `=` not followed by two hex digits
/// or by the line break (soft break), `=` at the very end, and spaces or tabs before a line
/// break (RFC 2045 has decoders drop them, and not every decoder does).
pub(super) fn qp_len(body: &[u8]) -> Option<usize> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_lengths() {
        assert_eq!(base64_len(b"QUJD\r\nRA==\r\n"), Some(4));
        assert_eq!(base64_len(b"QUJDRA=="), Some(4));
        assert_eq!(base64_len(b"QUJDREU="), Some(5));
        assert_eq!(base64_len(b""), Some(0));
        assert_eq!(base64_len(b"QUJDRA"), None, "length not a multiple of four");
        assert_eq!(base64_len(b"QQ==QUJD"), None, "data after padding");
        assert_eq!(base64_len(b"QU-_"), None, "URL alphabet");
        assert_eq!(base64_len(b"QUJD*"), None);
        assert_eq!(base64_len(b"Q==="), None, "three padding characters");
    }

    #[test]
    fn quoted_printable_lengths() {
        assert_eq!(qp_len(b"caf=C3=A9\r\nx"), Some(8));
        assert_eq!(qp_len(b"lang=\r\nzaam"), Some(8));
        assert_eq!(qp_len(b"a=3d"), Some(2));
        assert_eq!(qp_len(b"a=G1"), None);
        assert_eq!(qp_len(b"a="), None, "= at the very end");
        assert_eq!(qp_len(b"a= \r\nb"), None, "soft break with a space");
        assert_eq!(qp_len(b"a \r\nb"), None, "trailing space");
        assert_eq!(qp_len(b"a\t"), None, "trailing tab at the end");
    }

    #[test]
    fn outside_text() {
        assert!(outside_text_ok(b"\r\n  \r\n"));
        assert!(outside_text_ok(
            b"This is a multi-part message in MIME format.\r\n"
        ));
        assert!(!outside_text_ok(
            b"N3q8ryccAAR5dzlyAAEAAAAAAAAwAAAAAAAAADwK\r\n"
        ));
        assert!(!outside_text_ok(b"Content-Type: application/pdf\r\n"));
        assert!(!outside_text_ok(b"een twee\r\ndrie vier\r\nvijf zes\r\n"));
        assert!(!outside_text_ok("caf\u{e9} is dicht\r\n".as_bytes()));
    }

    #[test]
    fn delimiters_only_on_whole_lines() {
        let body = b"pre\r\n--b\r\nx\r\n--b--\r\n";
        let found = delimiters(body, b"b", 10).ok().unwrap();
        assert_eq!(found.len(), 2);
        assert!(found[1].close);
        for bad in [
            &b"--b\r\nx --b--\r\n--b--\r\n"[..],
            b"--b\r\n--bx\r\n--b--\r\n",
            b"--b\r\n--B \r\n--b--\r\n",
            b"--b\r\n--b--\r\n--b\r\n",
        ] {
            assert!(delimiters(bad, b"b", 10).is_err());
        }
        assert_eq!(line_break_before(b"ab\r\n--b", 4), 2);
        assert_eq!(line_break_before(b"ab\n--b", 3), 2);
    }
}
