//! The SMTP session in-process: every row of the reply table in docs/admin.md ("SMTP
//! behaviour"), pipelining, STARTTLS discarding, smuggling variants, limits, the next hop's
//! mirrored replies and failures, the pool, and protected mail on the committed fixtures.
//! The real session, transfer core and policy run over `tokio::io::duplex` with a scripted
//! next hop and a ledger in memory: no socket, no external program.

mod inprocess;

use std::time::Duration;

use inprocess::*;
use sealgate::metrics::SessionResult;
use sealgate::policy::{ReasonCode, Verdict};
use sealgate::reply::{Reply, Status};
use sealgate::transfer::MemoryLedger;
use tokio::io::AsyncWriteExt;

const FROM: &str = "sender@opgroeien.be";
const TO: &str = "someone@example.org";
const PROTECTED: &str = "kindengezin@wervik.be";

// ---------------------------------------------------------------------------------------------
// Greeting, EHLO, sequence

#[tokio::test]
async fn greeting_and_ehlo_list_the_extensions_and_the_size_limit() {
    let gateway = TestGateway::start(Options::default());
    let (mut smtp, _session) = gateway.connect();
    let greeting = smtp.reply().await;
    greeting.assert(220, None);
    assert_eq!(greeting.lines, vec!["sealgate.test ESMTP sealgate"]);
    let ehlo = smtp.command("EHLO client.test").await;
    ehlo.assert(250, None);
    assert_eq!(
        ehlo.lines,
        vec![
            "sealgate.test",
            "SIZE 37748736",
            "8BITMIME",
            "PIPELINING",
            "ENHANCEDSTATUSCODES",
            "SMTPUTF8",
            "HELP"
        ]
    );
    // HELO: no extensions.
    let helo = smtp.command("HELO client.test").await;
    assert_eq!(helo.lines, vec!["sealgate.test"]);
    smtp.command("QUIT").await.assert(221, Some("2.0.0"));
}

#[tokio::test]
async fn mail_before_ehlo_and_nested_mail_get_503_5_5_1() {
    let gateway = TestGateway::start(Options::default());
    let (mut smtp, _session) = gateway.connect();
    smtp.reply().await.assert(220, None);
    smtp.command(&format!("MAIL FROM:<{FROM}>"))
        .await
        .assert(503, Some("5.5.1"));
    smtp.command("EHLO client.test").await.assert(250, None);
    smtp.command(&format!("MAIL FROM:<{FROM}>"))
        .await
        .assert(250, Some("2.1.0"));
    smtp.command(&format!("MAIL FROM:<{FROM}>"))
        .await
        .assert(503, Some("5.5.1"));
    smtp.command(&format!("RCPT TO:<{TO}>"))
        .await
        .assert(250, None);
    smtp.command("RSET").await.assert(250, Some("2.0.0"));
    smtp.command(&format!("RCPT TO:<{TO}>"))
        .await
        .assert(503, Some("5.5.1"));
    // RSET reached the next hop too.
    assert!(gateway.commands().contains(&"RSET".to_string()));
}

#[tokio::test]
async fn mail_without_tls_when_required_gets_530_5_7_0() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = TestConfig::default();
    let (cert, key) = test_certificate(dir.path());
    config
        .set("smtp.tls", "cert", &toml_path(&cert))
        .set("smtp.tls", "key", &toml_path(&key))
        .set("smtp", "require_tls", "true");
    let gateway = TestGateway::start_in(
        dir,
        Options {
            config,
            ..Options::default()
        },
    );
    let (mut smtp, _session) = gateway.ready().await;
    smtp.command(&format!("MAIL FROM:<{FROM}>"))
        .await
        .assert(530, Some("5.7.0"));
}

// ---------------------------------------------------------------------------------------------
// Pre-greet, PROXY, session limits

#[tokio::test]
async fn a_client_that_talks_before_the_greeting_is_dropped_without_a_word() {
    let gateway = TestGateway::start(Options::default());
    let (mut ours, theirs) = tokio::io::duplex(4096);
    ours.write_all(b"EHLO impatient.test\r\n").await.unwrap();
    let session = gateway.serve(theirs, "127.0.0.1:40001");
    let end = tokio::time::timeout(Duration::from_secs(30), session)
        .await
        .expect("the session ends at once");
    assert_eq!(end.unwrap(), SessionResult::Dropped);
    let mut smtp = Smtp::new(ours);
    assert!(
        smtp.closes_silently().await,
        "no greeting may reach a client that talked first"
    );
    assert!(gateway.commands().is_empty());
}

#[tokio::test]
async fn a_proxy_header_from_an_untrusted_peer_closes_the_connection() {
    let gateway = TestGateway::start(Options::default());
    let (mut smtp, session) = gateway.connect();
    smtp.reply().await.assert(220, None);
    smtp.send(b"PROXY TCP4 10.1.2.3 10.4.5.6 1234 25\r\n").await;
    assert!(smtp.closes_silently().await);
    assert_eq!(session.await.unwrap(), SessionResult::Error);
}

#[tokio::test]
async fn sessions_over_the_per_client_limit_get_421_4_7_0() {
    let mut config = TestConfig::default();
    config.set("limits", "max_sessions_per_client", "1");
    let gateway = TestGateway::with_config(config);
    let (mut first, _first) = gateway.ready().await;
    let (mut second, refused) = gateway.connect();
    second.reply().await.assert(421, Some("4.7.0"));
    assert_eq!(refused.await.unwrap(), SessionResult::RefusedLimit);
    // The first session is undisturbed.
    first.command("NOOP").await.assert(250, Some("2.0.0"));
}

// ---------------------------------------------------------------------------------------------
// Envelope refusals

#[tokio::test]
async fn mail_with_a_size_over_the_limit_gets_552_5_3_4() {
    let gateway = TestGateway::start(Options::default());
    let (mut smtp, _session) = gateway.ready().await;
    smtp.command(&format!("MAIL FROM:<{FROM}> SIZE=99999999"))
        .await
        .assert(552, Some("5.3.4"));
    assert_eq!(gateway.opens(), 0);
}

#[tokio::test]
async fn a_client_outside_client_networks_gets_554_5_7_1_and_costs_no_next_hop() {
    let gateway = TestGateway::start(Options::default());
    let (mut smtp, _session) = gateway.connect_from("192.0.2.7:40000");
    smtp.reply().await.assert(220, None);
    smtp.command("EHLO outsider.test").await.assert(250, None);
    smtp.command(&format!("MAIL FROM:<{FROM}>"))
        .await
        .assert(250, Some("2.1.0"));
    smtp.command(&format!("RCPT TO:<{TO}>"))
        .await
        .assert(554, Some("5.7.1"));
    smtp.command("DATA").await.assert(554, Some("5.5.1"));
    assert_eq!(
        gateway.opens(),
        0,
        "no next-hop connection for a refused client"
    );
}

#[tokio::test]
async fn routing_tricks_are_refused_with_553_5_1_3() {
    let gateway = TestGateway::start(Options::default());
    let (mut smtp, _session) = gateway.ready().await;
    smtp.command(&format!("MAIL FROM:<{FROM}>"))
        .await
        .assert(250, None);
    for trick in [
        "user%elsewhere.example@example.org",
        "elsewhere!user@example.org",
        "@relay.example:user@example.org",
        "user@[192.0.2.1]",
        "user@elsewhere@example.org",
    ] {
        let got = smtp.command(&format!("RCPT TO:<{trick}>")).await;
        assert_eq!(
            (got.code, got.enhanced.as_deref()),
            (553, Some("5.1.3")),
            "{trick}: {got:?}"
        );
    }
    assert!(gateway.commands().iter().all(|c| !c.starts_with("RCPT")));
}

#[tokio::test]
async fn too_many_recipients_get_452_4_5_3() {
    let mut config = TestConfig::default();
    config.set("limits", "max_recipients", "2");
    let gateway = TestGateway::with_config(config);
    let (mut smtp, _session) = gateway.ready().await;
    smtp.command(&format!("MAIL FROM:<{FROM}>"))
        .await
        .assert(250, None);
    smtp.command("RCPT TO:<a@example.org>")
        .await
        .assert(250, None);
    smtp.command("RCPT TO:<b@example.org>")
        .await
        .assert(250, None);
    smtp.command("RCPT TO:<c@example.org>")
        .await
        .assert(452, Some("4.5.3"));
    smtp.command("DATA").await.assert(354, None);
    smtp.send(&stuffed(&ordinary_message("two of three"))).await;
    smtp.reply().await.assert(250, None);
    let rcpts: Vec<String> = gateway
        .commands()
        .into_iter()
        .filter(|c| c.starts_with("RCPT"))
        .collect();
    assert_eq!(rcpts, vec!["RCPT a@example.org", "RCPT b@example.org"]);
}

#[tokio::test]
async fn data_without_an_accepted_recipient_gets_554_5_5_1() {
    let script = Script::default().rcpt(TO, Reply::new(550, Status(5, 1, 1), "no such user"));
    let gateway = TestGateway::with_script(script);
    let (mut smtp, _session) = gateway.ready().await;
    smtp.command(&format!("MAIL FROM:<{FROM}>"))
        .await
        .assert(250, None);
    smtp.command(&format!("RCPT TO:<{TO}>"))
        .await
        .assert(550, Some("5.1.1"));
    smtp.command("DATA").await.assert(554, Some("5.5.1"));
    assert!(!gateway.commands().contains(&"DATA".to_string()));
}

// ---------------------------------------------------------------------------------------------
// The next hop: lazy opening, mirrored replies, failures

#[tokio::test]
async fn the_next_hop_is_opened_at_the_first_accepted_recipient() {
    let gateway = TestGateway::start(Options::default());
    let (mut smtp, _session) = gateway.ready().await;
    smtp.command(&format!("MAIL FROM:<{FROM}> SIZE=1000"))
        .await
        .assert(250, Some("2.1.0"));
    assert_eq!(gateway.opens(), 0, "MAIL is sealgate's own answer");
    smtp.command("RCPT TO:<bad%trick@example.org>")
        .await
        .assert(553, None);
    assert_eq!(
        gateway.opens(),
        0,
        "a recipient sealgate refuses opens nothing"
    );
    smtp.command(&format!("RCPT TO:<{TO}>"))
        .await
        .assert(250, Some("2.1.5"));
    assert_eq!(gateway.opens(), 1);
    assert_eq!(
        gateway.commands(),
        vec![format!("MAIL {FROM}"), format!("RCPT {TO}")]
    );
}

#[tokio::test]
async fn next_hop_unreachable_gives_451_4_4_1_at_rcpt_for_the_whole_transaction() {
    let gateway = TestGateway::with_script(Script {
        unreachable: true,
        ..Script::default()
    });
    let (mut smtp, _session) = gateway.ready().await;
    smtp.command(&format!("MAIL FROM:<{FROM}>"))
        .await
        .assert(250, None);
    smtp.command(&format!("RCPT TO:<{TO}>"))
        .await
        .assert(451, Some("4.4.1"));
    smtp.command("RCPT TO:<other@example.org>")
        .await
        .assert(451, Some("4.4.1"));
    let data = smtp.command("DATA").await;
    assert_eq!(
        data.code / 100,
        5,
        "never 354 without a recipient: {data:?}"
    );
}

#[tokio::test]
async fn a_refused_mail_at_the_next_hop_is_mirrored_at_each_rcpt() {
    let gateway = TestGateway::with_script(Script {
        mail: Some(Reply::new(553, Status(5, 1, 8), "sender domain unknown")),
        ..Script::default()
    });
    let (mut smtp, _session) = gateway.ready().await;
    smtp.command(&format!("MAIL FROM:<{FROM}>"))
        .await
        .assert(250, None);
    for rcpt in [TO, "other@example.org"] {
        let got = smtp.command(&format!("RCPT TO:<{rcpt}>")).await;
        got.assert(553, Some("5.1.8"));
        assert_eq!(got.lines, vec!["sender domain unknown"]);
    }
    smtp.command("DATA").await.assert(554, Some("5.5.1"));
    // One MAIL at the next hop, no RCPT: the refusal is remembered, not asked again.
    assert_eq!(gateway.commands(), vec![format!("MAIL {FROM}")]);
    // The next transaction starts afresh.
    smtp.command("RSET").await.assert(250, None);
}

#[tokio::test]
async fn rcpt_refusals_of_the_next_hop_are_mirrored_per_recipient() {
    let script = Script::default()
        .rcpt(
            "busy@example.org",
            Reply::new(450, Status(4, 2, 1), "mailbox busy"),
        )
        .rcpt(
            "gone@example.org",
            Reply::multiline(
                550,
                Status(5, 1, 1),
                vec!["no such user".into(), "really".into()],
            ),
        );
    let gateway = TestGateway::with_script(script);
    let (mut smtp, _session) = gateway.ready().await;
    smtp.command(&format!("MAIL FROM:<{FROM}>"))
        .await
        .assert(250, None);
    smtp.command("RCPT TO:<busy@example.org>")
        .await
        .assert(450, Some("4.2.1"));
    let gone = smtp.command("RCPT TO:<gone@example.org>").await;
    gone.assert(550, Some("5.1.1"));
    assert_eq!(
        gone.raw,
        b"550-5.1.1 no such user\r\n550 5.1.1 really\r\n".to_vec()
    );
    smtp.command(&format!("RCPT TO:<{TO}>"))
        .await
        .assert(250, None);
    smtp.command("DATA").await.assert(354, None);
    smtp.send(&stuffed(&ordinary_message("mirrored"))).await;
    smtp.reply().await.assert(250, Some("2.0.0"));
}

#[tokio::test]
async fn the_final_reply_of_the_next_hop_is_mirrored() {
    for reply in [
        Reply::new(250, Status(2, 0, 0), "Ok: queued as ABC123"),
        Reply::new(452, Status(4, 3, 1), "disk full"),
        Reply::new(554, Status(5, 7, 1), "spam"),
        // A refusal of DATA itself comes back the same way.
        Reply::new(554, Status(5, 5, 1), "no valid recipients here"),
    ] {
        let gateway = TestGateway::with_script(Script {
            data: Some(reply.clone()),
            ..Script::default()
        });
        let (mut smtp, _session) = gateway.ready().await;
        let got = smtp
            .send_mail(FROM, &[TO], &ordinary_message("final"))
            .await;
        let mut wire = Vec::new();
        reply.write_to(&mut wire);
        assert_eq!(got.raw, wire, "mirrored byte for byte");
    }
}

#[tokio::test]
async fn next_hop_lost_or_silent_during_the_message_gives_451_4_4_2() {
    for failure in [DataFailure::Closes, DataFailure::TimesOut] {
        let gateway = TestGateway::with_script(Script {
            data_failure: Some(failure),
            ..Script::default()
        });
        let (mut smtp, _session) = gateway.ready().await;
        smtp.send_mail(FROM, &[TO], &ordinary_message("lost"))
            .await
            .assert(451, Some("4.4.2"));
        // The session goes on; the next transaction opens a new connection.
        smtp.send_mail(FROM, &[TO], &ordinary_message("again"))
            .await
            .assert(451, Some("4.4.2"));
        assert_eq!(gateway.opens(), 2, "{failure:?}");
    }
}

#[tokio::test]
async fn a_message_is_relayed_unchanged_after_one_received_header() {
    let gateway = TestGateway::start(Options::default());
    let (mut smtp, _session) = gateway.ready().await;
    let message = ordinary_message("unchanged");
    smtp.send_mail(FROM, &[TO], &message)
        .await
        .assert(250, None);
    let relayed = gateway.relayed();
    assert_eq!(relayed.len(), 1);
    let (trace, body) = &relayed[0];
    assert_eq!(body, &message, "dot-unstuffed and otherwise untouched");
    let trace = String::from_utf8_lossy(trace);
    assert!(
        trace.starts_with("Received: from client.test ([127.0.0.1])\r\n\tby sealgate.test (sealgate) with ESMTP id "),
        "{trace}"
    );
    assert_eq!(trace.matches("Received:").count(), 1);
}

#[tokio::test]
async fn a_pipelined_batch_is_answered_in_order() {
    let gateway = TestGateway::start(Options::default());
    let (mut smtp, _session) = gateway.ready().await;
    let mut batch = format!(
        "MAIL FROM:<{FROM}>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<bad!path@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"
    )
    .into_bytes();
    smtp.send(&batch).await;
    smtp.reply().await.assert(250, Some("2.1.0"));
    smtp.reply().await.assert(250, Some("2.1.5"));
    smtp.reply().await.assert(553, Some("5.1.3"));
    smtp.reply().await.assert(250, Some("2.1.5"));
    smtp.reply().await.assert(354, None);
    // The message, QUIT and NOOP in one write as well.
    batch = stuffed(&ordinary_message("pipelined"));
    batch.extend_from_slice(b"NOOP\r\nQUIT\r\n");
    smtp.send(&batch).await;
    smtp.reply().await.assert(250, Some("2.0.0"));
    smtp.reply().await.assert(250, Some("2.0.0"));
    smtp.reply().await.assert(221, Some("2.0.0"));
    assert_eq!(gateway.relayed().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Message refusals: size, smuggling, memory

#[tokio::test]
async fn data_over_the_limit_gets_552_5_3_4_after_the_end_of_data() {
    let mut config = TestConfig::default();
    config.set("limits", "max_message_size", "1000");
    let gateway = TestGateway::with_config(config);
    let (mut smtp, _session) = gateway.ready().await;
    let mut big = ordinary_message("big");
    big.extend(std::iter::repeat_n(b"0123456789012345678\r\n".to_vec(), 100).flatten());
    smtp.send_mail(FROM, &[TO], &big)
        .await
        .assert(552, Some("5.3.4"));
    assert!(gateway.relayed().is_empty());
    assert!(gateway.commands().contains(&"RSET".to_string()));
    // The session is still in order.
    smtp.command("NOOP").await.assert(250, None);
}

/// Sends `data` (already in wire form, ending with CRLF.CRLF) after DATA.
async fn raw_data(smtp: &mut Smtp, data: &[u8]) -> Got {
    smtp.command(&format!("MAIL FROM:<{FROM}>"))
        .await
        .assert(250, None);
    smtp.command(&format!("RCPT TO:<{TO}>"))
        .await
        .assert(250, None);
    smtp.command("DATA").await.assert(354, None);
    smtp.send(data).await;
    smtp.reply().await
}

#[tokio::test]
async fn smuggling_variants_are_refused_with_550_5_5_2_and_nothing_is_smuggled() {
    let smuggled = "MAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n";
    for (name, data) in [
        (
            "bare LF",
            "Subject: a\r\n\r\nline\nmore\r\n.\r\n".to_string(),
        ),
        (
            "bare CR",
            "Subject: a\r\n\r\nline\rmore\r\n.\r\n".to_string(),
        ),
        (
            "LF.CRLF",
            format!("Subject: a\r\n\r\nhello\n.\r\n{smuggled}.\r\n"),
        ),
        (
            "CR.CR",
            format!("Subject: a\r\n\r\nhello\r.\r{smuggled}.\r\n"),
        ),
        (
            "CRLF.LF",
            format!("Subject: a\r\n\r\nhello\r\n.\n{smuggled}.\r\n"),
        ),
    ] {
        let gateway = TestGateway::start(Options::default());
        let (mut smtp, _session) = gateway.ready().await;
        raw_data(&mut smtp, data.as_bytes())
            .await
            .assert(550, Some("5.5.2"));
        // Exactly one reply for the whole data: the smuggled commands were data, not commands.
        smtp.command("NOOP").await.assert(250, Some("2.0.0"));
        assert!(gateway.relayed().is_empty(), "{name}");
        assert!(
            !gateway.commands().iter().any(|c| c.contains("evil")),
            "{name}: {:?}",
            gateway.commands()
        );
    }
}

#[tokio::test]
async fn a_spent_memory_budget_gets_452_4_3_1_and_frees_up_again() {
    let mut config = TestConfig::default();
    config
        .set("limits", "max_message_size", "65536")
        .set("limits", "memory_budget", "65536");
    let gateway = TestGateway::with_config(config);
    // The first session holds the whole budget with a message still arriving.
    let (mut holder, _holder) = gateway.ready().await;
    holder
        .command(&format!("MAIL FROM:<{FROM}>"))
        .await
        .assert(250, None);
    holder
        .command(&format!("RCPT TO:<{TO}>"))
        .await
        .assert(250, None);
    holder.command("DATA").await.assert(354, None);
    let mut part = b"Subject: held\r\n\r\n".to_vec();
    // Half a unit: the buffer's growth (doubling) stays within the one 64 KiB unit.
    part.extend(std::iter::repeat_n(b'x', 30_000));
    holder.send(&part).await;
    wait_until(|| gateway.core.gateway.memory_in_use() >= 65536).await;

    let (mut other, _other) = gateway.ready().await;
    other
        .send_mail(FROM, &[TO], &ordinary_message("no room"))
        .await
        .assert(452, Some("4.3.1"));

    holder.send(b"\r\n.\r\n").await;
    holder.reply().await.assert(250, None);
    other
        .send_mail(FROM, &[TO], &ordinary_message("room again"))
        .await
        .assert(250, None);
    assert_eq!(gateway.core.gateway.memory_in_use(), 0);
}

// ---------------------------------------------------------------------------------------------
// Command limits, errors, timeouts, shutdown

#[tokio::test]
async fn an_overlong_command_line_gets_500_5_5_2_and_the_session_goes_on() {
    let gateway = TestGateway::start(Options::default());
    let (mut smtp, _session) = gateway.ready().await;
    let long = format!("NOOP {}", "x".repeat(5000));
    smtp.command(&long).await.assert(500, Some("5.5.2"));
    smtp.command("NOOP").await.assert(250, None);
}

#[tokio::test]
async fn too_many_errors_end_the_session_with_421_4_7_0() {
    let mut config = TestConfig::default();
    config.set("limits", "max_errors", "3");
    let gateway = TestGateway::with_config(config);
    let (mut smtp, session) = gateway.ready().await;
    smtp.command("BOGUS").await.assert(500, Some("5.5.1"));
    smtp.command("BOGUS").await.assert(500, Some("5.5.1"));
    smtp.command("BOGUS").await.assert(500, Some("5.5.1"));
    smtp.reply().await.assert(421, Some("4.7.0"));
    assert!(smtp.try_reply().await.is_none());
    assert_eq!(session.await.unwrap(), SessionResult::Error);
}

/// Timeouts shorter than the harness's own wait for a reply (which guards against hangs).
fn short_timeouts() -> TestConfig {
    let mut config = TestConfig::default();
    config
        .set("timeouts", "command_seconds", "20")
        .set("timeouts", "data_seconds", "20");
    config
}

#[tokio::test(start_paused = true)]
async fn an_idle_client_gets_421_4_4_2_and_is_disconnected() {
    let gateway = TestGateway::with_config(short_timeouts());
    let (mut smtp, session) = gateway.ready().await;
    // Paused time moves on by itself while everyone waits: the timeout passes at once.
    smtp.reply().await.assert(421, Some("4.4.2"));
    assert!(smtp.try_reply().await.is_none());
    assert_eq!(session.await.unwrap(), SessionResult::Timeout);
}

#[tokio::test(start_paused = true)]
async fn an_idle_client_in_data_gets_421_4_4_2_and_nothing_is_relayed() {
    let gateway = TestGateway::with_config(short_timeouts());
    let (mut smtp, session) = gateway.ready().await;
    smtp.command(&format!("MAIL FROM:<{FROM}>"))
        .await
        .assert(250, None);
    smtp.command(&format!("RCPT TO:<{TO}>"))
        .await
        .assert(250, None);
    smtp.command("DATA").await.assert(354, None);
    smtp.send(b"Subject: half a message\r\n").await;
    smtp.reply().await.assert(421, Some("4.4.2"));
    assert_eq!(session.await.unwrap(), SessionResult::Timeout);
    assert!(gateway.relayed().is_empty());
    assert!(gateway.commands().contains(&"RSET".to_string()));
}

#[tokio::test]
async fn shutdown_answers_an_idle_session_421_4_3_2() {
    let gateway = TestGateway::start(Options::default());
    let (mut smtp, session) = gateway.ready().await;
    gateway.core.gateway.begin_shutdown();
    smtp.reply().await.assert(421, Some("4.3.2"));
    assert_eq!(session.await.unwrap(), SessionResult::Shutdown);
}

// ---------------------------------------------------------------------------------------------
// STARTTLS

fn tls_gateway(users: bool) -> TestGateway {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = test_certificate(dir.path());
    let mut config = TestConfig::default();
    config
        .set("smtp.tls", "cert", &toml_path(&cert))
        .set("smtp.tls", "key", &toml_path(&key));
    if users {
        use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
        let salt = SaltString::generate(&mut OsRng);
        let hash = argon2::Argon2::default()
            .hash_password(b"Secret-1", &salt)
            .unwrap()
            .to_string();
        config.set(
            "access",
            "users",
            &format!("[{{ name = \"exchange\", password_hash = \"{hash}\" }}]"),
        );
    }
    TestGateway::start_in(
        dir,
        Options {
            config,
            ..Options::default()
        },
    )
}

#[tokio::test]
async fn starttls_is_offered_and_auth_only_inside_tls() {
    let gateway = tls_gateway(true);
    let (mut smtp, _session) = gateway.connect();
    smtp.reply().await.assert(220, None);
    let ehlo = smtp.command("EHLO client.test").await;
    assert!(ehlo.lines.contains(&"STARTTLS".to_string()), "{ehlo:?}");
    assert!(
        !ehlo.lines.iter().any(|l| l.starts_with("AUTH")),
        "{ehlo:?}"
    );
    smtp.command("AUTH PLAIN AGV4Y2hhbmdlAFNlY3JldC0x")
        .await
        .assert(538, Some("5.7.11"));
    smtp.command("STARTTLS").await.assert(220, Some("2.0.0"));
    let mut smtp = smtp.upgrade().await;
    let ehlo = smtp.command("EHLO client.test").await;
    assert!(!ehlo.lines.contains(&"STARTTLS".to_string()), "{ehlo:?}");
    assert!(
        ehlo.lines.contains(&"AUTH PLAIN LOGIN".to_string()),
        "{ehlo:?}"
    );
    // \0exchange\0Secret-1
    smtp.command("AUTH PLAIN AGV4Y2hhbmdlAFNlY3JldC0x")
        .await
        .assert(235, Some("2.7.0"));
    smtp.send_mail(FROM, &[TO], &ordinary_message("over TLS"))
        .await
        .assert(250, None);
    let (trace, _) = &gateway.relayed()[0];
    let trace = String::from_utf8_lossy(trace);
    assert!(trace.contains("with ESMTPSA id"), "{trace}");
    assert!(trace.contains("(using TLSv1."), "{trace}");
}

#[tokio::test]
async fn commands_pipelined_after_starttls_are_discarded() {
    let gateway = tls_gateway(false);
    let (mut smtp, _session) = gateway.connect();
    smtp.reply().await.assert(220, None);
    smtp.command("EHLO client.test").await.assert(250, None);
    // CVE-2011-0411: plaintext after STARTTLS, in the same packet, must not run inside TLS.
    smtp.send(format!("STARTTLS\r\nMAIL FROM:<{FROM}>\r\nRCPT TO:<{TO}>\r\n").as_bytes())
        .await;
    smtp.reply().await.assert(220, Some("2.0.0"));
    let mut smtp = smtp.upgrade().await;
    // The first reply inside TLS answers EHLO: nothing was left over from the plaintext.
    let ehlo = smtp.command("EHLO client.test").await;
    ehlo.assert(250, None);
    assert_eq!(ehlo.lines[0], "sealgate.test");
    // And there is no transaction: the injected MAIL never ran.
    smtp.command(&format!("RCPT TO:<{TO}>"))
        .await
        .assert(503, Some("5.5.1"));
    assert!(gateway.commands().is_empty(), "{:?}", gateway.commands());
}

// ---------------------------------------------------------------------------------------------
// Protected mail

#[tokio::test]
async fn a_good_protected_message_is_relayed_and_recorded() {
    let gateway = TestGateway::start(Options::default());
    let (mut smtp, _session) = gateway.ready().await;
    let message = fixture_message("good_basic.eml");
    smtp.send_mail(FROM, &[PROTECTED], &message)
        .await
        .assert(250, Some("2.0.0"));
    assert_eq!(gateway.relayed()[0].1, message);
    let entries = gateway.ledger.entries();
    assert_eq!(entries.len(), 1);
    let (record, outcome) = &entries[0];
    assert_eq!(record.verdict, Verdict::Pass);
    assert_eq!(record.recipients[0].address, PROTECTED);
    let outcome = outcome.as_ref().expect("an outcome");
    assert_eq!(
        (outcome.reply_code, outcome.outcome.as_str()),
        (250, "relayed")
    );
}

#[tokio::test]
async fn a_bad_protected_message_is_refused_with_its_reason_code_and_never_relayed() {
    let gateway = TestGateway::start(Options::default());
    let (mut smtp, _session) = gateway.ready().await;
    let got = smtp
        .send_mail(FROM, &[PROTECTED], &fixture_message("no_attachment.eml"))
        .await;
    got.assert(550, Some("5.7.1"));
    assert!(got.lines[0].contains("sealgate: no_archive"), "{got:?}");
    assert!(got.lines.len() > 2, "Dutch and English texts: {got:?}");
    assert!(gateway.relayed().is_empty());
    assert!(!gateway.commands().contains(&"DATA".to_string()));
    let entries = gateway.ledger.entries();
    assert_eq!(entries[0].0.verdict, Verdict::Reject);
    assert_eq!(entries[0].0.reasons, vec![ReasonCode::NoArchive]);
    assert_eq!(entries[0].1.as_ref().map(|o| o.reply_code), Some(550));
}

#[tokio::test]
async fn an_unwritable_audit_store_gives_451_4_3_0_and_nothing_is_sent() {
    let gateway = TestGateway::start(Options {
        ledger: MemoryLedger::unwritable(),
        ..Options::default()
    });
    let (mut smtp, _session) = gateway.ready().await;
    smtp.send_mail(FROM, &[PROTECTED], &fixture_message("good_basic.eml"))
        .await
        .assert(451, Some("4.3.0"));
    assert!(gateway.relayed().is_empty());
    assert!(!gateway.commands().contains(&"DATA".to_string()));
}

#[tokio::test]
async fn the_sqlite_audit_store_records_protected_mail_through_the_core() {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("sqlite:{}", dir.path().join("audit.db").display());
    let store = std::sync::Arc::new(
        sealgate::audit::AuditStore::open(&spec, "test")
            .await
            .unwrap(),
    );
    let gateway = TestGateway::start(Options {
        audit: Some(store.clone()),
        ..Options::default()
    });
    let (mut smtp, _session) = gateway.ready().await;
    smtp.send_mail(FROM, &[PROTECTED], &fixture_message("good_basic.eml"))
        .await
        .assert(250, None);
    smtp.send_mail(FROM, &[PROTECTED], &fixture_message("no_attachment.eml"))
        .await
        .assert(550, Some("5.7.1"));
    let transfers = store
        .transfers(&sealgate::audit::TransferQuery::default())
        .await
        .unwrap();
    assert_eq!(transfers.len(), 2);
    assert!(transfers.iter().all(|t| t.complete()));
    assert_eq!(transfers[0].record.verdict, Verdict::Pass);
    assert_eq!(transfers[1].record.reasons, vec![ReasonCode::NoArchive]);
    assert!(store.verify().await.unwrap().verifies(), "the chain holds");
}

#[tokio::test]
async fn ordinary_mail_is_never_recorded() {
    let gateway = TestGateway::start(Options::default());
    let (mut smtp, _session) = gateway.ready().await;
    smtp.send_mail(FROM, &[TO], &fixture_message("no_attachment.eml"))
        .await
        .assert(250, None);
    assert!(gateway.ledger.entries().is_empty());
}

// ---------------------------------------------------------------------------------------------
// The next-hop pool

#[tokio::test]
async fn a_second_session_reuses_the_pooled_next_hop_connection() {
    let gateway = TestGateway::start(Options::default());
    for n in 0..3 {
        let (mut smtp, session) = gateway.ready().await;
        smtp.send_mail(FROM, &[TO], &ordinary_message(&format!("pooled {n}")))
            .await
            .assert(250, None);
        smtp.command("QUIT").await.assert(221, None);
        session.await.unwrap();
    }
    assert_eq!(gateway.relayed().len(), 3);
    // Without the pool every session would open its own connection (3).
    assert_eq!(gateway.opens(), 1, "{:?}", gateway.commands());
    assert!(!gateway.commands().contains(&"QUIT".to_string()));
}

#[tokio::test]
async fn a_reload_reaches_an_open_connection_at_its_next_transaction() {
    let gateway = TestGateway::start(Options::default());
    let (mut smtp, _session) = gateway.ready().await;
    smtp.send_mail(
        FROM,
        &[TO, "second@example.org"],
        &ordinary_message("before"),
    )
    .await
    .assert(250, None);
    // The administrator lowers the recipient limit and reloads (SIGHUP).
    let mut lowered = gateway.config.clone();
    lowered.limits.max_recipients = 1;
    let settings = sealgate::gateway::Settings::build(lowered).unwrap();
    gateway.core.gateway.replace_settings(settings);
    smtp.command(&format!("MAIL FROM:<{FROM}>"))
        .await
        .assert(250, None);
    smtp.command(&format!("RCPT TO:<{TO}>"))
        .await
        .assert(250, None);
    smtp.command("RCPT TO:<second@example.org>")
        .await
        .assert(452, Some("4.5.3"));
    // The next-hop connection of the old settings was closed, a new one opened.
    assert_eq!(gateway.opens(), 2);
    assert!(gateway.commands().contains(&"QUIT".to_string()));
}

#[tokio::test]
async fn a_reload_keeps_pooled_connections_from_new_transactions() {
    let gateway = TestGateway::start(Options::default());
    let (mut smtp, session) = gateway.ready().await;
    smtp.send_mail(FROM, &[TO], &ordinary_message("before"))
        .await
        .assert(250, None);
    smtp.command("QUIT").await.assert(221, None);
    session.await.unwrap();
    // A reload: new settings, so the kept connection belongs to the old ones.
    let settings = sealgate::gateway::Settings::build(gateway.config.clone()).unwrap();
    gateway.core.gateway.replace_settings(settings);
    let (mut smtp, _session) = gateway.ready().await;
    smtp.send_mail(FROM, &[TO], &ordinary_message("after"))
        .await
        .assert(250, None);
    assert_eq!(gateway.opens(), 2);
}
