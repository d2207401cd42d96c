//! Why a call (or a request inside one) failed, and the one table that turns each reason
//! into the final response the peer gets (status, reason phrase, `Reason` header text, and
//! whether Retry-After goes with it). No other file writes a failure status.

use super::call::Direction;
use super::media_policy::MediaError;
use crate::routing::{OutboundRefusal, Refusal};

/// Why the caller's leg (the carrier inbound, the agent outbound) gets a failure response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("routing refused the call: {0:?}")]
    Refused(Refusal),
    #[error("outbound routing refused the call: {0:?}")]
    OutboundRefused(OutboundRefusal),
    #[error("the offer does not fit the trunk's media encryption: {0}")]
    Media(MediaError),
    #[error("the trunk has its maximum of concurrent calls")]
    TrunkBusy,
    #[error("the trunk's call rate is exceeded; retry in {0} s")]
    TrunkRate(u32),
    #[error("the carrier did not respond")]
    CarrierTimeout,
    #[error("the carrier could not be reached")]
    CarrierUnreachable,
    #[error("the carrier answered {0}")]
    CarrierRejected(u16),
    #[error("the carrier refused our credentials, or challenged without our having any")]
    CarrierAuthFailed,
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
    #[error("routing did not decide in time")]
    RoutingTimeout,
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
    /// Retry-After value when the fault knows it (else the configured one).
    pub retry_after_secs: Option<u32>,
}

impl CallError {
    /// The response the caller gets. `failure_status` and `no_answer_status` come from
    /// config so that carriers which fail over only on some codes do.
    pub fn response(&self, failure_status: u16, no_answer_status: u16) -> FailureResponse {
        let (status, why) = match self {
            CallError::Refused(refusal) => refusal.status(),
            CallError::OutboundRefused(refusal) => refusal.status(),
            // RFC 3261 §21.4.26: the session description is not acceptable here.
            CallError::Media(MediaError::NoOffer) => (488, "trunk requires SRTP: no SDP offer to check"),
            CallError::Media(MediaError::SrtpRequired) => (488, "trunk requires SRTP (RTP/SAVP with a=crypto)"),
            CallError::Media(MediaError::SrtpNotSupported) => (488, "trunk does not support SRTP"),
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
        FailureResponse {
            status,
            phrase: phrase(status),
            why,
            retry_after: status == 503,
            retry_after_secs: match self {
                CallError::TrunkRate(secs) => Some(*secs),
                _ => None,
            },
        }
    }

    /// The called party answered `status` (a final failure).
    pub fn rejected(direction: Direction, status: u16) -> CallError {
        match direction {
            Direction::Inbound => CallError::AgentRejected(status),
            // A challenge we could not (or may no more) answer is not the agent's to answer.
            Direction::Outbound if matches!(status, 401 | 407) => CallError::CarrierAuthFailed,
            Direction::Outbound => CallError::CarrierRejected(status),
        }
    }

    /// The called party never answered our INVITE (Timer B, or our response timer).
    pub fn timeout(direction: Direction) -> CallError {
        match direction {
            Direction::Inbound => CallError::AgentTimeout,
            Direction::Outbound => CallError::CarrierTimeout,
        }
    }

    /// The called party could not be reached (a transport error).
    pub fn unreachable(direction: Direction) -> CallError {
        match direction {
            Direction::Inbound => CallError::AgentUnreachable,
            Direction::Outbound => CallError::CarrierUnreachable,
        }
    }

    /// How a call refused with this fault is counted.
    pub fn outcome(&self) -> super::Outcome {
        use super::Outcome;
        match self {
            CallError::Refused(Refusal::UnknownNumber | Refusal::AddressIncomplete) => Outcome::UnknownNumber,
            CallError::Refused(Refusal::NoAgent) => Outcome::NoAgent,
            CallError::Refused(Refusal::Busy) => Outcome::Throttled,
            CallError::RoutingTimeout => Outcome::Failed,
            CallError::Refused(_) => Outcome::Rejected,
            CallError::OutboundRefused(OutboundRefusal::NoDestination | OutboundRefusal::NotConfigured) => {
                Outcome::Failed
            }
            CallError::OutboundRefused(_) | CallError::Media(_) => Outcome::Denied,
            CallError::TrunkBusy | CallError::TrunkRate(_) => Outcome::Throttled,
            CallError::Cancelled => Outcome::Canceled,
            _ => Outcome::Failed,
        }
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

    #[test]
    fn outbound_faults_map_to_the_documented_status_with_a_reason() {
        let r = |e: CallError| e.response(503, 480);
        assert_eq!(
            r(CallError::OutboundRefused(OutboundRefusal::CallerIdNotAllowed)).status,
            403
        );
        assert_eq!(
            r(CallError::OutboundRefused(OutboundRefusal::DeniedDestination)).status,
            403
        );
        assert_eq!(
            r(CallError::OutboundRefused(OutboundRefusal::InvalidDestination)).status,
            484
        );
        assert_eq!(r(CallError::Media(MediaError::SrtpRequired)).status, 488);
        let busy = r(CallError::TrunkBusy);
        assert_eq!(
            (busy.status, busy.retry_after, busy.retry_after_secs),
            (503, true, None)
        );
        let rate = r(CallError::TrunkRate(2));
        assert_eq!((rate.status, rate.retry_after_secs), (503, Some(2)));
        assert_eq!(r(CallError::CarrierRejected(486)).status, 486);
        assert_eq!(r(CallError::CarrierRejected(502)).status, 503);
        assert_eq!(r(CallError::CarrierAuthFailed).status, 403);
        assert_eq!(
            CallError::rejected(Direction::Outbound, 407),
            CallError::CarrierAuthFailed
        );
        assert_eq!(
            CallError::rejected(Direction::Inbound, 407).response(503, 480).status,
            503
        );
        assert_eq!(
            r(CallError::timeout(Direction::Outbound)).why,
            "carrier did not respond"
        );
    }
}
