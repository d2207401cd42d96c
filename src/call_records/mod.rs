//! Call records: every call, answered or not, leaves one record (who called whom, which
//! route and agent, the final status and why, when it rang, was answered and ended, and
//! who hung up), written to the store off the call path and read by `GET /core/calls`.
//!
//! `recorder.rs` copies each ended call's facts into a shared buffer (cheap, under the call
//! lock, no allocation); `wire.rs` is that buffer's format; `writer.rs` takes the buffer at
//! each flush and writes the calls to the store on its own thread, and prunes by age and
//! count; `attribution.rs` finds the org and trunk of a call refused before routing;
//! `log_line.rs` is each ended call's INFO log line; `record.rs` is the record as the API
//! shows it. The table lives in `store::CallLog`.

mod attribution;
mod log_line;
mod record;
mod recorder;
mod wire;
mod writer;

pub use log_line::masked;
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
