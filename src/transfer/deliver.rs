//! The end of a transaction: a received message is judged when a recipient is protected, the
//! decision written to the ledger ahead, the message relayed, the outcome recorded, and the
//! transaction summarised in one log line and the counters. Each step can only turn a would-be
//! 250 into a 4xx or 5xx.

use std::time::{Duration, Instant};

use chrono::Utc;
use tracing::{info, warn};

use super::{Client, Transaction, Transfer};
use crate::audit::{self, AuditRecipient, TransferOutcome, TransferRecord};
use crate::metrics::{NextHopError, Outcome};
use crate::policy::{self, Decision, Origin, PolicyRecipient, Verdict};
use crate::relay::{RelayError, Verified};
use crate::reply::{replies, Reply, Status};

/// How long a protected message waits for room in the memory budget before it is deferred.
const INSPECTION_MEMORY_WAIT: Duration = Duration::from_secs(10);

/// Why the SMTP side refused a message before it could be judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    /// Larger than `limits.max_message_size`.
    TooBig,
    /// A bare CR or LF in the data (SMTP smuggling).
    BareNewline,
    /// The memory budget was spent while it arrived.
    MemoryFull,
}

/// A message as the SMTP side received it: dot-unstuffed bytes, its size on the wire, and
/// what was wrong with it, if anything (then the bytes are not used).
pub struct Message {
    pub bytes: Vec<u8>,
    pub size: usize,
    pub flaw: Option<Flaw>,
}

/// The end of a transaction: the client's answer, and for protected mail what policy decided.
pub struct Delivery {
    pub reply: Reply,
    pub decision: Option<Decision>,
    /// The recipients as policy saw them (address, protecting protocol).
    pub recipients: Vec<PolicyRecipient>,
}

impl Transfer {
    /// Ends the current transaction with `message` and returns the client's answer.
    pub async fn deliver(&mut self, client: &Client, message: Message) -> Delivery {
        let Some(tx) = self.tx.take() else {
            return Delivery {
                reply: replies::bad_sequence("Error: need MAIL command"),
                decision: None,
                recipients: Vec::new(),
            };
        };
        let metrics = &self.core.gateway.metrics;
        let (reply, decision) = match message.flaw {
            Some(Flaw::TooBig) => {
                metrics.rejection("message_too_big");
                (replies::too_big(), None)
            }
            Some(Flaw::BareNewline) => {
                metrics.rejection("bare_newline");
                (replies::bare_newline(), None)
            }
            Some(Flaw::MemoryFull) => (replies::memory_full(), None),
            None => self.judge_and_relay(client, &tx, message.bytes).await,
        };
        if !reply.is_positive() {
            self.reset_next_hop().await;
        }
        let monitored = decision
            .as_ref()
            .is_some_and(|d| d.verdict == Verdict::WouldReject);
        self.log_transaction(client, &tx, &reply, message.size, monitored);
        Delivery {
            reply,
            decision,
            recipients: tx.policy_recipients(),
        }
    }

    async fn judge_and_relay(
        &mut self,
        client: &Client,
        tx: &Transaction,
        message: Vec<u8>,
    ) -> (Reply, Option<Decision>) {
        if !tx.is_protected() {
            return (self.relay(client, tx, &message).await.0, None);
        }
        let (message, decision) = match self.judge(tx, client, message).await {
            Ok(judged) => judged,
            Err(reply) => return (reply, None),
        };
        let record = self.audit_record(client, tx, &decision, message.len());
        let started = Instant::now();
        let written = self.core.ledger.record_decision(&record).await;
        let metrics = &self.core.gateway.metrics;
        metrics.observe_audit_write(started.elapsed());
        if let Err(e) = written {
            metrics.audit_error();
            warn!(id = %tx.id, error = %e, "audit store unwritable; deferring");
            return (replies::audit_unavailable(), Some(decision));
        }
        if decision.verdict == Verdict::Reject {
            for reason in &decision.reasons {
                metrics.rejection(reason.code.as_str());
            }
            let reply = refusal(&decision);
            self.audit_outcome(tx, &reply, Outcome::Rejected, None)
                .await;
            self.core.notify_refusal(tx, &decision);
            return (reply, Some(decision));
        }
        let (reply, tls_out) = self.relay(client, tx, &message).await;
        self.audit_outcome(tx, &reply, outcome_of(&reply), tls_out)
            .await;
        if decision.verdict == Verdict::WouldReject {
            warn_would_reject(tx, &decision, &reply);
        }
        (reply, Some(decision))
    }

    /// Sends the message on; returns the client's answer and the outbound TLS in use.
    async fn relay(
        &mut self,
        client: &Client,
        tx: &Transaction,
        message: &[u8],
    ) -> (Reply, Option<String>) {
        let trace = trace_header(client, tx);
        let started = Instant::now();
        let sent = match self.hop.as_mut() {
            Some((hop, _)) => hop.data(trace.as_bytes(), message).await,
            None => Err(RelayError::Closed),
        };
        self.core
            .gateway
            .metrics
            .observe_next_hop(started.elapsed());
        let tls_out = self.hop.as_ref().and_then(|(hop, _)| hop.tls_info());
        // Over MX delivery the record also says how the receiving server was verified.
        let tls_out = match tx.mx_peer() {
            Some(peer) => Some(format!(
                "{} verified={}",
                tls_out.as_deref().unwrap_or("none"),
                peer.verified.as_str()
            )),
            None => tls_out,
        };
        let reply = match sent {
            Ok(reply) => {
                self.next_hop_answered(&reply);
                reply
            }
            Err(e) => {
                warn!(id = %tx.id, error = %e, "next hop failed during data");
                self.core.next_hop_failed(&e);
                self.hop = None;
                replies::next_hop_lost()
            }
        };
        (reply, tls_out)
    }

    /// Runs the policy off the async runtime, within an inspection permit. Err carries the
    /// reply when judging failed.
    async fn judge(
        &self,
        tx: &Transaction,
        client: &Client,
        message: Vec<u8>,
    ) -> Result<(Vec<u8>, Decision), Reply> {
        let settings = tx.settings.clone();
        let recipients = tx.policy_recipients();
        let origin = Origin {
            sender: tx.sender.as_ref().map(|s| s.canonical()),
            auth_user: client.auth_user.clone(),
        };
        // Protocols are in force by local calendar days.
        let today = self
            .core
            .judge_on
            .unwrap_or_else(|| chrono::Local::now().date_naive());
        let gateway = &self.core.gateway;
        // Inspection's working memory (MIME tree, decoded parts, the archive) comes from the
        // same budget as the buffers, reserved before it runs and held until the verdict.
        let factor = settings.config.limits.inspection_memory_factor;
        let working = message.len().saturating_mul(factor);
        let Some(reservation) = gateway
            .reserve_within(working, INSPECTION_MEMORY_WAIT)
            .await
        else {
            warn!(id = %tx.id, bytes = working, "no room in the memory budget to inspect; deferring");
            return Err(replies::memory_full());
        };
        let started = Instant::now();
        let permit = gateway.inspection_permit().await;
        let job = tokio::task::spawn_blocking(move || {
            let _held = (permit, reservation);
            let decision = policy::evaluate_envelope(
                &settings.registry,
                &origin,
                &recipients,
                &message,
                today,
            );
            (message, decision)
        });
        let judged = job.await;
        gateway.metrics.observe_inspection(started.elapsed());
        judged.map_err(|e| {
            // A panic's message can quote the text it was working on: never log it.
            let kind = if e.is_panic() { "panic" } else { "cancelled" };
            warn!(id = %tx.id, kind, "inspection failed; deferring");
            replies::local_error()
        })
    }

    fn audit_record(
        &self,
        client: &Client,
        tx: &Transaction,
        decision: &Decision,
        size: usize,
    ) -> TransferRecord {
        TransferRecord {
            id: tx.id.clone(),
            instance: tx.settings.config.instance_name().to_string(),
            received_at: tx.received_at,
            decided_at: Utc::now(),
            client_address: client.address.ip().to_string(),
            helo: client.helo.clone().unwrap_or_default(),
            auth_user: client.auth_user.clone(),
            tls_in: client.tls.clone(),
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
            verdict: decision.verdict,
            reasons: decision.reasons.iter().map(|r| r.code).collect(),
            next_hop: match tx.mx_peer() {
                Some(peer) => format!("{}[{}]", peer.host, peer.address),
                None => tx.settings.relay.next_hop.to_string(),
            },
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
            outcome: match outcome {
                // The audit's decision says `would_reject`; the outcome what the client heard.
                Outcome::Relayed | Outcome::WouldReject => audit::Outcome::Relayed,
                Outcome::Rejected => audit::Outcome::Rejected,
                Outcome::Deferred => audit::Outcome::Deferred,
            },
            tls_out,
        };
        if let Err(e) = self.core.ledger.record_outcome(&tx.id, &outcome).await {
            self.core.gateway.metrics.audit_error();
            // The client's answer is already decided; the record stays incomplete and reports say so.
            warn!(id = %tx.id, error = %e, "audit outcome not recorded; record left incomplete");
        }
    }

    /// The transaction's one summary line and its counters. `monitored`: policy's verdict was
    /// `would_reject`, so a relayed message counts as `outcome="would_reject"`.
    fn log_transaction(
        &self,
        client: &Client,
        tx: &Transaction,
        reply: &Reply,
        size: usize,
        monitored: bool,
    ) {
        let class = tx.class();
        let outcome = match outcome_of(reply) {
            Outcome::Relayed if monitored => Outcome::WouldReject,
            outcome => outcome,
        };
        let metrics = &self.core.gateway.metrics;
        metrics.message(class, outcome);
        metrics.observe_message_size(size);
        metrics.observe_transaction(tx.started.elapsed());
        let verified = tx.peer.as_ref().map_or(Verified::Plaintext, |p| p.verified);
        if matches!(outcome, Outcome::Relayed | Outcome::WouldReject) {
            metrics.delivery(tx.route_label(), verified.as_str());
        }
        let (mx_host, mx_address) = match tx.mx_peer() {
            Some(peer) => (peer.host.as_str(), peer.address.to_string()),
            None => ("", String::new()),
        };
        info!(
            id = %tx.id,
            client = %client.address.ip(),
            from = %tx.sender_text(),
            nrcpt = tx.recipients.len(),
            size,
            class = class.as_str(),
            outcome = outcome.as_str(),
            elapsed_ms = tx.started.elapsed().as_millis() as u64,
            reply = %reply.summary(),
            route = tx.route_label(),
            mx_host,
            mx_address = %mx_address,
            tls_verified = verified.as_str(),
            "transaction"
        );
    }

    /// The next hop answered the end of data: it is up, whatever it said.
    fn next_hop_answered(&self, reply: &Reply) {
        let gateway = &self.core.gateway;
        gateway.health.next_hop_succeeded();
        if reply.code >= 500 {
            gateway.metrics.next_hop_error(NextHopError::Reply5xx);
        } else if reply.code >= 400 {
            gateway.metrics.next_hop_error(NextHopError::Reply4xx);
        }
    }
}

/// The warning for every message a protocol in monitor mode let through: metadata only (the
/// transaction id, the protocols, the reason codes, the next hop's reply code), never a word
/// of the message.
fn warn_would_reject(tx: &Transaction, decision: &Decision, reply: &Reply) {
    let mut protocols: Vec<&str> = tx
        .recipients
        .iter()
        .filter_map(|r| r.protocol.as_deref())
        .collect();
    protocols.sort_unstable();
    protocols.dedup();
    let reasons = decision
        .reasons
        .iter()
        .map(|r| r.code.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    warn!(
        id = %tx.id,
        protocols = %protocols.join(" "),
        reasons = %reasons,
        reply_code = reply.code,
        "monitor mode: protected message breaks the protocol's rules; relayed, recorded as would_reject"
    );
}

/// The reply for a refused message, from policy's code, enhanced code and text lines.
fn refusal(decision: &Decision) -> Reply {
    let (code, status, lines) = policy::reject_reply(decision);
    Reply::multiline(
        code,
        Status(status[0], status[1].into(), status[2].into()),
        lines,
    )
}

fn outcome_of(reply: &Reply) -> Outcome {
    if reply.is_positive() {
        Outcome::Relayed
    } else if reply.is_transient() {
        Outcome::Deferred
    } else {
        Outcome::Rejected
    }
}

/// The `Received:` header sealgate prepends (unless `smtp.received_header = false`).
fn trace_header(client: &Client, tx: &Transaction) -> String {
    let smtp = &tx.settings.config.smtp;
    if !smtp.received_header {
        return String::new();
    }
    let protocol = match (
        client.esmtp,
        client.tls.is_some(),
        client.auth_user.is_some(),
    ) {
        (false, _, _) => "SMTP",
        (true, false, false) => "ESMTP",
        (true, true, false) => "ESMTPS",
        (true, false, true) => "ESMTPA",
        (true, true, true) => "ESMTPSA",
    };
    let tls = client
        .tls
        .as_ref()
        .map(|t| format!("\r\n\t(using {t})"))
        .unwrap_or_default();
    format!(
        "Received: from {} ([{}])\r\n\tby {} (sealgate) with {} id {}{};\r\n\t{}\r\n",
        client.helo.as_deref().unwrap_or("unknown"),
        client.address.ip(),
        smtp.hostname,
        protocol,
        tx.id,
        tls,
        Utc::now().to_rfc2822()
    )
}
