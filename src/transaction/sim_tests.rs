//! Two transaction tables joined by a simulated lossy link and driven by a virtual clock:
//! retransmission, absorption and every timer, as ordinary deterministic tests.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::sip::{response_for, HeaderName, Message, Method, RequestBuilder};

const CLIENT: u8 = 0;
const SERVER: u8 = 1;
const LATENCY: Duration = Duration::from_millis(20);

/// What the server's TU does with a new request.
#[derive(Clone, Copy)]
enum Answer {
    Final(u16),
    /// Answer nothing at all.
    Silent,
}

struct Sim {
    now: Instant,
    rng: StdRng,
    loss: f64,
    client: Transactions<u8>,
    server: Transactions<u8>,
    link: VecDeque<(Instant, u8, Bytes)>,
    answer: Answer,
    client_events: Vec<TxEvent>,
    server_events: Vec<TxEvent>,
    new_requests_at_server: usize,
    transmissions: [usize; 2],
}

impl Sim {
    fn new(seed: u64, loss: f64, answer: Answer) -> Sim {
        Sim {
            now: crate::clock::now(),
            rng: StdRng::seed_from_u64(seed),
            loss,
            client: Transactions::new(TimerConfig::default()),
            server: Transactions::new(TimerConfig::default()),
            link: VecDeque::new(),
            answer,
            client_events: Vec::new(),
            server_events: Vec::new(),
            new_requests_at_server: 0,
            transmissions: [0, 0],
        }
    }

    fn request(method: Method) -> Message {
        let cseq = format!("1 {method}");
        RequestBuilder::new(method, b"sip:agent@192.0.2.10")
            .header(HeaderName::Via, "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKsim1")
            .header(HeaderName::From, "<sip:carrier@192.0.2.1>;tag=f1")
            .header(HeaderName::To, "<sip:agent@192.0.2.10>")
            .header(HeaderName::CallId, "sim-call")
            .header(HeaderName::CSeq, cseq)
            .build()
    }

    fn send(&mut self, method: Method) {
        let request = Sim::request(method.clone());
        let key = ClientKey::new(Bytes::from_static(b"z9hG4bKsim1"), method);
        let mut out = Vec::new();
        self.client
            .start_client(self.now, key, request.to_bytes(), SERVER, false, &mut out);
        self.absorb(CLIENT, out);
    }

    fn absorb(&mut self, from: u8, outputs: Vec<Output<u8>>) {
        for output in outputs {
            match output {
                Output::Transmit { bytes, destination } => {
                    self.transmissions[from as usize] += 1;
                    if !self.rng.random_bool(self.loss) {
                        self.link.push_back((self.now + LATENCY, destination, bytes));
                    }
                }
                Output::Event { event, .. } if from == CLIENT => self.client_events.push(event),
                Output::Event { event, .. } => self.server_events.push(event),
                Output::Terminated { .. } => {}
            }
        }
    }

    fn deliver(&mut self, to: u8, bytes: Bytes) {
        let message = Message::parse(bytes).expect("the simulator sends valid messages");
        let mut out = Vec::new();
        if to == SERVER {
            let via = message.top_via().unwrap();
            let method = message.method().unwrap().clone();
            let key = ServerKey::new(via.branch.unwrap(), via.sent_by, &method);
            if self
                .server
                .match_request(self.now, &key, method == Method::Ack, &mut out)
                == RequestMatch::New
                && method != Method::Ack
            {
                self.new_requests_at_server += 1;
                let id = self.server.start_server(key, CLIENT, false);
                if method == Method::Invite {
                    let trying = response_for(&message, 100, "Trying").build();
                    self.server.respond(self.now, id, 100, trying.to_bytes(), &mut out);
                }
                if let Answer::Final(status) = self.answer {
                    let response = response_for(&message, status, "Final").to_tag("s1").build();
                    self.server.respond(self.now, id, status, response.to_bytes(), &mut out);
                }
            }
            self.absorb(SERVER, out);
        } else {
            let cseq = message.cseq().unwrap();
            let key = ClientKey::new(
                Bytes::copy_from_slice(message.top_via().unwrap().branch.unwrap()),
                cseq.method,
            );
            self.client.handle_response(
                self.now,
                &key,
                message,
                |_| Sim::request(Method::Ack).to_bytes(),
                &mut out,
            );
            self.absorb(CLIENT, out);
        }
    }

    /// Advance virtual time, delivering messages and firing timers, until `limit`.
    fn run_for(&mut self, limit: Duration) {
        let end = self.now + limit;
        loop {
            let next_message = self.link.front().map(|(at, _, _)| *at);
            let next = [next_message, self.client.next_timeout(), self.server.next_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next.filter(|n| *n <= end) else { break };
            self.now = next.max(self.now);
            while self.link.front().is_some_and(|(at, _, _)| *at <= self.now) {
                let (_, to, bytes) = self.link.pop_front().unwrap();
                self.deliver(to, bytes);
            }
            let mut out = Vec::new();
            self.client.handle_timeout(self.now, &mut out);
            self.absorb(CLIENT, out);
            let mut out = Vec::new();
            self.server.handle_timeout(self.now, &mut out);
            self.absorb(SERVER, out);
        }
        self.now = end;
    }

    fn client_finals(&self) -> Vec<u16> {
        self.client_events
            .iter()
            .filter_map(|e| if let TxEvent::Final(m) = e { m.status() } else { None })
            .collect()
    }
}

#[test]
fn an_invite_rejected_with_486_completes_through_20_percent_loss_both_ways() {
    for seed in 0..40 {
        let mut sim = Sim::new(seed, 0.2, Answer::Final(486));
        sim.send(Method::Invite);
        sim.run_for(Duration::from_secs(120));
        assert_eq!(sim.client_finals(), vec![486], "seed {seed}");
        assert_eq!(
            sim.new_requests_at_server, 1,
            "seed {seed}: a retransmitted INVITE started a second call"
        );
        assert!(
            sim.client.is_empty() && sim.server.is_empty(),
            "seed {seed}: transactions left behind"
        );
    }
}

#[test]
fn a_bye_answered_200_completes_through_20_percent_loss_both_ways() {
    for seed in 0..40 {
        let mut sim = Sim::new(seed, 0.2, Answer::Final(200));
        sim.send(Method::Bye);
        sim.run_for(Duration::from_secs(120));
        assert_eq!(sim.client_finals(), vec![200], "seed {seed}");
        assert_eq!(sim.new_requests_at_server, 1, "seed {seed}");
        assert!(sim.client.is_empty() && sim.server.is_empty(), "seed {seed}");
    }
}

#[test]
fn an_invite_answered_2xx_passes_retransmitted_2xx_up_and_then_ends_by_timers_l_and_m() {
    let mut sim = Sim::new(1, 0.0, Answer::Final(200));
    sim.send(Method::Invite);
    sim.run_for(Duration::from_millis(100));
    assert_eq!(sim.client_finals(), vec![200]);
    assert_eq!(sim.client.len(), 1, "Accepted (Timer M) keeps the client transaction");
    assert_eq!(sim.server.len(), 1, "Accepted (Timer L) keeps the server transaction");
    sim.run_for(Duration::from_secs(33));
    assert!(sim.client.is_empty() && sim.server.is_empty());
}

#[test]
fn timer_a_doubles_and_timer_b_times_out_an_unanswered_invite_after_64_t1() {
    let mut sim = Sim::new(2, 1.0, Answer::Silent);
    sim.send(Method::Invite);
    sim.run_for(Duration::from_millis(31_999));
    assert!(sim.client_events.is_empty());
    // Sent at 0, then Timer A at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s.
    assert_eq!(sim.transmissions[CLIENT as usize], 7);
    sim.run_for(Duration::from_millis(2));
    assert!(matches!(sim.client_events.as_slice(), [TxEvent::Timeout]));
    assert!(sim.client.is_empty());
}

#[test]
fn an_invite_told_to_stop_retransmitting_is_sent_no_more_but_still_times_out_and_hears_a_late_answer() {
    let mut sim = Sim::new(2, 1.0, Answer::Silent);
    sim.send(Method::Invite);
    sim.run_for(Duration::from_millis(4_000));
    // Sent at 0, then Timer A at 0.5, 1.5 and 3.5 s.
    assert_eq!(sim.transmissions[CLIENT as usize], 4);
    let id = TxId(1);
    let mut out = Vec::new();
    sim.client.stop_retransmitting(id, &mut out);
    sim.absorb(CLIENT, out);
    sim.run_for(Duration::from_millis(27_999));
    assert_eq!(
        sim.transmissions[CLIENT as usize], 4,
        "no retransmission after giving up"
    );
    assert!(sim.client_events.is_empty());
    sim.run_for(Duration::from_millis(2));
    assert!(
        matches!(sim.client_events.as_slice(), [TxEvent::Timeout]),
        "Timer B still ends it"
    );
    assert!(sim.client.is_empty());

    let mut sim = Sim::new(2, 0.0, Answer::Silent);
    sim.send(Method::Invite);
    let mut out = Vec::new();
    sim.client.stop_retransmitting(TxId(1), &mut out);
    sim.absorb(CLIENT, out);
    sim.run_for(Duration::from_millis(5_000));
    let late = response_for(&Sim::request(Method::Invite), 200, "OK")
        .to_tag("s1")
        .build();
    sim.link.push_back((sim.now, CLIENT, late.to_bytes()));
    sim.run_for(Duration::from_millis(10));
    assert_eq!(sim.client_finals(), vec![200], "a late 2xx still reaches the TU");
}

#[test]
fn timer_e_caps_at_t2_and_timer_f_times_out_a_non_invite() {
    let mut sim = Sim::new(3, 1.0, Answer::Silent);
    sim.send(Method::Options);
    sim.run_for(Duration::from_millis(31_999));
    // 0, 0.5, 1.5, 3.5, 7.5, then every 4 s: 11.5 ... 31.5 (6 more).
    assert_eq!(sim.transmissions[CLIENT as usize], 11);
    sim.run_for(Duration::from_millis(2));
    assert!(matches!(sim.client_events.as_slice(), [TxEvent::Timeout]));
}

#[test]
fn timers_g_and_h_retransmit_a_final_until_the_ack_never_comes() {
    let mut sim = Sim::new(4, 0.0, Answer::Final(486));
    sim.send(Method::Invite);
    sim.run_for(Duration::from_millis(30));
    // Lose everything from now on: the client's ACK never reaches the server.
    sim.loss = 1.0;
    let sent_before = sim.transmissions[SERVER as usize];
    sim.run_for(Duration::from_secs(40));
    assert!(
        sim.transmissions[SERVER as usize] - sent_before >= 9,
        "Timer G retransmits at T1, 2T1, 4T1, then T2"
    );
    assert!(
        matches!(sim.server_events.as_slice(), [TxEvent::Timeout]),
        "Timer H fires"
    );
    assert!(sim.server.is_empty());
}

#[test]
fn a_retransmitted_invite_gets_the_last_provisional_again_not_a_second_call() {
    let mut sim = Sim::new(5, 0.0, Answer::Silent);
    sim.send(Method::Invite);
    sim.run_for(Duration::from_millis(30));
    assert_eq!(sim.new_requests_at_server, 1);
    let request = Sim::request(Method::Invite).to_bytes();
    sim.deliver(SERVER, request);
    assert_eq!(sim.new_requests_at_server, 1);
    let (_, to, bytes) = sim.link.back().cloned().unwrap();
    assert_eq!(to, CLIENT);
    assert!(bytes.starts_with(b"SIP/2.0 100"));
}

#[test]
fn timers_d_i_j_k_end_completed_transactions() {
    let mut sim = Sim::new(6, 0.0, Answer::Final(603));
    sim.send(Method::Invite);
    sim.run_for(Duration::from_millis(100));
    assert_eq!(sim.server.len(), 1, "Timer I holds Confirmed for T4");
    sim.run_for(Duration::from_secs(6));
    assert!(sim.server.is_empty());
    assert_eq!(sim.client.len(), 1, "Timer D holds Completed for 32 s");
    sim.run_for(Duration::from_secs(27));
    assert!(sim.client.is_empty());

    let mut sim = Sim::new(7, 0.0, Answer::Final(200));
    sim.send(Method::Bye);
    sim.run_for(Duration::from_millis(100));
    sim.run_for(Duration::from_secs(6));
    assert!(sim.client.is_empty(), "Timer K = T4");
    assert_eq!(sim.server.len(), 1, "Timer J = 64*T1");
    sim.run_for(Duration::from_secs(27));
    assert!(sim.server.is_empty());
}
