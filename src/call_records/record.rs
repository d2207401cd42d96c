//! One call record: what an operator needs to explain a call afterwards, answered or not.

use serde::{Deserialize, Serialize};

/// A finished call, as kept in the store and shown by `GET /core/calls`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// `call_` and 16 hex digits: the INVITE's arrival in milliseconds, shifted left 20
    /// bits, and a sequence number (so ids sort by time).
    pub id: String,
    /// `inbound` (carrier to agent) or `outbound` (agent to carrier).
    pub direction: String,
    /// The Call-ID of the leg that reached us (the carrier's, for inbound calls).
    pub call_id: String,
    /// The Call-ID on the LiveKit side, as LiveKit shows it (`sip.callID`): the agent leg
    /// switchboard placed on an inbound call, `call_id` itself on an outbound one. Unset
    /// when the call was refused before an agent leg existed.
    pub livekit_call_id: Option<String>,
    /// Unset when the call could not be attributed to an org (an unknown number from an
    /// address that is no trunk's).
    pub org_id: Option<String>,
    pub trunk_id: Option<String>,
    pub called_number: Option<String>,
    pub calling_number: Option<String>,
    /// `static`, `workflow`, `fallback`, or `rejected` when no agent was chosen.
    pub route_kind: String,
    pub agent_id: Option<String>,
    pub agent_version_id: Option<String>,
    /// The final status the caller got (200 for an answered call).
    pub status: u16,
    pub reason: String,
    /// `answered`, `busy`, `no_answer`, `failed`, `canceled`, `unknown_number`,
    /// `no_agent`, `rejected`, and for outbound calls `denied` (caller ID, destination,
    /// media or authorisation refused) and `throttled` (a trunk limit).
    pub outcome: String,
    /// `caller`, `agent` or `switchboard`.
    pub ended_by: String,
    /// RFC 3339 UTC timestamps with milliseconds.
    pub invite_at: String,
    pub ringing_at: Option<String>,
    pub answered_at: Option<String>,
    pub ended_at: String,
    /// The instance that handled the call (`[store] instance`); several share one list
    /// when they share a PostgreSQL store. Unset on records from before it was kept.
    #[serde(default)]
    pub instance: Option<String>,
}

/// Milliseconds since the Unix epoch, as RFC 3339 UTC with milliseconds. By hand (days to
/// civil date, H. Hinnant's algorithm): four of these per record, and a general formatter
/// costs more than the rest of the record together.
pub fn rfc3339_ms(unix_ms: i64) -> String {
    let ms = unix_ms.rem_euclid(1000);
    let secs = unix_ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (hour, minute, second) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut out = String::with_capacity(24);
    digits(&mut out, year, 4);
    for (sep, value, width) in [
        ('-', month, 2),
        ('-', day, 2),
        ('T', hour, 2),
        (':', minute, 2),
        (':', second, 2),
        ('.', ms, 3),
    ] {
        out.push(sep);
        digits(&mut out, value, width);
    }
    out.push('Z');
    out
}

/// `value` in decimal, zero-padded to `width` (values here are never negative).
fn digits(out: &mut String, value: i64, width: u32) {
    let mut divisor = 10i64.pow(width - 1);
    let mut value = value.max(0);
    while value / divisor >= 10 {
        divisor *= 10;
    }
    while divisor > 0 {
        out.push(char::from(b'0' + (value / divisor) as u8));
        value %= divisor;
        divisor /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::rfc3339_ms;

    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_764_000_000_123), "2025-11-24T16:00:00.123Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z", "a leap day");
    }

    proptest::proptest! {
        #[test]
        fn the_hand_formatter_agrees_with_the_time_crate(ms in 0i64..8_000_000_000_000) {
            let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap();
            let format = time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            );
            proptest::prop_assert_eq!(rfc3339_ms(ms), at.format(&format).unwrap());
        }
    }
}
