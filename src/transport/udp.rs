//! UDP: several sockets bound to one address with SO_REUSEPORT, so the kernel spreads
//! datagrams over them, each drained by a blocking receive thread that calls the handler
//! inline (no channel hop, no task wake-up per datagram). An oversized datagram is counted
//! and dropped; the thread never stops for a bad packet. An ICMP "unreachable" for a
//! datagram we sent goes to the handler as a transport error for its destination
//! (`icmp.rs`).

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use socket2::{Domain, Protocol, Socket, Type};

use super::{icmp, Dispatcher, Handler, Incoming, Outgoing, Transport};

/// Receive buffers sized for bursts: a flood should overflow into drops, not stall senders.
const SOCKET_BUFFER: usize = 4 << 20;
/// How often a receive thread looks at the stop flag.
const POLL_STOP: Duration = Duration::from_millis(200);

/// Bind `count` sockets to `addr` with SO_REUSEPORT (the first one picks the port when
/// `addr` has port 0, the others join it).
pub fn bind_udp(addr: SocketAddr, count: usize) -> std::io::Result<Vec<Arc<UdpSocket>>> {
    let first = bind_one(addr)?;
    let local = first.local_addr()?;
    let mut sockets = vec![Arc::new(first)];
    for _ in 1..count.max(1) {
        sockets.push(Arc::new(bind_one(local)?));
    }
    Ok(sockets)
}

fn bind_one(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    icmp::enable(&socket, addr)?;
    socket.bind(&addr.into())?;
    socket.set_read_timeout(Some(POLL_STOP))?;
    Ok(socket.into())
}

/// The receive threads; stopped when dropped.
pub struct UdpWorkers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl UdpWorkers {
    /// One receive thread per socket.
    pub fn spawn(
        sockets: &[Arc<UdpSocket>],
        max_message_size: usize,
        handler: Arc<dyn Handler>,
        dispatcher: Arc<Dispatcher>,
    ) -> UdpWorkers {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = sockets
            .iter()
            .enumerate()
            .map(|(i, socket)| {
                let (socket, handler, dispatcher, stop) =
                    (socket.clone(), handler.clone(), dispatcher.clone(), stop.clone());
                std::thread::Builder::new()
                    .name(format!("sip-udp-{i}"))
                    .spawn(move || receive_loop(&socket, max_message_size, &*handler, &dispatcher, &stop))
                    .expect("spawning a UDP receive thread")
            })
            .collect();
        UdpWorkers { stop, threads }
    }
}

impl Drop for UdpWorkers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn receive_loop(
    socket: &UdpSocket,
    max_message_size: usize,
    handler: &dyn Handler,
    dispatcher: &Dispatcher,
    stop: &AtomicBool,
) {
    // One byte more than the limit tells an oversized datagram from one that just fits.
    let mut buf = vec![0u8; max_message_size + 1];
    let mut out = Vec::with_capacity(4);
    while !stop.load(Ordering::Acquire) {
        let (len, source) = match socket.recv_from(&mut buf) {
            Ok(received) => received,
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(err) => {
                // A queued ICMP error wakes the receive with its errno (ECONNREFUSED...).
                tracing::trace!(%err, "udp receive error");
                transport_errors(socket, handler, dispatcher, &mut out);
                continue;
            }
        };
        if len > max_message_size {
            metrics::counter!("sip_datagrams_dropped_total", "reason" => "oversized").increment(1);
            continue;
        }
        if is_keepalive(&buf[..len]) {
            continue;
        }
        let incoming = Incoming {
            bytes: Bytes::copy_from_slice(&buf[..len]),
            source,
            transport: Transport::Udp,
            connection: None,
            certificate: None,
        };
        handler.handle(incoming, &mut out);
        for o in out.drain(..) {
            dispatcher.send(o);
        }
    }
}

/// Tell the handler of every destination the socket's error queue reports unreachable.
fn transport_errors(socket: &UdpSocket, handler: &dyn Handler, dispatcher: &Dispatcher, out: &mut Vec<Outgoing>) {
    let mut unreachable = Vec::new();
    icmp::unreachable_destinations(socket, &mut unreachable);
    metrics::counter!("sip_send_errors_total", "transport" => "udp").increment(unreachable.len() as u64);
    // Every datagram a closed port refused comes back: one report per destination is enough.
    unreachable.sort_unstable();
    unreachable.dedup();
    for destination in unreachable {
        tracing::debug!(%destination, "udp destination unreachable (ICMP)");
        handler.transport_error(destination, Transport::Udp, out);
        for o in out.drain(..) {
            dispatcher.send(o);
        }
    }
}

/// RFC 5626 §4.4.1 STUN keep-alives aside, a datagram of only CRLFs is a keep-alive.
fn is_keepalive(datagram: &[u8]) -> bool {
    datagram.iter().all(|b| *b == b'\r' || *b == b'\n')
}
