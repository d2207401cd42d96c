//! ab-split: sends 80% of callers to version A of an agent and 20% to version B. The split
//! is by an FNV-1a hash of `caller_number`, so a caller who calls back gets the same
//! variant. The variant travels to the agent as its initial context, as custom metadata
//! (`{"variant":"A"}`) and as an `X-AB-Variant` header.
#![no_std]

mod abi;

/// The agent under test and its two published versions. Edit these for your own test.
const AGENT: &str = "66666666-6666-4666-8666-666666666666";
const VERSION_A: u32 = 3;
const VERSION_B: u32 = 4;
/// Percent of callers that get version A.
const PERCENT_A: u32 = 80;

struct Variant {
    version: u32,
    initial_context: &'static str,
    metadata: &'static str,
    label: &'static str,
}

const A: Variant = Variant {
    version: VERSION_A,
    initial_context: "ab-split variant A",
    metadata: r#"{"variant":"A","experiment":"ab-split"}"#,
    label: "A",
};
const B: Variant = Variant {
    version: VERSION_B,
    initial_context: "ab-split variant B",
    metadata: r#"{"variant":"B","experiment":"ab-split"}"#,
    label: "B",
};

#[no_mangle]
pub extern "C" fn route() -> i32 {
    let mut buf = [0u8; 64];
    // An absent (or absurdly long) number hashes as empty: all anonymous callers share a variant.
    let caller = abi::get("caller_number", &mut buf).unwrap_or(&[]);
    let variant = if fnv1a(caller) % 100 < PERCENT_A { &A } else { &B };
    abi::set_initial_context(variant.initial_context);
    abi::set_custom_metadata(variant.metadata);
    abi::add_header("X-AB-Variant", variant.label);
    abi::select_agent(AGENT, Some(variant.version));
    abi::SELECTED
}

/// 32-bit FNV-1a: tiny, and spreads phone numbers that differ in one digit.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash, &b| (hash ^ u32::from(b)).wrapping_mul(0x0100_0193))
}
