//! How many requests wait for a user's review (the dashboard's title and navigation): pending
//! review, the user named on the current revision, and not yet reviewed by them on it — the
//! rows of `pending_reviews`, which the store's triggers keep to that rule (migration 0012).
//! Counted up to [`WAITING_COUNT_CAP`], so the count costs the same whatever the store holds.

use crate::{Store, StoreError};

/// The most requests [`Store::count_awaiting_review`] counts; a page shows "100+" beyond.
pub const WAITING_COUNT_CAP: i64 = 100;

/// The count of requests waiting for the review of the user aliased `u`, as a column of any
/// query that reads that user (the session's: every page's navigation shows it). Ordered by
/// the request, so that the planner walks `pending_reviews`' key even in a plan made once for
/// any user (PostgreSQL's generic plan of a prepared statement otherwise scanned the table for
/// a reviewer with nothing waiting: 15 ms a page).
pub(crate) fn waiting_column() -> String {
    format!(
        "(SELECT COUNT(*) FROM (SELECT 1 AS one FROM pending_reviews p \
         WHERE p.reviewer_id = u.id ORDER BY p.request_id LIMIT {WAITING_COUNT_CAP}) AS w) \
         AS waiting"
    )
}

/// [`waiting_column`] of the user called `$1`.
fn count_select() -> String {
    format!("SELECT {} FROM users u WHERE u.name = $1", waiting_column())
}

impl Store {
    /// The number of requests waiting for `user`'s review, at most [`WAITING_COUNT_CAP`].
    pub async fn count_awaiting_review(&self, user: &str) -> Result<i64, StoreError> {
        // The cap is written into the text: a bound LIMIT makes SQLite prepare it again each time.
        let count: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(count_select()))
            .bind(user)
            .fetch_optional(&self.pool)
            .await?;
        Ok(count.unwrap_or(0))
    }

    /// The plan of [`waiting_column`] — on PostgreSQL the generic one, made once for any user,
    /// as a prepared statement (the session's) ends up with — one line a step: for the test
    /// that it walks an index whoever asks.
    #[cfg(feature = "testing")]
    pub async fn waiting_count_plan(&self) -> Result<Vec<String>, StoreError> {
        let nobody = crate::select::Value::Text("nobody".to_owned());
        crate::select::generic_plan(&self.pool, self.backend, &count_select(), &[nobody]).await
    }
}
