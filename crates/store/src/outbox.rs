//! The outbox (design §12): what people are told, written in the transaction of the change that
//! causes it, and its delivery.
//!
//! `audit::append` calls [`enqueue`] for every event: the events people hear of (and
//! `request.approved` when a review meets the policy, `execution.reconciled` only with outcome
//! `unknown`) become an `outbox` row in the same transaction, so no change is told without
//! happening and none happens untold. A dispatcher on any instance then expands each row into
//! `deliveries` (one per email recipient or webhook, the audience read from the store, the
//! payload rendered once, so every retry sends the same bytes under the same delivery id),
//! claims due deliveries with a lease (PostgreSQL `FOR UPDATE SKIP LOCKED`; SQLite under its
//! write lock), and marks each sent, failed (retried later) or dead. A delivery whose lease ran
//! out — its instance died between sending and marking — is claimed again: at least once. A
//! delivery is never sent before an earlier one to the same channel about the same request, so
//! each receiver hears of a request in order.

use std::time::Duration;

use countersign_core::audit::{AuditAction, AuditEvent};
use countersign_core::request::RequestStatus;
use countersign_core::timestamp;
use serde_json::Value;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use crate::columns::{parse, time_col};
use crate::{Backend, Store, StoreError};

/// The events people are told of (design §12), by their contract names.
pub const EVENTS: &[&str] = &[
    "request.submitted",
    "request.revised",
    "review.approved",
    "review.rejected",
    "request.approved",
    "comment.added",
    "execution.finished",
    "execution.reconciled",
    "approval.expired",
];

/// A delivery's state.
const PENDING: &str = "pending";
const SENT: &str = "sent";
const DEAD: &str = "dead";

/// One event people are told of, as written with its change.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    pub id: i64,
    /// One of [`EVENTS`].
    pub event: String,
    pub request_id: i64,
    pub revision: Option<i64>,
    pub actor: Option<String>,
    pub at: OffsetDateTime,
    pub details: Value,
}

/// A user who may be told, with their address if they gave one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub email: Option<String>,
}

/// Who an event's request concerns, read when the event is expanded.
#[derive(Debug, Clone, PartialEq)]
pub struct Audience {
    pub title: String,
    pub target: String,
    pub status: RequestStatus,
    pub author: Person,
    /// The named reviewers of the event's revision (enabled users).
    pub reviewers: Vec<Person>,
    /// Every enabled admin.
    pub admins: Vec<Person>,
}

/// A delivery to write: to `channel` (`email`, or a webhook's name), with what it sends.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    /// The id receivers see on every attempt.
    pub delivery: String,
    pub channel: String,
    /// The email address, for `email`.
    pub recipient: Option<String>,
    pub payload: Value,
}

/// A delivery claimed for sending.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: i64,
    pub delivery: String,
    pub request_id: i64,
    pub channel: String,
    pub recipient: Option<String>,
    pub payload: Value,
    /// This attempt's number (1 for the first).
    pub attempts: i64,
    /// When it was written (or retried by hand): retries stop some time after.
    pub created_at: OffsetDateTime,
}

/// How one claimed delivery went.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryOutcome {
    Sent,
    /// Tried again at `retry_at`; dead without one. `error` is already scrubbed of secrets.
    Failed {
        error: String,
        retry_at: Option<OffsetDateTime>,
    },
    /// Given back unsent: an earlier one to its channel about its request failed. The attempt
    /// does not count.
    Released,
}

/// A delivery as `/admin` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    pub id: i64,
    pub delivery: String,
    pub event: String,
    pub request_id: i64,
    pub channel: String,
    pub recipient: Option<String>,
    pub status: String,
    pub attempts: i64,
    pub created_at: OffsetDateTime,
    /// Why the last attempt failed, already scrubbed of secrets.
    pub last_error: Option<String>,
}

/// The notification events an audit event causes.
fn notifications(event: &AuditEvent) -> Vec<&'static str> {
    let Ok(action) = event.action.parse::<AuditAction>() else {
        return Vec::new();
    };
    match action {
        AuditAction::RequestSubmitted => vec!["request.submitted"],
        AuditAction::RequestRevised => vec!["request.revised"],
        AuditAction::ReviewApproved if event.details["status"] == "approved" => {
            vec!["review.approved", "request.approved"]
        }
        AuditAction::ReviewApproved => vec!["review.approved"],
        AuditAction::ReviewRejected => vec!["review.rejected"],
        AuditAction::CommentAdded => vec!["comment.added"],
        AuditAction::ExecutionFinished => vec!["execution.finished"],
        AuditAction::ExecutionReconciled if event.details["outcome"] == "unknown" => {
            vec!["execution.reconciled"]
        }
        AuditAction::ApprovalExpired => vec!["approval.expired"],
        _ => Vec::new(),
    }
}

/// Writes the notifications `event` causes, in the caller's transaction (`audit::append`).
pub(crate) async fn enqueue(
    conn: &mut AnyConnection,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    let Some(request_id) = event.request_id else {
        return Ok(());
    };
    for name in notifications(event) {
        sqlx::query(
            "INSERT INTO outbox (event, request_id, revision, actor, at, details) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(name)
        .bind(request_id)
        .bind(event.revision)
        .bind(event.actor.as_deref())
        .bind(timestamp::format(event.at))
        .bind(event.details.to_string())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

impl Store {
    /// Expands up to `limit` outbox events into deliveries, each as `plan` names them for its
    /// audience; returns how many events it expanded. Several instances may call it at once:
    /// each event is expanded once.
    pub async fn expand_outbox(
        &self,
        limit: i64,
        mut plan: impl FnMut(&OutboxEvent, &Audience) -> Vec<NewDelivery>,
    ) -> Result<usize, StoreError> {
        let mut tx = self.write_tx().await?;
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let select = format!(
            "SELECT id, event, request_id, revision, actor, at, details FROM outbox \
             WHERE expanded = 0 ORDER BY id LIMIT {limit}{lock}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(select))
            .fetch_all(&mut *tx)
            .await?;
        let now = timestamp::format(timestamp::now());
        for row in &rows {
            let details: String = row.try_get("details")?;
            let event = OutboxEvent {
                id: row.try_get("id")?,
                event: row.try_get("event")?,
                request_id: row.try_get("request_id")?,
                revision: row.try_get("revision")?,
                actor: row.try_get("actor")?,
                at: time_col(row, "at")?,
                details: serde_json::from_str(&details)
                    .map_err(|e| StoreError::Corrupt(format!("outbox event: {e}")))?,
            };
            // An event about a request the store does not hold (audit events name any id)
            // tells nobody.
            let planned = match audience(&mut tx, &event).await? {
                Some(audience) => plan(&event, &audience),
                None => Vec::new(),
            };
            for d in planned {
                sqlx::query(
                    "INSERT INTO deliveries (delivery, outbox_id, request_id, channel, recipient, \
                     payload, status, attempts, created_at, next_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $8)",
                )
                .bind(d.delivery.as_str())
                .bind(event.id)
                .bind(event.request_id)
                .bind(d.channel.as_str())
                .bind(d.recipient.as_deref())
                .bind(d.payload.to_string())
                .bind(PENDING)
                .bind(now.as_str())
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query("UPDATE outbox SET expanded = 1 WHERE id = $1")
                .bind(event.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(rows.len())
    }

    /// Claims up to `limit` due deliveries for `lease`, oldest first: no other claim gets them
    /// before it ends. Each claim counts as an attempt. A delivery is claimed only when every
    /// earlier pending one to its channel about its request is claimed with it (the caller sends
    /// those in order, and [`Store::release_delivery`]s the rest after a failure); one waiting
    /// for a retry or held by another claim holds the later ones back.
    pub async fn claim_deliveries(
        &self,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<Delivery>, StoreError> {
        let now = timestamp::now();
        let now_text = timestamp::format(now);
        let mut tx = self.write_tx().await?;
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let select = format!(
            // 'pending' written out: the partial indexes on pending rows then apply.
            "SELECT d.id FROM deliveries d WHERE d.status = 'pending' AND d.next_at <= $1 \
             AND (d.claimed_until IS NULL OR d.claimed_until <= $1) \
             AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.channel = d.channel \
             AND e.request_id = d.request_id AND e.status = 'pending' AND e.id < d.id \
             AND (e.next_at > $1 OR e.claimed_until > $1)) \
             ORDER BY d.id LIMIT {limit}{lock}"
        );
        let ids: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(select))
            .bind(now_text.as_str())
            .fetch_all(&mut *tx)
            .await?;
        let until = timestamp::format(now + lease);
        let mut claimed = Vec::with_capacity(ids.len());
        for id in ids {
            let row = sqlx::query(
                "UPDATE deliveries SET claimed_until = $1, attempts = attempts + 1 WHERE id = $2 \
                 RETURNING id, delivery, request_id, channel, recipient, payload, attempts, \
                 created_at",
            )
            .bind(until.as_str())
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            let payload: String = row.try_get("payload")?;
            claimed.push(Delivery {
                id: row.try_get("id")?,
                delivery: row.try_get("delivery")?,
                request_id: row.try_get("request_id")?,
                channel: row.try_get("channel")?,
                recipient: row.try_get("recipient")?,
                payload: serde_json::from_str(&payload)
                    .map_err(|e| StoreError::Corrupt(format!("delivery payload: {e}")))?,
                attempts: row.try_get("attempts")?,
                created_at: time_col(&row, "created_at")?,
            });
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Records how each of a round's deliveries went, in one transaction.
    pub async fn settle_deliveries(
        &self,
        outcomes: &[(i64, DeliveryOutcome)],
    ) -> Result<(), StoreError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let now = timestamp::now();
        let mut tx = self.write_tx().await?;
        for (id, outcome) in outcomes {
            let query = match outcome {
                DeliveryOutcome::Sent => sqlx::query(
                    "UPDATE deliveries SET status = $1, sent_at = $2, claimed_until = NULL, \
                     last_error = NULL WHERE id = $3",
                )
                .bind(SENT)
                .bind(timestamp::format(now))
                .bind(*id),
                DeliveryOutcome::Failed { error, retry_at } => sqlx::query(
                    "UPDATE deliveries SET status = $1, next_at = $2, claimed_until = NULL, \
                     last_error = $3 WHERE id = $4",
                )
                .bind(if retry_at.is_some() { PENDING } else { DEAD })
                .bind(timestamp::format(retry_at.unwrap_or(now)))
                .bind(error.clone())
                .bind(*id),
                DeliveryOutcome::Released => sqlx::query(
                    "UPDATE deliveries SET claimed_until = NULL, attempts = attempts - 1 \
                     WHERE id = $1",
                )
                .bind(*id),
            };
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Gives claimed delivery `id` back unsent (an earlier one to its channel about its request
    /// failed): its attempt does not count, and it waits for the earlier one.
    pub async fn release_delivery(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE deliveries SET claimed_until = NULL, attempts = attempts - 1 WHERE id = $1",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Delivery `id` arrived.
    pub async fn delivery_sent(&self, id: i64) -> Result<(), StoreError> {
        let now = timestamp::format(timestamp::now());
        sqlx::query(
            "UPDATE deliveries SET status = $1, sent_at = $2, claimed_until = NULL, \
             last_error = NULL WHERE id = $3",
        )
        .bind(SENT)
        .bind(now.as_str())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Delivery `id` failed with `error` (scrubbed): tried again at `retry_at`, or dead.
    pub async fn delivery_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<OffsetDateTime>,
    ) -> Result<(), StoreError> {
        let (status, next) = match retry_at {
            Some(at) => (PENDING, at),
            None => (DEAD, timestamp::now()),
        };
        sqlx::query(
            "UPDATE deliveries SET status = $1, next_at = $2, claimed_until = NULL, \
             last_error = $3 WHERE id = $4",
        )
        .bind(status)
        .bind(timestamp::format(next))
        .bind(error)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The dead deliveries, newest first, at most `limit`.
    pub async fn dead_deliveries(&self, limit: i64) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.deliveries_where(Some(DEAD), None, limit).await
    }

    /// The deliveries about request `id`, oldest first (for tests and tools).
    pub async fn deliveries_of(&self, id: i64) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.deliveries_where(None, Some(id), i64::MAX).await
    }

    async fn deliveries_where(
        &self,
        status: Option<&str>,
        request: Option<i64>,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let order = if status.is_some() { "DESC" } else { "ASC" };
        let select = format!(
            "SELECT d.id, d.delivery, o.event, d.request_id, d.channel, d.recipient, d.status, \
             d.attempts, d.created_at, d.last_error FROM deliveries d \
             JOIN outbox o ON o.id = d.outbox_id \
             WHERE (CAST($1 AS TEXT) IS NULL OR d.status = $1) \
             AND (CAST($2 AS BIGINT) IS NULL OR d.request_id = $2) \
             ORDER BY d.id {order} LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(select))
            .bind(status)
            .bind(request)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(DeliveryRecord {
                    id: row.try_get("id")?,
                    delivery: row.try_get("delivery")?,
                    event: row.try_get("event")?,
                    request_id: row.try_get("request_id")?,
                    channel: row.try_get("channel")?,
                    recipient: row.try_get("recipient")?,
                    status: row.try_get("status")?,
                    attempts: row.try_get("attempts")?,
                    created_at: time_col(row, "created_at")?,
                    last_error: row.try_get("last_error")?,
                })
            })
            .collect()
    }

    /// Sends dead delivery `id` again (same delivery id), with a fresh retry window.
    pub async fn retry_delivery(&self, id: i64) -> Result<(), StoreError> {
        let now = timestamp::format(timestamp::now());
        let done = sqlx::query(
            "UPDATE deliveries SET status = $1, next_at = $2, created_at = $2, \
             claimed_until = NULL WHERE id = $3 AND status = $4",
        )
        .bind(PENDING)
        .bind(now.as_str())
        .bind(id)
        .bind(DEAD)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("dead delivery {id}")));
        }
        Ok(())
    }
}

/// The people `event`'s request concerns.
async fn audience(
    conn: &mut AnyConnection,
    event: &OutboxEvent,
) -> Result<Option<Audience>, StoreError> {
    let Some(row) = sqlx::query(
        "SELECT r.title, r.target, r.status, r.revision, a.name, a.email FROM requests r \
         JOIN users a ON a.id = r.author_id WHERE r.id = $1",
    )
    .bind(event.request_id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let revision = event.revision.unwrap_or(row.try_get("revision")?);
    let people = |rows: Vec<sqlx::any::AnyRow>| -> Result<Vec<Person>, StoreError> {
        rows.iter()
            .map(|r| {
                Ok(Person {
                    name: r.try_get("name")?,
                    email: r.try_get("email")?,
                })
            })
            .collect()
    };
    let reviewers = sqlx::query(
        "SELECT u.name, u.email FROM revision_reviewers rr JOIN users u ON u.id = rr.reviewer_id \
         WHERE rr.request_id = $1 AND rr.revision = $2 AND u.disabled_at IS NULL ORDER BY u.name",
    )
    .bind(event.request_id)
    .bind(revision)
    .fetch_all(&mut *conn)
    .await?;
    let admins = sqlx::query(
        "SELECT u.name, u.email FROM users u JOIN user_roles r ON r.user_id = u.id \
         WHERE r.role = 'admin' AND u.disabled_at IS NULL ORDER BY u.name",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some(Audience {
        title: row.try_get("title")?,
        target: row.try_get("target")?,
        status: parse(&row, "status")?,
        author: Person {
            name: row.try_get("name")?,
            email: row.try_get("email")?,
        },
        reviewers: people(reviewers)?,
        admins: people(admins)?,
    }))
}
