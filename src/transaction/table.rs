//! The transaction table: machines by id, indexes by client and server key, and one
//! ordered deadline index so that finding what is due costs O(log n), not a scan.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use bytes::Bytes;

use super::{
    Action, ClientInvite, ClientKey, ClientNonInvite, ServerInvite, ServerKey, ServerNonInvite, TimerConfig, TxEvent,
};
use crate::sip::Message;

/// The tables' hasher: keyed with a random seed per table (branches and sent-bys come off
/// the wire, so their hashes must not be predictable), and a fraction of SipHash's cost
/// (hashing was ~12k instructions a call).
type Keyed = foldhash::fast::SeedableRandomState;

fn keyed() -> Keyed {
    Keyed::with_seed(rand::random(), foldhash::SharedSeed::global_fixed())
}

/// Identifies a transaction while it lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(pub u64);

/// What the table produces for its caller.
#[derive(Debug)]
pub enum Output<D> {
    Transmit { bytes: Bytes, destination: D },
    Event { id: TxId, event: TxEvent },
    Terminated { id: TxId },
}

/// How an incoming request relates to the server transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestMatch {
    /// No transaction has it: a new request for the TU.
    New,
    /// A retransmission, answered from the transaction.
    Retransmission(TxId),
    /// An ACK for a non-2xx final, absorbed by its INVITE transaction.
    AckAbsorbed,
}

#[derive(Debug)]
#[allow(clippy::enum_variant_names)] // the RFC's own names for the four kinds
enum Machine {
    ClientInvite(ClientInvite),
    ClientNonInvite(ClientNonInvite),
    ServerInvite(ServerInvite),
    ServerNonInvite(ServerNonInvite),
}

#[derive(Debug)]
enum Key {
    Client(ClientKey),
    Server(ServerKey),
}

#[derive(Debug)]
struct Entry<D> {
    machine: Machine,
    destination: D,
    key: Key,
    deadline: Option<Instant>,
}

/// Every live transaction.
#[derive(Debug)]
pub struct Transactions<D> {
    config: TimerConfig,
    next_id: u64,
    entries: HashMap<TxId, Entry<D>, Keyed>,
    clients: HashMap<ClientKey, TxId, Keyed>,
    servers: HashMap<ServerKey, TxId, Keyed>,
    deadlines: BTreeSet<(Instant, TxId)>,
    actions: Vec<Action>,
    /// Messages resent by timers or in answer to a retransmitted request, ever.
    retransmissions: u64,
    /// Responses that matched no client transaction.
    stray_responses: u64,
}

impl<D: Clone> Transactions<D> {
    pub fn new(config: TimerConfig) -> Transactions<D> {
        Transactions {
            config,
            next_id: 1,
            entries: HashMap::with_hasher(keyed()),
            clients: HashMap::with_hasher(keyed()),
            servers: HashMap::with_hasher(keyed()),
            deadlines: BTreeSet::new(),
            actions: Vec::new(),
            retransmissions: 0,
            stray_responses: 0,
        }
    }

    pub fn config(&self) -> &TimerConfig {
        &self.config
    }

    /// Live transactions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Messages resent so far (timer retransmissions and answers to retransmitted
    /// requests).
    pub fn retransmissions(&self) -> u64 {
        self.retransmissions
    }

    /// Responses so far that matched no client transaction (dropped here).
    pub fn stray_responses(&self) -> u64 {
        self.stray_responses
    }

    /// Live transactions by kind and state, for metrics. A scan: call it at sampling
    /// rate, not per message.
    pub fn census(&self) -> std::collections::BTreeMap<(&'static str, &'static str), usize> {
        // Counted in a short list first (a handful of kinds and states, names compared by
        // address before by text): a map keyed by two strings compared them for every
        // transaction, ~15k instructions a call at 20 calls/s.
        let mut counts: Vec<((&'static str, &'static str), usize)> = Vec::with_capacity(16);
        for entry in self.entries.values() {
            let key = match &entry.machine {
                Machine::ClientInvite(m) => ("client_invite", m.state_name()),
                Machine::ClientNonInvite(m) => ("client_non_invite", m.state_name()),
                Machine::ServerInvite(m) => ("server_invite", m.state_name()),
                Machine::ServerNonInvite(m) => ("server_non_invite", m.state_name()),
            };
            let same = |k: &(&str, &str)| std::ptr::eq(k.0, key.0) && std::ptr::eq(k.1, key.1) || *k == key;
            match counts.iter_mut().find(|(k, _)| same(k)) {
                Some((_, n)) => *n += 1,
                None => counts.push((key, 1)),
            }
        }
        let mut census = std::collections::BTreeMap::new();
        for (key, n) in counts {
            *census.entry(key).or_insert(0) += n;
        }
        census
    }

    /// Send a request in a new client transaction.
    pub fn start_client(
        &mut self,
        now: Instant,
        key: ClientKey,
        request: Bytes,
        destination: D,
        reliable: bool,
        out: &mut Vec<Output<D>>,
    ) -> TxId {
        let invite = key.method == crate::sip::Method::Invite;
        let machine = if invite {
            Machine::ClientInvite(ClientInvite::new(
                now,
                request,
                reliable,
                &self.config,
                &mut self.actions,
            ))
        } else {
            Machine::ClientNonInvite(ClientNonInvite::new(
                now,
                request,
                reliable,
                &self.config,
                &mut self.actions,
            ))
        };
        let id = self.insert(machine, destination, Key::Client(key.clone()));
        self.clients.insert(key, id);
        self.settle(id, out);
        id
    }

    /// A new request arrived (after [`Transactions::match_request`] said `New`): open its
    /// server transaction. ACKs have none.
    pub fn start_server(&mut self, key: ServerKey, destination: D, reliable: bool) -> TxId {
        let machine = if key.method == crate::sip::Method::Invite {
            Machine::ServerInvite(ServerInvite::new(reliable))
        } else {
            Machine::ServerNonInvite(ServerNonInvite::new(reliable))
        };
        let id = self.insert(machine, destination, Key::Server(key.clone()));
        self.servers.insert(key, id);
        id
    }

    /// Is this request new, a retransmission, or an ACK we absorb?
    pub fn match_request(
        &mut self,
        now: Instant,
        key: &ServerKey,
        is_ack: bool,
        out: &mut Vec<Output<D>>,
    ) -> RequestMatch {
        let Some(&id) = self.servers.get(key) else {
            return RequestMatch::New;
        };
        let config = self.config;
        let Some(entry) = self.entries.get_mut(&id) else {
            return RequestMatch::New;
        };
        let result = match (&mut entry.machine, is_ack) {
            // An ACK for a 2xx is its own end-to-end request (§17.2.3 / RFC 6026).
            (Machine::ServerInvite(m), true) => match m.handle_ack(now, &config) {
                true => RequestMatch::AckAbsorbed,
                false => RequestMatch::New,
            },
            (_, true) => RequestMatch::New,
            (Machine::ServerInvite(m), false) => {
                m.handle_retransmission(&mut self.actions);
                RequestMatch::Retransmission(id)
            }
            (Machine::ServerNonInvite(m), false) => {
                m.handle_retransmission(&mut self.actions);
                RequestMatch::Retransmission(id)
            }
            _ => RequestMatch::New,
        };
        self.count_retransmissions();
        self.settle(id, out);
        result
    }

    /// The server transaction of a request, by key.
    pub fn server_id(&self, key: &ServerKey) -> Option<TxId> {
        self.servers.get(key).copied()
    }

    /// The TU answers through a server transaction.
    pub fn respond(&mut self, now: Instant, id: TxId, status: u16, response: Bytes, out: &mut Vec<Output<D>>) {
        let config = self.config;
        match self.entries.get_mut(&id).map(|e| &mut e.machine) {
            Some(Machine::ServerInvite(m)) => m.send_response(now, status, response, &config, &mut self.actions),
            Some(Machine::ServerNonInvite(m)) => m.send_response(now, status, response, &config, &mut self.actions),
            _ => return,
        }
        self.settle(id, out);
    }

    /// Whether an INVITE server transaction still has no final response.
    pub fn is_server_proceeding(&self, id: TxId) -> bool {
        matches!(self.entries.get(&id).map(|e| &e.machine), Some(Machine::ServerInvite(m)) if m.is_proceeding())
    }

    /// A response arrived; `None` when no client transaction has it (a stray, or a 2xx
    /// retransmission after Timer M).
    pub fn handle_response(
        &mut self,
        now: Instant,
        key: &ClientKey,
        response: Message,
        ack: impl FnOnce(&Message) -> Bytes,
        out: &mut Vec<Output<D>>,
    ) -> Option<TxId> {
        let Some(&id) = self.clients.get(key) else {
            self.stray_responses += 1;
            return None;
        };
        let config = self.config;
        match &mut self.entries.get_mut(&id)?.machine {
            Machine::ClientInvite(m) => m.handle_response(now, response, ack, &config, &mut self.actions),
            Machine::ClientNonInvite(m) => m.handle_response(now, response, &config, &mut self.actions),
            _ => return None,
        }
        self.settle(id, out);
        Some(id)
    }

    /// The transport could not deliver for this transaction.
    pub fn handle_transport_error(&mut self, id: TxId, out: &mut Vec<Output<D>>) {
        match self.entries.get_mut(&id).map(|e| &mut e.machine) {
            Some(Machine::ClientInvite(m)) => m.handle_transport_error(&mut self.actions),
            Some(Machine::ClientNonInvite(m)) => m.handle_transport_error(&mut self.actions),
            Some(Machine::ServerInvite(m)) => m.handle_transport_error(&mut self.actions),
            Some(Machine::ServerNonInvite(_)) | None => return,
        }
        self.settle(id, out);
    }

    /// Stop resending an INVITE we no longer want answered (see
    /// [`ClientInvite::stop_retransmitting`]); other transactions are left alone.
    pub fn stop_retransmitting(&mut self, id: TxId, out: &mut Vec<Output<D>>) {
        let Some(Machine::ClientInvite(m)) = self.entries.get_mut(&id).map(|e| &mut e.machine) else {
            return;
        };
        m.stop_retransmitting();
        self.settle(id, out);
    }

    /// Drop a transaction that will never complete by itself (an INVITE client
    /// transaction left in Proceeding after a CANCEL that got no final answer: RFC 3261
    /// §9.1 lets the TU give up after 64*T1).
    pub fn terminate(&mut self, id: TxId, out: &mut Vec<Output<D>>) {
        let Some(entry) = self.entries.remove(&id) else { return };
        if let Some(at) = entry.deadline {
            self.deadlines.remove(&(at, id));
        }
        match entry.key {
            Key::Client(key) => self.clients.remove(&key),
            Key::Server(key) => self.servers.remove(&key),
        };
        out.push(Output::Terminated { id });
    }

    /// Run every timer that is due.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Output<D>>) {
        while let Some(&(at, id)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(entry) = self.entries.get_mut(&id) {
                entry.deadline = None;
                let config = self.config;
                match &mut entry.machine {
                    Machine::ClientInvite(m) => m.handle_timeout(now, &config, &mut self.actions),
                    Machine::ClientNonInvite(m) => m.handle_timeout(now, &config, &mut self.actions),
                    Machine::ServerInvite(m) => m.handle_timeout(now, &config, &mut self.actions),
                    Machine::ServerNonInvite(m) => m.handle_timeout(now),
                }
                self.count_retransmissions();
                self.settle(id, out);
            }
        }
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// Timers and retransmitted requests only ever make a machine resend.
    fn count_retransmissions(&mut self) {
        let resent = self.actions.iter().filter(|a| matches!(a, Action::Transmit(_))).count();
        self.retransmissions += resent as u64;
    }

    fn insert(&mut self, machine: Machine, destination: D, key: Key) -> TxId {
        let id = TxId(self.next_id);
        self.next_id += 1;
        self.entries.insert(
            id,
            Entry {
                machine,
                destination,
                key,
                deadline: None,
            },
        );
        id
    }

    /// Turn the machine's actions into outputs, re-index its deadline, drop it when done.
    fn settle(&mut self, id: TxId, out: &mut Vec<Output<D>>) {
        let Some(entry) = self.entries.get_mut(&id) else {
            self.actions.clear();
            return;
        };
        for action in self.actions.drain(..) {
            out.push(match action {
                Action::Transmit(bytes) => Output::Transmit {
                    bytes,
                    destination: entry.destination.clone(),
                },
                Action::Deliver(event) => Output::Event { id, event },
            });
        }
        let (terminated, next) = match &entry.machine {
            Machine::ClientInvite(m) => (m.is_terminated(), m.next_timeout()),
            Machine::ClientNonInvite(m) => (m.is_terminated(), m.next_timeout()),
            Machine::ServerInvite(m) => (m.is_terminated(), m.next_timeout()),
            Machine::ServerNonInvite(m) => (m.is_terminated(), m.next_timeout()),
        };
        if let Some(old) = entry.deadline.take() {
            self.deadlines.remove(&(old, id));
        }
        if terminated {
            let entry = self.entries.remove(&id).expect("present");
            match entry.key {
                Key::Client(key) => self.clients.remove(&key),
                Key::Server(key) => self.servers.remove(&key),
            };
            out.push(Output::Terminated { id });
            return;
        }
        if let Some(at) = next {
            entry.deadline = Some(at);
            self.deadlines.insert((at, id));
        }
    }
}
