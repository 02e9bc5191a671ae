//! The HTTP listener on a real loopback socket, spoken to with plain HTTP/1.1 over TcpStream.

mod metrics_support;

use std::sync::Arc;
use std::time::Duration;

use metrics_support::{read_exposition, sample};
use sealgate::metrics::{Health, MessageClass, Metrics, Outcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Answer {
    status: u16,
    head: String,
    body: String,
}

async fn request(port: u16, method: &str, path: &str) -> Answer {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head and a body");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Answer {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

struct Server {
    port: u16,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(stale: Duration) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let metrics = Arc::new(Metrics::new().unwrap());
    let health = Arc::new(Health::new(stale));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(sealgate::http::serve(
        listener,
        Arc::clone(&metrics),
        Arc::clone(&health),
        stopped,
    ));
    Server {
        port,
        metrics,
        health,
        stop,
        task,
    }
}

impl Server {
    async fn stop(self) {
        self.stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("serve returns after shutdown")
            .unwrap();
    }
}

#[tokio::test]
async fn metrics_are_served_in_the_text_format_that_prometheus_parses() {
    let server = start(Duration::from_secs(300)).await;
    server
        .metrics
        .message(MessageClass::Protected, Outcome::Relayed);
    server.health.set_audit_store_writable(true);

    let answer = request(server.port, "GET", "/metrics").await;
    assert_eq!(answer.status, 200);
    assert!(
        answer
            .head
            .contains("content-type: text/plain; version=0.0.4"),
        "{}",
        answer.head
    );
    let families = read_exposition(&answer.body);
    let labels = [("class", "protected"), ("outcome", "relayed")];
    assert_eq!(sample(&families, "sealgate_messages_total", &labels), 1.0);
    assert_eq!(sample(&families, "sealgate_audit_store_up", &[]), 1.0);
    server.stop().await;
}

#[tokio::test]
async fn healthz_answers_ok_and_other_paths_and_methods_are_refused() {
    let server = start(Duration::from_secs(300)).await;
    let healthz = request(server.port, "GET", "/healthz").await;
    assert_eq!((healthz.status, healthz.body.as_str()), (200, "ok\n"));
    assert_eq!(request(server.port, "GET", "/").await.status, 404);
    assert_eq!(
        request(server.port, "GET", "/metrics/../etc/passwd")
            .await
            .status,
        404
    );
    let post = request(server.port, "POST", "/metrics").await;
    assert_eq!(post.status, 405);
    assert!(post.head.contains("allow: get"), "{}", post.head);
    server.stop().await;
}

#[tokio::test]
async fn readyz_follows_the_audit_store_and_the_next_hop() {
    let server = start(Duration::ZERO).await;
    let first = request(server.port, "GET", "/readyz").await;
    assert_eq!(first.status, 503);
    assert_eq!(
        first.body,
        "unready: SMTP listeners not up; configuration not loaded; audit store not writable\n"
    );

    server.health.set_listeners_up(true);
    server.health.set_config_loaded(true);
    server.health.set_audit_store_writable(true);
    let ready = request(server.port, "GET", "/readyz").await;
    assert_eq!((ready.status, ready.body.as_str()), (200, "ready\n"));

    server.health.set_audit_store_writable(false);
    let no_audit = request(server.port, "GET", "/readyz").await;
    assert_eq!(no_audit.status, 503);
    assert_eq!(no_audit.body, "unready: audit store not writable\n");
    server.health.set_audit_store_writable(true);
    assert_eq!(request(server.port, "GET", "/readyz").await.status, 200);

    server.health.next_hop_failed();
    let no_next_hop = request(server.port, "GET", "/readyz").await;
    assert_eq!(no_next_hop.status, 503);
    assert!(
        no_next_hop.body.starts_with("unready: next hop failing"),
        "{}",
        no_next_hop.body
    );
    let f = read_exposition(&request(server.port, "GET", "/metrics").await.body);
    assert_eq!(sample(&f, "sealgate_next_hop_up", &[]), 0.0);

    server.health.next_hop_succeeded();
    assert_eq!(request(server.port, "GET", "/readyz").await.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_never_finishes_its_request_does_not_stop_the_others() {
    let server = start(Duration::from_secs(300)).await;
    let mut stalled = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    stalled
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let healthz = request(server.port, "GET", "/healthz").await;
    assert_eq!(healthz.status, 200);
    server.stop().await;
}
