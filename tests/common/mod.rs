//! The real-peer harness of the end-to-end tests: a byte-exact next hop (aiosmtpd), the
//! gateway itself as a child process, swaks, a private Postfix and a raw SMTP client.
//!
//! Every helper stops its process when dropped, listens on loopback only, and takes free ports
//! outside the kernel's ephemeral range ([`ports`]). A missing external tool fails the test and
//! says how to install it ([`require_tool`]): the real-peer tier never passes by skipping. Every test file that uses
//! this harness starts with `#![cfg(feature = "real-peers")]`.
#![allow(dead_code)]

pub mod ports;
pub mod postfix;
pub mod raw;

pub use ports::{free_port, free_port_v6};

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a peer may take to come up, and the default wait for mail to arrive.
pub const STARTUP: Duration = Duration::from_secs(20);
pub const ARRIVAL: Duration = Duration::from_secs(30);

/// Fails the test, saying how to install what is missing.
fn missing(what: &str, install: &str) -> ! {
    panic!("{what}: {install} (or run `bash tests/run-all.sh`, which installs every peer)")
}

/// `tool` must be on PATH; `package` says where it comes from.
pub fn require_tool(tool: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false);
    if !found {
        missing(
            &format!("`{tool}` not found"),
            &format!("install {package}"),
        );
    }
}

/// python3 must be able to import `module`.
pub fn require_python_module(module: &str, package: &str) {
    require_tool("python3", "python3");
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        missing(
            &format!("python3 cannot import {module}"),
            &format!("pip install {package}"),
        );
    }
}

/// The peers every relay test needs: the sink's Python module and swaks.
pub fn require_peers() {
    require_python_module("aiosmtpd", "aiosmtpd");
    require_tool("swaks", "the Debian package swaks");
}

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Polls `check` every 50 ms until it gives a value or `limit` passes.
pub fn wait_until<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_for_port(port: u16, child: &mut Child, what: &str, log: &Path) {
    if let Err(why) = try_wait_for_port(port, child, log) {
        panic!("{what} {why}");
    }
}

/// Waits until `port` accepts; Err with the log if the child exits first or time runs out.
fn try_wait_for_port(port: u16, child: &mut Child, log: &Path) -> Result<(), String> {
    let up = wait_until(STARTUP, || {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(Err(format!(
                "exited ({status}) before listening on {port}:\n{}",
                fs::read_to_string(log).unwrap_or_default()
            )));
        }
        TcpStream::connect(("127.0.0.1", port)).ok().map(|_| Ok(()))
    });
    up.unwrap_or_else(|| Err(format!("did not listen on {port} within {STARTUP:?}")))
}

fn stop_child(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        signal(child, "TERM");
        let gone = wait_until(Duration::from_secs(5), || child.try_wait().ok().flatten());
        if gone.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn signal(child: &Child, name: &str) {
    let _ = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status();
}

// ---------------------------------------------------------------------------------------------
// The sink: the next hop.

/// One message the sink stored.
#[derive(Debug, Clone)]
pub struct Stored {
    pub bytes: Vec<u8>,
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
}

/// How the sink should behave.
#[derive(Default, Clone)]
pub struct SinkOptions {
    port: Option<u16>,
    rcpt_replies: Vec<(String, String)>,
    data_reply: Option<String>,
    close_in_data: bool,
    stall_data: Option<u64>,
    tls: Option<(PathBuf, PathBuf)>,
    auth: Option<String>,
}

impl SinkOptions {
    /// Listen on this port (e.g. one a gateway already points at).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }
    /// Answer `RCPT TO:<address>` with `reply` ("450 4.2.0 mailbox busy").
    pub fn rcpt_reply(mut self, address: &str, reply: &str) -> Self {
        self.rcpt_replies.push((address.into(), reply.into()));
        self
    }
    /// Answer every end of data with `reply` and store nothing.
    pub fn data_reply(mut self, reply: &str) -> Self {
        self.data_reply = Some(reply.into());
        self
    }
    /// Close the connection after 354 and the first line of data.
    pub fn close_in_data(mut self) -> Self {
        self.close_in_data = true;
        self
    }
    /// Wait this long before answering the end of data.
    pub fn stall_data(mut self, seconds: u64) -> Self {
        self.stall_data = Some(seconds);
        self
    }
    /// Offer STARTTLS with this certificate and key.
    pub fn tls(mut self, cert: &Path, key: &Path) -> Self {
        self.tls = Some((cert.into(), key.into()));
        self
    }
    /// Require AUTH (over TLS) with `user` and `password`.
    pub fn auth(mut self, user: &str, password: &str) -> Self {
        self.auth = Some(format!("{user}:{password}"));
        self
    }

    pub fn start(self) -> Sink {
        Sink::start_with(self)
    }
}

/// tests/peers/sink.py: stores each accepted message as DIR/<n>.eml and DIR/<n>.json.
pub struct Sink {
    child: Child,
    dir: TempDir,
    port: u16,
}

impl Sink {
    pub fn start() -> Sink {
        Sink::start_with(SinkOptions::default())
    }

    pub fn options() -> SinkOptions {
        SinkOptions::default()
    }

    fn start_with(options: SinkOptions) -> Sink {
        let dir = TempDir::new().expect("temp dir");
        let mut command = Command::new("python3");
        command
            .arg(repo_path("tests/peers/sink.py"))
            .arg("--dir")
            .arg(dir.path().join("messages"))
            .arg("--port")
            .arg(options.port.unwrap_or(0).to_string());
        for (address, reply) in &options.rcpt_replies {
            command
                .arg("--rcpt-reply")
                .arg(format!("{address}={reply}"));
        }
        if let Some(reply) = &options.data_reply {
            command.arg("--data-reply").arg(reply);
        }
        if options.close_in_data {
            command.arg("--close-in-data");
        }
        if let Some(seconds) = options.stall_data {
            command.arg("--stall-data").arg(seconds.to_string());
        }
        if let Some((cert, key)) = &options.tls {
            command
                .arg("--tls-cert")
                .arg(cert)
                .arg("--tls-key")
                .arg(key);
        }
        if let Some(credentials) = &options.auth {
            command.arg("--auth").arg(credentials);
        }
        let log = dir.path().join("sink.log");
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&log).expect("sink log"))
            .spawn()
            .expect("spawn python3 tests/peers/sink.py");
        let port = read_ready_line(&mut child, &log);
        Sink { child, dir, port }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("sink.log")).unwrap_or_default()
    }

    /// The messages stored so far, in order.
    pub fn messages(&self) -> Vec<Stored> {
        let dir = self.dir.path().join("messages");
        let mut found = Vec::new();
        for n in 1.. {
            let meta = dir.join(format!("{n}.json"));
            let Ok(json) = fs::read_to_string(&meta) else {
                break;
            };
            let meta: serde_json::Value = serde_json::from_str(&json).expect("sink json");
            found.push(Stored {
                bytes: fs::read(dir.join(format!("{n}.eml"))).expect("sink eml"),
                mail_from: meta["mail_from"].as_str().unwrap_or_default().to_string(),
                rcpt_tos: meta["rcpt_tos"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        }
        found
    }

    /// Waits until at least `n` messages are stored; panics after `limit`.
    pub fn wait_for(&self, n: usize, limit: Duration) -> Vec<Stored> {
        wait_until(limit, || {
            let messages = self.messages();
            (messages.len() >= n).then_some(messages)
        })
        .unwrap_or_else(|| {
            panic!(
                "sink: {} of {n} messages after {limit:?}; sink log:\n{}",
                self.messages().len(),
                self.log()
            )
        })
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        stop_child(&mut self.child);
    }
}

fn read_ready_line(child: &mut Child, log: &Path) -> u16 {
    let stdout = child.stdout.take().expect("sink stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(STARTUP).unwrap_or_default();
    let port = line
        .strip_prefix("READY ")
        .and_then(|p| p.trim().parse().ok());
    match port {
        Some(port) => port,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "sink did not get ready (said {line:?}):\n{}",
                fs::read_to_string(log).unwrap_or_default()
            )
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The gateway under test.

/// The configuration of a test gateway: sections of `key = TOML value` lines.
#[derive(Clone)]
pub struct GatewayConfig {
    sections: BTreeMap<String, BTreeMap<String, String>>,
    /// Raw TOML appended after the sections, e.g. `[[protocols]]` tables.
    tail: String,
    /// Listen on [::1] too.
    ipv6: bool,
}

impl GatewayConfig {
    /// Loopback everything, relaying to 127.0.0.1:`next_hop_port` without TLS.
    pub fn new(next_hop_port: u16) -> GatewayConfig {
        let mut config = GatewayConfig {
            sections: BTreeMap::new(),
            tail: String::new(),
            ipv6: false,
        };
        config
            .set("smtp", "hostname", "\"sealgate.test\"")
            .set(
                "relay",
                "next_hop",
                &format!("\"smtp://127.0.0.1:{next_hop_port}\""),
            )
            .set("relay", "tls", "\"none\"")
            .set("relay", "connect_timeout_seconds", "5")
            .set("access", "client_networks", "[\"127.0.0.1/32\"]");
        config
    }

    /// Sets `key` in `[section]` to `value`, a TOML literal (strings with their quotes).
    pub fn set(&mut self, section: &str, key: &str, value: &str) -> &mut Self {
        self.sections
            .entry(section.to_string())
            .or_default()
            .insert(key.to_string(), value.to_string());
        self
    }

    /// Whether `key` is set in `[section]`.
    pub fn has(&self, section: &str, key: &str) -> bool {
        self.sections
            .get(section)
            .is_some_and(|keys| keys.contains_key(key))
    }

    /// Appends raw TOML (array tables such as `[[protocols]]`) after the sections.
    pub fn append(&mut self, toml: &str) -> &mut Self {
        self.tail.push_str(toml);
        self.tail.push('\n');
        self
    }

    /// Listens on a second address, [::1]:PORT (see [`Gateway::port_v6`]).
    pub fn listen_ipv6(&mut self) -> &mut Self {
        self.ipv6 = true;
        self
    }

    /// Offers STARTTLS with this certificate and key.
    pub fn tls(&mut self, cert: &Path, key: &Path) -> &mut Self {
        self.set("smtp.tls", "cert", &toml_string(cert))
            .set("smtp.tls", "key", &toml_string(key))
    }

    fn render(&self) -> String {
        let mut text = String::new();
        for (section, keys) in &self.sections {
            text.push_str(&format!("[{section}]\n"));
            for (key, value) in keys {
                text.push_str(&format!("{key} = {value}\n"));
            }
            text.push('\n');
        }
        text.push_str(&self.tail);
        text
    }

    pub fn start(&self) -> Gateway {
        Gateway::start(self)
    }
}

pub fn toml_string(path: &Path) -> String {
    format!("{:?}", path.display().to_string())
}

/// The seed's data-sharing protocol (config/sealgate.toml's) as a `[[protocols]]` table for
/// [`GatewayConfig::append`].
pub const SEED_PROTOCOL: &str = r#"
[[protocols]]
id = "opgroeien-menen-ocmw-wervik"
title = "Opgroeien regie (lokaal team Kind en Gezin Menen) -> OCMW Wervik"
mailboxes = ["kindengezin@wervik.be"]
in_force_from = 2023-12-01
"#;

/// `sealgate serve --config FILE` with its logs captured.
pub struct Gateway {
    child: Child,
    dir: TempDir,
    port: u16,
    metrics_port: u16,
    port_v6: Option<u16>,
}

impl Gateway {
    /// Writes the configuration with fresh ports and starts the binary; waits for the port.
    pub fn start(config: &GatewayConfig) -> Gateway {
        let dir = TempDir::new().expect("temp dir");
        // A free port can be taken by another test between our probe and the gateway's bind:
        // then try again with fresh ports.
        for attempt in 1.. {
            let port = free_port();
            let metrics_port = free_port();
            let port_v6 = config.ipv6.then(free_port_v6);
            let mut child = Gateway::spawn(config, dir.path(), port, metrics_port, port_v6);
            let log = dir.path().join("sealgate.log");
            match try_wait_for_port(port, &mut child, &log) {
                Ok(()) => {
                    return Gateway {
                        child,
                        dir,
                        port,
                        metrics_port,
                        port_v6,
                    }
                }
                Err(why) if attempt < 3 && why.contains("in use") => {
                    eprintln!("sealgate: port taken, retrying: {why}");
                }
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("sealgate {why}");
                }
            }
        }
        unreachable!()
    }

    fn spawn(
        config: &GatewayConfig,
        dir: &Path,
        port: u16,
        metrics_port: u16,
        port_v6: Option<u16>,
    ) -> Child {
        let mut config = config.clone();
        let listen = match port_v6 {
            Some(v6) => format!("[\"127.0.0.1:{port}\", \"[::1]:{v6}\"]"),
            None => format!("[\"127.0.0.1:{port}\"]"),
        };
        config.set("smtp", "listen", &listen).set(
            "metrics",
            "listen",
            &format!("\"127.0.0.1:{metrics_port}\""),
        );
        if !config.has("audit", "store") {
            config.set(
                "audit",
                "store",
                &format!("\"sqlite:{}\"", dir.join("audit.db").display()),
            );
        }
        let path = dir.join("sealgate.toml");
        fs::write(&path, config.render()).expect("write config");
        Command::new(env!("CARGO_BIN_EXE_sealgate"))
            .arg("serve")
            .arg("--config")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(fs::File::create(dir.join("stdout.log")).expect("log"))
            .stderr(fs::File::create(dir.join("sealgate.log")).expect("log"))
            .spawn()
            .expect("spawn sealgate")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn metrics_port(&self) -> u16 {
        self.metrics_port
    }

    /// The [::1] port, when started with [`GatewayConfig::listen_ipv6`].
    pub fn port_v6(&self) -> Option<u16> {
        self.port_v6
    }

    pub fn server(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn config_text(&self) -> String {
        fs::read_to_string(self.dir.path().join("sealgate.toml")).unwrap_or_default()
    }

    /// What the gateway logged so far (stderr).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("sealgate.log")).unwrap_or_default()
    }

    /// Waits until the log contains `needle`; panics with the log after `limit`.
    pub fn wait_for_log(&self, needle: &str, limit: Duration) -> String {
        wait_until(limit, || {
            let log = self.log();
            log.contains(needle).then_some(log)
        })
        .unwrap_or_else(|| panic!("gateway log lacks {needle:?}:\n{}", self.log()))
    }

    /// GET /metrics from the gateway's HTTP listener (empty when it does not answer).
    pub fn metrics_text(&self) -> String {
        use std::io::Write;
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.metrics_port)) else {
            return String::new();
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let request = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        if stream.write_all(request.as_bytes()).is_err() {
            return String::new();
        }
        String::from_utf8_lossy(&read_all(stream)).into_owned()
    }

    /// The value of an unlabelled metric, if exposed.
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics_text().lines().find_map(|line| {
            let value = line.strip_prefix(name)?.strip_prefix(' ')?;
            value.trim().parse().ok()
        })
    }

    pub fn sigterm(&self) {
        signal(&self.child, "TERM");
    }

    pub fn sighup(&self) {
        signal(&self.child, "HUP");
    }

    /// Kills the gateway at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The gateway's temporary directory: its config, log and SQLite audit store.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("sealgate.toml")
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        wait_until(limit, || self.child.try_wait().ok().flatten())
    }

    /// Still running?
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- sealgate log ---\n{}", self.log());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// swaks, the client.

/// What a swaks run gave.
pub struct SwaksRun {
    pub status: ExitStatus,
    /// stdout and stderr: the transcript.
    pub transcript: String,
}

impl SwaksRun {
    /// swaks' exit code (0: every step accepted; 23 MAIL, 24 no RCPT, 25 DATA, 26 after data).
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    pub fn assert_ok(&self) {
        assert!(
            self.status.success(),
            "swaks failed ({}):\n{}",
            self.status,
            self.transcript
        );
    }

    /// The server's reply lines (`<-` and `<~` in the transcript, `<**` for errors).
    pub fn server_lines(&self) -> Vec<String> {
        self.transcript
            .lines()
            .filter_map(|l| {
                let l = l.trim_start();
                ["<** ", "<~* ", "<-  ", "<~  "]
                    .iter()
                    .find_map(|p| l.strip_prefix(p))
                    .map(str::to_string)
            })
            .collect()
    }

    /// The server's reply to the end of data: the first reply line after the 354.
    pub fn data_reply(&self) -> Option<String> {
        let lines = self.server_lines();
        let start = lines.iter().position(|l| l.starts_with("354"))?;
        lines.get(start + 1).cloned()
    }

    /// Whether some server reply line starts with `prefix` (e.g. "451 4.4.1").
    pub fn has_reply(&self, prefix: &str) -> bool {
        self.server_lines().iter().any(|l| l.starts_with(prefix))
    }
}

/// Runs swaks with `args`; stderr goes into stdout so the transcript keeps its order.
pub fn swaks(args: &[&str]) -> SwaksRun {
    let output = Command::new("sh")
        .args(["-c", "exec swaks --timeout 60 \"$@\" 2>&1", "swaks"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run swaks");
    SwaksRun {
        status: output.status,
        transcript: String::from_utf8_lossy(&output.stdout).into_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Messages and comparisons.

/// Splits off the first header field (which may be folded over several lines): the trace
/// header the gateway prepends. Returns (that header, the rest).
pub fn split_first_header(message: &[u8]) -> (&[u8], &[u8]) {
    let mut end = 0;
    loop {
        let Some(nl) = message[end..].iter().position(|&b| b == b'\n') else {
            return (message, &[]);
        };
        end += nl + 1;
        match message.get(end) {
            Some(b' ') | Some(b'\t') => continue,
            _ => return (&message[..end], &message[end..]),
        }
    }
}

/// Asserts that `relayed` is `sent` with exactly one `Received:` header by the gateway in front.
pub fn assert_relayed_exactly(sent: &[u8], relayed: &[u8]) {
    let (trace, rest) = split_first_header(relayed);
    let trace = String::from_utf8_lossy(trace);
    assert!(
        trace.starts_with("Received: ") && trace.contains("sealgate.test"),
        "first header is not the gateway's Received: {trace:?}"
    );
    assert!(trace.ends_with("\r\n"), "trace header not CRLF-terminated");
    if rest != sent {
        let at = rest
            .iter()
            .zip(sent)
            .position(|(a, b)| a != b)
            .unwrap_or(rest.len().min(sent.len()));
        panic!(
            "relayed message differs from what was sent at byte {at} (relayed {} bytes after the \
             trace header, sent {}):\nrelayed: {:?}\nsent:    {:?}",
            rest.len(),
            sent.len(),
            String::from_utf8_lossy(&rest[at.saturating_sub(40)..(at + 40).min(rest.len())]),
            String::from_utf8_lossy(&sent[at.saturating_sub(40)..(at + 40).min(sent.len())]),
        );
    }
}

/// Deterministic pseudo-random bytes (xorshift), e.g. a binary attachment.
pub fn binary_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// A MIME message with a UTF-8 text part (with lines that start with dots, to exercise dot
/// stuffing) and `attachment` as base64. CRLF line ends throughout.
pub fn mime_message(from: &str, to: &str, attachment: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(attachment);
    let mut text = format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: Verslag =?UTF-8?Q?=C3=A9t=C3=A9?=\r\n\
         Date: Sun, 29 Nov 2026 03:00:00 +0000\r\nMessage-ID: <e2e-{}@agency.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b0undary\"\r\n\r\n\
         --b0undary\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         Beste collega, zie bijlage. Één regel in UTF-8.\r\n.\r\n..twee punten\r\n. punt spatie\r\n\
         \t tab line   \r\n\r\n--b0undary\r\nContent-Type: application/octet-stream\r\n\
         Content-Disposition: attachment; filename=\"data.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
        attachment.len()
    );
    for line in encoded.as_bytes().chunks(76) {
        text.push_str(std::str::from_utf8(line).unwrap());
        text.push_str("\r\n");
    }
    text.push_str("--b0undary--\r\n");
    text.into_bytes()
}

/// Makes a self-signed certificate for `sealgate.test` in `dir`; returns (cert, key).
pub fn self_signed_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let output = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=sealgate.test"])
        .args(["-addext", "subjectAltName=DNS:sealgate.test"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        output.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (cert, key)
}

/// Reads everything a reader gives (for child outputs).
pub fn read_all(mut r: impl Read) -> Vec<u8> {
    let mut buf = Vec::new();
    let _ = r.read_to_end(&mut buf);
    buf
}

/// `sealgate hash-password` for `password`: the argon2 hash for `access.users`.
pub fn hash_password(password: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run sealgate hash-password");
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "{password}").expect("write password");
    drop(stdin);
    let output = child.wait_with_output().expect("hash-password output");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}
