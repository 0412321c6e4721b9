//! The request pages, one module a page or concern: the dashboard (`dashboard`), the
//! new-request and revision forms (`form`), the request page with its review, withdraw and
//! execute forms (`page`) and its data kept between views (`cache`), its discussion (`comments`), its rehearsal panel (`rehearsal_view`), the SQL as pages show it — numbered lines with findings, the diff
//! between revisions (`sql_view`) — and how times and statuses look (`look`). Every decision
//! (who sees which button, which line a finding belongs to) is made here; the templates only
//! display it.

mod cache;
mod comments;
mod dashboard;
mod form;
mod look;
mod page;
mod rehearsal_view;
mod sql_view;

use axum::Router;
use axum::routing::{get, post};

pub use cache::PageCache;
pub use dashboard::dashboard;
pub use look::{Stamp, status_class};
pub use sql_view::{DiffLine, SqlLine, SqlWindow, sql_diff, sql_window};

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/requests/new", get(form::new_form))
        .route("/requests", post(form::submit))
        .route("/requests/{id}", get(page::show))
        .route("/requests/{id}/edit", get(form::edit_form).post(form::edit))
        .route("/requests/{id}/review", post(page::review))
        .route("/requests/{id}/withdraw", post(page::withdraw))
        .route("/requests/{id}/comments", post(comments::add))
        .route("/requests/{id}/rehearse", post(page::rehearse))
        .route("/requests/{id}/revert", post(page::revert))
        .route("/requests/{id}/images.jsonl", get(page::images))
        .route(
            "/requests/{id}/execute",
            get(page::confirm_execute).post(page::execute),
        )
}
