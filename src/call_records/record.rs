//! One call record: what an operator needs to explain a call afterwards, answered or not.

use serde::{Deserialize, Serialize};

/// A finished call, as kept in the store and shown by `GET /core/calls`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// `call_` followed by a UUID.
    pub id: String,
    /// `inbound` (carrier to agent) or `outbound` (agent to carrier).
    pub direction: String,
    /// The Call-ID of the leg that reached us (the carrier's, for inbound calls).
    pub call_id: String,
    /// Unset when the call could not be attributed to an org (an unknown number from an
    /// address that is no trunk's).
    pub org_id: Option<String>,
    pub trunk_id: Option<String>,
    pub called_number: Option<String>,
    pub calling_number: Option<String>,
    /// `static`, `workflow`, `fallback`, or `rejected` when no agent was chosen.
    pub route_kind: String,
    pub agent_id: Option<String>,
    pub agent_version_id: Option<String>,
    /// The final status the caller got (200 for an answered call).
    pub status: u16,
    pub reason: String,
    /// `answered`, `busy`, `no_answer`, `failed`, `canceled`, `unknown_number`,
    /// `no_agent`, `rejected`, and for outbound calls `denied` (caller ID, destination,
    /// media or authorisation refused) and `throttled` (a trunk limit).
    pub outcome: String,
    /// `caller`, `agent` or `switchboard`.
    pub ended_by: String,
    /// RFC 3339 UTC timestamps with milliseconds.
    pub invite_at: String,
    pub ringing_at: Option<String>,
    pub answered_at: Option<String>,
    pub ended_at: String,
}

/// Milliseconds since the Unix epoch, as RFC 3339 UTC with milliseconds.
pub fn rfc3339_ms(unix_ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    at.format(&format).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::rfc3339_ms;

    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_764_000_000_123), "2025-11-24T16:00:00.123Z");
    }
}
