//! The dialog journal's shell: a crash must not leave calls up. The call core hands out a
//! [`JournalEntry`] when a call is answered and when it ends; under the call lock each is
//! encoded into a shared buffer (`file.rs`: no system call, no wait, and no heap
//! handed to another thread), and a writer thread appends the buffer to the log every
//! `flush_ms` in one `write`. So a call is on disk within `flush_ms` of its 2xx being
//! relayed, and the SIP threads never wait for the disk.
//!
//! The journal is `dialogs.journal` in the data directory, which one live instance holds
//! (`store/data_lock.rs`), so no two instances ever share a journal. At start,
//! [`Recovery::open`] reads what the last run left (and what an older build left in
//! `dialogs.db`, the journal's SQLite form); once the SIP sockets are bound, the core sends
//! BYE on both legs of each of those calls, then the journal forgets them and the writer
//! starts (see `server::start`).

mod file;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;

use crate::b2bua::{B2bua, JournaledCall};
pub use file::JournalError;
use file::JournalFile;

/// `[journal]` in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalConfig {
    /// Keep the journal, and end at start the calls a crash left up.
    pub enabled: bool,
    /// Answered and ended calls are written at least this often (milliseconds).
    pub flush_ms: u64,
    /// What a commit survives: `process` (the process killed: SIGKILL, a panic, the OOM
    /// killer) or `power` (also a kernel crash or a power cut, at one fsync per commit).
    pub durability: Durability,
}

/// What a written journal entry survives (see `file.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    Process,
    Power,
}

impl Default for JournalConfig {
    fn default() -> JournalConfig {
        JournalConfig {
            enabled: true,
            flush_ms: 20,
            durability: Durability::Process,
        }
    }
}

/// The journal's file name in the data directory.
pub const FILE: &str = "dialogs.journal";
/// The journal's SQLite form, which builds before this one kept: read once, then removed.
const LEGACY_FILE: &str = "dialogs.db";

/// Takes the core's journal entries on the SIP threads, for the writer.
pub struct Journal {
    shared: Arc<Shared>,
}

struct Shared {
    /// Records encoded by [`file::encode`], oldest first.
    pending: Mutex<Vec<u8>>,
    /// Set when the writer is stopped: it commits what is left and ends.
    closed: AtomicBool,
}

/// The journal at start: the calls the last run left up, and the file, until the writer
/// takes it.
pub struct Recovery {
    file: JournalFile,
    pub left: Vec<JournaledCall>,
    /// An older build's `dialogs.db`, removed once its calls had their BYEs.
    legacy: Option<PathBuf>,
    flush: Duration,
    shared: Arc<Shared>,
}

/// The writer thread; dropping this commits what is queued and joins it.
pub struct Writer {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Recovery {
    /// Open the journal in `data_dir` and read what the last run left; the [`Journal`] the
    /// SIP handler feeds from now on.
    pub fn open(config: &JournalConfig, data_dir: &Path) -> Result<(Journal, Recovery), JournalError> {
        let (file, mut left) = JournalFile::open(&data_dir.join(FILE), config.durability == Durability::Power)?;
        let legacy = data_dir.join(LEGACY_FILE);
        let legacy = match legacy.exists() {
            true => {
                let old = crate::store::DialogJournal::open(&legacy, false).map_err(JournalError::Legacy)?;
                left.extend(old.calls().map_err(JournalError::Legacy)?);
                Some(legacy)
            }
            false => None,
        };
        if !left.is_empty() {
            tracing::warn!(
                calls = left.len(),
                "the last run left calls up: ending them (BYE on both legs)"
            );
        }
        let shared = Arc::new(Shared {
            pending: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        });
        let journal = Journal { shared: shared.clone() };
        let recovery = Recovery {
            file,
            left,
            legacy,
            flush: Duration::from_millis(config.flush_ms.max(1)),
            shared,
        };
        Ok((journal, recovery))
    }

    /// The left calls have had their BYEs: forget them, and start the writer.
    pub fn finish(mut self) -> Result<Writer, JournalError> {
        self.file.forget_all()?;
        if let Some(legacy) = &self.legacy {
            for suffix in ["", "-wal", "-shm"] {
                let mut name = legacy.as_os_str().to_owned();
                name.push(suffix);
                let _ = std::fs::remove_file(PathBuf::from(name));
            }
        }
        let (mut file, flush, shared) = (self.file, self.flush, self.shared.clone());
        let thread = std::thread::Builder::new()
            .name("dialog-journal".into())
            .spawn(move || run(&mut file, flush, &shared))
            .expect("spawning the dialog journal writer");
        Ok(Writer {
            shared: self.shared,
            thread: Some(thread),
        })
    }
}

impl Journal {
    /// Move the core's entries into the writer's buffer (called under the call lock).
    pub fn take_from(&self, core: &mut B2bua) {
        let Some(first) = core.poll_journal() else { return };
        let mut pending = self.shared.pending.lock().unwrap_or_else(|p| p.into_inner());
        file::encode(&first, &mut pending);
        while let Some(entry) = core.poll_journal() {
            file::encode(&entry, &mut pending);
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Sleep, take what queued meanwhile, append it; the SIP threads never wake this thread
/// (as with call records: a wake per call would cost the call path a system call).
fn run(file: &mut JournalFile, flush: Duration, shared: &Shared) {
    let mut taken = Vec::new();
    loop {
        std::thread::sleep(flush);
        let closed = shared.closed.load(Ordering::Acquire);
        std::mem::swap(
            &mut *shared.pending.lock().unwrap_or_else(|p| p.into_inner()),
            &mut taken,
        );
        if let Err(err) = file.append(&taken) {
            tracing::error!(%err, bytes = taken.len(), "the dialog journal could not be written: a crash now would leave these calls up");
        }
        taken.clear();
        if closed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::b2bua::Dialog;
    use crate::transport::Transport;

    fn call(key: &'static str) -> JournaledCall {
        let dialog = Dialog {
            call_id: Bytes::from_static(key.as_bytes()),
            local_tag: Bytes::from_static(b"ours"),
            remote_tag: Bytes::from_static(b"theirs"),
            local_uri: Bytes::from_static(b"<sip:a@192.0.2.5>"),
            remote_uri: Bytes::from_static(b"<sip:b@192.0.2.10>"),
            remote_target: Bytes::from_static(b"sip:b@192.0.2.10"),
            route_set: Vec::new(),
            local_cseq: 1,
            peer: "192.0.2.10:5060".parse().unwrap(),
            transport: Transport::Udp,
        };
        JournaledCall {
            key: Bytes::from_static(key.as_bytes()),
            legs: [dialog.clone(), dialog],
        }
    }

    fn config() -> JournalConfig {
        JournalConfig {
            enabled: true,
            flush_ms: 5,
            durability: Durability::Process,
        }
    }

    fn up(call: &JournaledCall) -> Vec<u8> {
        let mut out = Vec::new();
        file::encode(&crate::b2bua::JournalEntry::Up(Box::new(call.clone())), &mut out);
        out
    }

    #[test]
    fn a_start_reads_what_the_last_run_left_forgets_it_and_keeps_this_runs_calls() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let left = call("left@switchboard");
        JournalFile::open(&path, true).unwrap().0.append(&up(&left)).unwrap();
        let (journal, recovery) = Recovery::open(&config(), dir.path()).unwrap();
        assert_eq!(recovery.left, vec![left]);
        let writer = recovery.finish().unwrap();
        let this_run = call("new@switchboard");
        journal.shared.pending.lock().unwrap().extend(up(&this_run));
        drop(writer);
        let (_, calls) = JournalFile::open(&path, true).unwrap();
        assert_eq!(
            calls,
            vec![this_run],
            "the left call is forgotten; the stopped writer wrote the rest"
        );
    }

    #[test]
    fn calls_an_older_build_left_in_its_sqlite_journal_are_ended_and_that_file_removed() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = dir.path().join(LEGACY_FILE);
        let left = call("old@switchboard");
        crate::store::DialogJournal::open(&legacy, false)
            .unwrap()
            .apply(&[crate::b2bua::JournalEntry::Up(Box::new(left.clone()))])
            .unwrap();
        let (_journal, recovery) = Recovery::open(&config(), dir.path()).unwrap();
        assert_eq!(recovery.left, vec![left]);
        drop(recovery.finish().unwrap());
        assert!(!legacy.exists());
        let (_, again) = Recovery::open(&config(), dir.path()).unwrap();
        assert!(again.left.is_empty(), "nothing is ended twice");
    }
}
