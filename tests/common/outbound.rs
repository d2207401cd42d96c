//! Outbound calls' test bed: a live server taking agents' calls from LiveKit's source
//! (127.0.0.2) with its demo trunk pointed at a SIPp carrier on a free loopback port
//! (`tests/sipp_outbound.rs`, `benches/outbound_cost.rs`).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use super as common;
use super::Server;

/// The demo number: its outbound slot holds the demo agent's version.
pub const DEMO_NUMBER: &str = "+15551234567";
pub const DEMO_VERSION: &str = "ver_demo_1";
/// The second demo number: this test gives its outbound slot to another agent.
pub const OTHER_NUMBER: &str = "+15557654321";
pub const DIALED: &str = "+12125551234";
pub const LIVEKIT_IP: &str = "127.0.0.2";

pub struct Outbound {
    pub server: Server,
    pub key: String,
    pub carrier_port: u16,
    pub scratch: tempfile::TempDir,
}

impl Outbound {
    /// A server taking outbound calls from 127.0.0.2, its demo trunk pointed at a carrier
    /// on a free loopback port, and OTHER_NUMBER assigned to a second agent.
    pub fn start(extra: &str) -> Outbound {
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

    pub fn point_trunk_at(&self, address: &str, transport: &str) {
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

    pub fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
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
    pub fn carrier(&self, scenario: &str, calls: usize) -> Carrier {
        self.carrier_over(scenario, calls, "u1")
    }

    /// SIPp as the carrier over a SIPp transport (`u1` UDP, `t1` TCP).
    pub fn carrier_over(&self, scenario: &str, calls: usize, transport: &str) -> Carrier {
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
    pub fn livekit(&self, scenario_path: &str, dialed: &str, caller_id: &str, calls: usize) {
        self.livekit_with(None, scenario_path, dialed, caller_id, calls);
    }

    /// As `livekit`, with the carrier's logs in the failure message.
    pub fn livekit_with(
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
    pub fn expect(&self, status: u16, reason: &str) -> String {
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

    pub fn metrics(&self) -> String {
        reqwest::blocking::get(format!("http://{}/metrics", self.server.http))
            .unwrap()
            .text()
            .unwrap()
    }
}

/// SIPp playing the carrier.
pub struct Carrier {
    pub child: Option<Child>,
    pub dir: tempfile::TempDir,
}

impl Carrier {
    /// What SIPp logged (errors, and the messages it saw).
    pub fn logs(&self) -> String {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect()
    }

    /// Wait for the carrier to finish its calls; panics with its logs if it failed.
    pub fn finish(mut self, server: &Server) {
        let mut child = self.child.take().unwrap();
        let status = common::wait_or_kill(&mut child, Duration::from_secs(20)).unwrap_or_else(|| {
            panic!(
                "the SIPp carrier did not finish its calls:\n{}\nserver log:\n{}",
                self.logs(),
                server.log_text()
            )
        });
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
