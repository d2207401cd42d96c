//! Per-key token buckets: calls per second per source address and per trunk.
//!
//! Owns admission: each key's bucket holds up to `burst` tokens and refills at `rate` per
//! second; a request takes one. With the bucket empty the answer is `Limit` (the caller sends
//! 503 with Retry-After, RFC 3261 §21.5.4); a key that keeps sending while limited, more than
//! `flood_factor × rate` refused requests within one second (at least one), gets `Drop`: no
//! answer at all, since answering a flood amplifies it. Does not decide which requests are
//! counted (the caller checks new dialogs, not in-dialog requests) nor what a key is: pass
//! [`source_key`](super::source_key) for addresses so an IPv6 /64 counts as one source.
//!
//! Memory is bounded by `capacity` keys: a bucket with an `IpAddr` key takes a 73-byte hash
//! table slot, and tables run between 3/8 and 7/8 full, so budget up to ~150 bytes a key, ~10
//! MB at the default 65,536; see `shard.rs` for the eviction cost. A full bucket with no recent refusals is
//! forgotten first, losing nothing; under a spray of distinct keys the least recently seen go,
//! which resets their buckets (one key's burst again), never blocks a new key.

use std::borrow::Borrow;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::shard::{Evict, Sharded};

/// Keys tracked by default.
pub const DEFAULT_RATE_CAPACITY: usize = 65_536;

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Admission {
    Allow,
    /// Refuse with 503 and `Retry-After: retry_after_secs`.
    Limit {
        retry_after_secs: u32,
    },
    /// Send nothing back.
    Drop,
}

/// Token buckets keyed by `K` (an address, a trunk id). Shareable across threads (`&self`).
pub struct RateLimiter<K = IpAddr> {
    /// Refusals within one second past which a limited key is dropped.
    flood_threshold: u32,
    buckets: Sharded<K, Bucket>,
}

/// How buckets fill: one copy per limiter, not per bucket.
#[derive(Debug, Clone, Copy)]
struct Refill {
    rate: f64,
    burst: f64,
}

impl<K: Hash + Eq> RateLimiter<K> {
    /// `rate_per_sec` tokens a second, up to `burst` (at least 1); a limited key refused more
    /// than `flood_factor × rate_per_sec` times within a second is dropped.
    pub fn new(rate_per_sec: f64, burst: f64, flood_factor: f64) -> Self {
        Self::with_capacity(rate_per_sec, burst, flood_factor, DEFAULT_RATE_CAPACITY)
    }

    /// As `new`, tracking at most about `capacity` keys.
    pub fn with_capacity(rate_per_sec: f64, burst: f64, flood_factor: f64, capacity: usize) -> Self {
        let rate = if rate_per_sec.is_finite() && rate_per_sec > 0.0 {
            rate_per_sec
        } else {
            f64::MIN_POSITIVE
        };
        let burst = if burst.is_finite() { burst.max(1.0) } else { 1.0 };
        let threshold = (flood_factor * rate).clamp(1.0, f64::from(u32::MAX));
        RateLimiter {
            flood_threshold: threshold as u32,
            buckets: Sharded::new(capacity, Refill { rate, burst }),
        }
    }

    /// Takes a token for `key` if it has one.
    pub fn check<Q>(&self, now: Instant, key: &Q) -> Admission
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let refill = *self.buckets.policy();
        let fresh = || Bucket {
            tokens: refill.burst,
            stamp: now,
            window_start: now,
            refused: 0,
        };
        self.buckets
            .upsert(now, key, fresh, |b| b.admit(now, refill, self.flood_threshold))
    }

    /// Keys tracked now (takes every shard's lock; for metrics and tests).
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

struct Bucket {
    tokens: f64,
    /// When `tokens` was last brought up to date; also when the key was last seen.
    stamp: Instant,
    /// Start of the current one-second window of refusals.
    window_start: Instant,
    refused: u32,
}

const FLOOD_WINDOW: Duration = Duration::from_secs(1);

impl Bucket {
    fn admit(&mut self, now: Instant, Refill { rate, burst }: Refill, flood_threshold: u32) -> Admission {
        let elapsed = now.saturating_duration_since(self.stamp).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.stamp = self.stamp.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Admission::Allow;
        }
        if now.saturating_duration_since(self.window_start) >= FLOOD_WINDOW {
            self.window_start = now;
            self.refused = 0;
        }
        self.refused = self.refused.saturating_add(1);
        if self.refused > flood_threshold {
            return Admission::Drop;
        }
        // The epsilon keeps 5.999999 (float error on an exact 6) from becoming 7.
        let wait = ((1.0 - self.tokens) / rate - 1e-9)
            .ceil()
            .clamp(1.0, f64::from(u32::MAX));
        Admission::Limit {
            retry_after_secs: wait as u32,
        }
    }
}

impl Evict for Bucket {
    type Policy = Refill;

    fn idle(&self, now: Instant, refill: &Refill) -> bool {
        let since = now.saturating_duration_since(self.stamp).as_secs_f64();
        self.tokens + since * refill.rate >= refill.burst
            && now.saturating_duration_since(self.window_start) >= FLOOD_WINDOW
    }

    fn rank(&self) -> Instant {
        self.stamp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::from(std::net::Ipv4Addr::from(n))
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn a_burst_passes_then_limit_then_drop_under_flood() {
        let limiter: RateLimiter = RateLimiter::new(2.0, 5.0, 3.0);
        let t0 = crate::clock::now();
        let a = ip(1);
        for i in 0..5 {
            assert_eq!(limiter.check(t0, &a), Admission::Allow, "burst request {i}");
        }
        // Flood threshold: 3 × 2/s = 6 refusals within a second, then silence.
        for i in 0..6 {
            assert_eq!(
                limiter.check(t0, &a),
                Admission::Limit { retry_after_secs: 1 },
                "refusal {i}"
            );
        }
        assert_eq!(limiter.check(t0, &a), Admission::Drop);
        assert_eq!(limiter.check(t0 + secs(0.4), &a), Admission::Drop);
        // A little over half a second on, one token has come back.
        assert_eq!(limiter.check(t0 + secs(0.55), &a), Admission::Allow);
        // Still within the flood's second: refusals stay silent.
        assert_eq!(limiter.check(t0 + secs(0.55), &a), Admission::Drop);
        // A new second of refusals starts with Limit again.
        assert_eq!(limiter.check(t0 + secs(1.01), &a), Admission::Allow);
        assert_eq!(
            limiter.check(t0 + secs(1.01), &a),
            Admission::Limit { retry_after_secs: 1 }
        );
    }

    #[test]
    fn tokens_refill_over_time_up_to_the_burst() {
        let limiter: RateLimiter = RateLimiter::new(1.0, 3.0, 100.0);
        let t0 = crate::clock::now();
        let a = ip(1);
        for _ in 0..3 {
            assert_eq!(limiter.check(t0, &a), Admission::Allow);
        }
        assert!(matches!(limiter.check(t0, &a), Admission::Limit { .. }));
        assert_eq!(limiter.check(t0 + secs(1.0), &a), Admission::Allow);
        assert!(matches!(limiter.check(t0 + secs(1.5), &a), Admission::Limit { .. }));
        // A long pause refills to the burst, not beyond.
        let later = t0 + secs(3600.0);
        for _ in 0..3 {
            assert_eq!(limiter.check(later, &a), Admission::Allow);
        }
        assert!(matches!(limiter.check(later, &a), Admission::Limit { .. }));
    }

    #[test]
    fn retry_after_says_when_the_next_token_comes() {
        let limiter: RateLimiter = RateLimiter::new(0.1, 1.0, 100.0);
        let t0 = crate::clock::now();
        assert_eq!(limiter.check(t0, &ip(1)), Admission::Allow);
        assert_eq!(limiter.check(t0, &ip(1)), Admission::Limit { retry_after_secs: 10 });
        assert_eq!(
            limiter.check(t0 + secs(4.0), &ip(1)),
            Admission::Limit { retry_after_secs: 6 }
        );
    }

    #[test]
    fn keys_are_independent() {
        let limiter: RateLimiter<String> = RateLimiter::new(1.0, 1.0, 100.0);
        let t0 = crate::clock::now();
        assert_eq!(limiter.check(t0, "trunk-a"), Admission::Allow);
        assert!(matches!(limiter.check(t0, "trunk-a"), Admission::Limit { .. }));
        assert_eq!(limiter.check(t0, "trunk-b"), Admission::Allow);
        let by_ip: RateLimiter = RateLimiter::new(1.0, 1.0, 100.0);
        assert_eq!(by_ip.check(t0, &ip(1)), Admission::Allow);
        assert_eq!(by_ip.check(t0, &ip(2)), Admission::Allow);
    }

    #[test]
    fn a_clock_read_out_of_order_does_not_mint_tokens() {
        let limiter: RateLimiter = RateLimiter::new(1.0, 1.0, 100.0);
        let t0 = crate::clock::now();
        let t1 = t0 + secs(10.0);
        assert_eq!(limiter.check(t1, &ip(1)), Admission::Allow);
        assert!(matches!(limiter.check(t0, &ip(1)), Admission::Limit { .. }));
        assert!(matches!(limiter.check(t1, &ip(1)), Admission::Limit { .. }));
    }

    #[test]
    fn memory_stays_bounded_under_a_million_distinct_keys() {
        let limiter: RateLimiter = RateLimiter::with_capacity(1.0, 2.0, 5.0, 4096);
        let t0 = crate::clock::now();
        let flooder = ip(u32::MAX);
        for n in 0..1_000_000u32 {
            let now = t0 + Duration::from_micros(u64::from(n));
            assert_eq!(limiter.check(now, &ip(n)), Admission::Allow);
            if n % 1000 == 0 {
                let _ = limiter.check(now, &flooder);
            }
        }
        assert!(limiter.tracked() <= 4096, "{}", limiter.tracked());
        // The flooder, active throughout, is still remembered as limited.
        let end = t0 + Duration::from_micros(999_999);
        assert!(matches!(
            limiter.check(end, &flooder),
            Admission::Limit { .. } | Admission::Drop
        ));
    }

    #[test]
    fn a_bucket_with_its_address_fits_the_documented_slot() {
        assert!(std::mem::size_of::<(IpAddr, Bucket)>() <= 72);
    }

    #[test]
    fn several_threads_share_one_limiter() {
        let limiter: RateLimiter = RateLimiter::new(1.0, 100.0, 1000.0);
        let t0 = crate::clock::now();
        let allowed = std::sync::atomic::AtomicU32::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..50 {
                        if limiter.check(t0, &ip(7)) == Admission::Allow {
                            allowed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(allowed.into_inner(), 100);
    }
}
