//! area-code: routes a North American caller by the area code (NPA) of `caller_number`
//! (E.164, `+1NPANXXXXXX`). Known NPAs select their region's agent (latest version);
//! any other caller, or a number that is not `+1` and ten digits, gets no decision, so the
//! org's fallback answers.
#![no_std]

mod abi;

/// NPA -> agent. Edit this table to route your own regions.
const REGIONS: &[(&[u8; 3], &str)] = &[
    // New York City
    (b"212", NEW_YORK),
    (b"646", NEW_YORK),
    (b"718", NEW_YORK),
    (b"917", NEW_YORK),
    // San Francisco Bay Area
    (b"415", BAY_AREA),
    (b"510", BAY_AREA),
    (b"628", BAY_AREA),
    // Chicago
    (b"312", CHICAGO),
    (b"773", CHICAGO),
];

const NEW_YORK: &str = "33333333-3333-4333-8333-333333333333";
const BAY_AREA: &str = "44444444-4444-4444-8444-444444444444";
const CHICAGO: &str = "55555555-5555-4555-8555-555555555555";

#[no_mangle]
pub extern "C" fn route() -> i32 {
    let mut buf = [0u8; 32];
    let Some(caller) = abi::get("caller_number", &mut buf) else {
        return abi::NO_DECISION;
    };
    let Some(npa) = npa(caller) else {
        abi::log("caller_number is not +1 and ten digits");
        return abi::NO_DECISION;
    };
    match REGIONS.iter().find(|(code, _)| *code == npa) {
        Some((_, agent)) => {
            abi::select_agent(agent, None);
            abi::SELECTED
        }
        None => abi::NO_DECISION,
    }
}

/// The area code of a `+1` number with ten digits.
fn npa(number: &[u8]) -> Option<&[u8; 3]> {
    let digits = number.strip_prefix(b"+1")?;
    if digits.len() != 10 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits[..3].try_into().ok()
}
