#![cfg(feature = "real-peers")]
//! TLS and authentication on both sides, and live reload: AUTH over STARTTLS lets a client
//! outside `access.client_networks` relay (and nothing else does), `smtp.require_tls` refuses
//! plaintext MAIL, the next hop's certificate is verified when `relay.tls = "required"`, and
//! SIGHUP swaps the configuration or, when the new file is broken, keeps the running one.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

const PASSWORD: &str = "Lente-in-Menen-2026";

/// A test CA and a next-hop certificate it signed for 127.0.0.1: (ca, cert, key).
fn ca_and_loopback_cert(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let path = |name: &str| dir.join(name);
    let openssl = |args: &[&str]| {
        let output = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .expect("run openssl");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Test CA",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=next-hop.test",
        "-keyout",
        "hop-key.pem",
        "-out",
        "hop.csr",
    ]);
    std::fs::write(
        path("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "hop.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca-key.pem",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "hop.pem",
    ]);
    (path("ca.pem"), path("hop.pem"), path("hop-key.pem"))
}

fn tls_gateway(sink: &Sink, dir: &Path) -> Gateway {
    let (cert, key) = self_signed_cert(dir);
    let mut config = GatewayConfig::new(sink.port());
    config.tls(&cert, &key).append(&format!(
        "[[access.users]]\nname = \"connector\"\npassword_hash = \"{}\"\n",
        hash_password(PASSWORD)
    ));
    config.start()
}

/// swaks from 127.0.0.9, outside client_networks (127.0.0.1/32).
fn from_outside(gateway: &Gateway, extra: &[&str]) -> SwaksRun {
    let server = gateway.server();
    let mut args = vec![
        "--server",
        &server,
        "--local-interface",
        "127.0.0.9",
        "--from",
        "connector@opgroeien.be",
        "--to",
        "someone@example.org",
    ];
    args.extend_from_slice(extra);
    swaks(&args)
}

#[test]
fn auth_over_tls_lets_an_outside_client_relay() {
    require_peers();
    require_tool("openssl", "the Debian package openssl");
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start();
    let gateway = tls_gateway(&sink, dir.path());

    let run = from_outside(
        &gateway,
        &[
            "--tls",
            "--auth",
            "PLAIN",
            "--auth-user",
            "connector",
            "--auth-password",
            PASSWORD,
        ],
    );
    run.assert_ok();
    assert!(run.has_reply("235 2.7.0"), "{}", run.transcript);
    let stored = sink.wait_for(1, Duration::from_secs(20));
    let (trace, _) = split_first_header(&stored[0].bytes);
    let trace = String::from_utf8_lossy(trace);
    assert!(
        trace.contains("with ESMTPSA") && trace.contains("(using TLSv1."),
        "{trace}"
    );

    let run = from_outside(
        &gateway,
        &[
            "--tls",
            "--auth",
            "LOGIN",
            "--auth-user",
            "connector",
            "--auth-password",
            PASSWORD,
        ],
    );
    run.assert_ok();
    sink.wait_for(2, Duration::from_secs(20));
}

#[test]
fn wrong_passwords_and_plaintext_auth_are_refused() {
    require_peers();
    require_tool("openssl", "the Debian package openssl");
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start();
    let gateway = tls_gateway(&sink, dir.path());

    let run = from_outside(
        &gateway,
        &[
            "--tls",
            "--auth",
            "PLAIN",
            "--auth-user",
            "connector",
            "--auth-password",
            "wrong",
        ],
    );
    assert!(run.has_reply("535 5.7.8"), "{}", run.transcript);

    // Without TLS, AUTH is not offered, and asking for it anyway gets 538.
    let mut raw = raw::Client::connect(gateway.port());
    let ehlo = raw.command("EHLO client.test");
    assert!(ehlo.lines.iter().all(|l| !l.contains("AUTH")), "{ehlo:?}");
    raw.command("AUTH PLAIN AGNvbm5lY3RvcgB3cm9uZw==")
        .assert(538, "5.7.11");

    // And without AUTH the outside client cannot relay, TLS or not.
    let run = from_outside(&gateway, &["--tls"]);
    assert!(run.has_reply("554 5.7.1"), "{}", run.transcript);
    std::thread::sleep(Duration::from_millis(300));
    assert!(sink.messages().is_empty());
}

#[test]
fn require_tls_refuses_mail_before_starttls() {
    require_peers();
    require_tool("openssl", "the Debian package openssl");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed_cert(dir.path());
    let sink = Sink::start();
    let mut config = GatewayConfig::new(sink.port());
    config.tls(&cert, &key).set("smtp", "require_tls", "true");
    let gateway = config.start();
    let server = gateway.server();
    let plain = swaks(&[
        "--server",
        &server,
        "--from",
        "a@opgroeien.be",
        "--to",
        "b@example.org",
    ]);
    assert!(plain.has_reply("530 5.7.0"), "{}", plain.transcript);
    swaks(&[
        "--server",
        &server,
        "--tls",
        "--from",
        "a@opgroeien.be",
        "--to",
        "b@example.org",
    ])
    .assert_ok();
    assert_eq!(sink.wait_for(1, Duration::from_secs(20)).len(), 1);
}

#[test]
fn the_next_hop_certificate_is_verified_when_tls_is_required() {
    require_peers();
    require_tool("openssl", "the Debian package openssl");
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = ca_and_loopback_cert(dir.path());
    let (other_ca, _) = self_signed_cert(dir.path());
    let sink = Sink::options().tls(&cert, &key).start();

    let mut trusted = GatewayConfig::new(sink.port());
    trusted
        .set("relay", "tls", "\"required\"")
        .set("relay", "tls_verify", "true")
        .set("relay", "ca_file", &toml_string(&ca));
    let gateway = trusted.start();
    swaks(&[
        "--server",
        &gateway.server(),
        "--from",
        "a@opgroeien.be",
        "--to",
        "b@example.org",
    ])
    .assert_ok();
    assert_eq!(sink.wait_for(1, Duration::from_secs(20)).len(), 1);

    let mut untrusted = GatewayConfig::new(sink.port());
    untrusted
        .set("relay", "tls", "\"required\"")
        .set("relay", "tls_verify", "true")
        .set("relay", "ca_file", &toml_string(&other_ca));
    let gateway = untrusted.start();
    let run = swaks(&[
        "--server",
        &gateway.server(),
        "--from",
        "a@opgroeien.be",
        "--to",
        "b@example.org",
    ]);
    assert!(
        run.has_reply("451 4.4.1"),
        "an unverified next hop must not get mail: {}",
        run.transcript
    );
    gateway.wait_for_log("TLS with the next hop failed", Duration::from_secs(5));
    assert_eq!(sink.messages().len(), 1);
}

#[test]
fn sealgate_authenticates_to_a_next_hop_that_requires_it() {
    require_peers();
    require_tool("openssl", "the Debian package openssl");
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = ca_and_loopback_cert(dir.path());
    let sink = Sink::options()
        .tls(&cert, &key)
        .auth("sealgate", "Relay-Secret-7")
        .start();
    let password_file = dir.path().join("next-hop-password");

    let gateway_with = |password: &str| {
        std::fs::write(&password_file, format!("{password}\n")).unwrap();
        let mut config = GatewayConfig::new(sink.port());
        config
            .set("relay", "tls", "\"required\"")
            .set("relay", "ca_file", &toml_string(&ca))
            .set("relay", "auth_user", "\"sealgate\"")
            .set("relay", "auth_password_file", &toml_string(&password_file))
            .set("relay", "command_timeout_seconds", "5");
        config.start()
    };
    let gateway = gateway_with("Relay-Secret-7");
    swaks(&[
        "--server",
        &gateway.server(),
        "--from",
        "a@opgroeien.be",
        "--to",
        "b@example.org",
    ])
    .assert_ok();
    assert_eq!(sink.wait_for(1, Duration::from_secs(20)).len(), 1);

    let gateway = gateway_with("wrong");
    let run = swaks(&[
        "--server",
        &gateway.server(),
        "--from",
        "a@opgroeien.be",
        "--to",
        "b@example.org",
    ]);
    assert!(run.has_reply("451 4.4.1"), "{}", run.transcript);
    // aiosmtpd answers a failed AUTH with silence; either way the client hears 451.
    let log = gateway.wait_for_log("AUTH", Duration::from_secs(5));
    assert!(
        !log.contains("wrong") && !log.contains("Relay-Secret-7"),
        "a password reached the log: {log}"
    );
    assert_eq!(sink.messages().len(), 1);
}

#[test]
fn sighup_reloads_the_configuration_and_keeps_it_when_the_new_one_is_broken() {
    require_peers();
    let sink = Sink::start();
    let mut config = GatewayConfig::new(sink.port());
    config.set("limits", "max_recipients", "1");
    let gateway = config.start();
    let two = |gateway: &Gateway| {
        swaks(&[
            "--server",
            &gateway.server(),
            "--from",
            "a@opgroeien.be",
            "--to",
            "b@example.org,c@example.org",
        ])
    };
    assert!(two(&gateway).has_reply("452 4.5.3"));

    let path = gateway.config_path();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("max_recipients = 1", "max_recipients = 5"),
    )
    .unwrap();
    gateway.sighup();
    gateway.wait_for_log("configuration reloaded", Duration::from_secs(10));
    two(&gateway).assert_ok();

    std::fs::write(
        &path,
        text.replace("max_recipients = 1", "max_recipients = \"many\""),
    )
    .unwrap();
    gateway.sighup();
    let log = gateway.wait_for_log(
        "reload failed; keeping the running configuration",
        Duration::from_secs(10),
    );
    assert!(
        log.contains("limits.max_recipients"),
        "the log names the bad key: {log}"
    );
    two(&gateway).assert_ok();

    let metrics = http_get(gateway.metrics_port(), "/metrics");
    assert!(
        metrics.contains("sealgate_config_reloads_total{result=\"success\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sealgate_config_reloads_total{result=\"failure\"} 1"),
        "{metrics}"
    );
}

fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}
