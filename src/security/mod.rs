//! The edge's defences, in the order a request meets them: is the source banned, whom does
//! it belong to, is it sending too fast, can it prove who it is.
//!
//! | file             | owns                                                                              |
//! |------------------|-----------------------------------------------------------------------------------|
//! | `cidr.rs`        | CIDR blocks: parsing (errors name the entry), containment, `source_key`           |
//! | `acl.rs`         | `SourceAcl`: which trunks (or LiveKit) claim a source address                     |
//! | `certificate.rs` | `CertFingerprint`; `CertificatePins`: which trunks a TLS client certificate meets |
//! | `bans.rs`        | `BanList`: strikes and bans per source; `is_scanner` for User-Agents              |
//! | `rate.rs`        | `RateLimiter`: token buckets per source or trunk; `Allow`, `Limit`, `Drop`        |
//! | `shard.rs`       | the bounded, sharded map under `BanList` and `RateLimiter`                        |
//! | `digest/`        | Digest authentication: `DigestServer` challenges, `Challenge` answers             |
//! | `config.rs`      | `SecurityConfig`, the `[security]` section; `security.toml` is its text           |
//!
//! Everything here is sans-IO: the caller passes `now` and plain values (addresses, header
//! values, a password lookup) and acts on the verdict; nothing reads a clock, a socket or the
//! directory. The shared state (bans, buckets, the replay table) is behind `&self` and
//! bounded, so the receive threads can share one instance each.
//!
//! Suggested order for a new request, cheapest refusal first: `BanList::is_banned` (drop);
//! `is_scanner` on User-Agent (ban, drop); `SourceAcl::owners` plus the LiveKit ACL (unknown
//! source: reject or drop per config), narrowed by `CertificatePins::claims` where trunks pin
//! TLS client certificates; the per-source `RateLimiter`; the per-trunk one; Digest where the
//! trunk asks for it, feeding `AuthFailure::counts_as_failure` to
//! `BanList::record_failure`.

pub mod acl;
pub mod bans;
pub mod certificate;
pub mod cidr;
pub mod config;
pub mod digest;
pub mod rate;
mod shard;

pub use acl::{AclError, SourceAcl};
pub use bans::{is_scanner, BanList, DEFAULT_BAN_CAPACITY};
pub use certificate::{normalise_fingerprint, CertFingerprint, CertificatePins, Claims, FingerprintError, PinEntry};
pub use cidr::{canonical, source_key, Cidr, CidrError};
pub use config::{SecurityConfig, SecurityConfigError, UnknownSource};
pub use digest::{
    parse_challenge, preferred_challenge, Algorithm, AuthFailure, Challenge, ChallengeError, Credential, DigestServer,
    Verified,
};
pub use rate::{Admission, RateLimiter, DEFAULT_RATE_CAPACITY};
