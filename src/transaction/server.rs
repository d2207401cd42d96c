//! Server transactions (RFC 3261 §17.2): INVITE (Figure 7, with RFC 6026's Accepted state)
//! and non-INVITE (Figure 8). They absorb request retransmissions by resending the last
//! response's stored bytes, and retransmit a non-2xx final until the ACK comes.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Action, TimerConfig, TxEvent};

/// An INVITE server transaction.
#[derive(Debug)]
pub struct ServerInvite {
    reliable: bool,
    state: InviteState,
}

#[derive(Debug)]
enum InviteState {
    /// Provisionals sent so far; the last is resent on a retransmitted INVITE.
    Proceeding {
        last: Option<Bytes>,
    },
    /// A non-2xx final: Timer G retransmits it, Timer H gives up waiting for the ACK.
    Completed {
        response: Bytes,
        retransmit_at: Option<Instant>,
        interval: Duration,
        timeout_at: Instant,
    },
    /// The ACK came; Timer I absorbs its retransmissions.
    Confirmed {
        until: Instant,
    },
    /// RFC 6026: a 2xx went out (the TU retransmits it); Timer L absorbs INVITE retransmits.
    Accepted {
        until: Instant,
    },
    Terminated,
}

impl ServerInvite {
    pub fn new(reliable: bool) -> ServerInvite {
        ServerInvite {
            reliable,
            state: InviteState::Proceeding { last: None },
        }
    }

    /// The TU sends a response through the transaction.
    pub fn send_response(
        &mut self,
        now: Instant,
        status: u16,
        response: Bytes,
        cfg: &TimerConfig,
        out: &mut Vec<Action>,
    ) {
        let InviteState::Proceeding { last } = &mut self.state else {
            return;
        };
        out.push(Action::Transmit(response.clone()));
        self.state = match status {
            100..=199 => {
                *last = Some(response);
                return;
            }
            200..=299 => InviteState::Accepted {
                until: now + cfg.timeout(),
            },
            _ => InviteState::Completed {
                response,
                retransmit_at: (!self.reliable).then(|| now + cfg.t1),
                interval: cfg.t1,
                timeout_at: now + cfg.timeout(),
            },
        };
    }

    /// The INVITE came again: resend the last response, never start a second call.
    pub fn handle_retransmission(&mut self, out: &mut Vec<Action>) {
        match &self.state {
            InviteState::Proceeding { last: Some(last) } => out.push(Action::Transmit(last.clone())),
            InviteState::Completed { response, .. } => out.push(Action::Transmit(response.clone())),
            _ => {}
        }
    }

    /// An ACK for our non-2xx final (§17.2.1); `true` when it belonged here.
    pub fn handle_ack(&mut self, now: Instant, cfg: &TimerConfig) -> bool {
        match self.state {
            InviteState::Completed { .. } => {
                let wait = if self.reliable { Duration::ZERO } else { cfg.t4 };
                self.state = InviteState::Confirmed { until: now + wait };
                true
            }
            InviteState::Confirmed { .. } => true,
            _ => false,
        }
    }

    pub fn handle_timeout(&mut self, now: Instant, cfg: &TimerConfig, out: &mut Vec<Action>) {
        match &mut self.state {
            InviteState::Completed { timeout_at, .. } if now >= *timeout_at => {
                // Timer H: the ACK never came.
                self.state = InviteState::Terminated;
                out.push(Action::Deliver(TxEvent::Timeout));
            }
            InviteState::Completed {
                response,
                retransmit_at: Some(at),
                interval,
                ..
            } if now >= *at => {
                // Timer G: doubles up to T2.
                *interval = cfg.backoff(*interval, true);
                *at = now + *interval;
                out.push(Action::Transmit(response.clone()));
            }
            InviteState::Confirmed { until } | InviteState::Accepted { until } if now >= *until => {
                self.state = InviteState::Terminated
            }
            _ => {}
        }
    }

    pub fn handle_transport_error(&mut self, out: &mut Vec<Action>) {
        out.push(Action::Deliver(TxEvent::TransportError));
        self.state = InviteState::Terminated;
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        match &self.state {
            InviteState::Completed {
                retransmit_at,
                timeout_at,
                ..
            } => Some(retransmit_at.map_or(*timeout_at, |r| r.min(*timeout_at))),
            InviteState::Confirmed { until } | InviteState::Accepted { until } => Some(*until),
            InviteState::Proceeding { .. } | InviteState::Terminated => None,
        }
    }

    pub fn is_terminated(&self) -> bool {
        matches!(self.state, InviteState::Terminated)
    }

    /// The RFC 3261 / RFC 6026 state, for metrics.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            InviteState::Proceeding { .. } => "proceeding",
            InviteState::Completed { .. } => "completed",
            InviteState::Confirmed { .. } => "confirmed",
            InviteState::Accepted { .. } => "accepted",
            InviteState::Terminated => "terminated",
        }
    }

    /// No final response sent yet (a CANCEL can still end it).
    pub fn is_proceeding(&self) -> bool {
        matches!(self.state, InviteState::Proceeding { .. })
    }
}

/// A non-INVITE server transaction.
#[derive(Debug)]
pub struct ServerNonInvite {
    reliable: bool,
    state: NonInviteState,
}

#[derive(Debug)]
enum NonInviteState {
    Trying,
    Proceeding {
        last: Bytes,
    },
    /// Timer J absorbs request retransmissions with the final response.
    Completed {
        response: Bytes,
        until: Instant,
    },
    Terminated,
}

impl ServerNonInvite {
    pub fn new(reliable: bool) -> ServerNonInvite {
        ServerNonInvite {
            reliable,
            state: NonInviteState::Trying,
        }
    }

    pub fn send_response(
        &mut self,
        now: Instant,
        status: u16,
        response: Bytes,
        cfg: &TimerConfig,
        out: &mut Vec<Action>,
    ) {
        if matches!(
            self.state,
            NonInviteState::Completed { .. } | NonInviteState::Terminated
        ) {
            return;
        }
        out.push(Action::Transmit(response.clone()));
        self.state = if status < 200 {
            NonInviteState::Proceeding { last: response }
        } else {
            let wait = if self.reliable { Duration::ZERO } else { cfg.timeout() };
            NonInviteState::Completed {
                response,
                until: now + wait,
            }
        };
    }

    pub fn handle_retransmission(&mut self, out: &mut Vec<Action>) {
        match &self.state {
            NonInviteState::Proceeding { last } => out.push(Action::Transmit(last.clone())),
            NonInviteState::Completed { response, .. } => out.push(Action::Transmit(response.clone())),
            _ => {}
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let NonInviteState::Completed { until, .. } = self.state {
            if now >= until {
                self.state = NonInviteState::Terminated;
            }
        }
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        match &self.state {
            NonInviteState::Completed { until, .. } => Some(*until),
            _ => None,
        }
    }

    pub fn is_terminated(&self) -> bool {
        matches!(self.state, NonInviteState::Terminated)
    }

    /// The RFC 3261 state, for metrics.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            NonInviteState::Trying => "trying",
            NonInviteState::Proceeding { .. } => "proceeding",
            NonInviteState::Completed { .. } => "completed",
            NonInviteState::Terminated => "terminated",
        }
    }
}
