//! Text a recipient sees beside the body text: the display names of the address fields and
//! the attribute values of HTML (`alt`, `title`, `value`, ...), which `html_to_text` drops but
//! a mail program shows as tooltips, image captions or form fields. Staff put passwords there
//! too ("Wachtwoord Zon-Maan-47!" <dossier@...>), so policy reads them.
//!
//! Both are bounded: values per message and characters per value.

use mail_parser::{Address, Message};

/// Values kept per message (display names and attribute values together).
pub const MAX_SIDE_TEXTS: usize = 512;
/// Characters kept of one value.
pub const MAX_SIDE_TEXT_CHARS: usize = 256;

/// HTML attributes whose value is text a reader can see.
const SHOWN_ATTRIBUTES: [&str; 7] = [
    "alt",
    "title",
    "value",
    "placeholder",
    "label",
    "aria-label",
    "content",
];

/// Display names (and group names) of From, Sender, Reply-To, To, Cc and Bcc.
pub fn display_names(message: &Message<'_>, out: &mut Vec<String>) {
    let fields = [
        message.from(),
        message.sender(),
        message.reply_to(),
        message.to(),
        message.cc(),
        message.bcc(),
    ];
    for field in fields.into_iter().flatten() {
        if let Address::Group(groups) = field {
            for group in groups {
                push(out, group.name.as_deref());
            }
        }
        for addr in field.iter() {
            push(out, addr.name());
        }
    }
}

/// The values of the shown attributes in `html`, entities left as written.
pub fn attribute_values(html: &str, out: &mut Vec<String>) {
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        rest = rest.get(open + 1..).unwrap_or_default();
        let end = rest.find('>').unwrap_or(rest.len());
        let tag = rest.get(..end).unwrap_or_default();
        attributes_of(tag, out);
        rest = rest.get(end..).unwrap_or_default();
        if out.len() >= MAX_SIDE_TEXTS {
            return;
        }
    }
}

/// `name="value"`, `name='value'` and `name=value` pairs of one tag's inside.
fn attributes_of(tag: &str, out: &mut Vec<String>) {
    let mut chars = tag.char_indices().peekable();
    // Skip the tag name.
    while chars.next_if(|(_, c)| !c.is_whitespace()).is_some() {}
    loop {
        while chars
            .next_if(|(_, c)| c.is_whitespace() || *c == '/')
            .is_some()
        {}
        let Some(&(name_start, _)) = chars.peek() else {
            return;
        };
        let mut name_end = tag.len();
        while let Some(&(i, c)) = chars.peek() {
            if c == '=' || c.is_whitespace() || c == '/' {
                name_end = i;
                break;
            }
            chars.next();
        }
        let name = tag.get(name_start..name_end).unwrap_or_default();
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        if chars.next_if(|(_, c)| *c == '=').is_none() {
            continue;
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let quote = chars
            .next_if(|(_, c)| *c == '"' || *c == '\'')
            .map(|(_, c)| c);
        let Some(&(value_start, _)) = chars.peek() else {
            return;
        };
        let mut value_end = tag.len();
        for (i, c) in chars.by_ref() {
            let ends = match quote {
                Some(q) => c == q,
                None => c.is_whitespace(),
            };
            if ends {
                value_end = i;
                break;
            }
        }
        if SHOWN_ATTRIBUTES
            .iter()
            .any(|a| a.eq_ignore_ascii_case(name))
        {
            push(out, tag.get(value_start..value_end));
        }
    }
}

fn push(out: &mut Vec<String>, value: Option<&str>) {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return;
    };
    if out.len() < MAX_SIDE_TEXTS {
        out.push(value.chars().take(MAX_SIDE_TEXT_CHARS).collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_attribute_values_are_read() {
        let mut out = Vec::new();
        attribute_values(
            "<p title=\"Zon-Maan-47!\">x</p><img src=a.png alt='logo één' /><input value=abc \
             type=text><a href=\"x\" TITLE=tip>y</a><br/><b class=c>",
            &mut out,
        );
        assert_eq!(out, ["Zon-Maan-47!", "logo één", "abc", "tip"]);
    }

    #[test]
    fn broken_html_does_not_panic() {
        for html in [
            "<",
            "<p title",
            "<p title=",
            "<p title=\"open",
            "<p title='é",
            "<<<>>>",
            "<p =x>",
            "<é alt=ü>",
        ] {
            let mut out = Vec::new();
            attribute_values(html, &mut out);
        }
        let mut out = Vec::new();
        attribute_values(&"<i alt=x>".repeat(10_000), &mut out);
        assert_eq!(out.len(), MAX_SIDE_TEXTS);
    }

    #[test]
    fn display_names_of_every_address_field() {
        let raw = b"From: \"Wachtwoord Zon-Maan-47!\" <a@b.be>\r\nTo: Jan <j@w.be>, k@w.be\r\nCc: Team: An <an@w.be>;\r\nSubject: x\r\n\r\nbody\r\n";
        let message = mail_parser::MessageParser::default().parse(raw).unwrap();
        let mut out = Vec::new();
        display_names(&message, &mut out);
        assert!(
            out.contains(&"Wachtwoord Zon-Maan-47!".to_string()),
            "{out:?}"
        );
        assert!(out.contains(&"Jan".to_string()), "{out:?}");
        assert!(out.contains(&"Team".to_string()), "{out:?}");
        assert!(out.contains(&"An".to_string()), "{out:?}");
    }
}
