//! DANE for SMTP (RFC 7672): the receiving domain pins its MX hosts' certificates in DNSSEC-
//! signed TLSA records, and a sending server that finds them must use TLS and accept only a
//! certificate that matches.
//!
//! Only the usages RFC 7672 allows for SMTP are usable: DANE-EE(3), which pins the server's own
//! certificate or key (names and dates are not checked: the DNS is the authority), and
//! DANE-TA(2), which pins a trust anchor the server presents in its chain (the chain must
//! verify up to it and the certificate must name the MX host). PKIX-TA(0) and PKIX-EE(1) are
//! unusable in SMTP (RFC 7672 3.1.3); a set with no usable record counts as no TLSA at all.
//! Whether the records are DNSSEC-valid is the resolver's business (the AD bit, trusted only
//! from a resolver on loopback); this module matches certificates.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, SignatureScheme};
use sha2::{Digest, Sha256, Sha512};

/// One TLSA record (RFC 6698 2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlsa {
    pub usage: u8,
    pub selector: u8,
    pub matching: u8,
    pub data: Vec<u8>,
}

const DANE_TA: u8 = 2;
const DANE_EE: u8 = 3;

impl Tlsa {
    /// Usable for SMTP: usage 2 or 3, selector 0 (certificate) or 1 (public key), matching 0
    /// (exact), 1 (SHA-256) or 2 (SHA-512).
    pub fn is_usable(&self) -> bool {
        matches!(self.usage, DANE_TA | DANE_EE) && self.selector <= 1 && self.matching <= 2
    }

    /// Whether `cert` is what this record pins.
    fn matches(&self, cert: &CertificateDer<'_>) -> bool {
        let selected: Vec<u8> = match self.selector {
            0 => cert.as_ref().to_vec(),
            1 => match webpki::EndEntityCert::try_from(cert) {
                Ok(parsed) => parsed.subject_public_key_info().as_ref().to_vec(),
                Err(_) => return false,
            },
            _ => return false,
        };
        let digest: Vec<u8> = match self.matching {
            0 => selected,
            1 => Sha256::digest(&selected).to_vec(),
            2 => Sha512::digest(&selected).to_vec(),
            _ => return false,
        };
        digest == self.data
    }
}

/// The usable records of a TLSA answer; empty means "no DANE" for this host.
pub fn usable(records: Vec<Tlsa>) -> Vec<Tlsa> {
    records.into_iter().filter(Tlsa::is_usable).collect()
}

/// A certificate verifier that accepts exactly what the TLSA records pin.
#[derive(Debug)]
pub struct DaneVerifier {
    records: Vec<Tlsa>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl DaneVerifier {
    /// `records` should be [`usable`] and not empty: with none, nothing is accepted.
    pub fn new(records: Vec<Tlsa>, provider: Arc<rustls::crypto::CryptoProvider>) -> Self {
        DaneVerifier { records, provider }
    }

    /// DANE-TA: `anchor` (a certificate of the presented chain matched a record) must be the
    /// root of a valid chain for the end entity and `name`.
    fn verify_to_anchor(
        &self,
        anchor: &CertificateDer<'_>,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        now: UnixTime,
    ) -> bool {
        let mut roots = rustls::RootCertStore::empty();
        if roots.add(anchor.clone().into_owned()).is_err() {
            return false;
        }
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::clone(&self.provider),
        )
        .build();
        let Ok(verifier) = verifier else {
            return false;
        };
        verifier
            .verify_server_cert(end_entity, intermediates, name, &[], now)
            .is_ok()
    }
}

impl ServerCertVerifier for DaneVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let ee = self
            .records
            .iter()
            .filter(|r| r.usage == DANE_EE)
            .any(|r| r.matches(end_entity));
        let ta = || {
            self.records.iter().filter(|r| r.usage == DANE_TA).any(|r| {
                intermediates.iter().any(|cert| {
                    r.matches(cert)
                        && self.verify_to_anchor(cert, end_entity, intermediates, name, now)
                })
            })
        };
        if ee || ta() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(der: &[u8]) -> CertificateDer<'static> {
        CertificateDer::from(der.to_vec())
    }

    #[test]
    fn only_smtp_usable_records_count() {
        let records = vec![
            Tlsa {
                usage: 3,
                selector: 1,
                matching: 1,
                data: vec![0; 32],
            },
            Tlsa {
                usage: 2,
                selector: 0,
                matching: 2,
                data: vec![0; 64],
            },
            Tlsa {
                usage: 1,
                selector: 1,
                matching: 1,
                data: vec![0; 32],
            },
            Tlsa {
                usage: 3,
                selector: 2,
                matching: 1,
                data: vec![0; 32],
            },
            Tlsa {
                usage: 3,
                selector: 1,
                matching: 3,
                data: vec![0; 32],
            },
        ];
        let kept = usable(records);
        assert_eq!(kept.len(), 2);
        assert!(kept.iter().all(|r| r.usage >= 2));
    }

    #[test]
    fn full_certificate_records_match_by_digest() {
        let der = b"not really a certificate, but selector 0 hashes the bytes";
        let by_sha256 = Tlsa {
            usage: 3,
            selector: 0,
            matching: 1,
            data: Sha256::digest(der).to_vec(),
        };
        assert!(by_sha256.matches(&cert(der)));
        let exact = Tlsa {
            usage: 3,
            selector: 0,
            matching: 0,
            data: der.to_vec(),
        };
        assert!(exact.matches(&cert(der)));
        assert!(!exact.matches(&cert(b"another")));
        let spki = Tlsa {
            usage: 3,
            selector: 1,
            matching: 1,
            data: vec![0; 32],
        };
        assert!(
            !spki.matches(&cert(der)),
            "an unparseable certificate has no key"
        );
    }
}
