//! `GET /`: the dashboard — my requests, and those waiting for my review, whose number is in
//! the page's title and navigation.

use askama::Template;
use axum::extract::State;
use axum::response::Html;
use countersign_core::user::User;
use countersign_store::{RequestFilter, WAITING_COUNT_CAP};

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
    mine: Vec<SummaryView>,
    waiting: Vec<SummaryView>,
    /// How many wait for my review (all of them, not only those listed), in words: `3`, or
    /// `1000+` past what is counted.
    waiting_count: String,
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
    let mine = state.store.list_requests(&mine, DASHBOARD_ROWS).await?;
    let waiting = state.store.list_requests(&waiting, DASHBOARD_ROWS).await?;
    let counted = state.store.count_awaiting_review(&me.user.name).await?;
    let waiting_count = if counted >= WAITING_COUNT_CAP {
        format!("{WAITING_COUNT_CAP}+")
    } else {
        counted.to_string()
    };
    render(&Dashboard {
        waiting_any: counted > 0,
        user: &me.user,
        csrf_token: &me.csrf_token,
        mine: mine.into_iter().map(SummaryView::from).collect(),
        waiting: waiting.into_iter().map(SummaryView::from).collect(),
        waiting_count,
    })
}
