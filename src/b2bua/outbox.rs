//! What the core has for the shell, queued in the order it was made: datagrams to send
//! ([`Transmit`]), calls to route ([`Route`]) and what happened to calls ([`CallEvent`]).
//! The shell drains each with the B2BUA's `poll_*`. It refuses to send or route anything
//! itself (the shell owns sockets and the routers' workers).

use std::collections::VecDeque;

use bytes::Bytes;

use super::{CallEvent, Peer, Route, Transmit};

/// The core's outputs, until the shell takes them.
#[derive(Default)]
pub(super) struct Outbox {
    transmits: VecDeque<Transmit>,
    routes: VecDeque<Route>,
    events: VecDeque<CallEvent>,
}

impl Outbox {
    /// `bytes` to go to `to`.
    pub fn send(&mut self, bytes: Bytes, to: Peer) {
        self.transmits.push_back(Transmit { bytes, to });
    }

    /// A call for the shell's routers.
    pub fn ask_route(&mut self, route: Route) {
        self.routes.push_back(route);
    }

    /// Something that happened to a call, for metrics and records.
    pub fn report(&mut self, event: CallEvent) {
        self.events.push_back(event);
    }

    pub fn next_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn next_route(&mut self) -> Option<Route> {
        self.routes.pop_front()
    }

    pub fn next_event(&mut self) -> Option<CallEvent> {
        self.events.pop_front()
    }
}
