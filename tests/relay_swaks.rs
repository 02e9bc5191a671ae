#![cfg(feature = "real-peers")]
//! End to end with swaks as the client, the gateway in the middle and the byte-exact sink
//! (tests/peers/sink.py) as the next hop.

mod common;

use common::*;
use tempfile::TempDir;

const FROM: &str = "staff@agency.test";
const TO: &str = "someone@example.org";

fn write_file(dir: &TempDir, name: &str, bytes: &[u8]) -> String {
    let file = dir.path().join(name);
    std::fs::write(&file, bytes).unwrap();
    format!("@{}", file.display())
}

/// Plain swaks run from FROM to `to` through the gateway, with extra arguments.
fn send(gateway: &Gateway, to: &str, extra: &[&str]) -> SwaksRun {
    let server = gateway.server();
    let mut args = vec!["--server", &server, "--from", FROM, "--to", to];
    args.extend_from_slice(extra);
    swaks(&args)
}

#[test]
fn a_message_with_a_binary_attachment_arrives_byte_identical_after_the_trace_header() {
    require_peers();
    let sink = Sink::start();
    let gateway = GatewayConfig::new(sink.port()).start();
    let dir = TempDir::new().unwrap();
    let message = mime_message(FROM, TO, &binary_bytes(200_000, 1));
    let run = send(
        &gateway,
        TO,
        &["--data", &write_file(&dir, "m.eml", &message)],
    );
    run.assert_ok();
    let reply = run.data_reply().unwrap_or_default();
    assert!(reply.starts_with("250 "), "{}", run.transcript);
    let stored = sink.wait_for(1, ARRIVAL);
    assert_eq!(stored[0].mail_from, FROM);
    assert_eq!(stored[0].rcpt_tos, vec![TO]);
    let mut sent = message.clone();
    sent.extend_from_slice(b"\r\n"); // swaks adds an empty line before CRLF.CRLF
    assert_relayed_exactly(&sent, &stored[0].bytes);
    let log = gateway.log();
    assert!(
        log.contains("outcome=\"relayed\"") || log.contains("relayed"),
        "no transaction summary in the log:\n{log}"
    );
}

#[test]
fn a_swaks_attachment_decodes_to_the_original_file() {
    require_peers();
    let sink = Sink::start();
    let gateway = GatewayConfig::new(sink.port()).start();
    let dir = TempDir::new().unwrap();
    let original = binary_bytes(64 * 1024 + 17, 42);
    let attach = write_file(&dir, "report.bin", &original);
    let run = send(
        &gateway,
        TO,
        &[
            "--attach-type",
            "application/octet-stream",
            "--attach",
            &attach,
        ],
    );
    run.assert_ok();
    let stored = sink.wait_for(1, ARRIVAL);
    let (_, body) = split_first_header(&stored[0].bytes);
    let parsed = mail_parser::MessageParser::default()
        .parse(body)
        .expect("relayed message parses");
    let attachment = parsed.attachments().next().expect("an attachment");
    assert_eq!(attachment.contents(), &original[..]);
}

#[test]
fn swaks_pipelining_is_answered_in_order() {
    require_peers();
    let sink = Sink::start();
    let gateway = GatewayConfig::new(sink.port()).start();
    let run = send(
        &gateway,
        &format!("{TO},second@example.org"),
        &["--pipeline", "--header", "Subject: pipelined"],
    );
    run.assert_ok();
    assert!(run.has_reply("250-PIPELINING"), "{}", run.transcript);
    let stored = sink.wait_for(1, ARRIVAL);
    assert_eq!(stored[0].rcpt_tos, vec![TO, "second@example.org"]);
    assert!(String::from_utf8_lossy(&stored[0].bytes).contains("Subject: pipelined"));
}

#[test]
fn next_hop_down_gives_451_at_rcpt_and_the_retry_arrives_once_it_is_up() {
    require_peers();
    let hop_port = free_port();
    let gateway = GatewayConfig::new(hop_port).start();
    let run = send(&gateway, TO, &["--header", "Subject: first try"]);
    assert_eq!(
        run.code(),
        24,
        "swaks should fail at RCPT (the next hop is opened there):\n{}",
        run.transcript
    );
    assert!(run.has_reply("451 4.4.1"), "{}", run.transcript);
    assert!(!run.has_reply("250 2.0.0"), "{}", run.transcript);

    let sink = Sink::options().port(hop_port).start();
    let retry = send(&gateway, TO, &["--header", "Subject: first try"]);
    retry.assert_ok();
    let stored = sink.wait_for(1, ARRIVAL);
    assert_eq!(stored.len(), 1);
    assert!(String::from_utf8_lossy(&stored[0].bytes).contains("Subject: first try"));
}

#[test]
fn rcpt_refusals_of_the_next_hop_are_mirrored_per_recipient() {
    require_peers();
    let sink = Sink::options()
        .rcpt_reply("busy@example.org", "450 4.2.1 mailbox busy")
        .rcpt_reply("gone@example.org", "550 5.1.1 no such user")
        .start();
    let gateway = GatewayConfig::new(sink.port()).start();
    let run = send(
        &gateway,
        &format!("busy@example.org,gone@example.org,{TO}"),
        &[],
    );
    run.assert_ok(); // one recipient was accepted, so the message went
    assert!(run.has_reply("450 4.2.1"), "{}", run.transcript);
    assert!(run.has_reply("550 5.1.1"), "{}", run.transcript);
    let stored = sink.wait_for(1, ARRIVAL);
    assert_eq!(stored[0].rcpt_tos, vec![TO]);
}

#[test]
fn only_refused_recipients_means_no_data() {
    require_peers();
    let sink = Sink::options()
        .rcpt_reply(TO, "550 5.1.1 no such user")
        .start();
    let gateway = GatewayConfig::new(sink.port()).start();
    let run = send(&gateway, TO, &[]);
    assert_eq!(run.code(), 24, "no recipient accepted:\n{}", run.transcript);
    assert!(run.has_reply("550 5.1.1"), "{}", run.transcript);
    assert!(sink.messages().is_empty());
}

fn end_of_data_reply_is_mirrored(reply: &str) {
    require_peers();
    let sink = Sink::options().data_reply(reply).start();
    let gateway = GatewayConfig::new(sink.port()).start();
    let run = send(&gateway, TO, &[]);
    assert_eq!(
        run.code(),
        26,
        "swaks should fail after the data (exit {}):\n{}",
        run.code(),
        run.transcript
    );
    assert_eq!(
        run.data_reply().as_deref(),
        Some(reply),
        "{}",
        run.transcript
    );
    assert!(sink.messages().is_empty());
}

#[test]
fn a_4xx_at_end_of_data_is_mirrored() {
    end_of_data_reply_is_mirrored("451 4.3.0 try again later");
}

#[test]
fn a_5xx_at_end_of_data_is_mirrored() {
    end_of_data_reply_is_mirrored("554 5.6.0 content refused");
}

#[test]
fn next_hop_closing_mid_data_gives_451() {
    require_peers();
    let sink = Sink::options().close_in_data().start();
    let gateway = GatewayConfig::new(sink.port()).start();
    let run = send(
        &gateway,
        TO,
        &["--attach", "@/dev/null", "--body", &"x".repeat(5000)],
    );
    assert_eq!(run.code(), 26, "{}", run.transcript);
    let reply = run.data_reply().unwrap_or_default();
    assert!(reply.starts_with("451 4.4.2"), "{}", run.transcript);
    assert!(sink.messages().is_empty());
    // The gateway is still there for the next message.
    let second = send(&gateway, TO, &["--quit-after", "EHLO"]);
    second.assert_ok();
}

#[test]
fn next_hop_stalling_after_data_gives_451() {
    require_peers();
    let sink = Sink::options().stall_data(20).start();
    let mut config = GatewayConfig::new(sink.port());
    config.set("relay", "data_timeout_seconds", "2");
    let gateway = config.start();
    let run = send(&gateway, TO, &[]);
    assert_eq!(run.code(), 26, "{}", run.transcript);
    let reply = run.data_reply().unwrap_or_default();
    assert!(reply.starts_with("451 4.4.2"), "{}", run.transcript);
}

#[test]
fn a_client_outside_client_networks_cannot_relay() {
    require_peers();
    let sink = Sink::start();
    let gateway = GatewayConfig::new(sink.port()).start();
    let run = send(&gateway, TO, &["--local-interface", "127.0.0.9"]);
    assert_eq!(run.code(), 24, "{}", run.transcript);
    assert!(run.has_reply("554 5.7.1"), "{}", run.transcript);
    assert!(sink.messages().is_empty());
    assert!(
        gateway.log().contains("relay access denied"),
        "{}",
        gateway.log()
    );
}

#[test]
fn starttls_with_swaks_relays_the_message() {
    require_peers();
    require_tool("openssl", "the Debian package openssl");
    let dir = TempDir::new().unwrap();
    let (cert, key) = self_signed_cert(dir.path());
    let sink = Sink::start();
    let mut config = GatewayConfig::new(sink.port());
    config.tls(&cert, &key);
    let gateway = config.start();
    let run = send(&gateway, TO, &["--tls", "--header", "Subject: over TLS"]);
    run.assert_ok();
    assert!(run.has_reply("250-STARTTLS"), "{}", run.transcript);
    assert!(run.has_reply("220 2.0.0"), "{}", run.transcript);
    assert!(run.transcript.contains("TLS started"), "{}", run.transcript);
    let stored = sink.wait_for(1, ARRIVAL);
    let text = String::from_utf8_lossy(&stored[0].bytes);
    assert!(text.contains("Subject: over TLS"), "{text}");
    let (trace, _) = split_first_header(&stored[0].bytes);
    assert!(
        String::from_utf8_lossy(trace).contains("ESMTPS"),
        "trace header should say ESMTPS: {}",
        String::from_utf8_lossy(trace)
    );
}

#[test]
fn too_many_recipients_get_452_and_the_rest_is_relayed() {
    require_peers();
    let sink = Sink::start();
    let mut config = GatewayConfig::new(sink.port());
    config.set("limits", "max_recipients", "3");
    let gateway = config.start();
    let to = (1..=5)
        .map(|i| format!("r{i}@example.org"))
        .collect::<Vec<_>>();
    let run = send(&gateway, &to.join(","), &[]);
    run.assert_ok();
    let refusals = run
        .server_lines()
        .iter()
        .filter(|l| l.starts_with("452 4.5.3"))
        .count();
    assert_eq!(refusals, 2, "{}", run.transcript);
    let stored = sink.wait_for(1, ARRIVAL);
    assert_eq!(stored[0].rcpt_tos, to[..3].to_vec());
}

#[test]
fn an_oversize_message_gets_552_and_is_not_relayed() {
    require_peers();
    let sink = Sink::start();
    let mut config = GatewayConfig::new(sink.port());
    config.set("limits", "max_message_size", "20000");
    let gateway = config.start();
    let dir = TempDir::new().unwrap();
    let attach = write_file(&dir, "big.bin", &binary_bytes(40_000, 3));
    let run = send(&gateway, TO, &["--attach", &attach]);
    assert!(run.has_reply("250-SIZE 20000"), "{}", run.transcript);
    assert_eq!(run.code(), 26, "{}", run.transcript);
    let reply = run.data_reply().unwrap_or_default();
    assert!(reply.starts_with("552 5.3.4"), "{}", run.transcript);
    assert!(sink.messages().is_empty());
    // A message under the limit still goes.
    send(&gateway, TO, &[]).assert_ok();
    assert_eq!(sink.wait_for(1, ARRIVAL).len(), 1);
}
