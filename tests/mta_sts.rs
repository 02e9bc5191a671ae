//! Fetching an MTA-STS policy (issue 14) from an HTTPS server of the test's own on loopback,
//! with a test CA: a valid policy, a certificate for another name, a redirect, a body over
//! the RFC's 64 KiB.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sealgate::relay::mta_sts::{fetch_policy, FetchError, Mode, PolicyError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Pki {
    ca: CertificateDer<'static>,
    issuer: CertifiedIssuer<'static, KeyPair>,
}

fn pki() -> Pki {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    Pki {
        ca: issuer.der().clone(),
        issuer,
    }
}

fn client(pki: &Pki) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Serves one HTTPS answer (`head` then `body`) to every connection, as `name`.
async fn serve(pki: &Pki, name: &str, head: &'static str, body: Vec<u8>) -> SocketAddr {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec![name.to_string()])
        .unwrap()
        .signed_by(&key, &pki.issuer)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let body = Arc::new(body);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, body) = (acceptor.clone(), Arc::clone(&body));
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = vec![0u8; 4096];
                let _ = tls.read(&mut request).await;
                let answer = format!("{head}Content-Length: {}\r\n\r\n", body.len());
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.write_all(&body).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    address
}

const OK: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n";
const POLICY: &[u8] = b"version: STSv1\r\nmode: enforce\r\nmx: mx1.wervik.be\r\nmax_age: 86400\r\n";
const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_policy_is_fetched_over_verified_https() {
    let pki = pki();
    let at = serve(&pki, "mta-sts.wervik.be", OK, POLICY.to_vec()).await;
    let policy = fetch_policy("wervik.be", at, client(&pki), WAIT)
        .await
        .unwrap();
    assert_eq!(policy.mode, Mode::Enforce);
    assert!(policy.allows("mx1.wervik.be"));
    assert!(!policy.allows("mx9.wervik.be"));
}

#[tokio::test]
async fn a_certificate_for_another_name_is_no_policy() {
    let pki = pki();
    let at = serve(&pki, "www.wervik.be", OK, POLICY.to_vec()).await;
    let error = fetch_policy("wervik.be", at, client(&pki), WAIT)
        .await
        .unwrap_err();
    assert!(matches!(error, FetchError::Tls(_)), "{error}");
}

#[tokio::test]
async fn redirects_and_oversized_bodies_are_no_policy() {
    let pki = pki();
    let moved = serve(
        &pki,
        "mta-sts.wervik.be",
        "HTTP/1.1 301 Moved\r\nLocation: https://evil.example/\r\n",
        Vec::new(),
    )
    .await;
    let error = fetch_policy("wervik.be", moved, client(&pki), WAIT)
        .await
        .unwrap_err();
    assert!(matches!(error, FetchError::Status(301)), "{error}");

    let huge = serve(&pki, "mta-sts.wervik.be", OK, vec![b'x'; 70 * 1024]).await;
    let error = fetch_policy("wervik.be", huge, client(&pki), WAIT)
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::Policy(PolicyError::TooLarge)),
        "{error}"
    );
}
