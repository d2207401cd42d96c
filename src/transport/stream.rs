//! One TCP or TLS connection: read, frame by Content-Length (RFC 3261 §18.3), hand whole
//! messages to the handler, answer CRLF keep-alive pings (RFC 5626 §3.5.1), write what is
//! queued for this connection. A framing error closes only this connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::client_auth::peer_fingerprint;
use super::{Connections, Dispatcher, Handler, Incoming, TlsClient, Transport};
use crate::security::CertFingerprint;

/// How long opening a connection (TCP connect, and the TLS handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
use crate::sip::{Frame, StreamFramer};

/// Messages queued for one connection before sends to it start failing.
const WRITE_QUEUE: usize = 256;

/// What every connection task shares.
pub(crate) struct StreamContext {
    pub handler: Arc<dyn Handler>,
    pub connections: Arc<Connections>,
    pub dispatcher: Arc<Dispatcher>,
    pub max_message_size: usize,
    pub idle_timeout: Duration,
    /// A message begun must be complete within this long (slowloris: a peer trickling
    /// bytes holds a connection and a buffer, never a message).
    pub message_timeout: Duration,
}

/// Who is at the other end of a connection; fixed for its life.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Remote {
    pub addr: SocketAddr,
    pub transport: Transport,
    /// The SHA-256 of the certificate the peer presented in the TLS handshake: its client
    /// certificate on a connection it opened, its server certificate on one we opened.
    pub certificate: Option<CertFingerprint>,
}

impl Remote {
    /// A peer with no certificate (TCP).
    pub(crate) fn plain(addr: SocketAddr, transport: Transport) -> Remote {
        Remote {
            addr,
            transport,
            certificate: None,
        }
    }
}

/// Serve one accepted (or opened) connection until it closes.
pub(crate) async fn serve<S>(ctx: Arc<StreamContext>, stream: S, remote: Remote, first: Option<Bytes>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Remote {
        addr: peer, transport, ..
    } = remote;
    let (writer, queue) = mpsc::channel(WRITE_QUEUE);
    let id = ctx.connections.register(peer, transport, writer);
    metrics::gauge!("sip_connections_open", "transport" => transport.label()).increment(1.0);
    let outcome = run(&ctx, stream, remote, id, queue, first).await;
    ctx.connections.unregister(id);
    metrics::gauge!("sip_connections_open", "transport" => transport.label()).decrement(1.0);
    if let Err(reason) = outcome {
        metrics::counter!("sip_connections_closed_total", "transport" => transport.label(), "reason" => reason)
            .increment(1);
        tracing::debug!(%peer, reason, "connection closed");
    }
}

async fn run<S>(
    ctx: &StreamContext,
    mut stream: S,
    remote: Remote,
    id: super::ConnectionId,
    mut queue: mpsc::Receiver<Bytes>,
    first: Option<Bytes>,
) -> Result<(), &'static str>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Remote {
        addr: peer,
        transport,
        certificate,
    } = remote;
    let mut framer = StreamFramer::new(ctx.max_message_size);
    let mut buf = BytesMut::with_capacity(4096);
    let mut out = Vec::new();
    if let Some(bytes) = first {
        stream.write_all(&bytes).await.map_err(|_| "write_error")?;
    }
    // When the message now buffered began arriving.
    let mut partial_since: Option<tokio::time::Instant> = None;
    loop {
        let wait = match partial_since {
            Some(since) => ctx
                .message_timeout
                .saturating_sub(since.elapsed())
                .min(ctx.idle_timeout),
            None => ctx.idle_timeout,
        };
        tokio::select! {
            read = tokio::time::timeout(wait, stream.read_buf(&mut buf)) => {
                let reason = if partial_since.is_some() { "message_timeout" } else { "idle_timeout" };
                let n = read.map_err(|_| reason)?.map_err(|_| "read_error")?;
                if n == 0 {
                    return Ok(());
                }
                framer.push(&buf);
                buf.clear();
                loop {
                    match framer.next_frame() {
                        Ok(Some(Frame::Message(bytes))) => {
                            let incoming = Incoming { bytes, source: peer, transport, connection: Some(id), certificate };
                            ctx.handler.handle(incoming, &mut out);
                            for o in out.drain(..) {
                                ctx.dispatcher.send(o);
                            }
                        }
                        Ok(Some(Frame::Ping)) => stream.write_all(b"\r\n").await.map_err(|_| "write_error")?,
                        Ok(Some(Frame::Pong)) => {}
                        Ok(None) => {
                            // Whatever is left is the start of the next message.
                            partial_since = match (framer.buffered(), partial_since) {
                                (0, _) => None,
                                (_, Some(since)) => Some(since),
                                (_, None) => Some(tokio::time::Instant::now()),
                            };
                            break;
                        }
                        Err(err) => {
                            metrics::counter!("sip_parse_errors_total", "transport" => transport.label(), "reason" => "framing").increment(1);
                            tracing::debug!(%peer, %err, "framing error, closing the connection");
                            return Err("framing_error");
                        }
                    }
                }
            }
            queued = queue.recv() => {
                let Some(bytes) = queued else { return Ok(()) };
                stream.write_all(&bytes).await.map_err(|_| "write_error")?;
            }
        }
    }
}

/// Open a TCP connection to `peer`, send `first` and serve the connection.
pub(crate) async fn connect_and_send(ctx: Arc<StreamContext>, peer: SocketAddr, first: Bytes) {
    let Ok(admission) = ctx.connections.admit(peer) else {
        report_unreachable(&ctx, peer, Transport::Tcp, "connection_limit");
        return;
    };
    match tcp_connect(peer).await {
        Some(stream) => serve(ctx.clone(), stream, Remote::plain(peer, Transport::Tcp), Some(first)).await,
        None => report_unreachable(&ctx, peer, Transport::Tcp, "connect_failed"),
    }
    drop(admission);
}

/// Open a TLS connection to `peer` (RFC 3261 §26.2.1), verifying its certificate against
/// the name routing resolved it from, send `first` and serve the connection.
pub(crate) async fn connect_tls_and_send(ctx: Arc<StreamContext>, client: TlsClient, peer: SocketAddr, first: Bytes) {
    let Ok(admission) = ctx.connections.admit(peer) else {
        report_unreachable(&ctx, peer, Transport::Tls, "connection_limit");
        return;
    };
    let Some(tcp) = tcp_connect(peer).await else {
        report_unreachable(&ctx, peer, Transport::Tls, "connect_failed");
        return;
    };
    let name = client.names.name_for(peer);
    let connector = tokio_rustls::TlsConnector::from(client.config.clone());
    match tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp)).await {
        Ok(Ok(tls)) => {
            let remote = Remote {
                addr: peer,
                transport: Transport::Tls,
                certificate: peer_fingerprint(tls.get_ref().1),
            };
            serve(ctx.clone(), tls, remote, Some(first)).await
        }
        Ok(Err(err)) => {
            metrics::counter!("tls_handshake_failures_total", "reason" => "outbound_error").increment(1);
            tracing::warn!(%peer, %err, "outbound tls handshake failed");
            report_unreachable(&ctx, peer, Transport::Tls, "handshake_failed");
        }
        Err(_) => {
            metrics::counter!("tls_handshake_failures_total", "reason" => "outbound_timeout").increment(1);
            report_unreachable(&ctx, peer, Transport::Tls, "handshake_timeout");
        }
    }
    drop(admission);
}

async fn tcp_connect(peer: SocketAddr) -> Option<TcpStream> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(peer))
        .await
        .ok()?
        .ok()?;
    let _ = stream.set_nodelay(true);
    Some(stream)
}

/// A connection we needed could not be opened: count it and tell the handler, so what
/// waits on that peer fails now rather than at its timers.
fn report_unreachable(ctx: &StreamContext, peer: SocketAddr, transport: Transport, reason: &'static str) {
    metrics::counter!("sip_send_errors_total", "transport" => transport.label()).increment(1);
    tracing::debug!(%peer, reason, "could not open a connection");
    let mut out = Vec::new();
    ctx.handler.transport_error(peer, transport, &mut out);
    for o in out {
        ctx.dispatcher.send(o);
    }
}
