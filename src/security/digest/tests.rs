//! Digest: the RFC worked examples, server and client talking to each other under a
//! simulated clock, every refusal, and arbitrary input never panicking.

use std::cell::Cell;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;

const REALM: &str = "sb.example";
const TTL: Duration = Duration::from_secs(300);

fn server() -> DigestServer {
    DigestServer::new([9; 32], REALM, TTL)
}

fn users(name: &str) -> Option<Credential> {
    match name {
        "alice" => Some("s3cret".into()),
        "bob \"the\" \\builder" => Some("can we fix it".into()),
        _ => None,
    }
}

/// The challenge the server offers for `algorithm`, as a client reads it.
fn offered(server: &DigestServer, now: Instant, algorithm: Algorithm) -> Challenge {
    server
        .challenge(now, false)
        .iter()
        .map(|v| parse_challenge(v).unwrap())
        .find(|c| c.algorithm == algorithm)
        .expect("algorithm offered")
}

#[test]
fn rfc_2617_worked_example() {
    let c = parse_challenge(
        "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
         nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
    )
    .unwrap();
    assert_eq!(c.algorithm, Algorithm::Md5);
    assert!(c.qop_auth);
    let v = c.answer("GET", "/dir/index.html", "Mufasa", "Circle Of Life", "0a4f113b", 1);
    assert!(v.contains("response=\"6629fae49393a05397450978507c4ef1\""), "{v}");
    assert!(v.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""), "{v}");
    assert!(v.contains("qop=auth, nc=00000001"), "{v}");
    assert!(v.contains("cnonce=\"0a4f113b\""), "{v}");
}

#[test]
fn rfc_7616_worked_examples_in_sha256_and_md5() {
    let cases = [
        (
            "SHA-256",
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        ),
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ];
    for (algorithm, expected) in cases {
        let c = parse_challenge(&format!(
            "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm={algorithm}, \
             nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
             opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
        ))
        .unwrap();
        let v = c.answer(
            "GET",
            "/dir/index.html",
            "Mufasa",
            "Circle of Life",
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            1,
        );
        assert!(v.contains(&format!("response=\"{expected}\"")), "{algorithm}: {v}");
        assert!(v.contains(&format!("algorithm={algorithm}")), "{v}");
    }
}

#[test]
fn challenges_offer_sha256_then_md5_with_one_nonce() {
    let t0 = crate::clock::now();
    let values = server().challenge(t0, false);
    assert_eq!(values.len(), 2);
    assert!(values[0].starts_with("Digest realm=\"sb.example\""), "{}", values[0]);
    let parsed: Vec<Challenge> = values.iter().map(|v| parse_challenge(v).unwrap()).collect();
    assert_eq!(parsed[0].algorithm, Algorithm::Sha256);
    assert_eq!(parsed[1].algorithm, Algorithm::Md5);
    assert_eq!(parsed[0].nonce, parsed[1].nonce);
    assert!(parsed.iter().all(|c| c.qop_auth && !c.stale));
    assert!(!values[0].contains("stale"));
    let best = preferred_challenge(values.iter().rev().map(String::as_str)).unwrap();
    assert_eq!(best.algorithm, Algorithm::Sha256);
}

#[test]
fn a_right_answer_is_accepted_in_each_algorithm() {
    let s = server();
    let t0 = crate::clock::now();
    for algorithm in [Algorithm::Sha256, Algorithm::Md5] {
        let c = offered(&s, t0, algorithm);
        let v = c.answer("INVITE", "sip:+15551230000@sb.example", "alice", "s3cret", "c0ffee", 1);
        let ok = s.verify(t0 + Duration::from_secs(1), "INVITE", &v, users).unwrap();
        assert_eq!(ok.username, "alice");
        assert_eq!(ok.uri, "sip:+15551230000@sb.example");
        assert_eq!(ok.algorithm, algorithm);
    }
}

#[test]
fn sess_variants_and_odd_usernames_round_trip() {
    let s = server();
    let t0 = crate::clock::now();
    for algorithm in [Algorithm::Md5Sess, Algorithm::Sha256Sess] {
        let mut c = offered(&s, t0, Algorithm::Md5);
        c.algorithm = algorithm;
        let v = c.answer(
            "REGISTER",
            "sip:sb.example",
            "bob \"the\" \\builder",
            "can we fix it",
            "abc",
            1,
        );
        assert_eq!(
            s.verify(t0, "REGISTER", &v, users).unwrap().username,
            "bob \"the\" \\builder"
        );
    }
}

#[test]
fn a_stored_ha1_verifies_its_own_algorithm_only() {
    let s = server();
    let t0 = crate::clock::now();
    let ha1 = Algorithm::Md5.h(&[b"alice", REALM.as_bytes(), b"s3cret"]);
    let lookup = |_: &str| Some(Credential::Ha1(ha1.to_uppercase()));
    let md5 = offered(&s, t0, Algorithm::Md5).answer("INVITE", "sip:x", "alice", "s3cret", "c", 1);
    assert!(s.verify(t0, "INVITE", &md5, lookup).is_ok());
    let sha = offered(&s, t0, Algorithm::Sha256).answer("INVITE", "sip:x", "alice", "s3cret", "c", 1);
    let err = s.verify(t0, "INVITE", &sha, lookup).unwrap_err();
    assert!(matches!(err, AuthFailure::UnsupportedAlgorithm { .. }), "{err}");
}

#[test]
fn a_wrong_password_or_method_is_a_bad_response_that_counts() {
    let s = server();
    let t0 = crate::clock::now();
    let c = offered(&s, t0, Algorithm::Sha256);
    let v = c.answer("INVITE", "sip:x", "alice", "guess", "c", 1);
    let err = s.verify(t0, "INVITE", &v, users).unwrap_err();
    assert_eq!(
        err,
        AuthFailure::BadResponse {
            username: "alice".into()
        }
    );
    assert!(err.counts_as_failure() && !err.stale());
    let v = c.answer("INVITE", "sip:x", "alice", "s3cret", "c", 2);
    assert!(matches!(
        s.verify(t0, "BYE", &v, users),
        Err(AuthFailure::BadResponse { .. })
    ));
}

#[test]
fn an_unknown_user_counts() {
    let s = server();
    let t0 = crate::clock::now();
    let v = offered(&s, t0, Algorithm::Md5).answer("INVITE", "sip:x", "mallory", "x", "c", 1);
    let err = s.verify(t0, "INVITE", &v, users).unwrap_err();
    assert_eq!(
        err,
        AuthFailure::UnknownUser {
            username: "mallory".into()
        }
    );
    assert!(err.counts_as_failure());
}

#[test]
fn another_realm_is_refused_without_counting() {
    let s = server();
    let t0 = crate::clock::now();
    let mut c = offered(&s, t0, Algorithm::Md5);
    c.realm = "elsewhere".into();
    let v = c.answer("INVITE", "sip:x", "alice", "s3cret", "c", 1);
    let err = s.verify(t0, "INVITE", &v, users).unwrap_err();
    assert_eq!(
        err,
        AuthFailure::WrongRealm {
            realm: "elsewhere".into()
        }
    );
    assert!(!err.counts_as_failure());
}

#[test]
fn an_expired_nonce_is_stale_and_the_rechallenge_says_so() {
    let s = server();
    let t0 = crate::clock::now();
    let c = offered(&s, t0, Algorithm::Sha256);
    let late = t0 + TTL + Duration::from_secs(1);
    let v = c.answer("INVITE", "sip:x", "alice", "s3cret", "c", 1);
    let err = s.verify(late, "INVITE", &v, users).unwrap_err();
    assert_eq!(err, AuthFailure::Stale);
    assert!(err.stale() && !err.counts_as_failure());
    let again = s.challenge(late, err.stale());
    assert!(again.iter().all(|v| v.ends_with(", stale=true")), "{again:?}");
    assert!(parse_challenge(&again[0]).unwrap().stale);
    // At the TTL itself the nonce still holds.
    let v = c.answer("INVITE", "sip:x", "alice", "s3cret", "c", 2);
    assert!(s.verify(t0 + TTL, "INVITE", &v, users).is_ok());
}

#[test]
fn an_expired_nonce_with_a_wrong_password_is_a_bad_response() {
    let s = server();
    let t0 = crate::clock::now();
    let v = offered(&s, t0, Algorithm::Md5).answer("INVITE", "sip:x", "alice", "nope", "c", 1);
    let err = s.verify(t0 + TTL * 2, "INVITE", &v, users).unwrap_err();
    assert!(matches!(err, AuthFailure::BadResponse { .. }));
}

#[test]
fn a_nonce_count_must_rise() {
    let s = server();
    let t0 = crate::clock::now();
    let c = offered(&s, t0, Algorithm::Sha256);
    let first = c.answer("INVITE", "sip:x", "alice", "s3cret", "c", 1);
    assert!(s.verify(t0, "INVITE", &first, users).is_ok());
    let err = s.verify(t0, "INVITE", &first, users).unwrap_err();
    assert_eq!(err, AuthFailure::Replay);
    assert!(err.stale() && !err.counts_as_failure());
    let third = c.answer("INVITE", "sip:x", "alice", "s3cret", "c", 3);
    assert!(s.verify(t0, "INVITE", &third, users).is_ok());
    let second = c.answer("INVITE", "sip:x", "alice", "s3cret", "c", 2);
    assert_eq!(s.verify(t0, "INVITE", &second, users), Err(AuthFailure::Replay));
}

#[test]
fn without_qop_a_nonce_is_good_once() {
    let s = server();
    let t0 = crate::clock::now();
    let mut c = offered(&s, t0, Algorithm::Md5);
    c.qop_auth = false;
    let v = c.answer("INVITE", "sip:x", "alice", "s3cret", "c", 1);
    assert!(!v.contains("qop") && !v.contains("cnonce"), "{v}");
    assert!(s.verify(t0, "INVITE", &v, users).is_ok());
    assert_eq!(s.verify(t0, "INVITE", &v, users), Err(AuthFailure::Replay));
}

#[test]
fn a_forged_nonce_is_refused_before_any_user_lookup() {
    let s = server();
    let t0 = crate::clock::now();
    let lookups = Cell::new(0);
    let counting = |name: &str| {
        lookups.set(lookups.get() + 1);
        users(name)
    };
    let mut c = offered(&s, t0, Algorithm::Sha256);
    let mut forged: Vec<u8> = c.nonce.clone().into_bytes();
    forged[10] = if forged[10] == b'x' { b'y' } else { b'x' };
    let foreign = DigestServer::new([1; 32], REALM, TTL);
    let forged_nonces = [
        String::from_utf8(forged).unwrap(),
        "dcd98b7102dd2f0e8b11d0f600bfb0c093".to_string(),
        offered(&foreign, t0, Algorithm::Sha256).nonce,
    ];
    for nonce in forged_nonces {
        c.nonce = nonce;
        let v = c.answer("INVITE", "sip:x", "alice", "s3cret", "c", 1);
        let err = s.verify(t0, "INVITE", &v, counting).unwrap_err();
        assert_eq!(err, AuthFailure::ForgedNonce);
        assert!(err.counts_as_failure());
    }
    assert_eq!(lookups.get(), 0);
}

#[test]
fn missing_and_malformed_answers() {
    let s = server();
    let t0 = crate::clock::now();
    assert_eq!(s.verify(t0, "INVITE", "", users), Err(AuthFailure::Missing));
    assert_eq!(s.verify(t0, "INVITE", "  \r\n", users), Err(AuthFailure::Missing));
    let c = offered(&s, t0, Algorithm::Md5);
    let good = c.answer("INVITE", "sip:x", "alice", "s3cret", "c", 1);
    let cases = [
        "Basic YWxpY2U6czNjcmV0".to_string(),
        "Digest username=\"alice\"".to_string(),
        good.replace("nc=00000001", "nc=1"),
        good.replace("nc=00000001", "nc=00000000"),
        good.replace("nc=00000001", "nc=0000000g"),
        good.replace(", nc=00000001", ""),
        good.replace("cnonce=\"c\", ", ""),
        good.replace("qop=auth", "qop=auth-int"),
        format!("{good}, nc=00000002"),
        good.replace("\"alice\"", "\"alice"),
    ];
    for v in &cases {
        let err = s.verify(t0, "INVITE", v, users).unwrap_err();
        assert!(matches!(err, AuthFailure::Malformed { .. }), "{v}: {err}");
        assert!(err.counts_as_failure());
    }
}

#[test]
fn an_unknown_algorithm_is_refused_without_counting() {
    let s = server();
    let t0 = crate::clock::now();
    let good = offered(&s, t0, Algorithm::Md5).answer("INVITE", "sip:x", "alice", "s3cret", "c", 1);
    let v = good.replace("algorithm=MD5", "algorithm=SHA-512-256");
    let err = s.verify(t0, "INVITE", &v, users).unwrap_err();
    assert_eq!(
        err,
        AuthFailure::UnsupportedAlgorithm {
            algorithm: "SHA-512-256".into()
        }
    );
    assert!(!err.counts_as_failure());
}

#[test]
fn response_hex_case_does_not_matter() {
    let s = server();
    let t0 = crate::clock::now();
    let v = offered(&s, t0, Algorithm::Sha256).answer("INVITE", "sip:x", "alice", "s3cret", "c", 1);
    let (head, tail) = v.split_once("response=\"").unwrap();
    let (hex, rest) = tail.split_once('"').unwrap();
    let upper = format!("{head}response=\"{}\"{rest}", hex.to_uppercase());
    assert!(s.verify(t0, "INVITE", &upper, users).is_ok());
}

#[test]
fn challenges_we_cannot_answer() {
    let cases: &[(&str, ChallengeError)] = &[
        ("Basic realm=\"x\"", ChallengeError::NotDigest),
        ("Digest nonce=\"n\"", ChallengeError::Missing { param: "realm" }),
        ("Digest realm=\"r\"", ChallengeError::Missing { param: "nonce" }),
        (
            "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256",
            ChallengeError::UnsupportedAlgorithm {
                algorithm: "SHA-512-256".into(),
            },
        ),
        (
            "Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"",
            ChallengeError::UnsupportedQop { qop: "auth-int".into() },
        ),
        (
            "Digest realm=\"r",
            ChallengeError::Unreadable {
                reason: "bad parameter syntax",
            },
        ),
    ];
    for (value, expected) in cases {
        assert_eq!(parse_challenge(value).as_ref(), Err(expected), "{value}");
    }
    assert_eq!(preferred_challenge(["Basic x"]), Err(ChallengeError::NotDigest));
    assert_eq!(preferred_challenge([]), Err(ChallengeError::NotDigest));
}

#[test]
fn a_hostile_challenge_cannot_break_the_answer_line() {
    let c = Challenge {
        realm: "r\r\nVia: evil".into(),
        nonce: "n".into(),
        opaque: Some("o\n".into()),
        algorithm: Algorithm::Md5,
        qop_auth: true,
        stale: false,
    };
    let v = c.answer("INVITE", "sip:x", "u", "p", "c", 1);
    assert!(!v.contains('\r') && !v.contains('\n'), "{v}");
}

#[test]
fn the_replay_table_is_bounded() {
    let s = DigestServer::with_replay_capacity([9; 32], REALM, TTL, 64);
    let t0 = crate::clock::now();
    let mut answers = Vec::new();
    for i in 0..500u64 {
        let now = t0 + Duration::from_millis(i);
        let v = offered(&s, now, Algorithm::Md5).answer("INVITE", "sip:x", "alice", "s3cret", "c", 1);
        assert!(s.verify(now, "INVITE", &v, users).is_ok());
        answers.push(v);
    }
    assert!(s.replay_len() <= 64);
    // An answer whose nonce was forgotten is re-challenged, never accepted again.
    let later = t0 + Duration::from_secs(1);
    assert_eq!(s.verify(later, "INVITE", &answers[0], users), Err(AuthFailure::Stale));
    assert_eq!(
        s.verify(later, "INVITE", &answers[499], users),
        Err(AuthFailure::Replay)
    );
}

proptest! {
    #[test]
    fn arbitrary_authorization_values_never_panic(value in ".{0,300}") {
        let s = server();
        let t0 = crate::clock::now();
        let _ = s.verify(t0, "INVITE", &value, users);
        let _ = s.verify(t0, "INVITE", &format!("Digest {value}"), users);
        let _ = parse_challenge(&value);
        let _ = parse_challenge(&format!("Digest {value}"));
    }

    #[test]
    fn mangled_real_answers_never_panic(cut in 0usize..400, byte in any::<u8>(), at in 0usize..400) {
        let s = server();
        let t0 = crate::clock::now();
        let good = offered(&s, t0, Algorithm::Sha256).answer("INVITE", "sip:x", "alice", "s3cret", "c", 1);
        let mut bytes = good.into_bytes();
        bytes.truncate(cut.max(1));
        let at = at % bytes.len();
        bytes[at] = byte;
        let text = String::from_utf8_lossy(&bytes);
        let _ = s.verify(t0, "INVITE", &text, users);
    }
}

#[test]
fn an_empty_stored_secret_matches_nothing_not_even_an_empty_password() {
    let s = server();
    let t0 = crate::clock::now();
    for algorithm in [Algorithm::Md5, Algorithm::Sha256] {
        let v = offered(&s, t0, algorithm).answer("INVITE", "sip:x", "carrier", "", "c", 1);
        for stored in [Credential::Password(String::new()), Credential::Ha1(String::new())] {
            let err = s.verify(t0, "INVITE", &v, |_| Some(stored.clone())).unwrap_err();
            assert!(matches!(err, AuthFailure::BadResponse { .. }), "{algorithm:?}: {err:?}");
            assert!(err.counts_as_failure());
        }
    }
}

#[test]
fn a_nonce_from_another_process_on_the_same_secret_and_wall_clock_verifies() {
    // Two processes: each its own Instant origin, both anchored to the wall clock.
    let unix_ms = 1_800_000_000_000;
    let a0 = crate::clock::now();
    let a = DigestServer::new([7; 32], REALM, TTL).with_wall_clock(a0, unix_ms);
    let c = offered(&a, a0 + Duration::from_secs(10), Algorithm::Sha256);
    let v = c.answer("INVITE", "sip:x", "alice", "s3cret", "c", 1);
    // B started 30 s later; its Instants mean nothing to A.
    let b0 = crate::clock::now() + Duration::from_secs(1000);
    let b = DigestServer::new([7; 32], REALM, TTL).with_wall_clock(b0, unix_ms + 30_000);
    assert!(b.verify(b0 + Duration::from_secs(5), "INVITE", &v, users).is_ok());
    // Its age is read in wall time: past the TTL on B's clock it is stale.
    let v2 = c.answer("INVITE", "sip:x", "alice", "s3cret", "c", 2);
    assert_eq!(b.verify(b0 + TTL, "INVITE", &v2, users), Err(AuthFailure::Stale));
    // Another secret (another store) never verifies it.
    let other = DigestServer::new([8; 32], REALM, TTL).with_wall_clock(b0, unix_ms + 30_000);
    assert_eq!(other.verify(b0, "INVITE", &v2, users), Err(AuthFailure::ForgedNonce));
    // An unanchored server's own nonces still work.
    let plain = server();
    let c = offered(&plain, a0, Algorithm::Md5);
    let v = c.answer("INVITE", "sip:x", "alice", "s3cret", "c", 1);
    assert!(plain.verify(a0, "INVITE", &v, users).is_ok());
}
