//! Routing workflows end to end: uploaded through the API, run in the sandbox for every
//! call of a SIPp run. The same dialed number reaches the day agent or the night agent by
//! the (pinned) time the workflow sees; an infinite-loop workflow sends every call to the
//! fallback agent with no failed call. Which agent answered is read back from the call
//! records.

mod common;

use std::time::{Duration, Instant};

use common::{Agent, Server};
use serde_json::json;

const NUMBER: &str = "+15551234567";
const DAY: &str = "11111111-1111-4111-8111-111111111111";
const NIGHT: &str = "22222222-2222-4222-8222-222222222222";

fn business_hours(day: &str, night: &str) -> String {
    let text = std::fs::read_to_string(common::repo().join("routing-workflows/business-hours.wat")).unwrap();
    text.replace(DAY, day).replace(NIGHT, night)
}

/// Records of the demo org once `count` exist.
fn records(server: &Server, key: &str, count: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = common::api_get(server, key, "/core/calls?limit=200");
        assert_eq!(status, 200, "{body}");
        let page: serde_json::Value = serde_json::from_str(&body).unwrap();
        let data = page["data"].as_array().unwrap().clone();
        if data.len() >= count || Instant::now() > deadline {
            return data;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A server whose routing clock is pinned at `at`, with the business-hours workflow.
fn agent_by_time(at: &str) -> (String, String, String) {
    let agent_port = common::free_port();
    let server = Server::start(&format!(
        "[routing]\nlivekit_host = \"127.0.0.1:{agent_port}\"\npinned_time = \"{at}\"\n"
    ));
    let key = common::demo_api_key(&server);
    let day = common::published_agent(&server, &key, "Day desk");
    let night = common::published_agent(&server, &key, "Night desk");
    let (status, body) = common::api_send(
        &server,
        &key,
        "PUT",
        "/core/inbound-routing-config",
        Some(json!({"enabled": true, "workflow_definition": business_hours(&day, &night), "tz": "America/New_York"})),
    );
    assert_eq!(status, 200, "{body}");
    let agent = Agent::start("agent-answer.xml", agent_port, 2);
    common::carrier(&server, &common::scenario("carrier-call.xml"), NUMBER, 2, 5);
    agent.finish(&server);
    let records = records(&server, &key, 2);
    assert_eq!(records.len(), 2, "{records:#?}");
    assert!(
        records
            .iter()
            .all(|r| r["route_kind"] == "workflow" && r["status"] == 200),
        "{records:#?}"
    );
    let agent = records[0]["agent_id"].as_str().unwrap().to_owned();
    (agent, day, night)
}

#[test]
fn the_same_number_reaches_the_day_agent_by_day_and_the_night_agent_by_night() {
    // Monday 10:30 in New York.
    let (agent, day, _) = agent_by_time("2026-11-23T15:30:00Z");
    assert_eq!(agent, day);
    // Sunday 22:00 in New York.
    let (agent, _, night) = agent_by_time("2026-11-23T03:00:00Z");
    assert_eq!(agent, night);
}

#[test]
fn an_infinite_loop_workflow_sends_every_call_to_the_fallback_with_none_failed() {
    const CALLS: usize = 20;
    let agent_port = common::free_port();
    let server = Server::start(&format!("[routing]\nlivekit_host = \"127.0.0.1:{agent_port}\"\n"));
    let key = common::demo_api_key(&server);
    let fallback = common::published_agent(&server, &key, "Fallback desk");
    let looping = std::fs::read_to_string(common::repo().join("fixtures/workflows/infinite-loop.wat")).unwrap();
    let (status, body) = common::api_send(
        &server,
        &key,
        "PUT",
        "/core/inbound-routing-config",
        Some(json!({"enabled": true, "workflow_definition": looping, "fallback_agent_id": fallback})),
    );
    assert_eq!(status, 200, "{body}");
    let agent = Agent::start("agent-answer.xml", agent_port, CALLS);
    common::carrier(&server, &common::scenario("carrier-call.xml"), NUMBER, CALLS, 10);
    agent.finish(&server);
    let records = records(&server, &key, CALLS);
    assert_eq!(records.len(), CALLS);
    for r in &records {
        assert_eq!(
            (r["route_kind"].as_str(), r["status"].as_u64()),
            (Some("fallback"), Some(200)),
            "{r}"
        );
        assert_eq!(r["agent_id"], fallback.as_str());
    }
    let metrics = reqwest::blocking::get(format!("http://{}/metrics", server.http))
        .unwrap()
        .text()
        .unwrap();
    let stopped = common::sample(&metrics, "switchboard_workflow_runs_total{outcome=\"out_of_fuel\"}")
        + common::sample(&metrics, "switchboard_workflow_runs_total{outcome=\"timeout\"}");
    assert_eq!(stopped, CALLS as f64, "{metrics}");
}

#[test]
fn uploads_are_checked_and_the_dry_run_speaks_the_documented_json() {
    let server = Server::start("");
    let key = common::demo_api_key(&server);
    let put =
        |body: serde_json::Value| common::api_send(&server, &key, "PUT", "/core/inbound-routing-config", Some(body));
    for (module, says) in [
        ("fixtures/workflows/wrong-abi.wat", "abi"),
        ("fixtures/workflows/missing-export.wat", "route"),
        ("fixtures/workflows/bad-import.wat", "import"),
    ] {
        let text = std::fs::read_to_string(common::repo().join(module)).unwrap();
        let (status, body) = put(json!({"enabled": true, "workflow_definition": text}));
        assert_eq!(status, 400, "{module}: {body}");
        assert_eq!(body["error"]["field"], "workflow_definition");
        let message = body["error"]["message"].as_str().unwrap().to_lowercase();
        assert!(message.contains(says), "{module}: {message}");
    }
    let (status, body) = put(json!({"enabled": true, "workflow_definition": "(module"}));
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("workflow_definition"))
    );
    let (status, body) = put(json!({"enabled": true, "tz": "Mars/Olympus"}));
    assert_eq!((status, body["error"]["field"].as_str()), (400, Some("tz")));

    let day = common::published_agent(&server, &key, "Day desk");
    let night = common::published_agent(&server, &key, "Night desk");
    let (status, body) = put(
        json!({"enabled": true, "workflow_definition": business_hours(&day, &night),
        "tz": "America/New_York", "fallback_agent_id": night}),
    );
    assert_eq!(status, 200, "{body}");
    let (status, report) = common::api_send(
        &server,
        &key,
        "POST",
        "/core/inbound-routing-config/test",
        Some(
            json!({"input": {"caller_number": "+14155550100", "called_number": NUMBER,
                              "timestamp": "2026-11-23T15:30:00Z"}}),
        ),
    );
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["output"]["agent_id"], day.as_str());
    assert_eq!(report["output"]["reject"], false);
    assert_eq!(report["outcome"], "selected");
    assert_eq!(report["decision"]["kind"], "agent");
    assert_eq!(report["decision"]["route_kind"], "workflow");
    assert_eq!(report["decision"]["agent_version"], 1);
    assert!(report["fuel_used"].as_u64().unwrap() > 0);
    // The CLI does the same from a module file.
    let module = server.dir.path().join("bh.wat");
    std::fs::write(&module, business_hours(&day, &night)).unwrap();
    // A deadline a loaded test machine cannot miss: this checks the decision, not the time.
    let roomy = server.dir.path().join("roomy.toml");
    std::fs::write(&roomy, "[workflow]\ndeadline_ms = 1000\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["workflow", "test", "--module"])
        .arg(&module)
        .args([
            "--input",
            r#"{"caller_number":"+14155550100","timestamp":"2026-11-23T03:00:00Z"}"#,
        ])
        .args(["--tz", "America/New_York"])
        .arg("--config")
        .arg(&roomy)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cli: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cli["output"]["agent_id"], night.as_str(), "{cli}");
    assert_eq!(cli["outcome"], "selected");
    assert!(cli["elapsed_us"].is_u64());
}
