//! The agent leg's transport, live (issue 18): a call whose routing workflow sets 2,000 bytes
//! of initial context and 2,000 of custom metadata makes an agent INVITE of about 6 KB, which
//! RFC 3261 §18.1.1 keeps off UDP: it reaches SIPp as the agent over TCP (`-t t1`, so SIPp
//! listens on TCP only) although the LiveKit host is a UDP one, and the call completes.
//! A LiveKit host named `;transport=tls` is reached over TLS: stunnel4 terminates it in
//! front of SIPp, with a certificate the server trusts through `carrier_tls_ca`.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Agent, Server};
use serde_json::json;

const NUMBER: &str = "+15551234567";
const AGENT_IP: &str = "127.0.0.3";

/// Selects `agent` with 2,000 bytes of context ("ccc...") and a 2,008-byte metadata object
/// (`{"k":"mmm..."}`).
fn large_context_workflow(agent: &str) -> String {
    format!(
        r#"(module
  (import "switchboard" "select_agent" (func $select_agent (param i32 i32 i32)))
  (import "switchboard" "set_initial_context" (func $context (param i32 i32)))
  (import "switchboard" "set_custom_metadata" (func $metadata (param i32 i32)))
  (memory (export "memory") 1)
  (global (export "abi_version") i32 (i32.const 1))
  (data (i32.const 0) "{agent}")
  (data (i32.const 4096) "{{\"k\":\"")
  (data (i32.const 6102) "\"}}")
  (func (export "route") (result i32)
    (memory.fill (i32.const 1024) (i32.const 99) (i32.const 2000))
    (memory.fill (i32.const 4102) (i32.const 109) (i32.const 2000))
    (call $context (i32.const 1024) (i32.const 2000))
    (call $metadata (i32.const 4096) (i32.const 2008))
    (call $select_agent (i32.const 0) (i32.const 36) (i32.const -1))
    (i32.const 1)))"#
    )
}

#[test]
fn a_call_with_4_kb_of_context_and_metadata_reaches_the_agent_over_tcp() {
    let agent_port = common::free_port();
    let server = Server::start(&format!(
        "[routing]\nlivekit_host = \"{AGENT_IP}:{agent_port}\"\n[security]\nlivekit_sources = [\"{AGENT_IP}/32\"]\n"
    ));
    let key = common::demo_api_key(&server);
    let agent_id = common::published_agent(&server, &key, "Context desk");
    let (status, body) = common::api_send(
        &server,
        &key,
        "PUT",
        "/core/inbound-routing-config",
        Some(json!({"enabled": true, "workflow_definition": large_context_workflow(&agent_id)})),
    );
    assert_eq!(status, 200, "{body}");
    let agent = Agent::start_at("agent-answer-large-context.xml", AGENT_IP, agent_port, 1, "t1");
    common::carrier(&server, &common::scenario("carrier-call.xml"), NUMBER, 1, 1);
    agent.finish(&server);
    let metrics = reqwest::blocking::get(format!("http://{}/metrics", server.http))
        .unwrap()
        .text()
        .unwrap();
    let sent = |transport: &str| {
        common::sample(
            &metrics,
            &format!("switchboard_sip_requests_sent_total{{method=\"INVITE\",transport=\"{transport}\"}}"),
        )
    };
    assert_eq!((sent("tcp"), sent("udp")), (1.0, 0.0), "{metrics}");
}

/// stunnel4 taking TLS on `ip:accept` and passing the plain stream to `ip:connect`, with a
/// certificate for `ip`; stopped when dropped.
struct Stunnel {
    child: Child,
    dir: tempfile::TempDir,
}

impl Stunnel {
    fn start(ip: &str, accept: u16, connect: u16) -> Stunnel {
        let stunnel = common::require_tool("stunnel4", "stunnel4");
        let dir = tempfile::tempdir().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec![ip.to_owned()]).unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert.cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
        let config = dir.path().join("stunnel.conf");
        std::fs::write(
            &config,
            format!(
                "foreground = yes\npid =\n[agent]\naccept = {ip}:{accept}\nconnect = {ip}:{connect}\n\
                 cert = {0}/cert.pem\nkey = {0}/key.pem\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("stunnel.log")).unwrap();
        let child = Command::new(stunnel)
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawning stunnel4");
        let stunnel = Stunnel { child, dir };
        // Listening once the port can no longer be bound.
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpListener::bind((ip, accept)).is_ok() {
            assert!(Instant::now() < deadline, "stunnel4 did not listen:\n{}", stunnel.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        stunnel
    }

    /// The CA file that makes its certificate trusted (it is self-signed).
    fn ca(&self) -> std::path::PathBuf {
        self.dir.path().join("cert.pem")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stunnel.log")).unwrap_or_default()
    }
}

impl Drop for Stunnel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_livekit_host_named_tls_gets_the_call_over_tls_and_the_call_completes() {
    let (tls_port, agent_port) = (common::free_port(), common::free_port());
    let stunnel = Stunnel::start(AGENT_IP, tls_port, agent_port);
    let routes = stunnel.dir.path().join("routes.tsv");
    std::fs::write(&routes, format!("{NUMBER}\t0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11\n")).unwrap();
    let server = Server::start(&format!(
        "[routing]\nlivekit_host = \"{AGENT_IP}:{tls_port};transport=tls\"\nstatic_routes = \"{}\"\n\
         [outbound]\ncarrier_tls_ca = \"{}\"\n",
        routes.display(),
        stunnel.ca().display()
    ));
    // SIPp behind stunnel speaks plain TCP; everything the server sends the agent (INVITE,
    // ACK, BYE) goes over the one TLS connection.
    let agent = Agent::start_at("agent-answer.xml", AGENT_IP, agent_port, 1, "t1");
    common::carrier(&server, &common::scenario("carrier-call.xml"), NUMBER, 1, 1);
    agent.finish(&server);
    let metrics = common::metrics(&server);
    let sent = |method: &str, transport: &str| {
        common::sample(
            &metrics,
            &format!("switchboard_sip_requests_sent_total{{method=\"{method}\",transport=\"{transport}\"}}"),
        )
    };
    assert_eq!(
        (sent("INVITE", "tls"), sent("INVITE", "udp"), sent("INVITE", "tcp")),
        (1.0, 0.0, 0.0),
        "{metrics}"
    );
    assert_eq!(sent("BYE", "tls"), 1.0, "{metrics}");
    assert!(
        stunnel.log().contains("connection"),
        "stunnel4 took the connection:\n{}",
        stunnel.log()
    );
}
