//! The embedded SQLite store: one file, WAL journal, `synchronous=FULL` so that a committed
//! write survives a crash or power loss, schema migrations run at open.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection};

use super::{Kind, Row, Store, StoreError, Write};

/// Migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &["CREATE TABLE objects (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        org_id TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (kind, id)
    );
    CREATE INDEX objects_by_org ON objects (org_id, kind);"];

/// A SQLite-backed store.
#[derive(Debug)]
pub struct SqliteStore {
    connection: Mutex<Connection>,
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        super::private::prepare(path)?;
        let connection = Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&connection)?;
        Ok(SqliteStore {
            connection: Mutex::new(connection),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn migrate(connection: &Connection) -> Result<(), StoreError> {
    let done: usize = connection.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    for (i, migration) in MIGRATIONS.iter().enumerate().skip(done) {
        connection.execute_batch(migration)?;
        connection.pragma_update(None, "user_version", (i + 1) as i64)?;
    }
    Ok(())
}

fn kind_from(s: &str) -> Option<Kind> {
    Kind::ALL.into_iter().find(|k| k.as_str() == s)
}

impl Store for SqliteStore {
    fn load(&self) -> Result<Vec<Row>, StoreError> {
        let connection = self.lock();
        let mut statement = connection.prepare("SELECT kind, id, org_id, body FROM objects")?;
        let rows = statement.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (kind, id, org_id, body) = row?;
            if let Some(kind) = kind_from(&kind) {
                out.push(Row { kind, id, org_id, body });
            }
        }
        Ok(out)
    }

    fn commit(&self, writes: &[Write]) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let mut connection = self.lock();
        let tx = connection.transaction()?;
        for write in writes {
            match write {
                Write::Put(row) => {
                    tx.execute(
                        "INSERT INTO objects (kind, id, org_id, body) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (kind, id) DO UPDATE SET org_id = excluded.org_id, body = excluded.body",
                        params![row.kind.as_str(), row.id, row.org_id, row.body],
                    )?;
                }
                Write::Delete { kind, id } => {
                    tx.execute(
                        "DELETE FROM objects WHERE kind = ?1 AND id = ?2",
                        params![kind.as_str(), id],
                    )?;
                }
            }
        }
        tx.commit()?;
        metrics::histogram!("store_write_duration_seconds").record(started.elapsed().as_secs_f64());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: Kind, id: &str) -> Row {
        Row {
            kind,
            id: id.into(),
            org_id: "org-1".into(),
            body: format!("{{\"id\":\"{id}\"}}"),
        }
    }

    #[test]
    fn committed_writes_survive_a_reopen_and_deletes_delete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/switchboard.db");
        {
            let store = SqliteStore::open(&path).unwrap();
            store
                .commit(&[
                    Write::Put(row(Kind::Trunk, "t1")),
                    Write::Put(row(Kind::PhoneNumber, "n1")),
                ])
                .unwrap();
            store
                .commit(&[Write::Delete {
                    kind: Kind::Trunk,
                    id: "t1".into(),
                }])
                .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.load().unwrap(), vec![row(Kind::PhoneNumber, "n1")]);
    }

    #[test]
    fn migrations_run_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        SqliteStore::open(&path).unwrap();
        SqliteStore::open(&path).unwrap();
        let c = Connection::open(&path).unwrap();
        let version: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let mode: String = c.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
    }
}

#[cfg(test)]
mod kind_tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_by_its_name() {
        for kind in Kind::ALL {
            assert_eq!(kind_from(kind.as_str()), Some(kind));
        }
    }
}
