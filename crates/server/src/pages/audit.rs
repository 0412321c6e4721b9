//! `/audit`: the audit trail for people (README): newest first, filtered by time range,
//! actor, action and request through a GET form, 100 events a page with an "Older
//! events" link (a `before` cursor: the last `seq` shown), and links to download the CSV and JSON
//! Lines exports of the same filter from `GET /api/v1/audit`.
//!
//! Every link and label is made here; the template only displays them.

use askama::Template;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use countersign_core::audit::{AuditAction, AuditEvent, canonical_json};
use countersign_core::timestamp;
use countersign_core::user::User;
use countersign_store::audit::AuditFilter;
use serde::Deserialize;

use super::render;
use crate::AppState;
use crate::audit::{ExportFormat, FilterQuery};
use crate::auth::PageUser;
use crate::error::{ApiError, PageError};

pub fn routes() -> Router<AppState> {
    Router::new().route("/audit", get(audit_page))
}

/// How many events a page shows.
const PAGE_ROWS: i64 = 100;

#[derive(Deserialize)]
struct PageQuery {
    #[serde(flatten)]
    filter: FilterQuery,
    /// Show events before this `seq` (the cursor of the "Older events" link).
    before: Option<String>,
}

/// The form's fields as the user typed them.
#[derive(Default)]
struct FormValues {
    since: String,
    until: String,
    actor: String,
    request: String,
}

impl From<&FilterQuery> for FormValues {
    fn from(q: &FilterQuery) -> FormValues {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        FormValues {
            since: text(&q.since),
            until: text(&q.until),
            actor: text(&q.actor),
            request: text(&q.request),
        }
    }
}

/// An option of the action select.
struct ActionChoice {
    name: &'static str,
    selected: bool,
}

/// One event as the page lists it.
struct EventLine {
    seq: i64,
    at: String,
    /// The user name, or "system".
    actor: String,
    system: bool,
    action: String,
    request_id: Option<i64>,
    revision: Option<i64>,
    details: String,
}

impl From<AuditEvent> for EventLine {
    fn from(e: AuditEvent) -> EventLine {
        EventLine {
            seq: e.seq,
            at: timestamp::format(e.at),
            system: e.actor.is_none(),
            actor: e.actor.unwrap_or_else(|| "system".to_owned()),
            action: e.action,
            request_id: e.request_id,
            revision: e.revision,
            details: canonical_json(&e.details),
        }
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage<'a> {
    user: &'a User,
    csrf_token: &'a str,
    /// How many requests wait for my review, for the navigation.
    waiting: String,
    form: FormValues,
    actions: Vec<ActionChoice>,
    events: Vec<EventLine>,
    error: Option<String>,
    /// Whether this page continues from a cursor (then "Newest events" leads back).
    paged: bool,
    newest_link: String,
    older_link: Option<String>,
    csv_link: String,
    jsonl_link: String,
}

/// `GET /audit`
async fn audit_page(
    State(state): State<AppState>,
    me: PageUser,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let selection = query
        .filter
        .to_filter()
        .map_err(ApiError::from)
        .and_then(|filter| Ok((filter, cursor(query.before.as_deref())?)));
    let (events, older, error, status) = match selection {
        Ok((filter, before)) => {
            let (events, older) = newest_page(&state, &filter, before).await?;
            (events, older, None, StatusCode::OK)
        }
        Err(e) => (Vec::new(), None, Some(e.message), e.status),
    };
    let selected = query.filter.action.as_deref().unwrap_or("");
    let page = AuditPage {
        user: &me.user,
        csrf_token: &me.csrf_token,
        waiting: me.waiting_words(),
        form: FormValues::from(&query.filter),
        actions: AuditAction::NAMES
            .iter()
            .map(|&name| ActionChoice {
                name,
                selected: name == selected,
            })
            .collect(),
        events: events.into_iter().map(EventLine::from).collect(),
        error,
        paged: query.before.is_some(),
        newest_link: link("/audit", &query.filter, None),
        older_link: older.map(|seq| link("/audit", &query.filter, Some(("before", seq)))),
        csv_link: export_link(&query.filter, ExportFormat::Csv),
        jsonl_link: export_link(&query.filter, ExportFormat::JsonLines),
    };
    Ok((status, render(&page)?).into_response())
}

/// A page of events, newest first, and the cursor of the page after it if there is one.
async fn newest_page(
    state: &AppState,
    filter: &AuditFilter,
    before: Option<i64>,
) -> Result<(Vec<AuditEvent>, Option<i64>), ApiError> {
    // One more than shown tells whether older events follow.
    let mut events = state
        .store
        .audit_page(filter, before, PAGE_ROWS + 1)
        .await?;
    let more = events.len() as i64 > PAGE_ROWS;
    events.truncate(PAGE_ROWS as usize);
    let older = if more {
        events.last().map(|e| e.seq)
    } else {
        None
    };
    Ok((events, older))
}

fn cursor(before: Option<&str>) -> Result<Option<i64>, ApiError> {
    before
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map(|b| {
            b.parse()
                .map_err(|_| ApiError::bad_request("before: not a cursor from this page"))
        })
        .transpose()
}

/// `path` with the filter's query string, and an extra pair.
fn link(path: &str, filter: &FilterQuery, extra: Option<(&str, i64)>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.extend_pairs(filter.pairs());
    if let Some((name, value)) = extra {
        query.append_pair(name, &value.to_string());
    }
    let query = query.finish();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// The API's export of the filtered events in `format` (the session cookie signs the download in).
fn export_link(filter: &FilterQuery, format: ExportFormat) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("format", format.as_str());
    query.extend_pairs(filter.pairs());
    format!("/api/v1/audit?{}", query.finish())
}
