//! The HTTP listener under a slow-client flood (issue 12): with every slot held by clients that
//! never finish their request head, `/healthz` is still answered, long before the header
//! timeout would have freed a slot.

use std::sync::Arc;
use std::time::Duration;

use sealgate::http::MAX_CONNECTIONS;
use sealgate::metrics::{Health, Metrics};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Well below the listener's 10 s header timeout: an answer within this shows that no slot had
/// to time out first.
const PATIENCE: Duration = Duration::from_secs(3);

async fn healthz(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    String::from_utf8_lossy(&raw).into_owned()
}

#[tokio::test]
async fn healthz_answers_while_slow_clients_hold_every_slot() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let metrics = Arc::new(Metrics::new().unwrap());
    let health = Arc::new(Health::new(Duration::from_secs(300)));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(sealgate::http::serve(listener, metrics, health, stopped));

    let mut slow = Vec::new();
    for _ in 0..MAX_CONNECTIONS * 3 {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHo")
            .await
            .unwrap();
        slow.push(stream);
    }
    for _ in 0..3 {
        let answer = tokio::time::timeout(PATIENCE, healthz(port))
            .await
            .expect("/healthz answered while slow clients hold the slots");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("ok\n"), "{answer}");
    }

    // The oldest slow clients were closed to make room; the newest are still open.
    let mut closed = 0;
    for stream in &mut slow {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(50), stream.read(&mut byte)).await {
            Ok(Ok(0)) | Ok(Err(_)) => closed += 1,
            _ => {}
        }
    }
    assert!(closed >= MAX_CONNECTIONS * 2, "closed {closed}");

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("serve returns after shutdown")
        .unwrap();
}
