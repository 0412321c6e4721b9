//! The audit trail: one event appended in the same transaction as the change it records, and
//! the reads that export, verify and page through it.
//!
//! The chain's head (`audit_head`, one row) is updated first in every append: on PostgreSQL that
//! row lock serialises writers across all server instances, and on SQLite the write lock does, so
//! `seq` is strictly increasing with no gaps and each event links to the one before it. Events
//! also commit in `seq` order, so reading onwards from the last `seq` seen never skips one.
//!
//! Reads of the whole trail ([`Store::audit_events`]) stream it in keyset pages of bounded size,
//! in constant memory whatever its length. Exports read it as stored ([`Store::audit_rows`]:
//! the time and the details as the text the store holds, which is already their exported form),
//! with the next page read while the current one is written.
//!
//! `details` is stored as its canonical JSON (`canonical_json`), `at` in the fixed form of
//! `countersign_core::timestamp`: an export may copy both as they are.

use countersign_core::audit::{AuditAction, AuditEntry, AuditEvent, FIRST_SEQ, canonical_json};
use countersign_core::timestamp;
use futures_util::{Stream, TryStreamExt, stream};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};
use time::OffsetDateTime;

use crate::select::Select;
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
    .bind(canonical_json(&sealed.details))
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
pub(crate) fn event_from_row(row: &AnyRow) -> Result<AuditEvent, StoreError> {
    StoredEvent::from_row(row)?.decode()
}

/// An event as the store holds it: the time and the details are the stored text, not parsed.
/// What exports write, byte for byte ([`StoredEvent::decode`] gives the [`AuditEvent`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: i64,
    /// The fixed RFC 3339 form of `countersign_core::timestamp`.
    pub at: String,
    pub actor: Option<String>,
    pub action: String,
    pub request_id: Option<i64>,
    pub revision: Option<i64>,
    /// Canonical JSON text.
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl StoredEvent {
    /// From a row of the native PostgreSQL driver (exports: see [`Store`]'s bulk pool).
    fn from_pg_row(row: &sqlx::postgres::PgRow) -> Result<StoredEvent, StoreError> {
        Ok(StoredEvent {
            seq: row.try_get(0)?,
            at: row.try_get(1)?,
            actor: row.try_get(2)?,
            action: row.try_get(3)?,
            request_id: row.try_get(4)?,
            revision: row.try_get(5)?,
            details: row.try_get(6)?,
            prev_hash: row.try_get(7)?,
            hash: row.try_get(8)?,
        })
    }

    fn from_row(row: &AnyRow) -> Result<StoredEvent, StoreError> {
        Ok(StoredEvent {
            seq: row.try_get("seq")?,
            at: row.try_get("at")?,
            actor: row.try_get("actor")?,
            action: row.try_get("action")?,
            request_id: row.try_get("request_id")?,
            revision: row.try_get("revision")?,
            details: row.try_get("details")?,
            prev_hash: row.try_get("prev_hash")?,
            hash: row.try_get("hash")?,
        })
    }

    /// The event as the store wrote it (its time and details in their stored form).
    pub fn from_event(event: &AuditEvent) -> StoredEvent {
        StoredEvent {
            seq: event.seq,
            at: timestamp::format(event.at),
            actor: event.actor.clone(),
            action: event.action.clone(),
            request_id: event.request_id,
            revision: event.revision,
            details: canonical_json(&event.details),
            prev_hash: event.prev_hash.clone(),
            hash: event.hash.clone(),
        }
    }

    /// The event, its time and details parsed.
    pub fn decode(self) -> Result<AuditEvent, StoreError> {
        let at = timestamp::parse(&self.at)
            .map_err(|_| StoreError::Corrupt(format!("event time {:?}", self.at)))?;
        let details = serde_json::from_str(&self.details)
            .map_err(|e| StoreError::Corrupt(format!("event details: {e}")))?;
        Ok(AuditEvent {
            seq: self.seq,
            at,
            actor: self.actor,
            action: self.action,
            request_id: self.request_id,
            revision: self.revision,
            details,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
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

/// How many events one keyset page of [`Store::audit_events`] holds: it keeps two in memory.
const STREAM_PAGE: i64 = 2000;

/// Which way a filtered read walks the trail.
#[derive(Debug, Clone, Copy)]
enum Order {
    OldestFirst,
    NewestFirst,
}

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
    /// The query behind every filtered read: keyset bounds on `seq` (never `OFFSET`) keep each
    /// page as cheap as the first, and only the filters that are set are named, so that an
    /// equality on `actor`, `request_id` or `action` is served by its `(…, seq)` index in `seq`
    /// order (migrations `0012_list_indexes.sql`). Times are fixed-width text, so comparing
    /// them as text compares the times.
    fn select(&self, order: Order, after: i64, before: i64, limit: i64) -> Select {
        let mut q = Select::new(
            "SELECT seq, at, actor, action, request_id, revision, details, prev_hash, hash \
             FROM audit_events WHERE seq > ",
        );
        q.int(after).push(" AND seq < ").int(before);
        if let Some(since) = &self.since {
            q.push(" AND at >= ").text(since.as_str());
        }
        if let Some(until) = &self.until {
            q.push(" AND at < ").text(until.as_str());
        }
        if let Some(actor) = &self.actor {
            q.push(" AND actor = ").text(actor.as_str());
        }
        if let Some(request_id) = self.request_id {
            q.push(" AND request_id = ").int(request_id);
        }
        if let Some(action) = &self.action {
            q.push(" AND action = ").text(action.as_str());
        }
        q.push(match order {
            Order::OldestFirst => " ORDER BY seq ASC",
            Order::NewestFirst => " ORDER BY seq DESC",
        })
        .limit(limit);
        q
    }

    /// Up to `limit` matching events with `after < seq < before`, in `order`.
    async fn fetch(
        &self,
        pool: &AnyPool,
        order: Order,
        after: i64,
        before: i64,
        limit: i64,
    ) -> Result<Vec<AnyRow>, StoreError> {
        Ok(self
            .select(order, after, before, limit)
            .query_once()
            .fetch_all(pool)
            .await?)
    }
}

/// A page being read: by a task of its own, so that the next page is on its way while the
/// current one is written out.
type PageRead = tokio::task::JoinHandle<Result<Vec<StoredEvent>, StoreError>>;

/// Where a stream's pages are read from: the store's pool, or on PostgreSQL its bulk pool.
#[derive(Clone)]
enum Reader {
    Any(AnyPool),
    Postgres(sqlx::postgres::PgPool),
}

impl Reader {
    async fn page(
        &self,
        params: &FilterParams,
        after: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let select = params.select(Order::OldestFirst, after, i64::MAX, STREAM_PAGE);
        match self {
            Reader::Any(pool) => {
                let rows = select.query_once().fetch_all(pool).await?;
                rows.iter().map(StoredEvent::from_row).collect()
            }
            Reader::Postgres(pool) => {
                let rows = select.postgres().fetch_all(pool).await?;
                rows.iter().map(StoredEvent::from_pg_row).collect()
            }
        }
    }
}

/// The state of an oldest-first stream: one page of events, and the read of the next.
struct Pager {
    reader: Reader,
    params: FilterParams,
    page: std::vec::IntoIter<StoredEvent>,
    /// The read of the next page; `None` once a short page said there is none.
    next: Option<PageRead>,
}

impl Pager {
    fn new(reader: Reader, params: FilterParams) -> Pager {
        let next = Some(Pager::read(&reader, &params, FIRST_SEQ - 1));
        Pager {
            reader,
            params,
            page: Vec::new().into_iter(),
            next,
        }
    }

    /// Starts reading the page of events after `after`.
    fn read(reader: &Reader, params: &FilterParams, after: i64) -> PageRead {
        let (reader, params) = (reader.clone(), params.clone());
        tokio::spawn(async move { reader.page(&params, after).await })
    }

    async fn next_event(mut self) -> Result<Option<(StoredEvent, Pager)>, StoreError> {
        loop {
            if let Some(event) = self.page.next() {
                return Ok(Some((event, self)));
            }
            let Some(read) = self.next.take() else {
                return Ok(None);
            };
            let page = read
                .await
                .map_err(|e| StoreError::ReadStopped(e.to_string()))??;
            // A full page may have more after it: read on while this one is handed out.
            if page.len() as i64 == STREAM_PAGE
                && let Some(last) = page.last()
            {
                self.next = Some(Pager::read(&self.reader, &self.params, last.seq));
            }
            self.page = page.into_iter();
        }
    }
}

impl Drop for Pager {
    fn drop(&mut self) {
        // A stream dropped part way (a client gone) stops its read ahead.
        if let Some(read) = self.next.take() {
            read.abort();
        }
    }
}

/// The export formats PostgreSQL can write itself, byte for byte as the server's writer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyFormat {
    /// With the header row.
    Csv,
    JsonLines,
}

/// A copied export: the database's bytes, one event (or the CSV header) a chunk.
pub type CopyChunks = futures_util::stream::BoxStream<'static, Result<CopiedChunk, StoreError>>;

/// One chunk of a copied export: its bytes (`as_ref()`).
pub type CopiedChunk = bytes::Bytes;

impl FilterParams {
    /// The `WHERE` conditions with every value as a literal that PostgreSQL quoted itself
    /// (`quote_literal`, for the session's settings): `COPY` takes no parameters.
    async fn copy_conditions(&self, pool: &sqlx::postgres::PgPool) -> Result<String, StoreError> {
        let row = sqlx::query(
            "SELECT quote_literal(CAST($1 AS TEXT)), quote_literal(CAST($2 AS TEXT)), \
             quote_literal(CAST($3 AS TEXT)), quote_literal(CAST($4 AS TEXT))",
        )
        .bind(self.since.as_deref())
        .bind(self.until.as_deref())
        .bind(self.actor.as_deref())
        .bind(self.action.as_deref())
        .fetch_one(pool)
        .await?;
        let quoted = |i: usize| row.try_get::<Option<String>, _>(i);
        let mut conditions = String::from("TRUE");
        for (column, op, literal) in [
            ("at", ">=", quoted(0)?),
            ("at", "<", quoted(1)?),
            ("actor", "=", quoted(2)?),
            ("action", "=", quoted(3)?),
        ] {
            if let Some(literal) = literal {
                conditions.push_str(&format!(" AND {column} {op} {literal}"));
            }
        }
        if let Some(request_id) = self.request_id {
            conditions.push_str(&format!(" AND request_id = {request_id}"));
        }
        Ok(conditions)
    }
}

/// Each event as the line of the JSON Lines export, exactly as serde_json writes an
/// [`AuditEvent`]: PostgreSQL's `to_json` escapes strings as serde_json does, and `details`
/// is stored as canonical JSON.
const JSON_LINE: &str = "'{\"seq\":' || seq || ',\"at\":' || to_json(at) \
    || ',\"actor\":' || COALESCE(to_json(actor)::text, 'null') \
    || ',\"action\":' || to_json(action) \
    || ',\"request_id\":' || COALESCE(request_id::text, 'null') \
    || ',\"revision\":' || COALESCE(revision::text, 'null') \
    || ',\"details\":' || details \
    || ',\"prev_hash\":' || to_json(prev_hash) || ',\"hash\":' || to_json(hash) || '}'";

impl Store {
    /// On PostgreSQL, the events matching `filter`, oldest first, as the export writes them —
    /// CSV with its header row, or JSON Lines — but written by the database itself
    /// (`COPY (SELECT …) TO STDOUT`, as `psql \copy` does), one event a chunk, read from one
    /// snapshot. `None` on SQLite, whose exports go through [`Store::audit_rows`].
    ///
    /// JSON Lines come out of `COPY … (FORMAT csv)` with a quote and a delimiter character that
    /// no line holds (`\x01`, `\x02`: control characters, which JSON escapes), so each line is
    /// copied as it is.
    pub async fn audit_copy(
        &self,
        filter: &AuditFilter,
        format: CopyFormat,
    ) -> Result<Option<CopyChunks>, StoreError> {
        use futures_util::StreamExt;
        use sqlx::postgres::PgPoolCopyExt;
        let Some(pool) = &self.bulk else {
            return Ok(None);
        };
        let conditions = FilterParams::from(filter).copy_conditions(pool).await?;
        let statement = match format {
            CopyFormat::Csv => format!(
                "COPY (SELECT seq, at, actor, action, request_id, revision, details, prev_hash, \
                 hash FROM audit_events WHERE {conditions} ORDER BY seq) \
                 TO STDOUT WITH (FORMAT csv, HEADER)"
            ),
            CopyFormat::JsonLines => format!(
                "COPY (SELECT {JSON_LINE} FROM audit_events WHERE {conditions} ORDER BY seq) \
                 TO STDOUT WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"
            ),
        };
        let chunks = pool.copy_out_raw(&statement).await?;
        Ok(Some(chunks.map(|chunk| Ok(chunk?)).boxed()))
    }
}

impl Store {
    /// Every event matching `filter`, oldest first, as a stream that holds at most two pages of
    /// 2,000 events in memory (the one handed out and the next, read meanwhile) however long
    /// the trail is: verification reads the whole trail through it.
    ///
    /// The stream owns a handle on the pool, so it may outlive `self` (an HTTP response body);
    /// it must be polled inside a Tokio runtime. It is not a snapshot: events appended while it
    /// runs are included if they come before its end. It ends after its first error.
    pub fn audit_events(
        &self,
        filter: &AuditFilter,
    ) -> impl Stream<Item = Result<AuditEvent, StoreError>> + Send + use<> {
        self.audit_rows(filter)
            .and_then(|row| std::future::ready(row.decode()))
    }

    /// [`Store::audit_events`] as the store holds them, time and details unparsed: what exports
    /// write.
    pub fn audit_rows(
        &self,
        filter: &AuditFilter,
    ) -> impl Stream<Item = Result<StoredEvent, StoreError>> + Send + use<> {
        let reader = match &self.bulk {
            Some(pg) => Reader::Postgres(pg.clone()),
            None => Reader::Any(self.pool.clone()),
        };
        let pager = Pager::new(reader, FilterParams::from(filter));
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
                Order::NewestFirst,
                FIRST_SEQ - 1,
                before_seq.unwrap_or(i64::MAX),
                limit,
            )
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// The backend's query plan of [`Store::audit_page`] for `filter`, one line a step: for the
    /// test that the audit filters are served by indexes.
    #[cfg(feature = "testing")]
    pub async fn audit_page_plan(&self, filter: &AuditFilter) -> Result<Vec<String>, StoreError> {
        let select =
            FilterParams::from(filter).select(Order::NewestFirst, FIRST_SEQ - 1, i64::MAX, 50);
        crate::select::plan_lines(&self.pool, select.explain(self.backend)).await
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
