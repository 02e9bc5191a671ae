//! Free loopback ports for the peers of a test, chosen so that nothing else can take them.
//!
//! A port found by binding port 0 sits in the kernel's ephemeral range: between the probe and
//! the peer's own bind, the kernel may hand it to another test's listener or to an outgoing
//! connection (a relay test once found its "down" next hop's port taken that way). These ports
//! come from below (or above) that range instead, which the kernel never hands out on its own,
//! and a per-process counter keeps the tests of one binary apart.

use std::fs;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// A port nobody listens on right now on 127.0.0.1, outside the ephemeral range.
pub fn free_port() -> u16 {
    reserved_port(|port| TcpListener::bind(("127.0.0.1", port)).is_ok())
}

/// A port nobody listens on right now on [::1], outside the ephemeral range.
pub fn free_port_v6() -> u16 {
    reserved_port(|port| TcpListener::bind(("::1", port)).is_ok())
}

fn reserved_port(is_free: impl Fn(u16) -> bool) -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let (low, high) = window();
    let span = u32::from(high - low) + 1;
    // Binaries run one after another; starting each at its own offset keeps a port that a
    // previous binary's peer still holds in TIME_WAIT out of the way.
    let start = std::process::id().wrapping_mul(7919) % span;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = low + ((start + n) % span) as u16;
        if is_free(port) {
            return port;
        }
    }
    panic!("no free loopback port in {low}..={high}")
}

/// The ports outside `net.ipv4.ip_local_port_range` to choose from.
fn window() -> (u16, u16) {
    const FLOOR: u16 = 10_000;
    let range = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let mut bounds = range
        .split_whitespace()
        .filter_map(|b| b.parse::<u16>().ok());
    let low = bounds.next().unwrap_or(32_768);
    let high = bounds.next().unwrap_or(60_999);
    if low > FLOOR + 1_000 {
        (FLOOR, low - 1)
    } else if high < u16::MAX - 1_000 {
        (high + 1, u16::MAX)
    } else {
        panic!(
            "net.ipv4.ip_local_port_range ({low} {high}) leaves no room for test ports; \
             narrow it, e.g. `sysctl net.ipv4.ip_local_port_range=\"32768 60999\"`"
        )
    }
}
