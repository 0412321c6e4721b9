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
use crate::list_cache::{STORE_VERSION_COLUMN, StoreVersion};
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
    /// Where the whole store stood when the session was read: the request lists kept in
    /// memory are answered at it ([`Store::list_requests_at`]).
    pub store_version: StoreVersion,
}

/// Where a request's page stands: the last audit event about it and the newest request that
/// reverts it. Every write that changes what the request page shows appends an event about the
/// request in the same transaction (events commit in `seq` order), but for a revert made of it,
/// which is an event of the new request; so the page's data read after this value is current
/// for as long as the value stays the same (the server keeps it cached against this).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RequestVersion {
    last_event: i64,
    last_revert: i64,
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
        Ok(self
            .session_reading(id_hash, idle, None)
            .await?
            .map(|(session, _)| session))
    }

    /// [`Store::session`], with the [`RequestVersion`] of request `request_id` read in the same
    /// query (a request page checks its cached data against it without a query of its own).
    pub async fn session_at_request(
        &self,
        id_hash: &str,
        idle: std::time::Duration,
        request_id: i64,
    ) -> Result<Option<(Session, RequestVersion)>, StoreError> {
        Ok(self
            .session_reading(id_hash, idle, Some(request_id))
            .await?
            .map(|(session, version)| (session, version.unwrap_or_default())))
    }

    async fn session_reading(
        &self,
        id_hash: &str,
        idle: std::time::Duration,
        request_id: Option<i64>,
    ) -> Result<Option<(Session, Option<RequestVersion>)>, StoreError> {
        let now = timestamp::now();
        let idle_since = now - idle;
        let mut conn = self.pool.acquire().await?;
        let version_sql = match request_id {
            Some(_) => version_columns(4),
            None => String::new(),
        };
        let select = format!(
            "SELECT u.id, u.name, u.disabled_at, s.csrf_token, s.expires_at, s.last_seen_at, \
             {roles}, {waiting}, {STORE_VERSION_COLUMN}{version_sql} \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3 \
             AND u.disabled_at IS NULL",
            roles = roles_column(self.backend),
            waiting = crate::waiting::waiting_column(),
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(select))
            .bind(id_hash)
            .bind(timestamp::format(now))
            .bind(timestamp::format(idle_since));
        if let Some(id) = request_id {
            query = query.bind(id);
        }
        let row = query.fetch_optional(&mut *conn).await?;
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
        let version = match request_id {
            Some(_) => Some(RequestVersion {
                last_event: row.try_get("last_event")?,
                last_revert: row.try_get("last_revert")?,
            }),
            None => None,
        };
        let session = Session {
            user: user_with_roles(&row)?,
            csrf_token: row.try_get("csrf_token")?,
            waiting_for_review: row.try_get("waiting")?,
            store_version: StoreVersion(row.try_get("store_version")?),
            expires_at: timestamp::parse(&expires_at)
                .map_err(|_| StoreError::Corrupt(format!("session expiry {expires_at:?}")))?,
        };
        Ok(Some((session, version)))
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

/// The [`RequestVersion`] of the request whose id is bound as `$n`, as two columns to add to a
/// query: one index probe each (`audit_events (request_id, seq)`, the partial index of
/// `requests.reverts`).
fn version_columns(n: usize) -> String {
    format!(
        ", COALESCE((SELECT max(seq) FROM audit_events WHERE request_id = ${n}), 0) \
         AS last_event, \
         COALESCE((SELECT max(id) FROM requests WHERE reverts = ${n}), 0) AS last_revert"
    )
}

impl Store {
    /// The plan of the [`RequestVersion`]'s columns — on PostgreSQL the generic one, as the
    /// session's prepared statement ends up with — one line a step: for the test that it
    /// walks an index whichever request is asked.
    #[cfg(feature = "testing")]
    pub async fn request_version_plan(&self) -> Result<Vec<String>, StoreError> {
        let select = format!("SELECT 1 AS one{}", version_columns(1));
        crate::select::generic_plan(
            &self.pool,
            self.backend,
            &select,
            &[crate::select::Value::Int(1)],
        )
        .await
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
