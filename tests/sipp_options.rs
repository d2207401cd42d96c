//! SIPp, as a carrier, pings a live `switchboard serve` with OPTIONS over UDP and TCP and
//! must get a 200 for every one.

mod common;

use std::time::Duration;

fn options_run(transport: &str) {
    let server = common::Server::start("");
    let scenario = common::repo().join("fixtures/sipp/options.xml");
    let target = server.sip.to_string();
    let local_port = common::free_port().to_string();
    let (code, output) = common::run_sipp(
        &[
            "-sf",
            scenario.to_str().unwrap(),
            "-t",
            transport,
            "-i",
            "127.0.0.1",
            "-p",
            &local_port,
            "-m",
            "50",
            "-r",
            "50",
            "-timeout",
            "20s",
            "-timeout_error",
            &target,
        ],
        Duration::from_secs(40),
    );
    assert_eq!(
        code,
        0,
        "sipp over {transport} failed:\n{output}\nserver log:\n{}",
        server.log_text()
    );
}

#[test]
fn sipp_options_over_udp_get_200() {
    options_run("u1");
}

#[test]
fn sipp_options_over_tcp_get_200() {
    options_run("t1");
}
