#![cfg(feature = "real-peers")]
//! The next-hop connection pool: a connection that the next hop closed while it waited in the
//! pool is never used for mail; the message goes out on a new connection instead.

mod common;

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

#[test]
fn a_pooled_connection_closed_by_the_next_hop_is_replaced() {
    require_peers();
    let first = Sink::start();
    let port = first.port();
    let gateway = GatewayConfig::new(port).start();
    send(&gateway, 1).assert_ok();
    assert_eq!(first.wait_for(1, Duration::from_secs(20)).len(), 1);

    // The next hop restarts: the connection waiting in the pool is now closed at its end.
    drop(first);
    let second = Sink::options().port(port).start();
    send(&gateway, 2).assert_ok();
    let stored = second.wait_for(1, Duration::from_secs(20));
    assert_eq!(stored[0].mail_from, "sender-2@opgroeien.be");

    // And a burst right after reuses what is pooled without losing anything.
    for n in 3..8 {
        send(&gateway, n).assert_ok();
    }
    assert_eq!(second.wait_for(6, Duration::from_secs(20)).len(), 6);
}
