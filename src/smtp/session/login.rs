//! STARTTLS and AUTH: how a session becomes encrypted and, optionally, authenticated.

use std::time::Duration;

use tracing::{info, warn};

use super::{Flow, Session};
use crate::metrics::{Direction, SessionResult};
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
        let dummy = self.settings.auth_dummy_hash.clone();
        let verified = tokio::task::spawn_blocking(move || {
            crate::credentials::verify(&users, &dummy, &name, &password)
        })
        .await
        .unwrap_or(false);
        if verified {
            info!(client = %self.client.address, user = %user, "authenticated");
            self.client.auth_user = Some(user);
            self.reply(replies::auth_ok())
        } else {
            warn!(client = %self.client.address, user = %user, "authentication failed");
            self.error(replies::auth_failed())
        }
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
