//! Users' email addresses (design §12): set, cleared and read beside the users table, for
//! the outbox's audience.

use std::collections::BTreeMap;

use sqlx::Row;

use crate::{Store, StoreError};

impl Store {
    /// Sets (or, with `None`, clears) `name`'s email address (already validated).
    pub async fn set_email(&self, name: &str, email: Option<&str>) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE users SET email = $1 WHERE name = $2")
            .bind(email)
            .bind(name)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("user {name:?}")));
        }
        Ok(())
    }

    /// Every user's address, by user name (users without one are left out).
    pub async fn emails(&self) -> Result<BTreeMap<String, String>, StoreError> {
        let rows = sqlx::query("SELECT name, email FROM users WHERE email IS NOT NULL")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("name")?, r.try_get("email")?)))
            .collect()
    }
}
