//! A bounded, sharded map for per-key state touched from many threads: the rate limiter's
//! buckets and the ban list's entries.
//!
//! Owns memory bounds and eviction. `SHARDS` mutex-guarded `HashMap`s (SipHash with a random
//! key, so an attacker choosing source addresses cannot aim at one bucket chain), each capped
//! at `capacity / SHARDS` entries. Inserting into a full shard first drops entries that are
//! `idle` (holding nothing a fresh entry would not), then, if the shard is still over three
//! quarters full, the quarter with the lowest `rank`. That pass is O(shard) and leaves room
//! for at least a quarter shard of inserts, so an insert costs O(1) amortised; the worst
//! single insert scans one shard (~1,000 entries at the default 65,536 capacity, ~20 µs).
//! Refuses nothing: under a spray of distinct keys the oldest state is forgotten, never the
//! memory bound.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// Shard count: enough that two cores rarely contend, small enough to scan for `len`.
pub(crate) const SHARDS: usize = 64;

/// Per-key state that can say when forgetting it loses nothing.
pub(crate) trait Evict {
    /// The map-wide settings `idle` needs (a refill rate, a window), kept once per map
    /// rather than once per entry.
    type Policy;
    /// Whether a fresh entry would behave the same as this one at `now`.
    fn idle(&self, now: Instant, policy: &Self::Policy) -> bool;
    /// Order of eviction when idle entries are not enough: lowest first.
    fn rank(&self) -> Instant;
}

pub(crate) struct Sharded<K, V: Evict> {
    shards: Box<[Mutex<HashMap<K, V>>]>,
    hasher: RandomState,
    per_shard: usize,
    policy: V::Policy,
}

impl<K: Hash + Eq, V: Evict> Sharded<K, V> {
    /// A map holding at most about `capacity` entries (rounded up to a multiple of `SHARDS`).
    pub(crate) fn new(capacity: usize, policy: V::Policy) -> Self {
        Sharded {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            per_shard: capacity.div_ceil(SHARDS).max(4),
            policy,
        }
    }

    pub(crate) fn policy(&self) -> &V::Policy {
        &self.policy
    }

    /// Runs `f` on the entry for `key`, creating it with `make` (after making room) if absent.
    pub(crate) fn upsert<Q, R>(&self, now: Instant, key: &Q, make: impl FnOnce() -> V, f: impl FnOnce(&mut V) -> R) -> R
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let mut shard = self.shard(key);
        if let Some(v) = shard.get_mut(key) {
            return f(v);
        }
        if shard.len() >= self.per_shard {
            make_room(&mut shard, now, self.per_shard, &self.policy);
        }
        f(shard.entry(key.to_owned()).or_insert_with(make))
    }

    /// Runs `f` on the entry for `key` if there is one; `f` returns whether to keep it.
    pub(crate) fn inspect<Q, R>(&self, key: &Q, f: impl FnOnce(&mut V) -> (R, bool)) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut shard = self.shard(key);
        let v = shard.get_mut(key)?;
        let (r, keep) = f(v);
        if !keep {
            shard.remove(key);
        }
        Some(r)
    }

    pub(crate) fn remove<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shard(key).remove(key);
    }

    /// Entries held now; takes every shard's lock in turn.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> MutexGuard<'_, HashMap<K, V>> {
        // High bits: HashMap uses the low ones inside the shard.
        let index = (self.hasher.hash_one(key) >> 58) as usize % SHARDS;
        lock(&self.shards[index])
    }
}

/// A poisoned shard still holds consistent entries (every update is a few field writes).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn make_room<K: Hash + Eq, V: Evict>(shard: &mut HashMap<K, V>, now: Instant, per_shard: usize, policy: &V::Policy) {
    shard.retain(|_, v| !v.idle(now, policy));
    if shard.len() < per_shard / 4 * 3 {
        return;
    }
    let mut ranks: Vec<Instant> = shard.values().map(Evict::rank).collect();
    let quarter = ranks.len() / 4;
    let (_, &mut cut, _) = ranks.select_nth_unstable(quarter);
    shard.retain(|_, v| v.rank() > cut);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    struct Seen(Instant, bool);

    impl Evict for Seen {
        type Policy = ();
        fn idle(&self, _: Instant, _: &()) -> bool {
            self.1
        }
        fn rank(&self) -> Instant {
            self.0
        }
    }

    #[test]
    fn idle_entries_go_first_then_the_oldest() {
        let map: Sharded<u32, Seen> = Sharded::new(SHARDS * 8, ());
        let t0 = crate::clock::now();
        for k in 0..100_000u32 {
            let now = t0 + Duration::from_micros(u64::from(k));
            map.upsert(now, &k, || Seen(now, k % 2 == 0), |_| ());
            assert!(map.len() <= SHARDS * 8);
        }
        // The newest key survives; an old one was forgotten.
        assert!(map.inspect(&99_999, |_| ((), true)).is_some());
        assert!(map.inspect(&1, |_| ((), true)).is_none());
    }

    #[test]
    fn inspect_can_drop_an_entry() {
        let map: Sharded<String, Seen> = Sharded::new(16, ());
        let t0 = crate::clock::now();
        map.upsert(t0, "a", || Seen(t0, false), |_| ());
        assert_eq!(map.inspect("a", |_| (1, false)), Some(1));
        assert_eq!(map.inspect("a", |_| (1, true)), None);
        assert_eq!(map.len(), 0);
    }
}
