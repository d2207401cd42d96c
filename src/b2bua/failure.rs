//! Why a call (or a request inside one) failed, and the one table that turns each reason
//! into the final response the peer gets (status, reason phrase, `Reason` header text, and
//! whether Retry-After goes with it). No other file writes a failure status.

use crate::routing::Refusal;

/// Why the carrier leg gets a failure response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("routing refused the call: {0:?}")]
    Refused(Refusal),
    #[error("the agent did not respond")]
    AgentTimeout,
    #[error("the agent could not be reached")]
    AgentUnreachable,
    #[error("the agent answered {0}")]
    AgentRejected(u16),
    #[error("nobody answered within the ring timeout")]
    NoAnswer,
    #[error("too many concurrent calls")]
    TooManyCalls,
    #[error("the server is draining")]
    Draining,
    #[error("Max-Forwards reached zero")]
    TooManyHops,
    #[error("the request looped back to us")]
    Loop,
    #[error("a second INVITE for a call already in progress")]
    MergedRequest,
    #[error("Session-Expires below our minimum")]
    SessionIntervalTooSmall,
    #[error("the caller cancelled")]
    Cancelled,
    #[error("the agent ended its early dialog before answering")]
    AgentGaveUp,
    #[error("no dialog or transaction matches the request")]
    NoSuchDialog,
    #[error("a re-INVITE is already in progress on this call")]
    RequestPending,
    #[error("REFER is refused by configuration")]
    ReferRefused,
    #[error("the other leg did not answer the relayed request")]
    RelayTimeout,
}

/// The final response for a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureResponse {
    pub status: u16,
    pub phrase: &'static str,
    /// Text for `Reason: SIP;cause=<status>;text="..."`.
    pub why: &'static str,
    pub retry_after: bool,
}

impl CallError {
    /// The response the caller gets. `failure_status` and `no_answer_status` come from
    /// config so that carriers which fail over only on some codes do.
    pub fn response(&self, failure_status: u16, no_answer_status: u16) -> FailureResponse {
        let (status, why) = match self {
            CallError::Refused(refusal) => refusal.status(),
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
            CallError::SessionIntervalTooSmall => (422, "session interval too small"),
            CallError::Cancelled => (487, "cancelled by caller"),
            // RFC 3261 §12.2.2 / §9.2: a request for a dialog or INVITE we do not know.
            CallError::NoSuchDialog => (481, "no such call"),
            // RFC 3261 §14.2: one offer/answer at a time; the sender retries after a pause.
            CallError::RequestPending => (491, "re-INVITE in progress"),
            CallError::ReferRefused => (603, "transfer refused"),
            CallError::RelayTimeout => (408, "the other side did not answer"),
        };
        FailureResponse {
            status,
            phrase: phrase(status),
            why,
            retry_after: status == 503,
        }
    }
}

/// Agent answers the caller may see as they are; server errors become our failure status.
fn pass_through(status: u16, failure_status: u16) -> u16 {
    match status {
        486 | 600 | 603 | 404 | 408 | 480 | 484 | 487 | 488 => status,
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
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        420 => "Bad Extension",
        422 => "Session Interval Too Small",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
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
mod tests {
    use super::*;

    #[test]
    fn each_failure_maps_to_the_documented_status() {
        let r = |e: CallError| e.response(503, 480).status;
        assert_eq!(r(CallError::Refused(Refusal::UnknownNumber)), 404);
        assert_eq!(r(CallError::Refused(Refusal::NoAgent)), 480);
        assert_eq!(r(CallError::AgentTimeout), 503);
        assert_eq!(r(CallError::AgentRejected(486)), 486);
        assert_eq!(r(CallError::AgentRejected(603)), 603);
        assert_eq!(r(CallError::AgentRejected(500)), 503);
        assert_eq!(r(CallError::NoAnswer), 480);
        assert_eq!(r(CallError::Loop), 482);
        assert!(CallError::TooManyCalls.response(503, 480).retry_after);
        assert_eq!(CallError::AgentUnreachable.response(408, 480).status, 408);
        assert_eq!(r(CallError::SessionIntervalTooSmall), 422);
        assert_eq!(r(CallError::NoSuchDialog), 481);
        assert_eq!(r(CallError::RequestPending), 491);
        assert_eq!(r(CallError::ReferRefused), 603);
        assert_eq!(r(CallError::RelayTimeout), 408);
        assert!(!CallError::RequestPending.response(503, 480).retry_after);
    }
}
