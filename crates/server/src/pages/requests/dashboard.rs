//! `GET /`: the dashboard — my requests, and those waiting for my review, whose number is in
//! the page's title (and, as on every page, its navigation: read with the session).

use askama::Template;
use axum::extract::State;
use axum::response::Html;
use countersign_core::user::User;
use countersign_store::RequestFilter;

use crate::AppState;
use crate::auth::PageUser;
use crate::error::PageError;
use crate::pages::{StatusLook, render};
use crate::views::SummaryView;

/// How many requests each dashboard list shows.
const DASHBOARD_ROWS: i64 = 50;

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard<'a> {
    user: &'a User,
    csrf_token: &'a str,
    /// How many requests wait for my review, for the navigation.
    waiting: String,
    mine: Vec<SummaryView>,
    waiting_rows: Vec<SummaryView>,
    /// Whether any does.
    waiting_any: bool,
}

/// `GET /`: my requests, and those waiting for my review.
pub async fn dashboard(
    State(state): State<AppState>,
    me: PageUser,
) -> Result<Html<String>, PageError> {
    let mine = RequestFilter {
        author: Some(me.user.name.clone()),
        ..Default::default()
    };
    let waiting = RequestFilter {
        awaiting_review_by: Some(me.user.name.clone()),
        ..Default::default()
    };
    // As of the store's version read with the session: kept lists are not read again.
    let at = me.store_version;
    let mine = state
        .store
        .list_requests_at(&mine, DASHBOARD_ROWS, at)
        .await?;
    let waiting = state
        .store
        .list_requests_at(&waiting, DASHBOARD_ROWS, at)
        .await?;
    render(&Dashboard {
        waiting_any: me.waiting_for_review > 0,
        user: &me.user,
        csrf_token: &me.csrf_token,
        waiting: me.waiting_words(),
        mine: mine.into_iter().map(SummaryView::from).collect(),
        waiting_rows: waiting.into_iter().map(SummaryView::from).collect(),
    })
}
