//! The transports: bytes in, bytes out. UDP (several SO_REUSEPORT sockets, one blocking
//! receive thread each), TCP and TLS (tokio tasks, one per connection, framed by
//! Content-Length). All of them hand every received message to one [`Handler`] as an
//! [`Incoming`] and send the [`Outgoing`]s it returns.
//!
//! This layer knows nothing of SIP semantics beyond stream framing: it never parses a
//! header to decide where to send. Where a message goes is the handler's decision; the
//! transport only honours "over this connection while it is open" for TCP/TLS.

mod client_auth;
mod config;
mod connections;
mod dispatch;
mod exclusive;
mod icmp;
mod stream;
mod tcp;
mod tls;
mod tls_client;
mod udp;

use std::net::SocketAddr;

use bytes::Bytes;

pub use config::{KnobError, SipConfig, TlsConfig};
pub use connections::{ConnectionId, Connections};
pub use dispatch::{is_sendable, Dispatcher};
pub use exclusive::{claim_udp, AddressClaim};
pub use tls::{load_or_generate_tls, TlsError};
pub use tls_client::{TlsClient, TlsNames};
pub use udp::{bind_udp, UdpWorkers};

use std::sync::Arc;
use std::time::Duration;

use crate::security::CertFingerprint;

/// The transport a message arrived on or leaves by (RFC 3261 §18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    /// Reliable transports carry no retransmissions (RFC 3261 §17.1.1.2).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// The token used in a Via header.
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// A low-cardinality label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }
}

/// One whole message as it arrived.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub bytes: Bytes,
    pub source: SocketAddr,
    pub transport: Transport,
    /// The connection it came on (TCP/TLS).
    pub connection: Option<ConnectionId>,
    /// The SHA-256 of the certificate the peer presented on that connection (TLS only).
    pub certificate: Option<CertFingerprint>,
}

/// One whole message to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub bytes: Bytes,
    pub destination: SocketAddr,
    pub transport: Transport,
    /// Prefer this connection while it is open (responses and requests of a dialog whose
    /// peer reached us over TCP/TLS).
    pub connection: Option<ConnectionId>,
}

/// Where received messages go. Implementations are synchronous and quick: the UDP threads
/// and connection tasks call it inline, so it must never block on I/O.
pub trait Handler: Send + Sync + 'static {
    /// Handle one message; push what must be sent into `out`.
    fn handle(&self, incoming: Incoming, out: &mut Vec<Outgoing>);

    /// A connection to `peer` could not be opened: what was to be sent there is lost.
    fn transport_error(&self, _peer: SocketAddr, _transport: Transport, _out: &mut Vec<Outgoing>) {}
}

/// The listeners that are running; dropping this stops them.
pub struct Listeners {
    pub dispatcher: Arc<Dispatcher>,
    pub connections: Arc<Connections>,
    pub udp: Option<SocketAddr>,
    pub tcp: Option<SocketAddr>,
    pub tls: Option<SocketAddr>,
    _udp_workers: Option<UdpWorkers>,
    /// This process's claim on the UDP address (see `exclusive`).
    _udp_claim: Option<AddressClaim>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Listeners {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Bind every configured listener and start feeding `handler`. Must run inside a tokio
/// runtime (the stream listeners are tasks on it).
pub async fn start(
    config: &SipConfig,
    tls: Option<Arc<rustls::ServerConfig>>,
    handler: Arc<dyn Handler>,
) -> std::io::Result<Listeners> {
    let udp_claim = config.udp_listen.map(claim_udp).transpose()?;
    let sockets = match config.udp_listen {
        Some(addr) => {
            let count = if config.udp_sockets == 0 {
                std::thread::available_parallelism().map_or(2, |n| n.get())
            } else {
                config.udp_sockets
            };
            bind_udp(addr, count).map_err(|err| naming("UDP", addr, err))?
        }
        None => Vec::new(),
    };
    let udp = sockets.first().map(|s| s.local_addr()).transpose()?;
    let connections = Connections::new(config.max_connections, config.max_connections_per_source);
    let dispatcher = Dispatcher::new(
        sockets.first().cloned(),
        connections.clone(),
        tokio::runtime::Handle::current(),
    );
    let ctx = Arc::new(stream::StreamContext {
        handler: handler.clone(),
        connections: connections.clone(),
        dispatcher: dispatcher.clone(),
        max_message_size: config.max_message_size,
        idle_timeout: Duration::from_secs(config.idle_timeout_secs),
        message_timeout: Duration::from_secs(config.message_timeout_secs),
    });
    dispatcher.set_stream_context(ctx.clone());
    let mut tasks = Vec::new();
    let mut tcp = None;
    if let Some(addr) = config.tcp_listen {
        // The TCP port follows the UDP one when both ask for port 0, so one port serves both.
        let addr = match (addr.port(), udp) {
            (0, Some(u)) if addr.ip() == u.ip() => SocketAddr::new(addr.ip(), u.port()),
            _ => addr,
        };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|err| naming("TCP", addr, err))?;
        tcp = Some(listener.local_addr()?);
        tasks.push(tcp::spawn_tcp_listener(listener, ctx.clone()));
    }
    let mut tls_addr = None;
    if let (Some(addr), Some(server)) = (config.tls_listen, tls) {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|err| naming("TLS", addr, err))?;
        tls_addr = Some(listener.local_addr()?);
        tasks.push(tls::spawn_tls_listener(
            listener,
            server,
            Duration::from_secs(config.handshake_timeout_secs),
            ctx,
        ));
    }
    let udp_workers = (!sockets.is_empty())
        .then(|| UdpWorkers::spawn(&sockets, config.max_message_size, handler, dispatcher.clone()));
    Ok(Listeners {
        dispatcher,
        connections,
        udp,
        tcp,
        tls: tls_addr,
        _udp_workers: udp_workers,
        _udp_claim: udp_claim,
        tasks,
    })
}

/// A bind error that names the listener and address it was for.
fn naming(transport: &str, addr: SocketAddr, err: std::io::Error) -> std::io::Error {
    std::io::Error::new(err.kind(), format!("{transport} {addr}: {err}"))
}
