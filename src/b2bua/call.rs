//! One call: its two legs (`leg.rs`), and its state — what the call is waiting for. A call
//! holds the messages it still needs only while it still needs them (dropped once answered).
//!
//! The legs are named for an inbound call. An outbound call has the same shape with the
//! parties the other way round: `carrier` / [`Side::Caller`] is always the leg we answer
//! (the UAS side: the carrier inbound, LiveKit outbound) and `agent` / [`Side::Callee`] the
//! leg we place (the UAC side: LiveKit inbound, the carrier outbound). [`Direction`] says
//! which it is; events and metrics name parties, not legs.

use std::time::{Duration, Instant};

use bytes::Bytes;

pub use super::leg::{Leg, PendingReinvite, Side};
use crate::routing::RouteKind;
use crate::sip::Message;
use crate::transaction::TxId;

/// Identifies a call in the B2BUA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallKey(pub u64);

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

/// Where the call is. Each state holds only what it needs and is consumed to make the next
/// (rustls' habit), so a call cannot be answered and ringing at once, or keep the caller's
/// INVITE after answering it:
///
/// (`Routing`, before the route names the callee: `awaiting_route.rs`, consumed into) `Trying`
/// -> `Ringing` -> `Answered` -> `Confirmed`, and `Ringing` -> `Cancelling` when the caller
/// gets a final failure while our INVITE on the leg we place is still open.
#[derive(Debug)]
pub enum State {
    /// The caller's INVITE has its 100 Trying; our INVITE on the leg we place is not out yet.
    Trying(Trying),
    /// Our INVITE is out on the leg we place; the caller awaits its final answer.
    Ringing(Ringing),
    /// The caller has its final failure (it CANCELled, the callee refused, or we gave up)
    /// but our INVITE is still open: it is CANCELled as soon as it has had a response.
    Cancelling(Cancelling),
    /// The callee answered; our 2xx to the caller awaits its ACK.
    Answered(Answered),
    /// Both legs confirmed.
    Confirmed(Confirmed),
    /// Only for the instant a transition runs: what [`Call::take_state`] leaves behind.
    Moving,
}

/// The caller's INVITE server transaction, before any final answer (RFC 3261 §17.2.1).
#[derive(Debug)]
pub struct Trying {
    /// The caller's INVITE, kept to answer it.
    pub invite: Box<Message>,
    pub server: TxId,
    /// The caller's Session-Expires (RFC 4028), until the answer settles it.
    pub session_expires: Option<u32>,
}

/// Our INVITE on the leg we place, while it has no final answer.
#[derive(Debug)]
pub struct Invitation {
    /// Kept to CANCEL it, to ACK a non-2xx final, to answer a challenge.
    pub request: Box<Message>,
    pub tx: TxId,
    /// Whether anything came back yet: a CANCEL may only follow a response (RFC 3261 §9.1).
    pub responded: bool,
}

/// The caller waits while the leg we place is set up.
#[derive(Debug)]
pub struct Ringing {
    pub caller: Trying,
    pub placed: Invitation,
}

/// The caller has its answer; the leg we place is being given up.
#[derive(Debug)]
pub struct Cancelling {
    pub placed: Invitation,
    /// Our CANCEL waits for the leg's first response.
    pub cancel_pending: bool,
    /// Set when we gave up on the leg we placed before it answered anything: the caller
    /// already has its final answer and this is the call's record, whatever that leg
    /// does next (a late provisional is CANCELled, a late 2xx ACKed and BYEd).
    pub verdict: Option<Verdict>,
}

/// Our 2xx to the caller is out, resent until its ACK (RFC 3261 §13.3.1.4).
#[derive(Debug)]
pub struct Answered {
    pub ok: Bytes,
    /// The next retransmission interval (T1 doubling up to T2).
    pub interval: Duration,
    pub session: Session,
}

/// Both legs are up.
#[derive(Debug)]
pub struct Confirmed {
    /// Our ACK to the callee's 2xx, resent when the 2xx is, until it can no longer be
    /// (64*T1 after we sent it).
    pub ack: Option<Bytes>,
    pub session: Session,
}

/// The session interval of an answered call (RFC 4028).
#[derive(Debug, Clone, Copy, Default)]
pub struct Session {
    pub expires: Option<u32>,
    /// When the call ends unless refreshed.
    pub deadline: Option<Instant>,
}

impl Trying {
    /// Our INVITE on the leg we place went out.
    pub fn place(self, placed: Invitation) -> Ringing {
        Ringing { caller: self, placed }
    }
}

impl Ringing {
    /// The caller got a final failure; the leg we place is still to be given up.
    pub fn cancel(self) -> (Cancelling, Trying) {
        let cancelling = Cancelling {
            placed: self.placed,
            cancel_pending: false,
            verdict: None,
        };
        (cancelling, self.caller)
    }

    /// The callee answered with `answer`; `ok` is our 2xx relaying it to the caller.
    pub fn answer(self, answer: &Message, ok: Bytes, t1: Duration) -> Answered {
        let expires = answer
            .header(crate::sip::HeaderName::SessionExpires)
            .and_then(super::session_timer::delta_seconds)
            .or(self.caller.session_expires);
        Answered {
            ok,
            interval: t1,
            session: Session {
                expires,
                deadline: None,
            },
        }
    }
}

impl Answered {
    /// The caller ACKed our 2xx, and `ack` is ours to the callee's.
    pub fn confirm(self, ack: Bytes) -> Confirmed {
        Confirmed {
            ack: Some(ack),
            session: self.session,
        }
    }
}

/// Timers a call runs (beside its transactions').
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CallTimer {
    /// The router has not decided: the caller gets 503 (see `awaiting_route.rs`).
    Route,
    /// No response at all from the callee (`agent_response_timeout_secs` inbound,
    /// `carrier_response_timeout_secs` outbound): it is unreachable.
    CalleeResponse,
    /// Nobody answered.
    Ring,
    /// Resend our 2xx to the caller until its ACK (RFC 3261 §13.3.1.4).
    Retransmit2xx,
    /// RFC 4028: nobody refreshed the session.
    SessionExpiry,
    /// The call-duration cap.
    MaxDuration,
    /// RFC 3261 §9.1: a cancelled callee leg that never answered is given up 64*T1 later.
    CancelGrace,
    /// The callee can no longer retransmit its 2xx (64*T1 after our ACK): forget the ACK.
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

/// A call in progress: what every state shares, and the state.
#[derive(Debug)]
pub struct Call {
    pub state: State,
    pub direction: Direction,
    /// The CSeq of our (latest) INVITE on the callee's leg: its ACK and RAck repeat it.
    pub invite_cseq: u32,
    /// The leg we answer.
    pub caller: Leg,
    /// The leg we place.
    pub callee: Leg,
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
        caller: Leg,
        callee: Leg,
        server: TxId,
        invite: Message,
        route: RouteKind,
        facts: Box<CallFacts>,
    ) -> Call {
        let session_expires = invite
            .header(crate::sip::HeaderName::SessionExpires)
            .and_then(super::session_timer::delta_seconds);
        Call {
            state: State::Trying(Trying {
                invite: Box::new(invite),
                server,
                session_expires,
            }),
            direction,
            invite_cseq: callee.local_cseq,
            caller,
            callee,
            timers: Vec::new(),
            route,
            outbound: None,
            facts,
        }
    }

    /// The state, leaving [`State::Moving`] until the next one is put back.
    pub fn take_state(&mut self) -> State {
        std::mem::replace(&mut self.state, State::Moving)
    }

    /// Whether the leg we placed has had no final answer yet (ringing or being cancelled).
    pub fn is_early(&self) -> bool {
        matches!(self.state, State::Trying(_) | State::Ringing(_) | State::Cancelling(_))
    }

    /// Our INVITE on the leg we place, while it has no final answer.
    pub fn invitation(&self) -> Option<&Invitation> {
        match &self.state {
            State::Ringing(r) => Some(&r.placed),
            State::Cancelling(c) => Some(&c.placed),
            _ => None,
        }
    }

    pub fn invitation_mut(&mut self) -> Option<&mut Invitation> {
        match &mut self.state {
            State::Ringing(r) => Some(&mut r.placed),
            State::Cancelling(c) => Some(&mut c.placed),
            _ => None,
        }
    }

    /// The caller's INVITE, while it awaits its final answer.
    pub fn caller_invite(&self) -> Option<&Message> {
        match &self.state {
            State::Trying(t) => Some(&t.invite),
            State::Ringing(r) => Some(&r.caller.invite),
            _ => None,
        }
    }

    /// The session interval, once answered.
    pub fn session_mut(&mut self) -> Option<&mut Session> {
        match &mut self.state {
            State::Answered(a) => Some(&mut a.session),
            State::Confirmed(c) => Some(&mut c.session),
            _ => None,
        }
    }

    /// A refresh (or the answer) named a new Session-Expires, or none (`None`: keep the old).
    pub fn session_refreshed(&mut self, expires: Option<u32>) {
        match &mut self.state {
            State::Trying(caller) | State::Ringing(Ringing { caller, .. }) => {
                caller.session_expires = expires.or(caller.session_expires)
            }
            State::Answered(Answered { session, .. }) | State::Confirmed(Confirmed { session, .. }) => {
                session.expires = expires.or(session.expires)
            }
            State::Cancelling(_) | State::Moving => {}
        }
    }

    /// Ringing -> Cancelling: the caller's INVITE and its transaction, to send the final
    /// failure. None when the caller already has its answer.
    pub fn stop_ringing(&mut self) -> Option<(Box<Message>, TxId)> {
        match self.take_state() {
            State::Ringing(ringing) => {
                let (cancelling, caller) = ringing.cancel();
                self.state = State::Cancelling(cancelling);
                Some((caller.invite, caller.server))
            }
            other => {
                self.state = other;
                None
            }
        }
    }

    /// Decide the call's record now, while the leg we placed is given up (the first
    /// decision stands).
    pub fn decide(&mut self, verdict: Verdict) {
        if let State::Cancelling(c) = &mut self.state {
            c.verdict.get_or_insert(verdict);
        }
    }

    /// The record decided when we gave up on the leg we placed, else the one given.
    pub fn verdict_or(&self, outcome: Outcome, status: u16, ended_by: EndedBy) -> Verdict {
        let decided = match &self.state {
            State::Cancelling(c) => c.verdict,
            _ => None,
        };
        decided.unwrap_or(Verdict {
            outcome,
            status,
            ended_by,
        })
    }

    pub fn leg(&self, side: Side) -> &Leg {
        match side {
            Side::Caller => &self.caller,
            Side::Callee => &self.callee,
        }
    }

    pub fn leg_mut(&mut self, side: Side) -> &mut Leg {
        match side {
            Side::Caller => &mut self.caller,
            Side::Callee => &mut self.callee,
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
            EndedBy::Carrier => "caller",
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

/// Who ended a call, by peer whatever the direction: `Carrier` is the phone side (the
/// person called, on an outbound call; labelled `caller` in records and metrics, its
/// wire name), `Agent` the LiveKit side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    Carrier,
    Agent,
    Switchboard,
}

impl EndedBy {
    /// Who is on `side` of a call going `direction`: the caller is the carrier inbound and
    /// the agent outbound.
    pub fn party(side: Side, direction: Direction) -> EndedBy {
        match (side, direction) {
            (Side::Caller, Direction::Inbound) | (Side::Callee, Direction::Outbound) => EndedBy::Carrier,
            (Side::Callee, Direction::Inbound) | (Side::Caller, Direction::Outbound) => EndedBy::Agent,
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
