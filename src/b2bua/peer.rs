//! Where a leg's peer is, and where a response to a request goes (RFC 3261 §18.2.2, RFC
//! 3581): back over the connection on TCP/TLS; on UDP to the source address, at the source
//! port when the client asked with `rport`, else at its Via port. Never to the host a Via
//! names: a forged Via cannot aim our answers at a third party.

use std::net::SocketAddr;

use crate::sip::Message;
use crate::transport::{ConnectionId, Transport};

/// A peer: its address, the transport, and the connection it used (TCP/TLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub addr: SocketAddr,
    pub transport: Transport,
    pub connection: Option<ConnectionId>,
}

/// Where the responses to `request`, received from `source`, go.
pub fn reply_peer(request: &Message, source: Peer) -> Peer {
    if source.transport.is_reliable() {
        return source;
    }
    match request.top_via() {
        Ok(via) if via.rport.is_none() => Peer {
            addr: SocketAddr::new(source.addr.ip(), via.port.unwrap_or(5060)),
            ..source
        },
        _ => source,
    }
}
