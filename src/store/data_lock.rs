//! One live server per data directory. Two servers writing one SQLite file would each
//! publish only their own commits (neither sees the other's) and refuse nothing, so `serve`
//! takes an exclusive `flock` on `switchboard.lock` in the directory and holds it until the
//! process ends; a second `serve` on the directory stops with an error naming it. The
//! kernel drops the lock when its holder dies, even by SIGKILL: no stale lock file to clean.
//! Commands that only read (`workflow test`) take no lock.

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "switchboard.lock";

/// Why the data directory could not be held.
#[derive(Debug, thiserror::Error)]
pub enum DataLockError {
    #[error("the data directory {0} is in use by another live switchboard (it holds {0}/{LOCK_FILE}); give each instance its own directory, or share a PostgreSQL store ([store] url)")]
    Held(PathBuf),
    #[error("cannot lock the data directory {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The held lock; released when dropped.
#[derive(Debug)]
pub struct DataLock {
    _file: File,
}

impl DataLock {
    /// Lock `dir` (created 0700 if missing) for this process, or say who holds it.
    pub fn acquire(dir: &Path) -> Result<DataLock, DataLockError> {
        let io = |source| DataLockError::Io {
            path: dir.to_owned(),
            source,
        };
        if !dir.exists() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(dir.join(LOCK_FILE))
            .map_err(io)?;
        // flock(LOCK_EX | LOCK_NB) on Linux.
        match file.try_lock() {
            Ok(()) => Ok(DataLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(DataLockError::Held(dir.to_owned())),
            Err(std::fs::TryLockError::Error(err)) => Err(io(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_held_once_until_its_lock_is_dropped() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        let lock = DataLock::acquire(&dir).unwrap();
        let err = DataLock::acquire(&dir).unwrap_err();
        assert!(matches!(err, DataLockError::Held(_)), "{err}");
        assert!(err.to_string().contains(&dir.display().to_string()), "{err}");
        drop(lock);
        DataLock::acquire(&dir).unwrap();
    }
}
