//! In-dialog traffic: ACK on each leg, BYE from either side ending both, and every other
//! request (re-INVITE, UPDATE, PRACK, INFO, OPTIONS, REFER) relayed to the other leg with
//! its answer relayed back. Which leg a request belongs to is decided by its Call-ID and
//! tags, never by the socket it came on.

use std::time::Instant;

use bytes::Bytes;

use super::call::{CallKey, CallTimer, Outcome, PendingReinvite, Side, State};
use super::relay;
use super::reply_peer;
use super::{B2bua, CallError, EndedBy, ReferPolicy, Role};
use crate::sip::{response_for, HeaderName, Message, Method};
use crate::transaction::{TxEvent, TxId};

impl B2bua {
    pub(super) fn handle_in_dialog(&mut self, now: Instant, request: Message, server: TxId) {
        let Some((key, side)) = self.dialog_of(&request) else {
            self.refuse_request(now, server, &request, &CallError::NoSuchDialog);
            return;
        };
        let method = request.method().cloned().unwrap_or(Method::Options);
        match method {
            Method::Bye => {
                let ok = response_for(&request, 200, "OK").build();
                self.respond(now, server, &ok);
                if self.calls.get(&key).is_some_and(|c| c.is_early()) {
                    // A BYE in an early dialog (RFC 3261 §15): the INVITE still needs its
                    // final answer and the callee its CANCEL, or both would hang.
                    let error = match side {
                        Side::Caller => CallError::Cancelled,
                        Side::Callee => CallError::AgentGaveUp,
                    };
                    self.fail_caller(now, key, &error);
                    self.cancel_callee_leg(now, key);
                    return;
                }
                self.bye(now, key, side.other());
                let Some(direction) = self.calls.get(&key).map(|c| c.direction) else {
                    return;
                };
                self.finish(key, EndedBy::party(side, direction));
            }
            Method::Refer if self.config.refer == ReferPolicy::Refuse => {
                self.refuse_request(now, server, &request, &CallError::ReferRefused)
            }
            Method::Invite | Method::Update if self.below_min_se(&request) => {
                self.refuse_request(now, server, &request, &CallError::SessionIntervalTooSmall)
            }
            // RFC 3261 §14.2: one offer/answer at a time; the other side retries later.
            Method::Invite if self.reinvite_in_progress(key) => {
                self.refuse_request(now, server, &request, &CallError::RequestPending)
            }
            _ => self.relay(now, key, side, request, server),
        }
    }

    /// The call and side a request with a To tag belongs to.
    pub(super) fn dialog_of(&self, request: &Message) -> Option<(CallKey, Side)> {
        let (key, side) = self.calls.find(request.call_id()?)?;
        let call = self.calls.get(&key)?;
        let tag = request.to_tag()?;
        (call.leg(side).local_tag[..] == *tag).then_some((key, side))
    }

    /// Relay a request to the other leg in a new client transaction.
    fn relay(&mut self, now: Instant, key: CallKey, from_side: Side, request: Message, server: TxId) {
        let to_side = from_side.other();
        let Some(transport) = self.calls.get(&key).map(|c| c.leg(to_side).peer.transport) else {
            return;
        };
        let (via, branch) = self.new_via(transport);
        let contact = self.contact(transport).to_owned();
        let Some(call) = self.calls.get_mut(&key) else { return };
        let method = request.method().cloned().unwrap_or(Method::Options);
        let rack_cseq = (method == Method::Prack).then(|| match to_side {
            Side::Callee => Some(call.invite_cseq),
            Side::Caller => call.caller_invite().and_then(|i| i.cseq().ok()).map(|c| c.seq),
        });
        let leg = call.leg_mut(to_side);
        let cseq = leg.next_cseq();
        if method == Method::Invite {
            leg.pending_reinvite = Some(Box::new(PendingReinvite {
                cseq,
                ok: None,
                ack: None,
            }));
        }
        let builder = relay::in_dialog(leg, method, cseq, &via, &contact);
        let relayed = relay::relay_request(&request, builder, rack_cseq.flatten());
        let peer = leg.peer;
        self.send_request(now, key, Role::Relay { server, request }, &relayed, branch, peer);
    }

    /// The answer to a relayed request came back (or never will).
    pub(super) fn on_relay_event(
        &mut self,
        now: Instant,
        key: CallKey,
        id: TxId,
        server: TxId,
        request: Message,
        event: TxEvent,
    ) {
        // The answer goes back on the requester's leg, with our Contact for that leg.
        let requester = self.dialog_of(&request).map_or(Side::Caller, |(_, side)| side);
        let contact = self.contact(self.leg_transport(key, requester)).to_owned();
        let response = match event {
            TxEvent::Provisional(r) | TxEvent::Final(r) => r,
            TxEvent::Retransmitted2xx(_) => return,
            TxEvent::Timeout | TxEvent::TransportError => {
                self.refuse_request(now, server, &request, &CallError::RelayTimeout);
                if request.method() == Some(&Method::Invite) {
                    // That offer/answer is over: the next re-INVITE must not get 491.
                    self.forget_reinvites(key);
                }
                return;
            }
        };
        let status = response.status().unwrap_or(500);
        let method = request.method().cloned();
        let reinvite_ok = (200..300).contains(&status) && method == Some(Method::Invite);
        if status < 200 || reinvite_ok {
            // Keep waiting for the final answer, or for the 2xx's retransmissions.
            let request = request.clone();
            self.tx.set_role(id, key, Role::Relay { server, request });
        }
        // Our tag on the requester's leg, which the request's To names: shared, not copied.
        let written = request.to_tag().unwrap_or_default();
        let tag = match self.calls.get(&key).map(|c| &c.leg(requester).local_tag) {
            Some(ours) if ours[..] == *written => ours.clone(),
            _ => Bytes::copy_from_slice(written),
        };
        let relayed = relay::relay_response(&request, &response, &tag, &contact);
        self.respond(now, server, &relayed);
        if reinvite_ok {
            self.remember_reinvite_ok(key, &request, relayed.to_bytes());
        }
        if (200..300).contains(&status) && matches!(method, Some(Method::Invite | Method::Update)) {
            // A session refresh (RFC 4028 §10): the timer starts over.
            let expires = response
                .header(HeaderName::SessionExpires)
                .and_then(super::session_timer::delta_seconds);
            if let Some(call) = self.calls.get_mut(&key) {
                call.session_refreshed(expires);
            }
            self.arm_session_timer(now, key);
        }
        if status >= 300 && method == Some(Method::Invite) {
            // The failed re-INVITE's ACK is the transaction's; nothing to relay later.
            self.forget_reinvites(key);
        }
    }

    /// An ACK that no transaction absorbed: for a 2xx to an INVITE.
    pub(super) fn handle_ack(&mut self, now: Instant, ack: &Message) {
        let Some((key, side)) = self.dialog_of(ack) else { return };
        let Some(call) = self.calls.get_mut(&key) else { return };
        if side == Side::Caller && matches!(call.state, State::Answered(_)) {
            // The caller confirmed our 2xx: stop resending it, ACK the callee's.
            self.ack_callee_with_body(key, ack);
            let forget = now + self.config.timers.timeout();
            self.schedule(key, forget, CallTimer::ForgetAck);
            return;
        }
        // The ACK of a relayed re-INVITE's 2xx: relay it once, keep it for the 2xx's resends.
        let to_side = side.other();
        let leg = call.leg(to_side);
        let Some(pending) = leg.pending_reinvite.as_deref().filter(|p| p.ack.is_none()) else {
            return;
        };
        let (cseq, transport) = (pending.cseq, leg.peer.transport);
        let (via, _) = self.new_via(transport);
        let contact = self.contact(transport).to_owned();
        let Some(call) = self.calls.get_mut(&key) else { return };
        let leg = call.leg_mut(to_side);
        let relayed = relay::relay_request(ack, relay::in_dialog(leg, Method::Ack, cseq, &via, &contact), None);
        let bytes = relayed.to_bytes();
        if let Some(pending) = leg.pending_reinvite.as_deref_mut() {
            pending.ok = None;
            pending.ack = Some(bytes.clone());
        }
        let to = leg.peer;
        self.out.send(bytes, to);
        let _ = now;
    }

    /// Keep our relayed 2xx to a re-INVITE, to pass on the answerer's resends of its own.
    fn remember_reinvite_ok(&mut self, key: CallKey, request: &Message, ok: Bytes) {
        let Some((_, from_side)) = self.dialog_of(request) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&key) else { return };
        let to = reply_peer(request, call.leg(from_side).peer);
        if let Some(pending) = call.leg_mut(from_side.other()).pending_reinvite.as_deref_mut() {
            pending.ok = Some((ok, to));
        }
    }

    /// The answerer of a relayed re-INVITE resent its 2xx: our ACK was lost (resend it), or
    /// the requester's ACK has not come yet (resend our 2xx to it).
    pub(super) fn on_reinvite_2xx_again(&mut self, key: CallKey) {
        let Some(call) = self.calls.get(&key) else { return };
        for leg in [&call.caller, &call.callee] {
            if let Some((bytes, to)) = leg.reinvite_resend() {
                self.out.send(bytes, to);
            }
        }
    }

    /// ACK the callee's 2xx to our INVITE (RFC 3261 §13.2.2.4), carrying the caller ACK's
    /// body when it has one (a late offer's answer): the call is confirmed.
    fn ack_callee_with_body(&mut self, key: CallKey, caller_ack: &Message) {
        let transport = self.leg_transport(key, Side::Callee);
        let (via, _) = self.new_via(transport);
        let contact = self.contact(transport).to_owned();
        let Some(call) = self.calls.get_mut(&key) else { return };
        let answered = match call.take_state() {
            State::Answered(answered) => answered,
            other => {
                call.state = other;
                return;
            }
        };
        let builder = relay::in_dialog(&call.callee, Method::Ack, call.invite_cseq, &via, &contact);
        let ack = relay::relay_request(caller_ack, builder, None).to_bytes();
        call.state = State::Confirmed(answered.confirm(ack.clone()));
        let to = call.callee.peer;
        self.out.send(ack, to);
    }

    /// ACK the callee's 2xx with no body (the caller is gone); the ACK, to resend.
    pub(super) fn ack_callee(&mut self, key: CallKey) -> Option<Bytes> {
        let transport = self.leg_transport(key, Side::Callee);
        let (via, _) = self.new_via(transport);
        let contact = self.contact(transport).to_owned();
        let call = self.calls.get(&key)?;
        let ack = relay::in_dialog(&call.callee, Method::Ack, call.invite_cseq, &via, &contact)
            .build()
            .to_bytes();
        let to = call.callee.peer;
        self.out.send(ack.clone(), to);
        Some(ack)
    }

    /// The callee resent its 2xx: our ACK was lost, send it again.
    pub(super) fn resend_callee_ack(&mut self, callee_call_id: &Bytes) {
        let Some((key, Side::Callee)) = self.calls.find(callee_call_id) else {
            return;
        };
        let Some(call) = self.calls.get(&key) else { return };
        if let State::Confirmed(confirmed) = &call.state {
            if let Some(ack) = &confirmed.ack {
                self.out.send(ack.clone(), call.callee.peer);
            }
        }
    }

    fn forget_reinvites(&mut self, key: CallKey) {
        if let Some(call) = self.calls.get_mut(&key) {
            call.callee.pending_reinvite = None;
            call.caller.pending_reinvite = None;
        }
    }

    /// Whether a re-INVITE relayed on either leg still awaits its final answer.
    fn reinvite_in_progress(&self, key: CallKey) -> bool {
        self.calls
            .get(&key)
            .is_some_and(|c| c.caller.reinvite_unanswered() || c.callee.reinvite_unanswered())
    }

    /// Send BYE on one leg (its answer needs no action).
    pub(super) fn bye(&mut self, now: Instant, key: CallKey, side: Side) {
        let transport = self.leg_transport(key, side);
        let (via, branch) = self.new_via(transport);
        let contact = self.contact(transport).to_owned();
        let Some(call) = self.calls.get_mut(&key) else { return };
        let leg = call.leg_mut(side);
        let cseq = leg.next_cseq();
        let bye = relay::in_dialog(leg, Method::Bye, cseq, &via, &contact).build();
        let peer = leg.peer;
        self.send_request(now, key, Role::Fire, &bye, branch, peer);
    }

    /// End an answered call.
    pub(super) fn finish(&mut self, key: CallKey, ended_by: EndedBy) {
        self.end_call(key, Outcome::Answered, 200, ended_by);
    }
}
