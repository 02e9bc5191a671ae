//! Delivery to a recipient domain's mail exchangers (RFC 5321 section 5), with the transport
//! security the mail needs.
//!
//! The open happens while the sending server waits for its answer to RCPT (Postfix waits 300
//! s: `smtp_rcpt_timeout`), so every step is bounded and the whole open has a budget
//! ([`OPEN_BUDGET`], 90 s) that leaves room for the MAIL and RCPT that follow (each at most
//! [`MX_COMMAND_TIMEOUT`]): 90 + 45 + 45 = 180 s, well inside 300.
//!
//! Hosts are tried in MX order ([`super::mx::plan`]), each address (IPv4 and IPv6) in turn,
//! at most [`MAX_ADDRESSES`] in all (Postfix's `smtp_mx_address_limit`); a host that does not
//! answer, answers 4xx or 5xx at the greeting, or cannot give the required TLS is passed over
//! for the next. A null MX is `556 5.1.10`, a failed MX lookup `451 4.4.3`, and when only
//! security was missing `451 4.7.5`: the mail waits in the sending server's queue.
//!
//! Which security: ordinary mail gets the route's `tls` (default `may`: STARTTLS when
//! offered). A protected recipient's mail never leaves in cleartext: DANE when the MX host
//! has DNSSEC-valid TLSA records, else the domain's MTA-STS `enforce` policy (the MX must be
//! listed, its certificate valid for its name), else the floor every route shares
//! ([`super::floor::protected`]: `verify` when the route says so, else at least `encrypt`).
//! The floor's loopback exception is for smarthosts only: an MX is on the internet by
//! definition, and an MX record pointing at loopback is a mistake or an attack, so it gets
//! the floor like any other.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::{info, warn};

use super::client::NextHopClient;
use super::dane::{self, DaneVerifier};
use super::dns::{Dns, DnsError, TlsaAnswer};
use super::floor;
use super::mta_sts::{self, Mode, Policy, StsCache};
use super::mx::{plan, random_shuffle, MxPlan};
use super::route::{Route, Routes};
use super::{NextHop, RelayError, Verified};
use crate::config::{RouteTls, TlsPolicy};

/// SMTP's port (production).
pub const SMTP_PORT: u16 = 25;
/// MTA-STS policies are fetched over HTTPS on this port (production).
pub const HTTPS_PORT: u16 = 443;
/// Longest wait for one DNS answer.
pub const DNS_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for a TCP connection to one MX address.
pub const MX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for one reply of an MX (greeting, EHLO, STARTTLS, MAIL, RCPT); the end of data
/// keeps `relay.data_timeout_seconds`.
pub const MX_COMMAND_TIMEOUT: Duration = Duration::from_secs(45);
/// Longest wait for an MTA-STS policy over HTTPS.
pub const POLICY_FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The whole open (lookups, every host tried): inside the sending server's RCPT wait.
pub const OPEN_BUDGET: Duration = Duration::from_secs(90);
/// Most MX addresses tried for one transaction.
pub const MAX_ADDRESSES: usize = 5;

/// What one host's connection must prove.
#[derive(Debug, Clone)]
enum Need {
    /// The route's own level, no verification beyond it.
    Route(RouteTls),
    /// TLS, any certificate.
    Encrypt,
    /// TLS, certificate valid for the host's name.
    Ca(Verified),
    /// TLS, certificate matching these TLSA records.
    Dane(Vec<dane::Tlsa>),
}

pub struct MxDialer {
    smtp_port: u16,
    https_port: u16,
    /// The resolver for the `relay.dns_servers` it was made for (hickory caches by TTL).
    dns: Mutex<Option<(Vec<SocketAddr>, Arc<Dns>)>>,
    policies: StsCache,
}

impl MxDialer {
    pub fn new(smtp_port: u16, https_port: u16) -> MxDialer {
        MxDialer {
            smtp_port,
            https_port,
            dns: Mutex::new(None),
            policies: StsCache::default(),
        }
    }

    fn resolver(&self, servers: &[SocketAddr]) -> Result<Arc<Dns>, RelayError> {
        let mut kept = self.dns.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((for_servers, dns)) = kept.as_ref() {
            if for_servers.as_slice() == servers {
                return Ok(Arc::clone(dns));
            }
        }
        let dns = Arc::new(Dns::new(servers, DNS_TIMEOUT).map_err(dns_error)?);
        *kept = Some((servers.to_vec(), Arc::clone(&dns)));
        Ok(dns)
    }

    /// Opens a connection to one of `domain`'s mail exchangers, within [`OPEN_BUDGET`].
    pub async fn open(
        &self,
        routes: &Routes,
        route: &Route,
        domain: &str,
        protected: bool,
    ) -> Result<Box<dyn NextHop>, RelayError> {
        tokio::time::timeout(
            OPEN_BUDGET,
            self.try_hosts(routes, route, domain, protected),
        )
        .await
        .map_err(|_| RelayError::Timeout(OPEN_BUDGET, "MX delivery"))?
    }

    async fn try_hosts(
        &self,
        routes: &Routes,
        route: &Route,
        domain: &str,
        protected: bool,
    ) -> Result<Box<dyn NextHop>, RelayError> {
        let dns = self.resolver(&routes.dns_servers)?;
        let records = dns.mx(domain).await.map_err(dns_error)?;
        let hosts = match plan(domain, &records, random_shuffle) {
            MxPlan::NullMx => return Err(RelayError::NullMx(domain.to_string())),
            MxPlan::Hosts(hosts) => hosts,
        };
        let policy = if protected {
            self.policy(&dns, routes, domain).await
        } else {
            None
        };
        let mut settings = route.relay.clone();
        settings.connect_timeout = settings.connect_timeout.min(MX_CONNECT_TIMEOUT);
        settings.command_timeout = settings.command_timeout.min(MX_COMMAND_TIMEOUT);
        settings.auth = None;
        let (mut tried, mut last, mut insecure) = (0, None, None);
        for host in hosts {
            if tried >= MAX_ADDRESSES {
                break;
            }
            if let Some(policy) = &policy {
                if !policy.allows(&host) {
                    warn!(%domain, mx = %host, "MX not listed in the domain's MTA-STS policy: skipped");
                    insecure = Some(format!("{host} is not in {domain}'s MTA-STS policy"));
                    continue;
                }
            }
            let addresses = match dns.addresses(&host).await {
                Ok(addresses) if !addresses.is_empty() => addresses,
                Ok(_) => {
                    last = Some(RelayError::Dns(format!("{host} has no address")));
                    continue;
                }
                Err(e) => {
                    last = Some(dns_error(e));
                    continue;
                }
            };
            let need = self
                .need(&dns, route, &host, protected, policy.is_some())
                .await;
            let (level, config, verified) = match tls_for(&need, routes) {
                Ok(chosen) => chosen,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            settings.next_hop.host = host.clone();
            settings.tls = level;
            settings.tls_config = config;
            for address in addresses.into_iter().take(MAX_ADDRESSES - tried) {
                tried += 1;
                let at = SocketAddr::new(address, self.smtp_port);
                match NextHopClient::connect_at(&settings, at, verified).await {
                    Ok(client) => {
                        info!(%domain, mx = %host, address = %at, verified = verified.as_str(), "MX connected");
                        return Ok(Box::new(client));
                    }
                    Err(e) => {
                        warn!(%domain, mx = %host, address = %at, error = %e, "MX passed over");
                        if level == TlsPolicy::Required && floor::is_security_failure(&e) {
                            insecure = Some(format!("{host}: {e}"));
                        }
                        last = Some(e);
                    }
                }
            }
        }
        if let Some(why) = insecure {
            return Err(RelayError::Insecure(why));
        }
        Err(last.unwrap_or_else(|| RelayError::Dns(format!("no usable MX for {domain}"))))
    }

    /// What a connection to `host` must prove.
    async fn need(
        &self,
        dns: &Dns,
        route: &Route,
        host: &str,
        protected: bool,
        sts_enforced: bool,
    ) -> Need {
        if protected || route.tls == RouteTls::Dane {
            match dns.tlsa(host, self.smtp_port).await {
                Ok(TlsaAnswer::Secure(records)) => {
                    let usable = dane::usable(records);
                    if !usable.is_empty() {
                        return Need::Dane(usable);
                    }
                }
                Ok(TlsaAnswer::Insecure) => {}
                // A failed TLSA lookup cannot prove "no DANE": demand the strictest we can.
                Err(e) => {
                    warn!(mx = %host, error = %e, "TLSA lookup failed");
                    return Need::Dane(Vec::new());
                }
            }
        }
        if !protected {
            return Need::Route(match route.tls {
                RouteTls::Dane => RouteTls::May,
                level => level,
            });
        }
        if sts_enforced {
            Need::Ca(Verified::MtaSts)
        } else if floor::protected(route.tls) == RouteTls::Verify {
            Need::Ca(Verified::Ca)
        } else {
            Need::Encrypt
        }
    }

    /// The domain's MTA-STS policy when it is in `enforce` mode (cached by id and max_age).
    async fn policy(&self, dns: &Dns, routes: &Routes, domain: &str) -> Option<Policy> {
        let record = match dns.txt(&format!("_mta-sts.{domain}")).await {
            Ok(texts) => texts.iter().find_map(|t| mta_sts::parse_record(t)),
            Err(e) => {
                warn!(%domain, error = %e, "MTA-STS record lookup failed");
                None
            }
        };
        if let Some(policy) = self
            .policies
            .get(domain, record.as_ref().map(|r| r.id.as_str()))
        {
            return enforced(policy);
        }
        let record = record?;
        let host = format!("mta-sts.{domain}");
        let address: IpAddr = match dns.addresses(&host).await {
            Ok(addresses) => *addresses.first()?,
            Err(e) => {
                warn!(%domain, error = %e, "MTA-STS policy host not found");
                return self.policies.get_stale(domain).and_then(enforced);
            }
        };
        let at = SocketAddr::new(address, self.https_port);
        match mta_sts::fetch_policy(
            domain,
            at,
            Arc::clone(&routes.verifying),
            POLICY_FETCH_TIMEOUT,
        )
        .await
        {
            Ok(policy) => {
                self.policies.put(domain, &record.id, policy.clone());
                enforced(policy)
            }
            Err(e) => {
                warn!(%domain, error = %e, "MTA-STS policy not fetched");
                self.policies.get_stale(domain).and_then(enforced)
            }
        }
    }
}

fn enforced(policy: Policy) -> Option<Policy> {
    (policy.mode == Mode::Enforce).then_some(policy)
}

/// The client's TLS policy, configuration and what a session with it proves.
fn tls_for(
    need: &Need,
    routes: &Routes,
) -> Result<(TlsPolicy, Arc<rustls::ClientConfig>, Verified), RelayError> {
    let unverified = || Arc::clone(&routes.unverified);
    Ok(match need {
        Need::Route(RouteTls::None) => (TlsPolicy::None, unverified(), Verified::Plaintext),
        Need::Route(RouteTls::May | RouteTls::Dane) => {
            (TlsPolicy::Opportunistic, unverified(), Verified::Unverified)
        }
        Need::Route(RouteTls::Encrypt) | Need::Encrypt => {
            (TlsPolicy::Required, unverified(), Verified::Unverified)
        }
        Need::Route(RouteTls::Verify) => (
            TlsPolicy::Required,
            Arc::clone(&routes.verifying),
            Verified::Ca,
        ),
        Need::Ca(how) => (TlsPolicy::Required, Arc::clone(&routes.verifying), *how),
        Need::Dane(records) => {
            if records.is_empty() {
                return Err(RelayError::Insecure("TLSA lookup failed".into()));
            }
            (
                TlsPolicy::Required,
                dane_config(records.clone())?,
                Verified::Dane,
            )
        }
    })
}

fn dane_config(records: Vec<dane::Tlsa>) -> Result<Arc<rustls::ClientConfig>, RelayError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| RelayError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(DaneVerifier::new(records, provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn dns_error(error: DnsError) -> RelayError {
    RelayError::Dns(error.to_string())
}
