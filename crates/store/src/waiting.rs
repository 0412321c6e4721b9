//! How many requests wait for a user's review (the dashboard's title and navigation): pending
//! review, the user named on the current revision, and not yet reviewed by them on it — the
//! same rule as `RequestFilter::awaiting_review_by`, counted without a limit.

use countersign_core::request::RequestStatus;

use crate::{Store, StoreError};

impl Store {
    /// The number of requests waiting for `user`'s review.
    pub async fn count_awaiting_review(&self, user: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM requests r WHERE r.status = $1 \
             AND EXISTS (SELECT 1 FROM revision_reviewers rr JOIN users u ON u.id = rr.reviewer_id \
                         WHERE rr.request_id = r.id AND rr.revision = r.revision AND u.name = $2) \
             AND NOT EXISTS (SELECT 1 FROM reviews w JOIN users u ON u.id = w.reviewer_id \
                         WHERE w.request_id = r.id AND w.revision = r.revision AND u.name = $2)",
        )
        .bind(RequestStatus::PendingReview.as_str())
        .bind(user)
        .fetch_one(&self.pool)
        .await?)
    }
}
