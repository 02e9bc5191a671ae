#![cfg(feature = "real-peers")]
//! The exposition text against the Prometheus tools themselves: promtool's linter accepts it,
//! and Python's prometheus_client reads exactly the families and samples that the in-process
//! tests read with `read_exposition` (so those tests' reading is the real parser's).

mod metrics_support;

use std::time::Duration;

use metrics_support::{
    parse_with_prometheus_client, promtool_check_metrics, read_exposition, Family,
};
use sealgate::metrics::{Direction, MessageClass, Metrics, NextHopError, Outcome, ReloadResult};

/// Compares what both readers saw, family by family, with the same float equality Prometheus
/// uses for its text (both parse the same decimal strings).
fn assert_same_reading(text: &str) {
    let ours = read_exposition(text);
    let theirs: Vec<Family> = parse_with_prometheus_client(text);
    let names = |f: &[Family]| -> Vec<(String, String)> {
        f.iter().map(|f| (f.name.clone(), f.kind.clone())).collect()
    };
    assert_eq!(names(&ours), names(&theirs), "families");
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a.samples, b.samples, "samples of {}", a.name);
    }
}

#[test]
fn a_fresh_registry_passes_promtool_and_reads_alike() {
    let text = Metrics::new().unwrap().render();
    promtool_check_metrics(&text);
    assert_same_reading(&text);
}

#[test]
fn a_registry_with_values_passes_promtool_and_reads_alike() {
    let metrics = Metrics::new().unwrap();
    metrics.message(MessageClass::Ordinary, Outcome::Relayed);
    metrics.message(MessageClass::Protected, Outcome::Rejected);
    metrics.rejection("not_7z");
    metrics.rejection("kindengezin@wervik.be");
    metrics.next_hop_error(NextHopError::Reply4xx);
    metrics.observe_message_size(2_000_000);
    metrics.observe_inspection(Duration::from_millis(30));
    metrics.observe_transaction(Duration::from_secs(2));
    metrics.tls_session(Direction::Inbound, Some(rustls::ProtocolVersion::TLSv1_3));
    metrics.config_reload(ReloadResult::Failure);
    metrics.set_memory_in_use(123_456);
    let text = metrics.render();
    promtool_check_metrics(&text);
    assert_same_reading(&text);
}
