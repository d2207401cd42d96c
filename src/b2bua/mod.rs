//! The back-to-back user agent: each call is the caller's leg (the one we answer) and the
//! callee's (the one we place), kept in step (`call.rs` says why legs are named by role).
//! Sans-IO: it takes parsed messages, `now` and routing decisions, and yields
//! [`Transmit`]s, [`Route`] requests and [`CallEvent`]s; the shell owns sockets, clocks and
//! the routers' workers.
//!
//! It owns call state, the transaction table both legs share, and call timers (ring,
//! callee response, 2xx retransmission, session expiry, duration cap). It refuses to decide
//! routes (that is `routing`) or to parse bytes (that is `sip`, before it gets here).
//!
//! Where things are, in the order a call flows: `new_call.rs` (a new INVITE either way: 100
//! Trying, admission, the route asked for; once routed, the other leg placed),
//! `awaiting_route.rs` (a new call while the shell routes it), `inbound.rs` (an inbound
//! call's route facts and agent leg; for now also admission and refusals), `agent_leg.rs`
//! (what the agent's INVITE carries), `ringing.rs` (the placed leg's answers and CANCEL
//! until it has a final answer),
//! `dialog.rs` (ACK, BYE, and every in-dialog request relayed across, re-INVITE glare),
//! `relay.rs` (the messages rebuilt on the other leg: topology hiding lives there),
//! `session_timer.rs` (RFC 4028), `timers.rs` (call timers firing, teardown), `failure.rs`
//! (the faults; their answers are in `src/status.rs`), `arrival.rs` (what the front door
//! tells the core with each request), `call.rs` (a call's states), `leg.rs` (one
//! leg's dialog), `peer.rs` (where answers go).
//!
//! Outbound calls (agent -> carrier) are the same machine with the parties swapped (see
//! `call.rs`): `outbound.rs` (an agent's call's route facts, then media policy, trunk
//! limits and the carrier leg), `carrier_leg.rs` (what the carrier's INVITE carries),
//! `carrier_auth.rs` (answering the carrier's 401/407 once per challenge, with the digest
//! arithmetic of `security::digest`), `media_policy.rs` (SRTP against the offer),
//! `trunk_limits.rs` (calls per second and concurrent calls per trunk). Everything after
//! the INVITE — provisional relay, CANCEL, BYE, re-INVITE, session timers, REFER policy,
//! failure mapping — is shared.

mod agent_leg;
mod arrival;
mod awaiting_route;
mod call;
mod call_table;
mod carrier_auth;
mod carrier_leg;
mod config;
mod dialog;
mod failure;
mod id_hash;
mod inbound;
mod journal;
mod leg;
pub mod media_policy;
mod new_call;
mod outbound;
mod outbox;
mod peer;
mod relay;
mod ringing;
mod session_timer;
mod shard;
mod stats;
mod timers;
mod trunk_limits;
mod tx_table;

#[cfg(test)]
mod sim_tests;

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::SeedableRng;

pub use agent_leg::dialed_number;
pub use arrival::Arrival;
pub use awaiting_route::Route;
pub use call::{CallEvent, CallFacts, CallKey, CarrierId, Direction, EndedBy, Outcome, RouteFacts, Side};
pub use config::{B2buaConfig, ReferPolicy};
pub use failure::CallError;
pub use journal::{Dialog, JournalEntry, JournaledCall, CSEQ_MARGIN};
pub use peer::{reply_peer, Peer};
pub use shard::{shard_of_branch, shard_of_call_id, shard_of_key, Shard, Shared};
pub use stats::Census;

use crate::sip::{Message, Method};
use crate::transaction::{ClientKey, Output, RequestMatch, ServerKey, Transactions, TxEvent, TxId};
use crate::transport::Transport;
use call::CallTimer;
use outbox::Outbox;
use tx_table::{Role, TxTable};

/// Bytes to send, and to whom.
#[derive(Debug, Clone)]
pub struct Transmit {
    pub bytes: Bytes,
    pub to: Peer,
}

/// Our address as one transport advertises it.
#[derive(Debug)]
struct Local {
    /// `host:port` for our Via (RFC 3261 §18.1.1).
    sent_by: String,
    /// Our Contact, naming the transport when it is not UDP so that the peer's in-dialog
    /// requests come back the way it reached us (RFC 3263 §4.1).
    contact: String,
}

impl Local {
    /// UDP, TCP, TLS, in that order.
    fn per_transport(config: &B2buaConfig) -> [Local; 3] {
        let tcp = config.advertised_tcp.as_deref().unwrap_or(&config.advertised);
        let tls = config.advertised_tls.as_deref().unwrap_or(&config.advertised);
        [
            Local {
                sent_by: config.advertised.clone(),
                contact: format!("<sip:switchboard@{}>", config.advertised),
            },
            Local {
                sent_by: tcp.to_owned(),
                contact: format!("<sip:switchboard@{tcp};transport=tcp>"),
            },
            Local {
                sent_by: tls.to_owned(),
                contact: format!("<sip:switchboard@{tls};transport=tls>"),
            },
        ]
    }
}

/// The B2BUA.
pub struct B2bua {
    config: B2buaConfig,
    rng: StdRng,
    /// Both legs' transactions and what each is for (`tx_table.rs`).
    tx: TxTable,
    /// Every call, by key, by Call-ID and by its timers (`call_table.rs`).
    calls: call_table::CallTable,
    /// Transmits, routes and events for the shell (`outbox.rs`).
    out: Outbox,
    draining: bool,
    /// What we advertise per transport (UDP, TCP, TLS): Via sent-by and Contact.
    local: [Local; 3],
    /// Outbound calls per trunk: concurrency and call rate.
    trunks: trunk_limits::TrunkLimiter,
    /// Answered and ended calls for the shell's dialog journal (see `journal.rs`).
    journal: VecDeque<JournalEntry>,
    journal_on: bool,
    /// Which core of several this is, and what it shares with the others (`shard.rs`).
    shard: Shard,
    shared: Shared,
}

impl B2bua {
    pub fn new(config: B2buaConfig, seed: u64) -> B2bua {
        let local = Local::per_transport(&config);
        B2bua {
            tx: TxTable::new(Transactions::new(config.timers)),
            config,
            rng: StdRng::seed_from_u64(seed),
            calls: call_table::CallTable::new(),
            out: Outbox::default(),
            draining: false,
            local,
            trunks: trunk_limits::TrunkLimiter::default(),
            journal: VecDeque::new(),
            journal_on: false,
            shard: Shard::ALONE,
            shared: Shared::default(),
        }
    }

    /// A request that parsed and passed validation. `from` is where it came from,
    /// `arrival` what the front door learned of it (whose carrier the gate found, the
    /// country its numbers are read in). A new INVITE is an inbound call: admitted, it waits
    /// for its route ([`B2bua::poll_route`], then [`B2bua::handle_routed`]).
    pub fn handle_request(&mut self, now: Instant, request: Message, from: Peer, arrival: Arrival) {
        self.handle_request_as(now, request, (from, Direction::Inbound), arrival);
    }

    /// A request from the LiveKit side (the shell decides that by its source address). A new
    /// INVITE is an outbound call: admitted, it waits for the outbound router's decision
    /// (the same [`B2bua::poll_route`] and [`B2bua::handle_routed`]); anything else is
    /// handled exactly as [`B2bua::handle_request`] does (in-dialog requests find their
    /// call by Call-ID and tags whichever way it goes).
    pub fn handle_outbound_request(&mut self, now: Instant, request: Message, from: Peer, arrival: Arrival) {
        self.handle_request_as(now, request, (from, Direction::Outbound), arrival);
    }

    /// A request; a new INVITE starts a call going `direction` (the shell decides which by
    /// where it came from: a LiveKit source places outbound calls, anyone else's are inbound).
    fn handle_request_as(
        &mut self,
        now: Instant,
        request: Message,
        (from, direction): (Peer, Direction),
        arrival: Arrival,
    ) {
        let Some(method) = request.method().cloned() else {
            return;
        };
        let Ok(via) = request.top_via() else { return };
        let branch = via.branch.unwrap_or_default();
        let key = ServerKey::new(branch, via.sent_by, &method);
        let is_ack = method == Method::Ack;
        let matched = self.tx.run(|t, out| t.match_request(now, &key, is_ack, out));
        self.apply(now);
        if matched != RequestMatch::New {
            return;
        }
        let reply_to = reply_peer(&request, from);
        if is_ack {
            self.handle_ack(now, &request);
            return;
        }
        let server = self
            .tx
            .run(|t, _| t.start_server(key, reply_to, from.transport.is_reliable()));
        let to_tag = request.to_tag().map(Bytes::copy_from_slice);
        match (method, to_tag) {
            (Method::Invite, None) => self.handle_new_invite(now, request, from, server, direction, arrival),
            (Method::Cancel, _) => self.handle_cancel(now, &request, server),
            (_, Some(_)) => self.handle_in_dialog(now, request, server),
            (_, None) => self.refuse_request(now, server, &request, &CallError::NoSuchDialog),
        }
    }

    /// A response from either leg's peer.
    pub fn handle_response(&mut self, now: Instant, response: Message) {
        let (Ok(via), Ok(cseq)) = (response.top_via(), response.cseq()) else {
            return;
        };
        let Some(branch) = via.branch else { return };
        let key = ClientKey::new(Bytes::copy_from_slice(branch), cseq.method);
        let is_2xx = response.status().is_some_and(|s| (200..300).contains(&s));
        // Only a non-2xx final to our INVITE needs the INVITE back, to build its ACK.
        let needs_ack = key.method == Method::Invite && response.status().is_some_and(|s| s >= 300);
        let ack_source = if needs_ack {
            self.placed_invite_of(&response)
        } else {
            None
        };
        let call_id = response.call_id().map(Bytes::copy_from_slice);
        let matched = self.tx.run(|t, out| {
            let ack = |r: &Message| ack_source.map_or_else(Bytes::new, |inv| relay::ack_for_non_2xx(&inv, r));
            t.handle_response(now, &key, response, ack, out)
        });
        self.apply(now);
        if let (None, true, Some(call_id)) = (matched, is_2xx, call_id) {
            // A 2xx retransmission after its transaction ended: ACK again if we had.
            self.resend_callee_ack(&call_id);
        }
    }

    /// The shell could not deliver to `to` (connection refused or reset, no route, ICMP
    /// unreachable on UDP). Our requests waiting on that peer over that transport fail now
    /// rather than at Timer B/F: a transport error counts as a 503 for the request (RFC 3261
    /// §8.1.3.1), so a caller is never left ringing.
    pub fn handle_transport_error(&mut self, now: Instant, to: Peer) {
        let failed: Vec<TxId> = self
            .tx
            .roles()
            .filter(|(_, (call, role))| {
                self.role_peer(*call, role)
                    .is_some_and(|p| same_address(p.addr, to.addr) && p.transport == to.transport)
            })
            .map(|(id, _)| id)
            .collect();
        self.tx
            .run(|t, out| failed.into_iter().for_each(|id| t.handle_transport_error(id, out)));
        self.apply(now);
    }

    /// Run due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tx.run(|t, out| t.handle_timeout(now, out));
        self.apply(now);
        while let Some((call, timer)) = self.calls.pop_due(now) {
            self.fire(now, call, timer);
        }
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        [self.tx.layer().next_timeout(), self.calls.next_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.next_transmit()
    }

    pub fn poll_event(&mut self) -> Option<CallEvent> {
        self.out.next_event()
    }

    /// New calls get 503 from now on; calls in progress go on.
    pub fn start_draining(&mut self) {
        self.draining = true;
    }

    /// Calls in progress, those waiting for their route included.
    pub fn active_calls(&self) -> usize {
        self.calls.len() + self.calls.routing_len()
    }

    /// Outbound calls up on one trunk (what its concurrency limit counts).
    pub fn trunk_calls(&self, trunk_id: &str) -> u32 {
        self.trunks.active(trunk_id)
    }

    /// Live transactions (for metrics, and for tests that nothing is left behind).
    pub fn transactions(&self) -> usize {
        self.tx.layer().len()
    }

    /// Pending call timers.
    pub fn call_timers(&self) -> usize {
        self.calls.timer_count()
    }

    // ---- plumbing shared by the flows ----

    /// Our Via for a request sent over `transport` (whose token it must name, RFC 3261
    /// §18.1.1), with a fresh branch.
    fn new_via(&mut self, transport: Transport) -> (String, Bytes) {
        let branch = self.new_branch();
        let sent_by = &self.local(transport).sent_by;
        let mut via = String::with_capacity(sent_by.len() + branch.len() + 30);
        for part in ["SIP/2.0/", transport.via_token(), " ", sent_by, ";branch="] {
            via.push_str(part);
        }
        // The branch is ours: the magic cookie and hex digits.
        via.push_str(std::str::from_utf8(&branch).unwrap_or_default());
        via.push_str(";rport");
        (via, branch)
    }

    /// Our Contact for a leg whose peer uses `transport`.
    fn contact(&self, transport: Transport) -> &str {
        &self.local(transport).contact
    }

    fn local(&self, transport: Transport) -> &Local {
        let index = match transport {
            Transport::Udp => 0,
            Transport::Tcp => 1,
            Transport::Tls => 2,
        };
        &self.local[index]
    }

    /// The transport a leg's peer is reached by.
    pub(super) fn leg_transport(&self, key: CallKey, side: Side) -> Transport {
        self.calls
            .get(&key)
            .map_or(Transport::Udp, |c| c.leg(side).peer.transport)
    }

    /// Whether a Via value names us as its sent-by: the request went out from us.
    fn is_own_via(&self, value: &[u8]) -> bool {
        let Ok(via) = crate::sip::Via::parse(value) else {
            return false;
        };
        self.local.iter().any(|local| {
            let (host, port) = match local.sent_by.rsplit_once(':') {
                Some((host, port)) if !host.ends_with(':') => (host, port.parse().unwrap_or(5060)),
                _ => (local.sent_by.as_str(), 5060),
            };
            via.host.eq_ignore_ascii_case(host.as_bytes()) && via.port.unwrap_or(5060) == port
        })
    }

    /// Our INVITE that a response on the callee's leg answers, for the ACK of a non-2xx final.
    fn placed_invite_of(&self, response: &Message) -> Option<Message> {
        let (call, side) = self.calls.find(response.call_id()?)?;
        (side == Side::Callee)
            .then(|| Some((*self.calls.get(&call)?.invitation()?.request).clone()))
            .flatten()
    }

    /// Send a request in a new client transaction on behalf of `call`.
    fn send_request(
        &mut self,
        now: Instant,
        call: CallKey,
        role: Role,
        request: &Message,
        branch: Bytes,
        to: Peer,
    ) -> TxId {
        let method = request.method().cloned().unwrap_or(Method::Invite);
        let key = ClientKey::new(branch, method);
        let reliable = to.transport.is_reliable();
        let id = self
            .tx
            .run(|t, out| t.start_client(now, key, request.to_bytes(), to, reliable, out));
        self.tx.set_role(id, call, role);
        self.apply(now);
        id
    }

    fn respond(&mut self, now: Instant, server: TxId, response: &Message) {
        let status = response.status().unwrap_or(500);
        self.tx
            .run(|t, out| t.respond(now, server, status, response.to_bytes(), out));
        self.apply(now);
    }

    /// Answer a request with the failure `error` maps to (see `failure.rs`).
    fn refuse_request(&mut self, now: Instant, server: TxId, request: &Message, error: &CallError) {
        let answer = crate::status::call(error, self.config.statuses());
        let response = self.failure_response(request, &answer, None);
        self.respond(now, server, &response);
    }

    /// Route the transactions' queued outputs: transmissions out, events to their calls.
    fn apply(&mut self, now: Instant) {
        let mut out = self.tx.take_outputs();
        for output in out.drain(..) {
            match output {
                Output::Transmit { bytes, destination } => self.out.send(bytes, destination),
                Output::Event { id, event } => self.on_tx_event(now, id, event),
                Output::Terminated { id } => {
                    self.tx.take_role(id);
                }
            }
        }
        self.tx.give_back(out);
    }

    fn on_tx_event(&mut self, now: Instant, id: TxId, event: TxEvent) {
        let Some((call, role)) = self.tx.role(id) else {
            return;
        };
        let call = *call;
        match role {
            Role::PlacedInvite => self.on_placed_invite_event(now, call, event),
            Role::Relay { .. } if matches!(event, TxEvent::Retransmitted2xx(_)) => self.on_reinvite_2xx_again(call),
            Role::Relay { .. } => {
                if let Some((_, Role::Relay { server, request })) = self.tx.take_role(id) {
                    self.on_relay_event(now, call, id, server, request, event);
                }
            }
            Role::CallerInvite => {
                if matches!(event, TxEvent::Timeout | TxEvent::TransportError) {
                    self.hang_up(now, call, EndedBy::Switchboard);
                }
            }
            Role::Acked { ack, to } => {
                if matches!(event, TxEvent::Retransmitted2xx(_)) {
                    let (bytes, to) = (ack.clone(), *to);
                    self.out.send(bytes, to);
                }
            }
            Role::Fire => {}
        }
    }

    /// Where a client transaction of ours sends (None for server transactions and for
    /// BYE/CANCEL, whose failure needs no action).
    fn role_peer(&self, call: CallKey, role: &Role) -> Option<Peer> {
        let c = self.calls.get(&call)?;
        match role {
            Role::PlacedInvite => Some(c.callee.peer),
            Role::Relay { request, .. } => {
                let (_, from_side) = self.dialog_of(request)?;
                Some(c.leg(from_side.other()).peer)
            }
            Role::CallerInvite | Role::Fire | Role::Acked { .. } => None,
        }
    }

    fn schedule(&mut self, call: CallKey, at: Instant, timer: CallTimer) {
        self.calls.schedule(call, at, timer);
    }

    /// Forget a call (its indices and timers go with it); report how it ended.
    fn end_call(&mut self, call: CallKey, outcome: Outcome, status: u16, ended_by: EndedBy) {
        let Some(c) = self.calls.remove(call) else { return };
        self.journal_ended(&c);
        tracing::debug!(
            call_id = %String::from_utf8_lossy(&c.caller.call_id),
            outcome = outcome.label(),
            status,
            "call ended"
        );
        if let Some(outbound) = &c.outbound {
            self.trunks.release(&outbound.trunk_id);
        }
        let livekit_call_id = match c.direction {
            Direction::Inbound => c.callee.call_id,
            Direction::Outbound => c.caller.call_id.clone(),
        };
        self.out.report(CallEvent::Ended {
            call_id: c.caller.call_id,
            livekit_call_id: Some(livekit_call_id),
            outcome,
            status,
            reason: crate::status::phrase(status),
            route: Some(c.route),
            ended_by,
            direction: c.direction,
            facts: c.facts,
        });
    }
}

/// One peer whichever way a dual-stack socket spells it (`::ffff:192.0.2.1` is 192.0.2.1).
fn same_address(a: std::net::SocketAddr, b: std::net::SocketAddr) -> bool {
    a.port() == b.port() && a.ip().to_canonical() == b.ip().to_canonical()
}

#[cfg(test)]
mod tests {
    use super::{B2bua, B2buaConfig};

    #[test]
    fn our_own_via_is_recognised_by_its_exact_sent_by_only() {
        let config = B2buaConfig {
            advertised: "192.0.2.5:5060".into(),
            ..B2buaConfig::default()
        };
        let b2b = B2bua::new(config, 1);
        assert!(b2b.is_own_via(b"SIP/2.0/UDP 192.0.2.5:5060;branch=z9hG4bK1"));
        assert!(
            b2b.is_own_via(b"SIP/2.0/TCP 192.0.2.5;branch=z9hG4bK1"),
            "5060 is the default port"
        );
        assert!(!b2b.is_own_via(b"SIP/2.0/UDP 192.0.2.5:50601;branch=z9hG4bK1"));
        assert!(!b2b.is_own_via(b"SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bK1"));
        assert!(!b2b.is_own_via(b"not a via"));
    }
}
