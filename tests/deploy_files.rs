//! The deployment files under deploy/, checked with the real tools that read them where this
//! machine has one (promtool, haproxy, systemd-analyze, systemd-sysusers, docker-compose v1,
//! dockerfile-utils), and against the metric names the code really exports.

mod metrics_support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use metrics_support::{assert_success, repo_path, require_tool};

fn read(relative: &str) -> String {
    std::fs::read_to_string(repo_path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn run(command: &mut Command, what: &str) -> std::process::Output {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_success(&output, what);
    output
}

/// The metric names the code defines: every "sealgate_..." string literal in src/metrics/.
fn exported_metric_names() -> BTreeSet<String> {
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
fn metric_names_in(expr: &str) -> Vec<String> {
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

fn assert_names_exported(exprs: &[String], origin: &str) {
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
fn rule_exprs(yaml: &str) -> Vec<String> {
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

// ---- Prometheus -------------------------------------------------------------------------

#[test]
fn prometheus_scrape_config_and_alert_rules_pass_promtool() {
    if !require_tool("promtool", "the Debian package prometheus") {
        return;
    }
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
    if !require_tool("promtool", "the Debian package prometheus") {
        return;
    }
    let output = run(
        Command::new("promtool")
            .args(["test", "rules", "alerts.test.yml"])
            .current_dir(repo_path("deploy/prometheus")),
        "promtool test rules deploy/prometheus/alerts.test.yml",
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("SUCCESS"));
}

#[test]
fn alert_rules_cover_the_issue_and_use_only_exported_metrics() {
    let rules = read("deploy/prometheus/alerts.yml");
    for alert in [
        "SealgateNextHopFailing",
        "SealgateAuditStoreFailing",
        "SealgateRefusalSpike",
        "SealgateNoTrafficInOfficeHours",
        "SealgateMemoryBudgetNearlyFull",
    ] {
        assert!(
            rules.contains(&format!("alert: {alert}")),
            "alerts.yml lacks {alert}"
        );
    }
    let exprs = rule_exprs(&rules);
    assert_eq!(
        exprs.len(),
        rules.matches("alert:").count(),
        "one expr per alert: {exprs:?}"
    );
    assert_names_exported(&exprs, "deploy/prometheus/alerts.yml");
}

#[test]
fn the_compose_prometheus_config_passes_promtool_with_the_shared_rules() {
    if !require_tool("promtool", "the Debian package prometheus") {
        return;
    }
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

// ---- Grafana ----------------------------------------------------------------------------

fn dashboard_exprs() -> Vec<String> {
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

#[test]
fn dashboard_is_json_and_queries_only_exported_metrics() {
    let exprs = dashboard_exprs();
    assert_names_exported(&exprs, "deploy/grafana/sealgate-dashboard.json");
    let all = exprs.join("\n");
    for needed in [
        "sealgate_messages_total",
        "sealgate_rejections_total",
        "by (reason)",
        "histogram_quantile(0.95",
        "sealgate_next_hop_up",
        "sealgate_audit_store_up",
        "sealgate_memory_budget_in_use_bytes",
    ] {
        assert!(
            all.contains(needed),
            "the dashboard shows nothing with `{needed}`"
        );
    }
}

#[test]
fn dashboard_queries_are_valid_promql() {
    if !require_tool("promtool", "the Debian package prometheus") {
        return;
    }
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

// ---- HAProxy ----------------------------------------------------------------------------

#[test]
fn haproxy_config_is_valid_and_checks_readyz_with_proxy_protocol_v2() {
    let config = read("deploy/haproxy/haproxy.cfg");
    for needed in [
        "mode tcp",
        "send-proxy-v2",
        "option httpchk",
        "uri /readyz",
        "check port 9725",
    ] {
        assert!(config.contains(needed), "haproxy.cfg lacks `{needed}`");
    }
    assert_eq!(
        config.matches("\n    server ").count(),
        2,
        "two sealgate instances"
    );
    if !require_tool("haproxy", "the Debian package haproxy") {
        return;
    }
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

// ---- systemd ----------------------------------------------------------------------------

fn unit_value<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

#[test]
fn systemd_unit_has_the_hardening_and_stop_behaviour_asked_for() {
    let unit = read("deploy/systemd/sealgate.service");
    for (key, value) in [
        ("User", "sealgate"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("PrivateTmp", "yes"),
        ("StateDirectory", "sealgate"),
        ("ReadWritePaths", "/var/lib/sealgate"),
        ("AmbientCapabilities", "CAP_NET_BIND_SERVICE"),
        ("CapabilityBoundingSet", "CAP_NET_BIND_SERVICE"),
        ("Restart", "on-failure"),
        ("KillSignal", "SIGTERM"),
    ] {
        assert_eq!(
            unit_value(&unit, key),
            vec![value],
            "{key}= in sealgate.service"
        );
    }
    assert!(unit_value(&unit, "ExecReload").contains(&"/bin/kill -HUP $MAINPID"));
    let stop: u64 = unit_value(&unit, "TimeoutStopSec")[0]
        .parse()
        .expect("seconds");
    let config = sealgate::config::Config::load(&repo_path("config/sealgate.toml")).unwrap();
    assert!(
        stop > config.timeouts.shutdown_grace_seconds,
        "TimeoutStopSec={stop} must exceed shutdown_grace_seconds"
    );
}

/// The unit with its binary path pointing at the binary this build made, so that
/// systemd-analyze can check that ExecStart is executable.
fn unit_for_this_build(dir: &Path) -> std::path::PathBuf {
    let unit = read("deploy/systemd/sealgate.service")
        .replace("/usr/local/bin/sealgate", env!("CARGO_BIN_EXE_sealgate"));
    let path = dir.join("sealgate.service");
    std::fs::write(&path, unit).unwrap();
    path
}

#[test]
fn systemd_analyze_verifies_the_unit_without_a_warning() {
    if !require_tool("systemd-analyze", "the Debian package systemd") {
        return;
    }
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
    if !require_tool("systemd-analyze", "the Debian package systemd") {
        return;
    }
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
    if !require_tool("systemd-sysusers", "the Debian package systemd") {
        return;
    }
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

// ---- Container --------------------------------------------------------------------------

#[test]
fn containerfile_is_multi_stage_non_root_with_volumes_and_a_readiness_check() {
    let file = read("deploy/container/Containerfile");
    let froms: Vec<&str> = file.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "{froms:?}");
    assert!(froms[0].contains("rust:1-bookworm") && froms[0].ends_with(" AS build"));
    assert!(froms[1].contains("debian:bookworm-slim"));
    let user = file
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER line");
    assert!(
        !user.starts_with("root") && !user.starts_with('0'),
        "USER {user}"
    );
    assert!(file.contains(r#"VOLUME ["/etc/sealgate", "/var/lib/sealgate"]"#));
    assert!(file.contains("HEALTHCHECK") && file.contains("http://127.0.0.1:9725/readyz"));
    assert!(file.contains("SEALGATE__METRICS__LISTEN=0.0.0.0:9725"));
    assert!(file.contains("STOPSIGNAL SIGTERM"));
}

#[test]
fn containerfile_passes_dockerfile_utils_lint() {
    if !require_tool(
        "dockerfile-utils",
        "the npm package dockerfile-utils (npm install -g)",
    ) {
        return;
    }
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
fn compose_file_is_valid_and_every_mounted_file_exists() {
    let compose = read("deploy/container/compose.yaml");
    for service in ["sealgate:", "postgres:", "prometheus:", "grafana:"] {
        assert!(
            compose.contains(&format!("\n  {service}\n")),
            "compose lacks {service}"
        );
    }
    assert!(compose.contains("stop_grace_period: 45s"));
    let base = repo_path("deploy/container");
    for line in compose.lines() {
        let Some(mount) = line.trim().strip_prefix("- ") else {
            continue;
        };
        if mount.starts_with("./") || mount.starts_with("../") {
            let source = mount.split(':').next().unwrap();
            assert!(
                base.join(source).exists(),
                "compose mounts {source}, which does not exist"
            );
        }
    }
    if !require_tool("docker-compose", "the Debian package docker-compose") {
        return;
    }
    run(
        Command::new("docker-compose")
            .args(["-f", "compose.yaml", "config", "--quiet"])
            .current_dir(&base)
            .env("SEALGATE_DB_PASSWORD", "example")
            .env("GRAFANA_ADMIN_PASSWORD", "example"),
        "docker-compose config (Compose file validation, no engine needed)",
    );
}
