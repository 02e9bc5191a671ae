//! Issue 12 item 1, in-process: 100 connections failing AUTH from one address get few password
//! checks between them (the throttle counts attempts before their check), then `421 4.7.0`;
//! the check pool never runs more than its size; another address still authenticates.

mod inprocess;

use std::path::Path;

use inprocess::*;

const PASSWORD: &str = "Secret-1";

/// AUTH PLAIN's initial response for `exchange` and `password`.
fn plain(password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("\0exchange\0{password}"))
}

/// A gateway with STARTTLS, one AUTH user (a cheap argon2 hash: the test is about bounds, not
/// cost), a pool of 2 checks and short throttle delays.
fn auth_gateway() -> TestGateway {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let dir = tempfile::tempdir().unwrap();
    let certified =
        rcgen::generate_simple_self_signed(vec!["sealgate.test".to_string()]).expect("rcgen");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let params = argon2::Params::new(1024, 1, 1, None).unwrap();
    let hash = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(PASSWORD.as_bytes(), &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
    let quoted = |p: &Path| format!("\"{}\"", p.display());
    let mut config = TestConfig::default();
    config
        .set("smtp.tls", "cert", &quoted(&cert))
        .set("smtp.tls", "key", &quoted(&key))
        .set(
            "access",
            "users",
            &format!("[{{ name = \"exchange\", password_hash = \"{hash}\" }}]"),
        )
        .set("access", "auth_max_concurrent_checks", "2")
        .set("access", "auth_max_failures", "5")
        .set("access", "auth_failure_delay_milliseconds", "20");
    TestGateway::start_in(
        dir,
        Options {
            config,
            ..Options::default()
        },
    )
}

/// Greeted, STARTTLS done, EHLO again: ready for AUTH.
async fn over_tls(gateway: &TestGateway, client: &str) -> Smtp {
    let (mut smtp, _session) = gateway.connect_from(client);
    smtp.reply().await.assert(220, None);
    smtp.command("EHLO client.test").await.assert(250, None);
    smtp.command("STARTTLS").await.assert(220, None);
    let mut smtp = smtp.upgrade().await;
    smtp.command("EHLO client.test").await.assert(250, None);
    smtp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_failing_clients_from_one_address_are_throttled_and_others_still_authenticate() {
    let gateway = std::sync::Arc::new(auth_gateway());
    let mut clients = Vec::new();
    for i in 0..100 {
        let gateway = gateway.clone();
        clients.push(tokio::spawn(async move {
            let mut smtp = over_tls(&gateway, &format!("127.0.0.1:{}", 41000 + i)).await;
            let mut codes = Vec::new();
            for _ in 0..3 {
                let got = smtp
                    .command(&format!("AUTH PLAIN {}", plain("wrong")))
                    .await;
                codes.push(got.code);
                if got.code == 421 {
                    assert_eq!(got.enhanced.as_deref(), Some("4.7.0"), "{got:?}");
                    assert!(smtp.try_reply().await.is_none(), "closed after 421");
                    break;
                }
                assert_eq!(
                    (got.code, got.enhanced.as_deref()),
                    (535, Some("5.7.8")),
                    "{got:?}"
                );
            }
            codes
        }));
    }
    let mut checked = 0;
    let mut throttled = 0;
    for client in clients {
        let codes = client.await.unwrap();
        checked += codes.iter().filter(|&&c| c == 535).count();
        throttled += codes.iter().filter(|&&c| c == 421).count();
    }
    // 300 attempts: 5 were checked (the limit), every client ended with 421.
    assert_eq!(checked, 5);
    assert_eq!(throttled, 100);
    let pool = &gateway.core.gateway.auth_pool;
    assert!(
        (1..=2).contains(&pool.peak_running()),
        "peak {}",
        pool.peak_running()
    );

    let metrics = gateway.core.gateway.metrics.render();
    assert!(
        metrics.contains("sealgate_auth_failures_total{reason=\"throttled\"} 100"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sealgate_auth_failures_total{reason=\"credentials\"} 5"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sealgate_auth_throttled_clients 1"),
        "{metrics}"
    );

    // Another address is not affected, and its user authenticates.
    let mut other = over_tls(&gateway, "127.0.0.2:42000").await;
    other
        .command(&format!("AUTH PLAIN {}", plain(PASSWORD)))
        .await
        .assert(235, Some("2.7.0"));
    // The throttled address is still refused, even with the right password.
    let mut again = over_tls(&gateway, "127.0.0.1:42001").await;
    again
        .command(&format!("AUTH PLAIN {}", plain(PASSWORD)))
        .await
        .assert(421, Some("4.7.0"));
}

#[tokio::test]
async fn a_success_clears_the_count_and_failures_are_answered_ever_slower() {
    let gateway = auth_gateway();
    let mut smtp = over_tls(&gateway, "127.0.0.3:43000").await;
    let mut waits = Vec::new();
    for _ in 0..3 {
        let started = std::time::Instant::now();
        smtp.command(&format!("AUTH PLAIN {}", plain("wrong")))
            .await
            .assert(535, Some("5.7.8"));
        waits.push(started.elapsed());
    }
    // 20, 40, 80 ms: each wait at least the throttle's delay (a lower bound, not a timing race).
    for (wait, floor) in waits.iter().zip([20, 40, 80]) {
        assert!(wait.as_millis() >= floor, "{waits:?}");
    }
    smtp.command(&format!("AUTH PLAIN {}", plain(PASSWORD)))
        .await
        .assert(235, None);
    // Cleared: a new connection from the address gets its full count again.
    let mut next = over_tls(&gateway, "127.0.0.3:43001").await;
    for _ in 0..5 {
        next.command(&format!("AUTH PLAIN {}", plain("wrong")))
            .await
            .assert(535, None);
    }
    next.command(&format!("AUTH PLAIN {}", plain("wrong")))
        .await
        .assert(421, Some("4.7.0"));
}
