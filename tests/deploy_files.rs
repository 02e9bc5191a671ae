//! The deployment files under deploy/ as text: the alerts and the dashboard use only metric
//! names the code really exports, the systemd unit, Containerfile, HAProxy and Compose files
//! say what the issue asks. The real tools that read these files (promtool, haproxy,
//! systemd-analyze, systemd-sysusers, docker-compose, dockerfile-utils) run in the real-peer
//! tier: deploy_tools.rs.

mod deploy_support;
mod metrics_support;

use deploy_support::*;
use metrics_support::repo_path;

// ---- Prometheus -------------------------------------------------------------------------

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

// ---- Grafana ----------------------------------------------------------------------------

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

// ---- HAProxy ----------------------------------------------------------------------------

#[test]
fn haproxy_config_checks_readyz_with_proxy_protocol_v2() {
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
}

// ---- systemd ----------------------------------------------------------------------------

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
fn compose_file_has_the_services_and_every_mounted_file_exists() {
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
}
