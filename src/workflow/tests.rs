//! The sandbox end to end: every outcome, every upload fault, each adversarial module of
//! `fixtures/workflows/`, isolation between runs, and artifacts that round-trip or are refused.

use std::collections::BTreeMap;
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Duration;

use super::*;

/// The default limits, except a small pool and a deadline that a debug build on a busy
/// machine cannot hit by accident (only the timeout test wants a short one).
fn test_config() -> WorkflowConfig {
    WorkflowConfig {
        pool_instances: 8,
        deadline_ms: 2_000,
        ..WorkflowConfig::default()
    }
}

/// One engine for the tests that use `test_config` unchanged.
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| engine_with(test_config()))
}

fn engine_with(config: WorkflowConfig) -> Engine {
    Engine::with_compiler(&config, Compiler::InProcess).unwrap()
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/workflows/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

fn context(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A module importing every host function, with `data` segments and `route`'s `body`.
fn module(data: &str, body: &str) -> Vec<u8> {
    format!(
        r#"(module
  (import "switchboard" "get" (func $get (param i32 i32 i32 i32) (result i32)))
  (import "switchboard" "select_agent" (func $select_agent (param i32 i32 i32)))
  (import "switchboard" "reject" (func $reject (param i32)))
  (import "switchboard" "set_initial_context" (func $set_initial_context (param i32 i32)))
  (import "switchboard" "set_custom_metadata" (func $set_custom_metadata (param i32 i32)))
  (import "switchboard" "add_header" (func $add_header (param i32 i32 i32 i32)))
  (import "switchboard" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (global (export "abi_version") i32 (i32.const 1))
  {data}
  (func (export "route") (result i32)
    {body}))"#
    )
    .into_bytes()
}

/// Runs `source` with the default limits and an empty context.
fn run(source: &[u8]) -> Run {
    let engine = engine();
    engine.run(&engine.compile(source).unwrap(), BTreeMap::new())
}

fn outcome(source: &[u8]) -> Outcome {
    run(source).outcome
}

fn compile_error(source: &[u8]) -> WorkflowError {
    engine().compile(source).expect_err("the upload must be refused")
}

/// A data segment holding `bytes` at `offset`, every byte escaped so lengths are exact.
fn data(offset: u32, bytes: &[u8]) -> String {
    let escaped: String = bytes.iter().map(|b| format!("\\{b:02x}")).collect();
    format!(r#"(data (i32.const {offset}) "{escaped}")"#)
}

const AGENT: &str = r#"(data (i32.const 0) "11111111-1111-4111-8111-111111111111")"#;

fn selected(version: Option<u32>) -> Outcome {
    Outcome::Selected {
        agent_id: "11111111-1111-4111-8111-111111111111".into(),
        version,
    }
}

// ---- decisions ----

#[test]
fn selecting_with_a_version_pins_it() {
    let source = module(
        AGENT,
        "(call $select_agent (i32.const 0) (i32.const 36) (i32.const 7)) (i32.const 1)",
    );
    assert_eq!(outcome(&source), selected(Some(7)));
}

#[test]
fn a_negative_version_means_the_latest_published() {
    let source = module(
        AGENT,
        "(call $select_agent (i32.const 0) (i32.const 36) (i32.const -1)) (i32.const 1)",
    );
    let run = run(&source);
    assert_eq!(run.outcome, selected(None));
    assert!(run.fuel_used > 0);
}

#[test]
fn returning_zero_is_no_decision() {
    assert_eq!(outcome(&module("", "(i32.const 0)")), Outcome::NoDecision);
}

#[test]
fn reject_zero_is_the_default_603() {
    assert_eq!(
        outcome(&module("", "(call $reject (i32.const 0)) (i32.const 2)")),
        Outcome::Rejected { status: 603 }
    );
}

#[test]
fn reject_with_a_status_keeps_it() {
    assert_eq!(
        outcome(&module("", "(call $reject (i32.const 486)) (i32.const 2)")),
        Outcome::Rejected { status: 486 }
    );
}

#[test]
fn reject_with_a_status_outside_4xx_to_6xx_is_invalid() {
    for status in [200, 399, 700, -1] {
        let body = format!("(call $reject (i32.const {status})) (i32.const 2)");
        let outcome = outcome(&module("", &body));
        assert!(
            matches!(&outcome, Outcome::Invalid { why } if why.contains("reject")),
            "{status}: {outcome:?}"
        );
    }
}

#[test]
fn a_return_value_that_contradicts_the_calls_is_invalid() {
    let cases = [
        ("(i32.const 1)", "returned 1 without a decision"),
        ("(i32.const 2)", "returned 2 without a decision"),
        ("(i32.const 5)", "returned 5"),
        ("(call $reject (i32.const 0)) (i32.const 1)", "returned 1 after reject"),
        (
            "(call $select_agent (i32.const 0) (i32.const 36) (i32.const -1)) (i32.const 0)",
            "after select_agent",
        ),
    ];
    for (body, expected) in cases {
        match outcome(&module(AGENT, body)) {
            Outcome::Invalid { why } => assert!(why.contains(expected), "{body}: {why}"),
            other => panic!("{body}: {other:?}"),
        }
    }
}

#[test]
fn a_second_decision_is_invalid() {
    let body =
        "(call $reject (i32.const 0)) (call $select_agent (i32.const 0) (i32.const 36) (i32.const -1)) (i32.const 1)";
    assert!(matches!(outcome(&module(AGENT, body)), Outcome::Invalid { why } if why.contains("already")));
}

#[test]
fn outputs_travel_with_the_decision() {
    let data = format!(
        r#"{AGENT} (data (i32.const 64) "hello agent") (data (i32.const 96) "{{\"variant\":\"A\",\"n\":1}}")
           (data (i32.const 128) "X-Variant") (data (i32.const 144) "A") (data (i32.const 160) "a log line")"#
    );
    let body = "(call $set_initial_context (i32.const 64) (i32.const 11))
        (call $set_custom_metadata (i32.const 96) (i32.const 21))
        (call $add_header (i32.const 128) (i32.const 9) (i32.const 144) (i32.const 1))
        (call $log (i32.const 160) (i32.const 10))
        (call $select_agent (i32.const 0) (i32.const 36) (i32.const -1)) (i32.const 1)";
    let run = run(&module(&data, body));
    assert_eq!(run.outcome, selected(None));
    assert_eq!(run.initial_context, "hello agent");
    let metadata = run.custom_metadata.expect("metadata");
    assert_eq!(
        serde_json::Value::Object(metadata),
        serde_json::json!({"variant": "A", "n": 1})
    );
    assert_eq!(run.headers, vec![("X-Variant".to_string(), "A".to_string())]);
    assert_eq!(run.logs, vec!["a log line".to_string()]);
}

#[test]
fn get_copies_a_value_only_if_it_fits() {
    // "zzzz" at 256 must survive a get whose buffer (2 bytes) is too small; the returned
    // length (13 for "+14155550100") becomes the version, the buffer becomes the agent id.
    let data = r#"(data (i32.const 0) "caller_number") (data (i32.const 32) "nope") (data (i32.const 256) "zzzz")"#;
    let body = "(local $len i32)
        (if (i32.ne (call $get (i32.const 32) (i32.const 4) (i32.const 256) (i32.const 4)) (i32.const -1))
          (then unreachable))
        (local.set $len (call $get (i32.const 0) (i32.const 13) (i32.const 256) (i32.const 2)))
        (call $select_agent (i32.const 256) (i32.const 4) (local.get $len)) (i32.const 1)";
    let engine = engine();
    let workflow = engine.compile(&module(data, body)).unwrap();
    let run = engine.run(&workflow, context(&[("caller_number", "+14155550100")]));
    assert_eq!(
        run.outcome,
        Outcome::Selected {
            agent_id: "zzzz".into(),
            version: Some(12)
        }
    );
}

#[test]
fn logs_past_the_limit_are_counted_and_dropped() {
    let body = "(local $i i32)
        (loop $again
          (call $log (i32.const 0) (i32.const 4))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $again (i32.lt_u (local.get $i) (i32.const 20))))
        (i32.const 0)";
    let run = run(&module(r#"(data (i32.const 0) "line")"#, body));
    assert_eq!(run.outcome, Outcome::NoDecision);
    assert_eq!(run.logs.len(), WorkflowConfig::default().log_lines_per_run);
    assert_eq!(run.logs_dropped, 20 - run.logs.len());
}

// ---- output contract ----

fn header_outcome(name: &str, value: &str, times: usize) -> Outcome {
    let data = format!("{AGENT} {} {}", data(64, name.as_bytes()), data(1024, value.as_bytes()));
    let call = format!(
        "(call $add_header (i32.const 64) (i32.const {}) (i32.const 1024) (i32.const {}))",
        name.len(),
        value.len()
    );
    let body = format!(
        "{} (call $select_agent (i32.const 0) (i32.const 36) (i32.const -1)) (i32.const 1)",
        call.repeat(times)
    );
    outcome(&module(&data, &body))
}

#[test]
fn headers_must_be_x_tokens_with_printable_values_within_limits() {
    assert_eq!(header_outcome("X-Ok", "fine value", 8), selected(None));
    let long_value = "v".repeat(257);
    let cases = [
        ("Via", "x", 1, "X-"),
        ("X-Bad Name", "x", 1, "token"),
        ("X-Switchboard-Route", "static", 1, "reserved"),
        ("X-Inject", "a\r\nVia: evil", 1, "printable"),
        ("X-Ok", long_value.as_str(), 1, "limit is 256"),
        ("X-Ok", "x", 9, "more than 8"),
    ];
    for (name, value, times, expected) in cases {
        match header_outcome(name, value, times) {
            Outcome::Invalid { why } => assert!(why.contains(expected), "{name}: {why}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn metadata_must_be_a_json_object() {
    for json in ["[1,2]", r#""text""#, "{"] {
        let data = format!("{AGENT} {}", data(64, json.as_bytes()));
        let body = format!(
            "(call $set_custom_metadata (i32.const 64) (i32.const {})) (i32.const 0)",
            json.len()
        );
        let outcome = outcome(&module(&data, &body));
        assert!(
            matches!(&outcome, Outcome::Invalid { why } if why.contains("JSON object")),
            "{json}: {outcome:?}"
        );
    }
}

#[test]
fn output_of_a_failed_run_is_dropped() {
    let body = "(call $set_initial_context (i32.const 0) (i32.const 36)) unreachable";
    let run = run(&module(AGENT, body));
    assert!(matches!(run.outcome, Outcome::Trap { .. }));
    assert!(run.initial_context.is_empty());
}

// ---- adversarial fixtures ----

#[test]
fn an_infinite_loop_runs_out_of_fuel_when_fuel_is_the_tighter_limit() {
    let engine = engine_with(WorkflowConfig {
        fuel: 100_000,
        deadline_ms: 10_000,
        ..test_config()
    });
    let run = engine.run(&engine.compile(&fixture("infinite-loop.wat")).unwrap(), BTreeMap::new());
    assert_eq!(run.outcome, Outcome::OutOfFuel);
    assert_eq!(run.fuel_used, 100_000);
}

#[test]
fn an_infinite_loop_times_out_when_the_deadline_is_the_tighter_limit() {
    let engine = engine_with(WorkflowConfig {
        fuel: u64::MAX / 2,
        deadline_ms: 5,
        ..test_config()
    });
    let run = engine.run(&engine.compile(&fixture("infinite-loop.wat")).unwrap(), BTreeMap::new());
    assert_eq!(run.outcome, Outcome::Timeout);
    // Not a timing assertion: only that the run ended rather than hung.
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
}

#[test]
fn a_run_on_an_engine_idle_long_enough_for_its_ticker_to_park_still_times_out() {
    let engine = engine_with(WorkflowConfig {
        fuel: u64::MAX / 2,
        deadline_ms: 5,
        ..test_config()
    });
    let module = engine.compile(&fixture("infinite-loop.wat")).unwrap();
    // Idle for longer than the ticker waits before parking (100 ticks).
    std::thread::sleep(Duration::from_millis(400));
    let run = engine.run(&module, BTreeMap::new());
    assert_eq!(run.outcome, Outcome::Timeout);
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
}

#[test]
fn host_calls_are_paid_in_fuel() {
    // 1000 `log` calls are a few thousand instructions of guest work, but 100+ fuel each.
    let engine = engine_with(WorkflowConfig {
        fuel: 10_000,
        ..test_config()
    });
    let body = "(local $i i32)
        (loop $again
          (call $log (i32.const 0) (i32.const 4))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $again (i32.lt_u (local.get $i) (i32.const 1000))))
        (i32.const 0)";
    let workflow = engine.compile(&module(r#"(data (i32.const 0) "line")"#, body)).unwrap();
    let run = engine.run(&workflow, BTreeMap::new());
    assert_eq!(run.outcome, Outcome::OutOfFuel);
    assert!(run.logs_dropped < 100, "{}", run.logs_dropped);
}

#[test]
fn a_memory_bomb_is_out_of_memory() {
    assert_eq!(outcome(&fixture("memory-bomb.wat")), Outcome::OutOfMemory);
}

#[test]
fn a_module_that_handles_refused_growth_still_decides() {
    let body = "(if (i32.ne (memory.grow (i32.const 1000)) (i32.const -1)) (then unreachable)) (i32.const 0)";
    assert_eq!(outcome(&module("", body)), Outcome::NoDecision);
}

#[test]
fn deep_recursion_is_a_trap() {
    let outcome = outcome(&fixture("deep-recursion.wat"));
    assert!(
        matches!(&outcome, Outcome::Trap { why } if why.contains("stack")),
        "{outcome:?}"
    );
}

#[test]
fn unreachable_is_a_trap() {
    assert!(matches!(outcome(&fixture("trap.wat")), Outcome::Trap { .. }));
}

#[test]
fn huge_output_is_invalid() {
    let outcome = outcome(&fixture("huge-output.wat"));
    assert!(
        matches!(&outcome, Outcome::Invalid { why } if why.contains("set_initial_context")),
        "{outcome:?}"
    );
}

#[test]
fn metadata_that_is_not_json_is_invalid() {
    let outcome = outcome(&fixture("invalid-metadata.wat"));
    assert!(
        matches!(&outcome, Outcome::Invalid { why } if why.contains("set_custom_metadata")),
        "{outcome:?}"
    );
}

#[test]
fn a_pointer_beyond_memory_is_invalid_and_names_the_call() {
    let outcome = outcome(&fixture("oob-pointer.wat"));
    let Outcome::Invalid { why } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        why.contains("select_agent") && why.contains("outside guest memory"),
        "{why}"
    );
}

// ---- isolation ----

#[test]
fn every_run_starts_from_a_fresh_instance() {
    // Counts runs in a mutable global and in memory; a reused instance would see 2.
    let data = r#"(global $runs (mut i32) (i32.const 0)) (data (i32.const 0) "fresh") (data (i32.const 8) "stale")"#;
    let body = "(global.set $runs (i32.add (global.get $runs) (i32.const 1)))
        (i32.store (i32.const 64) (i32.add (i32.load (i32.const 64)) (i32.const 1)))
        (if (result i32) (i32.and (i32.eq (global.get $runs) (i32.const 1)) (i32.eq (i32.load (i32.const 64)) (i32.const 1)))
          (then (call $select_agent (i32.const 0) (i32.const 5) (i32.const -1)) (i32.const 1))
          (else (call $select_agent (i32.const 8) (i32.const 5) (i32.const -1)) (i32.const 1)))";
    let engine = engine();
    let workflow = engine.compile(&module(data, body)).unwrap();
    for _ in 0..20 {
        let run = engine.run(&workflow, BTreeMap::new());
        assert_eq!(
            run.outcome,
            Outcome::Selected {
                agent_id: "fresh".into(),
                version: None
            }
        );
    }
}

/// Selects the agent named by the context key at 0 (length `key_len`).
fn echo_module(key: &str) -> Vec<u8> {
    let data = format!(r#"(data (i32.const 0) "{key}")"#);
    let body = format!(
        "(local $len i32)
        (local.set $len (call $get (i32.const 0) (i32.const {}) (i32.const 256) (i32.const 64)))
        (call $select_agent (i32.const 256) (local.get $len) (i32.const -1)) (i32.const 1)",
        key.len()
    );
    module(&data, &body)
}

#[test]
fn interleaved_workflows_see_only_their_own_context() {
    let engine = engine();
    let by_caller = engine.compile(&echo_module("caller_number")).unwrap();
    let by_org = engine.compile(&echo_module("organization_id")).unwrap();
    for i in 0..10 {
        let org_a = context(&[
            ("caller_number", &format!("+1415555{i:04}")),
            ("organization_id", "org-a"),
        ]);
        let org_b = context(&[
            ("caller_number", "+442079460000"),
            ("organization_id", &format!("org-b-{i}")),
        ]);
        let a = engine.run(&by_caller, org_a).outcome;
        let b = engine.run(&by_org, org_b).outcome;
        assert_eq!(
            a,
            Outcome::Selected {
                agent_id: format!("+1415555{i:04}"),
                version: None
            }
        );
        assert_eq!(
            b,
            Outcome::Selected {
                agent_id: format!("org-b-{i}"),
                version: None
            }
        );
    }
}

/// A context whose `get` blocks until released: holds an instance slot deterministically.
struct Gate {
    entered: Mutex<mpsc::Sender<()>>,
    release: Mutex<mpsc::Receiver<()>>,
}

impl Context for Gate {
    fn get(&self, _key: &str) -> Option<std::borrow::Cow<'_, str>> {
        self.entered.lock().unwrap().send(()).unwrap();
        self.release.lock().unwrap().recv().unwrap();
        None
    }
}

#[test]
fn a_run_with_no_free_instance_is_busy() {
    let engine = engine_with(WorkflowConfig {
        pool_instances: 1,
        deadline_ms: 60_000,
        ..test_config()
    });
    let workflow = engine.compile(&echo_module("caller_number")).unwrap();
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let gate = Gate {
        entered: Mutex::new(entered_tx),
        release: Mutex::new(release_rx),
    };
    let holder = {
        let (engine, workflow) = (engine.clone(), workflow.clone());
        std::thread::spawn(move || engine.run(&workflow, gate).outcome)
    };
    entered.recv().unwrap();
    assert_eq!(engine.run(&workflow, BTreeMap::new()).outcome, Outcome::Busy);
    release.send(()).unwrap();
    // The holder's `get` said absent (-1), which it passed on as a length: out of bounds.
    assert!(matches!(holder.join().unwrap(), Outcome::Invalid { .. }));
    let run = engine.run(&workflow, context(&[("caller_number", "+15550001")]));
    assert_eq!(
        run.outcome,
        Outcome::Selected {
            agent_id: "+15550001".into(),
            version: None
        }
    );
}

// ---- upload validation ----

#[test]
fn a_wrong_abi_version_is_refused() {
    let err = compile_error(&fixture("wrong-abi.wat"));
    assert!(
        matches!(err, WorkflowError::AbiVersion { found: 2, expected: 1 }),
        "{err}"
    );
    assert_eq!(err.to_string(), "abi_version 2 unsupported (expected 1)");
}

#[test]
fn a_missing_route_is_refused_by_name() {
    let err = compile_error(&fixture("missing-export.wat"));
    assert!(
        matches!(err, WorkflowError::MissingExport { name: "route", .. }),
        "{err}"
    );
    assert!(err.to_string().starts_with("missing export `route`"), "{err}");
}

#[test]
fn an_import_the_host_does_not_provide_is_refused_by_name() {
    let err = compile_error(&fixture("bad-import.wat"));
    assert!(
        err.to_string()
            .starts_with("import `wasi_snapshot_preview1::fd_write` not provided"),
        "{err}"
    );
}

#[test]
fn a_host_function_with_the_wrong_signature_is_refused() {
    let source = br#"(module (import "switchboard" "get" (func (param i32 i32) (result i32)))
        (memory (export "memory") 1) (global (export "abi_version") i32 (i32.const 1))
        (func (export "route") (result i32) (i32.const 0)))"#;
    let err = compile_error(source);
    assert_eq!(
        err.to_string(),
        "wrong signature of `get`: expected (i32, i32, i32, i32) -> i32, found (i32, i32) -> i32"
    );
}

#[test]
fn a_route_with_the_wrong_signature_is_refused() {
    let source = br#"(module (memory (export "memory") 1) (global (export "abi_version") i32 (i32.const 1))
        (func (export "route") (param i32)))"#;
    assert_eq!(
        compile_error(source).to_string(),
        "wrong signature of `route`: expected () -> i32, found (i32)"
    );
}

#[test]
fn a_module_without_memory_or_version_is_refused_by_name() {
    let no_memory = br#"(module (global (export "abi_version") i32 (i32.const 1))
        (func (export "route") (result i32) (i32.const 0)))"#;
    assert!(matches!(
        compile_error(no_memory),
        WorkflowError::MissingExport { name: "memory", .. }
    ));
    let no_version = br#"(module (memory (export "memory") 1) (func (export "route") (result i32) (i32.const 0)))"#;
    assert!(matches!(
        compile_error(no_version),
        WorkflowError::MissingExport {
            name: "abi_version",
            ..
        }
    ));
}

#[test]
fn the_version_may_come_from_the_custom_section() {
    let v1 = br#"(module (@custom "switchboard_abi" "\01") (memory (export "memory") 1)
        (func (export "route") (result i32) (i32.const 0)))"#;
    assert_eq!(outcome(v1), Outcome::NoDecision);
    let v3 = br#"(module (@custom "switchboard_abi" "\03") (memory (export "memory") 1)
        (func (export "route") (result i32) (i32.const 0)))"#;
    assert!(matches!(compile_error(v3), WorkflowError::AbiVersion { found: 3, .. }));
}

#[test]
fn a_module_over_the_size_limit_is_refused() {
    let engine = engine_with(WorkflowConfig {
        max_module_bytes: 100,
        ..test_config()
    });
    let err = engine.compile(&fixture("trap.wat")).unwrap_err();
    assert!(matches!(err, WorkflowError::TooLarge { limit: 100, .. }), "{err}");
}

#[test]
fn a_module_starting_with_more_memory_than_allowed_is_refused() {
    let source = br#"(module (memory (export "memory") 1000) (global (export "abi_version") i32 (i32.const 1))
        (func (export "route") (result i32) (i32.const 0)))"#;
    assert!(matches!(compile_error(source), WorkflowError::MemoryTooLarge { .. }));
}

#[test]
fn garbage_does_not_compile() {
    assert!(matches!(
        compile_error(b"\0asm\x01\0\0\0garbage"),
        WorkflowError::DoesNotCompile { .. }
    ));
    assert!(matches!(
        compile_error(b"(module (func"),
        WorkflowError::DoesNotCompile { .. }
    ));
    let ill_typed = br#"(module (memory (export "memory") 1) (global (export "abi_version") i32 (i32.const 1))
        (func (export "route") (result i32) (i64.const 0)))"#;
    assert!(matches!(compile_error(ill_typed), WorkflowError::DoesNotCompile { .. }));
}

// ---- artifacts and cache ----

#[test]
fn an_artifact_round_trips_when_its_hash_matches() {
    let engine = engine();
    let source = fixture("trap.wat");
    let workflow = engine.compile(&source).unwrap();
    let artifact = engine.serialize(&workflow).unwrap();
    let loaded = engine
        .deserialize_checked(workflow.hash(), &artifact, sha256(&artifact))
        .unwrap();
    assert_eq!(loaded.hash(), sha256(&source));
    assert!(matches!(
        engine.run(&loaded, BTreeMap::new()).outcome,
        Outcome::Trap { .. }
    ));
}

#[test]
fn a_tampered_artifact_is_refused_before_loading() {
    let engine = engine();
    let workflow = engine.compile(&fixture("trap.wat")).unwrap();
    let artifact = engine.serialize(&workflow).unwrap();
    let recorded = sha256(&artifact);
    let mut tampered = artifact.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x01;
    let err = engine
        .deserialize_checked(workflow.hash(), &tampered, recorded)
        .unwrap_err();
    assert!(matches!(err, WorkflowError::ArtifactHashMismatch), "{err}");
    let truncated = &artifact[..artifact.len() - 1];
    assert!(engine
        .deserialize_checked(workflow.hash(), truncated, recorded)
        .is_err());
}

#[test]
fn the_cache_compiles_each_source_once() {
    let cache = WorkflowCache::new(engine().clone());
    let first = cache.get_or_compile(&fixture("trap.wat")).unwrap();
    let again = cache.get_or_compile(&fixture("trap.wat")).unwrap();
    assert!(Arc::ptr_eq(&first.0, &again.0));
    cache.get_or_compile(&fixture("infinite-loop.wat")).unwrap();
    assert_eq!(cache.len(), 2);
    assert!(cache.remove(&first.hash()).is_some());
    assert!(cache.get(&first.hash()).is_none());
}

#[test]
fn labels_are_the_metric_names() {
    let labels: Vec<&str> = [
        selected(None),
        Outcome::NoDecision,
        Outcome::Rejected { status: 603 },
        Outcome::Trap { why: String::new() },
        Outcome::Timeout,
        Outcome::OutOfFuel,
        Outcome::OutOfMemory,
        Outcome::Invalid { why: String::new() },
        Outcome::Busy,
    ]
    .iter()
    .map(Outcome::label)
    .collect();
    assert_eq!(
        labels,
        [
            "selected",
            "no_decision",
            "rejected",
            "trap",
            "timeout",
            "out_of_fuel",
            "oom",
            "invalid",
            "busy"
        ]
    );
}
