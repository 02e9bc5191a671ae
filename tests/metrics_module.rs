//! The metrics module through its public API, its text read back the way prometheus_client
//! reads it (`read_exposition`; metrics_exposition.rs, in the real-peer tier, checks that the
//! real parser reads the same and that promtool's linter accepts the text).

mod metrics_support;

use std::time::{Duration, Instant};

use metrics_support::{read_exposition, sample};
use sealgate::metrics::{
    Direction, Health, MessageClass, Metrics, NextHopError, Outcome, Readiness, ReloadResult,
    SessionResult, UnreadyCause,
};

const FAMILIES: &[(&str, &str)] = &[
    ("sealgate_messages", "counter"),
    ("sealgate_rejections", "counter"),
    ("sealgate_sessions_active", "gauge"),
    ("sealgate_sessions", "counter"),
    ("sealgate_message_size_bytes", "histogram"),
    ("sealgate_inspection_duration_seconds", "histogram"),
    ("sealgate_next_hop_duration_seconds", "histogram"),
    ("sealgate_transaction_duration_seconds", "histogram"),
    ("sealgate_next_hop_errors", "counter"),
    ("sealgate_audit_write_duration_seconds", "histogram"),
    ("sealgate_audit_errors", "counter"),
    ("sealgate_tls_sessions", "counter"),
    ("sealgate_config_reloads", "counter"),
    ("sealgate_memory_budget_bytes", "gauge"),
    ("sealgate_memory_budget_in_use_bytes", "gauge"),
    ("sealgate_auth_failures", "counter"),
    ("sealgate_auth_throttled_clients", "gauge"),
    ("sealgate_build_info", "gauge"),
    ("sealgate_next_hop_up", "gauge"),
    ("sealgate_notices", "counter"),
    ("sealgate_audit_store_up", "gauge"),
];

#[test]
fn a_fresh_registry_has_every_family_and_every_series_at_zero() {
    let metrics = Metrics::new().unwrap();
    let text = metrics.render();
    let families = read_exposition(&text);

    let mut names: Vec<(&str, &str)> = families
        .iter()
        .map(|f| (f.name.as_str(), f.kind.as_str()))
        .collect();
    names.sort();
    let mut expected = FAMILIES.to_vec();
    expected.sort();
    assert_eq!(
        names, expected,
        "exactly the families of issues 6 and 12, no more"
    );

    for class in ["ordinary", "protected"] {
        for outcome in ["relayed", "rejected", "deferred", "would_reject"] {
            let labels = [("class", class), ("outcome", outcome)];
            assert_eq!(sample(&families, "sealgate_messages_total", &labels), 0.0);
        }
    }
    for reason in sealgate::metrics::rejection_reasons() {
        assert_eq!(
            sample(
                &families,
                "sealgate_rejections_total",
                &[("reason", reason)]
            ),
            0.0
        );
    }
    for result in [
        "completed",
        "refused_limit",
        "timeout",
        "error",
        "dropped",
        "shutdown",
    ] {
        assert_eq!(
            sample(&families, "sealgate_sessions_total", &[("result", result)]),
            0.0
        );
    }
    for kind in [
        "connect",
        "timeout",
        "tls",
        "protocol",
        "closed",
        "reply_4xx",
        "reply_5xx",
    ] {
        assert_eq!(
            sample(
                &families,
                "sealgate_next_hop_errors_total",
                &[("kind", kind)]
            ),
            0.0
        );
    }
    for result in ["success", "failure"] {
        assert_eq!(
            sample(
                &families,
                "sealgate_config_reloads_total",
                &[("result", result)]
            ),
            0.0
        );
    }
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        sample(&families, "sealgate_build_info", &[("version", version)]),
        1.0
    );
    assert_eq!(sample(&families, "sealgate_next_hop_up", &[]), 1.0);
}

#[test]
fn counters_gauges_and_histograms_show_what_was_recorded() {
    let metrics = Metrics::new().unwrap();
    metrics.message(MessageClass::Ordinary, Outcome::Relayed);
    metrics.message(MessageClass::Ordinary, Outcome::Relayed);
    metrics.message(MessageClass::Ordinary, Outcome::Relayed);
    metrics.message(MessageClass::Protected, Outcome::Rejected);
    metrics.message(MessageClass::Protected, Outcome::Rejected);
    metrics.message(MessageClass::Protected, Outcome::Deferred);
    metrics.rejection("not_7z");
    metrics.rejection("header_not_encrypted");
    metrics.rejection("relay_denied");
    metrics.next_hop_error(NextHopError::Reply4xx);
    metrics.observe_message_size(5_000);
    metrics.observe_message_size(2_000_000);
    metrics.observe_inspection(Duration::from_millis(30));
    metrics.observe_next_hop(Duration::from_millis(200));
    metrics.observe_transaction(Duration::from_secs(2));
    metrics.observe_audit_write(Duration::from_millis(3));
    metrics.audit_error();
    metrics.tls_session(Direction::Inbound, Some(rustls::ProtocolVersion::TLSv1_3));
    metrics.tls_session(Direction::Outbound, Some(rustls::ProtocolVersion::TLSv1_2));
    metrics.config_reload(ReloadResult::Failure);
    metrics.set_memory_budget(1 << 30);
    metrics.set_memory_in_use(123_456);

    let text = metrics.render();
    let f = read_exposition(&text);
    let messages = |class, outcome| {
        sample(
            &f,
            "sealgate_messages_total",
            &[("class", class), ("outcome", outcome)],
        )
    };
    assert_eq!(messages("ordinary", "relayed"), 3.0);
    assert_eq!(messages("protected", "rejected"), 2.0);
    assert_eq!(messages("protected", "deferred"), 1.0);
    assert_eq!(messages("protected", "relayed"), 0.0);
    let rejections = |reason| sample(&f, "sealgate_rejections_total", &[("reason", reason)]);
    assert_eq!(rejections("not_7z"), 1.0);
    assert_eq!(rejections("header_not_encrypted"), 1.0);
    assert_eq!(rejections("relay_denied"), 1.0);
    assert_eq!(rejections("other"), 0.0);
    assert_eq!(
        sample(
            &f,
            "sealgate_next_hop_errors_total",
            &[("kind", "reply_4xx")]
        ),
        1.0
    );

    let size = |le| sample(&f, "sealgate_message_size_bytes_bucket", &[("le", le)]);
    assert_eq!(size("4096"), 0.0);
    assert_eq!(size("16384"), 1.0);
    assert_eq!(size("4194304"), 2.0);
    assert_eq!(size("+Inf"), 2.0);
    assert_eq!(
        sample(&f, "sealgate_message_size_bytes_sum", &[]),
        2_005_000.0
    );
    assert_eq!(
        sample(&f, "sealgate_inspection_duration_seconds_count", &[]),
        1.0
    );
    assert_eq!(
        sample(&f, "sealgate_next_hop_duration_seconds_count", &[]),
        1.0
    );
    assert_eq!(
        sample(&f, "sealgate_transaction_duration_seconds_sum", &[]),
        2.0
    );
    assert_eq!(
        sample(&f, "sealgate_audit_write_duration_seconds_count", &[]),
        1.0
    );
    assert_eq!(sample(&f, "sealgate_audit_errors_total", &[]), 1.0);

    let tls = |direction, version| {
        sample(
            &f,
            "sealgate_tls_sessions_total",
            &[("direction", direction), ("version", version)],
        )
    };
    assert_eq!(tls("inbound", "TLSv1.3"), 1.0);
    assert_eq!(tls("outbound", "TLSv1.2"), 1.0);
    assert_eq!(tls("inbound", "TLSv1.2"), 0.0);
    assert_eq!(
        sample(
            &f,
            "sealgate_config_reloads_total",
            &[("result", "failure")]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &f,
            "sealgate_config_reloads_total",
            &[("result", "success")]
        ),
        0.0
    );
    assert_eq!(
        sample(&f, "sealgate_memory_budget_bytes", &[]),
        (1u64 << 30) as f64
    );
    assert_eq!(
        sample(&f, "sealgate_memory_budget_in_use_bytes", &[]),
        123_456.0
    );
}

#[test]
fn unknown_reason_codes_count_as_other_and_never_become_labels() {
    let metrics = Metrics::new().unwrap();
    let series_before = metrics
        .render()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count();
    metrics.rejection("kindengezin@wervik.be");
    metrics.rejection("Verslag dossier 12345.7z");
    metrics.rejection("not_built");
    metrics.tls_session(Direction::Inbound, Some(rustls::ProtocolVersion::SSLv3));

    let text = metrics.render();
    assert!(!text.contains("wervik") && !text.contains("Verslag") && !text.contains("not_built"));
    let series_after = text.lines().filter(|l| !l.starts_with('#')).count();
    assert_eq!(series_before, series_after, "recording adds no series");
    let f = read_exposition(&text);
    assert_eq!(
        sample(&f, "sealgate_rejections_total", &[("reason", "other")]),
        3.0
    );
    let labels = [("direction", "inbound"), ("version", "other")];
    assert_eq!(sample(&f, "sealgate_tls_sessions_total", &labels), 1.0);
}

#[test]
fn sessions_are_counted_while_open_and_by_how_they_ended() {
    let metrics = Metrics::new().unwrap();
    let open = metrics.track_session();
    let dropped = metrics.track_session();
    metrics.session_started();
    metrics.session_ended(SessionResult::Timeout);
    let f = read_exposition(&metrics.render());
    assert_eq!(sample(&f, "sealgate_sessions_active", &[]), 2.0);
    assert_eq!(
        sample(&f, "sealgate_sessions_total", &[("result", "timeout")]),
        1.0
    );

    drop(dropped);
    open.end(SessionResult::Completed);
    let f = read_exposition(&metrics.render());
    assert_eq!(sample(&f, "sealgate_sessions_active", &[]), 0.0);
    assert_eq!(
        sample(&f, "sealgate_sessions_total", &[("result", "completed")]),
        1.0
    );
    assert_eq!(
        sample(&f, "sealgate_sessions_total", &[("result", "dropped")]),
        1.0
    );
}

#[test]
fn two_gateways_in_one_process_keep_separate_counts() {
    let first = Metrics::new().unwrap();
    let second = Metrics::new().unwrap();
    first.message(MessageClass::Ordinary, Outcome::Relayed);
    let f = read_exposition(&second.render());
    let labels = [("class", "ordinary"), ("outcome", "relayed")];
    assert_eq!(sample(&f, "sealgate_messages_total", &labels), 0.0);
    let f = read_exposition(&first.render());
    assert_eq!(sample(&f, "sealgate_messages_total", &labels), 1.0);
}

#[test]
fn health_gauges_follow_the_health_state() {
    let metrics = Metrics::new().unwrap();
    let health = Health::new(Duration::from_secs(300));
    health.set_audit_store_writable(true);
    health.next_hop_failed();
    metrics.observe_health(&health);
    let f = read_exposition(&metrics.render());
    assert_eq!(sample(&f, "sealgate_next_hop_up", &[]), 0.0);
    assert_eq!(sample(&f, "sealgate_audit_store_up", &[]), 1.0);

    health.next_hop_succeeded();
    health.set_audit_store_writable(false);
    metrics.observe_health(&health);
    let f = read_exposition(&metrics.render());
    assert_eq!(sample(&f, "sealgate_next_hop_up", &[]), 1.0);
    assert_eq!(sample(&f, "sealgate_audit_store_up", &[]), 0.0);
}

fn everything_up(stale: Duration) -> Health {
    let health = Health::new(stale);
    health.set_listeners_up(true);
    health.set_config_loaded(true);
    health.set_audit_store_writable(true);
    health
}

#[test]
fn readiness_needs_listeners_config_and_a_writable_audit_store() {
    let health = Health::new(Duration::from_secs(300));
    let Readiness::Unready(causes) = health.readiness() else {
        panic!("ready at birth")
    };
    assert_eq!(
        causes,
        vec![
            UnreadyCause::ListenersDown,
            UnreadyCause::ConfigNotLoaded,
            UnreadyCause::AuditStoreNotWritable
        ]
    );
    let health = everything_up(Duration::from_secs(300));
    assert_eq!(health.readiness(), Readiness::Ready);
    assert_eq!(health.readiness().body(), "ready\n");

    health.set_audit_store_writable(false);
    let readiness = health.readiness();
    assert_eq!(
        readiness,
        Readiness::Unready(vec![UnreadyCause::AuditStoreNotWritable])
    );
    assert_eq!(readiness.body(), "unready: audit store not writable\n");
    health.set_audit_store_writable(true);
    assert!(health.readiness().is_ready());
}

#[test]
fn one_next_hop_failure_after_a_recent_success_keeps_the_instance_ready() {
    let health = everything_up(Duration::from_secs(300));
    let t0 = Instant::now();
    health.next_hop_succeeded_at(t0);
    health.next_hop_failed_at(t0 + Duration::from_secs(10));
    assert!(health.readiness_at(t0 + Duration::from_secs(60)).is_ready());

    let late = health.readiness_at(t0 + Duration::from_secs(301));
    let Readiness::Unready(causes) = &late else {
        panic!("still ready: {late:?}")
    };
    assert!(matches!(
        causes[..],
        [UnreadyCause::NextHopFailing {
            since_success: Some(_)
        }]
    ));
    assert!(
        late.body()
            .starts_with("unready: next hop failing, last success 30"),
        "{late:?}"
    );

    health.next_hop_succeeded_at(t0 + Duration::from_secs(302));
    assert!(health
        .readiness_at(t0 + Duration::from_secs(400))
        .is_ready());
}

#[test]
fn a_next_hop_that_never_answered_counts_from_the_start() {
    let health = everything_up(Duration::from_secs(300));
    let start = Instant::now();
    health.next_hop_failed_at(start + Duration::from_secs(1));
    assert!(health
        .readiness_at(start + Duration::from_secs(2))
        .is_ready());
    let readiness = health.readiness_at(start + Duration::from_secs(400));
    assert_eq!(
        readiness,
        Readiness::Unready(vec![UnreadyCause::NextHopFailing {
            since_success: None
        }])
    );
    assert_eq!(
        readiness.body(),
        "unready: next hop failing, no success since start\n"
    );
}

#[test]
fn with_stale_zero_a_failed_attempt_makes_the_instance_unready_at_once() {
    let health = everything_up(Duration::ZERO);
    health.next_hop_succeeded();
    assert!(health.readiness().is_ready());
    health.next_hop_failed();
    assert!(!health.readiness().is_ready());
    assert!(health.next_hop_last_failure().is_some() && health.next_hop_last_success().is_some());
    health.set_next_hop_stale(Duration::from_secs(3600));
    assert!(
        health.readiness().is_ready(),
        "a longer stale window after reload applies"
    );
}
