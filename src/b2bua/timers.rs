//! Call timers firing, and the ways a call is torn down: failing the caller while ringing,
//! or BYE on both legs once answered.

use std::time::Instant;

use super::call::{CallKey, CallTimer, Direction, Outcome, Phase, Side, Verdict};
use super::{B2bua, CallError, EndedBy, Transmit};

impl B2bua {
    pub(super) fn fire(&mut self, now: Instant, key: CallKey, timer: CallTimer) {
        if timer == CallTimer::Route {
            self.route_overdue(now, key);
            return;
        }
        let Some(call) = self.calls.get_mut(&key) else { return };
        match timer {
            CallTimer::AgentResponse if call.phase == Phase::Ringing && !call.agent_responded => {
                self.give_up_on_agent(now, key)
            }
            // LiveKit answers an inbound call as soon as its room exists: an agent leg still
            // ringing at the response timeout is as stuck as a silent one. The caller gets
            // failure_status (carriers fail over on 503) and the agent its CANCEL now, not at
            // the ring timeout, so no agent is billed for a call its caller has given up on.
            CallTimer::AgentResponse if call.phase == Phase::Ringing && call.direction == Direction::Inbound => {
                call.verdict.get_or_insert(Verdict {
                    outcome: Outcome::Failed,
                    status: self.config.failure_status,
                    ended_by: EndedBy::Switchboard,
                });
                self.fail_carrier(now, key, &CallError::timeout(Direction::Inbound));
                self.cancel_agent_leg(now, key);
            }
            CallTimer::Ring if call.phase == Phase::Ringing => {
                self.fail_carrier(now, key, &CallError::NoAnswer);
                self.cancel_agent_leg(now, key);
            }
            CallTimer::Retransmit2xx if call.phase == Phase::Answered => {
                let Some((ok, interval)) = call.ok_to_carrier.clone() else {
                    return;
                };
                let started = call.facts.answered.unwrap_or(now);
                if now.duration_since(started) >= self.config.timers.timeout() {
                    // RFC 3261 §13.3.1.4: no ACK within 64*T1 — end the call. The agent's
                    // 2xx is ACKed first: a BYE may only follow an ACKed INVITE (§15).
                    self.ack_agent(key);
                    self.hang_up(now, key, EndedBy::Switchboard);
                    return;
                }
                let to = call.carrier.peer;
                let next = (interval * 2).min(self.config.timers.t2);
                call.ok_to_carrier = Some((ok.clone(), next));
                self.transmits.push_back(Transmit { bytes: ok, to });
                self.schedule(key, now + interval, CallTimer::Retransmit2xx);
            }
            CallTimer::ForgetAck => call.agent_ack = None,
            CallTimer::CancelGrace if call.phase == Phase::Ringing => {
                let verdict = call.verdict_or(Outcome::Canceled, 487, EndedBy::Switchboard);
                if let Some(tx) = call.agent_invite_tx {
                    let mut out = std::mem::take(&mut self.scratch);
                    self.txns.terminate(tx, &mut out);
                    self.apply(now, &mut out);
                    self.scratch = out;
                }
                self.end_with(key, verdict);
            }
            CallTimer::SessionExpiry if call.session_deadline.is_some_and(|d| d <= now) => {
                self.hang_up(now, key, EndedBy::Switchboard)
            }
            CallTimer::MaxDuration => match call.phase {
                Phase::Ringing => {
                    self.fail_carrier(now, key, &CallError::NoAnswer);
                    self.cancel_agent_leg(now, key);
                }
                _ => self.hang_up(now, key, EndedBy::Switchboard),
            },
            _ => {}
        }
    }

    /// Nothing heard at all from the leg we placed (RFC 3261 §9.1, §13.2.2.4; RFC 6026).
    /// The caller gets its failure now, so that a carrier fails over while its caller
    /// still waits, and the call's record is decided. Our INVITE is not resent any more
    /// but stays open until Timer B: a late provisional is CANCELled and a late 2xx is
    /// ACKed then BYEd, so the agent never runs a call nobody is on. A peer that ignores
    /// our CANCEL is given up 64*T1 from now.
    fn give_up_on_agent(&mut self, now: Instant, key: CallKey) {
        let grace = now + self.config.timers.timeout();
        let failure_status = self.config.failure_status;
        let Some(call) = self.calls.get_mut(&key) else { return };
        let verdict = match call.carrier_invite {
            Some(_) => Verdict {
                outcome: Outcome::Failed,
                status: failure_status,
                ended_by: EndedBy::Switchboard,
            },
            None => Verdict {
                outcome: Outcome::Canceled,
                status: 487,
                ended_by: EndedBy::party(Side::Carrier, call.direction),
            },
        };
        call.verdict.get_or_insert(verdict);
        call.cancel_pending = true;
        let error = CallError::timeout(call.direction);
        let invite_tx = call.agent_invite_tx;
        self.fail_carrier(now, key, &error);
        if let Some(tx) = invite_tx {
            let mut out = std::mem::take(&mut self.scratch);
            self.txns.stop_retransmitting(tx, &mut out);
            self.apply(now, &mut out);
            self.scratch = out;
        }
        if !self.has_timer(key, CallTimer::CancelGrace) {
            self.schedule(key, grace, CallTimer::CancelGrace);
        }
    }

    fn has_timer(&self, key: CallKey, timer: CallTimer) -> bool {
        self.calls
            .get(&key)
            .is_some_and(|c| c.timers.iter().any(|(_, t)| *t == timer))
    }

    /// End a call with the record decided for it.
    pub(super) fn end_with(&mut self, key: CallKey, verdict: Verdict) {
        self.end_call(key, verdict.outcome, verdict.status, verdict.ended_by);
    }

    /// The caller gets a final failure for its INVITE, if it has none yet.
    pub(super) fn fail_carrier(&mut self, now: Instant, key: CallKey, error: &CallError) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        let Some(invite) = call.carrier_invite.take() else {
            return;
        };
        let (server, tag) = (call.carrier_invite_tx, call.carrier.local_tag.clone());
        let failure = error.response(self.config.failure_status, self.config.no_answer_status);
        let response = self.failure_response(&invite, &failure, Some(tag));
        self.respond(now, server, &response);
    }

    /// BYE both legs of an answered call and forget it.
    pub(super) fn hang_up(&mut self, now: Instant, key: CallKey, ended_by: EndedBy) {
        if !self.calls.contains_key(&key) {
            return;
        }
        self.bye(now, key, Side::Carrier);
        self.bye(now, key, Side::Agent);
        self.finish(key, ended_by);
    }
}
