//! Shared pieces of the audit tests: records to write, the command line's helpers, and (for the
//! real-peer tier) a private PostgreSQL 15 cluster on a free loopback port in a temp dir,
//! stopped when the guard drops.
#![allow(dead_code)]

pub mod cli;
// Some test binaries load tests/common as well: the same file, on purpose.
#[allow(clippy::duplicate_mod)]
#[path = "../common/ports.rs"]
mod ports;

pub use ports::free_port;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::{DateTime, Duration, Utc};
use sealgate::audit::{AuditRecipient, Outcome, TransferOutcome, TransferRecord};
use sealgate::policy::{ArchiveFacts, ReasonCode, Verdict};
use sealgate::sevenz::VerdictKind;

pub const PROTOCOL: &str = "opgroeien-menen-ocmw-wervik";
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A decision for a transfer to the protected mailbox, `days_ago` days old.
pub fn record(id: &str, sender: &str, days_ago: i64) -> TransferRecord {
    let received_at = Utc::now() - Duration::days(days_ago);
    record_at(id, sender, received_at)
}

pub fn record_at(id: &str, sender: &str, received_at: DateTime<Utc>) -> TransferRecord {
    TransferRecord {
        id: id.to_string(),
        instance: "gw-test".into(),
        received_at,
        decided_at: received_at + Duration::milliseconds(40),
        client_address: "192.0.2.10:40512".into(),
        helo: "exchange.opgroeien.be".into(),
        auth_user: None,
        tls_in: Some("TLSv1.3 TLS13_AES_256_GCM_SHA384".into()),
        sender: sender.to_string(),
        recipients: vec![
            AuditRecipient {
                address: "kindengezin@wervik.be".into(),
                protocol: Some(PROTOCOL.into()),
            },
            AuditRecipient {
                address: "dossier@opgroeien.be".into(),
                protocol: None,
            },
        ],
        message_id: Some(format!("<{id}@opgroeien.be>")),
        size: 48_213,
        archives: vec![ArchiveFacts {
            sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            size: 40_960,
            verdict: VerdictKind::Encrypted,
            header_encrypted: Some(true),
            kdf_cycles_power: Some(19),
            files: None,
        }],
        verdict: Verdict::Pass,
        reasons: vec![],
        next_hop: "smtp://127.0.0.1:10025".into(),
    }
}

/// The same decision, refused for `reason`.
pub fn refused(mut record: TransferRecord, reason: ReasonCode) -> TransferRecord {
    record.verdict = Verdict::Reject;
    record.reasons = vec![reason];
    record
}

pub fn relayed(record: &TransferRecord) -> TransferOutcome {
    TransferOutcome {
        answered_at: record.decided_at + Duration::milliseconds(120),
        reply_code: 250,
        reply_text: "2.0.0 Ok: queued as 4Xc1".into(),
        outcome: Outcome::Relayed,
        tls_out: Some("TLSv1.3 TLS13_AES_128_GCM_SHA256".into()),
    }
}

pub fn rejected(record: &TransferRecord) -> TransferOutcome {
    TransferOutcome {
        answered_at: record.decided_at + Duration::milliseconds(1),
        reply_code: 550,
        reply_text: "5.7.1 Beschermde post enkel als versleuteld 7z-archief / protected mail only as an encrypted 7z archive".into(),
        outcome: Outcome::Rejected,
        tls_out: None,
    }
}

/// An external program the real-peer tier needs: missing, the test fails and says how to
/// install it (the real-peer tier never passes by skipping).
pub fn require(path: &str, install: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: {install} (or run `bash tests/run-all.sh`, which installs the peers)"
    );
}

/// A throwaway PostgreSQL 15 cluster, owned by user `postgres` when the tests run as root.
pub struct PgCluster {
    dir: tempfile::TempDir,
    pub port: u16,
}

impl PgCluster {
    /// Starts the cluster; fails the test when PostgreSQL 15 is not installed.
    pub fn start() -> PgCluster {
        require(&format!("{PG_BIN}/initdb"), "apt-get install postgresql-15");
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown postgres failed");
        }
        let data = dir.path().join("data");
        let out = as_postgres(
            &format!("{PG_BIN}/initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        assert!(out.status.success(), "initdb failed: {}", text(&out));
        let mut cluster = PgCluster { dir, port: 0 };
        // Another process may take the free port before the server binds it: try a few.
        for _ in 0..3 {
            cluster.port = free_port();
            if cluster.try_start().is_ok() {
                return cluster;
            }
        }
        cluster.pg_ctl_start();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn pg_ctl_start(&self) {
        if let Err(e) = self.try_start() {
            panic!("{e}");
        }
    }

    fn try_start(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("postgres.log");
        let out = as_postgres(
            &format!("{PG_BIN}/pg_ctl"),
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "pg_ctl start failed: {}\n{}",
            text(&out),
            std::fs::read_to_string(&log).unwrap_or_default()
        ))
    }

    pub fn pg_ctl_stop(&self) {
        let out = as_postgres(
            &format!("{PG_BIN}/pg_ctl"),
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
        assert!(out.status.success(), "pg_ctl stop failed: {}", text(&out));
    }

    /// The cluster's temp dir (owned by postgres when running as root).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Appends settings to postgresql.conf and restarts the server.
    pub fn restart_with(&self, settings: &str) {
        use std::io::Write;
        let conf = self.data().join("postgresql.conf");
        let mut file = std::fs::OpenOptions::new().append(true).open(conf).unwrap();
        writeln!(file, "{settings}").unwrap();
        self.pg_ctl_stop();
        self.pg_ctl_start();
    }

    /// Gives `path` to user postgres (when running as root), e.g. a key file.
    pub fn give(&self, path: &Path) {
        if is_root() {
            let status = Command::new("chown")
                .arg("postgres:postgres")
                .arg(path)
                .status()
                .unwrap();
            assert!(status.success());
        }
    }

    /// A new empty database, and the URL of it.
    pub fn database(&self, name: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(name)
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs SQL with psql and returns its unaligned output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-d", db, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .unwrap();
        assert!(out.status.success(), "psql {sql:?} failed: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = as_postgres(
            &format!("{PG_BIN}/pg_ctl"),
            &[
                "-D",
                self.data().to_str().unwrap_or_default(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }
}

fn as_postgres(program: &str, args: &[&str]) -> Output {
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", program]);
        c
    } else {
        Command::new(program)
    };
    command.args(args).current_dir("/").output().unwrap()
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
