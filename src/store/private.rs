//! The store holds carrier passwords: its folder is created 0700 and its files 0600 (the
//! database, and the `-wal` and `-shm` files SQLite creates with the database file's mode).
//! Files an older build left readable by others are narrowed at open.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::StoreError;

/// Owner read and write only.
const FILE_MODE: u32 = 0o600;
/// Owner only.
const DIR_MODE: u32 = 0o700;

/// Make `path`'s folder (0700 where created) and the database file (0600) before SQLite
/// opens it, so SQLite's own files inherit the mode; narrow existing files that others
/// could read.
pub(crate) fn prepare(path: &Path) -> Result<(), StoreError> {
    let failed = |path: &Path| {
        let path = path.to_owned();
        move |source| StoreError::Create { path, source }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(dir)
                .map_err(failed(dir))?;
        }
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(FILE_MODE)
        .open(path)
        .map_err(failed(path))?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = Path::new(&name);
        let Ok(meta) = std::fs::metadata(file) else {
            continue;
        };
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(FILE_MODE)).map_err(failed(file))?;
            tracing::info!(file = %file.display(), "narrowed a store file to owner-only access (0600)");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_fresh_store_is_owner_only_and_sqlites_files_follow() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("data/switchboard.db");
        let store = crate::store::SqliteStore::open(&path).unwrap();
        let _log = crate::store::CallLog::open(&path, "edge-1:5060").unwrap();
        drop(store);
        assert_eq!(mode(&root.path().join("data")), 0o700);
        for name in ["switchboard.db", "switchboard.db-wal", "switchboard.db-shm"] {
            let file = root.path().join("data").join(name);
            assert!(file.exists(), "{name}");
            assert_eq!(mode(&file), 0o600, "{name}");
        }
    }

    #[test]
    fn a_store_left_world_readable_is_narrowed_at_open() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("switchboard.db");
        drop(crate::store::SqliteStore::open(&path).unwrap());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(crate::store::SqliteStore::open(&path).unwrap());
        assert_eq!(mode(&path), 0o600);
    }
}
