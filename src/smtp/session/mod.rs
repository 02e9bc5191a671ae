//! One inbound SMTP session: the ESMTP state machine of a before-queue proxy.
//!
//! The session speaks SMTP to the client and makes sealgate's own checks (sequence, syntax,
//! routing tricks, who may relay, limits); each step that passes goes to the transfer core
//! ([`crate::transfer::Transfer`]), whose reply the client gets. The core forwards recipients
//! to the next hop as they arrive, so the client learns of a refused recipient at RCPT time, and
//! answers the end of data with 250 only after the next hop said 250. Every failure on the way
//! is a 4xx.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use smtp_proto::{Request, MAIL_BODY_8BITMIME, MAIL_BODY_BINARYMIME, MAIL_SMTPUTF8};
use tracing::warn;

mod delivery;
mod login;

use super::connection::{Connection, ConnectionError, Line};
use super::params::{declared_size, DeclaredSize};
use crate::envelope::{has_source_route, Address};
use crate::gateway::Settings;
use crate::metrics::SessionResult;
use crate::reply::{replies, Reply, Status};
use crate::transfer::{Client, Core, MailParams, RcptParams, Transfer};

/// What the session does after a command.
enum Flow {
    Continue,
    Close(SessionResult),
}

pub struct Session {
    core: Arc<Core>,
    settings: Arc<Settings>,
    conn: Connection,
    client: Client,
    errors: u32,
    transfer: Transfer,
}

impl Session {
    pub fn new(core: Arc<Core>, conn: Connection, client: SocketAddr) -> Session {
        let settings = core.gateway.settings();
        Session {
            transfer: Transfer::new(core.clone()),
            core,
            settings,
            conn,
            client: Client::new(client),
            errors: 0,
        }
    }

    fn hostname(&self) -> &str {
        &self.settings.config.smtp.hostname
    }

    pub async fn run(mut self) -> SessionResult {
        let end = self.serve().await;
        self.transfer.close().await;
        self.conn.shutdown().await;
        end
    }

    async fn serve(&mut self) -> SessionResult {
        let host = self.hostname().to_string();
        // A client that talks before the greeting is not an MTA (Postfix: pre-greet test).
        if self.conn.talked_first().await {
            warn!(client = %self.client.address, "client sent data before the greeting; dropped");
            return SessionResult::Dropped;
        }
        self.conn
            .queue(&Reply::plain(220, vec![format!("{host} ESMTP sealgate")]));
        let mut shutdown = self.core.gateway.shutdown_signal();
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
                self.transfer.reset().await;
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
                self.transfer.reset().await;
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
            warn!(client = %self.client.address, errors = self.errors, "too many errors; session closed");
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
        self.core.gateway.metrics.rejection(reason);
        self.error(reply)
    }

    async fn command(&mut self, line: &[u8]) -> Flow {
        if super::proxy::looks_like_header(line) {
            warn!(client = %self.client.address, "PROXY header from a peer not in smtp.proxy_protocol_from; connection closed");
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
            // The parser refuses some overflowing sizes itself: still a size over the limit.
            Err(smtp_proto::Error::InvalidParameter { param: "SIZE" })
                if declared_size(line) == DeclaredSize::Overflow =>
            {
                self.core.gateway.metrics.rejection("message_too_big");
                return self.reply(replies::too_big());
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
            Request::Mail { from } => self.mail(from, line).await,
            Request::Rcpt { to } => self.rcpt(to).await,
            Request::Data => self.data().await,
            Request::Rset => {
                self.transfer.reset().await;
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
        self.transfer.reset().await;
        self.client.helo = Some(sanitize_helo(&host));
        self.client.esmtp = esmtp;
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
            && self.client.auth_user.is_none()
        {
            lines.push("AUTH PLAIN LOGIN".into());
        }
        lines.push("HELP".into());
        self.reply(Reply::plain(250, lines))
    }

    fn authorized(&self) -> bool {
        self.client.auth_user.is_some()
            || self
                .settings
                .config
                .access
                .client_networks
                .iter()
                .any(|net| net.contains(&self.client.address.ip()))
    }

    async fn mail(&mut self, from: smtp_proto::MailFrom<String>, line: &[u8]) -> Flow {
        if self.client.helo.is_none() {
            return self.error(replies::bad_sequence("Error: send HELO/EHLO first"));
        }
        if self.settings.config.smtp.require_tls && !self.conn.is_tls() {
            return self.error(replies::need_tls());
        }
        if self.transfer.in_transaction() {
            return self.error(replies::bad_sequence("Error: nested MAIL command"));
        }
        // Each transaction runs under the settings in force at its MAIL, so a reload reaches
        // every connection at its next transaction.
        self.settings = self.core.gateway.settings();
        let sender = if from.address.is_empty() {
            None
        } else {
            match Address::parse_sender(&from.address) {
                Ok(address) => Some(address),
                Err(e) => return self.refuse("bad_address", replies::bad_sender(&e.to_string())),
            }
        };
        // RFC 3030 section 3: BINARYMIME only with BDAT, and CHUNKING is not offered.
        if from.flags & MAIL_BODY_BINARYMIME != 0 {
            return self.error(Reply::new(
                504,
                Status(5, 5, 4),
                "Error: BODY=BINARYMIME needs CHUNKING, which is not offered",
            ));
        }
        // The parser's own reading of SIZE= wraps around on overflow: read it again.
        let size = match declared_size(line) {
            DeclaredSize::Absent => 0,
            DeclaredSize::Bytes(n) => usize::try_from(n).unwrap_or(usize::MAX),
            DeclaredSize::Overflow => usize::MAX,
            DeclaredSize::Malformed => {
                return self.refuse(
                    "syntax",
                    Reply::new(501, Status(5, 5, 4), "Syntax error: invalid parameter SIZE"),
                )
            }
        };
        if size > self.settings.config.limits.max_message_size {
            self.core.gateway.metrics.rejection("message_too_big");
            return self.reply(replies::too_big());
        }
        let params = MailParams {
            size,
            body_8bit: from.flags & MAIL_BODY_8BITMIME != 0,
            smtputf8: from.flags & MAIL_SMTPUTF8 != 0,
        };
        // The next hop hears of the transaction at the first accepted recipient.
        let reply = self
            .transfer
            .mail(self.settings.clone(), sender, params)
            .await;
        self.reply(reply)
    }

    async fn rcpt(&mut self, to: smtp_proto::RcptTo<String>) -> Flow {
        if !self.transfer.in_transaction() {
            return self.error(replies::bad_sequence("Error: need MAIL command"));
        }
        let address = match Address::parse(&to.address) {
            Ok(address) => address,
            Err(e) => return self.refuse("bad_address", replies::bad_address(&e.to_string())),
        };
        if !self.authorized() {
            warn!(client = %self.client.address, rcpt = %address, "relay access denied");
            return self.refuse("relay_denied", replies::relay_denied());
        }
        if self.transfer.recipient_count() >= self.settings.config.limits.max_recipients {
            self.core.gateway.metrics.rejection("too_many_recipients");
            return self.reply(replies::too_many_recipients());
        }
        let reply = self.transfer.rcpt(address, RcptParams).await;
        self.reply(reply)
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
