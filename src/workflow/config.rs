//! `[workflow]` knobs: every limit the sandbox puts on a guest module, with its default and
//! the reason for it. Checked once, when the engine starts (`WorkflowConfig::check`).

use serde::{Deserialize, Serialize};

use super::WorkflowError;

/// A wasm page: the unit memory grows in.
const WASM_PAGE: usize = 64 * 1024;

/// Limits of the workflow sandbox. Unknown keys are errors: a typo must never quietly turn
/// a limit off.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkflowConfig {
    /// Fuel (roughly: wasm instructions) one run may spend. Default 2,000,000: a routing
    /// decision needs a few thousand; this is ~1-2 ms of straight-line work, far below the
    /// deadline, so a loop usually stops here, deterministically, before the clock stops it.
    pub fuel: u64,
    /// Wall-clock budget of one run (ms), enforced by epoch interruption with a 1 ms tick,
    /// so a run stops between `deadline_ms - 1` and `deadline_ms` ms. Default 5: a decision
    /// takes microseconds; a stuck module must not hold up call setup.
    pub deadline_ms: u64,
    /// Largest linear memory of one instance (bytes, a multiple of 64 KiB). Default 16 MiB:
    /// ample for routing tables; `memory.grow` past it returns -1.
    pub memory_bytes: usize,
    /// Native stack a run may use (bytes). Default 512 KiB: deep enough for any sane
    /// recursion, well inside a 2 MiB thread stack. Past it the run traps.
    pub stack_bytes: usize,
    /// Largest module accepted at upload, wasm or WAT text (bytes). Default 1 MiB.
    pub max_module_bytes: usize,
    /// Instances that may run at once (the pooling allocator's slots). Default 1000: runs
    /// take microseconds, so this bounds concurrency, not throughput. A run that finds no
    /// free slot ends `busy` and the call takes its fallback.
    pub pool_instances: u32,
    /// Bytes of each slot's memory kept resident (zeroed, not returned to the kernel)
    /// between runs. Default 128 KiB: covers the few pages a routing module touches, so a
    /// fresh instance costs no page faults.
    pub keep_resident_bytes: usize,
    /// Elements of a module's function table. Default 4096: compilers emit one entry per
    /// address-taken function.
    pub table_elements: usize,
    /// Largest `initial_context` (bytes). Default 4096: it travels in a SIP header.
    pub max_initial_context_bytes: usize,
    /// Largest `custom_metadata` JSON text (bytes). Default 4096: it travels in a SIP header.
    pub max_custom_metadata_bytes: usize,
    /// `add_header` calls allowed per run. Default 8.
    pub max_headers: usize,
    /// Longest value of an added header (bytes). Default 256.
    pub max_header_value_bytes: usize,
    /// `log` lines kept per run; later lines are counted and dropped. Default 8.
    pub log_lines_per_run: usize,
    /// A `log` line is cut to this many bytes. Default 256.
    pub log_line_bytes: usize,

    // Compiling an upload. cranelift's cost grows faster than linearly with some shapes of
    // code (many blocks in one function: 40,000 took more than 3 GB), so a module is first
    // held to static limits read off its binary, then compiled in a child process held to
    // a memory and time budget (`compile_memory_bytes`, `compile_timeout_ms`).
    /// Functions a module may define. Default 10,000.
    pub max_functions: u32,
    /// Largest body of one function (bytes of code). Default 128 KiB.
    pub max_function_body_bytes: usize,
    /// Locals one function may declare (parameters not counted). Default 2,000.
    pub max_locals: u32,
    /// `block`, `loop`, `if` and `try_table` in one function. Default 1,000: a routing
    /// function needs tens; 10,000 cost cranelift 1.8 s and 250 MB.
    pub max_blocks_per_function: u32,
    /// Deepest nesting of blocks in one function. Default 500.
    pub max_nesting_depth: u32,
    /// Memory the compiling child process may map (bytes, its RLIMIT_DATA). Default 256 MiB.
    pub compile_memory_bytes: u64,
    /// Wall-clock budget of one compile (ms); the child is killed past it. Default 2000.
    pub compile_timeout_ms: u64,
    /// Compiles one org may start per minute (uploads, dry runs of new modules); past it,
    /// 429 with Retry-After. Modules already compiled cost nothing. Default 20.
    pub compiles_per_minute: u32,
    /// Compiles that may wait while one runs (compiles are serialised, whichever org asks);
    /// past it the upload or dry run is refused at once (429 with Retry-After) instead of
    /// holding a thread and a connection for `compile_timeout_ms` per compile ahead of it.
    /// Default 4: a queued upload waits at most ~5 compile budgets (10 s).
    pub max_waiting_compiles: u32,
}

impl Default for WorkflowConfig {
    fn default() -> WorkflowConfig {
        WorkflowConfig {
            fuel: 2_000_000,
            deadline_ms: 5,
            memory_bytes: 16 * 1024 * 1024,
            stack_bytes: 512 * 1024,
            max_module_bytes: 1024 * 1024,
            pool_instances: 1000,
            keep_resident_bytes: 128 * 1024,
            table_elements: 4096,
            max_initial_context_bytes: 4096,
            max_custom_metadata_bytes: 4096,
            max_headers: 8,
            max_header_value_bytes: 256,
            log_lines_per_run: 8,
            log_line_bytes: 256,
            max_functions: 10_000,
            max_function_body_bytes: 128 * 1024,
            max_locals: 2_000,
            max_blocks_per_function: 1_000,
            max_nesting_depth: 500,
            compile_memory_bytes: 256 * 1024 * 1024,
            compile_timeout_ms: 2_000,
            compiles_per_minute: 20,
            max_waiting_compiles: 4,
        }
    }
}

impl WorkflowConfig {
    /// Refuses limits that cannot work, naming the knob.
    pub fn check(&self) -> Result<(), WorkflowError> {
        let invalid = |knob: &'static str, why: &'static str| Err(WorkflowError::Config { knob, why });
        if self.fuel == 0 {
            return invalid("fuel", "must be at least 1");
        }
        if self.deadline_ms == 0 {
            return invalid("deadline_ms", "must be at least 1");
        }
        if self.memory_bytes < WASM_PAGE || !self.memory_bytes.is_multiple_of(WASM_PAGE) {
            return invalid("memory_bytes", "must be a non-zero multiple of 64 KiB");
        }
        if self.stack_bytes < 16 * 1024 {
            return invalid("stack_bytes", "must be at least 16 KiB");
        }
        if self.max_module_bytes == 0 {
            return invalid("max_module_bytes", "must be at least 1");
        }
        if self.pool_instances == 0 {
            return invalid("pool_instances", "must be at least 1");
        }
        if self.compile_memory_bytes < 32 * 1024 * 1024 {
            return invalid("compile_memory_bytes", "must be at least 32 MiB");
        }
        if self.compile_timeout_ms == 0 {
            return invalid("compile_timeout_ms", "must be at least 1");
        }
        if self.compiles_per_minute == 0 {
            return invalid("compiles_per_minute", "must be at least 1");
        }
        if self.keep_resident_bytes > self.memory_bytes {
            return invalid("keep_resident_bytes", "must not exceed memory_bytes");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_their_own_check() {
        WorkflowConfig::default().check().unwrap();
    }

    #[test]
    fn a_zero_deadline_is_refused_by_name() {
        let config = WorkflowConfig {
            deadline_ms: 0,
            ..WorkflowConfig::default()
        };
        let err = config.check().unwrap_err();
        assert!(err.to_string().contains("deadline_ms"), "{err}");
    }

    #[test]
    fn memory_must_be_whole_pages() {
        let config = WorkflowConfig {
            memory_bytes: 100_000,
            ..WorkflowConfig::default()
        };
        assert!(config.check().is_err());
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = toml::from_str::<WorkflowConfig>("fule = 10").unwrap_err();
        assert!(err.to_string().contains("fule"), "{err}");
    }

    #[test]
    fn missing_keys_take_their_defaults() {
        let config: WorkflowConfig = toml::from_str("fuel = 10").unwrap();
        assert_eq!(
            config,
            WorkflowConfig {
                fuel: 10,
                ..WorkflowConfig::default()
            }
        );
    }
}
