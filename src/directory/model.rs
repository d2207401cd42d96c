//! The telephony data model (DESIGN.md, the product's telephony documentation): orgs,
//! trunks (managed or BYOC), phone numbers with independent inbound and outbound agent
//! slots, agents and their numbered versions. Serialized as stored and as the API shows it;
//! `auth_password` is write-only and never serialized out.

use serde::{Deserialize, Serialize};

/// An organisation: the tenant every other object belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Org {
    pub id: String,
    pub name: String,
    /// The org's LiveKit SIP endpoint (`host[:port]`); the global default when unset.
    #[serde(default)]
    pub livekit_sip_host: Option<String>,
}

/// How a trunk's media is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum MediaEncryption {
    #[default]
    None,
    Srtp,
}

/// The SIP transport toward a carrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SipTransport {
    #[default]
    Udp,
    Tcp,
    Tls,
}

/// What a trunk accepts from its carrier.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct InboundConfig {
    #[serde(default)]
    pub enable_noise_cancellation: bool,
    #[serde(default)]
    pub media_encryption: MediaEncryption,
    /// Carrier signalling addresses (IPs or CIDRs) that may send calls for this trunk.
    #[serde(default)]
    pub allowed_sources: Vec<String>,
    /// Digest credentials (RFC 3261 §22) the carrier must present: instead of its address
    /// when `allowed_sources` is empty, as well as it otherwise.
    #[serde(default)]
    pub auth_username: Option<String>,
    /// Write-only, like the outbound password.
    #[serde(default, skip_serializing)]
    pub auth_password: Secret,
    /// SHA-256 (lower-case hex, no colons) of the TLS client certificates the carrier may
    /// present; when set, a request is this trunk's only over TLS with one of them, as well
    /// as from a listed source and with digest where those are set too.
    #[serde(default)]
    pub tls_client_fingerprints: Vec<String>,
    /// New calls per second this trunk may send (default: the server's `[security]` value).
    #[serde(default)]
    pub max_calls_per_second: Option<f64>,
}

/// How calls leave through a BYOC trunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundConfig {
    pub address: String,
    pub auth_username: String,
    /// Write-only: accepted on input, kept in the store, never shown.
    #[serde(default, skip_serializing)]
    pub auth_password: Secret,
    #[serde(default)]
    pub transport: SipTransport,
    #[serde(default)]
    pub media_encryption: MediaEncryption,
}

/// A secret string: its `Debug` output is redacted so it cannot reach a log by accident,
/// and a value of the wrong type is refused without repeating it (serde's own message
/// quotes numbers: `invalid type: integer `12345``).
#[derive(Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        struct Text;
        fn refused<E: serde::de::Error>() -> E {
            E::custom("invalid type: a secret must be a string (the value is not shown)")
        }
        impl serde::de::Visitor<'_> for Text {
            type Value = Secret;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret(v.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Secret, E> {
                Ok(Secret(v))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Secret, E> {
                Err(refused())
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Secret, E> {
                Err(refused())
            }
            fn visit_i128<E: serde::de::Error>(self, _: i128) -> Result<Secret, E> {
                Err(refused())
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Secret, E> {
                Err(refused())
            }
            fn visit_u128<E: serde::de::Error>(self, _: u128) -> Result<Secret, E> {
                Err(refused())
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Secret, E> {
                Err(refused())
            }
            fn visit_char<E: serde::de::Error>(self, _: char) -> Result<Secret, E> {
                Err(refused())
            }
            fn visit_bytes<E: serde::de::Error>(self, _: &[u8]) -> Result<Secret, E> {
                Err(refused())
            }
        }
        // `deserialize_any`: with `deserialize_string` serde_json words the type error itself.
        deserializer.deserialize_any(Text)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A SIP trunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trunk {
    pub id: String,
    pub org_id: String,
    pub name: String,
    /// Set on managed (platform-provisioned) trunks, which the API may read but not change.
    #[serde(default)]
    pub managed_account_id: Option<String>,
    #[serde(default)]
    pub inbound_config: InboundConfig,
    #[serde(default)]
    pub outbound_config: Option<OutboundConfig>,
    pub created_at: String,
    pub updated_at: String,
}

impl Trunk {
    pub fn is_managed(&self) -> bool {
        self.managed_account_id.is_some()
    }
}

/// A phone number on one trunk, with two independent agent slots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhoneNumber {
    pub id: String,
    pub org_id: String,
    /// E.164.
    pub phone_number: String,
    pub trunk_id: String,
    #[serde(default)]
    pub inbound_agent_version_id: Option<String>,
    #[serde(default)]
    pub outbound_agent_version_id: Option<String>,
    #[serde(default)]
    pub outbound_shareable: bool,
    pub created_at: String,
    pub updated_at: String,
}

/// An agent (its id is the user part of the agent leg's request-URI).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub created_at: String,
}

/// One numbered version of an agent; only published versions can be assigned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentVersion {
    pub id: String,
    pub agent_id: String,
    pub org_id: String,
    pub version: u32,
    pub published: bool,
    pub created_at: String,
}

/// An org API key. Only its SHA-256 is stored; the key itself is shown once, at creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: String,
    pub org_id: String,
    /// What the key is for, as its maker named it.
    #[serde(default)]
    pub name: String,
    /// Hex SHA-256 of the whole key (`ak_...`).
    pub hash: String,
    pub scopes: Vec<String>,
    pub created_at: String,
}

/// The org's inbound routing config (one per org): a workflow that picks the agent at call
/// time, and the fallback used when it selects nothing, fails or times out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingConfig {
    pub org_id: String,
    pub enabled: bool,
    /// The workflow module (wasm bytes or WAT text), base64 in JSON; run by the workflow
    /// sandbox.
    #[serde(default)]
    pub workflow_definition: Option<String>,
    #[serde(default)]
    pub fallback_agent_id: Option<String>,
    #[serde(default)]
    pub fallback_agent_version: Option<u32>,
    /// IANA time zone the workflow's local-time keys use.
    #[serde(default)]
    pub tz: Option<String>,
    pub updated_at: String,
}

/// A user's personal access token (`pat_...`): acts for the orgs it lists, one at a time,
/// named by the `X-Org-Id` header. Stored hashed, like API keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserToken {
    pub id: String,
    pub hash: String,
    pub org_ids: Vec<String>,
    pub scopes: Vec<String>,
    pub created_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_of_the_wrong_type_is_refused_without_repeating_it() {
        for body in [
            r#"{"auth_password": 914273}"#,
            r#"{"auth_password": 91427.5}"#,
            r#"{"auth_password": true}"#,
        ] {
            let err = serde_json::from_str::<InboundConfig>(body).unwrap_err().to_string();
            assert!(!err.contains("91427") && !err.contains("true"), "{err}");
            assert!(err.contains("must be a string"), "{err}");
        }
        let ok: InboundConfig = serde_json::from_str(r#"{"auth_password": "pw"}"#).unwrap();
        assert_eq!(ok.auth_password.0, "pw");
    }

    #[test]
    fn a_trunk_stored_before_client_certificates_loads_with_none_pinned() {
        // As rows were written before tls_client_fingerprints, and by the build that had a
        // single unused `tls_client_fingerprint`.
        for inbound in [
            r#"{"allowed_sources": ["192.0.2.1"]}"#,
            r#"{"allowed_sources": ["192.0.2.1"], "tls_client_fingerprint": null}"#,
        ] {
            let row = format!(
                r#"{{"id": "trk_1", "org_id": "org_1", "name": "old", "inbound_config": {inbound},
                    "created_at": "t", "updated_at": "t"}}"#
            );
            let trunk: Trunk = serde_json::from_str(&row).unwrap();
            assert!(trunk.inbound_config.tls_client_fingerprints.is_empty(), "{inbound}");
            assert_eq!(trunk.inbound_config.allowed_sources, ["192.0.2.1"]);
        }
    }
}
