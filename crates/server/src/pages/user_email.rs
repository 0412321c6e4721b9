//! The "Set email" form of each user on `/admin` (design §12): where notifications go. Empty
//! clears the address. Admins only; checked by `core::email`.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use countersign_core::email::validate_email;
use countersign_core::permission;
use serde::Deserialize;

use super::form::SignedForm;
use crate::AppState;
use crate::error::{ApiError, PageError};

pub fn routes() -> Router<AppState> {
    Router::new().route("/admin/users/{name}/email", post(set_email))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct EmailForm {
    email: String,
}

/// `POST /admin/users/{name}/email`: the "Set email" button.
async fn set_email(
    State(state): State<AppState>,
    Path(name): Path<String>,
    SignedForm { me, form }: SignedForm<EmailForm>,
) -> Result<Response, PageError> {
    permission::may_manage_users(&me.user).map_err(ApiError::from)?;
    let email = match form.email.trim() {
        "" => None,
        typed => Some(validate_email(typed).map_err(|e| ApiError::bad_request(e.to_string()))?),
    };
    state.store.set_email(&name, email.as_deref()).await?;
    tracing::info!(user = ?name, by = ?me.user.name, "email address set");
    Ok(Redirect::to("/admin").into_response())
}
