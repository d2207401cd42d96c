//! Hands finished calls to the writer. Runs under the call lock, so it only stamps
//! wall-clock times and copies the call's facts into the shared buffer (`wire.rs`): a
//! call's `Ended` event carries everything its record needs (the B2BUA keeps it with the
//! call), so there is no per-call state here, and attribution and storage happen on the
//! writer's thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::wire;
use crate::b2bua::CallEvent;

/// Turns `Ended` events into finished records for the writer.
pub struct Recorder {
    shared: Arc<Shared>,
}

/// What the recorder and the writer share.
pub(super) struct Shared {
    pub pending: Mutex<Pending>,
    /// Calls past this many waiting are dropped and counted.
    pub queue: usize,
    /// Set when the recorder goes: the writer writes what is left and ends.
    pub closed: AtomicBool,
}

/// Calls waiting for the writer, encoded.
#[derive(Default)]
pub(super) struct Pending {
    pub bytes: Vec<u8>,
    pub calls: usize,
}

impl Recorder {
    pub(super) fn new(shared: Arc<Shared>) -> Recorder {
        Recorder { shared }
    }

    /// Takes the event: its facts are copied into the writer's buffer and then freed here,
    /// on the thread that allocated them.
    pub fn observe(&self, event: CallEvent) {
        let CallEvent::Ended {
            call_id,
            outcome,
            status,
            reason,
            route,
            ended_by,
            direction,
            facts,
        } = event
        else {
            return;
        };
        // The call's instants are the shell's clock: each is so long before now.
        let (ended_ms, now) = (unix_ms(), crate::clock::now());
        let unix = |at: Instant| ended_ms - now.saturating_duration_since(at).as_millis() as i64;
        let target = facts.target.as_ref();
        let call = wire::Call {
            invite_ms: unix(facts.started),
            ringing_ms: facts.first_provisional.map(unix),
            answered_ms: facts.answered.map(unix),
            ended_ms,
            status,
            source: facts.source,
            call_id: &call_id[..],
            called: facts.called.as_deref(),
            caller: facts.caller.as_deref(),
            org_id: target.map(|t| t.org_id.as_str()),
            trunk_id: target.map(|t| t.trunk_id.as_str()),
            agent_id: target.map(|t| t.agent_id.as_str()),
            agent_version_id: target.map(|t| t.agent_version_id.as_str()),
            direction: direction.label(),
            route_kind: route.map_or("rejected", |r| r.label()),
            reason,
            outcome: outcome.label(),
            ended_by: ended_by.label(),
        };
        let mut pending = self.shared.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.calls >= self.shared.queue {
            drop(pending);
            metrics::counter!("call_records_dropped_total").increment(1);
            return;
        }
        wire::encode(&call, &mut pending.bytes);
        pending.calls += 1;
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
    }
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
