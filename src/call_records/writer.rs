//! The writer thread: takes the recorder's buffer every `flush_ms`, gives each call its key
//! and its org and trunk (the route's, else the carrier's the gate found, else as
//! `attribution.rs` finds them), writes the records in batches, logs each call's line
//! (`log_line.rs`), and prunes old ones.

use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::recorder::{Pending, Recorder, Shared};
use super::wire;
use super::CallRecordsConfig;
use crate::directory::{Directory, Snapshot};
use crate::store::{next_sequence, CallRow, CallStore, SEQUENCE_BITS};

/// Writes at most this many records in one transaction.
const BATCH: usize = 1000;
/// Retention runs this often.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// A buffer that grew past this (a burst of calls) is let go after its flush.
const KEEP_CAPACITY: usize = 1 << 20;

impl Recorder {
    /// A recorder and the thread that stores what it records (and logs each call, its
    /// numbers masked when `mask_numbers`). The thread ends when the recorder is dropped,
    /// after writing what is queued.
    pub fn start(
        config: &CallRecordsConfig,
        log: Arc<dyn CallStore>,
        directory: Arc<Directory>,
        mask_numbers: bool,
    ) -> (Arc<Recorder>, std::thread::JoinHandle<()>) {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            queue: config.queue.max(1),
            closed: Default::default(),
        });
        let config = config.clone();
        let recorder = Arc::new(Recorder::new(shared.clone()));
        let thread = std::thread::Builder::new()
            .name("call-records".into())
            .spawn(move || run(&config, log.as_ref(), &directory, &shared, mask_numbers))
            .expect("spawning the call-record writer");
        (recorder, thread)
    }
}

fn run(config: &CallRecordsConfig, log: &dyn CallStore, directory: &Directory, shared: &Shared, mask_numbers: bool) {
    let flush = Duration::from_millis(config.flush_ms.max(1));
    let mut taken = Vec::new();
    let mut last_prune = Instant::now() - PRUNE_EVERY;
    // Starts anywhere, so that a restart within the same millisecond makes new keys; on a
    // shared store, within this instance's own part of the sequence.
    let instance = log.instance_number();
    let mut sequence = next_sequence(rand::random::<i64>() & ((1 << SEQUENCE_BITS) - 1), instance);
    loop {
        // Sleep, then take what queued meanwhile: the call path never has a waiting
        // writer to wake, so a record costs it no system call (waking this thread per
        // record cost more than writing the record).
        std::thread::sleep(flush);
        // Read before the buffer is taken: once the recorder is gone, nothing follows.
        let closed = shared.closed.load(Ordering::Acquire);
        {
            let mut pending = shared.pending.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::swap(&mut pending.bytes, &mut taken);
            pending.calls = 0;
        }
        write(log, directory, &taken, (&mut sequence, instance), mask_numbers);
        taken.clear();
        if taken.capacity() > KEEP_CAPACITY {
            taken = Vec::new();
        }
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

/// Writes the encoded calls, `BATCH` to a transaction.
fn write(
    log: &dyn CallStore,
    directory: &Directory,
    encoded: &[u8],
    sequence: (&mut i64, Option<u16>),
    mask_numbers: bool,
) {
    let (sequence, instance) = sequence;
    let calls: Vec<wire::Call<'_>> = wire::decode(encoded).collect();
    let snapshot = directory.snapshot();
    for calls in calls.chunks(BATCH) {
        let stored: Vec<Stored<'_>> = calls
            .iter()
            .map(|c| Stored::new(c, &snapshot, (&mut *sequence, instance)))
            .collect();
        let rows: Vec<CallRow<'_>> = stored.iter().map(Stored::row).collect();
        for (stored, row) in stored.iter().zip(&rows) {
            super::log_line::ended(stored.call, &stored.call_id, row.org_id, row.trunk_id, mask_numbers);
        }
        match log.append(&rows) {
            Ok(()) => metrics::counter!("call_records_written_total").increment(rows.len() as u64),
            Err(err) => {
                metrics::counter!("call_records_dropped_total").increment(rows.len() as u64);
                tracing::warn!(%err, records = rows.len(), "call records not written");
            }
        }
    }
}

fn batch_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A finished call with its key, its Call-ID as text and, for a call refused before
/// routing, the org and trunk it was attributed to.
struct Stored<'a> {
    key: i64,
    call: &'a wire::Call<'a>,
    call_id: Cow<'a, str>,
    attributed: (Option<String>, Option<String>),
}

impl<'a> Stored<'a> {
    fn new(call: &'a wire::Call<'a>, snapshot: &Snapshot, (sequence, instance): (&mut i64, Option<u16>)) -> Stored<'a> {
        let attributed = match call.org_id {
            Some(_) => (None, None),
            None => super::attribution::of(snapshot, call.called),
        };
        *sequence = next_sequence(*sequence, instance);
        Stored {
            key: (call.invite_ms.max(0) << SEQUENCE_BITS) | *sequence,
            call,
            call_id: String::from_utf8_lossy(call.call_id),
            attributed,
        }
    }

    /// The row, with org and trunk from the route taken or else from the attribution.
    fn row(&self) -> CallRow<'_> {
        let c = self.call;
        let (org_id, trunk_id) = match c.org_id {
            Some(org) => (Some(org), c.trunk_id),
            None => (self.attributed.0.as_deref(), self.attributed.1.as_deref()),
        };
        CallRow {
            key: self.key,
            org_id,
            trunk_id,
            direction: c.direction,
            call_id: &self.call_id,
            livekit_call_id: c.livekit_call_id,
            called_number: c.called,
            calling_number: c.caller,
            route_kind: c.route_kind,
            agent_id: c.agent_id,
            agent_version_id: c.agent_version_id,
            status: c.status,
            reason: c.reason,
            outcome: c.outcome,
            ended_by: c.ended_by,
            ringing_ms: c.ringing_ms,
            answered_ms: c.answered_ms,
            ended_ms: c.ended_ms,
        }
    }
}
