//! The report by mail: one MIME message (the HTML page, the text summary as its plain-text
//! alternative, and the JSON as an attachment) sent through the next hop with the same typed
//! client as everything else the gateway sends.
//!
//! Only the report goes in: metadata a DPO already sees in `audit report`, never a message's
//! contents. A next hop that refuses any step (greeting, MAIL, a recipient, the data) makes
//! [`send`] fail naming the step and the reply, so a timer's run fails visibly instead of
//! losing the month's report.

use chrono::Utc;
use mail_builder::headers::address::Address;
use mail_builder::MessageBuilder;

use crate::audit::report::{render_text, Report};
use crate::relay::{MailParams, NextHop, NextHopClient, RcptParams, RelayError, RelaySettings};
use crate::reply::Reply;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("cannot write the report message: {0}")]
    Write(#[from] std::io::Error),
    #[error("cannot write the report as JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("no recipient for the report: give --mail-to ADDR")]
    NoRecipient,
    #[error("refusing to mail to {0:?}: an address has no control characters")]
    BadAddress(String),
    #[error("refusing to write {0:?} into the Message-ID: only letters, digits, '.', '-' and '_'")]
    BadMessageId(String),
    #[error(transparent)]
    Relay(#[from] RelayError),
    #[error("the next hop refused {stage}: {reply}")]
    Refused { stage: String, reply: String },
}

/// What the message is built from.
#[derive(Debug, Clone, Copy)]
pub struct ReportMail<'a> {
    pub report: &'a Report,
    /// The From header: `notify.from`, else `sealgate@<smtp.hostname>`.
    pub from: &'a str,
    pub to: &'a [String],
    /// For the Message-ID.
    pub hostname: &'a str,
}

/// The attachment's file name, e.g. `sealgate-report-2026-11.json`.
pub fn attachment_name(report: &Report) -> String {
    format!("sealgate-report-{}.json", report.period)
}

/// The message as RFC 5322 bytes (CRLF line ends): multipart/mixed of a multipart/alternative
/// (text/plain, text/html) and the application/json attachment.
pub fn build(mail: &ReportMail<'_>) -> Result<Vec<u8>, MailError> {
    if mail.to.is_empty() {
        return Err(MailError::NoRecipient);
    }
    for address in mail.to.iter().map(String::as_str).chain([mail.from]) {
        if address.chars().any(char::is_control) {
            return Err(MailError::BadAddress(address.to_string()));
        }
    }
    let report = mail.report;
    // The Message-ID header is written as given (mail-builder encodes only the Subject and
    // the file name): its parts must be plain, or a CR LF in them would start a header.
    for part in [report.period.as_str(), mail.hostname] {
        if part.is_empty() || !part.chars().all(is_message_id_char) {
            return Err(MailError::BadMessageId(part.to_string()));
        }
    }
    let status = if report.chain.verifies {
        "keten klopt / chain verifies"
    } else {
        "KETEN KLOPT NIET / CHAIN BROKEN"
    };
    let subject = format!(
        "sealgate auditrapport / audit report {} ({status})",
        report.period
    );
    let now = Utc::now();
    let message = MessageBuilder::new()
        .from(Address::new_address(Some("sealgate"), mail.from))
        .to(mail
            .to
            .iter()
            .map(|a| Address::new_address(None::<&str>, a.as_str()))
            .collect::<Vec<_>>())
        .subject(subject)
        .date(now.timestamp())
        .message_id(format!(
            "report.{}.{}@{}",
            report.period,
            now.timestamp(),
            mail.hostname
        ))
        .header(
            "Auto-Submitted",
            mail_builder::headers::raw::Raw::new("auto-generated"),
        )
        .text_body(render_text(report))
        .html_body(super::html(report))
        .attachment(
            "application/json",
            attachment_name(report),
            super::json(report)?.into_bytes(),
        );
    Ok(message.write_to_vec()?)
}

/// What the Message-ID's parts (the period, the host name) may hold.
fn is_message_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
}

/// Sends `message` from `sender` (empty: the null reverse path) to every address of `to`
/// through `relay`; every recipient must be accepted.
pub async fn send(
    relay: &RelaySettings,
    sender: &str,
    to: &[String],
    message: &[u8],
) -> Result<(), MailError> {
    if to.is_empty() {
        return Err(MailError::NoRecipient);
    }
    let mut hop: Box<dyn NextHop> = Box::new(NextHopClient::connect(relay).await?);
    let steps = async {
        let params = MailParams {
            size: message.len(),
            body_8bit: true,
            smtputf8: false,
        };
        accepted(
            hop.mail(sender, params).await?,
            format!("MAIL FROM:<{sender}>"),
        )?;
        for address in to {
            accepted(
                hop.rcpt(address, RcptParams).await?,
                format!("RCPT TO:<{address}>"),
            )?;
        }
        accepted(hop.data(b"", message).await?, "the message".into())
    };
    let outcome = steps.await;
    hop.quit().await;
    outcome
}

fn accepted(reply: Reply, stage: String) -> Result<(), MailError> {
    if reply.code / 100 == 2 {
        Ok(())
    } else {
        Err(MailError::Refused {
            stage,
            reply: reply.to_string(),
        })
    }
}
