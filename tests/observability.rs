//! What operators see of a live server under SIPp traffic: `/metrics` counters move by
//! exactly what the calls did and pass `promtool`; call records come back from
//! `GET /core/calls` with the right statuses and route kinds; a real Prometheus server
//! scrapes us during a SIPp run and its query returns the calls SIPp completed.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Agent, Server};

const NUMBER: &str = "+15551234567";
const UNKNOWN: &str = "+15550009999";
const AGENT: &str = "0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11";

fn metrics(server: &Server) -> String {
    reqwest::blocking::get(format!("http://{}/metrics", server.http))
        .unwrap()
        .text()
        .unwrap()
}

fn ended(text: &str, route: &str, outcome: &str) -> f64 {
    common::sample(
        text,
        &format!("switchboard_calls_ended_total{{direction=\"inbound\",route=\"{route}\",outcome=\"{outcome}\"}}"),
    )
}

/// Every record of the demo org, following cursors.
fn all_records(server: &Server, key: &str, filter: &str) -> Vec<serde_json::Value> {
    let mut records = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, body) = common::api_get(server, key, &format!("/core/calls?limit=3{filter}{cursor}"));
        assert_eq!(status, 200, "{body}");
        let page: serde_json::Value = serde_json::from_str(&body).unwrap();
        records.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return records,
        }
    }
}

#[test]
fn a_mixed_sipp_run_moves_the_counters_and_leaves_one_record_per_call() {
    let agent_port = common::free_port();
    let server = Server::start(&format!("[routing]\nlivekit_host = \"127.0.0.1:{agent_port}\"\n"));
    let key = common::demo_api_key(&server);
    let before = metrics(&server);
    let scratch = tempfile::tempdir().unwrap();

    let agent = Agent::start("agent-answer.xml", agent_port, 3);
    common::carrier(&server, &common::scenario("carrier-call.xml"), NUMBER, 3, 10);
    agent.finish(&server);
    let agent = Agent::start("agent-busy.xml", agent_port, 2);
    common::carrier(&server, &common::expect_failure(486, scratch.path()), NUMBER, 2, 10);
    agent.finish(&server);
    let agent = Agent::start("agent-ring-until-cancel.xml", agent_port, 2);
    common::carrier(&server, &common::scenario("carrier-cancel.xml"), NUMBER, 2, 10);
    agent.finish(&server);
    common::carrier(&server, &common::expect_failure(404, scratch.path()), UNKNOWN, 2, 10);

    let after = metrics(&server);
    let delta = |route, outcome| ended(&after, route, outcome) - ended(&before, route, outcome);
    assert_eq!(delta("static", "answered"), 3.0, "{after}");
    assert_eq!(delta("static", "busy"), 2.0, "{after}");
    assert_eq!(delta("static", "canceled"), 2.0, "{after}");
    assert_eq!(delta("rejected", "unknown_number"), 2.0, "{after}");
    let started = |route| {
        let series = format!("switchboard_calls_started_total{{direction=\"inbound\",route=\"{route}\"}}");
        common::sample(&after, &series) - common::sample(&before, &series)
    };
    assert_eq!(started("static"), 7.0, "{after}");
    assert_eq!(started("rejected"), 2.0, "{after}");
    let invites = "switchboard_sip_requests_received_total{method=\"INVITE\",transport=\"udp\"}";
    assert!(common::sample(&after, invites) - common::sample(&before, invites) >= 9.0);
    let agent_invites = "switchboard_sip_requests_sent_total{method=\"INVITE\",transport=\"udp\"}";
    assert_eq!(
        common::sample(&after, agent_invites) - common::sample(&before, agent_invites),
        7.0
    );
    assert!(
        after.contains("switchboard_call_setup_answer_seconds_bucket"),
        "{after}"
    );
    assert!(
        after.contains("switchboard_sip_transactions{kind=\"server_invite\""),
        "{after}"
    );
    promtool_accepts(&server, &after);

    // Records are written in batches: wait for all nine.
    let deadline = Instant::now() + Duration::from_secs(10);
    let records = loop {
        let records = all_records(&server, &key, "");
        if records.len() >= 9 || Instant::now() > deadline {
            break records;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let count = |status: u64, route: &str| {
        records
            .iter()
            .filter(|r| r["status"] == status && r["route_kind"] == route)
            .count()
    };
    assert_eq!(records.len(), 9, "{records:#?}");
    assert_eq!(count(200, "static"), 3, "{records:#?}");
    assert_eq!(count(486, "static"), 2, "{records:#?}");
    assert_eq!(count(487, "static"), 2, "{records:#?}");
    assert_eq!(count(404, "rejected"), 2, "{records:#?}");
    let answered = records.iter().find(|r| r["outcome"] == "answered").unwrap();
    assert_eq!(answered["agent_id"], AGENT);
    assert_eq!(answered["called_number"], NUMBER);
    assert_eq!(answered["org_id"], "org_demo");
    assert_eq!(answered["ended_by"], "caller");
    for stamp in ["invite_at", "ringing_at", "answered_at", "ended_at"] {
        assert!(
            answered[stamp].as_str().is_some_and(|s| s.ends_with('Z')),
            "{stamp}: {answered}"
        );
    }
    let unknown = records.iter().find(|r| r["status"] == 404).unwrap();
    assert_eq!(unknown["called_number"], UNKNOWN);
    assert_eq!(unknown["outcome"], "unknown_number");
    assert_eq!(unknown["org_id"], "org_demo", "attributed by the carrier's address");

    // Filters, one record by id, and refusals that name their field.
    assert_eq!(all_records(&server, &key, "&outcome=busy").len(), 2);
    assert_eq!(all_records(&server, &key, "&status=487").len(), 2);
    assert_eq!(
        all_records(&server, &key, &format!("&phone_number=%2B{}", &UNKNOWN[1..])).len(),
        2
    );
    // One call followed across both systems: by LiveKit's Call-ID (our agent leg's) as by
    // the carrier's.
    let livekit_call_id = answered["livekit_call_id"].as_str().expect("the agent leg's Call-ID");
    let carrier_call_id = answered["call_id"].as_str().unwrap();
    assert_ne!(livekit_call_id, carrier_call_id);
    for call_id in [livekit_call_id, carrier_call_id] {
        let found = all_records(&server, &key, &format!("&call_id={}", call_id.replace('@', "%40")));
        assert_eq!(found.len(), 1, "{call_id}: {found:#?}");
        assert_eq!(found[0]["id"], answered["id"]);
    }
    assert_eq!(unknown["livekit_call_id"], serde_json::Value::Null, "no agent leg");
    let id = answered["id"].as_str().unwrap();
    let (status, body) = common::api_get(&server, &key, &format!("/core/calls/{id}"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"], id);
    let (status, body) = common::api_get(&server, &key, "/core/calls/call_nope");
    assert_eq!(status, 404, "{body}");
    let (status, body) = common::api_get(&server, &key, "/core/calls?status=abc");
    assert_eq!(status, 400);
    assert!(body.contains("\"field\":\"status\""), "{body}");
    let (status, _) = common::api_get(&server, "ak_not_a_key", "/core/calls");
    assert_eq!(status, 401);
}

fn promtool_accepts(server: &Server, text: &str) {
    let promtool = common::require_tool("promtool", "prometheus");
    let path = server.dir.path().join("exposition.txt");
    common::write_file(&path, text);
    let check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}

/// A Prometheus server on loopback, scraping `target` every second; killed on drop.
struct Prometheus {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: std::net::SocketAddr) -> Prometheus {
        let binary = common::require_tool("prometheus", "prometheus");
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        common::write_file(
            &config,
            &format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: switchboard\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        );
        let port = common::free_port();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
            .spawn()
            .expect("spawning prometheus");
        Prometheus { child, port, _dir: dir }
    }

    /// The scalar value of an instant query, if it has one.
    fn query(&self, promql: &str) -> Option<f64> {
        let response = reqwest::blocking::Client::new()
            .get(format!("http://127.0.0.1:{}/api/v1/query", self.port))
            .query(&[("query", promql)])
            .send()
            .ok()?;
        let body: serde_json::Value = response.json().ok()?;
        body["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }
}

/// Every query of `config/grafana-dashboard.json` is valid PromQL to a real Prometheus.
fn dashboard_queries_are_valid(prometheus: &Prometheus) {
    let text = std::fs::read_to_string(common::repo().join("config/grafana-dashboard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut checked = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"]
                .as_str()
                .unwrap()
                .replace("$__rate_interval", "1m")
                .replace("$instance", ".+");
            let response: serde_json::Value = reqwest::blocking::Client::new()
                .get(format!("http://127.0.0.1:{}/api/v1/query", prometheus.port))
                .query(&[("query", expr.as_str())])
                .send()
                .unwrap()
                .json()
                .unwrap();
            assert_eq!(response["status"], "success", "{expr}: {response}");
            checked += 1;
        }
    }
    assert!(checked >= 18, "the dashboard has {checked} queries");
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_real_prometheus_scraping_during_a_sipp_run_counts_the_calls_sipp_completed() {
    const CALLS: usize = 40;
    let agent_port = common::free_port();
    let server = Server::start(&format!("[routing]\nlivekit_host = \"127.0.0.1:{agent_port}\"\n"));
    let prometheus = Prometheus::start(server.http);
    // Let it scrape the idle server first, so the counter's rise is seen from zero.
    let deadline = Instant::now() + Duration::from_secs(20);
    while prometheus.query("up{job=\"switchboard\"}") != Some(1.0) {
        assert!(Instant::now() < deadline, "prometheus never scraped switchboard");
        std::thread::sleep(Duration::from_millis(250));
    }
    let agent = Agent::start("agent-answer.xml", agent_port, CALLS);
    common::carrier(&server, &common::scenario("carrier-call.xml"), NUMBER, CALLS, 10);
    agent.finish(&server);
    dashboard_queries_are_valid(&prometheus);
    let promql = "sum(switchboard_calls_ended_total{job=\"switchboard\",direction=\"inbound\",outcome=\"answered\"})";
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = None;
    while Instant::now() < deadline {
        seen = prometheus.query(promql);
        if seen == Some(CALLS as f64) {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("Prometheus answered {seen:?} for {promql}, SIPp completed {CALLS} calls");
}
