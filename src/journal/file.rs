//! The dialog journal on disk: `dialogs.journal` in the data directory, an append-only log
//! of records, each a call answered (its key and both dialogs) or a call ended (its key).
//! The SIP threads encode records into a shared buffer ([`encode`]); the writer thread
//! appends each batch with one `write` (`mod.rs`). At start [`JournalFile::open`] replays
//! the log: the calls answered and not ended are the ones the last run left up.
//!
//! Why a log and not SQLite rows (the journal's first form): two 12-column rows in a
//! B-tree and a delete per call cost the writer ~50 µs of CPU a call (BENCHMARKS.md);
//! appending a few hundred bytes costs a `memcpy` and a share of one system call.
//!
//! What a write survives: an appended batch is in the kernel's page cache when `write`
//! returns, so it survives the process being killed (SIGKILL, a panic, the OOM killer).
//! With `durability = "power"` each batch is also `fdatasync`ed, so that it survives a
//! kernel crash or power cut.
//!
//! The log is compacted when it has grown past [`COMPACT_MIN`] bytes and four times what
//! the calls up need: the live records are written to a new file, which replaces the log by
//! `rename` (atomic: a crash leaves the old log or the new one, each whole).
//!
//! Layout: [`MAGIC`], then records. A record is its payload's length (`u32`, little
//! endian), a check of the payload (`u32`, see [`check`]) and the payload: `U` key
//! dialog dialog, or `D` key. Byte strings are a `u32` length and the bytes. A record cut
//! short (a write interrupted by a crash) or failing its check ends the log: nothing after
//! it is read. Created 0600, like the store (the URIs name callers' numbers).

use std::fs::File;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::b2bua::{Dialog, JournalEntry, JournaledCall};
use crate::transport::Transport;

/// The first bytes of a journal file (the `1` is the layout's version).
pub const MAGIC: &[u8; 8] = b"sbjrnl1\n";
/// A log smaller than this is never compacted (a quiet server never rewrites its file).
pub const COMPACT_MIN: u64 = 4 << 20;
/// Bytes before a record's payload: its length and its check.
const FRAME: usize = 8;
/// A payload larger than this is not a record (a length read off disk is bounded before it
/// sizes anything): a call's two dialogs fit in a few KB.
const MAX_RECORD: usize = 1 << 20;

/// Why the journal could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("the dialog journal {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a dialog journal (it does not start with the journal's magic bytes)")]
    NotAJournal { path: PathBuf },
    /// The journal's SQLite form, which an older build left, could not be read.
    #[error("the older dialog journal (dialogs.db): {0}")]
    Legacy(#[source] crate::store::StoreError),
}

/// The journal file, open for appending.
pub struct JournalFile {
    path: PathBuf,
    file: File,
    /// `fdatasync` after each append (`durability = "power"`).
    sync: bool,
    /// The file's length.
    len: u64,
    /// Calls up, by the records appended (answers less ends).
    live: u64,
    /// Bytes of the `U` records appended, and how many: their mean sizes the live set.
    up_bytes: u64,
    ups: u64,
}

impl JournalFile {
    /// Open (or create) the journal at `path` and replay it: the calls it holds up.
    pub fn open(path: &Path, sync: bool) -> Result<(JournalFile, Vec<JournaledCall>), JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let records = match bytes.len() {
            0 => &[][..],
            _ if bytes.starts_with(MAGIC) => &bytes[MAGIC.len()..],
            _ => return Err(JournalError::NotAJournal { path: path.to_owned() }),
        };
        let (calls, torn) = replay(records);
        if torn {
            tracing::warn!(path = %path.display(), "the dialog journal ends in a cut or damaged record (a crash mid-write): read up to it");
        }
        let calls: Vec<JournaledCall> = calls.into_iter().filter_map(|(_, call)| call).collect();
        let mut journal = JournalFile {
            path: path.to_owned(),
            file,
            sync,
            len: bytes.len() as u64,
            live: 0,
            up_bytes: 0,
            ups: 0,
        };
        // Start from a clean log holding what was read, so that appends never follow a
        // damaged record.
        let mut live = Vec::new();
        for call in &calls {
            encode(&JournalEntry::Up(Box::new(call.clone())), &mut live);
        }
        journal.rewrite(&live)?;
        Ok((journal, calls))
    }

    /// Append `batch` (records made by [`encode`]) in one write; compact the log when it
    /// has grown enough.
    pub fn append(&mut self, batch: &[u8]) -> Result<(), JournalError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.count(batch);
        let io = self.io();
        self.file.write_all(batch).map_err(io)?;
        if self.sync {
            self.file.sync_data().map_err(self.io())?;
        }
        self.len += batch.len() as u64;
        if self.len > COMPACT_MIN && self.len > 4 * self.live_estimate() {
            self.compact()?;
        }
        Ok(())
    }

    /// Forget every call the log holds (those the last run left up, once they had their
    /// BYEs).
    pub fn forget_all(&mut self) -> Result<(), JournalError> {
        self.rewrite(&[])
    }

    /// The log's length in bytes.
    #[cfg(test)]
    fn len(&self) -> u64 {
        self.len
    }

    /// Rewrite the log with only the calls still up.
    fn compact(&mut self) -> Result<(), JournalError> {
        let mut bytes = Vec::with_capacity(self.len as usize);
        let io = self.io();
        File::open(&self.path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(io)?;
        let records = bytes.get(MAGIC.len()..).unwrap_or_default();
        let mut live = Vec::new();
        for (record, up) in live_records(records) {
            if up {
                live.extend_from_slice(record);
            }
        }
        self.rewrite(&live)
    }

    /// Replace the log with one holding `records` (atomically, by rename).
    fn rewrite(&mut self, records: &[u8]) -> Result<(), JournalError> {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".new");
        let fresh_path = PathBuf::from(name);
        let io = |source| JournalError::Io {
            path: fresh_path.clone(),
            source,
        };
        let mut fresh = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&fresh_path)
            .map_err(io)?;
        let mut contents = Vec::with_capacity(MAGIC.len() + records.len());
        contents.extend_from_slice(MAGIC);
        contents.extend_from_slice(records);
        fresh.write_all(&contents).map_err(io)?;
        if self.sync {
            fresh.sync_all().map_err(io)?;
        }
        std::fs::rename(&fresh_path, &self.path).map_err(io)?;
        if self.sync {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                File::open(dir).and_then(|d| d.sync_all()).map_err(self.io())?;
            }
        }
        // The renamed file is opened for appending (the old handle names the replaced one).
        self.file = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(self.io())?;
        self.len = contents.len() as u64;
        (self.live, self.up_bytes, self.ups) = (0, 0, 0);
        self.count(records);
        Ok(())
    }

    /// Count the calls `records` bring up and end.
    fn count(&mut self, records: &[u8]) {
        let mut rest = records;
        while let Some((payload, len, next)) = next_record(rest) {
            match payload.first() {
                Some(b'U') => {
                    self.live += 1;
                    self.ups += 1;
                    self.up_bytes += len as u64;
                }
                _ => self.live = self.live.saturating_sub(1),
            }
            rest = next;
        }
    }

    /// Bytes the calls up would take in a compacted log.
    fn live_estimate(&self) -> u64 {
        self.live * self.up_bytes.checked_div(self.ups).unwrap_or(0)
    }

    fn io(&self) -> impl Fn(std::io::Error) -> JournalError {
        let path = self.path.clone();
        move |source| JournalError::Io {
            path: path.clone(),
            source,
        }
    }
}

/// Append `entry`'s record to `out`.
pub fn encode(entry: &JournalEntry, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME]);
    match entry {
        JournalEntry::Up(call) => {
            out.push(b'U');
            put_bytes(out, &call.key);
            for dialog in &call.legs {
                put_dialog(out, dialog);
            }
        }
        JournalEntry::Down { key } => {
            out.push(b'D');
            put_bytes(out, key);
        }
    }
    let payload = &out[start + FRAME..];
    let (len, check) = (payload.len() as u32, check(payload));
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + FRAME].copy_from_slice(&check.to_le_bytes());
}

/// A check of a record's payload, to tell a whole record from a torn or damaged one: a
/// multiply-rotate hash over 8-byte words (not cryptographic; the file is not an attack
/// surface, it is 0600 in the instance's own folder).
pub fn check(payload: &[u8]) -> u32 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut hash = payload.len() as u64;
    let mut words = payload.chunks_exact(8);
    for word in &mut words {
        let word = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        hash = (hash ^ word).wrapping_mul(K).rotate_left(29);
    }
    let mut tail = [0u8; 8];
    tail[..words.remainder().len()].copy_from_slice(words.remainder());
    hash = (hash ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    (hash ^ (hash >> 32)) as u32
}

/// The calls `records` leave up, in the order they came up (by key: an ended call's slot
/// is `None`), and whether the log ended in a damaged record.
fn replay(records: &[u8]) -> (Vec<(Bytes, Option<JournaledCall>)>, bool) {
    let mut calls: Vec<(Bytes, Option<JournaledCall>)> = Vec::new();
    let mut index = std::collections::HashMap::new();
    let mut rest = records;
    while let Some((payload, _, next)) = next_record(rest) {
        rest = next;
        match decode(payload) {
            Some(JournalEntry::Up(call)) => {
                index.insert(call.key.clone(), calls.len());
                calls.push((call.key.clone(), Some(*call)));
            }
            Some(JournalEntry::Down { key }) => {
                if let Some(i) = index.remove(&key) {
                    calls[i].1 = None;
                }
            }
            None => {
                tracing::warn!("a dialog journal record does not read back: skipped");
            }
        }
    }
    (calls, !rest.is_empty())
}

/// Each whole record of `records` and whether it is a `U` whose call has not ended.
fn live_records(records: &[u8]) -> Vec<(&[u8], bool)> {
    let mut out: Vec<(&[u8], bool)> = Vec::new();
    let mut index: std::collections::HashMap<&[u8], usize> = std::collections::HashMap::new();
    let mut rest = records;
    while let Some((payload, len, next)) = next_record(rest) {
        let record = &rest[..FRAME + len];
        rest = next;
        let mut reader = Reader(payload.get(1..).unwrap_or_default());
        let Some(key) = reader.bytes() else { continue };
        match payload[0] {
            b'U' => {
                index.insert(key, out.len());
                out.push((record, true));
            }
            _ => {
                if let Some(i) = index.remove(key) {
                    out[i].1 = false;
                }
            }
        }
    }
    out
}

/// The first whole record of `bytes`: its payload, the payload's length, and what follows.
fn next_record(bytes: &[u8]) -> Option<(&[u8], usize, &[u8])> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let expected = u32::from_le_bytes(bytes.get(4..FRAME)?.try_into().ok()?);
    if len == 0 || len > MAX_RECORD {
        return None;
    }
    let payload = bytes.get(FRAME..FRAME + len)?;
    (check(payload) == expected).then(|| (payload, len, &bytes[FRAME + len..]))
}

fn decode(payload: &[u8]) -> Option<JournalEntry> {
    let (&kind, rest) = payload.split_first()?;
    let mut reader = Reader(rest);
    let key = Bytes::copy_from_slice(reader.bytes()?);
    let entry = match kind {
        b'U' => JournalEntry::Up(Box::new(JournaledCall {
            key,
            legs: [reader.dialog()?, reader.dialog()?],
        })),
        b'D' => JournalEntry::Down { key },
        _ => return None,
    };
    reader.0.is_empty().then_some(entry)
}

fn put_dialog(out: &mut Vec<u8>, d: &Dialog) {
    for field in [
        &d.call_id,
        &d.local_tag,
        &d.remote_tag,
        &d.local_uri,
        &d.remote_uri,
        &d.remote_target,
    ] {
        put_bytes(out, field);
    }
    out.extend_from_slice(&(d.route_set.len() as u32).to_le_bytes());
    for route in &d.route_set {
        put_bytes(out, route);
    }
    out.extend_from_slice(&d.local_cseq.to_le_bytes());
    match d.peer {
        SocketAddr::V4(v4) => {
            out.push(4);
            out.extend_from_slice(&v4.ip().octets());
        }
        SocketAddr::V6(v6) => {
            out.push(6);
            out.extend_from_slice(&v6.ip().octets());
            out.extend_from_slice(&v6.scope_id().to_le_bytes());
        }
    }
    out.extend_from_slice(&d.peer.port().to_le_bytes());
    out.push(match d.transport {
        Transport::Udp => 0,
        Transport::Tcp => 1,
        Transport::Tls => 2,
    });
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Reads a payload front to back; `None` when it ends too soon.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, &self.0[n..]);
        self.0 = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    fn owned(&mut self) -> Option<Bytes> {
        self.bytes().map(Bytes::copy_from_slice)
    }

    fn dialog(&mut self) -> Option<Dialog> {
        let (call_id, local_tag, remote_tag) = (self.owned()?, self.owned()?, self.owned()?);
        let (local_uri, remote_uri, remote_target) = (self.owned()?, self.owned()?, self.owned()?);
        let routes = self.u32()? as usize;
        let route_set = (0..routes).map(|_| self.owned()).collect::<Option<Vec<_>>>()?;
        let local_cseq = self.u32()?;
        let peer = self.peer()?;
        let transport = match self.take(1)? {
            [0] => Transport::Udp,
            [1] => Transport::Tcp,
            [2] => Transport::Tls,
            _ => return None,
        };
        Some(Dialog {
            call_id,
            local_tag,
            remote_tag,
            local_uri,
            remote_uri,
            remote_target,
            route_set,
            local_cseq,
            peer,
            transport,
        })
    }

    fn peer(&mut self) -> Option<SocketAddr> {
        let (ip, scope) = match self.take(1)? {
            [4] => (IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(self.take(4)?).ok()?)), 0),
            [6] => {
                let ip = Ipv6Addr::from(<[u8; 16]>::try_from(self.take(16)?).ok()?);
                (IpAddr::V6(ip), self.u32()?)
            }
            _ => return None,
        };
        let port = u16::from_le_bytes(self.take(2)?.try_into().ok()?);
        Some(match ip {
            IpAddr::V6(ip) => SocketAddr::V6(SocketAddrV6::new(ip, port, 0, scope)),
            IpAddr::V4(_) => SocketAddr::new(ip, port),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(key: &str, transport: Transport, peer: &str) -> JournaledCall {
        let dialog = |call_id: &str, routes: Vec<Bytes>| Dialog {
            call_id: Bytes::copy_from_slice(call_id.as_bytes()),
            local_tag: Bytes::from_static(b"ours"),
            remote_tag: Bytes::from_static(b"theirs"),
            local_uri: Bytes::from_static(b"<sip:+15551234567@192.0.2.5>"),
            remote_uri: Bytes::from_static(b"\"Caller\" <sip:+14155550100@192.0.2.10>"),
            remote_target: Bytes::from_static(b"sip:carrier@192.0.2.10:5060"),
            route_set: routes,
            local_cseq: 7,
            peer: peer.parse().unwrap(),
            transport,
        };
        JournaledCall {
            key: Bytes::copy_from_slice(key.as_bytes()),
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

    fn up(call: &JournaledCall) -> Vec<u8> {
        let mut out = Vec::new();
        encode(&JournalEntry::Up(Box::new(call.clone())), &mut out);
        out
    }

    fn down(call: &JournaledCall) -> Vec<u8> {
        let mut out = Vec::new();
        encode(&JournalEntry::Down { key: call.key.clone() }, &mut out);
        out
    }

    #[test]
    fn calls_up_read_back_whole_after_a_reopen_until_they_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dialogs.journal");
        let a = call("a@switchboard", Transport::Udp, "192.0.2.10:5060");
        let b = call("b@switchboard", Transport::Tls, "[2001:db8::1]:5061");
        let (mut journal, left) = JournalFile::open(&path, false).unwrap();
        assert!(left.is_empty());
        journal.append(&[up(&a), up(&b)].concat()).unwrap();
        drop(journal);
        let (mut journal, left) = JournalFile::open(&path, true).unwrap();
        assert_eq!(left, vec![a.clone(), b.clone()]);
        journal.append(&down(&a)).unwrap();
        drop(journal);
        let (mut journal, left) = JournalFile::open(&path, false).unwrap();
        assert_eq!(left, vec![b]);
        journal.forget_all().unwrap();
        drop(journal);
        assert!(JournalFile::open(&path, false).unwrap().1.is_empty());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the URIs name callers");
    }

    #[test]
    fn a_record_cut_short_by_a_crash_ends_the_log_and_what_came_before_it_stands() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dialogs.journal");
        let (a, b) = (
            call("a@switchboard", Transport::Udp, "192.0.2.10:5060"),
            call("b@switchboard", Transport::Tcp, "192.0.2.11:5060"),
        );
        let (mut journal, _) = JournalFile::open(&path, false).unwrap();
        let torn = up(&b);
        journal
            .append(&[up(&a), torn[..torn.len() - 3].to_vec()].concat())
            .unwrap();
        drop(journal);
        let (mut journal, left) = JournalFile::open(&path, false).unwrap();
        assert_eq!(left, vec![a.clone()]);
        journal.append(&up(&b)).unwrap();
        drop(journal);
        assert_eq!(
            JournalFile::open(&path, false).unwrap().1,
            vec![a, b],
            "the reopened log no longer holds the torn record, so later appends read back"
        );
    }

    #[test]
    fn a_damaged_record_fails_its_check() {
        let a = call("a@switchboard", Transport::Udp, "192.0.2.10:5060");
        let mut record = up(&a);
        assert!(next_record(&record).is_some());
        let last = record.len() - 1;
        record[last] ^= 1;
        assert!(next_record(&record).is_none());
    }

    #[test]
    fn a_file_that_is_not_a_journal_is_refused_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dialogs.journal");
        std::fs::write(&path, b"SQLite format 3\0").unwrap();
        assert!(matches!(
            JournalFile::open(&path, false),
            Err(JournalError::NotAJournal { .. })
        ));
        assert_eq!(std::fs::read(&path).unwrap(), b"SQLite format 3\0");
    }

    #[test]
    fn the_log_is_compacted_to_the_calls_still_up_once_it_has_grown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dialogs.journal");
        let (mut journal, _) = JournalFile::open(&path, false).unwrap();
        let kept = call("kept@switchboard", Transport::Udp, "192.0.2.10:5060");
        journal.append(&up(&kept)).unwrap();
        let mut appended = 0u64;
        let mut n = 0;
        while appended <= 2 * COMPACT_MIN {
            let c = call(&format!("{n}@switchboard"), Transport::Udp, "192.0.2.10:5060");
            let batch = [up(&c), down(&c)].concat();
            appended += batch.len() as u64;
            journal.append(&batch).unwrap();
            n += 1;
        }
        assert!(
            journal.len() < COMPACT_MIN + 4096,
            "compacted: {} bytes after {appended} appended",
            journal.len()
        );
        let last = call("last@switchboard", Transport::Udp, "192.0.2.10:5060");
        journal.append(&up(&last)).unwrap();
        drop(journal);
        assert_eq!(JournalFile::open(&path, false).unwrap().1, vec![kept, last]);
    }
}
