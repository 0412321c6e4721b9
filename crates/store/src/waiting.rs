//! How many requests wait for a user's review (the dashboard's title and navigation): pending
//! review, the user named on the current revision, and not yet reviewed by them on it — the
//! rows of `pending_reviews`, which the store's triggers keep to that rule (migration 0012).
//! Counted up to [`WAITING_COUNT_CAP`], so the count costs the same whatever the store holds.

use crate::{Store, StoreError};

/// The most requests [`Store::count_awaiting_review`] counts; a page shows "1000+" beyond.
pub const WAITING_COUNT_CAP: i64 = 1000;

impl Store {
    /// The number of requests waiting for `user`'s review, at most [`WAITING_COUNT_CAP`].
    pub async fn count_awaiting_review(&self, user: &str) -> Result<i64, StoreError> {
        // The cap written into the text: a bound LIMIT makes SQLite prepare it again each time.
        let count = format!(
            "SELECT COUNT(*) FROM (SELECT 1 AS one FROM pending_reviews p \
             JOIN users u ON u.id = p.reviewer_id WHERE u.name = $1 LIMIT {WAITING_COUNT_CAP}) \
             AS waiting"
        );
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(count))
            .bind(user)
            .fetch_one(&self.pool)
            .await?)
    }
}
