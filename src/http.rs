//! The HTTP listener at `metrics.listen`: `/metrics` for Prometheus, `/healthz` (the process
//! answers) and `/readyz` (this instance should be given mail) for load balancers and
//! orchestrators.
//!
//! It is small on purpose and bounded like the SMTP side: GET only, request bodies never read,
//! a cap on concurrent connections, a deadline for the request head and one for the whole
//! connection. It serves nothing but these three answers, so it needs no TLS and no
//! authentication; keep `metrics.listen` on loopback or a management network.
//!
//! When the cap is reached, a new connection is still accepted and the OLDEST open connection
//! is closed to make room. Waiting for a free slot instead (a queue) lets a few slow clients
//! hold every slot for a whole header timeout, and a load balancer's `/healthz` probe would
//! wait behind them. Probes and scrapes send their request at once and finish in
//! milliseconds, so the connection that has been open longest is the one least likely to be
//! useful.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::VecDeque;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::metrics::{Health, Metrics, CONTENT_TYPE as METRICS_CONTENT_TYPE};

/// Concurrent HTTP connections; one more closes the oldest.
pub const MAX_CONNECTIONS: usize = 32;
/// Time for a client to send its request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest life of one connection, keep-alive included.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Largest request head kept in memory.
const MAX_HEAD_BYTES: usize = 16 * 1024;

const TEXT: &str = "text/plain; charset=utf-8";

/// Answer HTTP on `listener` until `shutdown` completes. Accept errors (e.g. out of file
/// descriptors) are logged and retried after a pause; they never end the listener.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    shutdown: impl Future,
) {
    let mut open = OpenConnections::default();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "metrics listener cannot accept; retrying in 1s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        open.make_room();
        let task = tokio::spawn(serve_connection(
            stream,
            Arc::clone(&metrics),
            Arc::clone(&health),
        ));
        open.push(task.abort_handle());
    }
    open.close_all();
}

/// The connections being served, oldest first.
#[derive(Default)]
struct OpenConnections(VecDeque<AbortHandle>);

impl OpenConnections {
    /// Forgets finished connections; at the cap, closes the oldest open one.
    fn make_room(&mut self) {
        self.0.retain(|task| !task.is_finished());
        while self.0.len() >= MAX_CONNECTIONS {
            if let Some(oldest) = self.0.pop_front() {
                oldest.abort();
                tracing::debug!("metrics listener full: closed its oldest connection");
            }
        }
    }

    fn push(&mut self, task: AbortHandle) {
        self.0.push_back(task);
    }

    fn close_all(&mut self) {
        self.0.drain(..).for_each(|task| task.abort());
    }
}

async fn serve_connection(stream: TcpStream, metrics: Arc<Metrics>, health: Arc<Health>) {
    let service = hyper::service::service_fn(move |request| {
        let answer = respond(&request, &metrics, &health);
        async move { Ok::<_, Infallible>(answer) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(stream), service);
    let outcome = tokio::time::timeout(CONNECTION_LIFETIME, connection).await;
    if let Ok(Err(error)) = outcome {
        tracing::debug!(%error, "metrics connection ended with an error");
    }
}

fn respond(
    request: &Request<Incoming>,
    metrics: &Metrics,
    health: &Health,
) -> Response<Full<Bytes>> {
    if request.method() != Method::GET {
        let mut response = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET is served\n".into(),
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET"));
        return response;
    }
    match request.uri().path() {
        "/metrics" => {
            metrics.observe_health(health);
            let mut response = plain(StatusCode::OK, metrics.render());
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(METRICS_CONTENT_TYPE));
            response
        }
        "/healthz" => plain(StatusCode::OK, "ok\n".into()),
        "/readyz" => {
            let readiness = health.readiness();
            let status = if readiness.is_ready() {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            plain(status, readiness.body())
        }
        _ => plain(
            StatusCode::NOT_FOUND,
            "not found: try /metrics, /healthz or /readyz\n".into(),
        ),
    }
}

fn plain(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(TEXT));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
