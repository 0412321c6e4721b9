//! Browser sessions, kept in the store so that every server instance (and a restarted one)
//! knows them. The cookie carries a random id; only its hash is stored.

use countersign_core::audit::AuditAction;
use countersign_core::timestamp;
use countersign_core::user::User;
use sqlx::Row;
use time::OffsetDateTime;

use crate::audit::{NewEvent, append};
use crate::users::user_from_row;
use crate::{Store, StoreError};

/// A live session: whose it is and the CSRF token its forms must carry.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub csrf_token: String,
    pub expires_at: OffsetDateTime,
}

impl Store {
    /// Records a new session (a sign-in) for `user`, valid until `expires_at`.
    pub async fn create_session(
        &self,
        id_hash: &str,
        user: &User,
        csrf_token: &str,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let now = timestamp::now();
        let mut tx = self.write_tx().await?;
        // Housekeeping rides along with sign-in: expired sessions are of no use to anyone.
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(timestamp::format(now))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_hash)
        .bind(user.id)
        .bind(csrf_token)
        .bind(timestamp::format(now))
        .bind(timestamp::format(expires_at))
        .execute(&mut *tx)
        .await?;
        let details = serde_json::json!({ "expires_at": timestamp::format(expires_at) });
        append(
            &mut tx,
            NewEvent::new(Some(&user.name), AuditAction::UserLogin, details),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The unexpired session with this id hash, if its user is still enabled.
    pub async fn session(&self, id_hash: &str) -> Result<Option<Session>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let row = sqlx::query(
            "SELECT u.id, u.name, u.disabled_at, s.csrf_token, s.expires_at FROM sessions s \
             JOIN users u ON u.id = s.user_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL",
        )
        .bind(id_hash)
        .bind(timestamp::format(timestamp::now()))
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let expires_at: String = row.try_get("expires_at")?;
        Ok(Some(Session {
            user: user_from_row(&mut conn, &row).await?,
            csrf_token: row.try_get("csrf_token")?,
            expires_at: timestamp::parse(&expires_at)
                .map_err(|_| StoreError::Corrupt(format!("session expiry {expires_at:?}")))?,
        }))
    }

    /// Ends a session (sign-out). Ending one that does not exist is not an error.
    pub async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
