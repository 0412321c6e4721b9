//! Edit requests, their revisions and named reviewers, reviews, and their one execution.
//!
//! Every change is a conditional update on the status (and revision) the caller saw
//! (`… WHERE status = $expected`), made in one transaction with its audit event, so two racing
//! actions cannot both succeed and no action lands without its event.

use countersign_core::audit::AuditAction;
use countersign_core::lifecycle::ActionKind;
use countersign_core::policy::RiskLevel;
use countersign_core::request::{RequestStatus, Review, ReviewDecision, sql_sha256};
use countersign_core::timestamp;
use countersign_core::user::User;
use serde_json::{Value, json};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use crate::audit::{NewEvent, append};
use crate::columns::{parse, time_col};
use crate::executions::ExecutionRecord;
use crate::list_cache::{KeptPage, ListKey, StoreVersion};
use crate::select::Select;
use crate::transition::only_source;
use crate::users::user_with_roles;
use crate::{Backend, Conflict, Store, StoreError};

/// What a revision holds, as submitted (the store computes the SQL's hash).
#[derive(Debug, Clone)]
pub struct RevisionInput<'a> {
    pub intent: &'a str,
    pub sql: &'a str,
    pub expected_rows: Option<i64>,
    /// The named reviewers (existing users; the caller has checked their roles).
    pub reviewers: &'a [User],
    pub risk: RiskLevel,
    /// The analyzer's report, stored as JSON.
    pub analysis: &'a Value,
    /// Submitted to run without undo (design §11): reviewers see it in words.
    pub without_undo: bool,
}

/// One revision of a request, with its named reviewers.
#[derive(Debug, Clone, PartialEq)]
pub struct RevisionRecord {
    pub revision: i64,
    pub intent: String,
    pub sql: String,
    pub sql_sha256: String,
    pub expected_rows: Option<i64>,
    pub risk: RiskLevel,
    pub analysis: Value,
    pub reviewers: Vec<String>,
    pub created_at: OffsetDateTime,
    /// Submitted to run without undo.
    pub without_undo: bool,
}

/// A request with everything about it.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    pub id: i64,
    pub title: String,
    pub target: String,
    pub author: String,
    pub status: RequestStatus,
    /// The current revision's number.
    pub revision: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// Every revision, oldest first; the last is the current one.
    pub revisions: Vec<RevisionRecord>,
    /// Every review of every revision, oldest first.
    pub reviews: Vec<Review>,
    pub execution: Option<ExecutionRecord>,
    /// The request whose execution this one reverts.
    pub reverts: Option<i64>,
    /// The requests that revert this one's execution, oldest first.
    pub reverted_by: Vec<i64>,
}

impl RequestRecord {
    /// The current revision.
    pub fn current(&self) -> &RevisionRecord {
        // A request is written with its first revision in one transaction, and read back
        // with all of them, so the list is never empty.
        self.revisions
            .last()
            .unwrap_or_else(|| unreachable!("request #{} has no revision", self.id))
    }

    /// The reviews of the current revision.
    pub fn current_reviews(&self) -> impl Iterator<Item = &Review> {
        self.reviews.iter().filter(|r| r.revision == self.revision)
    }
}

/// A line of a request list (read from the JSON of [`Store::list_requests_json`]).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct RequestSummary {
    pub id: i64,
    pub title: String,
    pub target: String,
    pub author: String,
    pub status: RequestStatus,
    pub revision: i64,
    pub risk: RiskLevel,
    #[serde(with = "countersign_core::timestamp_serde")]
    pub created_at: OffsetDateTime,
    #[serde(with = "countersign_core::timestamp_serde")]
    pub updated_at: OffsetDateTime,
}

/// Which requests to list; every field narrows the list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RequestFilter {
    pub status: Option<RequestStatus>,
    pub author: Option<String>,
    /// Named on the current revision.
    pub reviewer: Option<String>,
    pub target: Option<String>,
    /// Pending review and not yet reviewed (on the current revision) by this user.
    pub awaiting_review_by: Option<String>,
    /// Only requests with an id below this (the cursor of the page before).
    pub before_id: Option<i64>,
}

impl Store {
    /// Records a new request in `pending_review` with its first revision; returns its id.
    pub async fn submit_request(
        &self,
        author: &User,
        title: &str,
        target: &str,
        rev: &RevisionInput<'_>,
    ) -> Result<i64, StoreError> {
        self.submit(author, title, target, rev, None).await
    }

    /// Records a new request that reverts the execution of request `reverts` (its SQL
    /// generated from that execution's images), linked both ways; returns its id.
    pub async fn submit_revert(
        &self,
        author: &User,
        title: &str,
        target: &str,
        rev: &RevisionInput<'_>,
        reverts: i64,
    ) -> Result<i64, StoreError> {
        self.submit(author, title, target, rev, Some(reverts)).await
    }

    async fn submit(
        &self,
        author: &User,
        title: &str,
        target: &str,
        rev: &RevisionInput<'_>,
        reverts: Option<i64>,
    ) -> Result<i64, StoreError> {
        let now = timestamp::format(timestamp::now());
        let mut tx = self.write_tx().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO requests \
             (title, target, author_id, status, revision, created_at, updated_at, reverts) \
             VALUES ($1, $2, $3, $4, 1, $5, $5, $6) RETURNING id",
        )
        .bind(title)
        .bind(target)
        .bind(author.id)
        .bind(RequestStatus::PendingReview.as_str())
        .bind(now.as_str())
        .bind(reverts)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        let sha = insert_revision(&mut tx, id, 1, rev, &now).await?;
        let mut details = json!({
            "title": title,
            "target": target,
            "sql_sha256": sha,
            "risk": rev.risk,
            "expected_rows": rev.expected_rows,
            "reviewers": names(rev.reviewers),
        });
        if rev.without_undo {
            details["without_undo"] = json!(true);
        }
        if let Some(reverts) = reverts {
            details["reverts"] = json!(reverts);
        }
        append(
            &mut tx,
            NewEvent::new(Some(&author.name), AuditAction::RequestSubmitted, details)
                .on_request(id, 1),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Revises request `id`, which the caller saw in `seen_status` at `seen_revision`: a new title
    /// and, when `rev` is given, a new revision that goes back to `pending_review` (reviews of
    /// earlier revisions no longer count). Returns the revision number now current.
    pub async fn revise_request(
        &self,
        id: i64,
        actor: &User,
        seen_status: RequestStatus,
        seen_revision: i64,
        title: &str,
        rev: Option<&RevisionInput<'_>>,
    ) -> Result<i64, StoreError> {
        let now = timestamp::format(timestamp::now());
        let mut tx = self.write_tx().await?;
        let (new_status, new_revision) = match rev {
            Some(_) => (RequestStatus::PendingReview, seen_revision + 1),
            None => (seen_status, seen_revision),
        };
        let updated = sqlx::query(
            "UPDATE requests SET title = $1, status = $2, revision = $3, updated_at = $4 \
             WHERE id = $5 AND status = $6 AND revision = $7",
        )
        .bind(title)
        .bind(new_status.as_str())
        .bind(new_revision)
        .bind(now.as_str())
        .bind(id)
        .bind(seen_status.as_str())
        .bind(seen_revision)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(changed_meanwhile(id));
        }
        let mut details = json!({ "title": title, "new_revision": rev.is_some() });
        if let Some(rev) = rev {
            let sha = insert_revision(&mut tx, id, new_revision, rev, &now).await?;
            details = json!({
                "title": title,
                "new_revision": true,
                "sql_sha256": sha,
                "risk": rev.risk,
                "expected_rows": rev.expected_rows,
                "reviewers": names(rev.reviewers),
                "without_undo": rev.without_undo,
            });
        }
        append(
            &mut tx,
            NewEvent::new(Some(&actor.name), AuditAction::RequestRevised, details)
                .on_request(id, new_revision),
        )
        .await?;
        tx.commit().await?;
        Ok(new_revision)
    }

    /// Records `reviewer`'s review of revision `revision` (whose SQL hashes to `sql_sha256`) while
    /// the request is `pending_review` at that revision. `decide` is given every review of that
    /// revision, the new one included, read inside the transaction, and names the status that
    /// follows; returns it.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_review(
        &self,
        id: i64,
        reviewer: &User,
        revision: i64,
        sql_sha256: &str,
        decision: ReviewDecision,
        comment: &str,
        rehearsal_id: Option<i64>,
        decide: impl FnOnce(&[Review]) -> RequestStatus,
    ) -> Result<RequestStatus, StoreError> {
        let now = timestamp::now();
        let mut tx = self.write_tx().await?;
        // Claim the row first: concurrent reviews of one request then run one after another.
        let claimed = sqlx::query(
            "UPDATE requests SET updated_at = $1 WHERE id = $2 AND status = $3 AND revision = $4",
        )
        .bind(timestamp::format(now))
        .bind(id)
        .bind(only_source(ActionKind::Review))
        .bind(revision)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            return Err(changed_meanwhile(id));
        }
        let current_sha: String =
            sqlx::query("SELECT sql_sha256 FROM revisions WHERE request_id = $1 AND revision = $2")
                .bind(id)
                .bind(revision)
                .fetch_one(&mut *tx)
                .await?
                .try_get("sql_sha256")?;
        if current_sha != sql_sha256 {
            return Err(changed_meanwhile(id));
        }
        // One review per reviewer per revision: a second would count twice toward approval.
        let already = sqlx::query(
            "SELECT 1 AS one FROM reviews WHERE request_id = $1 AND revision = $2 \
             AND reviewer_id = $3",
        )
        .bind(id)
        .bind(revision)
        .bind(reviewer.id)
        .fetch_optional(&mut *tx)
        .await?;
        if already.is_some() {
            return Err(StoreError::Conflict(Conflict::AlreadyReviewed {
                reviewer: reviewer.name.clone(),
                revision,
                request: id,
            }));
        }
        sqlx::query(
            "INSERT INTO reviews (request_id, revision, reviewer_id, decision, comment, sql_sha256, \
             created_at, rehearsal_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(revision)
        .bind(reviewer.id)
        .bind(decision.as_str())
        .bind(comment)
        .bind(sql_sha256)
        .bind(timestamp::format(now))
        .bind(rehearsal_id)
        .execute(&mut *tx)
        .await?;
        let reviews = reviews_of(&mut tx, id, Some(revision)).await?;
        let status = decide(&reviews);
        if status != RequestStatus::PendingReview {
            sqlx::query("UPDATE requests SET status = $1 WHERE id = $2")
                .bind(status.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let action = match decision {
            ReviewDecision::Approve => AuditAction::ReviewApproved,
            ReviewDecision::Reject => AuditAction::ReviewRejected,
        };
        let details = json!({
            "comment": comment,
            "sql_sha256": sql_sha256,
            "status": status,
            "rehearsal_id": rehearsal_id,
        });
        append(
            &mut tx,
            NewEvent::new(Some(&reviewer.name), action, details).on_request(id, revision),
        )
        .await?;
        tx.commit().await?;
        Ok(status)
    }

    /// Moves request `id` from `from` to `to` if it is still in `from`, recording `event`.
    pub async fn change_status(
        &self,
        id: i64,
        from: RequestStatus,
        to: RequestStatus,
        event: NewEvent<'_>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE requests SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
        )
        .bind(to.as_str())
        .bind(timestamp::format(timestamp::now()))
        .bind(id)
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(changed_meanwhile(id));
        }
        append(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Request `id` with its revisions, reviews and execution.
    pub async fn request(&self, id: i64) -> Result<Option<RequestRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let Some(row) = sqlx::query(
            "SELECT r.id, r.title, r.target, a.name AS author, r.status, r.revision, \
             r.created_at, r.updated_at, r.reverts \
             FROM requests r JOIN users a ON a.id = r.author_id WHERE r.id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        else {
            return Ok(None);
        };
        let revisions = revisions_of(&mut conn, id).await?;
        let reviews = reviews_of(&mut conn, id, None).await?;
        let execution = crate::executions::execution_of(&mut conn, id).await?;
        let reverted_by: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM requests WHERE reverts = $1 ORDER BY id")
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
        Ok(Some(RequestRecord {
            id,
            title: row.try_get("title")?,
            target: row.try_get("target")?,
            author: row.try_get("author")?,
            status: parse(&row, "status")?,
            revision: row.try_get("revision")?,
            created_at: time_col(&row, "created_at")?,
            updated_at: time_col(&row, "updated_at")?,
            revisions,
            reviews,
            execution,
            reverts: row.try_get("reverts")?,
            reverted_by,
        }))
    }

    /// Up to `limit` requests matching `filter`, newest first.
    ///
    /// Each page costs O(`limit`) whatever the store holds: see [`list_select`]. Read from the
    /// page's JSON ([`Store::list_requests_json`]): one value from the database, not a row each.
    pub async fn list_requests(
        &self,
        filter: &RequestFilter,
        limit: i64,
    ) -> Result<Vec<RequestSummary>, StoreError> {
        let page = self.list_requests_json(filter, limit).await?;
        serde_json::from_str(&page.items)
            .map_err(|e| StoreError::Corrupt(format!("request list: {e}")))
    }

    /// Up to `limit` requests matching `filter`, newest first, as the JSON array the API
    /// answers with — written by the database, which holds every field already in the form the
    /// API gives it (timestamps in their one text form, statuses and risks as their names): no
    /// row crosses into the app one by one. (A store test compares every item with the request
    /// read on its own, and pages every filter through with its cursor.)
    pub async fn list_requests_json(
        &self,
        filter: &RequestFilter,
        limit: i64,
    ) -> Result<SummaryPage, StoreError> {
        let Some(ids) = self.filter_users(filter).await? else {
            return Ok(SummaryPage::default());
        };
        self.list_page(filter, &ids, limit).await
    }

    /// [`Store::list_requests_json`] once the users `filter` names are found.
    async fn list_page(
        &self,
        filter: &RequestFilter,
        ids: &FilterUsers,
        limit: i64,
    ) -> Result<SummaryPage, StoreError> {
        // The page's rows once (`MATERIALIZED`); the one beyond `limit`, if any, only says that
        // a page follows.
        let mut select = Select::new("WITH page AS MATERIALIZED (");
        list_select(&mut select, filter, ids, self.backend, limit + 1);
        select.push(") ").push_with(page_json(self.backend), limit);
        let row = select.query(self.backend).fetch_one(&self.pool).await?;
        summary_page(&row, limit)
    }

    /// [`Store::list_requests`] as of `version`, the store's version read with the caller: a
    /// page read before at that version is answered from memory (see
    /// [`list_cache`](crate::list_cache)), any other is read and kept.
    pub async fn list_requests_at(
        &self,
        filter: &RequestFilter,
        limit: i64,
        version: StoreVersion,
    ) -> Result<Vec<RequestSummary>, StoreError> {
        self.kept_list(filter, limit, version).await?.rows()
    }

    /// [`Store::list_requests_json`] as of `version`: see [`Store::list_requests_at`].
    pub async fn list_requests_json_at(
        &self,
        filter: &RequestFilter,
        limit: i64,
        version: StoreVersion,
    ) -> Result<SummaryPage, StoreError> {
        Ok(self.kept_list(filter, limit, version).await?.page.clone())
    }

    async fn kept_list(
        &self,
        filter: &RequestFilter,
        limit: i64,
        version: StoreVersion,
    ) -> Result<std::sync::Arc<KeptPage>, StoreError> {
        let key = ListKey {
            filter: filter.clone(),
            limit,
        };
        if let Some(kept) = self.lists.get(&key, version) {
            return Ok(kept);
        }
        let page = self.list_requests_json(filter, limit).await?;
        Ok(self.lists.keep(key, version, page))
    }

    /// [`Store::list_requests_json`] for the caller holding the live token with hash
    /// `token_hash`, and that caller; `None` when the token lets no one in (then no request is
    /// read). Notes the token's use. The token's look-up reads the store's version, and a page
    /// kept at that version is answered from memory ([`Store::list_requests_at`]). A page not
    /// kept yet is read in the token's statement where the list's statement is kept prepared
    /// (a first call costs one query too); a statement PostgreSQL plans at each call is not
    /// made longer to plan — the token is looked up on its own first.
    pub async fn list_requests_json_for_token(
        &self,
        token_hash: &str,
        filter: &RequestFilter,
        limit: i64,
    ) -> Result<Option<(User, SummaryPage)>, StoreError> {
        let key = ListKey {
            filter: filter.clone(),
            limit,
        };
        let ids = self.filter_users(filter).await?;
        let someone_named_is_missing = ids.is_none();
        let one_statement = ids.as_ref().is_some_and(|ids| {
            !self.lists.holds(&key)
                && Select::kept_prepared(self.backend, one_plan_for_any_value(filter, ids))
        });
        let (Some(ids), true) = (ids, one_statement) else {
            let Some((user, version)) = self.caller_by_token_hash(token_hash).await? else {
                return Ok(None);
            };
            // A filter naming no user lists nothing: not worth keeping, nor looking up again.
            let page = if someone_named_is_missing {
                SummaryPage::default()
            } else {
                self.kept_list(filter, limit, version).await?.page.clone()
            };
            return Ok(Some((user, page)));
        };
        let now = timestamp::now();
        let mut select = Select::new("WITH caller AS (");
        crate::tokens::caller_select(&mut select, self.backend, token_hash, now);
        select.push("), page AS MATERIALIZED (");
        list_select(&mut select, filter, &ids, self.backend, limit + 1);
        // The page is read only for a caller: without one, the join ends before it.
        select
            .push(
                ") SELECT c.id, c.name, c.disabled_at, c.token_id, c.last_used_at, c.roles, \
                 c.store_version, p.items, p.n, p.last FROM caller c CROSS JOIN (",
            )
            .push_with(page_json(self.backend), limit)
            .push(") AS p");
        let mut conn = self.pool.acquire().await?;
        let Some(row) = select
            .query(self.backend)
            .fetch_optional(&mut *conn)
            .await?
        else {
            return Ok(None);
        };
        crate::tokens::note_use(&mut conn, &row, now).await?;
        let page = summary_page(&row, limit)?;
        // Read in the same statement as the version: exactly that recent.
        let version = StoreVersion(row.try_get("store_version")?);
        self.lists.keep(key, version, page.clone());
        Ok(Some((user_with_roles(&row)?, page)))
    }

    /// The backend's query plan of [`Store::list_requests`] for `filter`, one line a step: for
    /// the test that every filter is served by an index. Empty when a user it names does not
    /// exist (the list is then answered without a query).
    #[cfg(feature = "testing")]
    pub async fn list_requests_plan(
        &self,
        filter: &RequestFilter,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let Some(ids) = self.filter_users(filter).await? else {
            return Ok(Vec::new());
        };
        let mut select = Select::new("");
        list_select(&mut select, filter, &ids, self.backend, limit);
        select.plan(&self.pool, self.backend).await
    }

    /// The ids of the users `filter` names, or `None` when one of them does not exist (then no
    /// request matches). Binding ids, rather than comparing names in the list query, lets
    /// PostgreSQL plan with the statistics of the value it is given. Names found once are
    /// known from then on ([`KnownIds`](crate::users::KnownIds)): a list then costs one query.
    async fn filter_users(
        &self,
        filter: &RequestFilter,
    ) -> Result<Option<FilterUsers>, StoreError> {
        let names = [&filter.author, &filter.reviewer, &filter.awaiting_review_by];
        if names.iter().all(|n| n.is_none()) {
            return Ok(Some(FilterUsers::default()));
        }
        let mut found = Vec::with_capacity(names.len());
        let known =
            names
                .iter()
                .filter_map(|n| n.as_deref())
                .all(|name| match self.user_ids.get(name) {
                    Some(id) => {
                        found.push((name.to_owned(), id));
                        true
                    }
                    None => false,
                });
        if !known {
            let rows = sqlx::query("SELECT id, name FROM users WHERE name IN ($1, $2, $3)")
                .bind(filter.author.as_deref())
                .bind(filter.reviewer.as_deref())
                .bind(filter.awaiting_review_by.as_deref())
                .fetch_all(&self.pool)
                .await?;
            found.clear();
            for row in &rows {
                let (name, id) = (row.try_get::<String, _>("name")?, row.try_get("id")?);
                self.user_ids.insert(&name, id);
                found.push((name, id));
            }
        }
        let id_of = |name: &Option<String>| -> Result<Option<i64>, ()> {
            match name {
                None => Ok(None),
                Some(name) => found
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, id)| Some(*id))
                    .ok_or(()),
            }
        };
        let (Ok(author), Ok(reviewer), Ok(awaiting)) = (
            id_of(&filter.author),
            id_of(&filter.reviewer),
            id_of(&filter.awaiting_review_by),
        ) else {
            return Ok(None);
        };
        Ok(Some(FilterUsers {
            author,
            reviewer,
            awaiting,
        }))
    }
}

/// The JSON of a list page from the statement's `page` (the page's rows and the one beyond
/// it, if any): `items` (at most `$v` of them, newest first), `n` (the rows read) and `last`
/// (the oldest id read; never NULL: sqlx would otherwise work out the column's type afresh on
/// every call).
fn page_json(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "SELECT json_group_array(json_object('id', id, 'title', title, \
             'target', target, 'author', author, 'status', status, 'revision', revision, \
             'risk', risk, 'created_at', created_at, 'updated_at', updated_at) \
             ORDER BY id DESC) FILTER (WHERE (SELECT count(*) FROM page) <= $v \
             OR id > (SELECT min(id) FROM page)) AS items, count(*) AS n, \
             COALESCE(min(id), 0) AS last FROM page"
        }
        Backend::Postgres => {
            "SELECT COALESCE(json_agg(page ORDER BY id DESC) \
             FILTER (WHERE (SELECT count(*) FROM page) <= $v \
             OR id > (SELECT min(id) FROM page)), '[]')::text AS items, count(*) AS n, \
             COALESCE(min(id), 0) AS last FROM page"
        }
    }
}

/// A list page from a row with [`page_json`]'s columns.
fn summary_page(row: &AnyRow, limit: i64) -> Result<SummaryPage, StoreError> {
    let n: i64 = row.try_get("n")?;
    // The next page starts at the row beyond this one: below its id + 1.
    let beyond: i64 = row.try_get("last")?;
    Ok(SummaryPage {
        items: row.try_get("items")?,
        next_before: (n > limit).then_some(beyond + 1),
    })
}

/// A page of the request list as JSON: see [`Store::list_requests_json`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryPage {
    /// A JSON array of the page's requests, newest first.
    pub items: String,
    /// When another page follows: the cursor of the next page (it lists the requests with ids
    /// below this one: the first of them is the request beyond this page).
    pub next_before: Option<i64>,
}

impl Default for SummaryPage {
    fn default() -> SummaryPage {
        SummaryPage {
            items: "[]".to_owned(),
            next_before: None,
        }
    }
}

/// The users a [`RequestFilter`] names, by id.
#[derive(Debug, Clone, Copy, Default)]
struct FilterUsers {
    author: Option<i64>,
    reviewer: Option<i64>,
    awaiting: Option<i64>,
}

/// The list query for `filter`: only the conditions of the filters that are set, driven by the
/// index that serves one of them in `id DESC` order, so that the database reads the page's rows
/// and stops (migrations `0012_list_indexes.sql`):
///
/// - waiting for a reviewer: `pending_reviews (reviewer_id, request_id)`, kept by triggers;
/// - named reviewer: `revision_reviewers (reviewer_id, request_id)`;
/// - otherwise `requests` by `(author_id, id)`, `(target, id)` or `(status, id)`, or its primary
///   key when nothing is filtered.
///
/// The other filters set are checked on the rows the driving index yields. SQLite is told the
/// index (`INDEXED BY`: it plans without the values); PostgreSQL plans an author's or a
/// target's list at each call with its values (the statement is not kept prepared) and its
/// statistics, and may walk the primary key when a value is common. A status is written into
/// the statement, so PostgreSQL plans each status's list for that status and keeps it.
fn list_select(
    q: &mut Select,
    filter: &RequestFilter,
    ids: &FilterUsers,
    backend: Backend,
    limit: i64,
) {
    // `CROSS JOIN` keeps SQLite's join order as written (the driving table first, then a
    // primary-key lookup of the request). On PostgreSQL the request is looked up in a LATERAL
    // subquery that cannot be merged into the query (`OFFSET 0`): else a plan made once for
    // any reviewer (below) merges with the requests' primary key, walked down to the oldest
    // match.
    let (driver, key) = match (ids.awaiting.is_some(), ids.reviewer.is_some(), backend) {
        (true, _, Backend::Sqlite) => (
            "pending_reviews p CROSS JOIN requests r ON r.id = p.request_id",
            "p.request_id",
        ),
        (true, _, Backend::Postgres) => (
            "pending_reviews p CROSS JOIN LATERAL \
             (SELECT * FROM requests r0 WHERE r0.id = p.request_id OFFSET 0) AS r",
            "p.request_id",
        ),
        (false, true, Backend::Sqlite) => (
            "revision_reviewers n CROSS JOIN requests r ON r.id = n.request_id",
            "n.request_id",
        ),
        (false, true, Backend::Postgres) => (
            "revision_reviewers n CROSS JOIN LATERAL \
             (SELECT * FROM requests r0 WHERE r0.id = n.request_id OFFSET 0) AS r",
            "n.request_id",
        ),
        _ if backend == Backend::Sqlite && ids.author.is_some() => {
            ("requests r INDEXED BY requests_author", "r.id")
        }
        _ if backend == Backend::Sqlite && filter.target.is_some() => {
            ("requests r INDEXED BY requests_target", "r.id")
        }
        _ if backend == Backend::Sqlite && filter.status.is_some() => {
            ("requests r INDEXED BY requests_status", "r.id")
        }
        _ => ("requests r", "r.id"),
    };
    // The author's name and the risk are looked up per row of the page (by primary key):
    // as joins, PostgreSQL spent longer planning the statement — at every call, for a filter —
    // than running it.
    q.push(
        "SELECT r.id, r.title, r.target, \
         (SELECT a.name FROM users a WHERE a.id = r.author_id) AS author, r.status, r.revision, \
         (SELECT v.risk FROM revisions v WHERE v.request_id = r.id AND v.revision = r.revision) \
         AS risk, r.created_at, r.updated_at FROM ",
    )
    .push(driver);
    // Each condition after the first is joined by AND.
    let mut then = " WHERE ";
    let mut and = |q: &mut Select, condition: &'static str| {
        q.push(then).push(condition);
        then = " AND ";
    };
    if let Some(awaiting) = ids.awaiting {
        and(q, "p.reviewer_id = ");
        q.int(awaiting)
            .push(" AND r.status = ")
            .text(only_source(ActionKind::Review));
        if let Some(reviewer) = ids.reviewer {
            q.push(
                " AND EXISTS (SELECT 1 FROM revision_reviewers n WHERE n.request_id = r.id \
                 AND n.revision = r.revision AND n.reviewer_id = ",
            )
            .int(reviewer)
            .push(")");
        }
    } else if let Some(reviewer) = ids.reviewer {
        and(q, "r.revision = n.revision AND n.reviewer_id = ");
        q.int(reviewer);
    }
    if let Some(author) = ids.author {
        and(q, "r.author_id = ");
        q.int(author);
    }
    if let Some(target) = &filter.target {
        and(q, "r.target = ");
        q.text(target.as_str());
    }
    if let Some(status) = filter.status {
        // Written in: a statement for each status, planned for it (see below).
        and(q, "r.status = ");
        q.name(status.as_str());
    }
    if let Some(before) = filter.before_id {
        and(q, key);
        q.push(" < ").int(before);
    }
    q.push(" ORDER BY ").push(key).push(" DESC").limit(limit);
    if one_plan_for_any_value(filter, ids) {
        q.same_plan_for_any_value();
    }
}

/// Whether one plan serves every call of the list for `filter`: when it is unfiltered but for
/// a cursor or a status (written into the statement: each status has its own, planned for it),
/// or driven by a reviewer's rows (walked by their key, each request looked up by its own).
/// PostgreSQL may then keep it prepared rather than plan each call (planning cost more than
/// reading). Not so for a bound filter on the requests' own columns (author, target): for a
/// common value PostgreSQL rightly walks the primary key, which for a rare one would read the
/// table down to the oldest match. (The plan test checks the generic plans of those it keeps.)
fn one_plan_for_any_value(filter: &RequestFilter, ids: &FilterUsers) -> bool {
    ids.awaiting.is_some()
        || ids.reviewer.is_some()
        || (ids.author.is_none() && filter.target.is_none())
}

async fn insert_revision(
    conn: &mut AnyConnection,
    id: i64,
    revision: i64,
    rev: &RevisionInput<'_>,
    now: &str,
) -> Result<String, StoreError> {
    let sha = sql_sha256(rev.sql);
    sqlx::query(
        "INSERT INTO revisions \
         (request_id, revision, intent, sql, sql_sha256, expected_rows, risk, analysis, created_at, \
         without_undo) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(id)
    .bind(revision)
    .bind(rev.intent)
    .bind(rev.sql)
    .bind(sha.as_str())
    .bind(rev.expected_rows)
    .bind(rev.risk.as_str())
    .bind(rev.analysis.to_string())
    .bind(now)
    .bind(rev.without_undo)
    .execute(&mut *conn)
    .await?;
    for reviewer in rev.reviewers {
        sqlx::query(
            "INSERT INTO revision_reviewers (request_id, revision, reviewer_id) VALUES ($1, $2, $3)",
        )
        .bind(id)
        .bind(revision)
        .bind(reviewer.id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(sha)
}

async fn revisions_of(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Vec<RevisionRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT revision, intent, sql, sql_sha256, expected_rows, risk, analysis, created_at, \
         CAST(without_undo AS INTEGER) AS without_undo FROM revisions WHERE request_id = $1 ORDER BY revision",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let reviewer_rows = sqlx::query(
        "SELECT rr.revision, u.name FROM revision_reviewers rr JOIN users u ON u.id = rr.reviewer_id \
         WHERE rr.request_id = $1 ORDER BY u.name",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let mut revisions = Vec::with_capacity(rows.len());
    for row in &rows {
        let revision: i64 = row.try_get("revision")?;
        let mut reviewers = Vec::new();
        for r in &reviewer_rows {
            if r.try_get::<i64, _>("revision")? == revision {
                reviewers.push(r.try_get("name")?);
            }
        }
        let analysis: String = row.try_get("analysis")?;
        revisions.push(RevisionRecord {
            revision,
            intent: row.try_get("intent")?,
            sql: row.try_get("sql")?,
            sql_sha256: row.try_get("sql_sha256")?,
            expected_rows: row.try_get("expected_rows")?,
            risk: parse(row, "risk")?,
            analysis: serde_json::from_str(&analysis)
                .map_err(|e| StoreError::Corrupt(format!("analysis of request #{id}: {e}")))?,
            reviewers,
            created_at: time_col(row, "created_at")?,
            without_undo: row.try_get::<i64, _>("without_undo")? != 0,
        });
    }
    Ok(revisions)
}

async fn reviews_of(
    conn: &mut AnyConnection,
    id: i64,
    revision: Option<i64>,
) -> Result<Vec<Review>, StoreError> {
    let rows = sqlx::query(
        "SELECT u.name, w.decision, w.comment, w.revision, w.sql_sha256, w.created_at, \
         w.rehearsal_id FROM reviews w JOIN users u ON u.id = w.reviewer_id \
         WHERE w.request_id = $1 AND (CAST($2 AS BIGINT) IS NULL OR w.revision = $2) \
         ORDER BY w.id",
    )
    .bind(id)
    .bind(revision)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Review {
                reviewer: row.try_get("name")?,
                decision: parse(row, "decision")?,
                comment: row.try_get("comment")?,
                revision: row.try_get("revision")?,
                sql_sha256: row.try_get("sql_sha256")?,
                created_at: time_col(row, "created_at")?,
                rehearsal_id: row.try_get("rehearsal_id")?,
            })
        })
        .collect()
}

fn names(users: &[User]) -> Vec<&str> {
    users.iter().map(|u| u.name.as_str()).collect()
}

fn changed_meanwhile(id: i64) -> StoreError {
    StoreError::Conflict(Conflict::ChangedMeanwhile(id))
}
