//! Escaping for what sealgate writes itself: the refusal notice's HTML part, the DPO's report
//! page and the report's text. They show values from the envelope or the audit (addresses,
//! ids, protocol ids, TLS descriptions), which a sender chooses or a tampered store holds; one
//! module, so every form escapes the same way.
//!
//! Two dangers besides markup. A character the reader does not see can make one value look
//! like another or reorder what follows it: a right-to-left override (U+202E) in a sender
//! address turns `12` after it into `21` on the page, a zero-width space makes a second
//! address look like a listed one. And a control character (CR, LF, ESC) forges lines in a
//! text or a terminal, and a bare CR in a mail body is an SMTP smuggling vector at a next hop
//! that ends DATA on `<CR>.<CR><LF>`. So text shows such characters as their code point
//! (`[U+202E]`), and an attribute keeps its exact value with controls as character
//! references (a data attribute must equal the JSON value it points at).

use std::borrow::Cow;

use crate::envelope::is_invisible;

/// True for a character that [`visible`] writes as its code point: controls (C0, DEL, C1),
/// the invisible and bidi formatting characters of [`is_invisible`], and the line and
/// paragraph separators U+2028 and U+2029.
fn is_hidden(c: char) -> bool {
    c.is_control() || is_invisible(c) || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Plain text with every hidden character written as its code point (`[U+202E]`), so what
/// a value holds is what a reader sees. Text without one comes back as it is.
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_hidden(c) {
            out.push_str(&format!("[U+{:04X}]", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// HTML-escapes text for an element's content (also SVG `<text>` and `<title>`): the five
/// markup characters as entities, hidden characters as [`visible`] shows them.
pub fn escape(text: &str) -> String {
    escape_markup(&visible(text))
}

/// HTML-escapes a value for a double-quoted attribute, keeping the value exact: the five
/// markup characters as entities and hidden characters as numeric character references, so
/// the page's bytes hold no control character and the attribute's value is the one given
/// (except NUL and the C1 controls, which HTML reads back as U+FFFD and Windows-1252).
pub fn escape_attribute(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in escape_markup(text).chars() {
        if is_hidden(c) {
            out.push_str(&format!("&#x{:X};", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape_attribute("a\"<b>"), "a&quot;&lt;b&gt;");
    }

    #[test]
    fn hidden_characters_are_shown_in_text_and_exact_in_attributes() {
        let hostile = "an\u{202E}21\u{200B}x\r\n.\u{2028}\u{1B}[2J\u{0}";
        assert_eq!(
            escape(hostile),
            "an[U+202E]21[U+200B]x[U+000D][U+000A].[U+2028][U+001B][2J[U+0000]"
        );
        assert_eq!(
            escape_attribute(hostile),
            "an&#x202E;21&#x200B;x&#xD;&#xA;.&#x2028;&#x1B;[2J&#x0;"
        );
        assert!(matches!(visible("kindengezin@wervik.be"), Cow::Borrowed(_)));
        // Letters of other scripts are no hidden characters.
        assert_eq!(escape("فاطمة@bücher.example"), "فاطمة@bücher.example");
    }
}
