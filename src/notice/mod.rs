//! The refusal notice: a short bilingual message of sealgate's own to the sender of a refused
//! protected message, because the sending server's bounce is generic, English, and buries the
//! reason under a dozen technical lines.
//!
//! It is built here from the decision's facts only: time, the protected recipient, the
//! protocol's title, the reason codes and the envelope addresses outside the protocol. Never a
//! part of the refused message (no subject, no body, no file name): the sender recognises it by
//! time and recipient, and a notice can never become a way to leak what was refused.
//!
//! It is an automatic reply in the sense of RFC 3834 (`Auto-Submitted: auto-replied`) and is
//! sent with the null reverse path, so it never causes a bounce or an auto-reply of its own.
//! [`Limiter`] bounds how many one sender can cause, so a looping client cannot turn the
//! gateway into a mail bomb.

mod limiter;

use chrono::{DateTime, Local};
use mail_builder::headers::address::Address;
use mail_builder::MessageBuilder;

use crate::markup::{escape, escape_attribute};
use crate::policy::refusal::{self, RefusalFacts};
use crate::policy::ReasonCode;

pub use limiter::{Limiter, LimiterSettings};

#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    #[error("cannot write the notice message: {0}")]
    Write(#[from] std::io::Error),
}

/// What a notice says.
#[derive(Debug, Clone, Copy)]
pub struct NoticeFacts<'a> {
    pub refused_at: DateTime<Local>,
    /// `notify.from`, e.g. `postmaster@agency.example`.
    pub from: &'a str,
    /// The envelope sender of the refused message: the notice's recipient.
    pub to: &'a str,
    /// The protected recipients of the refused message.
    pub protected_recipients: &'a [String],
    pub protocol_title: &'a str,
    pub reasons: &'a [ReasonCode],
    pub unrelated_recipients: &'a [String],
    pub help_url: Option<&'a str>,
    /// For the Message-ID: our host name and the transaction id.
    pub hostname: &'a str,
    pub transaction_id: &'a str,
}

/// The notice as RFC 5322 bytes (CRLF line ends), ready for the next hop's DATA.
pub fn build(facts: &NoticeFacts<'_>) -> Result<Vec<u8>, NoticeError> {
    let recipient = facts
        .protected_recipients
        .first()
        .map_or("?", String::as_str);
    let subject =
        format!("Uw bericht aan {recipient} werd niet verzonden / Your message was not sent");
    let message = MessageBuilder::new()
        .from(Address::new_address(Some("sealgate"), facts.from))
        .to(facts.to)
        .subject(subject)
        .date(facts.refused_at.timestamp())
        .message_id(format!(
            "notice.{}@{}",
            facts.transaction_id, facts.hostname
        ))
        .header(
            "Auto-Submitted",
            mail_builder::headers::raw::Raw::new("auto-replied"),
        )
        .text_body(text(facts))
        .html_body(html(facts));
    Ok(message.write_to_vec()?)
}

/// The explanation of each reason, shared by both bodies.
struct Explained {
    nl: Vec<String>,
    en: Vec<String>,
    fix_nl: String,
    fix_en: String,
}

fn explain(facts: &NoticeFacts<'_>) -> Explained {
    let overrides = Default::default();
    let composed = refusal::explain(&RefusalFacts {
        reasons: facts.reasons,
        unrelated_recipients: facts.unrelated_recipients,
        help_url: facts.help_url,
        protocol: facts.protocol_title,
        overrides: &overrides,
    });
    let (fix_nl, fix_en) = refusal::what_to_do(facts.reasons);
    Explained {
        nl: composed.iter().map(|s| s.nl.clone()).collect(),
        en: composed.iter().map(|s| s.en.clone()).collect(),
        fix_nl,
        fix_en,
    }
}

fn when(facts: &NoticeFacts<'_>) -> String {
    facts.refused_at.format("%Y-%m-%d %H:%M").to_string()
}

fn text(facts: &NoticeFacts<'_>) -> String {
    let e = explain(facts);
    let recipients = facts.protected_recipients.join(", ");
    let mut out = String::new();
    out.push_str(&format!(
        "Uw bericht van {} aan {recipients} werd niet verzonden.\n\
         Deze mailbox valt onder het protocol \"{}\": persoonsgegevens mogen er enkel naartoe \
         in een met AES-256 versleuteld 7z-archief.\n\nWat er mis was:\n",
        when(facts),
        facts.protocol_title
    ));
    e.nl.iter()
        .for_each(|line| out.push_str(&format!("  - {line}\n")));
    out.push_str(&format!("\nWat u kunt doen: {}\n", e.fix_nl));
    if let Some(url) = facts.help_url {
        out.push_str(&format!("Uitleg met afbeeldingen: {url}\n"));
    }
    out.push_str(&format!(
        "\n----\n\nYour message of {} to {recipients} was not sent.\n\
         This mailbox falls under the protocol \"{}\": personal data may only go there in a 7z \
         archive encrypted with AES-256.\n\nWhat was wrong:\n",
        when(facts),
        facts.protocol_title
    ));
    e.en.iter()
        .for_each(|line| out.push_str(&format!("  - {line}\n")));
    out.push_str(&format!("\nWhat to do: {}\n", e.fix_en));
    if let Some(url) = facts.help_url {
        out.push_str(&format!("Explained with pictures: {url}\n"));
    }
    out.push_str(
        "\nDit bericht werd automatisch verstuurd door sealgate. / \
         This message was sent automatically by sealgate.\n",
    );
    out
}

fn html(facts: &NoticeFacts<'_>) -> String {
    let e = explain(facts);
    let recipients = escape(&facts.protected_recipients.join(", "));
    let title = escape(facts.protocol_title);
    let items = |lines: &[String]| -> String {
        lines
            .iter()
            .map(|l| format!("<li>{}</li>", escape(l)))
            .collect()
    };
    let link = |label: &str| {
        facts.help_url.map_or(String::new(), |url| {
            format!(
                "<p>{label}: <a href=\"{}\">{}</a></p>",
                escape_attribute(url),
                escape(url)
            )
        })
    };
    format!(
        "<!DOCTYPE html><html lang=\"nl\"><head><meta charset=\"utf-8\"><title>sealgate</title></head>\
         <body style=\"font-family:sans-serif;max-width:40em\">\
         <h2>Uw bericht werd niet verzonden</h2>\
         <p>Uw bericht van {when} aan <b>{recipients}</b> werd niet verzonden. Deze mailbox valt \
         onder het protocol &ldquo;{title}&rdquo;: persoonsgegevens mogen er enkel naartoe in een \
         met AES-256 versleuteld 7z-archief.</p>\
         <p><b>Wat er mis was:</b></p><ul>{nl}</ul><p><b>Wat u kunt doen:</b> {fix_nl}</p>{link_nl}\
         <hr><h2 lang=\"en\">Your message was not sent</h2><div lang=\"en\">\
         <p>Your message of {when} to <b>{recipients}</b> was not sent. This mailbox falls under \
         the protocol &ldquo;{title}&rdquo;: personal data may only go there in a 7z archive \
         encrypted with AES-256.</p>\
         <p><b>What was wrong:</b></p><ul>{en}</ul><p><b>What to do:</b> {fix_en}</p>{link_en}</div>\
         <p style=\"color:#666\">Dit bericht werd automatisch verstuurd door sealgate. / \
         This message was sent automatically by sealgate.</p></body></html>",
        when = when(facts),
        nl = items(&e.nl),
        en = items(&e.en),
        fix_nl = escape(&e.fix_nl),
        fix_en = escape(&e.fix_en),
        link_nl = link("Uitleg met afbeeldingen"),
        link_en = link("Explained with pictures"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(reasons: &'a [ReasonCode], unrelated: &'a [String]) -> NoticeFacts<'a> {
        NoticeFacts {
            refused_at: Local::now(),
            from: "postmaster@opgroeien.be",
            to: "jan.peeters@opgroeien.be",
            protected_recipients: std::slice::from_ref(&RECIPIENT),
            protocol_title: "Opgroeien regie -> OCMW Wervik",
            reasons,
            unrelated_recipients: unrelated,
            help_url: Some("https://intranet.opgroeien.be/7zip?a=1&b=<2>"),
            hostname: "sealgate.opgroeien.be",
            transaction_id: "tx1",
        }
    }

    static RECIPIENT: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| "kindengezin@wervik.be".to_string());

    #[test]
    fn the_notice_is_a_bilingual_alternative_with_the_facts() {
        let unrelated = vec!["extern@gmail.com".to_string()];
        let raw = build(&facts(
            &[ReasonCode::NoArchive, ReasonCode::UnrelatedRecipient],
            &unrelated,
        ))
        .unwrap();
        let message = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert_eq!(
            message.subject(),
            Some(
                "Uw bericht aan kindengezin@wervik.be werd niet verzonden / Your message was not sent"
            )
        );
        assert_eq!(
            message.header_raw("Auto-Submitted").map(str::trim),
            Some("auto-replied")
        );
        let text = message.body_text(0).unwrap();
        let nl = text.find("Wat er mis was").unwrap();
        let en = text.find("What was wrong").unwrap();
        assert!(nl < en, "Dutch first");
        assert!(text.contains("Geen versleuteld 7z-archief."));
        assert!(text.contains("extern@gmail.com"));
        assert!(text.contains("7-Zip > Add to archive"));
        let html = message.body_html(0).unwrap();
        assert!(html.contains("a=1&amp;b=&lt;2&gt;"), "escaped: {html}");
        assert!(!html.contains("<2>"));
    }
}
