#![cfg(feature = "real-peers")]
//! The next-hop connection pool: a connection that the next hop closed while it waited in the
//! pool is never used for mail, and transactions right after one another share one connection.
//! A counting TCP forwarder between the gateway and the sink counts the connections, so this
//! test fails when pooling is off.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

fn send(gateway: &Gateway, n: usize) -> SwaksRun {
    let from = format!("sender-{n}@opgroeien.be");
    swaks(&[
        "--server",
        &gateway.server(),
        "--from",
        &from,
        "--to",
        "someone@example.org",
    ])
}

/// Forwards every connection on its own loopback port to `upstream` and counts them. When
/// either side closes, both are closed. Its threads end with the test process.
struct CountingForwarder {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

impl CountingForwarder {
    fn start(upstream: u16) -> CountingForwarder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        std::thread::spawn(move || {
            for down in listener.incoming().flatten() {
                counter.fetch_add(1, Ordering::SeqCst);
                let Ok(up) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                pipe(&down, &up);
                pipe(&up, &down);
            }
        });
        CountingForwarder { port, accepted }
    }

    fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

fn pipe(from: &TcpStream, to: &TcpStream) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

#[test]
fn a_pooled_connection_closed_by_the_next_hop_is_replaced_and_bursts_share_one() {
    require_peers();
    let first = Sink::start();
    let port = first.port();
    let forwarder = CountingForwarder::start(port);
    let gateway = GatewayConfig::new(forwarder.port).start();
    send(&gateway, 1).assert_ok();
    assert_eq!(first.wait_for(1, Duration::from_secs(20)).len(), 1);
    assert_eq!(forwarder.connections(), 1);

    // The next hop restarts: the connection waiting in the pool is now closed at its end.
    drop(first);
    let second = Sink::options().port(port).start();
    send(&gateway, 2).assert_ok();
    let stored = second.wait_for(1, Duration::from_secs(20));
    assert_eq!(stored[0].mail_from, "sender-2@opgroeien.be");
    assert_eq!(
        forwarder.connections(),
        2,
        "the closed pooled connection must be replaced by a new one"
    );

    // A burst right after reuses what is pooled without losing anything. Without the pool,
    // each of the five would open its own connection (7 in all).
    for n in 3..8 {
        send(&gateway, n).assert_ok();
    }
    assert_eq!(second.wait_for(6, Duration::from_secs(20)).len(), 6);
    assert!(
        forwarder.connections() <= 3,
        "{} next-hop connections for 7 messages: the pool was not used",
        forwarder.connections()
    );
}
