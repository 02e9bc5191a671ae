#![cfg(feature = "real-peers")]
//! Issue 16 as staff meet it: a private Postfix is the agency's mail server (`soft_bounce = no`,
//! a local mailbox for the sender, the Dutch bounce template of deploy/postfix/bounce.nl.cf),
//! with the sealgate binary as its relayhost and `[notify]` pointing back at it. One message
//! that breaks five rules at once goes in through Postfix; what comes back into the sender's
//! mailbox is read like the sender would read it:
//!
//! - Postfix's bounce, Dutch first, with every reason's sentence in full (after Postfix joins
//!   and re-wraps the reply lines), the reason codes and the help link;
//! - sealgate's notice: multipart/alternative, plain text and HTML, Dutch first, the subject of
//!   the issue, each reason, and nothing at all of the refused message.
//!
//! Nothing reaches the sink behind sealgate.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use common::postfix::{require_postfix, PrivatePostfix};
use common::*;
use mail_parser::{Message, MessageParser, MimeHeaders};
use sealgate::policy::refusal::{self, RefusalFacts};
use sealgate::policy::ReasonCode;

const SENDER: &str = "medewerker@opgroeien.be";
const PROTECTED: &str = "kindengezin@wervik.be";
const EXTERNAL: &str = "extern@example.org";
const HELP_URL: &str = "https://intranet.opgroeien.be/7zip";
const PROTOCOL_TITLE: &str = "Opgroeien regie (lokaal team Kind en Gezin Menen) -> OCMW Wervik";
/// The password of the fixture archives (fixtures/messages/manifest.json).
const PASSWORD: &str = "Zomer-Wervik-2024!";
/// An IBAN with a valid check number (the policy's own tests use it).
const IBAN: &str = "BE68 5390 0754 7034";

/// Strings of the refused message that must never appear in the notice.
const SUBJECT_MARKER: &str = "Dossier-Marker-Subject-Q7";
const BODY_MARKER: &str = "Marker-Body-K3-huisbezoek";
const FILE_MARKER: &str = "Marker-File-Z9.pdf";

/// The five reasons the message breaks, as `sealgate check` reports them.
const REASONS: [ReasonCode; 5] = [
    ReasonCode::UnrelatedRecipient,
    ReasonCode::HeaderNotEncrypted,
    ReasonCode::PasswordInMessage,
    ReasonCode::IdentifierInText,
    ReasonCode::OtherAttachment,
];

/// The bounce and the notice: a few seconds each on this machine.
const MAILBOX_WAIT: Duration = Duration::from_secs(60);

/// The 7z attachment of a fixture: AES-256, file names visible, made by 7-Zip.
fn archive_with_visible_names() -> Vec<u8> {
    let fixture = fs::read(repo_path("fixtures/messages/archive_header_visible.eml"))
        .expect("read the fixture");
    let parsed = MessageParser::default()
        .parse(&fixture)
        .expect("the fixture parses");
    let archive = parsed
        .attachments()
        .find(|a| a.attachment_name() == Some("verslag.7z"))
        .expect("the fixture carries verslag.7z")
        .contents()
        .to_vec();
    archive
}

/// A message to the protected mailbox with an external Cc, the archive's password in the body,
/// an IBAN in the subject and the body, a PDF beside an archive whose file names can be read.
fn five_rule_message() -> String {
    let archive = base64::engine::general_purpose::STANDARD.encode(archive_with_visible_names());
    let archive = archive
        .as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n");
    format!(
        "From: Medewerker <{SENDER}>\r\nTo: {PROTECTED}\r\nCc: {EXTERNAL}\r\n\
         Subject: {SUBJECT_MARKER} {IBAN}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Beste collega,\r\n\r\nIn bijlage {BODY_MARKER}, rekening {IBAN}.\r\n\
         Het wachtwoord is: {PASSWORD}\r\n\r\n\
         --b1\r\nContent-Type: application/x-7z-compressed\r\n\
         Content-Disposition: attachment; filename=\"verslag.7z\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{archive}\r\n\
         --b1\r\nContent-Type: application/pdf; name=\"{FILE_MARKER}\"\r\n\
         Content-Disposition: attachment; filename=\"{FILE_MARKER}\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n\
         JVBERi0xLjQKJcOkw7zDtsOfCjEgMCBvYmoKPDwvVHlwZS9DYXRhbG9nPj4KZW5kb2JqCg==\r\n--b1--\r\n"
    )
}

fn gateway_config(sink_port: u16, postfix_port: u16) -> GatewayConfig {
    let mut config = GatewayConfig::new(sink_port);
    config
        .set("policy", "own_domains", "[\"opgroeien.be\"]")
        .set("policy", "help_url", &format!("\"{HELP_URL}\""))
        .set("notify", "enabled", "true")
        .set("notify", "from", "\"postmaster@opgroeien.be\"")
        .set(
            "notify",
            "next_hop",
            &format!("\"smtp://127.0.0.1:{postfix_port}\""),
        )
        .append(SEED_PROTOCOL);
    config
}

/// The agency's server: bounces (no soft_bounce) with the shipped Dutch template, and delivers
/// mail for opgroeien.be into Maildirs under its temp dir (the virtual delivery agent, as the
/// user nobody: no local account needed).
fn agency_postfix(gateway_port: u16, port: u16) -> PrivatePostfix {
    let template = repo_path("deploy/postfix/bounce.nl.cf");
    PrivatePostfix::start_with(gateway_port, port, |root| {
        let mail = root.join("mail");
        fs::create_dir_all(&mail).expect("create the mailbox base");
        let chown = Command::new("chown")
            .arg("nobody:nogroup")
            .arg(&mail)
            .status()
            .expect("run chown");
        assert!(chown.success(), "chown nobody {}", mail.display());
        vec![
            "soft_bounce=no".into(),
            format!("bounce_template_file={}", template.display()),
            "virtual_mailbox_domains=opgroeien.be".into(),
            format!("virtual_mailbox_base={}", mail.display()),
            format!("virtual_mailbox_maps=inline:{{ {SENDER}=medewerker/ }}"),
            "virtual_uid_maps=static:65534".into(),
            "virtual_gid_maps=static:65534".into(),
        ]
    })
}

/// The messages in the sender's Maildir.
fn mailbox(postfix: &PrivatePostfix) -> Vec<Vec<u8>> {
    let maildir = postfix.root().join("mail/medewerker");
    let mut files: Vec<PathBuf> = ["new", "cur"]
        .iter()
        .filter_map(|d| fs::read_dir(maildir.join(d)).ok())
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    files.iter().filter_map(|f| fs::read(f).ok()).collect()
}

/// Runs of whitespace as one space: Postfix joins the reply's lines and re-wraps them.
fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn assert_contains(haystack: &str, needle: &str, what: &str) {
    assert!(
        haystack.contains(&normalise(needle)),
        "{what} lacks {needle:?}:\n{haystack}"
    );
}

/// What sealgate explains for the five reasons, as the notice words it: each reason's Dutch and
/// English sentence, and the fixes. (The reply words them the same, except that it names the
/// external addresses only in Dutch.)
fn expected_sentences() -> (Vec<refusal::Sentences>, String, String) {
    let overrides = Default::default();
    let unrelated = [EXTERNAL.to_string()];
    let explained = refusal::explain(&RefusalFacts {
        reasons: &REASONS,
        unrelated_recipients: &unrelated,
        help_url: Some(HELP_URL),
        protocol: PROTOCOL_TITLE,
        overrides: &overrides,
    });
    let (fix_nl, fix_en) = refusal::what_to_do(&REASONS);
    (explained, fix_nl, fix_en)
}

/// `sealgate check --json` on the message: the reasons the gateway reports (sorted) and the
/// text lines of its 550.
fn checked(gateway: &Gateway, message: &Path) -> (Vec<String>, Vec<String>) {
    let output = Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .arg("check")
        .arg("--config")
        .arg(gateway.config_path())
        .args([
            "--from", SENDER, "--rcpt", PROTECTED, "--rcpt", EXTERNAL, "--json",
        ])
        .arg(message)
        .output()
        .expect("run sealgate check");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "sealgate check --json: {e}\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let mut reasons: Vec<String> = json["reasons"]
        .as_array()
        .unwrap_or_else(|| panic!("no reasons in {json}"))
        .iter()
        .filter_map(|r| r.as_str().or_else(|| r["code"].as_str()))
        .map(str::to_string)
        .collect();
    reasons.sort();
    let lines = json["smtp_reply"]["lines"]
        .as_array()
        .unwrap_or_else(|| panic!("no smtp_reply in {json}"))
        .iter()
        .filter_map(|l| l.as_str().map(str::to_string))
        .collect();
    (reasons, lines)
}

fn is_notice(message: &Message<'_>) -> bool {
    message
        .subject()
        .is_some_and(|s| s.starts_with("Uw bericht aan"))
}

#[test]
fn five_broken_rules_bounce_in_full_and_the_notice_tells_nothing_of_the_message() {
    require_postfix();
    require_peers();
    let scratch = tempfile::TempDir::new().expect("temp dir");
    let message = scratch.path().join("five.eml");
    fs::write(&message, five_rule_message()).expect("write the message");

    let sink = Sink::start();
    let postfix_port = free_port();
    let gateway = gateway_config(sink.port(), postfix_port).start();
    let mut expected_codes: Vec<String> = REASONS.iter().map(|r| r.as_str().to_string()).collect();
    expected_codes.sort();
    let (reasons, reply) = checked(&gateway, &message);
    assert_eq!(
        reasons, expected_codes,
        "the message breaks exactly the five rules"
    );
    let postfix = agency_postfix(gateway.port(), postfix_port);

    // The template the agency's server uses passes postconf's own check.
    let preview = Command::new("postconf")
        .arg("-c")
        .arg(postfix.config_dir())
        .arg("-b")
        .output()
        .expect("run postconf -b");
    let preview_err = String::from_utf8_lossy(&preview.stderr);
    assert!(
        preview.status.success() && preview_err.trim().is_empty(),
        "postconf -b: {preview_err}"
    );
    assert!(String::from_utf8_lossy(&preview.stdout).contains("NL: Uw bericht werd NIET verzonden"));

    let data = format!("@{}", message.display());
    swaks(&[
        "--server",
        &postfix.server(),
        "--from",
        SENDER,
        "--to",
        &format!("{PROTECTED},{EXTERNAL}"),
        "--data",
        &data,
    ])
    .assert_ok();

    let delivered = wait_until(MAILBOX_WAIT, || {
        let messages = mailbox(&postfix);
        (messages.len() >= 2).then_some(messages)
    })
    .unwrap_or_else(|| {
        panic!(
            "the bounce and the notice did not both arrive; mailbox: {:?}\ngateway log:\n{}",
            mailbox(&postfix)
                .iter()
                .map(|m| String::from_utf8_lossy(m).into_owned())
                .collect::<Vec<_>>(),
            gateway.log()
        )
    });
    assert_eq!(delivered.len(), 2, "one bounce, one notice");
    let parser = MessageParser::default();
    let parsed: Vec<Message<'_>> = delivered
        .iter()
        .map(|m| parser.parse(m).expect("a delivered message parses"))
        .collect();
    let (notice, bounce) = match is_notice(&parsed[0]) {
        true => (&parsed[0], &parsed[1]),
        false => (&parsed[1], &parsed[0]),
    };
    let (sentences, fix_nl, fix_en) = expected_sentences();

    // The bounce: Dutch first, every reason in full, the codes, the help link.
    assert_eq!(
        bounce.subject(),
        Some("Niet verzonden / Undelivered Mail Returned to Sender")
    );
    let human = bounce.body_text(0).expect("the bounce's text part");
    assert!(
        human.starts_with("NL: Uw bericht werd NIET verzonden"),
        "{human}"
    );
    let human = normalise(&human);
    assert!(
        reply.iter().all(|l| !l.contains("(+")),
        "every reason explained in the reply: {reply:?}"
    );
    for line in &reply {
        assert_contains(&human, line, "the bounce");
    }
    for sentence in &sentences {
        assert_contains(&human, &sentence.nl, "the bounce");
    }
    assert_contains(&human, &fix_nl, "the bounce");
    assert_contains(&human, &fix_en, "the bounce");
    assert_contains(
        &human,
        &format!("[sealgate: {}]", codes_in_reply_order()),
        "the bounce",
    );
    assert_contains(&human, &format!("Info: {HELP_URL}"), "the bounce");
    assert!(!human.contains(" meer)"), "no sentence left out: {human}");
    println!(
        "--- bounce (text part) ---\n{}",
        bounce.body_text(0).unwrap()
    );

    // The notice: multipart/alternative, text then HTML, Dutch first, nothing of the message.
    let raw_notice = String::from_utf8_lossy(notice.raw_message());
    assert_eq!(
        notice.subject(),
        Some(
            "Uw bericht aan kindengezin@wervik.be werd niet verzonden / Your message was not sent"
        )
    );
    let root = notice
        .content_type()
        .expect("the notice has a Content-Type");
    assert_eq!(
        (root.ctype(), root.subtype()),
        ("multipart", Some("alternative")),
        "{raw_notice}"
    );
    let types: Vec<String> = notice
        .parts
        .iter()
        .skip(1)
        .filter_map(|p| p.content_type())
        .map(|t| format!("{}/{}", t.ctype(), t.subtype().unwrap_or_default()))
        .collect();
    assert_eq!(types, ["text/plain", "text/html"], "{raw_notice}");
    let text = notice.body_text(0).expect("the notice's text part");
    let html = notice.body_html(0).expect("the notice's HTML part");
    let dutch = text.find("Wat er mis was").expect("Dutch part");
    let english = text.find("What was wrong").expect("English part");
    assert!(dutch < english, "Dutch first: {text}");
    let plain = normalise(&text);
    for sentence in &sentences {
        assert_contains(&plain, &sentence.nl, "the notice");
        assert_contains(&plain, &sentence.en, "the notice");
    }
    assert_contains(&plain, &fix_nl, "the notice");
    assert_contains(&plain, &fix_en, "the notice");
    assert_contains(&plain, HELP_URL, "the notice");
    assert!(html.contains("Uw bericht werd niet verzonden"), "{html}");
    let compact_iban = IBAN.replace(' ', "");
    for marker in [
        SUBJECT_MARKER,
        BODY_MARKER,
        FILE_MARKER,
        IBAN,
        &compact_iban,
        PASSWORD,
        "verslag",
    ] {
        for (what, body) in [("raw", &*raw_notice), ("text", &*text), ("html", &*html)] {
            assert!(
                !body.contains(marker),
                "the notice ({what}) carries {marker:?}:\n{body}"
            );
        }
    }
    println!("--- notice (text part) ---\n{text}");

    // Nothing went past sealgate, and Postfix has nothing left to do.
    let empty = wait_until(ARRIVAL, || postfix.queue().is_empty().then_some(()));
    assert!(empty.is_some(), "still queued: {:?}", postfix.queue());
    assert!(
        sink.messages().is_empty(),
        "the refused message was relayed"
    );
    assert_eq!(
        mailbox(&postfix).len(),
        2,
        "exactly one bounce and one notice"
    );
}

/// The codes as the reply's first line names them (most useful first).
fn codes_in_reply_order() -> String {
    refusal::reasons_to_explain(&REASONS)
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}
