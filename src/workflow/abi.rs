//! The host side of the guest ABI: the functions of import module `switchboard`, and the
//! per-run state they read the context from and write the decision into.
//!
//! Every pointer range a guest passes is checked against its memory before it is touched,
//! and every output is checked against its limit before it is kept. A guest that breaks
//! the contract stops at once with a [`Fault`] (the run ends `invalid`); the host never
//! panics on what a guest does. `HOST_FUNCTIONS` is the one table of names and signatures:
//! `compile` checks uploads against it and `linker` defines exactly it.

use std::borrow::Cow;

use serde_json::{Map, Value};
use wasmtime::wasmparser::ValType;
use wasmtime::{Caller, Linker, Memory, ResourceLimiter, Trap};

use super::{Context, WorkflowConfig};

/// The import module every host function lives in.
pub const IMPORT_MODULE: &str = "switchboard";

/// The ABI version this host speaks (`abi_version` export or `switchboard_abi` section).
pub const ABI_VERSION: u32 = 1;

/// Name, parameters and results of every host function; nothing else may be imported.
pub(super) const HOST_FUNCTIONS: &[(&str, &[ValType], &[ValType])] = &[
    ("get", &[ValType::I32; 4], &[ValType::I32]),
    ("select_agent", &[ValType::I32; 3], &[]),
    ("reject", &[ValType::I32], &[]),
    ("set_initial_context", &[ValType::I32; 2], &[]),
    ("set_custom_metadata", &[ValType::I32; 2], &[]),
    ("add_header", &[ValType::I32; 4], &[]),
    ("log", &[ValType::I32; 2], &[]),
];

/// A context key longer than this is absent: no key of ours comes close.
const MAX_KEY_BYTES: u32 = 256;
/// Agent ids are UUIDs (36 bytes); anything much longer is a guest bug.
const MAX_AGENT_ID_BYTES: u32 = 128;
/// Header names are short tokens.
const MAX_HEADER_NAME_BYTES: u32 = 64;
/// Headers of this prefix are the host's own (route kind, call ids) and must not be forged.
const RESERVED_HEADER_PREFIX: &str = "x-switchboard-";
/// Fuel a host call costs besides its bytes: about what the host does for it, in wasm
/// instructions.
const HOST_CALL_FUEL: u64 = 100;
/// `reject(0)`: decline (RFC 3261 §21.6.2), the documented default.
const DEFAULT_REJECT_STATUS: u16 = 603;

/// What `route` decided, as recorded by the host functions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Decision {
    Selected { agent_id: String, version: Option<u32> },
    Rejected { status: u16 },
}

/// Everything a run writes, kept by the host until the run ends.
#[derive(Debug, Default)]
pub(super) struct Output {
    pub decision: Option<Decision>,
    pub initial_context: String,
    pub custom_metadata: Option<Map<String, Value>>,
    pub headers: Vec<(String, String)>,
    pub logs: Vec<String>,
    pub logs_dropped: usize,
}

/// The store's data for one run.
pub(super) struct State {
    context: Box<dyn Context>,
    /// The guest's `memory`, looked up on first use.
    memory: Option<Memory>,
    limits: WorkflowConfig,
    /// The workflow's source hash, for log lines.
    workflow: [u8; 32],
    pub limiter: GrowthLimiter,
    pub output: Output,
}

impl State {
    pub fn new(context: Box<dyn Context>, limits: &WorkflowConfig, workflow: [u8; 32]) -> State {
        State {
            context,
            memory: None,
            limiter: GrowthLimiter {
                limit: limits.memory_bytes,
                refused: false,
            },
            limits: limits.clone(),
            workflow,
            output: Output::default(),
        }
    }

    /// The instance's memory, found by the runner, so host calls need no lookup by name.
    pub fn set_memory(&mut self, memory: Option<Memory>) {
        self.memory = memory;
    }
}

/// Refuses memory growth past `memory_bytes` and remembers that it did: a module that hits
/// the limit and then traps ran out of memory, whatever trap it chose.
pub(super) struct GrowthLimiter {
    limit: usize,
    pub refused: bool,
}

impl ResourceLimiter for GrowthLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.refused = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.refused = true;
        Ok(())
    }

    fn table_growing(&mut self, _current: usize, _desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // The pool bounds tables (`table_elements`); growth within it is harmless.
        Ok(true)
    }
}

/// A guest broke the contract; the run ends `invalid` with this as the reason.
#[derive(Debug, thiserror::Error)]
pub(super) enum Fault {
    #[error("{call}: {len} bytes at {ptr:#x} lie outside guest memory ({memory} bytes)")]
    OutOfBounds {
        call: &'static str,
        ptr: u32,
        len: u32,
        memory: usize,
    },
    #[error("{call}: {why}")]
    Contract { call: &'static str, why: String },
}

fn contract(call: &'static str, why: impl Into<String>) -> wasmtime::Error {
    wasmtime::Error::new(Fault::Contract { call, why: why.into() })
}

/// The linker every workflow is instantiated with: `HOST_FUNCTIONS`, nothing more.
pub(super) fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<State>> {
    let mut linker = Linker::new(engine);
    linker.func_wrap(IMPORT_MODULE, "get", get)?;
    linker.func_wrap(IMPORT_MODULE, "select_agent", select_agent)?;
    linker.func_wrap(IMPORT_MODULE, "reject", reject)?;
    linker.func_wrap(IMPORT_MODULE, "set_initial_context", set_initial_context)?;
    linker.func_wrap(IMPORT_MODULE, "set_custom_metadata", set_custom_metadata)?;
    linker.func_wrap(IMPORT_MODULE, "add_header", add_header)?;
    linker.func_wrap(IMPORT_MODULE, "log", log)?;
    Ok(linker)
}

fn get(mut caller: Caller<'_, State>, key_ptr: i32, key_len: i32, buf_ptr: i32, buf_cap: i32) -> wasmtime::Result<i32> {
    let (memory, state) = guest(&mut caller, &[key_len])?;
    let key = span(memory, "get", key_ptr, key_len)?;
    let buf = span(memory, "get", buf_ptr, buf_cap)?;
    if key.len() > MAX_KEY_BYTES as usize {
        return Ok(-1);
    }
    let Ok(key) = std::str::from_utf8(&memory[key]) else {
        return Ok(-1);
    };
    let Some(value) = state.context.get(key) else {
        return Ok(-1);
    };
    let Ok(len) = i32::try_from(value.len()) else {
        return Err(contract("get", "context value longer than 2 GiB"));
    };
    if value.len() <= buf.len() {
        memory[buf.start..buf.start + value.len()].copy_from_slice(value.as_bytes());
    }
    Ok(len)
}

fn select_agent(mut caller: Caller<'_, State>, id_ptr: i32, id_len: i32, version: i32) -> wasmtime::Result<()> {
    const CALL: &str = "select_agent";
    let (memory, state) = guest(&mut caller, &[id_len])?;
    let id = span(memory, CALL, id_ptr, id_len)?;
    if id.is_empty() || id.len() > MAX_AGENT_ID_BYTES as usize {
        return Err(contract(
            CALL,
            format!("agent id of {} bytes (expected 1..={MAX_AGENT_ID_BYTES})", id.len()),
        ));
    }
    let agent_id = printable(&memory[id]).ok_or_else(|| contract(CALL, "agent id is not printable ASCII"))?;
    // A negative version asks for the latest published one.
    let version = if version < 0 { None } else { Some(version as u32) };
    decide(
        state,
        CALL,
        Decision::Selected {
            agent_id: agent_id.to_owned(),
            version,
        },
    )
}

fn reject(mut caller: Caller<'_, State>, status: i32) -> wasmtime::Result<()> {
    const CALL: &str = "reject";
    let status = match status {
        0 => DEFAULT_REJECT_STATUS,
        400..=699 => status as u16,
        other => return Err(contract(CALL, format!("status {other} is neither 0 nor 400..=699"))),
    };
    charge(&mut caller, 0)?;
    decide(caller.data_mut(), CALL, Decision::Rejected { status })
}

fn set_initial_context(mut caller: Caller<'_, State>, ptr: i32, len: i32) -> wasmtime::Result<()> {
    const CALL: &str = "set_initial_context";
    let (memory, state) = guest(&mut caller, &[len])?;
    let text = span(memory, CALL, ptr, len)?;
    let limit = state.limits.max_initial_context_bytes;
    if text.len() > limit {
        return Err(contract(CALL, format!("{} bytes, the limit is {limit}", text.len())));
    }
    let text = std::str::from_utf8(&memory[text]).map_err(|_| contract(CALL, "not UTF-8"))?;
    state.output.initial_context = text.to_owned();
    Ok(())
}

fn set_custom_metadata(mut caller: Caller<'_, State>, ptr: i32, len: i32) -> wasmtime::Result<()> {
    const CALL: &str = "set_custom_metadata";
    let (memory, state) = guest(&mut caller, &[len])?;
    let json = span(memory, CALL, ptr, len)?;
    let limit = state.limits.max_custom_metadata_bytes;
    if json.len() > limit {
        return Err(contract(CALL, format!("{} bytes, the limit is {limit}", json.len())));
    }
    let object: Map<String, Value> =
        serde_json::from_slice(&memory[json]).map_err(|err| contract(CALL, format!("not a JSON object: {err}")))?;
    state.output.custom_metadata = Some(object);
    Ok(())
}

fn add_header(
    mut caller: Caller<'_, State>,
    name_ptr: i32,
    name_len: i32,
    value_ptr: i32,
    value_len: i32,
) -> wasmtime::Result<()> {
    const CALL: &str = "add_header";
    let (memory, state) = guest(&mut caller, &[name_len, value_len])?;
    let name = span(memory, CALL, name_ptr, name_len)?;
    let value = span(memory, CALL, value_ptr, value_len)?;
    if state.output.headers.len() >= state.limits.max_headers {
        return Err(contract(
            CALL,
            format!("more than {} headers", state.limits.max_headers),
        ));
    }
    let name = header_name(&memory[name]).map_err(|why| contract(CALL, why))?;
    let limit = state.limits.max_header_value_bytes;
    if value.len() > limit {
        return Err(contract(
            CALL,
            format!("value of `{name}` is {} bytes, the limit is {limit}", value.len()),
        ));
    }
    let value = printable(&memory[value]).ok_or_else(|| {
        contract(
            CALL,
            format!("value of `{name}` is not printable ASCII (no CR, LF or controls)"),
        )
    })?;
    state.output.headers.push((name.to_owned(), value.to_owned()));
    Ok(())
}

fn log(mut caller: Caller<'_, State>, ptr: i32, len: i32) -> wasmtime::Result<()> {
    let (memory, state) = guest(&mut caller, &[len])?;
    let line = span(memory, "log", ptr, len)?;
    if state.output.logs.len() >= state.limits.log_lines_per_run {
        state.output.logs_dropped += 1;
        return Ok(());
    }
    let kept = line.start..line.start + line.len().min(state.limits.log_line_bytes);
    let line = String::from_utf8_lossy(&memory[kept]).into_owned();
    tracing::debug!(target: "switchboard::workflow", workflow = %hex::encode(&state.workflow[..6]), "{line}");
    state.output.logs.push(line);
    Ok(())
}

/// The guest's memory and the run state, borrowed together, once the call is paid for:
/// the flat price plus the `lengths` the guest passed (at most its memory size; a length
/// past the end is a fault `span` reports, not a price).
fn guest<'a>(caller: &'a mut Caller<'_, State>, lengths: &[i32]) -> wasmtime::Result<(&'a mut [u8], &'a mut State)> {
    let memory = match caller.data().memory {
        Some(memory) => memory,
        None => {
            let Some(memory) = caller.get_export("memory").and_then(|export| export.into_memory()) else {
                return Err(contract("memory", "the module exports no memory"));
            };
            caller.data_mut().memory = Some(memory);
            memory
        }
    };
    let bytes = lengths.iter().map(|&len| u64::from(len as u32)).sum::<u64>();
    charge(caller, bytes.min(memory.data_size(&*caller) as u64))?;
    Ok(memory.data_and_store_mut(caller))
}

/// Host work is paid in fuel like guest work: a flat price per call plus a unit per byte
/// the guest hands over, so a module looping on host calls runs out of fuel as surely as
/// one looping on its own.
fn charge(caller: &mut Caller<'_, State>, bytes: u64) -> wasmtime::Result<()> {
    let price = HOST_CALL_FUEL + bytes;
    let left = caller.get_fuel()?;
    if left < price {
        caller.set_fuel(0)?;
        return Err(Trap::OutOfFuel.into());
    }
    caller.set_fuel(left - price)
}

/// A guest `(ptr, len)` as a range of its memory, or the fault naming it. Wasm addresses
/// are unsigned: a negative `i32` is an address past 2 GiB.
fn span(memory: &[u8], call: &'static str, ptr: i32, len: i32) -> wasmtime::Result<std::ops::Range<usize>> {
    let (ptr, len) = (ptr as u32, len as u32);
    let start = ptr as usize;
    match start.checked_add(len as usize) {
        Some(end) if end <= memory.len() => Ok(start..end),
        _ => Err(wasmtime::Error::new(Fault::OutOfBounds {
            call,
            ptr,
            len,
            memory: memory.len(),
        })),
    }
}

fn decide(state: &mut State, call: &'static str, decision: Decision) -> wasmtime::Result<()> {
    if let Some(made) = &state.output.decision {
        return Err(contract(call, format!("a decision was already made ({made:?})")));
    }
    state.output.decision = Some(decision);
    Ok(())
}

/// Printable ASCII (space to `~`): safe inside a SIP header, no CR/LF injection.
fn printable(bytes: &[u8]) -> Option<&str> {
    if !bytes.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

/// An `X-` header name that is a SIP token (RFC 3261 §25.1) and not one of the host's own.
fn header_name(bytes: &[u8]) -> Result<&str, Cow<'static, str>> {
    if bytes.len() > MAX_HEADER_NAME_BYTES as usize {
        return Err(format!(
            "header name of {} bytes, the limit is {MAX_HEADER_NAME_BYTES}",
            bytes.len()
        )
        .into());
    }
    let is_token = |b: &u8| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(b);
    if bytes.len() < 3 || !bytes[..2].eq_ignore_ascii_case(b"x-") || !bytes.iter().all(is_token) {
        return Err("header name must be a token starting with `X-`".into());
    }
    // Tokens are ASCII, so this cannot fail.
    let name = std::str::from_utf8(bytes).map_err(|_| Cow::Borrowed("header name is not ASCII"))?;
    if name.len() >= RESERVED_HEADER_PREFIX.len()
        && name[..RESERVED_HEADER_PREFIX.len()].eq_ignore_ascii_case(RESERVED_HEADER_PREFIX)
    {
        return Err(format!("`{name}` is reserved for the host").into());
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_must_be_x_tokens() {
        assert_eq!(header_name(b"X-Variant"), Ok("X-Variant"));
        assert_eq!(header_name(b"x-lower.case_ok"), Ok("x-lower.case_ok"));
        assert!(header_name(b"Via").is_err());
        assert!(header_name(b"X-").is_err());
        assert!(header_name(b"X-Bad Name").is_err());
        assert!(header_name(b"X-Bad:Name").is_err());
        assert!(header_name(b"X-Switchboard-Route").is_err());
    }

    #[test]
    fn header_values_refuse_line_breaks() {
        assert_eq!(printable(b"A b ~"), Some("A b ~"));
        assert_eq!(printable(b"a\r\nVia: x"), None);
        assert_eq!(printable("caf\u{e9}".as_bytes()), None);
    }

    #[test]
    fn spans_outside_memory_are_faults() {
        let memory = [0u8; 16];
        assert_eq!(span(&memory, "t", 8, 8).unwrap(), 8..16);
        assert!(span(&memory, "t", 8, 9).is_err());
        assert!(span(&memory, "t", -1, 1).is_err());
        assert!(span(&memory, "t", 0, -1).is_err());
    }
}
