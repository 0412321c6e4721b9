//! `/requests/{id}`: the request page — what the signed-in user may do on it, its history —
//! and its buttons: review, withdraw, execute (with its confirmation step).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use countersign_analyzer::Analysis;
use countersign_core::audit::AuditEvent;
use countersign_core::lifecycle::ActionKind;
use countersign_core::permission;
use countersign_core::request::{RequestStatus, ReviewDecision};
use countersign_core::timestamp;
use countersign_core::user::User;
use countersign_core::validation::NewReview;
use serde::Deserialize;

use crate::AppState;
use crate::auth::{PageUser, RequestPageUser};
use crate::config::UndoSetting;
use crate::error::{ApiError, PageError};
use crate::expiry::ApprovalNote;
use crate::pages::form::SignedForm;
use crate::pages::{StatusLook, render};
use crate::undo::ChangedRow;
use crate::views::RequestView;

use super::look::Stamp;
use super::rehearsal_view::RehearsalPanel;
use super::sql_view::{DiffLine, SqlWindow, sql_diff, sql_window};

/// What the signed-in user may do on a request page.
struct Abilities {
    review: bool,
    withdraw: bool,
    revise: bool,
    execute: bool,
    /// Start a rehearsal ("Rehearse").
    rehearse: bool,
    /// A failed request is never retried; its author starts a new one from it.
    resubmit: bool,
    /// Start the revert of an executed request whose undo is available ("Revert").
    revert: bool,
    /// Download the rows its execution changed (author, named reviewers, admins).
    images: bool,
}

impl Abilities {
    fn of(state: &AppState, user: &User, view: &RequestView) -> Abilities {
        let allowed = |kind: ActionKind| kind.is_allowed_from(view.status);
        let undo = view.execution.as_ref().and_then(|e| e.undo.as_ref());
        Abilities {
            review: allowed(ActionKind::Review)
                && permission::may_review(user, &view.author, &view.reviewers).is_ok()
                && !view
                    .reviews
                    .iter()
                    .any(|r| r.current && r.review.reviewer == user.name),
            withdraw: allowed(ActionKind::Withdraw)
                && permission::may_withdraw(user, &view.author).is_ok(),
            revise: allowed(ActionKind::Revise)
                && permission::may_revise(user, &view.author).is_ok(),
            execute: allowed(ActionKind::ClaimExecution)
                && permission::may_execute(user, &view.author).is_ok(),
            rehearse: state.may_start_rehearsal(user, view),
            resubmit: matches!(
                view.status,
                RequestStatus::Failed | RequestStatus::Withdrawn
            ) && user.name == view.author,
            revert: view.status == RequestStatus::Executed
                && undo.is_some_and(|u| u.available)
                && permission::may_revert(user, &view.author).is_ok(),
            images: undo.is_some_and(|u| u.available)
                && permission::may_read_images(user, &view.author, &view.reviewers).is_ok(),
        }
    }
}

/// An audit event as the request page lists it.
struct HistoryLine {
    at: String,
    actor: String,
    action: String,
    revision: Option<i64>,
}

impl From<AuditEvent> for HistoryLine {
    fn from(e: AuditEvent) -> HistoryLine {
        HistoryLine {
            at: timestamp::format(e.at),
            actor: e.actor.unwrap_or_else(|| "system".to_owned()),
            action: e.action,
            revision: e.revision,
        }
    }
}

#[derive(Template)]
#[template(path = "request.html")]
struct RequestPage<'a> {
    user: &'a User,
    csrf_token: &'a str,
    /// How many requests wait for my review, for the navigation.
    waiting: String,
    req: &'a RequestView,
    analysis: &'a Analysis,
    sql: SqlWindow,
    can: Abilities,
    rehearsal: &'a Option<RehearsalPanel>,
    history: &'a [HistoryLine],
    /// The SQL's change from the previous revision, if there is one.
    diff: &'a [DiffLine],
    error: Option<String>,
    comment: String,
    /// The execution's undo in words ("Undo available: 3 rows", or why not).
    undo: &'a Option<String>,
    /// For a failed revert: the rows changed since the run it reverts.
    changed_since: &'a [ChangedRow],
    /// Before it runs: why its run will not be undoable, as far as its text tells.
    undo_warning: &'a Option<String>,
    /// The approval's deadline, or that it expired, in words.
    approval: Option<String>,
    /// The revisions whose approvals expired: their reviews are void for that reason.
    expired_revisions: &'a [i64],
}

impl RequestPage<'_> {
    /// A review's decision as the page says it: "approved", "rejected".
    fn decided(&self, decision: &ReviewDecision) -> &'static str {
        match decision {
            ReviewDecision::Approve => "approved",
            ReviewDecision::Reject => "rejected",
        }
    }

    /// Why a review of `revision` (not the current one) is void, in words.
    fn void_reason(&self, revision: &i64) -> &'static str {
        crate::expiry::void_reason(*revision, self.expired_revisions)
    }
}

/// What a request page shows of its request, whoever looks and whenever: read from the store
/// at once, and kept ([`PageCache`](super::cache::PageCache)) while the request does not change.
/// What depends on the viewer (the buttons) or on the clock (an approval's deadline) is worked
/// out at each view.
pub(crate) struct PageData {
    req: RequestView,
    analysis: Analysis,
    history: Vec<HistoryLine>,
    diff: Vec<DiffLine>,
    expired_revisions: Vec<i64>,
    rehearsal: Option<RehearsalPanel>,
    undo: Option<String>,
    undo_warning: Option<String>,
    changed_since: Vec<ChangedRow>,
    approval: ApprovalNote,
    /// A failed revert's page also depends on the images of the run it reverts, which change
    /// with that request: read at every view.
    reverts: bool,
}

impl PageData {
    /// Reads what the page of request `id` shows.
    pub(crate) async fn read(state: &AppState, id: i64) -> Result<PageData, PageError> {
        let record = state.load_request(id).await?;
        let events = state.store.request_events(id).await?;
        let approval = ApprovalNote::of(&record, state.config.target(&record.target), &events);
        let changed_since = state.rows_changed_since(&record).await?;
        let reverts = record.reverts.is_some();
        let mut req = state.view_of(record).await?;
        // The page shows the analysis as its type; the view's JSON of it is not kept twice.
        let analysis: Analysis = serde_json::from_value(std::mem::take(&mut req.analysis))
            .map_err(ApiError::internal)?;
        let diff = match req.revisions.as_slice() {
            [.., previous, current] => sql_diff(&previous.sql, &current.sql),
            _ => Vec::new(),
        };
        let expired_revisions = crate::expiry::expired_revisions(&events);
        let history = events.into_iter().map(HistoryLine::from).collect();
        // Without one of the current revision, the latest of an earlier one, marked as such.
        let rehearsal = match &req.rehearsal {
            Some(r) => Some(RehearsalPanel::new(r, req.expected_rows, req.revision)),
            None => state
                .store
                .rehearsals(id, 1)
                .await?
                .into_iter()
                .next()
                .map(|r| RehearsalPanel::new(&r.into(), req.expected_rows, req.revision)),
        };
        let undo = req
            .execution
            .as_ref()
            .and_then(|e| e.undo.as_ref())
            .map(|u| match (u.available, &u.reason) {
                (true, _) => format!("Undo available: {} rows", u.rows),
                (false, Some(reason)) => format!("No undo: {reason}"),
                (false, None) => "No undo".to_owned(),
            });
        let undo_warning = undo_warning(state, &req, &analysis);
        Ok(PageData {
            req,
            analysis,
            history,
            diff,
            expired_revisions,
            rehearsal,
            undo,
            undo_warning,
            changed_since,
            approval,
            reverts,
        })
    }

    /// The bytes of SQL it holds (every revision's): what keeping it weighs.
    pub(crate) fn sql_bytes(&self) -> u64 {
        self.req.revisions.iter().map(|r| r.sql.len() as u64).sum()
    }

    /// Whether it may be kept between views at all.
    pub(crate) fn keepable(&self) -> bool {
        !self.reverts
    }
}

/// The request page, read afresh (after a refused action: with the reason, and the comment as
/// typed).
async fn request_page(
    state: &AppState,
    me: &PageUser,
    id: i64,
    error: Option<String>,
    comment: String,
    status: StatusCode,
) -> Result<Response, PageError> {
    let data = PageData::read(state, id).await?;
    render_page(state, me, &data, error, comment, status, 1)
}

/// The request page of `data` for `me`, with the window of its SQL that holds line `from_line`.
fn render_page(
    state: &AppState,
    me: &PageUser,
    data: &PageData,
    error: Option<String>,
    comment: String,
    status: StatusCode,
    from_line: usize,
) -> Result<Response, PageError> {
    let req = &data.req;
    let page = RequestPage {
        undo: &data.undo,
        changed_since: &data.changed_since,
        undo_warning: &data.undo_warning,
        approval: data.approval.words(timestamp::now()),
        expired_revisions: &data.expired_revisions,
        user: &me.user,
        csrf_token: &me.csrf_token,
        waiting: me.waiting_words(),
        can: Abilities::of(state, &me.user, req),
        rehearsal: &data.rehearsal,
        req,
        analysis: &data.analysis,
        sql: sql_window(&req.sql, &data.analysis, from_line),
        history: &data.history,
        diff: &data.diff,
        error,
        comment,
    };
    Ok((status, render(&page)?).into_response())
}

/// Why a request that has not run yet will not be undoable, in words, as far as its text
/// tells (the rehearsal tells the rest): on a target that requires undo, its run will change
/// nothing unless the request says to run without undo.
fn undo_warning(state: &AppState, req: &RequestView, analysis: &Analysis) -> Option<String> {
    if req.execution.is_some() || req.without_undo || req.status.is_final() {
        return None;
    }
    let target = state.config.target(&req.target)?;
    let reason = countersign_executor::undo_refusal(analysis, target.driver)?;
    match target.undo.setting {
        UndoSetting::Required => Some(format!(
            "This change cannot be undone as written — {reason}. Undo is required on {}: its \
             run will change nothing (outcome no_undo) unless it is revised to run without undo.",
            target.name
        )),
        UndoSetting::Optional => Some(format!("This change will run without undo — {reason}.")),
        UndoSetting::Off => None,
    }
}

/// After a button on the request page: back to the request, with the reason if the action was
/// refused (and the comment as typed, for a review).
pub(super) async fn back_to_request(
    state: &AppState,
    me: &PageUser,
    id: i64,
    result: Result<(), ApiError>,
    comment: String,
) -> Result<Response, PageError> {
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/requests/{id}")).into_response()),
        Err(e) => request_page(state, me, id, Some(e.message), comment, e.status).await,
    }
}

/// Which part of the request page to show: `?lines=N` shows the window of SQL holding line N.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ShowQuery {
    lines: Option<usize>,
}

/// `GET /requests/{id}` (`?lines=N`: the window of SQL that holds line N): the request's data
/// as kept since its last change, or read now.
pub(super) async fn show(
    State(state): State<AppState>,
    RequestPageUser { me, id, version }: RequestPageUser,
    Query(query): Query<ShowQuery>,
) -> Result<Response, PageError> {
    let from = query.lines.unwrap_or(1);
    let kept = state
        .page_cache
        .get_or_read(id, version, PageData::read(&state, id))
        .await?;
    render_page(
        &state,
        &me,
        &kept.data,
        None,
        String::new(),
        StatusCode::OK,
        from,
    )
}

/// The review form: a comment and the button pressed, for the revision shown.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ReviewForm {
    comment: String,
    decision: String,
    revision: String,
}

/// `POST /requests/{id}/review`: the "Approve" and "Reject" buttons.
pub(super) async fn review(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SignedForm { me, form }: SignedForm<ReviewForm>,
) -> Result<Response, PageError> {
    let ReviewForm {
        comment,
        decision,
        revision,
    } = form;
    let attempt = async {
        let decision: ReviewDecision = decision
            .parse()
            .map_err(|e: countersign_core::UnknownName| ApiError::bad_request(e.to_string()))?;
        let revision = revision
            .parse()
            .map_err(|_| ApiError::bad_request("the form lost its revision; reload the page"))?;
        state
            .review(
                id,
                &me.user,
                NewReview {
                    decision,
                    comment: comment.clone(),
                    revision,
                },
            )
            .await
    };
    let result = attempt.await.map(|_| ());
    back_to_request(&state, &me, id, result, comment).await
}

/// `POST /requests/{id}/rehearse`: the "Rehearse" button.
pub(super) async fn rehearse(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SignedForm { me, .. }: SignedForm,
) -> Result<Response, PageError> {
    let result = state.rehearse(id, &me.user).await.map(|_| ());
    back_to_request(&state, &me, id, result, String::new()).await
}

/// `POST /requests/{id}/revert`: the "Revert" button; on to the new request.
pub(super) async fn revert(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SignedForm { me, .. }: SignedForm,
) -> Result<Response, PageError> {
    match state.revert(id, &me.user).await {
        Ok(revert) => Ok(Redirect::to(&format!("/requests/{revert}")).into_response()),
        Err(e) => request_page(&state, &me, id, Some(e.message), String::new(), e.status).await,
    }
}

/// `GET /requests/{id}/images.jsonl`: the "Download the changed rows" link.
pub(super) async fn images(
    State(state): State<AppState>,
    me: PageUser,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let body = state.image_lines(id, &me.user).await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "application/x-ndjson"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"changed-rows.jsonl\"",
            ),
        ],
        body,
    )
        .into_response())
}

/// `POST /requests/{id}/withdraw`
pub(super) async fn withdraw(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SignedForm { me, .. }: SignedForm,
) -> Result<Response, PageError> {
    let result = state.withdraw(id, &me.user).await;
    back_to_request(&state, &me, id, result, String::new()).await
}

#[derive(Template)]
#[template(path = "confirm_execute.html")]
struct ConfirmExecute<'a> {
    user: &'a User,
    csrf_token: &'a str,
    /// How many requests wait for my review, for the navigation.
    waiting: String,
    req: RequestView,
}

/// `GET /requests/{id}/execute`: the confirmation step before a run.
pub(super) async fn confirm_execute(
    State(state): State<AppState>,
    me: PageUser,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let req = state.request_view(id).await?;
    if !Abilities::of(&state, &me.user, &req).execute {
        return Ok(Redirect::to(&format!("/requests/{id}")).into_response());
    }
    let page = ConfirmExecute {
        user: &me.user,
        csrf_token: &me.csrf_token,
        waiting: me.waiting_words(),
        req,
    };
    Ok(render(&page)?.into_response())
}

/// `POST /requests/{id}/execute`: runs it, then shows the request with its execution.
pub(super) async fn execute(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SignedForm { me, .. }: SignedForm,
) -> Result<Response, PageError> {
    let result = state.execute(id, &me.user).await.map(|_| ());
    back_to_request(&state, &me, id, result, String::new()).await
}
