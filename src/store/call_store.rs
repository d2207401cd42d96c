//! Where call records are kept, behind one trait: the SQLite file beside this instance's
//! data (`CallLog`, the default) or the PostgreSQL database the directory is in, shared by
//! every instance on it (`PgStore`), so that any instance's API lists every instance's calls.
//! Every record names the instance that handled the call.
//!
//! A record's key is the INVITE's arrival in milliseconds shifted left `SEQUENCE_BITS`, plus
//! a sequence number the writer counts. On a shared store the sequence's top bits are the
//! instance's number there (`CallStore::instance_number`), so two instances never mint one key.

use crate::call_records::CallRecord;

use super::StoreError;

/// A call-record store.
pub trait CallStore: Send + Sync {
    /// This instance's number among those writing to the store (see `INSTANCE_BITS`), or
    /// `None` when the store is this instance's alone.
    fn instance_number(&self) -> Option<u16> {
        None
    }
    /// Append rows in one transaction (a key already there is skipped).
    fn append(&self, rows: &[CallRow<'_>]) -> Result<(), StoreError>;
    /// Drop records older than `older_than_ms`, then the oldest past `keep` records;
    /// how many went.
    fn prune(&self, older_than_ms: i64, keep: usize) -> Result<usize, StoreError>;
    /// One org's records, newest first, with their keys (for the next cursor).
    fn list(&self, query: &CallQuery) -> Result<Vec<(i64, CallRecord)>, StoreError>;
    /// One record of one org.
    fn get(&self, org_id: &str, id: &str) -> Result<Option<CallRecord>, StoreError>;
}

/// Bits of the sequence that name the instance on a shared store (256 instances; the
/// remaining 12 bits count 4,096 calls per millisecond per instance).
pub const INSTANCE_BITS: u32 = 8;

/// The next key's sequence part after `sequence`, for an instance numbered `instance` on a
/// shared store (its number in the top `INSTANCE_BITS`) or alone (all bits count).
pub fn next_sequence(sequence: i64, instance: Option<u16>) -> i64 {
    match instance {
        None => (sequence + 1) & ((1 << SEQUENCE_BITS) - 1),
        Some(n) => {
            let count_bits = SEQUENCE_BITS - INSTANCE_BITS;
            let count = (sequence + 1) & ((1 << count_bits) - 1);
            (i64::from(n) & ((1 << INSTANCE_BITS) - 1)) << count_bits | count
        }
    }
}

/// Bits of a record key below the millisecond timestamp.
pub const SEQUENCE_BITS: u32 = 20;

/// One record on its way into the table, borrowed from whatever the writer holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallRow<'a> {
    /// The INVITE's arrival in ms << `SEQUENCE_BITS`, plus a sequence number.
    pub key: i64,
    pub org_id: Option<&'a str>,
    pub trunk_id: Option<&'a str>,
    pub direction: &'a str,
    pub call_id: &'a str,
    /// LiveKit's Call-ID for the call (see `CallRecord::livekit_call_id`).
    pub livekit_call_id: Option<&'a str>,
    pub called_number: Option<&'a str>,
    pub calling_number: Option<&'a str>,
    pub route_kind: &'a str,
    pub agent_id: Option<&'a str>,
    pub agent_version_id: Option<&'a str>,
    pub status: u16,
    pub reason: &'a str,
    pub outcome: &'a str,
    pub ended_by: &'a str,
    /// Unix milliseconds (the INVITE's arrival is in the key).
    pub ringing_ms: Option<i64>,
    pub answered_ms: Option<i64>,
    pub ended_ms: i64,
}

/// Which records a listing wants, newest first.
#[derive(Debug, Default, Clone)]
pub struct CallQuery {
    pub org_id: String,
    /// Only records with a smaller key: the cursor.
    pub before: Option<i64>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub limit: usize,
}

/// A record's id as the API shows it, from its key.
pub fn record_id(key: i64) -> String {
    format!("call_{key:016x}")
}

/// The key of a record id, if it is one.
pub fn record_key(id: &str) -> Option<i64> {
    let hex = id.strip_prefix("call_").filter(|h| h.len() == 16)?;
    i64::from_str_radix(hex, 16).ok().filter(|k| *k >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_instances_on_a_shared_store_never_mint_one_sequence() {
        let mut a = 0xfff; // about to wrap
        let mut b = 0xfff;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..5000 {
            a = next_sequence(a, Some(1));
            b = next_sequence(b, Some(2));
            assert!(a < 1 << SEQUENCE_BITS && b < 1 << SEQUENCE_BITS);
            assert_eq!((a >> 12, b >> 12), (1, 2), "the instance's number stays on top");
            seen.insert(a);
            seen.insert(b);
        }
        assert_eq!(seen.len(), 2 * 4096, "each instance wraps within its own 4,096");
        assert_eq!(next_sequence((1 << SEQUENCE_BITS) - 1, None), 0);
    }
}
