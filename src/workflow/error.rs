//! Why the sandbox refused to start, to accept a module, or to load a stored artifact.
//!
//! Failures *inside* a run are not errors: they are `Outcome`s (the call still gets its
//! fallback). These are the faults of the engine and of uploads, each naming what is wrong
//! so that an API answer can pass the message on to whoever wrote the module.

/// A boxed foreign error: wasmtime's errors do not implement `std::error::Error` themselves.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error("invalid workflow config: {knob}: {why}")]
    Config { knob: &'static str, why: &'static str },
    #[error("the wasm engine could not start")]
    Engine(#[source] Cause),

    #[error("module too large: {size} bytes, the limit is {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("module does not compile: {reason}")]
    DoesNotCompile { reason: String },
    #[error("missing export `{name}` ({expected})")]
    MissingExport { name: &'static str, expected: &'static str },
    #[error("import `{module}::{name}` not provided (the host provides functions of module `switchboard` only: get, select_agent, reject, set_initial_context, set_custom_metadata, add_header, log)")]
    ImportNotProvided { module: String, name: String },
    #[error("wrong signature of `{name}`: expected {expected}, found {found}")]
    WrongSignature {
        name: String,
        expected: String,
        found: String,
    },
    #[error("abi_version {found} unsupported (expected {expected})")]
    AbiVersion { found: i64, expected: u32 },
    #[error("memory of {declared} bytes at start exceeds the limit of {limit} bytes")]
    MemoryTooLarge { declared: u64, limit: usize },
    #[error("module declares {count} memories; a workflow has exactly one")]
    MemoryCount { count: usize },

    #[error("module over the limit {limit}: {found} in {}, the limit is {max}", .function.map_or_else(|| "the module".to_owned(), |i| format!("function {i}")))]
    OverLimit {
        limit: &'static str,
        function: Option<u32>,
        found: u64,
        max: u64,
    },
    #[error("compiling the module needed more than compile_memory_bytes ({limit} bytes)")]
    CompileMemory { limit: u64 },
    #[error("compiling the module took longer than compile_timeout_ms ({limit_ms} ms)")]
    CompileTimeout { limit_ms: u64 },
    #[error("the workflow compiler failed: {why}")]
    Compiler { why: String },
    #[error("too many workflow compiles: {limit} a minute per org; retry in {retry_after_secs} s")]
    CompileRate { limit: u32, retry_after_secs: u64 },
    #[error("the workflow compiler is busy: {waiting} compiles already wait (max_waiting_compiles); retry in {retry_after_secs} s")]
    CompileQueueFull { waiting: u32, retry_after_secs: u64 },

    #[error("cannot serialize the compiled workflow")]
    Serialize(#[source] Cause),
    #[error("compiled artifact refused: its SHA-256 is not the one recorded when it was written")]
    ArtifactHashMismatch,
    #[error("compiled artifact does not load into this engine (recompile from source)")]
    Deserialize(#[source] Cause),
}

impl WorkflowError {
    /// A wasmtime error as a `#[source]`.
    pub(super) fn cause(err: wasmtime::Error) -> Cause {
        err.into_boxed_dyn_error()
    }
}
