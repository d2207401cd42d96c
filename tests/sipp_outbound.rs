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
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Server;
use serde_json::{json, Value};

/// The demo number: its outbound slot holds the demo agent's version.
const DEMO_NUMBER: &str = "+15551234567";
const DEMO_VERSION: &str = "ver_demo_1";
/// The second demo number: this test gives its outbound slot to another agent.
const OTHER_NUMBER: &str = "+15557654321";
const DIALED: &str = "+12125551234";
const LIVEKIT_IP: &str = "127.0.0.2";

struct Outbound {
    server: Server,
    key: String,
    carrier_port: u16,
    scratch: tempfile::TempDir,
}

impl Outbound {
    /// A server taking outbound calls from 127.0.0.2, its demo trunk pointed at a carrier
    /// on a free loopback port, and OTHER_NUMBER assigned to a second agent.
    fn start(extra: &str) -> Outbound {
        let carrier_port = common::free_port();
        let server = Server::start(&format!(
            "[outbound]\nlivekit_sources = [\"{LIVEKIT_IP}/32\"]\ncalls_per_second = 1000.0\nburst = 1000\n\
             max_concurrent = 1000\n{extra}"
        ));
        let key = common::demo_api_key(&server);
        let o = Outbound {
            server,
            key,
            carrier_port,
            scratch: tempfile::tempdir().unwrap(),
        };
        o.point_trunk_at(&format!("127.0.0.1:{carrier_port}"), "UDP");
        let (status, agent) = o.api("POST", "/core/agents", Some(json!({"name": "Agent B"})));
        assert_eq!(status, 201, "{agent}");
        let id = agent["id"].as_str().unwrap().to_owned();
        let (status, body) = o.api("POST", &format!("/core/agents/{id}/versions"), None);
        assert_eq!(status, 201, "{body}");
        let (status, body) = o.api(
            "POST",
            &format!("/core/agents/{id}/versions/1/publish"),
            Some(json!({"phone_numbers": [OTHER_NUMBER], "direction": "outbound"})),
        );
        assert_eq!(status, 200, "{body}");
        o
    }

    fn point_trunk_at(&self, address: &str, transport: &str) {
        let (status, body) = self.api(
            "PUT",
            "/core/trunks/trk_demo_byoc",
            Some(json!({"name": "Demo BYOC carrier",
                "inbound_config": {"allowed_sources": ["127.0.0.1/32"]},
                "outbound_config": {"address": address, "auth_username": "carrier-user",
                    "auth_password": "carrier-pass", "transport": transport}})),
        );
        assert_eq!(status, 200, "{body}");
    }

    fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = reqwest::blocking::Client::new()
            .request(method.parse().unwrap(), format!("http://{}{path}", self.server.http))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().unwrap();
        let status = response.status().as_u16();
        (
            status,
            serde_json::from_str(&response.text().unwrap()).unwrap_or(Value::Null),
        )
    }

    /// SIPp as the carrier, on the trunk's address.
    fn carrier(&self, scenario: &str, calls: usize) -> Carrier {
        self.carrier_over(scenario, calls, "u1")
    }

    /// SIPp as the carrier over a SIPp transport (`u1` UDP, `t1` TCP).
    fn carrier_over(&self, scenario: &str, calls: usize, transport: &str) -> Carrier {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(common::require_tool("sipp", "sip-tester"))
            .args([
                "-sf",
                &common::scenario(scenario),
                "-t",
                transport,
                "-i",
                "127.0.0.1",
                "-p",
            ])
            .arg(self.carrier_port.to_string())
            .args(["-m", &calls.to_string(), "-nostdin", "-trace_err", "-trace_msg"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning the SIPp carrier");
        std::thread::sleep(Duration::from_millis(300));
        Carrier {
            child: Some(child),
            dir,
        }
    }

    /// SIPp as LiveKit: `calls` calls of `scenario_path` to `dialed` as `caller_id`; panics
    /// with SIPp's and the server's output unless every call went as the scenario says.
    fn livekit(&self, scenario_path: &str, dialed: &str, caller_id: &str, calls: usize) {
        self.livekit_with(None, scenario_path, dialed, caller_id, calls);
    }

    /// As `livekit`, with the carrier's logs in the failure message.
    fn livekit_with(
        &self,
        carrier: Option<&Carrier>,
        scenario_path: &str,
        dialed: &str,
        caller_id: &str,
        calls: usize,
    ) {
        let target = self.server.sip.to_string();
        let local_port = common::free_port().to_string();
        let calls = calls.to_string();
        let (code, output) = common::run_sipp(
            &[
                "-sf",
                scenario_path,
                "-t",
                "u1",
                "-s",
                dialed,
                "-i",
                LIVEKIT_IP,
                "-p",
                &local_port,
                "-m",
                &calls,
                "-r",
                "10",
                "-key",
                "caller_id",
                caller_id,
                "-key",
                "agent_version",
                DEMO_VERSION,
                "-timeout",
                "30s",
                "-timeout_error",
                &target,
            ],
            Duration::from_secs(60),
        );
        assert_eq!(
            code,
            0,
            "LiveKit SIPp ({scenario_path}) failed:\n{output}\nserver log:\n{}\ncarrier:\n{}",
            self.server.log_text(),
            carrier.map(|c| c.logs()).unwrap_or_default()
        );
    }

    /// A LiveKit scenario that expects the final `status` with a Reason matching `reason`.
    fn expect(&self, status: u16, reason: &str) -> String {
        let template = std::fs::read_to_string(common::scenario("livekit-outbound-expect-failure.xml.in")).unwrap();
        let path = self.scratch.path().join(format!("livekit-expect-{status}.xml"));
        std::fs::write(
            &path,
            template
                .replace("STATUS", &status.to_string())
                .replace("REASON", reason),
        )
        .unwrap();
        path.to_string_lossy().into_owned()
    }

    fn metrics(&self) -> String {
        reqwest::blocking::get(format!("http://{}/metrics", self.server.http))
            .unwrap()
            .text()
            .unwrap()
    }
}

/// SIPp playing the carrier.
struct Carrier {
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Carrier {
    /// What SIPp logged (errors, and the messages it saw).
    fn logs(&self) -> String {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect()
    }

    /// Wait for the carrier to finish its calls; panics with its logs if it failed.
    fn finish(mut self, server: &Server) {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the SIPp carrier did not finish its calls:\n{}\nserver log:\n{}",
                    self.logs(),
                    server.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "the SIPp carrier failed ({status}):\n{}", self.logs());
    }
}

impl Drop for Carrier {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

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

/// CPU time (user + system, all threads) the server process has used, in seconds.
fn cpu_seconds(server: &Server) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", server.child.id())).unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// The outbound flow's CPU per call, beside the inbound flow's in the same run on the same
/// server (a benchmark, not a check: run it on a release build, alone, and compare only
/// figures from one run). Outbound: LiveKit INVITE -> 407 challenge answered -> 180 -> 200
/// -> ACK -> 0.5 s -> BYE, 16 datagrams through switchboard per call; inbound: the 7-message
/// flow, 14 datagrams.
/// `cargo test --release --test sipp_outbound -- --ignored --nocapture cpu_per_call`
#[test]
#[ignore = "a benchmark: run on a release build, alone"]
fn cpu_per_call_of_the_outbound_flow_beside_the_inbound_flow() {
    let calls: usize = std::env::var("CALLS").ok().and_then(|c| c.parse().ok()).unwrap_or(3000);
    let rate = std::env::var("RATE").unwrap_or_else(|_| "100".into());
    let agent_port = common::free_port();
    std::env::set_var("SWITCHBOARD_TEST_LOG", "warn");
    let o = Outbound::start(&format!("[routing]\nlivekit_host = \"127.0.0.1:{agent_port}\"\n"));
    let measure = |name: &str, run: &dyn Fn()| {
        let before = cpu_seconds(&o.server);
        let started = Instant::now();
        run();
        let cpu = cpu_seconds(&o.server) - before;
        println!(
            "{name}: {calls} calls at {rate}/s in {:.1} s, server CPU {:.2} s = {:.0} us per call",
            started.elapsed().as_secs_f64(),
            cpu,
            cpu * 1e6 / calls as f64
        );
    };
    measure("outbound (407 challenge)", &|| {
        let carrier = o.carrier("carrier-407-answer.xml", calls);
        let target = o.server.sip.to_string();
        let (code, output) = common::run_sipp(
            &[
                "-sf",
                &common::scenario("livekit-outbound-call.xml"),
                "-s",
                DIALED,
                "-i",
                LIVEKIT_IP,
                "-p",
                &common::free_port().to_string(),
                "-m",
                &calls.to_string(),
                "-r",
                &rate,
                "-key",
                "caller_id",
                DEMO_NUMBER,
                "-key",
                "agent_version",
                DEMO_VERSION,
                "-timeout",
                "120s",
                "-timeout_error",
                &target,
            ],
            Duration::from_secs(300),
        );
        assert_eq!(code, 0, "{output}");
        carrier.finish(&o.server);
    });
    measure("inbound (static route)", &|| {
        let agent = common::Agent::start("agent-answer.xml", agent_port, calls);
        common::carrier(
            &o.server,
            &common::scenario("carrier-call.xml"),
            DEMO_NUMBER,
            calls,
            rate.parse().unwrap(),
        );
        agent.finish(&o.server);
    });
}
