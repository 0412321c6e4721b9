//! A request's one execution: the atomic claim (`approved` → `executing`), the target transaction's
//! identity recorded before its commit, the heartbeat of a live run, the result, and the
//! reconciliation of runs a crash interrupted.

use countersign_core::audit::AuditAction;
use countersign_core::request::{ExecutionOutcome, RequestStatus};
use countersign_core::timestamp;
use countersign_core::user::User;
use serde_json::{Value, json};
use sqlx::Row;
use time::OffsetDateTime;

use crate::audit::{NewEvent, append};
use crate::{Store, StoreError};

/// How a run ended, as the store records it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionResult {
    pub outcome: ExecutionOutcome,
    pub finished_at: OffsetDateTime,
    pub rows_affected: i64,
    /// `[{index, rows_affected}]`.
    pub statements: Value,
    /// The database's message, already scrubbed of connection details.
    pub error: Option<String>,
}

/// A run found `executing` whose heartbeat stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct StaleExecution {
    pub request_id: i64,
    pub revision: i64,
    pub target: String,
    pub txid: Option<String>,
}

impl Store {
    /// Claims request `id` (approved, at `revision`) for execution by `user`: of any number of
    /// concurrent claims, from any number of server instances, exactly one succeeds; the others
    /// get [`StoreError::Conflict`].
    pub async fn claim_execution(
        &self,
        id: i64,
        user: &User,
        revision: i64,
        expected_rows: Option<i64>,
    ) -> Result<(), StoreError> {
        let now = timestamp::format(timestamp::now());
        let mut tx = self.write_tx().await?;
        let claimed = sqlx::query(
            "UPDATE requests SET status = $1, updated_at = $2 \
             WHERE id = $3 AND status = $4 AND revision = $5",
        )
        .bind(RequestStatus::Executing.as_str())
        .bind(now.as_str())
        .bind(id)
        .bind(RequestStatus::Approved.as_str())
        .bind(revision)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "request #{id} is not approved (it may be running or have run already)"
            )));
        }
        // The primary key on request_id is a second wall: one execution per request, ever.
        sqlx::query(
            "INSERT INTO executions (request_id, revision, triggered_by, started_at, expected_rows, heartbeat_at) \
             VALUES ($1, $2, $3, $4, $5, $4)",
        )
        .bind(id)
        .bind(revision)
        .bind(user.id)
        .bind(now.as_str())
        .bind(expected_rows)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::unique(e, || format!("an execution of request #{id}")))?;
        let details = json!({ "expected_rows": expected_rows });
        append(
            &mut tx,
            NewEvent::new(Some(&user.name), AuditAction::ExecutionStarted, details)
                .on_request(id, revision),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records the target transaction's identity, before it commits.
    pub async fn record_txid(&self, id: i64, txid: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE executions SET txid = $1 WHERE request_id = $2 AND outcome IS NULL")
            .bind(txid)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks a live run of request `id` as alive now.
    pub async fn execution_heartbeat(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE executions SET heartbeat_at = $1 WHERE request_id = $2 AND outcome IS NULL",
        )
        .bind(timestamp::format(timestamp::now()))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Stores how the run of request `id` ended: `executed` if it committed, else `failed`.
    /// `actor` is who triggered it (`None` for the system's reconciliation).
    pub async fn finish_execution(
        &self,
        id: i64,
        actor: Option<&str>,
        result: &ExecutionResult,
        action: AuditAction,
    ) -> Result<RequestStatus, StoreError> {
        let status = if result.outcome.is_committed() {
            RequestStatus::Executed
        } else {
            RequestStatus::Failed
        };
        let finished = timestamp::format(result.finished_at);
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE requests SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4 \
             RETURNING revision",
        )
        .bind(status.as_str())
        .bind(finished.as_str())
        .bind(id)
        .bind(RequestStatus::Executing.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::Conflict(format!("request #{id} is not executing")))?;
        let revision: i64 = done.try_get("revision")?;
        sqlx::query(
            "UPDATE executions SET finished_at = $1, outcome = $2, rows_affected = $3, \
             statements = $4, error = $5 WHERE request_id = $6",
        )
        .bind(finished.as_str())
        .bind(result.outcome.as_str())
        .bind(result.rows_affected)
        .bind(result.statements.to_string())
        .bind(result.error.as_deref())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let details = json!({
            "outcome": result.outcome,
            "status": status,
            "rows_affected": result.rows_affected,
            "error": result.error,
        });
        append(
            &mut tx,
            NewEvent::new(actor, action, details).on_request(id, revision),
        )
        .await?;
        tx.commit().await?;
        Ok(status)
    }

    /// Runs left `executing` whose heartbeat is older than `stale_before`: their server died.
    pub async fn stale_executions(
        &self,
        stale_before: OffsetDateTime,
    ) -> Result<Vec<StaleExecution>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.id, r.revision, r.target, e.txid FROM requests r \
             JOIN executions e ON e.request_id = r.id \
             WHERE r.status = $1 AND e.outcome IS NULL \
               AND (e.heartbeat_at IS NULL OR e.heartbeat_at < $2) \
             ORDER BY r.id",
        )
        .bind(RequestStatus::Executing.as_str())
        .bind(timestamp::format(stale_before))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StaleExecution {
                    request_id: row.try_get("id")?,
                    revision: row.try_get("revision")?,
                    target: row.try_get("target")?,
                    txid: row.try_get("txid")?,
                })
            })
            .collect()
    }
}
