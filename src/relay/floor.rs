//! The transport-security floor of protected mail: one rule for every route.
//!
//! Issue 14 promises that mail for a protected mailbox never leaves in cleartext. A route's
//! `tls` setting (none, may, encrypt, verify, dane) is chosen for ordinary mail; a transaction
//! with a protected recipient gets at least `encrypt` (TLS required, any certificate) on every
//! route, a smarthost as well as MX delivery. `verify` and `dane` stay what they are: they are
//! already above the floor. On an MX route the floor is the last step of a ladder (DANE, then
//! MTA-STS, then the route's `verify`, then this floor: see [`super::mx_delivery`]); on a
//! smarthost route it is the whole rule (no TLSA or MTA-STS lookup is made for a smarthost, and
//! the configuration refuses `dane` there).
//!
//! ## The one exception: a next hop on loopback
//!
//! Mail handed to an MTA on the same machine (a resolved next-hop address in 127.0.0.0/8 or
//! `::1`, also in its IPv4-mapped form) does not leave the machine, so it cannot leave in
//! cleartext here: the floor is not applied to such an address and the route's own `tls`
//! holds. The local MTA's own outbound settings then decide (Postfix: `smtp_tls_security_level`).
//! Only the *resolved* address counts, never the configured name, so a name that points
//! elsewhere gets the floor. There is no opt-out for a smarthost elsewhere on the LAN: give it
//! TLS (any certificate will do for `encrypt`, e.g. Debian's snakeoil certificate with Postfix's
//! `smtpd_tls_security_level = may`), or run the MTA on the gateway host.
//!
//! When the floor cannot be met (no STARTTLS, a refused STARTTLS, a failed handshake) the
//! transaction gets `451 4.7.5` and the reason is logged and counted
//! (`sealgate_delivery_failures_total{route,reason="tls_required"}`); nothing is sent.

use std::net::IpAddr;

use super::client::RelayError;
use super::route::Route;
use super::{Peer, Verified};
use crate::config::RouteTls;

/// The least a transaction with a protected recipient gets on a route whose `tls` is `tls`:
/// never cleartext.
pub fn protected(tls: RouteTls) -> RouteTls {
    match tls {
        RouteTls::None | RouteTls::May => RouteTls::Encrypt,
        RouteTls::Encrypt | RouteTls::Verify | RouteTls::Dane => tls,
    }
}

/// Whether the floor is waived for a next hop at `address`: it is on this machine.
pub fn stays_on_this_machine(address: IpAddr) -> bool {
    address.to_canonical().is_loopback()
}

/// Whether the loopback exception is honoured (production) or loopback counts as remote (the
/// in-process tests, which can only reach loopback, prove the floor with this).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Loopback {
    #[default]
    Exempt,
    TreatedAsRemote,
}

impl Loopback {
    /// Whether the floor applies to a next hop at `address`.
    pub fn floor_applies(self, address: IpAddr) -> bool {
        self == Loopback::TreatedAsRemote || !stays_on_this_machine(address)
    }
}

/// Whether a connection opened for ordinary mail may also carry a protected recipient: on a
/// smarthost route, when what it proved meets the floor (TLS, verified when the route says
/// `verify`) or its address is exempt. On an MX route never: a protected recipient's security
/// is looked up per host (DANE, MTA-STS), and a connection opened without that lookup proves
/// nothing about it.
pub fn clears(route: &Route, peer: Option<&Peer>, loopback: Loopback) -> bool {
    let Some(peer) = peer else {
        return false;
    };
    if route.is_mx() {
        return false;
    }
    if !loopback.floor_applies(peer.address.ip()) {
        return true;
    }
    match protected(route.tls) {
        RouteTls::Verify => peer.verified == Verified::Ca,
        _ => peer.verified != Verified::Plaintext,
    }
}

/// Whether `error`, from a connection that required TLS, means the TLS could not be had (as
/// opposed to the host being down): such failures become `451 4.7.5`.
pub fn is_security_failure(error: &RelayError) -> bool {
    matches!(
        error,
        RelayError::Tls(_)
            | RelayError::Refused {
                stage: "STARTTLS",
                ..
            }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_mail_gets_at_least_encrypt_and_never_less_than_the_route() {
        assert_eq!(protected(RouteTls::None), RouteTls::Encrypt);
        assert_eq!(protected(RouteTls::May), RouteTls::Encrypt);
        assert_eq!(protected(RouteTls::Encrypt), RouteTls::Encrypt);
        assert_eq!(protected(RouteTls::Verify), RouteTls::Verify);
        assert_eq!(protected(RouteTls::Dane), RouteTls::Dane);
    }

    #[test]
    fn only_loopback_addresses_stay_on_this_machine() {
        for local in [
            "127.0.0.1",
            "127.0.0.25",
            "127.255.255.254",
            "::1",
            "::ffff:127.0.0.1",
        ] {
            let ip: IpAddr = local.parse().expect("an address");
            assert!(stays_on_this_machine(ip), "{local}");
            assert!(!Loopback::Exempt.floor_applies(ip), "{local}");
            assert!(Loopback::TreatedAsRemote.floor_applies(ip), "{local}");
        }
        for remote in [
            "10.0.0.5",
            "192.168.1.1",
            "128.0.0.1",
            "0.0.0.0",
            "::",
            "::2",
            "fe80::1",
            "::ffff:10.0.0.5",
            "2001:db8::25",
        ] {
            let ip: IpAddr = remote.parse().expect("an address");
            assert!(!stays_on_this_machine(ip), "{remote}");
            assert!(Loopback::Exempt.floor_applies(ip), "{remote}");
        }
    }

    fn route(via: crate::relay::route::Via, tls: RouteTls) -> Route {
        let config = crate::tls::client_config(false, None).expect("a client config");
        let relay = crate::relay::RelaySettings {
            next_hop: crate::config::NextHopAddress {
                host: "smarthost.test".into(),
                port: 25,
            },
            tls: crate::config::TlsPolicy::Opportunistic,
            tls_config: config,
            tls_verifies: false,
            auth: None,
            helo_name: "sealgate.test".into(),
            connect_timeout: std::time::Duration::from_secs(1),
            command_timeout: std::time::Duration::from_secs(1),
            data_timeout: std::time::Duration::from_secs(1),
        };
        Route {
            label: "default".into(),
            via,
            tls,
            relay: relay.clone(),
            protected_relay: relay,
        }
    }

    fn peer(address: &str, verified: Verified) -> Peer {
        Peer {
            host: "smarthost.test".into(),
            address: std::net::SocketAddr::new(address.parse().expect("an address"), 25),
            verified,
        }
    }

    #[test]
    fn a_connection_clears_the_floor_by_what_it_proved_or_by_staying_on_this_machine() {
        use crate::relay::route::Via;
        let may = route(Via::Smarthost, RouteTls::May);
        let exempt = Loopback::Exempt;
        let remote_plain = peer("10.0.0.5", Verified::Plaintext);
        let remote_tls = peer("10.0.0.5", Verified::Unverified);
        let local_plain = peer("127.0.0.1", Verified::Plaintext);
        assert!(
            !clears(&may, Some(&remote_plain), exempt),
            "cleartext, remote"
        );
        assert!(clears(&may, Some(&remote_tls), exempt), "TLS meets encrypt");
        assert!(
            clears(&may, Some(&local_plain), exempt),
            "loopback is exempt"
        );
        assert!(!clears(&may, Some(&local_plain), Loopback::TreatedAsRemote));
        assert!(!clears(&may, None, exempt), "nothing known: not cleared");

        let verify = route(Via::Smarthost, RouteTls::Verify);
        assert!(
            !clears(&verify, Some(&remote_tls), exempt),
            "verify wants CA"
        );
        assert!(clears(
            &verify,
            Some(&peer("10.0.0.5", Verified::Ca)),
            exempt
        ));

        // On an MX route only a connection opened for protected mail carries it.
        let mx = route(Via::Mx, RouteTls::May);
        assert!(!clears(&mx, Some(&peer("10.0.0.5", Verified::Ca)), exempt));
        assert!(!clears(&mx, Some(&local_plain), exempt));
    }

    #[test]
    fn security_failures_are_told_from_an_unreachable_host() {
        use crate::reply::{Reply, Status};
        let refused = |stage| RelayError::Refused {
            stage,
            reply: Reply::new(454, Status(4, 7, 0), "TLS not available"),
        };
        assert!(is_security_failure(&RelayError::Tls("no STARTTLS".into())));
        assert!(is_security_failure(&refused("STARTTLS")));
        assert!(!is_security_failure(&refused("greeting")));
        assert!(!is_security_failure(&RelayError::Closed));
        assert!(!is_security_failure(&RelayError::Timeout(
            std::time::Duration::from_secs(1),
            "connect"
        )));
    }
}
