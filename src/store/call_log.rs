//! Call records in the SQLite file beside the directory: appended in batches by the call
//! recorder's writer thread, read by the API, pruned by age and count. A table of its own
//! (not the directory's `objects`), so the directory's load at start never reads them.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use super::StoreError;
use crate::call_records::CallRecord;

/// Keyed by the record's number (its INVITE's arrival in ms << 20, plus a sequence), so the
/// table's own B-tree orders by time: retention deletes a key range, and one index serves
/// the org-scoped listing.
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS calls (
        key INTEGER PRIMARY KEY,
        org_id TEXT,
        body TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS calls_by_org ON calls (org_id, key);";

/// Bits of a record key below the millisecond timestamp.
pub const SEQUENCE_BITS: u32 = 20;

/// Which records a listing wants, newest first.
#[derive(Debug, Default, Clone)]
pub struct CallQuery {
    pub org_id: String,
    /// Only records with a smaller key: the cursor.
    pub before: Option<i64>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub limit: usize,
}

/// A record's id as the API shows it, from its key.
pub fn record_id(key: i64) -> String {
    format!("call_{key:016x}")
}

/// The key of a record id, if it is one.
pub fn record_key(id: &str) -> Option<i64> {
    let hex = id.strip_prefix("call_").filter(|h| h.len() == 16)?;
    i64::from_str_radix(hex, 16).ok().filter(|k| *k >= 0)
}

/// The call-record table.
#[derive(Debug)]
pub struct CallLog {
    connection: Mutex<Connection>,
}

impl CallLog {
    pub fn open(path: &Path) -> Result<CallLog, StoreError> {
        let connection = Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        // Records are telemetry: NORMAL keeps WAL's ordering guarantees (a crash loses at
        // most the last batch, never corrupts) without an fsync per batch on the call path.
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        connection.execute_batch(SCHEMA)?;
        Ok(CallLog {
            connection: Mutex::new(connection),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Append records (with their keys) in one transaction.
    pub fn append(&self, records: &[(i64, CallRecord)]) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let mut connection = self.lock();
        let tx = connection.transaction()?;
        {
            let mut insert =
                tx.prepare_cached("INSERT OR REPLACE INTO calls (key, org_id, body) VALUES (?1, ?2, ?3)")?;
            for (key, record) in records {
                let body = serde_json::to_string(record).unwrap_or_default();
                insert.execute(params![key, record.org_id, body])?;
            }
        }
        tx.commit()?;
        metrics::histogram!("call_records_write_duration_seconds").record(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Drop records older than `older_than_ms`, then the oldest past `keep` records.
    /// Returns how many went.
    pub fn prune(&self, older_than_ms: i64, keep: usize) -> Result<usize, StoreError> {
        let connection = self.lock();
        let horizon = older_than_ms.max(0) << SEQUENCE_BITS;
        let mut gone = connection.execute("DELETE FROM calls WHERE key < ?1", params![horizon])?;
        let count: i64 = connection.query_row("SELECT COUNT(*) FROM calls", [], |r| r.get(0))?;
        let excess = count - keep as i64;
        if excess > 0 {
            gone += connection.execute(
                "DELETE FROM calls WHERE key <= (SELECT key FROM calls ORDER BY key LIMIT 1 OFFSET ?1)",
                params![excess - 1],
            )?;
        }
        Ok(gone)
    }

    /// One org's records, newest first, with their keys (for the next cursor).
    pub fn list(&self, query: &CallQuery) -> Result<Vec<(i64, CallRecord)>, StoreError> {
        let connection = self.lock();
        let since = query.since_ms.map_or(i64::MIN, |ms| ms.max(0) << SEQUENCE_BITS);
        let until = query.until_ms.map_or(i64::MAX, |ms| ms.max(0) << SEQUENCE_BITS);
        let before = query.before.unwrap_or(i64::MAX).min(until);
        let mut statement = connection.prepare_cached(
            "SELECT key, body FROM calls WHERE org_id = ?1 AND key < ?2 AND key >= ?3
             ORDER BY key DESC LIMIT ?4",
        )?;
        let rows = statement.query_map(params![query.org_id, before, since, query.limit as i64], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (key, body) = row?;
            if let Ok(record) = serde_json::from_str(&body) {
                out.push((key, record));
            }
        }
        Ok(out)
    }

    /// One record of one org.
    pub fn get(&self, org_id: &str, id: &str) -> Result<Option<CallRecord>, StoreError> {
        let Some(key) = record_key(id) else {
            return Ok(None);
        };
        let connection = self.lock();
        let body: Option<String> = connection
            .query_row(
                "SELECT body FROM calls WHERE key = ?1 AND org_id = ?2",
                params![key, org_id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(body.and_then(|b| serde_json::from_str(&b).ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, org: &str) -> CallRecord {
        CallRecord {
            id: id.into(),
            direction: "inbound".into(),
            call_id: format!("{id}@carrier"),
            org_id: Some(org.into()),
            trunk_id: None,
            called_number: Some("+15551234567".into()),
            calling_number: None,
            route_kind: "static".into(),
            agent_id: None,
            agent_version_id: None,
            status: 200,
            reason: "OK".into(),
            outcome: "answered".into(),
            ended_by: "caller".into(),
            invite_at: String::new(),
            ringing_at: None,
            answered_at: None,
            ended_at: String::new(),
        }
    }

    #[test]
    fn records_list_newest_first_page_by_cursor_and_stay_in_their_org() {
        let dir = tempfile::tempdir().unwrap();
        let log = CallLog::open(&dir.path().join("s.db")).unwrap();
        let batch: Vec<_> = (0..5)
            .map(|i| (i, record(&record_id(i), "org-a")))
            .chain([(9, record(&record_id(9), "org-b"))])
            .collect();
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
    }

    #[test]
    fn prune_drops_by_age_then_by_count() {
        let dir = tempfile::tempdir().unwrap();
        let log = CallLog::open(&dir.path().join("s.db")).unwrap();
        let batch: Vec<_> = (0..10)
            .map(|i| (i << SEQUENCE_BITS, record(&record_id(i << SEQUENCE_BITS), "o")))
            .collect();
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
    }
}
