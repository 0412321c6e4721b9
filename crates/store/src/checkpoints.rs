//! Signed checkpoints of the audit chain, kept beside it. The store only keeps them: signing
//! and checking signatures is the server's (`countersign_server::anchor`).

use countersign_core::timestamp;
use sqlx::Row;

use crate::{Store, StoreError};

/// A stored checkpoint: event `seq` had hash `hash`, as signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRecord {
    pub seq: i64,
    pub hash: String,
    pub public_key: String,
    pub signature: String,
}

impl Store {
    /// Keeps a checkpoint signed at `at`; one for a `seq` already checkpointed is ignored.
    /// Returns whether this one was kept (so that only one instance sends it on).
    pub async fn record_checkpoint(
        &self,
        c: &CheckpointRecord,
        at: time::OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO audit_checkpoints (seq, hash, at, public_key, signature) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING",
        )
        .bind(c.seq)
        .bind(&c.hash)
        .bind(timestamp::format(at))
        .bind(&c.public_key)
        .bind(&c.signature)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every checkpoint, by `seq`.
    pub async fn checkpoints(&self) -> Result<Vec<CheckpointRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, hash, public_key, signature FROM audit_checkpoints ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CheckpointRecord {
                    seq: r.try_get("seq")?,
                    hash: r.try_get("hash")?,
                    public_key: r.try_get("public_key")?,
                    signature: r.try_get("signature")?,
                })
            })
            .collect()
    }

    /// The `seq` of the last checkpoint (0 when there is none).
    pub async fn last_checkpoint_seq(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT MAX(seq) AS seq FROM audit_checkpoints")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<Option<i64>, _>("seq")?.unwrap_or(0))
    }
}
