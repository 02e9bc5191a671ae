//! Shared by the metrics and deploy tests: finding external checkers and running them.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// `tool` must be on PATH: missing, the test fails and says how to install it (the real-peer
/// tier never passes by skipping).
pub fn require_tool(tool: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` not found: install {package} (or run `bash tests/run-all.sh`)"
    );
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
#[cfg(feature = "real-peers")]
pub fn promtool_check_metrics(text: &str) {
    require_tool("promtool", "the Debian package prometheus");
    let output = run_with_stdin(Command::new("promtool").args(["check", "metrics"]), text);
    assert_success(&output, "promtool check metrics");
}

/// One sample as prometheus_client's parser (and [`read_exposition`]) sees it.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A family as prometheus_client's parser sees it.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Family {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub samples: Vec<Sample>,
}

/// Reads Prometheus text exposition (format 0.0.4) the way prometheus_client's parser does:
/// a family per `# TYPE` line (a counter's family name without `_total`), each sample with its
/// labels and value. The in-process tier reads metrics with this; the real-peer tier
/// (metrics_exposition.rs) checks that prometheus_client reads the same text identically.
pub fn read_exposition(text: &str) -> Vec<Family> {
    let mut families: Vec<Family> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(declaration) = line.strip_prefix("# TYPE ") {
            let (name, kind) = declaration.split_once(' ').expect("# TYPE name kind");
            let name = match kind {
                "counter" => name.strip_suffix("_total").unwrap_or(name),
                _ => name,
            };
            families.push(Family {
                name: name.to_string(),
                kind: kind.to_string(),
                samples: Vec::new(),
            });
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let sample = read_sample(line);
        families
            .last_mut()
            .unwrap_or_else(|| panic!("sample before any # TYPE line: {line:?}"))
            .samples
            .push(sample);
    }
    families
}

/// `name{label="value",...} value` or `name value`.
fn read_sample(line: &str) -> Sample {
    let (head, value) = line.rsplit_once(' ').expect("sample line has a value");
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().unwrap_or_else(|_| panic!("sample value {v:?}")),
    };
    let Some((name, rest)) = head.split_once('{') else {
        return Sample {
            name: head.to_string(),
            labels: BTreeMap::new(),
            value,
        };
    };
    let mut labels = BTreeMap::new();
    let mut rest = rest.strip_suffix('}').expect("labels end with }");
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").expect("label=\"value\"");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().expect("closing quote") {
                (_, '\\') => match chars.next().expect("escape").1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        labels.insert(key.to_string(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    Sample {
        name: name.to_string(),
        labels,
        value,
    }
}

#[cfg(feature = "real-peers")]
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
/// Without python3 or the module the test fails and says how to install them.
#[cfg(feature = "real-peers")]
pub fn parse_with_prometheus_client(text: &str) -> Vec<Family> {
    require_tool("python3", "python3 and the PyPI package prometheus_client");
    let output = run_with_stdin(Command::new("python3").args(["-c", PARSER]), text);
    assert_success(
        &output,
        "prometheus_client text parser (pip install prometheus_client)",
    );
    serde_json::from_slice(&output.stdout).expect("parser output is JSON")
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
