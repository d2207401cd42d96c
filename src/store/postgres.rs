//! The PostgreSQL store, shared by several instances (`[store] url = "postgres://..."`).
//!
//! The same tables and constraints as the SQLite store (a number held once across orgs,
//! foreign keys from numbers to their trunk and versions, from versions to their agent), so
//! the database itself refuses what two instances racing each other could otherwise both
//! accept. Migrations run at start under an advisory lock.
//!
//! **The change feed.** Every commit takes one advisory lock, writes its objects, appends
//! one row per object to `changes` (a sequence number, the body or NULL for a deletion) and
//! `NOTIFY switchboard_changes` before it commits; the lock makes sequence order commit
//! order. Each instance remembers the last sequence it applied to its snapshot: a commit
//! that finds a newer one is refused as [`StoreError::Behind`] (the directory catches up,
//! checks its rules again, and retries), and a listener connection wakes the instance on
//! each notification to apply what its peers committed. A notification missed while the
//! listener was away is caught up when it reconnects, by sequence number.
//!
//! **Pruning the feed.** `prune_changes` drops the rows older than a few minutes beyond the
//! newest few hundred, and records the newest row dropped in `changes_pruned`. An instance
//! whose last applied change is older than that (it was away longer) cannot catch up row
//! by row: `catch_up` answers [`StoreError::Pruned`] and the directory loads whole.
//!
//! The hot path never waits for any of this: routing reads the snapshot. The store runs its
//! own small runtime; the [`Store`] calls (made off the SIP threads, in blocking tasks) hand
//! their work to it and wait.

use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, Client, IsolationLevel, NoTls, Transaction};

use super::sqlite::{kind_from, table};
use super::{ChangeRetention, Kind, Row, Store, StoreError, Write};

/// Migrations, applied in order, each recorded in `switchboard_schema`.
const MIGRATIONS: &[&str] = &[
    include_str!("postgres_tables.sql"),
    include_str!("postgres_records.sql"),
];
/// Advisory lock keys: one for migrations, one that serializes writers (commit order).
const MIGRATE_LOCK: i64 = 0x5377_6974_6368_0001;
const WRITE_LOCK: i64 = 0x5377_6974_6368_0002;
/// The channel commits notify.
const CHANNEL: &str = "switchboard_changes";
/// How long the change feed waits before reconnecting.
const RECONNECT: Duration = Duration::from_millis(500);

/// A PostgreSQL-backed store.
pub struct PgStore {
    pub(super) inner: Arc<Inner>,
    runtime: Option<tokio::runtime::Runtime>,
}

pub(super) struct Inner {
    config: tokio_postgres::Config,
    /// Names this instance in `changes`, `claims` and call records (`[store] instance`).
    pub(super) instance: String,
    /// Its number in `instances`, which call-record keys carry.
    pub(super) instance_number: std::sync::atomic::AtomicU16,
    client: tokio::sync::Mutex<Option<Client>>,
    /// A second connection for call records and artifacts, so that a batch of records
    /// never waits behind a directory commit, nor a commit behind records.
    records: tokio::sync::Mutex<Option<Client>>,
    /// The last change sequence number this instance's snapshot includes.
    applied: AtomicI64,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("instance", &self.inner.instance)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connect to `url` (its password is never logged) as the instance called `instance`,
    /// and run the migrations.
    pub fn connect(url: &str, instance: &str) -> Result<PgStore, StoreError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| StoreError::Postgres(format!("the store url: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        config.keepalives_idle(Duration::from_secs(30));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("store-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Postgres(format!("starting the store's runtime: {e}")))?;
        let store = PgStore {
            inner: Arc::new(Inner {
                config,
                instance: instance.to_owned(),
                instance_number: Default::default(),
                client: tokio::sync::Mutex::new(None),
                records: tokio::sync::Mutex::new(None),
                applied: AtomicI64::new(0),
            }),
            runtime: Some(runtime),
        };
        let inner = store.inner.clone();
        store.run(async move {
            inner.migrate().await?;
            inner.register().await
        })?;
        Ok(store)
    }

    /// Start the change feed: the receiver gets a wake-up when the listener (re)connects and
    /// on every notification; then call `Directory::catch_up`. Wake-ups may come in bursts.
    pub fn follow(&self) -> std::sync::mpsc::Receiver<()> {
        let (wake, woken) = std::sync::mpsc::channel();
        let inner = self.inner.clone();
        if let Some(runtime) = &self.runtime {
            runtime.spawn(async move {
                loop {
                    match inner.listen(&wake).await {
                        Ok(()) => return,
                        Err(err) => tracing::warn!(%err, "the store's change feed dropped; reconnecting"),
                    }
                    tokio::time::sleep(RECONNECT).await;
                }
            });
        }
        woken
    }

    /// Run `work` on the store's runtime and wait for it (callable from any thread).
    pub(super) fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        let runtime = self.runtime.as_ref().ok_or(StoreError::Stopped)?;
        let (done, result) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let _ = done.send(work.await);
        });
        result.recv().map_err(|_| StoreError::Stopped)?
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Dropping a runtime may not block inside another runtime's task.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Store for PgStore {
    fn load(&self) -> Result<Vec<Row>, StoreError> {
        let inner = self.inner.clone();
        self.run(async move { inner.load().await })
    }

    fn commit(&self, writes: &[Write]) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let inner = self.inner.clone();
        let writes = writes.to_vec();
        self.run(async move { inner.commit(&writes).await })?;
        metrics::histogram!("store_write_duration_seconds").record(started.elapsed().as_secs_f64());
        Ok(())
    }

    fn secret(&self, name: &str) -> Result<[u8; 32], StoreError> {
        let inner = self.inner.clone();
        let name = name.to_owned();
        self.run(async move { inner.secret(&name).await })
    }

    fn catch_up(&self) -> Result<Vec<Write>, StoreError> {
        let inner = self.inner.clone();
        self.run(async move { inner.catch_up().await })
    }

    fn prune_changes(&self, keep: &ChangeRetention) -> Result<u64, StoreError> {
        let inner = self.inner.clone();
        let keep = keep.clone();
        self.run(async move { inner.prune_changes(&keep).await })
    }

    fn claim_once(&self, name: &str) -> Result<bool, StoreError> {
        let inner = self.inner.clone();
        let name = name.to_owned();
        self.run(async move { inner.claim_once(&name).await })
    }
}

impl Inner {
    async fn connect(&self) -> Result<Client, StoreError> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(pg)?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::warn!(err = %pg(err), "a store connection ended");
            }
        });
        Ok(client)
    }

    /// The shared connection, opened again if it was lost.
    async fn client(&self) -> Result<tokio::sync::MutexGuard<'_, Option<Client>>, StoreError> {
        let mut guard = self.client.lock().await;
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(self.connect().await?);
        }
        Ok(guard)
    }

    /// The call records' and artifacts' connection, opened again if it was lost.
    pub(super) async fn records_client(&self) -> Result<tokio::sync::MutexGuard<'_, Option<Client>>, StoreError> {
        let mut guard = self.records.lock().await;
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(self.connect().await?);
        }
        Ok(guard)
    }

    /// This instance's number in `instances` (given at its first start, kept after).
    async fn register(&self) -> Result<(), StoreError> {
        let guard = self.client().await?;
        let client = guard.as_ref().ok_or(StoreError::Stopped)?;
        client
            .execute(
                "INSERT INTO instances (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
                &[&self.instance],
            )
            .await
            .map_err(pg)?;
        let number: i32 = client
            .query_one("SELECT number FROM instances WHERE name = $1", &[&self.instance])
            .await
            .map_err(pg)?
            .get(0);
        self.instance_number.store(number as u16, Ordering::Release);
        Ok(())
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut guard = self.client().await?;
        let client = guard.as_mut().ok_or(StoreError::Stopped)?;
        let tx = client.transaction().await.map_err(pg)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])
            .await
            .map_err(pg)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS switchboard_schema (version INT NOT NULL)")
            .await
            .map_err(pg)?;
        let done: i32 = tx
            .query_one("SELECT coalesce(max(version), 0) FROM switchboard_schema", &[])
            .await
            .map_err(pg)?
            .get(0);
        for (i, migration) in MIGRATIONS.iter().enumerate().skip(done as usize) {
            tx.batch_execute(migration).await.map_err(pg)?;
            let version = i as i32 + 1;
            tx.execute("INSERT INTO switchboard_schema (version) VALUES ($1)", &[&version])
                .await
                .map_err(pg)?;
            tracing::info!(version, "ran a store migration");
        }
        tx.commit().await.map_err(pg)
    }

    /// Every object, read in one snapshot together with the newest change number.
    async fn load(&self) -> Result<Vec<Row>, StoreError> {
        let mut guard = self.client().await?;
        let client = guard.as_mut().ok_or(StoreError::Stopped)?;
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(pg)?;
        let newest: i64 = tx
            .query_one("SELECT coalesce(max(seq), 0) FROM changes", &[])
            .await
            .map_err(pg)?
            .get(0);
        let mut out = Vec::new();
        for r in tx
            .query("SELECT kind, id, org_id, body FROM objects", &[])
            .await
            .map_err(pg)?
        {
            if let Some(kind) = kind_from(r.get(0)).filter(|k| table(*k).shared) {
                out.push(row(kind, r.get(1), r.get(2), r.get(3)));
            }
        }
        for kind in [
            Kind::Trunk,
            Kind::Agent,
            Kind::AgentVersion,
            Kind::PhoneNumber,
            Kind::RoutingConfig,
        ] {
            let t = table(kind);
            let id = if t.key == "org_id" { "org_id" } else { "id" };
            let sql = format!("SELECT {id}, org_id, body FROM {}", t.name);
            for r in tx.query(&sql, &[]).await.map_err(pg)? {
                out.push(row(kind, r.get(0), r.get(1), r.get(2)));
            }
        }
        tx.commit().await.map_err(pg)?;
        self.applied.store(newest, Ordering::Release);
        Ok(out)
    }

    async fn commit(&self, writes: &[Write]) -> Result<(), StoreError> {
        let mut guard = self.client().await?;
        let client = guard.as_mut().ok_or(StoreError::Stopped)?;
        let tx = client.transaction().await.map_err(pg)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
            .await
            .map_err(pg)?;
        let newest: i64 = tx
            .query_one("SELECT coalesce(max(seq), 0) FROM changes", &[])
            .await
            .map_err(pg)?
            .get(0);
        if newest > self.applied.load(Ordering::Acquire) {
            // Another instance committed since this one's snapshot: the rules were checked
            // against a stale state. Nothing is written (the transaction rolls back).
            return Err(StoreError::Behind);
        }
        let mut last = newest;
        for write in writes {
            last = self.write(&tx, write).await?;
        }
        tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &last.to_string()])
            .await
            .map_err(pg)?;
        tx.commit().await.map_err(refusal)?;
        self.applied.store(last, Ordering::Release);
        Ok(())
    }

    /// One write and its change row; the change's sequence number.
    async fn write(&self, tx: &Transaction<'_>, write: &Write) -> Result<i64, StoreError> {
        let (kind, id, org_id, body) = match write {
            Write::Put(row) => {
                put(tx, row).await.map_err(refusal)?;
                (row.kind, &row.id, row.org_id.as_str(), Some(row.body.as_str()))
            }
            Write::Delete { kind, id } => {
                delete(tx, *kind, id).await.map_err(refusal)?;
                (*kind, id, "", None)
            }
        };
        let seq = tx
            .query_one(
                "INSERT INTO changes (instance, kind, id, org_id, body) VALUES ($1, $2, $3, $4, $5) RETURNING seq",
                &[&self.instance, &kind.as_str(), id, &org_id, &body],
            )
            .await
            .map_err(pg)?
            .get(0);
        Ok(seq)
    }

    /// What peers committed past the last change this instance applied, oldest first; the
    /// caller applies it at once (under the directory's writer lock).
    async fn catch_up(&self) -> Result<Vec<Write>, StoreError> {
        let guard = self.client().await?;
        let client = guard.as_ref().ok_or(StoreError::Stopped)?;
        let applied = self.applied.load(Ordering::Acquire);
        let rows = client
            .query(
                "SELECT seq, kind, id, org_id, body FROM changes WHERE seq > $1 ORDER BY seq",
                &[&applied],
            )
            .await
            .map_err(pg)?;
        // Read after the rows: a prune that committed before them shows here (one that
        // committed after them only costs a needless reload).
        let pruned: i64 = client
            .query_one("SELECT through FROM changes_pruned", &[])
            .await
            .map_err(pg)?
            .get(0);
        if pruned > applied {
            return Err(StoreError::Pruned);
        }
        let mut out = Vec::with_capacity(rows.len());
        let mut last = applied;
        for r in rows {
            last = r.get(0);
            let Some(kind) = kind_from(r.get(1)) else {
                continue;
            };
            let id: String = r.get(2);
            match r.get::<_, Option<String>>(4) {
                Some(body) => out.push(Write::Put(row(kind, id, r.get(3), body))),
                None => out.push(Write::Delete { kind, id }),
            }
        }
        self.applied.store(last, Ordering::Release);
        Ok(out)
    }

    /// Drop the changes past what a reconnecting instance may still ask for, under the
    /// writers' lock; the newest change always stays (commits compare with it).
    async fn prune_changes(&self, keep: &ChangeRetention) -> Result<u64, StoreError> {
        let mut guard = self.client().await?;
        let client = guard.as_mut().ok_or(StoreError::Stopped)?;
        let tx = client.transaction().await.map_err(pg)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
            .await
            .map_err(pg)?;
        let rows = i64::try_from(keep.rows).unwrap_or(i64::MAX);
        let minutes = i64::try_from(keep.minutes).unwrap_or(i64::MAX);
        let gone = tx
            .query_one(
                "WITH newest AS (SELECT coalesce(max(seq), 0) AS seq FROM changes),
                 gone AS (DELETE FROM changes WHERE seq < (SELECT seq FROM newest)
                     AND seq <= (SELECT seq FROM newest) - $1
                     AND committed_at < now() - make_interval(mins => $2::int)
                     RETURNING seq)
                 SELECT count(*), coalesce(max(seq), 0) FROM gone",
                &[&rows, &(minutes.min(i64::from(i32::MAX)) as i32)],
            )
            .await
            .map_err(pg)?;
        let (count, through): (i64, i64) = (gone.get(0), gone.get(1));
        if count > 0 {
            tx.execute("UPDATE changes_pruned SET through = greatest(through, $1)", &[&through])
                .await
                .map_err(pg)?;
        }
        tx.commit().await.map_err(pg)?;
        Ok(count as u64)
    }

    async fn secret(&self, name: &str) -> Result<[u8; 32], StoreError> {
        let guard = self.client().await?;
        let client = guard.as_ref().ok_or(StoreError::Stopped)?;
        let drawn: [u8; 32] = rand::random();
        client
            .execute(
                "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &&drawn[..]],
            )
            .await
            .map_err(pg)?;
        let value: Vec<u8> = client
            .query_one("SELECT value FROM secrets WHERE name = $1", &[&name])
            .await
            .map_err(pg)?
            .get(0);
        value.try_into().map_err(|_| StoreError::BadSecret(name.to_owned()))
    }

    async fn claim_once(&self, name: &str) -> Result<bool, StoreError> {
        let guard = self.client().await?;
        let client = guard.as_ref().ok_or(StoreError::Stopped)?;
        let claimed = client
            .execute(
                "INSERT INTO claims (name, instance) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &self.instance],
            )
            .await
            .map_err(pg)?;
        Ok(claimed == 1)
    }

    /// One listener connection: wake the directory once on (re)connect (whatever was
    /// committed while nobody listened) and on every notification. Ok when nobody follows.
    async fn listen(&self, wake: &std::sync::mpsc::Sender<()>) -> Result<(), StoreError> {
        let (client, mut connection) = self.config.connect(NoTls).await.map_err(pg)?;
        let (notified, mut notes) = tokio::sync::mpsc::unbounded_channel();
        let driver = tokio::spawn(async move {
            // Polling the connection also carries the LISTEN below.
            while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                match message {
                    Ok(AsyncMessage::Notification(_)) if notified.send(()).is_err() => return,
                    Ok(_) => {}
                    Err(err) => {
                        tracing::warn!(err = %pg(err), "the change feed's connection failed");
                        return;
                    }
                }
            }
        });
        client.batch_execute(&format!("LISTEN {CHANNEL}")).await.map_err(pg)?;
        let mut woke = wake.send(());
        while woke.is_ok() && notes.recv().await.is_some() {
            woke = wake.send(());
        }
        driver.abort();
        match woke {
            Err(_) => Ok(()),
            Ok(()) => Err(StoreError::Postgres("the change feed's connection ended".into())),
        }
    }
}

fn row(kind: Kind, id: String, org_id: String, body: String) -> Row {
    Row {
        kind,
        id,
        org_id,
        body,
        columns: Vec::new(),
    }
}

async fn put(tx: &Transaction<'_>, row: &Row) -> Result<u64, tokio_postgres::Error> {
    let t = table(row.kind);
    if t.shared {
        return tx
            .execute(
                "INSERT INTO objects (kind, id, org_id, body) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (kind, id) DO UPDATE SET org_id = excluded.org_id, body = excluded.body",
                &[&row.kind.as_str(), &row.id, &row.org_id, &row.body],
            )
            .await;
    }
    let (sql, values) = t.upsert(row, |i| format!("${i}"));
    let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
    tx.execute(&sql, &params).await
}

async fn delete(tx: &Transaction<'_>, kind: Kind, id: &str) -> Result<u64, tokio_postgres::Error> {
    let t = table(kind);
    if t.shared {
        tx.execute(
            "DELETE FROM objects WHERE kind = $1 AND id = $2",
            &[&kind.as_str(), &id],
        )
        .await
    } else {
        tx.execute(&format!("DELETE FROM {} WHERE {} = $1", t.name, t.key), &[&id])
            .await
    }
}

/// A broken constraint (class 23: unique, foreign key) is a refusal the directory names;
/// anything else is a storage failure.
fn refusal(err: tokio_postgres::Error) -> StoreError {
    match err.as_db_error() {
        Some(db) if db.code().code().starts_with("23") => StoreError::Constraint(match db.constraint() {
            Some(constraint) => format!("{} ({constraint})", db.message()),
            None => db.message().to_owned(),
        }),
        _ => pg(err),
    }
}

/// The server's own words for a failure (tokio-postgres' Display says only "db error").
pub(super) fn pg(err: tokio_postgres::Error) -> StoreError {
    StoreError::Postgres(match err.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => match std::error::Error::source(&err) {
            Some(source) => format!("{err}: {source}"),
            None => err.to_string(),
        },
    })
}
