//! Prometheus metrics and readiness: what ops teams watch to know that mail flows, how much is
//! refused and why, and whether the next hop and the audit store are healthy.
//!
//! [`Metrics`] owns its own registry (never the process-global default one), so two gateways in
//! one test process do not share counters, and nothing a library registers leaks into
//! `/metrics`. Every label takes its value from a closed set (see [`labels`]): a metric never
//! carries an address, a subject or a file name, and its number of series is fixed at start.
//! Every series is created at zero when the gateway starts, so `rate()` and alerts see a
//! counter from its first scrape rather than from its first event.
//!
//! [`Health`] is the readiness state `/readyz` answers from; `sealgate_next_hop_up` and
//! `sealgate_audit_store_up` are read from it at each scrape, so the gauge and `/readyz` never
//! disagree.

mod health;
pub mod labels;

use std::time::Duration;

use prometheus::{
    GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

pub use health::{Health, Readiness, UnreadyCause};
pub use labels::{
    rejection_reasons, AuthFailure, DeliveryFailure, Direction, MessageClass, NextHopError,
    Outcome, ReloadResult, SessionResult,
};

/// The Content-Type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric could not be created or registered: a programming error in this module (a
/// duplicate or malformed name), never a consequence of input.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the metric registry: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

const SIZE_BUCKETS: &[f64] = &[
    1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0, 67108864.0,
];
const INSPECTION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
const NEXT_HOP_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];
const TRANSACTION_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];
const AUDIT_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Every metric of one gateway. Create once, share as `Arc<Metrics>`.
pub struct Metrics {
    registry: Registry,
    messages: IntCounterVec,
    rejections: IntCounterVec,
    sessions_active: IntGauge,
    sessions: IntCounterVec,
    message_size: Histogram,
    inspection_duration: Histogram,
    next_hop_duration: Histogram,
    transaction_duration: Histogram,
    next_hop_errors: IntCounterVec,
    deliveries: IntCounterVec,
    delivery_failures: IntCounterVec,
    next_hop_up: IntGauge,
    audit_write_duration: Histogram,
    audit_errors: IntCounter,
    audit_store_up: IntGauge,
    tls_sessions: IntCounterVec,
    config_reloads: IntCounterVec,
    memory_budget: IntGauge,
    memory_in_use: IntGauge,
    auth_failures: IntCounterVec,
    auth_throttled_clients: IntGauge,
    protocol_in_force: IntGaugeVec,
    notices: IntCounterVec,
    protocol_end: GaugeVec,
}

/// What became of a refusal notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeResult {
    Sent,
    Failed,
    /// Not sent: the sender had its notices for this hour.
    Limited,
}

impl NoticeResult {
    pub const ALL: [NoticeResult; 3] = [
        NoticeResult::Sent,
        NoticeResult::Failed,
        NoticeResult::Limited,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NoticeResult::Sent => "sent",
            NoticeResult::Failed => "failed",
            NoticeResult::Limited => "limited",
        }
    }
}

/// What the protocol gauges show of one configured protocol. The id is a configured value,
/// so the label set is as closed as the configuration.
#[derive(Debug, Clone, Copy)]
pub struct ProtocolGauge<'a> {
    pub id: &'a str,
    pub in_force: bool,
    /// Unix seconds at which it stops being in force; None when open-ended.
    pub end_timestamp: Option<i64>,
}

impl Metrics {
    /// A fresh registry with every sealgate metric, every series at zero, and
    /// `sealgate_build_info{version}` set to 1.
    pub fn new() -> Result<Metrics, MetricsError> {
        let registry = Registry::new();
        let r = &registry;
        let metrics = Metrics {
            messages: counter_vec(
                r,
                "sealgate_messages_total",
                "Messages by class (protected: at least one protected recipient) and outcome.",
                &["class", "outcome"],
            )?,
            rejections: counter_vec(
                r,
                "sealgate_rejections_total",
                "Refusals by reason code (codes outside the fixed set count as other).",
                &["reason"],
            )?,
            sessions_active: gauge(r, "sealgate_sessions_active", "Client sessions open now.")?,
            sessions: counter_vec(
                r,
                "sealgate_sessions_total",
                "Client sessions ended, by how they ended.",
                &["result"],
            )?,
            message_size: histogram(
                r,
                "sealgate_message_size_bytes",
                "Size of message data received, in bytes.",
                SIZE_BUCKETS,
            )?,
            inspection_duration: histogram(
                r,
                "sealgate_inspection_duration_seconds",
                "Time to inspect a message and reach a policy verdict.",
                INSPECTION_BUCKETS,
            )?,
            next_hop_duration: histogram(
                r,
                "sealgate_next_hop_duration_seconds",
                "Time of a next-hop transaction, connect to the answer to end of data.",
                NEXT_HOP_BUCKETS,
            )?,
            transaction_duration: histogram(
                r,
                "sealgate_transaction_duration_seconds",
                "Time of a client transaction, MAIL FROM to the final reply.",
                TRANSACTION_BUCKETS,
            )?,
            next_hop_errors: counter_vec(
                r,
                "sealgate_next_hop_errors_total",
                "Failed next-hop transactions by kind of failure.",
                &["kind"],
            )?,
            deliveries: counter_vec(
                r,
                "sealgate_delivery_total",
                "Messages relayed, by route (configured name or default) and how the next hop's TLS was verified (none, unverified, ca, mta-sts, dane).",
                &["route", "tls"],
            )?,
            delivery_failures: counter_vec(
                r,
                "sealgate_delivery_failures_total",
                "Next hops not opened, by route and reason (null_mx, dns, tls_required, unreachable).",
                &["route", "reason"],
            )?,
            next_hop_up: gauge(
                r,
                "sealgate_next_hop_up",
                "0 when the last next-hop attempt failed, 1 otherwise (also before any attempt).",
            )?,
            audit_write_duration: histogram(
                r,
                "sealgate_audit_write_duration_seconds",
                "Time to write an audit record durably.",
                AUDIT_BUCKETS,
            )?,
            audit_errors: counter(r, "sealgate_audit_errors_total", "Failed audit writes.")?,
            audit_store_up: gauge(
                r,
                "sealgate_audit_store_up",
                "1 when the last audit store check or write succeeded, 0 otherwise.",
            )?,
            tls_sessions: counter_vec(
                r,
                "sealgate_tls_sessions_total",
                "TLS sessions established, by direction and protocol version.",
                &["direction", "version"],
            )?,
            config_reloads: counter_vec(
                r,
                "sealgate_config_reloads_total",
                "Configuration reloads (SIGHUP) by result.",
                &["result"],
            )?,
            memory_budget: gauge(
                r,
                "sealgate_memory_budget_bytes",
                "Limit on message data held in memory by all sessions together.",
            )?,
            memory_in_use: gauge(
                r,
                "sealgate_memory_budget_in_use_bytes",
                "Message data held in memory now, counted against the budget.",
            )?,
            auth_failures: counter_vec(
                r,
                "sealgate_auth_failures_total",
                "Failed AUTH attempts by reason (throttled: refused without a check).",
                &["reason"],
            )?,
            auth_throttled_clients: gauge(
                r,
                "sealgate_auth_throttled_clients",
                "Client addresses (IPv6: /64) whose AUTH attempts are refused now.",
)?,
            notices: counter_vec(
                r,
                "sealgate_notices_total",
                "Refusal notices to senders: sent, failed, or left out by the per-sender limit.",
                &["result"],
            )?,
            protocol_in_force: gauge_vec(
                r,
                "sealgate_protocol_in_force",
                "1 while the protocol is in force today (local date), 0 before and after.",
                &["protocol"],
            )?,
            protocol_end: float_gauge_vec(
                r,
                "sealgate_protocol_end_timestamp_seconds",
                "When the protocol stops being in force (Unix time); absent when open-ended.",
                &["protocol"],
            )?,
            registry,
        };
        let build_info = IntGaugeVec::new(
            Opts::new(
                "sealgate_build_info",
                "Always 1; the version label says which build runs.",
            ),
            &["version"],
        )?;
        metrics.registry.register(Box::new(build_info.clone()))?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        metrics.next_hop_up.set(1);
        metrics.create_series_at_zero();
        Ok(metrics)
    }

    fn create_series_at_zero(&self) {
        for result in NoticeResult::ALL {
            self.notices.with_label_values(&[result.as_str()]);
        }
        for class in MessageClass::ALL {
            for outcome in Outcome::ALL {
                self.messages
                    .with_label_values(&[class.as_str(), outcome.as_str()]);
            }
        }
        for reason in labels::rejection_reasons() {
            self.rejections.with_label_values(&[reason]);
        }
        for result in SessionResult::ALL {
            self.sessions.with_label_values(&[result.as_str()]);
        }
        for kind in NextHopError::ALL {
            self.next_hop_errors.with_label_values(&[kind.as_str()]);
        }
        for direction in Direction::ALL {
            for version in labels::TLS_VERSIONS {
                self.tls_sessions
                    .with_label_values(&[direction.as_str(), version]);
            }
        }
        for result in ReloadResult::ALL {
            self.config_reloads.with_label_values(&[result.as_str()]);
        }
        for reason in AuthFailure::ALL {
            self.auth_failures.with_label_values(&[reason.as_str()]);
        }
    }

    /// Count one message by class and outcome. A message with a protected recipient among
    /// ordinary ones is `Protected`.
    pub fn message(&self, class: MessageClass, outcome: Outcome) {
        self.messages
            .with_label_values(&[class.as_str(), outcome.as_str()])
            .inc();
    }

    /// Count one refusal. `code` is a policy or session reason code; codes outside
    /// [`rejection_reasons`] count as `other`.
    pub fn rejection(&self, code: &str) {
        self.rejections
            .with_label_values(&[labels::rejection_reason(code)])
            .inc();
    }

    /// A client session opened. Pair with [`Metrics::session_ended`], or use
    /// [`Metrics::track_session`] so that a session that ends by an early return still counts.
    pub fn session_started(&self) {
        self.sessions_active.inc();
    }

    pub fn session_ended(&self, result: SessionResult) {
        self.sessions_active.dec();
        self.sessions.with_label_values(&[result.as_str()]).inc();
    }

    /// A session counted from now until [`ActiveSession::end`], or as `dropped` when the guard
    /// is dropped without it (an error path, a cancelled task).
    pub fn track_session(&self) -> ActiveSession<'_> {
        self.session_started();
        ActiveSession {
            metrics: self,
            ended: false,
        }
    }

    pub fn observe_message_size(&self, bytes: usize) {
        self.message_size.observe(bytes as f64);
    }

    pub fn observe_inspection(&self, took: Duration) {
        self.inspection_duration.observe(took.as_secs_f64());
    }

    pub fn observe_next_hop(&self, took: Duration) {
        self.next_hop_duration.observe(took.as_secs_f64());
    }

    pub fn observe_transaction(&self, took: Duration) {
        self.transaction_duration.observe(took.as_secs_f64());
    }

    pub fn next_hop_error(&self, kind: NextHopError) {
        self.next_hop_errors
            .with_label_values(&[kind.as_str()])
            .inc();
    }

    /// A message relayed over `route` (a configured route name or `default`), its TLS
    /// verified as `tls` (a closed set: `relay::Verified::as_str`).
    pub fn delivery(&self, route: &str, tls: &'static str) {
        self.deliveries.with_label_values(&[route, tls]).inc();
    }

    /// A next hop of `route` that could not be opened.
    pub fn delivery_failure(&self, route: &str, reason: DeliveryFailure) {
        self.delivery_failures
            .with_label_values(&[route, reason.as_str()])
            .inc();
    }

    pub fn observe_audit_write(&self, took: Duration) {
        self.audit_write_duration.observe(took.as_secs_f64());
    }

    pub fn audit_error(&self) {
        self.audit_errors.inc();
    }

    pub fn tls_session(&self, direction: Direction, version: Option<rustls::ProtocolVersion>) {
        let version = labels::tls_version(version);
        self.tls_sessions
            .with_label_values(&[direction.as_str(), version])
            .inc();
    }

    pub fn config_reload(&self, result: ReloadResult) {
        self.config_reloads
            .with_label_values(&[result.as_str()])
            .inc();
    }

    /// The configured memory budget (`limits.memory_budget`); set at start and on reload.
    pub fn set_memory_budget(&self, bytes: u64) {
        self.memory_budget.set(saturating_i64(bytes));
    }

    /// Message data held now; the session's memory budget calls this when it changes.
    pub fn set_memory_in_use(&self, bytes: u64) {
        self.memory_in_use.set(saturating_i64(bytes));
    }

    pub fn auth_failure(&self, reason: AuthFailure) {
        self.auth_failures
            .with_label_values(&[reason.as_str()])
            .inc();
    }

    pub fn set_auth_throttled_clients(&self, clients: usize) {
        self.auth_throttled_clients
            .set(i64::try_from(clients).unwrap_or(i64::MAX));
    }

    /// Copy the health state into `sealgate_next_hop_up` and `sealgate_audit_store_up`.
    /// The HTTP listener calls this before each render.
    pub fn observe_health(&self, health: &Health) {
        self.next_hop_up
            .set(i64::from(!health.next_hop_last_attempt_failed()));
        self.audit_store_up
            .set(i64::from(health.audit_store_writable()));
    }

    /// Count one refusal notice.
    pub fn notice(&self, result: NoticeResult) {
        self.notices.with_label_values(&[result.as_str()]).inc();
    }

    /// The protocol gauges for the configured protocols; protocols no longer configured lose
    /// their series. Call at start, after every reload and now and then (days change).
    pub fn set_protocols(&self, protocols: &[ProtocolGauge<'_>]) {
        self.protocol_in_force.reset();
        self.protocol_end.reset();
        for p in protocols {
            self.protocol_in_force
                .with_label_values(&[p.id])
                .set(i64::from(p.in_force));
            if let Some(end) = p.end_timestamp {
                self.protocol_end.with_label_values(&[p.id]).set(end as f64);
            }
        }
    }

    /// Every metric in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut text = String::new();
        if let Err(error) = TextEncoder::new().encode_utf8(&self.registry.gather(), &mut text) {
            tracing::error!(%error, "cannot encode metrics; /metrics is incomplete");
        }
        text
    }

    /// The registry itself, for tests and for embedding into another exporter.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

/// A client session being counted in `sealgate_sessions_active`.
pub struct ActiveSession<'a> {
    metrics: &'a Metrics,
    ended: bool,
}

impl ActiveSession<'_> {
    pub fn end(mut self, result: SessionResult) {
        self.ended = true;
        self.metrics.session_ended(result);
    }
}

impl Drop for ActiveSession<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.metrics.session_ended(SessionResult::Dropped);
        }
    }
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn counter(r: &Registry, name: &str, help: &str) -> Result<IntCounter, MetricsError> {
    let metric = IntCounter::new(name, help)?;
    r.register(Box::new(metric.clone()))?;
    Ok(metric)
}

fn counter_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntCounterVec, MetricsError> {
    let metric = IntCounterVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(metric.clone()))?;
    Ok(metric)
}

fn gauge_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntGaugeVec, MetricsError> {
    let metric = IntGaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(metric.clone()))?;
    Ok(metric)
}

fn float_gauge_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<GaugeVec, MetricsError> {
    let metric = GaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(metric.clone()))?;
    Ok(metric)
}

fn gauge(r: &Registry, name: &str, help: &str) -> Result<IntGauge, MetricsError> {
    let metric = IntGauge::new(name, help)?;
    r.register(Box::new(metric.clone()))?;
    Ok(metric)
}

fn histogram(
    r: &Registry,
    name: &str,
    help: &str,
    buckets: &[f64],
) -> Result<Histogram, MetricsError> {
    let metric = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))?;
    r.register(Box::new(metric.clone()))?;
    Ok(metric)
}
