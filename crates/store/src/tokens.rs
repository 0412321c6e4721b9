//! API tokens: only their SHA-256 hashes are stored; the token itself is shown once, at creation.

use countersign_core::audit::AuditAction;
use countersign_core::timestamp;
use countersign_core::user::User;

use crate::audit::{NewEvent, append};
use crate::users::user_from_row;
use crate::{Store, StoreError};

impl Store {
    /// Stores the hash of a new token for `user`.
    pub async fn create_token(
        &self,
        user: &User,
        token_hash: &str,
        actor: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("INSERT INTO api_tokens (user_id, token_hash, created_at) VALUES ($1, $2, $3)")
            .bind(user.id)
            .bind(token_hash)
            .bind(timestamp::format(timestamp::now()))
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::unique(e, || "a token with this hash".to_owned()))?;
        let details = serde_json::json!({ "user": user.name });
        append(
            &mut tx,
            NewEvent::new(actor, AuditAction::TokenCreated, details),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The enabled user holding the token with this hash, if any.
    pub async fn user_by_token_hash(&self, token_hash: &str) -> Result<Option<User>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let row = sqlx::query(
            "SELECT u.id, u.name, u.disabled_at FROM api_tokens t \
             JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND u.disabled_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&mut *conn)
        .await?;
        match row {
            Some(row) => Ok(Some(user_from_row(&mut conn, &row).await?)),
            None => Ok(None),
        }
    }
}
