//! The in-process harness: a gateway (the real session, transfer core and policy) driven over
//! `tokio::io::duplex`, with a scripted next hop and a ledger in memory. No socket, no file
//! besides a temporary configuration, no external program.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDate;
use sealgate::config::Config;
use sealgate::gateway::{Gateway, Settings};
use sealgate::metrics::{Metrics, SessionResult};
use sealgate::relay::{Dialer, MailParams, NextHop, RcptParams, RelayError, RelaySettings};
use sealgate::reply::{Reply, Status};
use sealgate::transfer::{Core, MemoryLedger};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;

pub fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The day the committed fixtures are judged on (the manifest's usual date).
pub fn fixture_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 6, 2).expect("a valid date")
}

// ---------------------------------------------------------------------------------------------
// Configuration

/// A test configuration: sections of `key = TOML value`, then the policy and protocols of
/// fixtures/messages/sealgate-test.toml (the seed's protocol, a relaxed one, an ended one).
pub struct TestConfig {
    sections: Vec<(String, Vec<(String, String)>)>,
    /// Text replacements in the fixture's policy and protocols, in order.
    fixture_edits: Vec<(String, String)>,
}

impl Default for TestConfig {
    fn default() -> Self {
        let mut config = TestConfig {
            sections: Vec::new(),
            fixture_edits: Vec::new(),
        };
        config
            .set("smtp", "listen", "[\"127.0.0.1:2525\"]")
            .set("smtp", "hostname", "\"sealgate.test\"")
            .set("relay", "next_hop", "\"smtp://127.0.0.1:10025\"")
            .set("relay", "tls", "\"none\"")
            .set("access", "client_networks", "[\"127.0.0.1/32\"]")
            .set("audit", "store", "\"sqlite:/nonexistent/never-opened.db\"");
        config
    }
}

impl TestConfig {
    pub fn set(&mut self, section: &str, key: &str, value: &str) -> &mut Self {
        let index = match self.sections.iter().position(|(s, _)| s == section) {
            Some(i) => i,
            None => {
                self.sections.push((section.to_string(), Vec::new()));
                self.sections.len() - 1
            }
        };
        let keys = &mut self.sections[index].1;
        keys.retain(|(k, _)| k != key);
        keys.push((key.to_string(), value.to_string()));
        self
    }

    /// Replaces `from` (which must occur) with `to` in the fixture's policy and protocols, e.g.
    /// to add keys to a protocol after its `id = ...` line.
    pub fn edit_fixture(&mut self, from: &str, to: &str) -> &mut Self {
        self.fixture_edits.push((from.to_string(), to.to_string()));
        self
    }

    pub fn load(&self, dir: &Path) -> Config {
        let fixture = std::fs::read_to_string(repo("fixtures/messages/sealgate-test.toml"))
            .expect("read the fixture configuration");
        let mut policy =
            fixture[fixture.find("[policy]").expect("a [policy] section")..].to_string();
        for (from, to) in &self.fixture_edits {
            assert!(policy.contains(from.as_str()), "the fixture lost {from:?}");
            policy = policy.replace(from.as_str(), to);
        }
        let mut text = String::new();
        for (section, keys) in &self.sections {
            let lines: String = keys
                .iter()
                .map(|(key, value)| format!("{key} = {value}\n"))
                .collect();
            if section == "policy" {
                // Keys of the fixture's own [policy] table go into that table.
                policy = policy.replacen("[policy]\n", &format!("[policy]\n{lines}"), 1);
                continue;
            }
            text.push_str(&format!("[{section}]\n{lines}"));
        }
        text.push_str(&policy);
        let path = dir.join("sealgate.toml");
        std::fs::write(&path, text).expect("write the configuration");
        Config::load(&path).expect("a valid test configuration")
    }
}

// ---------------------------------------------------------------------------------------------
// The scripted next hop

/// How the next hop fails at the end of data.
#[derive(Clone, Copy, Debug)]
pub enum DataFailure {
    /// The connection closes in the middle of the data.
    Closes,
    /// No answer within the data timeout.
    TimesOut,
}

/// What the next hop answers. Unscripted commands are accepted.
#[derive(Clone, Default)]
pub struct Script {
    pub unreachable: bool,
    pub mail: Option<Reply>,
    pub rcpt: HashMap<String, Reply>,
    pub data: Option<Reply>,
    pub data_failure: Option<DataFailure>,
}

impl Script {
    pub fn rcpt(mut self, address: &str, reply: Reply) -> Self {
        self.rcpt.insert(address.to_string(), reply);
        self
    }
}

/// Everything the next hop saw.
#[derive(Default, Debug)]
pub struct Journal {
    pub opens: usize,
    pub commands: Vec<String>,
    /// Trace header and message of each DATA that got through.
    pub messages: Vec<(Vec<u8>, Vec<u8>)>,
}

pub struct FakeDialer {
    pub script: Script,
    pub journal: Arc<Mutex<Journal>>,
}

struct FakeHop {
    script: Script,
    journal: Arc<Mutex<Journal>>,
    in_transaction: bool,
}

impl FakeHop {
    fn log(&self, command: String) {
        self.journal.lock().unwrap().commands.push(command);
    }
}

#[async_trait::async_trait]
impl Dialer for FakeDialer {
    async fn open(&self, settings: &RelaySettings) -> Result<Box<dyn NextHop>, RelayError> {
        if self.script.unreachable {
            return Err(RelayError::Connect {
                hop: settings.next_hop.to_string(),
                source: std::io::ErrorKind::ConnectionRefused.into(),
            });
        }
        self.journal.lock().unwrap().opens += 1;
        Ok(Box::new(FakeHop {
            script: self.script.clone(),
            journal: self.journal.clone(),
            in_transaction: false,
        }))
    }
}

#[async_trait::async_trait]
impl NextHop for FakeHop {
    async fn mail(&mut self, sender: &str, _params: MailParams) -> Result<Reply, RelayError> {
        self.log(format!("MAIL {sender}"));
        let reply = self
            .script
            .mail
            .clone()
            .unwrap_or_else(|| Reply::new(250, Status(2, 1, 0), "Sender ok at the next hop"));
        self.in_transaction = reply.is_positive();
        Ok(reply)
    }

    async fn rcpt(&mut self, address: &str, _params: RcptParams) -> Result<Reply, RelayError> {
        self.log(format!("RCPT {address}"));
        Ok(self
            .script
            .rcpt
            .get(address)
            .cloned()
            .unwrap_or_else(|| Reply::new(250, Status(2, 1, 5), "Recipient ok at the next hop")))
    }

    async fn data(&mut self, trace: &[u8], message: &[u8]) -> Result<Reply, RelayError> {
        self.log("DATA".into());
        self.in_transaction = false;
        match self.script.data_failure {
            Some(DataFailure::Closes) => return Err(RelayError::Closed),
            Some(DataFailure::TimesOut) => {
                return Err(RelayError::Timeout(Duration::from_secs(300), "end of data"))
            }
            None => {}
        }
        let reply = self
            .script
            .data
            .clone()
            .unwrap_or_else(|| Reply::new(250, Status(2, 0, 0), "Ok: queued as FAKE1"));
        if reply.is_positive() {
            self.journal
                .lock()
                .unwrap()
                .messages
                .push((trace.to_vec(), message.to_vec()));
        }
        Ok(reply)
    }

    async fn reset(&mut self) -> Result<(), RelayError> {
        self.log("RSET".into());
        self.in_transaction = false;
        Ok(())
    }

    async fn noop(&mut self) -> Result<(), RelayError> {
        self.log("NOOP".into());
        Ok(())
    }

    async fn quit(self: Box<Self>) {
        self.log("QUIT".into());
    }

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

// ---------------------------------------------------------------------------------------------
// The gateway under test

pub struct TestGateway {
    pub core: Arc<Core>,
    pub journal: Arc<Mutex<Journal>>,
    pub ledger: Arc<MemoryLedger>,
    pub config: Config,
    _dir: tempfile::TempDir,
}

pub struct Options {
    pub config: TestConfig,
    pub script: Script,
    pub ledger: MemoryLedger,
    /// A real audit store as the ledger instead of `ledger`.
    pub audit: Option<Arc<sealgate::audit::AuditStore>>,
    pub day: Option<NaiveDate>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config: TestConfig::default(),
            script: Script::default(),
            ledger: MemoryLedger::new(),
            audit: None,
            day: Some(fixture_day()),
        }
    }
}

impl TestGateway {
    pub fn start(options: Options) -> TestGateway {
        let dir = tempfile::tempdir().expect("a temporary directory");
        TestGateway::start_in(dir, options)
    }

    /// Starts with the files (certificates) already in `dir`.
    pub fn start_in(dir: tempfile::TempDir, options: Options) -> TestGateway {
        let config = options.config.load(dir.path());
        let settings = Settings::build(config.clone()).expect("settings");
        let metrics = Arc::new(Metrics::new().expect("metrics"));
        let gateway = Gateway::new(settings, metrics);
        let journal = Arc::new(Mutex::new(Journal::default()));
        let ledger = Arc::new(options.ledger);
        let dialer = FakeDialer {
            script: options.script,
            journal: journal.clone(),
        };
        let in_use: Arc<dyn sealgate::transfer::Ledger> = match options.audit {
            Some(store) => store,
            None => ledger.clone(),
        };
        let core = Core::judging_on(gateway, in_use, Arc::new(dialer), options.day);
        TestGateway {
            core,
            journal,
            ledger,
            config,
            _dir: dir,
        }
    }

    pub fn with_script(script: Script) -> TestGateway {
        TestGateway::start(Options {
            script,
            ..Options::default()
        })
    }

    pub fn with_config(config: TestConfig) -> TestGateway {
        TestGateway::start(Options {
            config,
            ..Options::default()
        })
    }

    /// A client connection from 127.0.0.1 (inside `access.client_networks`).
    pub fn connect(&self) -> (Smtp, JoinHandle<SessionResult>) {
        self.connect_from("127.0.0.1:40000")
    }

    pub fn connect_from(&self, client: &str) -> (Smtp, JoinHandle<SessionResult>) {
        let (ours, theirs) = tokio::io::duplex(256 * 1024);
        (Smtp::new(ours), self.serve(theirs, client))
    }

    /// Serves a client on `stream` (for tests that write before the session starts).
    pub fn serve(&self, stream: DuplexStream, client: &str) -> JoinHandle<SessionResult> {
        let client: SocketAddr = client.parse().expect("a socket address");
        tokio::spawn(sealgate::smtp::listener::serve_connection(
            self.core.clone(),
            stream,
            client,
            Vec::new(),
        ))
    }

    /// Connected, greeted and past EHLO.
    pub async fn ready(&self) -> (Smtp, JoinHandle<SessionResult>) {
        let (mut smtp, session) = self.connect();
        smtp.reply().await.assert(220, None);
        smtp.command("EHLO client.test").await.assert(250, None);
        (smtp, session)
    }

    pub fn commands(&self) -> Vec<String> {
        self.journal.lock().unwrap().commands.clone()
    }

    pub fn opens(&self) -> usize {
        self.journal.lock().unwrap().opens
    }

    pub fn relayed(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.journal.lock().unwrap().messages.clone()
    }
}

// ---------------------------------------------------------------------------------------------
// The client

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One reply as it came over the wire.
#[derive(Debug, Clone)]
pub struct Got {
    pub code: u16,
    /// The enhanced status code of the last line, when it has one.
    pub enhanced: Option<String>,
    /// Text lines without code and enhanced code.
    pub lines: Vec<String>,
    pub raw: Vec<u8>,
}

impl Got {
    #[track_caller]
    pub fn assert(&self, code: u16, enhanced: Option<&str>) -> &Got {
        assert_eq!(self.code, code, "unexpected reply {self:?}");
        if let Some(enhanced) = enhanced {
            assert_eq!(self.enhanced.as_deref(), Some(enhanced), "reply {self:?}");
        }
        self
    }

    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

pub struct Smtp {
    io: Box<dyn Io>,
    buf: Vec<u8>,
}

/// Longest a test waits for a reply: a hang fails the test instead of blocking the suite.
const REPLY_WAIT: Duration = Duration::from_secs(30);

impl Smtp {
    pub fn new(io: impl Io + 'static) -> Smtp {
        Smtp {
            io: Box::new(io),
            buf: Vec::new(),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.io
            .write_all(bytes)
            .await
            .expect("write to the session");
        self.io.flush().await.expect("flush to the session");
    }

    pub async fn command(&mut self, line: &str) -> Got {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// Reads one complete reply; panics when the session closes first.
    pub async fn reply(&mut self) -> Got {
        match self.try_reply().await {
            Some(got) => got,
            None => panic!(
                "the session closed instead of replying (had {:?})",
                String::from_utf8_lossy(&self.buf)
            ),
        }
    }

    /// One complete reply, or None when the session closed.
    pub async fn try_reply(&mut self) -> Option<Got> {
        loop {
            if let Some(end) = reply_end(&self.buf) {
                let raw: Vec<u8> = self.buf.drain(..end).collect();
                return Some(parse(raw));
            }
            let mut chunk = [0u8; 8192];
            let n = tokio::time::timeout(REPLY_WAIT, self.io.read(&mut chunk))
                .await
                .expect("a reply within the wait")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// True when the session closes without sending anything more.
    pub async fn closes_silently(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut rest = Vec::new();
        let read = tokio::time::timeout(REPLY_WAIT, self.io.read_to_end(&mut rest)).await;
        matches!(read, Ok(Ok(0)))
    }

    /// MAIL, RCPT for each recipient (each must be accepted), DATA, the message (dot-stuffed
    /// here), and the final reply.
    pub async fn send_mail(&mut self, from: &str, to: &[&str], message: &[u8]) -> Got {
        self.begin_data(from, to).await;
        self.send(&stuffed(message)).await;
        self.reply().await
    }

    /// MAIL, RCPT for each recipient (each must be accepted) and DATA, up to its 354: the
    /// caller sends the data as it likes.
    pub async fn begin_data(&mut self, from: &str, to: &[&str]) {
        self.command(&format!("MAIL FROM:<{from}>"))
            .await
            .assert(250, Some("2.1.0"));
        for rcpt in to {
            let got = self.command(&format!("RCPT TO:<{rcpt}>")).await;
            assert_eq!(got.code, 250, "RCPT {rcpt}: {got:?}");
        }
        self.command("DATA").await.assert(354, None);
    }

    /// STARTTLS's handshake on this stream (after the 220), trusting any certificate.
    pub async fn upgrade(self) -> Smtp {
        let config = sealgate::tls::client_config(false, None).expect("a TLS client config");
        let connector = tokio_rustls::TlsConnector::from(config);
        let name = rustls::pki_types::ServerName::try_from("sealgate.test").expect("a name");
        let tls = connector
            .connect(name, self.io)
            .await
            .expect("the TLS handshake");
        Smtp::new(tls)
    }
}

/// The message as DATA carries it: dot-stuffed, ending with CRLF.CRLF.
pub fn stuffed(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 16);
    let mut at_line_start = true;
    for &b in message {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !message.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

fn reply_end(buf: &[u8]) -> Option<usize> {
    let mut start = 0;
    while let Some(pos) = buf[start..].iter().position(|&b| b == b'\n') {
        let line = &buf[start..start + pos + 1];
        start += pos + 1;
        if line.len() < 4 || line[3] != b'-' {
            return Some(start);
        }
    }
    None
}

fn parse(raw: Vec<u8>) -> Got {
    let text = String::from_utf8_lossy(&raw).to_string();
    let mut code = 0;
    let mut enhanced = None;
    let mut lines = Vec::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        code = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        let rest = line.get(4..).unwrap_or("");
        let (status, text) = match rest.split_once(' ') {
            Some((first, text)) if is_enhanced(first) => (Some(first.to_string()), text),
            _ if is_enhanced(rest) => (Some(rest.to_string()), ""),
            _ => (None, rest),
        };
        enhanced = status;
        lines.push(text.to_string());
    }
    Got {
        code,
        enhanced,
        lines,
        raw,
    }
}

fn is_enhanced(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// A small ordinary message.
pub fn ordinary_message(subject: &str) -> Vec<u8> {
    format!(
        "From: a@opgroeien.be\r\nTo: b@example.org\r\nSubject: {subject}\r\n\r\nHello.\r\n.leading dot\r\n"
    )
    .into_bytes()
}

/// One case of fixtures/messages/manifest.json: a message, its envelope recipients, the day
/// it is judged on, and the expected verdict and reason codes.
#[derive(serde::Deserialize, Clone, Debug)]
pub struct FixtureCase {
    pub file: String,
    pub rcpt: Vec<String>,
    pub date: NaiveDate,
    pub verdict: String,
    pub reasons: Vec<String>,
}

/// Every case of fixtures/messages/manifest.json.
pub fn fixture_cases() -> Vec<FixtureCase> {
    #[derive(serde::Deserialize)]
    struct Manifest {
        cases: Vec<FixtureCase>,
    }
    let text = std::fs::read_to_string(repo("fixtures/messages/manifest.json"))
        .expect("read the manifest");
    let manifest: Manifest = serde_json::from_str(&text).expect("a valid manifest");
    manifest.cases
}

pub fn fixture_message(name: &str) -> Vec<u8> {
    std::fs::read(repo(&format!("fixtures/messages/{name}"))).expect("read a fixture message")
}

/// `path` as a TOML string.
pub fn toml_path(path: &Path) -> String {
    format!("\"{}\"", path.display())
}

/// A self-signed certificate for sealgate.test, made in-process: (certificate, key) files.
pub fn test_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["sealgate.test".to_string()]).expect("rcgen");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).expect("write the certificate");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("write the key");
    (cert, key)
}

/// Runs `run` on every item, `at_once` at a time, and returns the results (in completion
/// order). A panic in one run fails the caller with that panic.
pub async fn run_concurrently<I, T, F, Fut>(items: Vec<I>, at_once: usize, run: F) -> Vec<T>
where
    I: Send + 'static,
    T: Send + 'static,
    F: Fn(I) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let slots = Arc::new(tokio::sync::Semaphore::new(at_once));
    let mut running = tokio::task::JoinSet::new();
    for item in items {
        let slots = slots.clone();
        let job = run(item);
        running.spawn(async move {
            let _slot = slots.acquire_owned().await.expect("open semaphore");
            job.await
        });
    }
    let mut results = Vec::new();
    while let Some(done) = running.join_next().await {
        match done {
            Ok(result) => results.push(result),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    results
}

/// Waits (up to 10 s, in steps of 5 ms) until `done` holds; panics otherwise.
pub async fn wait_until(mut done: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("condition not reached");
}
