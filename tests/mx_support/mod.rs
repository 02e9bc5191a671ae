//! In-process peers for delivery to the internet (issue 14): a DNS server of the tests' own
//! (MX, A, AAAA, TXT, TLSA; the AD bit on request; or silent), SMTP sinks on 127.x.y.z
//! addresses sharing one ephemeral port (some offering STARTTLS with certificates of a test
//! CA), an HTTPS server for MTA-STS policies, and a gateway whose core uses the real dialer
//! with those ports. No external program; everything stops with the test.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sealgate::gateway::{Gateway, Settings};
use sealgate::metrics::Metrics;
use sealgate::relay::SmtpDialer;
use sealgate::transfer::{Core, MemoryLedger};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

use crate::inprocess::{fixture_day, Smtp, TestConfig};

// ---------------------------------------------------------------------------------------------
// DNS

pub type Zone = HashMap<(String, RecordType), Vec<RData>>;

pub struct DnsServer {
    pub address: SocketAddr,
    /// Every question answered: name (lower case, trailing dot) and type.
    pub asked: Arc<Mutex<Vec<(String, RecordType)>>>,
    task: JoinHandle<()>,
}

impl DnsServer {
    /// How many times `owner` (with the trailing dot) was asked for `kind`.
    pub fn times_asked(&self, owner: &str, kind: RecordType) -> usize {
        let asked = self.asked.lock().expect("DNS journal");
        asked
            .iter()
            .filter(|(n, k)| n == owner && *k == kind)
            .count()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn name(text: &str) -> Name {
    Name::from_ascii(text).expect("a DNS name")
}

/// Answers from `zone` (names it does not know: NXDOMAIN; AD set when `secure`), or never
/// answers at all when `silent`.
pub async fn dns(zone: Zone, secure: bool, silent: bool) -> DnsServer {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind DNS");
    let address = socket.local_addr().expect("DNS address");
    let asked = Arc::new(Mutex::new(Vec::new()));
    let journal = asked.clone();
    let task = tokio::spawn(async move {
        let mut buffer = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buffer).await else {
                return;
            };
            if silent {
                continue;
            }
            let Ok(request) = Message::from_vec(&buffer[..n]) else {
                continue;
            };
            let Some(query) = request.queries().first().cloned() else {
                continue;
            };
            let asked = query.name().to_ascii().to_ascii_lowercase();
            journal
                .lock()
                .expect("DNS journal")
                .push((asked.clone(), query.query_type()));
            let mut response = Message::new();
            response
                .set_id(request.id())
                .set_message_type(MessageType::Response)
                .set_op_code(request.op_code())
                .set_recursion_desired(true)
                .set_recursion_available(true)
                .set_authentic_data(secure)
                .add_query(query.clone());
            let known = zone.keys().any(|(n, _)| *n == asked);
            match zone.get(&(asked.clone(), query.query_type())) {
                Some(rdatas) => {
                    for rdata in rdatas {
                        response.add_answer(Record::from_rdata(name(&asked), 300, rdata.clone()));
                    }
                }
                None if !known => {
                    response.set_response_code(ResponseCode::NXDomain);
                }
                None => {}
            }
            if let Ok(bytes) = response.to_vec() {
                let _ = socket.send_to(&bytes, peer).await;
            }
        }
    });
    DnsServer {
        address,
        asked,
        task,
    }
}

/// Adds a record to `zone` (`owner` with the trailing dot).
pub fn add(zone: &mut Zone, owner: &str, rdata: RData) {
    zone.entry((owner.to_string(), rdata.record_type()))
        .or_default()
        .push(rdata);
}

// ---------------------------------------------------------------------------------------------
// A test CA

pub struct Pki {
    pub ca: CertificateDer<'static>,
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    pub fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("a key")).expect("CA");
        Pki {
            ca: issuer.der().clone(),
            issuer,
        }
    }

    /// The CA as a PEM file in `dir` (for `relay.ca_file`).
    pub fn write_pem(&self, dir: &Path) -> std::path::PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, self.issuer.pem()).expect("write the CA");
        path
    }

    /// A certificate for `names` signed by the CA, and a server configuration presenting it.
    pub fn server(&self, names: &[&str]) -> (CertificateDer<'static>, Arc<rustls::ServerConfig>) {
        let key = KeyPair::generate().expect("a key");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let cert = CertificateParams::new(names)
            .expect("params")
            .signed_by(&key, &self.issuer)
            .expect("a certificate");
        let der = cert.der().clone();
        (der.clone(), server_config(der, key))
    }
}

/// A self-signed certificate for `name` (no CA vouches for it).
pub fn self_signed(name: &str) -> (CertificateDer<'static>, Arc<rustls::ServerConfig>) {
    let key = KeyPair::generate().expect("a key");
    let cert = CertificateParams::new(vec![name.to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("a certificate");
    let der = cert.der().clone();
    (der.clone(), server_config(der, key))
}

fn server_config(cert: CertificateDer<'static>, key: KeyPair) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![cert],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .expect("a server config"),
    )
}

// ---------------------------------------------------------------------------------------------
// SMTP sinks

/// One message as a sink received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub sender: String,
    pub recipients: Vec<String>,
    /// The DATA bytes after dot-unstuffing, without the final `.` line.
    pub data: Vec<u8>,
    pub tls: bool,
}

pub struct Sink {
    pub address: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub connections: Arc<Mutex<usize>>,
    task: JoinHandle<()>,
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Sink {
    pub fn messages(&self) -> Vec<Received> {
        self.received.lock().expect("sink journal").clone()
    }

    pub fn connections(&self) -> usize {
        *self.connections.lock().expect("sink counter")
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// An SMTP server on `ip:port` (port 0: ephemeral) that greets with `greeting` (220, or 421
/// to refuse), offers STARTTLS when `tls` is given, and accepts every message.
pub async fn sink(
    ip: &str,
    port: u16,
    greeting: u16,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Sink {
    let listener = TcpListener::bind((ip, port)).await.expect("bind a sink");
    let address = listener.local_addr().expect("sink address");
    let received = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(Mutex::new(0));
    let (journal, counter) = (received.clone(), connections.clone());
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            *counter.lock().expect("counter") += 1;
            let (journal, tls) = (journal.clone(), tls.clone());
            tokio::spawn(async move {
                let _ = session(Box::new(tcp), greeting, tls, journal).await;
            });
        }
    });
    Sink {
        address,
        received,
        connections,
        task,
    }
}

async fn session(
    stream: Box<dyn Stream>,
    greeting: u16,
    tls: Option<Arc<rustls::ServerConfig>>,
    journal: Arc<Mutex<Vec<Received>>>,
) -> std::io::Result<()> {
    let mut io = BufReader::new(stream);
    if greeting != 220 {
        io.write_all(format!("{greeting} 4.3.2 sink busy\r\n").as_bytes())
            .await?;
        return Ok(());
    }
    io.write_all(b"220 sink.test ESMTP\r\n").await?;
    let mut secure = false;
    let (mut sender, mut recipients) = (String::new(), Vec::new());
    loop {
        let mut line = String::new();
        if io.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => {
                let starttls = if tls.is_some() && !secure {
                    "250-STARTTLS\r\n"
                } else {
                    ""
                };
                io.write_all(format!("250-sink.test\r\n{starttls}250 8BITMIME\r\n").as_bytes())
                    .await?;
            }
            "STAR" if tls.is_some() && !secure => {
                io.write_all(b"220 2.0.0 go ahead\r\n").await?;
                let Some(config) = tls.clone() else {
                    return Ok(());
                };
                let acceptor = tokio_rustls::TlsAcceptor::from(config);
                let inner = io.into_inner();
                let Ok(stream) = acceptor.accept(inner).await else {
                    return Ok(());
                };
                io = BufReader::new(Box::new(stream));
                secure = true;
            }
            "MAIL" => {
                sender = line.trim_end().to_string();
                recipients.clear();
                io.write_all(b"250 2.1.0 ok\r\n").await?;
            }
            "RCPT" => {
                recipients.push(line.trim_end().to_string());
                io.write_all(b"250 2.1.5 ok\r\n").await?;
            }
            "DATA" => {
                io.write_all(b"354 go ahead\r\n").await?;
                let mut data = Vec::new();
                loop {
                    let mut raw = Vec::new();
                    if io.read_until(b'\n', &mut raw).await? == 0 {
                        return Ok(());
                    }
                    if raw == b".\r\n" {
                        break;
                    }
                    let unstuffed = if raw.first() == Some(&b'.') {
                        &raw[1..]
                    } else {
                        &raw[..]
                    };
                    data.extend_from_slice(unstuffed);
                }
                journal.lock().expect("journal").push(Received {
                    sender: sender.clone(),
                    recipients: std::mem::take(&mut recipients),
                    data,
                    tls: secure,
                });
                io.write_all(b"250 2.0.0 Ok: queued as SINK\r\n").await?;
            }
            "QUIT" => {
                io.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => io.write_all(b"250 2.0.0 ok\r\n").await?,
        }
        io.flush().await?;
    }
}

// ---------------------------------------------------------------------------------------------
// The MTA-STS policy server

/// Serves `policy` over HTTPS as `mta-sts.<domain>` on `ip:0`; returns the bound address.
pub async fn policy_server(
    pki: &Pki,
    ip: &str,
    domain: &str,
    policy: &'static str,
) -> (SocketAddr, Arc<Mutex<usize>>) {
    use tokio::io::AsyncReadExt;
    let fetches = Arc::new(Mutex::new(0));
    let counter = fetches.clone();
    let (_, config) = pki.server(&[&format!("mta-sts.{domain}")]);
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = TcpListener::bind((ip, 0)).await.expect("bind HTTPS");
    let address = listener.local_addr().expect("HTTPS address");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            *counter.lock().expect("counter") += 1;
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = vec![0u8; 4096];
                let _ = tls.read(&mut request).await;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{policy}",
                    policy.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (address, fetches)
}

// ---------------------------------------------------------------------------------------------
// The gateway

pub struct MxGateway {
    pub core: Arc<Core>,
    pub ledger: Arc<MemoryLedger>,
    _dir: tempfile::TempDir,
}

/// A gateway with `relay.next_hop = "mx"`, `relay.dns_servers = [dns]`, the test CA as
/// `relay.ca_file`, `extra` applied to the configuration, and the real dialer with MX
/// delivery to `smtp_port` and policy fetches from `https_port`.
pub fn gateway(
    dns: SocketAddr,
    pki: &Pki,
    smtp_port: u16,
    https_port: u16,
    extra: impl FnOnce(&mut TestConfig, &mut Vec<sealgate::config::RouteConfig>),
) -> MxGateway {
    gateway_dialing(
        dns,
        pki,
        SmtpDialer::with_ports(smtp_port, https_port),
        extra,
    )
}

/// [`gateway`] with a dialer of the test's own (e.g. one that treats loopback as remote).
pub fn gateway_dialing(
    dns: SocketAddr,
    pki: &Pki,
    dialer: SmtpDialer,
    extra: impl FnOnce(&mut TestConfig, &mut Vec<sealgate::config::RouteConfig>),
) -> MxGateway {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ca = pki.write_pem(dir.path());
    let mut config = TestConfig::default();
    config
        .set("relay", "next_hop", "\"mx\"")
        .set("relay", "tls", "\"opportunistic\"")
        .set("relay", "dns_servers", &format!("[\"{dns}\"]"))
        .set(
            "relay",
            "ca_file",
            &format!("{:?}", ca.display().to_string()),
        );
    let mut routes = Vec::new();
    extra(&mut config, &mut routes);
    let mut loaded = config.load(dir.path());
    loaded.routes = routes;
    let settings = Settings::build(loaded).expect("settings");
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let gateway = Gateway::new(settings, metrics);
    let ledger = Arc::new(MemoryLedger::new());
    let core = Core::judging_on(
        gateway,
        ledger.clone(),
        Arc::new(dialer),
        Some(fixture_day()),
    );
    MxGateway {
        core,
        ledger,
        _dir: dir,
    }
}

impl MxGateway {
    /// A client connection from 127.0.0.1, greeted and past EHLO.
    pub async fn ready(&self) -> Smtp {
        let (ours, theirs) = tokio::io::duplex(256 * 1024);
        let client: SocketAddr = "127.0.0.1:40000".parse().expect("an address");
        tokio::spawn(sealgate::smtp::listener::serve_connection(
            self.core.clone(),
            theirs,
            client,
            Vec::new(),
        ));
        let mut smtp = Smtp::new(ours);
        smtp.reply().await.assert(220, None);
        smtp.command("EHLO client.test").await.assert(250, None);
        smtp
    }

    /// The value of the series of `metric` whose labels contain every one of `labels`.
    pub fn metric(&self, metric: &str, labels: &[&str]) -> Option<f64> {
        let text = self.core.gateway.metrics.render();
        text.lines()
            .filter(|l| l.starts_with(&format!("{metric}{{")))
            .find(|l| labels.iter().all(|label| l.contains(label)))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }
}
