//! The writer thread: attributes each finished call to its org and trunk (by the route
//! taken, else by the dialed number), writes records in batches, and prunes old ones.

use std::sync::mpsc::{sync_channel, Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::recorder::Recorder;
use super::CallRecordsConfig;
use crate::b2bua::{CallFacts, Direction, EndedBy, Outcome};
use crate::directory::Directory;
use crate::routing::RouteKind;
use crate::store::{CallLog, CallRow, SEQUENCE_BITS};

/// A call that ended, on its way to the store.
#[derive(Debug)]
pub(super) struct Finished {
    pub call_id: Bytes,
    pub direction: Direction,
    pub route: Option<RouteKind>,
    pub facts: Box<CallFacts>,
    /// Unix milliseconds.
    pub invite_ms: i64,
    pub ringing_ms: Option<i64>,
    pub answered_ms: Option<i64>,
    pub outcome: Outcome,
    pub status: u16,
    pub reason: &'static str,
    pub ended_by: EndedBy,
    pub ended_ms: i64,
}

/// Writes at most this many records in one transaction.
const BATCH: usize = 1000;
/// Retention runs this often.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

impl Recorder {
    /// A recorder and the thread that stores what it records. The thread ends when the
    /// recorder is dropped, after writing what is queued.
    pub fn start(
        config: &CallRecordsConfig,
        log: Arc<CallLog>,
        directory: Arc<Directory>,
    ) -> (Arc<Recorder>, std::thread::JoinHandle<()>) {
        let (sender, receiver) = sync_channel(config.queue.max(1));
        let config = config.clone();
        let thread = std::thread::Builder::new()
            .name("call-records".into())
            .spawn(move || run(&config, &log, &directory, &receiver))
            .expect("spawning the call-record writer");
        (Arc::new(Recorder::new(sender)), thread)
    }
}

fn run(config: &CallRecordsConfig, log: &CallLog, directory: &Directory, receiver: &Receiver<Finished>) {
    let flush = Duration::from_millis(config.flush_ms.max(1));
    let mut batch = Vec::new();
    let mut last_prune = Instant::now() - PRUNE_EVERY;
    // Starts anywhere, so that a restart within the same millisecond makes new keys.
    let mut sequence: i64 = rand::random::<i64>() & ((1 << SEQUENCE_BITS) - 1);
    loop {
        // Sleep, then take what queued meanwhile: the call path's `try_send` never has a
        // waiting receiver to wake, so a record costs it no system call (waking this thread
        // per record cost more than writing the record).
        std::thread::sleep(flush);
        let mut closed = false;
        loop {
            match receiver.try_recv() {
                Ok(finished) => batch.push(Stored::new(finished, directory, &mut sequence)),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
            if batch.len() == BATCH {
                write(log, &mut batch);
            }
        }
        write(log, &mut batch);
        if last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = Instant::now();
            let horizon = batch_now_ms() - (config.retention_days as i64) * 86_400_000;
            if let Err(err) = log.prune(horizon, config.max_records) {
                tracing::warn!(%err, "call record retention failed");
            }
        }
        if closed {
            return;
        }
    }
}

/// Writes `batch` in one transaction and empties it.
fn write(log: &CallLog, batch: &mut Vec<Stored>) {
    if batch.is_empty() {
        return;
    }
    let rows: Vec<CallRow<'_>> = batch.iter().map(Stored::row).collect();
    match log.append(&rows) {
        Ok(()) => metrics::counter!("call_records_written_total").increment(batch.len() as u64),
        Err(err) => {
            metrics::counter!("call_records_dropped_total").increment(batch.len() as u64);
            tracing::warn!(%err, records = batch.len(), "call records not written");
        }
    }
    batch.clear();
}

fn batch_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A finished call with its key and, for a call refused before routing, the org and trunk
/// it was attributed to.
struct Stored {
    key: i64,
    finished: Finished,
    attributed: (Option<String>, Option<String>),
}

impl Stored {
    fn new(mut finished: Finished, directory: &Directory, sequence: &mut i64) -> Stored {
        if std::str::from_utf8(&finished.call_id).is_err() {
            finished.call_id = Bytes::from(String::from_utf8_lossy(&finished.call_id).into_owned());
        }
        let facts = &finished.facts;
        let attributed = match &facts.target {
            Some(_) => (None, None),
            None => attribute(directory, facts.called.as_deref(), facts.source),
        };
        *sequence = (*sequence + 1) & ((1 << SEQUENCE_BITS) - 1);
        Stored {
            key: (finished.invite_ms.max(0) << SEQUENCE_BITS) | *sequence,
            finished,
            attributed,
        }
    }

    /// The row, with org and trunk from the route taken or else from the attribution.
    fn row(&self) -> CallRow<'_> {
        let f = &self.finished;
        let p = &f.facts;
        let target = p.target.as_ref();
        let (org_id, trunk_id) = match target {
            Some(t) => (Some(t.org_id.as_str()), Some(t.trunk_id.as_str())),
            None => (self.attributed.0.as_deref(), self.attributed.1.as_deref()),
        };
        CallRow {
            key: self.key,
            org_id,
            trunk_id,
            direction: f.direction.label(),
            call_id: std::str::from_utf8(&f.call_id).unwrap_or_default(), // made UTF-8 in `new`
            called_number: p.called.as_deref(),
            calling_number: p.caller.as_deref(),
            route_kind: f.route.map_or("rejected", |r| r.label()),
            agent_id: target.map(|t| t.agent_id.as_str()),
            agent_version_id: target.map(|t| t.agent_version_id.as_str()),
            status: f.status,
            reason: f.reason,
            outcome: f.outcome.label(),
            ended_by: f.ended_by.label(),
            ringing_ms: f.ringing_ms,
            answered_ms: f.answered_ms,
            ended_ms: f.ended_ms,
        }
    }
}

/// A refused call's org and trunk: the dialed number's when we host it, else the trunk
/// whose carrier addresses include the source.
fn attribute(
    directory: &Directory,
    called: Option<&str>,
    source: std::net::SocketAddr,
) -> (Option<String>, Option<String>) {
    let snapshot = directory.snapshot();
    if let Some(number) = called.and_then(|c| snapshot.number(c)) {
        return (Some(number.org_id.clone()), Some(number.trunk_id.clone()));
    }
    let mut matching = snapshot.trunks.values().filter(|t| {
        t.inbound_config.allowed_sources.iter().any(|cidr| {
            cidr.parse::<crate::security::Cidr>()
                .is_ok_and(|c| c.contains(source.ip()))
        })
    });
    // Several trunks may share a carrier address: the org is known when they agree, the
    // trunk only when it is the one.
    let Some(first) = matching.next() else {
        return (None, None);
    };
    let mut trunk = Some(first.id.clone());
    for other in matching {
        trunk = None;
        if other.org_id != first.org_id {
            return (None, None);
        }
    }
    (Some(first.org_id.clone()), trunk)
}
