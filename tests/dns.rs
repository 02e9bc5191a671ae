//! The delivery resolver (issue 14) against a DNS server of the test's own on loopback: MX,
//! implicit and null MX through the MX plan, addresses, TXT, TLSA believed only with the AD
//! bit, NXDOMAIN, and a server that never answers (bounded wait).

mod inprocess;
mod mx_support;

use std::net::IpAddr;
use std::time::Duration;

use hickory_resolver::proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use hickory_resolver::proto::rr::rdata::{A, AAAA, MX, TLSA, TXT};
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use mx_support::{dns, name, DnsServer, Zone};
use sealgate::relay::dns::{Dns, DnsError, TlsaAnswer};
use sealgate::relay::mx::{plan, MxPlan};
use tokio::net::UdpSocket;

/// Answers from `zone`; names it does not know are NXDOMAIN; AD is set when `secure`.
async fn serve(zone: Zone, secure: bool) -> DnsServer {
    dns(zone, secure, false).await
}

fn zone() -> Zone {
    let mut zone = Zone::new();
    zone.insert(
        ("wervik.be.".into(), RecordType::MX),
        vec![
            RData::MX(MX::new(20, name("mx2.wervik.be."))),
            RData::MX(MX::new(10, name("mx1.wervik.be."))),
        ],
    );
    zone.insert(
        ("mx1.wervik.be.".into(), RecordType::A),
        vec![RData::A(A("127.0.0.21".parse().unwrap()))],
    );
    zone.insert(
        ("mx1.wervik.be.".into(), RecordType::AAAA),
        vec![RData::AAAA(AAAA("::1".parse().unwrap()))],
    );
    zone.insert(
        ("implicit.example.".into(), RecordType::A),
        vec![RData::A(A("127.0.0.30".parse().unwrap()))],
    );
    zone.insert(
        ("nomail.example.".into(), RecordType::MX),
        vec![RData::MX(MX::new(0, Name::root()))],
    );
    zone.insert(
        ("_mta-sts.wervik.be.".into(), RecordType::TXT),
        vec![RData::TXT(TXT::new(vec!["v=STSv1; id=2026120101;".into()]))],
    );
    zone.insert(
        ("_25._tcp.mx1.wervik.be.".into(), RecordType::TLSA),
        vec![RData::TLSA(TLSA::new(
            CertUsage::DaneEe,
            Selector::Spki,
            Matching::Sha256,
            vec![7; 32],
        ))],
    );
    zone
}

fn keep(_: &mut [String]) {}

#[tokio::test]
async fn mx_plans_from_real_answers() {
    let server = serve(zone(), false).await;
    let dns = Dns::new(&[server.address], Duration::from_secs(2)).unwrap();

    let records = dns.mx("wervik.be").await.unwrap();
    assert_eq!(
        plan("wervik.be", &records, keep),
        MxPlan::Hosts(vec!["mx1.wervik.be".into(), "mx2.wervik.be".into()])
    );
    let implicit = dns.mx("implicit.example").await.unwrap();
    assert!(implicit.is_empty());
    assert_eq!(
        plan("implicit.example", &implicit, keep),
        MxPlan::Hosts(vec!["implicit.example".into()])
    );
    let null = dns.mx("nomail.example").await.unwrap();
    assert_eq!(plan("nomail.example", &null, keep), MxPlan::NullMx);
    assert!(matches!(
        dns.mx("missing.example").await,
        Err(DnsError::NoSuchDomain)
    ));

    let mut addresses = dns.addresses("mx1.wervik.be").await.unwrap();
    addresses.sort();
    let expected: Vec<IpAddr> = vec!["127.0.0.21".parse().unwrap(), "::1".parse().unwrap()];
    assert_eq!(addresses, expected);
    assert_eq!(
        dns.txt("_mta-sts.wervik.be").await.unwrap(),
        ["v=STSv1; id=2026120101;"]
    );
}

#[tokio::test]
async fn tlsa_is_believed_only_with_the_ad_bit() {
    let insecure = serve(zone(), false).await;
    let dns = Dns::new(&[insecure.address], Duration::from_secs(2)).unwrap();
    assert_eq!(
        dns.tlsa("mx1.wervik.be", 25).await.unwrap(),
        TlsaAnswer::Insecure
    );

    let secure = serve(zone(), true).await;
    let dns = Dns::new(&[secure.address], Duration::from_secs(2)).unwrap();
    match dns.tlsa("mx1.wervik.be", 25).await.unwrap() {
        TlsaAnswer::Secure(records) => {
            assert_eq!(records.len(), 1);
            assert_eq!(
                (records[0].usage, records[0].selector, records[0].matching),
                (3, 1, 1)
            );
            assert_eq!(records[0].data, vec![7; 32]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        dns.tlsa("mx2.wervik.be", 25).await.unwrap(),
        TlsaAnswer::Insecure
    );
}

#[tokio::test]
async fn a_silent_server_is_a_bounded_failure() {
    // Bound but never answered: every lookup ends in an error within the timeout.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let dns = Dns::new(&[silent.local_addr().unwrap()], Duration::from_millis(300)).unwrap();
    let started = std::time::Instant::now();
    assert!(dns.mx("wervik.be").await.is_err());
    assert!(dns.tlsa("mx1.wervik.be", 25).await.is_err());
    assert!(started.elapsed() < Duration::from_secs(10), "bounded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cold_lookups_of_one_name_ask_the_server_once() {
    let server = serve(zone(), false).await;
    let dns = std::sync::Arc::new(Dns::new(&[server.address], Duration::from_secs(2)).unwrap());
    let lookups: Vec<_> = (0..16)
        .map(|i| {
            let dns = dns.clone();
            tokio::spawn(async move {
                if i % 2 == 0 {
                    dns.mx("wervik.be").await.map(|mx| mx.len())
                } else {
                    dns.addresses("mx1.wervik.be").await.map(|a| a.len())
                }
            })
        })
        .collect();
    for (i, lookup) in lookups.into_iter().enumerate() {
        let found = lookup.await.expect("lookup task").expect("answer");
        assert_eq!(found, 2, "lookup {i}: two MX, or an A and an AAAA");
    }
    assert_eq!(server.times_asked("wervik.be.", RecordType::MX), 1);
    assert_eq!(server.times_asked("mx1.wervik.be.", RecordType::A), 1);
    assert_eq!(server.times_asked("mx1.wervik.be.", RecordType::AAAA), 1);
}
