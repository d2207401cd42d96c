//! The edge against strangers, floods, guessers and scanners, on a live server whose
//! LiveKit range is not loopback, so that loopback addresses play carriers and strangers:
//! 127.0.0.1 is the demo BYOC trunk's carrier, 127.0.0.3 a second trunk's, 127.0.0.5 a
//! digest trunk's, anything else a stranger.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::{Agent, Server};
use serde_json::json;

const NUMBER: &str = "+15551234567";
use common::{guarded, metrics};

/// A bare INVITE from `socket` for `number`, Call-ID `call_id`.
fn invite(socket: &UdpSocket, number: &str, call_id: &str) -> String {
    let from = socket.local_addr().unwrap();
    format!(
        "INVITE sip:{number}@edge SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bK{call_id};rport\r\n\
         From: <sip:+14155550100@carrier.example>;tag=t{call_id}\r\nTo: <sip:{number}@edge>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:c@{from}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

fn bound(ip: &str) -> UdpSocket {
    let socket = UdpSocket::bind(format!("{ip}:0")).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    socket
}

/// The final answer to a request (1xx skipped), or None.
fn final_answer(socket: &UdpSocket) -> Option<String> {
    let mut buf = [0u8; 4096];
    loop {
        let (n, _) = socket.recv_from(&mut buf).ok()?;
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if !text.starts_with("SIP/2.0 1") {
            return Some(text);
        }
    }
}

/// A response without its Via line (which names each sender's own address and port).
fn without_via(response: &str) -> String {
    response
        .lines()
        .filter(|l| !l.starts_with("Via:"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn second_trunk(server: &Server, key: &str) -> String {
    let (status, trunk) = common::api_send(
        server,
        key,
        "POST",
        "/core/trunks",
        Some(
            json!({"name": "Carrier B", "inbound_config": {"allowed_sources": ["127.0.0.3"]},
                    "outbound_config": {"address": "127.0.0.3:5060", "auth_username": "b", "auth_password": "pw-b"}}),
        ),
    );
    assert_eq!(status, 201, "{trunk}");
    trunk["id"].as_str().unwrap().to_owned()
}

#[test]
fn strangers_and_other_trunks_get_one_403_with_no_routing_work() {
    let (server, key, _) = guarded("");
    second_trunk(&server, &key);
    let before = metrics(&server);
    let stranger = bound("127.0.0.2");
    let mut answers = Vec::new();
    for number in [NUMBER, "+15550000000"] {
        let request = invite(&stranger, number, "same-call");
        stranger.send_to(request.as_bytes(), server.sip).unwrap();
        let answer = final_answer(&stranger).expect("an answer to a stranger");
        assert!(answer.starts_with("SIP/2.0 403"), "{answer}");
        assert!(answer.len() <= request.len(), "no reflection gain: {answer}");
        assert!(
            !answer.contains("Server:") && !answer.contains("User-Agent:"),
            "{answer}"
        );
        answers.push(without_via(&answer.replace(number, "N")));
    }
    // Carrier B (a trunk) asks for carrier A's number: the same bytes as a stranger gets.
    let carrier_b = bound("127.0.0.3");
    carrier_b
        .send_to(invite(&carrier_b, NUMBER, "same-call").as_bytes(), server.sip)
        .unwrap();
    let answer = final_answer(&carrier_b).expect("an answer to the wrong trunk");
    answers.push(without_via(&answer.replace(NUMBER, "N")));
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:#?}");
    std::thread::sleep(Duration::from_millis(200));
    let after = metrics(&server);
    for series in [
        "switchboard_routing_lookups_total",
        "switchboard_workflow_runs_total{outcome=\"selected\"}",
        "switchboard_sip_requests_sent_total{method=\"INVITE\",transport=\"udp\"}",
    ] {
        assert_eq!(
            common::sample(&after, series),
            common::sample(&before, series),
            "{series} moved for refused calls"
        );
    }
    assert!(common::sample(&after, "switchboard_sip_refused_total{reason=\"unknown_source\"}") >= 2.0);
    assert!(common::sample(&after, "switchboard_sip_refused_total{reason=\"wrong_trunk\"}") >= 1.0);
}

#[test]
fn a_flood_from_one_address_is_limited_while_anothers_calls_all_complete() {
    // Rates well below the defaults, so that the flood meets them within its second.
    let (server, key, agent_port) =
        guarded("source_calls_per_sec = 20.0\nsource_burst = 40.0\ntrunk_calls_per_sec = 10.0\ntrunk_burst = 30.0\n");
    second_trunk(&server, &key);
    let agent = Agent::start("agent-answer.xml", agent_port, 20);
    let target = server.sip;
    let flood = std::thread::spawn(move || {
        let socket = bound("127.0.0.3");
        socket.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
        let started = Instant::now();
        let mut answers = std::collections::HashMap::<String, usize>::new();
        let mut buf = [0u8; 4096];
        for i in 0..2000 {
            // 2,000 INVITEs in one second.
            while started.elapsed() < Duration::from_micros(500 * i) {
                if socket.recv_from(&mut buf).is_ok() {
                    *answers
                        .entry(String::from_utf8_lossy(&buf[8..11]).into_owned())
                        .or_default() += 1;
                }
            }
            socket
                .send_to(
                    invite(&socket, "+15550000000", &format!("flood-{i}")).as_bytes(),
                    target,
                )
                .unwrap();
        }
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            if socket.recv_from(&mut buf).is_ok() {
                *answers
                    .entry(String::from_utf8_lossy(&buf[8..11]).into_owned())
                    .or_default() += 1;
            }
        }
        answers
    });
    common::carrier(&server, &common::scenario("carrier-call.xml"), NUMBER, 20, 10);
    agent.finish(&server);
    let answers = flood.join().unwrap();
    let refused = answers.get("503").copied().unwrap_or(0);
    let admitted = answers.get("404").copied().unwrap_or(0);
    let answered: usize = answers.values().sum::<usize>() - answers.get("100").copied().unwrap_or(0);
    assert!(refused > 0, "{answers:?}");
    assert!(
        admitted <= 200 + 40 + 100,
        "at most the rate and burst get through: {answers:?}"
    );
    assert!(
        answered < 1500,
        "past the flood threshold the source gets silence: {answers:?}"
    );
    let text = metrics(&server);
    assert!(
        common::sample(
            &text,
            "switchboard_sip_rate_limited_total{key=\"source\",action=\"drop\"}"
        ) > 0.0
    );
}

#[test]
fn a_digest_trunks_carrier_answers_the_challenge_and_its_call_completes() {
    // Debian's SIPp answers only MD5 challenges, and takes the first one offered.
    let (server, key, agent_port) = guarded("digest_algorithms = [\"MD5\"]\n");
    let (status, trunk) = common::api_send(
        &server,
        &key,
        "POST",
        "/core/trunks",
        Some(
            json!({"name": "Carrier C", "inbound_config": {"allowed_sources": ["127.0.0.5"],
                    "auth_username": "carrier-c", "auth_password": "c-secret-pw"},
                    "outbound_config": {"address": "127.0.0.5:5060", "auth_username": "c", "auth_password": "pw-c"}}),
        ),
    );
    assert_eq!(status, 201, "{trunk}");
    assert!(
        trunk["inbound_config"]["auth_password"].is_null(),
        "write-only: {trunk}"
    );
    let trunk_id = trunk["id"].as_str().unwrap();
    let (status, number) = common::api_send(
        &server,
        &key,
        "POST",
        "/core/phone-numbers",
        Some(json!({"phone_number": "+15550001111", "trunk_id": trunk_id})),
    );
    assert_eq!(status, 201, "{number}");
    let (status, body) = common::api_send(
        &server,
        &key,
        "POST",
        "/core/agents/0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11/versions/1/publish",
        Some(json!({"phone_numbers": ["+15550001111"], "direction": "inbound"})),
    );
    assert_eq!(status, 200, "{body}");
    let agent = Agent::start("agent-answer.xml", agent_port, 3);
    let port = common::free_port().to_string();
    let (code, output) = common::run_sipp(
        &[
            "-sf",
            &common::scenario("carrier-digest-call.xml"),
            "-s",
            "+15550001111",
            "-i",
            "127.0.0.5",
            "-p",
            &port,
            "-au",
            "carrier-c",
            "-ap",
            "c-secret-pw",
            "-m",
            "3",
            "-r",
            "5",
            "-timeout",
            "30s",
            "-timeout_error",
            &server.sip.to_string(),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{output}\n{}", server.log_text());
    agent.finish(&server);
    // The wrong password is refused (and counted), not answered with a call.
    let (code, _) = common::run_sipp(
        &[
            "-sf",
            &common::scenario("carrier-digest-call.xml"),
            "-s",
            "+15550001111",
            "-i",
            "127.0.0.5",
            "-p",
            &common::free_port().to_string(),
            "-au",
            "carrier-c",
            "-ap",
            "wrong",
            "-m",
            "1",
            "-timeout",
            "10s",
            "-timeout_error",
            &server.sip.to_string(),
        ],
        Duration::from_secs(30),
    );
    assert_ne!(code, 0);
    assert!(common::sample(&metrics(&server), "switchboard_sip_auth_failures_total") >= 1.0);
}

#[test]
fn five_hundred_slow_connections_do_not_stop_a_tcp_call_flow() {
    let (server, _key, agent_port) = guarded("");
    let started = Instant::now();
    // Ten addresses, fifty connections each (the per-source cap is 64), each trickling a
    // message that never ends.
    let mut slow = Vec::new();
    for i in 0..500 {
        let local: SocketAddr = format!("127.0.1.{}:0", 10 + i % 10).parse().unwrap();
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.bind(&local.into()).unwrap();
        socket.connect(&server.sip.into()).unwrap();
        let mut stream: TcpStream = socket.into();
        stream
            .write_all(b"INVITE sip:x@edge SIP/2.0\r\nVia: SIP/2.0/TCP ")
            .unwrap();
        slow.push(stream);
    }
    let agent = Agent::start("agent-answer.xml", agent_port, 5);
    let port = common::free_port().to_string();
    let (code, output) = common::run_sipp(
        &[
            "-sf",
            &common::scenario("carrier-call.xml"),
            "-t",
            "t1",
            "-s",
            NUMBER,
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            "-m",
            "5",
            "-r",
            "5",
            "-timeout",
            "30s",
            "-timeout_error",
            &server.sip.to_string(),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{output}\n{}", server.log_text());
    agent.finish(&server);
    // Past the message timeout (10 s by default) the trickling connections are closed.
    std::thread::sleep(Duration::from_secs(11).saturating_sub(started.elapsed()));
    let closed = slow
        .iter_mut()
        .map(|s| {
            s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            let _ = s.write_all(b"x");
            matches!(s.read(&mut [0u8; 16]), Ok(0) | Err(_))
        })
        .filter(|closed| *closed)
        .count();
    assert!(closed >= 490, "{closed} of 500 slow connections closed");
}

#[test]
fn svmap_learns_no_version_and_svwar_finds_no_number_while_calls_go_on() {
    let (server, _key, agent_port) = guarded("");
    let agent = Agent::start("agent-answer.xml", agent_port, 10);
    let port = server.sip.port().to_string();
    let svmap = common::require_tool("svmap", "sipvicious");
    let svwar = common::require_tool("svwar", "sipvicious");
    // The scanners send from 127.0.0.9, an address no trunk lists.
    let scan = std::thread::spawn(move || {
        let map = std::process::Command::new(svmap)
            .args(["-b", "127.0.0.9", "-p", &port, "127.0.0.1"])
            .output()
            .unwrap();
        let war = std::process::Command::new(svwar)
            .args([
                "-b",
                "127.0.0.9",
                "-e",
                "100-200",
                "-m",
                "INVITE",
                "-p",
                &port,
                "127.0.0.1",
            ])
            .output()
            .unwrap();
        (map, war)
    });
    common::carrier(&server, &common::scenario("carrier-call.xml"), NUMBER, 10, 5);
    agent.finish(&server);
    let (map, war) = scan.join().unwrap();
    let map_out = String::from_utf8_lossy(&map.stdout).to_string() + &String::from_utf8_lossy(&map.stderr);
    let war_out = String::from_utf8_lossy(&war.stdout).to_string() + &String::from_utf8_lossy(&war.stderr);
    assert!(!map_out.to_lowercase().contains("switchboard"), "svmap: {map_out}");
    assert!(!map_out.contains(env!("CARGO_PKG_VERSION")), "svmap: {map_out}");
    assert!(
        !war_out.contains("| reqauth") && !war_out.contains("| noauth"),
        "svwar found extensions: {war_out}"
    );
}
