//! Optional TLS client certificates on the listener (RFC 3261 §26.2.1 allows mutual TLS
//! between proxies): every client is asked for one, a client without one still connects
//! (most carriers authenticate by address or digest), and one that presents a certificate
//! must prove it holds the key.
//!
//! Refuses to judge the certificate itself: no chain, no root, no name, no dates. A trunk
//! trusts a certificate by pinning its SHA-256 (`security::certificate`), which the gate
//! checks per request; this verifier only makes sure the fingerprint is the peer's.

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};

use crate::security::CertFingerprint;

/// Accepts any end-entity certificate whose handshake signature verifies.
#[derive(Debug)]
pub(crate) struct OptionalClientCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl OptionalClientCert {
    /// Verifies signatures with the algorithms of `provider`.
    pub(crate) fn new(provider: &rustls::crypto::CryptoProvider) -> OptionalClientCert {
        OptionalClientCert {
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ClientCertVerifier for OptionalClientCert {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    /// No hints: a client with a certificate should send it, whoever issued it.
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Trust is the per-trunk pin, not a chain; the signature checks below parse the
        // certificate and refuse one that is not X.509.
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The fingerprint of the certificate the peer presented on a finished handshake (its end
/// entity), once per connection.
pub(crate) fn peer_fingerprint(tls: &rustls::CommonState) -> Option<CertFingerprint> {
    let certificates = tls.peer_certificates()?;
    certificates.first().map(|der| CertFingerprint::of_der(der))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls::pki_types::{PrivateKeyDer, ServerName};
    use rustls::{ClientConnection, ServerConnection};

    use super::*;

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    fn generated() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let g = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let key = PrivateKeyDer::try_from(g.signing_key.serialize_der()).unwrap();
        (g.cert.der().clone(), key)
    }

    fn server() -> ServerConnection {
        let (cert, key) = generated();
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(Arc::new(OptionalClientCert::new(&provider())))
            .with_single_cert(vec![cert], key)
            .unwrap();
        ServerConnection::new(Arc::new(config)).unwrap()
    }

    /// A client that trusts any server (this tests the server's side) and presents `auth`:
    /// a certificate with the key it claims, which may not be the certificate's.
    fn client(auth: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>) -> ClientConnection {
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServer(OptionalClientCert::new(&provider()))));
        let config = match auth {
            Some((cert, key)) => {
                // Unchecked on purpose: `with_client_auth_cert` would refuse a mismatched key.
                let key = provider().key_provider.load_private_key(key).unwrap();
                let claimed = rustls::sign::CertifiedKey::new(vec![cert], key);
                builder.with_client_cert_resolver(Arc::new(Presents(Arc::new(claimed))))
            }
            None => builder.with_no_client_auth(),
        };
        ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap()).unwrap()
    }

    /// Shuttle records between the two ends until both are done or one fails.
    fn handshake(client: &mut ClientConnection, server: &mut ServerConnection) -> Result<(), rustls::Error> {
        for _ in 0..20 {
            let mut buf = Vec::new();
            client.write_tls(&mut buf).unwrap();
            server.read_tls(&mut buf.as_slice()).unwrap();
            server.process_new_packets()?;
            let mut buf = Vec::new();
            server.write_tls(&mut buf).unwrap();
            client.read_tls(&mut buf.as_slice()).unwrap();
            client.process_new_packets()?;
            if !client.is_handshaking() && !server.is_handshaking() {
                return Ok(());
            }
        }
        panic!("the handshake did not finish");
    }

    #[test]
    fn a_client_without_a_certificate_connects_and_has_no_fingerprint() {
        let (mut c, mut s) = (client(None), server());
        handshake(&mut c, &mut s).unwrap();
        assert_eq!(peer_fingerprint(&s), None);
    }

    #[test]
    fn a_client_certificate_from_no_known_issuer_is_taken_and_fingerprinted() {
        let (cert, key) = generated();
        let expected = CertFingerprint::of_der(&cert);
        let (mut c, mut s) = (client(Some((cert, key))), server());
        handshake(&mut c, &mut s).unwrap();
        assert_eq!(peer_fingerprint(&s), Some(expected));
    }

    #[test]
    fn a_certificate_presented_without_its_key_fails_the_handshake() {
        let (cert, _) = generated();
        let (_, other_key) = generated();
        let (mut c, mut s) = (client(Some((cert, other_key))), server());
        let error = handshake(&mut c, &mut s).unwrap_err();
        assert!(
            matches!(
                error,
                rustls::Error::InvalidCertificate(_) | rustls::Error::PeerMisbehaved(_)
            ),
            "{error:?}"
        );
        assert_eq!(peer_fingerprint(&s), None);
    }

    /// A client certificate resolver that presents one certificate and key, matched or not.
    #[derive(Debug)]
    struct Presents(Arc<rustls::sign::CertifiedKey>);

    impl rustls::client::ResolvesClientCert for Presents {
        fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<rustls::sign::CertifiedKey>> {
            Some(self.0.clone())
        }

        fn has_certs(&self) -> bool {
            true
        }
    }

    /// The client side of these tests: trusts every server certificate, checks signatures.
    #[derive(Debug)]
    struct AnyServer(OptionalClientCert);

    impl rustls::client::danger::ServerCertVerifier for AnyServer {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.0.verify_tls12_signature(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.0.verify_tls13_signature(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.supported_verify_schemes()
        }
    }
}
