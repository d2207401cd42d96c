//! The B2BUA's knobs, each with its default and the reason for it.

use std::time::Duration;

use serde::Deserialize;

use crate::transaction::TimerConfig;

/// What to do with REFER (call transfer) from either side.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ReferPolicy {
    /// Pass it to the other leg in its dialog, and the NOTIFYs of its implicit
    /// subscription (RFC 3515) back: LiveKit's `TransferSIPParticipant` REFERs the caller,
    /// and the carrier carries the transfer out.
    Relay,
    /// Answer 603: no transfers (a carrier that would bill them, an agent not trusted to).
    Refuse,
}

/// Call handling.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct B2buaConfig {
    /// `host:port` we put in our Via and Contact headers (what peers reach us at).
    pub advertised: String,
    /// `host:port` for peers on TCP, when it differs from `advertised` (default: the same).
    pub advertised_tcp: Option<String>,
    /// `host:port` for peers on TLS (usually port 5061; default: `advertised`).
    pub advertised_tls: Option<String>,
    /// A new call whose route is not decided within this long gets 503 (ms): the router
    /// runs on the shell's workers, and a stuck one must not leave the caller waiting.
    pub route_timeout_ms: u64,
    /// A call that rings this long without an answer is cancelled (seconds).
    pub ring_timeout_secs: u64,
    /// An agent leg with no response at all for this long counts as unreachable, and one
    /// that has only rung for this long is cancelled (seconds; LiveKit answers once the
    /// room exists). Either way the caller gets `failure_status`. Shorter than Timer B so
    /// that carriers fail over while the caller still waits.
    pub agent_response_timeout_secs: u64,
    /// The same for the carrier leg of an outbound call (seconds): carriers are farther
    /// away and some answer the INVITE only after a routing lookup of their own.
    pub carrier_response_timeout_secs: u64,
    /// Final status the caller gets when the agent side fails (503 lets carriers fail over;
    /// 408 or 480 for carriers that only fail over on those).
    pub failure_status: u16,
    /// Status for a call nobody answered within the ring timeout.
    pub no_answer_status: u16,
    /// Retry-After on our 503s (seconds).
    pub retry_after_secs: u32,
    /// Concurrent calls; the next one gets 503.
    pub max_calls: usize,
    /// A call is ended with BYE on both legs after this long (seconds).
    pub max_call_duration_secs: u64,
    /// RFC 4028: the smallest Session-Expires we accept (422 below it).
    pub min_session_expires_secs: u32,
    pub refer: ReferPolicy,
    /// RFC 3261 T1/T2/T4 in milliseconds.
    pub timers: TimerConfig,
}

impl Default for B2buaConfig {
    fn default() -> B2buaConfig {
        B2buaConfig {
            advertised: "127.0.0.1:5060".into(),
            advertised_tcp: None,
            advertised_tls: None,
            route_timeout_ms: 2000,
            ring_timeout_secs: 60,
            agent_response_timeout_secs: 4,
            carrier_response_timeout_secs: 8,
            failure_status: 503,
            no_answer_status: 480,
            retry_after_secs: 30,
            max_calls: 100_000,
            max_call_duration_secs: 4 * 3600,
            min_session_expires_secs: 90,
            refer: ReferPolicy::Relay,
            timers: TimerConfig::default(),
        }
    }
}

impl B2buaConfig {
    /// The statuses the status table takes from here (`src/status.rs`).
    pub fn statuses(&self) -> crate::status::Configured {
        crate::status::Configured {
            failure_status: self.failure_status,
            no_answer_status: self.no_answer_status,
            retry_after_secs: self.retry_after_secs,
            min_session_expires_secs: self.min_session_expires_secs,
        }
    }

    pub fn route_timeout(&self) -> Duration {
        Duration::from_millis(self.route_timeout_ms)
    }

    pub fn ring_timeout(&self) -> Duration {
        Duration::from_secs(self.ring_timeout_secs)
    }

    pub fn agent_response_timeout(&self) -> Duration {
        Duration::from_secs(self.agent_response_timeout_secs)
    }

    pub fn carrier_response_timeout(&self) -> Duration {
        Duration::from_secs(self.carrier_response_timeout_secs)
    }

    pub fn max_call_duration(&self) -> Duration {
        Duration::from_secs(self.max_call_duration_secs)
    }
}
