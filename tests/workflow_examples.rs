//! The example routing workflows of `routing-workflows/`, run through the sandbox: each
//! example's decisions for the calls its README line promises. The Rust examples must be
//! built first (`scripts/build-workflows.sh`); a missing build fails, it never skips.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::json;
use switchboard::workflow::{Compiler, Engine, Outcome, Workflow, WorkflowConfig};

const DAY: &str = "11111111-1111-4111-8111-111111111111";
const NIGHT: &str = "22222222-2222-4222-8222-222222222222";
const NEW_YORK: &str = "33333333-3333-4333-8333-333333333333";
const BAY_AREA: &str = "44444444-4444-4444-8444-444444444444";
const CHICAGO: &str = "55555555-5555-4555-8555-555555555555";
const AB_AGENT: &str = "66666666-6666-4666-8666-666666666666";

/// Default limits but a small pool, a deadline and a compile budget a debug build on a
/// busy machine cannot hit by accident: these tests check decisions, not speed. Modules
/// compile as uploads do, in a child process of the switchboard binary.
fn engine() -> Engine {
    let config = WorkflowConfig {
        pool_instances: 4,
        deadline_ms: 2_000,
        compile_timeout_ms: 30_000,
        ..WorkflowConfig::default()
    };
    let compiler = Compiler::Child {
        program: env!("CARGO_BIN_EXE_switchboard").into(),
    };
    Engine::with_compiler(&config, compiler).unwrap()
}

fn example(engine: &Engine, file: &str) -> Workflow {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("routing-workflows")
        .join(file);
    let source = std::fs::read(&path).unwrap_or_else(|err| {
        panic!(
            "{}: {err}; build the Rust examples first: scripts/build-workflows.sh",
            path.display()
        )
    });
    engine.compile(&source).unwrap_or_else(|err| panic!("{file}: {err}"))
}

fn context(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn latest(agent: &str) -> Outcome {
    Outcome::Selected {
        agent_id: agent.into(),
        version: None,
    }
}

#[test]
fn business_hours_sends_weekday_office_hours_to_the_day_agent() {
    let engine = engine();
    let workflow = example(&engine, "business-hours.wat");
    // (weekday 0 = Monday, hour, expected agent)
    let cases = [
        (0, 9, DAY),
        (2, 12, DAY),
        (4, 16, DAY),
        (0, 8, NIGHT),
        (3, 17, NIGHT),
        (4, 23, NIGHT),
        (1, 0, NIGHT),
        (5, 12, NIGHT),
        (6, 10, NIGHT),
    ];
    for (weekday, hour, agent) in cases {
        let (weekday, hour) = (weekday.to_string(), hour.to_string());
        let call = context(&[("time.weekday", &weekday), ("time.hour", &hour), ("time.minute", "30")]);
        assert_eq!(
            engine.run(&workflow, call).outcome,
            latest(agent),
            "weekday {weekday} hour {hour}"
        );
    }
}

#[test]
fn business_hours_without_a_clock_makes_no_decision() {
    let engine = engine();
    let workflow = example(&engine, "business-hours.wat");
    for call in [
        context(&[]),
        context(&[("time.weekday", "1")]),
        context(&[("time.weekday", "x"), ("time.hour", "9")]),
    ] {
        assert_eq!(engine.run(&workflow, call).outcome, Outcome::NoDecision);
    }
}

#[test]
fn area_code_routes_by_the_callers_npa() {
    let engine = engine();
    let workflow = example(&engine, "build/area-code.wasm");
    let cases = [
        ("+12125550100", latest(NEW_YORK)),
        ("+19175550100", latest(NEW_YORK)),
        ("+14155550100", latest(BAY_AREA)),
        ("+16285550100", latest(BAY_AREA)),
        ("+13125550100", latest(CHICAGO)),
        ("+17735550100", latest(CHICAGO)),
        ("+12065550100", Outcome::NoDecision),
        ("+442079460000", Outcome::NoDecision),
        ("+1212555", Outcome::NoDecision),
        ("anonymous", Outcome::NoDecision),
    ];
    for (caller, expected) in cases {
        let run = engine.run(&workflow, context(&[("caller_number", caller)]));
        assert_eq!(run.outcome, expected, "{caller}");
    }
    let run = engine.run(&workflow, context(&[]));
    assert_eq!(run.outcome, Outcome::NoDecision);
}

#[test]
fn ab_split_is_deterministic_per_caller_and_roughly_eighty_twenty() {
    let engine = engine();
    let workflow = example(&engine, "build/ab-split.wasm");
    let mut version_a = 0;
    for i in 0..1000 {
        let caller = format!("+1415{:07}", i * 7919);
        let first = engine.run(&workflow, context(&[("caller_number", &caller)]));
        let again = engine.run(&workflow, context(&[("caller_number", &caller)]));
        assert_eq!(
            first.outcome, again.outcome,
            "{caller} must always get the same variant"
        );
        let Outcome::Selected { agent_id, version } = &first.outcome else {
            panic!("{caller}: {:?}", first.outcome)
        };
        assert_eq!(agent_id, AB_AGENT);
        let label = match version {
            Some(3) => "A",
            Some(4) => "B",
            other => panic!("{caller}: version {other:?}"),
        };
        version_a += usize::from(label == "A");
        assert_eq!(first.initial_context, format!("ab-split variant {label}"));
        let metadata = serde_json::Value::Object(first.custom_metadata.clone().expect("metadata"));
        assert_eq!(metadata, json!({"variant": label, "experiment": "ab-split"}));
        assert_eq!(first.headers, vec![("X-AB-Variant".to_string(), label.to_string())]);
    }
    assert!(
        (730..=870).contains(&version_a),
        "{version_a} of 1000 callers got version A"
    );
}
