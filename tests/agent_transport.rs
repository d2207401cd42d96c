//! The agent leg's transport, live (issue 18): a call whose routing workflow sets 2,000 bytes
//! of initial context and 2,000 of custom metadata makes an agent INVITE of about 6 KB, which
//! RFC 3261 §18.1.1 keeps off UDP: it reaches SIPp as the agent over TCP (`-t t1`, so SIPp
//! listens on TCP only) although the LiveKit host is a UDP one, and the call completes.

mod common;

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
