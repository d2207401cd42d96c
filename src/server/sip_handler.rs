//! The SIP front door: parse, refuse what is malformed (with a response wherever one is
//! possible), answer what needs no call state (OPTIONS, methods we do not serve), and hand
//! the rest on. Until the call path is wired, every request gets a clear final response.
//!
//! The call core is sharded: several [`B2bua`]s, each behind its own lock, each holding
//! the calls whose Call-ID picks it (`b2bua/shard.rs`). A request goes to the shard of its
//! Call-ID, a response to the shard that minted its top Via branch, a routing decision to
//! the shard its call key names; timers, the census and transport errors visit them all.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;

use super::reply::{self, Stateless, ALLOW};
use super::route_pool::{Deliver, RoutePool, WorkerConfig};
use super::sip_metrics::SipMetrics;
use super::timer_thread::Deadlines;
use crate::b2bua::{Arrival, B2bua, CallEvent, CallKey, Census, Peer, Route, Shard, Shared};
use crate::call_records::Recorder;
use crate::gate::{GateRefusal, Verdict};
use crate::routing::outbound::NoOutbound;
use crate::routing::outbound::SourceAcl;
use crate::routing::{Decision, OutboundRouter, Refusal, Routed, Router, Routers};
use crate::sip::{self, HeaderName, Message, Method};
use crate::transport::{Handler, Incoming, Outgoing};

/// Bytes by which a digest challenge to a stranger may exceed the request it answers (see
/// `answer_gated`): two challenges (SHA-256 and MD5) make a 401 of about 620 bytes.
const CHALLENGE_ALLOWANCE: usize = 512;

/// Each transaction kind's live states (RFC 3261 §17, RFC 6026), the gauge's label pairs.
const TRANSACTION_STATES: [(&str, &[&str]); 4] = [
    ("client_invite", &["calling", "proceeding", "completed", "accepted"]),
    ("client_non_invite", &["trying", "proceeding", "completed"]),
    ("server_invite", &["proceeding", "completed", "confirmed", "accepted"]),
    ("server_non_invite", &["trying", "proceeding", "completed"]),
];

/// The SIP edge's front door: stateless answers here, calls in the B2BUA.
pub struct SipHandler {
    /// The `Server` header of our stateless answers (empty: none).
    server_header: Bytes,
    draining: AtomicBool,
    /// The call core's shards (one lock each); a call lives on one for its whole life.
    cores: Box<[Mutex<B2bua>]>,
    /// The inbound router and the outbound one (none configured: every agent's call is
    /// refused), for routes decided here and on the workers.
    routers: Routers,
    /// The workers new calls are routed on, once started ([`SipHandler::start_routing`]),
    /// and the dispatcher that sends what comes before a route (the 100 Trying).
    routing: OnceLock<(RoutePool, Arc<crate::transport::Dispatcher>)>,
    records: Option<Arc<Recorder>>,
    metrics: SipMetrics,
    /// Outbound calls: the LiveKit sources whose new INVITEs are outbound.
    livekit: Option<SourceAcl>,
    /// The source gate (ACLs, digest, rate limits, bans) every request passes first.
    gate: Option<crate::gate::Gate>,
    /// Where answered and ended calls go to be kept durably (see `src/journal/`).
    journal: Option<crate::journal::Journal>,
    /// `[routing] default_country`, told to the core with each request (`b2bua::Arrival`).
    country: Arc<str>,
    /// Each shard's next timer, for the timer thread (see `timer_thread.rs`).
    deadlines: Deadlines,
}

impl SipHandler {
    /// A handler over one call core.
    pub fn new(
        server_header: String,
        core: B2bua,
        router: Arc<dyn Router>,
        records: Option<Arc<Recorder>>,
    ) -> SipHandler {
        SipHandler::sharded(server_header, vec![core], router, records)
    }

    /// A handler over `cores.len()` shards: core `i` becomes shard `i`, sharing the call
    /// cap and the trunk limits with the others.
    pub fn sharded(
        server_header: String,
        cores: Vec<B2bua>,
        router: Arc<dyn Router>,
        records: Option<Arc<Recorder>>,
    ) -> SipHandler {
        let count = cores.len().max(1);
        let shared = Shared::new(count);
        let mut cores: Vec<_> = cores
            .into_iter()
            .enumerate()
            .map(|(i, core)| Mutex::new(core.with_shard(Shard::new(i, count), &shared)))
            .collect();
        if cores.is_empty() {
            cores.push(Mutex::new(B2bua::new(Default::default(), rand::random())));
        }
        SipHandler {
            server_header: Bytes::from(server_header),
            draining: AtomicBool::new(false),
            cores: cores.into_boxed_slice(),
            routers: Routers {
                inbound: router,
                outbound: Arc::new(NoOutbound),
            },
            routing: OnceLock::new(),
            records,
            metrics: SipMetrics::register(),
            livekit: None,
            gate: None,
            journal: None,
            country: crate::routing::RoutingConfig::default().default_country.into(),
            deadlines: Deadlines::new(count),
        }
    }

    /// Read numbers written without `+` as national numbers of `country` (`[routing]
    /// default_country`): the front door tells the core with each new call.
    pub fn with_default_country(mut self, country: &str) -> SipHandler {
        self.country = country.into();
        self
    }

    /// Start the routing workers; decisions go back into the core and what it then sends
    /// goes out through `dispatcher`. Until then (a handler driven alone, in tests; or
    /// `[routing] workers = 0`) routes are decided on the thread that received the call.
    pub fn start_routing(self: &Arc<SipHandler>, config: WorkerConfig, dispatcher: Arc<crate::transport::Dispatcher>) {
        let deliver = Arc::new(Delivery {
            handler: Arc::downgrade(self),
            dispatcher: dispatcher.clone(),
        });
        let pool = RoutePool::start(config, self.routers.clone(), deliver);
        let _ = self.routing.set((pool, dispatcher));
    }

    /// The router's decision for a call waiting for it: the call goes on.
    pub fn handle_routed(&self, call: CallKey, decision: Routed, out: &mut Vec<Outgoing>) {
        let first = out.len();
        let events = {
            let mut core = self.lock(crate::b2bua::shard_of_key(call, self.cores.len()));
            core.handle_routed(crate::clock::now(), call, decision);
            self.drain(&mut core, out)
        };
        self.report(&out[first..], events);
    }

    pub fn with_gate(mut self, gate: crate::gate::Gate) -> SipHandler {
        self.gate = Some(gate);
        self
    }

    /// Hand the core's journal entries to `journal`.
    pub fn with_journal(mut self, journal: crate::journal::Journal) -> SipHandler {
        self.journal = Some(journal);
        self
    }

    /// Send BYE on both legs of each call the last run left up (at start).
    /// One shard sends them all: answers find it by the branches it mints, and no shard
    /// holds these calls (a request in one gets 481 wherever it lands).
    pub fn end_left_calls(&self, calls: &[crate::b2bua::JournaledCall], out: &mut Vec<Outgoing>) {
        let first = out.len();
        let events = {
            let mut core = self.lock(0);
            core.end_left_calls(crate::clock::now(), calls);
            self.drain(&mut core, out)
        };
        self.report(&out[first..], events);
    }

    /// New INVITEs from `livekit` sources are agents' outbound calls, placed by `router`.
    pub fn with_outbound(mut self, livekit: SourceAcl, router: Arc<dyn OutboundRouter>) -> SipHandler {
        if !livekit.is_empty() {
            self.livekit = Some(livekit);
            self.routers.outbound = router;
        }
        self
    }

    /// Whether `source` is LiveKit's: its new INVITEs are agents' outbound calls.
    fn is_livekit(&self, source: std::net::SocketAddr) -> bool {
        self.livekit
            .as_ref()
            .is_some_and(|livekit| livekit.contains(source.ip()))
    }

    /// Stop taking new calls: OPTIONS and new INVITEs are answered 503 from now on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
        for shard in 0..self.cores.len() {
            self.lock(shard).start_draining();
        }
    }

    /// Calls in progress, on every shard.
    pub fn active_calls(&self) -> usize {
        (0..self.cores.len()).map(|shard| self.lock(shard).active_calls()).sum()
    }

    /// How many shards the call core has.
    pub fn shards(&self) -> usize {
        self.cores.len()
    }

    /// Calls in progress on each shard.
    pub fn calls_by_shard(&self) -> Vec<usize> {
        (0..self.cores.len())
            .map(|shard| self.lock(shard).active_calls())
            .collect()
    }

    fn lock(&self, shard: usize) -> std::sync::MutexGuard<'_, B2bua> {
        self.cores[shard]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The shard a request belongs to: by its Call-ID (see `b2bua/shard.rs`).
    fn request_shard(&self, request: &Message) -> usize {
        crate::b2bua::shard_of_call_id(request.call_id().unwrap_or_default(), self.cores.len())
    }

    /// The shard a response belongs to: the one that minted its top Via branch (its
    /// Call-ID's when the branch is not one of ours: such a response matches nothing).
    fn response_shard(&self, response: &Message) -> usize {
        let count = self.cores.len();
        response
            .top_via()
            .ok()
            .and_then(|via| via.branch)
            .and_then(|branch| crate::b2bua::shard_of_branch(branch, count))
            .unwrap_or_else(|| self.request_shard(response))
    }

    /// Run the call timers that are due on every shard (a shard whose last published
    /// deadline is not yet due is not locked); returns when the next one is.
    pub fn handle_timeout(&self, out: &mut Vec<Outgoing>) -> Option<std::time::Instant> {
        let now = crate::clock::now();
        for shard in 0..self.cores.len() {
            if !self.deadlines.due(shard, now) {
                continue;
            }
            let first = out.len();
            let events = {
                let mut core = self.lock(shard);
                self.drain(&mut core, out)
            };
            self.report(&out[first..], events);
        }
        self.deadlines.earliest()
    }

    /// The shards' published deadlines, for the timer thread.
    pub(super) fn deadlines(&self) -> &Deadlines {
        &self.deadlines
    }

    /// What every shard holds, summed.
    pub fn census(&self) -> Census {
        let mut census = Census::default();
        for shard in 0..self.cores.len() {
            let sample = self.lock(shard).census();
            census += sample;
        }
        census
    }

    /// Publish gauges of what the call core holds (the timer thread calls this about once
    /// a second).
    pub fn sample_metrics(&self) {
        let census = self.census();
        metrics::gauge!("calls_active", "phase" => "routing").set(census.routing as f64);
        metrics::gauge!("calls_active", "phase" => "ringing").set(census.ringing as f64);
        metrics::gauge!("calls_active", "phase" => "answered").set(census.answered as f64);
        metrics::gauge!("dialogs_active").set(census.dialogs as f64);
        for (kind, states) in TRANSACTION_STATES {
            for &state in states {
                let n = census.transactions.get(&(kind, state)).copied().unwrap_or(0);
                metrics::gauge!("sip_transactions", "kind" => kind, "state" => state).set(n as f64);
            }
        }
        metrics::counter!("sip_retransmissions_total").absolute(census.retransmissions);
        metrics::counter!("sip_responses_dropped_total").absolute(census.responses_dropped);
    }

    fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    fn handle_request(&self, incoming: &Incoming, mut request: Message, out: &mut Vec<Outgoing>) {
        let method = request.method().cloned().unwrap_or(Method::Ack);
        self.metrics.request_received(&method, incoming.transport);
        reply::stamp_top_via(&mut request, incoming.source);
        let mut carrier = None;
        if let Some(gate) = &self.gate {
            let origin = crate::gate::Origin {
                ip: incoming.source.ip(),
                certificate: incoming.certificate,
            };
            match gate.check(crate::clock::now(), origin, &request) {
                Verdict::Admitted { carrier: admitted } => carrier = admitted,
                Verdict::Drop => return,
                Verdict::Refuse(refusal) => {
                    if method != Method::Ack {
                        self.answer_gated(incoming, &request, refusal, out);
                    }
                    return;
                }
            }
        }
        if let Err(rejection) = sip::validate_request(&request) {
            self.metrics.request_rejected(rejection.reason);
            if method == Method::Ack {
                return;
            }
            let mut response = sip::response_for(&request, rejection.status, rejection.reason);
            if let Some(unsupported) = rejection.unsupported {
                response = response.header(HeaderName::Unsupported, unsupported);
            }
            if rejection.status == 405 || rejection.status == 501 {
                response = response.header(HeaderName::Allow, Bytes::from_static(ALLOW.as_bytes()));
            }
            self.send(incoming, &request, response, out);
            return;
        }
        let in_dialog = request.to_tag().is_some();
        let for_calls = matches!(method, Method::Invite | Method::Ack | Method::Cancel | Method::Bye)
            || (in_dialog
                && matches!(
                    method,
                    Method::Prack
                        | Method::Update
                        | Method::Info
                        | Method::Refer
                        | Method::Options
                        | Method::Notify
                        | Method::Message
                ));
        if for_calls && !(method == Method::Invite && !in_dialog && self.is_draining()) {
            let from = Peer {
                addr: incoming.source,
                transport: incoming.transport,
                connection: incoming.connection,
            };
            let first = out.len();
            let arrival = Arrival {
                carrier,
                country: self.country.clone(),
            };
            let mut core = self.lock(self.request_shard(&request));
            match self.is_livekit(incoming.source) {
                true => core.handle_outbound_request(crate::clock::now(), request, from, arrival),
                false => core.handle_request(crate::clock::now(), request, from, arrival),
            }
            let events = self.drain(&mut core, out);
            let route = core.poll_route();
            drop(core);
            self.report(&out[first..], events);
            if let Some(route) = route {
                self.route(route, out);
            }
            return;
        }
        let answer = match method {
            Method::Ack => return,
            Method::Options if self.is_draining() => Stateless::Draining,
            Method::Options => Stateless::Capabilities,
            _ if matches!(request.max_forwards(), Ok(Some(0))) => Stateless::TooManyHops,
            Method::Invite if self.is_draining() => Stateless::Draining,
            Method::Invite => Stateless::NoRoute,
            Method::Bye | Method::Cancel | Method::Prack | Method::Update | Method::Info | Method::Refer => {
                Stateless::NoSuchCall
            }
            Method::Register | Method::Subscribe | Method::Notify | Method::Publish | Method::Message => {
                Stateless::NotAllowed
            }
            _ => Stateless::NotImplemented,
        };
        let response = answer.response(&request);
        self.send(incoming, &request, response, out);
    }

    /// A gate's answer: the same bytes whatever was asked for, and no Server header (no
    /// product or version to learn).
    ///
    /// Anti-amplification, for a stranger (a source no trunk claims, whose address a UDP
    /// datagram may forge): a refusal is never larger than the request, except a digest
    /// challenge, which may exceed it by [`CHALLENGE_ALLOWANCE`] bytes (a late-offer INVITE
    /// of 350 bytes must still learn it is challenged). A challenge that would exceed even
    /// that keeps only the most preferred algorithm's offer; past that it is dropped. The
    /// gain a forger gets is thus under 3x for the smallest INVITE, and the volume is bound
    /// by the per-source rate limit the gate applies before it challenges.
    fn answer_gated(&self, incoming: &Incoming, request: &Message, refusal: GateRefusal, out: &mut Vec<Outgoing>) {
        let answer = crate::status::gate(&refusal);
        let stranger = refusal.to_stranger();
        let (allowance, mut offers) = match refusal {
            GateRefusal::Challenge { offers, .. } => (CHALLENGE_ALLOWANCE, offers),
            _ => (0, Vec::new()),
        };
        let limit = incoming.bytes.len() + allowance;
        let build = |offers: &[String]| {
            let mut response = answer.respond(request);
            for offer in offers {
                response = response.header(HeaderName::WwwAuthenticate, offer);
            }
            response.to_tag(local_tag(request)).build().to_bytes()
        };
        let mut response = build(&offers);
        if stranger && response.len() > limit && offers.len() > 1 {
            offers.truncate(1);
            response = build(&offers);
        }
        if stranger && response.len() > limit {
            metrics::counter!("sip_refused_total", "reason" => "larger_than_request").increment(1);
            return;
        }
        self.metrics.response_sent(answer.status, incoming.transport);
        out.push(reply::to_source(incoming, request, response));
    }

    fn send(
        &self,
        incoming: &Incoming,
        request: &Message,
        mut response: sip::ResponseBuilder,
        out: &mut Vec<Outgoing>,
    ) {
        if !self.server_header.is_empty() {
            response = response.header(HeaderName::Server, self.server_header.clone());
        }
        let response = response.to_tag(local_tag(request)).build();
        let status = response.status().unwrap_or(500);
        self.metrics.response_sent(status, incoming.transport);
        out.push(reply::to_source(incoming, request, response.to_bytes()));
    }
}

impl SipHandler {
    /// Under the shard's lock: the shard's timers that are due (whoever holds the lock runs
    /// them: under traffic they run with the next message, see `timer_thread.rs`),
    /// everything the B2BUA wants sent (into `out`), its journal entries, its next
    /// deadline (published), and what it reports about calls (returned, for
    /// [`SipHandler::report`] once the lock is released: the less under the lock, the less
    /// shards wait).
    #[must_use]
    fn drain(&self, core: &mut B2bua, out: &mut Vec<Outgoing>) -> Vec<CallEvent> {
        let now = crate::clock::now();
        if core.next_timeout().is_some_and(|at| at <= now) {
            core.handle_timeout(now);
        }
        self.deadlines.publish(core.shard().index(), core.next_timeout());
        while let Some(t) = core.poll_transmit() {
            out.push(Outgoing {
                bytes: t.bytes,
                destination: t.to.addr,
                transport: t.to.transport,
                connection: t.to.connection,
            });
        }
        if let Some(journal) = &self.journal {
            journal.take_from(core);
        }
        core.publish_calls();
        std::iter::from_fn(|| core.poll_event()).collect()
    }

    /// After the lock: count what the core sent (`sent`) and what it reported.
    fn report(&self, sent: &[Outgoing], events: Vec<CallEvent>) {
        for o in sent {
            self.count_sent(&o.bytes, o.transport);
            tracing::trace!(destination = %o.destination, bytes = o.bytes.len(), "sending");
        }
        for event in events {
            self.record(&event);
            if let Some(records) = &self.records {
                records.observe(event);
            }
        }
    }

    /// Route a call, outside the core's lock. A cheap decision (a static route, a number
    /// whose org runs no workflow, a host already resolved: [`Routers::quick`]) is made here,
    /// on the SIP thread: handing it to a worker and back costs more than deciding it. The
    /// rest (a workflow to run, a host to wait for) goes to the routing workers, so that a
    /// slow workflow never holds this thread; what the core sent before (the 100 Trying)
    /// goes out first, so that a quick worker cannot overtake it. An org over its share is
    /// refused at once. With no workers (`[routing] workers = 0`, or a handler driven
    /// alone) every route is decided here.
    fn route(&self, route: Route, out: &mut Vec<Outgoing>) {
        let now = std::time::SystemTime::now();
        let Some((pool, dispatcher)) = self.routing.get() else {
            let decision = self.routers.decide(&route.facts, now);
            self.handle_routed(route.call, decision, out);
            return;
        };
        if let Some(decision) = self.routers.quick(&route.facts, now) {
            self.handle_routed(route.call, decision, out);
            return;
        }
        for o in out.drain(..) {
            dispatcher.send(o);
        }
        if let Err((_, route)) = pool.submit(route) {
            metrics::counter!("routing_refused_total", "reason" => "org_busy").increment(1);
            self.handle_routed(route.call, Decision::Refuse(Refusal::Busy).into(), out);
        }
    }

    /// Count a message the call core sends: responses by status class, requests by method.
    fn count_sent(&self, bytes: &[u8], transport: crate::transport::Transport) {
        if let Some(code) = bytes.strip_prefix(b"SIP/2.0 ") {
            let status = code
                .get(..3)
                .and_then(|c| std::str::from_utf8(c).ok())
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            self.metrics.response_sent(status, transport);
            return;
        }
        let token = bytes.split(|b| *b == b' ').next().unwrap_or_default();
        self.metrics.request_sent(&Method::parse(token), transport);
    }

    fn record(&self, event: &CallEvent) {
        let direction = match event.direction() {
            crate::b2bua::Direction::Inbound => 0,
            crate::b2bua::Direction::Outbound => 1,
        };
        match event {
            CallEvent::Routed { route, .. } => self.metrics.call_started(direction, *route),
            CallEvent::Ringing { after, .. } => self.metrics.ringing_after(direction, *after),
            CallEvent::Answered { after, .. } => self.metrics.answered_after(direction, *after),
            CallEvent::Ended { outcome, route, .. } => self.metrics.call_ended(direction, *route, *outcome),
        }
    }
}

impl Handler for SipHandler {
    fn transport_error(
        &self,
        peer: std::net::SocketAddr,
        transport: crate::transport::Transport,
        out: &mut Vec<Outgoing>,
    ) {
        let peer = Peer {
            addr: peer,
            transport,
            connection: None,
        };
        // Any shard may have requests waiting on that peer.
        for shard in 0..self.cores.len() {
            let first = out.len();
            let events = {
                let mut core = self.lock(shard);
                core.handle_transport_error(crate::clock::now(), peer);
                self.drain(&mut core, out)
            };
            self.report(&out[first..], events);
        }
    }

    fn handle(&self, incoming: Incoming, out: &mut Vec<Outgoing>) {
        let parsed = Message::parse(incoming.bytes.clone());
        // One span per call's messages, named by the Call-ID they carry (the carrier's on
        // the carrier leg; the agent leg's is linked to it by the "call routed" event).
        let span = match &parsed {
            Ok(message) => tracing::debug_span!(
                "call",
                call_id = %String::from_utf8_lossy(message.call_id().unwrap_or_default())
            ),
            Err(_) => tracing::Span::none(),
        };
        let _entered = span.enter();
        if parsed.is_ok() {
            tracing::debug!(
                source = %incoming.source,
                transport = incoming.transport.label(),
                bytes = incoming.bytes.len(),
                start_line = %String::from_utf8_lossy(first_line(&incoming.bytes)),
                "received"
            );
        }
        match parsed {
            Ok(message) if message.is_request() => self.handle_request(&incoming, message, out),
            Ok(response) => {
                self.metrics
                    .response_received(response.status().unwrap_or(0), incoming.transport);
                let first = out.len();
                let events = {
                    let mut core = self.lock(self.response_shard(&response));
                    core.handle_response(crate::clock::now(), response);
                    self.drain(&mut core, out)
                };
                self.report(&out[first..], events);
            }
            Err(err) => {
                self.metrics.parse_error(incoming.transport, err.label());
                tracing::debug!(source = %incoming.source, %err, "malformed message");
                if let Some(bytes) = sip::best_effort_response(&incoming.bytes, &err) {
                    out.push(Outgoing {
                        bytes,
                        destination: incoming.source,
                        transport: incoming.transport,
                        connection: incoming.connection,
                    });
                }
            }
        }
    }
}

/// Decisions from the routing workers, back into the handler (held weakly: the workers
/// must not keep it alive) and out through the dispatcher.
struct Delivery {
    handler: std::sync::Weak<SipHandler>,
    dispatcher: Arc<crate::transport::Dispatcher>,
}

impl Deliver for Delivery {
    fn deliver(&self, call: CallKey, decision: Routed) {
        let Some(handler) = self.handler.upgrade() else { return };
        let mut out = Vec::new();
        handler.handle_routed(call, decision, &mut out);
        for o in out {
            self.dispatcher.send(o);
        }
    }
}

fn first_line(bytes: &[u8]) -> &[u8] {
    let end = memchr::memchr(b'\r', bytes).unwrap_or(bytes.len()).min(200);
    &bytes[..end]
}

/// A To tag for responses we generate ourselves: derived from the request's Call-ID and
/// branch so a retransmitted request gets the same tag (stateless, RFC 3261 §8.2.6.2).
fn local_tag(request: &Message) -> Bytes {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    request.call_id().hash(&mut hasher);
    if let Ok(via) = request.top_via() {
        via.branch.hash(&mut hasher);
    }
    Bytes::from(format!("sb{:016x}", hasher.finish()))
}

#[cfg(test)]
mod tests;
