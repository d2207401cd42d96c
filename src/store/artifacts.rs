//! Compiled workflow modules, kept beside the directory so that a restart loads them
//! instead of compiling again. Each row is keyed by the SHA-256 of the module source and
//! carries the SHA-256 of the artifact as written: the workflow sandbox deserializes an
//! artifact only when its bytes still hash to that (see `workflow::cache`).

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

    pub fn put(&self, source: [u8; 32], artifact: &[u8], artifact_sha256: [u8; 32]) -> Result<(), StoreError> {
        self.lock().execute(
            "INSERT OR REPLACE INTO workflow_artifacts (source_sha256, artifact_sha256, artifact) VALUES (?1, ?2, ?3)",
            params![&source[..], &artifact_sha256[..], artifact],
        )?;
        Ok(())
    }

    /// The artifact of a module source and the hash recorded with it.
    pub fn get(&self, source: [u8; 32]) -> Result<Option<Stored>, StoreError> {
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .lock()
            .query_row(
                "SELECT artifact, artifact_sha256 FROM workflow_artifacts WHERE source_sha256 = ?1",
                params![&source[..]],
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
        artifacts.put([1; 32], b"machine code", [2; 32]).unwrap();
        assert_eq!(
            artifacts.get([1; 32]).unwrap(),
            Some((b"machine code".to_vec(), [2; 32]))
        );
        assert_eq!(artifacts.get([3; 32]).unwrap(), None);
    }
}
