//! The HTML pages (askama templates under `web/templates/`): sign-in, sign-out, errors and the
//! stylesheet here; the request pages in [`requests`]; browser forms in [`form`].

pub mod admin;
pub mod audit;
pub mod deliveries;
pub mod form;
pub mod requests;
pub mod user_email;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::cookie::{Cookie, SameSite};
use countersign_core::throttle;
use countersign_core::user::MAX_USER_NAME_CHARS;
use countersign_store::ThrottleKey;
use serde::Deserialize;

use crate::AppState;
use crate::auth::extract::{ClientAddr, LOGIN_CSRF_COOKIE, SESSION_COOKIE, cookie_value};
use crate::auth::{MaybeSession, PageUser, password, secret};
use crate::error::{ApiError, PageError};

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
        .merge(deliveries::routes())
        .merge(user_email::routes())
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

/// What the audit trail says of a failed sign-in's user name when no such user exists: what was
/// typed may be a password typed in the wrong field, so it is never kept.
pub const UNKNOWN_USER: &str = "(unknown user)";

/// `POST /login`: checks the CSRF echo, the user name's shape and the throttle, then the
/// password; opens a session in the store.
async fn login(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let expected = cookie_value(&headers, LOGIN_CSRF_COOKIE);
    match (form.csrf_token.as_deref(), expected.as_deref()) {
        (Some(sent), Some(expected)) if secret::constant_time_eq(sent, expected) => {}
        _ => return Err(PageError(ApiError::csrf())),
    }
    // Refused before any hashing or storage: no user can have such a name.
    if form.username.chars().count() > MAX_USER_NAME_CHARS {
        return Err(PageError(ApiError::bad_request(format!(
            "username: at most {MAX_USER_NAME_CHARS} characters"
        ))));
    }
    crate::text::refuse_control_chars("username", &form.username).map_err(PageError)?;
    let keys = throttle_keys(&form.username, &address);
    let now = countersign_core::timestamp::now();
    if let Some(wait) = state.store.sign_in_wait(&[&keys.0, &keys.1], now).await? {
        return too_many_sign_ins(&state, &form.username, wait);
    }
    let credentials = state.store.credentials(&form.username).await?;
    let known = credentials.is_some();
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
        let recorded = if known {
            form.username.as_str()
        } else {
            UNKNOWN_USER
        };
        log_failed_sign_in(recorded, &address);
        let details = serde_json::json!({ "user": recorded, "address": address });
        state
            .store
            .record_sign_in_failure(
                &[
                    ThrottleKey {
                        hash: &keys.0,
                        rule: throttle::PER_USER,
                        audit_bursts: known,
                    },
                    ThrottleKey {
                        hash: &keys.1,
                        rule: throttle::PER_ADDRESS,
                        audit_bursts: true,
                    },
                ],
                countersign_core::timestamp::now(),
                details,
            )
            .await?;
        return login_form(
            &state,
            StatusCode::UNAUTHORIZED,
            &form.username,
            Some(SIGN_IN_FAILED),
        );
    };
    state.store.clear_sign_in_failures(&keys.0).await?;
    let id = secret::random_secret();
    let lifetime = state.config.server.session_max;
    let expires_at = countersign_core::timestamp::now() + lifetime;
    state
        .store
        .create_session(
            &secret::hash(&id),
            &user,
            &secret::random_secret(),
            expires_at,
        )
        .await?;
    tracing::info!(user = ?user.name, "signed in");
    let mut session = cookie(&state, SESSION_COOKIE, id);
    session.set_same_site(SameSite::Lax);
    session.set_max_age(time::Duration::seconds(
        i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX),
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

/// Logs a failed sign-in. What people typed goes only into Debug-quoted fields, never into the
/// message: a newline or an escape sequence in it cannot start a line of its own.
fn log_failed_sign_in(user: &str, address: &str) {
    tracing::info!(user = ?user, address = ?address, "failed sign-in");
}

/// The throttle's keys for a sign-in: hashes of the user name and of the client's address
/// block (an IPv6 client's /64).
fn throttle_keys(user: &str, address: &str) -> (String, String) {
    let block = address
        .parse()
        .map_or_else(|_| address.to_owned(), throttle::address_block);
    (
        secret::hash(&format!("user\0{user}")),
        secret::hash(&format!("address\0{block}")),
    )
}

/// The sign-in form again, 429 with `Retry-After`: too many failures for this user name or
/// this address; the password was not looked at.
fn too_many_sign_ins(
    state: &AppState,
    user_name: &str,
    wait: std::time::Duration,
) -> Result<Response, PageError> {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let message = format!("Too many failed sign-ins. Try again in {seconds} seconds.");
    let mut res = login_form(
        state,
        StatusCode::TOO_MANY_REQUESTS,
        user_name,
        Some(&message),
    )?;
    res.headers_mut()
        .insert(header::RETRY_AFTER, seconds.max(1).into());
    Ok(res)
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

/// The static files hold nothing of anyone's: caches may keep them a few minutes.
const STATIC_CACHE: &str = "public, max-age=300";

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, STATIC_CACHE),
        ],
        include_str!("../../../../web/static/app.js"),
    )
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, STATIC_CACHE),
        ],
        include_str!("../../../../web/static/style.css"),
    )
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn user_text_in_a_log_line_cannot_forge_another_line_or_an_escape() {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            super::log_failed_sign_in(
                "eve\n2026-12-05T10:00:00Z  INFO signed in user=admin\u{1b}[2J",
                "127.0.0.1",
            );
        });
        let text = String::from_utf8(out.0.lock().expect("lock").clone()).expect("utf-8");
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(text.contains("failed sign-in"), "{text}");
        assert!(text.contains(r"eve\n2026"), "{text}");
    }
}
