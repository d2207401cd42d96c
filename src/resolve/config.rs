//! `[resolver]`: where host names are looked up and how long answers are kept.

use std::net::SocketAddr;

use serde::Deserialize;

/// The resolver's knobs, each with its default and the reason for it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ResolverConfig {
    /// DNS servers to ask (`ip:port`); empty: the system's (`/etc/resolv.conf`). `/etc/hosts`
    /// is read first either way.
    pub nameservers: Vec<SocketAddr>,
    /// Shortest time an answer is kept, whatever its TTL (seconds): a zero TTL must not
    /// make every call a lookup.
    pub min_ttl_secs: u64,
    /// Longest time an answer is kept, whatever its TTL (seconds).
    pub max_ttl_secs: u64,
    /// How long a failed lookup is remembered before the next try (seconds).
    pub negative_ttl_secs: u64,
    /// How long a call waits for the first answer about a host never seen before (ms);
    /// also each DNS query's timeout.
    pub first_lookup_ms: u64,
}

impl Default for ResolverConfig {
    fn default() -> ResolverConfig {
        ResolverConfig {
            nameservers: Vec::new(),
            min_ttl_secs: 5,
            max_ttl_secs: 300,
            negative_ttl_secs: 5,
            first_lookup_ms: 2000,
        }
    }
}
