//! Text that carries a file: a mail program (or the reader with one click or one command)
//! turns it back into the file, so for policy it is an attachment, whatever the part claims.
//!
//! - `data:` URIs: `data:[type/subtype][;params],payload`. In text, the strict form (no space
//!   after `data:`, a payload after the comma). Where a URL is expected (attribute values,
//!   CSS), what a browser accepts: tab and line breaks inside are dropped (WHATWG URL) and
//!   spaces around the type are allowed (fetch's data: URL processor).
//! - uuencode: a `begin [mode] name` line (mode and spacing vary; `begin-base64` too)
//!   followed by a uuencoded line, a lone `` ` `` or `end`.
//! - yEnc (`=ybegin`) and BinHex (`(This file must be converted with BinHex`).
//! - A file pasted as base64: a run of base64 that starts with the encoding of a file
//!   signature (`JVBERi` is `%PDF`, `UEsDB` a ZIP or DOCX, `iVBORw0KGgo` a PNG, ...).
//! - `cid:` references from HTML: the part they point at is shown as an image or a link,
//!   whatever type it declares.
//!
//! All scans are linear in the text (one lower-case copy, bounded look-ahead).

use std::collections::HashSet;

use crate::inspect::html::{self, Piece};

/// Characters looked at after `data:` for the type and parameters.
const MAX_DATA_HEADER: usize = 256;
/// Non-empty lines after a `begin` line that may hold the first uuencoded line.
const UUENCODE_LOOKAHEAD: usize = 3;
/// File signatures as base64 writes them at the start of a file (PDF, ZIP/DOCX/XLSX, PNG,
/// JPEG, GIF, 7z, OLE2 (DOC/XLS/MSG), RTF).
const BASE64_SIGNATURES: [&str; 8] = [
    "JVBERi",
    "UEsDB",
    "iVBORw0KGgo",
    "/9j/4",
    "R0lGOD",
    "N3q8ryccAA",
    "0M8R4KGxGuE",
    "e1xydGY",
];
/// Base64 characters that must follow a signature before it counts as a pasted file.
const MIN_PASTED_BASE64: usize = 48;

/// Whether plain text (or the text of an HTML part) carries a file.
pub(super) fn text_carries_file(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("=ybegin")
        || lower.contains("(this file must be converted with binhex")
        || has_uuencode(text)
        || has_data_uri(&lower, false)
        || has_pasted_base64_file(text)
}

/// A base64 run (line breaks allowed) that starts at a word boundary with a file signature.
fn has_pasted_base64_file(text: &str) -> bool {
    let bytes = text.as_bytes();
    let is_b64 = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
    BASE64_SIGNATURES.iter().any(|signature| {
        let mut from = 0;
        while let Some(p) = memchr::memmem::find(&bytes[from..], signature.as_bytes()) {
            let at = from + p;
            from = at + 1;
            if at > 0 && (is_b64(bytes[at - 1]) || bytes[at - 1] == b'=') {
                continue;
            }
            let run = bytes[at..]
                .iter()
                .filter(|b| !matches!(b, b'\r' | b'\n'))
                .take(MIN_PASTED_BASE64 + signature.len())
                .take_while(|&&b| is_b64(b) || b == b'=')
                .count();
            if run >= MIN_PASTED_BASE64 + signature.len() {
                return true;
            }
        }
        false
    })
}

/// Whether HTML source carries a file: in its text, its attribute values, its CSS.
pub(super) fn html_carries_file(source: &str) -> bool {
    let mut found = text_carries_file(source);
    html::pieces(source, |piece, value| {
        if found {
            return;
        }
        found = match piece {
            Piece::Tag => false,
            Piece::Text => text_carries_file(value),
            Piece::Attribute | Piece::Raw => {
                let url: String = value
                    .chars()
                    .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
                    .collect::<String>()
                    .to_ascii_lowercase();
                has_data_uri(&url, true) || text_carries_file(value)
            }
        };
    });
    found
}

/// The Content-IDs that `cid:` URLs in `source` (HTML) point at, lower-case and
/// percent-decoded, added to `out`.
pub(super) fn cid_references(source: &str, out: &mut HashSet<String>) {
    html::pieces(source, |piece, value| {
        if piece == Piece::Tag {
            return;
        }
        let url: String = value
            .chars()
            .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
            .collect::<String>()
            .to_ascii_lowercase();
        let mut rest = url.as_str();
        while let Some(at) = rest.find("cid:") {
            let after = &rest[at + 4..];
            let end = after
                .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | ')'))
                .unwrap_or(after.len());
            let id = percent_decode(after[..end].trim_matches(|c| c == '<' || c == '>'));
            if !id.is_empty() {
                out.insert(id);
            }
            rest = after;
        }
    });
}

/// A Content-ID as `cid:` references are compared with it.
pub(super) fn normalised_content_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_lowercase()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).to_lowercase()
}

/// `data:` URIs in `lower` (ASCII lower-cased). `url_context`: where a URL is expected.
fn has_data_uri(lower: &str, url_context: bool) -> bool {
    let bytes = lower.as_bytes();
    let mut from = 0;
    while let Some(p) = memchr::memmem::find(&bytes[from..], b"data:") {
        let at = from + p;
        if data_uri_at(bytes, at, url_context) {
            return true;
        }
        from = at + 5;
    }
    false
}

fn data_uri_at(bytes: &[u8], at: usize, url_context: bool) -> bool {
    let before = bytes[..at]
        .iter()
        .rev()
        .find(|b| !(url_context && b.is_ascii_whitespace()));
    let boundary = match before {
        None => true,
        Some(b) if url_context => matches!(b, b'(' | b'"' | b'\'' | b',' | b'=' | b';'),
        Some(b) => !b.is_ascii_alphanumeric() && !matches!(b, b'-' | b'+' | b'.' | b'_'),
    };
    if !boundary {
        return false;
    }
    let end = (at + 5 + MAX_DATA_HEADER).min(bytes.len());
    let header = &bytes[at + 5..end];
    let mut i = 0;
    let skip_space = |i: &mut usize| {
        while url_context && header.get(*i).is_some_and(u8::is_ascii_whitespace) {
            *i += 1;
        }
    };
    skip_space(&mut i);
    let token = |b: &u8| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(b);
    while header.get(i).is_some_and(token) {
        i += 1;
    }
    if header.get(i) == Some(&b'/') {
        i += 1;
        while header.get(i).is_some_and(token) {
            i += 1;
        }
    }
    skip_space(&mut i);
    while header.get(i) == Some(&b';') {
        i += 1;
        while header.get(i).is_some_and(|b| {
            !matches!(b, b',' | b';' | b'"' | b'\'' | b')')
                && (url_context || !b.is_ascii_whitespace())
        }) {
            i += 1;
        }
    }
    if header.get(i) != Some(&b',') {
        return false;
    }
    url_context || header.get(i + 1).is_some_and(|b| !b.is_ascii_whitespace())
}

/// `s` without `prefix`, compared ignoring ASCII case.
fn strip_prefix_ignore_case<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.as_bytes().get(..prefix.len())?;
    // The prefix is ASCII, so a match ends on a character boundary.
    head.eq_ignore_ascii_case(prefix.as_bytes())
        .then(|| s.get(prefix.len()..))
        .flatten()
}

/// A `begin` line of uuencode followed by what uuencode writes next.
fn has_uuencode(text: &str) -> bool {
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(rest) = strip_prefix_ignore_case(line.trim_start(), "begin") else {
            continue;
        };
        if let Some(rest) = strip_prefix_ignore_case(rest, "-base64") {
            if begin_arguments(rest) {
                return true;
            }
            continue;
        }
        if !begin_arguments(rest) {
            continue;
        }
        let confirmed = lines
            .clone()
            .filter(|l| !l.trim().is_empty())
            .take(UUENCODE_LOOKAHEAD)
            .any(|l| {
                let l = l.trim_end();
                l == "`" || l.eq_ignore_ascii_case("end") || is_uuencoded_line(l)
            });
        if confirmed {
            return true;
        }
    }
    false
}

/// `<spaces> [mode <spaces>] name`: mode 1 to 4 octal digits, a non-empty name.
fn begin_arguments(rest: &str) -> bool {
    let Some(rest) = rest.strip_prefix([' ', '\t']) else {
        return false;
    };
    let rest = rest.trim_start();
    let mode_len = rest
        .bytes()
        .take_while(|b| (b'0'..=b'7').contains(b))
        .count();
    let name = if (1..=4).contains(&mode_len) && rest[mode_len..].starts_with([' ', '\t']) {
        rest[mode_len..].trim()
    } else {
        rest.trim()
    };
    !name.is_empty()
}

/// A uuencoded line: a length character, then about 4/3 of that many characters, all in
/// `' '..='``'`. uuencode has no lower-case letters, so prose never fits.
fn is_uuencoded_line(line: &str) -> bool {
    let bytes = line.as_bytes();
    let Some((&first, rest)) = bytes.split_first() else {
        return false;
    };
    if !(b'!'..=b'`').contains(&first) || !rest.iter().all(|b| (b' '..=b'`').contains(b)) {
        return false;
    }
    let count = usize::from((first - b' ') & 0x3f);
    let expected = count.div_ceil(3) * 4;
    count > 0 && rest.len() + 4 >= expected && rest.len() <= expected + 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_uris_in_text_and_urls() {
        for text in [
            "zie data:application/pdf;base64,JVBERi0xLjcK",
            "data:,Hallo",
            "DATA:text/plain;charset=utf-8;base64,SGFsbG8=",
        ] {
            assert!(text_carries_file(text), "{text}");
        }
        for text in [
            "Update data: zie hieronder, alles ok",
            "metadata:x,y",
            "data: 12, 13",
            "Data:",
        ] {
            assert!(!text_carries_file(text), "{text}");
        }
        for html in [
            "<img src=\"data:image/png;base64,iVBORw0KGgo=\">",
            "<img src=\" da\nta:image/png;base64,iVBOR\">",
            "<img src='&#100;ata:image/png;base64,iVBOR'>",
            "<a href=\"data: application/pdf ;base64,JVBER\">x</a>",
            "<div style=\"background:url( 'data:image/gif;base64,R0lGOD' )\">",
            "<style>p{background:url(data:image/png;base64,AAAA)}</style>",
        ] {
            assert!(html_carries_file(html), "{html}");
        }
        assert!(!html_carries_file(
            "<p title=\"Verwerkte data: januari, februari\">Data: zie bijlage, 12 stuks</p>"
        ));
    }

    #[test]
    fn uuencode_yenc_binhex() {
        let uu = "Beste,\r\n\r\nbegin 644 verslag.pdf\r\nM)5!$1BTQ+C<*)>+CS],*,2`P(&]B:@H\\/\"]4>7!E+T-A=&%L;V<O4&%G97,@\r\n`\r\nend\r\n";
        assert!(text_carries_file(uu));
        for variant in [
            "begin 0644  a.pdf\n#86)C\nend",
            "  begin\t755 a b.txt\nM86)C86)C86)C86)C86)C86)C86)C86)C86)C86)C86)C86)C86)C86)C86)C\n",
            "begin-base64 644 a.pdf\nJVBERi0xLjcK\n====",
            "begin 644 empty\n`\nend",
            "=ybegin line=128 size=1234 name=a.pdf\n...",
            "(This file must be converted with BinHex 4.0)\n:$f*TEQKPH#jdCA0d,R0TG!\"6594%8dP8)3#3\"!&m!*!%",
            "Zie hieronder:\nJVBERi0xLjcKMSAwIG9iaiA8PCAvVHlwZSAvQ2F0YWxvZyAvUGFnZXMgMiAwIFIg\nPj4gZW5kb2Jq\n",
            "UEsDBBQABgAIAAAAIQDfpNJsWgEAACAFAAATAAgCW0NvbnRlbnRfVHlwZXNdLnhtbCCiBAIooAAC",
        ] {
            assert!(text_carries_file(variant), "{variant}");
        }
        for prose in [
            "Begin 2026 starten we met het nieuwe dossier.\nGroet, An",
            "begin 644 of zo\nvan de maand komen we langs.",
            "We begin monday",
            "code JVBERi kort",
            "xJVBERi0xLjcKMSAwIG9iaiA8PCAvVHlwZSAvQ2F0YWxvZyAvUGFnZXMgMiAwIFIgPj4gZW5kb2Jq",
        ] {
            assert!(!text_carries_file(prose), "{prose}");
        }
    }

    #[test]
    fn cid_references_are_collected() {
        let mut ids = HashSet::new();
        cid_references(
            "<img src=\"cid:logo@x\"><img src='CID:part1.ABC%40example'><p style=\"background:url(cid:bg)\">",
            &mut ids,
        );
        for id in ["logo@x", "part1.abc@example", "bg"] {
            assert!(ids.contains(id), "{id} in {ids:?}");
        }
        assert_eq!(normalised_content_id("<Logo@X>"), "logo@x");
    }
}
