//! While the leg we placed has no final answer: its INVITE's provisionals relayed to the
//! caller, its 2xx relayed as our answer (the call moves to `Answered`), its failure mapped
//! for the caller (see `failure.rs`); and CANCEL, from the caller or on its behalf, moving
//! the call to `Cancelling` until that leg gives up (RFC 3261 §9). A 2xx that crosses our
//! CANCEL is ACKed and BYEd, so the callee never runs a call nobody is on.

use std::time::Instant;

use bytes::Bytes;

use super::call::{CallKey, CallTimer, Outcome, Side, State, Verdict};
use super::relay;
use super::{B2bua, CallError, CallEvent, EndedBy, Role};
use crate::sip::{response_for, Message};
use crate::transaction::{TxEvent, TxId};

impl B2bua {
    /// What the INVITE transaction of the leg we placed reports.
    pub(super) fn on_placed_invite_event(&mut self, now: Instant, key: CallKey, event: TxEvent) {
        match event {
            TxEvent::Provisional(response) => self.on_callee_provisional(now, key, &response),
            TxEvent::Final(response) if response.status().is_some_and(|s| s < 300) => {
                self.on_callee_answer(now, key, &response)
            }
            TxEvent::Final(response) => {
                let challenged = matches!(response.status(), Some(401 | 407));
                if challenged && self.answer_challenge(now, key, &response) {
                    return;
                }
                self.on_callee_failure(now, key, &response);
            }
            TxEvent::Retransmitted2xx(response) => {
                if let Some(call_id) = response.call_id() {
                    let call_id = Bytes::copy_from_slice(call_id);
                    self.resend_callee_ack(&call_id);
                }
            }
            TxEvent::Timeout | TxEvent::TransportError => {
                let failure_status = self.config.failure_status;
                let Some(call) = self.calls.get(&key) else { return };
                let verdict = call.verdict_or(Outcome::Failed, failure_status, EndedBy::Switchboard);
                self.fail_caller(now, key, &CallError::unreachable(call.direction));
                self.end_with(key, verdict);
            }
        }
    }

    /// A final failure to the INVITE we placed: the caller gets it (mapped), unless it
    /// already gave up.
    fn on_callee_failure(&mut self, now: Instant, key: CallKey, response: &Message) {
        let status = response.status().unwrap_or(500);
        let Some(call) = self.calls.get(&key) else { return };
        if !call.is_early() {
            return;
        }
        let direction = call.direction;
        let cancelled = matches!(call.state, State::Cancelling(_));
        let error = CallError::rejected(direction, status);
        if !cancelled {
            self.fail_caller(now, key, &error);
        }
        let outcome = match status {
            _ if cancelled => Outcome::Canceled,
            486 | 600 => Outcome::Busy,
            487 => Outcome::Canceled,
            _ => Outcome::Failed,
        };
        let Some(call) = self.calls.get(&key) else { return };
        let reported = if cancelled { 487 } else { status };
        let verdict = call.verdict_or(outcome, reported, EndedBy::party(Side::Callee, direction));
        self.end_with(key, verdict);
    }

    fn on_callee_provisional(&mut self, now: Instant, key: CallKey, response: &Message) {
        let contact = self.contact(self.leg_transport(key, Side::Caller)).to_owned();
        let Some(call) = self.calls.get_mut(&key) else { return };
        let Some(invitation) = call.invitation_mut() else {
            return;
        };
        invitation.responded = true;
        if let State::Cancelling(cancelling) = &call.state {
            if cancelling.cancel_pending {
                self.send_callee_cancel(now, key);
                return;
            }
        }
        let status = response.status().unwrap_or(100);
        if status == 100 {
            return;
        }
        call.callee.learn_remote(response);
        let State::Ringing(ringing) = &call.state else { return };
        let relayed = relay::relay_response(&ringing.caller.invite, response, &call.caller.local_tag, &contact);
        let server = ringing.caller.server;
        if call.facts.first_provisional.is_none() {
            call.facts.first_provisional = Some(now);
            self.out.report(CallEvent::Ringing {
                after: now.duration_since(call.facts.started),
                direction: call.direction,
            });
        }
        self.respond(now, server, &relayed);
    }

    fn on_callee_answer(&mut self, now: Instant, key: CallKey, response: &Message) {
        let contact = self.contact(self.leg_transport(key, Side::Caller)).to_owned();
        let t1 = self.config.timers.t1;
        let Some(call) = self.calls.get_mut(&key) else { return };
        call.callee.learn_remote(response);
        let ringing = match call.take_state() {
            State::Ringing(ringing) => ringing,
            State::Cancelling(cancelling) => {
                // The caller gave up, or we gave up for it, while the callee answered: ACK
                // and BYE it (RFC 3261 §13.2.2.4, §15), so it runs no call nobody
                // is on.
                let tx = cancelling.placed.tx;
                call.state = State::Cancelling(cancelling);
                let verdict = call.verdict_or(Outcome::Canceled, 487, EndedBy::party(Side::Caller, call.direction));
                let ack = self.ack_callee(key);
                self.bye(now, key, Side::Callee);
                if let Some(ack) = ack {
                    self.keep_acking(key, tx, ack);
                }
                self.end_with(key, verdict);
                return;
            }
            other => {
                call.state = other;
                return;
            }
        };
        let relayed = relay::relay_response(&ringing.caller.invite, response, &call.caller.local_tag, &contact);
        let server = ringing.caller.server;
        call.state = State::Answered(ringing.answer(response, relayed.to_bytes(), t1));
        call.facts.answered = Some(now);
        let after = now.duration_since(call.facts.started);
        let direction = call.direction;
        self.out.report(CallEvent::Answered { after, direction });
        self.respond(now, server, &relayed);
        self.journal_answered(key);
        // Answered: nobody is left to ring, and the callee has responded.
        self.calls.cancel(key, CallTimer::Ring);
        self.calls.cancel(key, CallTimer::CalleeResponse);
        self.schedule(key, now + t1, CallTimer::Retransmit2xx);
        self.arm_session_timer(now, key);
    }

    /// CANCEL (RFC 3261 §9.2): 200 to it; 487 to the INVITE if still ringing; CANCEL the callee.
    pub(super) fn handle_cancel(&mut self, now: Instant, cancel: &Message, server: TxId) {
        let found = cancel.call_id().and_then(|id| self.calls.find(id));
        let Some((key, Side::Caller)) = found else {
            self.refuse_request(now, server, cancel, &CallError::NoSuchDialog);
            return;
        };
        let ok = response_for(cancel, 200, "OK").build();
        self.respond(now, server, &ok);
        if self.cancel_routing(now, key) {
            return;
        }
        if self.fail_caller(now, key, &CallError::Cancelled) {
            // The caller ended the call, whatever the callee answers to our CANCEL.
            if let Some(call) = self.calls.get_mut(&key) {
                let ended_by = EndedBy::party(Side::Caller, call.direction);
                call.decide(Verdict {
                    outcome: Outcome::Canceled,
                    status: 487,
                    ended_by,
                });
            }
            self.cancel_callee_leg(now, key);
        }
    }

    /// Cancel the callee's leg now if it has answered anything, else as soon as it does
    /// (RFC 3261 §9.1: no CANCEL before a provisional); meanwhile our INVITE is not resent.
    /// A leg that never answers is given up 64*T1 from now.
    pub(super) fn cancel_callee_leg(&mut self, now: Instant, key: CallKey) {
        let grace = now + self.config.timers.timeout();
        self.schedule(key, grace, CallTimer::CancelGrace);
        let Some(call) = self.calls.get_mut(&key) else { return };
        let State::Cancelling(cancelling) = &mut call.state else {
            return;
        };
        cancelling.cancel_pending = true;
        if cancelling.placed.responded {
            self.send_callee_cancel(now, key);
        } else {
            let tx = cancelling.placed.tx;
            self.tx.run(|t, out| t.stop_retransmitting(tx, out));
            self.apply(now);
        }
    }

    /// The call is about to be forgotten after we ACKed a 2xx nobody wanted: its INVITE
    /// transaction `tx` (RFC 6026 Accepted, until Timer M) answers each 2xx resent because
    /// our ACK was lost with the same ACK again.
    fn keep_acking(&mut self, key: CallKey, tx: TxId, ack: Bytes) {
        let Some(call) = self.calls.get(&key) else { return };
        let to = call.callee.peer;
        self.tx.set_role(tx, key, Role::Acked { ack, to });
    }

    fn send_callee_cancel(&mut self, now: Instant, key: CallKey) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        let State::Cancelling(cancelling) = &mut call.state else {
            return;
        };
        let invite = &cancelling.placed.request;
        let cancel = relay::cancel_for(invite);
        let branch = invite
            .top_via()
            .ok()
            .and_then(|v| v.branch)
            .map(Bytes::copy_from_slice)
            .unwrap_or_default();
        let peer = call.callee.peer;
        cancelling.cancel_pending = false;
        self.send_request(now, key, Role::Fire, &cancel, branch, peer);
    }
}
