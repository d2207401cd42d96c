//! Where a response goes (RFC 3261 §18.2.2, RFC 3581) and the `received`/`rport` stamp on
//! the top Via that makes it find its way back; and the shell's own answers, to requests
//! no call takes ([`Stateless`]; their statuses are in `src/status.rs`).
//!
//! The answer always goes to the address the request came from: over the same connection
//! for TCP/TLS, to the source IP for UDP (to the source port too when the client asked with
//! `rport`). A Via never sends us anywhere else, so a forged Via cannot aim our answers at
//! a third party.

use std::net::SocketAddr;

use bytes::{BufMut, Bytes, BytesMut};

use crate::b2bua::{reply_peer, Peer};
use crate::sip::{HeaderName, Message, ResponseBuilder};
use crate::transport::{Incoming, Outgoing};

/// Methods we serve, for `Allow` headers.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, PRACK, UPDATE, INFO, REFER";

/// A request no call takes, answered without transaction state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stateless {
    /// OPTIONS outside a dialog: what we serve.
    Capabilities,
    /// OPTIONS, or a new INVITE, while the server drains.
    Draining,
    /// Max-Forwards reached zero (RFC 3261 §16.3).
    TooManyHops,
    /// A new INVITE no call core took.
    NoRoute,
    /// BYE, CANCEL, PRACK, UPDATE, INFO or REFER outside any call we hold.
    NoSuchCall,
    /// A method we know and do not serve (REGISTER, SUBSCRIBE, ...).
    NotAllowed,
    /// A method we do not know.
    NotImplemented,
}

impl Stateless {
    /// The answer to `request`: the status table's line and, where RFC 3261 asks for them
    /// (§11.2 for OPTIONS, §21.4.6 for 405, §21.5.2 for 501), what we serve.
    pub fn response(self, request: &Message) -> ResponseBuilder {
        let mut response = crate::status::stateless(self).respond(request);
        if matches!(
            self,
            Stateless::Capabilities | Stateless::NotAllowed | Stateless::NotImplemented
        ) {
            response = response.header(HeaderName::Allow, Bytes::from_static(ALLOW.as_bytes()));
        }
        if self == Stateless::Capabilities {
            response = response
                .header(HeaderName::Accept, Bytes::from_static(b"application/sdp"))
                .header(HeaderName::Supported, Bytes::from_static(b"timer, 100rel"));
        }
        response
    }
}

/// Add `received` (always: it is what we answer to) and fill `rport` when asked, on the
/// request's top Via, so responses built from it carry them.
pub fn stamp_top_via(request: &mut Message, source: SocketAddr) {
    let Some(top) = request.header(HeaderName::Via) else {
        return;
    };
    // Most requests need no edit: sent-by already names the source and no rport is asked.
    let needs_edit = match request.top_via() {
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
    request.refresh_top_via();
}

/// Whether a Via host is literally `ip` (compared as addresses, without allocating).
fn names_ip(host: &[u8], ip: std::net::IpAddr) -> bool {
    let host = host
        .strip_prefix(b"[")
        .and_then(|h| h.strip_suffix(b"]"))
        .unwrap_or(host);
    std::str::from_utf8(host)
        .ok()
        .and_then(|h| h.parse::<std::net::IpAddr>().ok())
        == Some(ip)
}

/// The response `bytes`, addressed back to where `incoming` came from (the same rule the
/// B2BUA's transactions use: [`crate::b2bua::reply_peer`]).
pub fn to_source(incoming: &Incoming, request: &Message, bytes: Bytes) -> Outgoing {
    let source = Peer {
        addr: incoming.source,
        transport: incoming.transport,
        connection: incoming.connection,
    };
    let peer = reply_peer(request, source);
    Outgoing {
        bytes,
        destination: peer.addr,
        transport: peer.transport,
        connection: peer.connection,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Transport;

    fn request(via: &str) -> Message {
        let raw = format!("OPTIONS sip:a@b SIP/2.0\r\nVia: {via}\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
        Message::parse(bytes::Bytes::from(raw)).unwrap()
    }

    #[test]
    fn rport_and_received_are_filled_in_from_the_packet_source() {
        let mut m = request("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport");
        stamp_top_via(&mut m, "203.0.113.5:6000".parse().unwrap());
        let via = m.top_via().unwrap();
        assert_eq!(via.rport, Some(Some(6000)));
        assert_eq!(via.received, Some(&b"203.0.113.5"[..]));
        assert_eq!(via.branch, Some(&b"z9hG4bK1"[..]));
    }

    #[test]
    fn a_via_that_already_names_the_source_is_left_untouched() {
        let mut m = request("SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK1");
        let before = m.to_bytes();
        stamp_top_via(&mut m, "203.0.113.5:5060".parse().unwrap());
        assert_eq!(m.to_bytes(), before);
    }

    #[test]
    fn answers_go_to_the_packet_source_never_to_the_host_a_via_names() {
        let m = request("SIP/2.0/UDP 255.255.255.255:5070;branch=z9hG4bK1");
        let incoming = Incoming {
            bytes: m.raw().clone(),
            source: "198.51.100.7:5099".parse().unwrap(),
            transport: Transport::Udp,
            connection: None,
            certificate: None,
        };
        let out = to_source(&incoming, &m, bytes::Bytes::new());
        assert_eq!(
            out.destination,
            "198.51.100.7:5070".parse().unwrap(),
            "source IP, Via port (no rport)"
        );
        let m = request("SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1;rport");
        let out = to_source(&incoming, &m, bytes::Bytes::new());
        assert_eq!(out.destination, incoming.source, "rport: the source port too");
    }
}
