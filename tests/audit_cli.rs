//! `sealgate audit verify|export|report|prune` as a DPO runs them: the real binary, a real
//! configuration file, a real store.

mod audit_support;

use std::path::PathBuf;

use audit_support::cli::*;
use audit_support::*;
use sealgate::audit::AuditStore;

struct Setup {
    dir: tempfile::TempDir,
    db: PathBuf,
    config: PathBuf,
}

fn setup(retention_days: u32) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let spec = format!("sqlite:{}", db.display());
    let config = write_config(dir.path(), &spec, retention_days);
    runtime().block_on(async {
        let store = AuditStore::open(&spec, "gw-test").await.unwrap();
        october(&store).await;
    });
    Setup { dir, db, config }
}

#[test]
fn verify_passes_then_names_the_first_broken_entry() {
    let s = setup(0);
    let out = sealgate(&["verify"], &s.config);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("verifies: 11 entries"),
        "{}",
        stdout(&out)
    );

    let conn = rusqlite::Connection::open(&s.db).unwrap();
    conn.execute(
        "UPDATE audit_entries SET body = replace(body, '\"size\":48213', '\"size\":1') WHERE seq = 3",
        [],
    )
    .unwrap();
    let out = sealgate(&["verify"], &s.config);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("BROKEN at entry 3 (decision of transfer t3)"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn report_counts_per_protocol_as_json_and_text() {
    let s = setup(0);
    let out = sealgate(&["report", "--period", "2025-10", "--json"], &s.config);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["chain"]["verifies"], true);
    let protocols = report["protocols"].as_array().unwrap();
    let ids: Vec<&str> = protocols
        .iter()
        .map(|p| p["protocol"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["another-protocol", PROTOCOL]);
    let ours = &protocols[1];
    assert_eq!(ours["transfers"], 4);
    assert_eq!(ours["relayed"], 1);
    assert_eq!(ours["refused"], 2);
    assert_eq!(ours["refused_by_reason"]["archive_not_encrypted"], 1);
    assert_eq!(ours["refused_by_reason"]["header_not_encrypted"], 1);
    assert_eq!(ours["incomplete"], 1);
    assert_eq!(ours["distinct_senders"], 3);

    let out = sealgate(
        &["report", "--period", "2025-10", "--protocol", PROTOCOL],
        &s.config,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("hash chain: verifies"), "{text}");
    assert!(text.contains(&format!("protocol {PROTOCOL}")), "{text}");
    assert!(!text.contains("another-protocol"), "{text}");
    for line in [
        "transfers         4",
        "relayed           1",
        "refused           2",
        "incomplete        1",
        "distinct senders  3",
    ] {
        assert!(text.contains(line), "{line:?} missing in:\n{text}");
    }

    // A month without transfers still lists the configured protocol, with zeros.
    let out = sealgate(&["report", "--period", "2025-09", "--json"], &s.config);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["protocols"][0]["protocol"], PROTOCOL);
    assert_eq!(report["protocols"][0]["transfers"], 0);
}

#[test]
fn a_broken_chain_shows_in_the_report() {
    let s = setup(0);
    let conn = rusqlite::Connection::open(&s.db).unwrap();
    conn.execute("DELETE FROM audit_entries WHERE seq = 2", [])
        .unwrap();
    let out = sealgate(&["report", "--period", "2025-10", "--json"], &s.config);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["chain"]["verifies"], false);
    assert!(report["chain"]["first_broken"]
        .as_str()
        .unwrap()
        .starts_with("entry 3"));
}

#[test]
fn export_filters_by_date_and_protocol() {
    let s = setup(0);
    let args = [
        "export",
        "--since",
        "2025-10-01",
        "--until",
        "2025-10-31",
        "--protocol",
        PROTOCOL,
        "--format",
        "json",
    ];
    let out = sealgate(&args, &s.config);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let records: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let records = records.as_array().unwrap();
    let ids: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["t1", "t2", "t3", "t4"]);
    assert_eq!(records[0]["outcome"]["reply_code"], 250);
    assert_eq!(records[0]["archives"][0]["kdf_cycles_power"], 19);
    assert_eq!(records[2]["outcome"], serde_json::Value::Null);
    assert_eq!(records[2]["complete"], false);
    assert_eq!(records[1]["reasons"][0], "archive_not_encrypted");

    let mut csv_args = args;
    csv_args[8] = "csv";
    csv_args[2] = "2025-10-03";
    let out = sealgate(&csv_args, &s.config);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(lines[0].starts_with("id,instance,received_at,"), "{text}");
    assert_eq!(lines.len(), 4, "header, t2, t3, t4:\n{text}");
    assert!(lines[1].starts_with("t2,gw-test,2025-10-03T09:30:00+00:00,"));
    assert!(lines[1].contains(&format!(
        "kindengezin@wervik.be={PROTOCOL};dossier@opgroeien.be"
    )));
    assert!(
        lines[2].contains(",false,"),
        "t3 is incomplete: {}",
        lines[2]
    );
}

#[test]
fn prune_keeps_the_chain_verifiable() {
    let s = setup(0);
    let spec = format!("sqlite:{}", s.db.display());
    runtime().block_on(async {
        let store = AuditStore::open(&spec, "gw-test").await.unwrap();
        let r = record("recent", "alice@opgroeien.be", 1);
        store.record_decision(&r).await.unwrap();
    });
    let config = write_config(s.dir.path(), &spec, 30);
    let out = sealgate(&["prune"], &config);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("pruned 11 entries"),
        "{}",
        stdout(&out)
    );
    let out = sealgate(&["verify"], &config);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("verifies: 2 entries"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn errors_exit_2_and_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let missing_dir = dir.path().join("nowhere/audit.db");
    let config = write_config(dir.path(), &format!("sqlite:{}", missing_dir.display()), 0);
    let out = sealgate(&["verify"], &config);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("create it"), "{}", stderr(&out));

    let absent = dir.path().join("absent.db");
    let config = write_config(dir.path(), &format!("sqlite:{}", absent.display()), 0);
    let out = sealgate(&["verify"], &config);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("absent.db"), "{}", stderr(&out));
    assert!(!absent.exists(), "verify must not create a store");

    let s = setup(0);
    let out = sealgate(&["report", "--period", "2025-13"], &s.config);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("2026-11"), "{}", stderr(&out));
    let out = sealgate(
        &["export", "--since", "yesterday", "--format", "csv"],
        &s.config,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("YYYY-MM-DD"), "{}", stderr(&out));
}

/// docs/audit.md lists the values a record can hold; the code's enums are the list, and the
/// document must name every one of them.
#[test]
fn the_audit_document_names_every_stored_value() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/audit.md")).unwrap();
    let reasons = sealgate::policy::ReasonCode::ALL.map(|c| c.as_str());
    let outcomes = sealgate::audit::Outcome::ALL.map(|o| o.as_str());
    for value in reasons.iter().chain(&outcomes) {
        assert!(
            doc.contains(&format!("`{value}`")),
            "docs/audit.md lacks `{value}`"
        );
    }
}
