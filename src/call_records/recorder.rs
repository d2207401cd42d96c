//! Hands finished calls to the writer. Runs under the call lock, so it only stamps
//! wall-clock times: a call's `Ended` event carries everything its record needs (the B2BUA
//! keeps it with the call), so there is no per-call state here, and attribution and storage
//! happen on the writer's thread.

use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::writer::Finished;
use crate::b2bua::CallEvent;

/// Turns `Ended` events into finished records for the writer.
pub struct Recorder {
    writer: SyncSender<Finished>,
}

impl Recorder {
    pub(super) fn new(writer: SyncSender<Finished>) -> Recorder {
        Recorder { writer }
    }

    /// Takes the event, so that what it carries moves to the writer uncopied.
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
        let finished = Finished {
            call_id,
            direction,
            route,
            invite_ms: unix(facts.started),
            ringing_ms: facts.first_provisional.map(unix),
            answered_ms: facts.answered.map(unix),
            ended_ms,
            facts,
            outcome,
            status,
            reason,
            ended_by,
        };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.writer.try_send(finished) {
            metrics::counter!("call_records_dropped_total").increment(1);
        }
    }
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
