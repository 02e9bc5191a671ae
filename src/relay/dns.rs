//! DNS for delivery to the internet: MX, addresses, the MTA-STS TXT record, and TLSA.
//!
//! MX, A/AAAA and TXT go through hickory's resolver, which caches answers as their TTL
//! allows (negative answers for their SOA's minimum), with the system resolver as with
//! `relay.dns_servers`: one [`Dns`] per server list lives as long as the dialer. hickory's
//! default cache holds 32 answers, a handful of domains (each costs an MX, an A and an AAAA
//! per MX host, and for protected mail a TXT); [`CACHE_ENTRIES`] is sized for an agency's
//! working set of recipient domains. The cache only helps once an answer is in: sessions that
//! ask the same question at the same time (a burst to one domain on a cold cache) share one
//! lookup ([`InFlight`]) instead of each sending its own.
//!
//! TLSA is different: a TLSA record may only be believed when it is DNSSEC-valid, and
//! sealgate does not validate DNSSEC itself. Like Postfix (`smtp_dns_support_level = dnssec`)
//! it trusts the AD bit of a validating resolver, and only one on loopback, where nobody can
//! forge the bit on the way. So TLSA is asked directly of the first configured server, with
//! the DO and AD bits set, and the answer's AD bit decides.
//!
//! Every wait is bounded by `timeout`; any failure other than "no such record" is an error
//! the caller turns into `451 4.4.3` (the sending server keeps the mail and retries).

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfigGroup, ResolverConfig, ResolverOpts,
};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::{ResolveError, TokioResolver};
use tokio::net::UdpSocket;
use tokio::sync::OnceCell;

use super::dane::Tlsa;
use super::mx::MxRecord;

/// Answers the resolver keeps (an LRU over questions; a few hundred bytes each).
pub const CACHE_ENTRIES: usize = 4096;

#[derive(Debug, Clone, thiserror::Error)]
pub enum DnsError {
    #[error("the domain does not exist")]
    NoSuchDomain,
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("DNS lookup failed: {0}")]
    Failed(String),
    #[error("cannot set up the resolver: {0}")]
    Setup(String),
}

/// Answer of a TLSA lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsaAnswer {
    /// DNSSEC-valid records, as vouched for by a loopback resolver's AD bit.
    Secure(Vec<Tlsa>),
    /// None, or not provably secure: DANE does not apply.
    Insecure,
}

pub struct Dns {
    resolver: TokioResolver,
    /// The server asked for TLSA; only when it is on loopback.
    tlsa_server: Option<SocketAddr>,
    timeout: Duration,
    mx_asked: InFlight<Vec<MxRecord>>,
    addresses_asked: InFlight<Vec<IpAddr>>,
    txt_asked: InFlight<Vec<String>>,
    tlsa_asked: InFlight<TlsaAnswer>,
}

impl Dns {
    /// A resolver for `servers` (`relay.dns_servers`), or the system's when empty.
    pub fn new(servers: &[SocketAddr], timeout: Duration) -> Result<Dns, DnsError> {
        let mut options = ResolverOpts::default();
        options.timeout = timeout;
        options.attempts = 2;
        options.edns0 = true;
        options.cache_size = CACHE_ENTRIES;
        // Every address of an MX is a place to try (RFC 5321 5.1), IPv4 and IPv6 alike.
        options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        let builder = if servers.is_empty() {
            TokioResolver::builder_tokio().map_err(|e| DnsError::Setup(e.to_string()))?
        } else {
            let mut group = NameServerConfigGroup::new();
            for &server in servers {
                group.merge(NameServerConfigGroup::from_ips_clear(
                    &[server.ip()],
                    server.port(),
                    true,
                ));
            }
            TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, vec![], group),
                TokioConnectionProvider::default(),
            )
        };
        let resolver = builder.with_options(options).build();
        let tlsa_server = servers.first().copied().filter(|s| s.ip().is_loopback());
        Ok(Dns {
            resolver,
            tlsa_server,
            timeout,
            mx_asked: InFlight::default(),
            addresses_asked: InFlight::default(),
            txt_asked: InFlight::default(),
            tlsa_asked: InFlight::default(),
        })
    }

    /// The MX records of `domain`; empty when it has none (the caller uses the implicit MX).
    pub async fn mx(&self, domain: &str) -> Result<Vec<MxRecord>, DnsError> {
        self.mx_asked.ask(domain, || self.ask_mx(domain)).await
    }

    async fn ask_mx(&self, domain: &str) -> Result<Vec<MxRecord>, DnsError> {
        let name = fqdn(domain)?;
        match self.bounded(self.resolver.mx_lookup(name)).await? {
            Ok(lookup) => Ok(lookup
                .iter()
                .map(|mx| MxRecord {
                    preference: mx.preference(),
                    exchange: mx.exchange().to_ascii(),
                })
                .collect()),
            Err(e) if e.is_no_records_found() && !e.is_nx_domain() => Ok(Vec::new()),
            Err(e) => Err(classify(e)),
        }
    }

    /// The IPv4 and IPv6 addresses of `host`.
    pub async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        self.addresses_asked
            .ask(host, || self.ask_addresses(host))
            .await
    }

    async fn ask_addresses(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        let name = fqdn(host)?;
        match self.bounded(self.resolver.lookup_ip(name)).await? {
            Ok(lookup) => Ok(lookup.iter().collect()),
            Err(e) if e.is_no_records_found() && !e.is_nx_domain() => Ok(Vec::new()),
            Err(e) => Err(classify(e)),
        }
    }

    /// The TXT strings at `name` (each record's strings joined).
    pub async fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        self.txt_asked.ask(name, || self.ask_txt(name)).await
    }

    async fn ask_txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        let name = fqdn(name)?;
        match self.bounded(self.resolver.txt_lookup(name)).await? {
            Ok(lookup) => Ok(lookup
                .iter()
                .map(|txt| {
                    txt.txt_data()
                        .iter()
                        .map(|part| String::from_utf8_lossy(part).into_owned())
                        .collect::<String>()
                })
                .collect()),
            Err(e) if e.is_no_records_found() => Ok(Vec::new()),
            Err(e) => Err(classify(e)),
        }
    }

    /// TLSA records of `_port._tcp.host`, believed only with a loopback resolver's AD bit.
    pub async fn tlsa(&self, host: &str, port: u16) -> Result<TlsaAnswer, DnsError> {
        let Some(server) = self.tlsa_server else {
            return Ok(TlsaAnswer::Insecure);
        };
        let owner = format!("_{port}._tcp.{host}");
        self.tlsa_asked
            .ask(&owner, || self.ask_tlsa(server, &owner))
            .await
    }

    async fn ask_tlsa(&self, server: SocketAddr, owner: &str) -> Result<TlsaAnswer, DnsError> {
        let name = fqdn(owner)?;
        let response = self.bounded(ask(server, name, RecordType::TLSA)).await??;
        match response.response_code() {
            ResponseCode::NoError | ResponseCode::NXDomain => {}
            code => return Err(DnsError::Failed(format!("TLSA lookup answered {code}"))),
        }
        if !response.authentic_data() {
            return Ok(TlsaAnswer::Insecure);
        }
        let records: Vec<Tlsa> = response
            .answers()
            .iter()
            .filter_map(|record| match record.data() {
                RData::TLSA(tlsa) => Some(Tlsa {
                    usage: tlsa.cert_usage().into(),
                    selector: tlsa.selector().into(),
                    matching: tlsa.matching().into(),
                    data: tlsa.cert_data().to_vec(),
                }),
                _ => None,
            })
            .collect();
        Ok(if records.is_empty() {
            TlsaAnswer::Insecure
        } else {
            TlsaAnswer::Secure(records)
        })
    }

    async fn bounded<T>(&self, work: impl std::future::Future<Output = T>) -> Result<T, DnsError> {
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| DnsError::Timeout(self.timeout))
    }
}

/// Lookups in flight, by the name asked: a second asker of the same question waits for the
/// first one's answer. Entries live only while someone waits, so the map is bounded by the
/// sessions looking up at once; an answer is then left to hickory's cache (and its TTL).
struct InFlight<T> {
    waiting: Mutex<HashMap<String, Answer<T>>>,
}

/// One question's answer, once it is in; shared by everyone who asked it meanwhile.
type Answer<T> = Arc<OnceCell<Result<T, DnsError>>>;

impl<T> Default for InFlight<T> {
    fn default() -> Self {
        InFlight {
            waiting: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone> InFlight<T> {
    async fn ask<F>(&self, name: &str, lookup: impl FnOnce() -> F) -> Result<T, DnsError>
    where
        F: Future<Output = Result<T, DnsError>>,
    {
        let key = name.to_ascii_lowercase();
        let cell = Arc::clone(self.lock().entry(key.clone()).or_default());
        let leave = Leave {
            asked: self,
            key,
            cell,
        };
        leave.cell.get_or_init(lookup).await.clone()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Answer<T>>> {
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Takes a question off the map when it is answered, or when its last asker gave up (a
/// cancelled lookup leaves the cell empty; the next asker would start it again).
struct Leave<'a, T: Clone> {
    asked: &'a InFlight<T>,
    key: String,
    cell: Answer<T>,
}

impl<T: Clone> Drop for Leave<'_, T> {
    fn drop(&mut self) {
        let mut waiting = self.asked.lock();
        let ours = waiting
            .get(&self.key)
            .is_some_and(|cell| Arc::ptr_eq(cell, &self.cell));
        // Two holders left: the map and this asker.
        if ours && (self.cell.initialized() || Arc::strong_count(&self.cell) == 2) {
            waiting.remove(&self.key);
        }
    }
}

fn fqdn(name: &str) -> Result<Name, DnsError> {
    let mut name = Name::from_ascii(name).map_err(|e| DnsError::Failed(e.to_string()))?;
    name.set_fqdn(true);
    Ok(name)
}

fn classify(error: ResolveError) -> DnsError {
    if error.is_nx_domain() {
        DnsError::NoSuchDomain
    } else {
        DnsError::Failed(error.to_string())
    }
}

/// One query over UDP with DO and AD set (RFC 6840 5.7: AD in a query asks for the bit).
async fn ask(server: SocketAddr, name: Name, kind: RecordType) -> Result<Message, DnsError> {
    let failed = |e: &dyn std::fmt::Display| DnsError::Failed(e.to_string());
    let id = super::mx::random_below(usize::from(u16::MAX)) as u16;
    let mut query = Message::new();
    let mut edns = Edns::new();
    edns.set_dnssec_ok(true).set_max_payload(1232);
    query
        .set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .set_authentic_data(true)
        .add_query(Query::query(name, kind))
        .set_edns(edns);
    let bytes = query.to_vec().map_err(|e| failed(&e))?;
    let bind: SocketAddr = if server.is_ipv4() {
        "127.0.0.1:0".parse().map_err(|e| failed(&e))?
    } else {
        "[::1]:0".parse().map_err(|e| failed(&e))?
    };
    let socket = UdpSocket::bind(bind).await.map_err(|e| failed(&e))?;
    socket.connect(server).await.map_err(|e| failed(&e))?;
    socket.send(&bytes).await.map_err(|e| failed(&e))?;
    let mut buffer = vec![0u8; 4096];
    loop {
        let n = socket.recv(&mut buffer).await.map_err(|e| failed(&e))?;
        let Ok(response) = Message::from_vec(&buffer[..n]) else {
            continue;
        };
        if response.id() != id || response.message_type() != MessageType::Response {
            continue;
        }
        if response.truncated() {
            return Err(DnsError::Failed("TLSA answer truncated".into()));
        }
        return Ok(response);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn askers_of_one_name_share_one_lookup_and_leave_nothing_behind() {
        let asked = InFlight::<u32>::default();
        let lookups = AtomicUsize::new(0);
        let lookup = || async {
            lookups.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok(7)
        };
        let (a, b, c) = tokio::join!(
            asked.ask("Wervik.BE", lookup),
            asked.ask("wervik.be", lookup),
            asked.ask("wervik.be", lookup)
        );
        assert_eq!((a.unwrap(), b.unwrap(), c.unwrap()), (7, 7, 7));
        assert_eq!(lookups.load(Ordering::SeqCst), 1);
        assert!(
            asked.lock().is_empty(),
            "answered questions go to the cache"
        );
        assert_eq!(asked.ask("wervik.be", lookup).await.unwrap(), 7);
        assert_eq!(
            lookups.load(Ordering::SeqCst),
            2,
            "a later asker asks again"
        );
    }

    #[tokio::test]
    async fn a_cancelled_lookup_leaves_nothing_behind() {
        let asked = InFlight::<u32>::default();
        let never = asked.ask("wervik.be", std::future::pending);
        let timed_out = tokio::time::timeout(Duration::from_millis(10), never).await;
        assert!(timed_out.is_err());
        assert!(asked.lock().is_empty());
        let failed = asked
            .ask("wervik.be", || async { Err(DnsError::NoSuchDomain) })
            .await;
        assert!(matches!(failed, Err(DnsError::NoSuchDomain)));
        assert!(asked.lock().is_empty());
    }
}
