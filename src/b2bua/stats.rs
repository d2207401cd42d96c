//! What the B2BUA holds right now, for the shell's metrics sampler: calls by phase,
//! dialogs, transactions by kind and state, retransmissions so far. Shards' samples add up.

use std::collections::BTreeMap;

use super::B2bua;

/// A sample of the B2BUA's state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Census {
    /// New calls waiting for their route.
    pub routing: usize,
    /// Calls still ringing (no answer yet).
    pub ringing: usize,
    /// Calls answered (both legs' dialogs exist).
    pub answered: usize,
    /// Dialogs: two per answered call (one per leg), early dialogs not counted.
    pub dialogs: usize,
    pub transactions: BTreeMap<(&'static str, &'static str), usize>,
    pub retransmissions: u64,
    /// Responses that matched no transaction, so far.
    pub responses_dropped: u64,
}

impl B2bua {
    /// Count what is live. Scans calls and transactions: call it at sampling rate.
    pub fn census(&self) -> Census {
        let answered = self.calls.placed().filter(|c| !c.is_early()).count();
        Census {
            routing: self.calls.routing_len(),
            ringing: self.calls.len() - answered,
            answered,
            dialogs: answered * 2,
            transactions: self.tx.layer().census(),
            retransmissions: self.tx.layer().retransmissions(),
            responses_dropped: self.tx.layer().stray_responses(),
        }
    }
}

impl std::ops::AddAssign for Census {
    /// Sum two shards' samples: the census of the whole core.
    fn add_assign(&mut self, other: Census) {
        self.routing += other.routing;
        self.ringing += other.ringing;
        self.answered += other.answered;
        self.dialogs += other.dialogs;
        for (key, n) in other.transactions {
            *self.transactions.entry(key).or_default() += n;
        }
        self.retransmissions += other.retransmissions;
        self.responses_dropped += other.responses_dropped;
    }
}
