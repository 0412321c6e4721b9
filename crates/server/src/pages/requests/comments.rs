//! The "Discussion" section of the request page: its "Add comment" button.

use axum::extract::{Path, State};
use axum::response::Response;
use countersign_core::comment::NewComment;
use serde::Deserialize;

use crate::AppState;
use crate::error::PageError;
use crate::pages::form::SignedForm;

use super::page::back_to_request;

/// The comment form: the text typed.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct CommentForm {
    text: String,
}

/// `POST /requests/{id}/comments`: the "Add comment" button.
pub(super) async fn add(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SignedForm { me, form }: SignedForm<CommentForm>,
) -> Result<Response, PageError> {
    let result = state
        .add_comment(id, &me.user, NewComment { text: form.text })
        .await
        .map(|_| ());
    back_to_request(&state, &me, id, result, String::new()).await
}
