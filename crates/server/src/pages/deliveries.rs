//! The "Failed deliveries" section of `/admin`: dead outbox messages with their last error
//! (scrubbed of secrets before it was stored), and the "Retry" button that sends one again
//! under the same delivery id.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use countersign_core::permission;
use countersign_core::timestamp;

use super::form::SignedForm;
use crate::AppState;
use crate::error::{ApiError, PageError};

/// The most dead deliveries `/admin` lists.
const SHOWN: i64 = 100;

pub fn routes() -> Router<AppState> {
    Router::new().route("/admin/deliveries/{id}/retry", post(retry))
}

/// A dead delivery as `/admin` lists it.
pub struct DeliveryLine {
    pub id: i64,
    pub delivery: String,
    pub event: String,
    pub request_id: i64,
    /// `email to bob@example.com`, or the webhook's name.
    pub to: String,
    pub attempts: i64,
    pub since: String,
    pub error: String,
}

/// The dead deliveries, newest first.
pub async fn dead_lines(state: &AppState) -> Result<Vec<DeliveryLine>, ApiError> {
    Ok(state
        .store
        .dead_deliveries(SHOWN)
        .await?
        .into_iter()
        .map(|d| DeliveryLine {
            id: d.id,
            delivery: d.delivery,
            event: d.event,
            request_id: d.request_id,
            to: match d.recipient {
                Some(address) => format!("email to {address}"),
                None => d.channel,
            },
            attempts: d.attempts,
            since: timestamp::format(d.created_at),
            error: d.last_error.unwrap_or_default(),
        })
        .collect())
}

/// `POST /admin/deliveries/{id}/retry`: the "Retry" button (admins).
async fn retry(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SignedForm { me, .. }: SignedForm,
) -> Result<Response, PageError> {
    permission::may_manage_users(&me.user).map_err(ApiError::from)?;
    state.store.retry_delivery(id).await?;
    tracing::info!(delivery = id, by = ?me.user.name, "a dead delivery is retried");
    Ok(Redirect::to("/admin").into_response())
}
