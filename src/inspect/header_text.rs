//! The text of every header field, for scans that must see what a mail program shows or
//! keeps: display names, every Subject (duplicates too), Content-Description, `name=` and
//! `filename=` parameters, Thread-Topic, `X-` fields, the Message-ID.
//!
//! Each field gives one string: the field as written (name and value, folds kept, lossy
//! UTF-8), then on lines of their own mail-parser's structured reading of it (addresses,
//! RFC 2231 parameters) and its unstructured reading (RFC 2047 encoded words decoded wherever
//! they stand, also in `X-` fields and Thread-Topic, which mail-parser otherwise keeps raw).
//! Whichever a reader's program shows, the scan sees it. Two to three times the header bytes,
//! which the header bounds of the walk (`MAX_HEADER_BYTES`, `MAX_HEADER_FIELDS`) and the
//! message size limit bound.

use mail_parser::parsers::MessageStream;
use mail_parser::{Address, HeaderValue, MessagePart};

/// One string per header field of `part`; `raw` is the message the part's offsets point into.
pub(super) fn fields(part: &MessagePart<'_>, raw: &[u8]) -> Vec<String> {
    part.headers
        .iter()
        .map(|header| {
            let written = raw
                .get(header.offset_field as usize..header.offset_end as usize)
                .unwrap_or_default();
            let mut text = String::from_utf8_lossy(written).into_owned();
            text.push('\n');
            text.push_str(header.name.as_str());
            text.push_str(": ");
            // Plain text values are the unstructured reading below: not twice.
            if !matches!(
                header.value,
                HeaderValue::Text(_) | HeaderValue::TextList(_)
            ) {
                decoded(&header.value, &mut text);
            }
            let value = raw
                .get(header.offset_start as usize..header.offset_end as usize)
                .unwrap_or_default();
            decoded(&MessageStream::new(value).parse_unstructured(), &mut text);
            text
        })
        .collect()
}

fn decoded(value: &HeaderValue<'_>, out: &mut String) {
    match value {
        HeaderValue::Address(address) => {
            if let Address::Group(groups) = address {
                for group in groups {
                    push(out, group.name.as_deref());
                }
            }
            for addr in address.iter() {
                push(out, addr.name.as_deref());
                push(out, addr.address.as_deref());
            }
        }
        HeaderValue::Text(text) => push(out, Some(text)),
        HeaderValue::TextList(list) => {
            for text in list {
                push(out, Some(text));
            }
        }
        HeaderValue::ContentType(ct) => {
            push(out, Some(&ct.c_type));
            push(out, ct.c_subtype.as_deref());
            for attribute in ct.attributes.iter().flatten() {
                push(out, Some(&attribute.name));
                push(out, Some(&attribute.value));
            }
        }
        // Dates and Received fields are read as written (above).
        HeaderValue::DateTime(_) | HeaderValue::Received(_) | HeaderValue::Empty => {}
    }
}

/// Appends `text` on a line of its own: values never run into each other.
fn push(out: &mut String, text: Option<&str>) {
    if let Some(text) = text {
        out.push_str(text);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_and_decoded_values_of_every_field() {
        let raw = b"From: =?utf-8?q?Jan_85=2E07?= <j@w.be>\r\nSubject: a\r\nSubject: =?utf-8?b?MTIz?=\r\nX-Note: folded\r\n value =?utf-8?q?x=3D1?=\r\nContent-Type: text/plain; name*=utf-8''r%C3%A9f%2042.txt\r\n\r\nbody\r\n";
        let message = mail_parser::MessageParser::default().parse(raw).unwrap();
        let texts = fields(&message.parts[0], message.raw_message.as_ref());
        assert_eq!(texts.len(), 5);
        let all = texts.join("|");
        for expected in [
            "Jan 85.07",
            "Subject: a",
            "123",
            "folded\r\n value",
            "value x=1",
            "réf 42.txt",
        ] {
            assert!(all.contains(expected), "{expected} in {all}");
        }
    }
}
