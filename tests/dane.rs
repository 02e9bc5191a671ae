//! DANE certificate matching (issue 14) with real certificates made in-process: DANE-EE pins
//! the server's key whatever its name and issuer, DANE-TA pins an anchor the chain must verify
//! up to, for the MX host's name.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, PublicKeyData};
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use sealgate::relay::dane::{DaneVerifier, Tlsa};
use sha2::{Digest, Sha256, Sha512};

struct Chain {
    ca: CertificateDer<'static>,
    leaf: CertificateDer<'static>,
    leaf_spki: Vec<u8>,
}

fn chain(name: &str) -> Chain {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec![name.to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    Chain {
        ca: ca.der().clone(),
        leaf: leaf.der().clone(),
        leaf_spki: leaf_key.subject_public_key_info(),
    }
}

fn verifier(records: Vec<Tlsa>) -> DaneVerifier {
    DaneVerifier::new(records, Arc::new(rustls::crypto::ring::default_provider()))
}

fn accepts(verifier: &DaneVerifier, chain: &Chain, host: &str) -> bool {
    let name = ServerName::try_from(host.to_string()).unwrap();
    verifier
        .verify_server_cert(
            &chain.leaf,
            std::slice::from_ref(&chain.ca),
            &name,
            &[],
            UnixTime::now(),
        )
        .is_ok()
}

fn tlsa(usage: u8, selector: u8, matching: u8, data: Vec<u8>) -> Tlsa {
    Tlsa {
        usage,
        selector,
        matching,
        data,
    }
}

#[test]
fn dane_ee_pins_the_key_and_ignores_the_name() {
    let server = chain("mx1.wervik.be");
    let pinned = verifier(vec![tlsa(
        3,
        1,
        1,
        Sha256::digest(&server.leaf_spki).to_vec(),
    )]);
    assert!(accepts(&pinned, &server, "mx1.wervik.be"));
    assert!(
        accepts(&pinned, &server, "other.name.example"),
        "DANE-EE: no name check"
    );

    let by_cert = verifier(vec![tlsa(3, 0, 2, Sha512::digest(&server.leaf).to_vec())]);
    assert!(accepts(&by_cert, &server, "mx1.wervik.be"));

    let impostor = chain("mx1.wervik.be");
    assert!(!accepts(&pinned, &impostor, "mx1.wervik.be"), "another key");
}

#[test]
fn dane_ta_pins_the_anchor_and_checks_the_name() {
    let server = chain("mx1.wervik.be");
    let anchor = verifier(vec![tlsa(2, 0, 1, Sha256::digest(&server.ca).to_vec())]);
    assert!(accepts(&anchor, &server, "mx1.wervik.be"));
    assert!(
        !accepts(&anchor, &server, "mx2.wervik.be"),
        "DANE-TA: the name must match"
    );

    let other_ca = chain("mx1.wervik.be");
    assert!(
        !accepts(&anchor, &other_ca, "mx1.wervik.be"),
        "a chain to another anchor"
    );
}

#[test]
fn no_matching_record_is_a_refusal() {
    let server = chain("mx1.wervik.be");
    assert!(!accepts(&verifier(vec![]), &server, "mx1.wervik.be"));
    let wrong = verifier(vec![tlsa(3, 1, 1, vec![0; 32])]);
    assert!(!accepts(&wrong, &server, "mx1.wervik.be"));
}
