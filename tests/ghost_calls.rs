//! No ghost agent calls (issue 18; RFC 3261 §9.1, §13.2.2.4, RFC 6026), live: SIPp as the
//! carrier on 127.0.0.1 and as a slow LiveKit agent on 127.0.0.3. When the agent has not
//! answered in time the carrier gets its failure, and whatever the agent answers later is
//! undone: its 200 is ACKed then BYEd within 8 s (the agent scenarios time out otherwise),
//! and a ringing agent is CANCELled at the timeout, or as soon as it rings if that is later.
//! An agent whose port is closed answers with ICMP "port unreachable", which fails the call
//! at once instead of at the timeout.

mod common;

use std::time::{Duration, Instant};

const NUMBER: &str = "+15551234567";
const AGENT: &str = "0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11";
const AGENT_IP: &str = "127.0.0.3";

/// A server whose static route sends NUMBER to a SIPp agent at AGENT_IP on a free port.
fn server_for_agent(extra: &str) -> (common::Server, u16, tempfile::TempDir) {
    let agent_port = common::free_port();
    let dir = tempfile::tempdir().unwrap();
    let routes = dir.path().join("routes.tsv");
    std::fs::write(&routes, format!("{NUMBER}\t{AGENT}\n")).unwrap();
    let config = format!(
        "[routing]\nlivekit_host = \"{AGENT_IP}:{agent_port}\"\nstatic_routes = \"{}\"\n{extra}",
        routes.display()
    );
    (common::Server::start(&config), agent_port, dir)
}

/// Place one call expecting `status`; how long the carrier waited for it (SIPp's start,
/// the call, its 300 ms timewait). At rate 100 SIPp places its call at once, not after 1 s.
fn call_expecting(server: &common::Server, status: u16, dir: &std::path::Path) -> Duration {
    let scenario = common::expect_failure(status, dir);
    let started = Instant::now();
    common::carrier(server, &scenario, NUMBER, 1, 100);
    started.elapsed()
}

#[test]
fn an_agent_answering_after_the_response_timeout_gets_ack_then_bye_and_the_carrier_a_503() {
    // The shipped agent_response_timeout_secs (4 s); the agent answers at 5.5 s.
    let (server, port, dir) = server_for_agent("");
    let agent = common::Agent::start_at("agent-answer-late.xml", AGENT_IP, port, 1, "u1");
    let waited = call_expecting(&server, 503, dir.path());
    assert!(
        waited >= Duration::from_millis(3_900) && waited < Duration::from_millis(5_400),
        "the carrier gets 503 at the 4 s timeout, before the agent's 200: {waited:?}"
    );
    // The agent scenario fails unless ACK and BYE each come within 8 s of its 200.
    agent.finish(&server);
}

#[test]
fn a_ringing_agent_is_cancelled_at_the_timeout_and_its_crossing_200_gets_ack_then_bye() {
    // The shipped defaults: the agent rings at once and would answer at 5.5 s, but an agent
    // leg still ringing at agent_response_timeout_secs (4 s) is given up on.
    let (server, port, dir) = server_for_agent("");
    let agent = common::Agent::start_at("agent-ring-answer-late.xml", AGENT_IP, port, 1, "u1");
    let waited = call_expecting(&server, 503, dir.path());
    assert!(
        waited >= Duration::from_millis(3_900) && waited < Duration::from_millis(5_400),
        "the carrier gets 503 at the 4 s timeout: {waited:?}"
    );
    // The agent scenario fails unless CANCEL comes within 5 s of its 180, and ACK then BYE
    // within 8 s of the 200 it sends 1.5 s after the CANCEL.
    agent.finish(&server);
}

#[test]
fn an_agent_ringing_after_the_response_timeout_is_cancelled_at_once() {
    // The shipped agent_response_timeout_secs (4 s); the agent's first word is a 180 at 4.5 s.
    let (server, port, dir) = server_for_agent("");
    let agent = common::Agent::start_at("agent-ring-late.xml", AGENT_IP, port, 1, "u1");
    let waited = call_expecting(&server, 503, dir.path());
    assert!(
        waited >= Duration::from_millis(3_900) && waited < Duration::from_millis(5_400),
        "the carrier gets 503 at the 4 s timeout: {waited:?}"
    );
    // The agent scenario fails unless CANCEL comes within 1 s of its 180, and its 487 is ACKed.
    agent.finish(&server);
}

#[test]
fn an_agent_port_answering_icmp_port_unreachable_fails_the_call_at_once() {
    // Nothing listens on the agent's UDP port: the kernel answers the INVITE with ICMP
    // "port unreachable", which the server reads (IP_RECVERR) as a transport error.
    let (server, _port, dir) = server_for_agent("");
    let waited = call_expecting(&server, 503, dir.path());
    // About 350 ms here (SIPp's start, ~2 ms for the 503, SIPp's 300 ms timewait); the
    // bound leaves room for a loaded machine and stays far from the 4 s timeout.
    assert!(
        waited < Duration::from_millis(1_000),
        "the carrier gets 503 at once, not at the 4 s timeout: {waited:?}"
    );
    let metrics = common::metrics(&server);
    assert!(
        common::sample(&metrics, "switchboard_sip_send_errors_total{transport=\"udp\"}") >= 1.0,
        "the unreachable datagram is counted:\n{metrics}"
    );
}
