//! The DATA phase on the SMTP side: receive the message within the memory budget and hand it
//! to the transfer core, which judges, records, relays and answers.
//!
//! The buffer grows as data arrives, each growth reserved from the budget (and the client's
//! share) first: a declared `SIZE=` only pre-sizes up to one [`GROWTH_STEP`], so a client that
//! announces 36 MB and trickles holds what it sent, not what it promised. Below one step the
//! buffer doubles; above, it grows by a quarter (at least one step), so a 36 MB message is
//! copied about 15 times, not 36, and at most a quarter of what is held is reserved ahead.
//!
//! A client must keep up `limits.min_data_rate_bytes_per_second` on average once
//! `limits.min_data_rate_grace_seconds` have passed (Postfix's `smtpd_min_data_rate`), or it
//! gets `421 4.4.2` and the connection ends: a trickler cannot hold its share for the whole
//! data timeout.

use std::time::{Duration, Instant};

use super::{Flow, Session};
use crate::gateway::MemoryLease;
use crate::metrics::SessionResult;
use crate::reply::{replies, Reply, Status};
use crate::smtp::connection::ConnectionError;
use crate::smtp::data::{DataFlaw, DataReader};
use crate::transfer::{Flaw, Message};

/// Largest growth of a message buffer reserved at once; also the most a declared SIZE
/// pre-sizes.
pub const GROWTH_STEP: usize = 1024 * 1024;

/// Bytes of message data one session reads before it lets the other sessions run. Without
/// it a fast sender is read for as long as data is there (tokio's budget: 128 reads, 8 MiB),
/// and every ordinary session waits behind each such sender for every reply.
pub const DATA_SLICE: usize = 256 * 1024;

/// The first buffer of a message without a declared size: most mail is small, and a
/// 64 KiB buffer per 5 KB message costs page faults when the allocator hands the memory back
/// to the system between messages (measured in BENCHMARKS.md, "After the profile").
const FIRST_CAPACITY: usize = 8 * 1024;

/// Why receiving ended the session.
enum Cut {
    Ended(SessionResult),
    /// Slower than the minimum data rate.
    TooSlow,
}

impl Session {
    pub(super) async fn data(&mut self) -> Flow {
        match self.transfer.ready_for_data() {
            Ok(()) => {}
            // The next hop was lost: not the client's error.
            Err(reply) if reply.is_transient() => return self.reply(reply),
            Err(reply) => return self.error(reply),
        }
        self.conn.queue(&replies::start_data());
        if self.conn.flush().await.is_err() {
            return Flow::Close(SessionResult::Dropped);
        }
        let mut lease = self.core.gateway.lease(self.client.address.ip());
        let message = match self.receive_message(&mut lease).await {
            Ok(message) => message,
            Err(cut) => {
                drop(lease);
                let host = self.hostname().to_string();
                return match cut {
                    Cut::TooSlow => {
                        tracing::warn!(client = %self.client.address, "message data below the minimum rate; connection closed");
                        self.conn.queue(&Reply::new(
                            421,
                            Status(4, 4, 2),
                            format!("{host} Error: message data too slow"),
                        ));
                        Flow::Close(SessionResult::Timeout)
                    }
                    Cut::Ended(SessionResult::Timeout) => {
                        self.conn.queue(&replies::timeout(&host));
                        Flow::Close(SessionResult::Timeout)
                    }
                    Cut::Ended(end) => Flow::Close(end),
                };
            }
        };
        let delivery = self.transfer.deliver(&self.client, message).await;
        drop(lease);
        self.reply(delivery.reply)
    }

    /// Reads DATA up to its end. Err only when the session must end (timeout, too slow, client
    /// gone). The message buffer grows in steps that are first reserved from the memory budget,
    /// so what the budget counts is what the buffers hold.
    async fn receive_message(&mut self, lease: &mut MemoryLease) -> Result<Message, Cut> {
        let limits = &self.settings.config.limits;
        let idle = Duration::from_secs(self.settings.config.timeouts.data_seconds);
        let rate = MinRate {
            bytes_per_second: limits.min_data_rate_bytes_per_second,
            grace: Duration::from_secs(limits.min_data_rate_grace_seconds),
            started: Instant::now(),
        };
        let limit = limits.max_message_size;
        let mut reader = DataReader::new(limit);
        let mut message = Vec::new();
        let mut memory_full = false;
        let mut hint = self.transfer.declared_size().min(GROWTH_STEP);
        let mut received: u64 = 0;
        let mut since_yield = 0;
        loop {
            let (wait, rate_bound) = match rate.deadline(received) {
                Some(left) if left < idle => (left, true),
                _ => (idle, false),
            };
            let chunk = match self.conn.read_chunk(wait, received == 0).await {
                Ok(chunk) if chunk.is_empty() => return Err(Cut::Ended(SessionResult::Dropped)),
                Ok(chunk) => chunk,
                Err(ConnectionError::Timeout(_)) if rate_bound => return Err(Cut::TooSlow),
                Err(ConnectionError::Timeout(_)) => return Err(Cut::Ended(SessionResult::Timeout)),
                Err(ConnectionError::Io(_)) => return Err(Cut::Ended(SessionResult::Dropped)),
            };
            received = received.saturating_add(chunk.len() as u64);
            since_yield += chunk.len();
            // The reader never keeps more than `limit` bytes, so the buffer never needs more.
            let target = (message.len() + chunk.len()).min(limit);
            if !reader.is_discarding() && target > message.capacity() {
                let capacity = grown_capacity(message.capacity(), target, hint, limit);
                hint = 0;
                if self.core.gateway.reserve(lease, capacity) {
                    message.reserve_exact(capacity - message.len());
                } else {
                    memory_full = true;
                    reader.discard(&mut message);
                    lease.release();
                }
            }
            if let Some(end) = reader.feed(&chunk, &mut message) {
                self.conn.unread(&chunk[end..]);
                let flaw = match reader.flaw() {
                    Some(DataFlaw::TooBig) => Some(Flaw::TooBig),
                    Some(DataFlaw::BareNewline) => Some(Flaw::BareNewline),
                    None if memory_full => Some(Flaw::MemoryFull),
                    None => None,
                };
                if flaw.is_some() {
                    lease.release();
                }
                return Ok(Message {
                    bytes: message,
                    size: reader.size(),
                    flaw,
                });
            }
            if reader.is_discarding() && lease.bytes() > 0 {
                lease.release();
            }
            self.conn.recycle(chunk);
            if since_yield >= DATA_SLICE {
                since_yield = 0;
                tokio::task::yield_now().await;
            }
        }
    }
}

/// The buffer's next capacity: at least `target`; the first time, the declared size (`hint`,
/// at most one step) or [`FIRST_CAPACITY`]; then the next power of two up to one step, a
/// quarter (at least one step) above; never more than `limit`. The budget still reserves whole units
/// ([`crate::gateway::MEMORY_UNIT`]), so growing within the first unit takes no further reservation.
fn grown_capacity(capacity: usize, target: usize, hint: usize, limit: usize) -> usize {
    let grown = if capacity == 0 {
        hint.max(FIRST_CAPACITY)
    } else if capacity < GROWTH_STEP {
        // Powers of two up to one step, whatever sizes the reads had: a message that fits in a
        // step never holds more, so it never counts as large below `large_message_size`.
        (capacity * 2)
            .max(target)
            .next_power_of_two()
            .min(GROWTH_STEP)
    } else {
        capacity + GROWTH_STEP.max(capacity / 4)
    };
    grown.min(limit).max(target)
}

/// Postfix's `smtpd_min_data_rate`, as an average since DATA began.
struct MinRate {
    bytes_per_second: u64,
    grace: Duration,
    started: Instant,
}

impl MinRate {
    /// How long the client may send nothing more before it falls below the rate; None when
    /// the rate is off.
    fn deadline(&self, received: u64) -> Option<Duration> {
        if self.bytes_per_second == 0 {
            return None;
        }
        let earned = Duration::from_secs_f64(received as f64 / self.bytes_per_second as f64);
        let until = earned.max(self.grace);
        Some(until.saturating_sub(self.started.elapsed()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::MEMORY_UNIT;

    #[test]
    fn growth_is_bounded_by_the_step_the_hint_and_the_limit() {
        let limit = 36 * 1024 * 1024;
        // A declared 36 MB pre-sizes one step only.
        assert_eq!(
            grown_capacity(0, 100, limit, limit.min(GROWTH_STEP)),
            GROWTH_STEP
        );
        assert_eq!(grown_capacity(0, 100, 0, limit), FIRST_CAPACITY);
        // A first read larger than the first capacity is taken whole.
        assert_eq!(
            grown_capacity(0, MEMORY_UNIT + 1, 0, limit),
            MEMORY_UNIT + 1
        );
        assert_eq!(
            grown_capacity(MEMORY_UNIT, MEMORY_UNIT + 1, 0, limit),
            2 * MEMORY_UNIT
        );
        assert_eq!(
            grown_capacity(GROWTH_STEP, GROWTH_STEP + 1, 0, limit),
            2 * GROWTH_STEP
        );
        assert_eq!(
            grown_capacity(8 * GROWTH_STEP, 8 * GROWTH_STEP + 1, 0, limit),
            10 * GROWTH_STEP
        );
        assert_eq!(grown_capacity(limit - 10, limit, 0, limit), limit);
        // A small limit (tests) is never exceeded by the first capacity.
        assert_eq!(grown_capacity(0, 10, 0, 1000), 1000);
        let mut capacity = 0;
        let mut steps = 0;
        while capacity < limit {
            capacity = grown_capacity(capacity, capacity + 1, 0, limit);
            steps += 1;
        }
        assert!(steps < 25, "{steps} reallocations for 36 MB");
    }

    #[test]
    fn a_message_within_one_step_never_holds_more_than_a_step() {
        let limit = 36 * 1024 * 1024;
        for first in [1, 100, 5_000, 16 * 1024, 80 * 1024, 300_000] {
            for read in [1_000, 16 * 1024, 65_536, 70_000, 200_000] {
                let (mut len, mut capacity) = (0, 0);
                let mut next = first;
                while len < GROWTH_STEP {
                    let target = (len + next).min(GROWTH_STEP);
                    if target > capacity {
                        capacity = grown_capacity(capacity, target, 0, limit);
                    }
                    assert!(
                        capacity <= GROWTH_STEP,
                        "{first}/{read}: {capacity} at {len}"
                    );
                    len = target;
                    next = read;
                }
            }
        }
    }

    #[test]
    fn the_rate_deadline_grows_with_what_was_received() {
        let rate = MinRate {
            bytes_per_second: 500,
            grace: Duration::from_secs(10),
            started: Instant::now(),
        };
        assert!(rate.deadline(0).unwrap() <= Duration::from_secs(10));
        assert!(rate.deadline(50_000).unwrap() > Duration::from_secs(99));
        let off = MinRate {
            bytes_per_second: 0,
            ..rate
        };
        assert_eq!(off.deadline(0), None);
    }
}
