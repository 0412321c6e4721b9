//! The JSON API under `/api/v1` (docs/api.md), and `/healthz`.

mod audit;
mod comments;
mod requests;

use axum::extract::{FromRequest, Request, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use countersign_analyzer::{Analysis, Dialect};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::auth::ApiUser;
use countersign_core::policy::Policy;

use crate::config::Driver;
use crate::error::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/targets", get(targets))
        .route("/analyze", post(analyze))
        .merge(requests::routes())
        .merge(audit::routes())
        .merge(comments::routes())
}

/// `axum::Json`, but a body that is not the JSON asked for is a 400 in the contract's shape,
/// saying what is wrong with it (an unknown field is named), and one over the limit a 413.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(ApiError::unreadable_body(
                rejection.status(),
                rejection.body_text(),
            )),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnalyzeBody {
    sql: String,
    dialect: Option<Dialect>,
    target: Option<String>,
}

/// `POST /api/v1/analyze`: `{sql, dialect}` or `{sql, target}` → the analysis.
async fn analyze(
    State(state): State<AppState>,
    ApiUser(_): ApiUser,
    ApiJson(body): ApiJson<AnalyzeBody>,
) -> Result<Json<Analysis>, ApiError> {
    let dialect = match (body.dialect, body.target.as_deref()) {
        (Some(d), None) => d,
        (None, Some(name)) => {
            let target = state
                .config
                .target(name)
                .ok_or_else(|| ApiError::not_found(format!("unknown target {name:?}")))?;
            target.driver.dialect()
        }
        (None, None) => Dialect::Generic,
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "give a dialect or a target, not both",
            ));
        }
    };
    let max = state.config.server.max_sql_bytes;
    if body.sql.len() > max {
        return Err(ApiError::bad_request(format!(
            "sql: at most {max} bytes ({} KiB)",
            max / 1024
        )));
    }
    Ok(Json(countersign_analyzer::analyze(&body.sql, dialect)))
}

/// `GET /healthz`: the process is up and its store answers.
pub async fn healthz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
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
