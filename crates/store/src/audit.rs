//! The audit trail's writes: one event appended in the same transaction as the change it records.
//!
//! The chain's head (`audit_head`, one row) is updated first in every append: on PostgreSQL that
//! row lock serialises writers across all server instances, and on SQLite the write lock does, so
//! `seq` is strictly increasing with no gaps and each event links to the one before it.

use countersign_core::audit::{AuditAction, AuditEntry, AuditEvent};
use countersign_core::timestamp;
use serde_json::Value;
use sqlx::{AnyConnection, Row};

use crate::{Store, StoreError};

/// Who did what to which request: an event before the store gives it its place in the chain.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    /// The user name; `None` for the system itself.
    pub actor: Option<&'a str>,
    pub action: AuditAction,
    pub request_id: Option<i64>,
    pub revision: Option<i64>,
    pub details: Value,
}

impl<'a> NewEvent<'a> {
    pub fn new(actor: Option<&'a str>, action: AuditAction, details: Value) -> NewEvent<'a> {
        NewEvent {
            actor,
            action,
            request_id: None,
            revision: None,
            details,
        }
    }

    pub fn on_request(mut self, request_id: i64, revision: i64) -> NewEvent<'a> {
        self.request_id = Some(request_id);
        self.revision = Some(revision);
        self
    }
}

/// Appends `event` to the chain inside the caller's transaction.
pub(crate) async fn append(
    conn: &mut AnyConnection,
    event: NewEvent<'_>,
) -> Result<AuditEvent, StoreError> {
    let head = sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
        .fetch_one(&mut *conn)
        .await?;
    let seq: i64 = head.try_get("seq")?;
    let prev_hash: String = head.try_get("hash")?;
    let sealed = AuditEntry {
        seq,
        at: timestamp::now(),
        actor: event.actor.map(str::to_owned),
        action: event.action.as_str().to_owned(),
        request_id: event.request_id,
        revision: event.revision,
        details: event.details,
    }
    .seal(&prev_hash);
    sqlx::query(
        "INSERT INTO audit_events \
         (seq, at, actor, action, request_id, revision, details, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(sealed.seq)
    .bind(timestamp::format(sealed.at))
    .bind(sealed.actor.as_deref())
    .bind(sealed.action.as_str())
    .bind(sealed.request_id)
    .bind(sealed.revision)
    .bind(sealed.details.to_string())
    .bind(sealed.prev_hash.as_str())
    .bind(sealed.hash.as_str())
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(sealed.hash.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(sealed)
}

impl Store {
    /// Records an event that goes with no other change (a failed sign-in, say).
    pub async fn record_event(&self, event: NewEvent<'_>) -> Result<AuditEvent, StoreError> {
        let mut tx = self.write_tx().await?;
        let sealed = append(&mut tx, event).await?;
        tx.commit().await?;
        Ok(sealed)
    }

    /// The events of one request, oldest first.
    pub async fn request_events(&self, request_id: i64) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, action, request_id, revision, details, prev_hash, hash \
             FROM audit_events WHERE request_id = $1 ORDER BY seq",
        )
        .bind(request_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }
}

/// Reads an event back from its row.
pub(crate) fn event_from_row(row: &sqlx::any::AnyRow) -> Result<AuditEvent, StoreError> {
    let at: String = row.try_get("at")?;
    let details: String = row.try_get("details")?;
    Ok(AuditEvent {
        seq: row.try_get("seq")?,
        at: timestamp::parse(&at).map_err(|_| StoreError::Corrupt(format!("event time {at:?}")))?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        request_id: row.try_get("request_id")?,
        revision: row.try_get("revision")?,
        details: serde_json::from_str(&details)
            .map_err(|e| StoreError::Corrupt(format!("event details: {e}")))?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}
