#![cfg(feature = "real-peers")]
//! End to end with a raw SMTP client: exact bytes in exact writes, every reply checked.
//! The gateway runs as a process and relays to the byte-exact sink.

mod common;

use std::time::Duration;

use common::raw::{Client, Reply};
use common::*;

const FROM: &str = "staff@agency.test";
const TO: &str = "someone@example.org";

fn gateway_with(sink: &Sink, settings: &[(&str, &str, &str)]) -> Gateway {
    let mut config = GatewayConfig::new(sink.port());
    for (section, key, value) in settings {
        config.set(section, key, value);
    }
    config.start()
}

fn envelope(client: &mut Client, to: &str) {
    client
        .command(&format!("MAIL FROM:<{FROM}>"))
        .assert(250, "2.");
    client.command(&format!("RCPT TO:<{to}>")).assert(250, "2.");
}

#[test]
fn ehlo_advertises_the_extensions_and_the_size_limit() {
    require_peers();
    let sink = Sink::start();
    let gateway = gateway_with(&sink, &[("limits", "max_message_size", "123456")]);
    let mut client = Client::connect_silent(gateway.port());
    let greeting = client.reply().unwrap();
    assert_eq!(greeting.code, 220);
    assert!(
        greeting.text().starts_with("sealgate.test ESMTP"),
        "{greeting:?}"
    );
    let ehlo = client.command("EHLO client.test");
    assert_eq!(ehlo.code, 250);
    assert_eq!(ehlo.lines[0], "sealgate.test");
    for extension in [
        "SIZE 123456",
        "8BITMIME",
        "PIPELINING",
        "ENHANCEDSTATUSCODES",
        "SMTPUTF8",
    ] {
        assert!(
            ehlo.lines.iter().any(|l| l == extension),
            "{extension} missing: {ehlo:?}"
        );
    }
    assert!(
        !ehlo.lines.iter().any(|l| l == "STARTTLS"),
        "no TLS configured: {ehlo:?}"
    );
    client.command("NOOP").assert(250, "2.0.0");
    client.command("RSET").assert(250, "2.0.0");
    client.command("VRFY someone").assert(252, "2.5.0");
    client.command("FROB nicate").assert(500, "5.5.1");
    client.command("QUIT").assert(221, "2.0.0");
    assert!(client.is_closed());
}

#[test]
fn a_pipelined_batch_is_answered_in_order_and_dots_are_transparent() {
    require_peers();
    let sink = Sink::start();
    let gateway = gateway_with(&sink, &[]);
    let (mut client, _) = Client::ehlo(gateway.port());
    client.send(
        format!("MAIL FROM:<{FROM}> BODY=8BITMIME\r\nRCPT TO:<{TO}>\r\nRCPT TO:<two@example.org>\r\nDATA\r\n")
            .as_bytes(),
    );
    let replies = client.replies(4);
    assert_eq!(
        replies.iter().map(|r| r.code).collect::<Vec<_>>(),
        vec![250, 250, 250, 354],
        "{replies:?}"
    );
    let body =
        "Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nnot the end\r\nÉén 8bit regel\r\n";
    let stuffed = "Subject: dots\r\n\r\n..leading dot\r\n...two dots\r\n..\r\nnot the end\r\nÉén 8bit regel\r\n";
    // End of data, then a second transaction and QUIT, all in one write.
    client
        .send(format!("{stuffed}.\r\nMAIL FROM:<{FROM}>\r\nRCPT TO:<{TO}>\r\nDATA\r\n").as_bytes());
    let replies = client.replies(4);
    assert_eq!(replies[0].code, 250, "{replies:?}");
    assert_eq!(
        replies[1..].iter().map(|r| r.code).collect::<Vec<_>>(),
        vec![250, 250, 354],
        "{replies:?}"
    );
    client.send(b"Subject: second\r\n\r\nsecond\r\n.\r\nQUIT\r\n");
    let replies = client.replies(2);
    assert_eq!(replies[0].code, 250, "{replies:?}");
    replies[1].assert(221, "2.0.0");
    let stored = sink.wait_for(2, ARRIVAL);
    assert_eq!(stored[0].rcpt_tos, vec![TO, "two@example.org"]);
    assert_relayed_exactly(body.as_bytes(), &stored[0].bytes);
    assert_relayed_exactly(b"Subject: second\r\n\r\nsecond\r\n", &stored[1].bytes);
}

#[test]
fn next_hop_down_gives_451_4_4_1_at_the_first_rcpt() {
    require_peers();
    let gateway = GatewayConfig::new(free_port()).start();
    let (mut client, _) = Client::ehlo(gateway.port());
    // MAIL is sealgate's own answer; the next hop is opened at the first accepted recipient.
    client
        .command(&format!("MAIL FROM:<{FROM}>"))
        .assert(250, "2.1.0");
    client
        .command(&format!("RCPT TO:<{TO}>"))
        .assert(451, "4.4.1");
    client
        .command("RCPT TO:<second@example.org>")
        .assert(451, "4.4.1");
    // No recipient was accepted: DATA is refused, never 354.
    let data = client.command("DATA");
    assert_eq!(data.code / 100, 5, "{data:?}");
}

#[test]
fn a_client_outside_client_networks_gets_554_5_7_1() {
    require_peers();
    let sink = Sink::start();
    let gateway = gateway_with(&sink, &[("access", "client_networks", "[\"10.9.8.0/24\"]")]);
    let (mut client, _) = Client::ehlo(gateway.port());
    client
        .command(&format!("MAIL FROM:<{FROM}>"))
        .assert(250, "2.");
    client
        .command(&format!("RCPT TO:<{TO}>"))
        .assert(554, "5.7.1");
    client
        .command("RCPT TO:<postmaster@sealgate.test>")
        .assert(554, "5.7.1");
    client.command("DATA").assert(554, "5.5.1");
    assert!(sink.messages().is_empty());
}

#[test]
fn routing_tricks_are_refused_with_553_5_1_3() {
    require_peers();
    let sink = Sink::start();
    let gateway = gateway_with(&sink, &[]);
    let (mut client, _) = Client::ehlo(gateway.port());
    client
        .command(&format!("MAIL FROM:<{FROM}>"))
        .assert(250, "2.");
    for trick in [
        "user%elsewhere.test@sealgate.test",
        "@relay.test,@other.test:user@example.org",
        "elsewhere.test!user@example.org",
        "user@[192.0.2.1]",
        "user@192.0.2.1",
        "user@0x7f.1",
        "user@example",
        "\"user(comment)\"@example.org",
        "\"user,other\"@example.org",
        "user\u{FF20}elsewhere.test@example.org",
    ] {
        let reply = client.command(&format!("RCPT TO:<{trick}>"));
        assert!(reply.starts(553, "5.1.3"), "{trick}: {reply:?}");
        assert!(
            reply.text().len() > "5.1.3 Address refused: ".len(),
            "{trick}: no reason given: {reply:?}"
        );
    }
    client.command("DATA").assert(554, "5.5.1");
    assert!(sink.messages().is_empty());
}

#[test]
fn mail_with_a_size_over_the_limit_gets_552_5_3_4() {
    require_peers();
    let sink = Sink::start();
    let gateway = gateway_with(&sink, &[("limits", "max_message_size", "10000")]);
    let (mut client, _) = Client::ehlo(gateway.port());
    client
        .command(&format!("MAIL FROM:<{FROM}> SIZE=10001"))
        .assert(552, "5.3.4");
    client
        .command(&format!("MAIL FROM:<{FROM}> SIZE=9000"))
        .assert(250, "2.");
}

#[test]
fn data_over_the_limit_gets_552_5_3_4_after_the_end_of_data() {
    require_peers();
    let sink = Sink::start();
    let gateway = gateway_with(&sink, &[("limits", "max_message_size", "10000")]);
    let (mut client, _) = Client::ehlo(gateway.port());
    envelope(&mut client, TO);
    client.command("DATA").assert(354, "");
    let line = format!("{}\r\n", "x".repeat(98));
    client.send(format!("Subject: big\r\n\r\n{}.\r\n", line.repeat(200)).as_bytes());
    client.reply().unwrap().assert(552, "5.3.4");
    // The session goes on.
    client.command("NOOP").assert(250, "2.0.0");
    assert!(sink.messages().is_empty());
}

fn bare_line_end_is_refused(data: &[u8]) {
    require_peers();
    let sink = Sink::start();
    let gateway = gateway_with(&sink, &[]);
    let (mut client, _) = Client::ehlo(gateway.port());
    envelope(&mut client, TO);
    client.command("DATA").assert(354, "");
    client.send(data);
    let reply = client.reply().unwrap();
    reply.assert(550, "5.5.2");
    client.command("QUIT").assert(221, "2.0.0");
    assert!(
        sink.messages().is_empty(),
        "smuggled data reached the next hop"
    );
}

#[test]
fn bare_lf_in_data_gets_550_5_5_2() {
    // The SMTP smuggling shape: "\n.\r\n" must neither end the data nor be passed on.
    bare_line_end_is_refused(
        b"Subject: a\r\n\r\nfirst\n.\r\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<v@example.org>\r\nDATA\r\nsmuggled\r\n.\r\n",
    );
}

#[test]
fn bare_cr_in_data_gets_550_5_5_2() {
    bare_line_end_is_refused(b"Subject: a\r\n\r\nfirst\rsecond\r\n.\r\n");
}

#[test]
fn an_overlong_command_line_gets_500_5_5_2_and_the_session_goes_on() {
    require_peers();
    let sink = Sink::start();
    let gateway = gateway_with(&sink, &[("limits", "max_command_line", "512")]);
    let (mut client, _) = Client::ehlo(gateway.port());
    let long = format!("MAIL FROM:<{}@agency.test>", "a".repeat(100_000));
    client.command(&long).assert(500, "5.5.2");
    envelope(&mut client, TO);
    client.command("DATA").assert(354, "");
    client.send(b"Subject: after\r\n\r\nok\r\n.\r\n");
    client.reply().unwrap().assert(250, "");
    assert_eq!(sink.wait_for(1, ARRIVAL).len(), 1);
}

#[test]
fn an_idle_client_gets_421_4_4_2_and_is_disconnected() {
    require_peers();
    let sink = Sink::start();
    let gateway = gateway_with(&sink, &[("timeouts", "command_seconds", "2")]);
    let (mut client, _) = Client::ehlo(gateway.port());
    client.set_read_timeout(Duration::from_secs(30));
    let reply = client.reply().expect("421 before the close");
    reply.assert(421, "4.4.2");
    assert!(client.is_closed());
}

#[test]
fn an_idle_client_in_data_is_disconnected_and_nothing_is_relayed() {
    require_peers();
    let sink = Sink::start();
    let gateway = gateway_with(&sink, &[("timeouts", "data_seconds", "2")]);
    let (mut client, _) = Client::ehlo(gateway.port());
    envelope(&mut client, TO);
    client.command("DATA").assert(354, "");
    client.send(b"Subject: half\r\n\r\nhalf a message");
    client.set_read_timeout(Duration::from_secs(30));
    // A 421 first is polite; closing without a word is acceptable in DATA.
    if let Ok(reply) = client.reply() {
        reply.assert(421, "4.4.2");
    }
    assert!(client.is_closed());
    // The gateway closed the session: nothing can be relayed for it any more.
    std::thread::sleep(Duration::from_millis(300));
    assert!(sink.messages().is_empty());
}

#[test]
fn too_many_errors_end_the_session_with_421_4_7_0() {
    require_peers();
    let sink = Sink::start();
    let gateway = gateway_with(&sink, &[("limits", "max_errors", "3")]);
    let (mut client, _) = Client::ehlo(gateway.port());
    client.command("BOGUS 1").assert(500, "5.5.1");
    client.command("BOGUS 2").assert(500, "5.5.1");
    client.send(b"BOGUS 3\r\n");
    let replies: Vec<Reply> = std::iter::from_fn(|| client.reply().ok()).collect();
    assert!(
        replies.iter().any(|r| r.starts(421, "4.7.0")),
        "{replies:?}"
    );
    assert!(client.is_closed());
}

#[test]
fn too_many_recipients_get_452_4_5_3() {
    require_peers();
    let sink = Sink::start();
    let gateway = gateway_with(&sink, &[("limits", "max_recipients", "3")]);
    let (mut client, _) = Client::ehlo(gateway.port());
    client
        .command(&format!("MAIL FROM:<{FROM}>"))
        .assert(250, "2.");
    for i in 1..=3 {
        client
            .command(&format!("RCPT TO:<r{i}@example.org>"))
            .assert(250, "2.");
    }
    client
        .command("RCPT TO:<r4@example.org>")
        .assert(452, "4.5.3");
    client.command("DATA").assert(354, "");
    client.send(b"Subject: three\r\n\r\nx\r\n.\r\n");
    client.reply().unwrap().assert(250, "");
    let stored = sink.wait_for(1, ARRIVAL);
    assert_eq!(stored[0].rcpt_tos.len(), 3);
}

#[test]
fn sessions_over_the_per_client_limit_get_421_4_7_0() {
    require_peers();
    let sink = Sink::start();
    let gateway = gateway_with(&sink, &[("limits", "max_sessions_per_client", "2")]);
    // The harness's readiness probe may still hold a slot for a moment: admit two sessions.
    let admitted = || {
        wait_until(Duration::from_secs(10), || {
            let mut c = Client::connect_silent(gateway.port());
            (c.reply().ok()?.code == 220).then_some(c)
        })
        .expect("a session admitted")
    };
    let first = admitted();
    let _second = admitted();
    let mut third = Client::connect_silent(gateway.port());
    third.reply().expect("a reply").assert(421, "4.7.0");
    drop(first);
    // A slot frees up once a session ends.
    let again = wait_until(Duration::from_secs(10), || {
        let mut c = Client::connect_silent(gateway.port());
        (c.reply().ok()?.code == 220).then_some(c)
    });
    assert!(again.is_some(), "no session admitted after one ended");
}

#[test]
fn data_without_accepted_recipients_gets_554_5_5_1() {
    require_peers();
    let sink = Sink::options().rcpt_reply(TO, "550 5.1.1 unknown").start();
    let gateway = gateway_with(&sink, &[]);
    let (mut client, _) = Client::ehlo(gateway.port());
    client
        .command(&format!("MAIL FROM:<{FROM}>"))
        .assert(250, "2.");
    client
        .command(&format!("RCPT TO:<{TO}>"))
        .assert(550, "5.1.1");
    client.command("DATA").assert(554, "5.5.1");
}

#[test]
fn plaintext_sent_with_starttls_is_discarded() {
    require_peers();
    require_tool("openssl", "the Debian package openssl");
    let dir = tempfile::TempDir::new().unwrap();
    let (cert, key) = self_signed_cert(dir.path());
    let sink = Sink::start();
    let mut config = GatewayConfig::new(sink.port());
    config.tls(&cert, &key);
    let gateway = config.start();
    let (mut client, ehlo) = Client::ehlo(gateway.port());
    assert!(ehlo.lines.iter().any(|l| l == "STARTTLS"), "{ehlo:?}");
    // CVE-2011-0411: commands in the same packet as STARTTLS must not survive the handshake.
    client.send(
        format!("STARTTLS\r\nMAIL FROM:<injected@evil.test>\r\nRCPT TO:<{TO}>\r\n").as_bytes(),
    );
    client.reply().unwrap().assert(220, "2.0.0");
    assert!(
        client.unread().is_empty(),
        "replies before the handshake: {:?}",
        client.unread()
    );
    let mut tls = client.start_tls();
    let ehlo = tls.command("EHLO client.test");
    assert_eq!(
        ehlo.code, 250,
        "first reply after the handshake must answer EHLO: {ehlo:?}"
    );
    assert_eq!(ehlo.lines[0], "sealgate.test", "{ehlo:?}");
    assert!(!ehlo.lines.iter().any(|l| l == "STARTTLS"), "{ehlo:?}");
    // Had the injected MAIL been processed, this would be a nested MAIL.
    tls.command(&format!("MAIL FROM:<{FROM}>"))
        .assert(250, "2.");
    tls.command(&format!("RCPT TO:<{TO}>")).assert(250, "2.");
    tls.command("DATA").assert(354, "");
    tls.send(b"Subject: tls\r\n\r\nover tls\r\n.\r\n");
    tls.reply().unwrap().assert(250, "");
    tls.command("QUIT").assert(221, "2.0.0");
    let stored = sink.wait_for(1, ARRIVAL);
    assert_eq!(stored[0].mail_from, FROM);
    assert_eq!(stored.len(), 1);
}

#[test]
fn bad_clients_do_not_disturb_a_parallel_session() {
    require_peers();
    require_tool("openssl", "the Debian package openssl");
    let dir = tempfile::TempDir::new().unwrap();
    let (cert, key) = self_signed_cert(dir.path());
    let sink = Sink::start();
    let mut config = GatewayConfig::new(sink.port());
    config.tls(&cert, &key);
    let gateway = config.start();

    // A good session opens its transaction first.
    let (mut good, _) = Client::ehlo(gateway.port());
    envelope(&mut good, TO);
    good.command("DATA").assert(354, "");
    good.send(b"Subject: steady\r\n\r\nfirst half\r\n");

    // Garbage: binary junk and a NUL-laden command line.
    let mut junk = Client::connect(gateway.port());
    let _ = junk.try_send(&binary_bytes(10_000, 9));
    let _ = junk.try_send(b"\0\0MAIL\0FROM:<>\r\n");
    // A client that vanishes in the middle of DATA.
    let (mut vanisher, _) = Client::ehlo(gateway.port());
    envelope(&mut vanisher, "other@example.org");
    vanisher.command("DATA").assert(354, "");
    vanisher.send(b"Subject: gone\r\n\r\nhalf");
    drop(vanisher);
    // A client that vanishes right after connecting, and one before the greeting.
    drop(Client::connect_silent(gateway.port()));
    let mut early = Client::connect_silent(gateway.port());
    let _ = early.try_send(b"EHLO too.early\r\n");
    drop(early);
    // A broken TLS handshake.
    let (mut broken, _) = Client::ehlo(gateway.port());
    broken.command("STARTTLS").assert(220, "2.0.0");
    let _ = broken.try_send(b"\x16\x03\x01\x00\x05hello, this is not TLS\r\n");
    let _ = broken.is_closed();
    drop(broken);
    drop(junk);

    // The good session finishes as if nothing happened.
    good.send(b"second half\r\n.\r\n");
    good.reply().unwrap().assert(250, "");
    good.command("QUIT").assert(221, "2.0.0");
    let stored = sink.wait_for(1, ARRIVAL);
    assert_relayed_exactly(
        b"Subject: steady\r\n\r\nfirst half\r\nsecond half\r\n",
        &stored[0].bytes,
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        sink.messages().len(),
        1,
        "the vanished client's half message was relayed"
    );
    // And a new session still works.
    let (mut after, _) = Client::ehlo(gateway.port());
    after.command("QUIT").assert(221, "2.0.0");
    let log = gateway.log();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn a_full_memory_budget_gets_452_4_3_1_and_frees_up_again() {
    require_peers();
    let sink = Sink::start();
    let budget = 256 * 1024;
    let gateway = gateway_with(
        &sink,
        &[
            ("limits", "memory_budget", &budget.to_string()),
            ("limits", "max_message_size", &budget.to_string()),
        ],
    );
    let line = format!("{}\r\n", "y".repeat(998));
    // One session holds most of the budget in an unfinished message.
    let (mut holder, _) = Client::ehlo(gateway.port());
    envelope(&mut holder, TO);
    holder.command("DATA").assert(354, "");
    holder.send(format!("Subject: holder\r\n\r\n{}", line.repeat(200)).as_bytes());
    let held = wait_until(Duration::from_secs(20), || {
        let in_use = gateway.metric("sealgate_memory_budget_in_use_bytes")?;
        (in_use >= 200_000.0).then_some(in_use)
    });
    assert!(
        held.is_some(),
        "the holder's data never counted against the budget"
    );
    // Another one cannot get memory for its message.
    let (mut other, _) = Client::ehlo(gateway.port());
    envelope(&mut other, "other@example.org");
    other.command("DATA").assert(354, "");
    other.send(format!("Subject: other\r\n\r\n{}.\r\n", line.repeat(100)).as_bytes());
    other.reply().unwrap().assert(452, "4.3.1");
    // The holder finishes; then the other's retry goes through.
    holder.send(b".\r\n");
    holder.reply().unwrap().assert(250, "");
    drop(holder);
    envelope(&mut other, "other@example.org");
    other.command("DATA").assert(354, "");
    other.send(format!("Subject: other\r\n\r\n{}.\r\n", line.repeat(100)).as_bytes());
    other.reply().unwrap().assert(250, "");
    assert_eq!(sink.wait_for(2, ARRIVAL).len(), 2);
}

#[test]
fn sigterm_lets_a_transaction_in_flight_finish_and_turns_idle_sessions_away() {
    require_peers();
    let sink = Sink::start();
    let mut gateway = gateway_with(&sink, &[("timeouts", "shutdown_grace_seconds", "20")]);
    let (mut busy, _) = Client::ehlo(gateway.port());
    envelope(&mut busy, TO);
    busy.command("DATA").assert(354, "");
    busy.send(b"Subject: in flight\r\n\r\nfirst half\r\n");
    let (mut idle, _) = Client::ehlo(gateway.port());

    gateway.sigterm();
    idle.reply()
        .expect("421 to the idle session")
        .assert(421, "4.3.2");
    busy.send(b"second half\r\n.\r\n");
    busy.reply().unwrap().assert(250, "");
    let stored = sink.wait_for(1, ARRIVAL);
    assert_relayed_exactly(
        b"Subject: in flight\r\n\r\nfirst half\r\nsecond half\r\n",
        &stored[0].bytes,
    );
    drop(busy);
    let status = gateway.wait_exit(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "gateway did not exit cleanly: {status:?}"
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", gateway.port())).is_err());
}

#[test]
fn ipv6_and_ipv4_listeners_both_relay() {
    require_peers();
    let sink = Sink::start();
    let mut config = GatewayConfig::new(sink.port());
    config.listen_ipv6().set(
        "access",
        "client_networks",
        "[\"127.0.0.1/32\", \"::1/128\"]",
    );
    let gateway = config.start();
    let v6 = gateway.port_v6().expect("an IPv6 port");
    for (n, address) in [
        std::net::SocketAddr::from(([127, 0, 0, 1], gateway.port())),
        std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, v6)),
    ]
    .into_iter()
    .enumerate()
    {
        let mut client = Client::connect_to(address);
        client.reply().unwrap().assert(220, "");
        client.command("EHLO client.test");
        envelope(&mut client, TO);
        client.command("DATA").assert(354, "");
        client.send(format!("Subject: via {address}\r\n\r\nx\r\n.\r\n").as_bytes());
        client.reply().unwrap().assert(250, "");
        let stored = sink.wait_for(n + 1, ARRIVAL);
        let (trace, _) = split_first_header(&stored[n].bytes);
        let trace = String::from_utf8_lossy(trace);
        let ip = address.ip().to_string();
        assert!(
            trace.contains(&ip),
            "trace header lacks the client {ip}: {trace}"
        );
    }
}

#[test]
fn an_smtputf8_envelope_is_relayed_as_sent() {
    require_peers();
    let sink = Sink::start();
    let gateway = gateway_with(&sink, &[]);
    let (mut client, _) = Client::ehlo(gateway.port());
    let from = "jürgen@agentschap.test";
    let to = "δοκιμή@παράδειγμα.test";
    client
        .command(&format!("MAIL FROM:<{from}> SMTPUTF8 BODY=8BITMIME"))
        .assert(250, "2.");
    client.command(&format!("RCPT TO:<{to}>")).assert(250, "2.");
    client.command("DATA").assert(354, "");
    let body = format!("From: <{from}>\r\nTo: <{to}>\r\nSubject: Grüße\r\n\r\nΚαλημέρα\r\n");
    client.send(format!("{body}.\r\n").as_bytes());
    client.reply().unwrap().assert(250, "");
    let stored = sink.wait_for(1, ARRIVAL);
    assert_eq!(stored[0].mail_from, from);
    assert_eq!(stored[0].rcpt_tos, vec![to]);
    assert_relayed_exactly(body.as_bytes(), &stored[0].bytes);
}

#[test]
fn a_helo_client_without_extensions_is_relayed_too() {
    require_peers();
    let sink = Sink::start();
    let gateway = gateway_with(&sink, &[]);
    let mut client = Client::connect(gateway.port());
    let helo = client.command("HELO old.client.test");
    assert_eq!(helo.code, 250, "{helo:?}");
    assert_eq!(helo.lines, vec!["sealgate.test"]);
    envelope(&mut client, TO);
    client.command("DATA").assert(354, "");
    client.send(b"Subject: plain SMTP\r\n\r\nhello\r\n.\r\n");
    client.reply().unwrap().assert(250, "");
    client.command("QUIT").assert(221, "2.0.0");
    let stored = sink.wait_for(1, ARRIVAL);
    assert_relayed_exactly(b"Subject: plain SMTP\r\n\r\nhello\r\n", &stored[0].bytes);
    let (trace, _) = split_first_header(&stored[0].bytes);
    let trace = String::from_utf8_lossy(trace);
    assert!(
        trace.contains("old.client.test") && trace.contains("with SMTP"),
        "{trace}"
    );
}
