//! One inbound SMTP session: the ESMTP state machine of a before-queue proxy.
//!
//! The envelope is forwarded to the next hop as it arrives and the next hop's replies are
//! mirrored, so the client learns of a refused recipient at RCPT time. The message is held in
//! memory (within the budget) until its end, judged, recorded, and only then sent on; the client
//! hears 250 only after the next hop said 250. Every failure on the way is a 4xx.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use smtp_proto::{Request, MAIL_BODY_8BITMIME, MAIL_SMTPUTF8};
use tracing::{info, warn};

use super::connection::{Connection, ConnectionError, Line};
use super::data::{DataFlaw, DataReader};
use super::reply::{replies, Reply, Status};
use crate::audit::{AuditRecipient, TransferOutcome, TransferRecord};
use crate::envelope::{has_source_route, Address, CanonicalAddress};
use crate::gateway::{Gateway, MemoryLease, Settings, MEMORY_UNIT};
use crate::metrics::{Direction, MessageClass, Outcome, SessionResult};
use crate::policy::{self, PolicyRecipient, Verdict};
use crate::relay::{NextHopClient, RelayError};

struct Recipient {
    address: Address,
    canonical: CanonicalAddress,
    protocol: Option<String>,
}

struct Transaction {
    id: String,
    received_at: DateTime<Utc>,
    started: Instant,
    sender: Option<Address>,
    /// The client's `SIZE=` estimate, 0 when not given.
    declared_size: usize,
    recipients: Vec<Recipient>,
}

impl Transaction {
    fn is_protected(&self) -> bool {
        self.recipients.iter().any(|r| r.protocol.is_some())
    }

    fn class(&self) -> MessageClass {
        if self.is_protected() {
            MessageClass::Protected
        } else {
            MessageClass::Ordinary
        }
    }

    fn sender_text(&self) -> String {
        self.sender
            .as_ref()
            .map(Address::to_smtp)
            .unwrap_or_default()
    }
}

/// What the session does after a command.
enum Flow {
    Continue,
    Close(SessionResult),
}

pub struct Session {
    gateway: Arc<Gateway>,
    settings: Arc<Settings>,
    conn: Connection,
    client: SocketAddr,
    helo: Option<String>,
    esmtp: bool,
    tls_info: Option<String>,
    auth_user: Option<String>,
    errors: u32,
    tx: Option<Transaction>,
    next_hop: Option<NextHopClient>,
}

impl Session {
    pub fn new(gateway: Arc<Gateway>, conn: Connection, client: SocketAddr) -> Session {
        let settings = gateway.settings();
        Session {
            gateway,
            settings,
            conn,
            client,
            helo: None,
            esmtp: false,
            tls_info: None,
            auth_user: None,
            errors: 0,
            tx: None,
            next_hop: None,
        }
    }

    fn hostname(&self) -> &str {
        &self.settings.config.smtp.hostname
    }

    pub async fn run(mut self) -> SessionResult {
        let end = self.serve().await;
        if let Some(hop) = self.next_hop.take() {
            hop.quit(Duration::from_secs(5)).await;
        }
        self.conn.shutdown().await;
        end
    }

    async fn serve(&mut self) -> SessionResult {
        let host = self.hostname().to_string();
        // A client that talks before the greeting is not an MTA (Postfix: pre-greet test).
        if self.conn.has_pending_input() {
            warn!(client = %self.client, "client sent data before the greeting; dropped");
            return SessionResult::Dropped;
        }
        self.conn
            .queue(&Reply::plain(220, vec![format!("{host} ESMTP sealgate")]));
        let mut shutdown = self.gateway.shutdown_signal();
        loop {
            if self.conn.flush_if_idle().await.is_err() {
                return SessionResult::Dropped;
            }
            let limits = &self.settings.config.limits;
            let wait = Duration::from_secs(self.settings.config.timeouts.command_seconds);
            let line = tokio::select! {
                line = self.conn.read_line(limits.max_command_line, wait) => Some(line),
                _ = crate::gateway::shutting_down(&mut shutdown) => None,
            };
            let Some(line) = line else {
                self.abandon_transaction().await;
                self.reply_and_close(replies::shutting_down(&host)).await;
                return SessionResult::Shutdown;
            };
            let flow = match line {
                Ok(Line::Complete(line)) => self.command(&line).await,
                Ok(Line::TooLong) => self.error(replies::line_too_long()),
                Ok(Line::Closed) => Flow::Close(SessionResult::Dropped),
                Err(ConnectionError::Timeout(_)) => {
                    self.reply_and_close(replies::timeout(&host)).await;
                    Flow::Close(SessionResult::Timeout)
                }
                Err(ConnectionError::Io(_)) => Flow::Close(SessionResult::Dropped),
            };
            if let Flow::Close(end) = flow {
                self.abandon_transaction().await;
                let _ = self.conn.flush().await;
                return end;
            }
        }
    }

    async fn reply_and_close(&mut self, reply: Reply) {
        self.conn.queue(&reply);
        let _ = self.conn.flush().await;
    }

    /// Counts a client error; too many close the session.
    fn error(&mut self, reply: Reply) -> Flow {
        self.errors += 1;
        self.conn.queue(&reply);
        if self.errors >= self.settings.config.limits.max_errors {
            let host = self.hostname().to_string();
            self.conn.queue(&replies::too_many_errors(&host));
            warn!(client = %self.client, errors = self.errors, "too many errors; session closed");
            return Flow::Close(SessionResult::Error);
        }
        Flow::Continue
    }

    fn reply(&mut self, reply: Reply) -> Flow {
        self.conn.queue(&reply);
        Flow::Continue
    }

    /// A refusal that is also a client error, counted under `reason`.
    fn refuse(&mut self, reason: &str, reply: Reply) -> Flow {
        self.gateway.metrics.rejection(reason);
        self.error(reply)
    }

    async fn command(&mut self, line: &[u8]) -> Flow {
        if super::proxy::looks_like_header(line) {
            warn!(client = %self.client, "PROXY header from a peer not in smtp.proxy_protocol_from; connection closed");
            return Flow::Close(SessionResult::Error);
        }
        // smtp-proto drops source routes silently; they must be refused, not ignored.
        if has_source_route(line) {
            return self.refuse(
                "bad_address",
                replies::bad_address("source routes (<@host:user@domain>) are not accepted"),
            );
        }
        let request = match Request::parse(&mut line.iter()) {
            Ok(request) => request.into_owned(),
            Err(smtp_proto::Error::UnknownCommand) => {
                return self.refuse("syntax", replies::unknown_command())
            }
            Err(smtp_proto::Error::InvalidSenderAddress) => {
                return self.refuse("bad_address", replies::bad_sender("invalid syntax"))
            }
            Err(smtp_proto::Error::InvalidRecipientAddress) => {
                return self.refuse("bad_address", replies::bad_address("invalid syntax"))
            }
            Err(e) => {
                return self.refuse(
                    "syntax",
                    replies::syntax(&format!("Syntax error: {}", describe_parse_error(&e))),
                )
            }
        };
        match request {
            Request::Ehlo { host } => self.hello(host, true).await,
            Request::Helo { host } => self.hello(host, false).await,
            Request::Mail { from } => self.mail(from).await,
            Request::Rcpt { to } => self.rcpt(to).await,
            Request::Data => self.data().await,
            Request::Rset => {
                self.abandon_transaction().await;
                self.reply(replies::ok("Ok"))
            }
            Request::Noop { .. } => self.reply(replies::ok("Ok")),
            Request::Vrfy { .. } => self.reply(replies::vrfy()),
            Request::Help { .. } => self.reply(Reply::new(
                214,
                Status(2, 0, 0),
                "See RFC 5321; sealgate relays for the agency's mail servers",
            )),
            Request::Quit => {
                self.conn.queue(&replies::bye());
                Flow::Close(SessionResult::Completed)
            }
            Request::StartTls => self.start_tls().await,
            Request::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, initial_response).await,
            Request::Lhlo { .. } => self.error(replies::unknown_command()),
            Request::Bdat { .. } => {
                self.error(replies::not_implemented("Error: CHUNKING is not offered"))
            }
            Request::Expn { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => {
                self.error(replies::not_implemented("Error: command not implemented"))
            }
        }
    }

    async fn hello(&mut self, host: String, esmtp: bool) -> Flow {
        if host.is_empty() {
            return self.error(replies::syntax("Syntax: EHLO hostname"));
        }
        self.abandon_transaction().await;
        self.helo = Some(sanitize_helo(&host));
        self.esmtp = esmtp;
        let name = self.hostname().to_string();
        if !esmtp {
            return self.reply(Reply::plain(250, vec![name]));
        }
        let mut lines = vec![
            name,
            format!("SIZE {}", self.settings.config.limits.max_message_size),
            "8BITMIME".into(),
            "PIPELINING".into(),
            "ENHANCEDSTATUSCODES".into(),
            "SMTPUTF8".into(),
        ];
        if self.settings.tls.is_some() && !self.conn.is_tls() {
            lines.push("STARTTLS".into());
        }
        if self.conn.is_tls()
            && !self.settings.config.access.users.is_empty()
            && self.auth_user.is_none()
        {
            lines.push("AUTH PLAIN LOGIN".into());
        }
        lines.push("HELP".into());
        self.reply(Reply::plain(250, lines))
    }

    fn authorized(&self) -> bool {
        self.auth_user.is_some()
            || self
                .settings
                .config
                .access
                .client_networks
                .iter()
                .any(|net| net.contains(&self.client.ip()))
    }

    async fn mail(&mut self, from: smtp_proto::MailFrom<String>) -> Flow {
        if self.helo.is_none() {
            return self.error(replies::bad_sequence("Error: send HELO/EHLO first"));
        }
        if self.settings.config.smtp.require_tls && !self.conn.is_tls() {
            return self.error(replies::need_tls());
        }
        if self.tx.is_some() {
            return self.error(replies::bad_sequence("Error: nested MAIL command"));
        }
        let sender = if from.address.is_empty() {
            None
        } else {
            match Address::parse(&from.address) {
                Ok(address) => Some(address),
                Err(e) => return self.refuse("bad_address", replies::bad_sender(&e.to_string())),
            }
        };
        if from.size > self.settings.config.limits.max_message_size {
            self.gateway.metrics.rejection("message_too_big");
            return self.reply(replies::too_big());
        }
        let tx = Transaction {
            id: transaction_id(),
            received_at: Utc::now(),
            started: Instant::now(),
            sender,
            declared_size: from.size,
            recipients: Vec::new(),
        };
        // Unauthorized clients get their refusal at RCPT, without costing a next-hop connection.
        if !self.authorized() {
            self.tx = Some(tx);
            return self.reply(Reply::new(250, Status(2, 1, 0), "Ok"));
        }
        let reply = match self.forward_mail(&tx, &from).await {
            Ok(reply) => reply,
            Err(e) => {
                warn!(id = %tx.id, client = %self.client, error = %e, "next hop unavailable at MAIL");
                self.next_hop_failed(&e);
                replies::next_hop_unavailable()
            }
        };
        if reply.is_positive() {
            self.tx = Some(tx);
        }
        self.reply(reply)
    }

    /// Opens (or reuses) the next-hop connection and forwards MAIL FROM.
    async fn forward_mail(
        &mut self,
        tx: &Transaction,
        from: &smtp_proto::MailFrom<String>,
    ) -> Result<Reply, RelayError> {
        let relay = &self.settings.relay;
        if let Some(mut hop) = self.next_hop.take() {
            // A kept connection may have been closed by the next hop meanwhile: probe it.
            if hop
                .command("NOOP\r\n", relay.command_timeout, "NOOP")
                .await
                .is_ok()
            {
                self.next_hop = Some(hop);
            }
        }
        if self.next_hop.is_none() {
            let hop = NextHopClient::connect(relay).await?;
            if let Some(version) = hop.tls_version() {
                self.gateway
                    .metrics
                    .tls_session(Direction::Outbound, Some(version));
            }
            self.next_hop = Some(hop);
        }
        let Some(hop) = self.next_hop.as_mut() else {
            return Err(RelayError::Closed);
        };
        let mut command = format!("MAIL FROM:<{}>", tx.sender_text());
        if from.size > 0 && hop.supports_size() {
            command.push_str(&format!(" SIZE={}", from.size));
        }
        if from.flags & MAIL_BODY_8BITMIME != 0 && hop.supports_8bitmime() {
            command.push_str(" BODY=8BITMIME");
        }
        if from.flags & MAIL_SMTPUTF8 != 0 && hop.supports_smtputf8() {
            command.push_str(" SMTPUTF8");
        }
        command.push_str("\r\n");
        let result = hop.mail_from(&command, relay.command_timeout).await;
        if result.is_err() {
            self.next_hop = None;
        }
        result
    }

    async fn rcpt(&mut self, to: smtp_proto::RcptTo<String>) -> Flow {
        let Some(recipient_count) = self.tx.as_ref().map(|tx| tx.recipients.len()) else {
            return self.error(replies::bad_sequence("Error: need MAIL command"));
        };
        let address = match Address::parse(&to.address) {
            Ok(address) => address,
            Err(e) => return self.refuse("bad_address", replies::bad_address(&e.to_string())),
        };
        if !self.authorized() {
            warn!(client = %self.client, rcpt = %address, "relay access denied");
            return self.refuse("relay_denied", replies::relay_denied());
        }
        if recipient_count >= self.settings.config.limits.max_recipients {
            self.gateway.metrics.rejection("too_many_recipients");
            return self.reply(replies::too_many_recipients());
        }
        let canonical = address.canonical();
        let protocol = self
            .settings
            .registry
            .protocol_for(&canonical)
            .map(|p| p.id.clone());
        let relay = &self.settings.relay;
        let reply = match self.next_hop.as_mut() {
            Some(hop) => {
                hop.command(
                    &format!("RCPT TO:<{}>\r\n", address.to_smtp()),
                    relay.command_timeout,
                    "RCPT",
                )
                .await
            }
            None => Err(RelayError::Closed),
        };
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) => {
                warn!(client = %self.client, error = %e, "next hop lost at RCPT");
                self.next_hop_failed(&e);
                self.next_hop = None;
                self.tx = None;
                return self.reply(replies::next_hop_lost());
            }
        };
        if reply.is_positive() {
            if let Some(tx) = self.tx.as_mut() {
                tx.recipients.push(Recipient {
                    address,
                    canonical,
                    protocol,
                });
            }
        }
        self.reply(reply)
    }

    async fn data(&mut self) -> Flow {
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
                let (code, status, lines) =
                    policy::reject_reply(decision, &self.settings.config.policy);
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
        let today = Utc::now().date_naive();
        let started = Instant::now();
        let job = tokio::task::spawn_blocking(move || {
            let decision = policy::evaluate(&settings.registry, &recipients, &message, today);
            (message, decision)
        });
        let judged = job.await;
        self.gateway.metrics.observe_inspection(started.elapsed());
        match judged {
            Ok(judged) => Ok(judged),
            Err(e) => {
                warn!(id = %tx.id, error = %e, "inspection failed; deferring");
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

    fn next_hop_failed(&self, error: &RelayError) {
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

    async fn reset_next_hop(&mut self) {
        let wait = self.settings.relay.command_timeout;
        if let Some(hop) = self.next_hop.as_mut() {
            if hop.reset(wait).await.is_err() {
                self.next_hop = None;
            }
        }
    }

    async fn abandon_transaction(&mut self) {
        if self.tx.take().is_some() {
            self.reset_next_hop().await;
        }
    }

    async fn start_tls(&mut self) -> Flow {
        let Some(acceptor) = self.settings.tls.clone() else {
            return self.error(replies::not_implemented("Error: STARTTLS is not offered"));
        };
        if self.conn.is_tls() {
            return self.error(replies::bad_sequence("Error: TLS already active"));
        }
        self.conn.queue(&replies::start_tls());
        if self.conn.flush().await.is_err() {
            return Flow::Close(SessionResult::Dropped);
        }
        let wait = Duration::from_secs(self.settings.config.timeouts.command_seconds);
        match self.conn.start_tls(&acceptor, wait).await {
            Ok((info, version)) => {
                self.gateway
                    .metrics
                    .tls_session(Direction::Inbound, version);
                self.tls_info = Some(info);
                // RFC 3207: the session starts over, without the old HELO.
                self.helo = None;
                self.esmtp = false;
                self.tx = None;
                Flow::Continue
            }
            Err(e) => {
                warn!(client = %self.client, error = %e, "TLS handshake failed");
                Flow::Close(SessionResult::Error)
            }
        }
    }

    async fn auth(&mut self, mechanism: u64, initial: String) -> Flow {
        if self.settings.config.access.users.is_empty() {
            return self.error(replies::not_implemented(
                "Error: authentication not enabled",
            ));
        }
        if !self.conn.is_tls() {
            return self.error(replies::auth_needs_tls());
        }
        if self.auth_user.is_some() || self.tx.is_some() {
            return self.error(replies::bad_sequence(
                "Error: already authenticated or in a transaction",
            ));
        }
        let credentials = match mechanism {
            smtp_proto::AUTH_PLAIN => self.auth_plain(initial).await,
            smtp_proto::AUTH_LOGIN => self.auth_login(initial).await,
            _ => {
                return self.error(Reply::new(
                    504,
                    Status(5, 5, 4),
                    "Unrecognized authentication type",
                ))
            }
        };
        let Some((user, password)) = credentials else {
            return self.error(Reply::new(501, Status(5, 5, 2), "Cannot decode response"));
        };
        let users = self.settings.config.access.users.clone();
        let name = user.clone();
        let verified =
            tokio::task::spawn_blocking(move || super::auth::verify(&users, &name, &password))
                .await
                .unwrap_or(false);
        if verified {
            info!(client = %self.client, user = %user, "authenticated");
            self.auth_user = Some(user);
            self.reply(replies::auth_ok())
        } else {
            warn!(client = %self.client, user = %user, "authentication failed");
            self.error(replies::auth_failed())
        }
    }

    async fn auth_plain(&mut self, initial: String) -> Option<(String, String)> {
        let response = if initial.is_empty() {
            self.challenge("").await?
        } else {
            initial
        };
        super::auth::decode_plain(&response)
    }

    async fn auth_login(&mut self, initial: String) -> Option<(String, String)> {
        use base64::Engine;
        let user = if initial.is_empty() {
            self.challenge(&base64::engine::general_purpose::STANDARD.encode("Username:"))
                .await?
        } else {
            initial
        };
        let password = self
            .challenge(&base64::engine::general_purpose::STANDARD.encode("Password:"))
            .await?;
        Some((
            super::auth::decode_text(&user)?,
            super::auth::decode_text(&password)?,
        ))
    }

    async fn challenge(&mut self, text: &str) -> Option<String> {
        // 334 carries no enhanced status code (RFC 2034 covers only final replies).
        self.conn.queue_raw(format!("334 {text}\r\n").as_bytes());
        self.conn.flush().await.ok()?;
        let wait = Duration::from_secs(self.settings.config.timeouts.command_seconds);
        match self
            .conn
            .read_line(self.settings.config.limits.max_command_line, wait)
            .await
        {
            Ok(Line::Complete(line)) => {
                let text = String::from_utf8(line).ok()?;
                let text = text.trim_end_matches(['\r', '\n']).to_string();
                (text != "*").then_some(text)
            }
            _ => None,
        }
    }
}

/// Why a received message is refused before it is judged.
enum Refusal {
    TooBig,
    BareNewline,
    MemoryFull,
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

fn describe_parse_error(e: &smtp_proto::Error) -> String {
    match e {
        smtp_proto::Error::SyntaxError { syntax } => format!("expected {syntax}"),
        smtp_proto::Error::InvalidParameter { param } => format!("invalid parameter {param}"),
        smtp_proto::Error::UnsupportedParameter { param } => {
            format!("unsupported parameter {param}")
        }
        smtp_proto::Error::ResponseTooLong => "line too long".into(),
        _ => "malformed command".into(),
    }
}

/// HELO names go into the Received header: keep only characters a host name or literal uses.
fn sanitize_helo(host: &str) -> String {
    host.chars()
        .filter(|c| c.is_ascii_alphanumeric() || ".-_:[]".contains(*c))
        .take(255)
        .collect()
}

/// Unique across restarts and instances: time, process and a counter.
fn transaction_id() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let micros = Utc::now().timestamp_micros() as u64;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{:013X}{:04X}{:04X}",
        micros,
        std::process::id() & 0xFFFF,
        n & 0xFFFF
    )
}
