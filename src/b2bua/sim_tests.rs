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
use crate::routing::{AgentTarget, Decision, OutboundRouter, Query, Refusal, RouteKind, RouteRequest, Router};
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
                transport: Transport::Udp,
                kind: RouteKind::Static,
                headers: vec![],
            })),
            "+15550000480" => Decision::Refuse(Refusal::NoAgent),
            _ => Decision::Refuse(Refusal::UnknownNumber),
        }
    }
}

/// Decide every inbound route the B2BUA asks for with `router`, at once (the shell's
/// workers, in one step).
fn route_all(b2b: &mut B2bua, now: Instant, router: &dyn Router) {
    route_both(b2b, now, router, &crate::routing::outbound::NoOutbound);
}

/// The same for routes either way: inbound calls by `router`, outbound by `outbound`.
fn route_both(b2b: &mut B2bua, now: Instant, router: &dyn Router, outbound: &dyn OutboundRouter) {
    while let Some(route) = b2b.poll_route() {
        let decision: crate::routing::Routed = match &route.facts {
            Query::Inbound(facts) => router.route(&facts.request(std::time::SystemTime::UNIX_EPOCH)).into(),
            Query::Outbound(facts) => outbound.route_outbound(&facts.request()).into(),
        };
        b2b.handle_routed(now, route.call, decision);
    }
}

/// The inbound facts of a route (panics on an outbound one).
fn inbound_facts(route: &Route) -> &crate::routing::RouteQuery {
    match &route.facts {
        Query::Inbound(facts) => facts,
        Query::Outbound(_) => panic!("an inbound route was asked for"),
    }
}

/// How the scripted agent (on outbound calls: the scripted carrier) behaves.
#[derive(Clone, Copy, PartialEq)]
enum AgentMode {
    /// Challenges the first INVITE with this status (401 or 407), checks the digest answer
    /// of the next (`CARRIER_USER` / `CARRIER_PASSWORD`), then rings and answers.
    ChallengeThenAnswer(u16),
    /// Like `ChallengeThenAnswer`, but rings and never answers once authorised.
    ChallengeThenRing(u16),
    /// Challenges every INVITE with 407, whatever it carries.
    AlwaysChallenge,
    Answer,
    Busy,
    /// Rings and never answers.
    Ring,
    /// Never responds at all.
    Dead,
    /// Rings, then ignores everything (CANCEL included).
    RingDeaf,
    /// A reliable 183 with SDP (RFC 3262), then 200 once it is PRACKed.
    EarlyMedia,
    /// Rings; a CANCEL crosses its 200 (answers the CANCEL, then the INVITE with 200).
    AnswerOnCancel,
    /// Says nothing at first: a 180 after `ring_ms` (if set), a 200 after `answer_ms` (if
    /// set), each counted from the first INVITE and skipped once CANCELled.
    Late {
        ring_ms: Option<u64>,
        answer_ms: Option<u64>,
    },
}

const AGENT_SDP: &[u8] = b"v=0\r\ns=agent\r\na=sendrecv\r\n";

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
    /// Every message that reached the carrier, as bytes (for topology checks).
    seen: Vec<Bytes>,
    /// In-dialog requests other than ACK/BYE, as received (first copy).
    in_dialog: Vec<Message>,
    /// Our answers to in-dialog requests, by CSeq, resent when the request comes again.
    answered: Vec<(u32, Bytes)>,
    /// An in-dialog request of ours, resent every tick until its final answer.
    pending: Option<Bytes>,
    /// Our 2xx to a re-INVITE, resent every tick until the ACK.
    unacked_ok: Option<Bytes>,
    acks: usize,
    /// A broken carrier that never ACKs our 2xx.
    never_acks: bool,
}

#[derive(Default)]
struct Agent {
    invites: Vec<Message>,
    last_response: Option<Bytes>,
    awaiting_ack: bool,
    acks: usize,
    byes_received: usize,
    cancels: usize,
    /// In-dialog requests other than ACK/BYE/CANCEL, as received (first copy).
    in_dialog: Vec<Message>,
    answered: Vec<(u32, Bytes)>,
    /// Final answers to the agent's own in-dialog requests.
    in_dialog_answers: Vec<(Method, u16)>,
    pending: Option<Bytes>,
    /// Whether the PRACK for our reliable 183 came (EarlyMedia mode).
    pracked: bool,
    /// Every message that reached the agent, as bytes (for topology checks).
    seen: Vec<Bytes>,
    /// Ignores in-dialog requests (other than ACK, BYE and CANCEL).
    deaf_in_dialog: bool,
    /// Challenges sent, and whether each digest answer checked out.
    challenges: usize,
    auth_ok: Vec<bool>,
    /// Challenge with SHA-256 rather than MD5.
    sha256: bool,
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
    /// How the carrier reaches us (the link itself is always the simulated one).
    carrier_transport: Transport,
    /// Set for outbound calls: the party at `carrier_addr` is LiveKit placing calls, routed
    /// by the real outbound rules; the party at `agent_addr` is the carrier.
    outbound: Option<outbound_flows::OutboundSide>,
    /// Everything the B2BUA reported.
    events: Vec<CallEvent>,
    /// The agent's answers held back until their time (`AgentMode::Late`), and whether
    /// each is a 2xx (resent until ACKed once sent).
    agent_later: Vec<(Instant, Bytes, bool)>,
    /// Keep the B2BUA's route requests in `held` (a router that takes its time) rather than
    /// deciding them at once with `Table`.
    hold_routes: bool,
    held: Vec<Route>,
    /// The carrier the shell's gate names for the carrier's requests.
    carrier_id: Option<CarrierId>,
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
            carrier_transport: Transport::Udp,
            outbound: None,
            events: Vec::new(),
            agent_later: Vec::new(),
            hold_routes: false,
            held: Vec::new(),
            carrier_id: None,
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
        if self.hold_routes {
            self.held.extend(std::iter::from_fn(|| self.b2b.poll_route()));
        }
        match &self.outbound {
            Some(outbound) => route_both(&mut self.b2b, self.now, &Table, &outbound.router),
            None => route_all(&mut self.b2b, self.now, &Table),
        }
        while let Some(t) = self.b2b.poll_transmit() {
            self.send(t.to.addr, t.bytes);
        }
        while let Some(event) = self.b2b.poll_event() {
            self.events.push(event);
        }
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
            let transport = if from == carrier_addr() {
                self.carrier_transport
            } else {
                Transport::Udp
            };
            let peer = Peer {
                addr: from,
                transport,
                connection: None,
            };
            if message.is_request() && from == carrier_addr() && self.outbound.is_some() {
                self.b2b
                    .handle_outbound_request(self.now, message, peer, Arrival::in_country("1"));
            } else if message.is_request() {
                let arrival = Arrival::in_country("1").from_carrier(self.carrier_id.clone());
                self.b2b.handle_request(self.now, message, peer, arrival);
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
        self.carrier.seen.push(m.raw().clone());
        if let Some(status) = m.status() {
            let cseq = m.cseq().unwrap();
            let method = cseq.method;
            if method == Method::Invite && cseq.seq != 1 {
                self.carrier_reinvite_answer(&m, status);
                return;
            }
            if method == Method::Invite && status < 200 {
                if m.header(HeaderName::Require) == Some(b"100rel") {
                    self.carrier_prack(&m);
                }
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
                        super::relay::ack_for_non_2xx(invite, &m)
                    };
                    self.carrier.ack = Some(ack);
                }
                let ack = self.carrier.ack.clone().unwrap();
                if !self.carrier.never_acks {
                    self.send(self.b2b_addr(), ack);
                }
            } else if method == Method::Bye {
                self.carrier.bye_answered = true;
                self.carrier.bye = None;
            } else if status >= 200 && self.carrier.pending.take().is_some() {
                self.carrier.in_dialog_answers.push((method, status));
            }
            return;
        }
        match m.method() {
            Some(Method::Bye) => {
                self.carrier.byes_received += 1;
                let ok = response_for(&m, 200, "OK").build().to_bytes();
                self.send(self.b2b_addr(), ok);
            }
            Some(Method::Ack) => {
                self.carrier.acks += 1;
                self.carrier.unacked_ok = None;
            }
            _ => {
                let seq = m.cseq().unwrap().seq;
                if let Some((_, again)) = self.carrier.answered.iter().find(|(s, _)| *s == seq) {
                    let again = again.clone();
                    self.send(self.b2b_addr(), again);
                    return;
                }
                let ok = answer_in_dialog(&m, "c2", "<sip:carrier@192.0.2.1:5060>");
                if m.method() == Some(&Method::Invite) {
                    self.carrier.unacked_ok = Some(ok.clone());
                }
                self.carrier.answered.push((seq, ok.clone()));
                self.carrier.in_dialog.push(m);
                self.send(self.b2b_addr(), ok);
            }
        }
    }

    /// The answer to the carrier's re-INVITE: ACK a 2xx (every copy of it).
    fn carrier_reinvite_answer(&mut self, m: &Message, status: u16) {
        if status < 200 {
            return;
        }
        if self.carrier.pending.take().is_some() {
            self.carrier.in_dialog_answers.push((Method::Invite, status));
        }
        if status < 300 {
            let ack = self.carrier_in_dialog(Method::Ack, m.cseq().unwrap().seq);
            self.send(self.b2b_addr(), ack.to_bytes());
        }
    }

    /// RFC 3262: PRACK a reliable provisional.
    fn carrier_prack(&mut self, m: &Message) {
        let rseq = String::from_utf8_lossy(m.header(HeaderName::RSeq).unwrap()).into_owned();
        self.carrier.to_tag = m.to_tag().map(Bytes::copy_from_slice);
        let mut prack = self.carrier_in_dialog(Method::Prack, 2);
        prack.append_header(HeaderName::RAck, Bytes::from(format!("{rseq} 1 INVITE")));
        self.carrier_request(prack);
    }

    /// The carrier sends an in-dialog request and resends it until its final answer.
    fn carrier_request(&mut self, request: Message) {
        let bytes = request.to_bytes();
        self.carrier.pending = Some(bytes.clone());
        self.send(self.b2b_addr(), bytes);
    }

    /// The agent sends a request in its dialog with us, resent until its final answer.
    fn agent_request(&mut self, method: Method, cseq: u32, body: Option<&'static [u8]>) -> Message {
        self.agent_request_with(method, cseq, body, &[])
    }

    /// `agent_request` with extra headers.
    fn agent_request_with(
        &mut self,
        method: Method,
        cseq: u32,
        body: Option<&'static [u8]>,
        extra: &[(HeaderName, &str)],
    ) -> Message {
        let invite = self.agent.invites[0].clone();
        let our_tag = String::from_utf8_lossy(invite.from().unwrap().tag.unwrap()).into_owned();
        let mut b = RequestBuilder::new(method.clone(), b"sip:switchboard@192.0.2.5:5060")
            .header(
                HeaderName::Via,
                format!("SIP/2.0/UDP 192.0.2.10:5090;branch=z9hG4bKa{method}{cseq};rport"),
            )
            .header(HeaderName::MaxForwards, "70")
            .header(HeaderName::From, "<sip:agent@livekit.test>;tag=a1")
            .header(HeaderName::To, format!("<sip:x@192.0.2.5>;tag={our_tag}"))
            .header(HeaderName::CallId, invite.call_id().unwrap())
            .header(HeaderName::CSeq, format!("{cseq} {method}"))
            .header(HeaderName::Contact, "<sip:agent@192.0.2.10:5090>");
        for (name, value) in extra {
            b = b.header(*name, value);
        }
        if let Some(body) = body {
            b = b
                .header(HeaderName::ContentType, "application/sdp")
                .body(Bytes::from_static(body));
        }
        let request = b.build();
        if method != Method::Ack {
            self.agent.pending = Some(request.to_bytes());
        }
        self.send(self.b2b_addr(), request.to_bytes());
        request
    }

    /// An answer to one of the agent's own requests: ACK a re-INVITE's 2xx (every copy).
    fn agent_got_answer(&mut self, m: &Message) {
        let (Some(status), Ok(cseq)) = (m.status(), m.cseq()) else {
            return;
        };
        if status < 200 {
            return;
        }
        if self.agent.pending.take().is_some() {
            self.agent.in_dialog_answers.push((cseq.method.clone(), status));
        }
        if cseq.method == Method::Invite && status < 300 {
            self.agent_request(Method::Ack, cseq.seq, None);
        }
    }

    fn at_agent(&mut self, m: Message) {
        self.agent.seen.push(m.raw().clone());
        if !m.is_request() {
            self.agent_got_answer(&m);
            return;
        }
        let b2b = self.b2b_addr();
        match m.method().unwrap() {
            Method::Invite if m.to().unwrap().tag.is_none() => {
                let seq = m.cseq().unwrap().seq;
                let again = |i: &Message| i.call_id() == m.call_id() && i.cseq().unwrap().seq == seq;
                if self.agent.invites.iter().any(again) {
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
                let mode = self.mode;
                let authorised = match mode {
                    AgentMode::ChallengeThenAnswer(status) | AgentMode::ChallengeThenRing(status) => {
                        self.answered_challenge(&m, status)
                    }
                    _ => false,
                };
                match mode {
                    AgentMode::ChallengeThenAnswer(status) | AgentMode::ChallengeThenRing(status) if !authorised => {
                        let challenge = self.challenge(&m, status);
                        self.send(b2b, challenge);
                    }
                    AgentMode::ChallengeThenRing(_) => {
                        let ringing = reply(180, true);
                        self.agent.last_response = Some(ringing.clone());
                        self.send(b2b, ringing);
                    }
                    AgentMode::ChallengeThenAnswer(_) => {
                        self.send(b2b, reply(180, true));
                        let ok = response_for(&m, 200, "OK")
                            .to_tag("a1")
                            .header(HeaderName::Contact, "<sip:agent@192.0.2.10:5090>")
                            .header(HeaderName::ContentType, "application/sdp")
                            .body(Bytes::from_static(AGENT_SDP))
                            .build()
                            .to_bytes();
                        self.agent.last_response = Some(ok.clone());
                        self.agent.awaiting_ack = true;
                        self.send(b2b, ok);
                    }
                    AgentMode::AlwaysChallenge => {
                        let challenge = self.challenge(&m, 407);
                        self.send(b2b, challenge);
                    }
                    AgentMode::Dead => {}
                    AgentMode::Late { ring_ms, answer_ms } => {
                        let at = |ms: u64| self.now + Duration::from_millis(ms);
                        if let Some(ms) = ring_ms {
                            self.agent_later.push((at(ms), reply(180, true), false));
                        }
                        if let Some(ms) = answer_ms {
                            self.agent_later.push((at(ms), reply(200, true), true));
                        }
                    }
                    AgentMode::AnswerOnCancel => {
                        let ringing = reply(180, true);
                        self.agent.last_response = Some(ringing.clone());
                        self.send(b2b, ringing);
                    }
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
                    AgentMode::EarlyMedia => {
                        let progress = response_for(&m, 183, "Session Progress")
                            .to_tag("a1")
                            .header(HeaderName::Contact, "<sip:agent@192.0.2.10:5090>")
                            .header(HeaderName::Require, "100rel")
                            .header(HeaderName::RSeq, "1")
                            .header(HeaderName::ContentType, "application/sdp")
                            .body(Bytes::from_static(AGENT_SDP))
                            .build()
                            .to_bytes();
                        self.agent.last_response = Some(progress.clone());
                        self.send(b2b, progress);
                    }
                }
            }
            Method::Prack if self.mode == AgentMode::EarlyMedia && !self.agent.pracked => {
                self.agent.pracked = true;
                self.agent.in_dialog.push(m.clone());
                let ok = response_for(&m, 200, "OK").build().to_bytes();
                self.agent.answered.push((m.cseq().unwrap().seq, ok.clone()));
                self.send(b2b, ok);
                let invite = self.agent.invites[0].clone();
                let answer = response_for(&invite, 200, "OK")
                    .to_tag("a1")
                    .header(HeaderName::Contact, "<sip:agent@192.0.2.10:5090>")
                    .header(HeaderName::ContentType, "application/sdp")
                    .body(Bytes::from_static(AGENT_SDP))
                    .build()
                    .to_bytes();
                self.agent.last_response = Some(answer.clone());
                self.agent.awaiting_ack = true;
                self.send(b2b, answer);
            }
            Method::Ack => {
                self.agent.acks += 1;
                self.agent.awaiting_ack = false;
            }
            Method::Cancel if self.mode == AgentMode::RingDeaf => self.agent.cancels += 1,
            Method::Cancel if self.mode == AgentMode::AnswerOnCancel => {
                self.agent.cancels += 1;
                let ok = response_for(&m, 200, "OK").build().to_bytes();
                self.send(b2b, ok);
                if self.agent.awaiting_ack || self.agent.acks > 0 {
                    return;
                }
                let invite = self.agent.invites[0].clone();
                let answer = response_for(&invite, 200, "OK")
                    .to_tag("a1")
                    .header(HeaderName::Contact, "<sip:agent@192.0.2.10:5090>")
                    .build()
                    .to_bytes();
                self.agent.last_response = Some(answer.clone());
                self.agent.awaiting_ack = true;
                self.send(b2b, answer);
            }
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
            _ if self.agent.deaf_in_dialog => {}
            _ => {
                let seq = m.cseq().unwrap().seq;
                if let Some((_, again)) = self.agent.answered.iter().find(|(s, _)| *s == seq) {
                    let again = again.clone();
                    self.send(b2b, again);
                    return;
                }
                let ok = answer_in_dialog(&m, "a1", "<sip:agent@192.0.2.10:5090>");
                if m.method() == Some(&Method::Invite) {
                    // A re-INVITE's 2xx is resent until its ACK (RFC 3261 §13.3.1.4).
                    self.agent.last_response = Some(ok.clone());
                    self.agent.awaiting_ack = true;
                }
                self.agent.answered.push((seq, ok.clone()));
                self.agent.in_dialog.push(m);
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
        for again in [
            self.carrier.pending.clone(),
            self.carrier.unacked_ok.clone(),
            self.agent.pending.clone(),
        ]
        .into_iter()
        .flatten()
        {
            self.send(b2b, again);
        }
        if self.mode == AgentMode::EarlyMedia && !self.agent.pracked {
            if let Some(progress) = self.agent.last_response.clone() {
                self.send(b2b, progress);
            }
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
            let next_later = self.agent_later.iter().map(|l| l.0).min();
            let next = [next_message, next_later, self.b2b.next_timeout(), Some(self.next_tick)]
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
            self.agent_sends_what_is_due();
            self.b2b.handle_timeout(self.now);
            self.pump_b2b();
            if self.now >= self.next_tick {
                self.next_tick = self.now + TICK;
                self.tick();
            }
        }
        self.now = end;
    }

    /// `AgentMode::Late`: what the agent held back goes out when due, unless CANCELled.
    fn agent_sends_what_is_due(&mut self) {
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) = self.agent_later.drain(..).partition(|l| l.0 <= now);
        self.agent_later = later;
        for (_, bytes, is_2xx) in due {
            if self.agent.cancels > 0 {
                continue;
            }
            if is_2xx {
                self.agent.last_response = Some(bytes.clone());
                self.agent.awaiting_ack = true;
            }
            self.send(self.b2b_addr(), bytes);
        }
    }

    fn assert_nothing_left(&self, context: &str) {
        assert_eq!(self.b2b.active_calls(), 0, "{context}: calls left");
        assert_eq!(self.b2b.call_timers(), 0, "{context}: call timers left");
        assert_eq!(self.b2b.transactions(), 0, "{context}: transactions left");
    }
}

/// A 200 to an in-dialog request, with an SDP answer when it is an INVITE or an UPDATE
/// that carried an offer.
fn answer_in_dialog(m: &Message, tag: &str, contact: &str) -> Bytes {
    let b = response_for(m, 200, "OK").to_tag(tag.to_string());
    let offer = matches!(m.method(), Some(Method::Invite | Method::Update)) && !m.body().is_empty();
    let b = if offer {
        b.header(HeaderName::Contact, contact)
            .header(HeaderName::ContentType, "application/sdp")
            .body(Bytes::from_static(AGENT_SDP))
    } else {
        b
    };
    b.build().to_bytes()
}

mod dialog_flows;
mod ghost_flows;
mod journal_flows;
mod outbound_flows;
mod routing_flows;
mod setup_flows;
mod transport_flows;
