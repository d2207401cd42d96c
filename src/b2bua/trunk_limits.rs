//! Per-trunk outbound limits: calls up at once, and new calls per second as a token bucket
//! (`burst` tokens, refilled at `calls_per_second`). Time is passed in, never read. A call
//! takes its slot when its carrier INVITE is sent and gives it back when the call is
//! forgotten, however it ended.
//!
//! One table serves every shard of the core (cloning the limiter shares it), so a trunk's
//! limits hold whichever shard places its calls; its lock is taken only when an outbound
//! call starts or ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::routing::outbound::TrunkLimits;

/// Why a new call may not start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitError {
    /// The trunk has `max_concurrent` calls up.
    Concurrent,
    /// The bucket is empty: a token comes back in `retry_after`.
    Rate { retry_after: Duration },
}

#[derive(Debug)]
struct TrunkState {
    active: u32,
    tokens: f64,
    updated: Instant,
}

/// Every trunk's counters (an entry per trunk that has placed a call), shared by clones.
#[derive(Debug, Default, Clone)]
pub struct TrunkLimiter {
    trunks: Arc<Mutex<HashMap<Box<str>, TrunkState>>>,
}

impl TrunkLimiter {
    /// Take a slot and a token for a new call on `trunk`, or say why not.
    pub fn acquire(&self, now: Instant, trunk: &str, limits: &TrunkLimits) -> Result<(), LimitError> {
        let capacity = f64::from(limits.burst.max(1));
        let mut trunks = self.lock();
        let state = trunks.entry(trunk.into()).or_insert(TrunkState {
            active: 0,
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(state.updated).as_secs_f64();
        state.tokens = (state.tokens + elapsed * limits.calls_per_second).min(capacity);
        state.updated = now;
        if state.active >= limits.max_concurrent {
            return Err(LimitError::Concurrent);
        }
        if state.tokens < 1.0 {
            let wait = if limits.calls_per_second > 0.0 {
                (1.0 - state.tokens) / limits.calls_per_second
            } else {
                f64::from(u32::MAX)
            };
            return Err(LimitError::Rate {
                retry_after: Duration::from_secs_f64(wait.min(f64::from(u32::MAX))),
            });
        }
        state.tokens -= 1.0;
        state.active += 1;
        Ok(())
    }

    /// A call on `trunk` is over.
    pub fn release(&self, trunk: &str) {
        if let Some(state) = self.lock().get_mut(trunk) {
            state.active = state.active.saturating_sub(1);
        }
    }

    /// Calls up on `trunk`.
    pub fn active(&self, trunk: &str) -> u32 {
        self.lock().get(trunk).map_or(0, |s| s.active)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Box<str>, TrunkState>> {
        // A panic elsewhere cannot leave a count half-written: keep counting.
        self.trunks.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(cps: f64, burst: u32, max_concurrent: u32) -> TrunkLimits {
        TrunkLimits {
            calls_per_second: cps,
            burst,
            max_concurrent,
        }
    }

    #[test]
    fn a_burst_is_allowed_then_calls_come_at_the_configured_rate() {
        let l = TrunkLimiter::default();
        let lim = limits(2.0, 3, 100);
        let t0 = crate::clock::now();
        for _ in 0..3 {
            assert_eq!(l.acquire(t0, "t", &lim), Ok(()));
        }
        match l.acquire(t0, "t", &lim) {
            Err(LimitError::Rate { retry_after }) => assert_eq!(retry_after, Duration::from_millis(500)),
            other => panic!("{other:?}"),
        }
        assert!(l.acquire(t0 + Duration::from_millis(400), "t", &lim).is_err());
        assert_eq!(l.acquire(t0 + Duration::from_millis(500), "t", &lim), Ok(()));
        assert_eq!(l.acquire(t0 + Duration::from_millis(1000), "t", &lim), Ok(()));
        assert!(l.acquire(t0 + Duration::from_millis(1000), "t", &lim).is_err());
        assert_eq!(l.acquire(t0, "other", &lim), Ok(()), "trunks are counted apart");
    }

    #[test]
    fn concurrent_calls_are_capped_and_a_slot_comes_back_when_a_call_ends() {
        let l = TrunkLimiter::default();
        let lim = limits(100.0, 100, 2);
        let t0 = crate::clock::now();
        assert_eq!(l.acquire(t0, "t", &lim), Ok(()));
        assert_eq!(l.acquire(t0, "t", &lim), Ok(()));
        assert_eq!(l.acquire(t0, "t", &lim), Err(LimitError::Concurrent));
        l.release("t");
        assert_eq!(l.active("t"), 1);
        assert_eq!(l.acquire(t0, "t", &lim), Ok(()));
    }

    #[test]
    fn a_refused_call_takes_no_token() {
        let l = TrunkLimiter::default();
        let lim = limits(1.0, 1, 1);
        let t0 = crate::clock::now();
        assert_eq!(l.acquire(t0, "t", &lim), Ok(()));
        let later = t0 + Duration::from_secs(5);
        assert_eq!(l.acquire(later, "t", &lim), Err(LimitError::Concurrent));
        l.release("t");
        assert_eq!(l.acquire(later, "t", &lim), Ok(()), "the bucket refilled meanwhile");
    }

    #[test]
    fn clones_share_one_count_so_a_limit_holds_across_shards() {
        let a = TrunkLimiter::default();
        let b = a.clone();
        let lim = limits(100.0, 100, 2);
        let t0 = crate::clock::now();
        assert_eq!(a.acquire(t0, "t", &lim), Ok(()));
        assert_eq!(b.acquire(t0, "t", &lim), Ok(()));
        assert_eq!(a.acquire(t0, "t", &lim), Err(LimitError::Concurrent));
        assert_eq!(b.acquire(t0, "t", &lim), Err(LimitError::Concurrent));
        b.release("t");
        assert_eq!(a.active("t"), 1);
        assert_eq!(
            a.acquire(t0, "t", &lim),
            Ok(()),
            "the slot one shard gave back, another takes"
        );
    }
}
