//! Extractors for the signed-in user: [`PageUser`] for pages (a browser session, or a redirect to
//! the sign-in page), [`ApiUser`] for `/api/v1` (a bearer token, or a session plus its CSRF token on
//! writes), and [`MaybeSession`] for pages that serve both the signed-in and the signed-out.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use countersign_core::user::User;
use countersign_store::{RequestVersion, Session, StoreVersion, WAITING_COUNT_CAP};

use crate::AppState;
use crate::auth::secret;
use crate::error::ApiError;

/// The session cookie: a random id whose hash keys the session in the store.
pub const SESSION_COOKIE: &str = "countersign_session";
/// The sign-in form's CSRF cookie (double submit: the form must echo its value).
pub const LOGIN_CSRF_COOKIE: &str = "countersign_login_csrf";
/// The header that API writes made with a session cookie must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The value of cookie `name` in a request's headers.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(name)
        .map(|c| c.value().to_owned())
}

/// The address of the client at the other end of the connection (`"unknown"` when the server
/// was not given it), for throttling and the audit trail.
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

impl<S: Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string()),
        ))
    }
}

/// The key in the store of the session a request's cookie names (the hash of its id), if any.
fn session_key(parts: &Parts) -> Option<String> {
    cookie_value(&parts.headers, SESSION_COOKIE).map(|id| secret::hash(&id))
}

/// The session a request carries, if any is live.
#[derive(Debug, Clone)]
pub struct MaybeSession(pub Option<SignedIn>);

/// A live browser session.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session: Session,
    /// The hash of the cookie's id: the session's key in the store.
    pub id_hash: String,
}

impl FromRequestParts<AppState> for MaybeSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(id_hash) = session_key(parts) else {
            return Ok(MaybeSession(None));
        };
        let session = state
            .store
            .session(&id_hash, state.config.server.session_idle)
            .await?;
        Ok(MaybeSession(
            session.map(|session| SignedIn { session, id_hash }),
        ))
    }
}

/// The signed-in user of a page; anyone else is sent to the sign-in page.
#[derive(Debug, Clone)]
pub struct PageUser {
    pub user: User,
    pub csrf_token: String,
    pub id_hash: String,
    /// How many requests wait for this user's review, up to the store's cap.
    pub waiting_for_review: i64,
    /// The store's version read with the session: lists are answered at it.
    pub store_version: StoreVersion,
}

impl FromRequestParts<AppState> for PageUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match MaybeSession::from_request_parts(parts, state).await {
            Ok(MaybeSession(Some(s))) => Ok(PageUser::from(s)),
            Ok(MaybeSession(None)) => Err(Redirect::to("/login").into_response()),
            Err(e) => Err(crate::error::PageError(e).into_response()),
        }
    }
}

impl From<SignedIn> for PageUser {
    fn from(s: SignedIn) -> PageUser {
        PageUser {
            user: s.session.user,
            csrf_token: s.session.csrf_token,
            id_hash: s.id_hash,
            waiting_for_review: s.session.waiting_for_review,
            store_version: s.session.store_version,
        }
    }
}

/// The signed-in user of a request's page (`/requests/{id}`), read with the request's
/// [`RequestVersion`] in the same query: what the page's cached data is checked against.
#[derive(Debug, Clone)]
pub struct RequestPageUser {
    pub me: PageUser,
    /// The request of the page's path.
    pub id: i64,
    pub version: RequestVersion,
}

impl FromRequestParts<AppState> for RequestPageUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Path(id) = Path::<i64>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Some(id_hash) = session_key(parts) else {
            return Err(Redirect::to("/login").into_response());
        };
        let read = state
            .store
            .session_at_request(&id_hash, state.config.server.session_idle, id)
            .await
            .map_err(|e| crate::error::PageError(e.into()).into_response())?;
        match read {
            Some((session, version)) => Ok(RequestPageUser {
                me: PageUser::from(SignedIn { session, id_hash }),
                id,
                version,
            }),
            None => Err(Redirect::to("/login").into_response()),
        }
    }
}

impl PageUser {
    /// The navigation's count of requests waiting for this user's review, in words: `3`, or
    /// `100+` past what is counted.
    pub fn waiting_words(&self) -> String {
        if self.waiting_for_review >= WAITING_COUNT_CAP {
            format!("{WAITING_COUNT_CAP}+")
        } else {
            self.waiting_for_review.to_string()
        }
    }

    /// Refuses a form whose CSRF token is missing or is not this session's.
    pub fn check_csrf(&self, submitted: Option<&str>) -> Result<(), ApiError> {
        match submitted {
            Some(t) if secret::constant_time_eq(t, &self.csrf_token) => Ok(()),
            _ => Err(ApiError::csrf()),
        }
    }
}

/// The user behind an API call.
#[derive(Debug, Clone)]
pub struct ApiUser(pub User);

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match ApiCaller::from_request_parts(parts, state).await? {
            ApiCaller::Token { hash } => state
                .store
                .user_by_token_hash(&hash)
                .await?
                .map(ApiUser)
                .ok_or_else(ApiError::unauthorized),
            ApiCaller::Session { user, .. } => Ok(ApiUser(user)),
        }
    }
}

/// Who calls the API, as far as the request tells before the store is asked about a token: the
/// hash of a bearer token (not yet checked), or the user of a live browser session (its CSRF
/// token checked on writes). [`ApiUser`] checks the token on its own; a read may instead check
/// it in its own statement (the request list), and must answer 401 when it lets no one in. A
/// session's caller comes with the store's version read with it.
#[derive(Debug, Clone)]
pub enum ApiCaller {
    Token { hash: String },
    Session { user: User, version: StoreVersion },
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
            let token = auth
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .ok_or_else(ApiError::unauthorized)?;
            return Ok(ApiCaller::Token {
                hash: secret::hash(token),
            });
        }
        let MaybeSession(session) = MaybeSession::from_request_parts(parts, state).await?;
        let signed_in = session.ok_or_else(ApiError::unauthorized)?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !secret::constant_time_eq(sent, &signed_in.session.csrf_token) {
                return Err(ApiError::csrf());
            }
        }
        Ok(ApiCaller::Session {
            user: signed_in.session.user,
            version: signed_in.session.store_version,
        })
    }
}
