//! What routing is asked about one new call, owned: the B2BUA hands it to the shell (its
//! `Route` output), the shell runs the router on a worker with it, off the call core's
//! lock, and the decision comes back to the B2BUA. Inbound calls (carrier -> agent) ask
//! the inbound [`Router`]; agents' outbound calls ask the [`OutboundRouter`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

use super::outbound::{OutboundDecision, OutboundQuery, OutboundRouter};
use super::{Decision, RouteRequest, Router};
use crate::sip::Message;

/// One new call to route, either way.
#[derive(Debug, Clone)]
pub enum Query {
    /// A carrier's call to one of our numbers.
    Inbound(Box<RouteQuery>),
    /// An agent's call out through its number's trunk.
    Outbound(Box<OutboundQuery>),
}

/// The decision for a [`Query`], of the same kind.
#[derive(Debug, Clone)]
pub enum Routed {
    Inbound(Decision),
    Outbound(OutboundDecision),
}

impl From<Decision> for Routed {
    fn from(decision: Decision) -> Routed {
        Routed::Inbound(decision)
    }
}

impl From<OutboundDecision> for Routed {
    fn from(decision: OutboundDecision) -> Routed {
        Routed::Outbound(decision)
    }
}

/// Both routers, as the shell's workers run them.
#[derive(Clone)]
pub struct Routers {
    pub inbound: Arc<dyn Router>,
    pub outbound: Arc<dyn OutboundRouter>,
}

impl Routers {
    /// Decide `query` at wall-clock time `now` (what a workflow sees).
    pub fn decide(&self, query: &Query, now: SystemTime) -> Routed {
        match query {
            Query::Inbound(facts) => Routed::Inbound(self.inbound.route(&facts.request(now))),
            Query::Outbound(facts) => Routed::Outbound(self.outbound.route_outbound(&facts.request())),
        }
    }

    /// The decision when it is cheap and certain now ([`Router::quick`],
    /// [`OutboundRouter::quick_outbound`]): never a workflow run, never a wait. `None`: the
    /// call needs a routing worker.
    pub fn quick(&self, query: &Query, now: SystemTime) -> Option<Routed> {
        match query {
            Query::Inbound(facts) => self.inbound.quick(&facts.request(now)).map(Routed::Inbound),
            Query::Outbound(facts) => self.outbound.quick_outbound(&facts.request()).map(Routed::Outbound),
        }
    }

    /// The org whose share of the workers `query` counts against (a cheap lookup).
    pub fn org_of(&self, query: &Query) -> Option<String> {
        match query {
            Query::Inbound(facts) => self.inbound.org_of(&facts.called),
            Query::Outbound(facts) => self.outbound.org_of(facts.agent_version_id.as_deref()?),
        }
    }
}

/// The facts of a new inbound call, learned once at the front door.
#[derive(Debug, Clone)]
pub struct RouteQuery {
    /// The dialed number, normalised to E.164.
    pub called: String,
    /// The caller's number as sent (empty when there is none).
    pub caller: String,
    pub caller_name: Option<String>,
    pub source: SocketAddr,
    pub call_id: Bytes,
    /// The INVITE, for a workflow's `header.<Name>` keys.
    pub invite: Message,
}

impl RouteQuery {
    /// The request a router takes, at wall-clock time `now`.
    pub fn request(&self, now: SystemTime) -> RouteRequest<'_> {
        RouteRequest {
            called: &self.called,
            caller: &self.caller,
            caller_name: self.caller_name.as_deref(),
            source: self.source,
            call_id: &self.call_id,
            invite: Some(&self.invite),
            now,
        }
    }
}
