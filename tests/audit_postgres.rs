#![cfg(feature = "real-peers")]
//! The audit ledger on a real PostgreSQL 15 (a private cluster per test): two gateway
//! instances writing at once, tampering found by `verify`, pruning, and a server that is down.

mod audit_support;

use std::sync::Arc;

use audit_support::cli::*;
use audit_support::*;
use sealgate::audit::{AuditStore, EntryKind, LedgerError, TransferQuery};
use sealgate::policy::ReasonCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_gateways_writing_at_once_build_one_verifiable_chain() {
    let pg = PgCluster::start();
    let url = pg.database("audit");
    let (a, b) = tokio::join!(AuditStore::open(&url, "gw1"), AuditStore::open(&url, "gw2"));
    let (a, b) = (Arc::new(a.unwrap()), Arc::new(b.unwrap()));
    let mut tasks = Vec::new();
    for task in 0..8 {
        let store = if task % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                let r = record(&format!("p{task}-{i}"), "alice@opgroeien.be", 0);
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
    assert_eq!((chain.entries, chain.head_seq), (400, 400));
    let transfers = b.transfers(&TransferQuery::default()).await.unwrap();
    assert_eq!(transfers.len(), 200);
    assert!(transfers.iter().all(|t| t.complete()));
    let writers = pg.psql(
        "audit",
        "SELECT instance || '=' || count(*) FROM audit_entries GROUP BY instance ORDER BY instance",
    );
    assert_eq!(writers, "gw1=200\ngw2=200");
    assert_eq!(
        pg.psql("audit", "SELECT max(version) FROM schema_version"),
        "1"
    );
}

/// t1 relayed, t2 refused, t3 incomplete: entries 1..5.
async fn three_transfers(store: &AuditStore) {
    let t1 = record("t1", "alice@opgroeien.be", 1);
    let t2 = refused(
        record("t2", "bob@opgroeien.be", 1),
        ReasonCode::ArchiveNotEncrypted,
    );
    let t3 = record("t3", "alice@opgroeien.be", 1);
    store.record_decision(&t1).await.unwrap();
    store.record_decision(&t2).await.unwrap();
    store.record_outcome("t1", &relayed(&t1)).await.unwrap();
    store.record_outcome("t2", &rejected(&t2)).await.unwrap();
    store.record_decision(&t3).await.unwrap();
}

#[tokio::test]
async fn errors_are_typed_duplicate_and_corrupt() {
    let pg = PgCluster::start();
    let url = pg.database("typed");
    let store = AuditStore::open(&url, "gw1").await.unwrap();
    three_transfers(&store).await;
    let t1 = record("t1", "alice@opgroeien.be", 1);
    let err = store.record_outcome("t1", &relayed(&t1)).await.unwrap_err();
    assert!(
        matches!(
            err.kind(),
            LedgerError::Duplicate { kind: EntryKind::Outcome, transfer_id } if transfer_id == "t1"
        ),
        "{err}"
    );
    pg.psql("typed", "UPDATE audit_chain_head SET seq = -1");
    let err = store.verify().await.unwrap_err();
    assert!(matches!(err.kind(), LedgerError::Corrupt(_)), "{err}");
    let err = store.prune_before(chrono::Utc::now()).await.unwrap_err();
    assert!(matches!(err.kind(), LedgerError::Corrupt(_)), "{err}");
}

#[tokio::test]
async fn edits_deletions_and_swaps_are_found() {
    let pg = PgCluster::start();
    let cases = [
        (
            "edited",
            "UPDATE audit_entries SET body = replace(body, 'bob@', 'eve@') WHERE seq = 2",
            2,
        ),
        ("deleted", "DELETE FROM audit_entries WHERE seq = 3", 4),
        (
            "swapped",
            "UPDATE audit_entries SET seq = -1 WHERE seq = 2;
             UPDATE audit_entries SET seq = 2 WHERE seq = 3;
             UPDATE audit_entries SET seq = 3 WHERE seq = -1;",
            2,
        ),
        ("truncated", "DELETE FROM audit_entries WHERE seq = 5", 5),
    ];
    for (db, sql, broken_at) in cases {
        let url = pg.database(db);
        let store = AuditStore::open(&url, "gw1").await.unwrap();
        three_transfers(&store).await;
        let transfers = store.transfers(&TransferQuery::default()).await.unwrap();
        assert_eq!(transfers.len(), 3);
        assert!(!transfers[2].complete(), "t3 is incomplete");
        assert!(store.verify().await.unwrap().verifies());
        pg.psql(db, sql);
        let broken = store.verify().await.unwrap().broken;
        let broken = broken.unwrap_or_else(|| panic!("{db}: verify did not notice"));
        assert_eq!(broken.seq, broken_at, "{db}: {broken}");
    }
}

#[tokio::test]
async fn pruning_keeps_the_chain_verifiable() {
    let pg = PgCluster::start();
    let url = pg.database("audit");
    let store = AuditStore::open(&url, "gw1").await.unwrap();
    for (i, days) in [400, 400, 200, 3].into_iter().enumerate() {
        let r = record(&format!("t{i}"), "alice@opgroeien.be", days);
        store.record_decision(&r).await.unwrap();
        store.record_outcome(&r.id, &relayed(&r)).await.unwrap();
    }
    let summary = store.prune(365).await.unwrap();
    assert_eq!((summary.pruned, summary.checkpoint_seq), (4, Some(9)));
    assert!(store.verify().await.unwrap().verifies());
    let summary = store.prune(30).await.unwrap();
    assert_eq!(summary.pruned, 2);
    let chain = store.verify().await.unwrap();
    assert!(chain.verifies(), "{:?}", chain.broken);
    assert_eq!(chain.first_seq, Some(7));
    let ids: Vec<String> = store
        .transfers(&TransferQuery::default())
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.record.id)
        .collect();
    assert_eq!(ids, ["t3"]);
    pg.psql("audit", "DELETE FROM audit_entries WHERE seq = 7");
    assert_eq!(store.verify().await.unwrap().broken.unwrap().seq, 8);
}

#[tokio::test]
async fn a_server_that_is_down_is_a_clear_error_and_comes_back() {
    let pg = PgCluster::start();
    let url = pg.database("audit");
    let store = AuditStore::open(&url, "gw1").await.unwrap();
    let t1 = record("t1", "alice@opgroeien.be", 0);
    store.record_decision(&t1).await.unwrap();

    pg.pg_ctl_stop();
    let err = store.record_outcome("t1", &relayed(&t1)).await.unwrap_err();
    assert!(err.to_string().contains("PostgreSQL"), "{err}");
    assert!(store.check_writable().await.is_err());
    let err = AuditStore::open(&url, "gw2")
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("cannot connect to PostgreSQL"), "{err}");

    pg.pg_ctl_start();
    store.check_writable().await.unwrap();
    store.record_outcome("t1", &relayed(&t1)).await.unwrap();
    let chain = store.verify().await.unwrap();
    assert!(chain.verifies(), "{:?}", chain.broken);
    assert_eq!(chain.entries, 2);
}

#[tokio::test]
async fn the_password_never_appears_in_errors() {
    let port = audit_support::free_port();
    let url = format!("postgres://gw:Secr3tPassw0rd@127.0.0.1:{port}/audit");
    let err = AuditStore::open(&url, "gw1")
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("cannot connect"), "{err}");
    assert!(!err.contains("Secr3tPassw0rd"), "{err}");
}

#[tokio::test]
async fn a_gateway_role_without_update_or_delete_rights_can_record() {
    let pg = PgCluster::start();
    let owner_url = pg.database("audit");
    let owner = AuditStore::open(&owner_url, "setup").await.unwrap();
    drop(owner);
    pg.psql(
        "audit",
        "CREATE ROLE gw LOGIN;
         GRANT SELECT, INSERT ON audit_entries TO gw;
         GRANT SELECT, UPDATE ON audit_chain_head TO gw;
         GRANT SELECT ON schema_version TO gw;",
    );
    let url = format!("postgres://gw@127.0.0.1:{}/audit", pg.port);
    let store = AuditStore::open(&url, "gw1").await.unwrap();
    three_transfers(&store).await;
    assert!(store.verify().await.unwrap().verifies());
    let err = store.prune_before(chrono::Utc::now()).await.unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    assert!(store.verify().await.unwrap().verifies());
}

/// `sealgate audit` against PostgreSQL: verify, report, and an edit found.
#[test]
fn the_command_line_works_against_postgresql() {
    let pg = PgCluster::start();
    let url = pg.database("audit");
    runtime().block_on(async {
        let store = AuditStore::open(&url, "gw-test").await.unwrap();
        october(&store).await;
    });
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &url, 0);
    let out = sealgate(&["verify"], &config);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = sealgate(&["report", "--period", "2025-10", "--json"], &config);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["protocols"][1]["transfers"], 4);
    pg.psql(
        "audit",
        "UPDATE audit_entries SET at = '2025-10-01T00:00:00.000000Z' WHERE seq = 4",
    );
    let out = sealgate(&["verify"], &config);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("entry 4"), "{}", stdout(&out));
}
