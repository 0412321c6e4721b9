//! Browser sessions, kept in the store so that every server instance (and a restarted one)
//! knows them. The cookie carries a random id; only its hash is stored.
//!
//! A session ends at its absolute expiry (`expires_at`, set at sign-in), after a time without
//! use (`last_seen_at`, refreshed at most every minute), at sign-out, and whenever its user's
//! password, roles or state change ([`end_sessions_of`]).

use countersign_core::audit::AuditAction;
use countersign_core::timestamp;
use countersign_core::user::User;
use sqlx::Row;
use sqlx::{Any, Transaction};
use time::OffsetDateTime;

use crate::audit::{NewEvent, append};
use crate::users::{roles_column, user_with_roles};
use crate::{Store, StoreError};

/// A live session: whose it is and the CSRF token its forms must carry.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub csrf_token: String,
    pub expires_at: OffsetDateTime,
    /// How many requests wait for the user's review, at most [`crate::WAITING_COUNT_CAP`]
    /// (every page's navigation shows it), read with the session: no query of its own.
    pub waiting_for_review: i64,
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
            "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at, \
             last_seen_at) VALUES ($1, $2, $3, $4, $5, $4)",
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

    /// The session with this id hash, if it has not expired, was used within `idle`, and its
    /// user is still enabled. Using it keeps it alive: its last use is recorded (at most about
    /// once a minute, so that reading pages does not mean writing the store each time).
    pub async fn session(
        &self,
        id_hash: &str,
        idle: std::time::Duration,
    ) -> Result<Option<Session>, StoreError> {
        let now = timestamp::now();
        let idle_since = now - idle;
        let mut conn = self.pool.acquire().await?;
        let select = format!(
            "SELECT u.id, u.name, u.disabled_at, s.csrf_token, s.expires_at, s.last_seen_at, \
             {roles}, {waiting} FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3 \
             AND u.disabled_at IS NULL",
            roles = roles_column(self.backend),
            waiting = crate::waiting::waiting_column(),
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(select))
            .bind(id_hash)
            .bind(timestamp::format(now))
            .bind(timestamp::format(idle_since))
            .fetch_optional(&mut *conn)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let expires_at: String = row.try_get("expires_at")?;
        let last_seen: String = row.try_get("last_seen_at")?;
        let refresh_every = (idle / 2).min(std::time::Duration::from_secs(60));
        if last_seen < timestamp::format(now - refresh_every) {
            sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1")
                .bind(id_hash)
                .bind(timestamp::format(now))
                .execute(&mut *conn)
                .await?;
        }
        Ok(Some(Session {
            user: user_with_roles(&row)?,
            csrf_token: row.try_get("csrf_token")?,
            waiting_for_review: row.try_get("waiting")?,
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

/// Ends every session of the user with id `user_id`, inside a change to that user.
pub(crate) async fn end_sessions_of(
    tx: &mut Transaction<'static, Any>,
    user_id: i64,
) -> Result<u64, StoreError> {
    Ok(sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?
        .rows_affected())
}
