//! At most a few notices per sender per hour, in bounded memory.
//!
//! A client that retries a refused message in a loop would otherwise make sealgate send one
//! notice per try. The window slides per sender; the table of senders is capped, and when it is
//! full the sender seen longest ago is forgotten (it can then get one notice early, never
//! unbounded many).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct LimiterSettings {
    /// Notices to one sender within `window`.
    pub per_sender: usize,
    pub window: Duration,
    /// Senders remembered at once.
    pub max_senders: usize,
}

impl Default for LimiterSettings {
    fn default() -> Self {
        LimiterSettings {
            per_sender: 5,
            window: Duration::from_secs(3600),
            max_senders: 10_000,
        }
    }
}

pub struct Limiter {
    settings: LimiterSettings,
    sent: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Limiter {
    pub fn new(settings: LimiterSettings) -> Limiter {
        Limiter {
            settings,
            sent: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `sender` may get a notice now; when yes, the notice is counted.
    pub fn allow(&self, sender: &str, now: Instant) -> bool {
        let Ok(mut sent) = self.sent.lock() else {
            return false;
        };
        let window = self.settings.window;
        let key = sender.to_ascii_lowercase();
        if !sent.contains_key(&key) && sent.len() >= self.settings.max_senders {
            sent.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|&t| now.duration_since(t) < window)
            });
            if sent.len() >= self.settings.max_senders {
                let oldest = sent
                    .iter()
                    .min_by_key(|(_, times)| times.back().copied())
                    .map(|(key, _)| key.clone());
                if let Some(key) = oldest {
                    sent.remove(&key);
                }
            }
        }
        let times = sent.entry(key).or_default();
        while times
            .front()
            .is_some_and(|&t| now.duration_since(t) >= window)
        {
            times.pop_front();
        }
        if times.len() >= self.settings.per_sender {
            return false;
        }
        times.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_looping_sender_gets_a_few_notices_per_window() {
        let limiter = Limiter::new(LimiterSettings {
            per_sender: 3,
            window: Duration::from_secs(60),
            max_senders: 100,
        });
        let start = Instant::now();
        let allowed = (0..100)
            .filter(|i| limiter.allow("jan@opgroeien.be", start + Duration::from_millis(*i)))
            .count();
        assert_eq!(allowed, 3);
        assert!(
            limiter.allow("els@opgroeien.be", start),
            "others are not affected"
        );
        assert!(limiter.allow("JAN@opgroeien.be", start + Duration::from_secs(61)));
    }

    #[test]
    fn memory_stays_bounded_under_many_senders() {
        let limiter = Limiter::new(LimiterSettings {
            per_sender: 1,
            window: Duration::from_secs(60),
            max_senders: 50,
        });
        let now = Instant::now();
        for i in 0..1000 {
            assert!(limiter.allow(&format!("s{i}@example.org"), now));
        }
        assert!(limiter.sent.lock().unwrap().len() <= 50);
    }
}
