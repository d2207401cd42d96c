//! TLS (RFC 3261 §26.2.1, SIP over TLS on 5061) with rustls: the server configuration, a
//! self-signed development certificate when none is configured, and a certificate
//! resolver that picks up new certificate files without a restart. Clients are asked for a
//! certificate, not required to have one (`client_auth.rs`); the fingerprint of one
//! presented rides on every message of its connection.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::client_auth::{peer_fingerprint, OptionalClientCert};
use super::stream::{self, Remote, StreamContext};
use super::TlsConfig;
use super::Transport;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no certificate in {0}")]
    NoCertificate(PathBuf),
    #[error("bad PEM in {path}: {reason}")]
    Pem { path: PathBuf, reason: String },
    #[error("certificate and key do not fit: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("cannot generate the development certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// The rustls server configuration for the configured (or generated) certificate.
pub fn load_or_generate_tls(config: &TlsConfig) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let (cert, key) = match (&config.cert_path, &config.key_path) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        _ => ensure_dev_certificate(&config.dev_cert_dir)?,
    };
    let resolver = ReloadingResolver::new(cert, key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client_auth = Arc::new(OptionalClientCert::new(&provider));
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(client_auth)
        .with_cert_resolver(Arc::new(resolver));
    Ok(Arc::new(server))
}

/// Accept TLS connections until the task is dropped.
pub(crate) fn spawn_tls_listener(
    listener: TcpListener,
    server: Arc<rustls::ServerConfig>,
    handshake_timeout: Duration,
    ctx: Arc<StreamContext>,
) -> tokio::task::JoinHandle<()> {
    let acceptor = TlsAcceptor::from(server);
    tokio::spawn(async move {
        loop {
            let (socket, peer): (_, SocketAddr) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(%err, "tls accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let ctx = ctx.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(admission) = ctx.connections.admit(peer) else {
                    metrics::counter!("sip_connections_refused_total", "transport" => "tls").increment(1);
                    return;
                };
                let _ = socket.set_nodelay(true);
                match tokio::time::timeout(handshake_timeout, acceptor.accept(socket)).await {
                    Ok(Ok(tls)) => {
                        let remote = Remote {
                            addr: peer,
                            transport: Transport::Tls,
                            certificate: peer_fingerprint(tls.get_ref().1),
                        };
                        stream::serve(ctx.clone(), tls, remote, None).await
                    }
                    Ok(Err(err)) => {
                        metrics::counter!("tls_handshake_failures_total", "reason" => "error").increment(1);
                        tracing::debug!(%peer, %err, "tls handshake failed");
                    }
                    Err(_) => {
                        metrics::counter!("tls_handshake_failures_total", "reason" => "timeout").increment(1);
                    }
                }
                drop(admission);
            });
        }
    })
}

/// Write a self-signed certificate for localhost once, and reuse it on later starts.
fn ensure_dev_certificate(dir: &Path) -> Result<(PathBuf, PathBuf), TlsError> {
    let cert = dir.join("dev-cert.pem");
    let key = dir.join("dev-key.pem");
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    let write = |path: &Path, text: String| {
        // Owner-only, like the store's folder (often its parent, `./data`).
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(dir)
            .and_then(|_| std::fs::write(path, text))
            .map_err(|source| TlsError::Read {
                path: path.to_owned(),
                source,
            })
    };
    write(&cert, generated.cert.pem())?;
    write(&key, generated.signing_key.serialize_pem())?;
    restrict_permissions(&key);
    tracing::info!(cert = %cert.display(), "generated a self-signed development TLS certificate");
    Ok((cert, key))
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

#[cfg(not(unix))]
fn restrict_permissions(_: &Path) {}

/// Serves the certificate in the files, re-reading them when their modification time
/// changes (checked at most once a second, on a handshake). A bad new file keeps the old
/// certificate in service.
#[derive(Debug)]
struct ReloadingResolver {
    cert_path: PathBuf,
    key_path: PathBuf,
    state: Mutex<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    key: Arc<CertifiedKey>,
    modified: (Option<SystemTime>, Option<SystemTime>),
    checked: Instant,
}

impl ReloadingResolver {
    fn new(cert_path: PathBuf, key_path: PathBuf) -> Result<ReloadingResolver, TlsError> {
        let key = Arc::new(read_certified_key(&cert_path, &key_path)?);
        let modified = (mtime(&cert_path), mtime(&key_path));
        Ok(ReloadingResolver {
            cert_path,
            key_path,
            state: Mutex::new(Loaded {
                key,
                modified,
                checked: crate::clock::now(),
            }),
        })
    }

    fn current(&self) -> Arc<CertifiedKey> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = crate::clock::now();
        if now.duration_since(state.checked) >= Duration::from_secs(1) {
            state.checked = now;
            let modified = (mtime(&self.cert_path), mtime(&self.key_path));
            if modified != state.modified {
                match read_certified_key(&self.cert_path, &self.key_path) {
                    Ok(key) => {
                        state.key = Arc::new(key);
                        state.modified = modified;
                        metrics::counter!("tls_certificate_reloads_total", "outcome" => "ok").increment(1);
                        tracing::info!(cert = %self.cert_path.display(), "reloaded the TLS certificate");
                    }
                    Err(err) => {
                        metrics::counter!("tls_certificate_reloads_total", "outcome" => "error").increment(1);
                        tracing::warn!(%err, "kept the old TLS certificate");
                    }
                }
            }
        }
        state.key.clone()
    }
}

impl ResolvesServerCert for ReloadingResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn read_certified_key(cert_path: &Path, key_path: &Path) -> Result<CertifiedKey, TlsError> {
    let pem_err = |path: &Path, err: rustls_pki_types::pem::Error| TlsError::Pem {
        path: path.to_owned(),
        reason: err.to_string(),
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| pem_err(cert_path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem_err(cert_path, e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(cert_path.to_owned()));
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| pem_err(key_path, e))?;
    let provider = rustls::crypto::ring::default_provider();
    Ok(CertifiedKey::from_der(certs, key, &provider)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dev_certificate_is_generated_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let config = TlsConfig {
            cert_path: None,
            key_path: None,
            dev_cert_dir: dir.path().join("tls"),
        };
        load_or_generate_tls(&config).unwrap();
        let first = std::fs::read(dir.path().join("tls/dev-cert.pem")).unwrap();
        load_or_generate_tls(&config).unwrap();
        let second = std::fs::read(dir.path().join("tls/dev-cert.pem")).unwrap();
        assert_eq!(first, second);
    }

    #[test]
    fn a_missing_certificate_file_is_named_in_the_error() {
        let config = TlsConfig {
            cert_path: Some("/nonexistent/cert.pem".into()),
            key_path: Some("/nonexistent/key.pem".into()),
            dev_cert_dir: "/tmp".into(),
        };
        let err = load_or_generate_tls(&config).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/cert.pem"), "{err}");
    }
}
