//! Issue 12 item 2, in-process: the memory budget counts what is held. Tricklers that declare
//! 36 MB hold what they sent, not what they promised, so others still get 250; one client
//! address holds at most its share; a trickler below the minimum data rate is cut with
//! `421 4.4.2`; the in-use gauge is non-zero while data is held and 0 after; at most
//! `limits.max_concurrent_large_messages` messages grow past `limits.large_message_size` at once.

mod inprocess;

use std::time::Duration;

use inprocess::*;
use sealgate::metrics::SessionResult;

const FROM: &str = "sender@opgroeien.be";
const TO: &str = "someone@example.org";
const MIB: usize = 1024 * 1024;

fn gauge(gateway: &TestGateway) -> u64 {
    let text = gateway.core.gateway.metrics.render();
    text.lines()
        .find_map(|l| l.strip_prefix("sealgate_memory_budget_in_use_bytes "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the in-use gauge")
}

/// MAIL (with `params`), RCPT, DATA and the first `bytes` of a message that does not end.
async fn start_message(smtp: &mut Smtp, params: &str, bytes: usize) {
    smtp.command(&format!("MAIL FROM:<{FROM}>{params}"))
        .await
        .assert(250, None);
    smtp.command(&format!("RCPT TO:<{TO}>"))
        .await
        .assert(250, None);
    smtp.command("DATA").await.assert(354, None);
    let mut part = b"Subject: held\r\n\r\n".to_vec();
    while part.len() < bytes {
        part.extend_from_slice(&[b'x'; 78]);
        part.extend_from_slice(b"\r\n");
    }
    smtp.send(&part).await;
}

async fn ready_from(gateway: &TestGateway, client: &str) -> Smtp {
    let (mut smtp, _session) = gateway.connect_from(client);
    smtp.reply().await.assert(220, None);
    smtp.command("EHLO client.test").await.assert(250, None);
    smtp
}

#[tokio::test]
async fn thirty_tricklers_declaring_36_mb_do_not_exhaust_the_budget() {
    let mut config = TestConfig::default();
    config
        .set("access", "client_networks", "[\"127.0.0.0/8\"]")
        .set("limits", "memory_budget", &(64 * MIB).to_string());
    let gateway = TestGateway::with_config(config);
    let mut tricklers = Vec::new();
    for i in 0..30 {
        let mut smtp = ready_from(&gateway, &format!("127.0.1.{}:40000", i + 1)).await;
        start_message(&mut smtp, " SIZE=37748736", 2000).await;
        tricklers.push(smtp);
    }
    // Each holds one growth step (the SIZE hint, capped), not 36 MB: 30 MiB of 64.
    wait_until(|| gateway.core.gateway.memory_in_use() == 30 * MIB).await;
    assert_eq!(
        gauge(&gateway),
        30 * MIB as u64,
        "the gauge shows the truth"
    );

    let mut other = ready_from(&gateway, "127.0.2.1:40000").await;
    for n in 0..3 {
        other
            .send_mail(FROM, &[TO], &ordinary_message(&format!("ordinary {n}")))
            .await
            .assert(250, None);
    }
    // A 5 MB message from yet another client also fits beside them.
    let mut big = ready_from(&gateway, "127.0.2.2:40000").await;
    let mut message = b"Subject: big\r\n\r\n".to_vec();
    message
        .extend(std::iter::repeat_n(b"y".repeat(998).into_iter().chain(*b"\r\n"), 5000).flatten());
    big.send_mail(FROM, &[TO], &message).await.assert(250, None);

    drop(tricklers);
    wait_until(|| gateway.core.gateway.memory_in_use() == 0).await;
    assert_eq!(gauge(&gateway), 0);
}

#[tokio::test]
async fn one_client_address_holds_at_most_its_share() {
    let mut config = TestConfig::default();
    config
        .set("access", "client_networks", "[\"127.0.0.0/8\"]")
        .set("limits", "max_message_size", &MIB.to_string())
        .set("limits", "memory_budget", &(8 * MIB).to_string())
        .set("limits", "memory_per_client", &(2 * MIB).to_string());
    let gateway = TestGateway::with_config(config);
    // Two messages of 900 KB in flight from one address: its 2 MiB share.
    let mut first = ready_from(&gateway, "127.0.0.5:40001").await;
    start_message(&mut first, "", 900_000).await;
    let mut second = ready_from(&gateway, "127.0.0.5:40002").await;
    start_message(&mut second, "", 900_000).await;
    wait_until(|| gateway.core.gateway.memory_in_use() == 2 * MIB).await;

    // A third from the same address finds its share spent: 452 4.3.1 after the end of data.
    let mut third = ready_from(&gateway, "127.0.0.5:40003").await;
    start_message(&mut third, "", 900_000).await;
    third.send(b"\r\n.\r\n").await;
    third.reply().await.assert(452, Some("4.3.1"));

    // Another address still has room.
    let mut other = ready_from(&gateway, "127.0.0.6:40000").await;
    start_message(&mut other, "", 900_000).await;
    other.send(b"\r\n.\r\n").await;
    other.reply().await.assert(250, None);

    first.send(b"\r\n.\r\n").await;
    first.reply().await.assert(250, None);
    second.send(b"\r\n.\r\n").await;
    second.reply().await.assert(250, None);
    wait_until(|| gateway.core.gateway.memory_in_use() == 0).await;
    assert_eq!(gauge(&gateway), 0);
}

#[tokio::test(start_paused = true)]
async fn a_trickler_below_the_minimum_rate_is_cut_with_421_4_4_2() {
    let mut config = TestConfig::default();
    config
        .set("limits", "min_data_rate_bytes_per_second", "500")
        .set("limits", "min_data_rate_grace_seconds", "2")
        .set("timeouts", "data_seconds", "20");
    let gateway = TestGateway::with_config(config);
    let (mut smtp, session) = gateway.connect();
    smtp.reply().await.assert(220, None);
    smtp.command("EHLO client.test").await.assert(250, None);
    let started = tokio::time::Instant::now();
    start_message(&mut smtp, " SIZE=37748736", 100).await;
    wait_until(|| gateway.core.gateway.memory_in_use() > 0).await;
    // 100 bytes a second: never idle for the data timeout, but far below 500 B/s.
    tokio::time::sleep(Duration::from_secs(1)).await;
    smtp.send(&[b'z'; 100]).await;
    let got = smtp.reply().await;
    got.assert(421, Some("4.4.2"));
    assert!(got.text().contains("too slow"), "{got:?}");
    // Cut by the rate (after the 2 s grace), not by the 20 s idle timeout (tokio's clock).
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(session.await.unwrap(), SessionResult::Timeout);
    assert!(gateway.relayed().is_empty());
    assert_eq!(gateway.core.gateway.memory_in_use(), 0);
    assert_eq!(gauge(&gateway), 0);
}

#[tokio::test]
async fn a_protected_message_reserves_inspection_memory_or_gets_452_4_3_1() {
    // A budget that holds the message but not 4 times it for inspection.
    let message = fixture_message("good_basic.eml");
    let budget = (message.len() * 3).next_multiple_of(64 * 1024);
    let mut config = TestConfig::default();
    config
        .set("limits", "max_message_size", &budget.to_string())
        .set("limits", "memory_budget", &budget.to_string())
        .set("limits", "inspection_memory_factor", "1000");
    let gateway = TestGateway::with_config(config);
    let (mut smtp, _session) = gateway.ready().await;
    smtp.send_mail(FROM, &["kindengezin@wervik.be"], &message)
        .await
        .assert(452, Some("4.3.1"));
    assert!(gateway.relayed().is_empty());
    // Ordinary mail needs no inspection and still flows.
    smtp.send_mail(FROM, &[TO], &ordinary_message("ordinary"))
        .await
        .assert(250, None);
    assert_eq!(gateway.core.gateway.memory_in_use(), 0);
}

#[tokio::test]
async fn large_messages_beyond_the_concurrent_limit_get_452_4_3_1_and_small_mail_flows() {
    let mut config = TestConfig::default();
    config
        .set("access", "client_networks", "[\"127.0.0.0/8\"]")
        .set("limits", "max_message_size", &(4 * MIB).to_string())
        .set("limits", "memory_budget", &(64 * MIB).to_string())
        .set("limits", "large_message_size", &MIB.to_string())
        .set("limits", "max_concurrent_large_messages", "2");
    let gateway = TestGateway::with_config(config);
    // Two messages past 1 MiB in flight, from two addresses: both places taken.
    let mut first = ready_from(&gateway, "127.0.3.1:40000").await;
    start_message(&mut first, "", 1_500_000).await;
    let mut second = ready_from(&gateway, "127.0.3.2:40000").await;
    start_message(&mut second, "", 1_500_000).await;
    wait_until(|| gateway.core.gateway.large_messages() == 2).await;

    // A third large one, from a third address with its share and the budget to spare, is read
    // to its end and refused for now; it holds nothing afterwards.
    let mut third = ready_from(&gateway, "127.0.3.3:40000").await;
    start_message(&mut third, "", 1_500_000).await;
    third.send(b"\r\n.\r\n").await;
    third.reply().await.assert(452, Some("4.3.1"));
    assert_eq!(gateway.core.gateway.large_messages(), 2);

    // Below the size, mail from anyone still flows.
    let mut small = ready_from(&gateway, "127.0.3.4:40000").await;
    start_message(&mut small, "", 900_000).await;
    small.send(b"\r\n.\r\n").await;
    small.reply().await.assert(250, None);

    first.send(b"\r\n.\r\n").await;
    first.reply().await.assert(250, None);
    second.send(b"\r\n.\r\n").await;
    second.reply().await.assert(250, None);
    wait_until(|| gateway.core.gateway.large_messages() == 0).await;

    // The places are back: the third client's retry is accepted.
    start_message(&mut third, "", 1_500_000).await;
    third.send(b"\r\n.\r\n").await;
    third.reply().await.assert(250, None);
    wait_until(|| gateway.core.gateway.memory_in_use() == 0).await;
    assert_eq!(gateway.core.gateway.large_messages(), 0);
    assert_eq!(gateway.relayed().len(), 4);
}

#[tokio::test]
async fn inspections_run_at_most_as_many_at_once_as_configured() {
    let default = TestGateway::with_config(TestConfig::default());
    assert_eq!(
        default.core.gateway.inspection_places(),
        sealgate::config::cores()
    );
    let mut config = TestConfig::default();
    config.set("limits", "max_concurrent_inspections", "3");
    let gateway = TestGateway::with_config(config);
    assert_eq!(gateway.core.gateway.inspection_places(), 3);
    let held = gateway.core.gateway.inspection_permit().await;
    assert!(held.is_some());
    assert_eq!(gateway.core.gateway.inspection_places(), 2);
    drop(held);
    assert_eq!(gateway.core.gateway.inspection_places(), 3);
}
