//! Call records: every call, answered or not, leaves one record (who called whom, which
//! route and agent, the final status and why, when it rang, was answered and ended, and
//! who hung up), written to the store off the call path and read by `GET /core/calls`.
//!
//! `recorder.rs` folds the B2BUA's call events into records (cheap, under the call lock);
//! `writer.rs` attributes and batches them into the store on its own thread and prunes by
//! age and count; `record.rs` is the record itself. The table lives in `store::CallLog`.

mod record;
mod recorder;
mod writer;

pub use record::{rfc3339_ms, CallRecord};
pub use recorder::Recorder;

use serde::Deserialize;

/// `[call_records]` in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallRecordsConfig {
    pub enabled: bool,
    /// Records older than this are deleted (days).
    pub retention_days: u64,
    /// At most this many records are kept; the oldest go first.
    pub max_records: usize,
    /// Finished calls are written in batches at least this often (milliseconds).
    pub flush_ms: u64,
    /// Records waiting for the writer; past this, new ones are dropped and counted.
    pub queue: usize,
}

impl Default for CallRecordsConfig {
    fn default() -> CallRecordsConfig {
        CallRecordsConfig {
            enabled: true,
            retention_days: 30,
            max_records: 5_000_000,
            flush_ms: 200,
            queue: 100_000,
        }
    }
}
