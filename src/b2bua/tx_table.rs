//! The transactions of a B2BUA's calls: the transaction layer (RFC 3261 §17) both legs
//! share, what each live transaction is for (its call and [`Role`]), and the layer's
//! outputs not yet applied. It refuses to act on those outputs: the B2BUA drains them
//! ([`TxTable::take_outputs`]) and routes transmissions out and events to their calls.

use std::collections::HashMap;

use bytes::Bytes;

use super::call::CallKey;
use super::id_hash::IdBuildHasher;
use super::Peer;
use crate::sip::Message;
use crate::transaction::{Output, Transactions, TxId};

/// The most outputs whose vector is kept for the next message (a message makes a few).
const KEPT_OUTPUTS: usize = 16;

/// What a transaction is for.
#[derive(Debug)]
pub(super) enum Role {
    /// The INVITE of the leg we answer (server).
    CallerInvite,
    /// Our INVITE on the leg we place (client).
    PlacedInvite,
    /// A relayed request: the client transaction on one leg whose answer goes back through
    /// `server` on the other, built from `request`.
    Relay { server: TxId, request: Message },
    /// A request we originated whose answer needs no action (BYE, CANCEL).
    Fire,
    /// Our INVITE to a leg whose 2xx we ACKed after the call was over: a resent 2xx
    /// gets this ACK again.
    Acked { ack: Bytes, to: Peer },
}

/// The transactions of every call of one B2BUA.
pub(super) struct TxTable {
    layer: Transactions<Peer>,
    /// The call and role of each transaction that has one (server transactions of
    /// in-dialog requests have none: their answer comes back through a `Relay`).
    roles: HashMap<TxId, (CallKey, Role), IdBuildHasher>,
    /// Outputs of the layer, until the B2BUA applies them (a small one kept, to reuse its
    /// allocation).
    out: Vec<Output<Peer>>,
}

impl TxTable {
    pub fn new(layer: Transactions<Peer>) -> TxTable {
        TxTable {
            layer,
            roles: HashMap::default(),
            out: Vec::new(),
        }
    }

    /// Run `f` on the transaction layer, its outputs queued for [`TxTable::take_outputs`].
    pub fn run<R>(&mut self, f: impl FnOnce(&mut Transactions<Peer>, &mut Vec<Output<Peer>>) -> R) -> R {
        f(&mut self.layer, &mut self.out)
    }

    /// The layer, to read (counts and deadlines).
    pub fn layer(&self) -> &Transactions<Peer> {
        &self.layer
    }

    /// The outputs queued so far, to apply; hand the emptied vector back with
    /// [`TxTable::give_back`].
    pub fn take_outputs(&mut self) -> Vec<Output<Peer>> {
        std::mem::take(&mut self.out)
    }

    /// An emptied output vector, kept for its allocation unless outputs queued meanwhile
    /// or it grew past a message's worth (a timer sweep's thousands are not kept).
    pub fn give_back(&mut self, mut emptied: Vec<Output<Peer>>) {
        if self.out.is_empty() && emptied.capacity() <= KEPT_OUTPUTS {
            emptied.clear();
            self.out = emptied;
        }
    }

    pub fn set_role(&mut self, id: TxId, call: CallKey, role: Role) {
        self.roles.insert(id, (call, role));
    }

    pub fn role(&self, id: TxId) -> Option<&(CallKey, Role)> {
        self.roles.get(&id)
    }

    /// The role of `id`, no longer kept (a relay answered, a transaction ended).
    pub fn take_role(&mut self, id: TxId) -> Option<(CallKey, Role)> {
        self.roles.remove(&id)
    }

    /// Every transaction with a role.
    pub fn roles(&self) -> impl Iterator<Item = (TxId, &(CallKey, Role))> {
        self.roles.iter().map(|(id, owner)| (*id, owner))
    }
}
