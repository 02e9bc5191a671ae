//! Listeners: accept connections on every `smtp.listen` address, admit them within the session
//! limits, and run each session as its own task. On shutdown: stop accepting, let sessions
//! finish their transaction (they answer 421 at the next command), and cut the rest at the
//! end of the grace period.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::connection::{ClientStream, Connection};
use super::proxy;
use super::session::Session;
use crate::gateway::Gateway;
use crate::metrics::SessionResult;
use crate::reply::replies;
use crate::transfer::Core;

#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {address}: {source}")]
pub struct ListenError {
    pub address: SocketAddr,
    pub source: std::io::Error,
}

/// How long a trusted proxy may take to send its PROXY header.
const PROXY_HEADER_WAIT: Duration = Duration::from_secs(10);

/// Binds every address; fails on the first that cannot be bound, naming it.
pub async fn bind(addresses: &[SocketAddr]) -> Result<Vec<TcpListener>, ListenError> {
    let mut listeners = Vec::with_capacity(addresses.len());
    for &address in addresses {
        let listener = bind_one(address).map_err(|source| ListenError { address, source })?;
        info!(%address, "listening for SMTP");
        listeners.push(listener);
    }
    Ok(listeners)
}

/// IPv6 sockets are v6-only, so `0.0.0.0:25` and `[::]:25` can both be listed.
fn bind_one(address: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, None)?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// Accepts until shutdown, then drains sessions for at most `grace`.
pub async fn serve(core: Arc<Core>, listeners: Vec<TcpListener>, grace: Duration) {
    let gateway = core.gateway.clone();
    let mut sessions = JoinSet::new();
    let mut shutdown = gateway.shutdown_signal();
    let (accepted_tx, mut accepted_rx) = tokio::sync::mpsc::channel::<(TcpStream, SocketAddr)>(256);
    let mut acceptors = JoinSet::new();
    for listener in listeners {
        let accepted_tx = accepted_tx.clone();
        acceptors.spawn(accept_loop(listener, accepted_tx));
    }
    drop(accepted_tx);
    loop {
        tokio::select! {
            _ = crate::gateway::shutting_down(&mut shutdown) => break,
            accepted = accepted_rx.recv() => match accepted {
                Some((stream, peer)) => {
                    sessions.spawn(run_session(core.clone(), stream, peer));
                }
                None => break,
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    acceptors.abort_all();
    info!(
        sessions = sessions.len(),
        "shutting down: no new connections; draining sessions"
    );
    let drained = tokio::time::timeout(grace, async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(
            sessions = sessions.len(),
            "grace period over; closing remaining sessions"
        );
        sessions.abort_all();
    }
}

async fn accept_loop(
    listener: TcpListener,
    accepted: tokio::sync::mpsc::Sender<(TcpStream, SocketAddr)>,
) {
    loop {
        match listener.accept().await {
            Ok(conn) => {
                if accepted.send(conn).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn run_session(core: Arc<Core>, mut stream: TcpStream, peer: SocketAddr) {
    let gateway = &core.gateway;
    let _ = stream.set_nodelay(true);
    let trusted_proxy = gateway
        .settings()
        .config
        .smtp
        .proxy_protocol_from
        .iter()
        .any(|net| net.contains(&peer.ip()));
    let (client, early) = if trusted_proxy {
        match proxy::read_header(&mut stream, peer, PROXY_HEADER_WAIT).await {
            Ok(found) => found,
            Err(e) => {
                warn!(%peer, error = %e, "PROXY header refused; connection closed");
                return;
            }
        }
    } else {
        (peer, Vec::new())
    };
    serve_connection(core, stream, client, early).await;
}

/// One client connection, whatever stream it is on: admitted within the session limits (else
/// `421 4.7.0`), then served by a session. The in-process tests call this over a duplex pipe.
pub async fn serve_connection(
    core: Arc<Core>,
    stream: impl ClientStream + 'static,
    client: SocketAddr,
    early: Vec<u8>,
) -> SessionResult {
    let gateway = &core.gateway;
    let Some(_slot) = gateway.admit(client.ip()) else {
        refuse(gateway, stream, client).await;
        return SessionResult::RefusedLimit;
    };
    debug!(%client, "session start");
    let active = gateway.metrics.track_session();
    let connection = Connection::new(stream, early);
    let end = Session::new(core.clone(), connection, client).run().await;
    debug!(%client, end = end.as_str(), "session end");
    active.end(end);
    end
}

async fn refuse(gateway: &Gateway, stream: impl ClientStream + 'static, client: SocketAddr) {
    let host = gateway.settings().config.smtp.hostname.clone();
    gateway.metrics.session_started();
    gateway.metrics.session_ended(SessionResult::RefusedLimit);
    warn!(%client, "session limit reached; refused with 421");
    let mut connection = Connection::new(stream, Vec::new());
    connection.queue(&replies::too_many_sessions(&host));
    connection.shutdown().await;
}
