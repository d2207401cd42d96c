//! Compiled workflows kept in memory by the SHA-256 of their source, and compiled artifacts
//! written out and loaded back without recompiling.
//!
//! Loading an artifact is `unsafe Module::deserialize`: the bytes are machine code that will
//! run as-is, with no validation. So an artifact is loaded only if its SHA-256 equals the
//! hash recorded when it was written (`deserialize_checked`). That catches a truncated or
//! corrupted blob, and a blob swapped or edited where artifacts are stored, as long as the
//! recorded hash sits somewhere the writer of artifacts cannot also change it. Anything
//! else (a different wasmtime, a different engine config) wasmtime itself refuses, and the
//! caller recompiles from source.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use wasmtime::Module;

use super::{sha256, Engine, Workflow, WorkflowError};

impl Engine {
    /// What an artifact of this engine is compatible with, as 32 bytes: wasmtime's own
    /// compatibility hash (target, CPU features, compiler settings) and this release. Two
    /// engines with one fingerprint load each other's artifacts; artifacts on a shared
    /// store are kept by it.
    pub fn fingerprint(&self) -> [u8; 32] {
        use std::hash::Hash;
        let mut bytes = Fingerprint(sha2::Sha256::default());
        self.wasmtime().precompile_compatibility_hash().hash(&mut bytes);
        env!("CARGO_PKG_VERSION").hash(&mut bytes);
        sha2::Digest::finalize(bytes.0).into()
    }

    /// The compiled artifact of `workflow`, to store next to its SHA-256 (`sha256`).
    pub fn serialize(&self, workflow: &Workflow) -> Result<Vec<u8>, WorkflowError> {
        workflow
            .0
            .module
            .serialize()
            .map_err(|err| WorkflowError::Serialize(WorkflowError::cause(err)))
    }

    /// Loads an artifact written by `serialize`, if and only if its SHA-256 is
    /// `artifact_sha256`, the hash recorded when it was written. `source_hash` is the
    /// workflow's identity (`Workflow::hash`) as recorded with it.
    pub fn deserialize_checked(
        &self,
        source_hash: [u8; 32],
        artifact: &[u8],
        artifact_sha256: [u8; 32],
    ) -> Result<Workflow, WorkflowError> {
        if sha256(artifact) != artifact_sha256 {
            return Err(WorkflowError::ArtifactHashMismatch);
        }
        // SAFETY: `Module::deserialize` trusts its bytes to be an artifact that
        // `Module::serialize` produced. These bytes hash to the SHA-256 recorded when such an
        // artifact was written (see the module docs), so they are that artifact, unaltered.
        // wasmtime still checks that it was compiled by this version and configuration.
        let module = unsafe { Module::deserialize(self.wasmtime(), artifact) }
            .map_err(|err| WorkflowError::Deserialize(WorkflowError::cause(err)))?;
        self.prepare(source_hash, module)
    }
}

/// A `Hasher` that feeds SHA-256: what `Hash` writes, kept whole, not folded to 64 bits.
struct Fingerprint(sha2::Sha256);

impl std::hash::Hasher for Fingerprint {
    fn write(&mut self, bytes: &[u8]) {
        sha2::Digest::update(&mut self.0, bytes);
    }

    fn finish(&self) -> u64 {
        let digest = sha2::Digest::finalize(self.0.clone());
        u64::from_le_bytes(digest[..8].try_into().unwrap_or_default())
    }
}

/// Compiled workflows by source hash: each distinct module is compiled once per process,
/// however many orgs or versions use it. Entries stay until `remove`d.
#[derive(Debug)]
pub struct WorkflowCache {
    engine: Engine,
    compiled: Mutex<HashMap<[u8; 32], Workflow>>,
}

impl WorkflowCache {
    pub fn new(engine: Engine) -> WorkflowCache {
        WorkflowCache {
            engine,
            compiled: Mutex::new(HashMap::new()),
        }
    }

    /// The compiled workflow of `source`, compiling it on first sight. Compiling happens
    /// outside the lock; two first sights at once compile twice and keep one.
    pub fn get_or_compile(&self, source: &[u8]) -> Result<Workflow, WorkflowError> {
        let hash = sha256(source);
        if let Some(workflow) = self.get(&hash) {
            return Ok(workflow);
        }
        let workflow = self.engine.compile(source)?;
        Ok(self.map().entry(hash).or_insert(workflow).clone())
    }

    pub fn get(&self, source_hash: &[u8; 32]) -> Option<Workflow> {
        self.map().get(source_hash).cloned()
    }

    /// Adds a workflow compiled elsewhere (e.g. loaded with `deserialize_checked`).
    pub fn insert(&self, workflow: Workflow) {
        self.map().insert(workflow.hash(), workflow);
    }

    pub fn remove(&self, source_hash: &[u8; 32]) -> Option<Workflow> {
        self.map().remove(source_hash)
    }

    pub fn len(&self) -> usize {
        self.map().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A panic elsewhere while holding the lock leaves the map itself intact.
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Workflow>> {
        self.compiled.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
