//! Shared by the hostile report tests (in-process and real-peer): generated hostile values, a
//! report that carries one in every text field, and a small scanner of the page's tags that
//! does not use sealgate's escaping.
#![allow(dead_code)]

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use sealgate::audit::report::{
    ChainSummary, DaySummary, IncompleteTransfer, ProtocolSummary, ReasonSummary, Report,
    SenderSummary, SizeSummary,
};

/// What a value may try: close an element, a raw-text element, an attribute or a CDATA
/// section, open a comment, add a header or a line, reorder or hide text, move a terminal's
/// cursor, smuggle an end of data.
const FRAGMENTS: &[&str] = &[
    "<",
    ">",
    "&",
    "\"",
    "'",
    "</svg>",
    "</title>",
    "</style>",
    "</text></svg><script>alert(1)</script>",
    "]]>",
    "<![CDATA[x",
    "<!--",
    "-->",
    "\" onmouseover=\"alert(2)",
    "' onload='alert(3)",
    "<img src=x onerror=alert(4)>",
    "\r\n",
    "\r.\r\nRSET\r\n",
    "\n.\n",
    "\r",
    "\u{2028}",
    "\u{2029}",
    "\u{202E}",
    "\u{2066}",
    "\u{200B}",
    "\u{FEFF}",
    "\u{0}",
    "\u{1B}[2J",
    "\u{85}",
    "\t",
    "~1/0",
    "&amp;",
    "&#60;",
    "}*/ body{display:none}",
    "\nBcc: evil@example.org\n",
    "=?utf-8?q?x?=",
];

/// One value per fragment, inside an SMTPUTF8-style address, and a few combinations (a bidi
/// override before markup, a line break inside an attribute's quote).
pub fn hostile_values() -> Vec<String> {
    let mut values: Vec<String> = FRAGMENTS
        .iter()
        .enumerate()
        .map(|(i, f)| format!("kg{i}{f}x@agency.be"))
        .collect();
    values.push("\u{202E}21\"><b>\r\n</b>\u{2028}@\u{0646}\u{0648}\u{0631}.example".into());
    values.push("\"k\\g\"@agency.be".into());
    values.push("<\"@\u{200B}agency.be\u{202C}>".into());
    values.push("\u{1B}]0;title\u{7}\u{1B}[31m".into());
    values
}

/// Harmless values, as many.
pub fn harmless_values(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("v{i}")).collect()
}

/// A report with `values` in every text field: one protocol per value, whose id, sender,
/// reason, archive verdict, TLS descriptions, day, incomplete transfer are that value; the
/// store, the chain's hash and break and one outcome key are values too.
pub fn report_with(values: &[String], period: &str) -> Report {
    let at = |d: u32| Utc.with_ymd_and_hms(2025, 10, d, 9, 0, 0).unwrap();
    let value = |i: usize| values[i % values.len()].clone();
    let outcome_keys: Vec<String> = ["relayed", "rejected", "deferred"]
        .iter()
        .map(|s| s.to_string())
        .chain([value(3), "incomplete".into()])
        .collect();
    let outcomes: BTreeMap<String, u64> = outcome_keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.clone(), i as u64 % 3))
        .collect();
    let sizes = SizeSummary {
        count: 2,
        min: 10,
        median: 10,
        max: 2_000,
        total: 2_010,
    };
    let protocols = values
        .iter()
        .map(|v| ProtocolSummary {
            protocol: v.clone(),
            transfers: 3,
            relayed: 1,
            refused: 1,
            refused_by_reason: [(v.clone(), 1)].into(),
            deferred: 1,
            incomplete: 1,
            distinct_senders: 2,
            outcomes: outcomes.clone(),
            days: vec![
                DaySummary {
                    date: "2025-10-01".into(),
                    transfers: 2,
                    outcomes: outcomes.clone(),
                },
                DaySummary {
                    date: v.clone(),
                    transfers: 1,
                    outcomes: outcomes.clone(),
                },
            ],
            reasons: vec![ReasonSummary {
                code: v.clone(),
                meaning_nl: v.clone(),
                meaning_en: v.clone(),
                outcomes: outcomes.clone(),
            }],
            archive_sizes: sizes,
            archive_verdicts: [(v.clone(), 1), ("encrypted".into(), 2)].into(),
            message_sizes: sizes,
            tls_out: [(v.clone(), 1), ("TLSv1.3 verified=dane".into(), 2)].into(),
            tls_in: [(v.clone(), 3)].into(),
            senders: vec![
                SenderSummary {
                    address: "an.peeters@opgroeien.be".into(),
                    transfers: 2,
                    outcomes: outcomes.clone(),
                },
                SenderSummary {
                    address: v.clone(),
                    transfers: 1,
                    outcomes: outcomes.clone(),
                },
            ],
            incomplete_transfers: vec![IncompleteTransfer {
                id: v.clone(),
                received_at: at(2),
                sender: v.clone(),
                message_id: Some(v.clone()),
            }],
        })
        .collect();
    Report {
        period: period.into(),
        since: at(1),
        until: Utc.with_ymd_and_hms(2025, 11, 1, 0, 0, 0).unwrap(),
        store: value(0),
        generated_at: at(31),
        chain: ChainSummary {
            verifies: false,
            entries: 12,
            head_seq: 12,
            head_hash: value(1),
            first_broken: Some(value(2)),
            checked_at: at(31),
        },
        outcome_keys,
        protocols,
    }
}

/// The elements the page is made of.
pub const PAGE_TAGS: &[&str] = &[
    "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "code", "div",
    "strong", "br", "span", "small", "section", "figure", "svg", "rect", "text", "line", "table",
    "thead", "tbody", "tr", "th", "td", "footer",
];

/// One tag as the scanner read it. Two tags are equal when their kind, name and attribute
/// names are: values (positions, pointers, text) differ between reports.
#[derive(Debug, Clone)]
pub struct Tag {
    pub closing: bool,
    pub name: String,
    pub attributes: Vec<(String, Option<String>)>,
    /// Where the tag ends in the page (after its `>`).
    pub end: usize,
}

impl PartialEq for Tag {
    fn eq(&self, other: &Tag) -> bool {
        self.closing == other.closing
            && self.name == other.name
            && self.attributes.len() == other.attributes.len()
            && self
                .attributes
                .iter()
                .zip(&other.attributes)
                .all(|(a, b)| a.0 == b.0)
    }
}

impl Tag {
    /// The decoded value of attribute `name`.
    pub fn attribute(&self, name: &str) -> Option<String> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref().map(decode))
    }
}

/// Every tag of `page`, in order. Strict: a `<` that starts no tag, an attribute value that
/// is not double-quoted, or a quote inside one fails the test (the page writes none).
pub fn scan_tags(page: &str) -> Vec<Tag> {
    let bytes = page.as_bytes();
    let mut tags = Vec::new();
    let mut at = 0;
    let mut raw_text_until: Option<String> = None;
    while let Some(offset) = page[at..].find('<') {
        let start = at + offset;
        if let Some(close) = &raw_text_until {
            // Inside <style> or <title>: only its own end tag ends it.
            if !page[start..]
                .to_ascii_lowercase()
                .starts_with(close.as_str())
            {
                at = start + 1;
                continue;
            }
            raw_text_until = None;
        }
        if page[start..].starts_with("<!DOCTYPE html>") {
            at = start + "<!DOCTYPE html>".len();
            continue;
        }
        let mut i = start + 1;
        let closing = bytes.get(i) == Some(&b'/');
        if closing {
            i += 1;
        }
        let name_end = i + page[i..]
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(page.len() - i);
        let name = page[i..name_end].to_string();
        assert!(
            !name.is_empty(),
            "a `<` that starts no tag at {start}: {:?}",
            excerpt(page, start)
        );
        i = name_end;
        let mut attributes = Vec::new();
        loop {
            while bytes.get(i).is_some_and(|b| *b == b' ') {
                i += 1;
            }
            match bytes.get(i) {
                Some(b'>') => {
                    i += 1;
                    break;
                }
                Some(b'/') if bytes.get(i + 1) == Some(&b'>') => {
                    i += 2;
                    break;
                }
                Some(_) => {}
                None => panic!("tag <{name}> at {start} never ends"),
            }
            let attr_end = i + page[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == ':'))
                .unwrap_or(page.len() - i);
            let attr = page[i..attr_end].to_string();
            assert!(
                !attr.is_empty(),
                "junk in tag <{name}> at {i}: {:?}",
                excerpt(page, i)
            );
            i = attr_end;
            let value = if bytes.get(i) == Some(&b'=') {
                assert_eq!(bytes.get(i + 1), Some(&b'"'), "unquoted {attr} in <{name}>");
                let value_start = i + 2;
                let value_end = value_start
                    + page[value_start..]
                        .find('"')
                        .unwrap_or_else(|| panic!("{attr} of <{name}> never ends"));
                let value = &page[value_start..value_end];
                assert!(
                    !value.contains(['<', '>']),
                    "{attr} of <{name}> holds markup: {value:?}"
                );
                i = value_end + 1;
                Some(value.to_string())
            } else {
                None
            };
            attributes.push((attr, value));
        }
        if !closing && (name == "style" || name == "title") {
            raw_text_until = Some(format!("</{name}>"));
        }
        tags.push(Tag {
            closing,
            name,
            attributes,
            end: i,
        });
        at = i;
    }
    tags
}

fn excerpt(page: &str, at: usize) -> String {
    page[at..].chars().take(60).collect()
}

/// `text` with character references decoded: the five of the page's escaping, the named ones
/// the page writes, decimal and hexadecimal numeric ones.
pub fn decode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';').filter(|&e| e < 12) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "ndash" => Some('\u{2013}'),
            "middot" => Some('\u{B7}'),
            _ => entity
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The page's text: what lies between the tags, decoded (style sheet included).
pub fn page_text(page: &str) -> String {
    let tags = scan_tags(page);
    let mut text = String::new();
    let mut at = 0;
    for tag in &tags {
        let start = page[..tag.end].rfind('<').unwrap_or(at);
        if start >= at {
            text.push_str(&decode(&page[at..start]));
        }
        at = tag.end;
    }
    text.push_str(&decode(&page[at..]));
    text
}

/// Every figure: the decoded `data-figure` pointer and the number in its element.
pub fn figures(page: &str) -> Vec<(String, u64)> {
    scan_tags(page)
        .iter()
        .filter_map(|tag| {
            let pointer = tag.attribute("data-figure")?;
            let text = &page[tag.end..];
            let number = text[..text.find('<').unwrap_or(text.len())].trim();
            let value = number
                .parse()
                .unwrap_or_else(|_| panic!("figure {pointer:?} is not a number: {number:?}"));
            Some((pointer, value))
        })
        .collect()
}

/// Characters a reader does not see or that break lines or terminals: none may be in `text`
/// raw (a newline between lines is the text's own).
pub fn assert_no_hidden_characters(text: &str, what: &str) {
    for (i, c) in text.char_indices() {
        let hidden = (c.is_control() && c != '\n')
            || matches!(c,
                '\u{AD}' | '\u{61C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
                | '\u{2028}' | '\u{2029}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}');
        assert!(!hidden, "{what} holds U+{:04X} raw at {i}", u32::from(c));
    }
}
