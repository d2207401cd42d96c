//! A crash leaves no call up (issue 20), live: SIPp as the carrier on 127.0.0.1 places 50
//! calls that SIPp as the LiveKit agent on 127.0.0.6 answers; both hold every call until a
//! BYE comes. The server is SIGKILLed (nothing flushed at exit) and started again on the
//! same data folder: it must send BYE on both legs of all 50 calls, from its dialog journal,
//! within 5 s of the restart. SIPp counts them on both sides: each side's scenario ends a
//! call only on a BYE (answered 200), and SIPp exits 0 only when all 50 calls ended so.

mod common;

use std::time::{Duration, Instant};

const NUMBER: &str = "+15551234567";
const AGENT: &str = "0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11";
const AGENT_IP: &str = "127.0.0.6";
const CALLS: usize = 50;
/// Each scenario's timewait after its last BYE's 200 (SIPp exits after it).
const CARRIER_TIMEWAIT: Duration = Duration::from_millis(500);
const AGENT_TIMEWAIT: Duration = Duration::from_millis(1000);

#[test]
fn after_sigkill_with_50_calls_up_the_restart_sends_bye_on_every_leg_within_5_s() {
    let agent_port = common::free_port();
    let dir = tempfile::tempdir().unwrap();
    let routes = dir.path().join("routes.tsv");
    std::fs::write(&routes, format!("{NUMBER}\t{AGENT}\n")).unwrap();
    let mut server = common::Server::start(&format!(
        "[routing]\nlivekit_host = \"{AGENT_IP}:{agent_port}\"\nstatic_routes = \"{}\"\n",
        routes.display()
    ));
    let calls = CALLS.to_string();
    let agent = common::BackgroundSipp::spawn(&[
        "-sf",
        &common::scenario("agent-answer.xml"),
        "-i",
        AGENT_IP,
        "-p",
        &agent_port.to_string(),
        "-m",
        &calls,
        "-timeout",
        "45s",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let target = server.sip.to_string();
    let carrier_port = common::free_port().to_string();
    let carrier = common::BackgroundSipp::spawn(&[
        "-sf",
        &common::scenario("carrier-call-agent-hangs-up.xml"),
        "-s",
        NUMBER,
        "-i",
        "127.0.0.1",
        "-p",
        &carrier_port,
        "-m",
        &calls,
        "-l",
        &calls,
        "-r",
        "25",
        "-timeout",
        "45s",
        &target,
    ]);
    wait_for_answered_calls(&server, CALLS, Duration::from_secs(15));
    // A call is committed within [journal] flush_ms (20 ms) plus one commit of its answer.
    std::thread::sleep(Duration::from_millis(200));

    let restart = Instant::now();
    server.kill_and_restart();
    let ready = restart.elapsed();
    let deadline = restart + Duration::from_secs(5);
    let carrier = carrier.wait_until(deadline + CARRIER_TIMEWAIT);
    let agent = agent.wait_until(deadline + AGENT_TIMEWAIT);
    let log = server.log_text();
    for (side, end, timewait) in [
        ("carrier", &carrier, CARRIER_TIMEWAIT),
        ("agent", &agent, AGENT_TIMEWAIT),
    ] {
        assert!(
            end.status.is_some_and(|s| s.success()),
            "the {side} SIPp did not get (and answer) a BYE on all {CALLS} calls within 5 s of the \
             restart (ready after {ready:?}); status {:?}; errors:\n{}\nserver log:\n{log}",
            end.status,
            end.errors
        );
        // SIPp exits `timewait` after its last message: the last BYE came no later than this.
        let last_bye = end.at.saturating_duration_since(restart).saturating_sub(timewait);
        eprintln!("{side}: all {CALLS} BYEs answered by {last_bye:?} after the kill (server answering OPTIONS after {ready:?})");
        assert!(last_bye <= Duration::from_secs(5), "{side}: {last_bye:?}");
    }
    assert!(
        log.contains("the last run left calls up"),
        "the restart says what it ends:\n{log}"
    );
}

/// Wait until the server reports `calls` answered calls (sampled once a second).
fn wait_for_answered_calls(server: &common::Server, calls: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let text = common::metrics(server);
        let answered = common::sample(&text, "switchboard_calls_active{phase=\"answered\"}");
        if answered as usize == calls {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{answered} of {calls} calls answered after {limit:?}; server log:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
