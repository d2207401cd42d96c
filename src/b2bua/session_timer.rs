//! Session timers (RFC 4028): the interval a call is kept alive without a refresh. The
//! B2BUA relays Session-Expires and Min-SE as they are (the endpoints negotiate the refresher
//! between themselves); it refuses intervals below its own minimum with 422 and Min-SE
//! (§8.1 for the INVITE, §9 for refreshes), and it ends both legs with BYE when an interval
//! runs out with no refresh (§10), so a peer that vanished never leaves a zombie call.
//!
//! It does not send refreshes of its own: a call whose endpoints both ignore timers simply
//! has none, and the call-duration cap is its backstop.

use std::time::{Duration, Instant};

use super::call::{CallKey, CallTimer};
use super::B2bua;
use crate::sip::{HeaderName, Message};

impl B2bua {
    /// RFC 4028 §8.1/§9: a Session-Expires below our minimum must be refused with 422.
    pub(super) fn below_min_se(&self, request: &Message) -> bool {
        request
            .header(HeaderName::SessionExpires)
            .and_then(delta_seconds)
            .is_some_and(|se| se < self.config.min_session_expires_secs)
    }

    /// Start (or restart, after a refresh) an answered call's session interval. If it runs out,
    /// [`CallTimer::SessionExpiry`] ends the call; an older deadline that fires after a
    /// refresh finds the session's deadline moved on and does nothing.
    pub(super) fn arm_session_timer(&mut self, now: Instant, key: CallKey) {
        let Some(session) = self.calls.get_mut(&key).and_then(|c| c.session_mut()) else {
            return;
        };
        let Some(seconds) = session.expires else { return };
        let deadline = now + Duration::from_secs(u64::from(seconds));
        session.deadline = Some(deadline);
        self.schedule(key, deadline, CallTimer::SessionExpiry);
    }
}

/// `Session-Expires: 1800;refresher=uac` -> 1800 (the delta-seconds before any parameter).
pub fn delta_seconds(value: &[u8]) -> Option<u32> {
    let digits = value.split(|b| *b == b';').next()?;
    std::str::from_utf8(digits).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::delta_seconds;

    #[test]
    fn delta_seconds_reads_the_interval_and_ignores_parameters() {
        assert_eq!(delta_seconds(b"1800;refresher=uac"), Some(1800));
        assert_eq!(delta_seconds(b" 90 "), Some(90));
        assert_eq!(delta_seconds(b"soon"), None);
        assert_eq!(delta_seconds(b""), None);
    }
}
