//! No secret leaves the process: after a session at trace level that creates trunks with
//! passwords, authenticates a carrier by digest, places calls and reads everything back
//! through the API, no configured password, API key or TLS private key appears in the log,
//! the metrics, or any API answer.

mod common;

use std::time::Duration;

use common::{Agent, Server};
use serde_json::json;

const OUTBOUND_PASSWORD: &str = "out-pw-7f3a9c1e55";
const INBOUND_PASSWORD: &str = "in-pw-2b8d4e6a90";
const MANAGED_PASSWORD: &str = "managed-pw-91c3e7";

#[test]
fn no_password_api_key_or_private_key_appears_in_logs_metrics_or_answers() {
    let agent_port = common::free_port();
    let server = Server::start_logging(
        &format!(
            "[security]\nlivekit_sources = [\"10.255.255.0/24\"]\ndigest_algorithms = [\"MD5\"]\n\
             [routing]\nlivekit_host = \"127.0.0.1:{agent_port}\"\n\
             [outbound]\nmanaged_password = \"{MANAGED_PASSWORD}\"\n"
        ),
        "trace",
    );
    let key = common::demo_api_key(&server);
    let mut answers = String::new();
    let (status, trunk) = common::api_send(
        &server,
        &key,
        "POST",
        "/core/trunks",
        Some(
            json!({"name": "Carrier C", "inbound_config": {"allowed_sources": ["127.0.0.5"],
                    "auth_username": "carrier-c", "auth_password": INBOUND_PASSWORD},
                    "outbound_config": {"address": "127.0.0.5:5060", "auth_username": "c",
                                        "auth_password": OUTBOUND_PASSWORD}}),
        ),
    );
    assert_eq!(status, 201);
    answers.push_str(&trunk.to_string());
    let trunk_id = trunk["id"].as_str().unwrap();
    let (_, number) = common::api_send(
        &server,
        &key,
        "POST",
        "/core/phone-numbers",
        Some(json!({"phone_number": "+15550001111", "trunk_id": trunk_id})),
    );
    answers.push_str(&number.to_string());
    let (_, published) = common::api_send(
        &server,
        &key,
        "POST",
        "/core/agents/0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11/versions/1/publish",
        Some(json!({"phone_numbers": ["+15550001111"], "direction": "inbound"})),
    );
    answers.push_str(&published.to_string());
    // A bad body whose error echoes what it can.
    let (_, error) = common::api_send(
        &server,
        &key,
        "PUT",
        &format!("/core/trunks/{trunk_id}"),
        Some(json!({"name": "", "outbound_config": {"auth_password": OUTBOUND_PASSWORD}})),
    );
    answers.push_str(&error.to_string());
    let agent = Agent::start("agent-answer.xml", agent_port, 2);
    let (code, output) = common::run_sipp(
        &[
            "-sf",
            &common::scenario("carrier-digest-call.xml"),
            "-s",
            "+15550001111",
            "-i",
            "127.0.0.5",
            "-p",
            &common::free_port().to_string(),
            "-au",
            "carrier-c",
            "-ap",
            INBOUND_PASSWORD,
            "-m",
            "2",
            "-r",
            "5",
            "-timeout",
            "30s",
            "-timeout_error",
            &server.sip.to_string(),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{output}");
    agent.finish(&server);
    for path in [
        "/core/trunks",
        &format!("/core/trunks/{trunk_id}"),
        "/core/phone-numbers",
        "/core/calls",
    ] {
        let (status, body) = common::api_get(&server, &key, path);
        assert_eq!(status, 200, "{path}: {body}");
        answers.push_str(&body);
    }
    let metrics = reqwest::blocking::get(format!("http://{}/metrics", server.http))
        .unwrap()
        .text()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let log = server.log_text();
    assert!(log.contains("TRACE"), "the session ran at trace level");
    let private_key = std::fs::read_to_string(server.dir.path().join("tls/dev-key.pem")).expect("the dev TLS key");
    let key_lines: Vec<&str> = private_key
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 20)
        .collect();
    assert!(!key_lines.is_empty());
    let secrets = [
        OUTBOUND_PASSWORD,
        INBOUND_PASSWORD,
        MANAGED_PASSWORD,
        key.as_str(),
        &key[3..],
    ];
    for (name, text) in [("log", &log), ("metrics", &metrics), ("API answers", &answers)] {
        for secret in secrets.iter().chain(key_lines.iter()) {
            assert!(
                !text.contains(secret),
                "a secret ({}...) appears in the {name}",
                &secret[..6]
            );
        }
    }
    // The configuration dump shows that a secret is set, never the secret.
    let config = server.dir.path().join("switchboard.toml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains(MANAGED_PASSWORD));
}
