//! Issue 15's must-show, live: a `switchboard serve` inside a cgroup v1 memory group of
//! 1 GiB gets the modules that killed the edge (K = 40,000 nested blocks via PUT, K = 170,000
//! via the dry run) while SIPp places static calls at 20 calls/s. Each upload is answered
//! within 30 s, no call fails, the group's peak memory (server and compiling children) stays
//! under 1 GiB, and a call to the demo number completes afterwards. Once with the default
//! limits (the static limits refuse both modules), once with the static limits lifted so
//! that the compiling child's own memory and time budget is what holds. Also: a full compile
//! queue answers 429 with Retry-After at once, and a module just under the limits compiles and
//! routes calls.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{Agent, Server};
use serde_json::{json, Value};

const NUMBER: &str = "+15551234567";
/// The SIPp agent's own loopback address.
const AGENT_IP: &str = "127.0.0.4";
const GIB: u64 = 1024 * 1024 * 1024;
/// 20 calls/s for 12 s: the uploads happen while these run.
const CALLS: usize = 240;
const RATE: usize = 20;

/// `route` is `i32.const 0`, then `k` times `block (result i32) i32.const 1 end i32.add`,
/// then `drop; i32.const 0`: the issue's module, encoded directly (parsing 7 MB of WAT
/// in a debug build takes longer than the test may).
fn sequential_blocks(k: usize) -> Vec<u8> {
    let mut code = vec![0x00, 0x41, 0x00]; // no locals; i32.const 0
    for _ in 0..k {
        code.extend_from_slice(&[0x02, 0x7f, 0x41, 0x01, 0x0b, 0x6a]);
    }
    code.extend_from_slice(&[0x1a, 0x41, 0x00, 0x0b]); // drop; i32.const 0; end
    let mut body = vec![0x01]; // one function body
    body.extend(leb128(code.len()));
    body.extend(code);
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    let export = |name: &str, kind: u8| [&[name.len() as u8], name.as_bytes(), &[kind, 0x00]].concat();
    let exports = [
        vec![0x03],
        export("memory", 0x02),
        export("abi_version", 0x03),
        export("route", 0x00),
    ]
    .concat();
    for (id, section) in [
        (1u8, vec![0x01, 0x60, 0x00, 0x01, 0x7f]),     // type: () -> i32
        (3, vec![0x01, 0x00]),                         // function 0 has type 0
        (5, vec![0x01, 0x00, 0x01]),                   // one memory, 1 page
        (6, vec![0x01, 0x7f, 0x00, 0x41, 0x01, 0x0b]), // global i32 = 1
        (7, exports),
        (10, body),
    ] {
        module.push(id);
        module.extend(leb128(section.len()));
        module.extend(section);
    }
    module
}

fn leb128(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// A cgroup v1 memory group of this test's own, removed when dropped (after stopping what
/// is left in it: only the server this test started and its compiling children).
struct MemoryGroup {
    path: PathBuf,
}

impl MemoryGroup {
    fn create(name: &str, limit: u64) -> MemoryGroup {
        let root = Path::new("/sys/fs/cgroup/memory");
        assert!(
            root.join("memory.limit_in_bytes").exists(),
            "this test bounds the server in a cgroup v1 memory group: mount the controller at \
             /sys/fs/cgroup/memory (`mount -t cgroup -o memory cgroup /sys/fs/cgroup/memory`) and run as root"
        );
        let path = root.join(format!("switchboard-test-{}-{name}", std::process::id()));
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        let group = MemoryGroup { path };
        group.write("memory.limit_in_bytes", &limit.to_string());
        // With swap accounting, the same bound on memory plus swap: nothing hides in swap.
        if group.path.join("memory.memsw.limit_in_bytes").exists() {
            group.write("memory.memsw.limit_in_bytes", &limit.to_string());
        }
        group
    }

    fn write(&self, file: &str, value: &str) {
        std::fs::write(self.path.join(file), value)
            .unwrap_or_else(|e| panic!("writing {value} to {}/{file}: {e}", self.path.display()));
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.path.join(file)).unwrap()
    }

    /// The file a process writes itself into to join the group.
    fn procs(&self) -> PathBuf {
        self.path.join("cgroup.procs")
    }

    /// Peak memory charged to the group since it was created (bytes).
    fn peak(&self) -> u64 {
        self.read("memory.max_usage_in_bytes").trim().parse().unwrap()
    }

    /// Processes the kernel's OOM killer stopped in the group.
    fn oom_kills(&self) -> u64 {
        self.read("memory.oom_control")
            .lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .map_or(0, |n| n.trim().parse().unwrap())
    }
}

impl Drop for MemoryGroup {
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            for pid in self
                .read("cgroup.procs")
                .lines()
                .filter_map(|l| l.trim().parse::<i32>().ok())
            {
                // SAFETY: kill(2) with a pid read from our own group: a process this test started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            match std::fs::remove_dir(&self.path) {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => {
                    eprintln!("could not remove {}: {e}", self.path.display());
                    return;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
}

/// The server first, then its group: fields drop in this order.
struct Bounded {
    server: Server,
    group: MemoryGroup,
    key: String,
    agent_port: u16,
}

fn bounded(name: &str, extra: &str) -> Bounded {
    let agent_port = common::free_port();
    let group = MemoryGroup::create(name, GIB);
    // Born in the group: everything the server and its compiling children allocate counts.
    let server = Server::start_in_cgroup(
        &format!("[routing]\nlivekit_host = \"{AGENT_IP}:{agent_port}\"\n{extra}"),
        &group.procs(),
    );
    let key = common::demo_api_key(&server);
    Bounded {
        server,
        group,
        key,
        agent_port,
    }
}

/// Sends `body` to `path` and returns (status, body, seconds it took); no answer within 30 s
/// fails the test.
fn timed(b: &Bounded, method: &str, path: &str, body: Value) -> (u16, Value, f64) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let started = Instant::now();
    let response = client
        .request(method.parse().unwrap(), format!("http://{}{path}", b.server.http))
        .bearer_auth(&b.key)
        .json(&body)
        .send()
        .unwrap_or_else(|e| panic!("{method} {path}: no answer within 30 s: {e}"));
    let status = response.status().as_u16();
    let body = response.json().unwrap_or(Value::Null);
    (status, body, started.elapsed().as_secs_f64())
}

/// The must-show on a server with `extra` config; `says` is what each refusal's message
/// must contain.
fn must_show(name: &str, extra: &str, says: &[&str]) {
    let started = Instant::now();
    let mut b = bounded(name, extra);
    let put_module = base64::engine::general_purpose::STANDARD.encode(sequential_blocks(40_000));
    let test_module = base64::engine::general_purpose::STANDARD.encode(sequential_blocks(170_000));
    eprintln!("{name}: server up at {:.1} s", started.elapsed().as_secs_f64());
    let agent = Agent::start_at("agent-answer.xml", AGENT_IP, b.agent_port, CALLS, "u1");
    let answers = std::thread::scope(|scope| {
        let calls =
            scope.spawn(|| common::carrier(&b.server, &common::scenario("carrier-call.xml"), NUMBER, CALLS, RATE));
        // Into the middle of the calls.
        std::thread::sleep(Duration::from_secs(2));
        let put = timed(
            &b,
            "PUT",
            "/core/inbound-routing-config",
            json!({"enabled": true, "workflow_definition": put_module}),
        );
        let dry_run = timed(
            &b,
            "POST",
            "/core/inbound-routing-config/test",
            json!({"input": {"called_number": NUMBER}, "workflow_definition": test_module}),
        );
        calls.join().expect("every static call completed");
        eprintln!("{name}: calls done at {:.1} s", started.elapsed().as_secs_f64());
        [("PUT K=40,000", put), ("dry run K=170,000", dry_run)]
    });
    agent.finish(&b.server);
    eprintln!("{name}: agent done at {:.1} s", started.elapsed().as_secs_f64());
    for (what, (status, body, secs)) in &answers {
        assert_eq!(
            (*status, body["error"]["field"].as_str()),
            (400, Some("workflow_definition")),
            "{what}: {body}"
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(says.iter().any(|s| message.contains(s)), "{what}: {message}");
        assert!(*secs < 30.0, "{what} took {secs:.1} s");
        eprintln!("{name}: {what}: {status} in {secs:.2} s: {message}");
    }
    // The server lived through it, and a call to the demo number completes.
    assert!(b.server.child.try_wait().unwrap().is_none(), "the server exited");
    let agent = Agent::start_at("agent-answer.xml", AGENT_IP, b.agent_port, 1, "u1");
    common::carrier(&b.server, &common::scenario("carrier-call.xml"), NUMBER, 1, 1);
    agent.finish(&b.server);
    let peak = b.group.peak();
    eprintln!(
        "{name}: peak memory of the server's group {:.0} MiB; {CALLS} calls at {RATE}/s, 0 failed; {:.1} s in all",
        peak as f64 / 1048576.0,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(b.group.oom_kills(), 0, "the OOM killer stopped a process in the group");
    assert!(peak < GIB, "peak {peak} bytes");
}

#[test]
fn the_modules_that_killed_the_edge_are_answered_within_30_s_while_calls_go_on_in_1_gib() {
    must_show("defaults", "", &["max_function_body_bytes", "max_blocks_per_function"]);
}

#[test]
fn with_the_static_limits_lifted_the_compilers_own_budget_still_holds_the_edge() {
    must_show(
        "lifted",
        "[workflow]\nmax_function_body_bytes = 1048576\nmax_blocks_per_function = 1000000\n",
        &["compile_memory_bytes", "compile_timeout_ms"],
    );
}

#[test]
fn a_full_compile_queue_answers_429_with_retry_after_at_once() {
    // One compile at a time and none waiting; each near the block limit takes a while.
    let server = Server::start("[workflow]\nmax_waiting_compiles = 0\ncompile_timeout_ms = 20000\n");
    let key = common::demo_api_key(&server);
    let answers: Vec<(u16, Option<String>, Value)> = std::thread::scope(|scope| {
        let requests: Vec<_> = (0..4)
            .map(|i| {
                let (server, key) = (&server, &key);
                scope.spawn(move || {
                    // Distinct modules: a dry run of a module not loaded always compiles.
                    let module = sequential_blocks(990 + i);
                    let response = reqwest::blocking::Client::new()
                        .post(format!("http://{}/core/inbound-routing-config/test", server.http))
                        .bearer_auth(key)
                        .json(&json!({"input": {}, "workflow_definition":
                            base64::engine::general_purpose::STANDARD.encode(module)}))
                        .send()
                        .unwrap();
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .map(|v| v.to_str().unwrap().to_owned());
                    (
                        response.status().as_u16(),
                        retry_after,
                        response.json().unwrap_or(Value::Null),
                    )
                })
            })
            .collect();
        requests.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let ran = answers.iter().filter(|(status, ..)| *status == 200).count();
    let refused: Vec<_> = answers.iter().filter(|(status, ..)| *status == 429).collect();
    assert!(ran >= 1 && !refused.is_empty(), "{answers:#?}");
    assert_eq!(ran + refused.len(), answers.len(), "{answers:#?}");
    for (_, retry_after, body) in refused {
        assert_eq!(retry_after.as_deref(), Some("20"), "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("max_waiting_compiles"), "{message}");
    }
}

#[test]
fn the_encoded_module_is_the_issues_module() {
    let text = "(block (result i32) i32.const 1) i32.add ".repeat(3);
    let parsed = wat::parse_str(format!(
        r#"(module (memory (export "memory") 1) (global (export "abi_version") i32 (i32.const 1))
           (func (export "route") (result i32) i32.const 0 {text} drop i32.const 0))"#
    ))
    .unwrap();
    assert_eq!(sequential_blocks(3), parsed);
}

#[test]
fn a_module_just_under_the_limits_compiles_and_routes_calls() {
    let agent_port = common::free_port();
    // A debug build compiles ~15x slower than release: a generous budget for this one.
    let server = Server::start(&format!(
        "[routing]\nlivekit_host = \"{AGENT_IP}:{agent_port}\"\n[workflow]\ncompile_timeout_ms = 30000\n"
    ));
    let key = common::demo_api_key(&server);
    let agent_id = "0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11";
    let blocks = "(block (result i32) i32.const 1) i32.add ".repeat(999);
    let module = format!(
        r#"(module (import "switchboard" "select_agent" (func $select (param i32 i32 i32)))
  (memory (export "memory") 1) (global (export "abi_version") i32 (i32.const 1))
  (data (i32.const 0) "{agent_id}")
  (func (export "route") (result i32)
    i32.const 0 {blocks} drop
    (call $select (i32.const 0) (i32.const 36) (i32.const -1)) (i32.const 1)))"#
    );
    let (status, body) = common::api_send(
        &server,
        &key,
        "PUT",
        "/core/inbound-routing-config",
        Some(json!({"enabled": true, "workflow_definition": module})),
    );
    assert_eq!(status, 200, "999 blocks, the limit is 1,000: {body}");
    let agent = Agent::start_at("agent-answer.xml", AGENT_IP, agent_port, 2, "u1");
    common::carrier(&server, &common::scenario("carrier-call.xml"), NUMBER, 2, 5);
    agent.finish(&server);
    let deadline = Instant::now() + Duration::from_secs(10);
    let records = loop {
        let (_, body) = common::api_get(&server, &key, "/core/calls?limit=10");
        let records = serde_json::from_str::<Value>(&body).unwrap()["data"].clone();
        if records.as_array().unwrap().len() >= 2 || Instant::now() > deadline {
            break records;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for record in records.as_array().unwrap() {
        assert_eq!(
            (
                record["route_kind"].as_str(),
                record["agent_id"].as_str(),
                record["status"].as_u64()
            ),
            (Some("workflow"), Some(agent_id), Some(200)),
            "{record}"
        );
    }
}
