//! An inbound call's own part of a new call (see `new_call.rs`): the facts its route is
//! looked up by, and the agent leg it places. Also, whichever way the call goes, for now:
//! admission and the refusals of calls that never got a leg placed.

use std::time::Instant;

use bytes::Bytes;

use super::agent_leg::{self, calling_number, dialed_number, AgentInvite};
use super::awaiting_route::{Routing, Unplaced};
use super::call::{CallFacts, Direction, Leg, RouteFacts};
use super::new_call::{Placement, ToRoute};
use super::{Arrival, B2bua, CallError, CallEvent, EndedBy, Peer};
use crate::routing::{AgentTarget, Query, RouteQuery};
use crate::sip::{HeaderName, Message};
use crate::transaction::TxId;
use crate::transport::Transport;

impl B2bua {
    /// What the router needs to route an inbound call: the dialed number (E.164), the
    /// calling number, the caller's name.
    /// Numbers without `+` are national in `country`.
    pub(super) fn inbound_query(&self, invite: &Message, from: Peer, country: &str) -> Result<ToRoute, CallError> {
        // RFC 3261 §21.4.22: no phone number in the Request-URI (or To).
        let called =
            dialed_number(invite, country).ok_or(CallError::Refused(crate::routing::Refusal::AddressIncomplete))?;
        let calling = calling_number(invite, country);
        let caller_name = invite
            .from()
            .ok()
            .and_then(|f| f.display)
            .map(|d| String::from_utf8_lossy(d).trim_matches('"').to_owned());
        let facts = RouteQuery {
            called: called.clone(),
            caller: calling.clone().unwrap_or_default(),
            caller_name,
            source: from.addr,
            call_id: Bytes::copy_from_slice(invite.call_id().unwrap_or_default()),
            invite: invite.clone(),
        };
        Ok(ToRoute {
            called,
            calling,
            query: Query::Inbound(Box::new(facts)),
        })
    }

    /// The agent leg a routed inbound call places: its INVITE (over TCP when too large for
    /// UDP) and its dialog. The record's facts take what the call no longer needs, moved
    /// rather than copied.
    pub(super) fn agent_placement(&mut self, waiting: &mut Routing, target: Box<AgentTarget>) -> Placement {
        let invite = &waiting.invite;
        let calling = waiting.calling.take();
        let called = std::mem::take(&mut waiting.called);
        let agent_call_id = self.new_call_id();
        let agent_tag = self.new_tag();
        let display = invite.from().ok().and_then(|f| f.display);
        let local_from = agent_leg::local_from(display, calling.as_deref(), &self.config.advertised);
        let max_forwards = invite.max_forwards().ok().flatten().unwrap_or(70).saturating_sub(1);
        // The endpoint's transport, but TCP for an INVITE too large for UDP (§18.1.1): the
        // largest context and metadata make a 12 KB INVITE, nine IP fragments on UDP.
        let mut transport = target.transport;
        let (agent_invite, branch) = loop {
            let (via, branch) = self.new_via(transport);
            let agent_invite = agent_leg::agent_invite(&AgentInvite {
                carrier_invite: invite,
                target: &target,
                via: &via,
                from: &local_from,
                local_tag: &agent_tag,
                call_id: &agent_call_id,
                contact: self.contact(transport),
                max_forwards,
                called: &called,
                calling: calling.as_deref().unwrap_or(""),
            });
            if transport == Transport::Udp && agent_invite.to_bytes().len() > agent_leg::UDP_MAX_REQUEST {
                transport = Transport::Tcp;
                continue;
            }
            break (agent_invite, branch);
        };
        let agent = Leg {
            call_id: agent_call_id,
            local_tag: agent_tag,
            remote_tag: None,
            local_uri: local_from,
            remote_uri: agent_leg::agent_uri_value(&target),
            remote_target: agent_invite.share(agent_invite.request_uri().unwrap_or_default()),
            route_set: Vec::new(),
            local_cseq: 1,
            peer: Peer {
                addr: target.destination,
                transport,
                connection: None,
            },
            pending_reinvite: None,
        };
        tracing::debug!(
            agent_call_id = %String::from_utf8_lossy(&agent.call_id),
            route = target.kind.label(),
            agent = %target.agent_id,
            agent_version = target.agent_version,
            org = %target.org_id,
            "call routed"
        );
        let target = *target;
        Placement {
            leg: agent,
            invite: agent_invite,
            branch,
            route: target.kind,
            called: Some(called),
            caller: calling,
            target: RouteFacts {
                org_id: target.org_id,
                trunk_id: target.trunk_id,
                agent_id: target.agent_id,
                agent_version_id: target.agent_version_id,
            },
            outbound: None,
        }
    }

    /// Checks before any routing work: limits, loops, session interval.
    pub(super) fn admit(&self, invite: &Message) -> Result<(), CallError> {
        // RFC 3261 §8.2.2.2: a new INVITE (another branch) of a call we already bridge is a
        // merged request, answered 482; it must not become a second call on one Call-ID.
        if invite.call_id().is_some_and(|id| self.calls.find(id).is_some()) {
            return Err(CallError::MergedRequest);
        }
        if self.draining {
            return Err(CallError::Draining);
        }
        if self.at_call_cap() {
            return Err(CallError::TooManyCalls);
        }
        if invite.max_forwards().ok().flatten() == Some(0) {
            return Err(CallError::TooManyHops);
        }
        // Our own Via in the request: it went out from us and came back (RFC 3261 §16.3).
        if invite.headers(HeaderName::Via).any(|v| self.is_own_via(v)) {
            return Err(CallError::Loop);
        }
        if self.below_min_se(invite) {
            return Err(CallError::SessionIntervalTooSmall);
        }
        Ok(())
    }

    /// A final failure to an INVITE that never became a call (`source`: where it came
    /// from; `carrier_id`: whose carrier, as the gate found it).
    pub(super) fn refuse(
        &mut self,
        now: Instant,
        server: TxId,
        invite: &Message,
        error: &CallError,
        (source, direction): (std::net::SocketAddr, Direction),
        arrival: Arrival,
    ) {
        let (called, caller) = numbers_of(invite, &arrival.country);
        let unplaced = Unplaced {
            source,
            direction,
            ended_by: EndedBy::Switchboard,
            started: now,
            called,
            caller,
            carrier_id: arrival.carrier,
        };
        self.refuse_unplaced(now, server, invite, error, unplaced);
    }

    /// The same, for a call that waited (for its route) and may have been ended by its caller.
    pub(super) fn refuse_unplaced(
        &mut self,
        now: Instant,
        server: TxId,
        invite: &Message,
        error: &CallError,
        unplaced: Unplaced,
    ) {
        let answer = crate::status::call(error, self.config.statuses());
        let response = self.failure_response(invite, &answer, None);
        self.respond(now, server, &response);
        let direction = unplaced.direction;
        self.out.report(CallEvent::Routed { route: None, direction });
        self.out.report(CallEvent::Ended {
            call_id: Bytes::copy_from_slice(invite.call_id().unwrap_or_default()),
            livekit_call_id: None,
            outcome: error.outcome(),
            status: answer.status,
            reason: answer.reason.unwrap_or(answer.phrase),
            route: None,
            ended_by: unplaced.ended_by,
            direction,
            facts: Box::new(CallFacts {
                source: unplaced.source,
                called: unplaced.called,
                caller: unplaced.caller,
                carrier_id: unplaced.carrier_id,
                target: None,
                started: unplaced.started,
                first_provisional: None,
                answered: None,
            }),
        });
    }

    pub(super) fn failure_response(
        &mut self,
        invite: &Message,
        answer: &crate::status::Answer,
        to_tag: Option<Bytes>,
    ) -> Message {
        let tag = to_tag.unwrap_or_else(|| self.new_tag());
        answer.respond(invite).to_tag(tag).build()
    }
}

/// The dialed and calling numbers of an INVITE refused before its facts were worked out (or
/// of LiveKit's outbound INVITE, whose router reads the number as written), national ones
/// read in `country`.
pub(super) fn numbers_of(invite: &Message, country: &str) -> (Option<String>, Option<String>) {
    (dialed_number(invite, country), calling_number(invite, country))
}
