//! The discussion of a request (design §12): comments, oldest first, each added in one
//! transaction with its `comment.added` audit event (and so with its notifications).

use countersign_core::audit::AuditAction;
use countersign_core::timestamp;
use countersign_core::user::User;
use serde_json::json;
use sqlx::Row;
use time::OffsetDateTime;

use crate::audit::{NewEvent, append};
use crate::columns::time_col;
use crate::{Store, StoreError};

/// One comment of a request's discussion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentRecord {
    pub id: i64,
    pub author: String,
    pub at: OffsetDateTime,
    pub text: String,
}

impl Store {
    /// Adds `author`'s comment `text` (already validated) to request `id`.
    pub async fn add_comment(
        &self,
        id: i64,
        author: &User,
        text: &str,
    ) -> Result<CommentRecord, StoreError> {
        let at = timestamp::now();
        let mut tx = self.write_tx().await?;
        let revision: i64 = sqlx::query("SELECT revision FROM requests WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("request #{id}")))?
            .try_get("revision")?;
        let comment_id: i64 = sqlx::query(
            "INSERT INTO comments (request_id, author_id, text, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(id)
        .bind(author.id)
        .bind(text)
        .bind(timestamp::format(at))
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        append(
            &mut tx,
            NewEvent::new(
                Some(&author.name),
                AuditAction::CommentAdded,
                json!({ "comment_id": comment_id, "text": text }),
            )
            .on_request(id, revision),
        )
        .await?;
        tx.commit().await?;
        Ok(CommentRecord {
            id: comment_id,
            author: author.name.clone(),
            at,
            text: text.to_owned(),
        })
    }

    /// The discussion of request `id`, oldest first.
    pub async fn comments(&self, id: i64) -> Result<Vec<CommentRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.id, u.name, c.created_at, c.text FROM comments c \
             JOIN users u ON u.id = c.author_id WHERE c.request_id = $1 ORDER BY c.id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(CommentRecord {
                    id: row.try_get("id")?,
                    author: row.try_get("name")?,
                    at: time_col(row, "created_at")?,
                    text: row.try_get("text")?,
                })
            })
            .collect()
    }
}
