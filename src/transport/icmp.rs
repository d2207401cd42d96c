//! ICMP errors for what we sent over UDP. A peer whose port is closed answers a datagram
//! with ICMP "port unreachable"; an unconnected UDP socket hears nothing of it unless
//! IP_RECVERR / IPV6_RECVERR is set (ip(7), ipv6(7)). With it, Linux queues each error on
//! the socket with the destination of the datagram that failed, and a pending receive
//! returns the error so that the receive thread knows to read the queue.
//!
//! A "destination unreachable" (any code but "fragmentation needed", which only asks for
//! smaller datagrams) is a transport error for that destination (RFC 3261 §18.4, §8.1.3.1):
//! what waits on it fails now instead of at its timer. Elsewhere than Linux nothing is
//! queued and the timers decide, as before.

use std::net::{SocketAddr, UdpSocket};

/// Ask the kernel to queue ICMP errors on `socket`, bound to `addr`.
#[cfg(target_os = "linux")]
pub fn enable(socket: &socket2::Socket, addr: SocketAddr) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let set = |level: libc::c_int, name: libc::c_int| {
        let on: libc::c_int = 1;
        // SAFETY: a valid descriptor (borrowed for the call) and a c_int option value of
        // the size passed.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                level,
                name,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    };
    match addr {
        SocketAddr::V4(_) => set(libc::SOL_IP, libc::IP_RECVERR),
        SocketAddr::V6(_) => {
            // IPv4-mapped peers of a dual-stack socket report through the IPv4 option.
            let _ = set(libc::SOL_IP, libc::IP_RECVERR);
            set(libc::SOL_IPV6, libc::IPV6_RECVERR)
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub fn enable(_socket: &socket2::Socket, _addr: SocketAddr) -> std::io::Result<()> {
    Ok(())
}

/// At most this many queued errors are read per call (the queue is bounded by the socket's
/// receive buffer; what is left is read at the next wake-up).
const MAX_PER_DRAIN: usize = 64;

/// Read the socket's error queue without blocking; push the destination of every datagram
/// that met "unreachable".
#[cfg(target_os = "linux")]
pub fn unreachable_destinations(socket: &UdpSocket, found: &mut Vec<SocketAddr>) {
    use std::os::fd::AsRawFd;
    for _ in 0..MAX_PER_DRAIN {
        // SAFETY: all-zero is a valid sockaddr_storage and msghdr.
        let mut name: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        // u64s keep the control buffer aligned for cmsghdr.
        let mut control = [0u64; 64];
        // The start of the failed datagram comes as data; we need none of it.
        let mut data = [0u8; 1];
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        msg.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: every pointer in `msg` points at a live local buffer of the length given.
        let rc = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
        if rc < 0 {
            return; // EAGAIN: the queue is empty
        }
        if let (true, Some(destination)) = (is_unreachable(&msg), socket_addr(&name)) {
            found.push(destination);
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub fn unreachable_destinations(_socket: &UdpSocket, _found: &mut Vec<SocketAddr>) {}

/// Whether the extended error that `recvmsg` filled into `msg` is an ICMP or ICMPv6
/// "destination unreachable" that ends delivery.
#[cfg(target_os = "linux")]
fn is_unreachable(msg: &libc::msghdr) -> bool {
    // SAFETY: `msg` was filled by recvmsg; the CMSG macros stay within msg_controllen, and
    // the data of an IP_RECVERR / IPV6_RECVERR message is a sock_extended_err (read
    // unaligned, as CMSG_DATA promises no alignment).
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            let (level, kind) = ((*cmsg).cmsg_level, (*cmsg).cmsg_type);
            if (level, kind) == (libc::SOL_IP, libc::IP_RECVERR)
                || (level, kind) == (libc::SOL_IPV6, libc::IPV6_RECVERR)
            {
                let err: libc::sock_extended_err = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                return hard_unreachable(err.ee_origin, err.ee_type, err.ee_code);
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    false
}

/// ICMP type 3 (RFC 792) but code 4 "fragmentation needed"; ICMPv6 type 1 (RFC 4443).
#[cfg(target_os = "linux")]
fn hard_unreachable(origin: u8, kind: u8, code: u8) -> bool {
    match origin {
        libc::SO_EE_ORIGIN_ICMP => kind == 3 && code != 4,
        libc::SO_EE_ORIGIN_ICMP6 => kind == 1,
        _ => false,
    }
}

#[cfg(target_os = "linux")]
fn socket_addr(name: &libc::sockaddr_storage) -> Option<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
    match libc::c_int::from(name.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin: libc::sockaddr_in = unsafe { std::ptr::read((name as *const libc::sockaddr_storage).cast()) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6: libc::sockaddr_in6 = unsafe { std::ptr::read((name as *const libc::sockaddr_storage).cast()) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn bound(addr: &str) -> UdpSocket {
        let addr: SocketAddr = addr.parse().unwrap();
        let socket = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::DGRAM, None).unwrap();
        enable(&socket, addr).unwrap();
        socket.bind(&addr.into()).unwrap();
        socket.into()
    }

    /// A loopback port with nothing bound to it right now.
    fn closed_port(ip: &str) -> SocketAddr {
        let probe = UdpSocket::bind((ip, 0)).unwrap();
        probe.local_addr().unwrap()
    }

    /// Send one datagram to `to` and collect what the error queue says within 2 s.
    fn errors_after_sending(socket: &UdpSocket, to: SocketAddr) -> Vec<SocketAddr> {
        socket.send_to(b"OPTIONS", to).unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut found = Vec::new();
        while found.is_empty() && Instant::now() < deadline {
            unreachable_destinations(socket, &mut found);
            std::thread::sleep(Duration::from_millis(5));
        }
        found
    }

    #[test]
    fn a_closed_port_is_reported_with_the_destination_it_was_sent_to() {
        let socket = bound("127.0.0.1:0");
        let closed = closed_port("127.0.0.1");
        assert_eq!(errors_after_sending(&socket, closed), vec![closed]);
        let mut more = Vec::new();
        unreachable_destinations(&socket, &mut more);
        assert!(more.is_empty(), "read once: {more:?}");
    }

    #[test]
    fn a_closed_ipv6_port_is_reported_too() {
        let Ok(probe) = UdpSocket::bind("[::1]:0") else {
            panic!("this test needs IPv6 on loopback (::1)");
        };
        drop(probe);
        let socket = bound("[::1]:0");
        let closed = closed_port("::1");
        assert_eq!(errors_after_sending(&socket, closed), vec![closed]);
    }

    /// Reported in its IPv4-mapped form (`[::ffff:127.0.0.1]:port`): the core compares
    /// addresses canonically.
    #[test]
    fn a_dual_stack_socket_reports_an_ipv4_destination() {
        let socket = bound("[::]:0");
        let closed = closed_port("127.0.0.1");
        let found = errors_after_sending(&socket, closed);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            (found[0].ip().to_canonical(), found[0].port()),
            (closed.ip(), closed.port())
        );
    }

    #[test]
    fn only_unreachable_that_ends_delivery_counts() {
        assert!(hard_unreachable(libc::SO_EE_ORIGIN_ICMP, 3, 3), "port unreachable");
        assert!(hard_unreachable(libc::SO_EE_ORIGIN_ICMP, 3, 1), "host unreachable");
        assert!(!hard_unreachable(libc::SO_EE_ORIGIN_ICMP, 3, 4), "fragmentation needed");
        assert!(!hard_unreachable(libc::SO_EE_ORIGIN_ICMP, 11, 0), "time exceeded");
        assert!(
            hard_unreachable(libc::SO_EE_ORIGIN_ICMP6, 1, 4),
            "ICMPv6 port unreachable"
        );
        assert!(!hard_unreachable(libc::SO_EE_ORIGIN_ICMP6, 2, 0), "packet too big");
        assert!(!hard_unreachable(libc::SO_EE_ORIGIN_LOCAL, 0, 0), "a local error");
    }
}
