//! The outbound rules against a small directory: two orgs, BYOC and managed trunks, and
//! numbers whose outbound slots and shareability cover every caller-ID case.

use std::net::SocketAddr;
use std::sync::Arc;

use super::*;
use crate::directory::model::{Agent, AgentVersion, InboundConfig, Org, OutboundConfig, Secret};
use crate::directory::Object;
use crate::routing::outbound::{OrgOutbound, TrunkLimitsConfig};
use crate::store::SqliteStore;

const OWN: &str = "+14155550101";
const SHARED: &str = "+14155550102";
const PRIVATE_B: &str = "+14155550103";
const MANAGED: &str = "+14155550104";
const OTHER_ORG_SHARED: &str = "+14155550199";

fn trunk(id: &str, org: &str, managed: Option<&str>, outbound: Option<OutboundConfig>) -> Object {
    Object::Trunk(Trunk {
        id: id.into(),
        org_id: org.into(),
        name: id.into(),
        managed_account_id: managed.map(str::to_owned),
        inbound_config: InboundConfig::default(),
        outbound_config: outbound,
        created_at: String::new(),
        updated_at: String::new(),
    })
}

fn number(e164: &str, org: &str, trunk: &str, outbound: Option<&str>, shareable: bool) -> Object {
    Object::PhoneNumber(PhoneNumber {
        id: format!("pn{e164}"),
        org_id: org.into(),
        phone_number: e164.into(),
        trunk_id: trunk.into(),
        inbound_agent_version_id: None,
        outbound_agent_version_id: outbound.map(str::to_owned),
        outbound_shareable: shareable,
        created_at: String::new(),
        updated_at: String::new(),
    })
}

fn version(id: &str, agent: &str, org: &str, published: bool) -> [Object; 2] {
    [
        Object::Agent(Agent {
            id: agent.into(),
            org_id: org.into(),
            name: agent.into(),
            created_at: String::new(),
        }),
        Object::AgentVersion(AgentVersion {
            id: id.into(),
            agent_id: agent.into(),
            org_id: org.into(),
            version: 1,
            published,
            created_at: String::new(),
        }),
    ]
}

struct Fixture {
    _dir: tempfile::TempDir,
    directory: Arc<Directory>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
    let directory = Arc::new(Directory::load(store).unwrap());
    let byoc = OutboundConfig {
        address: "127.0.0.1:5080".into(),
        auth_username: "trunk-user".into(),
        auth_password: Secret("trunk-pass".into()),
        transport: SipTransport::Tcp,
        media_encryption: MediaEncryption::Srtp,
    };
    let mut objects = vec![
        Object::Org(Org {
            id: "org_a".into(),
            name: "A".into(),
            livekit_sip_host: None,
        }),
        Object::Org(Org {
            id: "org_b".into(),
            name: "B".into(),
            livekit_sip_host: None,
        }),
        trunk("trk_byoc", "org_a", None, Some(byoc)),
        trunk("trk_bare", "org_a", None, None),
        trunk("trk_managed", "org_a", Some("AC_a"), None),
        trunk("trk_b", "org_b", None, None),
        number(OWN, "org_a", "trk_byoc", Some("ver_a"), false),
        number(SHARED, "org_a", "trk_byoc", Some("ver_b"), true),
        number(PRIVATE_B, "org_a", "trk_byoc", Some("ver_b"), false),
        number(MANAGED, "org_a", "trk_managed", Some("ver_m"), false),
        number("+14155550105", "org_a", "trk_bare", Some("ver_bare"), false),
        number("+14155550106", "org_a", "trk_byoc", Some("ver_two"), false),
        number("+14155550107", "org_a", "trk_byoc", Some("ver_two"), false),
        number(OTHER_ORG_SHARED, "org_b", "trk_b", Some("ver_x"), true),
    ];
    for (id, agent, org, published) in [
        ("ver_a", "agent-a", "org_a", true),
        ("ver_b", "agent-b", "org_a", true),
        ("ver_m", "agent-m", "org_a", true),
        ("ver_bare", "agent-bare", "org_a", true),
        ("ver_two", "agent-two", "org_a", true),
        ("ver_none", "agent-none", "org_a", true),
        ("ver_draft", "agent-a", "org_a", false),
        ("ver_x", "agent-x", "org_b", true),
    ] {
        objects.extend(version(id, agent, org, published));
    }
    directory.commit(objects, vec![]).unwrap();
    Fixture { _dir: dir, directory }
}

fn router(f: &Fixture, settings: OutboundSettings) -> DirectoryOutboundRouter {
    DirectoryOutboundRouter::new(f.directory.clone(), settings)
}

fn ask<'a>(version: Option<&'a str>, caller: Option<&'a str>, dialed: &'a str) -> OutboundRequest<'a> {
    OutboundRequest {
        agent_version_id: version,
        caller_id: caller,
        dialed,
        secret: None,
        source: "127.0.0.1:5090".parse().unwrap(),
        call_id: b"c",
        country: "1",
    }
}

fn refusal(router: &DirectoryOutboundRouter, request: &OutboundRequest<'_>) -> OutboundRefusal {
    match router.route_outbound(request) {
        OutboundDecision::Refuse(r) => r,
        OutboundDecision::Carrier(t) => panic!("expected a refusal, got a call from {}", t.caller_id),
    }
}

fn target(router: &DirectoryOutboundRouter, request: &OutboundRequest<'_>) -> CarrierTarget {
    match router.route_outbound(request) {
        OutboundDecision::Carrier(t) => *t,
        OutboundDecision::Refuse(r) => panic!("expected a call, got {r:?}"),
    }
}

#[test]
fn an_agent_calls_from_the_number_whose_outbound_slot_holds_its_version() {
    let f = fixture();
    let r = router(&f, OutboundSettings::default());
    let t = target(&r, &ask(Some("ver_a"), Some(OWN), "+12125551234"));
    assert_eq!((t.caller_id.as_str(), t.dialed.as_str()), (OWN, "+12125551234"));
    assert_eq!((t.trunk_id.as_str(), t.org_id.as_str()), ("trk_byoc", "org_a"));
    assert_eq!(t.agent_id, "agent-a");
    assert_eq!(t.host, "127.0.0.1:5080");
    assert_eq!(t.destination, "127.0.0.1:5080".parse().unwrap());
    assert_eq!(t.transport, Transport::Tcp);
    assert_eq!(t.media_encryption, MediaEncryption::Srtp);
    let creds = t.credentials.unwrap();
    assert_eq!(
        (creds.username.as_str(), creds.password.0.as_str()),
        ("trunk-user", "trunk-pass")
    );
    assert!(!t.managed);
}

#[test]
fn a_shareable_number_may_be_used_by_another_agent_of_the_org_and_a_private_one_may_not() {
    let f = fixture();
    let r = router(&f, OutboundSettings::default());
    let t = target(&r, &ask(Some("ver_a"), Some(SHARED), "+12125551234"));
    assert_eq!(t.caller_id, SHARED);
    assert_eq!(
        refusal(&r, &ask(Some("ver_a"), Some(PRIVATE_B), "+12125551234")),
        OutboundRefusal::CallerIdNotAllowed
    );
    assert_eq!(crate::status::outbound(&OutboundRefusal::CallerIdNotAllowed).0, 403);
}

#[test]
fn another_orgs_number_is_never_a_caller_id_even_when_shareable() {
    let f = fixture();
    let r = router(&f, OutboundSettings::default());
    assert_eq!(
        refusal(&r, &ask(Some("ver_a"), Some(OTHER_ORG_SHARED), "+12125551234")),
        OutboundRefusal::CallerIdNotHosted
    );
    assert_eq!(
        refusal(&r, &ask(Some("ver_a"), Some("+14155550000"), "+12125551234")),
        OutboundRefusal::CallerIdNotHosted,
        "a number nobody hosts"
    );
}

#[test]
fn without_a_caller_id_the_one_number_holding_the_version_is_used_or_a_clear_refusal_given() {
    let f = fixture();
    let r = router(&f, OutboundSettings::default());
    assert_eq!(target(&r, &ask(Some("ver_a"), None, "+12125551234")).caller_id, OWN);
    assert_eq!(
        target(&r, &ask(Some("ver_a"), Some("anonymous"), "+12125551234")).caller_id,
        OWN,
        "a From user that is no number asks for nothing"
    );
    assert_eq!(
        refusal(&r, &ask(Some("ver_none"), None, "+12125551234")),
        OutboundRefusal::NoCallerId
    );
    assert_eq!(
        refusal(&r, &ask(Some("ver_two"), None, "+12125551234")),
        OutboundRefusal::AmbiguousCallerId
    );
}

#[test]
fn a_slot_assigned_after_the_first_call_is_seen_by_the_next() {
    let f = fixture();
    let r = router(&f, OutboundSettings::default());
    assert_eq!(
        refusal(&r, &ask(Some("ver_none"), None, "+12125551234")),
        OutboundRefusal::NoCallerId
    );
    f.directory
        .commit(
            vec![number("+14155550120", "org_a", "trk_byoc", Some("ver_none"), false)],
            vec![],
        )
        .unwrap();
    assert_eq!(
        target(&r, &ask(Some("ver_none"), None, "+12125551234")).caller_id,
        "+14155550120"
    );
}

#[test]
fn the_calling_version_must_be_named_known_and_published() {
    let f = fixture();
    let r = router(&f, OutboundSettings::default());
    assert_eq!(
        refusal(&r, &ask(None, Some(OWN), "+12125551234")),
        OutboundRefusal::NoAgentVersion
    );
    assert_eq!(
        refusal(&r, &ask(Some("ver_nope"), Some(OWN), "+12125551234")),
        OutboundRefusal::UnknownAgentVersion
    );
    assert_eq!(
        refusal(&r, &ask(Some("ver_draft"), Some(OWN), "+12125551234")),
        OutboundRefusal::UnknownAgentVersion
    );
}

#[test]
fn dialled_numbers_are_normalised_to_e164_in_the_caller_ids_country() {
    let f = fixture();
    let r = router(&f, OutboundSettings::default());
    for dialed in ["2125551234", "12125551234", "+1 (212) 555-1234", "tel:+1-212-555-1234"] {
        assert_eq!(
            target(&r, &ask(Some("ver_a"), Some(OWN), dialed)).dialed,
            "+12125551234",
            "{dialed}"
        );
    }
    assert_eq!(
        refusal(&r, &ask(Some("ver_a"), Some(OWN), "reception")),
        OutboundRefusal::InvalidDestination
    );
    assert_eq!(crate::status::outbound(&OutboundRefusal::InvalidDestination).0, 484);
}

#[test]
fn premium_and_international_destinations_are_refused_by_default() {
    let f = fixture();
    let r = router(&f, OutboundSettings::default());
    assert_eq!(
        refusal(&r, &ask(Some("ver_a"), Some(OWN), "+19005551234")),
        OutboundRefusal::DeniedDestination
    );
    assert_eq!(
        refusal(&r, &ask(Some("ver_a"), Some(OWN), "+442071838750")),
        OutboundRefusal::InternationalDenied
    );
    let mut settings = OutboundSettings::default();
    settings.orgs.insert(
        "org_a".into(),
        OrgOutbound {
            allow_international: Some(true),
            ..OrgOutbound::default()
        },
    );
    let r = router(&f, settings);
    assert_eq!(
        target(&r, &ask(Some("ver_a"), Some(OWN), "+442071838750")).dialed,
        "+442071838750"
    );
}

#[test]
fn managed_trunks_go_to_the_configured_termination_host_with_the_accounts_credentials() {
    let f = fixture();
    let r = router(&f, OutboundSettings::default());
    assert_eq!(
        refusal(&r, &ask(Some("ver_m"), Some(MANAGED), "+12125551234")),
        OutboundRefusal::NoOutboundTrunk,
        "no managed host configured"
    );
    let mut settings = OutboundSettings {
        managed_termination_host: "sip:127.0.0.2".into(),
        managed_transport: SipTransport::Tls,
        managed_username: "platform".into(),
        managed_password: Secret("platform-pass".into()),
        ..OutboundSettings::default()
    };
    let r = router(&f, settings.clone());
    let t = target(&r, &ask(Some("ver_m"), Some(MANAGED), "+12125551234"));
    assert!(t.managed);
    assert_eq!(t.host, "127.0.0.2");
    assert_eq!(t.destination, "127.0.0.2:5061".parse().unwrap(), "TLS defaults to 5061");
    assert_eq!(t.transport, Transport::Tls);
    assert_eq!(t.credentials.unwrap().username, "platform");
    settings.managed_accounts.insert(
        "AC_a".into(),
        crate::routing::outbound::ManagedAccount {
            username: "acct-a".into(),
            password: Secret("acct-pass".into()),
        },
    );
    let r = router(&f, settings);
    let t = target(&r, &ask(Some("ver_m"), Some(MANAGED), "+12125551234"));
    assert_eq!(
        t.credentials.unwrap().username,
        "acct-a",
        "the account's own credentials"
    );
}

#[test]
fn a_tls_carriers_host_name_is_remembered_for_its_certificate_check() {
    let f = fixture();
    let settings = OutboundSettings {
        managed_termination_host: "localhost:5071".into(),
        managed_transport: SipTransport::Tls,
        ..OutboundSettings::default()
    };
    let names = Arc::new(crate::transport::TlsNames::default());
    let localhost = crate::routing::Names(vec![("localhost", "127.0.0.1".parse().unwrap())]);
    let r = router(&f, settings)
        .with_tls_names(names.clone())
        .with_lookup(Arc::new(localhost));
    let t = target(&r, &ask(Some("ver_m"), Some(MANAGED), "+12125551234"));
    assert_eq!(t.destination.port(), 5071);
    assert_eq!(
        names.name_for(t.destination),
        rustls_pki_types::ServerName::try_from("localhost").unwrap()
    );
}

#[test]
fn a_byoc_trunk_without_outbound_config_places_no_calls() {
    let f = fixture();
    let r = router(&f, OutboundSettings::default());
    assert_eq!(
        refusal(&r, &ask(Some("ver_bare"), None, "+12125551234")),
        OutboundRefusal::NoOutboundTrunk
    );
}

#[test]
fn the_trunks_limits_and_the_shared_secret_come_from_the_settings() {
    let f = fixture();
    let mut settings = OutboundSettings {
        shared_secret: Secret("lk-secret".into()),
        ..OutboundSettings::default()
    };
    settings.trunks.insert(
        "trk_byoc".into(),
        TrunkLimitsConfig {
            calls_per_second: Some(10.0),
            burst: None,
            max_concurrent: Some(7),
        },
    );
    let r = router(&f, settings);
    assert_eq!(
        refusal(&r, &ask(Some("ver_a"), Some(OWN), "+12125551234")),
        OutboundRefusal::NotAuthorised
    );
    let mut request = ask(Some("ver_a"), Some(OWN), "+12125551234");
    request.secret = Some(b"lk-secret");
    let t = target(&r, &request);
    assert_eq!(
        (t.limits.calls_per_second, t.limits.burst, t.limits.max_concurrent),
        (10.0, 5, 7)
    );
}

#[test]
fn quick_decides_on_what_is_at_hand_and_leaves_a_wait_or_an_index_build_to_a_worker() {
    let f = fixture();
    let r = router(&f, OutboundSettings::default());
    // A caller ID asked for, a literal carrier address: decided on the spot.
    match r.quick_outbound(&ask(Some("ver_a"), Some(OWN), "+12125551234")) {
        Some(OutboundDecision::Carrier(t)) => assert_eq!(t.destination, "127.0.0.1:5080".parse().unwrap()),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        r.quick_outbound(&ask(Some("ver_draft"), Some(OWN), "+12125551234")),
        Some(OutboundDecision::Refuse(OutboundRefusal::UnknownAgentVersion))
    ));
    // No caller ID asked for: the slot index is built on a worker first, then read here.
    let unasked = ask(Some("ver_a"), None, "+12125551234");
    assert!(r.quick_outbound(&unasked).is_none(), "the index is not built yet");
    assert_eq!(target(&r, &unasked).caller_id, OWN);
    assert!(matches!(r.quick_outbound(&unasked), Some(OutboundDecision::Carrier(_))));
    // A carrier host whose address nobody has waited for yet: a worker waits for it.
    let settings = OutboundSettings {
        managed_termination_host: "carrier.test:5071".into(),
        ..OutboundSettings::default()
    };
    let named = router(&f, settings).with_lookup(Arc::new(NotYetResolved));
    let managed = ask(Some("ver_m"), Some(MANAGED), "+12125551234");
    assert!(named.quick_outbound(&managed).is_none());
    assert_eq!(target(&named, &managed).destination, "127.0.0.9:5071".parse().unwrap());
}

/// Knows every name, but only once a worker has waited for it (`peek` finds nothing).
struct NotYetResolved;

impl HostLookup for NotYetResolved {
    fn lookup(&self, host: &HostName<'_>) -> Option<SocketAddr> {
        Some(SocketAddr::new([127, 0, 0, 9].into(), host.port.unwrap_or(5060)))
    }
}
