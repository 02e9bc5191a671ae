//! PROXY protocol v1 and v2 (HAProxy), so that access rules, logs and the audit trail see the
//! real client behind a load balancer. Accepted only from `smtp.proxy_protocol_from`: from
//! anyone else a PROXY header would let a client choose its own address, so it is refused.

use std::net::SocketAddr;
use std::time::Duration;

use ppp::{v1, v2, HeaderResult, PartialResult};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// A v2 header is 16 bytes plus addresses and TLVs; HAProxy's stay far below this.
const MAX_HEADER: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("no complete PROXY header within {0:?}")]
    Timeout(Duration),
    #[error("connection closed before the PROXY header was complete")]
    Closed,
    #[error("malformed PROXY header: {0}")]
    Malformed(String),
    #[error("PROXY header longer than {MAX_HEADER} bytes")]
    TooLong,
    #[error("reading the PROXY header: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads the PROXY header that a trusted proxy sends first. Returns the client's real address
/// (the proxy's own for LOCAL/UNKNOWN, e.g. health checks) and the bytes read past the header.
pub async fn read_header(
    stream: &mut TcpStream,
    peer: SocketAddr,
    wait: Duration,
) -> Result<(SocketAddr, Vec<u8>), ProxyError> {
    let mut buf = Vec::with_capacity(256);
    let read = async {
        loop {
            if let Some(parsed) = parse(&buf, peer)? {
                return Ok(parsed);
            }
            if buf.len() >= MAX_HEADER {
                return Err(ProxyError::TooLong);
            }
            let mut chunk = [0u8; 512];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(ProxyError::Closed);
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    let (client, used) = tokio::time::timeout(wait, read)
        .await
        .map_err(|_| ProxyError::Timeout(wait))??;
    Ok((client, buf.get(used..).unwrap_or_default().to_vec()))
}

/// `Ok(None)`: incomplete so far. `Ok(Some((client, header_length)))` when complete.
pub fn parse(buf: &[u8], peer: SocketAddr) -> Result<Option<(SocketAddr, usize)>, ProxyError> {
    if buf.is_empty() {
        return Ok(None);
    }
    let result = HeaderResult::parse(buf);
    if result.is_incomplete() {
        return Ok(None);
    }
    match result {
        HeaderResult::V1(Ok(header)) => {
            let client = match header.addresses {
                v1::Addresses::Tcp4(a) => SocketAddr::from((a.source_address, a.source_port)),
                v1::Addresses::Tcp6(a) => SocketAddr::from((a.source_address, a.source_port)),
                v1::Addresses::Unknown => peer,
            };
            Ok(Some((client, header.header.len())))
        }
        HeaderResult::V2(Ok(header)) => {
            let client = match (header.command, header.addresses) {
                (v2::Command::Local, _) => peer,
                (_, v2::Addresses::IPv4(a)) => SocketAddr::from((a.source_address, a.source_port)),
                (_, v2::Addresses::IPv6(a)) => SocketAddr::from((a.source_address, a.source_port)),
                (_, _) => peer,
            };
            Ok(Some((client, header.header.len())))
        }
        HeaderResult::V1(Err(e)) => Err(ProxyError::Malformed(format!("{e:?}"))),
        HeaderResult::V2(Err(e)) => Err(ProxyError::Malformed(format!("{e:?}"))),
    }
}

/// True when a command line looks like a PROXY header (from a peer not allowed to send one).
pub fn looks_like_header(line: &[u8]) -> bool {
    line.starts_with(b"PROXY ") || line.starts_with(&v2::PROTOCOL_PREFIX[..4])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "127.0.0.1:5000".parse().unwrap()
    }

    #[test]
    fn v1_headers() {
        let input = b"PROXY TCP4 192.0.2.7 127.0.0.1 40000 25\r\nEHLO x\r\n";
        let (client, used) = parse(input, peer()).unwrap().unwrap();
        assert_eq!(client, "192.0.2.7:40000".parse().unwrap());
        assert_eq!(&input[used..], b"EHLO x\r\n");
        let (client, _) = parse(b"PROXY TCP6 2001:db8::1 ::1 40000 25\r\n", peer())
            .unwrap()
            .unwrap();
        assert_eq!(client, "[2001:db8::1]:40000".parse().unwrap());
        assert_eq!(
            parse(b"PROXY UNKNOWN\r\n", peer()).unwrap().unwrap().0,
            peer()
        );
        assert_eq!(parse(b"PROXY TCP4 192.0.2.7", peer()).unwrap(), None);
        assert!(parse(b"PROXY TCP4 999.0.2.7 127.0.0.1 1 2\r\n", peer()).is_err());
        assert!(parse(b"EHLO client.example\r\n", peer()).is_err());
    }

    #[test]
    fn v2_headers() {
        let mut input = v2::PROTOCOL_PREFIX.to_vec();
        input.extend([
            0x21, 0x11, 0, 12, 192, 0, 2, 9, 127, 0, 0, 1, 0x9c, 0x40, 0, 25,
        ]);
        input.extend(b"EHLO x\r\n");
        let (client, used) = parse(&input, peer()).unwrap().unwrap();
        assert_eq!(client, "192.0.2.9:40000".parse().unwrap());
        assert_eq!(&input[used..], b"EHLO x\r\n");
        assert_eq!(parse(&input[..20], peer()).unwrap(), None);
        let mut local = v2::PROTOCOL_PREFIX.to_vec();
        local.extend([0x20, 0x00, 0, 0]);
        assert_eq!(parse(&local, peer()).unwrap().unwrap().0, peer());
        assert!(looks_like_header(&input));
        assert!(looks_like_header(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"));
    }
}
