//! The seed's routing precedence, through the API and SIPp calls against a live server
//! (issue 15): a workflow that comes to nothing sends the call to the config's fallback agent,
//! then to the number's own agent, and only then to a 480 whose `Reason` says how it came to
//! nothing; PATCH edits, PUT replaces; a fallback agent cannot be deleted; an unusable
//! selection is named by the dry run; failed runs report their fuel; anonymous callers have
//! a documented `caller_number`; a request naming no number gets 484; the README's dry-run
//! `curl` and `workflow test` say what happened.

mod common;

use std::time::{Duration, Instant};

use common::{Agent, Server};
use serde_json::{json, Value};

const NUMBER: &str = "+15551234567";
const DEMO_AGENT: &str = "0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11";
/// The demo number without an inbound agent.
const NUMBER_WITHOUT_AGENT: &str = "+15557654321";
/// Where the SIPp agent listens: its own loopback address.
const AGENT_IP: &str = "127.0.0.3";

const NO_DECISION: &str = r#"(module (memory (export "memory") 1) (global (export "abi_version") i32 (i32.const 1))
  (func (export "route") (result i32) (i32.const 0)))"#;

/// A module whose `route` selects `agent` at `version` (-1: latest published).
fn selecting(agent: &str, version: i32) -> String {
    format!(
        r#"(module (import "switchboard" "select_agent" (func $select (param i32 i32 i32)))
  (memory (export "memory") 1) (global (export "abi_version") i32 (i32.const 1))
  (data (i32.const 0) "{agent}")
  (func (export "route") (result i32)
    (call $select (i32.const 0) (i32.const {len}) (i32.const {version})) (i32.const 1)))"#,
        len = agent.len()
    )
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(common::repo().join(format!("fixtures/workflows/{name}.wat"))).unwrap()
}

/// A server whose LiveKit host is the SIPp agent's address; its demo key and agent port.
fn server(extra: &str) -> (Server, String, u16) {
    let port = common::free_port();
    let server = Server::start(&format!("[routing]\nlivekit_host = \"{AGENT_IP}:{port}\"\n{extra}"));
    let key = common::demo_api_key(&server);
    (server, key, port)
}

fn send(server: &Server, key: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    common::api_send(server, key, method, path, body)
}

fn put_config(server: &Server, key: &str, body: Value) {
    let (status, answer) = send(server, key, "PUT", "/core/inbound-routing-config", Some(body));
    assert_eq!(status, 200, "{answer}");
}

/// One call to `dialed` that the agent answers; the call's record (route kind, agent).
fn answered_call(server: &Server, key: &str, port: u16, dialed: &str) -> Value {
    let before = records(server, key, 0).len();
    let agent = Agent::start_at("agent-answer.xml", AGENT_IP, port, 1, "u1");
    common::carrier(server, &common::scenario("carrier-call.xml"), dialed, 1, 1);
    agent.finish(server);
    let records = records(server, key, before + 1);
    assert_eq!(records[0]["status"], 200, "{records:#?}");
    records[0].clone()
}

/// One call to `dialed` refused with `status` and a `Reason` matching `reason`.
fn refused_call(server: &Server, dialed: &str, status: u16, reason: &str) {
    let dir = tempfile::tempdir().unwrap();
    let template = std::fs::read_to_string(common::scenario("carrier-expect-failure.xml.in")).unwrap();
    let checked = template.replace(
        "<recv response=\"STATUS\"/>",
        &format!(
            "<recv response=\"{status}\"><action><ereg regexp=\"{reason}\" search_in=\"hdr\" header=\"Reason:\" \
             check_it=\"true\" assign_to=\"reason\"/><log message=\"[$reason]\"/></action></recv>"
        ),
    );
    let path = dir.path().join("carrier-expect-reason.xml");
    std::fs::write(&path, checked).unwrap();
    common::carrier(server, &path.to_string_lossy(), dialed, 1, 1);
}

/// The org's call records, newest first, once at least `count` exist.
fn records(server: &Server, key: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = common::api_get(server, key, "/core/calls?limit=200");
        assert_eq!(status, 200, "{body}");
        let data = serde_json::from_str::<Value>(&body).unwrap()["data"]
            .as_array()
            .unwrap()
            .clone();
        if data.len() >= count || Instant::now() > deadline {
            return data;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn dry_run(server: &Server, key: &str, body: Value) -> Value {
    let (status, report) = send(server, key, "POST", "/core/inbound-routing-config/test", Some(body));
    assert_eq!(status, 200, "{report}");
    report
}

#[test]
fn a_workflow_that_comes_to_nothing_hands_the_call_to_the_numbers_own_agent_then_a_480_saying_how() {
    let (server, key, port) = server("");
    for (name, module, reason) in [
        ("no decision", NO_DECISION.to_owned(), "made no decision"),
        ("trap", fixture("trap"), "routing workflow failed"),
        ("infinite loop", fixture("infinite-loop"), "routing workflow failed"),
    ] {
        put_config(&server, &key, json!({"enabled": true, "workflow_definition": module}));
        let record = answered_call(&server, &key, port, NUMBER);
        assert_eq!(
            (record["route_kind"].as_str(), record["agent_id"].as_str()),
            (Some("static"), Some(DEMO_AGENT)),
            "{name}: {record}"
        );
        refused_call(&server, NUMBER_WITHOUT_AGENT, 480, reason);
        let report = dry_run(&server, &key, json!({"input": {"called_number": NUMBER}}));
        assert_eq!(
            (
                report["decision"]["route_kind"].as_str(),
                report["decision"]["agent_id"].as_str()
            ),
            (Some("static"), Some(DEMO_AGENT)),
            "{name}: {report}"
        );
        let report = dry_run(&server, &key, json!({"input": {"called_number": NUMBER_WITHOUT_AGENT}}));
        assert_eq!(report["decision"]["status"], 480, "{name}: {report}");
        assert!(
            report["decision"]["reason"].as_str().unwrap().contains(reason),
            "{report}"
        );
    }
    // An enabled config without a workflow leaves every number to its own agent.
    put_config(&server, &key, json!({"enabled": true}));
    let record = answered_call(&server, &key, port, NUMBER);
    assert_eq!(record["route_kind"], "static", "{record}");
    refused_call(&server, NUMBER_WITHOUT_AGENT, 480, "no agent assigned");
    // The config's fallback agent comes before the number's own.
    let fallback = common::published_agent(&server, &key, "Fallback desk");
    put_config(
        &server,
        &key,
        json!({"enabled": true, "workflow_definition": NO_DECISION, "fallback_agent_id": fallback}),
    );
    let record = answered_call(&server, &key, port, NUMBER);
    assert_eq!(
        (record["route_kind"].as_str(), record["agent_id"].as_str()),
        (Some("fallback"), Some(fallback.as_str())),
        "{record}"
    );
}

#[test]
fn patch_changes_only_the_fields_sent_and_put_replaces_the_whole_config() {
    let (server, key, port) = server("");
    let day = common::published_agent(&server, &key, "Day desk");
    let night = common::published_agent(&server, &key, "Night desk");
    let patch = |body: Value| send(&server, &key, "PATCH", "/core/inbound-routing-config", Some(body));
    assert_eq!(patch(json!({"enabled": false})).0, 404, "nothing to patch yet");
    put_config(
        &server,
        &key,
        json!({"enabled": true, "workflow_definition": selecting(&day, -1), "fallback_agent_id": night,
               "tz": "America/New_York"}),
    );
    let (status, config) = patch(json!({"enabled": false}));
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["enabled"], false);
    assert_eq!(config["fallback_agent_id"], night.as_str(), "{config}");
    assert_eq!(config["tz"], "America/New_York");
    assert!(config["workflow_definition"].as_str().unwrap().contains(&day));
    let (_, stored) = send(&server, &key, "GET", "/core/inbound-routing-config", None);
    assert_eq!(stored, config, "what PATCH answered is what is stored");
    // Switched off, the number's own agent answers; switched back on, the kept module does.
    assert_eq!(answered_call(&server, &key, port, NUMBER)["route_kind"], "static");
    let (status, config) = patch(json!({"enabled": true}));
    assert_eq!(
        (status, config["fallback_agent_id"].as_str()),
        (200, Some(night.as_str()))
    );
    let record = answered_call(&server, &key, port, NUMBER);
    assert_eq!(
        (record["route_kind"].as_str(), record["agent_id"].as_str()),
        (Some("workflow"), Some(day.as_str()))
    );
    // A field sent as null is unset; a bad value is refused by name and changes nothing.
    let (status, body) = patch(json!({"fallback_agent_id": null}));
    assert_eq!((status, body["error"]["field"].as_str()), (200, None), "{body}");
    assert_eq!(body["fallback_agent_id"], Value::Null);
    let (status, body) = patch(json!({"tz": "Mars/Olympus"}));
    assert_eq!((status, body["error"]["field"].as_str()), (400, Some("tz")), "{body}");
    let (status, body) = patch(json!({"workflow_definition": "(module"}));
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("workflow_definition")),
        "{body}"
    );
    let (_, stored) = send(&server, &key, "GET", "/core/inbound-routing-config", None);
    assert_eq!(stored["tz"], "America/New_York");
    assert!(stored["workflow_definition"].as_str().unwrap().contains(&day));
    // PUT replaces the whole object: what it leaves out is unset.
    put_config(&server, &key, json!({"enabled": true}));
    let (_, stored) = send(&server, &key, "GET", "/core/inbound-routing-config", None);
    assert_eq!(
        (
            &stored["workflow_definition"],
            &stored["fallback_agent_id"],
            &stored["tz"]
        ),
        (&Value::Null, &Value::Null, &Value::Null),
        "{stored}"
    );
}

#[test]
fn the_fallback_agent_cannot_be_deleted_while_the_config_names_it() {
    let (server, key, _) = server("");
    let fallback = common::published_agent(&server, &key, "Fallback desk");
    put_config(&server, &key, json!({"enabled": true, "fallback_agent_id": fallback}));
    let path = format!("/core/agents/{fallback}");
    let (status, body) = send(&server, &key, "DELETE", &path, None);
    assert_eq!(status, 409, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("inbound routing config"), "{message}");
    assert_eq!(send(&server, &key, "GET", &path, None).0, 200, "still there");
    let (status, body) = send(
        &server,
        &key,
        "PATCH",
        "/core/inbound-routing-config",
        Some(json!({"fallback_agent_id": null})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(send(&server, &key, "DELETE", &path, None).0, 204);
}

#[test]
fn an_unusable_selection_is_named_in_the_dry_run_and_the_call_takes_the_fallback() {
    let (server, key, port) = server("");
    let fallback = common::published_agent(&server, &key, "Fallback desk");
    let chosen = common::published_agent(&server, &key, "Chosen desk");
    // Version 2 exists, unpublished.
    let (status, body) = send(&server, &key, "POST", &format!("/core/agents/{chosen}/versions"), None);
    assert_eq!(status, 201, "{body}");
    let unknown = "00000000-0000-4000-8000-000000000000";
    for (module, detail) in [
        (selecting(unknown, -1), "not an agent of this org"),
        (selecting(&chosen, 2), "not published"),
        (selecting(&chosen, 7), "no such version"),
    ] {
        put_config(
            &server,
            &key,
            json!({"enabled": true, "workflow_definition": module, "fallback_agent_id": fallback}),
        );
        let report = dry_run(&server, &key, json!({"input": {"called_number": NUMBER}}));
        assert_eq!(report["outcome"], "selected", "{report}");
        assert!(
            report["outcome_detail"].as_str().is_some_and(|d| d.contains(detail)),
            "{detail}: {report}"
        );
        assert_eq!(report["decision"]["route_kind"], "fallback", "{report}");
        let record = answered_call(&server, &key, port, NUMBER);
        assert_eq!(
            (record["route_kind"].as_str(), record["agent_id"].as_str()),
            (Some("fallback"), Some(fallback.as_str())),
            "{detail}: {record}"
        );
    }
    // A usable selection has no detail.
    put_config(
        &server,
        &key,
        json!({"enabled": true, "workflow_definition": selecting(&chosen, 1)}),
    );
    let report = dry_run(&server, &key, json!({"input": {"called_number": NUMBER}}));
    assert_eq!(report["outcome_detail"], Value::Null, "{report}");
    assert_eq!(report["decision"]["route_kind"], "workflow");
}

/// A loop that asks for a context key on every turn until its deadline stops it.
const ASKING_FOREVER: &str = r#"(module
  (import "switchboard" "get" (func $get (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1) (global (export "abi_version") i32 (i32.const 1))
  (data (i32.const 0) "caller_number")
  (func (export "route") (result i32)
    (loop $again (drop (call $get (i32.const 0) (i32.const 13) (i32.const 64) (i32.const 64))) (br $again))
    (i32.const 0)))"#;

#[test]
fn failed_runs_report_the_fuel_they_used_and_what_stopped_them() {
    // Fuel enough that the loops meet their deadline first.
    let (server, key, _) = server("[workflow]\nfuel = 10000000000\n");
    for (name, module, outcome, detail) in [
        ("asking forever", ASKING_FOREVER.to_owned(), "timeout", "deadline"),
        ("memory bomb", fixture("memory-bomb"), "oom", "memory_bytes"),
        ("trap", fixture("trap"), "trap", "unreachable"),
    ] {
        let report = dry_run(
            &server,
            &key,
            json!({"input": {"called_number": NUMBER}, "workflow_definition": module}),
        );
        assert_eq!(report["outcome"], outcome, "{name}: {report}");
        assert!(report["fuel_used"].as_u64().unwrap() > 0, "{name}: {report}");
        let text = report["outcome_detail"].as_str().unwrap_or_default().to_lowercase();
        assert!(text.contains(detail), "{name}: {report}");
    }
}

#[test]
fn an_anonymous_caller_reaches_the_workflow_as_the_documented_word() {
    let (server, key, port) = server("");
    // The module hands `caller_number` to the agent leg in X-Caller.
    let module = format!(
        r#"(module
  (import "switchboard" "get" (func $get (param i32 i32 i32 i32) (result i32)))
  (import "switchboard" "add_header" (func $header (param i32 i32 i32 i32)))
  (import "switchboard" "select_agent" (func $select (param i32 i32 i32)))
  (memory (export "memory") 1) (global (export "abi_version") i32 (i32.const 1))
  (data (i32.const 0) "caller_number") (data (i32.const 32) "X-Caller") (data (i32.const 64) "{DEMO_AGENT}")
  (func (export "route") (result i32) (local $n i32)
    (local.set $n (call $get (i32.const 0) (i32.const 13) (i32.const 512) (i32.const 64)))
    (call $header (i32.const 32) (i32.const 8) (i32.const 512) (local.get $n))
    (call $select (i32.const 64) (i32.const 36) (i32.const -1))
    (i32.const 1)))"#
    );
    put_config(&server, &key, json!({"enabled": true, "workflow_definition": module}));
    let dir = tempfile::tempdir().unwrap();
    let carrier = std::fs::read_to_string(common::scenario("carrier-call.xml")).unwrap();
    let agent = std::fs::read_to_string(common::scenario("agent-answer.xml")).unwrap();
    for (from, expected) in [
        ("\"Anonymous\" <sip:anonymous@anonymous.invalid>", "anonymous"),
        ("<sip:anonymous.invalid>", "anonymous"),
        (
            "\"Caller\" <sip:+14155550100@[local_ip]:[local_port]>",
            "[+]14155550100",
        ),
    ] {
        let carrier_path = dir.path().join("carrier.xml");
        let withheld = carrier
            .replace("\"Caller\" <sip:+14155550100@[local_ip]:[local_port]>", from)
            .replace("      P-Asserted-Identity: <sip:+14155550100@[local_ip]>\n", "");
        std::fs::write(&carrier_path, withheld).unwrap();
        let agent_path = dir.path().join("agent.xml");
        let checking = agent.replace(
            "<recv request=\"INVITE\" crlf=\"true\"/>",
            &format!(
                "<recv request=\"INVITE\" crlf=\"true\"><action><ereg regexp=\"{expected}\" search_in=\"hdr\" \
                 header=\"X-Caller:\" check_it=\"true\" assign_to=\"caller\"/><log message=\"[$caller]\"/></action></recv>"
            ),
        );
        std::fs::write(&agent_path, checking).unwrap();
        let agent = Agent::start_at(&agent_path.to_string_lossy(), AGENT_IP, port, 1, "u1");
        common::carrier(&server, &carrier_path.to_string_lossy(), NUMBER, 1, 1);
        agent.finish(&server);
    }
}

#[test]
fn a_request_that_names_no_phone_number_gets_484_address_incomplete() {
    let (server, _, _) = server("");
    refused_call(&server, "alice", 484, "names no phone number");
}

#[test]
fn the_readmes_dry_run_curl_works_as_written_and_workflow_test_tells_a_selection_from_a_failure() {
    let (server, key, _) = server("");
    let day = common::published_agent(&server, &key, "Day desk");
    put_config(
        &server,
        &key,
        json!({"enabled": true, "workflow_definition": selecting(&day, -1)}),
    );
    let readme = std::fs::read_to_string(common::repo().join("README.md")).unwrap();
    let start = readme.find("curl -X POST").expect("the README's dry-run curl");
    let end = start + readme[start..].find("}}'").expect("its closing quote") + 3;
    let command = readme[start..end].replace("localhost:8080", &server.http.to_string());
    common::require_tool("curl", "curl");
    let out = std::process::Command::new("sh")
        .args(["-c", &command])
        .env("KEY", &key)
        .output()
        .expect("sh");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(report["outcome"], "selected", "{report}");
    assert_eq!(report["decision"]["agent_id"], day.as_str(), "{report}");

    // `workflow test` with no store at hand: the selection is unknown there, and it says so
    // (not "failed").
    let scratch = tempfile::tempdir().unwrap();
    let module = scratch.path().join("select.wat");
    std::fs::write(&module, selecting(&day, -1)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["workflow", "test", "--module"])
        .arg(&module)
        .args(["--input", r#"{"caller_number":"+14155550100"}"#])
        .current_dir(scratch.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (cli["outcome"].as_str(), cli["output"]["agent_id"].as_str()),
        (Some("selected"), Some(day.as_str()))
    );
    let said = cli.to_string();
    assert!(!said.contains("failed"), "{cli}");
    assert!(cli["outcome_detail"].as_str().unwrap().contains(&day), "{cli}");
}
