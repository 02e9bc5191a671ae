//! Configuration: one TOML file plus `SEALGATE__SECTION__KEY` environment overrides.
//!
//! Every limit the gateway enforces is a named setting here with a default that is safe for a
//! public agency's outbound mail. Unknown keys are errors, not silently ignored: a typo in a
//! security setting must never fall back to a default without the administrator knowing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Why a configuration could not be loaded. The message names the key and what is expected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuration {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("configuration {path}: `{key}` {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub smtp: SmtpConfig,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub timeouts: Timeouts,
    #[serde(default)]
    pub access: Access,
    pub relay: RelayConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub audit: AuditConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub policy: PolicyConfig,
    #[serde(default)]
    pub protocols: Vec<ProtocolConfig>,
    /// Next hops by recipient domain; recipients in no listed domain take `relay.next_hop`.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    #[serde(default)]
    pub notify: NotifyConfig,
}

/// The refusal notice sealgate sends the sender of a refused protected message itself.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    pub enabled: bool,
    /// The notice's From, e.g. `postmaster@agency.example`.
    pub from: String,
    /// Where notices go, normally the agency's own mail server: `smtp://host:port`.
    pub next_hop: String,
    /// Notices to one sender per hour at most (a looping client cannot make a mail bomb).
    pub per_sender_per_hour: usize,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            enabled: false,
            from: String::new(),
            next_hop: String::new(),
            per_sender_per_hour: 5,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub listen: Vec<SocketAddr>,
    pub hostname: String,
    #[serde(default = "yes")]
    pub received_header: bool,
    #[serde(default)]
    pub require_tls: bool,
    #[serde(default)]
    pub tls: Option<TlsFiles>,
    /// Peers allowed to send a PROXY protocol header (HAProxy). Empty: PROXY is refused.
    #[serde(default)]
    pub proxy_protocol_from: Vec<IpNet>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub max_message_size: usize,
    pub max_recipients: usize,
    pub max_command_line: usize,
    pub max_sessions: usize,
    pub max_sessions_per_client: usize,
    pub max_errors: u32,
    pub memory_budget: usize,
    /// Bytes of the memory budget one client address may hold at once, over all its
    /// sessions. Unset: an eighth of the budget, but at least `max_message_size`.
    pub memory_per_client: Option<usize>,
    /// Inspection's working memory, reserved from the budget before a protected message is
    /// judged, as a multiple of the message's size (see docs/admin.md for the measurement).
    pub inspection_memory_factor: usize,
    /// Message data must arrive at least this fast once the grace has passed (Postfix's
    /// `smtpd_min_data_rate`); slower: `421 4.4.2` and the connection is closed. 0: off.
    pub min_data_rate_bytes_per_second: u64,
    pub min_data_rate_grace_seconds: u64,
    /// A message whose buffer grows past this many bytes is *large*.
    pub large_message_size: usize,
    /// Large messages received at once, over all sessions; a further one is read to its end
    /// and discarded, and gets `452 4.3.1` (as when the budget is spent). Unset: twice the
    /// cores, at least 4. Bounds the CPU that big transfers take from ordinary mail.
    pub max_concurrent_large_messages: Option<usize>,
    /// Protected messages judged at once (archive parsing, password tries); the others wait
    /// for a place. Unset: one per core, so protected mail cannot take every core from
    /// ordinary mail. Read at start only.
    pub max_concurrent_inspections: Option<usize>,
}

impl Limits {
    /// The per-client share of the memory budget in bytes.
    pub fn memory_per_client(&self) -> usize {
        self.memory_per_client
            .unwrap_or_else(|| (self.memory_budget / 8).max(self.max_message_size))
    }

    /// Large messages received at once: the setting, else twice the cores, at least 4.
    pub fn concurrent_large_messages(&self) -> usize {
        self.max_concurrent_large_messages
            .unwrap_or_else(|| (2 * cores()).max(4))
    }

    /// Inspections run at once: the setting, else one per core.
    pub fn concurrent_inspections(&self) -> usize {
        self.max_concurrent_inspections.unwrap_or_else(cores)
    }
}

/// The cores this process may use (2 when that cannot be known): defaults scale with it.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: 36 * 1024 * 1024,
            max_recipients: 100,
            max_command_line: 2048,
            max_sessions: 1000,
            max_sessions_per_client: 100,
            max_errors: 20,
            memory_budget: 1024 * 1024 * 1024,
            memory_per_client: None,
            inspection_memory_factor: 4,
            min_data_rate_bytes_per_second: 500,
            min_data_rate_grace_seconds: 10,
            large_message_size: 8 * 1024 * 1024,
            max_concurrent_large_messages: None,
            max_concurrent_inspections: None,
        }
    }
}

/// Inbound timeouts in seconds; defaults follow RFC 5321 section 4.5.3.2.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    pub command_seconds: u64,
    pub data_seconds: u64,
    pub shutdown_grace_seconds: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            command_seconds: 300,
            data_seconds: 180,
            shutdown_grace_seconds: 30,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Access {
    pub client_networks: Vec<IpNet>,
    pub users: Vec<User>,
    /// Password checks (argon2: CPU and ~19 MiB each) running at once, for all sessions
    /// together; more wait. Unset: half the cores (at least 1), so failing AUTH from a
    /// botnet cannot take every core from the mail. Read at start only.
    pub auth_max_concurrent_checks: Option<usize>,
    /// AUTH attempts one client address (IPv6: its /64) may fail within the window; the next
    /// gets `421 4.7.0` and the connection is closed.
    pub auth_max_failures: u32,
    pub auth_failure_window_seconds: u64,
    /// Wait before answering the first failed AUTH; doubles with each further failure of the
    /// client, up to 16 times this.
    pub auth_failure_delay_milliseconds: u64,
}

impl Default for Access {
    fn default() -> Self {
        Access {
            client_networks: Vec::new(),
            users: Vec::new(),
            auth_max_concurrent_checks: None,
            auth_max_failures: 5,
            auth_failure_window_seconds: 600,
            auth_failure_delay_milliseconds: 500,
        }
    }
}

impl Access {
    /// The size of the password-check pool: the setting, else half the cores (at least 1).
    pub fn auth_check_pool_size(&self) -> usize {
        self.auth_max_concurrent_checks
            .unwrap_or_else(|| cores() / 2)
            .max(1)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    /// An argon2 PHC string, as printed by `sealgate hash-password`.
    pub password_hash: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsPolicy {
    None,
    Opportunistic,
    Required,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    /// `smtp://host:port` of the smarthost, or `"mx"`: each recipient domain's mail exchangers.
    pub next_hop: String,
    /// Resolvers (`ip:port`) for delivery to the internet; empty: the system's resolver.
    /// TLSA (DANE) is believed only from the first one, and only when it is on loopback.
    #[serde(default)]
    pub dns_servers: Vec<SocketAddr>,
    #[serde(default = "opportunistic")]
    pub tls: TlsPolicy,
    #[serde(default = "yes")]
    pub tls_verify: bool,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub auth_user: Option<String>,
    #[serde(default)]
    pub auth_password_file: Option<PathBuf>,
    #[serde(default)]
    pub helo_name: Option<String>,
    #[serde(default = "thirty")]
    pub connect_timeout_seconds: u64,
    #[serde(default = "two_minutes")]
    pub command_timeout_seconds: u64,
    /// Wait for the next hop's answer to the end of data. Keep it well below the sending
    /// server's own 10-minute wait, or it gives up while the next hop accepts: a duplicate.
    #[serde(default = "five_minutes")]
    pub data_timeout_seconds: u64,
}

/// The value of `next_hop` that means "the recipient domain's mail exchangers".
pub const MX_NEXT_HOP: &str = "mx";

/// Transport security of one route, by Postfix's names (`smtp_tls_security_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteTls {
    /// Cleartext, even when the next hop offers STARTTLS.
    None,
    /// STARTTLS when offered, any certificate; cleartext otherwise.
    May,
    /// TLS required, any certificate.
    Encrypt,
    /// TLS required, certificate verified against the CA roots for the host's name.
    Verify,
    /// DANE where the host has DNSSEC-valid TLSA records, else `may`.
    Dane,
}

impl RouteTls {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteTls::None => "none",
            RouteTls::May => "may",
            RouteTls::Encrypt => "encrypt",
            RouteTls::Verify => "verify",
            RouteTls::Dane => "dane",
        }
    }

    /// What `relay.tls` and `relay.tls_verify` mean in these terms (a route without `tls`).
    pub fn from_relay(tls: TlsPolicy, verify: bool) -> RouteTls {
        match (tls, verify) {
            (TlsPolicy::None, _) => RouteTls::None,
            (TlsPolicy::Opportunistic, _) => RouteTls::May,
            (TlsPolicy::Required, false) => RouteTls::Encrypt,
            (TlsPolicy::Required, true) => RouteTls::Verify,
        }
    }
}

/// One `[[routes]]` entry: mail for `domains` goes to `next_hop`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The route's name in metrics and logs; defaults to `route1`, `route2`, ... by position.
    #[serde(default)]
    pub name: Option<String>,
    /// Recipient domains (exact; `wervik.be` does not cover `sub.wervik.be`).
    pub domains: Vec<String>,
    /// `smtp://host:port` or `"mx"`.
    pub next_hop: String,
    /// Default: what `relay.tls` / `relay.tls_verify` say.
    #[serde(default)]
    pub tls: Option<RouteTls>,
}

impl RouteConfig {
    /// The domains in canonical form (IDNA ASCII, lower case, no trailing dot), as
    /// recipients' domains are compared; those that are not domain names are left out
    /// (validation refuses them).
    pub fn canonical_domains(&self) -> Vec<String> {
        self.domains
            .iter()
            .filter_map(|d| crate::envelope::canonical_domain(d.trim()).ok())
            .collect()
    }

    /// The name used as a metric label: configured, or by position (`index` counts from 0).
    pub fn label(&self, index: usize) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("route{}", index + 1))
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub listen: Option<SocketAddr>,
    /// `/readyz` turns unready when no next-hop transaction succeeded for this long
    /// and the last attempt failed.
    pub next_hop_stale_seconds: u64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 9725))),
            next_hop_stale_seconds: 300,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// `sqlite:PATH` or `postgres://user@host:port/db`.
    pub store: String,
    /// Name of this gateway instance in audit records; defaults to `smtp.hostname`.
    pub instance: Option<String>,
    /// Records older than this are pruned daily; 0 keeps them forever.
    pub retention_days: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            store: "sqlite:/var/lib/sealgate/audit.db".into(),
            instance: None,
            retention_days: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter such as `info` or `sealgate=debug`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// Settings shared by every protocol.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// The sender organisation's own domains: recipients there may be copied on protected mail.
    pub own_domains: Vec<String>,
    /// Overrides of the built-in bilingual reject texts, by reason code: one Dutch line, a
    /// newline, one English line.
    pub reject_texts: std::collections::BTreeMap<String, String>,
    /// A page for staff (e.g. the intranet's 7-Zip how-to with pictures), printed in every
    /// refusal and notice.
    pub help_url: Option<String>,
}

/// One data-sharing protocol: who may receive what, and under which rules.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolConfig {
    pub id: String,
    pub title: String,
    /// Addresses (`kindengezin@wervik.be`) and whole domains (`@wervik.be`).
    pub mailboxes: Vec<String>,
    pub in_force_from: NaiveDate,
    #[serde(default)]
    pub in_force_until: Option<NaiveDate>,
    #[serde(default)]
    pub rules: Rules,
    /// `"enforce"` (the default): a message that breaks a rule is refused. `"monitor"`: it is
    /// relayed and recorded as `would_reject` (for a rollout; see docs/policy.md).
    #[serde(default)]
    pub mode: Mode,
    /// Article 5: who may send to the mailboxes. Exact addresses, `@domain` or `*@domain`
    /// (the same), normalised like recipients. None: any sender.
    #[serde(default)]
    pub senders: Option<Vec<String>>,
}

impl ProtocolConfig {
    /// The `senders` entries as patterns in canonical form (None: any sender). `*@domain` is
    /// `@domain`: a whole domain, exactly that domain (no subdomains), as for mailboxes. Any
    /// other `*` is refused (it looks like a wildcard that would match nothing).
    /// Err names the first entry that is no address or domain, and why.
    pub fn sender_patterns(
        &self,
    ) -> Result<Option<Vec<crate::envelope::MailboxPattern>>, (String, String)> {
        let Some(senders) = &self.senders else {
            return Ok(None);
        };
        senders
            .iter()
            .map(|entry| {
                let text = entry.trim();
                let text = text
                    .strip_prefix('*')
                    .filter(|t| t.starts_with('@'))
                    .unwrap_or(text);
                if text.contains('*') {
                    return Err((
                        entry.clone(),
                        "the only wildcard is a whole domain: \"*@domain\" or \"@domain\"".into(),
                    ));
                }
                crate::envelope::MailboxPattern::parse(text)
                    .map_err(|e| (entry.clone(), e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

/// How a protocol applies its rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A message that breaks a rule is refused (550).
    #[default]
    Enforce,
    /// A message that breaks a rule is relayed like any protected message and recorded as
    /// `would_reject` with its reasons; never for the refusals monitor mode cannot relax.
    Monitor,
}

impl Mode {
    /// As written in the configuration: "enforce" or "monitor".
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Monitor => "monitor",
        }
    }
}

/// The rules for a protected message. The defaults are the strict reading of article 6.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    pub require_header_encryption: bool,
    pub min_kdf_cycles_power: u8,
    pub allow_other_attachments: bool,
    pub forbid_identifiers: bool,
    pub forbid_password_in_message: bool,
    pub allow_unrelated_recipients: bool,
    pub max_nesting_depth: usize,
    pub max_parts: usize,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            require_header_encryption: true,
            min_kdf_cycles_power: 19,
            allow_other_attachments: false,
            forbid_identifiers: true,
            forbid_password_in_message: true,
            allow_unrelated_recipients: false,
            max_nesting_depth: 4,
            max_parts: 100,
        }
    }
}

/// A DNS host name in ASCII: dot-separated labels of letters, digits and inner hyphens.
fn is_host_name(name: &str) -> bool {
    name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

fn yes() -> bool {
    true
}
fn opportunistic() -> TlsPolicy {
    TlsPolicy::Opportunistic
}
fn thirty() -> u64 {
    30
}
fn two_minutes() -> u64 {
    120
}
fn five_minutes() -> u64 {
    300
}

impl Config {
    /// Reads `path`, applies `SEALGATE__SECTION__KEY` overrides and validates the result.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        if let Err(source) = std::fs::metadata(path) {
            return Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
        let parse_error = |e: config::ConfigError| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let raw = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix("SEALGATE")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    .list_separator(",")
                    .with_list_parse_key("smtp.listen")
                    .with_list_parse_key("access.client_networks")
                    .with_list_parse_key("policy.own_domains"),
            )
            .build()
            .map_err(parse_error)?;
        let config: Config = raw.try_deserialize().map_err(parse_error)?;
        config
            .validate()
            .map_err(|(key, message)| ConfigError::Invalid {
                path: path.to_path_buf(),
                key,
                message,
            })?;
        Ok(config)
    }

    /// Checks what serde cannot: relations between keys and values with a shape.
    fn validate(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, message: String| Err((key.to_string(), message));
        if self.smtp.listen.is_empty() {
            return bad("smtp.listen", "must name at least one \"ip:port\"".into());
        }
        if self.smtp.hostname.trim().is_empty() || self.smtp.hostname.contains(char::is_whitespace)
        {
            return bad("smtp.hostname", "must be a host name without spaces".into());
        }
        if let Err(e) = NextHop::parse(&self.relay.next_hop) {
            return bad("relay.next_hop", e.to_string());
        }
        if self.smtp.require_tls && self.smtp.tls.is_none() {
            return bad(
                "smtp.require_tls",
                "needs [smtp.tls] with cert and key files".into(),
            );
        }
        if !self.access.users.is_empty() && self.smtp.tls.is_none() {
            return bad(
                "access.users",
                "AUTH is offered over TLS only: configure [smtp.tls] too".into(),
            );
        }
        let mut mailboxes = std::collections::HashMap::new();
        for (i, user) in self.access.users.iter().enumerate() {
            if argon2::PasswordHash::new(&user.password_hash).is_err() {
                return bad(
                    &format!("access.users[{i}].password_hash"),
                    "is not an argon2 hash; make one with `sealgate hash-password`".into(),
                );
            }
            // A protocol's `senders` list compares AUTH names as addresses; two names of one
            // mailbox there would let one account pass as the other.
            let Ok(address) = crate::envelope::Address::parse(&user.name) else {
                continue;
            };
            if let Some(first) = mailboxes.insert(address.canonical(), i) {
                return bad(
                    &format!("access.users[{i}].name"),
                    format!(
                        "{:?} is the same mailbox as access.users[{first}].name (addresses \
                         are compared ignoring case, +tag and invisible characters); give \
                         each person one account",
                        user.name
                    ),
                );
            }
        }
        if self.relay.auth_user.is_some() != self.relay.auth_password_file.is_some() {
            return bad(
                "relay.auth_user",
                "and relay.auth_password_file go together".into(),
            );
        }
        let limits = &self.limits;
        for (key, value) in [
            ("limits.max_message_size", limits.max_message_size),
            ("limits.max_recipients", limits.max_recipients),
            ("limits.max_sessions", limits.max_sessions),
            (
                "limits.max_sessions_per_client",
                limits.max_sessions_per_client,
            ),
        ] {
            if value == 0 {
                return bad(key, "must be greater than 0".into());
            }
        }
        if limits.max_command_line < 512 {
            return bad(
                "limits.max_command_line",
                "must be at least 512 (RFC 5321 4.5.3.1.4)".into(),
            );
        }
        if limits.memory_budget < limits.max_message_size {
            return bad(
                "limits.memory_budget",
                "must be at least limits.max_message_size".into(),
            );
        }
        if let Some(share) = limits.memory_per_client {
            if share < limits.max_message_size || share > limits.memory_budget {
                return bad(
                    "limits.memory_per_client",
                    "must be between limits.max_message_size and limits.memory_budget".into(),
                );
            }
        }
        if limits.inspection_memory_factor == 0 {
            return bad(
                "limits.inspection_memory_factor",
                "must be at least 1".into(),
            );
        }
        if limits.large_message_size == 0 {
            return bad("limits.large_message_size", "must be greater than 0".into());
        }
        if limits.max_concurrent_large_messages == Some(0) {
            return bad(
                "limits.max_concurrent_large_messages",
                "must be greater than 0 (leave it out for twice the cores)".into(),
            );
        }
        if limits.max_concurrent_inspections == Some(0) {
            return bad(
                "limits.max_concurrent_inspections",
                "must be greater than 0 (leave it out for one per core)".into(),
            );
        }
        if self.access.auth_max_concurrent_checks == Some(0) {
            return bad(
                "access.auth_max_concurrent_checks",
                "must be greater than 0 (leave it out for half the cores)".into(),
            );
        }
        if self.access.auth_max_failures == 0 || self.access.auth_failure_window_seconds == 0 {
            return bad(
                "access.auth_max_failures",
                "and access.auth_failure_window_seconds must be greater than 0".into(),
            );
        }
        if !(self.audit.store.starts_with("sqlite:")
            || self.audit.store.starts_with("postgres://")
            || self.audit.store.starts_with("postgresql://"))
        {
            return bad(
                "audit.store",
                "must be \"sqlite:PATH\" or \"postgres://...\"".into(),
            );
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return bad(
                "log.level",
                "must be a level (error, warn, info, debug, trace) or a tracing filter".into(),
            );
        }
        self.validate_own_domains()?;
        self.validate_routes()?;
        self.validate_protocols()
    }

    fn validate_routes(&self) -> Result<(), (String, String)> {
        let mut names = std::collections::HashSet::new();
        let mut domains = std::collections::HashSet::new();
        for (i, route) in self.routes.iter().enumerate() {
            let key = |field: &str| format!("routes[{i}].{field}");
            let label = route.label(i);
            let label_ok = !label.is_empty()
                && label.len() <= 64
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && label != "default"
                && label != MX_NEXT_HOP;
            if !label_ok || !names.insert(label.clone()) {
                return Err((
                    key("name"),
                    format!(
                        "{label:?} must be unique, letters, digits, - or _, at most 64, \
                         and not \"default\" or \"mx\""
                    ),
                ));
            }
            match NextHop::parse(&route.next_hop) {
                Err(e) => return Err((key("next_hop"), e.to_string())),
                // TLSA records are looked up per MX host; a smarthost would silently get `may`.
                Ok(NextHop::Smarthost(_)) if route.tls == Some(RouteTls::Dane) => {
                    return Err((
                        key("tls"),
                        "\"dane\" needs next_hop = \"mx\" (TLSA records are looked up per MX \
                         host); for a smarthost choose \"verify\" (CA-checked) or \"encrypt\""
                            .into(),
                    ))
                }
                Ok(_) => {}
            }
            if route.domains.is_empty() {
                return Err((key("domains"), "must list at least one domain".into()));
            }
            for domain in &route.domains {
                let canonical = match crate::envelope::canonical_domain(domain.trim()) {
                    Ok(canonical) if is_host_name(&canonical) => canonical,
                    Ok(_) => {
                        return Err((
                            key("domains"),
                            format!("{domain:?} is not a host name (letters, digits, -, .)"),
                        ))
                    }
                    Err(e) => {
                        return Err((
                            key("domains"),
                            format!("{domain:?} is not a domain name: {e}"),
                        ))
                    }
                };
                if !domains.insert(canonical) {
                    return Err((
                        key("domains"),
                        format!("{domain:?} is already in an earlier route"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_own_domains(&self) -> Result<(), (String, String)> {
        for (i, domain) in self.policy.own_domains.iter().enumerate() {
            let name = domain.trim().trim_start_matches('@');
            if let Err(e) = crate::envelope::canonical_domain(name) {
                return Err((
                    format!("policy.own_domains[{i}]"),
                    format!("{domain:?} is not a domain name: {e}"),
                ));
            }
        }
        Ok(())
    }

    fn validate_protocols(&self) -> Result<(), (String, String)> {
        let mut ids = std::collections::HashSet::new();
        for (i, protocol) in self.protocols.iter().enumerate() {
            let key = |field: &str| format!("protocols[{i}].{field}");
            if protocol.id.trim().is_empty() || !ids.insert(protocol.id.as_str()) {
                return Err((key("id"), "must be present and unique".into()));
            }
            if protocol.mailboxes.is_empty() {
                return Err((key("mailboxes"), "must list at least one mailbox".into()));
            }
            for mailbox in &protocol.mailboxes {
                if let Err(e) = crate::envelope::MailboxPattern::parse(mailbox) {
                    return Err((key("mailboxes"), format!("{mailbox:?}: {e}")));
                }
            }
            if let Some(senders) = &protocol.senders {
                if senders.is_empty() {
                    return Err((
                        key("senders"),
                        "is empty: list who may send, or leave the key out to allow any sender"
                            .into(),
                    ));
                }
                if let Err((sender, e)) = protocol.sender_patterns() {
                    return Err((key("senders"), format!("{sender:?}: {e}")));
                }
            }
            if let Some(until) = protocol.in_force_until {
                if until < protocol.in_force_from {
                    return Err((key("in_force_until"), "is before in_force_from".into()));
                }
            }
        }
        Ok(())
    }

    /// The keys whose new value a reload (SIGHUP) cannot apply: they are read once, when the
    /// process starts (sockets are bound, the store is opened, logging is set up, the budget's
    /// semaphore is sized).
    pub const RESTART_ONLY_KEYS: [&'static str; 9] = [
        "smtp.listen",
        "metrics.listen",
        "audit.store",
        "audit.instance",
        "log.format",
        "log.level",
        "limits.memory_budget",
        "access.auth_max_concurrent_checks",
        "limits.max_concurrent_inspections",
    ];

    /// Which of [`Config::RESTART_ONLY_KEYS`] differ between the running configuration and
    /// `next`.
    pub fn restart_only_changes(&self, next: &Config) -> Vec<&'static str> {
        let changed = [
            self.smtp.listen != next.smtp.listen,
            self.metrics.listen != next.metrics.listen,
            self.audit.store != next.audit.store,
            self.audit.instance != next.audit.instance,
            self.log.format != next.log.format,
            self.log.level != next.log.level,
            self.limits.memory_budget != next.limits.memory_budget,
            self.access.auth_max_concurrent_checks != next.access.auth_max_concurrent_checks,
            self.limits.max_concurrent_inspections != next.limits.max_concurrent_inspections,
        ];
        Self::RESTART_ONLY_KEYS
            .into_iter()
            .zip(changed)
            .filter_map(|(key, changed)| changed.then_some(key))
            .collect()
    }

    pub fn instance_name(&self) -> &str {
        self.audit
            .instance
            .as_deref()
            .unwrap_or(&self.smtp.hostname)
    }
}

/// What a `next_hop` setting names: a smarthost, or the recipient domain's mail exchangers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextHop {
    Smarthost(NextHopAddress),
    Mx,
}

impl NextHop {
    pub fn parse(text: &str) -> Result<NextHop, NextHopAddressError> {
        if text == MX_NEXT_HOP {
            return Ok(NextHop::Mx);
        }
        NextHopAddress::parse(text).map(NextHop::Smarthost)
    }
}

/// Where mail goes next: the smarthost of `relay.next_hop`, parsed from `smtp://host:port`.
/// Lives here, not in `relay`, so that validating the configuration needs no relay code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextHopAddress {
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NextHopAddressError {
    #[error("must look like \"smtp://host:port\" or be \"mx\" (got {0:?})")]
    Shape(String),
    #[error("port {0:?} is not a number from 1 to 65535")]
    Port(String),
}

impl NextHopAddress {
    pub fn parse(url: &str) -> Result<NextHopAddress, NextHopAddressError> {
        let shape = || NextHopAddressError::Shape(url.to_string());
        let rest = url.strip_prefix("smtp://").ok_or_else(shape)?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = match rest.strip_prefix('[') {
            Some(v6) => {
                let (host, after) = v6.split_once(']').ok_or_else(shape)?;
                (host, after.strip_prefix(':').unwrap_or("25"))
            }
            None => match rest.rsplit_once(':') {
                Some((host, port)) => (host, port),
                None => (rest, "25"),
            },
        };
        if host.is_empty() || host.contains(['/', '@', ' ']) {
            return Err(shape());
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| NextHopAddressError::Port(port.to_string()))?;
        Ok(NextHopAddress {
            host: host.to_string(),
            port,
        })
    }
}

impl std::fmt::Display for NextHopAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod next_hop_tests {
    use super::*;

    #[test]
    fn cpu_bounds_default_to_a_share_of_the_cores() {
        assert_eq!(
            Access::default().auth_check_pool_size(),
            (cores() / 2).max(1),
            "password checks take at most half the cores"
        );
        let limits = Limits::default();
        assert_eq!(limits.concurrent_large_messages(), (2 * cores()).max(4));
        assert_eq!(limits.large_message_size, 8 * 1024 * 1024);
    }

    #[test]
    fn next_hop_urls() {
        assert_eq!(
            NextHopAddress::parse("smtp://relay.example:587").unwrap(),
            NextHopAddress {
                host: "relay.example".into(),
                port: 587
            }
        );
        assert_eq!(
            NextHopAddress::parse("smtp://relay.example").unwrap().port,
            25
        );
        assert_eq!(
            NextHopAddress::parse("smtp://[::1]:2526").unwrap(),
            NextHopAddress {
                host: "::1".into(),
                port: 2526
            }
        );
        assert_eq!(
            NextHopAddress::parse("smtp://[::1]:2526")
                .unwrap()
                .to_string(),
            "[::1]:2526"
        );
        assert!(NextHopAddress::parse("relay.example:25").is_err());
        assert!(NextHopAddress::parse("smtp://relay.example:0").is_err());
        assert!(NextHopAddress::parse("smtp://relay.example:x").is_err());
        assert!(NextHopAddress::parse("smtp://:25").is_err());
    }
}
