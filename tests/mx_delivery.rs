//! Delivery to the internet (issue 14), in-process: a DNS server of the test's own, SMTP sinks
//! on 127.x.y.z addresses (one ephemeral port shared by all of a test's sinks, the port the
//! dialer is told to use instead of 25), a test CA, an HTTPS server for MTA-STS policies.
//! Each test has its own 127.N.0.0/24 so the tests can run in parallel.

mod inprocess;
mod mx_support;

use hickory_resolver::proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use hickory_resolver::proto::rr::rdata::{A, MX, TLSA, TXT};
use hickory_resolver::proto::rr::{Name, RData};
use inprocess::{fixture_message, ordinary_message, stuffed};
use mx_support::*;
use sha2::{Digest, Sha256};

const FROM: &str = "a@opgroeien.be";
/// A protected mailbox (the fixtures' protocol).
const PROTECTED: &str = "kindengezin@wervik.be";
const ORDINARY_WERVIK: &str = "info@wervik.be";

fn mx(zone: &mut Zone, domain: &str, preference: u16, host: &str) {
    add(
        zone,
        &format!("{domain}."),
        RData::MX(MX::new(preference, name(&format!("{host}.")))),
    );
}

fn a(zone: &mut Zone, host: &str, ip: &str) {
    add(
        zone,
        &format!("{host}."),
        RData::A(A(ip.parse().expect("an IPv4 address"))),
    );
}

fn tlsa_for(zone: &mut Zone, host: &str, port: u16, cert: &[u8]) {
    add(
        zone,
        &format!("_{port}._tcp.{host}."),
        RData::TLSA(TLSA::new(
            CertUsage::DaneEe,
            Selector::Full,
            Matching::Sha256,
            Sha256::digest(cert).to_vec(),
        )),
    );
}

/// The message a sink got is sealgate's one trace header, then the client's bytes unchanged.
#[track_caller]
fn assert_byte_identical(received: &Received, message: &[u8]) {
    assert!(
        received.data.starts_with(b"Received: "),
        "one trace header first"
    );
    assert!(
        received.data.ends_with(message),
        "the message arrives byte-identical"
    );
    let header = &received.data[..received.data.len() - message.len()];
    assert_eq!(
        header.windows(10).filter(|w| w == b"Received: ").count(),
        1,
        "exactly one trace header added"
    );
}

#[tokio::test]
async fn mx_preference_and_failover_when_the_first_mx_is_down() {
    let pki = Pki::new();
    // mx0 (preference 5) has no listener on the port; mx1 (10) answers 421 at the greeting;
    // mx2 (20) takes the mail; mx3 (30) must never be needed.
    let good = sink("127.1.0.22", 0, 220, None).await;
    let port = good.address.port();
    let busy = sink("127.1.0.21", port, 421, None).await;
    let last = sink("127.1.0.23", port, 220, None).await;
    let mut zone = Zone::new();
    mx(&mut zone, "example.org", 5, "mx0.example.org");
    mx(&mut zone, "example.org", 10, "mx1.example.org");
    mx(&mut zone, "example.org", 20, "mx2.example.org");
    mx(&mut zone, "example.org", 30, "mx3.example.org");
    a(&mut zone, "mx0.example.org", "127.1.0.20");
    a(&mut zone, "mx1.example.org", "127.1.0.21");
    a(&mut zone, "mx2.example.org", "127.1.0.22");
    a(&mut zone, "mx3.example.org", "127.1.0.23");
    let server = dns(zone, false, false).await;
    let gw = gateway(server.address, &pki, port, 443, |_, _| {});

    let mut smtp = gw.ready().await;
    let message = ordinary_message("failover");
    smtp.send_mail(FROM, &["b@example.org"], &message)
        .await
        .assert(250, None);
    assert_eq!(busy.connections(), 1, "the 421 host was tried");
    assert!(busy.messages().is_empty());
    let got = good.messages();
    assert_eq!(got.len(), 1);
    assert_byte_identical(&got[0], &message);
    assert!(!got[0].tls, "no STARTTLS offered: cleartext");
    assert_eq!(last.connections(), 0, "no MX after the one that took it");

    assert_eq!(
        gw.metric(
            "sealgate_delivery_total",
            &["route=\"default\"", "tls=\"none\""]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_domain_without_mx_is_its_own_implicit_mx() {
    let pki = Pki::new();
    let host = sink("127.2.0.30", 0, 220, None).await;
    let mut zone = Zone::new();
    a(&mut zone, "implicit.example", "127.2.0.30");
    let server = dns(zone, false, false).await;
    let gw = gateway(server.address, &pki, host.address.port(), 443, |_, _| {});

    let mut smtp = gw.ready().await;
    let message = ordinary_message("implicit");
    smtp.send_mail(FROM, &["x@implicit.example"], &message)
        .await
        .assert(250, None);
    let got = host.messages();
    assert_eq!(got.len(), 1);
    assert_byte_identical(&got[0], &message);
}

#[tokio::test]
async fn a_null_mx_gets_556_5_1_10_at_rcpt() {
    let pki = Pki::new();
    let mut zone = Zone::new();
    add(
        &mut zone,
        "nomail.example.",
        RData::MX(MX::new(0, Name::root())),
    );
    let server = dns(zone, false, false).await;
    let gw = gateway(server.address, &pki, 2525, 443, |_, _| {});

    let mut smtp = gw.ready().await;
    smtp.command(&format!("MAIL FROM:<{FROM}>"))
        .await
        .assert(250, None);
    smtp.command("RCPT TO:<x@nomail.example>")
        .await
        .assert(556, Some("5.1.10"));
    assert_eq!(
        gw.metric(
            "sealgate_delivery_failures_total",
            &["route=\"default\"", "reason=\"null_mx\""]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_dns_server_that_does_not_answer_gives_451_4_4_3() {
    let pki = Pki::new();
    let server = dns(Zone::new(), false, true).await;
    let gw = gateway(server.address, &pki, 2525, 443, |_, _| {});

    let mut smtp = gw.ready().await;
    smtp.command(&format!("MAIL FROM:<{FROM}>"))
        .await
        .assert(250, None);
    smtp.command("RCPT TO:<x@example.org>")
        .await
        .assert(451, Some("4.4.3"));
}

#[tokio::test]
async fn two_domains_in_one_transaction_get_452_4_5_3_then_a_second_transaction() {
    let pki = Pki::new();
    let wervik = sink("127.3.0.21", 0, 220, None).await;
    let port = wervik.address.port();
    let example = sink("127.3.0.22", port, 220, None).await;
    let smarthost = sink("127.3.0.23", port, 220, None).await;
    let mut zone = Zone::new();
    mx(&mut zone, "wervik.be", 10, "mx1.wervik.be");
    a(&mut zone, "mx1.wervik.be", "127.3.0.21");
    mx(&mut zone, "example.org", 10, "mx.example.org");
    a(&mut zone, "mx.example.org", "127.3.0.22");
    let server = dns(zone, false, false).await;
    let gw = gateway(server.address, &pki, port, 443, |_, routes| {
        routes.push(sealgate::config::RouteConfig {
            name: Some("partner".into()),
            domains: vec!["partner.example".into()],
            next_hop: format!("smtp://127.3.0.23:{port}"),
            tls: None,
        });
    });

    let mut smtp = gw.ready().await;
    smtp.command(&format!("MAIL FROM:<{FROM}>"))
        .await
        .assert(250, None);
    smtp.command(&format!("RCPT TO:<{ORDINARY_WERVIK}>"))
        .await
        .assert(250, None);
    smtp.command("RCPT TO:<other@WERVIK.be>")
        .await
        .assert(250, None);
    let refused = smtp.command("RCPT TO:<b@example.org>").await;
    refused.assert(452, Some("4.5.3"));
    assert!(
        refused.text().contains("separate transaction"),
        "{refused:?}"
    );
    smtp.command("RCPT TO:<c@partner.example>")
        .await
        .assert(452, Some("4.5.3"));
    smtp.command("DATA").await.assert(354, None);
    let message = ordinary_message("two domains");
    smtp.send(&stuffed(&message)).await;
    smtp.reply().await.assert(250, None);

    // The client sends the refused recipients again, each domain in its own transaction.
    smtp.send_mail(FROM, &["b@example.org"], &message)
        .await
        .assert(250, None);
    smtp.send_mail(FROM, &["c@partner.example"], &message)
        .await
        .assert(250, None);

    let at_wervik = wervik.messages();
    assert_eq!(at_wervik.len(), 1, "once at wervik.be");
    assert_eq!(at_wervik[0].recipients.len(), 2);
    let at_example = example.messages();
    assert_eq!(at_example.len(), 1, "once at example.org");
    assert_eq!(at_example[0].recipients, ["RCPT TO:<b@example.org>"]);
    assert_eq!(smarthost.messages().len(), 1, "once at the partner route");
    for got in [&at_wervik[0], &at_example[0], &smarthost.messages()[0]] {
        assert_byte_identical(got, &message);
    }
    assert_eq!(
        gw.metric("sealgate_delivery_total", &["route=\"partner\""]),
        Some(1.0)
    );
}

#[tokio::test]
async fn protected_mail_to_an_mx_without_starttls_gets_451_4_7_5_and_nothing_leaves() {
    let pki = Pki::new();
    let plain = sink("127.4.0.21", 0, 220, None).await;
    let mut zone = Zone::new();
    mx(&mut zone, "wervik.be", 10, "mx1.wervik.be");
    a(&mut zone, "mx1.wervik.be", "127.4.0.21");
    let server = dns(zone, false, false).await;
    let gw = gateway(server.address, &pki, plain.address.port(), 443, |_, _| {});

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
    assert_eq!(
        gw.metric(
            "sealgate_delivery_failures_total",
            &["route=\"default\"", "reason=\"tls_required\""]
        ),
        Some(1.0)
    );

    // Ordinary mail to the same host leaves in cleartext (opportunistic TLS).
    let message = ordinary_message("cleartext");
    smtp.send_mail(FROM, &[ORDINARY_WERVIK], &message)
        .await
        .assert(250, None);
    let got = plain.messages();
    assert_eq!(got.len(), 1);
    assert!(!got[0].tls);
    assert_byte_identical(&got[0], &message);
}

#[tokio::test]
async fn protected_mail_uses_starttls_when_offered_and_ordinary_mail_too() {
    let pki = Pki::new();
    let (_, config) = pki.server(&["mx1.wervik.be"]);
    let tls = sink("127.5.0.21", 0, 220, Some(config)).await;
    let mut zone = Zone::new();
    mx(&mut zone, "wervik.be", 10, "mx1.wervik.be");
    a(&mut zone, "mx1.wervik.be", "127.5.0.21");
    let server = dns(zone, false, false).await;
    let gw = gateway(server.address, &pki, tls.address.port(), 443, |_, _| {});

    let mut smtp = gw.ready().await;
    let message = fixture_message("good_basic.eml");
    smtp.send_mail(FROM, &[PROTECTED], &message)
        .await
        .assert(250, None);
    let got = tls.messages();
    assert_eq!(got.len(), 1);
    assert!(got[0].tls, "protected mail over TLS");
    assert_byte_identical(&got[0], &message);
    // The audit record names the MX host and address, the TLS version and the verification.
    let entries = gw.ledger.entries();
    let (record, outcome) = entries.last().expect("an audit record");
    assert_eq!(
        record.next_hop,
        format!("mx1.wervik.be[127.5.0.21:{}]", tls.address.port())
    );
    let tls_out = outcome
        .as_ref()
        .and_then(|o| o.tls_out.clone())
        .expect("the outbound TLS recorded");
    assert!(tls_out.starts_with("TLSv1."), "{tls_out}");
    assert!(tls_out.ends_with("verified=unverified"), "{tls_out}");
}

/// A domain whose MX offers STARTTLS with `presented`, TLSA records pinning `pinned`, and a
/// resolver on loopback that sets the AD bit.
async fn dane_case(net: u8, presented: bool) -> (u16, Sink, DnsServer, Pki) {
    let pki = Pki::new();
    let (cert, config) = self_signed("mx1.wervik.be");
    let ip = format!("127.{net}.0.21");
    let host = sink(&ip, 0, 220, Some(config)).await;
    let port = host.address.port();
    let mut zone = Zone::new();
    mx(&mut zone, "wervik.be", 10, "mx1.wervik.be");
    a(&mut zone, "mx1.wervik.be", &ip);
    if presented {
        tlsa_for(&mut zone, "mx1.wervik.be", port, &cert);
    } else {
        let (other, _) = self_signed("mx1.wervik.be");
        tlsa_for(&mut zone, "mx1.wervik.be", port, &other);
    }
    let server = dns(zone, true, false).await;
    (port, host, server, pki)
}

#[tokio::test]
async fn dane_a_matching_certificate_is_used_for_protected_mail() {
    let (port, host, server, pki) = dane_case(6, true).await;
    let gw = gateway(server.address, &pki, port, 443, |_, _| {});
    let mut smtp = gw.ready().await;
    smtp.send_mail(FROM, &[PROTECTED], &fixture_message("good_basic.eml"))
        .await
        .assert(250, None);
    assert_eq!(host.messages().len(), 1);
    assert!(host.messages()[0].tls);
    assert_eq!(
        gw.metric("sealgate_delivery_total", &["tls=\"dane\""]),
        Some(1.0)
    );
}

#[tokio::test]
async fn dane_a_mismatching_certificate_gets_451_4_7_5() {
    let (port, host, server, pki) = dane_case(7, false).await;
    let gw = gateway(server.address, &pki, port, 443, |_, _| {});
    let mut smtp = gw.ready().await;
    smtp.command(&format!("MAIL FROM:<{FROM}>"))
        .await
        .assert(250, None);
    smtp.command(&format!("RCPT TO:<{PROTECTED}>"))
        .await
        .assert(451, Some("4.7.5"));
    assert!(host.messages().is_empty(), "nothing delivered");
}

const ENFORCE: &str = "version: STSv1\r\nmode: enforce\r\nmx: mx1.wervik.be\r\nmax_age: 86400\r\n";

/// A domain with an MTA-STS enforce policy listing mx1.wervik.be, whose MX (`mx_name`)
/// presents a CA certificate for `cert_name`; also the count of policy fetches.
struct StsCase {
    gw: MxGateway,
    host: Sink,
    fetches: std::sync::Arc<std::sync::Mutex<usize>>,
    _dns: DnsServer,
}

async fn mta_sts_case(net: u8, mx_name: &str, cert_name: &str) -> StsCase {
    let pki = Pki::new();
    let (_, config) = pki.server(&[cert_name]);
    let ip = format!("127.{net}.0.21");
    let host = sink(&ip, 0, 220, Some(config)).await;
    let policy_ip = format!("127.{net}.0.80");
    let (policy_at, fetches) = policy_server(&pki, &policy_ip, "wervik.be", ENFORCE).await;
    let mut zone = Zone::new();
    mx(&mut zone, "wervik.be", 10, mx_name);
    a(&mut zone, mx_name, &ip);
    a(&mut zone, "mta-sts.wervik.be", &policy_ip);
    add(
        &mut zone,
        "_mta-sts.wervik.be.",
        RData::TXT(TXT::new(vec!["v=STSv1; id=20261201;".into()])),
    );
    let server = dns(zone, false, false).await;
    let gw = gateway(
        server.address,
        &pki,
        host.address.port(),
        policy_at.port(),
        |_, _| {},
    );
    StsCase {
        gw,
        host,
        fetches,
        _dns: server,
    }
}

#[tokio::test]
async fn mta_sts_enforce_with_a_matching_certificate_delivers() {
    let case = mta_sts_case(8, "mx1.wervik.be", "mx1.wervik.be").await;
    let mut smtp = case.gw.ready().await;
    smtp.send_mail(FROM, &[PROTECTED], &fixture_message("good_basic.eml"))
        .await
        .assert(250, None);
    assert_eq!(case.host.messages().len(), 1);
    assert!(case.host.messages()[0].tls);
    assert_eq!(
        case.gw
            .metric("sealgate_delivery_total", &["tls=\"mta-sts\""]),
        Some(1.0)
    );
    // The policy is cached by id and max_age: the second message needs no fetch.
    smtp.send_mail(FROM, &[PROTECTED], &fixture_message("good_basic.eml"))
        .await
        .assert(250, None);
    assert_eq!(
        case.gw
            .metric("sealgate_delivery_total", &["tls=\"mta-sts\""]),
        Some(2.0)
    );
    assert_eq!(*case.fetches.lock().unwrap(), 1, "one policy fetch");
}

#[tokio::test]
async fn mta_sts_enforce_with_a_mismatching_certificate_gets_451_4_7_5() {
    let case = mta_sts_case(9, "mx1.wervik.be", "www.elsewhere.example").await;
    let mut smtp = case.gw.ready().await;
    smtp.command(&format!("MAIL FROM:<{FROM}>"))
        .await
        .assert(250, None);
    smtp.command(&format!("RCPT TO:<{PROTECTED}>"))
        .await
        .assert(451, Some("4.7.5"));
    assert!(case.host.messages().is_empty(), "nothing delivered");
}

#[tokio::test]
async fn mta_sts_enforce_refuses_an_mx_the_policy_does_not_list() {
    // The MX has a valid certificate for its own name, but the policy lists only mx1.
    let case = mta_sts_case(11, "rogue.wervik.be", "rogue.wervik.be").await;
    let mut smtp = case.gw.ready().await;
    smtp.command(&format!("MAIL FROM:<{FROM}>"))
        .await
        .assert(250, None);
    smtp.command(&format!("RCPT TO:<{PROTECTED}>"))
        .await
        .assert(451, Some("4.7.5"));
    assert_eq!(
        case.host.connections(),
        0,
        "an unlisted MX is not even tried"
    );
}

#[tokio::test]
async fn a_verify_route_checks_the_mx_certificate_against_the_ca() {
    let pki = Pki::new();
    let (_, config) = pki.server(&["mx1.wervik.be"]);
    let host = sink("127.12.0.21", 0, 220, Some(config)).await;
    let (_, untrusted) = self_signed("mx.bad.example");
    let bad = sink("127.12.0.22", host.address.port(), 220, Some(untrusted)).await;
    let mut zone = Zone::new();
    mx(&mut zone, "wervik.be", 10, "mx1.wervik.be");
    a(&mut zone, "mx1.wervik.be", "127.12.0.21");
    mx(&mut zone, "bad.example", 10, "mx.bad.example");
    a(&mut zone, "mx.bad.example", "127.12.0.22");
    let server = dns(zone, false, false).await;
    let gw = gateway(
        server.address,
        &pki,
        host.address.port(),
        443,
        |_, routes| {
            routes.push(sealgate::config::RouteConfig {
                name: Some("strict".into()),
                domains: vec!["wervik.be".into(), "bad.example".into()],
                next_hop: "mx".into(),
                tls: Some(sealgate::config::RouteTls::Verify),
            });
        },
    );
    let mut smtp = gw.ready().await;
    smtp.send_mail(FROM, &[PROTECTED], &fixture_message("good_basic.eml"))
        .await
        .assert(250, None);
    assert!(host.messages()[0].tls);
    assert_eq!(
        gw.metric(
            "sealgate_delivery_total",
            &["route=\"strict\"", "tls=\"ca\""]
        ),
        Some(1.0)
    );
    // Ordinary mail on a verify route is verified too: a self-signed MX gets none of it.
    smtp.command(&format!("MAIL FROM:<{FROM}>"))
        .await
        .assert(250, None);
    smtp.command("RCPT TO:<x@bad.example>")
        .await
        .assert(451, Some("4.7.5"));
    assert!(bad.messages().is_empty());
}

#[tokio::test]
async fn an_mx_with_only_an_ipv6_address_is_reached_over_ipv6() {
    use hickory_resolver::proto::rr::rdata::AAAA;
    let pki = Pki::new();
    let host = sink("::1", 0, 220, None).await;
    let mut zone = Zone::new();
    mx(&mut zone, "v6.example", 10, "mx.v6.example");
    add(
        &mut zone,
        "mx.v6.example.",
        RData::AAAA(AAAA("::1".parse().expect("an IPv6 address"))),
    );
    let server = dns(zone, false, false).await;
    let gw = gateway(server.address, &pki, host.address.port(), 443, |_, _| {});
    let mut smtp = gw.ready().await;
    let message = ordinary_message("ipv6");
    smtp.send_mail(FROM, &["x@v6.example"], &message)
        .await
        .assert(250, None);
    let got = host.messages();
    assert_eq!(got.len(), 1);
    assert_byte_identical(&got[0], &message);
}

#[tokio::test]
async fn a_protected_recipient_after_an_ordinary_one_to_the_same_mx_domain_waits_its_turn() {
    let pki = Pki::new();
    let (_, config) = pki.server(&["mx1.wervik.be"]);
    let host = sink("127.10.0.21", 0, 220, Some(config)).await;
    let mut zone = Zone::new();
    mx(&mut zone, "wervik.be", 10, "mx1.wervik.be");
    a(&mut zone, "mx1.wervik.be", "127.10.0.21");
    let server = dns(zone, false, false).await;
    let gw = gateway(server.address, &pki, host.address.port(), 443, |_, _| {});
    let mut smtp = gw.ready().await;
    smtp.command(&format!("MAIL FROM:<{FROM}>"))
        .await
        .assert(250, None);
    smtp.command(&format!("RCPT TO:<{ORDINARY_WERVIK}>"))
        .await
        .assert(250, None);
    smtp.command(&format!("RCPT TO:<{PROTECTED}>"))
        .await
        .assert(452, Some("4.5.3"));
    smtp.command("RSET").await.assert(250, None);
    // Protected first: an ordinary recipient of the same domain may join.
    smtp.command(&format!("MAIL FROM:<{FROM}>"))
        .await
        .assert(250, None);
    smtp.command(&format!("RCPT TO:<{PROTECTED}>"))
        .await
        .assert(250, None);
    smtp.command("RCPT TO:<collega@opgroeien.be>")
        .await
        .assert(452, Some("4.5.3"));
}

#[tokio::test]
async fn dns_answers_are_cached_as_their_ttl_allows() {
    use hickory_resolver::proto::rr::RecordType;
    let pki = Pki::new();
    let host = sink("127.13.0.21", 0, 220, None).await;
    let mut zone = Zone::new();
    mx(&mut zone, "a.example", 10, "mx.shared.example");
    mx(&mut zone, "b.example", 10, "mx.shared.example");
    a(&mut zone, "mx.shared.example", "127.13.0.21");
    let server = dns(zone, false, false).await;
    let gw = gateway(server.address, &pki, host.address.port(), 443, |_, _| {});

    // The first transaction holds its connection, so the second one opens its own.
    let mut first = gw.ready().await;
    first
        .command(&format!("MAIL FROM:<{FROM}>"))
        .await
        .assert(250, None);
    first
        .command("RCPT TO:<x@a.example>")
        .await
        .assert(250, None);
    let mut second = gw.ready().await;
    second
        .send_mail(FROM, &["y@a.example"], &ordinary_message("cached MX"))
        .await
        .assert(250, None);
    // Another domain on the same MX host: its MX is new, the host's address is not.
    second
        .send_mail(FROM, &["z@b.example"], &ordinary_message("cached A"))
        .await
        .assert(250, None);
    first.command("DATA").await.assert(354, None);
    first.send(&stuffed(&ordinary_message("first"))).await;
    first.reply().await.assert(250, None);
    assert_eq!(host.messages().len(), 3);
    assert_eq!(host.connections(), 3, "three opens, one per target");
    assert_eq!(server.times_asked("a.example.", RecordType::MX), 1);
    assert_eq!(server.times_asked("b.example.", RecordType::MX), 1);
    assert_eq!(
        server.times_asked("mx.shared.example.", RecordType::A),
        1,
        "the MX host's address is asked once for both domains"
    );
}
