//! The command line as a DPO runs it: a configuration file for a store, the real binary, and
//! October 2025's transfers to report on.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::{TimeZone, Utc};
use sealgate::audit::AuditStore;
use sealgate::policy::ReasonCode;

use super::*;

pub fn write_config(dir: &Path, store: &str, retention_days: u32) -> PathBuf {
    let path = dir.join("sealgate.toml");
    let text = format!(
        r#"
[smtp]
listen = ["127.0.0.1:2525"]
hostname = "sealgate.test"

[relay]
next_hop = "smtp://127.0.0.1:10025"

[audit]
store = "{store}"
instance = "gw-cli"
retention_days = {retention_days}

[[protocols]]
id = "{PROTOCOL}"
title = "Opgroeien regie -> OCMW Wervik"
mailboxes = ["kindengezin@wervik.be"]
in_force_from = 2023-12-01
"#
    );
    std::fs::write(&path, text).unwrap();
    path
}

pub fn sealgate(args: &[&str], config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .arg("audit")
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("SEALGATE__AUDIT__STORE")
        .output()
        .unwrap()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

/// October 2025: t1 relayed, t2 and t4 refused, t3 incomplete, t6 to another protocol only;
/// t5 falls in November.
pub async fn october(store: &AuditStore) {
    let day = |d: u32| Utc.with_ymd_and_hms(2025, 10, d, 9, 30, 0).unwrap();
    let t1 = record_at("t1", "alice@opgroeien.be", day(2));
    let t2 = refused(
        record_at("t2", "Bob@opgroeien.be", day(3)),
        ReasonCode::ArchiveNotEncrypted,
    );
    let t3 = record_at("t3", "alice@opgroeien.be", day(4));
    let t4 = refused(
        record_at("t4", "carol@opgroeien.be", day(31)),
        ReasonCode::HeaderNotEncrypted,
    );
    let t5 = record_at(
        "t5",
        "dave@opgroeien.be",
        Utc.with_ymd_and_hms(2025, 11, 1, 0, 0, 0).unwrap(),
    );
    let mut t6 = record_at("t6", "erin@opgroeien.be", day(5));
    t6.recipients[0].protocol = Some("another-protocol".into());
    for r in [&t1, &t2, &t3, &t4, &t5, &t6] {
        store.record_decision(r).await.unwrap();
    }
    store.record_outcome("t1", &relayed(&t1)).await.unwrap();
    store.record_outcome("t2", &rejected(&t2)).await.unwrap();
    store.record_outcome("t4", &rejected(&t4)).await.unwrap();
    store.record_outcome("t5", &relayed(&t5)).await.unwrap();
    store.record_outcome("t6", &relayed(&t6)).await.unwrap();
}
