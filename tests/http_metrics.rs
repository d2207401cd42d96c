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
        "switchboard_sip_requests_received_total{method=\"OPTIONS\",transport=\"udp\"}",
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
        "switchboard_sip_requests_received_total{method=\"OPTIONS\",transport=\"udp\"}",
    )
    .expect("the OPTIONS counter");
    assert_eq!(after - before, 5.0, "{text}");
    assert!(
        sample(
            &text,
            "switchboard_sip_parse_errors_total{transport=\"udp\",reason=\"start_line\"}"
        )
        .is_some_and(|v| v >= 1.0),
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

/// Names by convention: every sample is `switchboard_*` or the standard `process_*`; every
/// metric is there before its first event; a response that matches no transaction is
/// counted; a stranger's HTTP method does not become a label value.
#[test]
fn metrics_follow_the_naming_conventions() {
    let server = common::Server::start("");
    let (_, fresh) = get(&server, "/metrics");
    for line in fresh.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        assert!(
            line.starts_with("switchboard_") || line.starts_with("process_"),
            "{line}"
        );
    }
    for series in [
        "switchboard_calls_ended_total{direction=\"inbound\",route=\"workflow\",outcome=\"answered\"} 0",
        "switchboard_sip_responses_dropped_total 0",
        "switchboard_sip_refused_total{reason=\"banned\"} 0",
        "switchboard_call_setup_answer_seconds_count{direction=\"inbound\"} 0",
    ] {
        assert!(fresh.lines().any(|l| l == series), "{series} missing:\n{fresh}");
    }
    for name in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(sample(&fresh, name).is_some_and(|v| v > 0.0), "{name}:\n{fresh}");
    }

    // A 200 for a transaction nobody started.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let stray = format!(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKstray1\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\n\
         To: <sip:b@127.0.0.1>;tag=2\r\nCall-ID: stray-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        server.sip
    );
    socket.send_to(stray.as_bytes(), server.sip).unwrap();
    let response = reqwest::blocking::Client::new()
        .request(
            reqwest::Method::from_bytes(b"BREW").unwrap(),
            format!("http://{}/healthz", server.http),
        )
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    // The sampler publishes the census about once a second.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let text = loop {
        let (_, text) = get(&server, "/metrics");
        if sample(&text, "switchboard_sip_responses_dropped_total") == Some(1.0) || std::time::Instant::now() > deadline
        {
            break text;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        sample(&text, "switchboard_sip_responses_dropped_total"),
        Some(1.0),
        "{text}"
    );
    assert!(!text.contains("BREW"), "{text}");
    assert!(text.contains("method=\"other\""), "{text}");
}

#[test]
fn health_and_readiness_answer() {
    let server = common::Server::start("");
    assert_eq!(get(&server, "/healthz"), (200, "ok\n".into()));
    assert_eq!(get(&server, "/readyz"), (200, "ready\n".into()));
}
