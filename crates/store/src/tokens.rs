//! API tokens: only their SHA-256 hashes are stored; the token itself is shown once, at creation.
//! A token may expire; it can be revoked (the row stays, marked, so lists still show it); each
//! use is noted in `last_used_at` (at most about once a minute).

use countersign_core::audit::AuditAction;
use countersign_core::timestamp;
use countersign_core::user::User;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use crate::audit::{NewEvent, append};
use crate::list_cache::{STORE_VERSION_COLUMN, StoreVersion};
use crate::select::Select;
use crate::users::{roles_column, user_with_roles};
use crate::{Backend, Conflict, Store, StoreError};

/// A token as lists show it: never its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: i64,
    pub user: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub expires_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

impl TokenRecord {
    /// Whether the token still lets its user in (not revoked, not expired) at `now`.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

impl Store {
    /// Stores the hash of a new token for `user` that never expires.
    pub async fn create_token(
        &self,
        user: &User,
        token_hash: &str,
        actor: Option<&str>,
    ) -> Result<i64, StoreError> {
        self.create_expiring_token(user, token_hash, None, actor)
            .await
    }

    /// Stores the hash of a new token for `user`, valid until `expires_at` (`None`: no end);
    /// returns its id.
    pub async fn create_expiring_token(
        &self,
        user: &User,
        token_hash: &str,
        expires_at: Option<OffsetDateTime>,
        actor: Option<&str>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write_tx().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO api_tokens (user_id, token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(user.id)
        .bind(token_hash)
        .bind(timestamp::format(timestamp::now()))
        .bind(expires_at.map(timestamp::format))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| StoreError::unique(e, || "a token with this hash".to_owned()))?
        .try_get("id")?;
        let details = serde_json::json!({
            "user": user.name,
            "token_id": id,
            "expires_at": expires_at.map(timestamp::format),
        });
        append(
            &mut tx,
            NewEvent::new(actor, AuditAction::TokenCreated, details),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The enabled user holding the live (unrevoked, unexpired) token with this hash, if any.
    /// Notes the use.
    pub async fn user_by_token_hash(&self, token_hash: &str) -> Result<Option<User>, StoreError> {
        Ok(self
            .caller_by_token_hash(token_hash)
            .await?
            .map(|(user, _)| user))
    }

    /// [`Store::user_by_token_hash`], with the store's version read in the same query.
    pub(crate) async fn caller_by_token_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<(User, StoreVersion)>, StoreError> {
        let now = timestamp::now();
        let mut conn = self.pool.acquire().await?;
        let mut select = Select::new("");
        caller_select(&mut select, self.backend, token_hash, now);
        // A look-up by the token's unique hash: one plan serves every token.
        select.same_plan_for_any_value();
        let row = select
            .query(self.backend)
            .fetch_optional(&mut *conn)
            .await?;
        let Some(row) = row else { return Ok(None) };
        note_use(&mut conn, &row, now).await?;
        let version = StoreVersion(row.try_get("store_version")?);
        Ok(Some((user_with_roles(&row)?, version)))
    }

    /// The tokens of `user` (every user's when `None`), newest first.
    pub async fn list_tokens(&self, user: Option<&str>) -> Result<Vec<TokenRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.id, u.name, t.created_at, t.last_used_at, t.expires_at, t.revoked_at \
             FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE $1 IS NULL OR u.name = $1 ORDER BY t.id DESC",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(token_from_row).collect()
    }

    /// Revokes token `id`: it stops working at once. Revoking a revoked token is a conflict.
    pub async fn revoke_token(
        &self,
        id: i64,
        actor: Option<&str>,
    ) -> Result<TokenRecord, StoreError> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(timestamp::format(timestamp::now()))
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "SELECT t.id, u.name, t.created_at, t.last_used_at, t.expires_at, t.revoked_at \
             FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("token {id}")))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(Conflict::AlreadyRevoked(id)));
        }
        let token = token_from_row(&row)?;
        let details = serde_json::json!({ "user": token.user, "token_id": id });
        append(
            &mut tx,
            NewEvent::new(actor, AuditAction::TokenRevoked, details),
        )
        .await?;
        tx.commit().await?;
        Ok(token)
    }
}

fn token_from_row(row: &AnyRow) -> Result<TokenRecord, StoreError> {
    let time = |column: &str| -> Result<Option<OffsetDateTime>, StoreError> {
        row.try_get::<Option<String>, _>(column)?
            .map(|t| {
                timestamp::parse(&t)
                    .map_err(|_| StoreError::Corrupt(format!("token {column} {t:?}")))
            })
            .transpose()
    };
    Ok(TokenRecord {
        id: row.try_get("id")?,
        user: row.try_get("name")?,
        created_at: time("created_at")?
            .ok_or_else(|| StoreError::Corrupt("token without created_at".into()))?,
        last_used_at: time("last_used_at")?,
        expires_at: time("expires_at")?,
        revoked_at: time("revoked_at")?,
    })
}

/// The look-up of the enabled user holding the live token with hash `token_hash` at `now` (its
/// id, name, roles, the token's id and last use, and the store's version), appended to `select`: on its own, or as the
/// `caller` of a statement that answers only a caller ([`Store::list_requests_json_for_token`]).
pub(crate) fn caller_select(
    select: &mut Select,
    backend: Backend,
    token_hash: &str,
    now: OffsetDateTime,
) {
    select
        .push("SELECT u.id, u.name, u.disabled_at, t.id AS token_id, t.last_used_at, ")
        .push(roles_column(backend))
        .push(", ")
        .push(STORE_VERSION_COLUMN)
        .push(" FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ")
        .text(token_hash)
        .push(
            " AND u.disabled_at IS NULL AND t.revoked_at IS NULL \
             AND (t.expires_at IS NULL OR t.expires_at > ",
        )
        .text(timestamp::format(now))
        .push(")");
}

/// Notes a use of the token of a row of [`caller_select`] (at most about once a minute).
pub(crate) async fn note_use(
    conn: &mut AnyConnection,
    row: &AnyRow,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let last_used: Option<String> = row.try_get("last_used_at")?;
    let a_minute_ago = timestamp::format(now - time::Duration::MINUTE);
    if last_used.is_none_or(|t| t < a_minute_ago) {
        sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
            .bind(row.try_get::<i64, _>("token_id")?)
            .bind(timestamp::format(now))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
