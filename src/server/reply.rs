//! Where a response goes (RFC 3261 §18.2.2, RFC 3581) and the `received`/`rport` stamp on
//! the top Via that makes it find its way back.
//!
//! The answer always goes to the address the request came from: over the same connection
//! for TCP/TLS, to the source IP for UDP (to the source port too when the client asked with
//! `rport`). A Via never sends us anywhere else, so a forged Via cannot aim our answers at
//! a third party.

use std::net::SocketAddr;

use bytes::{BufMut, Bytes, BytesMut};

use crate::sip::{HeaderName, Message};
use crate::transport::{Incoming, Outgoing};

/// Add `received` (always: it is what we answer to) and fill `rport` when asked, on the
/// request's top Via, so responses built from it carry them.
pub fn stamp_top_via(request: &mut Message, source: SocketAddr) {
    let Some(top) = request.headers(HeaderName::Via).next() else {
        return;
    };
    // Most requests need no edit: sent-by already names the source and no rport is asked.
    let needs_edit = match crate::sip::Via::parse(top) {
        Ok(via) => via.rport.is_some() || via.received.is_some() || !names_ip(via.host, source.ip()),
        Err(_) => false,
    };
    if !needs_edit {
        return;
    }
    let mut value = BytesMut::with_capacity(top.len() + 40);
    for (i, part) in top.split(|b| *b == b';').enumerate() {
        let name = part.split(|b| *b == b'=').next().unwrap_or_default().trim_ascii();
        if i > 0 && name.eq_ignore_ascii_case(b"received") {
            continue;
        }
        if i > 0 {
            value.put_u8(b';');
        }
        if i > 0 && name.eq_ignore_ascii_case(b"rport") {
            value.put_slice(format!("rport={}", source.port()).as_bytes());
        } else {
            value.put_slice(part);
        }
    }
    value.put_slice(format!(";received={}", source.ip()).as_bytes());
    request.remove_first(HeaderName::Via);
    request.push_header_top(HeaderName::Via, value.freeze());
}

/// Whether a Via host is literally `ip` (compared as addresses, without allocating).
fn names_ip(host: &[u8], ip: std::net::IpAddr) -> bool {
    let host = host.strip_prefix(b"[").and_then(|h| h.strip_suffix(b"]")).unwrap_or(host);
    std::str::from_utf8(host).ok().and_then(|h| h.parse::<std::net::IpAddr>().ok()) == Some(ip)
}

/// The response `bytes`, addressed back to where `incoming` came from.
pub fn to_source(incoming: &Incoming, request: &Message, bytes: Bytes) -> Outgoing {
    Outgoing {
        bytes,
        destination: response_destination(incoming, request),
        transport: incoming.transport,
        connection: incoming.connection,
    }
}

fn response_destination(incoming: &Incoming, request: &Message) -> SocketAddr {
    if incoming.transport.is_reliable() {
        return incoming.source;
    }
    match request.top_via() {
        Ok(via) if via.rport.is_some() => incoming.source,
        Ok(via) => SocketAddr::new(incoming.source.ip(), via.port.unwrap_or(5060)),
        Err(_) => incoming.source,
    }
}
