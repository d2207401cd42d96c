//! Persistence of the directory. The store is written before any change is acknowledged
//! and read whole at start; the hot path never touches it (it reads the snapshot).
//! Behind a trait: the embedded SQLite store (the default, one instance per data directory)
//! or PostgreSQL shared by several instances, each following the others' commits.

mod artifacts;
mod call_log;
mod data_lock;
mod dialog_journal;
mod postgres;
mod private;
mod sqlite;

use std::path::PathBuf;

use serde::Deserialize;

pub use artifacts::Artifacts;
pub use call_log::{record_id, record_key, CallLog, CallQuery, CallRow, SEQUENCE_BITS};
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
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            path: PathBuf::from("./data/switchboard.db"),
            url: None,
        }
    }
}
