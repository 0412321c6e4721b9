//! The "Set email" form of each user on `/admin` (design §12): where notifications go. Empty
//! clears the address. Admins only; checked by `core::email`: an address refused shows the
//! admin page again with the reason on the user's line and the address as typed (400).

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use countersign_core::email::validate_email;
use countersign_core::permission;
use countersign_store::StoreError;
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
        typed => match validate_email(typed) {
            Ok(email) => Some(email),
            Err(e) => return super::admin::refuse_email(&state, &me, &name, form.email, e).await,
        },
    };
    match state.store.set_email(&name, email.as_deref()).await {
        Err(StoreError::NotFound(_)) => {
            return super::admin::no_such_user(&state, &me, &name).await;
        }
        other => other?,
    }
    tracing::info!(user = ?name, by = ?me.user.name, "email address set");
    Ok(Redirect::to("/admin").into_response())
}
