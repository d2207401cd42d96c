//! The embedded SQLite store: one file, WAL journal, `synchronous=FULL` so that a committed
//! write survives a crash or power loss, schema migrations run at open.
//!
//! Phone numbers, trunks, agents, their versions and routing configs have tables of their
//! own whose constraints back the directory's rules: a number is unique across orgs, and
//! foreign keys tie a number to a trunk of its org and to versions of its org, a version to
//! an agent of its org, a routing config to its fallback agent. Orgs, API keys and user
//! tokens stay in `objects`. Every table keeps the object's JSON body, which is what loads.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, params_from_iter, Connection, ErrorCode};

use super::{Kind, Row, Store, StoreError, Write};

/// Migrations, applied in order, each in one transaction; `PRAGMA user_version` records
/// how many ran.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE objects (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        org_id TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (kind, id)
    );
    CREATE INDEX objects_by_org ON objects (org_id, kind);",
    include_str!("sqlite_tables.sql"),
];

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
        connection.pragma_update(None, "foreign_keys", "ON")?;
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
        connection.execute_batch(&format!(
            "BEGIN IMMEDIATE;\n{migration};\nPRAGMA user_version = {};\nCOMMIT;",
            i + 1
        ))?;
        if i == 1 {
            report_quarantine(connection)?;
        }
    }
    Ok(())
}

/// Rows the move into the constrained tables could not keep (a number held twice, a
/// number on a trunk that is gone, a version of an agent that is gone) wait in
/// `quarantine`, each with its reason; say so once.
fn report_quarantine(connection: &Connection) -> Result<(), StoreError> {
    let mut statement = connection.prepare("SELECT kind, id, org_id, reason FROM quarantine")?;
    let rows = statement.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    for row in rows {
        let (kind, id, org, reason) = row?;
        tracing::warn!(%kind, %id, %org, %reason, "a stored object broke the directory's rules: kept in the quarantine table, not loaded");
    }
    Ok(())
}

/// Where a kind lives: its table, the column that keys it, and whether the table has
/// `kind` and `org_id` columns of its own.
pub(super) struct Table {
    pub(super) name: &'static str,
    pub(super) key: &'static str,
    pub(super) shared: bool,
}

impl Table {
    /// The upsert of `row` into this (not shared) table, in both stores' SQL: its key, body,
    /// org and the kind's own columns; `placeholder(i)` spells the i-th parameter (`?1`, `$1`).
    pub(super) fn upsert<'r>(
        &self,
        row: &'r Row,
        placeholder: impl Fn(usize) -> String,
    ) -> (String, Vec<Option<&'r str>>) {
        let mut columns: Vec<&str> = vec![self.key, "body"];
        let mut values: Vec<Option<&str>> = vec![Some(row.id.as_str()), Some(row.body.as_str())];
        if self.key != "org_id" {
            columns.push("org_id");
            values.push(Some(row.org_id.as_str()));
        }
        for (column, value) in &row.columns {
            columns.push(column);
            values.push(value.as_deref());
        }
        let placeholders: Vec<String> = (1..=columns.len()).map(placeholder).collect();
        let updates: Vec<String> = columns[1..].iter().map(|c| format!("{c} = excluded.{c}")).collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}",
            self.name,
            columns.join(", "),
            placeholders.join(", "),
            self.key,
            updates.join(", ")
        );
        (sql, values)
    }
}

pub(super) fn table(kind: Kind) -> Table {
    let (name, key) = match kind {
        Kind::Trunk => ("trunks", "id"),
        Kind::PhoneNumber => ("numbers", "id"),
        Kind::Agent => ("agents", "id"),
        Kind::AgentVersion => ("agent_versions", "id"),
        Kind::RoutingConfig => ("routing_configs", "org_id"),
        Kind::Org | Kind::ApiKey | Kind::UserToken => {
            return Table {
                name: "objects",
                key: "id",
                shared: true,
            }
        }
    };
    Table {
        name,
        key,
        shared: false,
    }
}

pub(super) fn kind_from(s: &str) -> Option<Kind> {
    Kind::ALL.into_iter().find(|k| k.as_str() == s)
}

/// A constraint failure is a refusal (the directory names the field); anything else is a
/// storage failure.
fn refusal(err: rusqlite::Error) -> StoreError {
    match &err {
        rusqlite::Error::SqliteFailure(e, message) if e.code == ErrorCode::ConstraintViolation => {
            StoreError::Constraint(message.clone().unwrap_or_else(|| e.to_string()))
        }
        _ => StoreError::Sqlite(err),
    }
}

fn put(tx: &rusqlite::Transaction<'_>, row: &Row) -> rusqlite::Result<()> {
    let t = table(row.kind);
    if t.shared {
        tx.prepare_cached(
            "INSERT INTO objects (kind, id, org_id, body) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (kind, id) DO UPDATE SET org_id = excluded.org_id, body = excluded.body",
        )?
        .execute(params![row.kind.as_str(), row.id, row.org_id, row.body])?;
        return Ok(());
    }
    let (sql, values) = t.upsert(row, |i| format!("?{i}"));
    tx.prepare_cached(&sql)?.execute(params_from_iter(values))?;
    Ok(())
}

fn delete(tx: &rusqlite::Transaction<'_>, kind: Kind, id: &str) -> rusqlite::Result<()> {
    let t = table(kind);
    if t.shared {
        tx.prepare_cached("DELETE FROM objects WHERE kind = ?1 AND id = ?2")?
            .execute(params![kind.as_str(), id])?;
    } else {
        tx.prepare_cached(&format!("DELETE FROM {} WHERE {} = ?1", t.name, t.key))?
            .execute(params![id])?;
    }
    Ok(())
}

impl Store for SqliteStore {
    fn load(&self) -> Result<Vec<Row>, StoreError> {
        let connection = self.lock();
        let mut out = Vec::new();
        let mut statement = connection.prepare("SELECT kind, id, org_id, body FROM objects")?;
        let rows = statement.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        for row in rows {
            let (kind, id, org_id, body) = row?;
            // Kinds that moved to tables of their own left `objects` in the migration.
            if let Some(kind) = kind_from(&kind).filter(|k| table(*k).shared) {
                out.push(Row {
                    kind,
                    id,
                    org_id,
                    body,
                    columns: Vec::new(),
                });
            }
        }
        // Parents before children, as a reader of the rows would expect.
        for kind in [
            Kind::Trunk,
            Kind::Agent,
            Kind::AgentVersion,
            Kind::PhoneNumber,
            Kind::RoutingConfig,
        ] {
            let t = table(kind);
            let id = if t.key == "org_id" { "org_id" } else { "id" };
            let mut statement = connection.prepare(&format!("SELECT {id}, org_id, body FROM {}", t.name))?;
            let rows = statement.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)))?;
            for row in rows {
                let (id, org_id, body) = row?;
                out.push(Row {
                    kind,
                    id,
                    org_id,
                    body,
                    columns: Vec::new(),
                });
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
                Write::Put(row) => put(&tx, row).map_err(refusal)?,
                Write::Delete { kind, id } => delete(&tx, *kind, id).map_err(refusal)?,
            }
        }
        tx.commit().map_err(refusal)?;
        metrics::histogram!("store_write_duration_seconds").record(started.elapsed().as_secs_f64());
        Ok(())
    }

    fn secret(&self, name: &str) -> Result<[u8; 32], StoreError> {
        let connection = self.lock();
        let drawn: [u8; 32] = rand::random();
        connection.execute(
            "INSERT INTO secrets (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
            params![name, &drawn[..]],
        )?;
        let value: Vec<u8> =
            connection.query_row("SELECT value FROM secrets WHERE name = ?1", params![name], |r| r.get(0))?;
        value.try_into().map_err(|_| StoreError::BadSecret(name.to_owned()))
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
            columns: Vec::new(),
        }
    }

    fn number(id: &str, e164: &str, org: &str, trunk: &str) -> Row {
        Row {
            kind: Kind::PhoneNumber,
            id: id.into(),
            org_id: org.into(),
            body: format!("{{\"id\":\"{id}\"}}"),
            columns: vec![
                ("number", Some(e164.into())),
                ("trunk_id", Some(trunk.into())),
                ("inbound_agent_version_id", None),
                ("outbound_agent_version_id", None),
            ],
        }
    }

    fn refused(result: Result<(), StoreError>) -> String {
        match result {
            Err(StoreError::Constraint(message)) => message,
            other => panic!("expected a constraint failure, got {other:?}"),
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
                    Write::Put(row(Kind::Org, "org-1")),
                    Write::Put(row(Kind::Trunk, "t1")),
                    Write::Put(row(Kind::Trunk, "t2")),
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
        assert_eq!(
            store.load().unwrap(),
            vec![row(Kind::Org, "org-1"), row(Kind::Trunk, "t2")]
        );
    }

    #[test]
    fn a_number_is_held_once_across_orgs_and_only_on_a_trunk_of_its_org() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        let trunk = |id: &str, org: &str| Row {
            org_id: org.into(),
            ..row(Kind::Trunk, id)
        };
        store
            .commit(&[Write::Put(trunk("ta", "org-a")), Write::Put(trunk("tb", "org-b"))])
            .unwrap();
        store
            .commit(&[Write::Put(number("n1", "+15550001", "org-a", "ta"))])
            .unwrap();
        let message = refused(store.commit(&[Write::Put(number("n2", "+15550001", "org-b", "tb"))]));
        assert!(message.contains("numbers.number"), "{message}");
        // Another org's trunk, a trunk that does not exist.
        refused(store.commit(&[Write::Put(number("n3", "+15550003", "org-b", "ta"))]));
        refused(store.commit(&[Write::Put(number("n3", "+15550003", "org-b", "nope"))]));
        // A trunk that carries a number stays.
        refused(store.commit(&[Write::Delete {
            kind: Kind::Trunk,
            id: "ta".into(),
        }]));
        // Nothing of the refused changes was written.
        let numbers: Vec<String> = store
            .load()
            .unwrap()
            .into_iter()
            .filter(|r| r.kind == Kind::PhoneNumber)
            .map(|r| r.id)
            .collect();
        assert_eq!(numbers, ["n1"]);
        // Within one change, the order of the writes does not matter (deferred keys).
        store
            .commit(&[
                Write::Put(number("n4", "+15550004", "org-b", "tc")),
                Write::Put(trunk("tc", "org-b")),
            ])
            .unwrap();
    }

    #[test]
    fn the_secret_is_drawn_once_per_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let first = SqliteStore::open(&path).unwrap().secret("digest_nonce").unwrap();
        let again = SqliteStore::open(&path).unwrap().secret("digest_nonce").unwrap();
        assert_eq!(first, again);
        assert_ne!(first, [0; 32]);
        let other = SqliteStore::open(&path).unwrap().secret("another").unwrap();
        assert_ne!(first, other);
    }

    #[test]
    fn rows_written_before_the_constraints_move_into_them_and_breakers_are_quarantined() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        {
            // A database of the first schema, with what the old races left behind.
            let c = Connection::open(&path).unwrap();
            c.execute_batch(MIGRATIONS[0]).unwrap();
            c.pragma_update(None, "user_version", 1).unwrap();
            let put = |kind: &str, id: &str, org: &str, body: String| {
                c.execute(
                    "INSERT INTO objects (kind, id, org_id, body) VALUES (?1, ?2, ?3, ?4)",
                    params![kind, id, org, body],
                )
                .unwrap();
            };
            put("trunk", "ta", "org-a", r#"{"id":"ta"}"#.into());
            put("trunk", "tb", "org-b", r#"{"id":"tb"}"#.into());
            put("agent", "ag", "org-a", r#"{"id":"ag"}"#.into());
            put("agent_version", "v1", "org-a", r#"{"id":"v1","agent_id":"ag"}"#.into());
            put(
                "agent_version",
                "v9",
                "org-a",
                r#"{"id":"v9","agent_id":"gone"}"#.into(),
            );
            let number = |id: &str, e164: &str, trunk: &str, version: &str| {
                format!(
                    r#"{{"id":"{id}","phone_number":"{e164}","trunk_id":"{trunk}","inbound_agent_version_id":"{version}"}}"#
                )
            };
            put("phone_number", "first", "org-a", number("first", "+1555", "ta", "v1"));
            put("phone_number", "again", "org-a", number("again", "+1555", "ta", "v1"));
            put(
                "phone_number",
                "other-org",
                "org-b",
                number("other-org", "+1555", "tb", "x"),
            );
            put(
                "phone_number",
                "orphan",
                "org-a",
                number("orphan", "+1666", "deleted", "v1"),
            );
            put(
                "phone_number",
                "lost-agent",
                "org-a",
                number("lost-agent", "+1777", "ta", "v9"),
            );
            put(
                "routing_config",
                "org-a",
                "org-a",
                r#"{"org_id":"org-a","fallback_agent_id":"gone","fallback_agent_version":1}"#.into(),
            );
        }
        let store = SqliteStore::open(&path).unwrap();
        let rows = store.load().unwrap();
        let ids = |kind: Kind| -> Vec<String> {
            let mut ids: Vec<String> = rows.iter().filter(|r| r.kind == kind).map(|r| r.id.clone()).collect();
            ids.sort();
            ids
        };
        assert_eq!(ids(Kind::PhoneNumber), ["first", "lost-agent"]);
        assert_eq!(ids(Kind::AgentVersion), ["v1"]);
        let lost = rows.iter().find(|r| r.id == "lost-agent").unwrap();
        assert!(
            lost.body.contains(r#""inbound_agent_version_id":null"#),
            "{}",
            lost.body
        );
        let config = rows.iter().find(|r| r.kind == Kind::RoutingConfig).unwrap();
        assert!(!config.body.contains("fallback"), "{}", config.body);
        let c = Connection::open(&path).unwrap();
        let mut quarantined: Vec<String> = c
            .prepare("SELECT id FROM quarantine")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        quarantined.sort();
        assert_eq!(quarantined, ["again", "orphan", "other-org", "v9"]);
        let old: i64 = c.query_row("SELECT count(*) FROM objects", [], |r| r.get(0)).unwrap();
        assert_eq!(old, 0);
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
