//! The DATA phase of a transaction: receive the message within the memory budget, judge it
//! when a recipient is protected, write the audit record ahead, relay it, and give the client
//! the next hop's answer. Each step can only turn a would-be 250 into a 4xx or 5xx.

use std::time::{Duration, Instant};

use chrono::Utc;
use tracing::{info, warn};

use super::{outcome_of, Flow, Refusal, Session, Transaction};
use crate::audit::{AuditRecipient, TransferOutcome, TransferRecord};
use crate::gateway::{MemoryLease, MEMORY_UNIT};
use crate::metrics::{Outcome, SessionResult};
use crate::policy::{self, PolicyRecipient, Verdict};
use crate::relay::RelayError;
use crate::smtp::connection::ConnectionError;
use crate::smtp::data::{DataFlaw, DataReader};
use crate::smtp::reply::{replies, Reply, Status};

impl Session {
    pub(super) async fn data(&mut self) -> Flow {
        let Some(tx) = self.tx.take() else {
            return self.error(replies::bad_sequence("Error: need MAIL command"));
        };
        if tx.recipients.is_empty() {
            self.tx = Some(tx);
            return self.error(replies::no_valid_recipients());
        }
        self.conn.queue(&replies::start_data());
        if self.conn.flush().await.is_err() {
            return Flow::Close(SessionResult::Dropped);
        }
        let mut lease = MemoryLease::new();
        let received = self.receive_message(&mut lease, tx.declared_size).await;
        let (message, size, flaw) = match received {
            Ok(received) => received,
            Err(end) => {
                self.tx = Some(tx);
                if end == SessionResult::Timeout {
                    let host = self.hostname().to_string();
                    self.conn.queue(&replies::timeout(&host));
                }
                return Flow::Close(end);
            }
        };
        let reply = match flaw {
            Some(Refusal::TooBig) => {
                self.gateway.metrics.rejection("message_too_big");
                replies::too_big()
            }
            Some(Refusal::BareNewline) => {
                self.gateway.metrics.rejection("bare_newline");
                replies::bare_newline()
            }
            Some(Refusal::MemoryFull) => replies::memory_full(),
            None => self.deliver(&tx, message).await,
        };
        drop(lease);
        if !reply.is_positive() {
            self.reset_next_hop().await;
        }
        self.log_transaction(&tx, &reply, size);
        self.gateway.publish_memory();
        self.reply(reply)
    }

    /// Reads DATA up to its end. Err only when the session must end (timeout, client gone).
    /// The message buffer grows in steps that are first reserved from the memory budget, so
    /// what the budget counts is what the buffers hold.
    async fn receive_message(
        &mut self,
        lease: &mut MemoryLease,
        declared_size: usize,
    ) -> Result<(Vec<u8>, usize, Option<Refusal>), SessionResult> {
        let limits = &self.settings.config.limits;
        let wait = Duration::from_secs(self.settings.config.timeouts.data_seconds);
        let mut reader = DataReader::new(limits.max_message_size);
        let mut message = Vec::new();
        let mut memory_full = false;
        let mut expected = declared_size.min(limits.max_message_size);
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
                if self.gateway.reserve(lease, capacity) {
                    message.reserve_exact(capacity - message.len());
                } else {
                    memory_full = true;
                    reader.discard(&mut message);
                }
            }
            if let Some(end) = reader.feed(&chunk, &mut message) {
                self.conn.unread(&chunk[end..]);
                let refusal = match reader.flaw() {
                    Some(DataFlaw::TooBig) => Some(Refusal::TooBig),
                    Some(DataFlaw::BareNewline) => Some(Refusal::BareNewline),
                    None if memory_full => Some(Refusal::MemoryFull),
                    None => None,
                };
                return Ok((message, reader.size(), refusal));
            }
            self.conn.recycle(chunk);
        }
    }

    /// Judges, records and relays a complete message; returns the reply for the client.
    async fn deliver(&mut self, tx: &Transaction, message: Vec<u8>) -> Reply {
        let protected = tx.is_protected();
        let (message, decision) = if protected {
            match self.judge(tx, message).await {
                Ok((message, decision)) => (message, Some(decision)),
                Err(reply) => return reply,
            }
        } else {
            (message, None)
        };
        if let Some(decision) = &decision {
            let record = self.audit_record(tx, decision, message.len());
            let started = Instant::now();
            let written = self.gateway.audit.record_decision(&record).await;
            self.gateway.metrics.observe_audit_write(started.elapsed());
            if let Err(e) = written {
                self.gateway.metrics.audit_error();
                warn!(id = %tx.id, error = %e, "audit store unwritable; deferring");
                return replies::audit_unavailable();
            }
            if decision.verdict == Verdict::Reject {
                for reason in &decision.reasons {
                    self.gateway.metrics.rejection(&reason.code);
                }
                let (code, status, lines) = policy::reject_reply(decision);
                let reply = Reply::multiline(
                    code,
                    Status(status[0], status[1].into(), status[2].into()),
                    lines,
                );
                self.audit_outcome(tx, &reply, Outcome::Rejected, None)
                    .await;
                return reply;
            }
        }
        let trace = self.trace_header(tx);
        let relay = self.settings.relay.clone();
        let started = Instant::now();
        let sent = match self.next_hop.as_mut() {
            Some(hop) => hop.send_message(trace.as_bytes(), &message, &relay).await,
            None => Err(RelayError::Closed),
        };
        self.gateway.metrics.observe_next_hop(started.elapsed());
        let tls_out = self
            .next_hop
            .as_ref()
            .and_then(|h| h.tls_info().map(str::to_string));
        let reply = match sent {
            Ok(reply) => {
                self.next_hop_answered(&reply);
                reply
            }
            Err(e) => {
                warn!(id = %tx.id, error = %e, "next hop failed during data");
                self.next_hop_failed(&e);
                self.next_hop = None;
                replies::next_hop_lost()
            }
        };
        if protected {
            self.audit_outcome(tx, &reply, outcome_of(&reply), tls_out)
                .await;
        }
        reply
    }

    /// Runs the policy off the async runtime. Err carries the reply when judging failed.
    async fn judge(
        &self,
        tx: &Transaction,
        message: Vec<u8>,
    ) -> Result<(Vec<u8>, policy::Decision), Reply> {
        let settings = self.settings.clone();
        let recipients: Vec<PolicyRecipient> = tx
            .recipients
            .iter()
            .map(|r| PolicyRecipient {
                address: r.canonical.clone(),
                protocol: r.protocol.clone(),
            })
            .collect();
        // Protocols are in force by local calendar days, as `sealgate check` judges them.
        let today = chrono::Local::now().date_naive();
        let started = Instant::now();
        let permit = self.gateway.inspection_permit().await;
        let job = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let decision = policy::evaluate(&settings.registry, &recipients, &message, today);
            (message, decision)
        });
        let judged = job.await;
        self.gateway.metrics.observe_inspection(started.elapsed());
        match judged {
            Ok(judged) => Ok(judged),
            Err(e) => {
                // Not `%e`: a panic's message can quote the text it was working on.
                let error = if e.is_panic() { "panic" } else { "cancelled" };
                warn!(id = %tx.id, error, "inspection failed; deferring");
                Err(replies::local_error())
            }
        }
    }

    fn audit_record(
        &self,
        tx: &Transaction,
        decision: &policy::Decision,
        size: usize,
    ) -> TransferRecord {
        TransferRecord {
            id: tx.id.clone(),
            instance: self.settings.config.instance_name().to_string(),
            received_at: tx.received_at,
            decided_at: Utc::now(),
            client_address: self.client.ip().to_string(),
            helo: self.helo.clone().unwrap_or_default(),
            auth_user: self.auth_user.clone(),
            tls_in: self.tls_info.clone(),
            sender: tx.sender_text(),
            recipients: tx
                .recipients
                .iter()
                .map(|r| AuditRecipient {
                    address: r.address.to_smtp(),
                    protocol: r.protocol.clone(),
                })
                .collect(),
            message_id: decision.message_id.clone(),
            size: size as u64,
            archives: decision.archives.clone(),
            verdict: match decision.verdict {
                Verdict::Pass => "pass".into(),
                Verdict::Reject => "reject".into(),
            },
            reasons: decision.reasons.iter().map(|r| r.code.clone()).collect(),
            next_hop: self.settings.relay.next_hop.to_string(),
        }
    }

    async fn audit_outcome(
        &self,
        tx: &Transaction,
        reply: &Reply,
        outcome: Outcome,
        tls_out: Option<String>,
    ) {
        let outcome = TransferOutcome {
            answered_at: Utc::now(),
            reply_code: reply.code,
            reply_text: reply.summary(),
            outcome: outcome.as_str().to_string(),
            tls_out,
        };
        if let Err(e) = self.gateway.audit.record_outcome(&tx.id, &outcome).await {
            self.gateway.metrics.audit_error();
            // The client's answer is already decided; the record stays incomplete and reports say so.
            warn!(id = %tx.id, error = %e, "audit outcome not recorded; record left incomplete");
        }
    }

    fn trace_header(&self, tx: &Transaction) -> String {
        if !self.settings.config.smtp.received_header {
            return String::new();
        }
        let protocol = match (self.esmtp, self.conn.is_tls(), self.auth_user.is_some()) {
            (false, _, _) => "SMTP",
            (true, false, false) => "ESMTP",
            (true, true, false) => "ESMTPS",
            (true, false, true) => "ESMTPA",
            (true, true, true) => "ESMTPSA",
        };
        let tls = self
            .tls_info
            .as_ref()
            .map(|t| format!("\r\n\t(using {t})"))
            .unwrap_or_default();
        format!(
            "Received: from {} ([{}])\r\n\tby {} (sealgate) with {} id {}{};\r\n\t{}\r\n",
            self.helo.as_deref().unwrap_or("unknown"),
            self.client.ip(),
            self.hostname(),
            protocol,
            tx.id,
            tls,
            Utc::now().to_rfc2822()
        )
    }

    /// The transaction's one summary line and its counters.
    fn log_transaction(&self, tx: &Transaction, reply: &Reply, size: usize) {
        let class = tx.class();
        let outcome = outcome_of(reply);
        let metrics = &self.gateway.metrics;
        metrics.message(class, outcome);
        metrics.observe_message_size(size);
        metrics.observe_transaction(tx.started.elapsed());
        info!(
            id = %tx.id,
            client = %self.client.ip(),
            from = %tx.sender_text(),
            nrcpt = tx.recipients.len(),
            size,
            class = class.as_str(),
            outcome = outcome.as_str(),
            elapsed_ms = tx.started.elapsed().as_millis() as u64,
            reply = %reply.summary(),
            "transaction"
        );
    }

    pub(super) fn next_hop_failed(&self, error: &RelayError) {
        self.gateway.metrics.next_hop_error(error.kind());
        if !matches!(error, RelayError::Refused { .. }) {
            self.gateway.health.next_hop_failed();
        }
    }

    /// The next hop answered the end of data: it is up, whatever it said.
    fn next_hop_answered(&self, reply: &Reply) {
        self.gateway.health.next_hop_succeeded();
        if reply.code >= 500 {
            self.gateway
                .metrics
                .next_hop_error(crate::metrics::NextHopError::Reply5xx);
        } else if reply.code >= 400 {
            self.gateway
                .metrics
                .next_hop_error(crate::metrics::NextHopError::Reply4xx);
        }
    }
}
