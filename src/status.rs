//! The one status table: every refusal and failure of every layer, and the SIP answer it
//! gets — status code, reason phrase, the `Reason` header's text and whether Retry-After
//! goes with it. Each layer names its faults in its own enum (the parser's [`ParseError`],
//! the gate's [`GateRefusal`], the shell's [`Stateless`] answers, routing's [`Refusal`] and
//! [`OutboundRefusal`], the call core's [`CallError`]); none of them spells a status number:
//! they ask here (rustls turns its errors into alerts in one place, we turn ours into
//! answers in one place). Still outside: `sip::validate_request`'s `Rejection`, which
//! carries its status (400, 416, 420) with it.
//!
//! What this file does not decide: where an answer goes (`server/reply.rs`), when a layer
//! refuses (the layer), and statuses a peer chose (a workflow's rejection, a called party's
//! final answer), which are passed through as they are — or, for the server errors and
//! challenges a caller cannot act on, as the configured `failure_status`.

use crate::b2bua::media_policy::MediaError;
use crate::b2bua::CallError;
use crate::gate::GateRefusal;
use crate::routing::{Miss, OutboundRefusal, Refusal};
use crate::server::Stateless;
use crate::sip::{response_for, HeaderName, Message, ParseError, ResponseBuilder};

/// A final answer to a request: its status line and what goes with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// The reason phrase of the status line.
    pub phrase: &'static str,
    /// Text for `Reason: SIP;cause=<status>;text="..."` (RFC 3326), when the answer says why.
    pub reason: Option<&'static str>,
    /// `Retry-After` (RFC 3261 §20.33): how long the peer should wait before trying again.
    pub retry_after: Option<u32>,
    /// `Min-SE` (RFC 4028 §5): the smallest session interval we accept, on a 422.
    pub min_se: Option<u32>,
}

/// What the call core's configuration (`[b2bua]`) chooses for its answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Configured {
    /// For a called side that failed (503 lets carriers fail over).
    pub failure_status: u16,
    /// For a called side that never answered.
    pub no_answer_status: u16,
    /// The Retry-After of a 503 whose fault does not know when it will pass.
    pub retry_after_secs: u32,
    /// Our Min-SE, on a 422.
    pub min_session_expires_secs: u32,
}

impl Answer {
    /// The response to `request`: this status line, then `Reason`, `Retry-After` and
    /// `Min-SE` when the answer has them.
    pub fn respond(&self, request: &Message) -> ResponseBuilder {
        let mut b = response_for(request, self.status, self.phrase);
        if let Some(why) = self.reason {
            b = b.header(HeaderName::Reason, self.reason_header(why));
        }
        if let Some(secs) = self.retry_after {
            b = b.header(HeaderName::RetryAfter, secs.to_string());
        }
        if let Some(secs) = self.min_se {
            b = b.header(HeaderName::MinSe, secs.to_string());
        }
        b
    }

    /// The `Reason` header's value: `SIP;cause=<status>;text="<why>"`.
    pub fn reason_header(&self, why: &str) -> String {
        format!("SIP;cause={};text=\"{why}\"", self.status)
    }

    /// A status with its RFC phrase and nothing else.
    fn plain(status: u16) -> Answer {
        Answer {
            status,
            phrase: phrase(status),
            reason: None,
            retry_after: None,
            min_se: None,
        }
    }
}

/// A request that did not parse (`sip/error.rs`), answered from what can still be read of
/// it (`sip::best_effort_response`): RFC 4475 §3.1.2's statuses; `None` when nothing may be
/// answered.
pub fn parse(error: &ParseError) -> Option<Answer> {
    let (status, phrase) = match error {
        ParseError::BadStatus => return None,
        ParseError::BadVersion => (505, "Version Not Supported"),
        ParseError::TooLarge { .. } => (513, "Message Too Large"),
        ParseError::ContentLengthTooLarge { .. } | ParseError::BadContentLength => {
            (400, "Bad Request (Content-Length)")
        }
        ParseError::BadRequestUri => (400, "Bad Request (Request-URI)"),
        ParseError::HeaderWithoutColon | ParseError::BadHeaderName => (400, "Bad Request (header line)"),
        ParseError::BadHeader { .. } | ParseError::MissingHeader { .. } => (400, "Bad Request (header)"),
        ParseError::TooManyHeaders { .. }
        | ParseError::LineTooLong { .. }
        | ParseError::Incomplete
        | ParseError::BadStartLine => (400, "Bad Request"),
    };
    Some(Answer {
        status,
        phrase,
        ..Answer::plain(status)
    })
}

/// The gate's refusals (`gate/`): answered statelessly, with no `Reason` (a stranger learns
/// nothing it did not send).
pub fn gate(refusal: &GateRefusal) -> Answer {
    match refusal {
        // RFC 3261 §22.2: prove a trunk's password (the offers go with it).
        GateRefusal::Challenge { .. } => Answer::plain(401),
        GateRefusal::RateLimited { retry_after_secs } => Answer {
            retry_after: Some(*retry_after_secs),
            ..Answer::plain(503)
        },
        GateRefusal::Stranger => Answer::plain(403),
    }
}

/// The shell's answers to requests no call takes (`server/sip_handler.rs`).
pub fn stateless(answer: Stateless) -> Answer {
    let (status, phrase) = match answer {
        Stateless::Capabilities => (200, "OK"),
        Stateless::Draining => (503, "Draining"),
        Stateless::TooManyHops => (483, "Too Many Hops"),
        Stateless::NoRoute => (480, "Temporarily Unavailable"),
        Stateless::NoSuchCall => (481, "Call/Transaction Does Not Exist"),
        Stateless::NotAllowed => (405, "Method Not Allowed"),
        Stateless::NotImplemented => (501, "Not Implemented"),
    };
    Answer {
        status,
        phrase,
        reason: matches!(answer, Stateless::NoRoute).then_some("no route"),
        // A draining instance will not come back: 30 s sends callers elsewhere meanwhile.
        retry_after: matches!(answer, Stateless::Draining).then_some(30),
        min_se: None,
    }
}

/// The final response a call's caller gets for `error` (or a request inside a call that
/// fails). Every such answer says why in its `Reason`; every 503 asks for a Retry-After.
pub fn call(error: &CallError, configured: Configured) -> Answer {
    let Configured {
        failure_status,
        no_answer_status,
        ..
    } = configured;
    let (status, why) = match error {
        CallError::Refused(refusal) => routing(refusal),
        CallError::OutboundRefused(refusal) => outbound(refusal),
        CallError::Media(media) => self::media(media),
        CallError::TrunkBusy => (503, "trunk concurrent call limit reached"),
        CallError::TrunkRate(_) => (503, "trunk call rate limit reached"),
        CallError::CarrierTimeout => (failure_status, "carrier did not respond"),
        CallError::CarrierUnreachable => (failure_status, "carrier unreachable"),
        CallError::CarrierRejected(status) => (pass_through(*status, failure_status), "carrier rejected the call"),
        CallError::CarrierAuthFailed => (403, "carrier authentication failed"),
        CallError::AgentTimeout => (failure_status, "agent did not respond"),
        CallError::AgentUnreachable => (failure_status, "agent unreachable"),
        CallError::AgentRejected(status) => (pass_through(*status, failure_status), "agent rejected the call"),
        CallError::NoAnswer => (no_answer_status, "no answer"),
        CallError::AgentGaveUp => (no_answer_status, "agent ended the call before answering"),
        CallError::TooManyCalls => (503, "call limit reached"),
        CallError::Draining => (503, "server draining"),
        CallError::TooManyHops => (483, "too many hops"),
        CallError::Loop => (482, "loop detected"),
        CallError::MergedRequest => (482, "merged request"),
        // RFC 4028 §6: below our Min-SE (which goes with it).
        CallError::SessionIntervalTooSmall => (422, "session interval too small"),
        CallError::Cancelled => (487, "cancelled by caller"),
        CallError::RoutingTimeout => (503, "routing did not decide in time"),
        // RFC 3261 §12.2.2 / §9.2: a request for a dialog or INVITE we do not know.
        CallError::NoSuchDialog => (481, "no such call"),
        // RFC 3261 §14.2: one offer/answer at a time; the sender retries after a pause.
        CallError::RequestPending => (491, "re-INVITE in progress"),
        CallError::ReferRefused => (603, "transfer refused"),
        CallError::RelayTimeout => (408, "the other side did not answer"),
    };
    Answer {
        status,
        phrase: phrase(status),
        reason: Some(why),
        retry_after: match (status, error) {
            (503, CallError::TrunkRate(secs)) => Some(*secs),
            (503, _) => Some(configured.retry_after_secs),
            _ => None,
        },
        min_se: (status == 422).then_some(configured.min_session_expires_secs),
    }
}

/// Why inbound routing gave no agent: the status and the `Reason` text.
pub fn routing(refusal: &Refusal) -> (u16, &'static str) {
    match refusal {
        Refusal::UnknownNumber => (404, "number not hosted"),
        // RFC 3261 §21.4.22: the Request-URI is incomplete.
        Refusal::AddressIncomplete => (484, "the request names no phone number"),
        Refusal::NoAgent => (480, "no agent assigned"),
        Refusal::Rejected { status } => (*status, "rejected by routing workflow"),
        Refusal::NoFallback { miss } => (480, self::miss(*miss)),
        Refusal::NoDestination => (503, "agent endpoint unresolvable"),
        Refusal::Busy => (503, "routing busy for this organization"),
    }
}

/// The `Reason` text of the 480 when a workflow came to no agent and nothing else answers.
fn miss(miss: Miss) -> &'static str {
    match miss {
        Miss::NoDecision => "routing workflow made no decision and no fallback is set",
        Miss::Failed => "routing workflow failed and no fallback is set",
        Miss::UnknownAgent => "routing workflow chose an unknown or unpublished agent and no fallback is set",
    }
}

/// Why an agent's outbound call is not placed: the status and the `Reason` text.
pub fn outbound(refusal: &OutboundRefusal) -> (u16, &'static str) {
    match refusal {
        OutboundRefusal::NotAuthorised => (403, "outbound call not authorised"),
        OutboundRefusal::NoAgentVersion => (403, "no X-Switchboard-Agent-Version-Id"),
        OutboundRefusal::UnknownAgentVersion => (403, "unknown or unpublished agent version"),
        OutboundRefusal::CallerIdNotHosted => (403, "caller ID is not a number of this org"),
        OutboundRefusal::CallerIdNotAllowed => (403, "caller ID is assigned to another agent and not shareable"),
        OutboundRefusal::NoCallerId => (403, "no number is assigned to this agent version for outbound calls"),
        OutboundRefusal::AmbiguousCallerId => (
            403,
            "several numbers are assigned to this agent version: name one as caller ID",
        ),
        // RFC 3261 §21.4.22: the request-URI is not a complete number.
        OutboundRefusal::InvalidDestination => (484, "dialled number is not a valid E.164 number"),
        OutboundRefusal::DeniedDestination => (403, "destination is on the deny list"),
        OutboundRefusal::InternationalDenied => (403, "international destination not allowed"),
        OutboundRefusal::NoOutboundTrunk => (403, "the caller ID's trunk has no outbound configuration"),
        OutboundRefusal::NoDestination => (503, "carrier address unresolvable"),
        OutboundRefusal::NotConfigured => (403, "outbound calls are not configured"),
    }
}

/// RFC 3261 §21.4.26: the session description is not acceptable here.
fn media(error: &MediaError) -> (u16, &'static str) {
    match error {
        MediaError::NoOffer => (488, "trunk requires SRTP: no SDP offer to check"),
        MediaError::SrtpRequired => (488, "trunk requires SRTP (RTP/SAVP with a=crypto)"),
        MediaError::SrtpNotSupported => (488, "trunk does not support SRTP"),
    }
}

/// Answers the caller may see as they are; server errors become our failure status, and so
/// do challenges (401/407 are between us and the called side: the caller has no credentials
/// for it).
fn pass_through(status: u16, failure_status: u16) -> u16 {
    match status {
        401 | 407 => failure_status,
        400..=499 | 600..=699 => status,
        _ => failure_status,
    }
}

/// Reason phrases (RFC 3261 §21).
pub fn phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        420 => "Bad Extension",
        422 => "Session Interval Too Small",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests;
