//! The directory keeps its rules under concurrent requests (issue 17), on the embedded
//! SQLite store: the rules are checked inside the commit, under the writer lock, and the
//! store's unique number and foreign keys back them. Each test restarts the server (SIGKILL)
//! and checks that what it loads is what the API acknowledged.

mod common;

use std::sync::Arc;

use common::{api_send, demo_api_key, Server};
use serde_json::{json, Value};

/// Run `f(i)` for `0..n` on `n` threads at once; the results in order.
fn at_once<T: Send + 'static>(n: usize, f: impl Fn(usize) -> T + Send + Sync + 'static) -> Vec<T> {
    let f = Arc::new(f);
    let barrier = Arc::new(std::sync::Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let (f, barrier) = (f.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                f(i)
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

/// Every number the org holds, through its API.
fn numbers(server: &Server, key: &str) -> Vec<Value> {
    let (status, body) = api_send(server, key, "GET", "/core/phone-numbers?limit=200", None);
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().unwrap().clone()
}

fn new_trunk(server: &Server, key: &str) -> String {
    let (status, trunk) = api_send(
        server,
        key,
        "POST",
        "/core/trunks",
        Some(json!({"name": "Carrier", "outbound_config":
            {"address": "sip.carrier.example", "auth_username": "u", "auth_password": "pw"}})),
    );
    assert_eq!(status, 201, "{trunk}");
    trunk["id"].as_str().unwrap().to_owned()
}

#[test]
fn a_hundred_parallel_posts_of_one_number_register_it_once() {
    let mut server = Server::start("");
    let key = demo_api_key(&server);
    let http = server.http;
    let k = key.clone();
    let client = reqwest::blocking::Client::new();
    let answers = at_once(100, move |_| {
        let response = client
            .post(format!("http://{http}/core/phone-numbers"))
            .bearer_auth(&k)
            .json(&json!({"phone_number": "+15550100100", "trunk_id": "trk_demo_byoc"}))
            .send()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json::<Value>().unwrap())
    });
    let created: Vec<&Value> = answers.iter().filter(|(s, _)| *s == 201).map(|(_, b)| b).collect();
    assert_eq!(created.len(), 1, "exactly one 201: {answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != 201) {
        assert_eq!(*status, 409, "{body}");
        assert_eq!(body["error"]["field"], "phone_number", "{body}");
    }
    server.kill_and_restart();
    let held: Vec<Value> = numbers(&server, &key)
        .into_iter()
        .filter(|n| n["phone_number"] == "+15550100100")
        .collect();
    assert_eq!(held.len(), 1);
    assert_eq!(
        held[0]["id"], created[0]["id"],
        "the number acknowledged is the one kept"
    );
    // Deleted once, it stays deleted across a restart.
    let (status, _) = api_send(&server, &key, "DELETE", "/core/phone-numbers/+15550100100", None);
    assert_eq!(status, 204);
    server.kill_and_restart();
    let (status, _) = api_send(&server, &key, "GET", "/core/phone-numbers/+15550100100", None);
    assert_eq!(status, 404, "no second copy comes back after a restart");
}

#[test]
fn a_trunk_delete_racing_number_posts_leaves_no_number_on_a_deleted_trunk() {
    let mut server = Server::start("");
    let key = demo_api_key(&server);
    for round in 0..6 {
        let trunk = new_trunk(&server, &key);
        let (http, k, t) = (server.http, key.clone(), trunk.clone());
        let client = reqwest::blocking::Client::new();
        let answers = at_once(21, move |i| {
            // The delete goes first in even rounds, after the first numbers in odd ones; the
            // numbers are spread over a few milliseconds, so it lands among them.
            let request = if i == 0 {
                std::thread::sleep(std::time::Duration::from_millis(2 * (round % 2)));
                client.delete(format!("http://{http}/core/trunks/{t}"))
            } else {
                std::thread::sleep(std::time::Duration::from_micros(300 * i as u64));
                client
                    .post(format!("http://{http}/core/phone-numbers"))
                    .json(&json!({"phone_number": format!("+1555020{round}{i:03}"), "trunk_id": t}))
            };
            request.bearer_auth(&k).send().unwrap().status().as_u16()
        });
        let deleted = answers[0] == 204;
        let on_trunk = numbers(&server, &key)
            .iter()
            .filter(|n| n["trunk_id"] == trunk.as_str())
            .count();
        let created = answers[1..].iter().filter(|s| **s == 201).count();
        assert_eq!(on_trunk, created, "every 201 is a number on the trunk: {answers:?}");
        if deleted {
            assert_eq!(
                created, 0,
                "the trunk went, yet numbers were created on it: {answers:?}"
            );
            assert!(answers[1..].iter().all(|s| *s == 409 || *s == 400), "{answers:?}");
        } else {
            assert_eq!(answers[0], 409, "the delete is refused while the trunk carries numbers");
        }
    }
    // What is loaded after a restart: every number on a trunk that exists.
    let before = numbers(&server, &key);
    server.kill_and_restart();
    let after = numbers(&server, &key);
    assert_eq!(before.len(), after.len());
    for number in &after {
        let trunk = number["trunk_id"].as_str().unwrap();
        let (status, _) = api_send(&server, &key, "GET", &format!("/core/trunks/{trunk}"), None);
        assert_eq!(status, 200, "{number} is on a trunk that is gone");
    }
}

#[test]
fn two_orgs_never_both_hold_a_number() {
    let mut server = Server::start("");
    let key_a = demo_api_key(&server);
    let key_b = common::api::add_second_org(&mut server).key;
    let mut holders = Vec::new();
    for round in 0..10 {
        let e164 = format!("+155503000{round:02}");
        let (http, a, b, n) = (server.http, key_a.clone(), key_b.clone(), e164.clone());
        let client = reqwest::blocking::Client::new();
        let answers = at_once(10, move |i| {
            let (key, trunk) = if i % 2 == 0 {
                (&a, "trk_demo_byoc")
            } else {
                (&b, "trk_b")
            };
            client
                .post(format!("http://{http}/core/phone-numbers"))
                .bearer_auth(key)
                .json(&json!({"phone_number": n, "trunk_id": trunk}))
                .send()
                .unwrap()
                .status()
                .as_u16()
        });
        let winners: Vec<usize> = (0..10).filter(|i| answers[*i] == 201).collect();
        assert_eq!(winners.len(), 1, "one 201 across both orgs: {answers:?}");
        assert!(answers.iter().all(|s| *s == 201 || *s == 409), "{answers:?}");
        holders.push((e164, winners[0] % 2));
    }
    server.kill_and_restart();
    for (e164, holder) in holders {
        let path = format!("/core/phone-numbers/{e164}");
        let (a, b) = (
            api_send(&server, &key_a, "GET", &path, None).0,
            api_send(&server, &key_b, "GET", &path, None).0,
        );
        let expected = if holder == 0 { (200, 404) } else { (404, 200) };
        assert_eq!(
            (a, b),
            expected,
            "{e164}: the org told 201 holds it, the other does not"
        );
    }
}

#[test]
fn parallel_posts_at_the_per_org_limit_never_take_the_org_past_it() {
    // The demo org holds two numbers; a limit of five leaves room for three of the twenty
    // different numbers posted at once. The API's own check reads a snapshot that every
    // racer sees with room to spare: only the commit's check holds the line.
    let mut server = Server::start("[directory]\nmax_numbers_per_org = 5\n");
    let key = demo_api_key(&server);
    let http = server.http;
    let k = key.clone();
    let client = reqwest::blocking::Client::new();
    let answers = at_once(20, move |i| {
        let response = client
            .post(format!("http://{http}/core/phone-numbers"))
            .bearer_auth(&k)
            .json(&json!({"phone_number": format!("+155501102{i:02}"), "trunk_id": "trk_demo_byoc"}))
            .send()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json::<Value>().unwrap())
    });
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(created, 3, "exactly the room left: {answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != 201) {
        assert!([400, 409].contains(status), "{status} {body}");
        assert_eq!(body["error"]["field"], "phone_number", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("limit of 5"), "{body}");
    }
    server.kill_and_restart();
    assert_eq!(numbers(&server, &key).len(), 5, "what was acknowledged is what is kept");
}
