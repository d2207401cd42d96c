//! The registry of open TCP/TLS connections: who to write to for a given connection id or
//! peer address, and the per-source and total caps that keep a flood of idle sockets from
//! exhausting us.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use dashmap::DashMap;
use tokio::sync::mpsc;

use super::Transport;

/// Identifies one TCP/TLS connection for as long as it lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectionId(pub u64);

/// A writer for one open connection.
#[derive(Debug, Clone)]
struct Entry {
    peer: SocketAddr,
    transport: Transport,
    writer: mpsc::Sender<Bytes>,
}

/// Open connections, shared by every task.
#[derive(Debug)]
pub struct Connections {
    next_id: AtomicU64,
    by_id: DashMap<ConnectionId, Entry>,
    by_peer: DashMap<(SocketAddr, Transport), ConnectionId>,
    per_source: DashMap<IpAddr, usize>,
    total: AtomicUsize,
    max_total: usize,
    max_per_source: usize,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("too many connections in total")]
    Total,
    #[error("too many connections from this source")]
    PerSource,
}

impl Connections {
    pub fn new(max_total: usize, max_per_source: usize) -> Arc<Connections> {
        Arc::new(Connections {
            next_id: AtomicU64::new(1),
            by_id: DashMap::new(),
            by_peer: DashMap::new(),
            per_source: DashMap::new(),
            total: AtomicUsize::new(0),
            max_total,
            max_per_source,
        })
    }

    /// Count a new connection against the caps before any work is done for it.
    pub fn admit(&self, peer: SocketAddr) -> Result<Admission<'_>, Refusal> {
        if self.total.fetch_add(1, Ordering::AcqRel) >= self.max_total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::Total);
        }
        let mut count = self.per_source.entry(peer.ip()).or_insert(0);
        if *count >= self.max_per_source {
            drop(count);
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::PerSource);
        }
        *count += 1;
        Ok(Admission {
            connections: self,
            peer,
        })
    }

    /// Register the writer of an admitted connection.
    pub fn register(&self, peer: SocketAddr, transport: Transport, writer: mpsc::Sender<Bytes>) -> ConnectionId {
        let id = ConnectionId(self.next_id.fetch_add(1, Ordering::Relaxed));
        self.by_id.insert(
            id,
            Entry {
                peer,
                transport,
                writer,
            },
        );
        self.by_peer.insert((peer, transport), id);
        id
    }

    pub fn unregister(&self, id: ConnectionId) {
        if let Some((_, entry)) = self.by_id.remove(&id) {
            self.by_peer.remove_if(&(entry.peer, entry.transport), |_, v| *v == id);
        }
    }

    /// The writer for a connection id, or for an open connection to `peer`.
    pub fn writer(
        &self,
        id: Option<ConnectionId>,
        peer: SocketAddr,
        transport: Transport,
    ) -> Option<mpsc::Sender<Bytes>> {
        if let Some(entry) = id.and_then(|id| self.by_id.get(&id)) {
            return Some(entry.writer.clone());
        }
        let id = *self.by_peer.get(&(peer, transport))?;
        self.by_id.get(&id).map(|e| e.writer.clone())
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }
}

/// A slot counted against the caps; released when dropped.
#[derive(Debug)]
pub struct Admission<'a> {
    connections: &'a Connections,
    peer: SocketAddr,
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.connections.total.fetch_sub(1, Ordering::AcqRel);
        let ip = self.peer.ip();
        let now_empty = match self.connections.per_source.get_mut(&ip) {
            Some(mut count) => {
                *count = count.saturating_sub(1);
                *count == 0
            }
            None => false,
        };
        if now_empty {
            self.connections.per_source.remove_if(&ip, |_, c| *c == 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn caps_per_source_and_in_total_are_enforced_and_released() {
        let c = Connections::new(3, 2);
        let a = c.admit(peer(1)).unwrap();
        let _b = c.admit(peer(2)).unwrap();
        assert_eq!(c.admit(peer(3)).unwrap_err(), Refusal::PerSource);
        drop(a);
        let _a2 = c.admit(peer(4)).unwrap();
        let other = SocketAddr::from(([127, 0, 0, 2], 9));
        let _c = c.admit(other).unwrap();
        assert_eq!(
            c.admit(SocketAddr::from(([127, 0, 0, 3], 9))).unwrap_err(),
            Refusal::Total
        );
        assert_eq!(c.open(), 3);
    }

    #[test]
    fn a_writer_is_found_by_id_or_by_peer_until_unregistered() {
        let c = Connections::new(10, 10);
        let (tx, _rx) = mpsc::channel(1);
        let id = c.register(peer(5), Transport::Tcp, tx);
        assert!(c.writer(Some(id), peer(9), Transport::Tcp).is_some());
        assert!(c.writer(None, peer(5), Transport::Tcp).is_some());
        assert!(c.writer(None, peer(5), Transport::Tls).is_none());
        c.unregister(id);
        assert!(c.writer(Some(id), peer(5), Transport::Tcp).is_none());
    }
}
