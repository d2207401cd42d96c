//! Call timers firing, and the ways a call is torn down: failing the caller while ringing,
//! or BYE on both legs once answered.

use std::time::Instant;

use super::call::{CallKey, CallTimer, Direction, Outcome, Side, State, Verdict};
use super::{B2bua, CallError, EndedBy};

impl B2bua {
    pub(super) fn fire(&mut self, now: Instant, key: CallKey, timer: CallTimer) {
        if timer == CallTimer::Route {
            self.route_overdue(now, key);
            return;
        }
        let Some(call) = self.calls.get_mut(&key) else { return };
        let early = call.is_early();
        let responded = call.invitation().is_some_and(|i| i.responded);
        match timer {
            CallTimer::CalleeResponse if early && !responded => self.give_up_on_callee(now, key),
            // LiveKit answers an inbound call as soon as its room exists: an agent leg still
            // ringing at the response timeout is as stuck as a silent one. The caller gets
            // failure_status (carriers fail over on 503) and the agent its CANCEL now, not at
            // the ring timeout, so no agent is billed for a call its caller has given up on.
            CallTimer::CalleeResponse if early && call.direction == Direction::Inbound => {
                self.fail_caller(now, key, &CallError::timeout(Direction::Inbound));
                let verdict = Verdict {
                    outcome: Outcome::Failed,
                    status: self.config.failure_status,
                    ended_by: EndedBy::Switchboard,
                };
                if let Some(call) = self.calls.get_mut(&key) {
                    call.decide(verdict);
                }
                self.cancel_callee_leg(now, key);
            }
            CallTimer::Ring if early => {
                self.fail_caller(now, key, &CallError::NoAnswer);
                self.cancel_callee_leg(now, key);
            }
            CallTimer::Retransmit2xx => self.retransmit_2xx(now, key),
            CallTimer::ForgetAck => {
                if let State::Confirmed(confirmed) = &mut call.state {
                    confirmed.ack = None;
                }
            }
            CallTimer::CancelGrace if early => {
                let verdict = call.verdict_or(Outcome::Canceled, 487, EndedBy::Switchboard);
                if let Some(tx) = call.invitation().map(|i| i.tx) {
                    self.tx.run(|t, out| t.terminate(tx, out));
                    self.apply(now);
                }
                self.end_with(key, verdict);
            }
            CallTimer::SessionExpiry if call.session_mut().and_then(|s| s.deadline).is_some_and(|d| d <= now) => {
                self.hang_up(now, key, EndedBy::Switchboard)
            }
            CallTimer::MaxDuration if early => {
                self.fail_caller(now, key, &CallError::NoAnswer);
                self.cancel_callee_leg(now, key);
            }
            CallTimer::MaxDuration => self.hang_up(now, key, EndedBy::Switchboard),
            _ => {}
        }
    }

    /// Resend our 2xx to the caller until its ACK (RFC 3261 §13.3.1.4), T1 doubling to T2.
    fn retransmit_2xx(&mut self, now: Instant, key: CallKey) {
        let timeout = self.config.timers.timeout();
        let t2 = self.config.timers.t2;
        let Some(call) = self.calls.get_mut(&key) else { return };
        let State::Answered(answered) = &mut call.state else {
            return;
        };
        let started = call.facts.answered.unwrap_or(now);
        if now.duration_since(started) >= timeout {
            // RFC 3261 §13.3.1.4: no ACK within 64*T1 — end the call. The callee's 2xx is
            // ACKed first: a BYE may only follow an ACKed INVITE (§15).
            self.ack_callee(key);
            self.hang_up(now, key, EndedBy::Switchboard);
            return;
        }
        let interval = answered.interval;
        answered.interval = (interval * 2).min(t2);
        let bytes = answered.ok.clone();
        let to = call.caller.peer;
        self.out.send(bytes, to);
        self.schedule(key, now + interval, CallTimer::Retransmit2xx);
    }

    /// Nothing heard at all from the leg we placed (RFC 3261 §9.1, §13.2.2.4; RFC 6026).
    /// The caller gets its failure now, so that a carrier fails over while its caller
    /// still waits, and the call's record is decided. Our INVITE is not resent any more
    /// but stays open until Timer B: a late provisional is CANCELled and a late 2xx is
    /// ACKed then BYEd, so the callee never runs a call nobody is on. A peer that ignores
    /// our CANCEL is given up 64*T1 from now.
    fn give_up_on_callee(&mut self, now: Instant, key: CallKey) {
        let grace = now + self.config.timers.timeout();
        let failure_status = self.config.failure_status;
        let Some(call) = self.calls.get(&key) else { return };
        let verdict = match call.state {
            State::Ringing(_) => Verdict {
                outcome: Outcome::Failed,
                status: failure_status,
                ended_by: EndedBy::Switchboard,
            },
            _ => Verdict {
                outcome: Outcome::Canceled,
                status: 487,
                ended_by: EndedBy::party(Side::Caller, call.direction),
            },
        };
        let error = CallError::timeout(call.direction);
        self.fail_caller(now, key, &error);
        let Some(call) = self.calls.get_mut(&key) else { return };
        call.decide(verdict);
        let State::Cancelling(cancelling) = &mut call.state else {
            return;
        };
        cancelling.cancel_pending = true;
        let invite_tx = cancelling.placed.tx;
        self.tx.run(|t, out| t.stop_retransmitting(invite_tx, out));
        self.apply(now);
        if !self.calls.has_timer(key, CallTimer::CancelGrace) {
            self.schedule(key, grace, CallTimer::CancelGrace);
        }
    }

    /// End a call with the record decided for it.
    pub(super) fn end_with(&mut self, key: CallKey, verdict: Verdict) {
        self.end_call(key, verdict.outcome, verdict.status, verdict.ended_by);
    }

    /// The caller gets a final failure for its INVITE, if it has none yet (the call moves
    /// from ringing to cancelling). Returns whether it did.
    pub(super) fn fail_caller(&mut self, now: Instant, key: CallKey, error: &CallError) -> bool {
        let Some(call) = self.calls.get_mut(&key) else {
            return false;
        };
        let Some((invite, server)) = call.stop_ringing() else {
            return false;
        };
        // The caller has its answer: the timers that were to give it one go with the
        // ringing (fired while cancelling, they would CANCEL again and overwrite the
        // call's record).
        self.calls.cancel(key, CallTimer::Ring);
        self.calls.cancel(key, CallTimer::CalleeResponse);
        let Some(call) = self.calls.get_mut(&key) else {
            return false;
        };
        let tag = call.caller.local_tag.clone();
        let answer = crate::status::call(error, self.config.statuses());
        let response = self.failure_response(&invite, &answer, Some(tag));
        self.respond(now, server, &response);
        true
    }

    /// BYE both legs of an answered call and forget it.
    pub(super) fn hang_up(&mut self, now: Instant, key: CallKey, ended_by: EndedBy) {
        if !self.calls.contains_key(&key) {
            return;
        }
        self.bye(now, key, Side::Caller);
        self.bye(now, key, Side::Callee);
        self.finish(key, ended_by);
    }
}
