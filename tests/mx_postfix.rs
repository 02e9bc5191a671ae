#![cfg(feature = "real-peers")]
//! Issue 14 with a real sending server: a private Postfix relays through the sealgate binary,
//! which delivers with `relay.next_hop = "mx"` (its resolver: the test's DNS server on
//! loopback) to two domains' MX hosts, SMTP sinks on 127.30.0.21:25 and 127.30.0.22:25. One
//! message to both domains: the second domain's recipient gets 452 4.5.3 in the first
//! transaction, and Postfix delivers it in another; each domain receives the message once.

mod common;
mod inprocess;
mod mx_support;

use std::time::{Duration, Instant};

use common::postfix::{require_postfix, PrivatePostfix};
use common::*;
use hickory_resolver::proto::rr::rdata::{A, MX};
use hickory_resolver::proto::rr::RData;
use mx_support::{add, dns, name, sink, Zone};

/// Longest wait for both copies (Postfix's first attempt, then one flush of its queue).
const ARRIVAL: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_to_two_domains_arrives_at_both_each_once() {
    require_postfix();
    require_tool("swaks", "the Debian package swaks");
    let wervik = sink("127.30.0.21", 25, 220, None).await;
    let example = sink("127.30.0.22", 25, 220, None).await;
    let mut zone = Zone::new();
    for (domain, host, ip) in [
        ("wervik.be", "mx1.wervik.be", "127.30.0.21"),
        ("example.org", "mx.example.org", "127.30.0.22"),
    ] {
        add(
            &mut zone,
            &format!("{domain}."),
            RData::MX(MX::new(10, name(&format!("{host}.")))),
        );
        add(
            &mut zone,
            &format!("{host}."),
            RData::A(A(ip.parse().expect("an address"))),
        );
    }
    let server = dns(zone, false, false).await;

    let mut config = GatewayConfig::new(1);
    config
        .set("relay", "next_hop", "\"mx\"")
        .set("relay", "tls", "\"opportunistic\"")
        .set("relay", "dns_servers", &format!("[\"{}\"]", server.address));
    let gateway = config.start();
    let postfix = PrivatePostfix::start(gateway.port());

    tokio::task::block_in_place(|| {
        swaks(&[
            "--server",
            &postfix.server(),
            "--from",
            "staff@agency.test",
            "--to",
            "info@wervik.be,someone@example.org",
            "--header",
            "Subject: two domains",
        ])
        .assert_ok();
        let started = Instant::now();
        let mut flushed = false;
        while started.elapsed() < ARRIVAL {
            if wervik.messages().len() + example.messages().len() >= 2 {
                break;
            }
            // Postfix may keep the 452'd recipient for its next queue run: run it now.
            if !flushed && started.elapsed() > Duration::from_secs(5) {
                postfix.flush();
                flushed = true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!(
            "both copies after {:?}; Postfix queue flushed: {flushed}",
            started.elapsed()
        );
        // Anything more would arrive now.
        std::thread::sleep(Duration::from_secs(1));
    });

    let (at_wervik, at_example) = (wervik.messages(), example.messages());
    assert_eq!(
        at_wervik.len(),
        1,
        "once at wervik.be; log:\n{}",
        gateway.log()
    );
    assert_eq!(
        at_example.len(),
        1,
        "once at example.org; log:\n{}",
        gateway.log()
    );
    assert_eq!(at_wervik[0].recipients, ["RCPT TO:<info@wervik.be>"]);
    assert_eq!(at_example[0].recipients, ["RCPT TO:<someone@example.org>"]);
    for got in [&at_wervik[0], &at_example[0]] {
        assert!(String::from_utf8_lossy(&got.data).contains("Subject: two domains"));
    }
    let log = postfix.maillog_text();
    assert!(log.contains("4.5.3"), "Postfix saw the 452 4.5.3:\n{log}");
}
