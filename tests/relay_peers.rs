#![cfg(feature = "real-peers")]
//! The harness checked against the peers alone, without the gateway: swaks straight at the
//! sink, and the private Postfix relaying to the sink. If these fail, a gateway test's failure
//! says nothing about the gateway.

mod common;

use common::postfix::{require_postfix, PrivatePostfix};
use common::*;

#[test]
fn swaks_data_file_reaches_the_sink_byte_exact() {
    require_peers();
    let sink = Sink::start();
    let dir = tempfile::TempDir::new().unwrap();
    let message = mime_message("a@agency.test", "b@example.org", &binary_bytes(5000, 7));
    let file = dir.path().join("message.eml");
    std::fs::write(&file, &message).unwrap();
    let server = format!("127.0.0.1:{}", sink.port());
    let run = swaks(&[
        "--server",
        &server,
        "--from",
        "a@agency.test",
        "--to",
        "b@example.org",
        "--data",
        &format!("@{}", file.display()),
    ]);
    run.assert_ok();
    let stored = sink.wait_for(1, ARRIVAL);
    assert_eq!(stored[0].mail_from, "a@agency.test");
    assert_eq!(stored[0].rcpt_tos, vec!["b@example.org"]);
    // swaks appends CRLF.CRLF; the message already ends in CRLF, so one empty line is added.
    let mut expected = message.clone();
    expected.extend_from_slice(b"\r\n");
    assert_eq!(stored[0].bytes, expected);
}

#[test]
fn sink_misbehaves_as_asked() {
    require_peers();
    let sink = Sink::options()
        .rcpt_reply("busy@example.org", "450 4.2.1 mailbox busy")
        .rcpt_reply("gone@example.org", "550 5.1.1 no such user")
        .data_reply("554 5.6.0 refused")
        .start();
    let server = format!("127.0.0.1:{}", sink.port());
    let run = swaks(&[
        "--server",
        &server,
        "--from",
        "a@agency.test",
        "--to",
        "busy@example.org,gone@example.org,ok@example.org",
    ]);
    assert!(run.has_reply("450 4.2.1"), "{}", run.transcript);
    assert!(run.has_reply("550 5.1.1"), "{}", run.transcript);
    assert!(run.has_reply("554 5.6.0"), "{}", run.transcript);
    assert!(sink.messages().is_empty());
}

#[test]
fn postfix_relays_to_the_sink() {
    require_peers();
    require_postfix();
    let sink = Sink::start();
    let postfix = PrivatePostfix::start(sink.port());
    let run = swaks(&[
        "--server",
        &postfix.server(),
        "--from",
        "staff@agency.test",
        "--to",
        "someone@example.org",
        "--header",
        "Subject: via postfix",
    ]);
    run.assert_ok();
    let stored = sink.wait_for(1, ARRIVAL);
    assert_eq!(stored[0].rcpt_tos, vec!["someone@example.org"]);
    assert!(String::from_utf8_lossy(&stored[0].bytes).contains("Subject: via postfix"));
}
