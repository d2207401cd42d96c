//! Server nonces that need no state to issue, and the table that refuses their replay.
//!
//! A nonce is `base64url(stamp || random || HMAC-SHA256(secret, stamp || random))`: 8 bytes of
//! milliseconds since the mint's epoch, 16 random bytes, the 32-byte tag; 75 characters. A
//! nonce we did not mint fails the tag check without any lookup, and its age is read from it.
//! A mint anchored to the wall clock (`anchored`) stamps Unix milliseconds, so a nonce one
//! process issued verifies in another that shares the secret (another instance on the same
//! store, or this one after a restart); otherwise the epoch is the first `now` the mint sees
//! and nonces die with the process (clients simply get a fresh challenge).
//!
//! The replay table remembers, per nonce that passed verification, the highest `nc` used
//! (RFC 7616 §3.4: a repeated nonce-count is a replay), or that a qop-less nonce was used
//! once. It is bounded: entries of expired nonces go first; if that is not enough, the oldest
//! quarter goes and a floor rises past them, below which a nonce we no longer remember is
//! treated as stale (re-challenged) rather than trusted. Filling it needs correct answers, so
//! only authenticated peers can.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const STAMP_LEN: usize = 8;
const RANDOM_LEN: usize = 16;
const BODY_LEN: usize = STAMP_LEN + RANDOM_LEN;
const TAG_LEN: usize = 32;
const RAW_LEN: usize = BODY_LEN + TAG_LEN;
/// `RAW_LEN` bytes in unpadded base64.
const ENCODED_LEN: usize = (RAW_LEN * 4).div_ceil(3);

/// What identifies a nonce in the replay table: its stamp and random part.
pub(crate) type NonceId = [u8; BODY_LEN];

/// Issues and checks nonces under one secret.
pub(crate) struct NonceMint {
    mac: Hmac<Sha256>,
    epoch: OnceLock<Instant>,
    /// The stamp at `epoch`: Unix milliseconds for an anchored mint, else 0.
    epoch_ms: u64,
}

/// A nonce that carried our tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpenNonce {
    pub(crate) id: NonceId,
    pub(crate) issued_ms: u64,
}

/// Why a nonce is not ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NonceError {
    /// Wrong length or not base64url.
    Malformed,
    /// Well formed, but the tag does not match: made up, altered, or from another secret.
    Forged,
}

impl NonceMint {
    pub(crate) fn new(secret: &[u8; 32]) -> Self {
        NonceMint {
            mac: Hmac::new_from_slice(secret).expect("HMAC takes any key length"),
            epoch: OnceLock::new(),
            epoch_ms: 0,
        }
    }

    /// This mint with stamps in Unix milliseconds: `at` was `unix_ms` on the wall clock.
    pub(crate) fn anchored(self, at: Instant, unix_ms: u64) -> Self {
        NonceMint {
            epoch: OnceLock::from(at),
            epoch_ms: unix_ms,
            mac: self.mac,
        }
    }

    /// The stamp for `now`: milliseconds from the epoch, plus the epoch's own stamp; the
    /// first call fixes an unanchored epoch.
    pub(crate) fn millis(&self, now: Instant) -> u64 {
        let epoch = *self.epoch.get_or_init(|| now);
        let since = u64::try_from(now.saturating_duration_since(epoch).as_millis()).unwrap_or(u64::MAX);
        self.epoch_ms.saturating_add(since)
    }

    pub(crate) fn issue(&self, now: Instant, random: [u8; RANDOM_LEN]) -> String {
        let mut raw = [0u8; RAW_LEN];
        raw[..STAMP_LEN].copy_from_slice(&self.millis(now).to_be_bytes());
        raw[STAMP_LEN..BODY_LEN].copy_from_slice(&random);
        let mut mac = self.mac.clone();
        mac.update(&raw[..BODY_LEN]);
        raw[BODY_LEN..].copy_from_slice(&mac.finalize().into_bytes());
        URL_SAFE_NO_PAD.encode(raw)
    }

    pub(crate) fn open(&self, text: &str) -> Result<OpenNonce, NonceError> {
        if text.len() != ENCODED_LEN {
            return Err(NonceError::Malformed);
        }
        // The decoder wants room for its length estimate, a little over RAW_LEN.
        let mut raw = [0u8; RAW_LEN + 3];
        match URL_SAFE_NO_PAD.decode_slice(text, &mut raw) {
            Ok(RAW_LEN) => {}
            _ => return Err(NonceError::Malformed),
        }
        let mut mac = self.mac.clone();
        mac.update(&raw[..BODY_LEN]);
        mac.verify_slice(&raw[BODY_LEN..RAW_LEN])
            .map_err(|_| NonceError::Forged)?;
        let mut id = [0u8; BODY_LEN];
        id.copy_from_slice(&raw[..BODY_LEN]);
        let mut stamp = [0u8; STAMP_LEN];
        stamp.copy_from_slice(&raw[..STAMP_LEN]);
        Ok(OpenNonce {
            id,
            issued_ms: u64::from_be_bytes(stamp),
        })
    }
}

/// How an answer uses its nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NonceUse {
    /// With a qop: the nonce-count, at least 1.
    Count(u32),
    /// Without a qop (RFC 2069): the nonce is good for one request.
    Once,
}

/// The replay table's word on one use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replay {
    Fresh,
    Replayed,
    /// Older than what the table still remembers: cannot be shown fresh.
    Forgotten,
}

pub(crate) struct ReplayTable {
    seen: HashMap<NonceId, Seen>,
    /// Nonces issued before this and absent from `seen` were evicted.
    floor_ms: u64,
    capacity: usize,
}

struct Seen {
    issued_ms: u64,
    /// Highest nc used; `u32::MAX` once a qop-less use spent the nonce.
    last_nc: u32,
}

impl ReplayTable {
    pub(crate) fn new(capacity: usize) -> Self {
        ReplayTable {
            seen: HashMap::new(),
            floor_ms: 0,
            capacity: capacity.max(4),
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.seen.len()
    }

    /// Records a use of a nonce that is not expired; `now_ms - ttl_ms` is the oldest issue
    /// time still valid.
    pub(crate) fn record(&mut self, nonce: &OpenNonce, used: NonceUse, now_ms: u64, ttl_ms: u64) -> Replay {
        let nc = match used {
            NonceUse::Count(nc) => nc,
            NonceUse::Once => u32::MAX,
        };
        if let Some(seen) = self.seen.get_mut(&nonce.id) {
            if used == NonceUse::Once || nc <= seen.last_nc {
                return Replay::Replayed;
            }
            seen.last_nc = nc;
            return Replay::Fresh;
        }
        if nonce.issued_ms < self.floor_ms {
            return Replay::Forgotten;
        }
        if self.seen.len() >= self.capacity {
            self.make_room(now_ms.saturating_sub(ttl_ms));
            if nonce.issued_ms < self.floor_ms {
                return Replay::Forgotten;
            }
        }
        self.seen.insert(
            nonce.id,
            Seen {
                issued_ms: nonce.issued_ms,
                last_nc: nc,
            },
        );
        Replay::Fresh
    }

    /// Forgets expired nonces, then if still above three quarters full, the oldest quarter.
    /// O(n), run once per n/4 insertions at worst.
    fn make_room(&mut self, oldest_valid_ms: u64) {
        self.seen.retain(|_, s| s.issued_ms >= oldest_valid_ms);
        self.floor_ms = self.floor_ms.max(oldest_valid_ms);
        if self.seen.len() < self.capacity / 4 * 3 {
            return;
        }
        let mut issued: Vec<u64> = self.seen.values().map(|s| s.issued_ms).collect();
        let quarter = issued.len() / 4;
        let (_, &mut cut, _) = issued.select_nth_unstable(quarter);
        self.seen.retain(|_, s| s.issued_ms > cut);
        self.floor_ms = self.floor_ms.max(cut.saturating_add(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_minted_nonce_opens_and_reads_its_age() {
        let mint = NonceMint::new(&[7; 32]);
        let t0 = crate::clock::now();
        mint.millis(t0);
        let text = mint.issue(t0 + Duration::from_millis(1500), [1; 16]);
        assert_eq!(text.len(), ENCODED_LEN);
        let open = mint.open(&text).unwrap();
        assert_eq!(open.issued_ms, 1500);
        assert_eq!(&open.id[STAMP_LEN..], &[1; 16]);
    }

    #[test]
    fn altered_or_foreign_nonces_are_refused() {
        let mint = NonceMint::new(&[7; 32]);
        let text = mint.issue(crate::clock::now(), [1; 16]);
        let other = NonceMint::new(&[8; 32]);
        assert_eq!(other.open(&text), Err(NonceError::Forged));
        let mut altered = text.clone().into_bytes();
        altered[3] = if altered[3] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            mint.open(std::str::from_utf8(&altered).unwrap()),
            Err(NonceError::Forged)
        );
        assert_eq!(mint.open(&text[1..]), Err(NonceError::Malformed));
        assert_eq!(mint.open(&"*".repeat(ENCODED_LEN)), Err(NonceError::Malformed));
    }

    fn nonce(n: u64) -> OpenNonce {
        let mut id = [0u8; BODY_LEN];
        id[..8].copy_from_slice(&n.to_be_bytes());
        OpenNonce { id, issued_ms: n }
    }

    #[test]
    fn nonce_counts_must_rise_and_a_qopless_nonce_is_spent_once() {
        let mut t = ReplayTable::new(100);
        assert_eq!(t.record(&nonce(1), NonceUse::Count(1), 1, 1000), Replay::Fresh);
        assert_eq!(t.record(&nonce(1), NonceUse::Count(1), 1, 1000), Replay::Replayed);
        assert_eq!(t.record(&nonce(1), NonceUse::Count(3), 1, 1000), Replay::Fresh);
        assert_eq!(t.record(&nonce(1), NonceUse::Count(2), 1, 1000), Replay::Replayed);
        assert_eq!(t.record(&nonce(2), NonceUse::Once, 2, 1000), Replay::Fresh);
        assert_eq!(t.record(&nonce(2), NonceUse::Once, 2, 1000), Replay::Replayed);
        assert_eq!(t.record(&nonce(2), NonceUse::Count(9), 2, 1000), Replay::Replayed);
    }

    #[test]
    fn a_full_table_forgets_the_oldest_and_never_trusts_them_again() {
        let mut t = ReplayTable::new(100);
        for n in 0..10_000u64 {
            assert_eq!(t.record(&nonce(n), NonceUse::Count(1), n, 1_000_000), Replay::Fresh);
            assert!(t.len() <= 100);
        }
        // Nonce 0 was evicted: its replay is not accepted as fresh.
        assert_eq!(
            t.record(&nonce(0), NonceUse::Count(1), 10_000, 1_000_000),
            Replay::Forgotten
        );
        assert_eq!(
            t.record(&nonce(9_999), NonceUse::Count(1), 10_000, 1_000_000),
            Replay::Replayed
        );
    }

    #[test]
    fn expired_nonces_are_forgotten_first() {
        let mut t = ReplayTable::new(8);
        for n in 0..8 {
            t.record(&nonce(n), NonceUse::Count(1), n, 10);
        }
        // At 100 ms, everything issued before 90 ms has expired.
        assert_eq!(t.record(&nonce(95), NonceUse::Count(1), 100, 10), Replay::Fresh);
        assert_eq!(t.len(), 1);
    }
}
