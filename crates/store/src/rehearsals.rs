//! Rehearsals (design §10): each one started (`running`), finished (`done`, `error`,
//! `timeout`, `skipped`) with what it found, read back newest first, and those a stopped server
//! left `running` (older than any rehearsal can run), settled as `error` (their transaction died with the
//! connection, so nothing of them stayed). Each change and its audit event share one
//! transaction.

use countersign_core::audit::AuditAction;
use countersign_core::request::RehearsalStatus;
use countersign_core::timestamp;
use countersign_core::user::User;
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use crate::audit::{NewEvent, append};
use crate::columns::{parse_time, time_col};
use crate::{Store, StoreError};

/// The error a rehearsal left `running` by a stopped server is settled with.
pub const INTERRUPTED: &str = "the server stopped before the rehearsal finished; its \
                               transaction ended with its connection, so nothing of it stayed";

/// A rehearsal as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RehearsalRecord {
    pub id: i64,
    pub request_id: i64,
    pub revision: i64,
    /// The target it ran on (the request's own, or the copy it is rehearsed on).
    pub on_target: String,
    /// Who asked for it; `None` when the system started it.
    pub requested_by: Option<String>,
    pub status: RehearsalStatus,
    pub started_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
    /// Every row its transaction changed; `None` while it runs or where it could not count.
    pub rows_affected: Option<i64>,
    /// What it found (`tables`, `statements` with their counts, skips and samples), as the
    /// server shaped it; `null` while it runs.
    pub result: Value,
    /// Why it did not get to its end, already scrubbed of connection details.
    pub error: Option<String>,
}

/// How a rehearsal ended, as the store records it.
#[derive(Debug, Clone, PartialEq)]
pub struct RehearsalResult {
    /// Anything but `running`.
    pub status: RehearsalStatus,
    pub finished_at: OffsetDateTime,
    pub rows_affected: Option<i64>,
    /// What it found; samples already masked.
    pub result: Value,
    pub error: Option<String>,
}

const COLUMNS: &str = "r.id, r.request_id, r.revision, r.on_target, u.name AS requested_by, \
                       r.status, r.started_at, r.finished_at, r.rows_affected, r.result, r.error \
                       FROM rehearsals r LEFT JOIN users u ON u.id = r.requested_by";

impl Store {
    /// Records that a rehearsal of `revision` of request `request_id` starts on `on_target`,
    /// asked by `user` (`None`: the system); returns its id.
    pub async fn start_rehearsal(
        &self,
        request_id: i64,
        revision: i64,
        on_target: &str,
        user: Option<&User>,
    ) -> Result<i64, StoreError> {
        let now = timestamp::format(timestamp::now());
        let mut tx = self.write_tx().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO rehearsals (request_id, revision, on_target, requested_by, status, \
             started_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(request_id)
        .bind(revision)
        .bind(on_target)
        .bind(user.map(|u| u.id))
        .bind(RehearsalStatus::Running.as_str())
        .bind(now.as_str())
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        let details = json!({ "rehearsal_id": id, "on_target": on_target });
        append(
            &mut tx,
            NewEvent::new(
                user.map(|u| u.name.as_str()),
                AuditAction::RehearsalStarted,
                details,
            )
            .on_request(request_id, revision),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Stores how rehearsal `id` ended. Returns `false`, changing nothing, when it was no
    /// longer `running` (settled meanwhile, e.g. by a restarted server). `actor`: who asked
    /// for it (`None`: the system).
    pub async fn finish_rehearsal(
        &self,
        id: i64,
        actor: Option<&str>,
        result: &RehearsalResult,
    ) -> Result<bool, StoreError> {
        if !result.status.is_finished() {
            return Err(StoreError::Corrupt(format!(
                "rehearsal {id} cannot finish as {}",
                result.status
            )));
        }
        let mut tx = self.write_tx().await?;
        let finished = finish(&mut tx, id, result).await?;
        if let Some((request_id, revision)) = finished {
            let details = json!({
                "rehearsal_id": id,
                "status": result.status,
                "rows_affected": result.rows_affected,
                "error": result.error,
            });
            append(
                &mut tx,
                NewEvent::new(actor, AuditAction::RehearsalFinished, details)
                    .on_request(request_id, revision),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(finished.is_some())
    }

    /// Settles as `error` ([`INTERRUPTED`]), by the system, every rehearsal still `running`
    /// that started before `started_before`; returns how many it settled.
    ///
    /// A rehearsal cannot outlive its timeout (the executor ends it), so one still `running`
    /// longer than the longest `rehearsal_timeout` (plus the time to connect and record it)
    /// was left by a server that stopped: a server passes `now - (that bound)` at start-up and
    /// from time to time, and never settles a rehearsal another live instance is running.
    pub async fn settle_interrupted_rehearsals(
        &self,
        started_before: OffsetDateTime,
    ) -> Result<usize, StoreError> {
        let mut tx = self.write_tx().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM rehearsals WHERE status = $1 AND started_at < $2 ORDER BY id",
        )
        .bind(RehearsalStatus::Running.as_str())
        .bind(timestamp::format(started_before))
        .fetch_all(&mut *tx)
        .await?;
        let result = RehearsalResult {
            status: RehearsalStatus::Error,
            finished_at: timestamp::now(),
            rows_affected: None,
            result: Value::Null,
            error: Some(INTERRUPTED.to_owned()),
        };
        let mut settled = 0;
        for id in ids {
            if let Some((request_id, revision)) = finish(&mut tx, id, &result).await? {
                let details = json!({
                    "rehearsal_id": id,
                    "status": result.status,
                    "rows_affected": null,
                    "error": result.error,
                });
                append(
                    &mut tx,
                    NewEvent::new(None, AuditAction::RehearsalFinished, details)
                        .on_request(request_id, revision),
                )
                .await?;
                settled += 1;
            }
        }
        tx.commit().await?;
        Ok(settled)
    }

    /// Rehearsal `id`, if there is one.
    pub async fn rehearsal(&self, id: i64) -> Result<Option<RehearsalRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} WHERE r.id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(record).transpose()
    }

    /// The rehearsals of request `request_id`, newest first, at most `limit`.
    pub async fn rehearsals(
        &self,
        request_id: i64,
        limit: i64,
    ) -> Result<Vec<RehearsalRecord>, StoreError> {
        // The limit written into the text (an i64): a bound LIMIT makes SQLite prepare the
        // statement again each time.
        let sql =
            format!("SELECT {COLUMNS} WHERE r.request_id = $1 ORDER BY r.id DESC LIMIT {limit}");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(request_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(record).collect()
    }

    /// The latest rehearsal of `revision` of request `request_id` (what the request object
    /// carries), or with `status`, the latest with that status (`done`: what the execution's
    /// guard compares against).
    pub async fn latest_rehearsal(
        &self,
        request_id: i64,
        revision: i64,
        status: Option<RehearsalStatus>,
    ) -> Result<Option<RehearsalRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} WHERE r.request_id = $1 AND r.revision = $2 \
             AND ($3 IS NULL OR r.status = $3) ORDER BY r.id DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(request_id)
            .bind(revision)
            .bind(status.map(RehearsalStatus::as_str))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(record).transpose()
    }
}

/// Finishes rehearsal `id` if it is still running; returns its request and revision then.
async fn finish(
    tx: &mut sqlx::AnyConnection,
    id: i64,
    result: &RehearsalResult,
) -> Result<Option<(i64, i64)>, StoreError> {
    let row = sqlx::query(
        "UPDATE rehearsals SET status = $1, finished_at = $2, rows_affected = $3, result = $4, \
         error = $5 WHERE id = $6 AND status = $7 RETURNING request_id, revision",
    )
    .bind(result.status.as_str())
    .bind(timestamp::format(result.finished_at))
    .bind(result.rows_affected)
    .bind((!result.result.is_null()).then(|| result.result.to_string()))
    .bind(result.error.as_deref())
    .bind(id)
    .bind(RehearsalStatus::Running.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    row.map(|row| Ok((row.try_get("request_id")?, row.try_get("revision")?)))
        .transpose()
}

fn record(row: &AnyRow) -> Result<RehearsalRecord, StoreError> {
    let status: String = row.try_get("status")?;
    let finished_at: Option<String> = row.try_get("finished_at")?;
    let result: Option<String> = row.try_get("result")?;
    Ok(RehearsalRecord {
        id: row.try_get("id")?,
        request_id: row.try_get("request_id")?,
        revision: row.try_get("revision")?,
        on_target: row.try_get("on_target")?,
        requested_by: row.try_get("requested_by")?,
        status: status
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("rehearsal status {status:?}")))?,
        started_at: time_col(row, "started_at")?,
        finished_at: finished_at.as_deref().map(parse_time).transpose()?,
        rows_affected: row.try_get("rows_affected")?,
        result: match result {
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("rehearsal result: {e}")))?,
            None => Value::Null,
        },
        error: row.try_get("error")?,
    })
}
