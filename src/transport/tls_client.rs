//! Outbound TLS (RFC 3261 §26.2.1, RFC 5922): the rustls client configuration for
//! connections we open to carriers, and the names their certificates are checked against.
//!
//! A carrier's certificate is verified against the Mozilla roots (`webpki-roots`) plus the
//! CA certificates of an optional PEM file (a private carrier CA, or a test CA). The name
//! checked is the host the trunk's address names (RFC 5922 §7.2: the domain we meant to
//! reach), remembered by outbound routing when it resolves that host; an address never
//! named that way is checked as an IP address. No client certificate is presented.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use dashmap::DashMap;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};

use super::TlsError;

/// The host names behind resolved carrier addresses, for certificate checks.
#[derive(Debug, Default)]
pub struct TlsNames {
    names: DashMap<SocketAddr, String>,
}

impl TlsNames {
    /// `addr` was resolved from `host` (a name or an IP literal, without port).
    pub fn remember(&self, addr: SocketAddr, host: &str) {
        self.names.insert(addr, host.to_owned());
    }

    /// The name to check `addr`'s certificate against.
    pub fn name_for(&self, addr: SocketAddr) -> ServerName<'static> {
        self.names
            .get(&addr)
            .and_then(|host| ServerName::try_from(host.trim_matches(['[', ']']).to_owned()).ok())
            .unwrap_or_else(|| ServerName::IpAddress(addr.ip().into()))
    }
}

/// What opening a TLS connection needs.
#[derive(Debug, Clone)]
pub struct TlsClient {
    pub config: Arc<rustls::ClientConfig>,
    pub names: Arc<TlsNames>,
}

impl TlsClient {
    /// Trust the webpki roots and the certificates in `extra_ca` (PEM), if given.
    pub fn new(extra_ca: Option<&Path>, names: Arc<TlsNames>) -> Result<TlsClient, TlsError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = extra_ca {
            let pem_err = |err: rustls_pki_types::pem::Error| TlsError::Pem {
                path: path.to_owned(),
                reason: err.to_string(),
            };
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(pem_err)?
                .collect::<Result<_, _>>()
                .map_err(pem_err)?;
            if certs.is_empty() {
                return Err(TlsError::NoCertificate(path.to_owned()));
            }
            for cert in certs {
                roots.add(cert)?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsClient {
            config: Arc::new(config),
            names,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_host_is_the_name_checked_and_an_unknown_address_is_checked_as_an_ip() {
        let names = TlsNames::default();
        let addr: SocketAddr = "192.0.2.7:5061".parse().unwrap();
        assert_eq!(
            names.name_for(addr),
            ServerName::IpAddress(addr.ip().into()),
            "never named: its IP"
        );
        names.remember(addr, "sip.carrier.example");
        assert_eq!(
            names.name_for(addr),
            ServerName::try_from("sip.carrier.example").unwrap()
        );
    }

    #[test]
    fn an_extra_ca_file_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let names = Arc::new(TlsNames::default());
        assert!(matches!(
            TlsClient::new(Some(&path), names.clone()),
            Err(TlsError::NoCertificate(_))
        ));
        assert!(TlsClient::new(None, names).is_ok(), "the webpki roots alone");
    }
}
