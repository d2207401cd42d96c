//! The one shared wasm engine: compiler settings, the pooling allocator every run takes its
//! instance from, the host-function linker, and the epoch ticker that enforces deadlines.
//!
//! The ticker (`ticker.rs`) bumps the engine's epoch every millisecond while runs are in
//! progress; a run's deadline is counted in those ticks. It stops when the last `Engine`
//! clone drops.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use wasmtime::{Config, InstanceAllocationStrategy, Linker, PoolingAllocationConfig};

use super::abi::{self, State};
use super::isolate::Compiler;
use super::ticker::Ticker;
use super::{WorkflowConfig, WorkflowError};

/// The workflow sandbox. Cheap to clone; all clones share one engine, pool and ticker.
#[derive(Clone)]
pub struct Engine(Arc<Shared>);

struct Shared {
    wasmtime: wasmtime::Engine,
    linker: Linker<State>,
    config: WorkflowConfig,
    /// Where uploads compile (`isolate.rs`).
    compiler: Compiler,
    /// Held while a module compiles: one compile at a time, whoever asks.
    compiling: Mutex<()>,
    /// Stops with the last clone.
    ticker: Ticker,
}

impl Engine {
    /// Starts the engine: reserves the instance pool and starts the epoch ticker. Uploads
    /// compile in a child process of the running binary (`Compiler::current_exe`).
    pub fn new(config: &WorkflowConfig) -> Result<Engine, WorkflowError> {
        Engine::with_compiler(config, Compiler::current_exe()?)
    }

    /// Likewise, compiling with `compiler`.
    pub fn with_compiler(config: &WorkflowConfig, compiler: Compiler) -> Result<Engine, WorkflowError> {
        config.check()?;
        let engine = wasmtime::Engine::new(&wasmtime_config(config))
            .map_err(|err| WorkflowError::Engine(WorkflowError::cause(err)))?;
        let linker = abi::linker(&engine).map_err(|err| WorkflowError::Engine(WorkflowError::cause(err)))?;
        let ticker = Ticker::start(engine.clone()).map_err(|err| WorkflowError::Engine(Box::new(err)))?;
        Ok(Engine(Arc::new(Shared {
            wasmtime: engine,
            linker,
            config: config.clone(),
            compiler,
            compiling: Mutex::new(()),
            ticker,
        })))
    }

    /// The limits this engine enforces.
    pub fn config(&self) -> &WorkflowConfig {
        &self.0.config
    }

    pub(super) fn compiler(&self) -> &Compiler {
        &self.0.compiler
    }

    /// Taken for the length of one compile; a panic elsewhere leaves nothing to repair.
    pub(super) fn compiling(&self) -> MutexGuard<'_, ()> {
        self.0.compiling.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn wasmtime(&self) -> &wasmtime::Engine {
        &self.0.wasmtime
    }

    pub(super) fn linker(&self) -> &Linker<State> {
        &self.0.linker
    }

    pub(super) fn ticker(&self) -> &Ticker {
        &self.0.ticker
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.0.config)
            .finish_non_exhaustive()
    }
}

/// What the engine runs with: the compiler's settings and the instance pool.
fn wasmtime_config(config: &WorkflowConfig) -> Config {
    let mut wasm = compiler_settings(config);
    wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool(config)));
    wasm
}

fn pool(config: &WorkflowConfig) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_core_instances(config.pool_instances)
        .total_memories(config.pool_instances)
        .total_tables(config.pool_instances)
        // Components are not accepted, so their slots stay empty.
        .total_component_instances(0)
        .max_memories_per_module(1)
        .max_tables_per_module(1)
        .table_elements(config.table_elements)
        .max_memory_size(config.memory_bytes)
        // Zeroing a few resident pages is cheaper than faulting them back in on every run.
        .linear_memory_keep_resident(config.keep_resident_bytes)
        .table_keep_resident(config.table_elements * std::mem::size_of::<usize>());
    pool
}

/// The settings compiled code depends on, shared by the engine and the compiling child
/// (`isolate.rs`) so that the child's artifacts load here. The child has no pool: it runs
/// nothing, and reserving one would count against its memory limit.
pub(super) fn compiler_settings(config: &WorkflowConfig) -> Config {
    let mut wasm = Config::new();
    wasm.consume_fuel(true)
        .epoch_interruption(true)
        .max_wasm_stack(config.stack_bytes)
        // A trap's "why" names the trap; guest backtraces would only make traps slower.
        .wasm_backtrace_max_frames(None)
        // One 32-bit memory (threads are not compiled in): a workflow is a plain function.
        .wasm_multi_memory(false)
        .wasm_memory64(false);
    wasm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ticker_thread_is_joined_when_the_last_clone_drops() {
        let config = WorkflowConfig {
            pool_instances: 2,
            ..WorkflowConfig::default()
        };
        let engine = Engine::new(&config).unwrap();
        let clone = engine.clone();
        drop(engine);
        assert!(!clone.0.ticker.is_stopped());
        // Dropping the last clone joins the thread: returning at all means it stopped.
        drop(clone);
    }

    #[test]
    fn invalid_config_is_refused_before_reserving_anything() {
        let config = WorkflowConfig {
            pool_instances: 0,
            ..WorkflowConfig::default()
        };
        let err = Engine::new(&config).unwrap_err();
        assert!(err.to_string().contains("pool_instances"), "{err}");
    }
}
