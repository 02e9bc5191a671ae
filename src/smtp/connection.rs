//! The client connection: buffered, bounded reads of command lines and data, buffered replies.
//!
//! Replies are queued and flushed only when the client has no more commands waiting (RFC 2920
//! PIPELINING). Reads never grow a buffer past the configured line length: a longer line is
//! skipped up to its end and reported, so no client can make a session hold more memory.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::server::TlsStream;

use crate::reply::Reply;

/// Any byte stream a client can be on: a TCP socket in the daemon, an in-memory pipe
/// (`tokio::io::duplex`) in the tests.
pub trait ClientStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> ClientStream for T {}

type Boxed = Box<dyn ClientStream>;

enum Stream {
    Plain(Boxed),
    /// STARTTLS wraps whatever stream the session is on.
    Tls(Box<TlsStream<Boxed>>),
    /// Only while the plain stream is handed to the TLS handshake.
    Gone,
}

/// What reading a command line gave.
#[derive(Debug)]
pub enum Line {
    /// A line with its CRLF (or bare LF).
    Complete(Vec<u8>),
    /// The line was longer than allowed and has been skipped up to its end.
    TooLong,
    /// The client closed the connection.
    Closed,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("client did not send anything for {0:?}")]
    Timeout(Duration),
    #[error("client connection: {0}")]
    Io(#[from] std::io::Error),
}

pub struct Connection {
    stream: Stream,
    input: Vec<u8>,
    output: Vec<u8>,
    skipping_long_line: bool,
}

/// Read size in the DATA phase.
const DATA_CHUNK: usize = 64 * 1024;
/// Read size of a message's first read: most mail is small, and glibc returns memory to the
/// system when a block of 64 KiB or more is freed, so a 64 KiB read buffer per small message
/// is paid again in page faults at the next one (BENCHMARKS.md, "After the profile").
const FIRST_DATA_CHUNK: usize = 16 * 1024;
/// Read size between commands: a pipelined envelope fits.
const COMMAND_CHUNK: usize = 4 * 1024;

impl Connection {
    pub fn new(stream: impl ClientStream + 'static, already_read: Vec<u8>) -> Connection {
        Connection {
            stream: Stream::Plain(Box::new(stream)),
            input: already_read,
            output: Vec::with_capacity(512),
            skipping_long_line: false,
        }
    }

    pub fn queue(&mut self, reply: &Reply) {
        reply.write_to(&mut self.output);
    }

    pub fn queue_raw(&mut self, bytes: &[u8]) {
        self.output.extend_from_slice(bytes);
    }

    /// Sends queued replies now.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        if self.output.is_empty() {
            return Ok(());
        }
        let result = match &mut self.stream {
            Stream::Plain(s) => s.write_all(&self.output).await,
            Stream::Tls(s) => match s.write_all(&self.output).await {
                Ok(()) => s.flush().await,
                Err(e) => Err(e),
            },
            Stream::Gone => Err(std::io::ErrorKind::NotConnected.into()),
        };
        self.output.clear();
        result
    }

    /// Sends queued replies when the client has nothing more pipelined.
    pub async fn flush_if_idle(&mut self) -> std::io::Result<()> {
        if self.has_complete_line() {
            return Ok(());
        }
        self.flush().await
    }

    /// True when the client has already sent something, looking at the stream without
    /// waiting. Before the greeting that is a client that does not follow the protocol
    /// (Postfix's pre-greet test): an MTA waits for the 220.
    pub async fn talked_first(&mut self) -> bool {
        if !self.input.is_empty() {
            return true;
        }
        let Stream::Plain(stream) = &mut self.stream else {
            return false;
        };
        let mut probe = [0u8; 1];
        // One poll: ready with bytes means the client spoke; pending means it is waiting.
        std::future::poll_fn(|cx| {
            let mut buf = tokio::io::ReadBuf::new(&mut probe);
            std::task::Poll::Ready(
                match std::pin::Pin::new(&mut **stream).poll_read(cx, &mut buf) {
                    std::task::Poll::Ready(Ok(())) => !buf.filled().is_empty(),
                    _ => false,
                },
            )
        })
        .await
    }

    fn has_complete_line(&self) -> bool {
        memchr::memchr(b'\n', &self.input).is_some()
    }

    /// Reads one command line of at most `max` bytes, waiting at most `wait` for each read.
    pub async fn read_line(&mut self, max: usize, wait: Duration) -> Result<Line, ConnectionError> {
        loop {
            if let Some(pos) = memchr::memchr(b'\n', &self.input) {
                let line: Vec<u8> = self.input.drain(..=pos).collect();
                if std::mem::take(&mut self.skipping_long_line) || line.len() > max {
                    return Ok(Line::TooLong);
                }
                return Ok(Line::Complete(line));
            }
            if self.input.len() > max {
                self.input.clear();
                self.skipping_long_line = true;
            }
            if self.fill(COMMAND_CHUNK, wait).await? == 0 {
                return Ok(Line::Closed);
            }
        }
    }

    /// Takes whatever input is buffered (for the DATA reader), reading first if there is none;
    /// `first`: the message's first read, which asks for less. An empty result means the
    /// client closed the connection.
    pub async fn read_chunk(
        &mut self,
        wait: Duration,
        first: bool,
    ) -> Result<Vec<u8>, ConnectionError> {
        if self.input.is_empty() {
            let want = if first { FIRST_DATA_CHUNK } else { DATA_CHUNK };
            self.fill(want, wait).await?;
        }
        Ok(std::mem::take(&mut self.input))
    }

    /// Gives back a fully consumed chunk's buffer so the next read reuses its allocation.
    pub fn recycle(&mut self, mut chunk: Vec<u8>) {
        if self.input.is_empty() {
            chunk.clear();
            self.input = chunk;
        }
    }

    /// Puts back bytes that followed the end of data: the client's next commands.
    pub fn unread(&mut self, bytes: &[u8]) {
        let mut rest = bytes.to_vec();
        rest.extend_from_slice(&self.input);
        self.input = rest;
    }

    /// Reads what is there into spare capacity of at least `want` bytes; 0 means closed.
    /// Idle sessions thus hold a small buffer; only DATA reads ask for large ones.
    async fn fill(&mut self, want: usize, wait: Duration) -> Result<usize, ConnectionError> {
        self.input.reserve(want);
        let read = async {
            match &mut self.stream {
                Stream::Plain(s) => s.read_buf(&mut self.input).await,
                Stream::Tls(s) => s.read_buf(&mut self.input).await,
                Stream::Gone => Ok(0),
            }
        };
        match tokio::time::timeout(wait, read).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(ConnectionError::Timeout(wait)),
        }
    }

    /// Upgrades to TLS. Whatever the client pipelined after STARTTLS is thrown away first
    /// (CVE-2011-0411), so no plaintext command can run inside the TLS session.
    pub async fn start_tls(
        &mut self,
        acceptor: &tokio_rustls::TlsAcceptor,
        wait: Duration,
    ) -> Result<(String, Option<rustls::ProtocolVersion>), ConnectionError> {
        self.input.clear();
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return Err(std::io::Error::other("STARTTLS inside TLS").into());
        };
        let tls = tokio::time::timeout(wait, acceptor.accept(tcp))
            .await
            .map_err(|_| ConnectionError::Timeout(wait))??;
        let (_, session) = tls.get_ref();
        let info = crate::tls::describe(
            session.protocol_version(),
            session.negotiated_cipher_suite(),
        );
        let version = session.protocol_version();
        self.stream = Stream::Tls(Box::new(tls));
        Ok((info, version))
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    pub async fn shutdown(&mut self) {
        let _ = self.flush().await;
        let _ = match &mut self.stream {
            Stream::Plain(s) => s.shutdown().await,
            Stream::Tls(s) => s.shutdown().await,
            Stream::Gone => Ok(()),
        };
    }
}
