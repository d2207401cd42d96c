//! One call through a workflow: a fresh instance from the pool in a new `Store`, fuel and
//! deadline set, `route` called, the outcome read from how it ended and what it wrote.
//!
//! The store lives only inside [`Engine::run`]: its instance slot goes back to the pool
//! (memory reset) before the run returns, so no state survives into the next call.

use std::time::Instant;

use wasmtime::{Extern, PoolConcurrencyLimitError, Store, Trap};

use super::abi::{Decision, Fault, State};
use super::{Context, Engine, Outcome, Run, Workflow};

impl Engine {
    /// Runs `workflow` once for the call described by `context`. Never panics, never
    /// outlives `deadline_ms` by more than one epoch tick. It runs on the calling thread
    /// and may hold it for up to `deadline_ms`: call it where blocking is allowed (e.g.
    /// `spawn_blocking`), not on an event loop. The deadline is wall-clock time, so a thread
    /// descheduled mid-run spends its budget too.
    pub fn run(&self, workflow: &Workflow, context: impl Context + 'static) -> Run {
        let started = Instant::now();
        let _ticking = self.ticker().ticking();
        let config = self.config();
        let state = State::new(Box::new(context), config, workflow.hash());
        let mut store = Store::new(self.wasmtime(), state);
        store.limiter(|state| &mut state.limiter);
        let returned = call_route(&mut store, workflow, config.fuel, config.deadline_ms);
        // What the store holds: compiled code keeps its running count in a register and
        // writes it back at calls, returns, `unreachable` and when fuel runs out, not when the
        // deadline or a memory fault stops it, so a run stopped inside a loop without calls
        // reports the fuel spent up to its last call (wasmtime offers no later reading).
        let fuel_used = match store.get_fuel() {
            Ok(left) => config.fuel.saturating_sub(left),
            Err(_) => 0,
        };
        let state = store.into_data();
        let outcome = classify(returned, &state);
        let mut output = state.output;
        if outcome.is_failure() {
            output.initial_context.clear();
            output.custom_metadata = None;
            output.headers.clear();
        }
        Run {
            outcome,
            initial_context: output.initial_context,
            custom_metadata: output.custom_metadata,
            headers: output.headers,
            fuel_used,
            elapsed: started.elapsed(),
            logs: output.logs,
            logs_dropped: output.logs_dropped,
        }
    }
}

fn call_route(store: &mut Store<State>, workflow: &Workflow, fuel: u64, deadline_ms: u64) -> wasmtime::Result<i32> {
    store.set_fuel(fuel)?;
    // The ticker bumps the epoch every millisecond, so this is the deadline in ms.
    store.set_epoch_deadline(deadline_ms);
    store.epoch_deadline_trap();
    let compiled = &workflow.0;
    let instance = compiled.pre.instantiate(&mut *store)?;
    let memory = instance
        .get_module_export(&mut *store, &compiled.memory)
        .and_then(Extern::into_memory);
    store.data_mut().set_memory(memory);
    let route = instance
        .get_module_export(&mut *store, &compiled.route)
        .and_then(Extern::into_func)
        .ok_or_else(|| wasmtime::Error::msg("the module exports no `route` function"))?;
    route.typed::<(), i32>(&*store)?.call(&mut *store, ())
}

/// How the run ended, in order of precedence: a contract fault names itself; a refused
/// memory growth explains whatever failure followed it; then the kind of trap.
fn classify(returned: wasmtime::Result<i32>, state: &State) -> Outcome {
    let err = match returned {
        Ok(code) => return decided(code, state.output.decision.clone()),
        Err(err) => err,
    };
    if let Some(fault) = err.downcast_ref::<Fault>() {
        return Outcome::Invalid { why: fault.to_string() };
    }
    if state.limiter.refused {
        return Outcome::OutOfMemory;
    }
    if err.is::<PoolConcurrencyLimitError>() {
        return Outcome::Busy;
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => Outcome::OutOfFuel,
        Some(Trap::Interrupt) => Outcome::Timeout,
        Some(trap) => Outcome::Trap { why: trap.to_string() },
        None => Outcome::Trap {
            why: format!("{err:#}"),
        },
    }
}

/// `route`'s return value must agree with the decision it recorded.
fn decided(code: i32, decision: Option<Decision>) -> Outcome {
    match (code, decision) {
        (0, None) => Outcome::NoDecision,
        (1, Some(Decision::Selected { agent_id, version })) => Outcome::Selected { agent_id, version },
        (2, Some(Decision::Rejected { status })) => Outcome::Rejected { status },
        (0..=2, decision) => {
            let made = match decision {
                None => "without a decision",
                Some(Decision::Selected { .. }) => "after select_agent",
                Some(Decision::Rejected { .. }) => "after reject",
            };
            Outcome::Invalid {
                why: format!("route returned {code} {made}"),
            }
        }
        (other, _) => Outcome::Invalid {
            why: format!("route returned {other} (expected 0, 1 or 2)"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_values_must_match_the_decision() {
        let selected = Decision::Selected {
            agent_id: "a".into(),
            version: None,
        };
        let rejected = Decision::Rejected { status: 603 };
        assert_eq!(decided(0, None), Outcome::NoDecision);
        assert_eq!(decided(2, Some(rejected.clone())), Outcome::Rejected { status: 603 });
        assert!(matches!(decided(1, None), Outcome::Invalid { .. }));
        assert!(matches!(decided(2, Some(selected.clone())), Outcome::Invalid { .. }));
        assert!(matches!(decided(0, Some(selected)), Outcome::Invalid { .. }));
        assert!(matches!(decided(1, Some(rejected)), Outcome::Invalid { .. }));
        assert!(matches!(decided(7, None), Outcome::Invalid { .. }));
    }
}
