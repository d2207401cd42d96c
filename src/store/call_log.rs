//! Call records in the SQLite file beside the directory: appended in batches by the call
//! recorder's writer thread, read by the API, pruned by age and count. A table of its own
//! (not the directory's `objects`), so the directory's load at start never reads them.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use super::StoreError;
use crate::call_records::CallRecord;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS call_records (
        id TEXT PRIMARY KEY,
        org_id TEXT,
        started_ms INTEGER NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS call_records_by_org ON call_records (org_id, started_ms, id);
    CREATE INDEX IF NOT EXISTS call_records_by_time ON call_records (started_ms);";

/// Which records a listing wants, newest first.
#[derive(Debug, Default, Clone)]
pub struct CallQuery {
    pub org_id: String,
    /// Only records started strictly before this (started_ms, id): the cursor.
    pub before: Option<(i64, String)>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub limit: usize,
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

    /// Append records in one transaction.
    pub fn append(&self, records: &[(i64, CallRecord)]) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let mut connection = self.lock();
        let tx = connection.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO call_records (id, org_id, started_ms, body) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (started_ms, record) in records {
                let body = serde_json::to_string(record).unwrap_or_default();
                insert.execute(params![record.id, record.org_id, started_ms, body])?;
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
        let mut gone = connection.execute("DELETE FROM call_records WHERE started_ms < ?1", params![older_than_ms])?;
        let count: i64 = connection.query_row("SELECT COUNT(*) FROM call_records", [], |r| r.get(0))?;
        let excess = count - keep as i64;
        if excess > 0 {
            gone += connection.execute(
                "DELETE FROM call_records WHERE id IN
                 (SELECT id FROM call_records ORDER BY started_ms, id LIMIT ?1)",
                params![excess],
            )?;
        }
        Ok(gone)
    }

    /// One org's records, newest first, with their start times (for the next cursor).
    pub fn list(&self, query: &CallQuery) -> Result<Vec<(i64, CallRecord)>, StoreError> {
        let connection = self.lock();
        let (before_ms, before_id) = query.before.clone().unwrap_or((i64::MAX, String::new()));
        let mut statement = connection.prepare_cached(
            "SELECT started_ms, body FROM call_records
             WHERE org_id = ?1
               AND (started_ms < ?2 OR (started_ms = ?2 AND ?3 != '' AND id < ?3))
               AND started_ms >= ?4 AND started_ms < ?5
             ORDER BY started_ms DESC, id DESC LIMIT ?6",
        )?;
        let rows = statement.query_map(
            params![
                query.org_id,
                before_ms,
                before_id,
                query.since_ms.unwrap_or(i64::MIN),
                query.until_ms.unwrap_or(i64::MAX),
                query.limit as i64
            ],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (started, body) = row?;
            if let Ok(record) = serde_json::from_str(&body) {
                out.push((started, record));
            }
        }
        Ok(out)
    }

    /// One record of one org.
    pub fn get(&self, org_id: &str, id: &str) -> Result<Option<CallRecord>, StoreError> {
        let connection = self.lock();
        let body: Option<String> = connection
            .query_row(
                "SELECT body FROM call_records WHERE id = ?1 AND org_id = ?2",
                params![id, org_id],
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
            .map(|i| (1000 + i / 2, record(&format!("call_{i}"), "org-a")))
            .chain([(1000, record("call_x", "org-b"))])
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
            let (started, last) = page.last().unwrap();
            query.before = Some((*started, last.id.clone()));
            seen.extend(page.into_iter().map(|(_, r)| r.id));
        }
        assert_eq!(seen, ["call_4", "call_3", "call_2", "call_1", "call_0"]);
        assert!(log.get("org-b", "call_1").unwrap().is_none());
        assert_eq!(log.get("org-a", "call_1").unwrap().unwrap().id, "call_1");
    }

    #[test]
    fn prune_drops_by_age_then_by_count() {
        let dir = tempfile::tempdir().unwrap();
        let log = CallLog::open(&dir.path().join("s.db")).unwrap();
        let batch: Vec<_> = (0..10).map(|i| (i, record(&format!("call_{i}"), "o"))).collect();
        log.append(&batch).unwrap();
        assert_eq!(log.prune(3, 100).unwrap(), 3);
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
        assert_eq!(left, ["call_9", "call_8", "call_7", "call_6"]);
    }
}
