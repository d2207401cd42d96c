//! Two live instances on one PostgreSQL store (issue 17), each with its own ports, data
//! directory and development certificates, on a throwaway cluster per test: what one
//! publishes the other routes within two seconds, the database refuses the duplicates two
//! instances race to create, and an instance killed mid-writes loses nothing it
//! acknowledged.

mod common;
#[path = "common/postgres.rs"]
mod pg_cluster;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{api_send, demo_api_key, Agent, Server};
use pg_cluster::Cluster;
use serde_json::{json, Value};

const DEMO_AGENT: &str = "0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11";

/// Instance A, then B, on the cluster; the demo key (A seeds the database, B finds it seeded).
fn two_instances(cluster: &Cluster, agent_port: u16) -> (Server, Server, String) {
    two_instances_with(cluster, agent_port, "")
}

/// As `two_instances`, with `extra` TOML for both (it continues `[routing]`).
fn two_instances_with(cluster: &Cluster, agent_port: u16, extra: &str) -> (Server, Server, String) {
    let extra = format!(
        "[store]\nurl = \"{}\"\n[routing]\nlivekit_host = \"127.0.0.1:{agent_port}\"\n{extra}",
        cluster.url()
    );
    let a = Server::start(&extra);
    let key = demo_api_key(&a);
    let b = Server::start(&extra);
    assert!(
        !b.stdout_text().contains("Seeded"),
        "the demo seed runs once per database: {}",
        b.stdout_text()
    );
    (a, b, key)
}

/// A number as `server`'s API shows it, or None for 404.
fn number(server: &Server, key: &str, e164: &str) -> Option<Value> {
    let (status, body) = api_send(server, key, "GET", &format!("/core/phone-numbers/{e164}"), None);
    match status {
        200 => Some(body),
        404 => None,
        _ => panic!("GET {e164}: {status} {body}"),
    }
}

/// Poll `server` until `done` holds; how long it took, or a panic after `limit`.
fn within(limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

fn post_number(http: std::net::SocketAddr, key: &str, e164: &str) -> Result<u16, reqwest::Error> {
    reqwest::blocking::Client::new()
        .post(format!("http://{http}/core/phone-numbers"))
        .bearer_auth(key)
        .timeout(Duration::from_secs(10))
        .json(&json!({"phone_number": e164, "trunk_id": "trk_demo_byoc"}))
        .send()
        .map(|r| r.status().as_u16())
}

#[test]
fn a_number_published_through_a_is_routed_by_b_within_two_seconds() {
    let cluster = Cluster::start();
    let agent_port = common::free_port();
    let (a, b, key) = two_instances(&cluster, agent_port);
    let e164 = "+15550300001";
    assert_eq!(post_number(a.http, &key, e164).unwrap(), 201);
    let (status, body) = api_send(
        &a,
        &key,
        "POST",
        &format!("/core/agents/{DEMO_AGENT}/versions/1/publish"),
        Some(json!({"phone_numbers": [e164], "direction": "inbound"})),
    );
    assert_eq!(status, 200, "{body}");
    let took = within(Duration::from_secs(2), || {
        number(&b, &key, e164).is_some_and(|n| n["inbound_agent_version_id"] == "ver_demo_1")
    });
    eprintln!("B saw A's publish after {took:?}");
    let agent = Agent::start("agent-answer.xml", agent_port, 1);
    common::carrier(&b, &common::scenario("carrier-call.xml"), e164, 1, 1);
    agent.finish(&b);
    // And the other way round: B's delete is gone from A too.
    let (status, body) = api_send(&b, &key, "DELETE", &format!("/core/phone-numbers/{e164}"), None);
    assert_eq!(status, 204, "{body}");
    within(Duration::from_secs(2), || number(&a, &key, e164).is_none());
}

#[test]
fn ten_posts_of_one_number_split_between_two_instances_create_it_once() {
    let cluster = Cluster::start();
    let (a, b, key) = two_instances(&cluster, common::free_port());
    for round in 0..3 {
        let e164 = format!("+1555031000{round}");
        let barrier = Arc::new(std::sync::Barrier::new(10));
        let threads: Vec<_> = (0..10)
            .map(|i| {
                let http = if i % 2 == 0 { a.http } else { b.http };
                let (key, e164, barrier) = (key.clone(), e164.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    post_number(http, &key, &e164).unwrap()
                })
            })
            .collect();
        let mut statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        statuses.sort();
        assert_eq!(
            statuses,
            [201, 409, 409, 409, 409, 409, 409, 409, 409, 409],
            "round {round}"
        );
        for server in [&a, &b] {
            within(Duration::from_secs(2), || number(server, &key, &e164).is_some());
        }
    }
}

#[test]
fn an_instance_killed_mid_writes_loses_no_acknowledged_write() {
    let cluster = Cluster::start();
    let (mut a, b, key) = two_instances(&cluster, common::free_port());
    let (http, k) = (a.http, key.clone());
    let writer = std::thread::spawn(move || {
        let mut acknowledged = Vec::new();
        for i in 0..2_000 {
            let e164 = format!("+155504{i:05}");
            match post_number(http, &k, &e164) {
                Ok(201) => acknowledged.push(e164),
                Ok(status) => panic!("{e164}: {status}"),
                Err(_) => break,
            }
        }
        acknowledged
    });
    std::thread::sleep(Duration::from_millis(1500));
    a.child.kill().expect("SIGKILL");
    a.child.wait().unwrap();
    let acknowledged = writer.join().unwrap();
    assert!(
        acknowledged.len() >= 10,
        "only {} writes before the kill",
        acknowledged.len()
    );
    let took = within(Duration::from_secs(2), || {
        number(&b, &key, acknowledged.last().unwrap()).is_some()
    });
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|e164| number(&b, &key, e164).is_none())
        .collect();
    assert!(missing.is_empty(), "B lacks acknowledged numbers: {missing:?}");
    eprintln!(
        "{} acknowledged writes through A before SIGKILL, all seen by B ({took:?} after the kill)",
        acknowledged.len()
    );
}

#[test]
fn a_notification_missed_while_the_feed_was_down_is_caught_up_on_reconnect() {
    let cluster = Cluster::start();
    let (a, b, key) = two_instances(&cluster, common::free_port());
    // Cut every listener's connection; A commits before B's feed is back (it waits 500 ms),
    // so nobody hears that notification: B finds the change by its sequence number.
    let cut = cluster.sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'");
    assert_eq!(cut.trim(), "2", "both instances listen");
    let e164 = "+15550500001";
    assert_eq!(post_number(a.http, &key, e164).unwrap(), 201);
    let took = within(Duration::from_secs(2), || number(&b, &key, e164).is_some());
    eprintln!("B caught up {took:?} after the write it missed");
    assert!(b.log_text().contains("change feed"), "{}", b.log_text());
}

/// One SIP request over UDP from `socket`; the first final answer within 5 s.
fn final_answer(socket: &std::net::UdpSocket, to: std::net::SocketAddr, request: &str) -> String {
    socket.send_to(request.as_bytes(), to).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 8192];
    while Instant::now() < deadline {
        let Ok((n, _)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.starts_with("SIP/2.0 ") && !text.starts_with("SIP/2.0 1") {
            return text;
        }
    }
    panic!("no final answer to:\n{request}");
}

fn request(method: &str, number: &str, me: std::net::SocketAddr, cseq: u32, to: &str, extra: &str) -> String {
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";
    let body = if method == "INVITE" { sdp } else { "" };
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "{method} sip:{number}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKnonce-{cseq}-{method};rport\r\n\
         From: <sip:+14155550100@{me}>;tag=across\r\n{to}\r\nCall-ID: nonce-across-instances\r\n\
         CSeq: {cseq} {method}\r\nContact: <sip:c@{me}>\r\nMax-Forwards: 70\r\n{extra}{content_type}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn header<'a>(response: &'a str, name: &str) -> &'a str {
    response
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(':')))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {name} in {response}"))
}

#[test]
fn a_digest_challenge_from_a_is_answered_to_b() {
    // The nonce key is the database's secret: B verifies what A issued. Loopback plays the
    // carrier here (LiveKit's range is elsewhere), authenticating by digest only.
    let cluster = Cluster::start();
    let agent_port = common::free_port();
    let (a, b, key) = two_instances_with(
        &cluster,
        agent_port,
        "[security]\nlivekit_sources = [\"10.255.255.0/24\"]\ndigest_algorithms = [\"SHA-256\"]\n",
    );
    let (status, trunk) = api_send(
        &a,
        &key,
        "POST",
        "/core/trunks",
        Some(
            json!({"name": "Digest carrier", "inbound_config": {"auth_username": "carrier-x", "auth_password": "x-secret-pw"},
                    "outbound_config": {"address": "192.0.2.10:5060", "auth_username": "o", "auth_password": "pw-o"}}),
        ),
    );
    assert_eq!(status, 201, "{trunk}");
    let e164 = "+15550600001";
    let (status, body) = api_send(
        &a,
        &key,
        "POST",
        "/core/phone-numbers",
        Some(json!({"phone_number": e164, "trunk_id": trunk["id"]})),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = api_send(
        &a,
        &key,
        "POST",
        &format!("/core/agents/{DEMO_AGENT}/versions/1/publish"),
        Some(json!({"phone_numbers": [e164], "direction": "inbound"})),
    );
    assert_eq!(status, 200, "{body}");
    within(Duration::from_secs(2), || {
        number(&b, &key, e164).is_some_and(|n| n["inbound_agent_version_id"] == "ver_demo_1")
    });
    let socket = std::net::UdpSocket::bind("127.0.0.6:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let me = socket.local_addr().unwrap();
    let plain_to = format!("To: <sip:{e164}@127.0.0.1>");
    let challenge = final_answer(&socket, a.sip, &request("INVITE", e164, me, 1, &plain_to, ""));
    assert!(challenge.starts_with("SIP/2.0 401"), "{challenge}");
    let ack_to = format!("To: {}", header(&challenge, "To"));
    socket
        .send_to(request("ACK", e164, me, 1, &ack_to, "").as_bytes(), a.sip)
        .unwrap();
    let answer = switchboard::security::parse_challenge(header(&challenge, "WWW-Authenticate"))
        .unwrap()
        .answer(
            "INVITE",
            &format!("sip:{e164}@127.0.0.1"),
            "carrier-x",
            "x-secret-pw",
            "c0ffee",
            1,
        );
    let agent = Agent::start("agent-answer.xml", agent_port, 1);
    let authorization = format!("Authorization: {answer}\r\n");
    let ok = final_answer(
        &socket,
        b.sip,
        &request("INVITE", e164, me, 2, &plain_to, &authorization),
    );
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}\n{}", b.log_text());
    let to = format!("To: {}", header(&ok, "To"));
    socket
        .send_to(request("ACK", e164, me, 2, &to, "").as_bytes(), b.sip)
        .unwrap();
    let bye = final_answer(&socket, b.sip, &request("BYE", e164, me, 3, &to, ""));
    assert!(bye.starts_with("SIP/2.0 200"), "{bye}");
    agent.finish(&b);
}

#[test]
fn a_routing_workflow_uploaded_through_a_routes_calls_on_b() {
    let cluster = Cluster::start();
    let agent_port = common::free_port();
    // Both routing clocks pinned to Monday 10:30 in New York: the day agent's hours.
    let (a, b, key) = two_instances_with(&cluster, agent_port, "pinned_time = \"2026-11-23T15:30:00Z\"\n");
    let day = common::published_agent(&a, &key, "Day desk");
    let night = common::published_agent(&a, &key, "Night desk");
    let module = std::fs::read_to_string(common::repo().join("routing-workflows/business-hours.wat"))
        .unwrap()
        .replace("11111111-1111-4111-8111-111111111111", &day)
        .replace("22222222-2222-4222-8222-222222222222", &night);
    let (status, body) = api_send(
        &a,
        &key,
        "PUT",
        "/core/inbound-routing-config",
        Some(json!({"enabled": true, "workflow_definition": module, "tz": "America/New_York"})),
    );
    assert_eq!(status, 200, "{body}");
    within(Duration::from_secs(20), || {
        b.log_text()
            .contains("loaded a routing workflow another instance uploaded")
    });
    let agent = Agent::start("agent-answer.xml", agent_port, 1);
    common::carrier(&b, &common::scenario("carrier-call.xml"), "+15551234567", 1, 1);
    agent.finish(&b);
    // The record of B's call is in the shared store: A's API lists it, naming B.
    let record = within_record(&a, &key);
    assert_eq!(record["route_kind"], "workflow", "{record}");
    assert_eq!(record["agent_id"], day.as_str(), "{record}");
    let b_instance = record["instance"].as_str().expect("the record names its instance");
    assert!(b_instance.ends_with(&format!(":{}", b.sip.port())), "{record}");
    assert_eq!(within_record(&b, &key)["id"], record["id"], "one list for both");
    // A compiled the module once and stored it; B loaded that artifact, compiling nothing.
    let artifacts = cluster.sql("SELECT compiled_by FROM workflow_artifacts");
    assert_eq!(artifacts.lines().count(), 1, "{artifacts}");
    assert!(artifacts.trim().ends_with(&format!(":{}", a.sip.port())), "{artifacts}");
    let b_metrics = common::metrics(&b);
    assert!(
        b_metrics.contains("workflow_loads_total{from=\"artifact\"} 1"),
        "{b_metrics}"
    );
    assert!(
        !b_metrics.contains("workflow_loads_total{from=\"compile\"}"),
        "{b_metrics}"
    );
    assert!(common::metrics(&a).contains("workflow_loads_total{from=\"compile\"} 1"));
}

#[test]
fn an_instance_that_missed_pruned_changes_loads_the_directory_whole() {
    use switchboard::directory::Directory;
    use switchboard::store::{ChangeRetention, PgStore};
    let cluster = Cluster::start();
    let open = |name: &str| Directory::load(Arc::new(PgStore::connect(&cluster.url(), name).unwrap())).unwrap();
    let (a, b) = (open("a"), open("b"));
    let now = "2026-12-06T00:00:00Z";
    let first = switchboard::api::orgs::create(&a, "First", now).unwrap().org_id;
    let second = switchboard::api::orgs::create(&a, "Second", now).unwrap().org_id;
    let changes = || {
        cluster
            .sql("SELECT count(*) FROM changes")
            .trim()
            .parse::<u32>()
            .unwrap()
    };
    let written = changes();
    assert!(written >= 4, "an org and its key, twice: {written}");
    // Recent changes stay, however many rows the feed keeps.
    let recent = ChangeRetention { minutes: 60, rows: 0 };
    assert_eq!(a.prune_changes(&recent).unwrap(), 0);
    // Old ones beyond the row count go, all but the newest (commits compare with it).
    let none = ChangeRetention { minutes: 0, rows: 0 };
    assert_eq!(a.prune_changes(&none).unwrap(), u64::from(written) - 1);
    assert_eq!(changes(), 1);
    // B applied none of them: row by row it cannot catch up, so it loads whole.
    assert!(b.snapshot().orgs.is_empty());
    let applied = b.catch_up().unwrap();
    let orgs = &b.snapshot().orgs;
    assert!(orgs.contains_key(&first) && orgs.contains_key(&second), "{orgs:?}");
    assert!(applied.len() >= 4, "every object, as applied: {}", applied.len());
    // And follows row by row again after that.
    let third = switchboard::api::orgs::create(&a, "Third", now).unwrap().org_id;
    assert_eq!(b.catch_up().unwrap().len(), 2, "the third org and its key");
    assert!(b.snapshot().orgs.contains_key(&third));
}

/// B's one call record, once written.
fn within_record(server: &Server, key: &str) -> Value {
    let mut found = None;
    within(Duration::from_secs(10), || {
        let (status, body) = common::api_get(server, key, "/core/calls?limit=5");
        assert_eq!(status, 200, "{body}");
        let page: Value = serde_json::from_str(&body).unwrap();
        found = page["data"].as_array().and_then(|d| d.first().cloned());
        found.is_some()
    });
    found.unwrap()
}

#[test]
fn two_instances_records_list_together_page_by_cursor_and_prune_by_age_then_count() {
    use switchboard::store::{next_sequence, CallQuery, CallRow, CallStore, PgStore, SEQUENCE_BITS};
    let cluster = Cluster::start();
    let a = PgStore::connect(&cluster.url(), "edge-a:5060").unwrap();
    let b = PgStore::connect(&cluster.url(), "edge-b:5062").unwrap();
    let (na, nb) = (a.instance_number(), b.instance_number());
    assert!(na.is_some() && na != nb, "each instance its own number: {na:?} {nb:?}");
    let row = |key: i64| CallRow {
        key,
        org_id: Some("org-1"),
        trunk_id: None,
        direction: "inbound",
        call_id: "c@carrier",
        livekit_call_id: None,
        called_number: Some("+15551234567"),
        calling_number: None,
        route_kind: "static",
        agent_id: None,
        agent_version_id: None,
        status: 200,
        reason: "OK",
        outcome: "answered",
        ended_by: "caller",
        ringing_ms: None,
        answered_ms: Some((key >> SEQUENCE_BITS) + 5),
        ended_ms: (key >> SEQUENCE_BITS) + 1000,
    };
    // Both instances write calls that arrived in the same milliseconds, each with its own
    // sequence: no key is minted twice, so no record is lost to another's.
    let keys = |n: Option<u16>| {
        let mut sequence = 0;
        (1..=5i64)
            .map(|ms| {
                sequence = next_sequence(sequence, n);
                (ms << SEQUENCE_BITS) | sequence
            })
            .collect::<Vec<_>>()
    };
    a.append(&keys(na).into_iter().map(row).collect::<Vec<_>>()).unwrap();
    b.append(&keys(nb).into_iter().map(row).collect::<Vec<_>>()).unwrap();
    let mut query = CallQuery {
        org_id: "org-1".into(),
        limit: 3,
        ..CallQuery::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = a.list(&query).unwrap();
        if page.is_empty() {
            break;
        }
        query.before = Some(page.last().unwrap().0);
        seen.extend(page.into_iter().map(|(_, r)| r.instance.unwrap()));
    }
    assert_eq!(seen.len(), 10, "both instances' records, through A: {seen:?}");
    assert_eq!(seen.iter().filter(|i| *i == "edge-b:5062").count(), 5);
    let one = b
        .get("org-1", &switchboard::store::record_id(keys(na)[0]))
        .unwrap()
        .unwrap();
    assert_eq!((one.instance.as_deref(), one.status), (Some("edge-a:5060"), 200));
    assert!(b.get("org-2", &one.id).unwrap().is_none(), "another org's record");
    // Older than 3 ms: the first two milliseconds of both; then the oldest past 4 records.
    assert_eq!(b.prune(3, 100).unwrap(), 4);
    assert_eq!(a.prune(0, 4).unwrap(), 2);
    let left = cluster.sql("SELECT count(*) FROM call_records");
    assert_eq!(left.trim(), "4");
}
