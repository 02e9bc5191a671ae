#![cfg(feature = "real-peers")]
//! The PostgreSQL store over TLS (a private cluster with its own CA): `prefer` encrypts,
//! `require` verifies the certificate, `disable` stays plain. One test in this binary, because
//! it sets SSL_CERT_FILE for the process.

mod audit_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use audit_support::*;
use sealgate::audit::AuditStore;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1 signed by it.
fn certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.crt", "-days", "2"]);
    ca.extend(["-subj", "/CN=sealgate test CA"]);
    ca.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
    ca.extend(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    openssl(dir, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}

/// Whether the connections named `name` use TLS ("true"), one value per connection.
fn tls_in_use(pg: &PgCluster, name: &str) -> String {
    pg.psql(
        "audit",
        &format!(
            "SELECT string_agg(s.ssl::text, ',') FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.application_name = '{name}'"
        ),
    )
}

#[tokio::test]
async fn tls_prefer_encrypts_require_verifies_disable_stays_plain() {
    require("/usr/bin/openssl", "apt-get install openssl");
    let pg = PgCluster::start();
    let certs = pg.dir().join("certs");
    std::fs::create_dir(&certs).unwrap();
    certificates(&certs);
    let key = certs.join("server.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    pg.give(&certs);
    pg.give(&key);
    pg.give(&certs.join("server.crt"));
    pg.restart_with(&format!(
        "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'",
        certs.join("server.crt").display(),
        key.display()
    ));
    let url = pg.database("audit");

    // prefer (the default): encrypted although the certificate is not trusted.
    let store = AuditStore::open(&url, "gw1").await.unwrap();
    store
        .record_decision(&record("t1", "alice@opgroeien.be", 0))
        .await
        .unwrap();
    assert_eq!(tls_in_use(&pg, "sealgate-audit"), "true");
    drop(store);

    // require: the certificate must chain to a trusted root.
    let required = format!("{url}?sslmode=require&application_name=gw-require");
    let err = AuditStore::open(&required, "gw1").await.err().unwrap();
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );

    std::env::set_var("SSL_CERT_FILE", certs.join("ca.crt"));
    let store = AuditStore::open(&required, "gw1").await.unwrap();
    store
        .record_decision(&record("t2", "alice@opgroeien.be", 0))
        .await
        .unwrap();
    assert_eq!(tls_in_use(&pg, "gw-require"), "true");
    assert!(store.verify().await.unwrap().verifies());
    drop(store);

    let plain = format!("{url}?sslmode=disable&application_name=gw-plain");
    let store = AuditStore::open(&plain, "gw1").await.unwrap();
    assert_eq!(tls_in_use(&pg, "gw-plain"), "false");
    assert_eq!(store.verify().await.unwrap().entries, 2);
}
