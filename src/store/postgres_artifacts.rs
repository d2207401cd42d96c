//! Compiled workflow artifacts in the shared PostgreSQL database, keyed by module source and
//! engine fingerprint: what one instance compiled, every instance with the same engine
//! loads instead of compiling again. Each row names the instance that compiled it.

use super::artifacts::{ArtifactKey, ArtifactStore, Stored};
use super::postgres::{pg, PgStore};
use super::StoreError;

impl ArtifactStore for PgStore {
    fn get(&self, key: &ArtifactKey) -> Result<Option<Stored>, StoreError> {
        let key = *key;
        let inner = self.inner.clone();
        self.run(async move {
            let guard = inner.records_client().await?;
            let client = guard.as_ref().ok_or(StoreError::Stopped)?;
            let row = client
                .query_opt(
                    "SELECT artifact, artifact_sha256 FROM workflow_artifacts
                     WHERE source_sha256 = $1 AND engine = $2",
                    &[&&key.source[..], &&key.engine[..]],
                )
                .await
                .map_err(pg)?;
            Ok(row.and_then(|r| {
                let hash: Vec<u8> = r.get(1);
                Some((r.get(0), hash.try_into().ok()?))
            }))
        })
    }

    fn put(&self, key: &ArtifactKey, artifact: &[u8], artifact_sha256: [u8; 32]) -> Result<(), StoreError> {
        let key = *key;
        let artifact = artifact.to_vec();
        let inner = self.inner.clone();
        self.run(async move {
            let guard = inner.records_client().await?;
            let client = guard.as_ref().ok_or(StoreError::Stopped)?;
            client
                .execute(
                    "INSERT INTO workflow_artifacts (source_sha256, engine, artifact_sha256, artifact, compiled_by)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (source_sha256, engine) DO UPDATE SET artifact_sha256 = excluded.artifact_sha256,
                         artifact = excluded.artifact, compiled_by = excluded.compiled_by, compiled_at = now()",
                    &[
                        &&key.source[..],
                        &&key.engine[..],
                        &&artifact_sha256[..],
                        &artifact,
                        &inner.instance,
                    ],
                )
                .await
                .map_err(pg)?;
            Ok(())
        })
    }
}
