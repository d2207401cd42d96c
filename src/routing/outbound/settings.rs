//! `[outbound]` in the config: who may place calls, where they may go, how fast, and how
//! managed trunks reach their carrier. Every knob has a default here and in
//! `config/switchboard.toml`; the defaults are the safe ones (toll fraud costs real money):
//! premium-rate prefixes denied, international calls denied, a few calls per second.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::TrunkLimits;
use crate::directory::model::{Secret, SipTransport};

/// `[outbound]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundSettings {
    /// Source addresses (IPs or CIDRs) of the LiveKit SIP endpoints: a new INVITE from one
    /// of them is an agent's outbound call. Empty (the default): no outbound calls.
    pub livekit_sources: Vec<String>,
    /// When set, every outbound INVITE must carry `X-Switchboard-Secret` with this value
    /// (beside arriving from a LiveKit source address). Empty: not required.
    pub shared_secret: Secret,
    /// Destination prefixes (E.164) no org may dial unless its own `deny_prefixes` replaces
    /// this list. Default: the US premium-rate codes +1900 and +1976.
    pub deny_prefixes: Vec<String>,
    /// Whether calls may leave the caller ID's country (NANP countries other than the US and
    /// Canada are countries of their own). Default false.
    pub allow_international: bool,
    /// Destination prefixes allowed even when international calls are not. Default none.
    pub allow_prefixes: Vec<String>,
    /// Per-trunk limits for trunks without their own entry in `trunks`.
    pub calls_per_second: f64,
    pub burst: u32,
    pub max_concurrent: u32,
    /// The managed carrier's termination host (`host[:port]`) for managed trunks; empty:
    /// managed trunks place no calls.
    pub managed_termination_host: String,
    /// How the managed carrier is reached.
    pub managed_transport: SipTransport,
    /// Credentials for the managed carrier's challenge, for accounts not in
    /// `managed_accounts`. Empty username: no credentials (an IP-authenticated account).
    pub managed_username: String,
    pub managed_password: Secret,
    /// A PEM file of CA certificates trusted for carriers' TLS certificates (and the
    /// LiveKit host's on a TLS agent leg), beside the webpki (Mozilla) roots: a private
    /// CA, or a test CA. Unset by default.
    pub carrier_tls_ca: Option<PathBuf>,
    /// Credentials per managed account id (`[outbound.managed_accounts.AC...]`).
    pub managed_accounts: BTreeMap<String, ManagedAccount>,
    /// Per-org destination policy (`[outbound.orgs.<org id>]`).
    pub orgs: BTreeMap<String, OrgOutbound>,
    /// Per-trunk limits (`[outbound.trunks.<trunk id>]`).
    pub trunks: BTreeMap<String, TrunkLimitsConfig>,
}

impl Default for OutboundSettings {
    fn default() -> OutboundSettings {
        OutboundSettings {
            livekit_sources: Vec::new(),
            shared_secret: Secret::default(),
            deny_prefixes: vec!["+1900".into(), "+1976".into()],
            allow_international: false,
            allow_prefixes: Vec::new(),
            calls_per_second: 2.0,
            burst: 5,
            max_concurrent: 20,
            managed_termination_host: String::new(),
            managed_transport: SipTransport::Udp,
            managed_username: String::new(),
            managed_password: Secret::default(),
            carrier_tls_ca: None,
            managed_accounts: BTreeMap::new(),
            orgs: BTreeMap::new(),
            trunks: BTreeMap::new(),
        }
    }
}

/// One managed account's credentials.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagedAccount {
    pub username: String,
    pub password: Secret,
}

/// One org's destination policy; what it leaves unset follows the global settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrgOutbound {
    /// Replaces the global `deny_prefixes` for this org (an empty list denies nothing).
    pub deny_prefixes: Option<Vec<String>>,
    pub allow_international: Option<bool>,
    /// Added to the global `allow_prefixes`.
    pub allow_prefixes: Vec<String>,
}

/// One trunk's limits; what it leaves unset follows the global settings.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrunkLimitsConfig {
    pub calls_per_second: Option<f64>,
    pub burst: Option<u32>,
    pub max_concurrent: Option<u32>,
}

impl OutboundSettings {
    /// The limits for one trunk.
    pub fn limits(&self, trunk_id: &str) -> TrunkLimits {
        let own = self.trunks.get(trunk_id).copied().unwrap_or_default();
        TrunkLimits {
            calls_per_second: own.calls_per_second.unwrap_or(self.calls_per_second),
            burst: own.burst.unwrap_or(self.burst),
            max_concurrent: own.max_concurrent.unwrap_or(self.max_concurrent),
        }
    }

    /// Whether `presented` is the configured shared secret (or none is configured). The
    /// comparison takes the same time wherever the first difference is.
    pub fn secret_matches(&self, presented: Option<&[u8]>) -> bool {
        let expected = self.shared_secret.0.as_bytes();
        if expected.is_empty() {
            return true;
        }
        let Some(presented) = presented else {
            return false;
        };
        let mut diff = expected.len() ^ presented.len();
        for (i, e) in expected.iter().enumerate() {
            diff |= usize::from(e ^ presented.get(i).copied().unwrap_or(0));
        }
        diff == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trunk_entry_overrides_only_the_limits_it_names() {
        let mut s = OutboundSettings::default();
        s.trunks.insert(
            "t1".into(),
            TrunkLimitsConfig {
                max_concurrent: Some(3),
                ..TrunkLimitsConfig::default()
            },
        );
        assert_eq!(s.limits("t1").max_concurrent, 3);
        assert_eq!(s.limits("t1").calls_per_second, 2.0);
        assert_eq!(s.limits("t2").max_concurrent, 20);
    }

    #[test]
    fn the_shared_secret_must_match_exactly_when_configured() {
        let mut s = OutboundSettings::default();
        assert!(s.secret_matches(None), "none configured");
        s.shared_secret = Secret("s3cret".into());
        assert!(s.secret_matches(Some(b"s3cret")));
        assert!(!s.secret_matches(Some(b"s3cre")));
        assert!(!s.secret_matches(Some(b"s3cret!")));
        assert!(!s.secret_matches(None));
    }
}
