//! Why a call (or a request inside one) failed: the call core's faults, one enum. The answer
//! each gets (status, reason phrase, `Reason` text, Retry-After) is in the one status table,
//! `src/status.rs`; how each is counted is here.

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

impl CallError {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{Answer, Configured};

    /// The answer to `error` with `failure_status` and `no_answer_status` configured (and
    /// a Retry-After of 30 s).
    fn answer(error: CallError, failure_status: u16, no_answer_status: u16) -> Answer {
        let configured = Configured {
            failure_status,
            no_answer_status,
            retry_after_secs: 30,
            min_session_expires_secs: 90,
        };
        crate::status::call(&error, configured)
    }

    #[test]
    fn each_failure_maps_to_the_documented_status() {
        let r = |e: CallError| answer(e, 503, 480).status;
        assert_eq!(r(CallError::Refused(Refusal::UnknownNumber)), 404);
        assert_eq!(r(CallError::Refused(Refusal::NoAgent)), 480);
        assert_eq!(r(CallError::AgentTimeout), 503);
        assert_eq!(r(CallError::AgentRejected(486)), 486);
        assert_eq!(r(CallError::AgentRejected(603)), 603);
        assert_eq!(r(CallError::AgentRejected(500)), 503);
        assert_eq!(r(CallError::NoAnswer), 480);
        assert_eq!(r(CallError::Loop), 482);
        assert_eq!(answer(CallError::TooManyCalls, 503, 480).retry_after, Some(30));
        assert_eq!(answer(CallError::AgentUnreachable, 408, 480).status, 408);
        assert_eq!(r(CallError::SessionIntervalTooSmall), 422);
        assert_eq!(r(CallError::NoSuchDialog), 481);
        assert_eq!(r(CallError::RequestPending), 491);
        assert_eq!(r(CallError::ReferRefused), 603);
        assert_eq!(r(CallError::RelayTimeout), 408);
        assert_eq!(answer(CallError::RequestPending, 503, 480).retry_after, None);
    }

    #[test]
    fn outbound_faults_map_to_the_documented_status_with_a_reason() {
        let r = |e: CallError| answer(e, 503, 480);
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
        assert_eq!((busy.status, busy.retry_after), (503, Some(30)));
        let rate = r(CallError::TrunkRate(2));
        assert_eq!((rate.status, rate.retry_after), (503, Some(2)));
        assert_eq!(r(CallError::CarrierRejected(486)).status, 486);
        assert_eq!(r(CallError::CarrierRejected(502)).status, 503);
        assert_eq!(r(CallError::CarrierAuthFailed).status, 403);
        assert_eq!(
            CallError::rejected(Direction::Outbound, 407),
            CallError::CarrierAuthFailed
        );
        assert_eq!(
            answer(CallError::rejected(Direction::Inbound, 407), 503, 480).status,
            503
        );
        assert_eq!(
            r(CallError::timeout(Direction::Outbound)).reason,
            Some("carrier did not respond")
        );
    }
}
