//! Outbound calls through a live `switchboard serve`: SIPp plays LiveKit placing an agent's
//! call (from 127.0.0.2, the configured LiveKit source; scenarios
//! `fixtures/sipp/livekit-outbound-*.xml`) and SIPp plays the carrier behind the demo BYOC
//! trunk (`fixtures/sipp/carrier-*.xml`), challenging with 407 or 401 and checking the
//! digest answer. The directory is the seeded demo one, set up through the API: the demo
//! agent's version holds the outbound slot of the demo number, a second agent holds
//! another number's. Outbound TLS is checked against a TLS carrier played by the test.
//!
//! Run alone: `cargo test --test sipp_outbound -- --test-threads=1`.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::outbound::*;
use serde_json::json;

#[test]
fn an_agents_call_goes_through_the_carriers_407_challenge_is_answered_and_hung_up() {
    let o = Outbound::start("");
    let carrier = o.carrier("carrier-407-answer.xml", 3);
    o.livekit_with(
        Some(&carrier),
        &common::scenario("livekit-outbound-call.xml"),
        DIALED,
        DEMO_NUMBER,
        3,
    );
    carrier.finish(&o.server);
    let metrics = o.metrics();
    assert_eq!(
        common::sample(
            &metrics,
            "switchboard_calls_ended_total{direction=\"outbound\",route=\"static\",outcome=\"answered\"}"
        ),
        3.0,
        "{metrics}"
    );
    std::thread::sleep(Duration::from_millis(600));
    let (status, body) = o.api("GET", "/core/calls?direction=outbound", None);
    assert_eq!(status, 200, "{body}");
    let records = body["data"].as_array().unwrap();
    assert_eq!(records.len(), 3, "{body}");
    for r in records {
        assert_eq!(r["direction"], "outbound");
        assert_eq!(r["outcome"], "answered");
        assert_eq!(r["calling_number"], DEMO_NUMBER);
        assert_eq!(r["called_number"], DIALED);
        assert_eq!(r["trunk_id"], "trk_demo_byoc");
        assert_eq!(r["agent_version_id"], DEMO_VERSION);
        assert_eq!(r["ended_by"], "agent");
    }
}

#[test]
fn a_401_challenge_is_answered_with_a_digest_sipp_itself_verifies() {
    let o = Outbound::start("");
    let carrier = o.carrier("carrier-401-verify.xml", 3);
    o.livekit_with(
        Some(&carrier),
        &common::scenario("livekit-outbound-call.xml"),
        DIALED,
        DEMO_NUMBER,
        3,
    );
    carrier.finish(&o.server);
}

#[test]
fn a_tcp_trunk_reaches_its_carrier_over_tcp_and_the_answers_come_back_on_that_connection() {
    let o = Outbound::start("");
    o.point_trunk_at(&format!("127.0.0.1:{}", o.carrier_port), "TCP");
    let carrier = o.carrier_over("carrier-407-answer.xml", 2, "t1");
    o.livekit_with(
        Some(&carrier),
        &common::scenario("livekit-outbound-call.xml"),
        DIALED,
        DEMO_NUMBER,
        2,
    );
    carrier.finish(&o.server);
}

#[test]
fn a_busy_carrier_gives_the_agent_486() {
    let o = Outbound::start("");
    let carrier = o.carrier("carrier-busy.xml", 2);
    o.livekit(&o.expect(486, "carrier rejected the call"), DIALED, DEMO_NUMBER, 2);
    carrier.finish(&o.server);
}

#[test]
fn nobody_answering_gives_the_agent_480_and_the_carrier_a_cancel_for_the_authenticated_invite() {
    let o = Outbound::start("[b2bua]\nring_timeout_secs = 2\n");
    let carrier = o.carrier("carrier-407-ring-until-cancel.xml", 2);
    o.livekit(&o.expect(480, "no answer"), DIALED, DEMO_NUMBER, 2);
    carrier.finish(&o.server);
}

#[test]
fn the_agent_cancelling_while_the_carrier_rings_cancels_the_carrier_leg() {
    let o = Outbound::start("");
    let carrier = o.carrier("carrier-407-ring-until-cancel.xml", 2);
    o.livekit(&common::scenario("livekit-outbound-cancel.xml"), DIALED, DEMO_NUMBER, 2);
    carrier.finish(&o.server);
}

#[test]
fn a_silent_carrier_gives_the_agent_503_with_a_reason() {
    let o = Outbound::start("[b2bua]\ncarrier_response_timeout_secs = 2\n");
    // Bound, so no ICMP "port unreachable", and never answering.
    let _silent = UdpSocket::bind(("127.0.0.1", o.carrier_port)).unwrap();
    let started = Instant::now();
    o.livekit(&o.expect(503, "carrier did not respond"), DIALED, DEMO_NUMBER, 1);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_carrier_host_waiting_for_its_first_dns_answer_holds_up_no_other_call() {
    // A name server that never answers: the trunk's host waits out its first lookup
    // (first_lookup_ms, under route_timeout_ms) on a routing worker. Meanwhile the SIP thread and the call core go
    // on: another call, needing the core, gets its final answer at once.
    let silent_dns = UdpSocket::bind("127.0.0.1:0").unwrap();
    let o = Outbound::start(&format!(
        "[resolver]\nnameservers = [\"{}\"]\nfirst_lookup_ms = 1500\n",
        silent_dns.local_addr().unwrap()
    ));
    o.point_trunk_at("carrier.silent.test:5060", "UDP");
    std::thread::scope(|s| {
        let outbound = s.spawn(|| {
            let started = Instant::now();
            o.livekit(&o.expect(503, "carrier address unresolvable"), DIALED, DEMO_NUMBER, 1);
            started.elapsed()
        });
        // The agent's INVITE is in (SIPp starts in well under this), waiting on DNS.
        std::thread::sleep(Duration::from_millis(700));
        let started = Instant::now();
        assert_eq!(common::invite_status(&o.server, "+15550009999", "probe-dns-1"), 404);
        let other = started.elapsed();
        let waited = outbound.join().unwrap();
        assert!(
            waited > Duration::from_millis(1000),
            "the outbound call waited for DNS: {waited:?}"
        );
        assert!(
            other < Duration::from_millis(500),
            "the other call waited for it: {other:?}"
        );
    });
}

#[test]
fn a_carrier_port_answering_icmp_port_unreachable_gives_the_agent_503_at_once() {
    // Nothing listens on the carrier's port: the kernel's ICMP "port unreachable" ends the
    // carrier leg at once (IP_RECVERR), well before the 20 s response timeout.
    let o = Outbound::start("[b2bua]\ncarrier_response_timeout_secs = 20\n");
    let started = Instant::now();
    o.livekit(&o.expect(503, "carrier unreachable"), DIALED, DEMO_NUMBER, 1);
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[test]
fn a_caller_id_the_agent_may_not_use_gets_403_and_no_carrier_leg() {
    let o = Outbound::start("");
    let carrier = UdpSocket::bind(("127.0.0.1", o.carrier_port)).unwrap();
    carrier.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    o.livekit(&o.expect(403, "not shareable"), DIALED, OTHER_NUMBER, 1);
    let mut buf = [0u8; 2048];
    assert!(carrier.recv_from(&mut buf).is_err(), "nothing reached the carrier");
    o.livekit(&o.expect(403, "deny list"), "+19005551234", DEMO_NUMBER, 1);
    o.livekit(&o.expect(403, "international"), "+442071838750", DEMO_NUMBER, 1);
    assert!(carrier.recv_from(&mut buf).is_err(), "nothing reached the carrier");
}

#[test]
fn an_outbound_shareable_number_used_by_another_agent_is_allowed() {
    let o = Outbound::start("");
    let (status, body) = o.api(
        "PATCH",
        &format!("/core/phone-numbers/{OTHER_NUMBER}"),
        Some(json!({"outbound_shareable": true})),
    );
    assert_eq!(status, 200, "{body}");
    let carrier = o.carrier("carrier-407-answer.xml", 1);
    o.livekit(&common::scenario("livekit-outbound-call.xml"), DIALED, OTHER_NUMBER, 1);
    carrier.finish(&o.server);
}

/// A TLS carrier played by the test: one connection, its certificate for `localhost`; it
/// answers every INVITE 486 on the connection it came on and hands the INVITE back.
fn tls_carrier(listener: TcpListener, cert: rcgen::CertifiedKey<rcgen::KeyPair>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let key = rustls_pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .unwrap();
        let (tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let connection = rustls::ServerConnection::new(Arc::new(config)).unwrap();
        let mut tls = rustls::StreamOwned::new(connection, tcp);
        let invite = read_message(&mut tls);
        let header = |name: &str| {
            invite
                .lines()
                .find(|l| {
                    l.to_ascii_lowercase()
                        .starts_with(&format!("{}:", name.to_ascii_lowercase()))
                })
                .unwrap_or_default()
                .to_owned()
        };
        let busy = format!(
            "SIP/2.0 486 Busy Here\r\n{}\r\n{}\r\n{};tag=tlscarrier\r\n{}\r\n{}\r\nContent-Length: 0\r\n\r\n",
            header("Via"),
            header("From"),
            header("To"),
            header("Call-ID"),
            header("CSeq")
        );
        tls.write_all(busy.as_bytes()).unwrap();
        let ack = read_message(&mut tls);
        assert!(ack.starts_with("ACK "), "the 486 is ACKed on the connection: {ack}");
        invite
    })
}

/// One SIP message from a stream (headers, then Content-Length bytes of body).
fn read_message(stream: &mut impl Read) -> String {
    let mut data = Vec::new();
    let mut byte = [0u8; 1];
    while !data.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        data.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&data).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length:").or_else(|| l.strip_prefix("l:")))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    head + &String::from_utf8_lossy(&body)
}

#[test]
fn a_tls_trunk_is_reached_over_tls_with_the_carriers_certificate_verified() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let ca_dir = tempfile::tempdir().unwrap();
    let ca = ca_dir.path().join("carrier-ca.pem");
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let o = Outbound::start(&format!("carrier_tls_ca = \"{}\"\n", ca.display()));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    o.point_trunk_at(&format!("localhost:{port}"), "TLS");
    let carrier = tls_carrier(listener, cert);
    o.livekit(&o.expect(486, "carrier rejected the call"), DIALED, DEMO_NUMBER, 1);
    let invite = carrier.join().expect("the TLS carrier saw the call");
    assert!(
        invite.starts_with(&format!("INVITE sip:{DIALED}@localhost:{port};transport=tls SIP/2.0")),
        "{invite}"
    );
    assert!(invite.contains("Via: SIP/2.0/TLS "), "{invite}");
}

#[test]
fn a_tls_carrier_whose_certificate_is_not_trusted_fails_the_call_at_once() {
    let o = Outbound::start("[b2bua]\ncarrier_response_timeout_secs = 20\n");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    o.point_trunk_at(&format!("localhost:{port}"), "TLS");
    let _carrier = std::thread::spawn(move || {
        // Accept and offer the untrusted certificate; the handshake fails on our side.
        let _ = tls_carrier(listener, cert).join();
    });
    let started = Instant::now();
    o.livekit(&o.expect(503, "carrier unreachable"), DIALED, DEMO_NUMBER, 1);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a failed handshake fails the call, not the response timer"
    );
}
