//! Calls through a live `switchboard serve` with SIPp on both sides: SIPp as the carrier
//! (scenarios `fixtures/sipp/carrier-*.xml`) and SIPp as the LiveKit agent
//! (`fixtures/sipp/agent-*.xml`). Every flow must complete on both SIPp ends.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NUMBER: &str = "+15551234567";
const AGENT: &str = "0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11";
const CALLS: &str = "3";

use common::{expect_failure, scenario};

struct Flow {
    server: common::Server,
    agent_port: u16,
    agent: Option<Child>,
    agent_dir: tempfile::TempDir,
}

impl Flow {
    /// A server whose static route sends NUMBER to a SIPp agent on a free port.
    fn start(agent_scenario: Option<&str>, extra: &str) -> Flow {
        let agent_port = common::free_port();
        let agent_dir = tempfile::tempdir().unwrap();
        let routes: PathBuf = agent_dir.path().join("routes.tsv");
        std::fs::write(&routes, format!("{NUMBER}\t{AGENT}\n")).unwrap();
        let config = format!(
            "[routing]\nlivekit_host = \"127.0.0.1:{agent_port}\"\nstatic_routes = \"{}\"\n{extra}",
            routes.display()
        );
        let server = common::Server::start(&config);
        let agent = agent_scenario.map(|name| {
            Command::new(common::require_tool("sipp", "sip-tester"))
                .args([
                    "-sf",
                    &scenario(name),
                    "-i",
                    "127.0.0.1",
                    "-p",
                    &agent_port.to_string(),
                    "-m",
                    CALLS,
                    "-nostdin",
                    "-trace_err",
                ])
                .current_dir(agent_dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawning the SIPp agent")
        });
        std::thread::sleep(Duration::from_millis(300));
        Flow {
            server,
            agent_port,
            agent,
            agent_dir,
        }
    }

    /// Run the carrier side to completion; assert both sides completed every call.
    fn carrier(&mut self, scenario_path: &str, transport: &str, dialed: &str) {
        let target = self.server.sip.to_string();
        let local_port = common::free_port().to_string();
        let (code, output) = common::run_sipp(
            &[
                "-sf",
                scenario_path,
                "-t",
                transport,
                "-s",
                dialed,
                "-i",
                "127.0.0.1",
                "-p",
                &local_port,
                "-m",
                CALLS,
                "-r",
                "5",
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
            "carrier SIPp ({scenario_path}) failed:\n{output}\nserver log:\n{}",
            self.server.log_text()
        );
        if let Some(mut agent) = self.agent.take() {
            let deadline = Instant::now() + Duration::from_secs(15);
            let status = loop {
                if let Some(status) = agent.try_wait().unwrap() {
                    break status;
                }
                if Instant::now() > deadline {
                    let _ = agent.kill();
                    panic!("the SIPp agent on port {} did not finish its calls", self.agent_port);
                }
                std::thread::sleep(Duration::from_millis(50));
            };
            let errors: String = std::fs::read_dir(self.agent_dir.path())
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with("errors.log"))
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                .collect();
            assert!(
                status.success(),
                "the SIPp agent failed ({status}):\n{errors}\nserver log:\n{}",
                self.server.log_text()
            );
        }
    }
}

impl Drop for Flow {
    fn drop(&mut self) {
        if let Some(mut agent) = self.agent.take() {
            let _ = agent.kill();
            let _ = agent.wait();
        }
    }
}

#[test]
fn a_basic_call_where_the_caller_hangs_up() {
    Flow::start(Some("agent-answer.xml"), "").carrier(&scenario("carrier-call.xml"), "u1", NUMBER);
}

#[test]
fn a_call_where_the_agent_hangs_up() {
    Flow::start(Some("agent-answer-hangup.xml"), "").carrier(
        &scenario("carrier-call-agent-hangs-up.xml"),
        "u1",
        NUMBER,
    );
}

#[test]
fn a_call_over_tcp_whose_bye_comes_back_on_the_carriers_connection() {
    Flow::start(Some("agent-answer-hangup.xml"), "").carrier(
        &scenario("carrier-call-agent-hangs-up.xml"),
        "t1",
        NUMBER,
    );
}

#[test]
fn the_caller_cancels_while_the_agent_rings() {
    Flow::start(Some("agent-ring-until-cancel.xml"), "").carrier(&scenario("carrier-cancel.xml"), "u1", NUMBER);
}

#[test]
fn a_busy_agent_gives_the_caller_486() {
    let mut flow = Flow::start(Some("agent-busy.xml"), "");
    let scenario = expect_failure(486, flow.agent_dir.path());
    flow.carrier(&scenario, "u1", NUMBER);
}

#[test]
fn an_agent_that_only_rings_is_cancelled_at_the_ring_timeout_and_the_caller_gets_480() {
    let mut flow = Flow::start(Some("agent-ring-until-cancel.xml"), "[b2bua]\nring_timeout_secs = 1\n");
    let scenario = expect_failure(480, flow.agent_dir.path());
    flow.carrier(&scenario, "u1", NUMBER);
}

#[test]
fn an_unreachable_agent_gives_the_caller_503() {
    let mut flow = Flow::start(None, "[b2bua]\nagent_response_timeout_secs = 1\n");
    let scenario = expect_failure(503, flow.agent_dir.path());
    flow.carrier(&scenario, "u1", NUMBER);
}

#[test]
fn an_unknown_number_gets_404() {
    let mut flow = Flow::start(None, "");
    let scenario = expect_failure(404, flow.agent_dir.path());
    flow.carrier(&scenario, "u1", "+15550009999");
}

#[test]
fn a_reinvite_from_the_carrier_puts_the_call_on_hold() {
    Flow::start(Some("agent-answer-accepts-reinvite.xml"), "").carrier(
        &scenario("carrier-call-reinvite.xml"),
        "u1",
        NUMBER,
    );
}

#[test]
fn a_reinvite_from_the_agent_reaches_the_carrier() {
    Flow::start(Some("agent-answer-reinvite.xml"), "").carrier(
        &scenario("carrier-call-answers-reinvite.xml"),
        "u1",
        NUMBER,
    );
}

#[test]
fn early_media_183_then_200() {
    Flow::start(Some("agent-early-media.xml"), "").carrier(&scenario("carrier-call.xml"), "u1", NUMBER);
}

#[test]
fn sigterm_drains_new_calls_get_503_and_a_live_call_ends_normally() {
    let mut flow = Flow::start(Some("agent-answer.xml"), "");
    let target = flow.server.sip.to_string();
    let local_port = common::free_port().to_string();
    let scenario = scenario("carrier-long-call.xml");
    let mut carrier = Command::new(common::require_tool("sipp", "sip-tester"))
        .args([
            "-sf",
            &scenario,
            "-s",
            NUMBER,
            "-i",
            "127.0.0.1",
            "-p",
            &local_port,
            "-m",
            "1",
            "-nostdin",
            "-timeout",
            "20s",
            "-timeout_error",
            &target,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let status = Command::new("kill")
        .args(["-TERM", &flow.server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(300));
    // OPTIONS now gets 503: carriers stop sending new calls here.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    socket
        .send_to(
            common::options_request(socket.local_addr().unwrap(), "draining").as_bytes(),
            flow.server.sip,
        )
        .unwrap();
    let mut buf = [0u8; 2048];
    let (n, _) = socket.recv_from(&mut buf).expect("an answer while draining");
    assert!(
        buf[..n].starts_with(b"SIP/2.0 503"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    // The call in progress completes, then the server exits on its own.
    let deadline = Instant::now() + Duration::from_secs(20);
    let carrier_status = loop {
        if let Some(s) = carrier.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the live call did not complete");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(carrier_status.success(), "the live call failed while draining");
    let exit = loop {
        if let Some(s) = flow.server.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not exit after its calls ended"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit}");
}
