//! MTA-STS (RFC 8461): a receiving domain's published demand that mail to it travel over TLS
//! to a named set of MX hosts with a certificate valid for them.
//!
//! The DNS TXT record (`_mta-sts.<domain>`) says a policy exists and names its version id; the
//! policy itself is fetched over HTTPS from `mta-sts.<domain>` and cached for its `max_age`.
//! This module reads both texts and answers whether an MX host is allowed; fetching and the
//! cache live with the resolver. Parsing is strict where the RFC is (a policy that cannot be
//! read is no policy) and bounded (the RFC's 64 KiB limit on the policy body).

/// Longest policy body read (RFC 8461 3.3).
pub const MAX_POLICY_BYTES: usize = 64 * 1024;
/// Longest `max_age` honoured: one year (RFC 8461 3.2).
pub const MAX_AGE_CAP: u64 = 31_557_600;

/// The TXT record: that a policy exists, and its id (a change means: fetch it again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsRecord {
    pub id: String,
}

/// Parses one TXT record's text; None when it is not an STSv1 record.
pub fn parse_record(text: &str) -> Option<StsRecord> {
    let mut fields = text.split(';').map(str::trim).filter(|f| !f.is_empty());
    if fields.next()? != "v=STSv1" {
        return None;
    }
    let mut id = None;
    for field in fields {
        let (key, value) = field.split_once('=')?;
        if key.trim() == "id" {
            let value = value.trim();
            let valid =
                (1..=32).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric());
            if !valid {
                return None;
            }
            id = Some(value.to_string());
        }
    }
    id.map(|id| StsRecord { id })
}

/// What the policy asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// TLS to a listed MX with a valid certificate, or no delivery.
    Enforce,
    /// Report failures, deliver anyway (sealgate logs them).
    Testing,
    /// The domain withdraws its policy.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    /// MX host patterns: `mx.example.org` or `*.example.org` (one leftmost label).
    pub mx: Vec<String>,
    /// Seconds the policy may be cached, capped at [`MAX_AGE_CAP`].
    pub max_age: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the policy is larger than {MAX_POLICY_BYTES} bytes")]
    TooLarge,
    #[error("the policy is not UTF-8 text")]
    NotText,
    #[error("the policy lacks `version: STSv1`")]
    Version,
    #[error("the policy's mode is missing or not enforce, testing or none")]
    Mode,
    #[error("the policy's max_age is missing or not a number")]
    MaxAge,
    #[error("an enforce or testing policy names no mx")]
    NoMx,
}

/// Parses a policy body (`key: value` lines, CRLF or LF).
pub fn parse_policy(body: &[u8]) -> Result<Policy, PolicyError> {
    if body.len() > MAX_POLICY_BYTES {
        return Err(PolicyError::TooLarge);
    }
    let text = std::str::from_utf8(body).map_err(|_| PolicyError::NotText)?;
    let (mut version, mut mode, mut max_age, mut mx) = (None, None, None, Vec::new());
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "version" => version = Some(value),
            "mode" => {
                mode = Some(match value {
                    "enforce" => Mode::Enforce,
                    "testing" => Mode::Testing,
                    "none" => Mode::None,
                    _ => return Err(PolicyError::Mode),
                })
            }
            "max_age" => max_age = value.parse::<u64>().ok(),
            "mx" => mx.push(value.trim_end_matches('.').to_ascii_lowercase()),
            _ => {}
        }
    }
    if version != Some("STSv1") {
        return Err(PolicyError::Version);
    }
    let mode = mode.ok_or(PolicyError::Mode)?;
    let max_age = max_age.ok_or(PolicyError::MaxAge)?.min(MAX_AGE_CAP);
    if mode != Mode::None && mx.is_empty() {
        return Err(PolicyError::NoMx);
    }
    Ok(Policy { mode, mx, max_age })
}

impl Policy {
    /// Whether `host` (an MX name) is one the policy allows (RFC 8461 4.1).
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx.iter().any(|pattern| matches(pattern, &host))
    }
}

fn matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(parent) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
        None => pattern == host,
    }
}

/// Why a policy could not be fetched. Every one means "no policy" unless a cached one is
/// still valid (RFC 8461 5.1).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot reach the policy host: {0}")]
    Connect(String),
    #[error("TLS with the policy host failed: {0}")]
    Tls(String),
    #[error("HTTP: {0}")]
    Http(String),
    #[error("the policy host answered HTTP {0} (redirects are not followed)")]
    Status(u16),
    #[error("no answer within {0:?}")]
    Timeout(std::time::Duration),
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// Fetches `https://mta-sts.<domain>/.well-known/mta-sts.txt` from `address` (the resolved
/// policy host; `port` is 443 but for tests), verifying the certificate with `tls`.
pub async fn fetch_policy(
    domain: &str,
    address: std::net::SocketAddr,
    tls: std::sync::Arc<rustls::ClientConfig>,
    timeout: std::time::Duration,
) -> Result<Policy, FetchError> {
    tokio::time::timeout(timeout, fetch(domain, address, tls))
        .await
        .map_err(|_| FetchError::Timeout(timeout))?
}

async fn fetch(
    domain: &str,
    address: std::net::SocketAddr,
    tls: std::sync::Arc<rustls::ClientConfig>,
) -> Result<Policy, FetchError> {
    use http_body_util::{BodyExt, Empty, Limited};
    let host = format!("mta-sts.{}", domain.trim_end_matches('.'));
    let tcp = tokio::net::TcpStream::connect(address)
        .await
        .map_err(|e| FetchError::Connect(e.to_string()))?;
    let name = rustls::pki_types::ServerName::try_from(host.clone())
        .map_err(|e| FetchError::Tls(e.to_string()))?;
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(|e| FetchError::Tls(e.to_string()))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| FetchError::Http(e.to_string()))?;
    let driver = tokio::spawn(connection);
    let request = hyper::Request::get("/.well-known/mta-sts.txt")
        .header(hyper::header::HOST, &host)
        .header(hyper::header::CONNECTION, "close")
        .body(Empty::<hyper::body::Bytes>::new())
        .map_err(|e| FetchError::Http(e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| FetchError::Http(e.to_string()))?;
    let status = response.status().as_u16();
    if status != 200 {
        driver.abort();
        return Err(FetchError::Status(status));
    }
    let body = Limited::new(response.into_body(), MAX_POLICY_BYTES)
        .collect()
        .await
        .map_err(|_| PolicyError::TooLarge)?
        .to_bytes();
    driver.abort();
    Ok(parse_policy(&body)?)
}

/// Fetched policies by domain, kept for their `max_age` (RFC 8461 5.1): a new fetch only when
/// the TXT record's id changes or the policy expires; a fetch that fails falls back to a policy
/// still within its `max_age`.
#[derive(Default)]
pub struct StsCache {
    policies: std::sync::Mutex<std::collections::HashMap<String, Cached>>,
}

struct Cached {
    id: String,
    policy: Policy,
    until: std::time::Instant,
}

/// Most domains whose policies are kept; beyond, expired entries go first, then all.
pub const MAX_CACHED_POLICIES: usize = 10_000;

impl StsCache {
    /// The cached policy of `domain` when unexpired and, if `id` is given, of that id. With
    /// no TXT record (`id` None) a cached policy still applies (RFC 8461 3.2).
    pub fn get(&self, domain: &str, id: Option<&str>) -> Option<Policy> {
        let policies = self.policies.lock().unwrap_or_else(|p| p.into_inner());
        let cached = policies.get(domain)?;
        let fresh = cached.until > std::time::Instant::now();
        (fresh && id.is_none_or(|id| id == cached.id)).then(|| cached.policy.clone())
    }

    /// The cached policy of `domain` whatever its id, when unexpired (a failed fetch).
    pub fn get_stale(&self, domain: &str) -> Option<Policy> {
        self.get(domain, None)
    }

    pub fn put(&self, domain: &str, id: &str, policy: Policy) {
        let mut policies = self.policies.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        if policies.len() >= MAX_CACHED_POLICIES {
            policies.retain(|_, c| c.until > now);
            if policies.len() >= MAX_CACHED_POLICIES {
                policies.clear();
            }
        }
        let until = now + std::time::Duration::from_secs(policy.max_age);
        policies.insert(
            domain.to_string(),
            Cached {
                id: id.to_string(),
                policy,
                until,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_records() {
        assert_eq!(
            parse_record("v=STSv1; id=20261201T000000;"),
            Some(StsRecord {
                id: "20261201T000000".into()
            })
        );
        assert_eq!(
            parse_record("v=STSv1;id=abc"),
            Some(StsRecord { id: "abc".into() })
        );
        assert_eq!(parse_record("v=spf1 -all"), None);
        assert_eq!(parse_record("v=STSv1; id=has-dash"), None);
        assert_eq!(parse_record("v=STSv1;"), None);
        assert_eq!(
            parse_record(&format!("v=STSv1; id={}", "a".repeat(33))),
            None
        );
    }

    #[test]
    fn policies() {
        let policy = parse_policy(
            b"version: STSv1\r\nmode: enforce\r\nmx: mx1.wervik.be\r\nmx: *.mail.wervik.be\r\nmax_age: 604800\r\n",
        )
        .unwrap();
        assert_eq!(policy.mode, Mode::Enforce);
        assert_eq!(policy.max_age, 604_800);
        assert!(policy.allows("MX1.wervik.be."));
        assert!(policy.allows("a.mail.wervik.be"));
        assert!(!policy.allows("a.b.mail.wervik.be"), "one label only");
        assert!(!policy.allows("mail.wervik.be"));
        assert!(!policy.allows("mx1.wervik.be.evil.example"));

        let testing =
            parse_policy(b"version: STSv1\nmode: testing\nmx: m\nmax_age: 99999999999\n").unwrap();
        assert_eq!(testing.max_age, MAX_AGE_CAP);
        assert_eq!(
            parse_policy(b"version: STSv1\nmode: none\nmax_age: 1\n")
                .unwrap()
                .mode,
            Mode::None
        );
    }

    #[test]
    fn broken_policies_are_no_policies() {
        let cases: [(&[u8], PolicyError); 5] = [
            (b"mode: enforce\nmx: m\nmax_age: 1\n", PolicyError::Version),
            (
                b"version: STSv1\nmode: strict\nmx: m\nmax_age: 1\n",
                PolicyError::Mode,
            ),
            (
                b"version: STSv1\nmode: enforce\nmx: m\n",
                PolicyError::MaxAge,
            ),
            (
                b"version: STSv1\nmode: enforce\nmax_age: 1\n",
                PolicyError::NoMx,
            ),
            (b"version: STSv1\xff\n", PolicyError::NotText),
        ];
        for (body, error) in cases {
            assert_eq!(parse_policy(body), Err(error));
        }
        let huge = vec![b'x'; MAX_POLICY_BYTES + 1];
        assert_eq!(parse_policy(&huge), Err(PolicyError::TooLarge));
    }

    #[test]
    fn the_cache_keeps_a_policy_by_id_and_age() {
        let cache = StsCache::default();
        let policy =
            parse_policy(b"version: STSv1\nmode: enforce\nmx: m\nmax_age: 3600\n").unwrap();
        assert_eq!(cache.get("d", Some("1")), None);
        cache.put("d", "1", policy.clone());
        assert_eq!(cache.get("d", Some("1")), Some(policy.clone()));
        assert_eq!(
            cache.get("d", Some("2")),
            None,
            "a new id means fetch again"
        );
        assert_eq!(cache.get("d", None), Some(policy.clone()));
        let gone = Policy {
            max_age: 0,
            ..policy
        };
        cache.put("e", "1", gone);
        assert_eq!(cache.get("e", Some("1")), None, "expired");
    }
}
