//! The dialog journal's first form, which older builds wrote: at start the shell reads
//! what such a build left and then removes the file; the journal itself is now an
//! append-only log (`journal/file.rs`). What follows describes that first form.
//!
//! The dialog journal: the calls up right now, each as its two dialogs (enough to send BYE
//! on both legs after a crash), in a small SQLite file of its own in the data folder. Only
//! the journal's writer thread writes it (`journal/mod.rs`); it is read once, at start.
//!
//! A file of its own, not a table in the directory's database, because:
//! - it belongs to one running instance: the directory may be shared by several instances
//!   (a PostgreSQL store), and one instance must never end another's calls at its start;
//!   a file in the instance's own data folder goes with the instance;
//! - SQLite has one writer per file: the journal's commits (one every few milliseconds
//!   under load) would otherwise queue the API's writes and the call records behind them.
//!
//! In WAL mode a commit is in the kernel's page cache before `commit` returns, so it
//! survives the process being killed (SIGKILL, a panic, the OOM killer) whatever the
//! `synchronous` setting. `[journal] durability = "power"` adds `synchronous = FULL`, an
//! fsync per commit, so that it also survives a kernel crash or power cut. The default is
//! `process` (`synchronous = NORMAL`: fsync only at checkpoints), which is what a crash
//! journal needs most. Measured at 500 calls/s (BENCHMARKS.md): the journal costs the whole
//! process 1.17x with `power` and 1.14x with `process`; the fsync is the smaller part, the
//! rows' SQLite work on this thread (~50 µs a call) the larger.
//! Created 0600 like the store (the URIs name callers' numbers).

use std::net::SocketAddr;
use std::path::Path;

use bytes::Bytes;
use rusqlite::{params, Connection};

use super::StoreError;
use crate::b2bua::{Dialog, JournalEntry, JournaledCall};
use crate::transport::Transport;

/// One row per leg: `leg` 0 is the leg we answer, 1 the leg we placed. `route_set` holds
/// the Route values one per line (a header value holds no line break).
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS dialogs (
        call_key BLOB NOT NULL,
        leg INTEGER NOT NULL,
        call_id BLOB NOT NULL,
        local_tag BLOB NOT NULL,
        remote_tag BLOB NOT NULL,
        local_uri BLOB NOT NULL,
        remote_uri BLOB NOT NULL,
        remote_target BLOB NOT NULL,
        route_set BLOB NOT NULL,
        local_cseq INTEGER NOT NULL,
        peer TEXT NOT NULL,
        transport TEXT NOT NULL,
        PRIMARY KEY (call_key, leg)
    ) WITHOUT ROWID;";

/// The journal file, opened.
pub struct DialogJournal {
    connection: Connection,
}

impl DialogJournal {
    /// Open (or create) the journal; `fsync_each_commit` is `durability = "power"`.
    pub fn open(path: &Path, fsync_each_commit: bool) -> Result<DialogJournal, StoreError> {
        super::private::prepare(path)?;
        let connection = Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        let synchronous = if fsync_each_commit { "FULL" } else { "NORMAL" };
        connection.pragma_update(None, "synchronous", synchronous)?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        connection.execute_batch(SCHEMA)?;
        Ok(DialogJournal { connection })
    }

    /// Every call the journal holds (at start: the calls the last run left up). A row that
    /// does not read back (a hand-edited file) is skipped with a warning.
    pub fn calls(&self) -> Result<Vec<JournaledCall>, StoreError> {
        let mut statement = self.connection.prepare(
            "SELECT call_key, leg, call_id, local_tag, remote_tag, local_uri, remote_uri,
                    remote_target, route_set, local_cseq, peer, transport
             FROM dialogs ORDER BY call_key, leg",
        )?;
        let rows = statement.query_map([], |r| {
            let key: Vec<u8> = r.get(0)?;
            let leg: i64 = r.get(1)?;
            let (peer, transport): (String, String) = (r.get(10)?, r.get(11)?);
            let dialog = (|| {
                Some(Dialog {
                    call_id: blob(r, 2).ok()?,
                    local_tag: blob(r, 3).ok()?,
                    remote_tag: blob(r, 4).ok()?,
                    local_uri: blob(r, 5).ok()?,
                    remote_uri: blob(r, 6).ok()?,
                    remote_target: blob(r, 7).ok()?,
                    route_set: route_set(&blob(r, 8).ok()?),
                    local_cseq: u32::try_from(r.get::<_, i64>(9).ok()?).ok()?,
                    peer: peer.parse::<SocketAddr>().ok()?,
                    transport: transport_of(&transport)?,
                })
            })();
            Ok((key, leg, dialog))
        })?;
        let mut calls = Vec::new();
        let mut answered: Option<(Vec<u8>, Dialog)> = None;
        for row in rows {
            match row? {
                (key, 0, Some(dialog)) => answered = Some((key, dialog)),
                (key, 1, Some(placed)) => match answered.take() {
                    Some((k, first)) if k == key => calls.push(JournaledCall {
                        key: Bytes::from(key),
                        legs: [first, placed],
                    }),
                    _ => warn_skipped(&key),
                },
                (key, _, _) => warn_skipped(&key),
            }
        }
        Ok(calls)
    }

    /// Apply `entries` in one transaction, durable when this returns. A call that came up
    /// and ended within the batch is never written.
    pub fn apply(&mut self, entries: &[JournalEntry]) -> Result<(), StoreError> {
        let mut up: Vec<&JournaledCall> = Vec::new();
        let mut down: Vec<&Bytes> = Vec::new();
        for entry in entries {
            match entry {
                JournalEntry::Up(call) => up.push(call),
                JournalEntry::Down { key } => match up.iter().position(|c| c.key == *key) {
                    Some(i) => {
                        up.swap_remove(i);
                    }
                    None => down.push(key),
                },
            }
        }
        if up.is_empty() && down.is_empty() {
            return Ok(());
        }
        let tx = self.connection.transaction()?;
        {
            let mut delete = tx.prepare_cached("DELETE FROM dialogs WHERE call_key = ?1")?;
            for key in down {
                delete.execute([&key[..]])?;
            }
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO dialogs (call_key, leg, call_id, local_tag, remote_tag,
                    local_uri, remote_uri, remote_target, route_set, local_cseq, peer, transport)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            for call in up {
                for (leg, d) in call.legs.iter().enumerate() {
                    insert.execute(params![
                        &call.key[..],
                        leg as i64,
                        &d.call_id[..],
                        &d.local_tag[..],
                        &d.remote_tag[..],
                        &d.local_uri[..],
                        &d.remote_uri[..],
                        &d.remote_target[..],
                        d.route_set.join(&b'\n').as_slice(),
                        i64::from(d.local_cseq),
                        d.peer.to_string(),
                        d.transport.label(),
                    ])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Forget `calls` (ended at start by BYE).
    pub fn forget(&mut self, calls: &[JournaledCall]) -> Result<(), StoreError> {
        let downs: Vec<JournalEntry> = calls
            .iter()
            .map(|c| JournalEntry::Down { key: c.key.clone() })
            .collect();
        self.apply(&downs)
    }
}

fn blob(r: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Bytes> {
    r.get::<_, Vec<u8>>(index).map(Bytes::from)
}

fn route_set(joined: &[u8]) -> Vec<Bytes> {
    joined
        .split(|b| *b == b'\n')
        .filter(|r| !r.is_empty())
        .map(Bytes::copy_from_slice)
        .collect()
}

fn transport_of(label: &str) -> Option<Transport> {
    [Transport::Udp, Transport::Tcp, Transport::Tls]
        .into_iter()
        .find(|t| t.label() == label)
}

fn warn_skipped(key: &[u8]) {
    tracing::warn!(call = %String::from_utf8_lossy(key), "a dialog journal entry does not read back: skipped");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(key: &'static str, transport: Transport) -> JournaledCall {
        let dialog = |call_id: &'static str, routes: Vec<Bytes>| Dialog {
            call_id: Bytes::from_static(call_id.as_bytes()),
            local_tag: Bytes::from_static(b"ours"),
            remote_tag: Bytes::from_static(b"theirs"),
            local_uri: Bytes::from_static(b"<sip:+15551234567@192.0.2.5>"),
            remote_uri: Bytes::from_static(b"<sip:+14155550100@192.0.2.10>"),
            remote_target: Bytes::from_static(b"sip:carrier@192.0.2.10:5060"),
            route_set: routes,
            local_cseq: 7,
            peer: "192.0.2.10:5060".parse().unwrap(),
            transport,
        };
        JournaledCall {
            key: Bytes::from_static(key.as_bytes()),
            legs: [
                dialog(
                    "carrier-call",
                    vec![
                        Bytes::from_static(b"<sip:192.0.2.50;lr>"),
                        Bytes::from_static(b"<sip:192.0.2.51;lr>, <sip:192.0.2.52;lr>"),
                    ],
                ),
                dialog(key, Vec::new()),
            ],
        }
    }

    #[test]
    fn journaled_calls_read_back_whole_after_a_reopen_until_they_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data").join("dialogs.db");
        let (a, b) = (
            call("a@switchboard", Transport::Udp),
            call("b@switchboard", Transport::Tls),
        );
        let mut journal = DialogJournal::open(&path, true).unwrap();
        journal
            .apply(&[
                JournalEntry::Up(Box::new(a.clone())),
                JournalEntry::Up(Box::new(b.clone())),
            ])
            .unwrap();
        drop(journal);
        let mut journal = DialogJournal::open(&path, true).unwrap();
        assert_eq!(journal.calls().unwrap(), vec![a.clone(), b.clone()]);
        journal.apply(&[JournalEntry::Down { key: a.key.clone() }]).unwrap();
        assert_eq!(journal.calls().unwrap(), vec![b.clone()]);
        journal.forget(&[b]).unwrap();
        assert!(journal.calls().unwrap().is_empty());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the URIs name callers");
    }

    #[test]
    fn a_call_up_and_down_within_one_batch_is_never_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = DialogJournal::open(&dir.path().join("dialogs.db"), false).unwrap();
        let (a, b) = (
            call("a@switchboard", Transport::Udp),
            call("b@switchboard", Transport::Udp),
        );
        journal
            .apply(&[
                JournalEntry::Up(Box::new(a.clone())),
                JournalEntry::Up(Box::new(b.clone())),
                JournalEntry::Down { key: a.key.clone() },
            ])
            .unwrap();
        assert_eq!(journal.calls().unwrap(), vec![b]);
    }

    #[test]
    fn a_leg_that_does_not_read_back_drops_its_call_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = DialogJournal::open(&dir.path().join("dialogs.db"), false).unwrap();
        let (a, b) = (
            call("a@switchboard", Transport::Udp),
            call("b@switchboard", Transport::Tcp),
        );
        journal
            .apply(&[JournalEntry::Up(Box::new(a)), JournalEntry::Up(Box::new(b.clone()))])
            .unwrap();
        journal
            .connection
            .execute(
                "UPDATE dialogs SET transport = 'carrier-pigeon'
                 WHERE call_key = CAST('a@switchboard' AS BLOB) AND leg = 1",
                [],
            )
            .unwrap();
        assert_eq!(journal.calls().unwrap(), vec![b]);
    }
}
