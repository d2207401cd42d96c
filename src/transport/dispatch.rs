//! Sending: every [`Outgoing`] leaves through here. UDP goes out of the shared listening
//! port; TCP/TLS goes over the named connection, or any open connection to the peer, and a
//! new TCP or TLS connection is opened when there is none (TLS once a [`TlsClient`] is
//! set: the carrier's certificate is verified, see `tls_client.rs`). A connection we open
//! is served like an accepted one, so the answers that come back on it reach the handler.

use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, OnceLock};

use tokio::runtime::Handle;

use super::stream::{self, StreamContext};
use super::{Connections, Outgoing, TlsClient, Transport};

/// Sends outgoing messages; cheap to share.
pub struct Dispatcher {
    udp: Option<Arc<UdpSocket>>,
    connections: Arc<Connections>,
    runtime: Handle,
    /// Set once the stream context exists (it holds this dispatcher too).
    streams: OnceLock<Arc<StreamContext>>,
    /// How TLS connections to carriers are opened (unset: they are not).
    tls_client: OnceLock<TlsClient>,
}

impl Dispatcher {
    pub fn new(udp: Option<Arc<UdpSocket>>, connections: Arc<Connections>, runtime: Handle) -> Arc<Dispatcher> {
        Arc::new(Dispatcher {
            udp,
            connections,
            runtime,
            streams: OnceLock::new(),
            tls_client: OnceLock::new(),
        })
    }

    /// Open TLS connections with this client configuration from now on (set once).
    pub fn set_tls_client(&self, client: TlsClient) {
        let _ = self.tls_client.set(client);
    }

    pub(crate) fn set_stream_context(&self, ctx: Arc<StreamContext>) {
        let _ = self.streams.set(ctx);
    }

    /// Send one message. Failures are counted and logged, never raised: the transaction
    /// layer notices a lost message by its timers.
    pub fn send(&self, out: Outgoing) {
        if !is_sendable(out.destination) {
            metrics::counter!("sip_send_refused_total", "reason" => "bad_destination").increment(1);
            tracing::debug!(destination = %out.destination, "refusing to send to a non-unicast destination");
            return;
        }
        match out.transport {
            Transport::Udp => self.send_udp(out),
            Transport::Tcp | Transport::Tls => self.send_stream(out),
        }
    }

    fn send_udp(&self, out: Outgoing) {
        let Some(socket) = &self.udp else {
            metrics::counter!("sip_send_errors_total", "transport" => "udp").increment(1);
            return;
        };
        if let Err(err) = socket.send_to(&out.bytes, out.destination) {
            metrics::counter!("sip_send_errors_total", "transport" => "udp").increment(1);
            tracing::debug!(destination = %out.destination, %err, "udp send failed");
        }
    }

    fn send_stream(&self, out: Outgoing) {
        if let Some(writer) = self.connections.writer(out.connection, out.destination, out.transport) {
            if writer.try_send(out.bytes).is_err() {
                metrics::counter!("sip_send_errors_total", "transport" => out.transport.label()).increment(1);
            }
            return;
        }
        let Some(ctx) = self.streams.get().cloned() else {
            return;
        };
        if out.transport == Transport::Tls {
            let Some(client) = self.tls_client.get().cloned() else {
                metrics::counter!("sip_send_errors_total", "transport" => "tls").increment(1);
                return;
            };
            self.runtime
                .spawn(stream::connect_tls_and_send(ctx, client, out.destination, out.bytes));
            return;
        }
        self.runtime
            .spawn(stream::connect_and_send(ctx, out.destination, out.bytes));
    }
}

/// Never send to broadcast, multicast, unspecified addresses or port 0, whatever a Via says.
pub fn is_sendable(addr: SocketAddr) -> bool {
    if addr.port() == 0 {
        return false;
    }
    match addr.ip() {
        std::net::IpAddr::V4(ip) => !(ip.is_broadcast() || ip.is_multicast() || ip.is_unspecified()),
        std::net::IpAddr::V6(ip) => !(ip.is_multicast() || ip.is_unspecified()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_destinations_are_not_sendable() {
        for bad in [
            "255.255.255.255:5060",
            "224.0.0.1:5060",
            "0.0.0.0:5060",
            "127.0.0.1:0",
            "[ff02::1]:5060",
            "[::]:5060",
        ] {
            assert!(!is_sendable(bad.parse().unwrap()), "{bad}");
        }
        assert!(is_sendable("127.0.0.1:5060".parse().unwrap()));
    }
}
