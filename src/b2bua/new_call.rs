//! A new call, either way: the INVITE that opens it gets 100 Trying and admission, and the
//! router's facts are asked for (`inbound.rs`: the dialed and calling numbers and the
//! caller; `outbound.rs`: the number to call, the caller ID and the calling agent version).
//! The call then waits for its route (`awaiting_route.rs`); once routed, the other leg is
//! placed the same way whichever way the call goes: the leg we answer from the INVITE, the
//! leg we place from the route ([`Placement`], built by `inbound.rs` for the agent and by
//! `outbound.rs` for the carrier), the call's record started, the INVITE sent.

use std::time::Instant;

use bytes::Bytes;

use super::awaiting_route::Routing;
use super::call::{Call, CallKey, CallTimer, Direction, Invitation, Leg, OutboundCall, RouteFacts, State};
use super::{Arrival, B2bua, CallEvent, Peer, Role};
use crate::routing::{Query, RouteKind};
use crate::sip::{response_for, Message};
use crate::transaction::TxId;

/// What a new call is routed by: the numbers its record keeps, and the router's facts.
pub(super) struct ToRoute {
    /// Inbound: the dialed number, E.164; outbound: the number to call, as written.
    pub called: String,
    pub calling: Option<String>,
    pub query: Query,
}

/// The leg a routed call places, ready to go: its dialog, its INVITE and that INVITE's
/// branch, and what the call's record learns from the route.
pub(super) struct Placement {
    pub leg: Leg,
    pub invite: Message,
    pub branch: Bytes,
    pub route: RouteKind,
    pub called: Option<String>,
    pub caller: Option<String>,
    pub target: RouteFacts,
    /// The trunk and its credentials, on an outbound call.
    pub outbound: Option<Box<OutboundCall>>,
}

impl B2bua {
    /// A new INVITE going `direction`: 100 Trying, admission, then the call waits for its
    /// route (see `awaiting_route.rs`); the router runs in the shell, off the core.
    /// `arrival`: whose carrier an inbound call came from, as the gate found it, and the
    /// country its numbers are read in: the call's facts are worked out here once and
    /// carried to its record.
    pub(super) fn handle_new_invite(
        &mut self,
        now: Instant,
        invite: Message,
        from: Peer,
        server: TxId,
        direction: Direction,
        arrival: Arrival,
    ) {
        // 100 Trying at once (RFC 3261 §17.2.1): the caller stops retransmitting.
        let trying = response_for(&invite, 100, "Trying").build();
        self.respond(now, server, &trying);
        let asked = self.admit(&invite).and_then(|()| match direction {
            Direction::Inbound => self.inbound_query(&invite, from, &arrival.country),
            Direction::Outbound => self.outbound_query(&invite, from, &arrival.country),
        });
        let ToRoute { called, calling, query } = match asked {
            Ok(asked) => asked,
            Err(error) => {
                self.refuse(now, server, &invite, &error, (from.addr, direction), arrival);
                return;
            }
        };
        let waiting = Routing {
            direction,
            invite,
            from,
            server,
            called,
            calling,
            carrier_id: arrival.carrier,
            country: arrival.country,
            started: now,
            deadline: now,
        };
        self.await_route(now, waiting, query);
    }

    /// The route is decided and the leg it names is built: start the call.
    pub(super) fn place_other_leg(&mut self, now: Instant, key: CallKey, waiting: Routing, placed: Placement) {
        self.out.report(CallEvent::Routed {
            route: Some(placed.route),
            direction: waiting.direction,
        });
        let caller = self.answering_leg(&waiting.invite, waiting.from);
        let (call, invite, branch) = waiting.place(caller, placed);
        self.start_call(now, key, call, invite, branch);
    }

    /// The leg we answer, from the INVITE that opens it (RFC 3261 §12.1.1).
    pub(super) fn answering_leg(&mut self, invite: &Message, from: Peer) -> Leg {
        Leg::answering(invite, from, self.new_tag())
    }

    /// Send the INVITE on the leg we place, index the new call and arm its timers.
    pub(super) fn start_call(&mut self, now: Instant, key: CallKey, mut call: Call, invite: Message, branch: Bytes) {
        let State::Trying(trying) = call.take_state() else {
            return;
        };
        let server = trying.server;
        let tx = self.send_request(now, key, Role::PlacedInvite, &invite, branch, call.callee.peer);
        call.state = State::Ringing(trying.place(Invitation {
            request: Box::new(invite),
            tx,
            responded: false,
        }));
        let direction = call.direction;
        self.calls.place(key, Box::new(call));
        self.tx.set_role(server, key, Role::CallerInvite);
        self.schedule(key, now + self.config.ring_timeout(), CallTimer::Ring);
        let response_timeout = match direction {
            Direction::Inbound => self.config.agent_response_timeout(),
            Direction::Outbound => self.config.carrier_response_timeout(),
        };
        self.schedule(key, now + response_timeout, CallTimer::CalleeResponse);
        self.schedule(key, now + self.config.max_call_duration(), CallTimer::MaxDuration);
    }
}
