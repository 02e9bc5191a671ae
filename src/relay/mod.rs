//! Relay: the next-hop side of the before-queue proxy.
//!
//! The only module that writes SMTP towards the next hop. Callers speak typed commands
//! ([`NextHop::mail`], [`NextHop::rcpt`], [`NextHop::data`], ...) and get the next hop's
//! [`Reply`] back to mirror; the wire form (`MAIL FROM:<...> SIZE=...`, dot-stuffing, which
//! ESMTP parameters the next hop may see) stays in here. [`NextHop`] and [`Dialer`] are traits
//! so the transfer core can run with a next hop that does not send (`sealgate check`) or with a
//! scripted one (the in-process tests). This module knows nothing of the inbound side.

mod client;
pub mod dane;
pub mod dns;
pub mod floor;
pub mod mta_sts;
pub mod mx;
pub mod mx_delivery;
pub mod route;

pub use client::{ErrorKind, NextHopClient, RelayError, RelaySettings};

use crate::reply::Reply;
use floor::Loopback;
use route::{Route, Routes, Target, Via};

/// ESMTP parameters of MAIL that the client gave and the next hop may see, when it offers them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailParams {
    /// `SIZE=`: the client's estimate, 0 when not given.
    pub size: usize,
    /// `BODY=8BITMIME`.
    pub body_8bit: bool,
    /// `SMTPUTF8`.
    pub smtputf8: bool,
}

/// ESMTP parameters of RCPT passed on to the next hop (none yet: DSN is not offered).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RcptParams;

/// One open connection to a next hop, after its greeting and EHLO (and STARTTLS/AUTH).
/// Every method's `Ok` carries the next hop's reply, whatever its code; `Err` is a failure of
/// the connection itself (or a reply outside the protocol).
#[async_trait::async_trait]
pub trait NextHop: Send + Sync {
    /// `MAIL FROM:<sender>`; `sender` is the SMTP form, empty for the null sender.
    async fn mail(&mut self, sender: &str, params: MailParams) -> Result<Reply, RelayError>;
    /// `RCPT TO:<address>`.
    async fn rcpt(&mut self, address: &str, params: RcptParams) -> Result<Reply, RelayError>;
    /// `DATA`, then the trace header and the message (dot-stuffed here), and the final reply.
    /// A refusal of `DATA` itself comes back as that reply.
    async fn data(&mut self, trace_header: &[u8], message: &[u8]) -> Result<Reply, RelayError>;
    /// `RSET`: abandons the transaction. An error means the connection is done.
    async fn reset(&mut self) -> Result<(), RelayError>;
    /// `NOOP`: whether a kept connection still answers.
    async fn noop(&mut self) -> Result<(), RelayError>;
    /// `QUIT`, then close.
    async fn quit(self: Box<Self>);
    /// Whether a kept connection still looks usable without a round trip; None when only a
    /// [`NextHop::noop`] can tell (TLS).
    fn looks_alive(&self) -> Option<bool>;
    /// True between an accepted MAIL and the end of data or RSET.
    fn in_transaction(&self) -> bool;
    /// `TLSv1.3 TLS13_AES_256_GCM_SHA384`, or None for plaintext.
    fn tls_info(&self) -> Option<String>;
    /// The TLS version, for the TLS metrics; None for plaintext.
    fn tls_version(&self) -> Option<rustls::ProtocolVersion> {
        None
    }
    /// The host actually reached and how its certificate was verified (records, logs).
    fn peer(&self) -> Option<Peer> {
        None
    }
}

/// How the next hop's certificate was verified: a closed set (metrics label `tls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// Cleartext.
    Plaintext,
    /// TLS with any certificate (`may`, `encrypt`).
    Unverified,
    /// Against CA roots for the host's name (`verify`).
    Ca,
    /// As an MTA-STS `enforce` policy asks: a listed MX, CA-verified for its name.
    MtaSts,
    /// By the host's DNSSEC-valid TLSA records.
    Dane,
}

impl Verified {
    pub fn as_str(self) -> &'static str {
        match self {
            Verified::Plaintext => "none",
            Verified::Unverified => "unverified",
            Verified::Ca => "ca",
            Verified::MtaSts => "mta-sts",
            Verified::Dane => "dane",
        }
    }
}

/// The next hop actually reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// The host name dialled (smarthost or MX name).
    pub host: String,
    pub address: std::net::SocketAddr,
    pub verified: Verified,
}

/// Opens next-hop connections.
#[async_trait::async_trait]
pub trait Dialer: Send + Sync {
    /// A connection to the smarthost `settings` name.
    async fn open(&self, settings: &RelaySettings) -> Result<Box<dyn NextHop>, RelayError>;

    /// A connection for `target` (chosen by the first accepted recipient). A dialer that
    /// knows no MX delivery (the offline and scripted ones) dials the route's smarthost
    /// settings.
    async fn open_route(
        &self,
        routes: &Routes,
        target: &Target,
    ) -> Result<Box<dyn NextHop>, RelayError> {
        self.open(&routes.get(target.route).relay).await
    }

    /// Whether `hop`, opened on `route` for ordinary mail, also meets the floor of protected
    /// mail ([`floor::clears`]), so a protected recipient may join its transaction.
    fn clears_protected_floor(&self, route: &Route, hop: &dyn NextHop) -> bool {
        floor::clears(route, hop.peer().as_ref(), Loopback::Exempt)
    }
}

/// The real dialer: TCP to a smarthost, or MX delivery.
pub struct SmtpDialer {
    mx: mx_delivery::MxDialer,
    loopback: Loopback,
}

impl SmtpDialer {
    /// Production: SMTP on port 25, MTA-STS policies on 443.
    pub fn new() -> SmtpDialer {
        SmtpDialer::with_ports(mx_delivery::SMTP_PORT, mx_delivery::HTTPS_PORT)
    }

    /// MX delivery to `smtp_port` and policy fetches from `https_port` (in-process tests,
    /// whose servers listen on ephemeral ports).
    pub fn with_ports(smtp_port: u16, https_port: u16) -> SmtpDialer {
        SmtpDialer {
            mx: mx_delivery::MxDialer::new(smtp_port, https_port),
            loopback: Loopback::Exempt,
        }
    }

    /// Applies the floor of protected mail to loopback next hops too. For the in-process
    /// tests, which can only reach loopback; never set from the configuration.
    pub fn treating_loopback_as_remote(mut self) -> SmtpDialer {
        self.loopback = Loopback::TreatedAsRemote;
        self
    }

    /// A smarthost connection for `route`; for a protected recipient with the floor raised
    /// where the resolved address is not exempt ([`floor`]).
    async fn open_smarthost(
        &self,
        route: &Route,
        protected: bool,
    ) -> Result<Box<dyn NextHop>, RelayError> {
        if !protected {
            return self.open(&route.relay).await;
        }
        let hop = &route.relay.next_hop;
        let wait = route.relay.connect_timeout;
        let addresses: Vec<std::net::SocketAddr> =
            tokio::time::timeout(wait, tokio::net::lookup_host((hop.host.as_str(), hop.port)))
                .await
                .map_err(|_| RelayError::Timeout(wait, "next hop lookup"))?
                .map_err(|source| RelayError::Connect {
                    hop: hop.to_string(),
                    source,
                })?
                .collect();
        let (mut last, mut insecure) = (None, None);
        for address in addresses {
            let raised = self.loopback.floor_applies(address.ip());
            let settings = if raised {
                &route.protected_relay
            } else {
                tracing::info!(route = %route.label, %address, "protected mail to a next hop on this machine: its own tls applies");
                &route.relay
            };
            let verified = if settings.tls_verifies {
                Verified::Ca
            } else {
                Verified::Unverified
            };
            match NextHopClient::connect_at(settings, address, verified).await {
                Ok(client) => return Ok(Box::new(client)),
                Err(e) => {
                    tracing::warn!(route = %route.label, %address, error = %e, "smarthost address passed over");
                    if settings.tls == crate::config::TlsPolicy::Required
                        && floor::is_security_failure(&e)
                    {
                        insecure = Some(format!("{hop} ({address}): {e}"));
                    }
                    last = Some(e);
                }
            }
        }
        if let Some(why) = insecure {
            return Err(RelayError::Insecure(why));
        }
        Err(last.unwrap_or_else(|| RelayError::Connect {
            hop: hop.to_string(),
            source: std::io::ErrorKind::NotFound.into(),
        }))
    }
}

impl Default for SmtpDialer {
    fn default() -> Self {
        SmtpDialer::new()
    }
}

#[async_trait::async_trait]
impl Dialer for SmtpDialer {
    async fn open(&self, settings: &RelaySettings) -> Result<Box<dyn NextHop>, RelayError> {
        Ok(Box::new(NextHopClient::connect(settings).await?))
    }

    async fn open_route(
        &self,
        routes: &Routes,
        target: &Target,
    ) -> Result<Box<dyn NextHop>, RelayError> {
        let route = routes.get(target.route);
        match (&route.via, &target.domain) {
            (Via::Mx, Some(domain)) => self.mx.open(routes, route, domain, target.protected).await,
            _ => self.open_smarthost(route, target.protected).await,
        }
    }

    fn clears_protected_floor(&self, route: &Route, hop: &dyn NextHop) -> bool {
        floor::clears(route, hop.peer().as_ref(), self.loopback)
    }
}
