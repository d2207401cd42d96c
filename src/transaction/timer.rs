//! The RFC 3261 §17 timers (and RFC 6026's L and M), with their durations from T1/T2/T4.

use std::time::Duration;

use serde::Deserialize;

/// Each timer of RFC 3261 §17 (Table 4) and RFC 6026 §8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// INVITE request retransmit (unreliable), starts at T1 and doubles (§17.1.1.2).
    A,
    /// INVITE transaction timeout, 64*T1 (§17.1.1.2).
    B,
    /// Wait for response retransmits after a non-2xx final, 32 s unreliable, 0 reliable (§17.1.1.2).
    D,
    /// Non-INVITE request retransmit, T1 doubling to T2 (§17.1.2.2).
    E,
    /// Non-INVITE transaction timeout, 64*T1 (§17.1.2.2).
    F,
    /// INVITE final-response retransmit, T1 doubling to T2 (§17.2.1).
    G,
    /// Wait for ACK, 64*T1 (§17.2.1).
    H,
    /// Wait for ACK retransmits, T4 unreliable, 0 reliable (§17.2.1).
    I,
    /// Wait for non-INVITE request retransmits, 64*T1 unreliable, 0 reliable (§17.2.2).
    J,
    /// Wait for non-INVITE response retransmits, T4 unreliable, 0 reliable (§17.1.2.2).
    K,
    /// Server: absorb INVITE retransmits after a 2xx, 64*T1 (RFC 6026 §8.7).
    L,
    /// Client: accept 2xx retransmits after the first 2xx, 64*T1 (RFC 6026 §8.4).
    M,
}

/// T1, T2 and T4 (RFC 3261 §17.1.1.1, Table 4).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct TimerConfig {
    /// RTT estimate (ms): the first retransmission interval.
    #[serde(with = "millis")]
    pub t1: Duration,
    /// Longest retransmission interval for non-INVITE requests and INVITE responses (ms).
    #[serde(with = "millis")]
    pub t2: Duration,
    /// How long a message may stay in the network (ms).
    #[serde(with = "millis")]
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> TimerConfig {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl TimerConfig {
    /// 64*T1: Timers B, F, H, J (unreliable), L, M.
    pub fn timeout(&self) -> Duration {
        self.t1 * 64
    }

    /// The next retransmission interval after `current`, capped at T2 where the RFC caps it.
    pub fn backoff(&self, current: Duration, capped: bool) -> Duration {
        let doubled = current * 2;
        if capped {
            doubled.min(self.t2)
        } else {
            doubled
        }
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
