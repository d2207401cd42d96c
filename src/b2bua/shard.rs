//! One core of several: which shard holds a call, and how the ids a shard mints say so.
//!
//! The shell runs N cores (each a [`B2bua`] behind its own lock) and must send every message
//! to the one holding its call, without a shared table. A new call goes to the shard a hash
//! of its Call-ID picks; every token a shard then mints (Call-IDs, tags, Via branches) is a
//! random number congruent to the shard's index modulo N, so that:
//! - a request finds its shard by its Call-ID: one we minted (the agent leg of an inbound
//!   call, the carrier leg of an outbound one) names its shard, any other (the carrier's,
//!   LiveKit's on an outbound call) hashes to the shard the call's INVITE went to;
//! - a response finds it by its top Via branch, which we minted.
//!
//! What the shards share is here too: the call cap (each shard publishes how many calls it
//! holds, admission sums them) and the per-trunk limiter (one table behind a lock, taken
//! only when an outbound call starts or ends).
//!
//! It refuses to know sockets or threads: the shell owns the cores and their locks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::call::CallKey;
use super::trunk_limits::TrunkLimiter;
use super::B2bua;

/// RFC 3261 §8.1.1.7: every branch we mint starts with it.
const MAGIC_COOKIE: &[u8] = b"z9hG4bK";
/// The domain of the Call-IDs we mint (`<16 hex digits>@switchboard`).
const CALL_ID_DOMAIN: &[u8] = b"@switchboard";
/// Call keys carry their shard in their top bits (the bits below count the shard's calls).
const KEY_SHARD_SHIFT: u32 = 48;

/// A shard's place among its siblings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: usize,
    count: usize,
}

impl Shard {
    /// The only core (no sharding).
    pub const ALONE: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count` (at least one, at most 65,536).
    pub fn new(index: usize, count: usize) -> Shard {
        let count = count.clamp(1, 1 << 16);
        Shard {
            index: index % count,
            count,
        }
    }

    pub fn index(self) -> usize {
        self.index
    }

    pub fn count(self) -> usize {
        self.count
    }

    /// A random token that names this shard: congruent to its index modulo the count.
    pub fn mint(self, random: u64) -> u64 {
        let (n, i) = (self.count as u64, self.index as u64);
        let base = random - random % n;
        // The top partial block would overflow: step one block down.
        base.checked_add(i).unwrap_or_else(|| base - n + i)
    }

    /// The first call key of this shard (keys count up from it).
    pub fn first_call_key(self) -> u64 {
        ((self.index as u64) << KEY_SHARD_SHIFT) | 1
    }
}

/// Which of `count` shards holds the call a request with this Call-ID belongs to (or starts).
pub fn shard_of_call_id(call_id: &[u8], count: usize) -> usize {
    if count <= 1 {
        return 0;
    }
    if let Some(token) = call_id.strip_suffix(CALL_ID_DOMAIN).and_then(token_value) {
        return (token % count as u64) as usize;
    }
    (fnv1a(call_id) % count as u64) as usize
}

/// Which shard minted a Via branch (a response's top one), if it is one of ours.
pub fn shard_of_branch(branch: &[u8], count: usize) -> Option<usize> {
    let token = branch.strip_prefix(MAGIC_COOKIE).and_then(token_value)?;
    Some((token % count.max(1) as u64) as usize)
}

/// The shard a call key belongs to (see [`Shard::first_call_key`]).
pub fn shard_of_key(key: CallKey, count: usize) -> usize {
    ((key.0 >> KEY_SHARD_SHIFT) as usize) % count.max(1)
}

/// A token as we print it: exactly 16 lowercase hex digits.
fn token_value(token: &[u8]) -> Option<u64> {
    if token.len() != 16 {
        return None;
    }
    token.iter().try_fold(0u64, |acc, b| {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        Some(acc << 4 | u64::from(digit))
    })
}

/// FNV-1a: cheap and stable. A peer choosing Call-IDs can crowd one shard, which only takes
/// from it what sharding gave (every call still works).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for b in bytes {
        hash = (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    // Mix the high bits down: the modulus looks at the low ones.
    hash ^ (hash >> 29)
}

/// What the shards share: calls held per shard (for the call cap) and the trunk limiter.
#[derive(Debug, Clone)]
pub struct Shared {
    calls: Arc<[PaddedCount]>,
    trunks: TrunkLimiter,
}

/// One shard's published call count, alone on its cache line (shards write them often).
#[derive(Debug, Default)]
#[repr(align(64))]
struct PaddedCount(AtomicUsize);

impl Shared {
    /// For `count` shards.
    pub fn new(count: usize) -> Shared {
        Shared {
            calls: (0..count.max(1)).map(|_| PaddedCount::default()).collect(),
            trunks: TrunkLimiter::default(),
        }
    }

    /// Calls the shards other than `shard` last published.
    fn calls_elsewhere(&self, shard: usize) -> usize {
        self.calls
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != shard)
            .map(|(_, c)| c.0.load(Ordering::Relaxed))
            .sum()
    }
}

impl Default for Shared {
    fn default() -> Shared {
        Shared::new(1)
    }
}

impl B2bua {
    /// Make this core shard `shard`, sharing `shared` with its siblings.
    pub fn with_shard(mut self, shard: Shard, shared: &Shared) -> B2bua {
        self.shard = shard;
        self.calls.start_keys_at(shard.first_call_key());
        self.trunks = shared.trunks.clone();
        self.shared = shared.clone();
        self
    }

    /// Which shard this core is.
    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// Tell the other shards how many calls this one holds (the shell calls it after each
    /// verb). The call cap may thus be passed by at most one call per shard, when shards
    /// admit at the same instant.
    pub fn publish_calls(&self) {
        if let Some(slot) = self.shared.calls.get(self.shard.index) {
            slot.0.store(self.active_calls(), Ordering::Relaxed);
        }
    }

    /// Whether the calls of every shard, this one's counted live, reach the cap.
    pub(super) fn at_call_cap(&self) -> bool {
        self.shared.calls_elsewhere(self.shard.index) + self.active_calls() >= self.config.max_calls
    }

    /// A fresh random token (Call-ID, tag, branch) that names this shard.
    pub(super) fn new_token(&mut self) -> Token {
        use rand::Rng;
        Token::of(self.shard.mint(self.rng.random::<u64>()))
    }

    /// A fresh tag (RFC 3261 §19.3), as bytes of exactly its length.
    pub(super) fn new_tag(&mut self) -> bytes::Bytes {
        bytes::Bytes::copy_from_slice(self.new_token().as_bytes())
    }

    /// A fresh Call-ID of ours: `<token>@switchboard`.
    pub(super) fn new_call_id(&mut self) -> bytes::Bytes {
        let mut call_id = [0u8; 16 + CALL_ID_DOMAIN.len()];
        call_id[..16].copy_from_slice(self.new_token().as_bytes());
        call_id[16..].copy_from_slice(CALL_ID_DOMAIN);
        bytes::Bytes::copy_from_slice(&call_id)
    }

    /// A fresh Via branch that names this shard (RFC 3261 §8.1.1.7).
    pub(super) fn new_branch(&mut self) -> bytes::Bytes {
        let mut branch = [0u8; MAGIC_COOKIE.len() + 16];
        branch[..MAGIC_COOKIE.len()].copy_from_slice(MAGIC_COOKIE);
        branch[MAGIC_COOKIE.len()..].copy_from_slice(self.new_token().as_bytes());
        bytes::Bytes::copy_from_slice(&branch)
    }
}

/// A minted token: 16 lowercase hex digits, written without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token([u8; 16]);

impl Token {
    fn of(value: u64) -> Token {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut digits = [0u8; 16];
        for (i, digit) in digits.iter_mut().enumerate() {
            *digit = HEX[((value >> (60 - 4 * i)) & 0xf) as usize];
        }
        Token(digits)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex digits")
    }
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_names_its_shard_whatever_the_random_draw() {
        for count in [1, 2, 3, 4, 7, 64] {
            for index in 0..count {
                let shard = Shard::new(index, count);
                for random in [0, 1, 12_345, u64::MAX, u64::MAX - 1, u64::MAX / 3] {
                    assert_eq!(
                        shard.mint(random) % count as u64,
                        index as u64,
                        "{index}/{count} {random}"
                    );
                }
            }
        }
    }

    #[test]
    fn minted_call_ids_and_branches_round_trip_to_their_shard() {
        let count = 4;
        for index in 0..count {
            let mut b2b =
                B2bua::new(Default::default(), index as u64).with_shard(Shard::new(index, count), &Shared::new(count));
            for _ in 0..100 {
                let call_id = b2b.new_call_id();
                assert_eq!(shard_of_call_id(&call_id, count), index);
                let branch = b2b.new_branch();
                assert_eq!(shard_of_branch(&branch, count), Some(index));
            }
        }
    }

    #[test]
    fn tokens_are_sixteen_lowercase_hex_digits() {
        for value in [0, 1, 0xdead_beef, u64::MAX] {
            assert_eq!(Token::of(value).as_str(), format!("{value:016x}"));
        }
    }

    #[test]
    fn foreign_call_ids_hash_to_one_shard_each_and_spread() {
        let count = 4;
        let mut seen = [0usize; 4];
        for n in 0..4000 {
            let call_id = format!("{n}-a84b4c76e66710@carrier.example");
            let shard = shard_of_call_id(call_id.as_bytes(), count);
            assert_eq!(shard, shard_of_call_id(call_id.as_bytes(), count), "stable");
            seen[shard] += 1;
        }
        assert!(seen.iter().all(|n| (800..1200).contains(n)), "spread evenly: {seen:?}");
    }

    #[test]
    fn branches_not_ours_name_no_shard() {
        assert_eq!(shard_of_branch(b"z9hG4bK-524287-1---a5b4", 2), None);
        assert_eq!(
            shard_of_branch(b"z9hG4bK0123456789ABCDEF", 2),
            None,
            "we print lowercase"
        );
        assert_eq!(shard_of_branch(b"0123456789abcdef", 2), None, "no magic cookie");
    }

    #[test]
    fn call_keys_carry_their_shard() {
        for index in 0..3 {
            let shard = Shard::new(index, 3);
            let first = shard.first_call_key();
            assert_eq!(shard_of_key(CallKey(first), 3), index);
            assert_eq!(shard_of_key(CallKey(first + 1_000_000), 3), index);
        }
    }

    #[test]
    fn the_call_cap_counts_what_the_other_shards_published() {
        let shared = Shared::new(2);
        let config = super::super::B2buaConfig {
            max_calls: 3,
            ..Default::default()
        };
        let a = B2bua::new(config.clone(), 1).with_shard(Shard::new(0, 2), &shared);
        let b = B2bua::new(config, 2).with_shard(Shard::new(1, 2), &shared);
        assert!(!a.at_call_cap());
        shared.calls[1].0.store(3, Ordering::Relaxed);
        assert!(a.at_call_cap(), "shard 1's three calls fill the cap for shard 0");
        assert!(
            !b.at_call_cap() || b.active_calls() >= 3,
            "a shard's own slot is read live"
        );
        b.publish_calls();
        assert!(!a.at_call_cap(), "shard 1 published that it holds none");
    }

    #[test]
    fn sibling_shards_count_one_trunk_together() {
        let shared = Shared::new(2);
        let a = B2bua::new(Default::default(), 1).with_shard(Shard::new(0, 2), &shared);
        let b = B2bua::new(Default::default(), 2).with_shard(Shard::new(1, 2), &shared);
        let limits = crate::routing::outbound::TrunkLimits {
            calls_per_second: 100.0,
            burst: 100,
            max_concurrent: 1,
        };
        assert_eq!(a.trunks.acquire(crate::clock::now(), "t", &limits), Ok(()));
        assert_eq!(b.trunk_calls("t"), 1);
        assert!(
            b.trunks.acquire(crate::clock::now(), "t", &limits).is_err(),
            "the trunk is full on every shard"
        );
    }
}
