//! The HTTP listener of a live server: `/metrics` counts what SIP traffic did and passes
//! `promtool check metrics`; `/healthz` and `/readyz` answer.

mod common;

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

fn get(server: &common::Server, path: &str) -> (u16, String) {
    let response = reqwest::blocking::get(format!("http://{}{path}", server.http)).expect("HTTP GET");
    (response.status().as_u16(), response.text().unwrap())
}

/// The value of one sample line, by its exact name and labels.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
}

#[test]
fn metrics_count_sip_traffic_and_pass_promtool() {
    let server = common::Server::start("");
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let before = sample(
        &get(&server, "/metrics").1,
        "sip_requests_received_total{method=\"OPTIONS\",transport=\"udp\"}",
    )
    .unwrap_or(0.0);
    let mut buf = [0u8; 2048];
    for i in 0..5 {
        let ping = common::options_request(socket.local_addr().unwrap(), &format!("metrics-{i}"));
        socket.send_to(ping.as_bytes(), server.sip).unwrap();
        socket.recv_from(&mut buf).expect("an answer to OPTIONS");
    }
    socket.send_to(b"this is not SIP\r\n\r\n", server.sip).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let (status, text) = get(&server, "/metrics");
    assert_eq!(status, 200);
    let after = sample(
        &text,
        "sip_requests_received_total{method=\"OPTIONS\",transport=\"udp\"}",
    )
    .expect("the OPTIONS counter");
    assert_eq!(after - before, 5.0, "{text}");
    assert!(
        sample(&text, "sip_parse_errors_total{transport=\"udp\",reason=\"start_line\"}").is_some_and(|v| v >= 1.0),
        "{text}"
    );
    assert!(text.contains("switchboard_build_info"));

    let promtool = common::require_tool("promtool", "prometheus");
    let path = server.dir.path().join("metrics.txt");
    common::write_file(&path, &text);
    let check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn health_and_readiness_answer() {
    let server = common::Server::start("");
    assert_eq!(get(&server, "/healthz"), (200, "ok\n".into()));
    assert_eq!(get(&server, "/readyz"), (200, "ready\n".into()));
}
