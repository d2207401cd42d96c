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
            livekit_call_id,
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
            livekit_call_id: livekit_call_id.as_deref().and_then(|id| std::str::from_utf8(id).ok()),
            called: facts.called.as_deref(),
            caller: facts.caller.as_deref(),
            // The route's org and trunk; a refused call's are the carrier's the gate found.
            org_id: match (target, &facts.carrier_id) {
                (Some(t), _) => Some(t.org_id.as_str()),
                (None, carrier) => carrier.as_ref().map(|c| c.org_id.as_str()),
            },
            trunk_id: match (target, &facts.carrier_id) {
                (Some(t), _) => Some(t.trunk_id.as_str()),
                (None, carrier) => carrier.as_ref().and_then(|c| c.trunk_id.as_deref()),
            },
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;

    use super::*;
    use crate::b2bua::{CallFacts, CarrierId, Direction, EndedBy, Outcome, RouteFacts};
    use crate::routing::RouteKind;

    fn recorder(queue: usize) -> (Recorder, Arc<Shared>) {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            queue,
            closed: AtomicBool::new(false),
        });
        (Recorder::new(shared.clone()), shared)
    }

    fn ended(call_id: &'static str, target: Option<RouteFacts>) -> CallEvent {
        let now = crate::clock::now();
        let routed = target.is_some();
        CallEvent::Ended {
            call_id: Bytes::from_static(call_id.as_bytes()),
            livekit_call_id: routed.then(|| Bytes::from_static(b"0123abcd@switchboard")),
            outcome: if routed {
                Outcome::Answered
            } else {
                Outcome::UnknownNumber
            },
            status: if routed { 200 } else { 404 },
            reason: if routed { "OK" } else { "Not Found" },
            route: routed.then_some(RouteKind::Static),
            ended_by: if routed { EndedBy::Carrier } else { EndedBy::Switchboard },
            direction: Direction::Inbound,
            facts: Box::new(CallFacts {
                source: "192.0.2.10:5060".parse().unwrap(),
                called: Some("+15551234567".into()),
                caller: None,
                carrier_id: Some(CarrierId {
                    org_id: "org-9".into(),
                    trunk_id: Some("trunk-9".into()),
                }),
                target,
                started: now - Duration::from_secs(3),
                first_provisional: routed.then(|| now - Duration::from_millis(2_900)),
                answered: routed.then(|| now - Duration::from_secs(2)),
            }),
        }
    }

    #[test]
    fn an_ended_call_is_queued_with_its_facts_and_a_full_queue_drops_the_rest() {
        let (recorder, shared) = recorder(2);
        let target = RouteFacts {
            org_id: "org-1".into(),
            trunk_id: "trunk-1".into(),
            agent_id: "agent-1".into(),
            agent_version_id: "v-1".into(),
        };
        recorder.observe(ended("answered@carrier", Some(target)));
        recorder.observe(CallEvent::Routed {
            route: None,
            direction: Direction::Inbound,
        });
        recorder.observe(ended("refused@carrier", None));
        recorder.observe(ended("one-too-many@carrier", None));
        let pending = shared.pending.lock().unwrap();
        assert_eq!(pending.calls, 2, "only Ended events, and no more than the queue holds");
        let calls: Vec<_> = wire::decode(&pending.bytes).collect();
        assert_eq!(calls.len(), 2);
        let (answered, refused) = (&calls[0], &calls[1]);
        assert_eq!(answered.call_id, b"answered@carrier");
        assert_eq!(answered.livekit_call_id, Some("0123abcd@switchboard"));
        assert_eq!(
            (
                answered.org_id,
                answered.trunk_id,
                answered.agent_id,
                answered.agent_version_id
            ),
            (Some("org-1"), Some("trunk-1"), Some("agent-1"), Some("v-1"))
        );
        assert_eq!(
            (answered.route_kind, answered.outcome, answered.ended_by),
            ("static", "answered", "caller")
        );
        // Times are stamped when the event is observed: allow for a descheduled test.
        let after_invite = |ms: Option<i64>| ms.map(|ms| ms - answered.invite_ms);
        assert!((3_000..3_050).contains(&(answered.ended_ms - answered.invite_ms)));
        assert!(matches!(after_invite(answered.ringing_ms), Some(99..=101)));
        assert!(matches!(after_invite(answered.answered_ms), Some(999..=1_001)));
        assert_eq!(refused.call_id, b"refused@carrier");
        assert_eq!(
            (
                refused.org_id,
                refused.trunk_id,
                refused.agent_id,
                refused.livekit_call_id
            ),
            (Some("org-9"), Some("trunk-9"), None, None),
            "a refused call is the carrier's the gate identified"
        );
        assert_eq!(
            (refused.route_kind, refused.status, refused.reason),
            ("rejected", 404, "Not Found")
        );
        assert_eq!((refused.ringing_ms, refused.answered_ms), (None, None));
        assert_eq!(refused.called, Some("+15551234567"));
    }

    #[test]
    fn dropping_the_recorder_tells_the_writer_to_finish() {
        let (recorder, shared) = recorder(1);
        assert!(!shared.closed.load(Ordering::Acquire));
        drop(recorder);
        assert!(shared.closed.load(Ordering::Acquire));
    }
}
