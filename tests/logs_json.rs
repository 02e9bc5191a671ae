#![cfg(feature = "real-peers")]
//! `log.format = "json"`: every line is a JSON object, and the transaction summary carries the
//! fields a log platform indexes (never a subject or a body).

mod common;

use std::time::Duration;

use common::*;

#[test]
fn the_transaction_summary_is_one_json_object_per_line() {
    require_peers();
    let sink = Sink::start();
    let mut config = GatewayConfig::new(sink.port());
    config.set("log", "format", "\"json\"");
    let gateway = config.start();
    let run = swaks(&[
        "--server",
        &gateway.server(),
        "--from",
        "staff@opgroeien.be",
        "--to",
        "someone@example.org",
        "--header",
        "Subject: Dossier Q4ZZ-SUBJECT",
        "--body",
        "Body text Q4ZZ-BODY",
    ]);
    run.assert_ok();
    sink.wait_for(1, Duration::from_secs(20));
    let log = gateway.wait_for_log("\"transaction\"", Duration::from_secs(10));

    let mut summary = None;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if value["message"] == "transaction" {
            summary = Some(value);
        }
    }
    let summary = summary.expect("a transaction line");
    assert_eq!(summary["level"], "INFO");
    assert_eq!(summary["from"], "staff@opgroeien.be");
    assert_eq!(summary["nrcpt"], 1);
    assert_eq!(summary["class"], "ordinary");
    assert_eq!(summary["outcome"], "relayed");
    assert_eq!(summary["client"], "127.0.0.1");
    assert!(
        summary["reply"].as_str().unwrap_or("").starts_with("250 "),
        "{summary}"
    );
    assert!(summary["size"].as_u64().unwrap_or(0) > 0, "{summary}");
    assert!(
        summary["id"].as_str().is_some_and(|id| id.len() >= 16),
        "{summary}"
    );
    assert!(
        !log.contains("Q4ZZ-SUBJECT") && !log.contains("Q4ZZ-BODY"),
        "contents in the log:\n{log}"
    );
}
