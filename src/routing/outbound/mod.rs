//! Outbound routing: an agent on LiveKit asks to call a number; this decides whether it may,
//! with which caller ID, and through which trunk to which carrier. Pure like the inbound
//! router: it reads the directory snapshot and the `[outbound]` settings and never waits
//! (a carrier host name is resolved once and cached, as the inbound LiveKit host is).
//!
//! The rules, in the order they are applied (each refusal names its own status and
//! `Reason` text, [`OutboundRefusal::status`]):
//! 1. The shared secret, when one is configured, must be in `X-Switchboard-Secret`.
//! 2. The calling agent version is named in `X-Switchboard-Agent-Version-Id` (the header the
//!    inbound agent leg carries, so an agent echoes what it was given); it must be a
//!    published version we know. The agent is the version's agent: no second header can
//!    disagree with it.
//! 3. Caller ID: the P-Asserted-Identity number, else the From number. It must be a number
//!    of the agent's own org whose `outbound_agent_version_id` is the calling version, or
//!    one marked `outbound_shareable`. With no caller ID asked for, the one number whose
//!    outbound slot holds the version is used; none, or several, is a refusal that says so.
//! 4. The dialled number is normalised to E.164 (numbers without `+` take the caller ID's
//!    country code), then checked against the org's deny list (premium-rate prefixes by
//!    default) and the international rule: a destination outside the caller ID's country
//!    (NANP countries other than the US and Canada count as their own, `country.rs`) is
//!    refused unless the org allows it, by `allow_international` or an allowed prefix.
//! 5. The caller ID number's trunk carries the call: a BYOC trunk to its `outbound_config`
//!    (address, transport, credentials, media encryption), a managed trunk to the
//!    configured managed-carrier termination host with the managed account's credentials.
//!    The trunk's call-rate and concurrency limits travel with the decision; the B2BUA
//!    enforces them, since only it sees calls start and end.
//!
//! It refuses to keep call state or count calls (that is the B2BUA's), and to build SIP.

mod country;
mod destinations;
mod directory;
mod index;
mod query;
mod settings;
mod sources;

use std::net::SocketAddr;

pub use country::region;
pub use destinations::DestinationPolicy;
pub use directory::DirectoryOutboundRouter;
pub use query::OutboundQuery;
pub use settings::{ManagedAccount, OrgOutbound, OutboundSettings, TrunkLimitsConfig};
pub use sources::SourceAcl;

use crate::directory::model::{MediaEncryption, Secret};
use crate::transport::Transport;

/// What outbound routing is asked: the facts of one new call from an agent.
#[derive(Debug, Clone)]
pub struct OutboundRequest<'a> {
    /// `X-Switchboard-Agent-Version-Id`: the calling agent version.
    pub agent_version_id: Option<&'a str>,
    /// The caller ID asked for (P-Asserted-Identity, else From user), as written.
    pub caller_id: Option<&'a str>,
    /// The number dialled (request-URI user, else To user), as written.
    pub dialed: &'a str,
    /// `X-Switchboard-Secret`, when the request carries one.
    pub secret: Option<&'a [u8]>,
    pub source: SocketAddr,
    pub call_id: &'a [u8],
    /// `[routing] default_country`: the country of a number written without `+`.
    pub country: &'a str,
}

/// Credentials for the carrier's digest challenge (RFC 3261 §22.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: Secret,
}

/// A trunk's outbound limits, as configured (the B2BUA counts against them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrunkLimits {
    /// New calls per second, sustained.
    pub calls_per_second: f64,
    /// Calls that may start at once after a quiet spell (the token bucket's size).
    pub burst: u32,
    /// Calls up at once.
    pub max_concurrent: u32,
}

/// Where an allowed outbound call goes, and as whom.
#[derive(Debug, Clone)]
pub struct CarrierTarget {
    pub org_id: String,
    pub trunk_id: String,
    /// The caller ID number's record id.
    pub number_id: String,
    pub agent_id: String,
    pub agent_version_id: String,
    /// The caller ID, E.164.
    pub caller_id: String,
    /// The dialled number, E.164.
    pub dialed: String,
    /// `host[:port]` of the carrier as configured: the request-URI's host part.
    pub host: String,
    /// Where the carrier leg is sent.
    pub destination: SocketAddr,
    pub transport: Transport,
    /// Answer the carrier's challenge with these (none: a challenge fails the call).
    pub credentials: Option<Credentials>,
    pub media_encryption: MediaEncryption,
    /// A platform-managed trunk (the managed carrier's termination host).
    pub managed: bool,
    pub limits: TrunkLimits,
}

/// Why an agent's call is not placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundRefusal {
    /// The shared secret is configured and missing or wrong.
    NotAuthorised,
    /// No `X-Switchboard-Agent-Version-Id`.
    NoAgentVersion,
    /// The version is unknown or not published.
    UnknownAgentVersion,
    /// The caller ID is not a number of the agent's org.
    CallerIdNotHosted,
    /// The caller ID's outbound slot holds another version and it is not shareable.
    CallerIdNotAllowed,
    /// No caller ID asked for, and no number's outbound slot holds the version.
    NoCallerId,
    /// No caller ID asked for, and several numbers' outbound slots hold the version.
    AmbiguousCallerId,
    /// The dialled number is not a phone number.
    InvalidDestination,
    /// The dialled number matches the org's deny list.
    DeniedDestination,
    /// The dialled number is outside the caller ID's country and the org does not allow it.
    InternationalDenied,
    /// The caller ID's trunk cannot place calls (no outbound config, no managed host).
    NoOutboundTrunk,
    /// The carrier's address does not resolve.
    NoDestination,
    /// This router does not place outbound calls.
    NotConfigured,
}

impl OutboundRefusal {
    /// A low-cardinality label for metrics (the answer each gets: `src/status.rs`).
    pub fn label(&self) -> &'static str {
        match self {
            OutboundRefusal::NotAuthorised => "not_authorised",
            OutboundRefusal::NoAgentVersion => "no_agent_version",
            OutboundRefusal::UnknownAgentVersion => "unknown_agent_version",
            OutboundRefusal::CallerIdNotHosted => "caller_id_not_hosted",
            OutboundRefusal::CallerIdNotAllowed => "caller_id_not_allowed",
            OutboundRefusal::NoCallerId => "no_caller_id",
            OutboundRefusal::AmbiguousCallerId => "ambiguous_caller_id",
            OutboundRefusal::InvalidDestination => "invalid_destination",
            OutboundRefusal::DeniedDestination => "denied_destination",
            OutboundRefusal::InternationalDenied => "international_denied",
            OutboundRefusal::NoOutboundTrunk => "no_outbound_trunk",
            OutboundRefusal::NoDestination => "no_destination",
            OutboundRefusal::NotConfigured => "not_configured",
        }
    }
}

/// An outbound routing decision.
#[derive(Debug, Clone)]
pub enum OutboundDecision {
    Carrier(Box<CarrierTarget>),
    Refuse(OutboundRefusal),
}

/// Anything that can decide outbound calls: the directory-backed router in production, a
/// table in tests.
pub trait OutboundRouter: Send + Sync {
    fn route_outbound(&self, request: &OutboundRequest<'_>) -> OutboundDecision;

    /// The decision when everything it needs is at hand (the carrier's address known):
    /// never waits, so the shell may call it on the SIP thread; `None` sends the call to a
    /// routing worker ([`OutboundRouter::route_outbound`]).
    fn quick_outbound(&self, _request: &OutboundRequest<'_>) -> Option<OutboundDecision> {
        None
    }

    /// The org an agent version belongs to, when the router knows it: the shell counts
    /// calls being routed per org against its share of the workers. A cheap lookup.
    fn org_of(&self, _agent_version_id: &str) -> Option<String> {
        None
    }
}

/// Places no outbound calls: every request is refused `NotConfigured`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoOutbound;

impl OutboundRouter for NoOutbound {
    fn route_outbound(&self, _: &OutboundRequest<'_>) -> OutboundDecision {
        OutboundDecision::Refuse(OutboundRefusal::NotConfigured)
    }

    fn quick_outbound(&self, request: &OutboundRequest<'_>) -> Option<OutboundDecision> {
        Some(self.route_outbound(request))
    }
}
