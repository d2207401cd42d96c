//! The ban list: sources that failed authentication too often, or announced themselves as
//! scanners, are ignored for a while.
//!
//! Owns strikes and bans per source: `threshold` counted failures within `window` (a fixed
//! window opened by the first failure) ban the source for `duration`; a ban can also be set
//! directly (a scanner's User-Agent). A source is keyed by [`source_key`]: the IPv4 address,
//! or the IPv6 /64. An expired ban vanishes on the next look. Bounded like the rate limiter
//! (`shard.rs`): idle entries go first, then lapsed strike counts, bans last and those ending
//! soonest first. Does not decide what counts as a failure (`AuthFailure::counts_as_failure`
//! does) nor exempt known sources: the caller never feeds it a trunk's or LiveKit's address.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::cidr::source_key;
use super::shard::{Evict, Sharded};

/// Sources tracked by default.
pub const DEFAULT_BAN_CAPACITY: usize = 65_536;

/// Strikes and bans per source. Shareable across threads (`&self`).
pub struct BanList {
    entries: Sharded<IpAddr, Strikes>,
    threshold: u32,
    window: Duration,
    duration: Duration,
}

impl BanList {
    /// `threshold` failures within `window` ban a source for `duration`; a threshold of 0
    /// never bans on failures (direct bans still apply).
    pub fn new(threshold: u32, window: Duration, duration: Duration) -> Self {
        Self::with_capacity(threshold, window, duration, DEFAULT_BAN_CAPACITY)
    }

    /// As `new`, tracking at most about `capacity` sources.
    pub fn with_capacity(threshold: u32, window: Duration, duration: Duration, capacity: usize) -> Self {
        BanList {
            entries: Sharded::new(capacity, window),
            threshold,
            window,
            duration,
        }
    }

    /// Counts one failure from `ip`; returns whether the source is banned now.
    pub fn record_failure(&self, now: Instant, ip: IpAddr) -> bool {
        if self.threshold == 0 {
            return self.is_banned(now, ip);
        }
        let fresh = || Strikes::new(now);
        self.entries.upsert(now, &source_key(ip), fresh, |s| {
            if s.banned(now) {
                return true;
            }
            if now.saturating_duration_since(s.window_start) > self.window {
                s.window_start = now;
                s.failures = 0;
            }
            s.failures += 1;
            if s.failures < self.threshold {
                return false;
            }
            s.failures = 0;
            s.banned_until = Some(later(now, self.duration));
            true
        })
    }

    /// Bans `ip` for `duration` from `now`, or longer if already banned longer.
    pub fn ban(&self, now: Instant, ip: IpAddr, duration: Duration) {
        let until = later(now, duration);
        self.entries.upsert(
            now,
            &source_key(ip),
            || Strikes::new(now),
            |s| {
                s.banned_until = Some(s.banned_until.map_or(until, |u| u.max(until)));
            },
        );
    }

    /// Whether `ip` is banned at `now`. One hash and one uncontended lock; creates nothing.
    pub fn is_banned(&self, now: Instant, ip: IpAddr) -> bool {
        self.entries
            .inspect(&source_key(ip), |s| {
                let banned = s.banned(now);
                (banned, banned || !s.idle(now, &self.window))
            })
            .unwrap_or(false)
    }

    /// Lifts any ban on `ip` and forgets its strikes.
    pub fn unban(&self, ip: IpAddr) {
        self.entries.remove(&source_key(ip));
    }

    /// Sources tracked now (takes every shard's lock; for metrics and tests).
    pub fn tracked(&self) -> usize {
        self.entries.len()
    }
}

/// Whether a User-Agent (or Server) value names a known SIP scanner: SIPVicious and its
/// `friendly-scanner` default, VaxSIPUserAgent, sipcli, sip-scan, iWar, sundayddr, SIVuS,
/// pplsip. Case-insensitive, matched as a whole word so `MySIPClient` is not `sipcli`. Tools
/// we test with (sipsak, SIPp) and PBXs (Asterisk) are not scanners.
pub fn is_scanner(user_agent: &[u8]) -> bool {
    SCANNERS.iter().any(|name| contains_word(user_agent, name))
}

const SCANNERS: &[&[u8]] = &[
    b"friendly-scanner",
    b"sipvicious",
    b"vaxsipuseragent",
    b"sipcli",
    b"sip-scan",
    b"iwar",
    b"sundayddr",
    b"sivus",
    b"pplsip",
];

/// `word` (lower-case) occurs in `text`, ignoring case, with no letter or digit either side.
fn contains_word(text: &[u8], word: &[u8]) -> bool {
    if word.is_empty() || text.len() < word.len() {
        return false;
    }
    (0..=text.len() - word.len()).any(|i| {
        text[i..i + word.len()].eq_ignore_ascii_case(word)
            && (i == 0 || !text[i - 1].is_ascii_alphanumeric())
            && text.get(i + word.len()).is_none_or(|b| !b.is_ascii_alphanumeric())
    })
}

struct Strikes {
    failures: u32,
    window_start: Instant,
    banned_until: Option<Instant>,
}

impl Strikes {
    fn new(now: Instant) -> Self {
        Strikes {
            failures: 0,
            window_start: now,
            banned_until: None,
        }
    }

    /// Whether banned at `now`; clears a lapsed ban.
    fn banned(&mut self, now: Instant) -> bool {
        match self.banned_until {
            Some(until) if until > now => true,
            Some(_) => {
                self.banned_until = None;
                false
            }
            None => false,
        }
    }
}

impl Evict for Strikes {
    /// The strike window.
    type Policy = Duration;

    fn idle(&self, now: Instant, window: &Duration) -> bool {
        self.banned_until.is_none_or(|u| u <= now) && now.saturating_duration_since(self.window_start) > *window
    }

    /// Bans rank by their end, which lies ahead of every strike window's start.
    fn rank(&self) -> Instant {
        self.banned_until.unwrap_or(self.window_start)
    }
}

/// `now + d`, saturating at a century rather than overflowing `Instant`.
fn later(now: Instant, d: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 86_400);
    now.checked_add(d.min(CENTURY)).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(60);
    const BAN: Duration = Duration::from_secs(600);

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_threshold_th_failure_within_the_window_bans() {
        let bans = BanList::new(3, WINDOW, BAN);
        let t0 = crate::clock::now();
        let a = ip("203.0.113.9");
        assert!(!bans.record_failure(t0, a));
        assert!(!bans.record_failure(t0 + Duration::from_secs(10), a));
        assert!(!bans.is_banned(t0 + Duration::from_secs(10), a));
        assert!(bans.record_failure(t0 + Duration::from_secs(20), a));
        assert!(bans.is_banned(t0 + Duration::from_secs(20), a));
        assert!(!bans.is_banned(t0 + Duration::from_secs(20), ip("203.0.113.10")));
        // Failures while banned change nothing and report the ban.
        assert!(bans.record_failure(t0 + Duration::from_secs(30), a));
    }

    #[test]
    fn failures_spread_wider_than_the_window_do_not_ban() {
        let bans = BanList::new(3, WINDOW, BAN);
        let t0 = crate::clock::now();
        let a = ip("203.0.113.9");
        for minute in 0..10u64 {
            let now = t0 + Duration::from_secs(minute * 61);
            assert!(!bans.record_failure(now, a), "minute {minute}");
            assert!(!bans.record_failure(now + Duration::from_secs(1), a), "minute {minute}");
        }
    }

    #[test]
    fn a_ban_expires_and_vanishes() {
        let bans = BanList::new(1, WINDOW, BAN);
        let t0 = crate::clock::now();
        let a = ip("198.51.100.4");
        assert!(bans.record_failure(t0, a));
        assert!(bans.is_banned(t0 + BAN - Duration::from_millis(1), a));
        assert!(!bans.is_banned(t0 + BAN, a));
        assert_eq!(bans.tracked(), 0);
        // After the ban, strikes count from zero again.
        let bans = BanList::new(2, WINDOW, BAN);
        assert!(!bans.record_failure(t0, a));
        assert!(bans.record_failure(t0, a));
        assert!(!bans.record_failure(t0 + BAN, a));
    }

    #[test]
    fn a_direct_ban_keeps_the_longer_end() {
        let bans = BanList::new(0, WINDOW, BAN);
        let t0 = crate::clock::now();
        let a = ip("198.51.100.4");
        assert!(!bans.record_failure(t0, a), "threshold 0 never bans on failures");
        bans.ban(t0, a, Duration::from_secs(100));
        bans.ban(t0, a, Duration::from_secs(10));
        assert!(bans.is_banned(t0 + Duration::from_secs(99), a));
        assert!(!bans.is_banned(t0 + Duration::from_secs(100), a));
        bans.ban(t0, a, Duration::MAX);
        assert!(bans.is_banned(t0 + Duration::from_secs(1_000_000), a));
        bans.unban(a);
        assert!(!bans.is_banned(t0, a));
    }

    #[test]
    fn v6_sources_are_banned_by_slash_64_and_mapped_v4_as_v4() {
        let bans = BanList::new(1, WINDOW, BAN);
        let t0 = crate::clock::now();
        assert!(bans.record_failure(t0, ip("2001:db8:0:1::1")));
        assert!(bans.is_banned(t0, ip("2001:db8:0:1:ffff::2")));
        assert!(!bans.is_banned(t0, ip("2001:db8:0:2::1")));
        bans.ban(t0, ip("::ffff:192.0.2.5"), BAN);
        assert!(bans.is_banned(t0, ip("192.0.2.5")));
    }

    #[test]
    fn memory_stays_bounded_and_bans_outlive_strikes() {
        let bans = BanList::with_capacity(3, WINDOW, BAN, 1024);
        let t0 = crate::clock::now();
        let banned = ip("192.0.2.1");
        bans.ban(t0, banned, BAN);
        for n in 0..200_000u32 {
            let now = t0 + Duration::from_micros(u64::from(n));
            bans.record_failure(now, IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n)));
        }
        assert!(bans.tracked() <= 1024, "{}", bans.tracked());
        assert!(bans.is_banned(t0 + Duration::from_secs(1), banned));
    }

    #[test]
    fn scanner_user_agents() {
        let cases: &[(&str, bool)] = &[
            ("friendly-scanner", true),
            ("FRIENDLY-SCANNER", true),
            ("sipvicious", true),
            ("SIPVicious PRO 1.0", true),
            ("VaxSIPUserAgent/3.1", true),
            ("sipcli/v1.8", true),
            ("sip-scan", true),
            ("iWar", true),
            ("sundayddr", true),
            ("SIVuS Scanner", true),
            ("pplsip", true),
            ("Mozilla friendly-scanner", true),
            ("sipsak 0.9.6", false),
            ("SIPp/3.7", false),
            ("Asterisk PBX 18.10.0", false),
            ("FreeSWITCH-mod_sofia/1.10", false),
            ("MySIPClient/2.0", false),
            ("Kiwari", false),
            ("", false),
        ];
        for (ua, expected) in cases {
            assert_eq!(is_scanner(ua.as_bytes()), *expected, "{ua}");
        }
        assert!(!is_scanner(&[0xff, 0xfe, b's']));
    }
}
