//! Relay: the next-hop side of the before-queue proxy.

mod client;
pub mod dane;
pub mod dns;
pub mod mta_sts;
pub mod mx;

pub use client::{NextHopClient, RelayError, RelaySettings};

use std::fmt;

/// Where mail goes next: the smarthost of `relay.next_hop`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextHop {
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NextHopError {
    #[error("must look like \"smtp://host:port\" (got {0:?})")]
    Shape(String),
    #[error("port {0:?} is not a number from 1 to 65535")]
    Port(String),
}

impl NextHop {
    pub fn parse(url: &str) -> Result<NextHop, NextHopError> {
        let shape = || NextHopError::Shape(url.to_string());
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
            .ok_or_else(|| NextHopError::Port(port.to_string()))?;
        Ok(NextHop {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for NextHop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_hop_urls() {
        assert_eq!(
            NextHop::parse("smtp://relay.example:587").unwrap(),
            NextHop {
                host: "relay.example".into(),
                port: 587
            }
        );
        assert_eq!(NextHop::parse("smtp://relay.example").unwrap().port, 25);
        assert_eq!(
            NextHop::parse("smtp://[::1]:2526").unwrap(),
            NextHop {
                host: "::1".into(),
                port: 2526
            }
        );
        assert_eq!(
            NextHop::parse("smtp://[::1]:2526").unwrap().to_string(),
            "[::1]:2526"
        );
        assert!(NextHop::parse("relay.example:25").is_err());
        assert!(NextHop::parse("smtp://relay.example:0").is_err());
        assert!(NextHop::parse("smtp://relay.example:x").is_err());
        assert!(NextHop::parse("smtp://:25").is_err());
    }
}
