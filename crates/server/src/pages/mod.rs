//! The HTML pages (askama templates under `web/templates/`): sign-in, sign-out, errors and the
//! stylesheet here; the request pages in [`requests`]; browser forms in [`form`].

pub mod admin;
pub mod audit;
pub mod form;
pub mod requests;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use cookie::{Cookie, SameSite};
use countersign_core::audit::AuditAction;
use countersign_store::NewEvent;
use serde::Deserialize;

use crate::auth::extract::{LOGIN_CSRF_COOKIE, SESSION_COOKIE, cookie_value};
use crate::auth::{MaybeSession, PageUser, password, secret};
use crate::error::{ApiError, PageError};
use crate::{AppState, SESSION_LIFETIME};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(requests::dashboard))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/static/style.css", get(stylesheet))
        .route("/static/app.js", get(script))
        .merge(requests::routes())
        .merge(admin::routes())
        .merge(audit::routes())
}

/// How a request status looks on a page: its CSS class (the words are `label()`).
pub trait StatusLook {
    fn css(&self) -> &'static str;
}

impl StatusLook for countersign_core::request::RequestStatus {
    fn css(&self) -> &'static str {
        requests::status_class(*self)
    }
}

/// What a failed sign-in says, whatever the reason (unknown user, wrong password, disabled).
pub const SIGN_IN_FAILED: &str = "Wrong user name or password.";

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub title: &'a str,
    pub message: &'a str,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf_token: &'a str,
    user_name: &'a str,
    error: Option<&'a str>,
}

pub(crate) fn render(t: &impl Template) -> Result<Html<String>, PageError> {
    t.render()
        .map(Html)
        .map_err(|e| PageError(ApiError::internal(e)))
}

/// A cookie with the attributes every Countersign cookie has.
fn cookie(state: &AppState, name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .secure(state.config.secure_cookies())
        .build()
}

/// `GET /login`: the sign-in form, with a fresh CSRF cookie for it to echo.
async fn login_page(
    State(state): State<AppState>,
    MaybeSession(session): MaybeSession,
) -> Result<Response, PageError> {
    if session.is_some() {
        return Ok(Redirect::to("/").into_response());
    }
    login_form(&state, StatusCode::OK, "", None)
}

fn login_form(
    state: &AppState,
    status: StatusCode,
    user_name: &str,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let csrf = secret::random_secret();
    let mut c = cookie(state, LOGIN_CSRF_COOKIE, csrf.clone());
    c.set_same_site(SameSite::Strict);
    let page = render(&LoginPage {
        csrf_token: &csrf,
        user_name,
        error,
    })?;
    Ok((status, [(header::SET_COOKIE, c.to_string())], page).into_response())
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    csrf_token: Option<String>,
}

/// `POST /login`: checks the CSRF echo, then the password; opens a session in the store.
async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let expected = cookie_value(&headers, LOGIN_CSRF_COOKIE);
    match (form.csrf_token.as_deref(), expected.as_deref()) {
        (Some(sent), Some(expected)) if secret::constant_time_eq(sent, expected) => {}
        _ => return Err(PageError(ApiError::csrf())),
    }
    let credentials = state.store.credentials(&form.username).await?;
    let (user, hash) = match credentials {
        Some(c) if !c.user.disabled => (Some(c.user), c.password_hash),
        _ => (None, None),
    };
    // Verify even when there is no user, so both failures take the same time.
    let hash = hash.unwrap_or_else(|| password::decoy_hash().to_owned());
    let ok = state
        .hashers
        .verify(form.password, hash)
        .await
        .map_err(|password::Busy| ApiError::busy(2))?;
    let Some(user) = user.filter(|_| ok) else {
        tracing::info!(user = %form.username, "failed sign-in");
        let details = serde_json::json!({ "user": form.username });
        state
            .store
            .record_event(NewEvent::new(None, AuditAction::UserLoginFailed, details))
            .await?;
        return login_form(
            &state,
            StatusCode::UNAUTHORIZED,
            &form.username,
            Some(SIGN_IN_FAILED),
        );
    };
    let id = secret::random_secret();
    let expires_at = countersign_core::timestamp::now() + SESSION_LIFETIME;
    state
        .store
        .create_session(
            &secret::hash(&id),
            &user,
            &secret::random_secret(),
            expires_at,
        )
        .await?;
    tracing::info!(user = %user.name, "signed in");
    let mut session = cookie(&state, SESSION_COOKIE, id);
    session.set_same_site(SameSite::Lax);
    session.set_max_age(cookie::time::Duration::seconds(
        SESSION_LIFETIME.whole_seconds(),
    ));
    let mut spent = cookie(&state, LOGIN_CSRF_COOKIE, String::new());
    spent.make_removal();
    Ok((
        AppendHeaders([
            (header::SET_COOKIE, session.to_string()),
            (header::SET_COOKIE, spent.to_string()),
        ]),
        Redirect::to("/"),
    )
        .into_response())
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf_token: Option<String>,
}

/// `POST /logout`: ends the session in the store and clears the cookie.
async fn logout(
    State(state): State<AppState>,
    user: PageUser,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    state.store.delete_session(&user.id_hash).await?;
    let mut gone = cookie(&state, SESSION_COOKIE, String::new());
    gone.make_removal();
    Ok((
        [(header::SET_COOKIE, gone.to_string())],
        Redirect::to("/login"),
    )
        .into_response())
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../../../../web/static/app.js"),
    )
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../../../web/static/style.css"),
    )
}
