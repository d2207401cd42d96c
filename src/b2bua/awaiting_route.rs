//! A new call between admission and its route, the first of a call's states. The B2BUA has
//! answered 100 Trying and asks the shell to route the call ([`Route`], from
//! [`B2bua::poll_route`]): the router (directory, workflow; for an agent's call out, the
//! outbound rules and the carrier's address) runs on the shell's workers, never under the
//! call core's lock. Meanwhile the call waits in the call table as [`Routing`], holding
//! only what it needs to go on, until one of:
//! - the decision comes back ([`B2bua::handle_routed`]): the callee's leg is placed (the
//!   agent's, or for an outbound call the carrier's) and [`Routing::place`] consumes the
//!   waiting call into one with both legs (`Trying`, at once `Ringing`), or the caller
//!   gets the refusal;
//! - the caller CANCELs (RFC 3261 §9.2): 487, and a late decision is dropped;
//! - the route deadline passes (`route_timeout_ms`): 503, so that whatever the router does,
//!   the caller always gets a final answer.
//!
//! A second INVITE on its Call-ID meanwhile is a merged request (482, `inbound.rs`).

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

use super::call::{Call, CallFacts, CallKey, CarrierId, Direction, Leg};
use super::inbound::numbers_of;
use super::new_call::Placement;
use super::{B2bua, CallError, EndedBy, Peer};
use crate::routing::{Decision, OutboundDecision, Query, Routed};
use crate::sip::Message;
use crate::transaction::TxId;

/// The B2BUA's request to route one call: run the router `facts` asks for (stamping the
/// wall clock) and hand the decision to [`B2bua::handle_routed`] with `call`.
#[derive(Debug)]
#[must_use]
pub struct Route {
    pub call: CallKey,
    pub facts: Query,
}

/// A call waiting for its route: what placing the callee's leg (or refusing) will need.
#[derive(Debug)]
pub(super) struct Routing {
    pub direction: Direction,
    pub invite: Message,
    pub from: Peer,
    /// The INVITE server transaction of the leg we answer.
    pub server: TxId,
    /// Inbound: the dialed number, E.164; outbound: as written.
    pub called: String,
    pub calling: Option<String>,
    /// The carrier, as the gate identified it.
    pub carrier_id: Option<CarrierId>,
    /// The country its numbers are read in (the front door's; see `arrival.rs`).
    pub country: std::sync::Arc<str>,
    pub started: Instant,
    /// When the route timer fires (its key in the timer table).
    pub deadline: Instant,
}

impl Routing {
    /// Routed: the waiting call, consumed into one with both legs — `caller`, answered
    /// from its INVITE, and the callee's `placed` — in `Trying` until that leg's INVITE
    /// (returned, with its branch) goes out.
    pub fn place(self, caller: Leg, placed: Placement) -> (Call, Message, Bytes) {
        let facts = Box::new(CallFacts {
            source: self.from.addr,
            called: placed.called,
            caller: placed.caller,
            carrier_id: self.carrier_id,
            target: Some(placed.target),
            started: self.started,
            first_provisional: None,
            answered: None,
        });
        let mut call = Call::ringing(
            self.direction,
            caller,
            placed.leg,
            self.server,
            self.invite,
            placed.route,
            facts,
        );
        call.outbound = placed.outbound;
        (call, placed.invite, placed.branch)
    }
}

/// How a call that never got an agent leg is recorded: the facts learned at the door.
pub(super) struct Unplaced {
    pub source: SocketAddr,
    pub direction: Direction,
    pub ended_by: EndedBy,
    pub started: Instant,
    pub called: Option<String>,
    pub caller: Option<String>,
    pub carrier_id: Option<CarrierId>,
}

impl B2bua {
    /// Park an admitted INVITE and ask the shell to route it.
    pub(super) fn await_route(&mut self, now: Instant, call: Routing, facts: Query) {
        let key = self.calls.new_key();
        let call_id = call.invite.raw().slice_ref(call.invite.call_id().unwrap_or_default());
        let deadline = now + self.config.route_timeout();
        self.calls
            .await_route(key, call_id, Box::new(Routing { deadline, ..call }));
        self.out.ask_route(Route { call: key, facts });
    }

    /// The next call to route, for the shell.
    pub fn poll_route(&mut self) -> Option<Route> {
        self.out.next_route()
    }

    /// Calls waiting for their route.
    pub fn calls_routing(&self) -> usize {
        self.calls.routing_len()
    }

    /// The router's decision for `call`: place the other leg, or refuse. A decision for a
    /// call no longer waiting (cancelled, or past its deadline) is dropped. The decision's
    /// kind follows the route's ([`Query`]); a refusal the shell makes before any router
    /// runs (`Refusal::Busy`, the org's share of the workers is full) ends either kind.
    pub fn handle_routed(&mut self, now: Instant, call: CallKey, decision: impl Into<Routed>) {
        let Some(mut waiting) = self.calls.take_routing(call) else {
            return;
        };
        let placed = match decision.into() {
            Routed::Inbound(Decision::Agent(target)) => Ok(self.agent_placement(&mut waiting, target)),
            Routed::Outbound(OutboundDecision::Carrier(target)) => self.carrier_placement(now, &waiting, target),
            Routed::Inbound(Decision::Refuse(refusal)) => Err(CallError::Refused(refusal)),
            Routed::Outbound(OutboundDecision::Refuse(refusal)) => Err(CallError::OutboundRefused(refusal)),
        };
        match placed {
            Ok(placed) => self.place_other_leg(now, call, *waiting, placed),
            Err(error) => self.end_waiting(now, &waiting, &error, EndedBy::Switchboard),
        }
    }

    /// CANCEL of a call still being routed: 487 to its INVITE, and the call is forgotten.
    /// Returns whether `call` was waiting.
    pub(super) fn cancel_routing(&mut self, now: Instant, call: CallKey) -> bool {
        let Some(waiting) = self.calls.take_routing(call) else {
            return false;
        };
        self.end_waiting(now, &waiting, &CallError::Cancelled, EndedBy::Carrier);
        true
    }

    /// The route deadline passed with no decision: the caller gets 503 now.
    pub(super) fn route_overdue(&mut self, now: Instant, call: CallKey) {
        let Some(waiting) = self.calls.take_routing(call) else {
            return;
        };
        tracing::warn!(
            call_id = %String::from_utf8_lossy(waiting.invite.call_id().unwrap_or_default()),
            "routing did not decide in time"
        );
        self.end_waiting(now, &waiting, &CallError::RoutingTimeout, EndedBy::Switchboard);
    }

    /// A waiting call ends before any leg was placed: `error`'s final response to its INVITE.
    pub(super) fn end_waiting(&mut self, now: Instant, waiting: &Routing, error: &CallError, ended_by: EndedBy) {
        let (called, caller) = match waiting.direction {
            // The numbers worked out at the door.
            Direction::Inbound => (Some(waiting.called.clone()), waiting.calling.clone()),
            Direction::Outbound => numbers_of(&waiting.invite, &waiting.country),
        };
        let unplaced = Unplaced {
            source: waiting.from.addr,
            direction: waiting.direction,
            ended_by,
            started: waiting.started,
            called,
            caller,
            carrier_id: waiting.carrier_id.clone(),
        };
        self.refuse_unplaced(now, waiting.server, &waiting.invite, error, unplaced);
    }
}
