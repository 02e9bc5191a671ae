#![cfg(feature = "real-peers")]
//! High availability end to end: two gateways behind a real HAProxy (TCP mode, PROXY protocol
//! v2, health checks on /readyz), both writing to one real PostgreSQL audit store. A burst of
//! ordinary and protected mail is sent while one gateway is stopped with SIGTERM halfway:
//! every message is either delivered to the sink once or answered 4xx (the sender retries),
//! the shared audit chain verifies, and the audit shows the real client address.

mod audit_support;
mod common;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use audit_support::PgCluster;
use common::*;

/// The address the clients send from; only it may relay, so relaying at all proves that the
/// gateways saw it through the PROXY header (they see HAProxy's 127.0.0.1 on the socket).
const CLIENT: &str = "127.0.0.7";
const MESSAGES: usize = 24;

const PROTOCOL: &str = r#"
[[protocols]]
id = "opgroeien-menen-ocmw-wervik"
title = "Opgroeien regie (lokaal team Kind en Gezin Menen) -> OCMW Wervik"
mailboxes = ["kindengezin@wervik.be"]
in_force_from = 2023-12-01
"#;

/// Pairs of protected and ordinary messages, so round robin gives each gateway both kinds.
fn is_protected(i: usize) -> bool {
    i % 4 < 2
}

struct HaProxy {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl HaProxy {
    fn start(backends: &[(u16, u16)]) -> HaProxy {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut config = format!(
            "global\n  maxconn 512\n\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 120s\n  \
             timeout server 120s\n  retries 3\n  option redispatch\n\n\
             frontend smtp\n  bind 127.0.0.1:{port}\n  default_backend sealgate\n\n\
             backend sealgate\n  balance roundrobin\n  option httpchk GET /readyz\n  \
             http-check expect status 200\n  default-server inter 300ms fall 1 rise 2\n"
        );
        for (i, (smtp, metrics)) in backends.iter().enumerate() {
            config.push_str(&format!(
                "  server gw{i} 127.0.0.1:{smtp} send-proxy-v2 check port {metrics}\n"
            ));
        }
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("haproxy.log")).unwrap())
            .spawn()
            .expect("start haproxy");
        let up = wait_until(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        assert!(up.is_some(), "haproxy did not listen");
        HaProxy {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn gateway(sink: &Sink, store: &str, instance: &str) -> Gateway {
    let mut config = GatewayConfig::new(sink.port());
    config
        .set("smtp", "proxy_protocol_from", "[\"127.0.0.1/32\"]")
        .set("access", "client_networks", &format!("[\"{CLIENT}/32\"]"))
        .set("audit", "store", &format!("\"{store}\""))
        .set("audit", "instance", &format!("\"{instance}\""))
        .set("timeouts", "shutdown_grace_seconds", "20")
        .append(PROTOCOL);
    config.start()
}

fn sealgate_cli(args: &[&str], config: &std::path::Path) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn two_gateways_behind_haproxy_lose_and_duplicate_nothing_when_one_stops() {
    require_peers();
    require_tool("haproxy", "the Debian package haproxy");
    let pg = PgCluster::start();
    let store = format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port);
    let sink = Sink::start();
    let mut gw1 = gateway(&sink, &store, "gw1");
    let gw2 = gateway(&sink, &store, "gw2");
    let proxy = HaProxy::start(&[
        (gw1.port(), gw1.metrics_port()),
        (gw2.port(), gw2.metrics_port()),
    ]);
    // Both backends must be up in HAProxy before the burst (rise 2 checks).
    std::thread::sleep(Duration::from_secs(2));

    let server = format!("127.0.0.1:{}", proxy.port);
    let protected = format!(
        "@{}",
        repo_path("fixtures/messages/good_basic.eml").display()
    );
    let mut clients = Vec::new();
    for i in 0..MESSAGES {
        if i == MESSAGES / 2 {
            gw1.sigterm();
        }
        let server = server.clone();
        let protected = protected.clone();
        clients.push(std::thread::spawn(move || {
            let from = format!("sender-{i}@opgroeien.be");
            let mut args = vec![
                "--server",
                &server,
                "--local-interface",
                CLIENT,
                "--from",
                &from,
            ];
            if is_protected(i) {
                args.extend(["--to", "kindengezin@wervik.be", "--data", &protected]);
            } else {
                args.extend(["--to", "someone@example.org"]);
            }
            let run = swaks(&args);
            (from, run)
        }));
        std::thread::sleep(Duration::from_millis(150));
    }
    let mut accepted = BTreeSet::new();
    for client in clients {
        let (from, run) = client.join().unwrap();
        let answer = run.data_reply().unwrap_or_default();
        if answer.starts_with("250") {
            accepted.insert(from);
        } else {
            let deferred = run
                .server_lines()
                .iter()
                .any(|l| l.starts_with("421") || l.starts_with("451") || l.starts_with("452"))
                || run.transcript.contains("Connection refused")
                || run.transcript.contains("closed");
            assert!(
                deferred,
                "{from}: neither 250 nor a temporary failure:\n{}",
                run.transcript
            );
        }
    }
    assert!(
        accepted.len() >= MESSAGES / 2,
        "too few accepted: {accepted:?}"
    );

    // Every 250 is at the sink exactly once; nothing else is.
    sink.wait_for(accepted.len(), Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(500));
    let stored = sink.messages();
    let senders: Vec<String> = stored.iter().map(|m| m.mail_from.clone()).collect();
    let unique: BTreeSet<String> = senders.iter().cloned().collect();
    assert_eq!(
        senders.len(),
        unique.len(),
        "a message was delivered twice: {senders:?}"
    );
    assert_eq!(unique, accepted, "delivered and accepted differ");

    // The stopped instance drained and exited on its own.
    let exit = gw1
        .wait_exit(Duration::from_secs(30))
        .expect("gw1 still running after SIGTERM");
    assert!(exit.success(), "gw1 exited with {exit:?}");

    // One chain for both instances, whole, with the real client address.
    let (code, text) = sealgate_cli(&["audit", "verify"], &gw2.config_path());
    assert_eq!(code, 0, "{text}");
    let (code, text) = sealgate_cli(&["audit", "export", "--format", "json"], &gw2.config_path());
    assert_eq!(code, 0, "{text}");
    let records: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let protected_accepted = accepted
        .iter()
        .filter(|from| {
            let n: usize = from
                .trim_start_matches("sender-")
                .split('@')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            is_protected(n)
        })
        .count();
    let relayed = records
        .iter()
        .filter(|r| r["outcome"]["outcome"] == "relayed")
        .count();
    assert_eq!(relayed, protected_accepted, "{records:#?}");
    assert!(
        records.iter().all(|r| r["client_address"] == CLIENT),
        "{records:#?}"
    );
    let instances: BTreeSet<String> = records
        .iter()
        .map(|r| r["instance"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        instances.contains("gw1") && instances.contains("gw2"),
        "both instances record: {instances:?}"
    );
    eprintln!(
        "accepted {} of {MESSAGES}; audit records by instance: {instances:?}",
        accepted.len()
    );
}

#[test]
fn a_proxy_header_from_an_untrusted_peer_closes_the_connection() {
    require_peers();
    let sink = Sink::start();
    let gateway = GatewayConfig::new(sink.port()).start();
    let mut client = std::net::TcpStream::connect(("127.0.0.1", gateway.port())).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    use std::io::{Read, Write};
    let mut greeting = [0u8; 256];
    let n = client.read(&mut greeting).unwrap();
    assert!(greeting[..n].starts_with(b"220 "));
    client
        .write_all(b"PROXY TCP4 192.0.2.1 127.0.0.1 40000 25\r\nMAIL FROM:<a@b.example>\r\n")
        .unwrap();
    let rest = read_all(&mut client);
    assert!(
        rest.is_empty() || !String::from_utf8_lossy(&rest).contains("250"),
        "{rest:?}"
    );
    gateway.wait_for_log(
        "PROXY header from a peer not in smtp.proxy_protocol_from",
        Duration::from_secs(5),
    );
}
