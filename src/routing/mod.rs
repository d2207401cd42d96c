//! Routing: the dialed number of a new call, in, the agent that must answer (or the final
//! response the caller gets), out. Pure: it reads the directory snapshot and never waits;
//! it reads no clock (the wall clock comes in with the request) and resolves no host name
//! (a [`HostLookup`] the shell fills off the call path answers from memory).
//!
//! The decision tree is DESIGN.md's: an org's enabled routing workflow first; when it
//! decides nothing, fails or picks an agent that cannot answer, the config's fallback agent;
//! then the number's own inbound agent version (also without an enabled config); else a
//! clear refusal whose `Reason` says which of these came to nothing.

use std::net::SocketAddr;

mod directory_router;
pub mod dry_run;
mod host_lookup;
mod livekit_host;
pub mod outbound;
mod query;
mod static_table;
pub mod workflows;

#[cfg(test)]
mod workflow_tests;

pub use directory_router::DirectoryRouter;
#[cfg(test)]
pub use host_lookup::Names;
pub(crate) use host_lookup::Reach;
pub use host_lookup::{HostLookup, HostName, Literal};
pub use livekit_host::{BadLivekitHost, LivekitHost};
pub use outbound::{OutboundDecision, OutboundQuery, OutboundRefusal, OutboundRequest, OutboundRouter};
pub use query::{Query, RouteQuery, Routed, Routers};
pub use static_table::{RoutingConfig, StaticTable, TableError};
pub use workflows::{Workflows, ANONYMOUS_CALLER};

use bytes::Bytes;

/// What routing is asked: the facts of one new inbound call.
#[derive(Debug, Clone)]
pub struct RouteRequest<'a> {
    /// The dialed number, normalised to E.164.
    pub called: &'a str,
    /// The caller's number as sent (From / P-Asserted-Identity user part).
    pub caller: &'a str,
    pub caller_name: Option<&'a str>,
    pub source: SocketAddr,
    pub call_id: &'a [u8],
    /// The INVITE itself, for a workflow's `header.<Name>` keys.
    pub invite: Option<&'a crate::sip::Message>,
    /// The wall clock a workflow sees (its `timestamp` and `time.*` keys): read by the
    /// shell when it hands the call to routing, which reads no clock itself.
    pub now: std::time::SystemTime,
}

/// How a route was decided; travels to the agent in `X-Switchboard-Route` and into metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// The number's own inbound agent version: no enabled routing config, or the config's
    /// workflow and fallback agent both came to nothing.
    Static,
    /// The agent the org's workflow selected.
    Workflow,
    /// The routing config's fallback agent, after the workflow decided nothing or failed.
    Fallback,
}

impl RouteKind {
    pub fn label(self) -> &'static str {
        match self {
            RouteKind::Static => "static",
            RouteKind::Workflow => "workflow",
            RouteKind::Fallback => "fallback",
        }
    }
}

/// The agent that answers, and where its leg goes.
#[derive(Debug, Clone)]
pub struct AgentTarget {
    /// The agent's UUID: the user part of the agent leg's request-URI.
    pub agent_id: String,
    pub agent_version: u32,
    pub agent_version_id: String,
    pub org_id: String,
    pub trunk_id: String,
    /// Host (and port) of the org's LiveKit SIP endpoint, as written in the request-URI.
    pub livekit_host: String,
    /// Where the agent leg is sent.
    pub destination: SocketAddr,
    /// How: the endpoint's `;transport=` (UDP unless it names TCP or TLS). A UDP agent
    /// INVITE too large for a datagram goes over TCP anyway (RFC 3261 §18.1.1).
    pub transport: crate::transport::Transport,
    pub kind: RouteKind,
    /// Extra `X-` headers for the agent leg (workflow context and metadata).
    pub headers: Vec<(String, Bytes)>,
}

/// Why a call gets no agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// We do not host the number.
    UnknownNumber,
    /// The request names no phone number we could look up (RFC 3261 §21.4.22: the
    /// Request-URI is incomplete).
    AddressIncomplete,
    /// We host it, but no agent answers it.
    NoAgent,
    /// The org's workflow rejected the call with this status.
    Rejected { status: u16 },
    /// The workflow gave no agent (`miss` says how), the org set no fallback agent and the
    /// number has no inbound agent of its own.
    NoFallback { miss: Miss },
    /// The org's LiveKit host could not be resolved to an address.
    NoDestination,
    /// The org has as many calls being routed as its share of the routing workers allows
    /// (a slow workflow must not hold every worker): refused at once, to be retried.
    Busy,
}

/// How a routing workflow came to no agent; the 480's `Reason` says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// `route` returned 0: no decision.
    NoDecision,
    /// The run failed (trap, timeout, fuel, memory, contract), or the module is not loaded.
    Failed,
    /// It selected an agent that is not the org's, or a version that is not published.
    UnknownAgent,
}

impl Refusal {
    /// A low-cardinality label for metrics (the answer each gets: `src/status.rs`).
    pub fn label(&self) -> &'static str {
        match self {
            Refusal::UnknownNumber => "unknown_number",
            Refusal::AddressIncomplete => "address_incomplete",
            Refusal::NoAgent => "no_agent",
            Refusal::Rejected { .. } => "rejected",
            Refusal::NoFallback { .. } => "no_fallback",
            Refusal::NoDestination => "no_destination",
            Refusal::Busy => "busy",
        }
    }
}

/// A routing decision.
#[derive(Debug, Clone)]
pub enum Decision {
    Agent(Box<AgentTarget>),
    Refuse(Refusal),
}

/// Anything that can decide routes: the directory-backed router in production, a table in
/// tests.
pub trait Router: Send + Sync {
    fn route(&self, request: &RouteRequest<'_>) -> Decision;

    /// The decision when it is cheap and certain now: a static route, or a directory number
    /// whose org runs no workflow, to a host whose address is already known. It never runs
    /// a workflow and never waits, so the shell may call it on the SIP thread; `None` sends
    /// the call to a routing worker ([`Router::route`]).
    fn quick(&self, _request: &RouteRequest<'_>) -> Option<Decision> {
        None
    }

    /// The org a dialed number belongs to, when the router knows it: the shell counts calls
    /// being routed per org against its share of the workers. A cheap lookup, never a run.
    fn org_of(&self, _called: &str) -> Option<String> {
        None
    }
}
