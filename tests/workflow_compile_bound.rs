//! Bounded compilation of uploaded workflows (issue 15), through the library with the real
//! child compiler (`switchboard __compile-workflow`): the modules that killed the edge are
//! refused by name, fast; one just under the limits compiles and routes; a module past the
//! child's budget is refused without hurting this process.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use switchboard::workflow::{Compiler, Engine, Outcome, WorkflowConfig, WorkflowError};

/// `route` is `i32.const 0`, then `k` times `block (result i32) i32.const 1 end i32.add`.
fn sequential_blocks(k: usize) -> Vec<u8> {
    let body = "(block (result i32) i32.const 1) i32.add ".repeat(k);
    wat::parse_str(format!(
        r#"(module (memory (export "memory") 1) (global (export "abi_version") i32 (i32.const 1))
           (func (export "route") (result i32) i32.const 0 {body} drop i32.const 0))"#
    ))
    .unwrap()
}

fn engine(config: WorkflowConfig) -> Engine {
    let compiler = Compiler::Child {
        program: env!("CARGO_BIN_EXE_switchboard").into(),
    };
    Engine::with_compiler(
        &WorkflowConfig {
            pool_instances: 2,
            deadline_ms: 2_000,
            ..config
        },
        compiler,
    )
    .unwrap()
}

#[test]
fn the_modules_that_killed_the_edge_are_refused_by_name_in_well_under_30_s() {
    let engine = engine(WorkflowConfig::default());
    for k in [40_000, 170_000] {
        let started = Instant::now();
        let err = engine.compile(&sequential_blocks(k)).unwrap_err();
        assert!(matches!(err, WorkflowError::OverLimit { .. }), "K={k}: {err}");
        assert!(started.elapsed() < Duration::from_secs(30), "K={k}");
    }
}

#[test]
fn a_module_just_under_the_block_limit_compiles_in_the_child_and_runs() {
    // A debug build compiles ~15x slower than release: a generous wall-clock budget.
    let engine = engine(WorkflowConfig {
        compile_timeout_ms: 30_000,
        ..WorkflowConfig::default()
    });
    let limit = WorkflowConfig::default().max_blocks_per_function as usize;
    let workflow = engine.compile(&sequential_blocks(limit - 1)).unwrap();
    assert_eq!(engine.run(&workflow, BTreeMap::new()).outcome, Outcome::NoDecision);
}

#[test]
fn past_the_childs_budget_the_compile_is_refused_and_this_process_carries_on() {
    let engine = engine(WorkflowConfig {
        max_blocks_per_function: 1_000_000,
        max_function_body_bytes: 1024 * 1024,
        compile_memory_bytes: 64 * 1024 * 1024,
        compile_timeout_ms: 2_000,
        ..WorkflowConfig::default()
    });
    let err = engine.compile(&sequential_blocks(40_000)).unwrap_err();
    assert!(
        matches!(
            err,
            WorkflowError::CompileMemory { .. } | WorkflowError::CompileTimeout { .. }
        ),
        "{err}"
    );
}
