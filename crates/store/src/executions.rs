//! A request's one execution: the atomic claim (`approved` → `executing`), the target transaction's
//! identity recorded before its commit, the heartbeat of a live run, the result, and the
//! reconciliation of runs a crash interrupted.

use countersign_core::audit::AuditAction;
use countersign_core::lifecycle::ActionKind;
use countersign_core::request::{ExecutionOutcome, GuardSource, RequestStatus, RunIdentity};
use countersign_core::timestamp;
use countersign_core::user::User;
use serde_json::{Value, json};
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use crate::audit::{NewEvent, append};
use crate::columns::{parse_time, time_col};
use crate::transition::only_source;
use crate::{Conflict, Store, StoreError};

/// A request's one execution: claimed, then finished (or reconciled after a crash).
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionRecord {
    pub revision: i64,
    pub triggered_by: String,
    pub started_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
    /// `None` while it runs.
    pub outcome: Option<ExecutionOutcome>,
    pub expected_rows: Option<i64>,
    pub rows_affected: Option<i64>,
    /// `[{index, rows_affected}]`.
    pub statements: Value,
    pub error: Option<String>,
    /// The target transaction's identity, recorded before its commit.
    pub txid: Option<String>,
    /// `[{table, inserted, updated, deleted}]` as the database counted them; `null` until the
    /// run finished, or where they could not be read.
    pub tables: Value,
    /// What the guard compared against (`expected_rows`, `rehearsal`), or `None`: no guard.
    pub guard_source: Option<GuardSource>,
    /// `{available, rows, reason}`: whether the run can be undone; `null` until it finished.
    pub undo: Value,
}

/// How a run ended, as the store records it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionResult {
    pub outcome: ExecutionOutcome,
    pub finished_at: OffsetDateTime,
    pub rows_affected: i64,
    /// `[{index, rows_affected}]`.
    pub statements: Value,
    /// `[{table, inserted, updated, deleted}]`, as the database counted them; `null` where
    /// they could not be read.
    pub tables: Value,
    /// The database's message, already scrubbed of connection details.
    pub error: Option<String>,
    /// `{available, rows, reason}`; `null` where nothing can be said. The images stored
    /// pending for the run are kept when the run committed with undo available, and removed
    /// otherwise.
    pub undo: Value,
}

/// A run not yet finished: live on some instance, or left behind by one that died.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenExecution {
    pub request_id: i64,
    pub revision: i64,
    pub target: String,
    /// What identifies the run on its target; empty until the run has begun there.
    pub identity: RunIdentity,
    /// The last beat of the instance running it.
    pub heartbeat_at: Option<OffsetDateTime>,
}

impl Store {
    /// Claims request `id` (approved, at `revision`) for execution by `user`: of any number of
    /// concurrent claims, from any number of server instances, exactly one succeeds; the others
    /// get [`StoreError::Conflict`]. With `approved_after` (now minus the target's
    /// `approval_ttl`), an approval reached at or before it is refused in the same
    /// compare-and-set ([`Conflict::ApprovalExpired`]), whether or not the expiry pass has
    /// seen it yet.
    pub async fn claim_execution(
        &self,
        id: i64,
        user: &User,
        revision: i64,
        expected_rows: Option<i64>,
        guard_source: Option<GuardSource>,
        approved_after: Option<OffsetDateTime>,
    ) -> Result<(), StoreError> {
        let now = timestamp::format(timestamp::now());
        let mut tx = self.write_tx().await?;
        // The approval's age is the newest approving review of the claimed revision: the one
        // that met the policy (no review lands once a request is approved).
        let claimed = sqlx::query(
            "UPDATE requests SET status = $1, updated_at = $2 \
             WHERE id = $3 AND status = $4 AND revision = $5 \
             AND (CAST($6 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM reviews w \
             WHERE w.request_id = $3 AND w.revision = $5 AND w.decision = 'approve' \
             AND w.created_at > $6))",
        )
        .bind(RequestStatus::Executing.as_str())
        .bind(now.as_str())
        .bind(id)
        .bind(only_source(ActionKind::ClaimExecution))
        .bind(revision)
        .bind(approved_after.map(timestamp::format))
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            return Err(crate::expiry::why_not_claimed(&mut tx, id, revision).await);
        }
        // The primary key on request_id is a second wall: one execution per request, ever.
        sqlx::query(
            "INSERT INTO executions (request_id, revision, triggered_by, started_at, expected_rows, \
             guard_source, heartbeat_at) VALUES ($1, $2, $3, $4, $5, $6, $4)",
        )
        .bind(id)
        .bind(revision)
        .bind(user.id)
        .bind(now.as_str())
        .bind(expected_rows)
        .bind(guard_source.map(GuardSource::as_str))
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::unique(e, || format!("an execution of request #{id}")))?;
        let details = json!({ "expected_rows": expected_rows, "guard_source": guard_source });
        append(
            &mut tx,
            NewEvent::new(Some(&user.name), AuditAction::ExecutionStarted, details)
                .on_request(id, revision),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records what identifies the run of request `id` on its target, before any statement
    /// runs.
    pub async fn record_identity(&self, id: i64, identity: &RunIdentity) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE executions SET txid = $1, target_session = $2, marker = $3 \
             WHERE request_id = $4 AND outcome IS NULL",
        )
        .bind(identity.txid.as_deref())
        .bind(identity.session.as_deref())
        .bind(identity.marker.as_deref())
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
        .bind(only_source(ActionKind::FinishExecution))
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::Conflict(Conflict::NotExecuting(id)))?;
        let revision: i64 = done.try_get("revision")?;
        sqlx::query(
            "UPDATE executions SET finished_at = $1, outcome = $2, rows_affected = $3, \
             statements = $4, error = $5, tables = $6, undo = $7 WHERE request_id = $8",
        )
        .bind(finished.as_str())
        .bind(result.outcome.as_str())
        .bind(result.rows_affected)
        .bind(result.statements.to_string())
        .bind(result.error.as_deref())
        .bind((!result.tables.is_null()).then(|| result.tables.to_string()))
        .bind((!result.undo.is_null()).then(|| result.undo.to_string()))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let undone = result.outcome.is_committed() && result.undo["available"] == json!(true);
        crate::images::settle_images(&mut tx, id, undone).await?;
        let details = json!({
            "outcome": result.outcome,
            "status": status,
            "rows_affected": result.rows_affected,
            "tables": result.tables,
            "error": result.error,
            "undo": result.undo,
        });
        append(
            &mut tx,
            NewEvent::new(actor, action, details).on_request(id, revision),
        )
        .await?;
        tx.commit().await?;
        Ok(status)
    }

    /// Every run not yet finished, with its identity on the target and its last heartbeat.
    pub async fn open_executions(&self) -> Result<Vec<OpenExecution>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.id, r.revision, r.target, e.txid, e.target_session, e.marker, \
             e.heartbeat_at FROM executions e JOIN requests r ON r.id = e.request_id \
             WHERE e.outcome IS NULL AND r.status = $1 ORDER BY r.id",
        )
        .bind(RequestStatus::Executing.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let heartbeat_at: Option<String> = row.try_get("heartbeat_at")?;
                Ok(OpenExecution {
                    request_id: row.try_get("id")?,
                    revision: row.try_get("revision")?,
                    target: row.try_get("target")?,
                    identity: RunIdentity {
                        txid: row.try_get("txid")?,
                        session: row.try_get("target_session")?,
                        marker: row.try_get("marker")?,
                    },
                    heartbeat_at: heartbeat_at.as_deref().map(parse_time).transpose()?,
                })
            })
            .collect()
    }
}

/// The execution of request `id`, if it has one.
pub(crate) async fn execution_of(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<ExecutionRecord>, StoreError> {
    let Some(row) = sqlx::query(
        "SELECT e.revision, u.name AS triggered_by, e.started_at, e.finished_at, e.outcome, \
         e.expected_rows, e.rows_affected, e.statements, e.error, e.txid, e.tables, \
         e.guard_source, e.undo \
         FROM executions e JOIN users u ON u.id = e.triggered_by WHERE e.request_id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let finished_at: Option<String> = row.try_get("finished_at")?;
    let outcome: Option<String> = row.try_get("outcome")?;
    let statements: Option<String> = row.try_get("statements")?;
    let tables: Option<String> = row.try_get("tables")?;
    let guard_source: Option<String> = row.try_get("guard_source")?;
    let undo: Option<String> = row.try_get("undo")?;
    Ok(Some(ExecutionRecord {
        revision: row.try_get("revision")?,
        triggered_by: row.try_get("triggered_by")?,
        started_at: time_col(&row, "started_at")?,
        finished_at: finished_at.as_deref().map(parse_time).transpose()?,
        outcome: outcome
            .map(|o| {
                o.parse()
                    .map_err(|_| StoreError::Corrupt(format!("outcome {o:?}")))
            })
            .transpose()?,
        expected_rows: row.try_get("expected_rows")?,
        rows_affected: row.try_get("rows_affected")?,
        statements: match statements {
            Some(s) => serde_json::from_str(&s)
                .map_err(|e| StoreError::Corrupt(format!("execution statements: {e}")))?,
            None => Value::Array(Vec::new()),
        },
        error: row.try_get("error")?,
        txid: row.try_get("txid")?,
        tables: match tables {
            Some(t) => serde_json::from_str(&t)
                .map_err(|e| StoreError::Corrupt(format!("execution tables: {e}")))?,
            None => Value::Null,
        },
        guard_source: guard_source
            .map(|g| {
                g.parse()
                    .map_err(|_| StoreError::Corrupt(format!("guard source {g:?}")))
            })
            .transpose()?,
        undo: match undo {
            Some(u) => serde_json::from_str(&u)
                .map_err(|e| StoreError::Corrupt(format!("execution undo: {e}")))?,
            None => Value::Null,
        },
    }))
}
