//! The gateway's shared state: settings (swapped whole on reload), the memory budget for
//! message data and inspection, the inspection permits, the session counters behind the
//! connection limits, the AUTH check pool and throttle, and the shutdown signal. The audit
//! store and the next hops belong to the transfer core.
//!
//! The memory budget counts what is held, not what was announced: a message buffer reserves
//! before it grows, an inspection reserves its working memory before it runs, each client
//! address holds at most its share, and `sealgate_memory_budget_in_use_bytes` is published at
//! every reservation and release.
//!
//! Besides memory, a big transfer costs CPU all the way (reading, copying, relaying, judging):
//! at most `limits.max_concurrent_large_messages` message buffers may grow past
//! `limits.large_message_size` at once, so a flood of 36 MB messages holds a few cores' worth
//! of work and the rest of the machine stays with ordinary mail.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::config::{Access, Config, NextHopAddress, TlsPolicy};
use crate::credentials::throttle::{AuthThrottle, ThrottleSettings};
use crate::credentials::CheckPool;
use crate::metrics::{Health, Metrics};
use crate::policy::Registry;
use crate::relay::route::Routes;
use crate::relay::RelaySettings;
use crate::tls;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("smtp.tls: {0}")]
    InboundTls(tls::TlsError),
    #[error("relay: {0}")]
    OutboundTls(tls::TlsError),
    #[error("relay.next_hop: {0}")]
    NextHop(#[from] crate::config::NextHopAddressError),
    #[error("relay.auth_password_file {path}: {source}")]
    Password {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    RejectText(#[from] crate::policy::refusal::OverrideError),
}

/// Everything derived from one configuration. A reload builds a new one and swaps it in;
/// a transaction keeps the one it started with.
pub struct Settings {
    pub config: Config,
    pub registry: Registry,
    /// The default route's client settings (`relay.*`).
    pub relay: RelaySettings,
    /// Next hops by recipient domain (`relay.next_hop`, `[[routes]]`).
    pub routes: Routes,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// What an unknown AUTH user name is checked against (equal work, see `smtp::auth`).
    pub auth_dummy_hash: String,
    /// Where refusal notices go (`[notify]`); None when they are off.
    pub notify: Option<RelaySettings>,
}

impl Settings {
    pub fn build(config: Config) -> Result<Settings, SettingsError> {
        crate::policy::refusal::check_overrides(&config.policy.reject_texts, None)?;
        let tls = match &config.smtp.tls {
            Some(files) => {
                Some(tls::acceptor(&files.cert, &files.key).map_err(SettingsError::InboundTls)?)
            }
            None => None,
        };
        let relay_cfg = &config.relay;
        let verify = relay_cfg.tls == TlsPolicy::Required && relay_cfg.tls_verify;
        let tls_config = tls::client_config(verify, relay_cfg.ca_file.as_deref())
            .map_err(SettingsError::OutboundTls)?;
        let auth = match (&relay_cfg.auth_user, &relay_cfg.auth_password_file) {
            (Some(user), Some(path)) => {
                let password =
                    std::fs::read_to_string(path).map_err(|source| SettingsError::Password {
                        path: path.display().to_string(),
                        source,
                    })?;
                Some((
                    user.clone(),
                    password.trim_end_matches(['\r', '\n']).to_string(),
                ))
            }
            _ => None,
        };
        let relay = RelaySettings {
            next_hop: default_next_hop(&relay_cfg.next_hop)?,
            tls: relay_cfg.tls,
            tls_config,
            tls_verifies: verify,
            auth,
            helo_name: relay_cfg
                .helo_name
                .clone()
                .unwrap_or_else(|| config.smtp.hostname.clone()),
            connect_timeout: Duration::from_secs(relay_cfg.connect_timeout_seconds),
            command_timeout: Duration::from_secs(relay_cfg.command_timeout_seconds),
            data_timeout: Duration::from_secs(relay_cfg.data_timeout_seconds),
        };
        let routes = Routes::build(
            &config,
            &relay,
            tls::client_config(true, relay_cfg.ca_file.as_deref())
                .map_err(SettingsError::OutboundTls)?,
            tls::client_config(false, None).map_err(SettingsError::OutboundTls)?,
        )?;
        let registry = Registry::new(&config.protocols, &config.policy);
        let auth_dummy_hash = if config.access.users.is_empty() {
            String::new()
        } else {
            crate::credentials::dummy_hash(&config.access.users)
        };
        let notify = notify_settings(&config)?;
        Ok(Settings {
            config,
            registry,
            relay,
            routes,
            tls,
            auth_dummy_hash,
            notify,
        })
    }

    /// The settings of a gateway that never listens nor sends (`sealgate check`): no key or
    /// password file is read, so a check runs wherever the configuration can be read.
    pub fn offline(config: Config) -> Result<Settings, SettingsError> {
        let tls_config = tls::client_config(false, None).map_err(SettingsError::OutboundTls)?;
        let relay = RelaySettings {
            next_hop: default_next_hop(&config.relay.next_hop)?,
            tls: TlsPolicy::None,
            tls_config: tls_config.clone(),
            tls_verifies: false,
            auth: None,
            helo_name: config.smtp.hostname.clone(),
            connect_timeout: Duration::from_secs(config.relay.connect_timeout_seconds),
            command_timeout: Duration::from_secs(config.relay.command_timeout_seconds),
            data_timeout: Duration::from_secs(config.relay.data_timeout_seconds),
        };
        let routes = Routes::build(&config, &relay, tls_config.clone(), tls_config)?;
        let registry = Registry::new(&config.protocols, &config.policy);
        Ok(Settings {
            config,
            registry,
            relay,
            routes,
            tls: None,
            auth_dummy_hash: String::new(),
            notify: None,
        })
    }
}

/// The default route's address: the smarthost, or a placeholder naming MX delivery.
fn default_next_hop(text: &str) -> Result<NextHopAddress, crate::config::NextHopAddressError> {
    Ok(match crate::config::NextHop::parse(text)? {
        crate::config::NextHop::Smarthost(address) => address,
        crate::config::NextHop::Mx => NextHopAddress {
            host: crate::config::MX_NEXT_HOP.into(),
            port: crate::relay::mx_delivery::SMTP_PORT,
        },
    })
}

/// The client settings towards `notify.next_hop`: opportunistic TLS, no AUTH (the agency's own
/// server accepts mail for its own users).
fn notify_settings(config: &Config) -> Result<Option<RelaySettings>, SettingsError> {
    if !config.notify.enabled {
        return Ok(None);
    }
    let next_hop = default_next_hop(&config.notify.next_hop)?;
    Ok(Some(RelaySettings {
        next_hop,
        tls: TlsPolicy::Opportunistic,
        tls_config: tls::client_config(false, None).map_err(SettingsError::OutboundTls)?,
        tls_verifies: false,
        auth: None,
        helo_name: config.smtp.hostname.clone(),
        connect_timeout: Duration::from_secs(config.relay.connect_timeout_seconds),
        command_timeout: Duration::from_secs(config.relay.command_timeout_seconds),
        data_timeout: Duration::from_secs(config.relay.data_timeout_seconds),
    }))
}

/// Shared by all sessions.
pub struct Gateway {
    settings: RwLock<Arc<Settings>>,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    memory: Arc<Semaphore>,
    memory_total: usize,
    sessions: Mutex<SessionCounts>,
    shutdown: watch::Sender<bool>,
    inspections: Arc<Semaphore>,
    /// Bytes of the budget each client address holds now (`limits.memory_per_client`).
    memory_by_client: Mutex<HashMap<IpAddr, usize>>,
    /// Message buffers past `limits.large_message_size` now.
    large_messages: AtomicUsize,
    /// Password checks for AUTH, bounded for all sessions together.
    pub auth_pool: CheckPool,
    /// AUTH attempts per client address.
    pub auth_throttle: AuthThrottle,
}

#[derive(Default)]
struct SessionCounts {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

/// A session's place in the limits; released when dropped.
pub struct SessionSlot {
    gateway: Arc<Gateway>,
    client: IpAddr,
}

/// Bytes of the memory budget one holder (a message buffer, an inspection) has reserved;
/// returned to the budget, and to its client's share, when dropped.
pub struct MemoryLease {
    gateway: Arc<Gateway>,
    /// The client whose share it counts against (None: the budget only).
    client: Option<IpAddr>,
    permit: Option<OwnedSemaphorePermit>,
    bytes: usize,
    /// Holds one of the `limits.max_concurrent_large_messages` places.
    large: bool,
}

/// Unit in which the memory budget is handed out: one read's worth.
pub const MEMORY_UNIT: usize = 64 * 1024;

/// The bytes `bytes` take in whole units of the budget.
fn units_for(bytes: usize) -> usize {
    bytes.div_ceil(MEMORY_UNIT)
}

impl Gateway {
    pub fn new(settings: Settings, metrics: Arc<Metrics>) -> Arc<Gateway> {
        let memory_total = settings.config.limits.memory_budget;
        let units = (memory_total / MEMORY_UNIT).clamp(1, Semaphore::MAX_PERMITS);
        let stale = Duration::from_secs(settings.config.metrics.next_hop_stale_seconds);
        metrics.set_memory_budget(memory_total as u64);
        let access = &settings.config.access;
        let auth_pool = CheckPool::new(access.auth_check_pool_size());
        let auth_throttle = AuthThrottle::new(throttle_settings(access));
        let inspections = settings.config.limits.concurrent_inspections();
        Arc::new(Gateway {
            auth_pool,
            auth_throttle,
            memory_by_client: Mutex::new(HashMap::new()),
            large_messages: AtomicUsize::new(0),
            settings: RwLock::new(Arc::new(settings)),
            metrics,
            health: Arc::new(Health::new(stale)),
            memory: Arc::new(Semaphore::new(units)),
            memory_total,
            sessions: Mutex::new(SessionCounts::default()),
            shutdown: watch::channel(false).0,
            inspections: Arc::new(Semaphore::new(inspections)),
        })
    }

    pub fn settings(&self) -> Arc<Settings> {
        match self.settings.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn replace_settings(&self, settings: Settings) {
        self.health.set_next_hop_stale(Duration::from_secs(
            settings.config.metrics.next_hop_stale_seconds,
        ));
        self.auth_throttle
            .configure(throttle_settings(&settings.config.access));
        let new = Arc::new(settings);
        match self.settings.write() {
            Ok(mut guard) => *guard = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }

    /// A slot for a new session from `client`, or None when a limit is reached.
    pub fn admit(self: &Arc<Self>, client: IpAddr) -> Option<SessionSlot> {
        let limits = self.settings().config.limits.clone();
        let mut counts = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let from_client = counts.per_client.get(&client).copied().unwrap_or(0);
        if counts.total >= limits.max_sessions || from_client >= limits.max_sessions_per_client {
            return None;
        }
        counts.total += 1;
        *counts.per_client.entry(client).or_insert(0) += 1;
        Some(SessionSlot {
            gateway: self.clone(),
            client,
        })
    }

    pub fn active_sessions(&self) -> usize {
        self.sessions.lock().map(|c| c.total).unwrap_or(0)
    }

    /// An empty lease for a message from `client`, counted against its share.
    pub fn lease(self: &Arc<Self>, client: IpAddr) -> MemoryLease {
        MemoryLease {
            gateway: self.clone(),
            client: Some(client),
            permit: None,
            bytes: 0,
            large: false,
        }
    }

    /// Grows `lease` to cover `bytes` without waiting; false when the budget or the client's
    /// share (`limits.memory_per_client`) is spent, or when a message lease would become large
    /// and `limits.max_concurrent_large_messages` are already; then the lease is unchanged.
    pub fn reserve(&self, lease: &mut MemoryLease, bytes: usize) -> bool {
        let extra = units_for(bytes).saturating_sub(lease.bytes / MEMORY_UNIT);
        if extra == 0 {
            return true;
        }
        let Ok(extra_permits) = u32::try_from(extra) else {
            return false;
        };
        let added = extra * MEMORY_UNIT;
        let limits = self.settings().config.limits.clone();
        let becomes_large = lease.client.is_some()
            && !lease.large
            && lease.bytes.saturating_add(added) > limits.large_message_size;
        if becomes_large && !self.take_large_place(limits.concurrent_large_messages()) {
            return false;
        }
        lease.large |= becomes_large;
        if !self.reserve_units(lease, extra_permits, added, limits.memory_per_client()) {
            if std::mem::take(&mut lease.large) {
                self.large_messages.fetch_sub(1, Ordering::SeqCst);
            }
            return false;
        }
        true
    }

    /// One of `max` places for a large message; false when all are taken.
    fn take_large_place(&self, max: usize) -> bool {
        self.large_messages
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                (now < max).then_some(now + 1)
            })
            .is_ok()
    }

    /// Large messages being received or handled now.
    pub fn large_messages(&self) -> usize {
        self.large_messages.load(Ordering::SeqCst)
    }

    /// The budget and share part of [`Gateway::reserve`].
    fn reserve_units(
        &self,
        lease: &mut MemoryLease,
        extra_permits: u32,
        added: usize,
        share: usize,
    ) -> bool {
        let mut by_client = self
            .memory_by_client
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(client) = lease.client {
            let held = by_client.get(&client).copied().unwrap_or(0);
            if held.saturating_add(added) > share {
                return false;
            }
        }
        let Ok(permit) = self.memory.clone().try_acquire_many_owned(extra_permits) else {
            return false;
        };
        if let Some(client) = lease.client {
            *by_client.entry(client).or_insert(0) += added;
        }
        drop(by_client);
        match lease.permit.as_mut() {
            Some(held) => held.merge(permit),
            None => lease.permit = Some(permit),
        }
        lease.bytes += added;
        self.publish_memory();
        true
    }

    /// A lease of `bytes` from the budget alone (no client share), waiting up to `wait` for
    /// room; None when there is none by then (or `bytes` is more than the whole budget).
    pub async fn reserve_within(
        self: &Arc<Self>,
        bytes: usize,
        wait: Duration,
    ) -> Option<MemoryLease> {
        if bytes > self.memory_total {
            return None;
        }
        let units = u32::try_from(units_for(bytes)).ok()?;
        let acquire = self.memory.clone().acquire_many_owned(units);
        let permit = tokio::time::timeout(wait, acquire).await.ok()?.ok()?;
        self.publish_memory();
        Some(MemoryLease {
            gateway: Arc::clone(self),
            client: None,
            permit: Some(permit),
            bytes: units as usize * MEMORY_UNIT,
            large: false,
        })
    }

    /// Publishes the budget in use; called at every reservation and release, and periodically.
    pub fn publish_memory(&self) {
        self.metrics.set_memory_in_use(self.memory_in_use() as u64);
    }

    /// Publishes how many clients the AUTH throttle refuses now; called when it changes and
    /// periodically (windows pass without an event).
    pub fn publish_auth_throttle(&self) {
        let throttled = self.auth_throttle.throttled(std::time::Instant::now());
        self.metrics.set_auth_throttled_clients(throttled);
    }

    pub fn memory_in_use(&self) -> usize {
        let free = self.memory.available_permits() * MEMORY_UNIT;
        self.memory_total.saturating_sub(free)
    }

    pub fn memory_total(&self) -> usize {
        self.memory_total
    }

    /// A permit to run one inspection; at most `limits.max_concurrent_inspections` (one per
    /// core) run at a time, so protected mail (archive parsing, password tries) cannot take the
    /// whole machine.
    pub async fn inspection_permit(&self) -> Option<OwnedSemaphorePermit> {
        self.inspections.clone().acquire_owned().await.ok()
    }

    /// Inspections that could start now without waiting.
    pub fn inspection_places(&self) -> usize {
        self.inspections.available_permits()
    }

    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }
}

/// The AUTH throttle's limits from `access.*`.
fn throttle_settings(access: &Access) -> ThrottleSettings {
    let base_delay = Duration::from_millis(access.auth_failure_delay_milliseconds);
    ThrottleSettings {
        max_failures: access.auth_max_failures,
        window: Duration::from_secs(access.auth_failure_window_seconds),
        base_delay,
        max_delay: base_delay.saturating_mul(16),
        ..ThrottleSettings::default()
    }
}

/// Resolves once shutdown has begun (at once if it already has).
pub async fn shutting_down(signal: &mut watch::Receiver<bool>) {
    if signal.wait_for(|down| *down).await.is_err() {
        // The sender lives as long as the gateway; without it, never resolve.
        std::future::pending::<()>().await;
    }
}

impl MemoryLease {
    /// Bytes reserved.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Returns everything to the budget (the buffer it covered was freed).
    pub fn release(&mut self) {
        if std::mem::take(&mut self.large) {
            self.gateway.large_messages.fetch_sub(1, Ordering::SeqCst);
        }
        if self.bytes == 0 {
            return;
        }
        if let Some(client) = self.client {
            let mut by_client = self
                .gateway
                .memory_by_client
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(held) = by_client.get_mut(&client) {
                *held = held.saturating_sub(self.bytes);
                if *held == 0 {
                    by_client.remove(&client);
                }
            }
        }
        self.bytes = 0;
        drop(self.permit.take());
        self.gateway.publish_memory();
    }
}

impl Drop for MemoryLease {
    fn drop(&mut self) {
        self.release();
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        let mut counts = self
            .gateway
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_client.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.per_client.remove(&self.client);
            }
        }
    }
}
