//! The switchboard workflow ABI, version 1, as safe Rust: the host functions of import
//! module `switchboard` and the version marker. Guest pointers are addresses in this
//! module's own memory, so `as i32` on a pointer or a length is exact on wasm32.

#[link(wasm_import_module = "switchboard")]
extern "C" {
    #[link_name = "get"]
    fn host_get(key_ptr: i32, key_len: i32, buf_ptr: i32, buf_cap: i32) -> i32;
    #[link_name = "select_agent"]
    fn host_select_agent(id_ptr: i32, id_len: i32, version: i32);
    #[link_name = "set_initial_context"]
    fn host_set_initial_context(ptr: i32, len: i32);
    #[link_name = "set_custom_metadata"]
    fn host_set_custom_metadata(ptr: i32, len: i32);
    #[link_name = "add_header"]
    fn host_add_header(name_ptr: i32, name_len: i32, val_ptr: i32, val_len: i32);
    #[link_name = "log"]
    fn host_log(ptr: i32, len: i32);
}

/// ABI version 1, as the one-byte `switchboard_abi` custom section (a Rust static exports
/// its address, not its value, so the `abi_version` global is for hand-written modules).
#[link_section = "switchboard_abi"]
#[used]
static ABI_VERSION: [u8; 1] = [1];

/// `route`'s return values.
#[allow(dead_code)]
pub const NO_DECISION: i32 = 0;
pub const SELECTED: i32 = 1;

/// The value of a context key copied into `buf`, or `None` if absent or longer than `buf`.
pub fn get<'a>(key: &str, buf: &'a mut [u8]) -> Option<&'a [u8]> {
    // SAFETY: both ranges are live borrows of this module's memory; the host writes at most
    // `buf.len()` bytes into `buf` and only reads `key`.
    let len = unsafe { host_get(key.as_ptr() as i32, key.len() as i32, buf.as_mut_ptr() as i32, buf.len() as i32) };
    let len = usize::try_from(len).ok()?;
    buf.get(..len)
}

/// The decision: `version: None` means the agent's latest published version.
pub fn select_agent(agent_id: &str, version: Option<u32>) {
    let version = version.map_or(-1, |v| v as i32);
    // SAFETY: the host only reads the borrowed range.
    unsafe { host_select_agent(agent_id.as_ptr() as i32, agent_id.len() as i32, version) }
}

#[allow(dead_code)]
pub fn set_initial_context(text: &str) {
    // SAFETY: the host only reads the borrowed range.
    unsafe { host_set_initial_context(text.as_ptr() as i32, text.len() as i32) }
}

#[allow(dead_code)]
pub fn set_custom_metadata(json_object: &str) {
    // SAFETY: the host only reads the borrowed range.
    unsafe { host_set_custom_metadata(json_object.as_ptr() as i32, json_object.len() as i32) }
}

#[allow(dead_code)]
pub fn add_header(name: &str, value: &str) {
    // SAFETY: the host only reads the borrowed ranges.
    unsafe { host_add_header(name.as_ptr() as i32, name.len() as i32, value.as_ptr() as i32, value.len() as i32) }
}

#[allow(dead_code)]
pub fn log(line: &str) {
    // SAFETY: the host only reads the borrowed range.
    unsafe { host_log(line.as_ptr() as i32, line.len() as i32) }
}

/// A panic in a workflow ends its run as a trap; the call takes the org's fallback.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
