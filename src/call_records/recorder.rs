//! Folds call events into records. Runs under the call lock, so it only copies what the
//! events carry and stamps wall-clock times; attribution and storage happen on the
//! writer's thread.

use std::collections::HashMap;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::writer::Finished;
use crate::b2bua::{CallEvent, Direction, RouteFacts};
use crate::routing::RouteKind;

/// A call between its first event and its end.
#[derive(Debug)]
pub(super) struct Pending {
    pub direction: Direction,
    pub source: std::net::SocketAddr,
    pub called: Option<String>,
    pub caller: Option<String>,
    pub route: Option<RouteKind>,
    pub target: Option<Box<RouteFacts>>,
    pub invite_ms: i64,
    pub ringing_ms: Option<i64>,
    pub answered_ms: Option<i64>,
}

/// Turns call events into finished records for the writer.
pub struct Recorder {
    pending: Mutex<HashMap<Bytes, Pending>>,
    writer: SyncSender<Finished>,
}

impl Recorder {
    pub(super) fn new(writer: SyncSender<Finished>) -> Recorder {
        Recorder {
            pending: Mutex::new(HashMap::new()),
            writer,
        }
    }

    /// Calls that have started and not ended.
    pub fn in_progress(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Bytes, Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the event, so that what it carries moves into the record uncopied.
    pub fn observe(&self, event: CallEvent) {
        let now = unix_ms();
        match event {
            CallEvent::Routed {
                call_id,
                source,
                called,
                caller,
                route,
                target,
                direction,
            } => {
                self.lock().insert(
                    call_id,
                    Pending {
                        direction,
                        source,
                        called,
                        caller,
                        route,
                        target,
                        invite_ms: now,
                        ringing_ms: None,
                        answered_ms: None,
                    },
                );
            }
            CallEvent::Ringing { call_id, .. } => {
                if let Some(p) = self.lock().get_mut(&call_id) {
                    p.ringing_ms.get_or_insert(now);
                }
            }
            CallEvent::Answered { call_id, .. } => {
                if let Some(p) = self.lock().get_mut(&call_id) {
                    p.answered_ms.get_or_insert(now);
                }
            }
            CallEvent::Ended {
                call_id,
                outcome,
                status,
                reason,
                ended_by,
                ..
            } => {
                let Some(pending) = self.lock().remove(&call_id) else {
                    return;
                };
                let finished = Finished {
                    call_id,
                    pending,
                    outcome,
                    status,
                    reason,
                    ended_by,
                    ended_ms: now,
                };
                if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.writer.try_send(finished) {
                    metrics::counter!("call_records_dropped_total").increment(1);
                }
            }
        }
    }
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
