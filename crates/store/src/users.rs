//! Users, their roles and their password hashes (hashing itself is the server's business).

use countersign_core::audit::AuditAction;
use countersign_core::timestamp;
use countersign_core::user::{Role, User};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Row, Transaction};

use crate::audit::{NewEvent, append};
use crate::sessions::end_sessions_of;
use crate::{Backend, Store, StoreError};

/// What sign-in needs: the user and the stored password hash, if the user has a password.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: Option<String>,
}

impl Store {
    /// Creates a user with `roles` and an optional password hash; `actor` is who did it
    /// (`None`: the system, e.g. the command line).
    pub async fn create_user(
        &self,
        name: &str,
        roles: &[Role],
        password_hash: Option<&str>,
        actor: Option<&str>,
    ) -> Result<User, StoreError> {
        let mut tx = self.write_tx().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO users (name, password_hash, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(name)
        .bind(password_hash)
        .bind(timestamp::format(timestamp::now()))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| StoreError::unique(e, || format!("user {name:?}")))?
        .try_get("id")?;
        let mut roles = roles.to_vec();
        roles.sort();
        roles.dedup();
        for role in &roles {
            sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
                .bind(id)
                .bind(role.as_str())
                .execute(&mut *tx)
                .await?;
        }
        let details = serde_json::json!({ "user": name, "roles": roles, "password": password_hash.is_some() });
        append(
            &mut tx,
            NewEvent::new(actor, AuditAction::UserCreated, details),
        )
        .await?;
        tx.commit().await?;
        Ok(User {
            id,
            name: name.to_owned(),
            roles,
            disabled: false,
        })
    }

    /// The user called `name`, disabled or not.
    pub async fn user_by_name(&self, name: &str) -> Result<Option<User>, StoreError> {
        Ok(self.credentials(name).await?.map(|c| c.user))
    }

    /// The users with these names that exist (in no particular order).
    pub async fn users_by_names(&self, names: &[String]) -> Result<Vec<User>, StoreError> {
        let mut users = Vec::with_capacity(names.len());
        for name in names {
            if let Some(user) = self.user_by_name(name).await? {
                users.push(user);
            }
        }
        Ok(users)
    }

    /// The user called `name` with the stored password hash, for sign-in.
    pub async fn credentials(&self, name: &str) -> Result<Option<Credentials>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let row =
            sqlx::query("SELECT id, name, disabled_at, password_hash FROM users WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *conn)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let user = user_from_row(&mut conn, &row).await?;
        Ok(Some(Credentials {
            user,
            password_hash: row.try_get("password_hash")?,
        }))
    }

    /// Every user, by name.
    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let rows = sqlx::query("SELECT id, name, disabled_at FROM users ORDER BY name")
            .fetch_all(&mut *conn)
            .await?;
        let mut users = Vec::with_capacity(rows.len());
        for row in &rows {
            users.push(user_from_row(&mut conn, row).await?);
        }
        Ok(users)
    }

    /// Replaces the password hash of `name` and ends every session of theirs.
    pub async fn set_password_hash(
        &self,
        name: &str,
        hash: &str,
        actor: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query("UPDATE users SET password_hash = $1 WHERE name = $2 RETURNING id")
            .bind(hash)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("user {name:?}")))?;
        ended_sessions(
            tx,
            row.try_get("id")?,
            name,
            actor,
            AuditAction::UserPasswordChanged,
        )
        .await
    }

    /// Enables `name` again: they can sign in, and their tokens work again. Returns whether
    /// the user was disabled (enabling an active user changes nothing and records nothing).
    pub async fn enable_user(&self, name: &str, actor: Option<&str>) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let known = sqlx::query("SELECT disabled_at FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("user {name:?}")))?;
        let disabled: Option<String> = known.try_get("disabled_at")?;
        if disabled.is_none() {
            return Ok(false);
        }
        sqlx::query("UPDATE users SET disabled_at = NULL WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        let details = serde_json::json!({ "user": name });
        append(
            &mut tx,
            NewEvent::new(actor, AuditAction::UserEnabled, details),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Disables `name` and ends every session of theirs; their tokens stop working too.
    pub async fn disable_user(&self, name: &str, actor: Option<&str>) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(
            "UPDATE users SET disabled_at = COALESCE(disabled_at, $1) WHERE name = $2 RETURNING id",
        )
        .bind(timestamp::format(timestamp::now()))
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("user {name:?}")))?;
        ended_sessions(
            tx,
            row.try_get("id")?,
            name,
            actor,
            AuditAction::UserDisabled,
        )
        .await
    }
}

impl Store {
    /// Gives `name` the roles in `add` and takes away those in `remove`, then ends every
    /// session of theirs (a session must not outlive the rights it was opened with). Returns
    /// the user as they now are.
    pub async fn change_roles(
        &self,
        name: &str,
        add: &[Role],
        remove: &[Role],
        actor: Option<&str>,
    ) -> Result<User, StoreError> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query("UPDATE users SET name = name WHERE name = $1 RETURNING id")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("user {name:?}")))?;
        let id: i64 = row.try_get("id")?;
        for role in remove {
            sqlx::query("DELETE FROM user_roles WHERE user_id = $1 AND role = $2")
                .bind(id)
                .bind(role.as_str())
                .execute(&mut *tx)
                .await?;
        }
        for role in add {
            sqlx::query(
                "INSERT INTO user_roles (user_id, role) VALUES ($1, $2) \
                 ON CONFLICT (user_id, role) DO NOTHING",
            )
            .bind(id)
            .bind(role.as_str())
            .execute(&mut *tx)
            .await?;
        }
        let ended = end_sessions_of(&mut tx, id).await?;
        let row = sqlx::query("SELECT id, name, disabled_at FROM users WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let user = user_from_row(&mut tx, &row).await?;
        let details = serde_json::json!({
            "user": name,
            "added": add,
            "removed": remove,
            "roles": user.roles,
            "sessions_ended": ended,
        });
        append(
            &mut tx,
            NewEvent::new(actor, AuditAction::UserRolesChanged, details),
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }
}

/// The select-list item that reads a user's roles (of the user aliased `u`) in the same query,
/// as one comma-separated text column `roles`: an authenticated call then costs one query.
pub(crate) fn roles_column(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "(SELECT group_concat(role, ',') FROM user_roles WHERE user_id = u.id) AS roles"
        }
        Backend::Postgres => {
            "(SELECT string_agg(role, ',') FROM user_roles WHERE user_id = u.id) AS roles"
        }
    }
}

/// Builds a [`User`] from a row with `id`, `name`, `disabled_at` and [`roles_column`].
pub(crate) fn user_with_roles(row: &AnyRow) -> Result<User, StoreError> {
    let listed: Option<String> = row.try_get("roles")?;
    user_from(row, listed.iter().flat_map(|l| l.split(',')))
}

/// Builds a [`User`] from a row with `id`, `name` and `disabled_at`, loading its roles.
pub(crate) async fn user_from_row(
    conn: &mut AnyConnection,
    row: &AnyRow,
) -> Result<User, StoreError> {
    let id: i64 = row.try_get("id")?;
    let names: Vec<String> =
        sqlx::query_scalar("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    user_from(row, names.iter().map(String::as_str))
}

/// A [`User`] from a row with `id`, `name` and `disabled_at`, and the names of its roles.
fn user_from<'a>(
    row: &AnyRow,
    role_names: impl Iterator<Item = &'a str>,
) -> Result<User, StoreError> {
    let disabled_at: Option<String> = row.try_get("disabled_at")?;
    let mut roles = Vec::new();
    for name in role_names {
        roles.push(
            name.parse()
                .map_err(|_| StoreError::Corrupt(format!("role {name:?}")))?,
        );
    }
    roles.sort();
    Ok(User {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        roles,
        disabled: disabled_at.is_some(),
    })
}

/// Ends every session of user `id` (named `name`), records `action` by `actor` with how many
/// ended, and commits: how a change to a user's password or standing finishes.
async fn ended_sessions(
    mut tx: Transaction<'static, Any>,
    id: i64,
    name: &str,
    actor: Option<&str>,
    action: AuditAction,
) -> Result<(), StoreError> {
    let ended = end_sessions_of(&mut tx, id).await?;
    let details = serde_json::json!({ "user": name, "sessions_ended": ended });
    append(&mut tx, NewEvent::new(actor, action, details)).await?;
    tx.commit().await?;
    Ok(())
}

/// Users' ids by name, once read: a user is never renamed or removed, so an id found for a name
/// stays right (a name not found is not kept: that user may be added later). At most
/// [`KnownIds::MAX`] names; past that it starts again empty.
#[derive(Debug, Default)]
pub(crate) struct KnownIds(std::sync::Mutex<std::collections::HashMap<String, i64>>);

impl KnownIds {
    const MAX: usize = 10_000;

    pub(crate) fn get(&self, name: &str) -> Option<i64> {
        self.0.lock().ok()?.get(name).copied()
    }

    pub(crate) fn insert(&self, name: &str, id: i64) {
        if let Ok(mut ids) = self.0.lock() {
            if ids.len() >= Self::MAX {
                ids.clear();
            }
            ids.insert(name.to_owned(), id);
        }
    }
}
