//! The audit trail: one event appended in the same transaction as the change it records, and
//! the reads that export, verify and page through it.
//!
//! The chain's head (`audit_head`, one row) is updated first in every append: on PostgreSQL that
//! row lock serialises writers across all server instances, and on SQLite the write lock does, so
//! `seq` is strictly increasing with no gaps and each event links to the one before it. Events
//! also commit in `seq` order, so reading onwards from the last `seq` seen never skips one.
//!
//! Reads of the whole trail ([`Store::audit_events`]) stream it in keyset pages of bounded size,
//! in constant memory whatever its length.

use countersign_core::audit::{AuditAction, AuditEntry, AuditEvent, FIRST_SEQ};
use countersign_core::timestamp;
use futures_util::{Stream, stream};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};
use time::OffsetDateTime;

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
    // What people are told of this event, in the same transaction.
    crate::outbox::enqueue(conn, &sealed).await?;
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

/// Which events to read. Every field that is set narrows the selection; the default selects
/// every event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Events at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Events strictly before this time, so that `until` of one window is `since` of the next.
    pub until: Option<OffsetDateTime>,
    /// Events by this user name.
    pub actor: Option<String>,
    pub request_id: Option<i64>,
    /// Events with this action, e.g. `review.approved`.
    pub action: Option<String>,
}

/// How many events one keyset page of [`Store::audit_events`] holds: the most it keeps in memory.
const STREAM_PAGE: i64 = 1000;

/// The one query behind every filtered read, oldest or newest first. Keyset bounds on `seq` (never
/// `OFFSET`) keep each page as cheap as the first; the filters use the `CAST($n AS …) IS NULL`
/// idiom so that one statement serves every combination on both backends. Times are fixed-width
/// text, so comparing them as text compares the times.
macro_rules! filtered_events {
    ($order:literal) => {
        concat!(
            "SELECT seq, at, actor, action, request_id, revision, details, prev_hash, hash \
             FROM audit_events \
             WHERE seq > $1 AND seq < $2 \
               AND (CAST($3 AS TEXT) IS NULL OR at >= $3) \
               AND (CAST($4 AS TEXT) IS NULL OR at < $4) \
               AND (CAST($5 AS TEXT) IS NULL OR actor = $5) \
               AND (CAST($6 AS BIGINT) IS NULL OR request_id = $6) \
               AND (CAST($7 AS TEXT) IS NULL OR action = $7) \
             ORDER BY seq ",
            $order,
            " LIMIT $8"
        )
    };
}

const OLDEST_FIRST: &str = filtered_events!("ASC");
const NEWEST_FIRST: &str = filtered_events!("DESC");

/// A filter in the form its query binds: times as the store's text.
#[derive(Debug, Clone)]
struct FilterParams {
    since: Option<String>,
    until: Option<String>,
    actor: Option<String>,
    request_id: Option<i64>,
    action: Option<String>,
}

impl From<&AuditFilter> for FilterParams {
    fn from(filter: &AuditFilter) -> FilterParams {
        FilterParams {
            since: filter.since.map(timestamp::format),
            until: filter.until.map(timestamp::format),
            actor: filter.actor.clone(),
            request_id: filter.request_id,
            action: filter.action.clone(),
        }
    }
}

impl FilterParams {
    /// Up to `limit` matching events with `after < seq < before`, in `order` (a filtered query).
    async fn fetch(
        &self,
        pool: &AnyPool,
        order: &'static str,
        after: i64,
        before: i64,
        limit: i64,
    ) -> Result<Vec<AnyRow>, StoreError> {
        Ok(sqlx::query(order)
            .bind(after)
            .bind(before)
            .bind(self.since.as_deref())
            .bind(self.until.as_deref())
            .bind(self.actor.as_deref())
            .bind(self.request_id)
            .bind(self.action.as_deref())
            .bind(limit)
            .fetch_all(pool)
            .await?)
    }
}

/// The state of an oldest-first stream: one page of rows at most, and where the next page starts.
struct Pager {
    pool: AnyPool,
    params: FilterParams,
    /// The `seq` of the last event handed out (0 before the first).
    after: i64,
    page: std::vec::IntoIter<AnyRow>,
    /// The last page read was short: no more pages to read.
    exhausted: bool,
}

impl Pager {
    async fn next_event(mut self) -> Result<Option<(AuditEvent, Pager)>, StoreError> {
        loop {
            if let Some(row) = self.page.next() {
                let event = event_from_row(&row)?;
                self.after = event.seq;
                return Ok(Some((event, self)));
            }
            if self.exhausted {
                return Ok(None);
            }
            let rows = self
                .params
                .fetch(&self.pool, OLDEST_FIRST, self.after, i64::MAX, STREAM_PAGE)
                .await?;
            self.exhausted = (rows.len() as i64) < STREAM_PAGE;
            self.page = rows.into_iter();
        }
    }
}

impl Store {
    /// Every event matching `filter`, oldest first, as a stream that holds at most one page of
    /// 1,000 events in memory however long the trail is: exports and verification
    /// read the whole trail through it.
    ///
    /// The stream owns a handle on the pool, so it may outlive `self` (an HTTP response body).
    /// It is not a snapshot: events appended while it runs are included if they come before its
    /// end. It ends after its first error.
    pub fn audit_events(
        &self,
        filter: &AuditFilter,
    ) -> impl Stream<Item = Result<AuditEvent, StoreError>> + Send + use<> {
        let pager = Pager {
            pool: self.pool.clone(),
            params: FilterParams::from(filter),
            after: FIRST_SEQ - 1,
            page: Vec::new().into_iter(),
            exhausted: false,
        };
        stream::try_unfold(pager, Pager::next_event)
    }

    /// Up to `limit` events matching `filter`, newest first, with a `seq` below `before_seq` when
    /// given (the last `seq` of the page before): the audit page's pages.
    pub async fn audit_page(
        &self,
        filter: &AuditFilter,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = FilterParams::from(filter)
            .fetch(
                &self.pool,
                NEWEST_FIRST,
                FIRST_SEQ - 1,
                before_seq.unwrap_or(i64::MAX),
                limit,
            )
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// The head of the chain: the `seq` and `hash` of the last event appended, or `0` and
    /// [`countersign_core::audit::GENESIS_HASH`] while there is none. A verification of the whole
    /// trail checks that it ends there, which catches events removed from its end.
    pub async fn audit_head(&self) -> Result<(i64, String), StoreError> {
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok((row.try_get("seq")?, row.try_get("hash")?))
    }
}
