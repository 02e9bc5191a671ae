//! Readiness: whether this instance should be given mail now.
//!
//! A load balancer or orchestrator asks `/readyz`; the answer is built from flags the server
//! sets as it starts and as its periodic probes and transactions report. The rule:
//!
//! ready = listeners up AND configuration loaded AND audit store writable
//!         AND NOT (the last next-hop attempt failed AND there was no next-hop success for
//!                  `metrics.next_hop_stale_seconds`, counted from the start when there was none)
//!
//! One failed next-hop attempt after recent successes keeps the instance ready: a single
//! refused transaction should not take it out of the pool. The audit store starts as "not
//! writable" until the first probe says otherwise: protected mail fails closed without it.
//! All state is in atomics: cheap to update from every session, safe to share.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Readiness state of one gateway instance. Share as `Arc<Health>`.
pub struct Health {
    origin: Instant,
    listeners_up: AtomicBool,
    config_loaded: AtomicBool,
    audit_writable: AtomicBool,
    next_hop_last_failed: AtomicBool,
    /// Milliseconds since `origin`, plus one; 0 means never.
    next_hop_success: AtomicU64,
    next_hop_failure: AtomicU64,
    next_hop_stale_ms: AtomicU64,
}

/// The answer of `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    Unready(Vec<UnreadyCause>),
}

/// One reason an instance is not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnreadyCause {
    ListenersDown,
    ConfigNotLoaded,
    AuditStoreNotWritable,
    /// The last next-hop attempt failed; `since_success` is the time since the last success
    /// (`None`: none since start).
    NextHopFailing {
        since_success: Option<Duration>,
    },
}

impl fmt::Display for UnreadyCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnreadyCause::ListenersDown => f.write_str("SMTP listeners not up"),
            UnreadyCause::ConfigNotLoaded => f.write_str("configuration not loaded"),
            UnreadyCause::AuditStoreNotWritable => f.write_str("audit store not writable"),
            UnreadyCause::NextHopFailing {
                since_success: Some(ago),
            } => {
                write!(f, "next hop failing, last success {}s ago", ago.as_secs())
            }
            UnreadyCause::NextHopFailing {
                since_success: None,
            } => f.write_str("next hop failing, no success since start"),
        }
    }
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        matches!(self, Readiness::Ready)
    }

    /// The plain-text body of `/readyz`: `ready`, or `unready: ` and the causes.
    pub fn body(&self) -> String {
        match self {
            Readiness::Ready => "ready\n".to_owned(),
            Readiness::Unready(causes) => {
                let causes: Vec<String> = causes.iter().map(ToString::to_string).collect();
                format!("unready: {}\n", causes.join("; "))
            }
        }
    }
}

impl Health {
    /// Nothing up yet: not ready until the server reports listeners, configuration and a
    /// writable audit store.
    pub fn new(next_hop_stale: Duration) -> Health {
        Health {
            origin: Instant::now(),
            listeners_up: AtomicBool::new(false),
            config_loaded: AtomicBool::new(false),
            audit_writable: AtomicBool::new(false),
            next_hop_last_failed: AtomicBool::new(false),
            next_hop_success: AtomicU64::new(0),
            next_hop_failure: AtomicU64::new(0),
            next_hop_stale_ms: AtomicU64::new(millis(next_hop_stale)),
        }
    }

    pub fn set_listeners_up(&self, up: bool) {
        self.listeners_up.store(up, Ordering::Relaxed);
    }

    pub fn set_config_loaded(&self, loaded: bool) {
        self.config_loaded.store(loaded, Ordering::Relaxed);
    }

    /// The periodic probe (`AuditStore::check_writable`) and every audit write report here.
    pub fn set_audit_store_writable(&self, writable: bool) {
        self.audit_writable.store(writable, Ordering::Relaxed);
    }

    /// `metrics.next_hop_stale_seconds`; may change on reload.
    pub fn set_next_hop_stale(&self, stale: Duration) {
        self.next_hop_stale_ms
            .store(millis(stale), Ordering::Relaxed);
    }

    /// A next-hop transaction (or probe) got through.
    pub fn next_hop_succeeded(&self) {
        self.next_hop_succeeded_at(Instant::now());
    }

    /// A next-hop transaction (or probe) failed: no connection, TLS failure, timeout, 4xx
    /// or 5xx to the connection or the greeting. A 5xx to one recipient is not a failure.
    pub fn next_hop_failed(&self) {
        self.next_hop_failed_at(Instant::now());
    }

    pub fn next_hop_succeeded_at(&self, at: Instant) {
        self.next_hop_success
            .store(self.stamp(at), Ordering::Relaxed);
        self.next_hop_last_failed.store(false, Ordering::Relaxed);
    }

    pub fn next_hop_failed_at(&self, at: Instant) {
        self.next_hop_failure
            .store(self.stamp(at), Ordering::Relaxed);
        self.next_hop_last_failed.store(true, Ordering::Relaxed);
    }

    pub fn audit_store_writable(&self) -> bool {
        self.audit_writable.load(Ordering::Relaxed)
    }

    pub fn next_hop_last_attempt_failed(&self) -> bool {
        self.next_hop_last_failed.load(Ordering::Relaxed)
    }

    /// When the next hop last accepted a transaction, if ever.
    pub fn next_hop_last_success(&self) -> Option<Instant> {
        self.instant(self.next_hop_success.load(Ordering::Relaxed))
    }

    /// When the last next-hop attempt failed, if ever.
    pub fn next_hop_last_failure(&self) -> Option<Instant> {
        self.instant(self.next_hop_failure.load(Ordering::Relaxed))
    }

    pub fn readiness(&self) -> Readiness {
        self.readiness_at(Instant::now())
    }

    /// Readiness as of `now` (see the module docs for the rule).
    pub fn readiness_at(&self, now: Instant) -> Readiness {
        let mut causes = Vec::new();
        if !self.listeners_up.load(Ordering::Relaxed) {
            causes.push(UnreadyCause::ListenersDown);
        }
        if !self.config_loaded.load(Ordering::Relaxed) {
            causes.push(UnreadyCause::ConfigNotLoaded);
        }
        if !self.audit_store_writable() {
            causes.push(UnreadyCause::AuditStoreNotWritable);
        }
        if let Some(cause) = self.next_hop_cause(now) {
            causes.push(cause);
        }
        if causes.is_empty() {
            Readiness::Ready
        } else {
            Readiness::Unready(causes)
        }
    }

    fn next_hop_cause(&self, now: Instant) -> Option<UnreadyCause> {
        if !self.next_hop_last_attempt_failed() {
            return None;
        }
        let last_success = self.next_hop_last_success();
        let quiet_since = last_success.unwrap_or(self.origin);
        let stale = Duration::from_millis(self.next_hop_stale_ms.load(Ordering::Relaxed));
        if now.saturating_duration_since(quiet_since) < stale {
            return None;
        }
        let since_success = last_success.map(|at| now.saturating_duration_since(at));
        Some(UnreadyCause::NextHopFailing { since_success })
    }

    fn stamp(&self, at: Instant) -> u64 {
        millis(at.saturating_duration_since(self.origin)).saturating_add(1)
    }

    fn instant(&self, stamp: u64) -> Option<Instant> {
        let offset = stamp.checked_sub(1)?;
        self.origin.checked_add(Duration::from_millis(offset))
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
