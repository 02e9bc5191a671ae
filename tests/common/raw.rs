//! A raw SMTP client for tests that need exact bytes: what is sent in which write, and every
//! reply line as the server wrote it. Blocking std sockets with a read timeout; STARTTLS with
//! rustls and a verifier that accepts any certificate (the test's own self-signed one).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};

/// One SMTP reply: its code and its lines' texts (after "250-" / "250 ").
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    /// The text of the last line, e.g. "4.4.1 Next hop not reachable".
    pub fn text(&self) -> &str {
        self.lines.last().map(String::as_str).unwrap_or("")
    }

    /// "451 4.4.1 ..." style: code, then the enhanced status at the start of the text.
    pub fn starts(&self, code: u16, enhanced: &str) -> bool {
        self.code == code && self.text().starts_with(enhanced)
    }

    pub fn assert(&self, code: u16, enhanced: &str) {
        assert!(
            self.starts(code, enhanced),
            "expected {code} {enhanced}, got {self:?}"
        );
    }
}

pub trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// A client connection; `input` holds bytes read but not yet parsed.
pub struct Client {
    stream: Box<dyn Stream + Send>,
    tcp: TcpStream,
    input: Vec<u8>,
}

pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

impl Client {
    /// Connects without reading anything.
    pub fn connect_silent(port: u16) -> Client {
        Client::connect_to(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
    }

    /// Connects to `address` without reading anything.
    pub fn connect_to(address: std::net::SocketAddr) -> Client {
        let tcp = TcpStream::connect(address).expect("connect to gateway");
        tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        Client {
            stream: Box::new(tcp.try_clone().unwrap()),
            tcp,
            input: Vec::new(),
        }
    }

    /// Connects and reads the greeting, which must be 220.
    pub fn connect(port: u16) -> Client {
        let mut client = Client::connect_silent(port);
        let greeting = client.reply().expect("greeting");
        assert_eq!(greeting.code, 220, "greeting: {greeting:?}");
        client
    }

    /// Connects, reads the greeting and says EHLO; returns the client and the EHLO reply.
    pub fn ehlo(port: u16) -> (Client, Reply) {
        let mut client = Client::connect(port);
        let ehlo = client.command("EHLO client.test");
        assert_eq!(ehlo.code, 250, "EHLO: {ehlo:?}");
        (client, ehlo)
    }

    pub fn set_read_timeout(&self, wait: Duration) {
        self.tcp.set_read_timeout(Some(wait)).unwrap();
    }

    /// Sends `bytes` in one write.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to gateway");
        self.stream.flush().expect("flush");
    }

    /// Sends, but tolerates a connection the server already closed.
    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Sends `line` + CRLF and reads one reply.
    pub fn command(&mut self, line: &str) -> Reply {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
            .unwrap_or_else(|e| panic!("no reply to {line:?}: {e}"))
    }

    /// Reads one (possibly multi-line) reply.
    pub fn reply(&mut self) -> io::Result<Reply> {
        let mut lines = Vec::new();
        loop {
            let line = self.line()?;
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\r', '\n']);
            let code: u16 = text
                .get(..3)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, text.to_string()))?;
            let more = text.as_bytes().get(3) == Some(&b'-');
            lines.push(text.get(4..).unwrap_or("").to_string());
            if !more {
                return Ok(Reply { code, lines });
            }
        }
    }

    /// Reads `n` replies (e.g. after a pipelined batch).
    pub fn replies(&mut self, n: usize) -> Vec<Reply> {
        (0..n)
            .map(|i| {
                self.reply()
                    .unwrap_or_else(|e| panic!("reply {} of {n}: {e}", i + 1))
            })
            .collect()
    }

    fn line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(pos) = self.input.iter().position(|&b| b == b'\n') {
                return Ok(self.input.drain(..=pos).collect());
            }
            let mut buf = [0u8; 4096];
            let n = self.stream.read(&mut buf)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "server closed the connection",
                ));
            }
            self.input.extend_from_slice(&buf[..n]);
        }
    }

    /// True when the server closed the connection (reads EOF or reset), without a reply.
    pub fn is_closed(&mut self) -> bool {
        if !self.input.is_empty() {
            return false;
        }
        let mut buf = [0u8; 1];
        matches!(self.stream.read(&mut buf), Ok(0) | Err(_))
    }

    /// Bytes already received but not yet read as replies.
    pub fn unread(&self) -> &[u8] {
        &self.input
    }

    /// TLS handshake on this connection (after the server's 220 to STARTTLS). Bytes received
    /// before the handshake are dropped, as a correct client does.
    pub fn start_tls(self) -> Client {
        // The gateway's own opportunistic configuration: the test gateway's cert is self-signed.
        let config = sealgate::tls::client_config(false, None).expect("TLS client config");
        let name = ServerName::try_from("sealgate.test").unwrap();
        let connection = ClientConnection::new(config, name).unwrap();
        let mut tls = StreamOwned::new(connection, self.tcp.try_clone().unwrap());
        while tls.conn.is_handshaking() {
            tls.conn
                .complete_io(&mut tls.sock)
                .expect("TLS handshake with the gateway");
        }
        Client {
            stream: Box::new(tls),
            tcp: self.tcp,
            input: Vec::new(),
        }
    }
}
