//! Call timers firing, and the ways a call is torn down: failing the caller while ringing,
//! or BYE on both legs once answered.

use std::time::Instant;

use super::call::{CallKey, CallTimer, Outcome, Phase, Side};
use super::{B2bua, CallError, EndedBy, Transmit};

impl B2bua {
    pub(super) fn fire(&mut self, now: Instant, key: CallKey, timer: CallTimer) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        match timer {
            CallTimer::AgentResponse if call.phase == Phase::Ringing && !call.agent_responded => {
                let cancelled = call.carrier_invite.is_none();
                let error = CallError::timeout(call.direction);
                if !cancelled {
                    self.fail_carrier(now, key, &error);
                }
                let (outcome, status) = if cancelled {
                    (Outcome::Canceled, 487)
                } else {
                    (Outcome::Failed, self.config.failure_status)
                };
                self.end_call(key, outcome, status, EndedBy::Switchboard);
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
                if let Some(tx) = call.agent_invite_tx {
                    let mut out = std::mem::take(&mut self.scratch);
                    self.txns.terminate(tx, &mut out);
                    self.apply(now, &mut out);
                    self.scratch = out;
                }
                self.end_call(key, Outcome::Canceled, 487, EndedBy::Switchboard);
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
