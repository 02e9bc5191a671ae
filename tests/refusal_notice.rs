//! The refusal reply and notice (issue 16), in-process: the 550 is compact, Dutch first, with
//! the help link; when `[notify]` is on, a bilingual notice goes to the sender through the
//! notice's next hop after the 550, with the null reverse path and nothing of the refused
//! message; a looping sender gets at most its hourly share.

mod inprocess;

use std::time::Duration;

use inprocess::*;
use sealgate::policy::refusal::{MAX_REPLY_BYTES, MAX_REPLY_LINES};

const FROM: &str = "an.peeters@opgroeien.be";
const PROTECTED: &str = "kindengezin@wervik.be";
const MARKER: &str = "Jan-Peeters-Kerkstraat-1-Wervik";

fn notifying(per_hour: usize) -> TestGateway {
    let mut config = TestConfig::default();
    config
        .set(
            "policy",
            "help_url",
            "\"https://intranet.opgroeien.be/7zip\"",
        )
        .set("notify", "enabled", "true")
        .set("notify", "from", "\"postmaster@opgroeien.be\"")
        .set("notify", "next_hop", "\"smtp://127.0.0.1:10026\"")
        .set("notify", "per_sender_per_hour", &per_hour.to_string());
    TestGateway::with_config(config)
}

/// A message that breaks several rules and carries marker strings in its subject, body and
/// attachment name.
fn bad_message() -> Vec<u8> {
    format!(
        "From: An Peeters <{FROM}>\r\nTo: {PROTECTED}\r\nSubject: Dossier {MARKER}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Zie bijlage over {MARKER}.\r\n--b1\r\nContent-Type: application/pdf; name=\"{MARKER}.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"{MARKER}.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         JVBERi0xLjQKJcOkw7zDtsOfCjEgMCBvYmoKPDwvVHlwZS9DYXRhbG9nPj4KZW5kb2JqCg==\r\n--b1--\r\n"
    )
    .into_bytes()
}

async fn wait_for_notices(gateway: &TestGateway, n: usize) -> Vec<Vec<u8>> {
    wait_until(|| gateway.relayed().len() >= n).await;
    gateway
        .relayed()
        .into_iter()
        .map(|(_, message)| message)
        .collect()
}

#[tokio::test]
async fn the_refusal_is_compact_and_the_notice_reaches_the_sender() {
    let gateway = notifying(5);
    let (mut smtp, _session) = gateway.ready().await;
    let got = smtp.send_mail(FROM, &[PROTECTED], &bad_message()).await;
    got.assert(550, Some("5.7.1"));
    assert!(got.lines[0].starts_with("NL: "), "{got:?}");
    assert!(got.lines[0].contains("[sealgate: no_archive"), "{got:?}");
    assert!(got.lines.len() <= MAX_REPLY_LINES, "{got:?}");
    let wire: usize = got.lines.iter().map(|l| l.len() + 12).sum();
    assert!(wire <= MAX_REPLY_BYTES, "{wire}");
    assert!(got.text().contains("https://intranet.opgroeien.be/7zip"));
    assert!(!got.text().contains(MARKER));

    let notices = wait_for_notices(&gateway, 1).await;
    assert_eq!(
        notices.len(),
        1,
        "one notice, the refused message never relayed"
    );
    let commands = gateway.commands();
    assert!(
        commands.contains(&"MAIL ".to_string()),
        "null reverse path: {commands:?}"
    );
    assert!(commands.contains(&format!("RCPT {FROM}")), "{commands:?}");
    let notice = String::from_utf8_lossy(&notices[0]);
    assert!(
        !notice.contains(MARKER),
        "nothing of the refused message: {notice}"
    );
    let parsed = mail_parser::MessageParser::default()
        .parse(&notices[0])
        .expect("the notice parses");
    assert_eq!(
        parsed.subject(),
        Some(
            "Uw bericht aan kindengezin@wervik.be werd niet verzonden / Your message was not sent"
        )
    );
    let text = parsed.body_text(0).expect("a text part");
    let html = parsed.body_html(0).expect("an HTML part");
    assert!(text.find("Wat er mis was").unwrap() < text.find("What was wrong").unwrap());
    assert!(text.contains("https://intranet.opgroeien.be/7zip"));
    assert!(html.contains("Uw bericht werd niet verzonden"));
}

#[tokio::test]
async fn a_looping_sender_gets_its_hourly_share_of_notices_only() {
    let gateway = notifying(2);
    for _ in 0..5 {
        let (mut smtp, _session) = gateway.ready().await;
        smtp.send_mail(FROM, &[PROTECTED], &bad_message())
            .await
            .assert(550, Some("5.7.1"));
    }
    let notices = wait_for_notices(&gateway, 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(notices.len(), 2);
    assert_eq!(gateway.relayed().len(), 2);
}

#[tokio::test]
async fn no_notice_when_notify_is_off_or_for_ordinary_refusals() {
    let gateway = TestGateway::start(Options::default());
    let (mut smtp, _session) = gateway.ready().await;
    smtp.send_mail(FROM, &[PROTECTED], &bad_message())
        .await
        .assert(550, Some("5.7.1"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(gateway.relayed().is_empty());
}
