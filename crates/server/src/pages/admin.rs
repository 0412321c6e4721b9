//! `/admin`: the users, their API tokens and the targets, for admins. A target shows its driver
//! and policy, never its connection URL; a token its dates and state, never its hash.
//!
//! Every change made here is a CSRF-protected form ([`SignedForm`]) that only an admin may
//! post, audited with the admin as actor: revoking a token, adding a user, and per user
//! disabling, setting a new password and changing the roles (each of the last three ends every
//! session of that user, in the store's transaction). Names and passwords are checked by the
//! same rules as the command line's (`core::user`); passwords are hashed through the server's
//! bounded hashers. A refused form shows the page again with the reason and what was typed,
//! except the password; a change that went through redirects to `/admin`.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use countersign_core::email::InvalidEmail;
use countersign_core::permission;
use countersign_core::timestamp;
use countersign_core::user::{
    self, AccountChangeRefused, InvalidPassword, InvalidUserName, MIN_PASSWORD_CHARS, Role,
    UnknownRole, User,
};
use countersign_store::{StoreError, TokenRecord};
use serde::Deserialize;

use super::form::SignedForm;
use super::render;
use crate::AppState;
use crate::auth::PageUser;
use crate::auth::password::Busy;
use crate::config::TargetConfig;
use crate::error::{ApiError, PageError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(admin))
        .route("/admin/users", post(add_user))
        .route("/admin/users/{name}/disable", post(disable_user))
        .route("/admin/users/{name}/enable", post(enable_user))
        .route("/admin/users/{name}/password", post(set_password))
        .route("/admin/users/{name}/roles", post(change_roles))
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

/// One role's checkbox on a form.
struct RoleBox {
    value: &'static str,
    checked: bool,
}

fn role_boxes(roles: &[Role]) -> Vec<RoleBox> {
    Role::ALL
        .into_iter()
        .map(|r| RoleBox {
            value: r.as_str(),
            checked: roles.contains(&r),
        })
        .collect()
}

/// A user as the admin page lists them, with what their forms show.
struct UserLine {
    name: String,
    roles: Vec<Role>,
    disabled: bool,
    /// The role form's boxes: the user's roles, or what was just submitted and refused.
    role_boxes: Vec<RoleBox>,
    /// Whether the user's forms are shown (not for a disabled user).
    manageable: bool,
    /// Whether the disable button is shown (not on the admin's own line).
    disablable: bool,
    /// Why the last change to this user was refused; the user's forms are shown open.
    error: Option<String>,
    /// Where notifications go (`pages::user_email`).
    email: Option<String>,
    /// The email form's value: the address, or what was just typed and refused.
    email_input: String,
}

/// The add-user form: empty, or what was typed before it was refused (never the password).
struct AddForm {
    name: String,
    role_boxes: Vec<RoleBox>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage<'a> {
    user: &'a User,
    csrf_token: &'a str,
    /// How many requests wait for my review, for the navigation.
    waiting: String,
    users: Vec<UserLine>,
    /// Why a change to a user who is not listed (any more) was refused.
    users_error: Option<String>,
    add: AddForm,
    min_password_chars: usize,
    tokens: Vec<TokenLine>,
    targets: Vec<TargetLine>,
    /// The public key that signs audit checkpoints, if one is configured.
    audit_public_key: Option<String>,
    /// Dead outbox messages ("Failed deliveries").
    deliveries: Vec<super::deliveries::DeliveryLine>,
}

/// Why a user form was refused: shown on the page above the form, with what was typed.
#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error(transparent)]
    Name(#[from] InvalidUserName),
    #[error(transparent)]
    Password(#[from] InvalidPassword),
    #[error(transparent)]
    Role(#[from] UnknownRole),
    #[error(transparent)]
    Change(#[from] AccountChangeRefused),
    #[error(transparent)]
    Email(#[from] InvalidEmail),
    #[error("give the user at least one role")]
    NoRole,
    #[error("a user called {0:?} already exists")]
    Exists(String),
    #[error("there is no user called {0:?}")]
    NoSuchUser(String),
    #[error("{0:?} is already disabled")]
    AlreadyDisabled(String),
    #[error("every password hasher is busy; try again in a moment")]
    Busy,
}

impl Refused {
    fn status(&self) -> StatusCode {
        match self {
            Refused::Name(_)
            | Refused::Password(_)
            | Refused::Role(_)
            | Refused::Email(_)
            | Refused::NoRole
            | Refused::Change(AccountChangeRefused::DisableSelf)
            | Refused::Change(AccountChangeRefused::DropOwnAdmin) => StatusCode::BAD_REQUEST,
            Refused::Change(AccountChangeRefused::NoChange(_))
            | Refused::Exists(_)
            | Refused::AlreadyDisabled(_) => StatusCode::CONFLICT,
            Refused::NoSuchUser(_) => StatusCode::NOT_FOUND,
            Refused::Busy => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl From<Busy> for Refused {
    fn from(Busy: Busy) -> Refused {
        Refused::Busy
    }
}

/// A refused form to show again: whose it was (`None`: the add form), what was typed.
struct Retry {
    user: Option<String>,
    name: String,
    roles: Vec<Role>,
    /// The email address typed, when that form was refused.
    email: Option<String>,
    refused: Refused,
}

/// `GET /admin`
async fn admin(State(state): State<AppState>, me: PageUser) -> Result<Response, PageError> {
    permission::may_manage_users(&me.user).map_err(ApiError::from)?;
    admin_page(&state, &me, None).await
}

/// The admin page, with a refused form shown again (and its status) when there is one.
async fn admin_page(
    state: &AppState,
    me: &PageUser,
    retry: Option<Retry>,
) -> Result<Response, PageError> {
    let users = state.store.list_users().await?;
    let now = timestamp::now();
    let tokens = state.store.list_tokens(None).await?;
    let status = retry
        .as_ref()
        .map_or(StatusCode::OK, |r| r.refused.status());
    let (add, line_retry) = match retry {
        Some(r) if r.user.is_none() => (
            AddForm {
                name: r.name,
                role_boxes: role_boxes(&r.roles),
                error: Some(r.refused.to_string()),
            },
            None,
        ),
        other => (
            AddForm {
                name: String::new(),
                role_boxes: role_boxes(&[Role::Author]),
                error: None,
            },
            other,
        ),
    };
    let users_error = line_retry
        .as_ref()
        .filter(|r| {
            !users
                .iter()
                .any(|u| r.user.as_deref() == Some(u.name.as_str()))
        })
        .map(|r| r.refused.to_string());
    let emails = state.store.emails().await?;
    let users = users
        .into_iter()
        .map(|u| {
            let refused = line_retry
                .as_ref()
                .filter(|r| r.user.as_deref() == Some(u.name.as_str()));
            let email = emails.get(&u.name).cloned();
            UserLine {
                role_boxes: role_boxes(refused.map_or(&u.roles, |r| &r.roles)),
                error: refused.map(|r| r.refused.to_string()),
                manageable: !u.disabled,
                disablable: !u.disabled && user::may_disable(&me.user, &u.name).is_ok(),
                email_input: refused
                    .and_then(|r| r.email.clone())
                    .or_else(|| email.clone())
                    .unwrap_or_default(),
                email,
                name: u.name,
                roles: u.roles,
                disabled: u.disabled,
            }
        })
        .collect();
    let page = render(&AdminPage {
        user: &me.user,
        csrf_token: &me.csrf_token,
        waiting: me.waiting_words(),
        users,
        users_error,
        add,
        min_password_chars: MIN_PASSWORD_CHARS,
        tokens: tokens.into_iter().map(|t| TokenLine::new(t, now)).collect(),
        targets: state.config.targets.iter().map(TargetLine::from).collect(),
        audit_public_key: state.config.audit.signing_key.as_ref().map(|k| k.public()),
        deliveries: super::deliveries::dead_lines(state).await?,
    })?;
    Ok((status, page).into_response())
}

/// A user form as posted: the add form has all three fields, a user's line one of them.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct UserForm {
    name: String,
    role: Vec<String>,
    password: String,
}

/// The roles checked on `form`, and the first value that is not a role.
fn checked_roles(form: &UserForm) -> (Vec<Role>, Option<UnknownRole>) {
    let mut roles = Vec::new();
    let mut unknown = None;
    for value in form.role.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
        match value.parse::<Role>() {
            Ok(r) if !roles.contains(&r) => roles.push(r),
            Ok(_) => {}
            Err(e) => unknown = unknown.or(Some(e)),
        }
    }
    roles.sort();
    (roles, unknown)
}

/// Hashes a new password in one of the server's bounded turns.
async fn hash_password(
    state: &AppState,
    password: String,
) -> Result<Result<String, Refused>, PageError> {
    match state.hashers.hash(password).await {
        Ok(hash) => Ok(Ok(hash.map_err(ApiError::internal)?)),
        Err(busy) => Ok(Err(busy.into())),
    }
}

/// What a change to an existing user needs first: the admin's permission and the user.
async fn target_user(
    state: &AppState,
    me: &PageUser,
    name: &str,
) -> Result<Option<User>, PageError> {
    permission::may_manage_users(&me.user).map_err(ApiError::from)?;
    Ok(state.store.user_by_name(name).await?)
}

/// Checks the add-user form: a role value that is no role, the name, at least one role, the
/// password — the first problem found.
fn check_new_user(
    name: &str,
    roles: &[Role],
    unknown: Option<UnknownRole>,
    password: &str,
) -> Result<(), Refused> {
    if let Some(e) = unknown {
        return Err(e.into());
    }
    user::validate_user_name(name)?;
    if roles.is_empty() {
        return Err(Refused::NoRole);
    }
    user::validate_password(password)?;
    Ok(())
}

/// `POST /admin/users`: adds a user with roles and an initial password.
async fn add_user(
    State(state): State<AppState>,
    SignedForm { me, form }: SignedForm<UserForm>,
) -> Result<Response, PageError> {
    permission::may_manage_users(&me.user).map_err(ApiError::from)?;
    let name = form.name.trim().to_owned();
    let (roles, unknown) = checked_roles(&form);
    let retry = |refused: Refused| Retry {
        user: None,
        name: name.clone(),
        roles: roles.clone(),
        email: None,
        refused,
    };
    let password = form.password;
    let refused = match check_new_user(&name, &roles, unknown, &password) {
        Err(refused) => Some(refused),
        // Not a guarantee (the store's unique name is), but spares a hash.
        Ok(()) if state.store.user_by_name(&name).await?.is_some() => {
            Some(Refused::Exists(name.clone()))
        }
        Ok(()) => None,
    };
    if let Some(refused) = refused {
        return admin_page(&state, &me, Some(retry(refused))).await;
    }
    let hash = match hash_password(&state, password).await? {
        Ok(hash) => hash,
        Err(refused) => return admin_page(&state, &me, Some(retry(refused))).await,
    };
    match state
        .store
        .create_user(&name, &roles, Some(&hash), Some(&me.user.name))
        .await
    {
        Ok(_) => {}
        Err(StoreError::AlreadyExists(_)) => {
            return admin_page(&state, &me, Some(retry(Refused::Exists(name.clone())))).await;
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(user = ?name, by = ?me.user.name, "user added");
    Ok(Redirect::to("/admin").into_response())
}

/// A refused change to the user called `name`, shown on their line with `roles` checked.
async fn refuse_for(
    state: &AppState,
    me: &PageUser,
    name: &str,
    roles: Vec<Role>,
    refused: Refused,
) -> Result<Response, PageError> {
    let retry = Retry {
        user: Some(name.to_owned()),
        name: String::new(),
        roles,
        email: None,
        refused,
    };
    admin_page(state, me, Some(retry)).await
}

/// A refused email address for the user called `name`: the admin page again, the reason on
/// their line and the address as typed in its field (400).
pub(super) async fn refuse_email(
    state: &AppState,
    me: &PageUser,
    name: &str,
    typed: String,
    refused: InvalidEmail,
) -> Result<Response, PageError> {
    let Some(target) = target_user(state, me, name).await? else {
        return no_such_user(state, me, name).await;
    };
    let retry = Retry {
        user: Some(name.to_owned()),
        name: String::new(),
        roles: target.roles,
        email: Some(typed),
        refused: refused.into(),
    };
    admin_page(state, me, Some(retry)).await
}

/// The answer to a change to a user who does not exist (any more).
pub(super) async fn no_such_user(
    state: &AppState,
    me: &PageUser,
    name: &str,
) -> Result<Response, PageError> {
    let refused = Refused::NoSuchUser(name.to_owned());
    refuse_for(state, me, name, vec![], refused).await
}

/// `POST /admin/users/{name}/disable`: disables a user; their sessions end, their tokens stop.
async fn disable_user(
    State(state): State<AppState>,
    Path(name): Path<String>,
    SignedForm { me, .. }: SignedForm,
) -> Result<Response, PageError> {
    let Some(target) = target_user(&state, &me, &name).await? else {
        return no_such_user(&state, &me, &name).await;
    };
    let refused = if target.disabled {
        Some(Refused::AlreadyDisabled(name.clone()))
    } else {
        user::may_disable(&me.user, &name).err().map(Refused::from)
    };
    if let Some(refused) = refused {
        return refuse_for(&state, &me, &name, target.roles, refused).await;
    }
    match state.store.disable_user(&name, Some(&me.user.name)).await {
        Err(StoreError::NotFound(_)) => {
            return no_such_user(&state, &me, &name).await;
        }
        other => other?,
    }
    tracing::info!(user = ?name, by = ?me.user.name, "user disabled");
    Ok(Redirect::to("/admin").into_response())
}

/// `POST /admin/users/{name}/enable`: a disabled user may sign in again, their tokens work
/// again.
async fn enable_user(
    State(state): State<AppState>,
    Path(name): Path<String>,
    SignedForm { me, .. }: SignedForm,
) -> Result<Response, PageError> {
    permission::may_manage_users(&me.user).map_err(ApiError::from)?;
    match state.store.enable_user(&name, Some(&me.user.name)).await {
        Err(StoreError::NotFound(_)) => return no_such_user(&state, &me, &name).await,
        other => other?,
    };
    tracing::info!(user = ?name, by = ?me.user.name, "user enabled");
    Ok(Redirect::to("/admin").into_response())
}

/// `POST /admin/users/{name}/password`: sets a new password; every session of the user ends.
async fn set_password(
    State(state): State<AppState>,
    Path(name): Path<String>,
    SignedForm { me, form }: SignedForm<UserForm>,
) -> Result<Response, PageError> {
    let Some(target) = target_user(&state, &me, &name).await? else {
        return no_such_user(&state, &me, &name).await;
    };
    let password = form.password;
    let hash = match user::validate_password(&password) {
        Ok(()) => hash_password(&state, password).await?,
        Err(e) => Err(e.into()),
    };
    let hash = match hash {
        Ok(hash) => hash,
        Err(refused) => return refuse_for(&state, &me, &name, target.roles, refused).await,
    };
    match state
        .store
        .set_password_hash(&name, &hash, Some(&me.user.name))
        .await
    {
        Err(StoreError::NotFound(_)) => {
            return no_such_user(&state, &me, &name).await;
        }
        other => other?,
    }
    tracing::info!(user = ?name, by = ?me.user.name, "password set");
    Ok(Redirect::to("/admin").into_response())
}

/// `POST /admin/users/{name}/roles`: gives the user exactly the checked roles; every session
/// of theirs ends.
async fn change_roles(
    State(state): State<AppState>,
    Path(name): Path<String>,
    SignedForm { me, form }: SignedForm<UserForm>,
) -> Result<Response, PageError> {
    let Some(target) = target_user(&state, &me, &name).await? else {
        return no_such_user(&state, &me, &name).await;
    };
    let (roles, unknown) = checked_roles(&form);
    let change = match unknown {
        Some(e) => Err(Refused::from(e)),
        None => user::plan_role_change(&me.user, &target, &roles).map_err(Refused::from),
    };
    let change = match change {
        Ok(change) => change,
        Err(refused) => return refuse_for(&state, &me, &name, roles, refused).await,
    };
    let changed = match state
        .store
        .change_roles(&name, &change.add, &change.remove, Some(&me.user.name))
        .await
    {
        Err(StoreError::NotFound(_)) => {
            return refuse_for(&state, &me, &name, roles, Refused::NoSuchUser(name.clone())).await;
        }
        other => other?,
    };
    tracing::info!(user = ?name, roles = ?changed.roles, by = ?me.user.name, "roles changed");
    Ok(Redirect::to("/admin").into_response())
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
