//! The B2BUA between a scripted carrier and a scripted agent, over a simulated network
//! with loss and a virtual clock: every call flow as an ordinary deterministic test.
//! The scripted ends retransmit like real UAs (requests until a final answer, 2xx until
//! the ACK), so loss exercises the B2BUA's own retransmission and absorption.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::routing::{AgentTarget, Decision, Refusal, RouteKind, RouteRequest, Router};
use crate::sip::{response_for, HeaderName, Message, Method, RequestBuilder};
use crate::transport::Transport;

const NUMBER: &str = "+15551234567";
const TICK: Duration = Duration::from_millis(500);
const LATENCY: Duration = Duration::from_millis(10);

fn carrier_addr() -> SocketAddr {
    "192.0.2.1:5060".parse().unwrap()
}
fn agent_addr() -> SocketAddr {
    "192.0.2.10:5090".parse().unwrap()
}

struct Table;

impl Router for Table {
    fn route(&self, request: &RouteRequest<'_>) -> Decision {
        match request.called {
            NUMBER => Decision::Agent(Box::new(AgentTarget {
                agent_id: "0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11".into(),
                agent_version: 3,
                agent_version_id: "ver-3".into(),
                org_id: "org-1".into(),
                trunk_id: "trunk-1".into(),
                livekit_host: "livekit.test".into(),
                destination: agent_addr(),
                kind: RouteKind::Static,
                headers: vec![],
            })),
            "+15550000480" => Decision::Refuse(Refusal::NoAgent),
            _ => Decision::Refuse(Refusal::UnknownNumber),
        }
    }
}

/// How the scripted agent behaves.
#[derive(Clone, Copy, PartialEq)]
enum AgentMode {
    Answer,
    Busy,
    /// Rings and never answers.
    Ring,
    /// Never responds at all.
    Dead,
    /// Rings, then ignores everything (CANCEL included).
    RingDeaf,
}

#[derive(Default)]
struct Carrier {
    invite: Option<Message>,
    finals: Vec<u16>,
    provisionals: Vec<u16>,
    ack: Option<Bytes>,
    bye: Option<Bytes>,
    bye_answered: bool,
    byes_received: usize,
    to_tag: Option<Bytes>,
    /// Final answers to in-dialog requests other than BYE.
    in_dialog_answers: Vec<(Method, u16)>,
}

#[derive(Default)]
struct Agent {
    invites: Vec<Message>,
    last_response: Option<Bytes>,
    awaiting_ack: bool,
    acks: usize,
    byes_received: usize,
    cancels: usize,
    /// In-dialog requests other than ACK/BYE/CANCEL, as received.
    in_dialog: Vec<Message>,
}

struct Net {
    now: Instant,
    rng: StdRng,
    loss: f64,
    b2b: B2bua,
    link: VecDeque<(Instant, SocketAddr, Bytes)>,
    carrier: Carrier,
    agent: Agent,
    mode: AgentMode,
    next_tick: Instant,
}

impl Net {
    fn new(seed: u64, loss: f64, mode: AgentMode, config: B2buaConfig) -> Net {
        let now = crate::clock::now();
        Net {
            now,
            rng: StdRng::seed_from_u64(seed),
            loss,
            b2b: B2bua::new(config, seed),
            link: VecDeque::new(),
            carrier: Carrier::default(),
            agent: Agent::default(),
            mode,
            next_tick: now + TICK,
        }
    }

    fn config() -> B2buaConfig {
        B2buaConfig {
            advertised: "192.0.2.5:5060".into(),
            ..B2buaConfig::default()
        }
    }

    fn send(&mut self, to: SocketAddr, bytes: Bytes) {
        if !self.rng.random_bool(self.loss) {
            self.link.push_back((self.now + LATENCY, to, bytes));
        }
    }

    fn pump_b2b(&mut self) {
        while let Some(t) = self.b2b.poll_transmit() {
            self.send(t.to.addr, t.bytes);
        }
        while self.b2b.poll_event().is_some() {}
    }

    fn call(&mut self, dialed: &str, extra: &[(HeaderName, &str)]) {
        let mut b = RequestBuilder::new(Method::Invite, format!("sip:{dialed}@192.0.2.5").as_bytes())
            .header(
                HeaderName::Via,
                "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKcarrier1;rport",
            )
            .header(HeaderName::MaxForwards, "70")
            .header(HeaderName::From, "\"Caller\" <sip:+14155550100@192.0.2.1>;tag=c1")
            .header(HeaderName::To, format!("<sip:{dialed}@192.0.2.5>"))
            .header(HeaderName::CallId, "carrier-call-1")
            .header(HeaderName::CSeq, "1 INVITE")
            .header(HeaderName::Contact, "<sip:carrier@192.0.2.1:5060>")
            .header(HeaderName::PAssertedIdentity, "<sip:+14155550100@192.0.2.1>")
            .header(
                HeaderName::Diversion,
                "<sip:+15559876543@192.0.2.1>;reason=unconditional",
            )
            .raw_header(b"X-Carrier-Ref", "abc");
        for (name, value) in extra {
            b = b.header(*name, value);
        }
        let invite = b
            .header(HeaderName::ContentType, "application/sdp")
            .body(Bytes::from_static(b"v=0\r\ns=-\r\n"))
            .build();
        self.carrier.invite = Some(invite.clone());
        self.send(self.b2b_addr(), invite.to_bytes());
    }

    fn b2b_addr(&self) -> SocketAddr {
        "192.0.2.5:5060".parse().unwrap()
    }

    fn carrier_in_dialog(&mut self, method: Method, cseq: u32) -> Message {
        let tag = self.carrier.to_tag.clone().unwrap_or_default();
        RequestBuilder::new(method.clone(), b"sip:switchboard@192.0.2.5:5060")
            .header(
                HeaderName::Via,
                format!("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKc{method}{cseq};rport"),
            )
            .header(HeaderName::MaxForwards, "70")
            .header(HeaderName::From, "\"Caller\" <sip:+14155550100@192.0.2.1>;tag=c1")
            .header(
                HeaderName::To,
                format!("<sip:{NUMBER}@192.0.2.5>;tag={}", String::from_utf8_lossy(&tag)),
            )
            .header(HeaderName::CallId, "carrier-call-1")
            .header(HeaderName::CSeq, format!("{cseq} {method}"))
            .build()
    }

    /// The caller hangs up.
    fn hang_up(&mut self) {
        let bye = self.carrier_in_dialog(Method::Bye, 2).to_bytes();
        self.carrier.bye = Some(bye.clone());
        self.send(self.b2b_addr(), bye);
    }

    fn deliver(&mut self, to: SocketAddr, bytes: Bytes) {
        let message = Message::parse(bytes).expect("everyone sends valid SIP");
        if to == self.b2b_addr() {
            let from = if message.is_request() && message.top_via().unwrap().host == b"192.0.2.10"
                || !message.is_request() && message.call_id() != Some(b"carrier-call-1")
            {
                agent_addr()
            } else {
                carrier_addr()
            };
            let peer = Peer {
                addr: from,
                transport: Transport::Udp,
                connection: None,
            };
            if message.is_request() {
                self.b2b.handle_request(self.now, message, peer, &Table);
            } else {
                self.b2b.handle_response(self.now, message);
            }
            self.pump_b2b();
        } else if to == carrier_addr() {
            self.at_carrier(message);
        } else {
            self.at_agent(message);
        }
    }

    fn at_carrier(&mut self, m: Message) {
        if let Some(status) = m.status() {
            let cseq = m.cseq().unwrap();
            let method = cseq.method;
            // The initial INVITE is CSeq 1; a re-INVITE's final is an in-dialog answer.
            if method == Method::Invite && cseq.seq != 1 && status >= 200 {
                self.carrier.in_dialog_answers.push((Method::Invite, status));
                return;
            }
            if method == Method::Invite && status < 200 {
                self.carrier.provisionals.push(status);
                if self.carrier.to_tag.is_none() {
                    self.carrier.to_tag = m.to_tag().map(Bytes::copy_from_slice);
                }
            } else if method == Method::Invite {
                if self.carrier.finals.is_empty() {
                    self.carrier.finals.push(status);
                    self.carrier.to_tag = m.to().unwrap().tag.map(Bytes::copy_from_slice);
                    let ack = if status < 300 {
                        self.carrier_in_dialog(Method::Ack, 1).to_bytes()
                    } else {
                        let invite = self.carrier.invite.as_ref().unwrap();
                        super::build::ack_for_non_2xx(invite, &m)
                    };
                    self.carrier.ack = Some(ack);
                }
                let ack = self.carrier.ack.clone().unwrap();
                self.send(self.b2b_addr(), ack);
            } else if method == Method::Bye {
                self.carrier.bye_answered = true;
                self.carrier.bye = None;
            } else if status >= 200 {
                self.carrier.in_dialog_answers.push((method, status));
            }
            return;
        }
        if m.method() == Some(&Method::Bye) {
            self.carrier.byes_received += 1;
            let ok = response_for(&m, 200, "OK").build().to_bytes();
            self.send(self.b2b_addr(), ok);
        } else if m.method() != Some(&Method::Ack) {
            let ok = response_for(&m, 200, "OK").build().to_bytes();
            self.send(self.b2b_addr(), ok);
        }
    }

    fn at_agent(&mut self, m: Message) {
        if !m.is_request() {
            return;
        }
        let b2b = self.b2b_addr();
        match m.method().unwrap() {
            Method::Invite if m.to().unwrap().tag.is_none() => {
                if self.agent.invites.iter().any(|i| i.call_id() == m.call_id()) {
                    if let Some(last) = self.agent.last_response.clone() {
                        self.send(b2b, last);
                    }
                    return;
                }
                self.agent.invites.push(m.clone());
                let reply = |status, tag: bool| {
                    let b = response_for(&m, status, "x").header(HeaderName::Contact, "<sip:agent@192.0.2.10:5090>");
                    let b = if tag { b.to_tag("a1") } else { b };
                    b.build().to_bytes()
                };
                match self.mode {
                    AgentMode::Dead => {}
                    AgentMode::RingDeaf => self.send(b2b, reply(180, true)),
                    AgentMode::Answer => {
                        self.send(b2b, reply(180, true));
                        let ok = reply(200, true);
                        self.agent.last_response = Some(ok.clone());
                        self.agent.awaiting_ack = true;
                        self.send(b2b, ok);
                    }
                    AgentMode::Busy => {
                        let busy = reply(486, true);
                        self.agent.last_response = Some(busy.clone());
                        self.send(b2b, busy);
                    }
                    AgentMode::Ring => {
                        let ringing = reply(180, true);
                        self.agent.last_response = Some(ringing.clone());
                        self.send(b2b, ringing);
                    }
                }
            }
            Method::Ack => {
                self.agent.acks += 1;
                self.agent.awaiting_ack = false;
            }
            Method::Cancel if self.mode == AgentMode::RingDeaf => self.agent.cancels += 1,
            Method::Cancel => {
                self.agent.cancels += 1;
                let ok = response_for(&m, 200, "OK").build().to_bytes();
                self.send(b2b, ok);
                let invite = self.agent.invites.last().unwrap().clone();
                let terminated = response_for(&invite, 487, "Request Terminated")
                    .to_tag("a1")
                    .build()
                    .to_bytes();
                self.agent.last_response = Some(terminated.clone());
                self.send(b2b, terminated);
            }
            Method::Bye => {
                self.agent.byes_received += 1;
                let ok = response_for(&m, 200, "OK").build().to_bytes();
                self.send(b2b, ok);
            }
            _ => {
                self.agent.in_dialog.push(m.clone());
                let ok = response_for(&m, 200, "OK").build().to_bytes();
                self.send(b2b, ok);
            }
        }
    }

    /// The scripted ends' own retransmissions, every 500 ms.
    fn tick(&mut self) {
        let b2b = self.b2b_addr();
        if self.carrier.finals.is_empty() {
            if let Some(invite) = self.carrier.invite.as_ref().map(|i| i.to_bytes()) {
                self.send(b2b, invite);
            }
        }
        if let Some(bye) = self.carrier.bye.clone() {
            self.send(b2b, bye);
        }
        if self.agent.awaiting_ack || self.mode == AgentMode::Busy && self.agent.acks == 0 {
            if let Some(last) = self.agent.last_response.clone() {
                self.send(b2b, last);
            }
        }
    }

    fn run_for(&mut self, limit: Duration) {
        let end = self.now + limit;
        loop {
            let next_message = self.link.front().map(|m| m.0);
            let next = [next_message, self.b2b.next_timeout(), Some(self.next_tick)]
                .into_iter()
                .flatten()
                .min()
                .unwrap();
            if next > end {
                break;
            }
            self.now = next.max(self.now);
            while self.link.front().is_some_and(|m| m.0 <= self.now) {
                let (_, to, bytes) = self.link.pop_front().unwrap();
                self.deliver(to, bytes);
            }
            self.b2b.handle_timeout(self.now);
            self.pump_b2b();
            if self.now >= self.next_tick {
                self.next_tick = self.now + TICK;
                self.tick();
            }
        }
        self.now = end;
    }

    fn assert_nothing_left(&self, context: &str) {
        assert_eq!(self.b2b.active_calls(), 0, "{context}: calls left");
        assert_eq!(self.b2b.call_timers(), 0, "{context}: call timers left");
        assert_eq!(self.b2b.transactions(), 0, "{context}: transactions left");
    }
}

#[test]
fn a_call_is_answered_and_the_caller_hangs_up_cleanly() {
    let mut net = Net::new(1, 0.0, AgentMode::Answer, Net::config());
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.carrier.finals, vec![200]);
    assert!(net.carrier.provisionals.contains(&180));
    assert_eq!(net.agent.invites.len(), 1);
    assert!(net.agent.acks >= 1, "the agent's 2xx was ACKed");
    let invite = &net.agent.invites[0];
    assert_eq!(
        invite.request_uri(),
        Some(&b"sip:0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11@livekit.test"[..])
    );
    assert_ne!(
        invite.call_id(),
        Some(&b"carrier-call-1"[..]),
        "a new Call-ID on the agent leg"
    );
    assert_eq!(
        invite.header(HeaderName::PAssertedIdentity),
        Some(&b"<sip:+14155550100@192.0.2.1>"[..])
    );
    assert!(invite.header(HeaderName::Diversion).is_some());
    assert_eq!(invite.header_by_name("X-Carrier-Ref"), Some(&b"abc"[..]));
    assert_eq!(invite.header_by_name("X-Switchboard-Route"), Some(&b"static"[..]));
    assert_eq!(invite.header_by_name("X-Switchboard-Called"), Some(NUMBER.as_bytes()));
    assert_eq!(invite.header_by_name("X-Switchboard-Agent-Version"), Some(&b"3"[..]));
    assert_eq!(invite.max_forwards().unwrap(), Some(69));
    assert_eq!(invite.body(), b"v=0\r\ns=-\r\n", "SDP passes through unchanged");
    assert!(
        invite
            .headers(HeaderName::Via)
            .all(|v| !v.starts_with(b"SIP/2.0/UDP 192.0.2.1")),
        "topology hidden"
    );
    net.hang_up();
    net.run_for(Duration::from_secs(1));
    assert!(net.carrier.bye_answered);
    assert_eq!(net.agent.byes_received, 1);
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after hang-up");
}

#[test]
fn calls_complete_through_20_percent_loss_in_both_directions() {
    for seed in 0..30 {
        let mut net = Net::new(seed, 0.2, AgentMode::Answer, Net::config());
        net.call(NUMBER, &[]);
        net.run_for(Duration::from_secs(8));
        assert_eq!(net.carrier.finals, vec![200], "seed {seed}");
        assert_eq!(
            net.agent.invites.len(),
            1,
            "seed {seed}: one agent leg however often the INVITE came"
        );
        net.hang_up();
        net.run_for(Duration::from_secs(8));
        assert!(net.carrier.bye_answered, "seed {seed}: the caller's BYE was answered");
        assert!(net.agent.byes_received >= 1, "seed {seed}: the agent got the BYE");
        net.run_for(Duration::from_secs(60));
        net.assert_nothing_left(&format!("seed {seed}"));
    }
}

#[test]
fn session_timer_expiry_ends_both_legs_with_bye() {
    let mut net = Net::new(2, 0.0, AgentMode::Answer, Net::config());
    net.call(
        NUMBER,
        &[
            (HeaderName::SessionExpires, "90;refresher=uac"),
            (HeaderName::Supported, "timer"),
        ],
    );
    net.run_for(Duration::from_secs(89));
    assert_eq!(net.carrier.byes_received + net.agent.byes_received, 0);
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.carrier.byes_received, 1, "the carrier leg is ended");
    assert_eq!(net.agent.byes_received, 1, "the agent leg is ended");
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after session expiry");
}

#[test]
fn a_session_expires_below_our_minimum_gets_422_with_min_se() {
    let mut net = Net::new(3, 0.0, AgentMode::Answer, Net::config());
    net.call(NUMBER, &[(HeaderName::SessionExpires, "30")]);
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.finals, vec![422]);
    assert!(net.agent.invites.is_empty());
}

#[test]
fn a_busy_agent_passes_486_through_and_leaves_nothing() {
    let mut net = Net::new(4, 0.0, AgentMode::Busy, Net::config());
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.carrier.finals, vec![486]);
    assert!(net.agent.acks >= 1, "the agent's 486 was ACKed");
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after 486");
}

#[test]
fn the_ring_timeout_cancels_the_agent_and_answers_the_caller() {
    let config = B2buaConfig {
        ring_timeout_secs: 5,
        ..Net::config()
    };
    let mut net = Net::new(5, 0.0, AgentMode::Ring, config);
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(4));
    assert!(net.carrier.finals.is_empty(), "still ringing");
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.carrier.finals, vec![480]);
    assert_eq!(net.agent.cancels, 1);
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after ring timeout");
}

#[test]
fn a_dead_agent_gives_503_with_retry_after_in_seconds_not_a_ringing_forever() {
    let mut net = Net::new(6, 0.0, AgentMode::Dead, Net::config());
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(5));
    assert_eq!(net.carrier.finals, vec![503]);
    net.run_for(Duration::from_secs(60));
    net.assert_nothing_left("after a dead agent");
}

#[test]
fn the_caller_cancels_while_ringing_and_gets_487() {
    let mut net = Net::new(7, 0.0, AgentMode::Ring, Net::config());
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(1));
    let invite = net.carrier.invite.clone().unwrap();
    let cancel = super::build::cancel_for(&invite);
    net.send(net.b2b_addr(), cancel.to_bytes());
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.finals, vec![487]);
    assert_eq!(net.agent.cancels, 1);
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after CANCEL");
}

#[test]
fn unknown_numbers_get_404_and_unassigned_ones_480_with_a_reason() {
    for (dialed, status) in [("+15550009999", 404), ("+15550000480", 480)] {
        let mut net = Net::new(8, 0.0, AgentMode::Answer, Net::config());
        net.call(dialed, &[]);
        net.run_for(Duration::from_secs(1));
        assert_eq!(net.carrier.finals, vec![status], "{dialed}");
        assert!(net.agent.invites.is_empty());
        net.run_for(Duration::from_secs(40));
        net.assert_nothing_left(dialed);
    }
}

#[test]
fn draining_and_the_call_cap_answer_503() {
    let mut net = Net::new(9, 0.0, AgentMode::Answer, Net::config());
    net.b2b.start_draining();
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.finals, vec![503]);

    let mut net = Net::new(
        10,
        0.0,
        AgentMode::Answer,
        B2buaConfig {
            max_calls: 0,
            ..Net::config()
        },
    );
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.finals, vec![503]);
}

#[test]
fn the_call_duration_cap_ends_both_legs() {
    let mut net = Net::new(
        11,
        0.0,
        AgentMode::Answer,
        B2buaConfig {
            max_call_duration_secs: 10,
            ..Net::config()
        },
    );
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(11));
    assert_eq!((net.carrier.byes_received, net.agent.byes_received), (1, 1));
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after the duration cap");
}

#[test]
fn a_request_that_looped_back_through_us_gets_482() {
    let mut net = Net::new(12, 0.0, AgentMode::Answer, Net::config());
    net.call(
        NUMBER,
        &[(HeaderName::Via, "SIP/2.0/UDP 192.0.2.5:5060;branch=z9hG4bKours")],
    );
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.finals, vec![482]);
}

#[test]
fn info_and_update_from_the_caller_reach_the_agent_in_its_dialog_and_their_answers_come_back() {
    let mut net = Net::new(13, 0.0, AgentMode::Answer, Net::config());
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(1));
    for (method, cseq) in [(Method::Info, 2), (Method::Update, 3)] {
        let request = net.carrier_in_dialog(method.clone(), cseq);
        net.send(net.b2b_addr(), request.to_bytes());
        net.run_for(Duration::from_millis(200));
    }
    assert_eq!(
        net.carrier.in_dialog_answers,
        vec![(Method::Info, 200), (Method::Update, 200)]
    );
    let agent_call_id = net.agent.invites[0].call_id().unwrap().to_vec();
    for relayed in &net.agent.in_dialog {
        assert_eq!(
            relayed.call_id(),
            Some(&agent_call_id[..]),
            "relayed in the agent's dialog"
        );
        assert_eq!(relayed.to_tag(), Some(&b"a1"[..]), "with the agent's tag");
        assert_eq!(
            relayed.request_uri(),
            Some(&b"sip:agent@192.0.2.10:5090"[..]),
            "to the agent's Contact"
        );
    }
    assert_eq!(
        net.agent
            .in_dialog
            .iter()
            .map(|m| m.method().unwrap().clone())
            .collect::<Vec<_>>(),
        vec![Method::Info, Method::Update]
    );
    // CSeq on the agent leg counts on from our INVITE, whatever the carrier's numbers.
    assert_eq!(net.agent.in_dialog[0].cseq().unwrap().seq, 2);
    assert_eq!(net.agent.in_dialog[1].cseq().unwrap().seq, 3);
}

#[test]
fn refer_is_refused_with_603_by_default() {
    let mut net = Net::new(14, 0.0, AgentMode::Answer, Net::config());
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(1));
    let refer = net.carrier_in_dialog(Method::Refer, 2);
    net.send(net.b2b_addr(), refer.to_bytes());
    net.run_for(Duration::from_millis(200));
    assert_eq!(net.carrier.in_dialog_answers, vec![(Method::Refer, 603)]);
    assert!(net.agent.in_dialog.is_empty());
}

#[test]
fn a_prack_has_its_rack_rewritten_to_the_agent_legs_invite() {
    let mut net = Net::new(15, 0.0, AgentMode::Ring, Net::config());
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(1));
    let mut prack = net.carrier_in_dialog(Method::Prack, 2);
    // RAck names the carrier leg's INVITE (CSeq 101 here); toward the agent it must name
    // the agent leg's INVITE (CSeq 1).
    prack.append_header(HeaderName::RAck, Bytes::from_static(b"7 101 INVITE"));
    net.send(net.b2b_addr(), prack.to_bytes());
    net.run_for(Duration::from_millis(200));
    let relayed = net
        .agent
        .in_dialog
        .iter()
        .find(|m| m.method() == Some(&Method::Prack))
        .expect("PRACK relayed");
    assert_eq!(relayed.header(HeaderName::RAck), Some(&b"7 1 INVITE"[..]));
    assert_eq!(net.carrier.in_dialog_answers, vec![(Method::Prack, 200)]);
}

#[test]
fn a_cancelled_agent_leg_that_never_answers_is_given_up_after_64_t1() {
    let mut net = Net::new(16, 0.0, AgentMode::RingDeaf, Net::config());
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(1));
    let cancel = super::build::cancel_for(net.carrier.invite.as_ref().unwrap());
    net.send(net.b2b_addr(), cancel.to_bytes());
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.finals, vec![487], "the caller is answered at once");
    assert!(net.agent.cancels >= 1);
    assert_eq!(net.b2b.active_calls(), 1, "the agent leg is still owed an answer");
    net.run_for(Duration::from_secs(70));
    net.assert_nothing_left("after the CANCEL grace period");
}

#[test]
fn a_reinvite_from_the_caller_puts_the_agent_on_hold_and_its_ack_follows() {
    let mut net = Net::new(17, 0.0, AgentMode::Answer, Net::config());
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(1));
    let acks_before = net.agent.acks;
    let hold = Bytes::from_static(b"v=0\r\ns=-\r\na=sendonly\r\n");
    let mut reinvite = net.carrier_in_dialog(Method::Invite, 2);
    reinvite.append_header(HeaderName::ContentType, Bytes::from_static(b"application/sdp"));
    reinvite.set_body(hold.clone());
    net.send(net.b2b_addr(), reinvite.to_bytes());
    net.run_for(Duration::from_millis(200));
    assert_eq!(net.carrier.in_dialog_answers, vec![(Method::Invite, 200)]);
    let relayed = net
        .agent
        .in_dialog
        .iter()
        .find(|m| m.method() == Some(&Method::Invite))
        .expect("the re-INVITE reached the agent");
    assert_eq!(relayed.body(), &hold[..], "a=sendonly passes through untouched");
    assert_eq!(relayed.to_tag(), Some(&b"a1"[..]));
    assert_eq!(relayed.cseq().unwrap().seq, 2);
    let ack = net.carrier_in_dialog(Method::Ack, 2);
    net.send(net.b2b_addr(), ack.to_bytes());
    net.run_for(Duration::from_millis(200));
    assert_eq!(net.agent.acks, acks_before + 1, "the re-INVITE's ACK is relayed");
}
