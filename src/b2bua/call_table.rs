//! The calls a B2BUA holds, found by key, by either leg's Call-ID, and by when their timers
//! fire. One table keeps the three in step: a call placed is indexed by both its legs, and
//! a call forgotten leaves no index and no timer behind. A call is held from admission on:
//! while it waits for its route ([`Entry::Routing`]) it is found by the caller's Call-ID,
//! with its route timer; once routed it is consumed into a placed call. It refuses to know
//! what a call does (that is the flows around it).

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use bytes::Bytes;

use super::awaiting_route::Routing;
use super::call::{Call, CallKey, CallTimer, Side};
use super::id_hash::IdBuildHasher;

/// A call by how far it got: the state before [`super::call::State`]'s. Routing is kept
/// apart from those because a routing call has no callee's leg yet (the route names it):
/// a [`Call`] always has both legs, so no state after the route reads an `Option` leg.
/// Boxed: the map's slack holds pointers, not calls.
pub(super) enum Entry {
    /// Admitted, waiting for its route (the shell runs the router); no leg placed yet.
    Routing(Box<Routing>),
    /// Routed: both legs (ringing, answered, ... see [`super::call::State`]).
    Placed(Box<Call>),
}

/// Every call of one B2BUA, from admission to its end.
pub(super) struct CallTable {
    calls: HashMap<CallKey, Entry, IdBuildHasher>,
    /// How many of `calls` wait for their route.
    routing: usize,
    by_call_id: HashMap<Bytes, (CallKey, Side)>,
    /// Every call's timers, soonest first (each placed call lists its own, to drop them
    /// with it; a routing call has only its route timer, at its deadline).
    timers: BTreeSet<(Instant, CallKey, CallTimer)>,
    next_key: u64,
}

impl CallTable {
    pub fn new() -> CallTable {
        CallTable {
            calls: HashMap::default(),
            routing: 0,
            by_call_id: HashMap::new(),
            timers: BTreeSet::new(),
            next_key: 1,
        }
    }

    /// Keys count up from `first` (a shard's keys name it).
    pub fn start_keys_at(&mut self, first: u64) {
        self.next_key = first;
    }

    /// A key no call of this table has had.
    pub fn new_key(&mut self) -> CallKey {
        let key = CallKey(self.next_key);
        self.next_key += 1;
        key
    }

    /// A placed call.
    pub fn get(&self, key: &CallKey) -> Option<&Call> {
        match self.calls.get(key)? {
            Entry::Placed(call) => Some(call),
            Entry::Routing(_) => None,
        }
    }

    pub fn get_mut(&mut self, key: &CallKey) -> Option<&mut Call> {
        match self.calls.get_mut(key)? {
            Entry::Placed(call) => Some(call),
            Entry::Routing(_) => None,
        }
    }

    /// Whether `key` is a placed call.
    pub fn contains_key(&self, key: &CallKey) -> bool {
        self.get(key).is_some()
    }

    /// The call and leg a Call-ID belongs to (a waiting call's is its caller's).
    pub fn find(&self, call_id: &[u8]) -> Option<(CallKey, Side)> {
        self.by_call_id.get(call_id).copied()
    }

    /// Calls with both legs.
    pub fn placed(&self) -> impl Iterator<Item = &Call> {
        self.calls.values().filter_map(|entry| match entry {
            Entry::Placed(call) => Some(&**call),
            Entry::Routing(_) => None,
        })
    }

    /// Calls with both legs, how many.
    pub fn len(&self) -> usize {
        self.calls.len() - self.routing
    }

    /// Calls waiting for their route, how many.
    pub fn routing_len(&self) -> usize {
        self.routing
    }

    /// Hold a call that waits for its route until `deadline`, found by `call_id` meanwhile.
    pub fn await_route(&mut self, key: CallKey, call_id: Bytes, waiting: Box<Routing>) {
        self.by_call_id.insert(call_id, (key, Side::Caller));
        self.timers.insert((waiting.deadline, key, CallTimer::Route));
        self.calls.insert(key, Entry::Routing(waiting));
        self.routing += 1;
    }

    /// Stop waiting for `key`'s route (routed, cancelled or overdue): the call leaves the
    /// table, unindexed, its timer gone, for the caller to place it again or end it.
    pub fn take_routing(&mut self, key: CallKey) -> Option<Box<Routing>> {
        if !matches!(self.calls.get(&key), Some(Entry::Routing(_))) {
            return None;
        }
        let Some(Entry::Routing(waiting)) = self.calls.remove(&key) else {
            return None;
        };
        self.routing -= 1;
        self.timers.remove(&(waiting.deadline, key, CallTimer::Route));
        if let Some(call_id) = waiting.invite.call_id() {
            self.by_call_id.remove(call_id);
        }
        Some(waiting)
    }

    /// Hold a placed call, found by both its legs' Call-IDs.
    pub fn place(&mut self, key: CallKey, call: Box<Call>) {
        self.by_call_id.insert(call.caller.call_id.clone(), (key, Side::Caller));
        self.by_call_id.insert(call.callee.call_id.clone(), (key, Side::Callee));
        self.calls.insert(key, Entry::Placed(call));
    }

    /// Forget a placed call: its indices and timers go with it.
    pub fn remove(&mut self, key: CallKey) -> Option<Box<Call>> {
        self.get(&key)?;
        let Some(Entry::Placed(call)) = self.calls.remove(&key) else {
            return None;
        };
        self.by_call_id.remove(&call.caller.call_id);
        self.by_call_id.remove(&call.callee.call_id);
        for (at, timer) in &call.timers {
            self.timers.remove(&(*at, key, *timer));
        }
        Some(call)
    }

    /// Arm `timer` for a placed call.
    pub fn schedule(&mut self, key: CallKey, at: Instant, timer: CallTimer) {
        if let Some(Entry::Placed(call)) = self.calls.get_mut(&key) {
            call.timers.push((at, timer));
            self.timers.insert((at, key, timer));
        }
    }

    /// Disarm `timer` of a placed call (each of them, if armed more than once).
    pub fn cancel(&mut self, key: CallKey, timer: CallTimer) {
        let Some(Entry::Placed(call)) = self.calls.get_mut(&key) else {
            return;
        };
        let timers = &mut self.timers;
        call.timers.retain(|&(at, t)| {
            let keep = t != timer;
            if !keep {
                timers.remove(&(at, key, t));
            }
            keep
        });
    }

    pub fn has_timer(&self, key: CallKey, timer: CallTimer) -> bool {
        self.get(&key)
            .is_some_and(|c| c.timers.iter().any(|(_, t)| *t == timer))
    }

    /// The next timer due at `now`, taken off the table.
    pub fn pop_due(&mut self, now: Instant) -> Option<(CallKey, CallTimer)> {
        let &(at, key, timer) = self.timers.first().filter(|t| t.0 <= now)?;
        self.timers.pop_first();
        if let Some(Entry::Placed(call)) = self.calls.get_mut(&key) {
            call.timers.retain(|t| *t != (at, timer));
        }
        Some((key, timer))
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|t| t.0)
    }

    /// Pending timers, how many.
    pub fn timer_count(&self) -> usize {
        self.timers.len()
    }
}
