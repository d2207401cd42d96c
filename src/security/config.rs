//! The `[security]` section of the configuration: every knob of the edge's defences, with its
//! default and the reason for it.
//!
//! Owns reading and checking the values, and building each defence from them; `validate`
//! refuses settings that would silently disable a defence (a zero rate, a zero TTL, a bad
//! CIDR). Does not pick the nonce secret: the server draws it at start-up.

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;

use super::acl::{AclError, SourceAcl};
use super::bans::BanList;
use super::digest::DigestServer;
use super::rate::RateLimiter;

/// What to do with a request from a source no trunk ACL and no LiveKit range claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownSource {
    /// Answer 403 Forbidden: honest misconfigured carriers learn something is wrong.
    Reject,
    /// Send nothing: scanners learn nothing, not even that a SIP server listens.
    Drop,
}

/// Why the `[security]` section is unusable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SecurityConfigError {
    #[error("security.{field} must be {expected}, not {value}")]
    OutOfRange {
        field: &'static str,
        expected: &'static str,
        value: f64,
    },
    #[error("security.livekit_sources: {0}")]
    LivekitSource(#[source] AclError),
}

/// The `[security]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// A source no ACL claims: "reject" (403) or "drop" (silence). Default "reject".
    pub unknown_source: UnknownSource,
    /// New dialogs per second from one source (IPv4 address or IPv6 /64). Default 200: a
    /// carrier's SBC sends all of a trunk's calls from a few addresses, and a digest call
    /// spends two (challenge, answer), so this is twice the per-trunk rate.
    pub source_calls_per_sec: f64,
    /// Dialogs a source may open at once before the rate applies. Default 400.
    pub source_burst: f64,
    /// New calls per second on one trunk. Default 100: a mid-size carrier trunk offers tens
    /// of calls per second at its peak (10/s refused 271 of 600 calls offered at 20/s);
    /// a flood or a loop still meets a limit far below what the core carries.
    pub trunk_calls_per_sec: f64,
    /// Calls a trunk may open at once before the rate applies. Default 200 (two seconds).
    pub trunk_burst: f64,
    /// A limited source refused more than `flood_factor × rate` times within a second is
    /// dropped silently instead of answered 503. Default 5.
    pub flood_factor: f64,
    /// Keys each rate limiter tracks (up to ~150 bytes each). Default 65536.
    pub rate_tracked_keys: usize,
    /// Counted authentication failures that ban a source; 0 disables. Default 5.
    pub ban_threshold: u32,
    /// Window in which `ban_threshold` failures must fall (seconds). Default 60.
    pub ban_window_secs: u64,
    /// How long a ban lasts (seconds). Default 3600.
    pub ban_duration_secs: u64,
    /// Sources the ban list tracks. Default 65536.
    pub ban_tracked_sources: usize,
    /// Ban a source whose User-Agent names a known scanner, for `ban_duration_secs`.
    /// Default true.
    pub scanner_ban: bool,
    /// Realm of our Digest challenges (RFC 3261 §22.1: globally unique, usually a host
    /// name). Default "switchboard".
    pub digest_realm: String,
    /// Age past which a nonce draws a stale re-challenge (seconds). Default 300: long enough
    /// for a slow retry, short enough that a captured nonce soon dies.
    pub nonce_ttl_secs: u64,
    /// Algorithms our challenges offer, most preferred first (RFC 8760). Default SHA-256,
    /// then MD5; a peer that only speaks MD5 and takes the first offer needs `["MD5"]`.
    pub digest_algorithms: Vec<String>,
    /// CIDRs from which LiveKit (the agent side) sends: admitted for requests inside
    /// dialogs and, from `[outbound] livekit_sources`, new outbound INVITEs; a new inbound
    /// call from them meets the trunks like anyone's. Never banned on a datagram's claims.
    /// Default loopback only.
    pub livekit_sources: Vec<String>,
    /// LiveKit's outbound trunk credentials (its `auth_username` / `auth_password`): when
    /// set, an outbound INVITE from a LiveKit source must also answer our digest challenge
    /// with them. Recommended: an address range alone is forgeable over UDP. Default unset.
    pub livekit_auth_username: String,
    pub livekit_auth_password: crate::directory::model::Secret,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            unknown_source: UnknownSource::Reject,
            source_calls_per_sec: 200.0,
            source_burst: 400.0,
            trunk_calls_per_sec: 100.0,
            trunk_burst: 200.0,
            flood_factor: 5.0,
            rate_tracked_keys: 65_536,
            ban_threshold: 5,
            ban_window_secs: 60,
            ban_duration_secs: 3600,
            ban_tracked_sources: 65_536,
            scanner_ban: true,
            digest_realm: "switchboard".to_owned(),
            nonce_ttl_secs: 300,
            digest_algorithms: vec!["SHA-256".to_owned(), "MD5".to_owned()],
            livekit_sources: vec!["127.0.0.0/8".to_owned(), "::1/128".to_owned()],
            livekit_auth_username: String::new(),
            livekit_auth_password: crate::directory::model::Secret::default(),
        }
    }
}

impl SecurityConfig {
    /// Checks every value; the first fault is returned.
    pub fn validate(&self) -> Result<(), SecurityConfigError> {
        positive("source_calls_per_sec", self.source_calls_per_sec)?;
        at_least_one("source_burst", self.source_burst)?;
        positive("trunk_calls_per_sec", self.trunk_calls_per_sec)?;
        at_least_one("trunk_burst", self.trunk_burst)?;
        at_least_one("flood_factor", self.flood_factor)?;
        at_least_one("rate_tracked_keys", self.rate_tracked_keys as f64)?;
        at_least_one("ban_window_secs", self.ban_window_secs as f64)?;
        at_least_one("ban_duration_secs", self.ban_duration_secs as f64)?;
        at_least_one("ban_tracked_sources", self.ban_tracked_sources as f64)?;
        at_least_one("nonce_ttl_secs", self.nonce_ttl_secs as f64)?;
        self.livekit_acl().map(drop)
    }

    /// The LiveKit ranges as an ACL whose single owner is `"livekit"`.
    pub fn livekit_acl(&self) -> Result<SourceAcl, SecurityConfigError> {
        let (acl, mut errors) = SourceAcl::build([("livekit".to_owned(), self.livekit_sources.clone())]);
        match errors.pop() {
            Some(e) => Err(SecurityConfigError::LivekitSource(e)),
            None => Ok(acl),
        }
    }

    /// The per-source limiter; key it with [`source_key`](super::source_key).
    pub fn source_limiter(&self) -> RateLimiter<IpAddr> {
        RateLimiter::with_capacity(
            self.source_calls_per_sec,
            self.source_burst,
            self.flood_factor,
            self.rate_tracked_keys,
        )
    }

    /// The per-trunk limiter, keyed by trunk id.
    pub fn trunk_limiter(&self) -> RateLimiter<String> {
        RateLimiter::with_capacity(
            self.trunk_calls_per_sec,
            self.trunk_burst,
            self.flood_factor,
            self.rate_tracked_keys,
        )
    }

    pub fn ban_list(&self) -> BanList {
        BanList::with_capacity(
            self.ban_threshold,
            self.ban_window(),
            self.ban_duration(),
            self.ban_tracked_sources,
        )
    }

    /// The Digest server for our realm; `secret` comes from a CSPRNG at start-up.
    pub fn digest_server(&self, secret: [u8; 32]) -> DigestServer {
        DigestServer::new(secret, self.digest_realm.clone(), self.nonce_ttl())
    }

    pub fn ban_window(&self) -> Duration {
        Duration::from_secs(self.ban_window_secs)
    }

    pub fn ban_duration(&self) -> Duration {
        Duration::from_secs(self.ban_duration_secs)
    }

    pub fn nonce_ttl(&self) -> Duration {
        Duration::from_secs(self.nonce_ttl_secs)
    }
}

fn positive(field: &'static str, value: f64) -> Result<(), SecurityConfigError> {
    if value.is_finite() && value > 0.0 {
        return Ok(());
    }
    Err(SecurityConfigError::OutOfRange {
        field,
        expected: "a finite number above 0",
        value,
    })
}

fn at_least_one(field: &'static str, value: f64) -> Result<(), SecurityConfigError> {
    if value.is_finite() && value >= 1.0 {
        return Ok(());
    }
    Err(SecurityConfigError::OutOfRange {
        field,
        expected: "at least 1",
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The section as the lead pastes it into config/switchboard.toml.
    const SECTION: &str = include_str!("security.toml");

    #[derive(Deserialize)]
    struct File {
        security: SecurityConfig,
    }

    #[test]
    fn the_documented_section_reads_as_the_defaults() {
        let file: File = toml::from_str(SECTION).unwrap();
        assert_eq!(file.security, SecurityConfig::default());
        file.security.validate().unwrap();
    }

    #[test]
    fn an_empty_section_means_the_defaults() {
        let file: File = toml::from_str("[security]\n").unwrap();
        assert_eq!(file.security, SecurityConfig::default());
    }

    #[test]
    fn a_typo_is_an_error() {
        let err = toml::from_str::<File>("[security]\nban_treshold = 3\n").err().unwrap();
        assert!(err.to_string().contains("ban_treshold"), "{err}");
        assert!(toml::from_str::<File>("[security]\nunknown_source = \"ignore\"\n").is_err());
    }

    #[test]
    fn drop_is_spelled_in_lower_case() {
        let file: File = toml::from_str("[security]\nunknown_source = \"drop\"\n").unwrap();
        assert_eq!(file.security.unknown_source, UnknownSource::Drop);
    }

    #[test]
    fn values_that_disable_a_defence_are_refused() {
        let cases: &[(&str, &str)] = &[
            ("source_calls_per_sec = 0.0", "source_calls_per_sec"),
            ("trunk_burst = 0.5", "trunk_burst"),
            ("nonce_ttl_secs = 0", "nonce_ttl_secs"),
            ("livekit_sources = [\"10.0.0.0/99\"]", "10.0.0.0/99"),
        ];
        for (line, named) in cases {
            let file: File = toml::from_str(&format!("[security]\n{line}\n")).unwrap();
            let err = file.security.validate().unwrap_err().to_string();
            assert!(err.contains(named), "{line}: {err}");
        }
    }

    #[test]
    fn the_defences_are_built_from_the_values() {
        let cfg = SecurityConfig {
            source_burst: 1.0,
            ban_threshold: 1,
            ..SecurityConfig::default()
        };
        let t0 = crate::clock::now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let sources = cfg.source_limiter();
        assert_eq!(sources.check(t0, &ip), crate::security::Admission::Allow);
        assert_ne!(sources.check(t0, &ip), crate::security::Admission::Allow);
        assert_eq!(cfg.trunk_limiter().check(t0, "t1"), crate::security::Admission::Allow);
        assert!(cfg.ban_list().record_failure(t0, ip));
        assert_eq!(cfg.digest_server([0; 32]).realm(), "switchboard");
    }

    #[test]
    fn the_livekit_acl_claims_loopback_by_default() {
        let acl = SecurityConfig::default().livekit_acl().unwrap();
        assert_eq!(acl.owners("127.0.0.1".parse().unwrap()), ["livekit"]);
        assert_eq!(acl.owners("::1".parse().unwrap()), ["livekit"]);
        assert!(acl.owners("192.0.2.1".parse().unwrap()).is_empty());
    }
}
