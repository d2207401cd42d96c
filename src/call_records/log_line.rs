//! One INFO line per ended call (target `switchboard::calls`, message `call ended`): both
//! Call-IDs, direction, org, trunk, agent, route, the numbers (masked unless `[log]
//! mask_numbers = false`), outcome, status, who hung up, and how long the call lasted. The
//! writer thread emits it as it stores the record, so the call path pays nothing for it.

use super::wire;

/// Log one ended call; `org` and `trunk` as the record names them.
pub(super) fn ended(call: &wire::Call<'_>, call_id: &str, org: Option<&str>, trunk: Option<&str>, mask: bool) {
    let number = |n: Option<&str>| match n {
        Some(n) if mask => masked(n),
        Some(n) => n.to_owned(),
        None => "-".to_owned(),
    };
    let talked_ms = call.answered_ms.map_or(0, |a| call.ended_ms - a);
    tracing::info!(
        target: "switchboard::calls",
        call_id = %call_id,
        livekit_call_id = %call.livekit_call_id.unwrap_or("-"),
        direction = %call.direction,
        org = %org.unwrap_or("-"),
        trunk = %trunk.unwrap_or("-"),
        agent = %call.agent_id.unwrap_or("-"),
        route = %call.route_kind,
        called = %number(call.called),
        calling = %number(call.caller),
        outcome = %call.outcome,
        status = call.status,
        reason = ?call.reason,
        ended_by = %call.ended_by,
        duration_ms = call.ended_ms - call.invite_ms,
        talked_ms,
        "call ended"
    );
}

/// `+15551234567` -> `+1******4567`: the country and the last four digits, enough to tell
/// calls apart in a log without keeping who called whom. Text that is not a number
/// (`anonymous`) is shown as it is.
pub fn masked(number: &str) -> String {
    if !number.trim_start_matches('+').bytes().all(|b| b.is_ascii_digit()) {
        return number.to_owned();
    }
    let kept_head = match crate::sip::e164::country_code(number) {
        Some(code) => 1 + code.len(),
        None => usize::from(number.starts_with('+')),
    };
    let kept_tail = number.len().saturating_sub(kept_head).min(4);
    let hidden = number.len() - kept_head - kept_tail;
    format!(
        "{}{}{}",
        &number[..kept_head],
        "*".repeat(hidden),
        &number[number.len() - kept_tail..]
    )
}

#[cfg(test)]
mod tests {
    use super::masked;

    #[test]
    fn a_masked_number_keeps_its_country_and_last_four_digits() {
        assert_eq!(masked("+15551234567"), "+1******4567");
        assert_eq!(masked("+442071838750"), "+44******8750");
        assert_eq!(masked("5551234567"), "******4567");
        assert_eq!(masked("123"), "123");
        assert_eq!(masked("anonymous"), "anonymous");
        assert_eq!(masked("+"), "+");
    }
}
