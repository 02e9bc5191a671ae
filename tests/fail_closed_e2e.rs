#![cfg(feature = "real-peers")]
//! Fail closed (issue 11), real-peer tier: the hostile corpus (fixtures/hostile, made by
//! fixtures/make-hostile.py) sent through the running gateway to the byte-exact aiosmtpd sink
//! by a raw SMTP client (exact bytes, every reply as the gateway wrote it).
//!
//! Each hostile message gets 550 with its reason code in the reply's first line and never
//! reaches the sink; no message gets a 4xx (a 4xx means sealgate failed: the sender's server
//! would retry until it gives up); nothing taken from a message shows in a reply, the log or
//! the audit store; the controls laid out by real clients arrive byte-identical apart from the
//! gateway's Received header (the Outlook layout with a signature logo is refused by design);
//! every RCPT spelling of the protected mailbox is refused at RCPT or judged as protected.

mod common;
mod hostile_support;

use std::process::Command;
use std::time::Duration;

use common::raw::{Client, Reply};
use common::*;
use hostile_support::*;

/// The default configuration's policy, with the test harness's ports and store.
fn start(sink: &Sink) -> Gateway {
    let mut config = GatewayConfig::new(sink.port());
    config
        .set(
            "policy",
            "own_domains",
            "[\"opgroeien.be\", \"kindengezin.be\"]",
        )
        .append(SEED_PROTOCOL);
    config.start()
}

/// What one transaction got: the RCPT reply, and the end-of-data reply when DATA was reached.
struct Transaction {
    rcpt: Reply,
    data: Option<Reply>,
}

/// One reply to `line`, or why there was none.
fn ask(client: &mut Client, line: &str) -> Result<Reply, String> {
    client
        .try_send(format!("{line}\r\n").as_bytes())
        .map_err(|e| format!("sending {line:?}: {e}"))?;
    client
        .reply()
        .map_err(|e| format!("no reply to {line:?}: {e}"))
}

/// Dot-stuffing (RFC 5321 4.5.2) and the terminating dot; `message` ends in CRLF.
fn data_bytes(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    for line in message.split_inclusive(|&b| b == b'\n') {
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// A whole transaction on a new connection: MAIL (8BITMIME, SMTPUTF8 when asked), one RCPT,
/// and DATA with `message` when the RCPT was accepted.
fn send(
    gateway: &Gateway,
    rcpt: &str,
    smtputf8: bool,
    message: &[u8],
) -> Result<Transaction, String> {
    let (mut client, _) = Client::ehlo(gateway.port());
    let utf8 = if smtputf8 { " SMTPUTF8" } else { "" };
    let mail = ask(
        &mut client,
        &format!("MAIL FROM:<an.peeters@opgroeien.be> BODY=8BITMIME{utf8}"),
    )?;
    if mail.code != 250 {
        return Err(format!("MAIL refused: {mail:?}"));
    }
    let rcpt = ask(&mut client, &format!("RCPT TO:<{rcpt}>"))?;
    if rcpt.code != 250 {
        let _ = ask(&mut client, "QUIT");
        return Ok(Transaction { rcpt, data: None });
    }
    let go = ask(&mut client, "DATA")?;
    if go.code != 354 {
        return Err(format!("DATA refused: {go:?}"));
    }
    client
        .try_send(&data_bytes(message))
        .map_err(|e| format!("sending the message: {e}"))?;
    let data = client
        .reply()
        .map_err(|e| format!("no reply to the end of data: {e}"))?;
    let _ = ask(&mut client, "QUIT");
    Ok(Transaction {
        rcpt,
        data: Some(data),
    })
}

/// `relayed` is `sent` with the gateway's one Received header in front.
fn relayed_exactly(sent: &[u8], relayed: &[u8]) -> bool {
    let (trace, rest) = split_first_header(relayed);
    trace.starts_with(b"Received: ") && rest == sent
}

fn export(gateway: &Gateway) -> Vec<u8> {
    let output = Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .args(["audit", "export", "--format", "json", "--config"])
        .arg(gateway.config_path())
        .output()
        .expect("run sealgate audit export");
    assert!(
        output.status.success(),
        "audit export: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Sends every case of `class` to the protected mailbox and checks each answer, the sink, the
/// replies, the log and the audit store. Returns nothing; fails listing every failed case.
fn run_class(class: &str) {
    require_peers();
    let manifest = manifest();
    let cases = cases(class);
    let sink = Sink::start();
    let gateway = start(&sink);
    let mut failures = Vec::new();
    let mut relayed = 0;
    let mut replies = Vec::new();
    for case in &cases {
        let message = case.bytes();
        let before = sink.messages().len();
        let outcome = match send(&gateway, &manifest.protected, false, &message) {
            Ok(outcome) => outcome,
            Err(why) => {
                failures.push(format!("{}: {why}", case.label()));
                continue;
            }
        };
        let Some(reply) = outcome.data else {
            failures.push(format!(
                "{}: RCPT refused: {:?}",
                case.label(),
                outcome.rcpt
            ));
            continue;
        };
        let stored = sink.messages();
        let first = reply.lines.first().cloned().unwrap_or_default();
        replies.push(reply.lines.join("\n"));
        if (400..500).contains(&reply.code) {
            failures.push(format!(
                "{}: deferred with {} {first}",
                case.label(),
                reply.code
            ));
        } else if case.may_refuse && reply.code == 550 {
            if stored.len() != before {
                failures.push(format!(
                    "{}: refused, yet it reached the sink",
                    case.label()
                ));
            }
        } else if case.expects_pass() {
            if reply.code != 250 {
                failures.push(format!(
                    "{}: expected 250, got {} {first}",
                    case.label(),
                    reply.code
                ));
            } else if stored.len() != before + 1 {
                failures.push(format!(
                    "{}: 250 but the sink holds {} new message(s)",
                    case.label(),
                    stored.len() - before
                ));
            } else if !relayed_exactly(&message, &stored[before].bytes) {
                failures.push(format!("{}: arrived changed", case.label()));
            } else {
                relayed += 1;
            }
        } else if reply.code != 550 {
            failures.push(format!(
                "{}: expected 550 {:?}, got {} {first}",
                case.label(),
                case.reasons,
                reply.code
            ));
        } else if let Some(code) = case.reasons.iter().find(|r| !first.contains(r.as_str())) {
            failures.push(format!(
                "{}: 550 without {code} in its first line: {first}",
                case.label()
            ));
        } else if stored.len() != before {
            failures.push(format!(
                "{}: refused, yet it reached the sink",
                case.label()
            ));
        }
        if let Some(marker) = case.leaked_in(reply.lines.join("\n").as_bytes()) {
            failures.push(format!("{}: the reply echoes {marker:?}", case.label()));
        }
    }
    // Give a stray relay time to show, then count: only the passes reached the next hop.
    std::thread::sleep(Duration::from_millis(300));
    if sink.messages().len() != relayed {
        failures.push(format!(
            "the sink holds {} message(s), {relayed} relayed as expected",
            sink.messages().len()
        ));
    }
    // Nothing a case must not echo may be in the log, the audit store or its export.
    let mut stores = vec![("audit export".to_string(), export(&gateway))];
    for entry in std::fs::read_dir(gateway.dir())
        .unwrap()
        .filter_map(|e| e.ok())
    {
        let path = entry.path();
        if path.is_file() && path.extension().is_none_or(|e| e != "toml") {
            stores.push((
                path.display().to_string(),
                std::fs::read(&path).unwrap_or_default(),
            ));
        }
    }
    for case in &cases {
        for (name, bytes) in &stores {
            if let Some(marker) = case.leaked_in(bytes) {
                failures.push(format!("{}: {marker:?} stored in {name}", case.label()));
            }
        }
    }
    assert_none_failed(class, cases.len(), &failures);
}

#[test]
fn plain_content_under_an_encrypted_header_is_refused_over_smtp() {
    run_class("archive_plain_content");
}

#[test]
fn ambiguous_mime_is_refused_over_smtp() {
    run_class("mime_differential");
}

#[test]
fn files_carried_inside_text_are_refused_over_smtp() {
    run_class("file_in_text");
}

#[test]
fn identifiers_however_written_are_refused_over_smtp() {
    run_class("identifier");
}

#[test]
fn the_password_anywhere_in_the_message_is_refused_over_smtp() {
    run_class("password_in_message");
}

#[test]
fn non_ascii_after_a_password_label_gets_250_or_550_never_4xx() {
    run_class("non_ascii_label");
}

#[test]
fn nothing_from_the_message_reaches_a_reply_the_log_or_the_audit() {
    run_class("no_echo");
}

#[test]
fn real_client_layouts_arrive_byte_identical() {
    run_class("control");
}

#[test]
fn rcpt_spellings_of_the_protected_mailbox_are_refused_or_protected() {
    require_peers();
    let manifest = manifest();
    let sink = Sink::start();
    let gateway = start(&sink);
    let no_archive = format!(
        "From: <{}>\r\nTo: <{}>\r\nSubject: Verslag\r\nMessage-ID: <envelope.test@opgroeien.be>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGeen bijlage.\r\n",
        manifest.sender, manifest.protected
    );
    let mut failures = Vec::new();
    for spelling in &manifest.envelope {
        let label = format!("{} <{}>", spelling.variant, spelling.rcpt);
        match send(
            &gateway,
            &spelling.rcpt,
            spelling.smtputf8,
            no_archive.as_bytes(),
        ) {
            Err(why) => failures.push(format!("{label}: {why}")),
            Ok(Transaction { rcpt, data: None }) if rcpt.code >= 500 => {}
            Ok(Transaction { rcpt, data: None }) => {
                failures.push(format!("{label}: RCPT got {rcpt:?}"))
            }
            Ok(Transaction {
                data: Some(reply), ..
            }) => {
                let first = reply.lines.first().cloned().unwrap_or_default();
                if reply.code != 550 || !first.contains("no_archive") {
                    failures.push(format!(
                        "{label}: accepted at RCPT and not judged as protected: {} {first}",
                        reply.code
                    ));
                }
            }
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let relayed = sink.messages();
    if !relayed.is_empty() {
        let to: Vec<_> = relayed.iter().map(|m| m.rcpt_tos.join(",")).collect();
        failures.push(format!("relayed as ordinary mail to {to:?}"));
    }
    assert_none_failed("envelope", manifest.envelope.len(), &failures);
}
