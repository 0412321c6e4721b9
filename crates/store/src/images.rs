//! The images of the rows a run changed (design §11), one a row, as JSON: stored `pending`
//! before the target commits, kept or removed once the run's outcome is known (in the same
//! transaction as its result), read in order for a revert and the images API, and pruned
//! after the retention with an `undo.pruned` event.

use countersign_core::audit::AuditAction;
use countersign_core::timestamp;
use serde_json::json;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use crate::audit::{NewEvent, append};
use crate::{Store, StoreError};

/// Rows a single `INSERT` of images writes (4 parameters each).
const ROWS_PER_INSERT: usize = 250;

impl Store {
    /// Stores the images (JSON, in capture order) of request `id`'s run, pending: written
    /// before the target commits, so that a crash between the two leaves them for the
    /// reconciliation to keep or remove. `images` is read a chunk at a time, so a caller that
    /// makes each image's JSON as it is asked for never holds them all as text.
    pub async fn store_pending_images(
        &self,
        id: i64,
        images: impl IntoIterator<Item = String>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM undo_images WHERE request_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let mut seq: i64 = 0;
        let mut images = images.into_iter().peekable();
        while images.peek().is_some() {
            let chunk: Vec<String> = images.by_ref().take(ROWS_PER_INSERT).collect();
            let mut sql =
                String::from("INSERT INTO undo_images (request_id, seq, image, pending) VALUES ");
            for i in 0..chunk.len() {
                let p = i * 4;
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("(${}, ${}, ${}, ${})", p + 1, p + 2, p + 3, p + 4));
            }
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for image in &chunk {
                seq += 1;
                query = query.bind(id).bind(seq).bind(image.as_str()).bind(true);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// How many images request `id`'s run left pending (written before a commit whose outcome
    /// is not yet recorded).
    pub async fn pending_images(&self, id: i64) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM undo_images WHERE request_id = $1 AND pending = $2",
        )
        .bind(id)
        .bind(true)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Up to `limit` kept images of request `id`'s run after position `after` (0: from the
    /// first), in capture order: `(position, JSON)`.
    pub async fn images(
        &self,
        id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, image FROM undo_images WHERE request_id = $1 AND pending = $2 \
             AND seq > $3 ORDER BY seq LIMIT $4",
        )
        .bind(id)
        .bind(false)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("seq")?, row.try_get("image")?)))
            .collect()
    }

    /// Removes the images of every run on `target` that finished before `cutoff`, marks their
    /// undo unavailable with `reason`, and appends `undo.pruned` for each (actor: the system).
    /// Returns the requests pruned.
    pub async fn prune_images(
        &self,
        target: &str,
        cutoff: OffsetDateTime,
        reason: &str,
    ) -> Result<Vec<i64>, StoreError> {
        let due: Vec<i64> = sqlx::query_scalar(
            "SELECT e.request_id FROM executions e JOIN requests r ON r.id = e.request_id \
             WHERE r.target = $1 AND e.finished_at < $2 \
             AND EXISTS (SELECT 1 FROM undo_images i WHERE i.request_id = e.request_id) \
             ORDER BY e.request_id",
        )
        .bind(target)
        .bind(timestamp::format(cutoff))
        .fetch_all(&self.pool)
        .await?;
        let mut pruned = Vec::with_capacity(due.len());
        for id in due {
            let mut tx = self.write_tx().await?;
            let removed = sqlx::query("DELETE FROM undo_images WHERE request_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if removed == 0 {
                // Another instance pruned it first.
                continue;
            }
            let undo = json!({ "available": false, "rows": 0, "reason": reason });
            sqlx::query("UPDATE executions SET undo = $1 WHERE request_id = $2")
                .bind(undo.to_string())
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let revision: i64 =
                sqlx::query_scalar("SELECT revision FROM executions WHERE request_id = $1")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
            let details = json!({ "rows": removed, "reason": reason });
            append(
                &mut tx,
                NewEvent::new(None, AuditAction::UndoPruned, details).on_request(id, revision),
            )
            .await?;
            tx.commit().await?;
            pruned.push(id);
        }
        Ok(pruned)
    }
}

/// Keeps (`keep`) or removes the images of request `id`'s run, inside the transaction that
/// records its outcome.
pub(crate) async fn settle_images(
    conn: &mut AnyConnection,
    id: i64,
    keep: bool,
) -> Result<(), StoreError> {
    if keep {
        sqlx::query("UPDATE undo_images SET pending = $1 WHERE request_id = $2")
            .bind(false)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    } else {
        sqlx::query("DELETE FROM undo_images WHERE request_id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
