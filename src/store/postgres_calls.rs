//! Call records in the shared PostgreSQL database: every instance appends its own (each
//! row names its instance), and any instance's API lists them all. One `INSERT ... SELECT
//! FROM unnest(...)` a batch, on the records' own connection. Retention runs on whichever
//! instance gets to it first (an advisory lock: one pruner at a time).

use std::sync::atomic::Ordering;

use super::call_store::{record_id, record_key, CallQuery, CallRow, CallStore, SEQUENCE_BITS};
use super::postgres::{pg, PgStore};
use super::StoreError;
use crate::call_records::{rfc3339_ms, CallRecord};

/// Held by the instance pruning call records.
const PRUNE_LOCK: i64 = 0x5377_6974_6368_0003;

const INSERT: &str = "INSERT INTO call_records (key, instance, org_id, trunk_id, direction, call_id,
        livekit_call_id, called_number, calling_number, route_kind, agent_id, agent_version_id,
        status, reason, outcome, ended_by, ringing_ms, answered_ms, ended_ms)
    SELECT u.key, $1, u.org_id, u.trunk_id, u.direction, u.call_id, u.livekit_call_id,
        u.called_number, u.calling_number, u.route_kind, u.agent_id, u.agent_version_id,
        u.status, u.reason, u.outcome, u.ended_by, u.ringing_ms, u.answered_ms, u.ended_ms
    FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
        $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::int[], $14::text[],
        $15::text[], $16::text[], $17::bigint[], $18::bigint[], $19::bigint[])
        AS u(key, org_id, trunk_id, direction, call_id, livekit_call_id, called_number,
        calling_number, route_kind, agent_id, agent_version_id, status, reason, outcome,
        ended_by, ringing_ms, answered_ms, ended_ms)
    ON CONFLICT (key) DO NOTHING";

const SELECT: &str = "SELECT key, org_id, trunk_id, direction, call_id, livekit_call_id,
        called_number, calling_number, route_kind, agent_id, agent_version_id, status, reason,
        outcome, ended_by, ringing_ms, answered_ms, ended_ms, instance
    FROM call_records";

impl CallStore for PgStore {
    fn instance_number(&self) -> Option<u16> {
        Some(self.inner.instance_number.load(Ordering::Acquire))
    }

    fn append(&self, rows: &[CallRow<'_>]) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let batch = Batch::of(rows);
        let inner = self.inner.clone();
        self.run(async move {
            let guard = inner.records_client().await?;
            let client = guard.as_ref().ok_or(StoreError::Stopped)?;
            let b = &batch;
            client
                .execute(
                    INSERT,
                    &[
                        &inner.instance,
                        &b.key,
                        &b.org_id,
                        &b.trunk_id,
                        &b.direction,
                        &b.call_id,
                        &b.livekit_call_id,
                        &b.called_number,
                        &b.calling_number,
                        &b.route_kind,
                        &b.agent_id,
                        &b.agent_version_id,
                        &b.status,
                        &b.reason,
                        &b.outcome,
                        &b.ended_by,
                        &b.ringing_ms,
                        &b.answered_ms,
                        &b.ended_ms,
                    ],
                )
                .await
                .map_err(pg)?;
            Ok(())
        })?;
        metrics::histogram!("call_records_write_duration_seconds").record(started.elapsed().as_secs_f64());
        Ok(())
    }

    fn prune(&self, older_than_ms: i64, keep: usize) -> Result<usize, StoreError> {
        let horizon = older_than_ms.max(0) << SEQUENCE_BITS;
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        let inner = self.inner.clone();
        self.run(async move {
            let mut guard = inner.records_client().await?;
            let client = guard.as_mut().ok_or(StoreError::Stopped)?;
            let tx = client.transaction().await.map_err(pg)?;
            let mine: bool = tx
                .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&PRUNE_LOCK])
                .await
                .map_err(pg)?
                .get(0);
            if !mine {
                return Ok(0); // another instance is pruning the same table
            }
            let mut gone = tx
                .execute("DELETE FROM call_records WHERE key < $1", &[&horizon])
                .await
                .map_err(pg)?;
            // The key `keep` rows down from the newest, read off the primary key's index.
            let oldest_kept = tx
                .query_opt(
                    "SELECT key FROM call_records ORDER BY key DESC OFFSET $1 LIMIT 1",
                    &[&keep],
                )
                .await
                .map_err(pg)?;
            if let Some(row) = oldest_kept {
                let past: i64 = row.get(0);
                gone += tx
                    .execute("DELETE FROM call_records WHERE key <= $1", &[&past])
                    .await
                    .map_err(pg)?;
            }
            tx.commit().await.map_err(pg)?;
            Ok(gone as usize)
        })
    }

    fn list(&self, query: &CallQuery) -> Result<Vec<(i64, CallRecord)>, StoreError> {
        let since = query.since_ms.map_or(i64::MIN, |ms| ms.max(0) << SEQUENCE_BITS);
        let until = query.until_ms.map_or(i64::MAX, |ms| ms.max(0) << SEQUENCE_BITS);
        let before = query.before.unwrap_or(i64::MAX).min(until);
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        let org = query.org_id.clone();
        let inner = self.inner.clone();
        self.run(async move {
            let guard = inner.records_client().await?;
            let client = guard.as_ref().ok_or(StoreError::Stopped)?;
            let rows = client
                .query(
                    &format!("{SELECT} WHERE org_id = $1 AND key < $2 AND key >= $3 ORDER BY key DESC LIMIT $4"),
                    &[&org, &before, &since, &limit],
                )
                .await
                .map_err(pg)?;
            Ok(rows.iter().map(read_row).collect())
        })
    }

    fn get(&self, org_id: &str, id: &str) -> Result<Option<CallRecord>, StoreError> {
        let Some(key) = record_key(id) else {
            return Ok(None);
        };
        let org = org_id.to_owned();
        let inner = self.inner.clone();
        self.run(async move {
            let guard = inner.records_client().await?;
            let client = guard.as_ref().ok_or(StoreError::Stopped)?;
            let row = client
                .query_opt(&format!("{SELECT} WHERE key = $1 AND org_id = $2"), &[&key, &org])
                .await
                .map_err(pg)?;
            Ok(row.as_ref().map(|r| read_row(r).1))
        })
    }
}

/// A batch of rows as one array per column (what `unnest` takes).
#[derive(Default)]
struct Batch {
    key: Vec<i64>,
    org_id: Vec<Option<String>>,
    trunk_id: Vec<Option<String>>,
    direction: Vec<String>,
    call_id: Vec<String>,
    livekit_call_id: Vec<Option<String>>,
    called_number: Vec<Option<String>>,
    calling_number: Vec<Option<String>>,
    route_kind: Vec<String>,
    agent_id: Vec<Option<String>>,
    agent_version_id: Vec<Option<String>>,
    status: Vec<i32>,
    reason: Vec<String>,
    outcome: Vec<String>,
    ended_by: Vec<String>,
    ringing_ms: Vec<Option<i64>>,
    answered_ms: Vec<Option<i64>>,
    ended_ms: Vec<i64>,
}

impl Batch {
    fn of(rows: &[CallRow<'_>]) -> Batch {
        let owned = |s: Option<&str>| s.map(str::to_owned);
        let mut b = Batch::default();
        for r in rows {
            b.key.push(r.key);
            b.org_id.push(owned(r.org_id));
            b.trunk_id.push(owned(r.trunk_id));
            b.direction.push(r.direction.to_owned());
            b.call_id.push(r.call_id.to_owned());
            b.livekit_call_id.push(owned(r.livekit_call_id));
            b.called_number.push(owned(r.called_number));
            b.calling_number.push(owned(r.calling_number));
            b.route_kind.push(r.route_kind.to_owned());
            b.agent_id.push(owned(r.agent_id));
            b.agent_version_id.push(owned(r.agent_version_id));
            b.status.push(i32::from(r.status));
            b.reason.push(r.reason.to_owned());
            b.outcome.push(r.outcome.to_owned());
            b.ended_by.push(r.ended_by.to_owned());
            b.ringing_ms.push(r.ringing_ms);
            b.answered_ms.push(r.answered_ms);
            b.ended_ms.push(r.ended_ms);
        }
        b
    }
}

/// A row of `SELECT` as the API shows it, with its key.
fn read_row(r: &tokio_postgres::Row) -> (i64, CallRecord) {
    let key: i64 = r.get(0);
    let at = |i| r.get::<_, Option<i64>>(i).map(rfc3339_ms);
    let record = CallRecord {
        id: record_id(key),
        org_id: r.get(1),
        trunk_id: r.get(2),
        direction: r.get(3),
        call_id: r.get(4),
        livekit_call_id: r.get(5),
        called_number: r.get(6),
        calling_number: r.get(7),
        route_kind: r.get(8),
        agent_id: r.get(9),
        agent_version_id: r.get(10),
        status: u16::try_from(r.get::<_, i32>(11)).unwrap_or(0),
        reason: r.get(12),
        outcome: r.get(13),
        ended_by: r.get(14),
        invite_at: rfc3339_ms(key >> SEQUENCE_BITS),
        ringing_at: at(15),
        answered_at: at(16),
        ended_at: rfc3339_ms(r.get(17)),
        instance: r.get(18),
    };
    (key, record)
}
