//! The JSON API under `/api/v1` (contract §5), and `/healthz`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::AppState;
use crate::auth::ApiUser;
use countersign_core::policy::Policy;

use crate::config::Driver;

pub fn routes() -> Router<AppState> {
    Router::new().route("/targets", get(targets))
}

/// `GET /healthz`: the process is up and its store answers.
pub async fn healthz(
    State(state): State<AppState>,
) -> Result<&'static str, crate::error::ApiError> {
    state.store.ping().await?;
    Ok("ok")
}

/// A target as anyone signed in may see it: never its URL.
#[derive(Serialize)]
struct TargetView {
    name: String,
    driver: Driver,
    policy: Policy,
}

/// `GET /api/v1/targets`
async fn targets(State(state): State<AppState>, ApiUser(_): ApiUser) -> Json<Vec<TargetView>> {
    let views = state
        .config
        .targets
        .iter()
        .map(|t| TargetView {
            name: t.name.clone(),
            driver: t.driver,
            policy: t.policy.clone(),
        })
        .collect();
    Json(views)
}
