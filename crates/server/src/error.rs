//! Errors as the outside world sees them: a status, a stable snake_case code and a message for
//! people (docs/api.md), rendered as JSON for the API and as a page for browsers.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use countersign_core::lifecycle::TransitionError;
use countersign_core::permission::Forbidden;
use countersign_core::policy::Refused;
use countersign_core::validation::{InvalidRequest, ReviewRefused};
use countersign_store::{Conflict, StoreError};
use serde::Serialize;

use crate::audit::{InvalidFilter, UnknownFormat};
use crate::rehearsal::RehearsalRefused;

/// An error a handler returns. Internal details are logged, never sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds after which trying again may succeed: sent as `Retry-After` (429, 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Too many sign-ins at once: the password hashers are all busy (503, `Retry-After`).
    pub fn busy(retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "too many sign-ins at once; try again in a moment",
            )
        }
    }

    /// Too many failed attempts, or too many of anything (429, `Retry-After`).
    pub fn too_many(message: impl Into<String>, retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message)
        }
    }

    /// A body over the server's limit (413).
    pub fn payload_too_large() -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is larger than the server accepts (1 MiB)",
        )
    }

    /// A request body that could not be read: 413 when it is over the limit, 400 otherwise.
    pub fn unreadable_body(status: StatusCode, message: String) -> ApiError {
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large()
        } else {
            ApiError::bad_request(message)
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "sign in, or send a valid token as Authorization: Bearer <token>",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn csrf() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_token_invalid",
            "the form's security token is missing or out of date; reload the page and try again",
        )
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// Logs `err` and returns an error that says only that something went wrong inside.
    pub fn internal(err: impl std::fmt::Display) -> ApiError {
        // Debug-quoted: an error may quote what someone typed, which must not forge a log line.
        tracing::error!(error = ?err.to_string(), "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong inside Countersign; the details are in the server's log",
        )
    }
}

// Every domain and store error becomes an answer here, and only here.

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        match err {
            StoreError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            StoreError::Conflict(conflict) => {
                let code = match conflict {
                    Conflict::ChangedMeanwhile(_) => "stale_revision",
                    Conflict::NotApproved(_) => "not_approved",
                    Conflict::ApprovalExpired(_) => "approval_expired",
                    Conflict::NotExecuting(_) => "invalid_state",
                    Conflict::AlreadyReviewed { .. } => "already_reviewed",
                    Conflict::AlreadyRevoked(_) => "already_revoked",
                };
                ApiError::conflict(code, conflict.to_string())
            }
            StoreError::AlreadyExists(what) => {
                ApiError::conflict("already_exists", format!("{what} already exists"))
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<Forbidden> for ApiError {
    fn from(e: Forbidden) -> ApiError {
        ApiError::forbidden(e.to_string())
    }
}

impl From<TransitionError> for ApiError {
    fn from(e: TransitionError) -> ApiError {
        ApiError::conflict("invalid_state", e.to_string())
    }
}

impl From<InvalidRequest> for ApiError {
    fn from(e: InvalidRequest) -> ApiError {
        ApiError::bad_request(e.to_string())
    }
}

impl From<RehearsalRefused> for ApiError {
    fn from(e: RehearsalRefused) -> ApiError {
        let code = match e {
            RehearsalRefused::Off(_) => "rehearsal_off",
            RehearsalRefused::NotNow(..) => "invalid_state",
            RehearsalRefused::Running(_) => "rehearsal_running",
        };
        ApiError::conflict(code, e.to_string())
    }
}

impl From<Refused> for ApiError {
    fn from(e: Refused) -> ApiError {
        ApiError::unprocessable("blocked_by_policy", e.to_string())
    }
}

impl From<ReviewRefused> for ApiError {
    fn from(e: ReviewRefused) -> ApiError {
        match e {
            ReviewRefused::StaleRevision { .. } => {
                ApiError::conflict("stale_revision", e.to_string())
            }
            ReviewRefused::CommentRequired => {
                ApiError::new(StatusCode::BAD_REQUEST, "comment_required", e.to_string())
            }
            ReviewRefused::ControlCharacter(_) => ApiError::bad_request(e.to_string()),
        }
    }
}

impl From<countersign_core::comment::CommentRefused> for ApiError {
    fn from(e: countersign_core::comment::CommentRefused) -> ApiError {
        ApiError::bad_request(e.to_string())
    }
}

impl From<UnknownFormat> for ApiError {
    fn from(err: UnknownFormat) -> ApiError {
        ApiError::bad_request(err.to_string())
    }
}

impl From<InvalidFilter> for ApiError {
    fn from(err: InvalidFilter) -> ApiError {
        ApiError::bad_request(err.to_string())
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                code: self.code,
                message: &self.message,
            },
        };
        let mut res = (self.status, axum::Json(body)).into_response();
        add_retry_after(&mut res, &self);
        res
    }
}

/// The same error, shown to a person in a browser.
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(err: E) -> PageError {
        PageError(err.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let page = crate::pages::ErrorPage {
            title: self.0.status.canonical_reason().unwrap_or("Error"),
            message: &self.0.message,
        };
        match askama::Template::render(&page) {
            Ok(html) => {
                let mut res = (self.0.status, Html(html)).into_response();
                add_retry_after(&mut res, &self.0);
                res
            }
            Err(e) => ApiError::internal(e).into_response(),
        }
    }
}

fn add_retry_after(res: &mut Response, err: &ApiError) {
    if let Some(seconds) = err.retry_after {
        res.headers_mut()
            .insert(axum::http::header::RETRY_AFTER, seconds.into());
    }
}
