//! A next hop that does not send: it accepts every command and keeps nothing. `sealgate check`
//! runs the transfer core with it, so the check's reply is the gateway's reply by construction
//! for everything sealgate decides itself (a refusal), and "would be relayed" for the rest.

use crate::relay::route::Route;
use crate::relay::{Dialer, MailParams, NextHop, RcptParams, RelayError, RelaySettings};
use crate::reply::{Reply, Status};

pub struct OfflineDialer;

struct OfflineHop {
    in_transaction: bool,
}

#[async_trait::async_trait]
impl Dialer for OfflineDialer {
    async fn open(&self, _settings: &RelaySettings) -> Result<Box<dyn NextHop>, RelayError> {
        Ok(Box::new(OfflineHop {
            in_transaction: false,
        }))
    }

    /// Nothing is sent, so no transport security is at stake: a protected recipient joins the
    /// transaction as it would on a next hop that meets the floor (TLS, or one on loopback).
    fn clears_protected_floor(&self, _route: &Route, _hop: &dyn NextHop) -> bool {
        true
    }
}

#[async_trait::async_trait]
impl NextHop for OfflineHop {
    async fn mail(&mut self, _sender: &str, _params: MailParams) -> Result<Reply, RelayError> {
        self.in_transaction = true;
        Ok(Reply::new(250, Status(2, 1, 0), "Ok"))
    }

    async fn rcpt(&mut self, _address: &str, _params: RcptParams) -> Result<Reply, RelayError> {
        Ok(Reply::new(250, Status(2, 1, 5), "Ok"))
    }

    async fn data(&mut self, _trace: &[u8], _message: &[u8]) -> Result<Reply, RelayError> {
        self.in_transaction = false;
        Ok(Reply::new(
            250,
            Status(2, 0, 0),
            "Ok: would be relayed (sealgate check sends nothing)",
        ))
    }

    async fn reset(&mut self) -> Result<(), RelayError> {
        self.in_transaction = false;
        Ok(())
    }

    async fn noop(&mut self) -> Result<(), RelayError> {
        Ok(())
    }

    async fn quit(self: Box<Self>) {}

    fn looks_alive(&self) -> Option<bool> {
        Some(true)
    }

    fn in_transaction(&self) -> bool {
        self.in_transaction
    }

    fn tls_info(&self) -> Option<String> {
        None
    }
}

/// Why an offline check could not run.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error(transparent)]
    Settings(#[from] crate::gateway::SettingsError),
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    #[error("--rcpt {address}: the gateway would answer {reply}")]
    Refused { address: String, reply: Reply },
}

/// One transaction through the transfer core with a next hop that does not send and a ledger
/// in memory: what the gateway would answer to this envelope and message (`sealgate check`).
/// `day` judges protocols in force as on that day instead of today; `auth_user` is the user
/// the client would have authenticated as (None: no AUTH).
pub async fn check(
    config: crate::config::Config,
    sender: Option<crate::envelope::Address>,
    auth_user: Option<String>,
    recipients: Vec<crate::envelope::Address>,
    message: Vec<u8>,
    day: Option<chrono::NaiveDate>,
) -> Result<super::Delivery, OfflineError> {
    use std::sync::Arc;
    let settings = crate::gateway::Settings::offline(config)?;
    let metrics = Arc::new(crate::metrics::Metrics::new()?);
    let gateway = crate::gateway::Gateway::new(settings, metrics);
    let settings = gateway.settings();
    let core = super::Core::judging_on(
        gateway,
        Arc::new(super::MemoryLedger::new()),
        Arc::new(OfflineDialer),
        day,
    );
    let mut transfer = super::Transfer::new(core);
    let client = super::Client {
        address: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        helo: Some("sealgate-check".into()),
        esmtp: true,
        tls: None,
        auth_user,
    };
    let params = MailParams {
        size: message.len(),
        ..MailParams::default()
    };
    transfer.mail(settings, sender, params).await;
    for address in recipients {
        let text = address.to_smtp();
        let reply = transfer.rcpt(address, RcptParams).await;
        if !reply.is_positive() {
            return Err(OfflineError::Refused {
                address: text,
                reply,
            });
        }
    }
    let size = message.len();
    let delivery = transfer
        .deliver(
            &client,
            super::Message {
                bytes: message,
                size,
                flaw: None,
            },
        )
        .await;
    transfer.close().await;
    Ok(delivery)
}
