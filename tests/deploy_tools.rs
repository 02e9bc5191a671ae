#![cfg(feature = "real-peers")]
//! The deployment files under deploy/, checked with the real tools that read them: promtool,
//! haproxy, systemd-analyze, systemd-sysusers, docker-compose v1 and dockerfile-utils. A
//! missing tool fails the test and says how to install it.

mod deploy_support;
mod metrics_support;

use std::process::Command;

use deploy_support::*;
use metrics_support::{repo_path, require_tool};

#[test]
fn prometheus_scrape_config_and_alert_rules_pass_promtool() {
    require_tool("promtool", "the Debian package prometheus");
    let dir = repo_path("deploy/prometheus");
    run(
        Command::new("promtool")
            .args(["check", "config", "prometheus.yml"])
            .current_dir(&dir),
        "promtool check config deploy/prometheus/prometheus.yml",
    );
    run(
        Command::new("promtool")
            .args(["check", "rules", "alerts.yml"])
            .current_dir(&dir),
        "promtool check rules deploy/prometheus/alerts.yml",
    );
}

#[test]
fn alert_rules_fire_as_their_unit_tests_expect() {
    require_tool("promtool", "the Debian package prometheus");
    let output = run(
        Command::new("promtool")
            .args(["test", "rules", "alerts.test.yml"])
            .current_dir(repo_path("deploy/prometheus")),
        "promtool test rules deploy/prometheus/alerts.test.yml",
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("SUCCESS"));
}

#[test]
fn the_compose_prometheus_config_passes_promtool_with_the_shared_rules() {
    require_tool("promtool", "the Debian package prometheus");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo_path("deploy/container/prometheus.yml"),
        dir.path().join("prometheus.yml"),
    )
    .unwrap();
    std::fs::copy(
        repo_path("deploy/prometheus/alerts.yml"),
        dir.path().join("alerts.yml"),
    )
    .unwrap();
    run(
        Command::new("promtool")
            .args(["check", "config", "prometheus.yml"])
            .current_dir(&dir),
        "promtool check config deploy/container/prometheus.yml",
    );
}

#[test]
fn dashboard_queries_are_valid_promql() {
    require_tool("promtool", "the Debian package prometheus");
    // promtool parses PromQL in rule files: give it each query as a recording rule, with
    // Grafana's variables replaced by what Grafana would put there.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, expr) in dashboard_exprs().iter().enumerate() {
        let expr = expr
            .replace("$__rate_interval", "1m")
            .replace("$__range", "6h")
            .replace("$instance", ".*");
        let quoted = serde_json::to_string(&expr).unwrap();
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {quoted}\n"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dashboard-queries.yml");
    std::fs::write(&file, rules).unwrap();
    run(
        Command::new("promtool")
            .arg("check")
            .arg("rules")
            .arg(&file),
        "promtool check rules on the dashboard's queries",
    );
}

#[test]
fn systemd_analyze_verifies_the_unit_without_a_warning() {
    require_tool("systemd-analyze", "the Debian package systemd");
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_for_this_build(dir.path());
    let output = run(
        Command::new("systemd-analyze").arg("verify").arg(&unit),
        "systemd-analyze verify sealgate.service",
    );
    // verify exits 0 on unknown keys and bad values; it only says so on stderr.
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.trim().is_empty(),
        "systemd-analyze verify complains:\n{said}"
    );
}

#[test]
fn systemd_rates_the_unit_exposure_low() {
    require_tool("systemd-analyze", "the Debian package systemd");
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_for_this_build(dir.path());
    // Exposure 0.0 (locked down) to 10.0 (unprotected); threshold is in tenths. "OK" is < 2.0.
    run(
        Command::new("systemd-analyze")
            .args(["security", "--offline=yes", "--threshold=20", "--no-pager"])
            .arg(&unit),
        "systemd-analyze security (exposure must stay below 2.0)",
    );
}

#[test]
fn sysusers_file_creates_the_service_user() {
    require_tool("systemd-sysusers", "the Debian package systemd");
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("etc")).unwrap();
    run(
        Command::new("systemd-sysusers")
            .arg(format!("--root={}", root.path().display()))
            .arg(repo_path("deploy/systemd/sealgate.sysusers")),
        "systemd-sysusers on deploy/systemd/sealgate.sysusers",
    );
    let passwd = std::fs::read_to_string(root.path().join("etc/passwd")).unwrap();
    let entry = passwd
        .lines()
        .find(|l| l.starts_with("sealgate:"))
        .expect("user sealgate");
    assert!(
        entry.ends_with(":/var/lib/sealgate:/usr/sbin/nologin"),
        "{entry}"
    );
}

#[test]
fn containerfile_passes_dockerfile_utils_lint() {
    require_tool(
        "dockerfile-utils",
        "the npm package dockerfile-utils (npm install -g)",
    );
    let output = run(
        Command::new("dockerfile-utils")
            .arg("lint")
            .arg(repo_path("deploy/container/Containerfile")),
        "dockerfile-utils lint deploy/container/Containerfile",
    );
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(said.trim().is_empty(), "dockerfile-utils lint:\n{said}");
}

#[test]
fn haproxy_accepts_the_config_without_a_warning() {
    require_tool("haproxy", "the Debian package haproxy");
    let output = run(
        Command::new("haproxy")
            .arg("-c")
            .arg("-f")
            .arg(repo_path("deploy/haproxy/haproxy.cfg")),
        "haproxy -c",
    );
    let said = String::from_utf8_lossy(&output.stderr) + String::from_utf8_lossy(&output.stdout);
    assert!(
        !said.contains("WARNING") && !said.contains("ALERT"),
        "haproxy -c: {said}"
    );
}

#[test]
fn docker_compose_validates_the_compose_file() {
    let base = repo_path("deploy/container");
    require_tool("docker-compose", "the Debian package docker-compose");
    run(
        Command::new("docker-compose")
            .args(["-f", "compose.yaml", "config", "--quiet"])
            .current_dir(&base)
            .env("SEALGATE_DB_PASSWORD", "example")
            .env("GRAFANA_ADMIN_PASSWORD", "example"),
        "docker-compose config (Compose file validation, no engine needed)",
    );
}
