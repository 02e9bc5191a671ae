//! The audit ledger on a real SQLite file: round trip, incomplete records, tampering found by
//! `verify`, pruning that keeps the chain whole, and stores that cannot be opened.

mod audit_support;

use std::sync::Arc;

use audit_support::*;
use sealgate::audit::{AuditStore, EntryKind, LedgerError, Outcome, TransferQuery};
use sealgate::policy::ReasonCode;

struct Fixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    spec: String,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let spec = format!("sqlite:{}", path.display());
    Fixture {
        _dir: dir,
        path,
        spec,
    }
}

/// Three transfers: t1 relayed, t2 refused, t3 incomplete (5 entries).
async fn three_transfers(store: &AuditStore) {
    let t1 = record("t1", "alice@opgroeien.be", 1);
    let t2 = refused(
        record("t2", "Bob@opgroeien.be", 1),
        ReasonCode::ArchiveNotEncrypted,
    );
    let t3 = record("t3", "alice@opgroeien.be", 1);
    store.record_decision(&t1).await.unwrap();
    store.record_decision(&t2).await.unwrap();
    store.record_outcome("t1", &relayed(&t1)).await.unwrap();
    store.record_outcome("t2", &rejected(&t2)).await.unwrap();
    store.record_decision(&t3).await.unwrap();
}

fn raw(path: &std::path::Path, sql: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(sql).unwrap();
}

#[tokio::test]
async fn records_read_back_complete_and_incomplete() {
    let f = fixture();
    let store = AuditStore::open(&f.spec, "gw1").await.unwrap();
    three_transfers(&store).await;
    let transfers = store.transfers(&TransferQuery::default()).await.unwrap();
    let ids: Vec<&str> = transfers.iter().map(|t| t.record.id.as_str()).collect();
    assert_eq!(ids, ["t1", "t2", "t3"]);
    assert_eq!(transfers[0].record, record_like(&transfers[0].record));
    assert_eq!(transfers[0].outcome.as_ref().unwrap().reply_code, 250);
    assert_eq!(
        transfers[1].outcome.as_ref().unwrap().outcome,
        Outcome::Rejected
    );
    assert!(transfers[0].complete() && transfers[1].complete());
    assert!(!transfers[2].complete(), "t3 has no outcome: incomplete");

    let chain = store.verify().await.unwrap();
    assert!(chain.verifies(), "{:?}", chain.broken);
    assert_eq!((chain.entries, chain.head_seq), (5, 5));

    // Reopened, the store continues the same chain.
    drop(store);
    let store = AuditStore::open(&f.spec, "gw1").await.unwrap();
    let t3 = &transfers[2].record;
    store.record_outcome("t3", &relayed(t3)).await.unwrap();
    let chain = store.verify().await.unwrap();
    assert!(chain.verifies(), "{:?}", chain.broken);
    assert_eq!(chain.entries, 6);
    let transfers = store.transfers(&TransferQuery::default()).await.unwrap();
    assert!(transfers.iter().all(|t| t.complete()));
}

/// What was written, field by field (the record round-trips exactly).
fn record_like(read: &sealgate::audit::TransferRecord) -> sealgate::audit::TransferRecord {
    let mut expected = record_at("t1", "alice@opgroeien.be", read.received_at);
    expected.decided_at = read.decided_at;
    expected
}

#[tokio::test]
async fn the_store_is_sqlite_in_wal_mode() {
    let f = fixture();
    let store = AuditStore::open(&f.spec, "gw1").await.unwrap();
    three_transfers(&store).await;
    let conn = rusqlite::Connection::open(&f.path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    use std::os::unix::fs::PermissionsExt;
    for file in [f.path.clone(), f.path.with_extension("db-wal")] {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    }
    let version: i64 = conn
        .query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 1);
}

#[tokio::test]
async fn a_transfer_has_one_decision() {
    let f = fixture();
    let store = AuditStore::open(&f.spec, "gw1").await.unwrap();
    let t1 = record("t1", "alice@opgroeien.be", 0);
    store.record_decision(&t1).await.unwrap();
    let err = store.record_decision(&t1).await.unwrap_err();
    assert!(
        matches!(
            err.kind(),
            LedgerError::Duplicate { kind: EntryKind::Decision, transfer_id } if transfer_id == "t1"
        ),
        "{err}"
    );
    assert!(err.to_string().contains("already has a decision"), "{err}");
    assert!(store.verify().await.unwrap().verifies());
}

#[tokio::test]
async fn an_edited_entry_breaks_the_chain_there() {
    let f = fixture();
    let store = AuditStore::open(&f.spec, "gw1").await.unwrap();
    three_transfers(&store).await;
    raw(
        &f.path,
        "UPDATE audit_entries SET body = replace(body, 'Bob@', 'Eve@') WHERE seq = 2",
    );
    let broken = store.verify().await.unwrap().broken.unwrap();
    assert_eq!(broken.seq, 2, "{broken}");
    assert_eq!(broken.transfer_id.as_deref(), Some("t2"));
    assert!(broken.problem.contains("hash"), "{broken}");
}

#[tokio::test]
async fn an_edited_column_breaks_the_chain_there() {
    let f = fixture();
    let store = AuditStore::open(&f.spec, "gw1").await.unwrap();
    three_transfers(&store).await;
    raw(
        &f.path,
        "UPDATE audit_entries SET transfer_id = 't9' WHERE seq = 3",
    );
    let broken = store.verify().await.unwrap().broken.unwrap();
    assert_eq!(broken.seq, 3, "{broken}");
}

#[tokio::test]
async fn a_deleted_entry_breaks_the_chain() {
    let f = fixture();
    let store = AuditStore::open(&f.spec, "gw1").await.unwrap();
    three_transfers(&store).await;
    raw(&f.path, "DELETE FROM audit_entries WHERE seq = 2");
    let broken = store.verify().await.unwrap().broken.unwrap();
    assert_eq!(broken.seq, 3, "{broken}");
    assert!(broken.problem.contains("missing"), "{broken}");
}

#[tokio::test]
async fn deleting_the_last_or_first_entry_is_found_too() {
    let f = fixture();
    let store = AuditStore::open(&f.spec, "gw1").await.unwrap();
    three_transfers(&store).await;
    raw(&f.path, "DELETE FROM audit_entries WHERE seq = 5");
    let broken = store.verify().await.unwrap().broken.unwrap();
    assert_eq!(broken.seq, 5, "{broken}");

    let g = fixture();
    let store = AuditStore::open(&g.spec, "gw1").await.unwrap();
    three_transfers(&store).await;
    raw(&g.path, "DELETE FROM audit_entries WHERE seq = 1");
    let broken = store.verify().await.unwrap().broken.unwrap();
    assert_eq!(broken.seq, 2, "{broken}");
}

#[tokio::test]
async fn swapped_entries_break_the_chain() {
    let f = fixture();
    let store = AuditStore::open(&f.spec, "gw1").await.unwrap();
    three_transfers(&store).await;
    raw(
        &f.path,
        "UPDATE audit_entries SET seq = -1 WHERE seq = 2;
         UPDATE audit_entries SET seq = 2 WHERE seq = 3;
         UPDATE audit_entries SET seq = 3 WHERE seq = -1;",
    );
    let broken = store.verify().await.unwrap().broken.unwrap();
    assert_eq!(broken.seq, 2, "{broken}");
}

#[tokio::test]
async fn pruning_keeps_the_rest_of_the_chain_verifiable() {
    let f = fixture();
    let store = AuditStore::open(&f.spec, "gw1").await.unwrap();
    for i in 0..4 {
        let old = record(&format!("old{i}"), "alice@opgroeien.be", 100);
        store.record_decision(&old).await.unwrap();
        store.record_outcome(&old.id, &relayed(&old)).await.unwrap();
    }
    let new = record("new", "alice@opgroeien.be", 2);
    store.record_decision(&new).await.unwrap();
    store.record_outcome("new", &relayed(&new)).await.unwrap();

    let summary = store.prune(30).await.unwrap();
    assert_eq!(summary.pruned, 8);
    assert_eq!(summary.checkpoint_seq, Some(11));
    let chain = store.verify().await.unwrap();
    assert!(chain.verifies(), "{:?}", chain.broken);
    assert_eq!((chain.entries, chain.first_seq), (3, Some(9)));
    let ids: Vec<String> = store
        .transfers(&TransferQuery::default())
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.record.id)
        .collect();
    assert_eq!(ids, ["new"]);

    // Nothing more to prune; appending continues the chain after the checkpoint.
    assert_eq!(store.prune(30).await.unwrap().pruned, 0);
    let later = record("later", "bob@opgroeien.be", 0);
    store.record_decision(&later).await.unwrap();
    assert!(store.verify().await.unwrap().verifies());

    // A second prune that removes the first checkpoint as well still verifies.
    let summary = store
        .prune_before(chrono::Utc::now() + chrono::Duration::days(1))
        .await;
    assert_eq!(summary.unwrap().pruned, 4);
    let chain = store.verify().await.unwrap();
    assert!(chain.verifies(), "{:?}", chain.broken);
    assert_eq!(chain.entries, 1);

    // Retention 0 keeps everything.
    assert_eq!(store.prune(0).await.unwrap().pruned, 0);
}

#[tokio::test]
async fn deleting_entries_after_a_prune_is_found() {
    let f = fixture();
    let store = AuditStore::open(&f.spec, "gw1").await.unwrap();
    for (i, days) in [100, 100, 3, 2].into_iter().enumerate() {
        store
            .record_decision(&record(&format!("t{i}"), "alice@opgroeien.be", days))
            .await
            .unwrap();
    }
    store.prune(30).await.unwrap();
    assert!(store.verify().await.unwrap().verifies());
    raw(&f.path, "DELETE FROM audit_entries WHERE seq = 3");
    let broken = store.verify().await.unwrap().broken.unwrap();
    assert_eq!(broken.seq, 4, "{broken}");
    assert!(broken.problem.contains("checkpoint"), "{broken}");
}

#[tokio::test]
async fn a_store_that_cannot_be_written_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir/audit.db");
    let err = AuditStore::open(&format!("sqlite:{}", missing.display()), "gw1")
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("no-such-dir") && err.contains("create it"),
        "{err}"
    );
    assert!(
        !dir.path().join("no-such-dir").exists(),
        "parent directories are never created"
    );

    let file = dir.path().join("a-file");
    std::fs::write(&file, "not an SQLite database\n".repeat(200)).unwrap();
    let err = AuditStore::open(&format!("sqlite:{}/audit.db", file.display()), "gw1")
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("not a directory"), "{err}");

    let err = AuditStore::open(&format!("sqlite:{}", dir.path().display()), "gw1")
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("is a directory"), "{err}");

    let err = AuditStore::open(&format!("sqlite:{}", file.display()), "gw1")
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("SQLite") || err.contains("database"), "{err}");

    let err = AuditStore::open("mysql://x", "gw1").await.err().unwrap();
    assert!(err.to_string().contains("sqlite:PATH"), "{err}");

    let absent = dir.path().join("absent.db");
    let err = AuditStore::open_existing(&format!("sqlite:{}", absent.display()), "gw1")
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("absent.db"), "{err}");
    assert!(!absent.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_one_file_build_one_chain() {
    let f = fixture();
    let a = Arc::new(AuditStore::open(&f.spec, "gw1").await.unwrap());
    let b = Arc::new(AuditStore::open(&f.spec, "gw2").await.unwrap());
    let mut tasks = Vec::new();
    for task in 0..6 {
        let store = if task % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                let r = record(&format!("s{task}-{i}"), "alice@opgroeien.be", 0);
                store.record_decision(&r).await.unwrap();
                store.record_outcome(&r.id, &relayed(&r)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let chain = a.verify().await.unwrap();
    assert!(chain.verifies(), "{:?}", chain.broken);
    assert_eq!(chain.entries, 240);
    let transfers = b.transfers(&TransferQuery::default()).await.unwrap();
    assert_eq!(transfers.len(), 120);
    assert!(transfers.iter().all(|t| t.complete()));
}

#[tokio::test]
async fn queries_filter_by_time_and_protocol() {
    let f = fixture();
    let store = AuditStore::open(&f.spec, "gw1").await.unwrap();
    let mut other = record("other", "alice@opgroeien.be", 1);
    other.recipients[0].protocol = Some("another-protocol".into());
    store.record_decision(&other).await.unwrap();
    store
        .record_decision(&record("old", "alice@opgroeien.be", 10))
        .await
        .unwrap();
    store
        .record_decision(&record("new", "alice@opgroeien.be", 1))
        .await
        .unwrap();
    let query = TransferQuery {
        since: Some(chrono::Utc::now() - chrono::Duration::days(5)),
        until: None,
        protocol: Some(PROTOCOL.into()),
    };
    let ids: Vec<String> = store
        .transfers(&query)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.record.id)
        .collect();
    assert_eq!(ids, ["new"]);
    let query = TransferQuery {
        until: Some(chrono::Utc::now() - chrono::Duration::days(5)),
        ..Default::default()
    };
    let ids: Vec<String> = store
        .transfers(&query)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.record.id)
        .collect();
    assert_eq!(ids, ["old"]);
}

#[tokio::test]
async fn a_head_set_back_is_found() {
    let f = fixture();
    let store = AuditStore::open(&f.spec, "gw1").await.unwrap();
    three_transfers(&store).await;
    raw(
        &f.path,
        "UPDATE audit_chain_head SET seq = 3, hash = (SELECT hash FROM audit_entries WHERE seq = 3)",
    );
    let broken = store.verify().await.unwrap().broken.unwrap();
    assert_eq!(broken.seq, 4, "{broken}");
    assert!(broken.problem.contains("beyond the chain head"), "{broken}");
}

#[tokio::test]
async fn a_negative_sequence_number_is_corruption_not_zero() {
    let f = fixture();
    let store = AuditStore::open(&f.spec, "gw1").await.unwrap();
    three_transfers(&store).await;
    raw(&f.path, "UPDATE audit_chain_head SET seq = -1");
    let err = store.verify().await.unwrap_err();
    assert!(matches!(err.kind(), LedgerError::Corrupt(_)), "{err}");
    let t9 = record("t9", "alice@opgroeien.be", 0);
    let err = store.record_decision(&t9).await.unwrap_err();
    assert!(matches!(err.kind(), LedgerError::Corrupt(_)), "{err}");

    raw(
        &f.path,
        "UPDATE audit_chain_head SET seq = 5, hash = (SELECT hash FROM audit_entries WHERE seq = 5)",
    );
    assert!(store.verify().await.unwrap().verifies());
    raw(&f.path, "UPDATE audit_entries SET seq = -2 WHERE seq = 1");
    // verify walks from entry 1 on: the moved entry is missing there...
    let broken = store.verify().await.unwrap().broken.unwrap();
    assert_eq!(broken.seq, 2, "{broken}");
    // ...and pruning, which starts from the lowest number, refuses to read it as entry 0.
    let err = store.prune_before(chrono::Utc::now()).await.unwrap_err();
    assert!(matches!(err.kind(), LedgerError::Corrupt(_)), "{err}");
}

#[tokio::test]
async fn a_record_that_does_not_read_is_corruption() {
    let f = fixture();
    let store = AuditStore::open(&f.spec, "gw1").await.unwrap();
    three_transfers(&store).await;
    raw(
        &f.path,
        "UPDATE audit_entries SET body = replace(body, '\"verdict\":\"pass\"', '\"verdict\":\"maybe\"') WHERE seq = 1",
    );
    let err = store
        .transfers(&TransferQuery::default())
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), LedgerError::Corrupt(_)), "{err}");
}

#[tokio::test]
async fn a_store_of_a_newer_sealgate_is_refused_by_version() {
    let f = fixture();
    drop(AuditStore::open(&f.spec, "gw1").await.unwrap());
    raw(&f.path, "INSERT INTO schema_version (version) VALUES (7)");
    let err = AuditStore::open(&f.spec, "gw1").await.err().unwrap();
    assert!(
        matches!(err.kind(), LedgerError::SchemaTooNew { found: 7, .. }),
        "{err}"
    );
}
