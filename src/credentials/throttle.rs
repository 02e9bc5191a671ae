//! Per-client AUTH accounting, after Postfix's anvil and `smtpd_client_auth_rate_limit`: each
//! failure makes its answer slower, and a client that keeps failing is refused (`421 4.7.0`)
//! until its window passes.
//!
//! An attempt counts when it is admitted, before its password is checked, and a success clears
//! the client's count: so 100 connections that try at the same moment get `max_failures`
//! password checks between them, not 100 (the checks are what costs memory and CPU).
//!
//! Clients are counted by address; IPv6 clients by their /64, since one host holds a whole
//! /64 and would otherwise get a fresh budget per address. The table is bounded: when full,
//! clients whose window has passed are forgotten first, then the least recently seen.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct ThrottleSettings {
    /// Failed AUTH attempts per client within `window`; the next is refused.
    pub max_failures: u32,
    pub window: Duration,
    /// Delay after the first failure; doubles with each further one, up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Clients remembered at once.
    pub max_clients: usize,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        ThrottleSettings {
            max_failures: 5,
            window: Duration::from_secs(600),
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_clients: 65_536,
        }
    }
}

/// What to do with an AUTH attempt before checking the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Check,
    /// Too many failures: answer `421 4.7.0` and close.
    Refuse,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    /// Attempts admitted in the window (each counts as a failure until it succeeds).
    attempts: u32,
    /// Attempts that failed, for the delay.
    failures: u32,
    first: Instant,
    last: Instant,
}

impl Record {
    fn new(now: Instant) -> Record {
        Record {
            attempts: 0,
            failures: 0,
            first: now,
            last: now,
        }
    }
}

struct State {
    settings: ThrottleSettings,
    clients: HashMap<IpAddr, Record>,
}

pub struct AuthThrottle {
    state: Mutex<State>,
}

impl AuthThrottle {
    pub fn new(settings: ThrottleSettings) -> AuthThrottle {
        AuthThrottle {
            state: Mutex::new(State {
                settings,
                clients: HashMap::new(),
            }),
        }
    }

    /// New limits (a reload); the clients' counts are kept.
    pub fn configure(&self, settings: ThrottleSettings) {
        if let Ok(mut state) = self.state.lock() {
            state.settings = settings;
        }
    }

    /// Counts an attempt of `client`; Refuse when it has used up its attempts in the window.
    pub fn admit(&self, client: IpAddr, now: Instant) -> Admission {
        let Ok(mut state) = self.state.lock() else {
            return Admission::Refuse;
        };
        let State { settings, clients } = &mut *state;
        let key = key(client);
        if !clients.contains_key(&key) && clients.len() >= settings.max_clients {
            make_room(settings, clients, now);
        }
        let record = clients.entry(key).or_insert(Record::new(now));
        if !current(settings, record, now) {
            *record = Record::new(now);
        }
        record.last = now;
        if record.attempts >= settings.max_failures {
            return Admission::Refuse;
        }
        record.attempts += 1;
        Admission::Check
    }

    /// Records that an admitted attempt failed; returns how long to wait before answering it:
    /// `base_delay` after the first failure, doubling with each further one, up to `max_delay`.
    pub fn failed(&self, client: IpAddr, now: Instant) -> Duration {
        let Ok(mut state) = self.state.lock() else {
            return Duration::ZERO;
        };
        let State { settings, clients } = &mut *state;
        let failures = match clients.get_mut(&key(client)) {
            Some(record) => {
                record.failures = record.failures.saturating_add(1);
                record.last = now;
                record.failures
            }
            None => 1,
        };
        let doublings = failures.saturating_sub(1).min(16);
        settings
            .base_delay
            .saturating_mul(1 << doublings)
            .min(settings.max_delay)
    }

    /// A successful AUTH clears the client's count.
    pub fn succeeded(&self, client: IpAddr) {
        if let Ok(mut state) = self.state.lock() {
            state.clients.remove(&key(client));
        }
    }

    /// Clients refused now, for the gauge.
    pub fn throttled(&self, now: Instant) -> usize {
        self.state.lock().map_or(0, |state| {
            state
                .clients
                .values()
                .filter(|r| {
                    current(&state.settings, r, now) && r.attempts >= state.settings.max_failures
                })
                .count()
        })
    }

    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.state.lock().map_or(0, |s| s.clients.len())
    }
}

fn current(settings: &ThrottleSettings, record: &Record, now: Instant) -> bool {
    now.duration_since(record.first) < settings.window
}

fn make_room(settings: &ThrottleSettings, clients: &mut HashMap<IpAddr, Record>, now: Instant) {
    clients.retain(|_, r| current(settings, r, now));
    if clients.len() >= settings.max_clients {
        let stalest = clients.iter().min_by_key(|(_, r)| r.last).map(|(k, _)| *k);
        if let Some(k) = stalest {
            clients.remove(&k);
        }
    }
}

/// The address a client is counted by: IPv4 as is, IPv6 by its /64.
fn key(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(_) => client,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ThrottleSettings {
        ThrottleSettings {
            max_failures: 3,
            window: Duration::from_secs(60),
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            max_clients: 10,
        }
    }

    #[test]
    fn failures_slow_down_then_refuse_until_the_window_passes() {
        let throttle = AuthThrottle::new(settings());
        let client: IpAddr = "192.0.2.7".parse().unwrap();
        let t0 = Instant::now();
        let delays: Vec<_> = (0..3)
            .map(|_| {
                assert_eq!(throttle.admit(client, t0), Admission::Check);
                throttle.failed(client, t0)
            })
            .collect();
        assert_eq!(
            delays,
            [100, 200, 350].map(Duration::from_millis),
            "growing, capped"
        );
        assert_eq!(throttle.admit(client, t0), Admission::Refuse);
        assert_eq!(throttle.throttled(t0), 1);
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        assert_eq!(throttle.admit(other, t0), Admission::Check);
        let later = t0 + Duration::from_secs(61);
        assert_eq!(throttle.admit(client, later), Admission::Check);
        assert_eq!(throttle.failed(client, later), Duration::from_millis(100));
    }

    #[test]
    fn attempts_count_before_their_check_so_a_burst_gets_few_checks() {
        let throttle = AuthThrottle::new(settings());
        let client: IpAddr = "192.0.2.9".parse().unwrap();
        let t0 = Instant::now();
        let admitted = (0..100)
            .filter(|_| throttle.admit(client, t0) == Admission::Check)
            .count();
        assert_eq!(admitted, 3);
    }

    #[test]
    fn success_clears_and_ipv6_counts_per_64() {
        let throttle = AuthThrottle::new(settings());
        let t0 = Instant::now();
        for host in 1..=3 {
            let client: IpAddr = format!("2001:db8:1:2::{host}").parse().unwrap();
            assert_eq!(throttle.admit(client, t0), Admission::Check);
            throttle.failed(client, t0);
        }
        let fourth: IpAddr = "2001:db8:1:2::99".parse().unwrap();
        assert_eq!(throttle.admit(fourth, t0), Admission::Refuse);
        throttle.succeeded(fourth);
        assert_eq!(throttle.admit(fourth, t0), Admission::Check);
    }

    #[test]
    fn the_table_stays_bounded() {
        let throttle = AuthThrottle::new(settings());
        let t0 = Instant::now();
        for i in 0..1000u32 {
            throttle.admit(IpAddr::from(i.to_be_bytes()), t0);
        }
        assert!(throttle.remembered() <= 10);
    }
}
