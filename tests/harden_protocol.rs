//! Issue 12, protocol edges, ids and reload, in-process: an overflowing `SIZE=` and
//! `BODY=BINARYMIME` are refused at MAIL, transaction ids are unique and name the instance,
//! and a mailbox added by a reload is protected on a connection opened before it.

mod inprocess;

use std::collections::HashSet;

use inprocess::*;

const FROM: &str = "sender@opgroeien.be";
const TO: &str = "someone@example.org";

#[tokio::test]
async fn an_overflowing_size_gets_552_5_3_4_never_250() {
    let gateway = TestGateway::start(Options::default());
    let (mut smtp, _session) = gateway.ready().await;
    for size in [
        "99999999999999999999999",
        "18446744073709551616",
        "184467440737095516150",
    ] {
        smtp.command(&format!("MAIL FROM:<{FROM}> SIZE={size}"))
            .await
            .assert(552, Some("5.3.4"));
    }
    // Not a number: a syntax error, still never 250.
    let got = smtp.command(&format!("MAIL FROM:<{FROM}> SIZE=12x")).await;
    assert_eq!(got.code, 501, "{got:?}");
    // The session goes on, and an honest SIZE is taken.
    smtp.command(&format!("MAIL FROM:<{FROM}> SIZE=1000"))
        .await
        .assert(250, Some("2.1.0"));
}

#[tokio::test]
async fn binarymime_with_data_gets_504_5_5_4() {
    let gateway = TestGateway::start(Options::default());
    let (mut smtp, _session) = gateway.ready().await;
    smtp.command(&format!("MAIL FROM:<{FROM}> BODY=BINARYMIME"))
        .await
        .assert(504, Some("5.5.4"));
    smtp.command(&format!("MAIL FROM:<{FROM}> body=binarymime SIZE=10"))
        .await
        .assert(504, Some("5.5.4"));
    // Nothing was started: RCPT has no transaction, and a normal MAIL works.
    smtp.command(&format!("RCPT TO:<{TO}>"))
        .await
        .assert(503, None);
    smtp.send_mail(FROM, &[TO], &ordinary_message("8bit is fine"))
        .await
        .assert(250, None);
    assert_eq!(gateway.relayed().len(), 1);
}

#[test]
fn ten_thousand_transaction_ids_are_unique_and_name_the_instance() {
    let ids: Vec<String> = (0..10_000)
        .map(|_| sealgate::transfer::transaction_id("gw-b"))
        .collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len());
    assert!(ids.iter().all(|id| id.starts_with("gw-b.")), "{}", ids[0]);
    // Two instances in the same microsecond still differ.
    assert_ne!(
        sealgate::transfer::transaction_id("gw-a"),
        sealgate::transfer::transaction_id("gw-b")
    );
    // An instance name cannot break the Received header's id token.
    let odd = sealgate::transfer::transaction_id("a b;\r\nc");
    assert!(odd.starts_with("a-b---c."), "{odd}");
}

#[tokio::test]
async fn the_received_header_carries_an_id_with_the_instance_name() {
    let mut config = TestConfig::default();
    config.set("audit", "instance", "\"sealgate-7\"");
    let gateway = TestGateway::with_config(config);
    let (mut smtp, _session) = gateway.ready().await;
    smtp.send_mail(FROM, &[TO], &ordinary_message("id"))
        .await
        .assert(250, None);
    let (trace, _) = &gateway.relayed()[0];
    let trace = String::from_utf8_lossy(trace);
    assert!(trace.contains(" id sealgate-7."), "{trace}");
}

/// Issue 12 item 4: after a reload that adds a protected mailbox, a connection opened before
/// the reload gets the new protection at its next transaction.
#[tokio::test]
async fn a_mailbox_added_by_reload_is_protected_on_an_open_connection() {
    let gateway = TestGateway::start(Options::default());
    let (mut smtp, _session) = gateway.ready().await;
    let newly = "jeugdhulp@wervik.be";
    smtp.send_mail(FROM, &[newly], &ordinary_message("before"))
        .await
        .assert(250, None);
    let mut added = gateway.config.clone();
    added.protocols[0].mailboxes.push(newly.to_string());
    let settings = sealgate::gateway::Settings::build(added).expect("settings");
    gateway.core.gateway.replace_settings(settings);
    let got = smtp
        .send_mail(FROM, &[newly], &fixture_message("no_attachment.eml"))
        .await;
    got.assert(550, Some("5.7.1"));
    assert!(got.lines[0].contains("no_archive"), "{got:?}");
    assert_eq!(
        gateway.relayed().len(),
        1,
        "only the message before the reload"
    );
}
