//! Shared by the metrics and deploy tests: finding external checkers and running them.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Whether `tool` can be run. A missing tool fails the test, unless SEALGATE_ALLOW_SKIP=1,
/// in which case the caller skips and says so.
pub fn require_tool(tool: &str, package: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false);
    if found {
        return true;
    }
    if std::env::var("SEALGATE_ALLOW_SKIP").as_deref() == Ok("1") {
        eprintln!("SKIPPED: `{tool}` not found (install {package}); SEALGATE_ALLOW_SKIP=1");
        return false;
    }
    panic!("`{tool}` not found: install {package}, or set SEALGATE_ALLOW_SKIP=1 to skip");
}

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Run a command, feeding `stdin`; returns its output.
pub fn run_with_stdin(command: &mut Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn checker");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

pub fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `promtool check metrics` (the Prometheus project's own parser and linter) on `text`.
pub fn promtool_check_metrics(text: &str) {
    if !require_tool("promtool", "the Debian package prometheus") {
        return;
    }
    let output = run_with_stdin(Command::new("promtool").args(["check", "metrics"]), text);
    assert_success(&output, "promtool check metrics");
}

/// One sample as prometheus_client's parser sees it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A family as prometheus_client's parser sees it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Family {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub samples: Vec<Sample>,
}

const PARSER: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
families = [
    {"name": f.name, "type": f.type,
     "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]}
    for f in text_string_to_metric_families(sys.stdin.read())
]
print(json.dumps(families))
"#;

/// Parse exposition text with Python's prometheus_client (a real, independent parser).
/// `None` when python3 or the module is missing and SEALGATE_ALLOW_SKIP=1.
pub fn parse_with_prometheus_client(text: &str) -> Option<Vec<Family>> {
    if !require_tool("python3", "python3 and the PyPI package prometheus_client") {
        return None;
    }
    let output = run_with_stdin(Command::new("python3").args(["-c", PARSER]), text);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("No module named 'prometheus_client'") {
        if std::env::var("SEALGATE_ALLOW_SKIP").as_deref() == Ok("1") {
            eprintln!("SKIPPED: prometheus_client missing (pip install prometheus_client)");
            return None;
        }
        panic!("python3 lacks prometheus_client: pip install prometheus_client");
    }
    assert_success(&output, "prometheus_client text parser");
    Some(serde_json::from_slice(&output.stdout).expect("parser output is JSON"))
}

/// The value of the sample `name` whose labels are exactly `labels`.
pub fn sample(families: &[Family], name: &str, labels: &[(&str, &str)]) -> f64 {
    let wanted: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let found: Vec<f64> = families
        .iter()
        .flat_map(|f| &f.samples)
        .filter(|s| s.name == name && s.labels == wanted)
        .map(|s| s.value)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one sample {name}{wanted:?}, found {found:?}"
    );
    found[0]
}
