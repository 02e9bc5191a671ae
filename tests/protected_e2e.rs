#![cfg(feature = "real-peers")]
//! Protected mail end to end: swaks sends the policy fixtures (fixtures/messages, made by real
//! 7-Zip) through the running gateway to the byte-exact sink. A good message arrives unchanged
//! and leaves one complete audit record; a bad one gets the bilingual 550 and never reaches the
//! sink; contents never reach the audit store or the logs; an unwritable store defers; a crash
//! between decision and answer leaves an incomplete record that the report shows; the
//! counters on /metrics say exactly what happened; and a protocol in monitor mode relays what
//! it would refuse while the log says so at start, at every reload and per message.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use sha2::{Digest, Sha256};

const FROM: &str = "medewerker@opgroeien.be";
const PROTECTED: &str = "kindengezin@wervik.be";

const PROTOCOL: &str = r#"
[[protocols]]
id = "opgroeien-menen-ocmw-wervik"
title = "Opgroeien regie (lokaal team Kind en Gezin Menen) -> OCMW Wervik"
mailboxes = ["kindengezin@wervik.be"]
in_force_from = 2023-12-01
"#;

fn fixture(name: &str) -> PathBuf {
    repo_path(&format!("fixtures/messages/{name}"))
}

fn start(sink: &Sink) -> Gateway {
    let mut config = GatewayConfig::new(sink.port());
    config
        .set("policy", "own_domains", "[\"opgroeien.be\"]")
        .append(PROTOCOL);
    config.start()
}

/// Sends a message file as it is (swaks adds the terminating dot).
fn send_file(gateway: &Gateway, to: &str, file: &Path) -> SwaksRun {
    let data = format!("@{}", file.display());
    swaks(&[
        "--server",
        &gateway.server(),
        "--from",
        FROM,
        "--to",
        to,
        "--data",
        &data,
    ])
}

/// What swaks sends for `--data @file`: the file with one CRLF added when it ends in CRLF.
fn as_sent(file: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(file).unwrap();
    if bytes.ends_with(b"\r\n") {
        bytes.extend_from_slice(b"\r\n");
    }
    bytes
}

fn sealgate(args: &[&str], config: &Path) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("run sealgate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

fn export(gateway: &Gateway) -> Vec<serde_json::Value> {
    let (code, text) = sealgate(
        &["audit", "export", "--format", "json"],
        &gateway.config_path(),
    );
    assert_eq!(code, 0, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("export is not JSON ({e}): {text}"))
}

/// The decoded bytes of the first attachment of a message file.
fn first_attachment(file: &Path) -> Vec<u8> {
    let bytes = std::fs::read(file).unwrap();
    let message = mail_parser::MessageParser::default()
        .parse(&bytes)
        .expect("parse fixture");
    message
        .attachment(0)
        .expect("an attachment")
        .contents()
        .to_vec()
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no series {series} in /metrics"))
}

fn get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("metrics port");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let code = response
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (code, body)
}

#[test]
fn a_good_protected_message_arrives_unchanged_with_one_complete_record() {
    require_peers();
    let sink = Sink::start();
    let gateway = start(&sink);
    let file = fixture("good_basic.eml");
    let run = send_file(&gateway, PROTECTED, &file);
    run.assert_ok();
    let stored = sink.wait_for(1, Duration::from_secs(20));
    assert_relayed_exactly(&as_sent(&file), &stored[0].bytes);

    let records = export(&gateway);
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(record["verdict"], "pass");
    assert_eq!(record["complete"], true);
    assert_eq!(record["outcome"]["outcome"], "relayed");
    assert_eq!(record["outcome"]["reply_code"], 250);
    assert_eq!(
        record["recipients"][0]["protocol"],
        "opgroeien-menen-ocmw-wervik"
    );
    assert_eq!(record["sender"], FROM);
    let archive = first_attachment(&file);
    assert_eq!(
        record["archives"][0]["sha256"],
        hex::encode(Sha256::digest(&archive))
    );
    assert_eq!(record["archives"][0]["size"], archive.len() as u64);
    assert_eq!(record["archives"][0]["header_encrypted"], true);
    assert_eq!(record["archives"][0]["kdf_cycles_power"], 19);

    let (code, text) = sealgate(&["audit", "verify"], &gateway.config_path());
    assert_eq!(code, 0, "{text}");
}

#[test]
fn a_bad_protected_message_is_refused_in_both_languages_and_never_relayed() {
    require_peers();
    let sink = Sink::start();
    let gateway = start(&sink);
    let run = send_file(&gateway, PROTECTED, &fixture("other_attachment_pdf.eml"));
    assert!(run.has_reply("550"), "{}", run.transcript);
    let refusal: Vec<String> = run
        .server_lines()
        .into_iter()
        .filter(|l| l.starts_with("550"))
        .collect();
    assert!(
        refusal.len() >= 3,
        "expected a multi-line reply: {refusal:?}"
    );
    assert!(refusal
        .iter()
        .all(|l| l.starts_with("550-5.7.1 ") || l.starts_with("550 5.7.1 ")));
    let text = refusal.join("\n");
    assert!(
        text.contains("NL:") && text.contains("EN:") && text.contains("7z"),
        "{text}"
    );

    // The sink sees no message: give the gateway time it would need to relay one.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        sink.messages().is_empty(),
        "a refused message reached the next hop"
    );

    let records = export(&gateway);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["verdict"], "reject");
    assert_eq!(records[0]["complete"], true);
    assert_eq!(records[0]["outcome"]["reply_code"], 550);
    assert!(records[0]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == "other_attachment"));
}

#[test]
fn ordinary_mail_with_any_attachment_passes_unchanged() {
    require_peers();
    let sink = Sink::start();
    let gateway = start(&sink);
    for name in [
        "other_attachment_pdf.eml",
        "archive_unencrypted.eml",
        "tnef_winmail.eml",
    ] {
        let file = fixture(name);
        send_file(&gateway, "someone@example.org", &file).assert_ok();
    }
    let stored = sink.wait_for(3, Duration::from_secs(20));
    let mut sent: Vec<Vec<u8>> = [
        "other_attachment_pdf.eml",
        "archive_unencrypted.eml",
        "tnef_winmail.eml",
    ]
    .iter()
    .map(|n| as_sent(&fixture(n)))
    .collect();
    for message in &stored {
        let (_, body) = split_first_header(&message.bytes);
        let at = sent
            .iter()
            .position(|s| s == body)
            .expect("relayed bytes match a sent file");
        sent.remove(at);
    }
    assert!(
        export(&gateway).is_empty(),
        "ordinary mail must not be recorded"
    );
}

/// A protected message whose subject, body and attachment file name carry markers.
fn marked_message(archive: &[u8], markers: &[&str; 3]) -> Vec<u8> {
    use base64::Engine;
    let [subject, body, name] = markers;
    let encoded = base64::engine::general_purpose::STANDARD.encode(archive);
    let mut text = format!(
        "From: <{FROM}>\r\nTo: <{PROTECTED}>\r\nSubject: Gezin {subject}\r\nMessage-ID: <marker@opgroeien.be>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nBeste, zie het dossier {body}.\r\n\r\n--m\r\n\
         Content-Type: application/x-7z-compressed; name=\"{name}.7z\"\r\n\
         Content-Disposition: attachment; filename=\"{name}.7z\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    );
    for line in encoded.as_bytes().chunks(76) {
        text.push_str(std::str::from_utf8(line).unwrap());
        text.push_str("\r\n");
    }
    text.push_str("--m--\r\n");
    text.into_bytes()
}

fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

#[test]
fn no_subject_body_or_file_name_reaches_the_audit_store_or_the_logs() {
    require_peers();
    let sink = Sink::start();
    let gateway = start(&sink);
    let dir = tempfile::tempdir().unwrap();
    let archive = first_attachment(&fixture("good_basic.eml"));
    let plain = std::fs::read(repo_path("Cargo.toml")).unwrap();
    let cases = [
        (archive.as_slice(), ["SUBJ-Q7X1", "BODY-Q7X2", "NAME-Q7X3"]),
        (plain.as_slice(), ["SUBJ-K9Z1", "BODY-K9Z2", "NAME-K9Z3"]),
    ];
    for (i, (attachment, markers)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("{i}.eml"));
        std::fs::write(&file, marked_message(attachment, markers)).unwrap();
        send_file(&gateway, PROTECTED, &file);
    }
    assert_eq!(sink.wait_for(1, Duration::from_secs(20)).len(), 1);
    let records = export(&gateway);
    assert_eq!(records.len(), 2, "one relayed, one refused: {records:?}");

    let mut haystacks = files_under(gateway.dir());
    haystacks.push((
        PathBuf::from("export"),
        serde_json::to_vec(&records).unwrap(),
    ));
    let all_markers = cases.iter().flat_map(|(_, m)| m.iter());
    for marker in all_markers {
        for (path, bytes) in &haystacks {
            if path.extension().is_some_and(|e| e == "toml") {
                continue;
            }
            let found = bytes.windows(marker.len()).any(|w| w == marker.as_bytes());
            assert!(!found, "{marker} leaked into {}", path.display());
        }
    }
}

#[test]
fn an_unwritable_audit_store_defers_and_nothing_is_sent() {
    require_peers();
    require_python_module("sqlite3", "python3");
    let sink = Sink::start();
    let gateway = start(&sink);
    // Another process holds the database's write lock: the gateway cannot write its record.
    let db = gateway.dir().join("audit.db");
    let mut locker = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], isolation_level=None); \
             c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(60)",
        ])
        .arg(&db)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(locker.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked");

    let run = send_file(&gateway, PROTECTED, &fixture("good_basic.eml"));
    let _ = locker.kill();
    let _ = locker.wait();
    assert!(run.has_reply("451"), "{}", run.transcript);
    assert!(run.transcript.contains("4.3.0"), "{}", run.transcript);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        sink.messages().is_empty(),
        "mail was sent without its audit record"
    );

    // Writable again: the same message goes through and is recorded.
    send_file(&gateway, PROTECTED, &fixture("good_basic.eml")).assert_ok();
    assert_eq!(sink.wait_for(1, Duration::from_secs(20)).len(), 1);
}

#[test]
fn a_crash_between_decision_and_answer_leaves_an_incomplete_record_in_the_report() {
    require_peers();
    let sink = Sink::options().stall_data(30).start();
    let mut gateway = start(&sink);
    let server = gateway.server();
    let file = format!("@{}", fixture("good_basic.eml").display());
    let client = std::thread::spawn(move || {
        swaks(&[
            "--server", &server, "--from", FROM, "--to", PROTECTED, "--data", &file,
        ])
    });
    // The decision is written before the message goes to the next hop, which now stalls.
    let config = gateway.config_path();
    let written = wait_until(Duration::from_secs(20), || {
        let (code, text) = sealgate(&["audit", "export", "--format", "json"], &config);
        (code == 0 && text.contains("\"verdict\": \"pass\"")).then_some(())
    });
    assert!(written.is_some(), "no decision record appeared");
    gateway.kill();
    let run = client.join().unwrap();
    let answer = run.data_reply().unwrap_or_default();
    assert!(
        !answer.starts_with("250"),
        "the client must not hear 250: {}",
        run.transcript
    );

    let period = chrono::Utc::now().format("%Y-%m").to_string();
    let (code, report) = sealgate(&["audit", "report", "--period", &period, "--json"], &config);
    assert_eq!(code, 0, "{report}");
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let text = report.to_string();
    assert!(
        text.contains("\"incomplete\":1"),
        "report does not show the incomplete record: {report}"
    );
}

#[test]
fn the_counters_show_exactly_what_went_through() {
    require_peers();
    let sink = Sink::start();
    let gateway = start(&sink);
    for _ in 0..2 {
        send_file(
            &gateway,
            "someone@example.org",
            &fixture("other_attachment_pdf.eml"),
        )
        .assert_ok();
    }
    send_file(&gateway, PROTECTED, &fixture("good_basic.eml")).assert_ok();
    send_file(&gateway, PROTECTED, &fixture("other_attachment_pdf.eml"));
    send_file(&gateway, PROTECTED, &fixture("insz_in_body.eml"));
    sink.wait_for(3, Duration::from_secs(20));

    // A session is counted when it ends, a moment after the client heard 221.
    let completed = r#"sealgate_sessions_total{result="completed"}"#;
    let text = wait_until(Duration::from_secs(10), || {
        let (code, text) = get(gateway.metrics_port(), "/metrics");
        (code == 200 && metric(&text, completed) == 5.0).then_some(text)
    })
    .expect("five completed sessions on /metrics");
    let m = |series: &str| metric(&text, series);
    assert_eq!(
        m(r#"sealgate_messages_total{class="ordinary",outcome="relayed"}"#),
        2.0
    );
    assert_eq!(
        m(r#"sealgate_messages_total{class="protected",outcome="relayed"}"#),
        1.0
    );
    assert_eq!(
        m(r#"sealgate_messages_total{class="protected",outcome="rejected"}"#),
        2.0
    );
    assert_eq!(
        m(r#"sealgate_messages_total{class="protected",outcome="deferred"}"#),
        0.0
    );
    assert_eq!(
        m(r#"sealgate_rejections_total{reason="other_attachment"}"#),
        1.0
    );
    assert_eq!(
        m(r#"sealgate_rejections_total{reason="identifier_in_text"}"#),
        1.0
    );
    assert_eq!(m("sealgate_message_size_bytes_count"), 5.0);
    assert_eq!(m("sealgate_inspection_duration_seconds_count"), 3.0);
    assert_eq!(m("sealgate_audit_write_duration_seconds_count"), 3.0);
}

#[test]
fn readiness_follows_the_audit_store_and_the_next_hop() {
    require_peers();
    let sink = Sink::start();
    let sink_port = sink.port();
    let mut config = GatewayConfig::new(sink_port);
    config
        .set("metrics", "next_hop_stale_seconds", "1")
        .append(PROTOCOL);
    let gateway = config.start();
    let ready = |want: u16| {
        wait_until(Duration::from_secs(30), || {
            let (code, body) = get(gateway.metrics_port(), "/readyz");
            (code == want).then_some(body)
        })
    };
    assert!(ready(200).is_some(), "never ready");

    // Next hop down: a transaction fails, and after the stale time the instance is unready.
    drop(sink);
    let run = swaks(&[
        "--server",
        &gateway.server(),
        "--from",
        FROM,
        "--to",
        "someone@example.org",
    ]);
    assert!(run.has_reply("451"), "{}", run.transcript);
    let body = ready(503).expect("not unready with the next hop down");
    assert!(body.contains("next hop"), "{body}");

    // Back on the same port: the periodic probe notices.
    let _sink = Sink::options().port(sink_port).start();
    assert!(
        ready(200).is_some(),
        "not ready again after the next hop came back"
    );

    // The audit store locked by another process: unready, then ready when released.
    let db = gateway.dir().join("audit.db");
    let mut locker = Command::new("python3")
        .args(["-c", "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], isolation_level=None); c.execute('BEGIN EXCLUSIVE'); time.sleep(60)"])
        .arg(&db)
        .spawn()
        .unwrap();
    let body = ready(503).expect("not unready with the audit store locked");
    assert!(body.contains("audit"), "{body}");
    let _ = locker.kill();
    let _ = locker.wait();
    assert!(
        ready(200).is_some(),
        "not ready again after the audit store was released"
    );
}

/// The protocol under monitor mode, or back under enforcement.
fn protocol_in(mode: &str) -> String {
    format!("{PROTOCOL}mode = \"{mode}\"\n")
}

#[test]
fn monitor_mode_relays_a_bad_message_and_says_so_in_the_log_at_start_reload_and_per_message() {
    const MONITOR_WARNING: &str = "protocol in monitor mode";
    const RELOADED: &str = "configuration reloaded";
    require_peers();
    let sink = Sink::start();
    let mut config = GatewayConfig::new(sink.port());
    config
        .set("policy", "own_domains", "[\"opgroeien.be\"]")
        .append(&protocol_in("monitor"));
    let gateway = config.start();
    let log = gateway.wait_for_log(MONITOR_WARNING, STARTUP);
    assert_eq!(log.matches(MONITOR_WARNING).count(), 1, "{log}");
    assert!(log.contains("opgroeien-menen-ocmw-wervik"), "{log}");

    // A message that enforcement refuses is relayed unchanged, with a warning of its own.
    let bad = fixture("other_attachment_pdf.eml");
    let run = send_file(&gateway, PROTECTED, &bad);
    run.assert_ok();
    let stored = sink.wait_for(1, ARRIVAL);
    assert_relayed_exactly(&as_sent(&bad), &stored[0].bytes);
    const PER_MESSAGE: &str = "protected message breaks the protocol's rules";
    let log = gateway.wait_for_log(PER_MESSAGE, ARRIVAL);
    let line = log
        .lines()
        .find(|l| l.contains(PER_MESSAGE))
        .unwrap_or_default();
    assert!(line.contains("other_attachment"), "{line}");
    let records = export(&gateway);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["verdict"], "would_reject");

    // Every reload that keeps monitor mode says so again; one back to enforce does not.
    gateway.sighup();
    let log = gateway.wait_for_log(RELOADED, Duration::from_secs(10));
    assert_eq!(log.matches(MONITOR_WARNING).count(), 2, "{log}");
    let path = gateway.config_path();
    let text = std::fs::read_to_string(&path).expect("config");
    std::fs::write(
        &path,
        text.replace("mode = \"monitor\"", "mode = \"enforce\""),
    )
    .expect("write config");
    gateway.sighup();
    let log = wait_until(Duration::from_secs(10), || {
        let log = gateway.log();
        (log.matches(RELOADED).count() == 2).then_some(log)
    })
    .expect("the second reload");
    assert_eq!(log.matches(MONITOR_WARNING).count(), 2, "{log}");
    let run = send_file(&gateway, PROTECTED, &bad);
    assert!(run.has_reply("550 5.7.1"), "{}", run.transcript);
    assert_eq!(
        sink.messages().len(),
        1,
        "enforced again: nothing more relayed"
    );
}
