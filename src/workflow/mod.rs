//! The workflow sandbox: runs an org's routing workflow (a WebAssembly module) for one call.
//! A context in, a decision out; it knows nothing of SIP, the directory or the clock.
//!
//! A workflow is a core wasm module following the ABI of DESIGN.md ("The workflow ABI"):
//! it imports host functions from module `switchboard` (`get`, `select_agent`, `reject`,
//! `set_initial_context`, `set_custom_metadata`, `add_header`, `log`), exports
//! `route: () -> i32` and `memory`, and declares `abi_version` 1 (an exported `i32` global,
//! or a one-byte `switchboard_abi` custom section). `routing-workflows/README.md` documents
//! it for module authors, with examples.
//!
//! Every run gets a fresh instance from a pooling allocator (a new `Store`), so nothing a
//! run does is seen by the next one, whichever org it belongs to. A run is bounded by fuel,
//! an epoch deadline, a memory limit and a stack limit; whatever a module does, the run ends
//! with an [`Outcome`] and never panics or hangs the host. Outputs are checked as they are
//! written: a module that breaks the contract ends `invalid`, naming what it did.
//!
//! The files: `config` (the limits), `engine` (wasmtime, the pool), `ticker` (the epoch,
//! while runs are in progress), `compile` (upload: checks the ABI, compiles), `limits` (the
//! static limits on code), `isolate` (the bounded compile in a child process), `abi` (the
//! host functions), `run` (one call), `compile_rate` (compiles per org), `cache` (compiled workflows by source hash; artifacts stored and loaded back
//! only if their hash matches), `error` (faults of the engine and of uploads).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::{InstancePre, Module, ModuleExport};

mod abi;
mod cache;
mod compile;
mod compile_rate;
mod config;
mod engine;
mod error;
mod isolate;
mod limits;
mod run;
mod ticker;

pub use abi::{ABI_VERSION, IMPORT_MODULE};
pub use cache::WorkflowCache;
pub use compile::ABI_SECTION;
pub use compile_rate::CompileRate;
pub use config::WorkflowConfig;
pub use engine::Engine;
pub use error::WorkflowError;
pub use isolate::{serve_child, Compiler, COMPILE_SUBCOMMAND};

/// A compiled, checked workflow module. Cheap to clone.
#[derive(Clone)]
pub struct Workflow(Arc<Compiled>);

pub(crate) struct Compiled {
    source_hash: [u8; 32],
    module: Module,
    pre: InstancePre<abi::State>,
    route: ModuleExport,
    memory: ModuleExport,
}

impl Workflow {
    /// SHA-256 of the module source as uploaded: its identity in caches and stores.
    pub fn hash(&self) -> [u8; 32] {
        self.0.source_hash
    }
}

impl std::fmt::Debug for Workflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Workflow({})", hex::encode(&self.0.source_hash[..8]))
    }
}

/// The facts of one call a workflow may read with `get`. Keys (the routing layer fills
/// them): `caller_number`, `called_number`, `trunk_id`, `organization_id`, `timestamp`
/// (RFC 3339, UTC), `caller_name`, `number_id`, `source_ip`, `call_id`, `time.unix_ms`,
/// `time.weekday` (0 = Monday .. 6 = Sunday), `time.hour`, `time.minute` (in the org's
/// time zone), and `header.<Name>` for any header of the INVITE.
pub trait Context {
    fn get(&self, key: &str) -> Option<Cow<'_, str>>;
}

impl Context for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<Cow<'_, str>> {
        BTreeMap::get(self, key).map(|value| Cow::Borrowed(value.as_str()))
    }
}

impl Context for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<Cow<'_, str>> {
        HashMap::get(self, key).map(|value| Cow::Borrowed(value.as_str()))
    }
}

impl<C: Context + ?Sized> Context for Arc<C> {
    fn get(&self, key: &str) -> Option<Cow<'_, str>> {
        (**self).get(key)
    }
}

/// How a run ended. The first three are decisions; every other outcome is a failure, after
/// which the call takes the org's fallback (or a clear final response).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Outcome {
    /// `route` returned 1 after `select_agent`; `version: None` means the latest published.
    Selected { agent_id: String, version: Option<u32> },
    /// `route` returned 0 and made no decision: the fallback answers.
    NoDecision,
    /// `route` returned 2 after `reject`: the call is disconnected with this status.
    Rejected { status: u16 },
    /// The module trapped (`unreachable`, a bad memory access, stack overflow, ...).
    Trap { why: String },
    /// The epoch deadline (`deadline_ms`) passed.
    Timeout,
    /// The run spent its `fuel`.
    OutOfFuel,
    /// The module was refused memory past `memory_bytes` and then failed.
    OutOfMemory,
    /// The module broke the ABI contract: a bad pointer, an output over its limit,
    /// metadata that is not a JSON object, a return value that contradicts its calls.
    Invalid { why: String },
    /// No free instance: `pool_instances` runs were already under way.
    Busy,
}

impl Outcome {
    /// The metrics label.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Selected { .. } => "selected",
            Outcome::NoDecision => "no_decision",
            Outcome::Rejected { .. } => "rejected",
            Outcome::Trap { .. } => "trap",
            Outcome::Timeout => "timeout",
            Outcome::OutOfFuel => "out_of_fuel",
            Outcome::OutOfMemory => "oom",
            Outcome::Invalid { .. } => "invalid",
            Outcome::Busy => "busy",
        }
    }

    /// True unless the workflow decided (selected, no decision, rejected).
    pub fn is_failure(&self) -> bool {
        !matches!(
            self,
            Outcome::Selected { .. } | Outcome::NoDecision | Outcome::Rejected { .. }
        )
    }
}

/// Everything one run produced. The outputs (`initial_context`, `custom_metadata`,
/// `headers`) are kept only when the outcome is a decision: after a failure they are empty,
/// so half-written output never travels to an agent.
#[derive(Debug, Clone)]
#[must_use]
pub struct Run {
    pub outcome: Outcome,
    pub initial_context: String,
    pub custom_metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Extra `X-` headers for the agent leg, in the order added.
    pub headers: Vec<(String, String)>,
    pub fuel_used: u64,
    pub elapsed: Duration,
    /// `log` lines (already sent to tracing at debug level), and how many were dropped.
    pub logs: Vec<String>,
    pub logs_dropped: usize,
}

/// SHA-256, the hash that names module sources and checks stored artifacts.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests;
