//! `GET /api/v1/audit?since=&until=&actor=&request=&action=&format=json|jsonl|csv`: the audit
//! trail for any signed-in user, oldest first, streamed in constant memory in the formats of
//! [`crate::audit`].
//!
//! A filter or format that cannot be read is a 400 before anything is sent. Once the body has
//! started, a failure can only cut it off: it is logged and the response ends without its final
//! chunk, so the client sees an incomplete transfer, never a shorter export that looks whole.

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::AppState;
use crate::audit::{self, ExportFormat, FilterQuery};
use crate::auth::ApiUser;
use crate::error::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new().route("/audit", get(export))
}

#[derive(Deserialize)]
struct ExportQuery {
    #[serde(flatten)]
    filter: FilterQuery,
    format: Option<String>,
}

/// `GET /api/v1/audit`: the events matching the filter, as JSON (the default), JSON Lines or CSV.
async fn export(
    State(state): State<AppState>,
    ApiUser(_): ApiUser,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let format = match query.format.as_deref().map(str::trim) {
        None | Some("") => ExportFormat::Json,
        Some(name) => name.parse()?,
    };
    let filter = query.filter.to_filter()?;
    let key = state.config.audit.signing_key.clone();
    // PostgreSQL writes CSV and JSON Lines itself; otherwise the store's rows are written here.
    let copied = match format.copy_format() {
        Some(copy) => state.store.audit_copy(&filter, copy).await?,
        None => None,
    };
    let mut response = match copied {
        Some(copied) => Body::from_stream(audit::copied_body_chunks(format, copied, key)),
        None => Body::from_stream(
            audit::body_chunks(format, state.store.audit_rows(&filter), key)
                .await
                .map_err(ApiError::internal)?,
        ),
    }
    .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Some(disposition) = format.content_disposition() {
        headers.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static(disposition),
        );
    }
    Ok(response)
}
