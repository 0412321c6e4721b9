//! `/api/v1/requests`: submit, list, read, revise, review, withdraw.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use countersign_core::request::RequestStatus;
use countersign_core::validation::{NewRequest, NewReview, RequestEdit};
use countersign_store::{RequestFilter, RequestRecord};
use serde::Deserialize;

use super::ApiJson;
use crate::AppState;
use crate::auth::{ApiCaller, ApiUser};
use crate::error::ApiError;
use crate::views::{RehearsalView, RequestView};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/requests", post(submit).get(list))
        .route("/requests/{id}", get(read).put(revise))
        .route("/requests/{id}/reviews", post(review))
        .route("/requests/{id}/withdraw", post(withdraw))
        .route("/requests/{id}/execute", post(execute))
        .route("/requests/{id}/rehearse", post(rehearse))
        .route("/requests/{id}/revert", post(revert))
        .route("/requests/{id}/images", get(images))
}

/// `POST /api/v1/requests/{id}/revert` → 201 and the new request that reverts it.
async fn revert(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<RequestView>), ApiError> {
    let revert = state.revert(id, &user).await?;
    Ok((StatusCode::CREATED, Json(state.request_view(revert).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImagesQuery {
    format: Option<String>,
}

/// `GET /api/v1/requests/{id}/images?format=jsonl`: the rows its execution changed, before
/// and after, one JSON object a line.
async fn images(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<i64>,
    query: Result<Query<ImagesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    match q.format.as_deref().map(str::trim) {
        None | Some("") | Some("jsonl") => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format: {other:?} is not offered; say jsonl"
            )));
        }
    }
    let body = state.image_lines(id, &user).await?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        body,
    )
        .into_response())
}

/// Lists are at most this long, whatever `limit` asks.
const MAX_LIMIT: i64 = 200;
const DEFAULT_LIMIT: i64 = 50;

impl AppState {
    /// Request `id` as the API shows it.
    pub async fn request_view(&self, id: i64) -> Result<RequestView, ApiError> {
        let record = self.load_request(id).await?;
        self.view_of(record).await
    }

    /// The request object of a request already read.
    pub async fn view_of(&self, record: RequestRecord) -> Result<RequestView, ApiError> {
        let id = record.id;
        let policy = self.policy_of(&record.target);
        let rehearsal = self
            .store
            .latest_rehearsal(id, record.revision, None)
            .await?;
        let mut view = RequestView::new(record, &policy);
        view.rehearsal = rehearsal.map(RehearsalView::from);
        view.comments = self.comments_of(id).await?;
        Ok(view)
    }
}

/// `POST /api/v1/requests` → 201 and the request.
async fn submit(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiJson(body): ApiJson<NewRequest>,
) -> Result<(StatusCode, Json<RequestView>), ApiError> {
    let id = state.submit(&user, body).await?;
    Ok((StatusCode::CREATED, Json(state.request_view(id).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    author: Option<String>,
    reviewer: Option<String>,
    target: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// `GET /api/v1/requests?status=&author=&reviewer=&target=&limit=&cursor=` → a page, newest first.
async fn list(
    State(state): State<AppState>,
    caller: ApiCaller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let (filter, limit) = match list_filter(query) {
        Ok(asked) => asked,
        Err(refused) => {
            // Who asks is told before what is wrong with the question.
            if let ApiCaller::Token { hash } = &caller {
                state
                    .store
                    .user_by_token_hash(hash)
                    .await?
                    .ok_or_else(ApiError::unauthorized)?;
            }
            return Err(refused);
        }
    };
    // With a token, its check reads the store's version; a page kept at it is not read again.
    let page = match caller {
        ApiCaller::Token { hash } => {
            let read = state
                .store
                .list_requests_json_for_token(&hash, &filter, limit)
                .await?;
            read.ok_or_else(ApiError::unauthorized)?.1
        }
        ApiCaller::Session { version, .. } => {
            state
                .store
                .list_requests_json_at(&filter, limit, version)
                .await?
        }
    };
    // The items are the store's JSON as it wrote them: only the envelope is written here.
    let next_cursor = page.next_before.map(|id| id.to_string());
    let body = format!(
        "{{\"items\":{},\"next_cursor\":{}}}",
        page.items,
        serde_json::to_string(&next_cursor).map_err(ApiError::internal)?
    );
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The list's filter and page size from its query string, or why not.
fn list_filter(
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<(RequestFilter, i64), ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let status = q
        .status
        .as_deref()
        .map(str::parse::<RequestStatus>)
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let before_id = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| ApiError::bad_request("cursor: not a cursor from this API"))
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit: between 1 and {MAX_LIMIT}"
        )));
    }
    let filter = RequestFilter {
        status,
        author: q.author,
        reviewer: q.reviewer,
        target: q.target,
        awaiting_review_by: None,
        before_id,
    };
    Ok((filter, limit))
}

/// `GET /api/v1/requests/{id}`
async fn read(
    State(state): State<AppState>,
    ApiUser(_): ApiUser,
    Path(id): Path<i64>,
) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(state.request_view(id).await?))
}

/// `PUT /api/v1/requests/{id}` → the request (at a new revision when SQL, intent, reviewers or
/// expected rows changed).
async fn revise(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<i64>,
    ApiJson(edit): ApiJson<RequestEdit>,
) -> Result<Json<RequestView>, ApiError> {
    state.revise(id, &user, edit).await?;
    Ok(Json(state.request_view(id).await?))
}

/// `POST /api/v1/requests/{id}/reviews` → the request.
async fn review(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<NewReview>,
) -> Result<Json<RequestView>, ApiError> {
    state.review(id, &user, body).await?;
    Ok(Json(state.request_view(id).await?))
}

/// `POST /api/v1/requests/{id}/execute` → 200 and the request with its execution, whatever the
/// outcome (`executed` or `failed`); 409 unless approved.
async fn execute(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<i64>,
) -> Result<Json<RequestView>, ApiError> {
    state.execute(id, &user).await?;
    Ok(Json(state.request_view(id).await?))
}

/// `POST /api/v1/requests/{id}/withdraw` → the request.
async fn withdraw(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<i64>,
) -> Result<Json<RequestView>, ApiError> {
    state.withdraw(id, &user).await?;
    Ok(Json(state.request_view(id).await?))
}

/// `POST /api/v1/requests/{id}/rehearse` → 202 and the request, its rehearsal running.
async fn rehearse(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<RequestView>), ApiError> {
    state.rehearse(id, &user).await?;
    Ok((StatusCode::ACCEPTED, Json(state.request_view(id).await?)))
}
