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

use super::{Connections, Dispatcher, Handler, Incoming, Transport};
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

/// Serve one accepted (or opened) connection until it closes.
pub(crate) async fn serve<S>(
    ctx: Arc<StreamContext>,
    stream: S,
    peer: SocketAddr,
    transport: Transport,
    first: Option<Bytes>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (writer, queue) = mpsc::channel(WRITE_QUEUE);
    let id = ctx.connections.register(peer, transport, writer);
    metrics::gauge!("sip_connections_open", "transport" => transport.label()).increment(1.0);
    let outcome = run(&ctx, stream, peer, transport, id, queue, first).await;
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
    peer: SocketAddr,
    transport: Transport,
    id: super::ConnectionId,
    mut queue: mpsc::Receiver<Bytes>,
    first: Option<Bytes>,
) -> Result<(), &'static str>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
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
                            let incoming = Incoming { bytes, source: peer, transport, connection: Some(id) };
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
        metrics::counter!("sip_send_errors_total", "transport" => "tcp").increment(1);
        return;
    };
    match tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(peer)).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            serve(ctx.clone(), stream, peer, Transport::Tcp, Some(first)).await;
        }
        _ => {
            metrics::counter!("sip_send_errors_total", "transport" => "tcp").increment(1);
            tracing::debug!(%peer, "tcp connect failed");
        }
    }
    drop(admission);
}
