//! The HTTP listener at `metrics.listen`: `/metrics` for Prometheus, `/healthz` (the process
//! answers) and `/readyz` (this instance should be given mail) for load balancers and
//! orchestrators.
//!
//! It is small on purpose and bounded like the SMTP side: GET only, request bodies never read,
//! a cap on concurrent connections, a deadline for the request head and one for the whole
//! connection. It serves nothing but these three answers, so it needs no TLS and no
//! authentication; keep `metrics.listen` on loopback or a management network.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::metrics::{Health, Metrics, CONTENT_TYPE as METRICS_CONTENT_TYPE};

/// Concurrent HTTP connections; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 32;
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
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => return,
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let stream = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "metrics listener cannot accept; retrying in 1s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        let (metrics, health) = (Arc::clone(&metrics), Arc::clone(&health));
        tokio::spawn(async move {
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
            drop(permit);
        });
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
