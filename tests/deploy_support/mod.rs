//! Shared by the deploy tests: reading deploy/ files, the metric names the code exports, the
//! PromQL expressions of the alert rules and the dashboard, and the systemd unit.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::metrics_support::{assert_success, repo_path};

pub fn read(relative: &str) -> String {
    std::fs::read_to_string(repo_path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

pub fn run(command: &mut Command, what: &str) -> std::process::Output {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_success(&output, what);
    output
}

/// The metric names the code defines: every "sealgate_..." string literal in src/metrics/.
pub fn exported_metric_names() -> BTreeSet<String> {
    let source = read("src/metrics/mod.rs");
    let names: BTreeSet<String> = source
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|literal| literal.starts_with("sealgate_"))
        .map(str::to_owned)
        .collect();
    assert!(
        names.len() >= 18,
        "too few metric names found in src/metrics/mod.rs: {names:?}"
    );
    names
}

/// Every `sealgate_...` identifier in a PromQL expression.
pub fn metric_names_in(expr: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find("sealgate_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        found.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    found
}

pub fn assert_names_exported(exprs: &[String], origin: &str) {
    let exported = exported_metric_names();
    let mut used = 0;
    for expr in exprs {
        for name in metric_names_in(expr) {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .filter(|base| exported.contains(*base));
            assert!(
                exported.contains(&name) || base.is_some(),
                "{origin} uses `{name}`, which src/metrics does not export (in: {expr})"
            );
            used += 1;
        }
    }
    assert!(used > 0, "{origin}: no sealgate metric used at all");
}

/// The `expr:` values of a Prometheus rules file (single-line and `|` block forms).
pub fn rule_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut exprs = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(value) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let value = value.trim();
        if value != "|" {
            exprs.push(value.to_owned());
            continue;
        }
        let indent = |l: &str| l.len() - l.trim_start().len();
        let own = indent(line);
        let block: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || indent(l) > own)
            .copied()
            .collect();
        exprs.push(block.join("\n"));
    }
    exprs
}

pub fn dashboard_exprs() -> Vec<String> {
    let text = read("deploy/grafana/sealgate-dashboard.json");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("dashboard is JSON");
    assert_eq!(dashboard["uid"], "sealgate-overview");
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut exprs = Vec::new();
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        let targets = panel["targets"]
            .as_array()
            .expect("every panel has targets");
        assert!(!targets.is_empty(), "panel {} has no query", panel["title"]);
        for target in targets {
            exprs.push(target["expr"].as_str().expect("a PromQL expr").to_owned());
        }
    }
    exprs
}

pub fn unit_value<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

/// The unit with its binary path pointing at the binary this build made, so that
/// systemd-analyze can check that ExecStart is executable.
pub fn unit_for_this_build(dir: &Path) -> std::path::PathBuf {
    let unit = read("deploy/systemd/sealgate.service")
        .replace("/usr/local/bin/sealgate", env!("CARGO_BIN_EXE_sealgate"));
    let path = dir.join("sealgate.service");
    std::fs::write(&path, unit).unwrap();
    path
}
