//! Persistence of the directory. The store is written before any change is acknowledged
//! and read whole at start; the hot path never touches it (it reads the snapshot).
//! Behind a trait: the embedded SQLite store (the default, one instance per data directory)
//! or PostgreSQL shared by several instances, each following the others' commits.

mod artifacts;
mod call_log;
mod call_store;
mod data_lock;
mod dialog_journal;
mod postgres;
mod postgres_artifacts;
mod postgres_calls;
mod private;
mod sqlite;

use std::path::PathBuf;

use serde::Deserialize;

pub use artifacts::{ArtifactKey, ArtifactStore, Artifacts};
pub use call_log::CallLog;
pub use call_store::{next_sequence, record_id, record_key, CallQuery, CallRow, CallStore, SEQUENCE_BITS};
pub use data_lock::{DataLock, DataLockError, LOCK_FILE};
pub use dialog_journal::DialogJournal;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// The kinds of object the store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Org,
    Trunk,
    PhoneNumber,
    Agent,
    AgentVersion,
    ApiKey,
    RoutingConfig,
    UserToken,
}

impl Kind {
    /// Every kind, for reading rows back.
    pub const ALL: [Kind; 8] = [
        Kind::Org,
        Kind::Trunk,
        Kind::PhoneNumber,
        Kind::Agent,
        Kind::AgentVersion,
        Kind::ApiKey,
        Kind::RoutingConfig,
        Kind::UserToken,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Org => "org",
            Kind::Trunk => "trunk",
            Kind::PhoneNumber => "phone_number",
            Kind::Agent => "agent",
            Kind::AgentVersion => "agent_version",
            Kind::ApiKey => "api_key",
            Kind::RoutingConfig => "routing_config",
            Kind::UserToken => "user_token",
        }
    }
}

/// One stored object: its kind, id, org and JSON body, and the fields of the body that
/// the store's constraints check, as (column, value): a phone number's `number`,
/// `trunk_id` and agent version slots, a version's `agent_id`, a routing config's
/// `fallback_agent_id`. Empty for the other kinds, and when read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub kind: Kind,
    pub id: String,
    pub org_id: String,
    pub body: String,
    pub columns: Vec<(&'static str, Option<String>)>,
}

/// A change committed atomically.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Put(Row),
    Delete { kind: Kind, id: String },
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create {path}: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A write broke one of the store's constraints (a unique number, a foreign key).
    #[error("the store refused the change: {0}")]
    Constraint(String),
    #[error("postgres: {0}")]
    Postgres(String),
    /// Another instance committed after this one's snapshot was taken: catch up and retry.
    #[error("another instance committed first")]
    Behind,
    /// Changes this instance has not applied were pruned from the feed: load whole.
    #[error("the change feed was pruned past this instance's last change")]
    Pruned,
    #[error("the store has stopped")]
    Stopped,
    #[error("the stored secret {0} is not 32 bytes")]
    BadSecret(String),
    #[error("stored {kind} {id} is not valid JSON: {source}")]
    Corrupt {
        kind: &'static str,
        id: String,
        #[source]
        source: serde_json::Error,
    },
}

/// A directory store.
pub trait Store: Send + Sync {
    /// Every object, for building the snapshot at start.
    fn load(&self) -> Result<Vec<Row>, StoreError>;
    /// Commit the writes in one transaction; durable when this returns.
    fn commit(&self, writes: &[Write]) -> Result<(), StoreError>;
    /// The 32-byte secret called `name`, drawn at random the first time any instance on
    /// this database asks for it, the same one for every instance after that.
    fn secret(&self, name: &str) -> Result<[u8; 32], StoreError>;
    /// What other instances committed since this one last caught up (or loaded), oldest
    /// first; the caller applies it at once. A store only this process writes has none.
    fn catch_up(&self) -> Result<Vec<Write>, StoreError> {
        Ok(Vec::new())
    }
    /// Drop change-feed rows no instance should still need (see `ChangeRetention`); how
    /// many went. A store without a feed has none.
    fn prune_changes(&self, _keep: &ChangeRetention) -> Result<u64, StoreError> {
        Ok(0)
    }
    /// Claim a task done once per database (the demo seed): true for the first caller only.
    /// A store only this process writes needs no claim.
    fn claim_once(&self, _name: &str) -> Result<bool, StoreError> {
        Ok(true)
    }
}

/// `[store]` in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// The SQLite database file (created with its folder at first start). With `url`, its
    /// folder still holds this instance's own files (call records, compiled workflows).
    pub path: PathBuf,
    /// A PostgreSQL store shared by several instances, `postgres://user@host:port/db`.
    pub url: Option<String>,
    /// How much of the shared store's change feed is kept.
    pub changes: ChangeRetention,
    /// The name this instance gives what it writes (call records, change rows); unique
    /// among the instances sharing a store. Empty: the host name and SIP port.
    pub instance: String,
}

impl StoreConfig {
    /// `instance`, or when empty the host name and the SIP port (`edge-1:5060`), which
    /// tells apart two instances on one host as well as two hosts.
    pub fn instance_name(&self, sip: Option<std::net::SocketAddr>) -> String {
        if !self.instance.trim().is_empty() {
            return self.instance.trim().to_owned();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let host = match host.trim() {
            "" => "switchboard",
            host => host,
        };
        match sip {
            Some(addr) => format!("{host}:{}", addr.port()),
            None => host.to_owned(),
        }
    }
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            path: PathBuf::from("./data/switchboard.db"),
            url: None,
            instance: String::new(),
            changes: ChangeRetention::default(),
        }
    }
}

/// `[store.changes]`: a change is pruned once it is both older than `minutes` and not among
/// the newest `rows`. An instance away for longer than that (its feed down, or stopped)
/// finds its last change pruned and loads the directory whole instead of row by row.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChangeRetention {
    pub minutes: u64,
    pub rows: u64,
}

impl Default for ChangeRetention {
    fn default() -> ChangeRetention {
        ChangeRetention {
            minutes: 60,
            rows: 1000,
        }
    }
}
