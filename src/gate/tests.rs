//! The gate's rules, one test each, over a real directory.
use super::*;
use crate::directory::model::{InboundConfig, Secret, Trunk};
use crate::directory::Object;
use crate::sip::{Message, Method, RequestBuilder};
use crate::store::SqliteStore;

const CARRIER_A: &str = "192.0.2.10";
const CARRIER_B: &str = "198.51.100.20";
const STRANGER: &str = "203.0.113.66";

fn trunk(id: &str, sources: &[&str], auth: Option<(&str, &str)>) -> Object {
    pinned(id, sources, &[], auth)
}

/// A trunk that pins these client certificates.
fn pinned(id: &str, sources: &[&str], certificates: &[CertFingerprint], auth: Option<(&str, &str)>) -> Object {
    Object::Trunk(Trunk {
        id: id.into(),
        org_id: "org_demo".into(),
        name: id.into(),
        managed_account_id: None,
        inbound_config: InboundConfig {
            allowed_sources: sources.iter().map(|s| s.to_string()).collect(),
            auth_username: auth.map(|a| a.0.to_owned()),
            auth_password: Secret(auth.map_or(String::new(), |a| a.1.to_owned())),
            tls_client_fingerprints: certificates.iter().map(|c| c.to_string()).collect(),
            ..InboundConfig::default()
        },
        outbound_config: None,
        created_at: "t".into(),
        updated_at: "t".into(),
    })
}

/// The demo directory, its BYOC trunk moved to carrier A, a second trunk for carrier B
/// holding +15557654321, and a digest-only trunk.
fn gate(config: SecurityConfig) -> (Gate, tempfile::TempDir) {
    gate_of(config, true)
}

fn gate_of(config: SecurityConfig, with_digest_trunk: bool) -> (Gate, tempfile::TempDir) {
    let digest = with_digest_trunk.then(|| trunk("trk_digest", &[], Some(("carrier-c", "s3cret"))));
    gate_with(config, digest.into_iter().collect())
}

/// A trunk kept managed (a trunk never changes kind).
fn managed(trunk: Object) -> Object {
    match trunk {
        Object::Trunk(t) => Object::Trunk(Trunk {
            managed_account_id: Some("AC_demo".into()),
            ..t
        }),
        other => other,
    }
}

/// The demo directory with carriers A and B, and `extra` objects.
fn gate_with(config: SecurityConfig, extra: Vec<Object>) -> (Gate, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
    let directory = Arc::new(Directory::load(store).unwrap());
    crate::directory::ensure_demo(&directory, "t").unwrap();
    let mut number = (**directory.snapshot().number("+15557654321").unwrap()).clone();
    number.trunk_id = "trk_b".into();
    directory
        .commit(
            vec![
                trunk("trk_demo_byoc", &[CARRIER_A], None),
                managed(trunk("trk_demo_managed", &[], None)),
                trunk("trk_b", &[CARRIER_B], None),
                Object::PhoneNumber(number),
            ]
            .into_iter()
            .chain(extra)
            .collect(),
            vec![],
        )
        .unwrap();
    let config = SecurityConfig {
        livekit_sources: vec!["10.9.9.0/24".into()],
        ..config
    };
    (Gate::new(config, directory), dir)
}

fn invite(number: &str, headers: &[(HeaderName, &str)]) -> Message {
    let mut b = RequestBuilder::new(Method::Invite, format!("sip:{number}@edge").as_bytes())
        .header(HeaderName::Via, "SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKx")
        .header(HeaderName::From, "<sip:+14155550100@carrier>;tag=f")
        .header(HeaderName::To, format!("<sip:{number}@edge>"))
        .header(HeaderName::CallId, "c1")
        .header(HeaderName::CSeq, "1 INVITE");
    for (name, value) in headers {
        b = b.header(*name, *value);
    }
    b.build()
}

fn ip(s: &str) -> Origin {
    Origin::address(s.parse().unwrap())
}

/// Admitted, the gate naming no trunk (a request inside a dialog, LiveKit's call).
fn passed() -> Verdict {
    Verdict::Admitted { carrier: None }
}

/// A new call admitted as `trunk`'s (every trunk here is the demo org's).
fn admitted(trunk: &str) -> Verdict {
    Verdict::Admitted {
        carrier: Some(CarrierId {
            org_id: "org_demo".into(),
            trunk_id: Some(trunk.into()),
        }),
    }
}

fn forbidden() -> Verdict {
    Verdict::Refuse(GateRefusal::Stranger)
}

#[test]
fn a_stranger_gets_the_same_403_whether_the_number_exists_or_not() {
    let (gate, _d) = gate_of(SecurityConfig::default(), false);
    let now = Instant::now();
    for number in [crate::directory::DEMO_NUMBER, "+15550000000", "+15557654321"] {
        assert_eq!(
            gate.check(now, ip(STRANGER), &invite(number, &[])),
            forbidden(),
            "{number}"
        );
    }
    let (drop_gate, _d) = gate_with_drop();
    assert_eq!(
        drop_gate.check(now, ip(STRANGER), &invite("+15550000000", &[])),
        Verdict::Drop
    );
}

fn gate_with_drop() -> (Gate, tempfile::TempDir) {
    gate_of(
        SecurityConfig {
            unknown_source: UnknownSource::Drop,
            ..SecurityConfig::default()
        },
        false,
    )
}

#[test]
fn a_trunk_reaches_its_own_numbers_only() {
    let (gate, _d) = gate(SecurityConfig::default());
    let now = Instant::now();
    assert_eq!(
        gate.check(now, ip(CARRIER_A), &invite(crate::directory::DEMO_NUMBER, &[])),
        admitted("trk_demo_byoc")
    );
    assert_eq!(
        gate.check(now, ip(CARRIER_A), &invite("+15557654321", &[])),
        forbidden(),
        "trk_b's number"
    );
    assert_eq!(
        gate.check(now, ip(CARRIER_B), &invite("+15557654321", &[])),
        admitted("trk_b")
    );
    assert_eq!(
        gate.check(now, ip(CARRIER_A), &invite("+15550000000", &[])),
        admitted("trk_demo_byoc"),
        "a trunk learns 404 for numbers nobody hosts"
    );
}

#[test]
fn a_call_is_admitted_as_one_trunk_only_when_the_gate_can_tell_which() {
    let (gate, _d) = gate_with(SecurityConfig::default(), vec![trunk("trk_a2", &[CARRIER_A], None)]);
    let now = Instant::now();
    assert_eq!(
        gate.check(now, ip(CARRIER_A), &invite(crate::directory::DEMO_NUMBER, &[])),
        admitted("trk_demo_byoc"),
        "the number's trunk"
    );
    assert_eq!(
        gate.check(now, ip(CARRIER_A), &invite("+15550000000", &[])),
        Verdict::Admitted {
            carrier: Some(CarrierId {
                org_id: "org_demo".into(),
                trunk_id: None,
            })
        },
        "two trunks of one org list the source and the number is neither's"
    );
    let Object::Trunk(other) = trunk("trk_x", &[CARRIER_A], None) else {
        unreachable!()
    };
    let other = Object::Trunk(Trunk {
        org_id: "org_other".into(),
        ..other
    });
    let (gate, _d) = gate_with(SecurityConfig::default(), vec![other]);
    assert_eq!(
        gate.check(now, ip(CARRIER_A), &invite("+15550000000", &[])),
        passed(),
        "trunks of two orgs list the source: the call is nobody's in particular"
    );
}

#[test]
fn a_national_number_is_read_in_the_gates_default_country() {
    let (gate, _d) = gate(SecurityConfig::default());
    let now = Instant::now();
    assert_eq!(
        gate.check(now, ip(CARRIER_A), &invite("5557654321", &[])),
        forbidden(),
        "in +1, trk_b's number"
    );
    let gate = gate.with_default_country("44");
    assert_eq!(
        gate.check(now, ip(CARRIER_A), &invite("5557654321", &[])),
        admitted("trk_demo_byoc"),
        "in +44, a number nobody hosts"
    );
}

/// A request inside a dialog (it has a To tag).
fn in_dialog(method: Method) -> Message {
    RequestBuilder::new(method.clone(), b"sip:agent@10.9.9.5")
        .header(HeaderName::Via, "SIP/2.0/UDP 10.9.9.5;branch=z9hG4bKd")
        .header(HeaderName::From, "<sip:agent@livekit>;tag=a")
        .header(HeaderName::To, "<sip:+14155550100@edge>;tag=b")
        .header(HeaderName::CallId, "in-dialog")
        .header(HeaderName::CSeq, format!("2 {method}"))
        .header(HeaderName::ContentLength, "0")
        .build()
}

#[test]
fn livekit_sends_inside_its_dialogs_and_outbound_invites_but_a_new_inbound_call_meets_the_trunks() {
    let (gate, _d) = gate_of(SecurityConfig::default(), false);
    let gate = gate.with_outbound_sources(&["10.9.9.7".into()]);
    let now = Instant::now();
    for method in [Method::Bye, Method::Ack, Method::Invite, Method::Refer] {
        assert_eq!(
            gate.check(now, ip("10.9.9.5"), &in_dialog(method.clone())),
            passed(),
            "{method:?}"
        );
    }
    assert_eq!(
        gate.check(now, ip("10.9.9.5"), &invite("+15557654321", &[])),
        forbidden(),
        "a new inbound call from LiveKit's range, which no trunk lists"
    );
    assert_eq!(
        gate.check(now, ip("10.9.9.7"), &invite("+15557654321", &[])),
        passed(),
        "an outbound INVITE from an outbound source"
    );
}

#[test]
fn with_livekit_credentials_an_outbound_invite_must_prove_them() {
    let (gate, _d) = gate(SecurityConfig {
        livekit_auth_username: "livekit".into(),
        livekit_auth_password: Secret("lk-pass".into()),
        ..SecurityConfig::default()
    });
    let gate = gate.with_outbound_sources(&["10.9.9.0/24".into()]);
    let now = Instant::now();
    let lk = ip("10.9.9.7");
    let offered = challenge(gate.check(now, lk, &invite("+15550001234", &[])));
    let c = crate::security::parse_challenge(&offered[0]).unwrap();
    let wrong = c.answer("INVITE", "sip:x@edge", "livekit", "guess", "cn", 1);
    for _ in 0..10 {
        let verdict = gate.check(now, lk, &invite("+15550001234", &[(HeaderName::Authorization, &wrong)]));
        assert_eq!(verdict, forbidden());
    }
    let right = c.answer("INVITE", "sip:x@edge", "livekit", "lk-pass", "cn", 2);
    assert_eq!(
        gate.check(now, lk, &invite("+15550001234", &[(HeaderName::Authorization, &right)])),
        passed(),
        "never banned: LiveKit is listed"
    );
}

#[test]
fn a_stranger_naming_a_scanner_is_dropped_and_stays_banned() {
    let (gate, _d) = gate_of(SecurityConfig::default(), false);
    let now = Instant::now();
    let scan = invite(
        crate::directory::DEMO_NUMBER,
        &[(HeaderName::UserAgent, "friendly-scanner")],
    );
    assert_eq!(gate.check(now, ip(STRANGER), &scan), Verdict::Drop);
    assert_eq!(
        gate.check(now, ip(STRANGER), &invite(crate::directory::DEMO_NUMBER, &[])),
        Verdict::Drop,
        "banned after scanning"
    );
    let later = now + gate.config.ban_duration() + std::time::Duration::from_secs(1);
    assert_eq!(
        gate.check(later, ip(STRANGER), &invite(crate::directory::DEMO_NUMBER, &[])),
        forbidden(),
        "the ban lapsed: a stranger again"
    );
}

#[test]
fn a_scanner_datagram_from_a_listed_source_is_dropped_and_bans_nobody() {
    let (gate, _d) = gate(SecurityConfig::default());
    let now = Instant::now();
    let scan = invite(
        crate::directory::DEMO_NUMBER,
        &[(HeaderName::UserAgent, "friendly-scanner")],
    );
    for listed in [CARRIER_A, "10.9.9.5"] {
        assert_eq!(gate.check(now, ip(listed), &scan), Verdict::Drop, "{listed}");
    }
    assert_eq!(
        gate.check(now, ip(CARRIER_A), &invite(crate::directory::DEMO_NUMBER, &[])),
        admitted("trk_demo_byoc"),
        "the carrier's next call"
    );
    assert_eq!(gate.check(now, ip("10.9.9.5"), &in_dialog(Method::Bye)), passed());
}

#[test]
fn a_flooding_source_gets_503_then_silence_and_another_source_is_untouched() {
    let (gate, _d) = gate(SecurityConfig {
        source_calls_per_sec: 10.0,
        source_burst: 10.0,
        trunk_calls_per_sec: 1000.0,
        trunk_burst: 1000.0,
        ..SecurityConfig::default()
    });
    let now = Instant::now();
    let call = invite(crate::directory::DEMO_NUMBER, &[]);
    let verdicts: Vec<_> = (0..200).map(|_| gate.check(now, ip(CARRIER_A), &call)).collect();
    assert!(verdicts[..10].iter().all(|v| *v == admitted("trk_demo_byoc")));
    assert!(matches!(verdicts[10], Verdict::Refuse(GateRefusal::RateLimited { .. })));
    assert_eq!(verdicts[199], Verdict::Drop, "past the flood threshold");
    assert_eq!(
        gate.check(now, ip(CARRIER_B), &invite("+15557654321", &[])),
        admitted("trk_b")
    );
    let later = now + std::time::Duration::from_secs(5);
    assert_eq!(
        gate.check(later, ip(CARRIER_A), &call),
        admitted("trk_demo_byoc"),
        "refilled"
    );
}

fn challenge(verdict: Verdict) -> Vec<String> {
    match verdict {
        Verdict::Refuse(GateRefusal::Challenge { offers, .. }) => offers,
        other => panic!("expected a challenge, got {other:?}"),
    }
}

#[test]
fn strangers_are_challenged_alike_when_a_trunk_authenticates_by_digest() {
    let (gate, _d) = gate(SecurityConfig::default());
    let now = Instant::now();
    for number in [crate::directory::DEMO_NUMBER, "+15550000000"] {
        assert_eq!(challenge(gate.check(now, ip(STRANGER), &invite(number, &[]))).len(), 2);
    }
}

#[test]
fn a_digest_trunk_is_challenged_and_admitted_on_the_right_answer_only() {
    let (gate, _d) = gate(SecurityConfig::default());
    let now = Instant::now();
    let from_anywhere = ip("192.0.2.99");
    let values = challenge(gate.check(now, from_anywhere, &invite(crate::directory::DEMO_NUMBER, &[])));
    assert!(
        values[0].contains("algorithm=SHA-256") && values[1].contains("algorithm=MD5"),
        "{values:?}"
    );
    for (nc, value) in (1..).zip(&values) {
        let c = crate::security::parse_challenge(value).unwrap();
        let answer = c.answer("INVITE", "sip:+15557654321@edge", "carrier-c", "s3cret", "cn", nc);
        let call = invite("+15551234567", &[(HeaderName::Authorization, &answer)]);
        assert_eq!(
            gate.check(now, from_anywhere, &call),
            forbidden(),
            "authenticated, but another trunk's number"
        );
        let c2 = crate::security::parse_challenge(
            &challenge(gate.check(now, from_anywhere, &invite("+15559990000", &[])))[0],
        )
        .unwrap();
        let good = c2.answer("INVITE", "sip:+15559990000@edge", "carrier-c", "s3cret", "cn", 1);
        let call = invite("+15559990000", &[(HeaderName::Authorization, &good)]);
        assert_eq!(gate.check(now, from_anywhere, &call), admitted("trk_digest"));
        let replayed = gate.check(now, from_anywhere, &call);
        assert!(challenge(replayed)[0].contains("stale=true"), "a replayed nonce count");
    }
    let c = crate::security::parse_challenge(&values[0]).unwrap();
    let later = now + gate.config.nonce_ttl() + std::time::Duration::from_secs(1);
    let expired = c.answer("INVITE", "sip:x@edge", "carrier-c", "s3cret", "cn", 7);
    let stale = gate.check(
        later,
        from_anywhere,
        &invite("+15559990000", &[(HeaderName::Authorization, &expired)]),
    );
    assert!(challenge(stale)[0].contains("stale=true"), "an expired nonce");
}

#[test]
fn repeated_wrong_passwords_ban_the_source() {
    let (gate, _d) = gate(SecurityConfig::default());
    let now = Instant::now();
    let guesser = ip("192.0.2.77");
    for _ in 0..gate.config.ban_threshold {
        let c = crate::security::parse_challenge(&challenge(gate.check(now, guesser, &invite("+15559990000", &[])))[0])
            .unwrap();
        let wrong = c.answer("INVITE", "sip:x@edge", "carrier-c", "guess", "cn", 1);
        let verdict = gate.check(
            now,
            guesser,
            &invite("+15559990000", &[(HeaderName::Authorization, &wrong)]),
        );
        assert_eq!(verdict, forbidden());
    }
    assert_eq!(
        gate.check(now, guesser, &invite("+15559990000", &[])),
        Verdict::Drop,
        "banned"
    );
}

#[test]
fn wrong_passwords_from_a_listed_carriers_address_ban_nobody() {
    let digest_listed = trunk("trk_c", &["192.0.2.55"], Some(("carrier-l", "l-pass")));
    let (gate, _d) = gate_with(
        SecurityConfig::default(),
        vec![digest_listed, number_on("trk_c", "+15550003333")],
    );
    let now = Instant::now();
    let carrier = ip("192.0.2.55");
    for _ in 0..gate.config.ban_threshold * 2 {
        let c = crate::security::parse_challenge(&challenge(gate.check(now, carrier, &invite("+15550003333", &[])))[0])
            .unwrap();
        let wrong = c.answer("INVITE", "sip:x@edge", "carrier-l", "guess", "cn", 1);
        let verdict = gate.check(
            now,
            carrier,
            &invite("+15550003333", &[(HeaderName::Authorization, &wrong)]),
        );
        assert_eq!(verdict, forbidden());
    }
    let c = crate::security::parse_challenge(&challenge(gate.check(now, carrier, &invite("+15550003333", &[])))[0])
        .unwrap();
    let right = c.answer("INVITE", "sip:x@edge", "carrier-l", "l-pass", "cn", 1);
    assert_eq!(
        gate.check(
            now,
            carrier,
            &invite("+15550003333", &[(HeaderName::Authorization, &right)])
        ),
        admitted("trk_c")
    );
}

#[test]
fn a_digest_only_carrier_that_proved_its_password_is_not_banned_by_forged_guesses() {
    let (gate, _d) = gate(SecurityConfig::default());
    let now = Instant::now();
    let carrier = ip("192.0.2.88");
    let answer = |password: &str| {
        let c = crate::security::parse_challenge(&challenge(gate.check(now, carrier, &invite("+15559990000", &[])))[0])
            .unwrap();
        c.answer("INVITE", "sip:x@edge", "carrier-c", password, "cn", 1)
    };
    let right = answer("s3cret");
    assert_eq!(
        gate.check(
            now,
            carrier,
            &invite("+15559990000", &[(HeaderName::Authorization, &right)])
        ),
        admitted("trk_digest")
    );
    for _ in 0..gate.config.ban_threshold * 2 {
        let wrong = answer("guess");
        assert_eq!(
            gate.check(
                now,
                carrier,
                &invite("+15559990000", &[(HeaderName::Authorization, &wrong)])
            ),
            forbidden()
        );
    }
    let right = answer("s3cret");
    assert_eq!(
        gate.check(
            now,
            carrier,
            &invite("+15559990000", &[(HeaderName::Authorization, &right)])
        ),
        admitted("trk_digest"),
        "still reachable"
    );
    assert_eq!(
        gate.check(now, carrier, &in_dialog(Method::Bye)),
        passed(),
        "its hang-up"
    );
    assert_eq!(gate.check(now, ip(STRANGER), &in_dialog(Method::Bye)), forbidden());
}

#[test]
fn a_trunk_whose_stored_password_is_empty_admits_no_answer() {
    let (gate, _d) = gate_with(
        SecurityConfig::default(),
        vec![
            trunk("trk_lost", &[], Some(("carrier-e", ""))),
            number_on("trk_lost", "+15550004444"),
        ],
    );
    let now = Instant::now();
    let source = ip("192.0.2.99");
    let c =
        crate::security::parse_challenge(&challenge(gate.check(now, source, &invite("+15550004444", &[])))[0]).unwrap();
    let empty = c.answer("INVITE", "sip:x@edge", "carrier-e", "", "cn", 1);
    assert_eq!(
        gate.check(
            now,
            source,
            &invite("+15550004444", &[(HeaderName::Authorization, &empty)])
        ),
        forbidden()
    );
}

/// Certificate 1 is pinned, 2 is presented by nobody's carrier.
fn certificate(n: u8) -> Option<CertFingerprint> {
    Some(CertFingerprint::of_der(&[n]))
}

fn over_tls(origin: Origin, certificate: Option<CertFingerprint>) -> Origin {
    Origin { certificate, ..origin }
}

fn number_on(trunk: &str, e164: &str) -> Object {
    Object::PhoneNumber(crate::directory::model::PhoneNumber {
        id: format!("pn_{e164}"),
        org_id: "org_demo".into(),
        phone_number: e164.into(),
        trunk_id: trunk.into(),
        inbound_agent_version_id: None,
        outbound_agent_version_id: None,
        outbound_shareable: false,
        created_at: "t".into(),
        updated_at: "t".into(),
    })
}

#[test]
fn a_trunk_that_pins_a_certificate_and_lists_an_address_needs_both() {
    let (gate, _d) = gate_with(
        SecurityConfig::default(),
        vec![pinned("trk_tls", &["192.0.2.30"], &[certificate(1).unwrap()], None)],
    );
    let now = Instant::now();
    let carrier = ip("192.0.2.30");
    let call = invite("+15550000000", &[]);
    assert_eq!(
        gate.check(now, over_tls(carrier, certificate(1)), &call),
        admitted("trk_tls")
    );
    for (case, origin) in [
        ("another certificate", over_tls(carrier, certificate(2))),
        ("no certificate", carrier),
        (
            "the certificate from another address",
            over_tls(ip(STRANGER), certificate(1)),
        ),
    ] {
        assert_eq!(gate.check(now, origin, &call), forbidden(), "{case}");
    }
    let options = RequestBuilder::new(Method::Options, b"sip:edge")
        .header(HeaderName::Via, "SIP/2.0/TLS 192.0.2.30;branch=z9hG4bKo")
        .header(HeaderName::CallId, "o1")
        .header(HeaderName::CSeq, "1 OPTIONS")
        .build();
    assert_eq!(gate.check(now, carrier, &options), forbidden(), "not only new calls");
    assert_eq!(gate.check(now, over_tls(carrier, certificate(1)), &options), passed());
}

#[test]
fn a_trunk_that_lists_no_address_is_reached_by_its_certificate_from_anywhere() {
    let (gate, _d) = gate_with(
        SecurityConfig::default(),
        vec![
            pinned("trk_tls", &[], &[certificate(1).unwrap()], None),
            number_on("trk_tls", "+15550002222"),
        ],
    );
    let now = Instant::now();
    let call = invite("+15550002222", &[]);
    let anywhere = ip("192.0.2.99");
    assert_eq!(
        gate.check(now, over_tls(anywhere, certificate(1)), &call),
        admitted("trk_tls")
    );
    assert_eq!(gate.check(now, over_tls(anywhere, certificate(2)), &call), forbidden());
    assert_eq!(gate.check(now, anywhere, &call), forbidden());
    assert_eq!(
        gate.check(
            now,
            over_tls(ip(CARRIER_A), certificate(1)),
            &invite(crate::directory::DEMO_NUMBER, &[])
        ),
        admitted("trk_demo_byoc"),
        "carrier A's own trunk pins nothing: its calls pass with any certificate"
    );
    assert_eq!(
        gate.check(now, over_tls(ip(CARRIER_A), certificate(2)), &call),
        forbidden(),
        "carrier A, without trk_tls's certificate, for trk_tls's number"
    );
}

#[test]
fn a_pinned_trunk_that_also_asks_for_digest_needs_the_certificate_and_the_password() {
    let (gate, _d) = gate_with(
        SecurityConfig::default(),
        vec![pinned(
            "trk_tls",
            &[],
            &[certificate(1).unwrap()],
            Some(("carrier-d", "d-secret")),
        )],
    );
    let now = Instant::now();
    let anywhere = ip("192.0.2.99");
    let answered = |origin: Origin, password: &str| {
        let values = challenge(gate.check(now, origin, &invite("+15550000000", &[])));
        let c = crate::security::parse_challenge(&values[0]).unwrap();
        let answer = c.answer("INVITE", "sip:+15550000000@edge", "carrier-d", password, "cn", 1);
        gate.check(
            now,
            origin,
            &invite("+15550000000", &[(HeaderName::Authorization, &answer)]),
        )
    };
    assert_eq!(
        answered(over_tls(anywhere, certificate(1)), "d-secret"),
        admitted("trk_tls")
    );
    assert_eq!(answered(over_tls(anywhere, certificate(1)), "guess"), forbidden());
    assert_eq!(
        answered(anywhere, "d-secret"),
        forbidden(),
        "the password without the certificate"
    );
}

#[test]
fn a_digest_trunk_that_lists_an_address_is_not_reached_by_its_password_from_elsewhere() {
    let (gate, _d) = gate_with(
        SecurityConfig::default(),
        vec![
            trunk("trk_c", &["192.0.2.40"], Some(("carrier-c", "s3cret"))),
            trunk("trk_shared", &["192.0.2.40"], None),
            number_on("trk_c", "+15550003333"),
        ],
    );
    let now = Instant::now();
    let stranger = ip(STRANGER);
    let values = challenge(gate.check(now, stranger, &invite("+15550000000", &[])));
    let c = crate::security::parse_challenge(&values[0]).unwrap();
    let answer = c.answer("INVITE", "sip:+15550000000@edge", "carrier-c", "s3cret", "cn", 1);
    let call = invite("+15550000000", &[(HeaderName::Authorization, &answer)]);
    assert_eq!(gate.check(now, stranger, &call), forbidden());
    assert_eq!(
        gate.check(now, ip("192.0.2.40"), &invite("+15550000000", &[])),
        admitted("trk_shared"),
        "as trk_shared, which asks for no digest"
    );
    let shared = ip("192.0.2.40");
    let values = challenge(gate.check(now, shared, &invite("+15550003333", &[])));
    let c = crate::security::parse_challenge(&values[0]).unwrap();
    let answer = c.answer("INVITE", "sip:+15550003333@edge", "carrier-c", "s3cret", "cn", 2);
    assert_eq!(
        gate.check(
            now,
            shared,
            &invite("+15550003333", &[(HeaderName::Authorization, &answer)])
        ),
        admitted("trk_c"),
        "trk_c's number from the shared address: challenged, then admitted as trk_c"
    );
    let guess = c.answer("INVITE", "sip:+15550003333@edge", "carrier-c", "guess", "cn", 3);
    assert_eq!(
        gate.check(
            now,
            shared,
            &invite("+15550003333", &[(HeaderName::Authorization, &guess)])
        ),
        forbidden(),
        "and refused on a wrong password"
    );
}
