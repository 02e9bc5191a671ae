//! STARTTLS and AUTH: how a session becomes encrypted and, optionally, authenticated.
//!
//! Every AUTH attempt is first admitted by the gateway's throttle (per client address, shared
//! by all its sessions), its password checked in the gateway's bounded pool, and a failure is
//! answered after the throttle's growing delay.

use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::{Flow, Session};
use crate::credentials::throttle::Admission;
use crate::metrics::{AuthFailure, Direction, SessionResult};
use crate::reply::{replies, Reply, Status};
use crate::smtp::connection::Line;

impl Session {
    pub(super) async fn start_tls(&mut self) -> Flow {
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
                self.core
                    .gateway
                    .metrics
                    .tls_session(Direction::Inbound, version);
                self.client.tls = Some(info);
                // RFC 3207: the session starts over, without the old HELO.
                self.client.helo = None;
                self.client.esmtp = false;
                self.transfer.reset().await;
                Flow::Continue
            }
            Err(e) => {
                warn!(client = %self.client.address, error = %e, "TLS handshake failed");
                Flow::Close(SessionResult::Error)
            }
        }
    }

    pub(super) async fn auth(&mut self, mechanism: u64, initial: String) -> Flow {
        if self.settings.config.access.users.is_empty() {
            return self.error(replies::not_implemented(
                "Error: authentication not enabled",
            ));
        }
        if !self.conn.is_tls() {
            return self.error(replies::auth_needs_tls());
        }
        if self.client.auth_user.is_some() || self.transfer.in_transaction() {
            return self.error(replies::bad_sequence(
                "Error: already authenticated or in a transaction",
            ));
        }
        // Counted before the check: a burst of connections gets few checks between them.
        let client = self.client.address.ip();
        let gateway = self.core.gateway.clone();
        if gateway.auth_throttle.admit(client, Instant::now()) == Admission::Refuse {
            gateway.metrics.auth_failure(AuthFailure::Throttled);
            gateway.publish_auth_throttle();
            warn!(client = %self.client.address, "too many failed AUTH attempts; connection closed");
            self.conn.queue(&Reply::new(
                421,
                Status(4, 7, 0),
                format!(
                    "{} Error: too many failed authentication attempts, try again later",
                    self.hostname()
                ),
            ));
            return Flow::Close(SessionResult::Error);
        }
        let credentials = match mechanism {
            smtp_proto::AUTH_PLAIN => self.auth_plain(initial).await,
            smtp_proto::AUTH_LOGIN => self.auth_login(initial).await,
            _ => None,
        };
        let verified = match credentials {
            Some((user, password)) => {
                let users = self.settings.config.access.users.clone();
                let dummy = self.settings.auth_dummy_hash.clone();
                let name = user.clone();
                let ok = gateway
                    .auth_pool
                    .run(move || crate::credentials::verify(&users, &dummy, &name, &password))
                    .await;
                Some((user, ok))
            }
            None => None,
        };
        match verified {
            Some((user, true)) => {
                gateway.auth_throttle.succeeded(client);
                info!(client = %self.client.address, user = %user, "authenticated");
                self.client.auth_user = Some(user);
                self.reply(replies::auth_ok())
            }
            Some((user, false)) => {
                gateway.metrics.auth_failure(AuthFailure::Credentials);
                warn!(client = %self.client.address, user = %user, "authentication failed");
                self.fail_slowly(client).await;
                self.error(replies::auth_failed())
            }
            None => {
                gateway.metrics.auth_failure(AuthFailure::Malformed);
                self.fail_slowly(client).await;
                if mechanism != smtp_proto::AUTH_PLAIN && mechanism != smtp_proto::AUTH_LOGIN {
                    return self.error(Reply::new(
                        504,
                        Status(5, 5, 4),
                        "Unrecognized authentication type",
                    ));
                }
                self.error(Reply::new(501, Status(5, 5, 2), "Cannot decode response"))
            }
        }
    }

    /// The throttle's growing wait before a failure is answered.
    async fn fail_slowly(&mut self, client: std::net::IpAddr) {
        let gateway = self.core.gateway.clone();
        let delay = gateway.auth_throttle.failed(client, Instant::now());
        gateway.publish_auth_throttle();
        tokio::time::sleep(delay).await;
    }

    async fn auth_plain(&mut self, initial: String) -> Option<(String, String)> {
        let response = if initial.is_empty() {
            self.challenge("").await?
        } else {
            initial
        };
        crate::smtp::auth::decode_plain(&response)
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
            crate::smtp::auth::decode_text(&user)?,
            crate::smtp::auth::decode_text(&password)?,
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
