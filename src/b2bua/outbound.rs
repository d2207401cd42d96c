//! An outbound call's own part of a new call (see `new_call.rs`): an agent's INVITE from
//! LiveKit is routed by the outbound rules, held against its trunk's media policy and
//! limits, and bridged to a new carrier leg. From there on it is an ordinary call (`inbound.rs` and `dialog.rs` handle its
//! answers, CANCEL, BYE and re-INVITEs): the leg we answer faces LiveKit, the leg we place
//! faces the carrier.
//!
//! What the agent's INVITE must carry (documented for LiveKit trunk configuration):
//! `X-Switchboard-Agent-Version-Id` (the calling agent version; the inbound agent leg
//! carries the same header), the number to call in the request-URI user part (else the To
//! user), the caller ID in P-Asserted-Identity or the From user (or no number at all, to
//! use the one number assigned to the version), and `X-Switchboard-Secret` when
//! `[outbound] shared_secret` is set.
//!
//! Checks, in order, each answered with its own status and `Reason` before any carrier is
//! contacted: admission (as inbound: loops, Max-Forwards, draining, call cap, Min-SE), the
//! outbound rules (`routing::outbound`, run by the shell's routing workers while the call
//! waits in `awaiting_route.rs`), the trunk's media encryption against the offer (488), the
//! trunk's concurrency and call-rate limits (503 with Retry-After). Only then does the
//! call take its trunk slot and the carrier INVITE go out.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::agent_leg::calling_number;
use super::awaiting_route::Routing;
use super::call::{Leg, OutboundCall, RouteFacts};
use super::carrier_leg::{self, CarrierInvite};
use super::media_policy;
use super::new_call::{Placement, ToRoute};
use super::trunk_limits::LimitError;
use super::{B2bua, CallError, Peer};
use crate::routing::outbound::{CarrierTarget, OutboundQuery};
use crate::routing::{OutboundRefusal, Query, RouteKind};
use crate::sip::{Message, Uri};

/// The header naming the calling agent version.
pub const AGENT_VERSION_HEADER: &str = "X-Switchboard-Agent-Version-Id";
/// The header carrying the shared secret, when one is configured.
pub const SECRET_HEADER: &str = "X-Switchboard-Secret";

impl B2bua {
    /// What the outbound router needs to route an agent's call: the number to call (as
    /// written), the caller ID, the calling agent version and the shared secret.
    /// A caller ID without `+` is national in `country`, which the router gets too.
    pub(super) fn outbound_query(
        &self,
        invite: &Message,
        from: Peer,
        country: &Arc<str>,
    ) -> Result<ToRoute, CallError> {
        let dialed = dialed_user(invite).ok_or(CallError::OutboundRefused(OutboundRefusal::InvalidDestination))?;
        let caller_id = calling_number(invite, country);
        let raw = invite.raw();
        let facts = OutboundQuery {
            agent_version_id: header_text(invite, AGENT_VERSION_HEADER).map(str::to_owned),
            caller_id: caller_id.clone(),
            dialed: dialed.clone(),
            secret: invite.header_by_name(SECRET_HEADER).map(|s| raw.slice_ref(s)),
            source: from.addr,
            call_id: raw.slice_ref(invite.call_id().unwrap_or_default()),
            country: country.clone(),
        };
        Ok(ToRoute {
            called: dialed,
            calling: caller_id,
            query: Query::Outbound(Box::new(facts)),
        })
    }

    /// The carrier leg a routed outbound call places, once the trunk's media policy and
    /// limits allow it (the call then holds its trunk slot): its INVITE and its dialog.
    pub(super) fn carrier_placement(
        &mut self,
        now: Instant,
        waiting: &Routing,
        target: Box<CarrierTarget>,
    ) -> Result<Placement, CallError> {
        self.hold_trunk(now, &waiting.invite, &target)?;
        let invite = &waiting.invite;
        tracing::debug!(
            trunk = %target.trunk_id,
            caller_id = %target.caller_id,
            dialed = %target.dialed,
            agent_version = %target.agent_version_id,
            "outbound call routed"
        );
        let transport = target.transport;
        let (via, branch) = self.new_via(transport);
        let call_id = self.new_call_id();
        let local_tag = self.new_tag();
        let host = self.local(transport).sent_by.clone();
        let from_value = carrier_leg::from_value(invite, &target.caller_id, &host);
        let max_forwards = invite.max_forwards().ok().flatten().unwrap_or(70).saturating_sub(1);
        let carrier_invite = carrier_leg::carrier_invite(&CarrierInvite {
            agent_invite: invite,
            target: &target,
            via: &via,
            from: &from_value,
            local_tag: &local_tag,
            call_id: &call_id,
            contact: self.contact(transport),
            host: &host,
            max_forwards,
        });
        let uri = carrier_leg::request_uri(&target);
        let placed = Leg {
            call_id,
            local_tag,
            remote_tag: None,
            local_uri: Bytes::from(from_value),
            remote_uri: Bytes::from(format!("<{uri}>")),
            remote_target: Bytes::from(uri),
            route_set: Vec::new(),
            local_cseq: 1,
            peer: Peer {
                addr: target.destination,
                transport,
                connection: None,
            },
            pending_reinvite: None,
        };
        // The record's facts take what the call no longer needs, moved rather than copied.
        let target = *target;
        Ok(Placement {
            leg: placed,
            invite: carrier_invite,
            branch,
            route: RouteKind::Static,
            called: Some(target.dialed),
            caller: Some(target.caller_id),
            target: RouteFacts {
                org_id: target.org_id,
                trunk_id: target.trunk_id.clone(),
                agent_id: target.agent_id,
                agent_version_id: target.agent_version_id,
            },
            outbound: Some(Box::new(OutboundCall {
                trunk_id: target.trunk_id.into_boxed_str(),
                credentials: target.credentials,
                answered: [false; 2],
                stale_answered: false,
            })),
        })
    }

    /// The checks after the route, before the carrier is called: the trunk's media policy
    /// against the offer, then its limits; on success the call holds its trunk slot.
    fn hold_trunk(&mut self, now: Instant, invite: &Message, target: &CarrierTarget) -> Result<(), CallError> {
        media_policy::check_offer(invite.content_type(), invite.body(), target.media_encryption)
            .map_err(CallError::Media)?;
        self.trunks
            .acquire(now, &target.trunk_id, &target.limits)
            .map_err(|e| match e {
                LimitError::Concurrent => CallError::TrunkBusy,
                LimitError::Rate { retry_after } => {
                    CallError::TrunkRate(retry_after.as_secs_f64().ceil().clamp(1.0, 3600.0) as u32)
                }
            })
    }
}

/// The number dialled, as written: the request-URI's user part, else the To URI's.
fn dialed_user(invite: &Message) -> Option<String> {
    let user = |uri: Uri<'_>| {
        uri.user
            .map(|u| String::from_utf8_lossy(&crate::sip::unescape(u)).into_owned())
    };
    invite
        .request_uri()
        .and_then(|u| Uri::parse(u).ok())
        .and_then(user)
        .or_else(|| invite.to().ok().and_then(|t| user(t.uri)))
}

/// A header's value as trimmed text, if present and UTF-8.
fn header_text<'m>(message: &'m Message, name: &str) -> Option<&'m str> {
    let value = std::str::from_utf8(message.header_by_name(name)?).ok()?.trim();
    (!value.is_empty()).then_some(value)
}
