//! Idle next-hop connections kept for the next transaction (Postfix's connection cache):
//! opening a connection (TCP, greeting, EHLO, maybe STARTTLS and AUTH) costs several round
//! trips, a kept one costs none. A connection is kept for at most [`IDLE_NEXT_HOP`], only
//! outside a transaction, and only for the settings it was made under: after a reload, kept
//! connections are never used again.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::gateway::Settings;
use crate::relay::route::Target;
use crate::relay::NextHop;

/// Longest a next-hop connection waits idle (Postfix: smtp_connection_cache_time_limit).
pub const IDLE_NEXT_HOP: Duration = Duration::from_secs(2);
/// Most idle connections kept at once.
pub const MAX_IDLE_NEXT_HOPS: usize = 64;

struct Idle {
    hop: Box<dyn NextHop>,
    since: Instant,
    settings: Arc<Settings>,
    /// Where the connection goes (a route, and for MX a domain).
    target: Target,
}

#[derive(Default)]
pub(super) struct Pool {
    idle: Mutex<Vec<Idle>>,
}

impl Pool {
    /// A kept connection made under `settings` for a target that covers `target` and still
    /// looks usable, if any, with the target it was opened for.
    pub(super) fn take(
        &self,
        settings: &Arc<Settings>,
        target: &Target,
    ) -> Option<(Box<dyn NextHop>, Target)> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.retain(|entry| entry.since.elapsed() < IDLE_NEXT_HOP);
        let found = idle.iter().rposition(|entry| {
            Arc::ptr_eq(&entry.settings, settings) && entry.target.covers(target)
        })?;
        let entry = idle.swap_remove(found);
        (entry.hop.looks_alive() == Some(true)).then_some((entry.hop, entry.target))
    }

    /// Keeps `hop` for another transaction; gives it back when it cannot be kept.
    pub(super) fn keep(
        &self,
        hop: Box<dyn NextHop>,
        settings: Arc<Settings>,
        target: Target,
    ) -> Option<Box<dyn NextHop>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.retain(|entry| entry.since.elapsed() < IDLE_NEXT_HOP);
        if idle.len() >= MAX_IDLE_NEXT_HOPS || hop.in_transaction() {
            return Some(hop);
        }
        idle.push(Idle {
            hop,
            since: Instant::now(),
            settings,
            target,
        });
        None
    }

    /// Drops connections that waited too long or belong to replaced settings.
    pub(super) fn purge(&self, current: &Arc<Settings>) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.retain(|entry| {
            entry.since.elapsed() < IDLE_NEXT_HOP && Arc::ptr_eq(&entry.settings, current)
        });
    }
}
