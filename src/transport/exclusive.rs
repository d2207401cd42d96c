//! One process per SIP address. The UDP sockets join a SO_REUSEPORT group (several receive
//! threads), and the kernel lets any other process of the same user join that group too:
//! it would then split the carriers' datagrams between two servers, and calls would fail
//! half the time without a word. So before binding, a UDP address is claimed:
//!
//! - a probe socket is bound to it without SO_REUSEPORT or SO_REUSEADDR: that fails while
//!   any other socket holds the address (another switchboard, or any other SIP server);
//! - an abstract Unix socket named after the address is bound and kept for the life of the
//!   listeners: two switchboards starting at the same moment cannot both pass the probe
//!   and then both join the group.
//!
//! Port 0 (a port the kernel picks) is never shared and is not claimed. TCP and TLS
//! listeners need none of this: they are bound without SO_REUSEPORT, so a second bind fails.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixDatagram};

/// A claimed UDP address; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct AddressClaim {
    _lock: Option<UnixDatagram>,
}

/// Claim `addr` for this process, or say which address is taken and why we refuse it.
pub fn claim_udp(addr: SocketAddr) -> io::Result<AddressClaim> {
    if addr.port() == 0 {
        return Ok(AddressClaim { _lock: None });
    }
    let name = format!("switchboard/sip/udp/{addr}");
    let lock = UnixAddr::from_abstract_name(name.as_bytes()).and_then(|a| UnixDatagram::bind_addr(&a));
    let lock = match lock {
        Ok(lock) => lock,
        Err(err) if err.kind() == io::ErrorKind::AddrInUse => return Err(in_use(addr, &err)),
        Err(err) => return Err(err),
    };
    // Without SO_REUSEPORT/SO_REUSEADDR (std sets neither), the bind fails while anything holds it.
    match UdpSocket::bind(addr) {
        Ok(probe) => drop(probe),
        Err(err) if err.kind() == io::ErrorKind::AddrInUse => return Err(in_use(addr, &err)),
        Err(err) => return Err(err),
    }
    Ok(AddressClaim { _lock: Some(lock) })
}

fn in_use(addr: SocketAddr, err: &io::Error) -> io::Error {
    io::Error::new(
        io::ErrorKind::AddrInUse,
        format!(
            "UDP {addr}: {err}: another process holds this SIP address; refusing to share it \
             (the kernel would split the carriers' datagrams between the two)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free_udp() -> SocketAddr {
        UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
    }

    #[test]
    fn an_address_is_claimed_once_and_free_again_when_the_claim_is_dropped() {
        let addr = free_udp();
        let claim = claim_udp(addr).unwrap();
        let err = claim_udp(addr).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
        drop(claim);
        claim_udp(addr).unwrap();
    }

    #[test]
    fn an_address_another_socket_holds_is_refused_even_with_reuseport() {
        let addr = free_udp();
        let other = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        other.set_reuse_port(true).unwrap();
        other.set_reuse_address(true).unwrap();
        other.bind(&addr.into()).unwrap();
        let err = claim_udp(addr).unwrap_err();
        assert!(err.to_string().contains(&format!("UDP {addr}")), "{err}");
    }

    #[test]
    fn port_zero_needs_no_claim() {
        claim_udp("127.0.0.1:0".parse().unwrap()).unwrap();
        claim_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    }
}
