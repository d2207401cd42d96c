//! What an outbound call costs beside an inbound one, on the same live server in the same
//! run: the server's CPU (user + system, all threads, `/proc/PID/stat`) over a SIPp run of
//! each flow. Outbound: LiveKit INVITE -> 407 challenge answered -> 180 -> 200 -> ACK ->
//! 0.5 s -> BYE, 16 datagrams through switchboard per call; inbound: the 7-message flow with
//! a static route, 14 datagrams. A measurement, not a check: compare only figures of one run.
//!
//! `cargo bench --bench outbound_cost` (env `CALLS`, default 3,000; `RATE`, default 100/s: above
//! that the demo trunk's `trunk_calls_per_sec = 100` answers 503);
//! `cargo test --benches` runs 10 calls of each flow as a smoke test.
//! Needs SIPp (`apt-get install sip-tester`).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::outbound::*;
use common::Server;

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
fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // A test runner asks for a list: there are no tests here.
    }
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`) this is a smoke
    // run: a few calls of each flow, to show the measurement still works.
    let measuring = std::env::args().any(|a| a == "--bench");
    let (default_calls, default_rate) = if measuring { (3000, "100") } else { (10, "10") };
    let calls: usize = std::env::var("CALLS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default_calls);
    let rate = std::env::var("RATE").unwrap_or_else(|_| default_rate.into());
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
