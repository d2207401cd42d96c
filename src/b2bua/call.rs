//! One call: the carrier leg, the agent leg, and what the call is waiting for. A leg holds
//! exactly the dialog state RFC 3261 §12 needs to send requests in it; a call holds the
//! messages it still needs only while it still needs them (dropped once answered).
//!
//! The legs are named for an inbound call. An outbound call has the same shape with the
//! parties the other way round: `carrier` / [`Side::Carrier`] is always the leg we answer
//! (the UAS side: the carrier inbound, LiveKit outbound) and `agent` / [`Side::Agent`] the
//! leg we place (the UAC side: LiveKit inbound, the carrier outbound). [`Direction`] says
//! which it is; events and metrics name parties, not legs.

use std::time::Instant;

use bytes::Bytes;

use super::Peer;
use crate::routing::RouteKind;
use crate::sip::Message;
use crate::transaction::TxId;

/// Identifies a call in the B2BUA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallKey(pub u64);

/// Which leg: `Carrier` is the one we answer (UAS), `Agent` the one we place (UAC),
/// whatever the direction (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Carrier,
    Agent,
}

/// Which way a call goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Carrier -> switchboard -> agent.
    Inbound,
    /// Agent -> switchboard -> carrier.
    Outbound,
}

impl Direction {
    pub fn label(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Carrier => Side::Agent,
            Side::Agent => Side::Carrier,
        }
    }
}

/// One side's dialog (RFC 3261 §12.1).
#[derive(Debug)]
pub struct Leg {
    pub call_id: Bytes,
    pub local_tag: Bytes,
    pub remote_tag: Option<Bytes>,
    /// Our From/To value on this leg, without the tag.
    pub local_uri: Bytes,
    /// The peer's From/To value, without the tag.
    pub remote_uri: Bytes,
    /// Where in-dialog requests are addressed (the peer's Contact).
    pub remote_target: Bytes,
    pub route_set: Vec<Bytes>,
    pub local_cseq: u32,
    /// Where this leg's peer is reached (and the connection it used).
    pub peer: Peer,
    /// The re-INVITE we relayed onto this leg, until its 2xx is ACKed end to end.
    pub pending_reinvite: Option<Box<PendingReinvite>>,
}

/// A re-INVITE relayed onto a leg. The answering UA resends its 2xx until it sees an ACK
/// (RFC 3261 §13.3.1.4); each resend is passed on to the requester as our 2xx again until
/// the requester ACKs, and answered with our ACK again after that. So loss on either leg is
/// repaired by the UA that owns the retransmission, with no timer of ours.
#[derive(Debug)]
pub struct PendingReinvite {
    /// The CSeq of our re-INVITE on this leg (the ACK repeats it, RFC 3261 §13.2.2.4).
    pub cseq: u32,
    /// Our relayed 2xx to the requester on the other leg, and where it goes.
    pub ok: Option<(Bytes, Peer)>,
    /// Our ACK on this leg, once the requester has ACKed.
    pub ack: Option<Bytes>,
}

/// Where the call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The agent leg is being set up; the caller hears ringing.
    Ringing,
    /// The agent answered; our 2xx to the carrier awaits its ACK.
    Answered,
    /// Both legs confirmed.
    Confirmed,
}

/// Timers a call runs (beside its transactions').
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CallTimer {
    /// The router has not decided: the caller gets 503 (see `awaiting_route.rs`).
    Route,
    /// No response at all from the agent: it is unreachable.
    AgentResponse,
    /// Nobody answered.
    Ring,
    /// Resend our 2xx to the carrier until its ACK (RFC 3261 §13.3.1.4).
    Retransmit2xx,
    /// RFC 4028: nobody refreshed the session.
    SessionExpiry,
    /// The call-duration cap.
    MaxDuration,
    /// RFC 3261 §9.1: a cancelled agent leg that never answered is given up 64*T1 later.
    CancelGrace,
    /// The agent can no longer retransmit its 2xx (64*T1 after our ACK): forget the ACK.
    ForgetAck,
}

/// What only an outbound call needs: the trunk it counts against, and the credentials for
/// the carrier's challenge with how far answering them has gone.
#[derive(Debug)]
pub struct OutboundCall {
    pub trunk_id: Box<str>,
    pub credentials: Option<crate::routing::outbound::Credentials>,
    /// Challenges answered so far: 401 (`WWW-Authenticate`), 407 (`Proxy-Authenticate`).
    pub answered: [bool; 2],
    /// A `stale=true` challenge was answered once more (RFC 2617 §3.2.1).
    pub stale_answered: bool,
}

/// A call in progress.
#[derive(Debug)]
pub struct Call {
    pub phase: Phase,
    pub direction: Direction,
    /// The CSeq of our (latest) INVITE on the agent leg: its ACK and RAck repeat it.
    pub invite_cseq: u32,
    pub carrier: Leg,
    pub agent: Leg,
    pub carrier_invite_tx: TxId,
    /// The carrier's INVITE, kept while ringing to answer it.
    pub carrier_invite: Option<Box<Message>>,
    /// Our INVITE to the agent, kept while ringing to CANCEL or ACK it.
    pub agent_invite: Option<Box<Message>>,
    pub agent_invite_tx: Option<TxId>,
    pub agent_responded: bool,
    pub cancel_pending: bool,
    /// Set when we gave up on the leg we placed before it answered anything: the caller
    /// already has its final answer and this is the call's record, whatever that leg
    /// does next (a late provisional is CANCELled, a late 2xx ACKed and BYEd).
    pub verdict: Option<Verdict>,
    /// Our 2xx to the carrier and its retransmission interval, until the ACK.
    pub ok_to_carrier: Option<(Bytes, std::time::Duration)>,
    /// Our ACK to the agent's 2xx, resent when the 2xx is.
    pub agent_ack: Option<Bytes>,
    pub session_expires: Option<u32>,
    pub session_deadline: Option<Instant>,
    pub timers: Vec<(Instant, CallTimer)>,
    pub route: RouteKind,
    /// Set on outbound calls.
    pub outbound: Option<Box<OutboundCall>>,
    /// Who called whom, the agent, and when the call started, first rang and was answered:
    /// the call's own times, and its record.
    pub facts: Box<CallFacts>,
}

impl Call {
    /// A call whose INVITE on the leg we place is about to go out.
    pub fn ringing(
        direction: Direction,
        carrier: Leg,
        agent: Leg,
        server: TxId,
        invite: Message,
        route: RouteKind,
        facts: Box<CallFacts>,
    ) -> Call {
        let session_expires = invite
            .header(crate::sip::HeaderName::SessionExpires)
            .and_then(super::session_timer::delta_seconds);
        Call {
            phase: Phase::Ringing,
            direction,
            invite_cseq: agent.local_cseq,
            carrier,
            agent,
            carrier_invite_tx: server,
            carrier_invite: Some(Box::new(invite)),
            agent_invite: None,
            agent_invite_tx: None,
            agent_responded: false,
            cancel_pending: false,
            verdict: None,
            ok_to_carrier: None,
            agent_ack: None,
            session_expires,
            session_deadline: None,
            timers: Vec::new(),
            route,
            outbound: None,
            facts,
        }
    }

    /// The record decided when we gave up on the leg we placed, else the one given.
    pub fn verdict_or(&self, outcome: Outcome, status: u16, ended_by: EndedBy) -> Verdict {
        self.verdict.unwrap_or(Verdict {
            outcome,
            status,
            ended_by,
        })
    }

    pub fn leg(&self, side: Side) -> &Leg {
        match side {
            Side::Carrier => &self.carrier,
            Side::Agent => &self.agent,
        }
    }

    pub fn leg_mut(&mut self, side: Side) -> &mut Leg {
        match side {
            Side::Carrier => &mut self.carrier,
            Side::Agent => &mut self.agent,
        }
    }
}

/// How a call ended, decided before the call could be forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: Outcome,
    pub status: u16,
    pub ended_by: EndedBy,
}

/// How a call ended, for metrics and call records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Answered,
    Busy,
    NoAnswer,
    Failed,
    Canceled,
    UnknownNumber,
    NoAgent,
    Rejected,
    /// An outbound call refused by policy: caller ID, destination, media, authorisation.
    Denied,
    /// An outbound call refused by its trunk's rate or concurrency limit.
    Throttled,
}

impl EndedBy {
    pub fn label(self) -> &'static str {
        match self {
            EndedBy::Caller => "caller",
            EndedBy::Agent => "agent",
            EndedBy::Switchboard => "switchboard",
        }
    }
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Busy => "busy",
            Outcome::NoAnswer => "no_answer",
            Outcome::Failed => "failed",
            Outcome::Canceled => "canceled",
            Outcome::UnknownNumber => "unknown_number",
            Outcome::NoAgent => "no_agent",
            Outcome::Rejected => "rejected",
            Outcome::Denied => "denied",
            Outcome::Throttled => "throttled",
        }
    }
}

/// Who ended a call, by party whatever the direction: `Caller` is the phone side (the
/// person called, on an outbound call), `Agent` the LiveKit side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    Caller,
    Agent,
    Switchboard,
}

impl EndedBy {
    /// Who is on `side` of a call going `direction`: the UAS side is the caller inbound and
    /// the agent outbound.
    pub fn party(side: Side, direction: Direction) -> EndedBy {
        match (side, direction) {
            (Side::Carrier, Direction::Inbound) | (Side::Agent, Direction::Outbound) => EndedBy::Caller,
            (Side::Agent, Direction::Inbound) | (Side::Carrier, Direction::Outbound) => EndedBy::Agent,
        }
    }
}

/// Who a routed call went to, for call records.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteFacts {
    pub org_id: String,
    pub trunk_id: String,
    pub agent_id: String,
    pub agent_version_id: String,
}

/// What a call's record needs besides how it ended: where the INVITE came from, who called
/// whom, which agent was chosen, and when it started, first rang and was answered. The
/// call keeps these and hands them over in its `Ended` event, so the shell needs no state
/// of its own per call.
#[derive(Debug, Clone, PartialEq)]
pub struct CallFacts {
    /// Where the INVITE came from (attributes refused calls to a trunk).
    pub source: std::net::SocketAddr,
    pub called: Option<String>,
    pub caller: Option<String>,
    /// The carrier of an inbound call as the gate identified it (`None` for outbound calls).
    pub carrier_id: Option<CarrierId>,
    /// Unset when the call was refused before an agent was chosen.
    pub target: Option<RouteFacts>,
    pub started: Instant,
    /// The first provisional relayed to the caller.
    pub first_provisional: Option<Instant>,
    pub answered: Option<Instant>,
}

/// Whose carrier a new inbound call came from, as the gate found it before the core saw the
/// call: the org, and the trunk unless several of that org's trunks share the source and the
/// number is none of theirs. The call record takes it as it is (no second look-up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarrierId {
    pub org_id: String,
    pub trunk_id: Option<String>,
}

/// What the B2BUA reports about calls, each event saying which way the call goes. `Ended`
/// carries the call's record: its carrier-leg Call-ID (the Call-ID of the leg we answer:
/// LiveKit's on an outbound call) and its facts; the others only feed metrics. Outbound
/// calls report `route: Some(Static)` (the caller ID's trunk decides, no workflow runs),
/// and their `called` / `caller` are the dialled number and the caller ID.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    /// A call reached the agent leg (or was refused before it).
    Routed {
        route: Option<RouteKind>,
        direction: Direction,
    },
    /// First provisional relayed to the caller, after this long.
    Ringing {
        after: std::time::Duration,
        direction: Direction,
    },
    Answered {
        after: std::time::Duration,
        direction: Direction,
    },
    Ended {
        call_id: Bytes,
        /// The Call-ID on the LiveKit side, as LiveKit shows it (`sip.callID`): our agent
        /// leg's on an inbound call, `call_id` itself on an outbound one; unset when no
        /// agent leg was placed.
        livekit_call_id: Option<Bytes>,
        outcome: Outcome,
        status: u16,
        /// Why, in words (the `Reason` text we sent, or the status's phrase).
        reason: &'static str,
        route: Option<RouteKind>,
        ended_by: EndedBy,
        direction: Direction,
        facts: Box<CallFacts>,
    },
}

impl CallEvent {
    pub fn direction(&self) -> Direction {
        match self {
            CallEvent::Routed { direction, .. }
            | CallEvent::Ringing { direction, .. }
            | CallEvent::Answered { direction, .. }
            | CallEvent::Ended { direction, .. } => *direction,
        }
    }
}
