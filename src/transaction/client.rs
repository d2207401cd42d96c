//! Client transactions (RFC 3261 §17.1): INVITE (Figure 5, with RFC 6026's Accepted
//! state) and non-INVITE (Figure 6). Each retransmits the stored request bytes, never a
//! re-serialization, and reports what the TU must see.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Action, TimerConfig, TxEvent};
use crate::sip::Message;

/// An INVITE client transaction.
#[derive(Debug)]
pub struct ClientInvite {
    request: Bytes,
    reliable: bool,
    state: InviteState,
}

#[derive(Debug)]
enum InviteState {
    /// Timer A retransmits (unreliable only), Timer B gives up.
    Calling {
        retransmit_at: Option<Instant>,
        interval: Duration,
        timeout_at: Instant,
    },
    /// A provisional arrived: no more retransmissions; the TU's ring timeout takes over.
    Proceeding,
    /// A non-2xx final was ACKed; Timer D absorbs its retransmissions.
    Completed {
        ack: Bytes,
        until: Instant,
    },
    /// RFC 6026: a 2xx arrived; Timer M passes its retransmissions up.
    Accepted {
        until: Instant,
    },
    Terminated,
}

impl ClientInvite {
    /// Start: the request goes out at once.
    pub fn new(now: Instant, request: Bytes, reliable: bool, cfg: &TimerConfig, out: &mut Vec<Action>) -> ClientInvite {
        out.push(Action::Transmit(request.clone()));
        let retransmit_at = (!reliable).then(|| now + cfg.t1);
        let state = InviteState::Calling {
            retransmit_at,
            interval: cfg.t1,
            timeout_at: now + cfg.timeout(),
        };
        ClientInvite {
            request,
            reliable,
            state,
        }
    }

    /// A response matched this transaction. `ack` builds the ACK for a non-2xx final
    /// (RFC 3261 §17.1.1.3); it is called once.
    pub fn handle_response(
        &mut self,
        now: Instant,
        response: Message,
        ack: impl FnOnce(&Message) -> Bytes,
        cfg: &TimerConfig,
        out: &mut Vec<Action>,
    ) {
        let status = response.status().unwrap_or(0);
        match &self.state {
            InviteState::Calling { .. } | InviteState::Proceeding => match status {
                100..=199 => {
                    self.state = InviteState::Proceeding;
                    out.push(Action::Deliver(TxEvent::Provisional(response)));
                }
                200..=299 => {
                    self.state = InviteState::Accepted {
                        until: now + cfg.timeout(),
                    };
                    out.push(Action::Deliver(TxEvent::Final(response)));
                }
                _ => {
                    let ack = ack(&response);
                    out.push(Action::Transmit(ack.clone()));
                    let wait = if self.reliable {
                        Duration::ZERO
                    } else {
                        Duration::from_secs(32)
                    };
                    self.state = InviteState::Completed { ack, until: now + wait };
                    out.push(Action::Deliver(TxEvent::Final(response)));
                }
            },
            InviteState::Completed { ack, .. } if status >= 300 => out.push(Action::Transmit(ack.clone())),
            InviteState::Accepted { .. } if (200..300).contains(&status) => {
                out.push(Action::Deliver(TxEvent::Retransmitted2xx(response)))
            }
            _ => {}
        }
    }

    pub fn handle_timeout(&mut self, now: Instant, cfg: &TimerConfig, out: &mut Vec<Action>) {
        match &mut self.state {
            InviteState::Calling { timeout_at, .. } if now >= *timeout_at => {
                // Timer B.
                self.state = InviteState::Terminated;
                out.push(Action::Deliver(TxEvent::Timeout));
            }
            InviteState::Calling {
                retransmit_at: Some(at),
                interval,
                ..
            } if now >= *at => {
                // Timer A: doubles without a cap (§17.1.1.2).
                *interval = cfg.backoff(*interval, false);
                *at = now + *interval;
                out.push(Action::Transmit(self.request.clone()));
            }
            InviteState::Completed { until, .. } | InviteState::Accepted { until } if now >= *until => {
                self.state = InviteState::Terminated;
            }
            _ => {}
        }
    }

    /// The TU gave up on this INVITE before any response (RFC 3261 §9.1: a CANCEL must
    /// wait for a provisional): Timer A stops, so a peer that is slow, not dead, is not
    /// sent the INVITE again; Timer B still ends the wait, and a late answer still
    /// reaches the TU, which undoes it.
    pub fn stop_retransmitting(&mut self) {
        if let InviteState::Calling { retransmit_at, .. } = &mut self.state {
            *retransmit_at = None;
        }
    }

    pub fn handle_transport_error(&mut self, out: &mut Vec<Action>) {
        if matches!(self.state, InviteState::Calling { .. } | InviteState::Proceeding) {
            out.push(Action::Deliver(TxEvent::TransportError));
        }
        self.state = InviteState::Terminated;
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        match &self.state {
            InviteState::Calling {
                retransmit_at,
                timeout_at,
                ..
            } => Some(retransmit_at.map_or(*timeout_at, |r| r.min(*timeout_at))),
            InviteState::Completed { until, .. } | InviteState::Accepted { until } => Some(*until),
            InviteState::Proceeding | InviteState::Terminated => None,
        }
    }

    pub fn is_terminated(&self) -> bool {
        matches!(self.state, InviteState::Terminated)
    }

    /// The RFC 3261 / RFC 6026 state, for metrics.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            InviteState::Calling { .. } => "calling",
            InviteState::Proceeding => "proceeding",
            InviteState::Completed { .. } => "completed",
            InviteState::Accepted { .. } => "accepted",
            InviteState::Terminated => "terminated",
        }
    }

    /// Whether a final response has been received (a CANCEL is pointless after it).
    pub fn is_proceeding(&self) -> bool {
        matches!(self.state, InviteState::Proceeding)
    }
}

/// A non-INVITE client transaction.
#[derive(Debug)]
pub struct ClientNonInvite {
    request: Bytes,
    reliable: bool,
    state: NonInviteState,
}

#[derive(Debug)]
enum NonInviteState {
    /// Timer E retransmits, Timer F gives up; in Proceeding E runs at T2.
    Trying {
        retransmit_at: Option<Instant>,
        interval: Duration,
        timeout_at: Instant,
        proceeding: bool,
    },
    /// Timer K absorbs response retransmissions.
    Completed {
        until: Instant,
    },
    Terminated,
}

impl ClientNonInvite {
    pub fn new(
        now: Instant,
        request: Bytes,
        reliable: bool,
        cfg: &TimerConfig,
        out: &mut Vec<Action>,
    ) -> ClientNonInvite {
        out.push(Action::Transmit(request.clone()));
        let retransmit_at = (!reliable).then(|| now + cfg.t1);
        let state = NonInviteState::Trying {
            retransmit_at,
            interval: cfg.t1,
            timeout_at: now + cfg.timeout(),
            proceeding: false,
        };
        ClientNonInvite {
            request,
            reliable,
            state,
        }
    }

    pub fn handle_response(&mut self, now: Instant, response: Message, cfg: &TimerConfig, out: &mut Vec<Action>) {
        let NonInviteState::Trying { proceeding, .. } = &mut self.state else {
            return;
        };
        if response.status().is_some_and(|s| s < 200) {
            *proceeding = true;
            out.push(Action::Deliver(TxEvent::Provisional(response)));
            return;
        }
        let wait = if self.reliable { Duration::ZERO } else { cfg.t4 };
        self.state = NonInviteState::Completed { until: now + wait };
        out.push(Action::Deliver(TxEvent::Final(response)));
    }

    pub fn handle_timeout(&mut self, now: Instant, cfg: &TimerConfig, out: &mut Vec<Action>) {
        match &mut self.state {
            NonInviteState::Trying { timeout_at, .. } if now >= *timeout_at => {
                // Timer F.
                self.state = NonInviteState::Terminated;
                out.push(Action::Deliver(TxEvent::Timeout));
            }
            NonInviteState::Trying {
                retransmit_at: Some(at),
                interval,
                proceeding,
                ..
            } if now >= *at => {
                // Timer E: doubles to T2 while Trying, stays at T2 once Proceeding (§17.1.2.2).
                *interval = if *proceeding {
                    cfg.t2
                } else {
                    cfg.backoff(*interval, true)
                };
                *at = now + *interval;
                out.push(Action::Transmit(self.request.clone()));
            }
            NonInviteState::Completed { until } if now >= *until => self.state = NonInviteState::Terminated,
            _ => {}
        }
    }

    pub fn handle_transport_error(&mut self, out: &mut Vec<Action>) {
        if matches!(self.state, NonInviteState::Trying { .. }) {
            out.push(Action::Deliver(TxEvent::TransportError));
        }
        self.state = NonInviteState::Terminated;
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        match &self.state {
            NonInviteState::Trying {
                retransmit_at,
                timeout_at,
                ..
            } => Some(retransmit_at.map_or(*timeout_at, |r| r.min(*timeout_at))),
            NonInviteState::Completed { until } => Some(*until),
            NonInviteState::Terminated => None,
        }
    }

    pub fn is_terminated(&self) -> bool {
        matches!(self.state, NonInviteState::Terminated)
    }

    /// The RFC 3261 state, for metrics.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            NonInviteState::Trying { proceeding: false, .. } => "trying",
            NonInviteState::Trying { .. } => "proceeding",
            NonInviteState::Completed { .. } => "completed",
            NonInviteState::Terminated => "terminated",
        }
    }
}
