//! HTML read the way a mail program may show or resolve it, for the scans that must not miss
//! what `html_to_text` drops: attribute values (`alt`, `title`, `value`, `src`, `style`, ...),
//! `<title>`, `<style>` and `<script>` contents, comments, and text split by tags
//! (`12<br>34`). Character references (`&#56;`, `&shy;`, `&nbsp;`) are decoded, since a
//! browser shows the character, not the reference.
//!
//! One linear pass, no tree and no recursion: malformed HTML cannot make it slow or deep.
//! The scanner only splits at ASCII bytes (`<`, `>`, quotes, `=`), so it never cuts a UTF-8
//! character.

use std::borrow::Cow;

/// Where a piece of HTML comes from: the scans treat them differently (attribute values and
/// raw blocks are URL/CSS contexts; text pieces are joined, with a separator for each tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece {
    /// Text between tags (including `<title>` and `<textarea>`), references decoded.
    Text,
    /// The value of one attribute, references decoded.
    Attribute,
    /// Contents of `<style>`, `<script>` or a comment, as written.
    Raw,
    /// A tag: its lower-case name, `/` first for a closing tag (reported before its
    /// attributes).
    Tag,
}

/// Tags that do not break the line: text on both sides runs together on screen.
pub fn is_inline(tag: &str) -> bool {
    matches!(
        tag.trim_start_matches('/'),
        "a" | "abbr"
            | "b"
            | "bdi"
            | "bdo"
            | "big"
            | "cite"
            | "code"
            | "data"
            | "dfn"
            | "em"
            | "font"
            | "i"
            | "kbd"
            | "mark"
            | "o:p"
            | "q"
            | "s"
            | "samp"
            | "small"
            | "span"
            | "strike"
            | "strong"
            | "sub"
            | "sup"
            | "time"
            | "tt"
            | "u"
            | "var"
            | "wbr"
    )
}

/// Longest character reference looked at (`&CounterClockwiseContourIntegral;` is 33).
const MAX_REFERENCE_LEN: usize = 40;

/// Calls `f` with every piece of `html`, in order.
pub fn pieces(html: &str, mut f: impl FnMut(Piece, &str)) {
    let bytes = html.as_bytes();
    let mut i = 0;
    let mut text_start = 0;
    while i < bytes.len() {
        if bytes[i] != b'<' {
            i += 1;
            continue;
        }
        let next = bytes.get(i + 1).copied().unwrap_or(b' ');
        let is_markup = next.is_ascii_alphabetic() || matches!(next, b'/' | b'!' | b'?');
        if !is_markup {
            i += 1;
            continue;
        }
        emit_text(html, text_start, i, &mut f);
        if html[i..].starts_with("<!--") {
            let body = i + 4;
            let end = find(bytes, body, b"-->").unwrap_or(bytes.len());
            f(Piece::Raw, &html[body..end]);
            i = (end + 3).min(bytes.len());
        } else {
            let (end, name) = tag(html, i + 1, &mut f);
            i = end;
            if let Some(raw_end) = raw_element_end(html, i, &name) {
                f(Piece::Raw, &html[i..raw_end]);
                i = raw_end;
            }
        }
        text_start = i;
    }
    emit_text(html, text_start, bytes.len(), &mut f);
}

fn emit_text(html: &str, start: usize, end: usize, f: &mut impl FnMut(Piece, &str)) {
    if start < end {
        f(Piece::Text, &decode_references(&html[start..end]));
    }
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(bytes.get(from..)?, needle).map(|p| from + p)
}

/// Reads one tag from just after `<`: reports its attribute values, returns the index after
/// `>` and the lower-case tag name.
fn tag(html: &str, from: usize, f: &mut impl FnMut(Piece, &str)) -> (usize, String) {
    let bytes = html.as_bytes();
    let mut i = from;
    while i < bytes.len() && !is_tag_space(bytes[i]) && bytes[i] != b'>' {
        i += 1;
    }
    let name = html[from..i].to_ascii_lowercase();
    f(Piece::Tag, &name);
    loop {
        while i < bytes.len() && (is_tag_space(bytes[i]) || bytes[i] == b'/') {
            i += 1;
        }
        match bytes.get(i) {
            None => return (bytes.len(), name),
            Some(b'>') => return (i + 1, name),
            Some(_) => {}
        }
        // Attribute name.
        while i < bytes.len() && !is_tag_space(bytes[i]) && !matches!(bytes[i], b'=' | b'>') {
            i += 1;
        }
        while i < bytes.len() && is_tag_space(bytes[i]) {
            i += 1;
        }
        if bytes.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        while i < bytes.len() && is_tag_space(bytes[i]) {
            i += 1;
        }
        let (start, end, after) = match bytes.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                let end = memchr::memchr(q, &bytes[i + 1..]).map_or(bytes.len(), |p| i + 1 + p);
                (i + 1, end, (end + 1).min(bytes.len()))
            }
            _ => {
                let mut end = i;
                while end < bytes.len() && !is_tag_space(bytes[end]) && bytes[end] != b'>' {
                    end += 1;
                }
                (i, end, end)
            }
        };
        f(Piece::Attribute, &decode_references(&html[start..end]));
        i = after;
    }
}

fn is_tag_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
}

/// For `<style>` and `<script>` (raw text elements), the index of their closing tag (the end
/// of the text when there is none). Case-insensitive, without copying.
fn raw_element_end(html: &str, from: usize, name: &str) -> Option<usize> {
    if name != "style" && name != "script" {
        return None;
    }
    let bytes = html.as_bytes();
    let mut at = from;
    while let Some(p) = find(bytes, at, b"</") {
        let candidate = bytes.get(p + 2..p + 2 + name.len());
        if candidate.is_some_and(|c| c.eq_ignore_ascii_case(name.as_bytes())) {
            return Some(p);
        }
        at = p + 2;
    }
    Some(bytes.len())
}

/// Decodes numeric references and the named ones that matter for the scans; an unknown
/// name stays as written (a browser shows it as written too).
pub fn decode_references(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        match reference(rest) {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The character of the reference at the start of `s` (which starts with `&`) and its length.
fn reference(s: &str) -> Option<(char, usize)> {
    let bytes = s.as_bytes();
    let window = &bytes[..bytes.len().min(MAX_REFERENCE_LEN)];
    if window.get(1) == Some(&b'#') {
        let hex = matches!(window.get(2), Some(b'x' | b'X'));
        let digits_start = if hex { 3 } else { 2 };
        let mut end = digits_start;
        while end < window.len()
            && (if hex {
                window[end].is_ascii_hexdigit()
            } else {
                window[end].is_ascii_digit()
            })
        {
            end += 1;
        }
        if end == digits_start {
            return None;
        }
        let value =
            u32::from_str_radix(&s[digits_start..end], if hex { 16 } else { 10 }).unwrap_or(0xFFFD);
        let c = char::from_u32(value).unwrap_or('\u{FFFD}');
        let len = if window.get(end) == Some(&b';') {
            end + 1
        } else {
            end
        };
        return Some((c, len));
    }
    let mut end = 1;
    while end < window.len() && window[end].is_ascii_alphanumeric() {
        end += 1;
    }
    let name = &s[1..end];
    let c = named_reference(name)?;
    let len = if window.get(end) == Some(&b';') {
        end + 1
    } else {
        end
    };
    Some((c, len))
}

fn named_reference(name: &str) -> Option<char> {
    Some(match name {
        "amp" | "AMP" => '&',
        "lt" | "LT" => '<',
        "gt" | "GT" => '>',
        "quot" | "QUOT" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "shy" => '\u{ad}',
        "zwsp" | "ZeroWidthSpace" => '\u{200b}',
        "zwnj" => '\u{200c}',
        "zwj" => '\u{200d}',
        "NoBreak" => '\u{2060}',
        "ensp" => '\u{2002}',
        "emsp" => '\u{2003}',
        "thinsp" => '\u{2009}',
        "hairsp" => '\u{200a}',
        "numsp" => '\u{2007}',
        "puncsp" => '\u{2008}',
        "MediumSpace" => '\u{205f}',
        "ndash" => '\u{2013}',
        "mdash" => '\u{2014}',
        "hyphen" | "dash" => '\u{2010}',
        "minus" => '\u{2212}',
        "period" => '.',
        "comma" => ',',
        "sol" => '/',
        "colon" => ':',
        "lpar" => '(',
        "rpar" => ')',
        "Tab" => '\t',
        "NewLine" => '\n',
        "middot" => '\u{b7}',
        "euro" => '\u{20ac}',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(html: &str) -> Vec<(Piece, String)> {
        let mut out = Vec::new();
        pieces(html, |p, s| out.push((p, s.to_string())));
        out
    }

    #[test]
    fn text_attributes_and_raw_blocks() {
        let found = all(
            "<html><head><title>T &amp; 1</title><style>p{content:\"x\"}</style></head>\
             <body><!-- c --><img alt='a&#49;' src=cid:logo>12<br>3&#x34;</body>",
        );
        let expect = [
            (Piece::Tag, "html"),
            (Piece::Tag, "head"),
            (Piece::Tag, "title"),
            (Piece::Text, "T & 1"),
            (Piece::Tag, "/title"),
            (Piece::Tag, "style"),
            (Piece::Raw, "p{content:\"x\"}"),
            (Piece::Tag, "/style"),
            (Piece::Tag, "/head"),
            (Piece::Tag, "body"),
            (Piece::Raw, " c "),
            (Piece::Tag, "img"),
            (Piece::Attribute, "a1"),
            (Piece::Attribute, "cid:logo"),
            (Piece::Text, "12"),
            (Piece::Tag, "br"),
            (Piece::Text, "34"),
            (Piece::Tag, "/body"),
        ];
        let found: Vec<(Piece, &str)> = found.iter().map(|(p, s)| (*p, s.as_str())).collect();
        assert_eq!(found, expect);
    }

    #[test]
    fn broken_html_never_panics() {
        for html in [
            "<",
            "<p",
            "<p a",
            "<p a=",
            "<p a=\"",
            "<p a='é",
            "<!--",
            "<!-- é",
            "&",
            "&#",
            "&#x",
            "&#99999999999;",
            "&#xD800;",
            "<style>",
            "<script>é",
            "a < b",
            "<é a=ü>",
            "&shy",
            "<p a=&#56>",
        ] {
            let _ = all(html);
        }
    }

    #[test]
    fn references_decode_to_characters() {
        assert_eq!(
            decode_references("8&#53;0&shy;7&nbsp;30"),
            "850\u{ad}7\u{a0}30"
        );
        assert_eq!(decode_references("&unknown; &amp"), "&unknown; &");
    }
}
