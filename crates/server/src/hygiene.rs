//! What every request and answer goes through: query parameters holding control characters are
//! refused (400 naming the parameter) before any handler or store sees them, and the answers
//! carry the security headers — `Cache-Control: no-store` on everything but the static files
//! (pages and API answers hold signed-in data), HSTS when people reach the server over https.

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::PageError;
use crate::text::refuse_control_chars;

/// Answers sent before any cache may keep them.
pub const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

/// HSTS for a year, when `public_url` is https.
pub const HSTS: HeaderValue = HeaderValue::from_static("max-age=31536000; includeSubDomains");

/// Middleware: a query parameter (its name or value) holding a control character is a 400,
/// in the API's JSON shape under `/api/`, as a page elsewhere.
pub async fn refuse_control_chars_in_query(req: Request, next: Next) -> Response {
    if let Some(query) = req.uri().query() {
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let checked = refuse_control_chars("query parameter", &name)
                .and_then(|()| refuse_control_chars(&name, &value));
            if let Err(e) = checked {
                return if req.uri().path().starts_with("/api/") {
                    e.into_response()
                } else {
                    PageError(e).into_response()
                };
            }
        }
    }
    next.run(req).await
}

/// Middleware: `Cache-Control: no-store` unless the handler chose a policy itself (the static
/// files do).
pub async fn no_store_by_default(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    res.headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(NO_STORE);
    res
}
