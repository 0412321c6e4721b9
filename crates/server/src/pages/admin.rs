//! `/admin`: the users and the targets, for admins. A target shows its driver and policy, never
//! its connection URL.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use countersign_core::permission;
use countersign_core::user::User;

use super::render;
use crate::AppState;
use crate::auth::PageUser;
use crate::config::TargetConfig;
use crate::error::{ApiError, PageError};

pub fn routes() -> Router<AppState> {
    Router::new().route("/admin", get(admin))
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

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage<'a> {
    user: &'a User,
    csrf_token: &'a str,
    users: Vec<User>,
    targets: Vec<TargetLine>,
}

/// `GET /admin`
async fn admin(State(state): State<AppState>, me: PageUser) -> Result<Html<String>, PageError> {
    permission::may_manage_users(&me.user).map_err(ApiError::from)?;
    let users = state.store.list_users().await?;
    render(&AdminPage {
        user: &me.user,
        csrf_token: &me.csrf_token,
        users,
        targets: state.config.targets.iter().map(TargetLine::from).collect(),
    })
}
