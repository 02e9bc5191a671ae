//! The hostile corpus of issue 11 as both test tiers read it: fixtures/hostile/manifest.json,
//! written by fixtures/make-hostile.py next to the messages it describes.
//!
//! A case lists its verdict, the reason codes that MUST be among the refusal's reasons (others may join
//! them: staff are told everything at once) and strings that must never be echoed in a reply,
//! a log line or the audit store. The envelope list holds RCPT spellings of the protected
//! mailbox: each must be refused at RCPT or treated as protected.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

/// The classes of the corpus, in the order of the issue, then the controls.
pub const CLASSES: [&str; 8] = [
    "archive_plain_content",
    "mime_differential",
    "file_in_text",
    "identifier",
    "password_in_message",
    "non_ascii_label",
    "no_echo",
    "control",
];

/// Fewest variants a class may have: the issue asks for several of each.
pub const MIN_VARIANTS: usize = 3;

#[derive(serde::Deserialize)]
pub struct Manifest {
    pub protected: String,
    pub sender: String,
    pub date: NaiveDate,
    pub password: String,
    pub cases: Vec<Case>,
    pub envelope: Vec<Spelling>,
}

#[derive(serde::Deserialize, Clone, Debug)]
pub struct Case {
    pub file: String,
    pub class: String,
    pub variant: String,
    pub verdict: String,
    pub reasons: Vec<String>,
    pub never_echoed: Vec<String>,
    /// A pass is expected; a refusal is tolerated; a panic or a 4xx never.
    #[serde(default)]
    pub may_refuse: bool,
    pub note: String,
}

/// One spelling of the protected mailbox at RCPT (what goes between `<` and `>`).
#[derive(serde::Deserialize, Clone, Debug)]
pub struct Spelling {
    pub variant: String,
    pub rcpt: String,
    pub smtputf8: bool,
}

pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/hostile")
}

pub fn manifest() -> Manifest {
    let path = dir().join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run python3 fixtures/make-hostile.py)",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The cases of one class; panics when the class has fewer than [`MIN_VARIANTS`].
pub fn cases(class: &str) -> Vec<Case> {
    let found: Vec<Case> = manifest()
        .cases
        .into_iter()
        .filter(|c| c.class == class)
        .collect();
    assert!(
        found.len() >= MIN_VARIANTS,
        "class {class} has {} case(s) in the manifest",
        found.len()
    );
    found
}

impl Case {
    pub fn bytes(&self) -> Vec<u8> {
        let path = dir().join(&self.file);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    pub fn expects_pass(&self) -> bool {
        self.verdict == "pass"
    }

    /// "file (note)" for failure lists.
    pub fn label(&self) -> String {
        format!("{} ({})", self.file, self.note)
    }

    /// Expected codes missing from `codes`.
    pub fn missing<'a>(&'a self, codes: &[String]) -> Vec<&'a str> {
        self.reasons
            .iter()
            .filter(|r| !codes.contains(r))
            .map(String::as_str)
            .collect()
    }

    /// The first never-echoed string found in `haystack` (compared without case).
    pub fn leaked_in(&self, haystack: &[u8]) -> Option<&str> {
        let haystack = String::from_utf8_lossy(haystack).to_lowercase();
        self.never_echoed
            .iter()
            .find(|m| haystack.contains(&m.to_lowercase()))
            .map(String::as_str)
    }
}

/// Fails with every failure of a class listed, so one run shows the whole picture.
pub fn assert_none_failed(class: &str, total: usize, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{class}: {} failure(s) over {total} case(s):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}
