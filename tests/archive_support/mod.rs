//! The committed archive corpus (fixtures/archives/) and its manifest, shared by the in-process
//! fixture tests and the real-peer tests that regenerate the corpus.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use sealgate::sevenz;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/archives")
}

pub fn password(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("password.txt"))
        .unwrap()
        .trim_end_matches('\n')
        .to_string()
}

pub struct Expected {
    pub file: String,
    pub verdict: String,
    pub header_encrypted: Option<bool>,
    pub kdf_cycles_power: Option<u8>,
    pub reason: Option<String>,
}

pub fn manifest(dir: &Path) -> Vec<Expected> {
    let text = std::fs::read_to_string(dir.join("expected.tsv")).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 5, "manifest line {line:?}");
            let opt = |s: &str| (s != "-").then(|| s.to_string());
            Expected {
                file: cols[0].into(),
                verdict: cols[1].into(),
                header_encrypted: opt(cols[2]).map(|s| s == "true"),
                kdf_cycles_power: opt(cols[3]).map(|s| s.parse().unwrap()),
                reason: opt(cols[4]),
            }
        })
        .collect()
}

pub fn check_corpus(dir: &Path) {
    let entries = manifest(dir);
    assert!(entries.len() >= 45, "manifest too short: {}", entries.len());
    let mut failures = Vec::new();
    for e in &entries {
        let bytes = std::fs::read(dir.join(&e.file)).unwrap();
        let v = sevenz::verdict(&bytes);
        let reason_ok = e
            .reason
            .as_ref()
            .is_none_or(|r| v.reason.contains(r.as_str()));
        if v.verdict.as_str() != e.verdict
            || v.header_encrypted != e.header_encrypted
            || v.kdf_cycles_power != e.kdf_cycles_power
            || !reason_ok
        {
            failures.push(format!("{}: got {:?}", e.file, v));
        }
        assert!(!v.reason.is_empty(), "{}: empty reason", e.file);
    }
    assert!(
        failures.is_empty(),
        "fixtures with the wrong verdict:\n{}",
        failures.join("\n")
    );
}
