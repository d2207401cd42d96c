//! Demo data for a fresh checkout: an org with a BYOC trunk, a managed trunk, an agent with
//! a published version, and two numbers (one answered by the agent, one with no agent), so
//! that a newcomer can place a call at once.

use super::model::{
    Agent, AgentVersion, ApiKey, InboundConfig, Org, OutboundConfig, PhoneNumber, Secret, SipTransport, Trunk,
};
use super::{Directory, DirectoryError, Object};

/// The demo agent's id: calls to the demo number go to `sip:<this>@<livekit host>`.
pub const DEMO_AGENT_ID: &str = "0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11";
/// The demo number answered by the demo agent.
pub const DEMO_NUMBER: &str = "+15551234567";

/// Every area an org API key's scopes name (`<area>:read` or `<area>:manage`).
pub const AREAS: &[&str] = &[
    "phone_numbers",
    "trunks",
    "agents",
    "managed_accounts",
    "calls",
    "api_keys",
];

/// Every scope an org API key can hold.
pub const ALL_SCOPES: &[&str] = &[
    "phone_numbers:manage",
    "trunks:manage",
    "agents:manage",
    "managed_accounts:manage",
    "calls:read",
    "api_keys:manage",
];

/// Seed the directory when it is empty; returns the demo org's new API key (shown once).
pub fn ensure_demo(directory: &Directory, now: &str) -> Result<Option<String>, DirectoryError> {
    // Once per database: on a shared store another instance may be seeding right now.
    if !directory.snapshot().orgs.is_empty() || !directory.claim_once("demo_seed")? {
        return Ok(None);
    }
    let key = new_api_key();
    let org = "org_demo";
    let stamp = || now.to_owned();
    let trunk = |id: &str, name: &str, managed: Option<&str>| Trunk {
        id: id.into(),
        org_id: org.into(),
        name: name.into(),
        managed_account_id: managed.map(str::to_owned),
        inbound_config: InboundConfig {
            allowed_sources: vec!["127.0.0.1/32".into()],
            ..InboundConfig::default()
        },
        outbound_config: managed.is_none().then(|| OutboundConfig {
            address: "127.0.0.1:5080".into(),
            auth_username: "demo".into(),
            auth_password: Secret("demo-password".into()),
            transport: SipTransport::Udp,
            media_encryption: Default::default(),
        }),
        created_at: stamp(),
        updated_at: stamp(),
    };
    let number = |id: &str, e164: &str, version: Option<&str>, trunk_id: &str| PhoneNumber {
        id: id.into(),
        org_id: org.into(),
        phone_number: e164.into(),
        trunk_id: trunk_id.into(),
        inbound_agent_version_id: version.map(str::to_owned),
        outbound_agent_version_id: version.map(str::to_owned),
        outbound_shareable: false,
        created_at: stamp(),
        updated_at: stamp(),
    };
    directory.commit(
        vec![
            Object::Org(Org {
                id: org.into(),
                name: "Demo".into(),
                livekit_sip_host: None,
            }),
            Object::Trunk(trunk("trk_demo_byoc", "Demo BYOC carrier", None)),
            Object::Trunk(trunk("trk_demo_managed", "Managed (Twilio)", Some("AC_demo"))),
            Object::Agent(Agent {
                id: DEMO_AGENT_ID.into(),
                org_id: org.into(),
                name: "Demo receptionist".into(),
                created_at: stamp(),
            }),
            Object::AgentVersion(AgentVersion {
                id: "ver_demo_1".into(),
                agent_id: DEMO_AGENT_ID.into(),
                org_id: org.into(),
                version: 1,
                published: true,
                created_at: stamp(),
            }),
            Object::PhoneNumber(number("pn_demo_1", DEMO_NUMBER, Some("ver_demo_1"), "trk_demo_byoc")),
            Object::PhoneNumber(number("pn_demo_2", "+15557654321", None, "trk_demo_byoc")),
            Object::ApiKey(ApiKey {
                id: "key_demo".into(),
                org_id: org.into(),
                name: "demo".into(),
                hash: hash_api_key(&key),
                scopes: ALL_SCOPES.iter().map(|s| s.to_string()).collect(),
                created_at: stamp(),
            }),
        ],
        vec![],
    )?;
    Ok(Some(key))
}

/// A new org API key: `ak_` and 128 random bits.
pub fn new_api_key() -> String {
    format!("ak_{:032x}", rand::random::<u128>())
}

/// The stored form of an API key.
pub fn hash_api_key(key: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(key.as_bytes()))
}
