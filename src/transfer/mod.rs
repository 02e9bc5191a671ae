//! The transfer core: everything between "the client named a sender" and "the client gets its
//! final answer", without a socket in sight.
//!
//! The SMTP session speaks to the client and hands the core typed steps: a sender
//! ([`Transfer::mail`]), each recipient ([`Transfer::rcpt`]), the received message
//! ([`Transfer::deliver`]). The core classifies recipients with the registry, opens the next
//! hop, judges protected mail with the policy (off the async runtime, within an inspection
//! permit), writes the audit record ahead, relays, records the outcome, and hands back a
//! neutral [`Reply`]. The next hop ([`crate::relay::NextHop`], opened by a
//! [`crate::relay::Dialer`]) and the [`Ledger`] are traits, so `sealgate check` runs this very
//! code with a next hop that does not send, and the tests run it with a scripted one.
//!
//! ## The next hop is opened at the first accepted recipient
//!
//! Postfix's before-queue proxy (`smtpd_proxy_filter`) connects at MAIL. sealgate answers MAIL
//! itself (250 after its own checks) and opens the next-hop transaction when the first
//! recipient has passed its own checks, forwarding MAIL and then that RCPT. Why:
//!
//! - the route can depend on the recipient (direct MX delivery picks the next hop by the
//!   recipient's domain, issue 14); at MAIL no recipient is known;
//! - a transaction whose recipients are all refused by sealgate (relay denied, bad address,
//!   too many) costs no next-hop connection;
//! - what the client sees stays within RFC 5321: when the next hop refuses MAIL, the client
//!   gets that refusal, mirrored unchanged (code, enhanced code, text), as the answer to its
//!   first RCPT, and to every later RCPT of the transaction. A refusal of the sender at RCPT
//!   time is what Postfix does by default (`smtpd_delay_reject = yes`), and every MTA handles
//!   it: a 5xx fails the recipients (the bounce names the next hop's reason), a 4xx keeps them
//!   queued. The client never gets a 250 for a recipient the next hop has not accepted.
//! - a next hop that cannot be reached gives `451 4.4.1` at the first RCPT (and the same for
//!   the rest of the transaction, without trying again), where it used to come at MAIL.
//!
//! ## Settings per transaction
//!
//! The session hands [`Transfer::mail`] the settings in force at MAIL (registry, texts, limits,
//! relay), so a reload reaches the next transaction on every open connection. A next-hop
//! connection made under older settings is closed rather than reused.

mod deliver;
mod ledger;
mod notify;
mod offline;
mod pool;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use tracing::warn;

/// The typed parameters the SMTP side hands over; re-exported so that side needs no relay.
pub use crate::relay::{MailParams, RcptParams};
pub use deliver::{Delivery, Flaw, Message};
pub use ledger::{Ledger, LedgerError, MemoryLedger};
pub use offline::{check, OfflineDialer, OfflineError};
pub use pool::{IDLE_NEXT_HOP, MAX_IDLE_NEXT_HOPS};

use crate::envelope::{Address, CanonicalAddress};
use crate::gateway::{Gateway, Settings};
use crate::metrics::DeliveryFailure;
use crate::metrics::{Direction, MessageClass, NextHopError};
use crate::policy::PolicyRecipient;
use crate::relay::route::Target;
use crate::relay::{Dialer, ErrorKind, NextHop, Peer, RelayError};
use crate::reply::{replies, Reply, Status};

/// What the whole gateway shares: its state, the ledger, the way to the next hop and the idle
/// next-hop connections.
pub struct Core {
    pub gateway: Arc<Gateway>,
    ledger: Arc<dyn Ledger>,
    dialer: Arc<dyn Dialer>,
    pool: pool::Pool,
    /// Judge as on this day instead of today (`sealgate check --date`, tests).
    judge_on: Option<NaiveDate>,
    /// Refusal notices per sender (`notify.per_sender_per_hour`, as at start).
    notices: crate::notice::Limiter,
}

impl Core {
    pub fn new(
        gateway: Arc<Gateway>,
        ledger: Arc<dyn Ledger>,
        dialer: Arc<dyn Dialer>,
    ) -> Arc<Core> {
        Core::judging_on(gateway, ledger, dialer, None)
    }

    /// A core that judges protocols in force as on `day` (today when None).
    pub fn judging_on(
        gateway: Arc<Gateway>,
        ledger: Arc<dyn Ledger>,
        dialer: Arc<dyn Dialer>,
        day: Option<NaiveDate>,
    ) -> Arc<Core> {
        Arc::new(Core {
            notices: crate::notice::Limiter::new(crate::notice::LimiterSettings {
                per_sender: gateway.settings().config.notify.per_sender_per_hour.max(1),
                ..Default::default()
            }),
            gateway,
            ledger,
            dialer,
            pool: pool::Pool::default(),
            judge_on: day,
        })
    }

    /// Drops idle next-hop connections that waited too long (called periodically).
    pub fn purge_idle_next_hops(&self) {
        self.pool.purge(&self.gateway.settings());
    }

    /// Opens and closes a next-hop connection: is a next hop that failed back? (`/readyz`).
    /// With MX delivery as the default route there is no one next hop to probe.
    pub async fn probe_next_hop(&self) -> Result<(), RelayError> {
        let settings = self.gateway.settings();
        if settings.routes.default_route().is_mx() {
            return Ok(());
        }
        match self.dialer.open(&settings.relay).await {
            Ok(hop) => {
                self.gateway.health.next_hop_succeeded();
                hop.quit().await;
                Ok(())
            }
            Err(e) => {
                self.next_hop_failed(&e);
                Err(e)
            }
        }
    }

    fn next_hop_failed(&self, error: &RelayError) {
        self.gateway
            .metrics
            .next_hop_error(metric_label(error.kind()));
        if !matches!(error, RelayError::Refused { .. } | RelayError::NullMx(_)) {
            self.gateway.health.next_hop_failed();
        }
    }
}

/// The label of `sealgate_next_hop_errors_total` for a relay error kind.
pub fn metric_label(kind: ErrorKind) -> NextHopError {
    match kind {
        ErrorKind::Connect => NextHopError::Connect,
        ErrorKind::Timeout => NextHopError::Timeout,
        ErrorKind::Tls => NextHopError::Tls,
        ErrorKind::Protocol => NextHopError::Protocol,
        ErrorKind::Closed => NextHopError::Closed,
        ErrorKind::Reply4xx => NextHopError::Reply4xx,
        ErrorKind::Reply5xx | ErrorKind::NullMx => NextHopError::Reply5xx,
        ErrorKind::Dns => NextHopError::Connect,
        ErrorKind::Insecure => NextHopError::Tls,
    }
}

/// The client as the SMTP side knows it: for the trace header and the audit record.
#[derive(Debug, Clone)]
pub struct Client {
    pub address: SocketAddr,
    pub helo: Option<String>,
    pub esmtp: bool,
    /// `TLSv1.3 TLS13_...` when the session is encrypted.
    pub tls: Option<String>,
    pub auth_user: Option<String>,
}

impl Client {
    pub fn new(address: SocketAddr) -> Client {
        Client {
            address,
            helo: None,
            esmtp: false,
            tls: None,
            auth_user: None,
        }
    }
}

struct Recipient {
    address: Address,
    canonical: CanonicalAddress,
    protocol: Option<String>,
}

struct Transaction {
    id: String,
    received_at: DateTime<Utc>,
    started: Instant,
    settings: Arc<Settings>,
    sender: Option<Address>,
    params: MailParams,
    recipients: Vec<Recipient>,
    /// The next hop accepted MAIL for this transaction.
    opened: bool,
    /// The answer to every further RCPT once the next hop refused MAIL or was lost.
    refused: Option<Reply>,
    /// Where the transaction goes, fixed by the first accepted recipient.
    target: Option<Target>,
    /// The next hop reached (host, address, how its certificate was verified).
    peer: Option<Peer>,
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

    /// The route's label for metrics and logs.
    fn route_label(&self) -> &str {
        let index = self.target.as_ref().map_or(0, |t| t.route);
        &self.settings.routes.get(index).label
    }

    /// The peer reached over MX delivery (None for a smarthost, which the settings name).
    fn mx_peer(&self) -> Option<&Peer> {
        let index = self.target.as_ref()?.route;
        if self.settings.routes.get(index).is_mx() {
            self.peer.as_ref()
        } else {
            None
        }
    }

    fn policy_recipients(&self) -> Vec<PolicyRecipient> {
        self.recipients
            .iter()
            .map(|r| PolicyRecipient {
                address: r.canonical.clone(),
                protocol: r.protocol.clone(),
            })
            .collect()
    }
}

/// The transfers of one client connection: at most one transaction at a time, and the
/// next-hop connection it holds between transactions.
pub struct Transfer {
    core: Arc<Core>,
    hop: Option<(Box<dyn NextHop>, Arc<Settings>)>,
    /// Where `hop` goes (meaningful while `hop` is Some).
    hop_target: Option<Target>,
    tx: Option<Transaction>,
}

impl Transfer {
    pub fn new(core: Arc<Core>) -> Transfer {
        Transfer {
            core,
            hop: None,
            hop_target: None,
            tx: None,
        }
    }

    pub fn in_transaction(&self) -> bool {
        self.tx.is_some()
    }

    /// Recipients accepted so far in the current transaction.
    pub fn recipient_count(&self) -> usize {
        self.tx.as_ref().map_or(0, |tx| tx.recipients.len())
    }

    /// The client's `SIZE=` estimate for the current transaction, 0 when not given.
    pub fn declared_size(&self) -> usize {
        self.tx.as_ref().map_or(0, |tx| tx.params.size)
    }

    /// Starts a transaction. The SMTP side has checked the command; the next hop hears of it
    /// at the first accepted recipient, so the answer is sealgate's own.
    /// `settings` are those in force at this MAIL; the whole transaction runs under them.
    pub async fn mail(
        &mut self,
        settings: Arc<Settings>,
        sender: Option<Address>,
        params: MailParams,
    ) -> Reply {
        self.reset().await;
        if let Some((hop, made_under)) = self.hop.take() {
            if Arc::ptr_eq(&made_under, &settings) {
                self.hop = Some((hop, made_under));
            } else {
                hop.quit().await;
            }
        }
        self.tx = Some(Transaction {
            id: transaction_id(settings.config.instance_name()),
            received_at: Utc::now(),
            started: Instant::now(),
            settings,
            sender,
            params,
            recipients: Vec::new(),
            opened: false,
            refused: None,
            target: None,
            peer: None,
        });
        Reply::new(250, Status(2, 1, 0), "Ok")
    }

    /// A recipient that passed the SMTP side's checks: classified, then forwarded (opening
    /// the next-hop transaction at the first one); the next hop's reply is the answer.
    pub async fn rcpt(&mut self, address: Address, params: RcptParams) -> Reply {
        let Some(tx) = self.tx.as_ref() else {
            return replies::bad_sequence("Error: need MAIL command");
        };
        if let Some(refused) = &tx.refused {
            return refused.clone();
        }
        let canonical = address.canonical();
        let protocol = tx
            .settings
            .registry
            .protocol_for(&canonical)
            .map(|p| p.id.clone());
        let routes = &tx.settings.routes;
        let target = routes.target(&canonical.domain, protocol.is_some());
        if let Some(fixed) = &tx.target {
            if !fixed.covers(&target) {
                return another_transaction();
            }
        }
        if !tx.opened {
            if let Err(refusal) = self.open(target).await {
                return refusal;
            }
        }
        let forwarded = match self.hop.as_mut() {
            Some((hop, _)) => hop.rcpt(&address.to_smtp(), params).await,
            None => Err(RelayError::Closed),
        };
        let reply = match forwarded {
            Ok(reply) => reply,
            Err(e) => {
                warn!(client_rcpt = %address, error = %e, "next hop lost at RCPT");
                self.core.next_hop_failed(&e);
                self.hop = None;
                return self.refuse_rest(replies::next_hop_lost());
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
        reply
    }

    /// Whether DATA may start: Err carries the answer to DATA when it may not.
    pub fn ready_for_data(&self) -> Result<(), Reply> {
        let Some(tx) = self.tx.as_ref() else {
            return Err(replies::bad_sequence("Error: need MAIL command"));
        };
        if tx.recipients.is_empty() {
            return Err(replies::no_valid_recipients());
        }
        if self.hop.is_none() {
            return Err(replies::next_hop_lost());
        }
        Ok(())
    }

    /// Abandons the current transaction (RSET, a new HELO, the end of the session).
    pub async fn reset(&mut self) {
        let Some(tx) = self.tx.take() else {
            return;
        };
        if tx.opened {
            self.reset_next_hop().await;
        }
    }

    /// Ends the connection's transfers: the next-hop connection goes back to the pool when
    /// it was made under the current settings, else it is closed.
    pub async fn close(mut self) {
        self.reset().await;
        let Some((hop, made_under)) = self.hop.take() else {
            return;
        };
        let unkept = match self.hop_target.take() {
            Some(target) if Arc::ptr_eq(&made_under, &self.core.gateway.settings()) => {
                self.core.pool.keep(hop, made_under, target)
            }
            _ => Some(hop),
        };
        if let Some(hop) = unkept {
            hop.quit().await;
        }
    }

    /// Opens the next-hop transaction: a kept or pooled connection, else a new one, and MAIL.
    /// Ok carries the next hop's acceptance; Err the answer for the client when the next hop
    /// did not accept MAIL.
    async fn open(&mut self, target: Target) -> Result<Reply, Reply> {
        let Some(tx) = self.tx.as_ref() else {
            return Err(replies::bad_sequence("Error: need MAIL command"));
        };
        let settings = tx.settings.clone();
        let (sender, params, id) = (tx.sender_text(), tx.params, tx.id.clone());
        let route = settings.routes.get(target.route);
        let opened = self.open_with(&settings, &sender, params, &target).await;
        let refusal = match opened {
            Ok(reply) if reply.is_positive() => {
                let peer = self.hop.as_ref().and_then(|(hop, _)| hop.peer());
                // The connection's target: it may meet the floor of protected mail even when
                // opened for an ordinary recipient.
                let fixed = self.hop_target.clone().unwrap_or(target);
                if let Some(tx) = self.tx.as_mut() {
                    tx.opened = true;
                    tx.target = Some(fixed);
                    tx.peer = peer;
                }
                return Ok(reply);
            }
            Ok(reply) => reply,
            Err(e) => {
                let (reply, reason) = refusal_for(&e);
                warn!(
                    %id,
                    route = %route.label,
                    domain = target.domain.as_deref().unwrap_or(""),
                    protected = target.protected,
                    reason = reason.as_str(),
                    error = %e,
                    "next hop unavailable"
                );
                self.core.next_hop_failed(&e);
                self.core
                    .gateway
                    .metrics
                    .delivery_failure(&route.label, reason);
                reply
            }
        };
        // A domain's MX failing says nothing of the next recipient's domain: only a
        // smarthost's refusal answers the rest of the transaction.
        if route.is_mx() {
            return Err(refusal);
        }
        Err(self.refuse_rest(refusal))
    }

    async fn open_with(
        &mut self,
        settings: &Arc<Settings>,
        sender: &str,
        params: MailParams,
        target: &Target,
    ) -> Result<Reply, RelayError> {
        let route = settings.routes.get(target.route);
        if let Some((mut hop, made_under)) = self.hop.take() {
            let same = self
                .hop_target
                .as_ref()
                .is_some_and(|kept| kept.covers(target));
            // A kept connection may have been closed by the next hop meanwhile: look without
            // a round trip where the connection can tell, else probe with NOOP.
            let alive = same
                && match hop.looks_alive() {
                    Some(alive) => alive,
                    None => hop.noop().await.is_ok(),
                };
            if alive {
                self.hop = Some((hop, made_under));
            } else if !same {
                hop.quit().await;
            }
        }
        if self.hop.is_none() {
            self.hop = self.core.pool.take(settings, target).map(|(hop, kept)| {
                self.hop_target = Some(kept);
                (hop, settings.clone())
            });
        }
        if self.hop.is_some() {
            // A reused connection can still have died unseen: then try once on a new one.
            match self.send_mail(sender, params).await {
                Err(e) if e.is_connection_lost() => {}
                result => return result,
            }
        }
        let hop = self
            .core
            .dialer
            .open_route(&settings.routes, target)
            .await?;
        // What the connection proved decides whether a protected recipient may join it later.
        let protected =
            target.protected || self.core.dialer.clears_protected_floor(route, hop.as_ref());
        self.hop_target = Some(Target {
            protected,
            ..target.clone()
        });
        if let Some(version) = hop.tls_version() {
            self.core
                .gateway
                .metrics
                .tls_session(Direction::Outbound, Some(version));
        }
        self.hop = Some((hop, settings.clone()));
        self.send_mail(sender, params).await
    }

    /// MAIL on the current connection; the connection is dropped when it fails.
    async fn send_mail(&mut self, sender: &str, params: MailParams) -> Result<Reply, RelayError> {
        let Some((hop, _)) = self.hop.as_mut() else {
            return Err(RelayError::Closed);
        };
        let result = hop.mail(sender, params).await;
        if result.is_err() {
            self.hop = None;
        }
        result
    }

    /// Remembers `reply` as the answer to every further RCPT of the transaction.
    fn refuse_rest(&mut self, reply: Reply) -> Reply {
        if let Some(tx) = self.tx.as_mut() {
            tx.refused = Some(reply.clone());
        }
        reply
    }

    async fn reset_next_hop(&mut self) {
        if let Some((hop, _)) = self.hop.as_mut() {
            if hop.reset().await.is_err() {
                self.hop = None;
            }
        }
    }
}

/// A recipient whose next hop differs from the one the transaction's first recipient fixed.
/// RFC 5321 4.5.3.1.10: 452 asks the client to send it again in another transaction.
fn another_transaction() -> Reply {
    Reply::new(
        452,
        Status(4, 5, 3),
        "Too many recipients for this transaction: this recipient goes to another next hop \
         and will be accepted in a separate transaction",
    )
}

/// The client's answer when the route's next hop could not be opened, and the metric reason.
fn refusal_for(error: &RelayError) -> (Reply, DeliveryFailure) {
    match error {
        RelayError::NullMx(_) => (
            Reply::new(
                556,
                Status(5, 1, 10),
                "Recipient address has null MX: the domain accepts no mail",
            ),
            DeliveryFailure::NullMx,
        ),
        RelayError::Dns(_) => (
            Reply::new(
                451,
                Status(4, 4, 3),
                "Directory server failure: the recipient domain's mail servers could not be \
                 looked up; try again later",
            ),
            DeliveryFailure::Dns,
        ),
        RelayError::Insecure(_) => (
            Reply::new(
                451,
                Status(4, 7, 5),
                "Cryptographic failure: the TLS this mail requires could not be had with the \
                 recipient's mail server; try again later",
            ),
            DeliveryFailure::TlsRequired,
        ),
        _ => (
            replies::next_hop_unavailable(),
            DeliveryFailure::Unreachable,
        ),
    }
}

/// A transaction id unique across instances and restarts without relying on the PID (which is
/// 1 in every container): the instance name, the time in microseconds, a random number drawn
/// once per process and a counter, e.g. `sealgate-1.0627A1B2C3D4E-9F3C01AA00000007`.
/// Characters of the instance name outside letters, digits, `-`, `_` and `.` become `-`, so
/// the id stays one token in the Received header and the logs.
pub fn transaction_id(instance: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::OnceLock;
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    static NONCE: OnceLock<u32> = OnceLock::new();
    let nonce = *NONCE.get_or_init(process_nonce);
    let micros = Utc::now().timestamp_micros().max(0) as u64;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let keep = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    // Nearly always the name is already one token: then no per-character copy.
    if instance.len() <= MAX_ID_INSTANCE_CHARS && instance.chars().all(keep) {
        return format!("{instance}.{micros:013X}-{nonce:08X}{n:08X}");
    }
    let name: String = instance
        .chars()
        .take(MAX_ID_INSTANCE_CHARS)
        .map(|c| if keep(c) { c } else { '-' })
        .collect();
    format!("{name}.{micros:013X}-{nonce:08X}{n:08X}")
}

/// Characters of the instance name kept in a transaction id.
const MAX_ID_INSTANCE_CHARS: usize = 64;

/// 32 random bits for this process: from the operating system, else from the standard
/// library's per-process random hash keys.
fn process_nonce() -> u32 {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let mut bytes = [0u8; 4];
    if OsRng.try_fill_bytes(&mut bytes).is_ok() {
        return u32::from_le_bytes(bytes);
    }
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(Utc::now().timestamp_nanos_opt().unwrap_or(0) as u128);
    hasher.finish() as u32
}
