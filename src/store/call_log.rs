//! Call records in the SQLite file beside the directory: appended in batches by the call
//! recorder's writer thread, read by the API, pruned by age and count. A table of its own
//! (not the directory's `objects`), so the directory's load at start never reads them.
//!
//! A row is mostly integers: times in milliseconds, and every name that recurs from call
//! to call (org and trunk ids, direction, route kind, outcome, reason, who hung up) as the
//! number of its row in `call_record_names`. The Call-ID, the two phone numbers and the
//! agent and version ids (one agent per number is common, so they recur less) are text.
//! The writer formats nothing and binds few strings (each costs SQLite a copy); the names,
//! JSON and timestamps come back when the API reads a record.
//! The view `call_records_named` shows the rows with their names, for people with sqlite3.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use super::call_store::{record_id, record_key, CallQuery, CallRow, CallStore, SEQUENCE_BITS};
use super::StoreError;
use crate::call_records::{rfc3339_ms, CallRecord};

/// Keyed by the record's number (its INVITE's arrival in ms << 20, plus a sequence), so the
/// table's own B-tree orders by time: retention deletes a key range, and one index serves
/// the org-scoped listing.
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS call_record_names (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
    );
    CREATE TABLE IF NOT EXISTS call_records (
        key INTEGER PRIMARY KEY,
        org INTEGER,
        trunk INTEGER,
        direction INTEGER NOT NULL,
        call_id TEXT NOT NULL,
        called_number TEXT,
        calling_number TEXT,
        route_kind INTEGER NOT NULL,
        agent_id TEXT,
        agent_version_id TEXT,
        status INTEGER NOT NULL,
        reason INTEGER NOT NULL,
        outcome INTEGER NOT NULL,
        ended_by INTEGER NOT NULL,
        ringing_ms INTEGER,
        answered_ms INTEGER,
        ended_ms INTEGER NOT NULL,
        livekit_call_id TEXT,
        instance INTEGER
    );
    CREATE INDEX IF NOT EXISTS call_records_by_org ON call_records (org, key);";

/// The view, made again at each open so that it shows columns added since.
const VIEW: &str = "DROP VIEW IF EXISTS call_records_named;
    CREATE VIEW call_records_named AS SELECT
        c.key, o.name AS org_id, t.name AS trunk_id, d.name AS direction, c.call_id,
        c.called_number, c.calling_number, k.name AS route_kind, c.agent_id,
        c.agent_version_id, c.status, r.name AS reason, u.name AS outcome,
        e.name AS ended_by, c.key >> 20 AS invite_ms, c.ringing_ms, c.answered_ms, c.ended_ms,
        c.livekit_call_id, i.name AS instance
    FROM call_records c
        LEFT JOIN call_record_names o ON o.id = c.org
        LEFT JOIN call_record_names t ON t.id = c.trunk
        LEFT JOIN call_record_names d ON d.id = c.direction
        LEFT JOIN call_record_names k ON k.id = c.route_kind
        LEFT JOIN call_record_names r ON r.id = c.reason
        LEFT JOIN call_record_names u ON u.id = c.outcome
        LEFT JOIN call_record_names e ON e.id = c.ended_by
        LEFT JOIN call_record_names i ON i.id = c.instance;";

/// The named columns in table order, as (field of the JSON record, its value when an old
/// record lacks it).
const NAMED: [(&str, Option<&str>); 7] = [
    ("org_id", None),
    ("trunk_id", None),
    ("direction", Some("inbound")),
    ("route_kind", Some("rejected")),
    ("reason", Some("")),
    ("outcome", Some("failed")),
    ("ended_by", Some("switchboard")),
];

/// Earlier releases kept each record as one JSON body in `calls`; its rows move into the
/// table once, at open, and the old table goes.
fn migrate_json_table() -> String {
    let field = |name: &str, default: Option<&str>| match default {
        Some(d) => format!("COALESCE(json_extract(body, '$.{name}'), '{d}')"),
        None => format!("json_extract(body, '$.{name}')"),
    };
    let names = NAMED
        .iter()
        .map(|(name, default)| format!("SELECT {} AS name FROM calls", field(name, *default)))
        .collect::<Vec<_>>()
        .join(" UNION ");
    let id = |name: &str, default: Option<&str>| {
        format!(
            "(SELECT id FROM call_record_names WHERE name = {})",
            field(name, default)
        )
    };
    let [org, trunk, direction, route_kind, reason, outcome, ended_by] = NAMED.map(|(name, default)| id(name, default));
    let ms = |name: &str| format!("CAST(ROUND(unixepoch(json_extract(body, '$.{name}'), 'subsec') * 1000) AS INTEGER)");
    format!(
        "DELETE FROM calls WHERE NOT json_valid(body);
         INSERT OR IGNORE INTO call_record_names (name) SELECT name FROM ({names}) WHERE name IS NOT NULL;
         INSERT OR IGNORE INTO call_records SELECT key, {org}, {trunk}, {direction},
             COALESCE(json_extract(body, '$.call_id'), ''), json_extract(body, '$.called_number'),
             json_extract(body, '$.calling_number'), {route_kind}, json_extract(body, '$.agent_id'),
             json_extract(body, '$.agent_version_id'),
             COALESCE(json_extract(body, '$.status'), 0), {reason}, {outcome}, {ended_by},
             {ringing}, {answered}, COALESCE({ended}, key >> 20), NULL, NULL
         FROM calls;
         DROP TABLE calls;",
        ringing = ms("ringing_at"),
        answered = ms("answered_at"),
        ended = ms("ended_at"),
    )
}

/// The record's fields with their names, for reading.
const SELECT_NAMED: &str = "SELECT key, org_id, trunk_id, direction, call_id, called_number,
     calling_number, route_kind, agent_id, agent_version_id, status, reason, outcome, ended_by,
     invite_ms, ringing_ms, answered_ms, ended_ms, livekit_call_id, instance FROM call_records_named";

/// The call-record table.
#[derive(Debug)]
pub struct CallLog {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    connection: Connection,
    /// Rows in the table, counted once at the first prune and kept since: counting a table
    /// of millions every minute cost a scan of its index each time.
    rows: Option<i64>,
    names: Names,
    /// The row in `call_record_names` of this instance's name, which every record carries.
    instance: i64,
}

/// `call_record_names` as the writer has met it: name to row.
#[derive(Debug, Default)]
struct Names {
    /// Each named column's last name, compared before anything is hashed: consecutive
    /// records mostly repeat one org, trunk and set of labels.
    last: [Option<(Box<str>, i64)>; NAMED.len()],
    all: HashMap<Box<str>, i64>,
}

impl Names {
    fn get(&mut self, column: usize, name: &str) -> Option<i64> {
        if let Some((last, id)) = &self.last[column] {
            if **last == *name {
                return Some(*id);
            }
        }
        let id = *self.all.get(name)?;
        self.last[column] = Some((name.into(), id));
        Some(id)
    }

    fn insert(&mut self, column: usize, name: &str, id: i64) {
        self.all.insert(name.into(), id);
        self.last[column] = Some((name.into(), id));
    }

    fn clear(&mut self) {
        self.last = Default::default();
        self.all.clear();
    }
}

/// Past this many, the names cache starts again (ids come from the directory, so there are
/// as many as it ever held; this only bounds a long-lived process).
const NAMES_CACHED: usize = 100_000;

/// Columns added since the table was first made, in table order: a table from before them
/// gains them at open.
const ADDED: [(&str, &str); 2] = [("livekit_call_id", "TEXT"), ("instance", "INTEGER")];

impl CallLog {
    /// Open (and make or migrate) the table in the SQLite file at `path`; the records this
    /// process writes name `instance`.
    pub fn open(path: &Path, instance: &str) -> Result<CallLog, StoreError> {
        let mut connection = Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        // Records are telemetry: NORMAL keeps WAL's ordering guarantees (a crash loses at
        // most the last batch, never corrupts) without an fsync per batch on the call path.
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        let tx = connection.transaction()?;
        tx.execute_batch(SCHEMA)?;
        for (column, kind) in ADDED {
            let has: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM pragma_table_info('call_records') WHERE name = ?1)",
                [column],
                |r| r.get(0),
            )?;
            if !has {
                tx.execute_batch(&format!("ALTER TABLE call_records ADD COLUMN {column} {kind}"))?;
            }
        }
        tx.execute_batch(VIEW)?;
        let old: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'calls')",
            [],
            |r| r.get(0),
        )?;
        if old {
            tx.execute_batch(&migrate_json_table())?;
        }
        tx.execute("INSERT OR IGNORE INTO call_record_names (name) VALUES (?1)", [instance])?;
        let instance = name_row(&tx, instance)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
        tx.commit()?;
        Ok(CallLog {
            inner: Mutex::new(Inner {
                connection,
                names: Names::default(),
                rows: None,
                instance,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl CallStore for CallLog {
    fn append(&self, rows: &[CallRow<'_>]) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let mut inner = self.lock();
        let Inner {
            connection,
            names,
            rows: count,
            instance,
        } = &mut *inner;
        if names.all.len() > NAMES_CACHED {
            names.clear();
        }
        match append(connection, names, *instance, rows) {
            Ok(inserted) => {
                if let Some(count) = count {
                    *count += inserted as i64;
                }
            }
            Err(err) => {
                // Names added in a transaction that did not commit are not in the table.
                names.clear();
                return Err(err);
            }
        }
        metrics::histogram!("call_records_write_duration_seconds").record(started.elapsed().as_secs_f64());
        Ok(())
    }

    fn prune(&self, older_than_ms: i64, keep: usize) -> Result<usize, StoreError> {
        let mut inner = self.lock();
        let Inner { connection, rows, .. } = &mut *inner;
        let horizon = older_than_ms.max(0) << SEQUENCE_BITS;
        let mut gone = connection.execute("DELETE FROM call_records WHERE key < ?1", params![horizon])?;
        let count = match rows {
            Some(count) => *count - gone as i64,
            None => connection.query_row("SELECT COUNT(*) FROM call_records", [], |r| r.get(0))?,
        };
        let excess = count - keep as i64;
        if excess > 0 {
            gone += connection.execute(
                "DELETE FROM call_records WHERE key <=
                 (SELECT key FROM call_records ORDER BY key LIMIT 1 OFFSET ?1)",
                params![excess - 1],
            )?;
        }
        *rows = Some(count - excess.max(0));
        Ok(gone)
    }

    fn list(&self, query: &CallQuery) -> Result<Vec<(i64, CallRecord)>, StoreError> {
        let inner = self.lock();
        let since = query.since_ms.map_or(i64::MIN, |ms| ms.max(0) << SEQUENCE_BITS);
        let until = query.until_ms.map_or(i64::MAX, |ms| ms.max(0) << SEQUENCE_BITS);
        let before = query.before.unwrap_or(i64::MAX).min(until);
        // The org's number first, so that the listing walks the (org, key) index.
        let Some(org) = name_row(&inner.connection, &query.org_id)? else {
            return Ok(Vec::new());
        };
        let mut statement = inner.connection.prepare_cached(&format!(
            "{SELECT_NAMED} WHERE key IN (SELECT key FROM call_records
                 WHERE org = ?1 AND key < ?2 AND key >= ?3 ORDER BY key DESC LIMIT ?4)
             ORDER BY key DESC"
        ))?;
        let rows = statement.query_map(params![org, before, since, query.limit as i64], read_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn get(&self, org_id: &str, id: &str) -> Result<Option<CallRecord>, StoreError> {
        let Some(key) = record_key(id) else {
            return Ok(None);
        };
        let inner = self.lock();
        let row = inner
            .connection
            .prepare_cached(&format!("{SELECT_NAMED} WHERE key = ?1 AND org_id = ?2"))?
            .query_row(params![key, org_id], read_row)
            .optional()?;
        Ok(row.map(|(_, record)| record))
    }
}

/// The row of `name` in `call_record_names`, if it has one.
fn name_row(connection: &Connection, name: &str) -> rusqlite::Result<Option<i64>> {
    connection
        .prepare_cached("SELECT id FROM call_record_names WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()
}

/// The row of `name`, added when new; remembered in `names`.
fn name_id(connection: &Connection, names: &mut Names, column: usize, name: &str) -> rusqlite::Result<i64> {
    if let Some(id) = names.get(column, name) {
        return Ok(id);
    }
    connection
        .prepare_cached("INSERT OR IGNORE INTO call_record_names (name) VALUES (?1)")?
        .execute([name])?;
    let id = name_row(connection, name)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
    names.insert(column, name, id);
    Ok(id)
}

/// Returns how many rows went in (`OR IGNORE` skips a key already there).
fn append(
    connection: &mut Connection,
    names: &mut Names,
    instance: i64,
    rows: &[CallRow<'_>],
) -> Result<usize, StoreError> {
    let mut inserted = 0;
    let tx = connection.transaction()?;
    {
        let mut named = Vec::with_capacity(rows.len());
        for r in rows {
            // Columns numbered in `NAMED` order.
            let mut id = |column: usize, name: &str| name_id(&tx, names, column, name);
            named.push(Named {
                org: r.org_id.map(|n| id(0, n)).transpose()?,
                trunk: r.trunk_id.map(|n| id(1, n)).transpose()?,
                direction: id(2, r.direction)?,
                route_kind: id(3, r.route_kind)?,
                reason: id(4, r.reason)?,
                outcome: id(5, r.outcome)?,
                ended_by: id(6, r.ended_by)?,
                instance,
            });
        }
        // Several rows a statement: one step and reset for each `ROWS_PER_INSERT`; the
        // last, shorter chunk row by row.
        let mut full = tx.prepare_cached(&insert_sql(ROWS_PER_INSERT))?;
        let mut one = tx.prepare_cached(&insert_sql(1))?;
        let (mut full_bound, mut one_bound) = (Bound::new(ROWS_PER_INSERT), Bound::new(1));
        for (rows, named) in rows.chunks(ROWS_PER_INSERT).zip(named.chunks(ROWS_PER_INSERT)) {
            if rows.len() == ROWS_PER_INSERT {
                bind(&mut full, &mut full_bound, rows, named)?;
                inserted += full.raw_execute()?;
                continue;
            }
            for (row, named) in rows.iter().zip(named) {
                bind(
                    &mut one,
                    &mut one_bound,
                    std::slice::from_ref(row),
                    std::slice::from_ref(named),
                )?;
                inserted += one.raw_execute()?;
            }
        }
    }
    tx.commit()?;
    Ok(inserted)
}

/// A row's names as their numbers.
struct Named {
    org: Option<i64>,
    trunk: Option<i64>,
    direction: i64,
    route_kind: i64,
    reason: i64,
    outcome: i64,
    ended_by: i64,
    instance: i64,
}

/// Rows in one multi-row INSERT (19 columns each: 608 parameters, under SQLite's limit).
const ROWS_PER_INSERT: usize = 32;
const FIELDS: usize = 19;

/// `OR IGNORE`: keys are unique by construction (a millisecond and a sequence number), and
/// an INSERT that cannot abort needs no statement journal (about 400 instructions a row).
fn insert_sql(rows: usize) -> String {
    let one = format!("({})", vec!["?"; FIELDS].join(","));
    format!(
        "INSERT OR IGNORE INTO call_records VALUES {}",
        vec![one; rows].join(",")
    )
}

/// What a statement's integer parameters hold, so that a value already bound is not bound
/// again: a batch's rows mostly repeat one org, trunk, set of labels and status, and a
/// cached statement keeps its bindings from one execution to the next within a batch.
struct Bound(Vec<Option<Option<i64>>>);

impl Bound {
    fn new(rows: usize) -> Bound {
        Bound(vec![None; rows * FIELDS])
    }

    fn int(
        &mut self,
        insert: &mut rusqlite::CachedStatement<'_>,
        index: usize,
        value: Option<i64>,
    ) -> rusqlite::Result<()> {
        if self.0[index - 1] != Some(value) {
            insert.raw_bind_parameter(index, value)?;
            self.0[index - 1] = Some(value);
        }
        Ok(())
    }
}

/// Bind `rows` (and their names' numbers) to an INSERT of as many rows, in column order.
fn bind(
    insert: &mut rusqlite::CachedStatement<'_>,
    bound: &mut Bound,
    rows: &[CallRow<'_>],
    named: &[Named],
) -> rusqlite::Result<()> {
    for (i, (r, n)) in rows.iter().zip(named).enumerate() {
        let at = i * FIELDS;
        insert.raw_bind_parameter(at + 1, r.key)?;
        bound.int(insert, at + 2, n.org)?;
        bound.int(insert, at + 3, n.trunk)?;
        bound.int(insert, at + 4, Some(n.direction))?;
        insert.raw_bind_parameter(at + 5, r.call_id)?;
        insert.raw_bind_parameter(at + 6, r.called_number)?;
        insert.raw_bind_parameter(at + 7, r.calling_number)?;
        bound.int(insert, at + 8, Some(n.route_kind))?;
        insert.raw_bind_parameter(at + 9, r.agent_id)?;
        insert.raw_bind_parameter(at + 10, r.agent_version_id)?;
        bound.int(insert, at + 11, Some(i64::from(r.status)))?;
        bound.int(insert, at + 12, Some(n.reason))?;
        bound.int(insert, at + 13, Some(n.outcome))?;
        bound.int(insert, at + 14, Some(n.ended_by))?;
        insert.raw_bind_parameter(at + 15, r.ringing_ms)?;
        insert.raw_bind_parameter(at + 16, r.answered_ms)?;
        insert.raw_bind_parameter(at + 17, r.ended_ms)?;
        insert.raw_bind_parameter(at + 18, r.livekit_call_id)?;
        bound.int(insert, at + 19, Some(n.instance))?;
    }
    Ok(())
}

/// A row as the API shows it, with its key.
fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, CallRecord)> {
    let key: i64 = r.get(0)?;
    let at = |i| r.get::<_, Option<i64>>(i).map(|ms| ms.map(rfc3339_ms));
    let record = CallRecord {
        id: record_id(key),
        org_id: r.get(1)?,
        trunk_id: r.get(2)?,
        direction: r.get(3)?,
        call_id: r.get(4)?,
        livekit_call_id: r.get(18)?,
        called_number: r.get(5)?,
        calling_number: r.get(6)?,
        route_kind: r.get(7)?,
        agent_id: r.get(8)?,
        agent_version_id: r.get(9)?,
        status: r.get(10)?,
        reason: r.get(11)?,
        outcome: r.get(12)?,
        ended_by: r.get(13)?,
        invite_at: rfc3339_ms(r.get(14)?),
        ringing_at: at(15)?,
        answered_at: at(16)?,
        ended_at: rfc3339_ms(r.get(17)?),
        instance: r.get(19)?,
    };
    Ok((key, record))
}

// The migration's SQL shifts keys by this many bits.
const _: () = assert!(SEQUENCE_BITS == 20);

#[cfg(test)]
mod tests {
    use super::*;

    const INSTANCE: &str = "edge-1:5060";

    fn row(key: i64, org: &str) -> CallRow<'_> {
        CallRow {
            key,
            org_id: Some(org),
            trunk_id: None,
            direction: "inbound",
            call_id: "a84b4c76e66710@carrier",
            livekit_call_id: Some("5f1e0c2a9b7d4e31@switchboard"),
            called_number: Some("+15551234567"),
            calling_number: None,
            route_kind: "static",
            agent_id: None,
            agent_version_id: None,
            status: 200,
            reason: "OK",
            outcome: "answered",
            ended_by: "caller",
            ringing_ms: None,
            answered_ms: None,
            ended_ms: key >> SEQUENCE_BITS,
        }
    }

    #[test]
    fn records_list_newest_first_page_by_cursor_and_stay_in_their_org() {
        let dir = tempfile::tempdir().unwrap();
        let log = CallLog::open(&dir.path().join("s.db"), INSTANCE).unwrap();
        let batch: Vec<_> = (0..5).map(|i| row(i, "org-a")).chain([row(9, "org-b")]).collect();
        log.append(&batch).unwrap();
        let mut query = CallQuery {
            org_id: "org-a".into(),
            limit: 2,
            ..CallQuery::default()
        };
        let mut seen = Vec::new();
        loop {
            let page = log.list(&query).unwrap();
            if page.is_empty() {
                break;
            }
            query.before = Some(page.last().unwrap().0);
            seen.extend(page.into_iter().map(|(_, r)| r.id));
        }
        let ids: Vec<_> = [4, 3, 2, 1, 0].into_iter().map(record_id).collect();
        assert_eq!(seen, ids);
        assert!(
            log.get("org-b", &record_id(1)).unwrap().is_none(),
            "another org's record"
        );
        assert_eq!(log.get("org-a", &record_id(1)).unwrap().unwrap().id, record_id(1));
        assert!(log.get("org-a", "call_nope").unwrap().is_none());
        let names: i64 = Connection::open(dir.path().join("s.db"))
            .unwrap()
            .query_row("SELECT COUNT(*) FROM call_record_names", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            names, 8,
            "each name stored once: the instance, two orgs, inbound, static, OK, answered, caller"
        );
    }

    #[test]
    fn a_row_reads_back_as_the_record_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let log = CallLog::open(&dir.path().join("s.db"), INSTANCE).unwrap();
        let invite_ms = 1_764_000_000_123;
        let key = (invite_ms << SEQUENCE_BITS) | 7;
        log.append(&[CallRow {
            key,
            org_id: Some("org-a"),
            trunk_id: Some("trunk-1"),
            direction: "outbound",
            call_id: "abc@lk",
            livekit_call_id: Some("abc@lk"),
            called_number: Some("+15551234567"),
            calling_number: Some("+14155550100"),
            route_kind: "workflow",
            agent_id: Some("agent-1"),
            agent_version_id: Some("v-1"),
            status: 486,
            reason: "Busy Here",
            outcome: "busy",
            ended_by: "agent",
            ringing_ms: Some(invite_ms + 12),
            answered_ms: None,
            ended_ms: invite_ms + 2_000,
        }])
        .unwrap();
        let record = log.get("org-a", &record_id(key)).unwrap().unwrap();
        assert_eq!(
            record,
            CallRecord {
                id: record_id(key),
                direction: "outbound".into(),
                call_id: "abc@lk".into(),
                livekit_call_id: Some("abc@lk".into()),
                org_id: Some("org-a".into()),
                trunk_id: Some("trunk-1".into()),
                called_number: Some("+15551234567".into()),
                calling_number: Some("+14155550100".into()),
                route_kind: "workflow".into(),
                agent_id: Some("agent-1".into()),
                agent_version_id: Some("v-1".into()),
                status: 486,
                reason: "Busy Here".into(),
                outcome: "busy".into(),
                ended_by: "agent".into(),
                invite_at: "2025-11-24T16:00:00.123Z".into(),
                ringing_at: Some("2025-11-24T16:00:00.135Z".into()),
                answered_at: None,
                ended_at: "2025-11-24T16:00:02.123Z".into(),
                instance: Some(INSTANCE.into()),
            }
        );
    }

    #[test]
    fn a_batch_of_several_statements_keeps_each_rows_own_values() {
        // 32-row statements run three times, then single rows: a value left bound from the
        // row before in the same position must never stand in for a row's own.
        let dir = tempfile::tempdir().unwrap();
        let log = CallLog::open(&dir.path().join("s.db"), INSTANCE).unwrap();
        let orgs = ["org-a", "org-b", "org-c"];
        let statuses = [200, 486, 404];
        let rows: Vec<CallRow<'_>> = (0..(3 * ROWS_PER_INSERT + 5) as i64)
            .map(|i| {
                let varied = ((i / 3) % 3) as usize; // changes every third row
                CallRow {
                    trunk_id: (i % 2 == 0).then_some("trunk-1"),
                    status: statuses[varied],
                    outcome: ["answered", "busy", "unknown_number"][varied],
                    answered_ms: (varied == 0).then_some(i + 5),
                    ..row(i, orgs[varied])
                }
            })
            .collect();
        log.append(&rows).unwrap();
        for r in &rows {
            let record = log.get(r.org_id.unwrap(), &record_id(r.key)).unwrap().unwrap();
            assert_eq!(record.trunk_id.as_deref(), r.trunk_id, "row {}", r.key);
            assert_eq!(record.status, r.status, "row {}", r.key);
            assert_eq!(record.outcome, r.outcome, "row {}", r.key);
            assert_eq!(record.answered_at, r.answered_ms.map(rfc3339_ms), "row {}", r.key);
        }
    }

    #[test]
    fn records_kept_as_json_by_an_earlier_release_move_into_the_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let key = (1_764_000_000_123i64 << SEQUENCE_BITS) | 3;
        let old = CallRecord {
            id: record_id(key),
            direction: "inbound".into(),
            call_id: "old@carrier".into(),
            livekit_call_id: None,
            org_id: Some("org-a".into()),
            trunk_id: Some("trunk-1".into()),
            called_number: Some("+15551234567".into()),
            calling_number: None,
            route_kind: "static".into(),
            agent_id: Some("agent-1".into()),
            agent_version_id: Some("v-1".into()),
            status: 200,
            reason: "OK".into(),
            outcome: "answered".into(),
            ended_by: "caller".into(),
            invite_at: "2025-11-24T16:00:00.123Z".into(),
            ringing_at: Some("2025-11-24T16:00:00.135Z".into()),
            answered_at: Some("2025-11-24T16:00:00.999Z".into()),
            ended_at: "2025-11-24T16:01:00.001Z".into(),
            instance: None,
        };
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE calls (key INTEGER PRIMARY KEY, org_id TEXT, body TEXT NOT NULL);
                 CREATE INDEX calls_by_org ON calls (org_id, key);",
            )
            .unwrap();
            c.execute(
                "INSERT INTO calls VALUES (?1, ?2, ?3)",
                params![key, "org-a", serde_json::to_string(&old).unwrap()],
            )
            .unwrap();
        }
        let log = CallLog::open(&path, INSTANCE).unwrap();
        assert_eq!(log.get("org-a", &old.id).unwrap(), Some(old));
        drop(log);
        let c = Connection::open(&path).unwrap();
        let left: i64 = c
            .query_row("SELECT COUNT(*) FROM sqlite_master WHERE name = 'calls'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(left, 0, "the old table is gone");
        CallLog::open(&path, INSTANCE).expect("a second open has nothing to migrate");
    }

    #[test]
    fn a_table_from_before_the_livekit_call_id_gains_its_column_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        {
            let c = Connection::open(&path).unwrap();
            let before = SCHEMA.replace(",\n        livekit_call_id TEXT,\n        instance INTEGER", "");
            assert_ne!(before, SCHEMA);
            c.execute_batch(&before).unwrap();
            c.execute_batch(
                "INSERT INTO call_record_names (id, name) VALUES (1, 'o'), (2, 'inbound'), (3, 'x');
                 INSERT INTO call_records VALUES (5, 1, NULL, 2, 'old@carrier', NULL, NULL, 3, NULL,
                     NULL, 200, 3, 3, 3, NULL, NULL, 0);",
            )
            .unwrap();
        }
        let log = CallLog::open(&path, INSTANCE).unwrap();
        let old = log.get("o", &record_id(5)).unwrap().expect("the old row");
        assert_eq!((old.call_id.as_str(), old.livekit_call_id), ("old@carrier", None));
        assert_eq!(old.instance, None, "written before records named their instance");
        log.append(&[row(6, "o")]).unwrap();
        let new = log.get("o", &record_id(6)).unwrap().unwrap();
        assert_eq!(new.livekit_call_id.as_deref(), Some("5f1e0c2a9b7d4e31@switchboard"));
        assert_eq!(new.instance.as_deref(), Some(INSTANCE));
        drop(log);
        CallLog::open(&path, INSTANCE).expect("a second open has nothing to add");
    }

    #[test]
    fn prune_drops_by_age_then_by_count() {
        let dir = tempfile::tempdir().unwrap();
        let log = CallLog::open(&dir.path().join("s.db"), INSTANCE).unwrap();
        let batch: Vec<_> = (0..10).map(|i| row(i << SEQUENCE_BITS, "o")).collect();
        log.append(&batch).unwrap();
        assert_eq!(log.prune(3, 100).unwrap(), 3, "older than 3 ms");
        assert_eq!(log.prune(0, 4).unwrap(), 3);
        let left: Vec<_> = log
            .list(&CallQuery {
                org_id: "o".into(),
                limit: 100,
                ..CallQuery::default()
            })
            .unwrap()
            .into_iter()
            .map(|(_, r)| r.id)
            .collect();
        let kept: Vec<_> = [9, 8, 7, 6]
            .into_iter()
            .map(|i| record_id(i << SEQUENCE_BITS))
            .collect();
        assert_eq!(left, kept);
        // The count is kept, not taken again: three new rows and one already there (which
        // `OR IGNORE` skips) make seven, two past a limit of five.
        let more: Vec<_> = (9..13).map(|i| row(i << SEQUENCE_BITS, "o")).collect();
        log.append(&more).unwrap();
        assert_eq!(log.prune(0, 5).unwrap(), 2);
        assert_eq!(log.prune(0, 5).unwrap(), 0);
        let count: i64 = Connection::open(dir.path().join("s.db"))
            .unwrap()
            .query_row("SELECT COUNT(*) FROM call_records", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 5);
    }
}
