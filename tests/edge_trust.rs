//! Trust at the edge (issue 20), on live servers whose LiveKit range is not loopback, so that
//! loopback addresses play carriers and strangers: digest passwords that survive a restart,
//! bans nobody can aim with a forged datagram, challenges for small INVITEs.
//!
//! Roles: 127.0.0.1 the demo trunk's carrier; 127.0.0.6 a digest-only carrier (no listed
//! address); 127.0.0.5 a carrier listed and asked for digest; 127.0.0.9 a stranger.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::{Agent, Server};
use serde_json::json;
use switchboard::security::parse_challenge;

use common::{guarded, metrics};

/// A trunk made through the API, a number on it, and the demo agent answering that number.
fn trunk_with_number(server: &Server, key: &str, inbound: serde_json::Value, number: &str) -> String {
    let (status, trunk) = common::api_send(
        server,
        key,
        "POST",
        "/core/trunks",
        Some(json!({"name": format!("Carrier {number}"), "inbound_config": inbound,
                    "outbound_config": {"address": "192.0.2.10:5060", "auth_username": "o", "auth_password": "pw-o"}})),
    );
    assert_eq!(status, 201, "{trunk}");
    assert!(
        trunk["inbound_config"]["auth_password"].is_null(),
        "write-only: {trunk}"
    );
    let trunk_id = trunk["id"].as_str().unwrap().to_owned();
    let (status, body) = common::api_send(
        server,
        key,
        "POST",
        "/core/phone-numbers",
        Some(json!({"phone_number": number, "trunk_id": trunk_id})),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = common::api_send(
        server,
        key,
        "POST",
        "/core/agents/0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11/versions/1/publish",
        Some(json!({"phone_numbers": [number], "direction": "inbound"})),
    );
    assert_eq!(status, 200, "{body}");
    trunk_id
}

/// A carrier speaking SIP over UDP by hand, from one loopback address.
struct Phone {
    socket: UdpSocket,
    server: SocketAddr,
}

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

/// The outcome of one call attempt.
#[derive(Debug)]
struct Attempt {
    /// The final status of the last INVITE, or None for silence.
    status: Option<u16>,
    /// The final answer to the first INVITE (the challenge, when one came).
    first: Option<String>,
}

impl Phone {
    fn new(ip: &str, server: &Server) -> Phone {
        let socket = UdpSocket::bind(format!("{ip}:0")).unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(700))).unwrap();
        Phone {
            socket,
            server: server.sip,
        }
    }

    fn invite(&self, number: &str, call_id: &str, cseq: u32, extra: &str, body: bool) -> String {
        let me = self.socket.local_addr().unwrap();
        let body = if body { SDP } else { "" };
        let content_type = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/sdp\r\n"
        };
        format!(
            "INVITE sip:{number}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{call_id}-{cseq};rport\r\n\
             From: <sip:+14155550100@{me}>;tag=f{call_id}\r\nTo: <sip:{number}@127.0.0.1>\r\nCall-ID: {call_id}\r\n\
             CSeq: {cseq} INVITE\r\nContact: <sip:c@{me}>\r\nMax-Forwards: 70\r\n{extra}{content_type}\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    /// A request inside the dialog the 2xx (or final answer) `to` names.
    fn in_dialog(&self, method: &str, number: &str, call_id: &str, cseq: u32, to: &str, branch: &str) -> String {
        let me = self.socket.local_addr().unwrap();
        format!(
            "{method} sip:{number}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{branch};rport\r\n\
             From: <sip:+14155550100@{me}>;tag=f{call_id}\r\n{to}\r\nCall-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
    }

    fn send(&self, text: &str) {
        self.socket.send_to(text.as_bytes(), self.server).unwrap();
    }

    /// The next final answer (1xx skipped) within `wait`, or None.
    fn final_answer(&self, wait: Duration) -> Option<String> {
        let deadline = std::time::Instant::now() + wait;
        let mut buf = [0u8; 8192];
        while std::time::Instant::now() < deadline {
            let Ok((n, _)) = self.socket.recv_from(&mut buf) else {
                continue;
            };
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if text.starts_with("SIP/2.0 1") || !text.starts_with("SIP/2.0 ") {
                continue;
            }
            return Some(text);
        }
        None
    }

    /// A call to `number`: answer a 401 with `credentials` (user, password, algorithm);
    /// when a 200 comes, ACK it and hang up with BYE (which must get its 200).
    fn call(&self, number: &str, call_id: &str, credentials: Option<(&str, &str, &str)>, body: bool) -> Attempt {
        self.send(&self.invite(number, call_id, 1, "", body));
        let first = self.final_answer(Duration::from_secs(3));
        let mut last = first.clone();
        let mut cseq = 1;
        if let (Some(challenge), Some((user, password, algorithm))) = (&first, credentials) {
            if status_of(challenge) == 401 {
                self.send(&self.in_dialog("ACK", number, call_id, 1, &to_line(challenge), &format!("{call_id}-1")));
                let offer = header_values(challenge, "WWW-Authenticate")
                    .into_iter()
                    .find(|v| v.contains(&format!("algorithm={algorithm}")))
                    .unwrap_or_else(|| panic!("no {algorithm} challenge in {challenge}"));
                let uri = format!("sip:{number}@127.0.0.1");
                let answer = parse_challenge(&offer)
                    .unwrap()
                    .answer("INVITE", &uri, user, password, "c0ffee", 1);
                cseq = 2;
                self.send(&self.invite(number, call_id, 2, &format!("Authorization: {answer}\r\n"), body));
                last = self.final_answer(Duration::from_secs(6));
            }
        }
        if let Some(answer) = last.as_deref().filter(|a| status_of(a) == 200) {
            let to = to_line(answer);
            self.send(&self.in_dialog("ACK", number, call_id, cseq, &to, &format!("{call_id}-ack")));
            std::thread::sleep(Duration::from_millis(200));
            self.send(&self.in_dialog("BYE", number, call_id, cseq + 1, &to, &format!("{call_id}-bye")));
            let bye = self.final_answer(Duration::from_secs(3));
            assert_eq!(bye.as_deref().map(status_of), Some(200), "BYE: {bye:?}");
        }
        Attempt {
            status: last.as_deref().map(status_of),
            first,
        }
    }
}

fn status_of(response: &str) -> u16 {
    response.get(8..11).and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn to_line(response: &str) -> String {
    response
        .lines()
        .find(|l| l.starts_with("To:") || l.starts_with("t:"))
        .unwrap_or("To: <sip:x@127.0.0.1>")
        .to_owned()
}

fn header_values(response: &str, name: &str) -> Vec<String> {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    response
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with(&prefix))
        .map(|l| l[prefix.len()..].trim().to_owned())
        .collect()
}

/// SIPp as the carrier from `ip`, answering the digest challenge with `password`.
fn sipp_digest_call(
    server: &Server,
    ip: &str,
    scenario: &str,
    number: &str,
    user: &str,
    password: &str,
) -> (i32, String) {
    common::run_sipp(
        &[
            "-sf",
            &common::scenario(scenario),
            "-s",
            number,
            "-i",
            ip,
            "-p",
            &common::free_port().to_string(),
            "-au",
            user,
            "-ap",
            password,
            "-m",
            "1",
            "-timeout",
            "15s",
            "-timeout_error",
            &server.sip.to_string(),
        ],
        Duration::from_secs(30),
    )
}

#[test]
fn a_digest_only_trunk_made_through_the_api_keeps_its_password_across_a_restart() {
    // Debian's SIPp answers only MD5, and takes the first challenge offered.
    let (mut server, key, agent_port) = guarded("digest_algorithms = [\"MD5\", \"SHA-256\"]\n");
    let number = "+15550002222";
    trunk_with_number(
        &server,
        &key,
        json!({"auth_username": "carrier-d", "auth_password": "d-secret-pw"}),
        number,
    );
    server.kill_and_restart();
    let phone = Phone::new("127.0.0.6", &server);
    // The empty password, in both algorithms: refused, never routed.
    for algorithm in ["MD5", "SHA-256"] {
        let attempt = phone.call(
            number,
            &format!("empty-{algorithm}"),
            Some(("carrier-d", "", algorithm)),
            true,
        );
        assert_eq!(
            attempt.status,
            Some(403),
            "{algorithm}: {attempt:?}\n{}",
            server.log_text()
        );
    }
    // The right password: SHA-256 by hand, MD5 by SIPp (which answers only MD5).
    let agent = Agent::start("agent-answer.xml", agent_port, 2);
    let attempt = phone.call(
        number,
        "right-sha256",
        Some(("carrier-d", "d-secret-pw", "SHA-256")),
        true,
    );
    assert_eq!(attempt.status, Some(200), "{attempt:?}\n{}", server.log_text());
    let (code, output) = sipp_digest_call(
        &server,
        "127.0.0.6",
        "carrier-digest-call.xml",
        number,
        "carrier-d",
        "d-secret-pw",
    );
    assert_eq!(code, 0, "{output}\n{}", server.log_text());
    agent.finish(&server);
    // And the store keeps it across a second restart too; a wrong password still fails.
    server.kill_and_restart();
    let attempt = phone.call(number, "wrong-md5", Some(("carrier-d", "not-it", "MD5")), true);
    assert_eq!(attempt.status, Some(403), "{attempt:?}");
    assert!(common::sample(&metrics(&server), "switchboard_sip_auth_failures_total") >= 1.0);
    // The secret itself is nowhere in the log.
    assert!(!server.log_text().contains("d-secret-pw"));
}

#[test]
fn a_numeric_password_is_refused_without_being_repeated() {
    let (server, key, _) = guarded("");
    let (status, body) = common::api_send(
        &server,
        &key,
        "POST",
        "/core/trunks",
        Some(
            json!({"name": "Numeric", "inbound_config": {"auth_username": "n", "auth_password": 86_420_975},
                    "outbound_config": {"address": "192.0.2.10:5060", "auth_username": "o", "auth_password": 13_579_246}}),
        ),
    );
    assert_eq!(status, 400, "{body}");
    let text = body.to_string();
    assert!(!text.contains("86420975") && !text.contains("13579246"), "{text}");
    assert!(text.contains("auth_password"), "the field is named: {text}");
}

/// An OPTIONS from `socket` with this User-Agent (a scanner's, forged or not).
fn options_with_agent(socket: &UdpSocket, call_id: &str, user_agent: &str) -> String {
    let from = socket.local_addr().unwrap();
    common::options_request(from, call_id).replacen(
        "Max-Forwards",
        &format!("User-Agent: {user_agent}\r\nMax-Forwards"),
        1,
    )
}

/// The first answer to `request` sent from `socket`, or None after 700 ms.
fn ask(socket: &UdpSocket, server: &Server, request: &str) -> Option<String> {
    socket.send_to(request.as_bytes(), server.sip).unwrap();
    let mut buf = [0u8; 4096];
    socket
        .recv_from(&mut buf)
        .ok()
        .map(|(n, _)| String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
fn a_forged_scanner_datagram_from_the_demo_trunks_address_bans_nobody() {
    let (server, _key, agent_port) = guarded("");
    let carrier = Phone::new("127.0.0.1", &server);
    let forged = options_with_agent(&carrier.socket, "forged-scan", "friendly-scanner");
    assert_eq!(
        ask(&carrier.socket, &server, &forged),
        None,
        "the scanner's datagram is dropped"
    );
    // The carrier's own next OPTIONS and INVITE are answered, and the call is routed.
    let ping = common::options_request(carrier.socket.local_addr().unwrap(), "after-scan");
    let answer = ask(&carrier.socket, &server, &ping).expect("OPTIONS answered");
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    let agent = Agent::start("agent-answer.xml", agent_port, 1);
    common::carrier(&server, &common::scenario("carrier-call.xml"), "+15551234567", 1, 1);
    agent.finish(&server);
    let text = metrics(&server);
    assert!(
        common::sample(
            &text,
            "switchboard_sip_refused_total{reason=\"scanner_from_listed_source\"}"
        ) >= 1.0
    );
    assert_eq!(
        common::sample(&text, "switchboard_sip_bans_total{reason=\"scanner\"}"),
        0.0
    );
}

#[test]
fn five_forged_bad_digest_invites_do_not_lock_a_listed_carrier_out() {
    let (server, key, agent_port) = guarded("digest_algorithms = [\"MD5\", \"SHA-256\"]\n");
    let number = "+15550003333";
    trunk_with_number(
        &server,
        &key,
        json!({"allowed_sources": ["127.0.0.5"], "auth_username": "carrier-l", "auth_password": "l-secret-pw"}),
        number,
    );
    let forger = Phone::new("127.0.0.5", &server);
    for i in 0..5 {
        let attempt = forger.call(
            number,
            &format!("forged-{i}"),
            Some(("carrier-l", "guess", "MD5")),
            true,
        );
        assert_eq!(attempt.status, Some(403), "{attempt:?}");
    }
    let agent = Agent::start("agent-answer.xml", agent_port, 1);
    let (code, output) = sipp_digest_call(
        &server,
        "127.0.0.5",
        "carrier-digest-call.xml",
        number,
        "carrier-l",
        "l-secret-pw",
    );
    assert_eq!(code, 0, "{output}\n{}", server.log_text());
    agent.finish(&server);
    let text = metrics(&server);
    assert!(common::sample(&text, "switchboard_sip_auth_failures_total") >= 5.0);
    assert_eq!(
        common::sample(&text, "switchboard_sip_bans_total{reason=\"auth_failures\"}"),
        0.0
    );
}

#[test]
fn a_stranger_running_svmap_is_still_banned() {
    let (server, _key, _) = guarded("");
    let svmap = common::require_tool("svmap", "sipvicious");
    let out = std::process::Command::new(svmap)
        .args(["-b", "127.0.0.9", "-p", &server.sip.port().to_string(), "127.0.0.1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let scanner = Phone::new("127.0.0.9", &server);
    let attempt = scanner.call("+15551234567", "scanner-again", None, true);
    assert_eq!(attempt.status, None, "banned: silence");
    // Another stranger, not banned, is told 403.
    let other = Phone::new("127.0.0.8", &server);
    let attempt = other.call("+15551234567", "other-stranger", None, true);
    assert_eq!(attempt.status, Some(403), "{attempt:?}");
    assert!(common::sample(&metrics(&server), "switchboard_sip_bans_total{reason=\"scanner\"}") >= 1.0);
}

#[test]
fn a_late_offer_invite_from_a_digest_only_carrier_is_challenged_and_completes() {
    let (server, key, agent_port) = guarded("digest_algorithms = [\"MD5\", \"SHA-256\"]\n");
    let number = "+15550005555";
    trunk_with_number(
        &server,
        &key,
        json!({"auth_username": "carrier-lo", "auth_password": "lo-secret-pw"}),
        number,
    );
    // By hand: the smallest INVITE still gets its 401, with the standard reason phrase.
    let phone = Phone::new("127.0.0.6", &server);
    let attempt = phone.call(number, "late-unauthenticated", None, false);
    let challenge = attempt.first.expect("a 401 to a bodyless INVITE");
    assert!(challenge.starts_with("SIP/2.0 401 Unauthorized\r\n"), "{challenge}");
    assert!(challenge.contains("WWW-Authenticate: Digest"), "{challenge}");
    // SIPp, late offer, through to the agent and back.
    let agent = Agent::start("agent-answer.xml", agent_port, 2);
    let (code, output) = sipp_digest_call(
        &server,
        "127.0.0.6",
        "carrier-digest-late-offer.xml",
        number,
        "carrier-lo",
        "lo-secret-pw",
    );
    assert_eq!(code, 0, "{output}\n{}", server.log_text());
    let attempt = phone.call(
        number,
        "late-sha256",
        Some(("carrier-lo", "lo-secret-pw", "SHA-256")),
        false,
    );
    assert_eq!(attempt.status, Some(200), "{attempt:?}");
    agent.finish(&server);
}

#[test]
fn on_the_shipped_defaults_loopback_strangers_meet_the_trunks_and_the_quick_start_call_completes() {
    // The shipped [security]: LiveKit is all of loopback. Only the agent's address is set.
    let agent_port = common::free_port();
    let server = Server::start(&format!("[routing]\nlivekit_host = \"127.0.0.1:{agent_port}\"\n"));
    let key = common::demo_api_key(&server);
    let stranger = Phone::new("127.0.0.77", &server);
    for number in ["+15550009999", "+15551234567"] {
        let attempt = stranger.call(number, &format!("lk-{number}"), None, true);
        assert_eq!(attempt.status, Some(403), "{number}: {attempt:?}");
    }
    // The README quick start: the demo carrier on 127.0.0.1 reaches the demo agent.
    let agent = Agent::start("agent-answer.xml", agent_port, 1);
    common::carrier(&server, &common::scenario("carrier-call.xml"), "+15551234567", 1, 1);
    agent.finish(&server);
    // Narrowing the demo trunk takes effect on 127.0.0.1 too, though it is in LiveKit's range.
    let (status, body) = common::api_send(
        &server,
        &key,
        "PUT",
        "/core/trunks/trk_demo_byoc",
        Some(
            json!({"name": "Demo BYOC carrier", "inbound_config": {"allowed_sources": ["127.0.0.3/32"]},
                    "outbound_config": {"address": "127.0.0.3:5060", "auth_username": "u", "auth_password": "p"}}),
        ),
    );
    assert_eq!(status, 200, "{body}");
    let carrier = Phone::new("127.0.0.1", &server);
    let attempt = carrier.call("+15551234567", "narrowed", None, true);
    assert_eq!(attempt.status, Some(403), "{attempt:?}");
}

#[test]
fn a_fresh_start_keeps_the_store_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let (server, key, _) = guarded("");
    // A write, so the WAL holds a password too.
    trunk_with_number(
        &server,
        &key,
        json!({"auth_username": "m", "auth_password": "m-secret-pw"}),
        "+15550006666",
    );
    let data = server.dir.path().join("data");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "the data folder");
    for name in ["switchboard.db", "switchboard.db-wal", "switchboard.db-shm"] {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }
}

#[test]
fn a_nonce_issued_before_a_restart_verifies_after_it() {
    // The nonce key is the store's secret and nonces carry wall-clock stamps (issue 17), so
    // a carrier that answers a challenge from before a restart (or from another instance on
    // the same store) is not sent round again.
    let (mut server, key, agent_port) = guarded("digest_algorithms = [\"SHA-256\"]\n");
    let number = "+15550006666";
    trunk_with_number(
        &server,
        &key,
        json!({"auth_username": "carrier-r", "auth_password": "r-secret-pw"}),
        number,
    );
    let phone = Phone::new("127.0.0.6", &server);
    let call_id = "across-restart";
    phone.send(&phone.invite(number, call_id, 1, "", true));
    let challenge = phone.final_answer(Duration::from_secs(3)).expect("a 401");
    assert_eq!(status_of(&challenge), 401, "{challenge}");
    phone.send(&phone.in_dialog("ACK", number, call_id, 1, &to_line(&challenge), &format!("{call_id}-1")));
    server.kill_and_restart();
    let offer = header_values(&challenge, "WWW-Authenticate").remove(0);
    let answer = parse_challenge(&offer).unwrap().answer(
        "INVITE",
        &format!("sip:{number}@127.0.0.1"),
        "carrier-r",
        "r-secret-pw",
        "c0ffee",
        1,
    );
    let agent = Agent::start("agent-answer.xml", agent_port, 1);
    phone.send(&phone.invite(number, call_id, 2, &format!("Authorization: {answer}\r\n"), true));
    let ok = phone.final_answer(Duration::from_secs(6)).expect("a final answer");
    assert_eq!(status_of(&ok), 200, "{ok}\n{}", server.log_text());
    let to = to_line(&ok);
    phone.send(&phone.in_dialog("ACK", number, call_id, 2, &to, &format!("{call_id}-ack")));
    phone.send(&phone.in_dialog("BYE", number, call_id, 3, &to, &format!("{call_id}-bye")));
    let bye = phone.final_answer(Duration::from_secs(3));
    assert_eq!(bye.as_deref().map(status_of), Some(200), "BYE: {bye:?}");
    agent.finish(&server);
}
