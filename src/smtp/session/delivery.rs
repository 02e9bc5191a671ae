//! The DATA phase on the SMTP side: receive the message within the memory budget and hand it
//! to the transfer core, which judges, records, relays and answers.

use std::time::Duration;

use super::{Flow, Session};
use crate::gateway::{MemoryLease, MEMORY_UNIT};
use crate::metrics::SessionResult;
use crate::reply::replies;
use crate::smtp::connection::ConnectionError;
use crate::smtp::data::{DataFlaw, DataReader};
use crate::transfer::{Flaw, Message};

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
        let mut lease = MemoryLease::new();
        let message = match self.receive_message(&mut lease).await {
            Ok(message) => message,
            Err(end) => {
                if end == SessionResult::Timeout {
                    let host = self.hostname().to_string();
                    self.conn.queue(&replies::timeout(&host));
                }
                return Flow::Close(end);
            }
        };
        let delivery = self.transfer.deliver(&self.client, message).await;
        drop(lease);
        self.core.gateway.publish_memory();
        self.reply(delivery.reply)
    }

    /// Reads DATA up to its end. Err only when the session must end (timeout, client gone).
    /// The message buffer grows in steps that are first reserved from the memory budget, so
    /// what the budget counts is what the buffers hold.
    async fn receive_message(&mut self, lease: &mut MemoryLease) -> Result<Message, SessionResult> {
        let limits = &self.settings.config.limits;
        let wait = Duration::from_secs(self.settings.config.timeouts.data_seconds);
        let mut reader = DataReader::new(limits.max_message_size);
        let mut message = Vec::new();
        let mut memory_full = false;
        let mut expected = self.transfer.declared_size().min(limits.max_message_size);
        loop {
            let chunk = match self.conn.read_chunk(wait).await {
                Ok(chunk) if chunk.is_empty() => return Err(SessionResult::Dropped),
                Ok(chunk) => chunk,
                Err(ConnectionError::Timeout(_)) => return Err(SessionResult::Timeout),
                Err(ConnectionError::Io(_)) => return Err(SessionResult::Dropped),
            };
            let needed = message.len() + chunk.len();
            if !reader.is_discarding() && needed > message.capacity() {
                let capacity = needed
                    .max(expected)
                    .max(message.capacity().saturating_mul(2));
                let capacity = capacity
                    .min(limits.max_message_size + MEMORY_UNIT)
                    .max(needed);
                expected = 0;
                if self.core.gateway.reserve(lease, capacity) {
                    message.reserve_exact(capacity - message.len());
                } else {
                    memory_full = true;
                    reader.discard(&mut message);
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
                return Ok(Message {
                    bytes: message,
                    size: reader.size(),
                    flaw,
                });
            }
            self.conn.recycle(chunk);
        }
    }
}
