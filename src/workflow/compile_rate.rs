//! Compiles per org (uploads, dry runs of new modules): the sandbox's compiler is the
//! costly part of a workflow, so each org may start only so many per minute. Kept here,
//! beside the compiler, because it reads the clock (routing reads none).

use std::time::Instant;

use dashmap::DashMap;

use super::WorkflowError;

/// Compiles per org: a bucket of `per_minute` tokens per org, refilled continuously. Only
/// compiles count (a module already loaded costs nothing).
pub struct CompileRate {
    per_minute: u32,
    buckets: DashMap<String, (f64, Instant)>,
}

impl CompileRate {
    pub fn new(per_minute: u32) -> CompileRate {
        CompileRate {
            per_minute,
            buckets: DashMap::new(),
        }
    }

    /// Takes a token of `org`'s, or says how long until the next one.
    pub fn admit(&self, org: &str) -> Result<(), WorkflowError> {
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let now = Instant::now();
        let mut bucket = self.buckets.entry(org.to_owned()).or_insert((capacity, now));
        let (tokens, since) = *bucket;
        let tokens = (tokens + now.duration_since(since).as_secs_f64() * per_second).min(capacity);
        if tokens >= 1.0 {
            *bucket = (tokens - 1.0, now);
            return Ok(());
        }
        *bucket = (tokens, now);
        Err(WorkflowError::CompileRate {
            limit: self.per_minute,
            retry_after_secs: ((1.0 - tokens) / per_second).ceil() as u64,
        })
    }
}
