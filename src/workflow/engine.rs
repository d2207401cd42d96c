//! The one shared wasm engine: compiler settings, the pooling allocator every run takes its
//! instance from, the host-function linker, and the epoch ticker that enforces deadlines.
//!
//! The ticker (`ticker.rs`) bumps the engine's epoch every millisecond while runs are in
//! progress; a run's deadline is counted in those ticks. It stops when the last `Engine`
//! clone drops.

use std::sync::atomic::{AtomicU32, Ordering};
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
    /// Compiles under way or waiting for `compiling` (bounded by `max_waiting_compiles`).
    queued: AtomicU32,
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
            queued: AtomicU32::new(0),
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

    /// The turn of one compile, held for its length: waits for the compile under way, unless
    /// `max_waiting_compiles` already wait, then refuses at once with when to retry (a compile
    /// frees its turn within `compile_timeout_ms`). A panic elsewhere leaves nothing to repair.
    pub(super) fn compiling(&self) -> Result<CompileTurn<'_>, WorkflowError> {
        let queued = &self.0.queued;
        let ahead = queued.fetch_add(1, Ordering::SeqCst);
        let waiting = ahead.saturating_sub(1);
        if ahead > 0 && waiting >= self.0.config.max_waiting_compiles {
            queued.fetch_sub(1, Ordering::SeqCst);
            return Err(WorkflowError::CompileQueueFull {
                waiting,
                retry_after_secs: self.0.config.compile_timeout_ms.div_ceil(1000).max(1),
            });
        }
        let lock = self.0.compiling.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(CompileTurn { queued, _lock: lock })
    }

    /// Compiles under way or waiting.
    pub fn compiles_queued(&self) -> u32 {
        self.0.queued.load(Ordering::SeqCst)
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

/// One compile's place: the lock while it compiles; leaving the queue when dropped.
pub(super) struct CompileTurn<'e> {
    queued: &'e AtomicU32,
    _lock: MutexGuard<'e, ()>,
}

impl Drop for CompileTurn<'_> {
    fn drop(&mut self) {
        self.queued.fetch_sub(1, Ordering::SeqCst);
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
    fn compiles_past_the_waiting_bound_are_refused_at_once_with_when_to_retry() {
        let config = WorkflowConfig {
            pool_instances: 2,
            max_waiting_compiles: 1,
            compile_timeout_ms: 2_500,
            ..WorkflowConfig::default()
        };
        let engine = Engine::with_compiler(&config, Compiler::InProcess).unwrap();
        let under_way = engine.compiling().unwrap();
        let waiter = {
            let engine = engine.clone();
            std::thread::spawn(move || engine.compiling().map(|_turn| ()))
        };
        while engine.compiles_queued() < 2 {
            std::thread::yield_now();
        }
        match engine.compiling() {
            Err(WorkflowError::CompileQueueFull {
                waiting,
                retry_after_secs,
            }) => assert_eq!((waiting, retry_after_secs), (1, 3)),
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("a second waiter was let in"),
        }
        drop(under_way);
        waiter.join().unwrap().expect("the one waiter gets its turn");
        assert_eq!(engine.compiles_queued(), 0);
        drop(engine.compiling().unwrap());
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
