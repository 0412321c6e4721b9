//! `/admin`: the users, their API tokens and the targets, for admins. A target shows its driver
//! and policy, never its connection URL; a token its dates and state, never its hash. A token
//! can be revoked from here (a CSRF-protected form; the revocation is audited).

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use countersign_core::permission;
use countersign_core::timestamp;
use countersign_core::user::User;
use countersign_store::TokenRecord;

use super::form::SignedForm;
use super::render;
use crate::AppState;
use crate::auth::PageUser;
use crate::config::TargetConfig;
use crate::error::{ApiError, PageError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(admin))
        .route("/admin/tokens/{id}/revoke", post(revoke_token))
}

/// A target as the admin page lists it.
struct TargetLine {
    name: String,
    driver: &'static str,
    approvals: String,
    blocked_rules: String,
    timeouts: String,
}

impl From<&TargetConfig> for TargetLine {
    fn from(t: &TargetConfig) -> TargetLine {
        let a = t.policy.approvals;
        let show = |d: Option<std::time::Duration>| {
            d.map_or_else(
                || "database default".to_owned(),
                |d| humantime::format_duration(d).to_string(),
            )
        };
        TargetLine {
            name: t.name.clone(),
            driver: t.driver.as_str(),
            approvals: format!("low {}, medium {}, high {}", a.low, a.medium, a.high),
            blocked_rules: if t.policy.blocked_rules.is_empty() {
                "none".to_owned()
            } else {
                t.policy.blocked_rules.join(", ")
            },
            timeouts: format!(
                "statement {}, lock {}",
                show(t.policy.statement_timeout),
                show(t.policy.lock_timeout)
            ),
        }
    }
}

/// A token as the admin page lists it.
struct TokenLine {
    id: i64,
    user: String,
    created: String,
    last_used: String,
    expires: String,
    state: &'static str,
    revocable: bool,
}

impl TokenLine {
    fn new(t: TokenRecord, now: time::OffsetDateTime) -> TokenLine {
        let show = |t: Option<time::OffsetDateTime>, none: &str| {
            t.map_or_else(
                || none.to_owned(),
                |t| timestamp::format(t)[..16].replace('T', " "),
            )
        };
        let state = match (t.revoked_at, t.is_live(now)) {
            (Some(_), _) => "revoked",
            (None, true) => "active",
            (None, false) => "expired",
        };
        TokenLine {
            id: t.id,
            user: t.user,
            created: show(Some(t.created_at), ""),
            last_used: show(t.last_used_at, "never"),
            expires: show(t.expires_at, "never"),
            state,
            revocable: t.revoked_at.is_none(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage<'a> {
    user: &'a User,
    csrf_token: &'a str,
    users: Vec<User>,
    tokens: Vec<TokenLine>,
    targets: Vec<TargetLine>,
    /// The public key that signs audit checkpoints, if one is configured.
    audit_public_key: Option<String>,
}

/// `GET /admin`
async fn admin(State(state): State<AppState>, me: PageUser) -> Result<Html<String>, PageError> {
    permission::may_manage_users(&me.user).map_err(ApiError::from)?;
    let users = state.store.list_users().await?;
    let now = timestamp::now();
    let tokens = state.store.list_tokens(None).await?;
    render(&AdminPage {
        user: &me.user,
        csrf_token: &me.csrf_token,
        users,
        tokens: tokens.into_iter().map(|t| TokenLine::new(t, now)).collect(),
        targets: state.config.targets.iter().map(TargetLine::from).collect(),
        audit_public_key: state.config.audit.signing_key.as_ref().map(|k| k.public()),
    })
}

/// `POST /admin/tokens/{id}/revoke`: revokes a token, audited with the admin as actor.
async fn revoke_token(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SignedForm { me, .. }: SignedForm,
) -> Result<Response, PageError> {
    permission::may_manage_users(&me.user).map_err(ApiError::from)?;
    let token = state.store.revoke_token(id, Some(&me.user.name)).await?;
    tracing::info!(token = token.id, user = ?token.user, by = ?me.user.name, "token revoked");
    Ok(Redirect::to("/admin").into_response())
}
