//! Shared by the HTML report tests (in-process and headless Chromium): a month of audit
//! records with every kind of figure (relayed, refused for several reasons, deferred, refused
//! by the next hop, incomplete, TLS out over smarthost and MX delivery, a hostile sender), and
//! the check that every figure of a page equals the same number of `--json`.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{Duration, TimeZone, Utc};
use sealgate::audit::{AuditStore, Outcome, TransferOutcome};
use sealgate::policy::ReasonCode;
use serde_json::Value;

use crate::audit_support::cli::{october, runtime, write_config};
use crate::audit_support::{record_at, refused, rejected, relayed};

/// A sender who tries to break out of the page.
pub const HOSTILE_SENDER: &str = "\"<script>alert(1)</script>\"@evil.example";
/// A Message-ID that tries to break out of an attribute and an element.
pub const HOSTILE_MESSAGE_ID: &str = "<\"><img src=x onerror=alert(2)>@evil.example>";

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

/// A store with October 2025 as `audit_support::cli::october` writes it, plus a busier month
/// of generated transfers.
pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("sqlite:{}", dir.path().join("audit.db").display());
    let config = write_config(dir.path(), &spec, 0);
    runtime().block_on(async {
        let store = AuditStore::open(&spec, "gw-test").await.unwrap();
        october(&store).await;
        busy_month(&store).await;
    });
    Fixture { dir, config }
}

const SENDERS: [&str; 5] = [
    "alice@opgroeien.be",
    "bob@opgroeien.be",
    "carol@opgroeien.be",
    "dirk@opgroeien.be",
    "els@opgroeien.be",
];

const REASONS: [ReasonCode; 4] = [
    ReasonCode::HeaderNotEncrypted,
    ReasonCode::NoArchive,
    ReasonCode::OtherAttachment,
    ReasonCode::IdentifierInText,
];

const TLS_OUT: [&str; 3] = [
    "TLSv1.3 TLS13_AES_256_GCM_SHA384",
    "TLSv1.3 TLS13_AES_128_GCM_SHA256 verified=dane",
    "TLSv1.2 TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 verified=ca",
];

/// Working days of October 2025 with a few transfers each; ids `g<day>-<n>`.
async fn busy_month(store: &AuditStore) {
    for day in 1..=31u32 {
        let date = Utc.with_ymd_and_hms(2025, 10, day, 8, 0, 0).unwrap();
        if matches!(date.format("%a").to_string().as_str(), "Sat" | "Sun") {
            continue;
        }
        let count = 2 + (day * 7) % 5;
        for n in 0..count {
            let id = format!("g{day}-{n}");
            let at = date + Duration::minutes(i64::from(n) * 37);
            let sender = SENDERS[((day + n) % 5) as usize];
            let mut record = record_at(&id, sender, at);
            record.archives[0].size = 20_000 + u64::from(day * 1_000 + n * 7_919);
            let kind = (day + n * 3) % 11;
            let (record, outcome) = match kind {
                0 | 1 => {
                    let r = refused(record, REASONS[((day + n) % 4) as usize]);
                    let o = rejected(&r);
                    (r, Some(o))
                }
                2 if day % 3 == 0 => {
                    let o = TransferOutcome {
                        reply_code: 451,
                        reply_text: "4.4.1 next hop unreachable".into(),
                        outcome: Outcome::Deferred,
                        tls_out: None,
                        ..relayed(&record)
                    };
                    (record, Some(o))
                }
                3 if day == 14 => {
                    let o = TransferOutcome {
                        reply_code: 554,
                        reply_text: "5.7.1 relay denied".into(),
                        outcome: Outcome::Rejected,
                        tls_out: None,
                        ..relayed(&record)
                    };
                    (record, Some(o))
                }
                _ => {
                    let mut o = relayed(&record);
                    o.tls_out = Some(TLS_OUT[((day + n) % 3) as usize].into());
                    (record, Some(o))
                }
            };
            store.record_decision(&record).await.unwrap();
            if let Some(o) = outcome {
                store.record_outcome(&id, &o).await.unwrap();
            }
        }
    }
    // The hostile sender: refused twice, and once incomplete with a hostile Message-ID.
    for (n, day) in [9u32, 23].into_iter().enumerate() {
        let at = Utc.with_ymd_and_hms(2025, 10, day, 15, 0, 0).unwrap();
        let id = format!("h{n}");
        let r = refused(
            record_at(&id, HOSTILE_SENDER, at),
            ReasonCode::ArchiveNotEncrypted,
        );
        store.record_decision(&r).await.unwrap();
        store.record_outcome(&id, &rejected(&r)).await.unwrap();
    }
    let mut r = record_at(
        "h-incomplete",
        HOSTILE_SENDER,
        Utc.with_ymd_and_hms(2025, 10, 28, 16, 0, 0).unwrap(),
    );
    r.message_id = Some(HOSTILE_MESSAGE_ID.into());
    store.record_decision(&r).await.unwrap();
}

/// Runs `sealgate audit report` with `args` on the fixture.
pub fn report(fixture: &Fixture, args: &[&str]) -> std::process::Output {
    let mut all = vec!["report"];
    all.extend_from_slice(args);
    crate::audit_support::cli::sealgate(&all, &fixture.config)
}

pub fn json_report(fixture: &Fixture) -> Value {
    let out = report(fixture, &["--period", "2025-10", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        crate::audit_support::cli::stderr(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn html_report(fixture: &Fixture) -> String {
    let out = report(fixture, &["--period", "2025-10", "--format", "html"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        crate::audit_support::cli::stderr(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The page's figures: every element's `data-figure` (a JSON pointer) and its number.
pub fn figures(html: &str) -> Vec<(String, u64)> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("data-figure=\"") {
        rest = &rest[at + "data-figure=\"".len()..];
        let end = rest.find('"').expect("attribute ends");
        let pointer = unescape(&rest[..end]);
        rest = &rest[end..];
        let open = rest.find('>').expect("tag ends");
        rest = &rest[open + 1..];
        let close = rest.find('<').expect("figure element ends");
        let text = rest[..close].trim();
        let value = text
            .parse()
            .unwrap_or_else(|_| panic!("figure {pointer} is not a number: {text:?}"));
        found.push((pointer, value));
    }
    found
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The classic counters repeat the outcome maps (`relayed` = `outcomes/relayed`, ...): the
/// page shows the maps.
const REPEATED: [&str; 5] = [
    "relayed",
    "refused",
    "deferred",
    "incomplete",
    "refused_by_reason",
];

/// Every figure on the page equals the JSON's number at its pointer, and every number of the
/// JSON's protocols and chain that is not zero is on the page. Returns how many were compared.
pub fn assert_page_matches_json(html: &str, json: &Value) -> usize {
    let figures = figures(html);
    assert!(
        figures.len() > 50,
        "too few figures on the page: {}",
        figures.len()
    );
    for (pointer, value) in &figures {
        assert_eq!(
            json.pointer(pointer).and_then(Value::as_u64),
            Some(*value),
            "the page shows {value} for {pointer}"
        );
    }
    let shown: BTreeSet<&str> = figures.iter().map(|(p, _)| p.as_str()).collect();
    let mut leaves = Vec::new();
    for (i, protocol) in json["protocols"].as_array().unwrap().iter().enumerate() {
        for (key, value) in protocol.as_object().unwrap() {
            if !REPEATED.contains(&key.as_str()) {
                numbers(value, format!("/protocols/{i}/{key}"), &mut leaves);
            }
        }
    }
    numbers(&json["chain"], "/chain".into(), &mut leaves);
    let mut compared = 0;
    for (pointer, value) in leaves {
        if value == 0 {
            continue;
        }
        assert!(
            shown.contains(pointer.as_str()),
            "the JSON's {pointer} = {value} is not on the page"
        );
        compared += 1;
    }
    assert!(compared > 50, "too few numbers compared: {compared}");
    compared
}

fn numbers(value: &Value, at: String, out: &mut Vec<(String, u64)>) {
    match value {
        Value::Number(n) => out.push((at, n.as_u64().expect("counts are unsigned"))),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                numbers(item, format!("{at}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                let token = k.replace('~', "~0").replace('/', "~1");
                numbers(v, format!("{at}/{token}"), out);
            }
        }
        _ => {}
    }
}

/// The JSON without the two times that differ between two runs.
pub fn without_times(mut json: Value) -> Value {
    json.as_object_mut().unwrap().remove("generated_at");
    json["chain"].as_object_mut().unwrap().remove("checked_at");
    json
}

pub fn target_dir() -> PathBuf {
    // CARGO_BIN_EXE_sealgate is <target>/<profile>/sealgate: beside it.
    Path::new(env!("CARGO_BIN_EXE_sealgate"))
        .parent()
        .unwrap()
        .to_path_buf()
}
