//! The floor of protected mail on smarthost routes (issue 14): a transaction with a protected
//! recipient never leaves in cleartext, whatever the route's `tls` says, except to a next hop
//! on this machine (loopback). In-process: sinks on 127.x.y.z, and a dialer that treats
//! loopback as remote wherever a test needs the floor (tests can only reach loopback). Each
//! test has its own 127.N.0.0/24 so the tests can run in parallel.

mod inprocess;
mod mx_support;

use std::net::SocketAddr;

use inprocess::{fixture_message, ordinary_message, TestConfig};
use mx_support::*;
use sealgate::config::RouteConfig;
use sealgate::relay::SmtpDialer;

const FROM: &str = "a@opgroeien.be";
/// A protected mailbox (the fixtures' protocol).
const PROTECTED: &str = "kindengezin@wervik.be";
const ORDINARY: &str = "info@example.org";
/// An ordinary recipient policy lets share a transaction with a protected one (own domain).
const COLLEAGUE: &str = "collega@opgroeien.be";

/// No MX route here: the resolver is never asked.
fn no_dns() -> SocketAddr {
    "127.0.0.1:9".parse().expect("an address")
}

/// A gateway whose default route is the smarthost `sink` with `relay.tls = tls`.
fn smarthost(sink: &Sink, tls: &str, loopback_is_remote: bool) -> MxGateway {
    let pki = Pki::new();
    let dialer = SmtpDialer::new();
    let dialer = if loopback_is_remote {
        dialer.treating_loopback_as_remote()
    } else {
        dialer
    };
    let next_hop = format!("\"smtp://{}\"", sink.address);
    gateway_dialing(no_dns(), &pki, dialer, |config: &mut TestConfig, _| {
        config
            .set("relay", "next_hop", &next_hop)
            .set("relay", "tls", &format!("\"{tls}\""));
    })
}

/// MAIL and RCPT of `rcpt`, which must be refused with `451 4.7.5`; then RSET.
async fn refused_for_tls(smtp: &mut inprocess::Smtp, rcpt: &str) {
    smtp.command(&format!("MAIL FROM:<{FROM}>"))
        .await
        .assert(250, None);
    smtp.command(&format!("RCPT TO:<{rcpt}>"))
        .await
        .assert(451, Some("4.7.5"));
    smtp.command("RSET").await.assert(250, None);
}

fn failures(gw: &MxGateway, route: &str) -> Option<f64> {
    gw.metric(
        "sealgate_delivery_failures_total",
        &[&format!("route=\"{route}\""), "reason=\"tls_required\""],
    )
}

#[tokio::test]
async fn protected_mail_to_a_remote_smarthost_without_starttls_gets_451_4_7_5() {
    let plain = sink("127.30.0.25", 0, 220, None).await;
    let gw = smarthost(&plain, "opportunistic", true);
    let mut smtp = gw.ready().await;
    smtp.command(&format!("MAIL FROM:<{FROM}>"))
        .await
        .assert(250, None);
    smtp.command(&format!("RCPT TO:<{PROTECTED}>"))
        .await
        .assert(451, Some("4.7.5"));
    smtp.command("DATA").await.assert(554, None);
    smtp.command("RSET").await.assert(250, None);
    assert!(plain.messages().is_empty(), "nothing delivered");
    assert_eq!(failures(&gw, "default"), Some(1.0));

    // Ordinary mail over the same route still leaves in cleartext (`may`).
    let message = ordinary_message("cleartext");
    smtp.send_mail(FROM, &[ORDINARY], &message)
        .await
        .assert(250, None);
    let got = plain.messages();
    assert_eq!(got.len(), 1);
    assert!(!got[0].tls, "ordinary mail: cleartext when no STARTTLS");
    assert!(got[0].data.ends_with(&message), "byte-identical");

    // The cleartext connection kept from that transaction is not reused for protected mail.
    refused_for_tls(&mut smtp, PROTECTED).await;
    assert_eq!(plain.messages().len(), 1, "still only the ordinary message");
    assert_eq!(failures(&gw, "default"), Some(2.0));
}

#[tokio::test]
async fn a_routes_entry_with_tls_none_still_gives_protected_mail_the_floor() {
    let plain = sink("127.31.0.25", 0, 220, None).await;
    let pki = Pki::new();
    let dialer = SmtpDialer::new().treating_loopback_as_remote();
    let lan = format!("smtp://{}", plain.address);
    let gw = gateway_dialing(no_dns(), &pki, dialer, |config, routes| {
        config.set("relay", "next_hop", "\"smtp://127.31.0.99:25\"");
        routes.push(RouteConfig {
            name: Some("lan".into()),
            domains: vec!["wervik.be".into()],
            next_hop: lan,
            tls: Some(sealgate::config::RouteTls::None),
        });
    });
    let mut smtp = gw.ready().await;
    refused_for_tls(&mut smtp, PROTECTED).await;
    assert!(plain.messages().is_empty(), "nothing delivered");
    assert_eq!(failures(&gw, "lan"), Some(1.0));
    // An ordinary recipient of the same route: cleartext, as `tls = "none"` says.
    smtp.send_mail(FROM, &["info@wervik.be"], &ordinary_message("lan"))
        .await
        .assert(250, None);
    assert_eq!(plain.messages().len(), 1);
    assert!(!plain.messages()[0].tls);
}

#[tokio::test]
async fn protected_mail_to_a_smarthost_offering_starttls_goes_over_tls_even_with_tls_none() {
    let pki = Pki::new();
    let (_, config) = pki.server(&["smarthost.test"]);
    let host = sink("127.32.0.25", 0, 220, Some(config)).await;
    let gw = smarthost(&host, "none", true);
    let mut smtp = gw.ready().await;

    // Ordinary mail keeps the route's `none`: cleartext though STARTTLS is offered.
    smtp.send_mail(FROM, &[ORDINARY], &ordinary_message("none"))
        .await
        .assert(250, None);
    // Protected mail does not take that cleartext connection: a new one, with TLS.
    let message = fixture_message("good_basic.eml");
    smtp.send_mail(FROM, &[PROTECTED], &message)
        .await
        .assert(250, None);
    let got = host.messages();
    assert_eq!(got.len(), 2);
    assert!(!got[0].tls, "ordinary mail: the route's tls = none");
    assert!(got[1].tls, "protected mail over TLS");
    assert!(got[1].data.ends_with(&message), "byte-identical");
    assert_eq!(host.connections(), 2);
    // The audit outcome records the outbound TLS.
    let entries = gw.ledger.entries();
    let (_, outcome) = entries.last().expect("an audit record");
    let tls_out = outcome
        .as_ref()
        .and_then(|o| o.tls_out.clone())
        .expect("the outbound TLS recorded");
    assert!(tls_out.starts_with("TLSv1."), "{tls_out}");
    assert_eq!(
        gw.metric(
            "sealgate_delivery_total",
            &["route=\"default\"", "tls=\"unverified\""]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_protected_recipient_joins_an_ordinary_smarthost_transaction_only_over_tls() {
    // Cleartext connection (no STARTTLS): the protected recipient waits for its own
    // transaction, which then cannot have TLS.
    let plain = sink("127.33.0.25", 0, 220, None).await;
    let gw = smarthost(&plain, "opportunistic", true);
    let mut smtp = gw.ready().await;
    smtp.command(&format!("MAIL FROM:<{FROM}>"))
        .await
        .assert(250, None);
    smtp.command(&format!("RCPT TO:<{COLLEAGUE}>"))
        .await
        .assert(250, None);
    smtp.command(&format!("RCPT TO:<{PROTECTED}>"))
        .await
        .assert(452, Some("4.5.3"));
    smtp.command("RSET").await.assert(250, None);
    assert!(plain.messages().is_empty());

    // A connection that got TLS for ordinary mail meets the floor: one transaction.
    let pki = Pki::new();
    let (_, config) = pki.server(&["smarthost.test"]);
    let tls = sink("127.33.0.26", 0, 220, Some(config)).await;
    let gw = smarthost(&tls, "opportunistic", true);
    let mut smtp = gw.ready().await;
    smtp.send_mail(
        FROM,
        &[COLLEAGUE, PROTECTED],
        &fixture_message("good_basic.eml"),
    )
    .await
    .assert(250, None);
    let got = tls.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].recipients.len(),
        2,
        "both recipients in one transaction"
    );
    assert!(got[0].tls);
}

#[tokio::test]
async fn a_verify_route_whose_certificate_fails_gives_protected_mail_451_4_7_5() {
    let (_, config) = self_signed("smarthost.test");
    let host = sink("127.34.0.25", 0, 220, Some(config)).await;
    let gw = smarthost(&host, "required", true);
    let mut smtp = gw.ready().await;
    refused_for_tls(&mut smtp, PROTECTED).await;
    assert!(host.messages().is_empty(), "nothing delivered");
    assert_eq!(failures(&gw, "default"), Some(1.0));
}

#[tokio::test]
async fn the_loopback_exception_hands_protected_mail_to_a_local_mta_as_the_route_says() {
    // The production rule: a next hop on loopback does not take mail off this machine.
    let plain = sink("127.35.0.25", 0, 220, None).await;
    let gw = smarthost(&plain, "opportunistic", false);
    let mut smtp = gw.ready().await;
    let message = fixture_message("good_basic.eml");
    smtp.send_mail(FROM, &[PROTECTED, COLLEAGUE], &message)
        .await
        .assert(250, None);
    let got = plain.messages();
    assert_eq!(got.len(), 1);
    assert!(
        !got[0].tls,
        "to the local MTA as its route says (may, none offered)"
    );
    assert!(got[0].data.ends_with(&message), "byte-identical");
    assert_eq!(failures(&gw, "default"), None);
    let entries = gw.ledger.entries();
    let (_, outcome) = entries.last().expect("an audit record");
    assert_eq!(
        outcome.as_ref().map(|o| o.tls_out.clone()),
        Some(None),
        "the audit says cleartext"
    );
}
