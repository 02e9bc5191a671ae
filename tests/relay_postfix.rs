#![cfg(feature = "real-peers")]
//! A real MTA in front: a private Postfix uses the gateway as its relayhost. Shows that mail
//! goes through, and that after a 4xx the mail stays in Postfix's queue and arrives on retry.

mod common;

use common::postfix::{require_postfix, PrivatePostfix};
use common::*;

const FROM: &str = "staff@agency.test";
const TO: &str = "someone@example.org";

fn submit(postfix: &PrivatePostfix, subject: &str) {
    swaks(&[
        "--server",
        &postfix.server(),
        "--from",
        FROM,
        "--to",
        TO,
        "--header",
        &format!("Subject: {subject}"),
    ])
    .assert_ok();
}

/// The recipients' delay reasons of everything in the queue.
fn delay_reasons(postfix: &PrivatePostfix) -> Vec<String> {
    postfix
        .queue()
        .iter()
        .flat_map(|m| m["recipients"].as_array().cloned().unwrap_or_default())
        .map(|r| r["delay_reason"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn assert_arrives_once(sink: &Sink, postfix: &PrivatePostfix, subject: &str) {
    let stored = sink.wait_for(1, ARRIVAL);
    let text = String::from_utf8_lossy(&stored[0].bytes);
    assert!(text.contains(&format!("Subject: {subject}")), "{text}");
    assert_eq!(stored[0].rcpt_tos, vec![TO]);
    assert_eq!(stored[0].mail_from, FROM);
    // The gateway's trace header on top, Postfix's below it.
    let (trace, rest) = split_first_header(&stored[0].bytes);
    let trace = String::from_utf8_lossy(trace);
    assert!(
        trace.starts_with("Received: from agency-mx.test"),
        "{trace}"
    );
    assert!(trace.contains("by sealgate.test"), "{trace}");
    let (second, _) = split_first_header(rest);
    assert!(String::from_utf8_lossy(second).contains("by agency-mx.test"));
    let empty = wait_until(ARRIVAL, || postfix.queue().is_empty().then_some(()));
    assert!(empty.is_some(), "still queued: {:?}", postfix.queue());
    assert_eq!(sink.messages().len(), 1, "delivered more than once");
}

#[test]
fn postfix_delivers_through_the_gateway() {
    require_peers();
    require_postfix();
    let sink = Sink::start();
    let gateway = GatewayConfig::new(sink.port()).start();
    let postfix = PrivatePostfix::start(gateway.port());
    submit(&postfix, "through the gateway");
    assert_arrives_once(&sink, &postfix, "through the gateway");
    postfix.wait_for_log("status=sent", ARRIVAL);
}

#[test]
fn next_hop_down_keeps_the_mail_queued_in_postfix_until_it_is_back() {
    require_peers();
    require_postfix();
    let hop_port = free_port();
    let gateway = GatewayConfig::new(hop_port).start();
    let postfix = PrivatePostfix::start(gateway.port());
    submit(&postfix, "kept in the queue");
    let log = postfix.wait_for_log("status=deferred", ARRIVAL);
    assert!(log.contains("451 4.4.1"), "{log}");
    let reasons = delay_reasons(&postfix);
    assert_eq!(reasons.len(), 1, "{:?}", postfix.queue());
    assert!(reasons[0].contains("451 4.4.1"), "{reasons:?}");

    let sink = Sink::options().port(hop_port).start();
    postfix.flush();
    assert_arrives_once(&sink, &postfix, "kept in the queue");
}

#[test]
fn a_4xx_at_end_of_data_keeps_the_mail_queued_and_the_retry_arrives() {
    require_peers();
    require_postfix();
    let refusing = Sink::options().data_reply("452 4.3.1 disk full").start();
    let hop_port = refusing.port();
    let gateway = GatewayConfig::new(hop_port).start();
    let postfix = PrivatePostfix::start(gateway.port());
    submit(&postfix, "after a 4xx");
    let log = postfix.wait_for_log("status=deferred", ARRIVAL);
    assert!(log.contains("452 4.3.1 disk full"), "{log}");
    assert!(refusing.messages().is_empty());
    assert_eq!(postfix.queue().len(), 1);
    drop(refusing);

    let sink = Sink::options().port(hop_port).start();
    postfix.flush();
    assert_arrives_once(&sink, &postfix, "after a 4xx");
}

#[test]
fn a_5xx_at_rcpt_reaches_postfix_as_a_5xx() {
    require_peers();
    require_postfix();
    let sink = Sink::options()
        .rcpt_reply(TO, "550 5.1.1 no such user")
        .start();
    let gateway = GatewayConfig::new(sink.port()).start();
    let postfix = PrivatePostfix::start(gateway.port());
    submit(&postfix, "to nobody");
    // soft_bounce keeps it queued, but the log shows the mirrored 5xx.
    let log = postfix.wait_for_log("550 5.1.1 no such user", ARRIVAL);
    assert!(log.contains("in reply to RCPT TO command"), "{log}");
    assert!(sink.messages().is_empty());
}
