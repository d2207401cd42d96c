//! The front door (issue 16 step 4): what the edge learns of a new call before routing —
//! its numbers read in the configured country, the trunk the gate admitted it as — as a
//! carrier sees it over a socket and the call log records it.

mod common;

use std::time::{Duration, Instant};

/// The "call ended" log line of `call_id`, waiting for the writer's flush.
fn ended_line(server: &common::Server, call_id: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = server.log_text();
        if let Some(line) = log.lines().find(|l| l.contains("call ended") && l.contains(call_id)) {
            return line.to_owned();
        }
        assert!(Instant::now() < deadline, "no 'call ended' line for {call_id}:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_national_number_is_read_in_the_configured_default_country() {
    // The demo number +15551234567 routes to a LiveKit address where nobody answers: 503.
    let livekit = format!("127.0.0.64:{}", common::free_port());
    let server = common::Server::start_logging(
        &format!(
            "[b2bua]\nagent_response_timeout_secs = 1\n[routing]\nlivekit_host = \"{livekit}\"\n\
             default_country = \"44\"\n[log]\nmask_numbers = false\n"
        ),
        "info",
    );
    assert_eq!(common::invite_status(&server, "02071838750", "uk-national"), 404);
    let line = ended_line(&server, "uk-national");
    assert!(
        line.contains("called=+442071838750"),
        "trunk prefix dropped, +44 added: {line}"
    );
    assert!(
        line.contains("org=org_demo") && line.contains("trunk=-"),
        "a refused call is the org's the gate admitted it as (both demo trunks list 127.0.0.1, \
         so no one trunk): {line}"
    );
    assert_eq!(
        common::invite_status(&server, "5551234567", "us-national"),
        404,
        "ten digits are a UK number here, not the demo's +1 one"
    );
    assert!(ended_line(&server, "us-national").contains("called=+445551234567"));
    assert_eq!(common::invite_status(&server, "+15551234567", "international"), 503);
}
