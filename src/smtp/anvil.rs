//! Per-client AUTH failure accounting, after Postfix's anvil and
//! `smtpd_client_auth_rate_limit`: each failure makes the next answer slower, and a client
//! that keeps failing is refused (`421 4.7.0`) until its window passes.
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
    failures: u32,
    first: Instant,
    last: Instant,
}

pub struct AuthThrottle {
    settings: ThrottleSettings,
    clients: Mutex<HashMap<IpAddr, Record>>,
}

impl AuthThrottle {
    pub fn new(settings: ThrottleSettings) -> AuthThrottle {
        AuthThrottle {
            settings,
            clients: Mutex::new(HashMap::new()),
        }
    }

    pub fn admit(&self, client: IpAddr, now: Instant) -> Admission {
        let Ok(clients) = self.clients.lock() else {
            return Admission::Refuse;
        };
        match clients.get(&key(client)) {
            Some(r) if self.current(r, now) && r.failures >= self.settings.max_failures => {
                Admission::Refuse
            }
            _ => Admission::Check,
        }
    }

    /// Records a failure; returns how long to wait before answering it.
    pub fn failed(&self, client: IpAddr, now: Instant) -> Duration {
        let Ok(mut clients) = self.clients.lock() else {
            return self.settings.max_delay;
        };
        let key = key(client);
        if !clients.contains_key(&key) && clients.len() >= self.settings.max_clients {
            self.make_room(&mut clients, now);
        }
        let record = clients.entry(key).or_insert(Record {
            failures: 0,
            first: now,
            last: now,
        });
        if !self.current(record, now) {
            *record = Record {
                failures: 0,
                first: now,
                last: now,
            };
        }
        record.failures = record.failures.saturating_add(1);
        record.last = now;
        let doublings = record.failures.saturating_sub(1).min(16);
        self.settings
            .base_delay
            .saturating_mul(1 << doublings)
            .min(self.settings.max_delay)
    }

    /// A successful AUTH clears the client's failures.
    pub fn succeeded(&self, client: IpAddr) {
        if let Ok(mut clients) = self.clients.lock() {
            clients.remove(&key(client));
        }
    }

    /// Clients currently refused, for the gauge.
    pub fn throttled(&self, now: Instant) -> usize {
        self.clients.lock().map_or(0, |clients| {
            clients
                .values()
                .filter(|r| self.current(r, now) && r.failures >= self.settings.max_failures)
                .count()
        })
    }

    fn current(&self, record: &Record, now: Instant) -> bool {
        now.duration_since(record.first) < self.settings.window
    }

    fn make_room(&self, clients: &mut HashMap<IpAddr, Record>, now: Instant) {
        clients.retain(|_, r| self.current(r, now));
        if clients.len() >= self.settings.max_clients {
            let stalest = clients.iter().min_by_key(|(_, r)| r.last).map(|(k, _)| *k);
            if let Some(k) = stalest {
                clients.remove(&k);
            }
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
    fn success_clears_and_ipv6_counts_per_64() {
        let throttle = AuthThrottle::new(settings());
        let t0 = Instant::now();
        for host in 1..=3 {
            let client: IpAddr = format!("2001:db8:1:2::{host}").parse().unwrap();
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
            throttle.failed(IpAddr::from(i.to_be_bytes()), t0);
        }
        assert!(throttle.clients.lock().unwrap().len() <= 10);
    }
}
