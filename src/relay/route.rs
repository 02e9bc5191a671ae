//! Routes: which next hop a recipient's domain goes to.
//!
//! `relay.next_hop` is the default route (a smarthost, or `"mx"`: the recipient domain's own
//! mail exchangers); `[[routes]]` entries send listed domains elsewhere. One SMTP transaction
//! goes to one next hop, so the first accepted recipient fixes the transaction's [`Target`]
//! (the route, and for an MX route the domain) and a recipient with another target is told to
//! come back in a separate transaction (`452 4.5.3`, what Postfix's `smtp_destination_recipient_limit`
//! split looks like from the outside). Built once per configuration, with the settings.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::{Config, NextHop, NextHopAddress, RouteTls, TlsPolicy};

use super::RelaySettings;

/// How a route reaches its next hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    Smarthost,
    Mx,
}

/// One route: its label for metrics and logs, how it delivers, its transport security, and
/// the client settings (for a smarthost: its address; for MX: timeouts, HELO name).
pub struct Route {
    /// `default` for `relay.next_hop`, else the route's configured name.
    pub label: String,
    pub via: Via,
    pub tls: RouteTls,
    /// The client settings for ordinary mail (the route's `tls`).
    pub relay: RelaySettings,
    /// The same for a transaction with a protected recipient on a smarthost route: `tls`
    /// raised to the floor ([`super::floor::protected`]).
    pub protected_relay: RelaySettings,
}

impl Route {
    pub fn is_mx(&self) -> bool {
        self.via == Via::Mx
    }
}

/// Where one transaction goes: fixed by its first accepted recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// 0: the default route; i + 1: `routes[i]`.
    pub route: usize,
    /// The recipient domain, for an MX route only (a smarthost takes every domain).
    pub domain: Option<String>,
    /// For a protected recipient. Of a connection: it meets the floor of protected mail
    /// (opened for a protected recipient, or found to meet it: [`super::floor::clears`]).
    pub protected: bool,
}

impl Target {
    /// Whether a connection opened for `self` may carry a recipient needing `other`: the same
    /// next hop, and no protected recipient over a connection that does not meet the floor of
    /// protected mail (on every route: one rule).
    pub fn covers(&self, other: &Target) -> bool {
        self.route == other.route
            && self.domain == other.domain
            && (self.protected || !other.protected)
    }
}

/// Every route of one configuration, plus what MX delivery needs from the configuration.
pub struct Routes {
    default: Arc<Route>,
    listed: Vec<(Vec<String>, Arc<Route>)>,
    /// `relay.dns_servers`; empty: the system's resolver.
    pub dns_servers: Vec<SocketAddr>,
    /// A client configuration that verifies certificates against `relay.ca_file` (or the
    /// system and webpki roots): for `verify`, MTA-STS and fetching MTA-STS policies.
    pub verifying: Arc<rustls::ClientConfig>,
    /// A client configuration that accepts any certificate: `may` and `encrypt`.
    pub unverified: Arc<rustls::ClientConfig>,
}

impl Routes {
    /// `base` is the relay settings `relay.*` describes (for an `"mx"` default route its
    /// `next_hop` is unused).
    pub fn build(
        config: &Config,
        base: &RelaySettings,
        verifying: Arc<rustls::ClientConfig>,
        unverified: Arc<rustls::ClientConfig>,
    ) -> Result<Routes, crate::config::NextHopAddressError> {
        let inherited = RouteTls::from_relay(config.relay.tls, config.relay.tls_verify);
        let default = Arc::new(route(
            "default".into(),
            NextHop::parse(&config.relay.next_hop)?,
            inherited,
            base.clone(),
            &verifying,
            &unverified,
        ));
        let mut listed = Vec::with_capacity(config.routes.len());
        for (i, entry) in config.routes.iter().enumerate() {
            let domains = entry.canonical_domains();
            // Credentials belong to the default smarthost only.
            let mut relay = base.clone();
            relay.auth = None;
            let built = route(
                entry.label(i),
                NextHop::parse(&entry.next_hop)?,
                entry.tls.unwrap_or(inherited),
                relay,
                &verifying,
                &unverified,
            );
            listed.push((domains, Arc::new(built)));
        }
        Ok(Routes {
            default,
            listed,
            dns_servers: config.relay.dns_servers.clone(),
            verifying,
            unverified,
        })
    }

    /// The route for a recipient in `domain` (canonical form) and its index for [`Target`].
    pub fn choose(&self, domain: &str) -> (usize, &Arc<Route>) {
        self.listed
            .iter()
            .position(|(domains, _)| domains.iter().any(|d| d == domain))
            .map_or((0, &self.default), |i| (i + 1, &self.listed[i].1))
    }

    /// The route with index `index` ([`Target::route`]).
    pub fn get(&self, index: usize) -> &Arc<Route> {
        index
            .checked_sub(1)
            .and_then(|i| self.listed.get(i))
            .map_or(&self.default, |(_, route)| route)
    }

    pub fn default_route(&self) -> &Arc<Route> {
        &self.default
    }

    /// The target for a recipient in `domain`.
    pub fn target(&self, domain: &str, protected: bool) -> Target {
        let (index, route) = self.choose(domain);
        Target {
            route: index,
            domain: route.is_mx().then(|| domain.to_string()),
            protected,
        }
    }
}

/// The client settings of a route: a smarthost's address and security in the shape the
/// smarthost client knows (`relay.tls`), so that route behaves exactly as `relay.next_hop`.
fn route(
    label: String,
    next_hop: NextHop,
    tls: RouteTls,
    mut relay: RelaySettings,
    verifying: &Arc<rustls::ClientConfig>,
    unverified: &Arc<rustls::ClientConfig>,
) -> Route {
    let via = match next_hop {
        NextHop::Smarthost(address) => {
            relay.next_hop = address;
            Via::Smarthost
        }
        NextHop::Mx => {
            relay.next_hop = NextHopAddress {
                host: crate::config::MX_NEXT_HOP.into(),
                port: super::mx_delivery::SMTP_PORT,
            };
            Via::Mx
        }
    };
    let mut protected_relay = relay.clone();
    set_tls(&mut relay, tls, verifying, unverified);
    // Configuration refuses `dane` on a smarthost; on an MX route these settings are only the
    // fallback below the per-host ladder (DANE, MTA-STS), which is at least `encrypt`.
    let floor = match super::floor::protected(tls) {
        RouteTls::Dane => RouteTls::Encrypt,
        level => level,
    };
    set_tls(&mut protected_relay, floor, verifying, unverified);
    Route {
        label,
        via,
        tls,
        relay,
        protected_relay,
    }
}

/// The smarthost client's TLS policy and configuration for a route level.
fn set_tls(
    relay: &mut RelaySettings,
    tls: RouteTls,
    verifying: &Arc<rustls::ClientConfig>,
    unverified: &Arc<rustls::ClientConfig>,
) {
    let (policy, config) = match tls {
        RouteTls::None => (TlsPolicy::None, unverified),
        RouteTls::May | RouteTls::Dane => (TlsPolicy::Opportunistic, unverified),
        RouteTls::Encrypt => (TlsPolicy::Required, unverified),
        RouteTls::Verify => (TlsPolicy::Required, verifying),
    };
    relay.tls = policy;
    relay.tls_config = Arc::clone(config);
    relay.tls_verifies = tls == RouteTls::Verify;
}
