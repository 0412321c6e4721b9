//! `/api/v1/requests/{id}/comments`: a request's discussion.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use countersign_core::comment::NewComment;

use super::ApiJson;
use crate::AppState;
use crate::auth::ApiUser;
use crate::error::ApiError;
use crate::views::CommentView;

pub fn routes() -> Router<AppState> {
    Router::new().route("/requests/{id}/comments", post(add).get(list))
}

/// `POST /api/v1/requests/{id}/comments {text}` → 201 and the comment.
async fn add(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<NewComment>,
) -> Result<(StatusCode, Json<CommentView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.add_comment(id, &user, body).await?),
    ))
}

/// `GET /api/v1/requests/{id}/comments` → the discussion, oldest first.
async fn list(
    State(state): State<AppState>,
    ApiUser(_): ApiUser,
    Path(id): Path<i64>,
) -> Result<Json<Vec<CommentView>>, ApiError> {
    state.load_request(id).await?;
    Ok(Json(state.comments_of(id).await?))
}
