//! The call-record writer's work per finished call: batches of 1,000 records appended to a
//! real SQLite file (WAL, as the server opens it), the table growing as in a long run.
//! `append_1000` is the store as it is (one column per field, integer times);
//! `append_1000_json_body` is the baseline it replaced, in the same run: each record built
//! as `CallRecord` Strings, serialised to JSON and kept as one body column.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rusqlite::{params, Connection};
use switchboard::call_records::{rfc3339_ms, CallRecord};
use switchboard::store::{record_id, CallLog, CallRow, CallStore, SEQUENCE_BITS};

const BATCH: i64 = 1000;
const ORGS: [&str; 4] = [
    "0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0001",
    "0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0002",
    "0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0003",
    "0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0004",
];

/// What the writer holds for one finished call.
struct Finished {
    key: i64,
    call_id: String,
    called: String,
}

fn finished(key: i64) -> Finished {
    Finished {
        key,
        call_id: format!("{key}-4711@carrier.example.net"),
        called: format!("+1555{:07}", key % 10_000_000),
    }
}

fn row(f: &Finished) -> CallRow<'_> {
    let ms = f.key >> SEQUENCE_BITS;
    CallRow {
        key: f.key,
        org_id: Some(ORGS[(f.key & 3) as usize]),
        trunk_id: Some("5b0c2f4e-2f0e-4d7a-9a53-3c1f6a0b9e21"),
        direction: "inbound",
        call_id: &f.call_id,
        livekit_call_id: Some("5f1e0c2a9b7d4e31@switchboard"),
        called_number: Some(&f.called),
        calling_number: Some("+14155550100"),
        route_kind: "static",
        agent_id: Some("0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11"),
        agent_version_id: Some("7d2c9a10-3b4e-4f5a-8c6d-1e2f3a4b5c6d"),
        status: 200,
        reason: "OK",
        outcome: "answered",
        ended_by: "caller",
        ringing_ms: Some(ms + 12),
        answered_ms: Some(ms + 30),
        ended_ms: ms + 2_000,
    }
}

/// The record as the earlier writer built it, Strings and formatted times.
fn record(r: &CallRow<'_>) -> CallRecord {
    CallRecord {
        id: record_id(r.key),
        direction: r.direction.into(),
        call_id: r.call_id.into(),
        livekit_call_id: r.livekit_call_id.map(Into::into),
        org_id: r.org_id.map(Into::into),
        trunk_id: r.trunk_id.map(Into::into),
        called_number: r.called_number.map(Into::into),
        calling_number: r.calling_number.map(Into::into),
        route_kind: r.route_kind.into(),
        agent_id: r.agent_id.map(Into::into),
        agent_version_id: r.agent_version_id.map(Into::into),
        status: r.status,
        reason: r.reason.into(),
        outcome: r.outcome.into(),
        ended_by: r.ended_by.into(),
        invite_at: rfc3339_ms(r.key >> SEQUENCE_BITS),
        ringing_at: r.ringing_ms.map(rfc3339_ms),
        answered_at: r.answered_ms.map(rfc3339_ms),
        ended_at: rfc3339_ms(r.ended_ms),
        instance: Some("edge-1:5060".into()),
    }
}

/// Batches of finished calls with keys one millisecond apart, continuing where the last
/// batch ended.
fn batches(next: &mut i64) -> Vec<Finished> {
    let batch = (*next..*next + BATCH).map(|i| finished(i << SEQUENCE_BITS)).collect();
    *next += BATCH;
    batch
}

fn append(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = CallLog::open(&dir.path().join("calls.db"), "edge-1:5060").expect("opening the call log");
    let json = Connection::open(dir.path().join("json.db")).expect("opening the baseline");
    json.pragma_update(None, "journal_mode", "WAL").unwrap();
    json.pragma_update(None, "synchronous", "NORMAL").unwrap();
    json.execute_batch(
        "CREATE TABLE calls (key INTEGER PRIMARY KEY, org_id TEXT, body TEXT NOT NULL);
         CREATE INDEX calls_by_org ON calls (org_id, key);",
    )
    .unwrap();
    let mut group = c.benchmark_group("call_records");
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut next = 1_764_000_000_000i64;
    group.bench_function("append_1000", |b| {
        b.iter_batched(
            || batches(&mut next),
            |batch| {
                let rows: Vec<_> = batch.iter().map(row).collect();
                log.append(black_box(&rows)).expect("appending");
            },
            BatchSize::LargeInput,
        )
    });
    let mut next = 1_764_000_000_000i64;
    group.bench_function("append_1000_json_body", |b| {
        b.iter_batched(
            || batches(&mut next),
            |batch| {
                let tx = json.unchecked_transaction().unwrap();
                {
                    let mut insert = tx
                        .prepare_cached("INSERT OR REPLACE INTO calls (key, org_id, body) VALUES (?1, ?2, ?3)")
                        .unwrap();
                    for f in &batch {
                        let record = record(&row(f));
                        let body = serde_json::to_string(&record).unwrap();
                        insert.execute(params![f.key, record.org_id, body]).unwrap();
                    }
                }
                tx.commit().unwrap();
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, append);
criterion_main!(benches);
