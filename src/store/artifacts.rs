//! Compiled workflow modules, kept so that a restart loads them instead of compiling
//! again. Behind a trait: the SQLite file beside this instance's data (`Artifacts`, the
//! default), or the shared PostgreSQL database (`PgStore`), where what one instance
//! compiled every other loads. Each artifact carries the SHA-256 of its bytes as written:
//! the workflow sandbox deserializes an artifact only when its bytes still hash to that
//! (see `workflow::cache`).
//!
//! An artifact is native code for one CPU and one wasmtime configuration, so it is keyed by
//! the module source's SHA-256 and the engine's fingerprint (`Engine::fingerprint`): on a
//! shared store, instances on other machines or releases keep artifacts of their own side by
//! side. The SQLite file serves one engine and keys by the source alone (an artifact of
//! another engine, after an upgrade, is refused by wasmtime and replaced).

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use super::StoreError;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS workflow_artifacts (
        source_sha256 BLOB PRIMARY KEY,
        artifact_sha256 BLOB NOT NULL,
        artifact BLOB NOT NULL
    );";

/// An artifact as stored, and the SHA-256 recorded when it was written.
pub type Stored = (Vec<u8>, [u8; 32]);

/// What names an artifact: the SHA-256 of the module source, and the fingerprint of the
/// engine that compiled it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArtifactKey {
    pub source: [u8; 32],
    pub engine: [u8; 32],
}

/// A store of compiled workflow artifacts.
pub trait ArtifactStore: Send + Sync {
    /// The artifact under `key` and the hash recorded with it.
    fn get(&self, key: &ArtifactKey) -> Result<Option<Stored>, StoreError>;
    /// Keep `artifact` (whose SHA-256 is `artifact_sha256`) under `key`.
    fn put(&self, key: &ArtifactKey, artifact: &[u8], artifact_sha256: [u8; 32]) -> Result<(), StoreError>;
}

/// The artifact table.
#[derive(Debug)]
pub struct Artifacts {
    connection: Mutex<Connection>,
}

impl Artifacts {
    pub fn open(path: &Path) -> Result<Artifacts, StoreError> {
        let connection = Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        connection.execute_batch(SCHEMA)?;
        Ok(Artifacts {
            connection: Mutex::new(connection),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ArtifactStore for Artifacts {
    fn put(&self, key: &ArtifactKey, artifact: &[u8], artifact_sha256: [u8; 32]) -> Result<(), StoreError> {
        self.lock().execute(
            "INSERT OR REPLACE INTO workflow_artifacts (source_sha256, artifact_sha256, artifact) VALUES (?1, ?2, ?3)",
            params![&key.source[..], &artifact_sha256[..], artifact],
        )?;
        Ok(())
    }

    fn get(&self, key: &ArtifactKey) -> Result<Option<Stored>, StoreError> {
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .lock()
            .query_row(
                "SELECT artifact, artifact_sha256 FROM workflow_artifacts WHERE source_sha256 = ?1",
                params![&key.source[..]],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(row.and_then(|(artifact, hash)| Some((artifact, hash.try_into().ok()?))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_artifact_comes_back_with_its_recorded_hash() {
        let dir = tempfile::tempdir().unwrap();
        let artifacts = Artifacts::open(&dir.path().join("s.db")).unwrap();
        let key = |source| ArtifactKey {
            source,
            engine: [9; 32],
        };
        artifacts.put(&key([1; 32]), b"machine code", [2; 32]).unwrap();
        assert_eq!(
            artifacts.get(&key([1; 32])).unwrap(),
            Some((b"machine code".to_vec(), [2; 32]))
        );
        assert_eq!(artifacts.get(&key([3; 32])).unwrap(), None);
    }
}
