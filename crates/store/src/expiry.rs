//! Approval expiry (design §12): which approved requests have outlived their target's
//! `approval_ttl`, and the move of one back to `pending_review`.
//!
//! An approval's time is that of the newest approving review of the current revision (the one
//! that met the policy: no review lands on an approved request). Expiry voids the approvals by
//! copying the current revision, text, analysis and reviewers unchanged, to a new revision:
//! reviews are bound to their revision, so the old ones stop counting and every reviewer may
//! review again, exactly as after a revision. The execute claim refuses an expired approval on
//! its own (`executions::claim_execution`), before this pass has seen it.

use countersign_core::audit::AuditAction;
use countersign_core::request::RequestStatus;
use countersign_core::timestamp;
use serde_json::json;
use sqlx::{Any, Row, Transaction};
use time::OffsetDateTime;

use crate::audit::{NewEvent, append};
use crate::columns::time_col;
use crate::{Conflict, Store, StoreError};

/// An approved request whose approval was reached at or before the cut-off.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpiredApproval {
    pub id: i64,
    pub revision: i64,
    /// When the policy was met.
    pub approved_at: OffsetDateTime,
}

impl Store {
    /// The approved requests on `target` whose approval was reached at or before
    /// `approved_by` (now minus the target's `approval_ttl`), oldest first.
    pub async fn expired_approvals(
        &self,
        target: &str,
        approved_by: OffsetDateTime,
    ) -> Result<Vec<ExpiredApproval>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.id, r.revision, MAX(w.created_at) AS approved_at FROM requests r \
             JOIN reviews w ON w.request_id = r.id AND w.revision = r.revision \
             AND w.decision = 'approve' \
             WHERE r.status = $1 AND r.target = $2 \
             GROUP BY r.id, r.revision HAVING MAX(w.created_at) <= $3 ORDER BY r.id",
        )
        .bind(RequestStatus::Approved.as_str())
        .bind(target)
        .bind(timestamp::format(approved_by))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ExpiredApproval {
                    id: row.try_get("id")?,
                    revision: row.try_get("revision")?,
                    approved_at: time_col(row, "approved_at")?,
                })
            })
            .collect()
    }

    /// Moves `expired` back to `pending_review` with its approvals void (a new revision, the
    /// same text), recording `approval.expired`, if it is still approved at that revision.
    /// Returns the new revision, or [`Conflict::ChangedMeanwhile`] when something came first
    /// (an execute claim, a withdrawal, another instance's pass).
    pub async fn expire_approval(
        &self,
        expired: &ExpiredApproval,
        ttl_seconds: u64,
    ) -> Result<i64, StoreError> {
        let ExpiredApproval {
            id,
            revision,
            approved_at,
        } = *expired;
        let now = timestamp::format(timestamp::now());
        let next = revision + 1;
        let mut tx = self.write_tx().await?;
        let moved = sqlx::query(
            "UPDATE requests SET status = $1, revision = $2, updated_at = $3 \
             WHERE id = $4 AND status = $5 AND revision = $6",
        )
        .bind(RequestStatus::PendingReview.as_str())
        .bind(next)
        .bind(now.as_str())
        .bind(id)
        .bind(RequestStatus::Approved.as_str())
        .bind(revision)
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() == 0 {
            return Err(StoreError::Conflict(Conflict::ChangedMeanwhile(id)));
        }
        sqlx::query(
            "INSERT INTO revisions (request_id, revision, intent, sql, sql_sha256, expected_rows, \
             risk, analysis, created_at, without_undo) \
             SELECT request_id, $1, intent, sql, sql_sha256, expected_rows, risk, analysis, $2, \
             without_undo FROM revisions WHERE request_id = $3 AND revision = $4",
        )
        .bind(next)
        .bind(now.as_str())
        .bind(id)
        .bind(revision)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO revision_reviewers (request_id, revision, reviewer_id) \
             SELECT request_id, $1, reviewer_id FROM revision_reviewers \
             WHERE request_id = $2 AND revision = $3",
        )
        .bind(next)
        .bind(id)
        .bind(revision)
        .execute(&mut *tx)
        .await?;
        let details = json!({
            "approved_at": timestamp::format(approved_at),
            "approval_ttl_seconds": ttl_seconds,
            "expired_revision": revision,
            "new_revision": next,
        });
        append(
            &mut tx,
            NewEvent::new(None, AuditAction::ApprovalExpired, details).on_request(id, next),
        )
        .await?;
        tx.commit().await?;
        Ok(next)
    }
}

/// Why an execute claim of `id` at `revision` changed no row: still approved at that revision
/// means only the approval's age stopped it.
pub(crate) async fn why_not_claimed(
    tx: &mut Transaction<'static, Any>,
    id: i64,
    revision: i64,
) -> StoreError {
    let still_approved = sqlx::query(
        "SELECT 1 AS one FROM requests WHERE id = $1 AND status = $2 AND revision = $3",
    )
    .bind(id)
    .bind(RequestStatus::Approved.as_str())
    .bind(revision)
    .fetch_optional(&mut **tx)
    .await;
    match still_approved {
        Ok(Some(_)) => StoreError::Conflict(Conflict::ApprovalExpired(id)),
        Ok(None) => StoreError::Conflict(Conflict::NotApproved(id)),
        Err(e) => StoreError::Database(e),
    }
}
