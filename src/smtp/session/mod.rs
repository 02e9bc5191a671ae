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
use tracing::warn;

mod delivery;
mod login;

use super::connection::{Connection, ConnectionError, Line};
use super::reply::{replies, Reply, Status};
use crate::envelope::{has_source_route, Address, CanonicalAddress};
use crate::gateway::{Gateway, Settings};
use crate::metrics::{Direction, MessageClass, Outcome, SessionResult};
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
            // Only a connection made under the current settings may serve another session.
            let current = Arc::ptr_eq(&self.settings, &self.gateway.settings());
            let unkept = if current {
                self.gateway.keep_next_hop(hop)
            } else {
                Some(hop)
            };
            if let Some(hop) = unkept {
                hop.quit(Duration::from_secs(5)).await;
            }
        }
        self.conn.shutdown().await;
        end
    }

    async fn serve(&mut self) -> SessionResult {
        let host = self.hostname().to_string();
        // A client that talks before the greeting is not an MTA (Postfix: pre-greet test).
        if self.conn.talked_first() {
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
            match Address::parse_sender(&from.address) {
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
        let settings = self.settings.clone();
        let relay = &settings.relay;
        if let Some(mut hop) = self.next_hop.take() {
            // A kept connection may have been closed by the next hop meanwhile: look without a
            // round trip where the socket can tell, else probe with NOOP.
            let alive = match hop.looks_alive() {
                Some(alive) => alive,
                None => hop
                    .command("NOOP\r\n", relay.command_timeout, "NOOP")
                    .await
                    .is_ok(),
            };
            if alive {
                self.next_hop = Some(hop);
            }
        }
        if self.next_hop.is_none() {
            self.next_hop = self.gateway.take_next_hop();
        }
        if self.next_hop.is_some() {
            // A reused connection can still have died unseen: then try once on a new one.
            match self.send_mail_from(tx, from).await {
                Err(RelayError::Io(_) | RelayError::Closed) => {}
                result => return result,
            }
        }
        let hop = NextHopClient::connect(relay).await?;
        if let Some(version) = hop.tls_version() {
            self.gateway
                .metrics
                .tls_session(Direction::Outbound, Some(version));
        }
        self.next_hop = Some(hop);
        self.send_mail_from(tx, from).await
    }

    /// Sends MAIL FROM on the current next-hop connection; drops the connection on failure.
    async fn send_mail_from(
        &mut self,
        tx: &Transaction,
        from: &smtp_proto::MailFrom<String>,
    ) -> Result<Reply, RelayError> {
        let wait = self.settings.relay.command_timeout;
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
        let result = hop.mail_from(&command, wait).await;
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
