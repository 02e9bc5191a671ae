//! The SMTP client towards the next hop.
//!
//! One client serves one transfer at a time: the envelope is forwarded command by command and
//! the next hop's replies come back to be mirrored. The message itself is only sent once policy
//! and audit have said yes. Everything the next hop may do wrong (refuse to connect, stall,
//! close, answer garbage) becomes a [`RelayError`], which the transfer core turns into a 4xx:
//! the sending server keeps the mail.

use std::sync::Arc;
use std::time::Duration;

use smtp_proto::response::parser::ResponseReceiver;
use smtp_proto::{EhloResponse, EXT_8BIT_MIME, EXT_SIZE, EXT_SMTP_UTF8, EXT_START_TLS};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::client::TlsStream;

use super::{MailParams, NextHop, RcptParams};
use crate::config::{NextHopAddress, TlsPolicy};
use crate::reply::{Reply, Status};

/// What went wrong with the next hop.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("cannot connect to next hop {hop}: {source}")]
    Connect { hop: String, source: std::io::Error },
    #[error("next hop did not answer within {0:?} ({1})")]
    Timeout(Duration, &'static str),
    #[error("TLS with the next hop failed: {0}")]
    Tls(String),
    #[error("next hop spoke no SMTP: {0}")]
    Protocol(String),
    #[error("next hop closed the connection")]
    Closed,
    #[error("next hop I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("next hop refused {stage}: {reply}")]
    Refused { stage: &'static str, reply: Reply },
    /// RFC 7505: the recipient domain accepts no mail.
    #[error("{0} publishes a null MX: it accepts no mail")]
    NullMx(String),
    /// The MX (or address) lookup failed; the sending server should retry.
    #[error("DNS: {0}")]
    Dns(String),
    /// The transport security the mail needs could not be had with any MX.
    #[error("required TLS not available: {0}")]
    Insecure(String),
}

/// The closed set of [`RelayError`] kinds; the edges map it to their metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Connect,
    Timeout,
    Tls,
    Protocol,
    Closed,
    Reply4xx,
    Reply5xx,
    Dns,
    NullMx,
    Insecure,
}

impl RelayError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            RelayError::Connect { .. } => ErrorKind::Connect,
            RelayError::Timeout(..) => ErrorKind::Timeout,
            RelayError::Tls(_) => ErrorKind::Tls,
            RelayError::Protocol(_) => ErrorKind::Protocol,
            RelayError::Closed | RelayError::Io(_) => ErrorKind::Closed,
            RelayError::Refused { reply, .. } if reply.is_transient() => ErrorKind::Reply4xx,
            RelayError::Refused { .. } => ErrorKind::Reply5xx,
            RelayError::NullMx(_) => ErrorKind::NullMx,
            RelayError::Dns(_) => ErrorKind::Dns,
            RelayError::Insecure(_) => ErrorKind::Insecure,
        }
    }

    /// True when the connection broke (as opposed to the next hop answering a refusal): a
    /// reused connection that fails like this is worth one more try on a new one.
    pub fn is_connection_lost(&self) -> bool {
        matches!(self, RelayError::Io(_) | RelayError::Closed)
    }
}

/// How to reach and talk to the next hop; built once from the configuration.
#[derive(Clone)]
pub struct RelaySettings {
    pub next_hop: NextHopAddress,
    pub tls: TlsPolicy,
    /// Verifying (or, for opportunistic TLS, non-verifying) client configuration.
    pub tls_config: Arc<rustls::ClientConfig>,
    /// Whether `tls_config` verifies the certificate for the host's name.
    pub tls_verifies: bool,
    pub auth: Option<(String, String)>,
    pub helo_name: String,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub data_timeout: Duration,
}

enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Only while the plain stream is handed to the TLS handshake.
    Gone,
}

/// An open SMTP connection to the next hop, after EHLO (and STARTTLS/AUTH where configured).
pub struct NextHopClient {
    io: Io,
    buf: Vec<u8>,
    capabilities: u32,
    tls_info: Option<String>,
    tls_version: Option<rustls::ProtocolVersion>,
    peer: Option<super::Peer>,
    in_transaction: bool,
    command_timeout: Duration,
    data_timeout: Duration,
}

const MAX_BUFFERED_REPLY: usize = 64 * 1024;
/// Room made in the reply buffer before each read.
const REPLY_READ: usize = 4096;
/// Largest buffer the message is written through; a smaller message gets one its own size.
const DATA_WRITE_BUFFER: usize = 64 * 1024;
/// Room for what the relay adds to the message: the final dot line, a missing CRLF, a few
/// stuffing dots (more only cost an extra write).
const DATA_WRITE_SLACK: usize = 64;

impl NextHopClient {
    /// Connects to `settings.next_hop` (the smarthost), resolving its name.
    pub async fn connect(settings: &RelaySettings) -> Result<NextHopClient, RelayError> {
        let hop = &settings.next_hop;
        let tcp = timeout(
            settings.connect_timeout,
            TcpStream::connect((hop.host.as_str(), hop.port)),
        )
        .await
        .map_err(|_| RelayError::Timeout(settings.connect_timeout, "connect"))?
        .map_err(|source| RelayError::Connect {
            hop: hop.to_string(),
            source,
        })?;
        let verified = if settings.tls_verifies {
            super::Verified::Ca
        } else {
            super::Verified::Unverified
        };
        NextHopClient::handshake(tcp, settings, verified).await
    }

    /// Connects to `address`, speaking to it as `settings.next_hop.host` (an MX host: the
    /// name its certificate is checked for); `verified` is what a TLS session with
    /// `settings.tls_config` proves.
    pub async fn connect_at(
        settings: &RelaySettings,
        address: std::net::SocketAddr,
        verified: super::Verified,
    ) -> Result<NextHopClient, RelayError> {
        let tcp = timeout(settings.connect_timeout, TcpStream::connect(address))
            .await
            .map_err(|_| RelayError::Timeout(settings.connect_timeout, "connect"))?
            .map_err(|source| RelayError::Connect {
                hop: format!("{}[{address}]", settings.next_hop.host),
                source,
            })?;
        NextHopClient::handshake(tcp, settings, verified).await
    }

    async fn handshake(
        tcp: TcpStream,
        settings: &RelaySettings,
        verified: super::Verified,
    ) -> Result<NextHopClient, RelayError> {
        let _ = tcp.set_nodelay(true);
        let address = tcp.peer_addr()?;
        let mut client = NextHopClient {
            io: Io::Plain(tcp),
            buf: Vec::with_capacity(1024),
            capabilities: 0,
            tls_info: None,
            tls_version: None,
            peer: None,
            in_transaction: false,
            command_timeout: settings.command_timeout,
            data_timeout: settings.data_timeout,
        };
        let greeting = client
            .read_reply(settings.command_timeout, "greeting")
            .await?;
        if greeting.code != 220 {
            return Err(RelayError::Refused {
                stage: "greeting",
                reply: greeting,
            });
        }
        client.ehlo(settings).await?;
        if settings.tls != TlsPolicy::None {
            client.start_tls(settings).await?;
        }
        if let Some((user, password)) = &settings.auth {
            client.authenticate(settings, user, password).await?;
        }
        client.peer = Some(super::Peer {
            host: settings.next_hop.host.clone(),
            address,
            verified: if client.tls_info.is_some() {
                verified
            } else {
                super::Verified::Plaintext
            },
        });
        Ok(client)
    }

    fn supports_8bitmime(&self) -> bool {
        self.capabilities & EXT_8BIT_MIME != 0
    }

    fn supports_smtputf8(&self) -> bool {
        self.capabilities & EXT_SMTP_UTF8 != 0
    }

    fn supports_size(&self) -> bool {
        self.capabilities & EXT_SIZE != 0
    }

    async fn ehlo(&mut self, settings: &RelaySettings) -> Result<(), RelayError> {
        self.send(format!("EHLO {}\r\n", settings.helo_name).as_bytes())
            .await?;
        let (reply, raw) = self
            .read_reply_raw(settings.command_timeout, "EHLO")
            .await?;
        if reply.code != 250 {
            return Err(RelayError::Refused {
                stage: "EHLO",
                reply,
            });
        }
        self.capabilities = EhloResponse::parse(&mut raw.iter())
            .map(|e| e.capabilities)
            .unwrap_or(0);
        Ok(())
    }

    async fn start_tls(&mut self, settings: &RelaySettings) -> Result<(), RelayError> {
        if self.capabilities & EXT_START_TLS == 0 {
            return match settings.tls {
                TlsPolicy::Required => {
                    Err(RelayError::Tls("next hop does not offer STARTTLS".into()))
                }
                _ => Ok(()),
            };
        }
        let reply = self
            .command("STARTTLS\r\n", settings.command_timeout, "STARTTLS")
            .await?;
        if reply.code != 220 {
            return match settings.tls {
                TlsPolicy::Required => Err(RelayError::Refused {
                    stage: "STARTTLS",
                    reply,
                }),
                _ => Ok(()),
            };
        }
        // Anything the next hop sent before the handshake is discarded (CVE-2011-0411).
        self.buf.clear();
        let Io::Plain(tcp) = std::mem::replace(&mut self.io, Io::Gone) else {
            return Err(RelayError::Tls("STARTTLS inside TLS".into()));
        };
        let name = rustls::pki_types::ServerName::try_from(settings.next_hop.host.clone())
            .map_err(|e| RelayError::Tls(format!("next hop name: {e}")))?;
        let connector = tokio_rustls::TlsConnector::from(settings.tls_config.clone());
        let tls = timeout(settings.command_timeout, connector.connect(name, tcp))
            .await
            .map_err(|_| RelayError::Timeout(settings.command_timeout, "TLS handshake"))?
            .map_err(|e| RelayError::Tls(e.to_string()))?;
        let (_, session) = tls.get_ref();
        self.tls_version = session.protocol_version();
        self.tls_info = Some(crate::tls::describe(
            session.protocol_version(),
            session.negotiated_cipher_suite(),
        ));
        self.io = Io::Tls(Box::new(tls));
        self.ehlo(settings).await
    }

    async fn authenticate(
        &mut self,
        settings: &RelaySettings,
        user: &str,
        password: &str,
    ) -> Result<(), RelayError> {
        use base64::Engine;
        if self.tls_info.is_none() {
            return Err(RelayError::Tls(
                "refusing to send AUTH credentials without TLS".into(),
            ));
        }
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        let reply = self
            .command(
                &format!("AUTH PLAIN {token}\r\n"),
                settings.command_timeout,
                "AUTH",
            )
            .await?;
        if reply.code != 235 {
            return Err(RelayError::Refused {
                stage: "AUTH",
                reply,
            });
        }
        Ok(())
    }

    /// Sends one command line and returns the reply, whatever its code.
    async fn command(
        &mut self,
        line: &str,
        wait: Duration,
        stage: &'static str,
    ) -> Result<Reply, RelayError> {
        self.send(line.as_bytes()).await?;
        self.read_reply(wait, stage).await
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), RelayError> {
        match &mut self.io {
            Io::Plain(s) => s.write_all(bytes).await?,
            Io::Tls(s) => {
                s.write_all(bytes).await?;
                s.flush().await?;
            }
            Io::Gone => return Err(RelayError::Closed),
        }
        Ok(())
    }

    async fn read_reply(
        &mut self,
        wait: Duration,
        stage: &'static str,
    ) -> Result<Reply, RelayError> {
        Ok(self.read_reply_raw(wait, stage).await?.0)
    }

    /// Reads one complete (possibly multi-line) reply; also returns its raw bytes for EHLO.
    async fn read_reply_raw(
        &mut self,
        wait: Duration,
        stage: &'static str,
    ) -> Result<(Reply, Vec<u8>), RelayError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = complete_reply_len(&self.buf) {
                let raw: Vec<u8> = self.buf.drain(..end).collect();
                let reply = parse_reply(&raw, stage)?;
                return Ok((reply, raw));
            }
            if self.buf.len() > MAX_BUFFERED_REPLY {
                return Err(RelayError::Protocol("reply too long".into()));
            }
            // Straight into the buffer's spare room: no zeroed scratch array per read.
            self.buf.reserve(REPLY_READ);
            let (io, buf) = (&mut self.io, &mut self.buf);
            let read = async {
                match io {
                    Io::Plain(s) => s.read_buf(buf).await,
                    Io::Tls(s) => s.read_buf(buf).await,
                    Io::Gone => Ok(0),
                }
            };
            let n = tokio::time::timeout_at(deadline, read)
                .await
                .map_err(|_| RelayError::Timeout(wait, stage))??;
            if n == 0 {
                return Err(RelayError::Closed);
            }
        }
    }
}

#[async_trait::async_trait]
impl NextHop for NextHopClient {
    async fn mail(&mut self, sender: &str, params: MailParams) -> Result<Reply, RelayError> {
        let mut command = format!("MAIL FROM:<{}>", argument(sender)?);
        if params.size > 0 && self.supports_size() {
            command.push_str(&format!(" SIZE={}", params.size));
        }
        if params.body_8bit && self.supports_8bitmime() {
            command.push_str(" BODY=8BITMIME");
        }
        if params.smtputf8 && self.supports_smtputf8() {
            command.push_str(" SMTPUTF8");
        }
        command.push_str("\r\n");
        let reply = self.command(&command, self.command_timeout, "MAIL").await?;
        self.in_transaction = reply.is_positive();
        Ok(reply)
    }

    async fn rcpt(&mut self, address: &str, _params: RcptParams) -> Result<Reply, RelayError> {
        let command = format!("RCPT TO:<{}>\r\n", argument(address)?);
        self.command(&command, self.command_timeout, "RCPT").await
    }

    async fn data(&mut self, trace_header: &[u8], message: &[u8]) -> Result<Reply, RelayError> {
        let go_ahead = self
            .command("DATA\r\n", self.command_timeout, "DATA")
            .await?;
        if go_ahead.code != 354 {
            self.in_transaction = false;
            return Ok(go_ahead);
        }
        let wait = self.data_timeout;
        let write = async {
            match &mut self.io {
                Io::Plain(s) => write_stuffed(s, trace_header, message).await,
                Io::Tls(s) => write_stuffed(s.as_mut(), trace_header, message).await,
                Io::Gone => Err(std::io::ErrorKind::NotConnected.into()),
            }
        };
        timeout(wait, write)
            .await
            .map_err(|_| RelayError::Timeout(wait, "sending data"))??;
        self.in_transaction = false;
        self.read_reply(wait, "end of data").await
    }

    async fn reset(&mut self) -> Result<(), RelayError> {
        self.in_transaction = false;
        let reply = self
            .command("RSET\r\n", self.command_timeout, "RSET")
            .await?;
        match reply.code {
            250 => Ok(()),
            _ => Err(RelayError::Refused {
                stage: "RSET",
                reply,
            }),
        }
    }

    async fn noop(&mut self) -> Result<(), RelayError> {
        self.command("NOOP\r\n", self.command_timeout, "NOOP")
            .await
            .map(|_| ())
    }

    async fn quit(mut self: Box<Self>) {
        let wait = self.command_timeout;
        let _ = self.command("QUIT\r\n", wait, "QUIT").await;
    }

    /// A kept plaintext connection looks usable when there is nothing to read (no EOF, no
    /// unsolicited 421). Over TLS only a NOOP can tell.
    fn looks_alive(&self) -> Option<bool> {
        match &self.io {
            Io::Plain(s) => {
                let mut byte = [0u8; 1];
                match s.try_read(&mut byte) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        Some(self.buf.is_empty())
                    }
                    _ => Some(false),
                }
            }
            Io::Tls(_) => None,
            Io::Gone => Some(false),
        }
    }

    fn in_transaction(&self) -> bool {
        self.in_transaction
    }

    fn tls_info(&self) -> Option<String> {
        self.tls_info.clone()
    }

    fn tls_version(&self) -> Option<rustls::ProtocolVersion> {
        self.tls_version
    }

    fn peer(&self) -> Option<super::Peer> {
        self.peer.clone()
    }
}

/// A command argument: an address in SMTP form. A line break in it would start a new command.
fn argument(text: &str) -> Result<&str, RelayError> {
    if text.bytes().any(|b| b.is_ascii_control()) {
        return Err(RelayError::Protocol(
            "refusing to send a control character in a command".into(),
        ));
    }
    Ok(text)
}

/// Length of the first complete reply in `buf`: lines up to one whose 4th byte is a space.
fn complete_reply_len(buf: &[u8]) -> Option<usize> {
    let mut start = 0;
    while let Some(pos) = memchr::memchr(b'\n', &buf[start..]) {
        let line = &buf[start..start + pos + 1];
        start += pos + 1;
        if line.len() < 5 || line.get(3) != Some(&b'-') {
            return Some(start);
        }
    }
    None
}

fn parse_reply(raw: &[u8], stage: &str) -> Result<Reply, RelayError> {
    let mut receiver = ResponseReceiver::default();
    let response = receiver.parse(&mut raw.iter()).map_err(|e| {
        RelayError::Protocol(format!(
            "unparseable reply {:?}: {e:?}",
            String::from_utf8_lossy(raw)
        ))
    })?;
    if !(200..600).contains(&response.code) {
        return Err(RelayError::Protocol(format!(
            "reply code {}",
            response.code
        )));
    }
    let [class, subject, detail] = response.esc;
    let status = if class == (response.code / 100) as u8 {
        Status(class, subject.into(), detail.into())
    } else {
        // The next hop gave no enhanced code; ours must carry one (RFC 2034): the one RFC 3463
        // names for this step.
        let class = (response.code / 100) as u8;
        match (class, stage) {
            (2, "MAIL") => Status(2, 1, 0),
            (2, "RCPT") => Status(2, 1, 5),
            _ => Status(class, 0, 0),
        }
    };
    let lines = response
        .message
        .split('\n')
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect();
    Ok(Reply::multiline(response.code, status, lines))
}

/// Writes the message with dot-stuffing and the terminating `.`; no copy of the message is made.
/// Only lines that begin with a dot need a change, so the bytes go out in large slices cut at
/// those lines.
async fn write_stuffed<W: AsyncWrite + Unpin>(
    io: &mut W,
    trace_header: &[u8],
    message: &[u8],
) -> std::io::Result<()> {
    // A 64 KiB buffer for a 5 KB message costs page faults when the allocator returns the
    // memory between messages; sized to the message, it is still one write.
    let capacity = (trace_header.len() + message.len())
        .saturating_add(DATA_WRITE_SLACK)
        .min(DATA_WRITE_BUFFER);
    let mut out = BufWriter::with_capacity(capacity, io);
    for part in [trace_header, message] {
        if part.first() == Some(&b'.') {
            out.write_all(b".").await?;
        }
        let mut written = 0;
        for pos in memchr::memmem::find_iter(part, b"\n.") {
            out.write_all(&part[written..pos + 1]).await?;
            out.write_all(b".").await?;
            written = pos + 1;
        }
        out.write_all(&part[written..]).await?;
    }
    if !message.is_empty() && !message.ends_with(b"\r\n") {
        out.write_all(b"\r\n").await?;
    }
    out.write_all(b".\r\n").await?;
    out.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_boundaries() {
        assert_eq!(complete_reply_len(b"250-a\r\n250-b\r\n"), None);
        assert_eq!(complete_reply_len(b"250-a\r\n250 b\r\n354 x"), Some(14));
        assert_eq!(complete_reply_len(b"250\r\n"), Some(5));
    }

    #[test]
    fn replies_keep_code_status_and_lines() {
        let reply = parse_reply(b"550-5.1.1 no such user\r\n550 5.1.1 really\r\n", "RCPT").unwrap();
        assert_eq!(reply.code, 550);
        assert_eq!(reply.status, Some(Status(5, 1, 1)));
        assert_eq!(
            reply.lines,
            vec!["no such user".to_string(), "really".to_string()]
        );
        let bare = parse_reply(b"250 Ok: queued as ABC\r\n", "end of data").unwrap();
        assert_eq!((bare.code, bare.status), (250, Some(Status(2, 0, 0))));
        assert_eq!(bare.lines, vec!["Ok: queued as ABC".to_string()]);
        assert!(parse_reply(b"hello\r\n", "MAIL").is_err());
        let mail = parse_reply(b"250 OK\r\n", "MAIL").unwrap();
        assert_eq!(mail.status, Some(Status(2, 1, 0)));
    }

    #[tokio::test]
    async fn dot_stuffing_is_redone() {
        let mut out = Vec::new();
        write_stuffed(&mut out, b"Received: x\r\n", b".a\r\nb\r\n..c\r\n")
            .await
            .unwrap();
        assert_eq!(out, b"Received: x\r\n..a\r\nb\r\n...c\r\n.\r\n");
        let mut empty = Vec::new();
        write_stuffed(&mut empty, b"", b"").await.unwrap();
        assert_eq!(empty, b".\r\n");
    }

    #[tokio::test]
    async fn more_stuffing_than_the_buffer_holds_is_still_written_whole() {
        // 200 dots to add: more than the slack the write buffer is sized with.
        let message = b".x\r\n".repeat(200);
        let mut out = Vec::new();
        write_stuffed(&mut out, b"", &message).await.unwrap();
        let mut expected = b"..x\r\n".repeat(200);
        expected.extend_from_slice(b".\r\n");
        assert_eq!(out, expected);
    }
}
