//! Answering a carrier's digest challenge to our INVITE on an outbound call (RFC 3261
//! §22.2 for 401 `WWW-Authenticate` -> `Authorization`, §22.3 for 407 `Proxy-Authenticate`
//! -> `Proxy-Authorization`). The transaction layer has already ACKed the challenge (it is
//! a non-2xx final, §17.1.1.3); we resend the INVITE with the same Call-ID, From tag and
//! To, CSeq + 1 (§8.1.3.5), a new branch, and the answer.
//!
//! Once per challenge, never a loop: each kind of challenge (401, 407) is answered once; a
//! second one of the same kind after we answered means the credentials were refused, and
//! the call fails with the mapped status — unless it says `stale=true` (RFC 2617 §3.2.1:
//! only the nonce expired), which is answered once more, once per call. A call without
//! credentials, a challenge we cannot compute, or a caller who has already hung up also
//! ends the call (see `on_callee_failure`).

use std::time::Instant;

use bytes::Bytes;

use super::call::{Call, CallKey, Side, State};
use super::{B2bua, Role};
use crate::sip::{HeaderName, Message};

impl B2bua {
    /// A 401/407 to our INVITE: resend it with credentials if the rules above allow.
    /// Returns whether a new INVITE went out (false: the challenge is the call's final answer).
    pub(super) fn answer_challenge(&mut self, now: Instant, key: CallKey, response: &Message) -> bool {
        let transport = self.leg_transport(key, Side::Callee);
        let (via, branch) = self.new_via(transport);
        let cnonce = self.new_token();
        let Some(call) = self.calls.get_mut(&key) else {
            return false;
        };
        let Some(invite) = retry_with_credentials(call, response, &via, cnonce.as_str()) else {
            return false;
        };
        let peer = call.callee.peer;
        let tx = self.send_request(now, key, Role::PlacedInvite, &invite, branch, peer);
        if let Some(invitation) = self.calls.get_mut(&key).and_then(|c| c.invitation_mut()) {
            invitation.tx = tx;
        }
        true
    }
}

/// The INVITE that answers `challenge` (and the call updated to it), or None when the
/// rules say the challenge ends the call.
fn retry_with_credentials(call: &mut Call, challenge: &Message, via: &str, cnonce: &str) -> Option<Message> {
    let (challenge_header, answer_header, kind) = match challenge.status() {
        Some(401) => (HeaderName::WwwAuthenticate, HeaderName::Authorization, 0),
        Some(407) => (HeaderName::ProxyAuthenticate, HeaderName::ProxyAuthorization, 1),
        _ => return None,
    };
    // Only while the caller still waits: a call being cancelled ends on its challenge.
    let State::Ringing(ringing) = &mut call.state else {
        return None;
    };
    let previous: &Message = &ringing.placed.request;
    let outbound = call.outbound.as_deref_mut()?;
    let credentials = outbound.credentials.as_ref()?;
    let offers: Vec<String> = challenge
        .headers(challenge_header)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    let parsed = crate::security::preferred_challenge(offers.iter().map(String::as_str)).ok()?;
    if outbound.answered[kind] {
        if !parsed.stale || outbound.stale_answered {
            return None;
        }
        outbound.stale_answered = true;
    }
    outbound.answered[kind] = true;
    let uri = String::from_utf8_lossy(previous.request_uri().unwrap_or_default()).into_owned();
    let value = parsed.answer(
        "INVITE",
        &uri,
        &credentials.username,
        &credentials.password.0,
        cnonce,
        1,
    );
    let cseq = call.invite_cseq + 1;
    let mut invite = previous.clone();
    invite.remove_first(HeaderName::Via);
    invite.push_header_top(HeaderName::Via, Bytes::copy_from_slice(via.as_bytes()));
    invite.set_header(HeaderName::CSeq, Bytes::from(format!("{cseq} INVITE")));
    // A newer answer of the same kind replaces the older; the other kind's stays (a proxy's
    // and the carrier's own challenge may both have to be answered).
    invite.remove_all(answer_header);
    invite.append_header(answer_header, Bytes::from(value));
    *ringing.placed.request = invite.clone();
    call.invite_cseq = cseq;
    call.callee.local_cseq = call.callee.local_cseq.max(cseq);
    Some(invite)
}
