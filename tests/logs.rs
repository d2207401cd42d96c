//! Logs by the ecosystem's conventions (issue 19): no colour codes when stderr is not a
//! terminal, `[log] format = "json"` gives one JSON object per line, and every ended call
//! logs one INFO line with its ids, masked numbers, outcome and duration.

mod common;

use std::time::{Duration, Instant};

/// The log line that mentions `needle` and "call ended", waiting for the writer's flush.
fn ended_line(server: &common::Server, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = server.log_text();
        if let Some(line) = log.lines().find(|l| l.contains("call ended") && l.contains(needle)) {
            return line.to_owned();
        }
        assert!(Instant::now() < deadline, "no 'call ended' line for {needle}:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn each_ended_call_logs_one_plain_info_line_with_masked_numbers() {
    // The demo number routes to a LiveKit address of its own where nobody answers: 503.
    let livekit = format!("127.0.0.63:{}", common::free_port());
    let server = common::Server::start_logging(
        &format!("[b2bua]\nagent_response_timeout_secs = 1\n[routing]\nlivekit_host = \"{livekit}\"\n"),
        "info",
    );
    assert_eq!(common::invite_status(&server, "+15550006666", "log-unrouted"), 404);
    assert_eq!(common::invite_status(&server, "+15551234567", "log-routed"), 503);
    let unrouted = ended_line(&server, "log-unrouted");
    assert!(unrouted.contains(" INFO "), "{unrouted}");
    for field in [
        "called=+1******6666",
        "calling=+1******0100",
        "status=404",
        "duration_ms=",
    ] {
        assert!(unrouted.contains(field), "{field} in {unrouted}");
    }
    let routed = ended_line(&server, "log-routed");
    for field in [
        "org=org_demo",
        "trunk=trk_demo_byoc",
        "agent=0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11",
        "route=static",
        "status=503",
    ] {
        assert!(routed.contains(field), "{field} in {routed}");
    }
    let log = server.log_text();
    assert!(!log.contains('\u{1b}'), "colour codes in a log that is not a terminal");
    assert_eq!(
        log.lines().filter(|l| l.contains("call ended")).count(),
        2,
        "one line per call:\n{log}"
    );
    assert!(!unrouted.contains("+15550006666") && !routed.contains("+15551234567"));
}

#[test]
fn json_logs_are_one_object_per_line_and_numbers_can_be_shown_whole() {
    let server = common::Server::start_logging("[log]\nformat = \"json\"\nmask_numbers = false\n", "info");
    assert_eq!(common::invite_status(&server, "+15550006666", "log-json"), 404);
    let line = ended_line(&server, "log-json");
    let event: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["level"], "INFO");
    assert_eq!(event["target"], "switchboard::calls");
    assert_eq!(event["fields"]["called"], "+15550006666");
    assert_eq!(event["fields"]["call_id"], "log-json");
    assert_eq!(event["fields"]["status"], 404);
    for line in server.log_text().lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
}
