//! The request pages: the dashboard, the new-request and edit forms, and the request page with
//! its review, withdraw and execute forms. Every decision (who sees which button, which line a
//! finding belongs to) is made here; the templates only display it.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use countersign_analyzer::{Analysis, Finding};
use countersign_core::audit::AuditEvent;
use countersign_core::lifecycle::ActionKind;
use countersign_core::permission;
use countersign_core::request::{RequestStatus, ReviewDecision};
use countersign_core::timestamp;
use countersign_core::user::{Role, User};
use countersign_core::validation::{NewRequest, NewReview, RequestEdit};
use countersign_store::RequestFilter;
use serde::Deserialize;

use super::form::RawForm;
use super::{StatusLook, render};
use crate::AppState;
use crate::auth::PageUser;
use crate::error::{ApiError, PageError};
use crate::views::{RequestView, SummaryView};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/requests/new", get(new_form))
        .route("/requests", post(submit))
        .route("/requests/{id}", get(show))
        .route("/requests/{id}/edit", get(edit_form).post(edit))
        .route("/requests/{id}/review", post(review))
        .route("/requests/{id}/withdraw", post(withdraw))
        .route("/requests/{id}/execute", get(confirm_execute).post(execute))
}

/// How many requests each dashboard list shows.
const DASHBOARD_ROWS: i64 = 50;

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard<'a> {
    user: &'a User,
    csrf_token: &'a str,
    mine: Vec<SummaryView>,
    waiting: Vec<SummaryView>,
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
    render(&Dashboard {
        user: &me.user,
        csrf_token: &me.csrf_token,
        mine: mine.into_iter().map(SummaryView::from).collect(),
        waiting: waiting.into_iter().map(SummaryView::from).collect(),
    })
}

/// A reviewer the form offers, and whether it is ticked.
struct ReviewerChoice {
    name: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "request_form.html")]
struct RequestForm<'a> {
    user: &'a User,
    csrf_token: &'a str,
    heading: String,
    action: String,
    /// The target can only be chosen for a new request.
    targets: Vec<String>,
    reviewers: Vec<ReviewerChoice>,
    values: FormValues,
    error: Option<String>,
}

/// What the form holds, kept as typed so a refused form loses nothing.
#[derive(Debug, Default, Clone)]
struct FormValues {
    title: String,
    intent: String,
    sql: String,
    target: String,
    reviewers: Vec<String>,
    expected_rows: String,
}

impl FormValues {
    fn from_form(form: &RawForm) -> FormValues {
        FormValues {
            title: form.text("title"),
            intent: form.text("intent"),
            sql: form.text("sql"),
            target: form.text("target"),
            reviewers: form.all("reviewers"),
            expected_rows: form.text("expected_rows").trim().to_owned(),
        }
    }

    fn from_request(new: &NewRequest) -> FormValues {
        FormValues {
            title: new.title.clone(),
            intent: new.intent.clone(),
            sql: new.sql.clone(),
            target: new.target.clone(),
            reviewers: new.reviewers.clone(),
            expected_rows: new.expected_rows.map(|n| n.to_string()).unwrap_or_default(),
        }
    }

    /// Blank means "not stated"; anything else must be a whole number.
    fn expected_rows(&self) -> Result<Option<i64>, ApiError> {
        if self.expected_rows.is_empty() {
            return Ok(None);
        }
        self.expected_rows.parse().map(Some).map_err(|_| {
            ApiError::bad_request("expected rows: a whole number, or blank if you cannot say")
        })
    }
}

impl<'a> RequestForm<'a> {
    async fn new(
        state: &AppState,
        me: &'a PageUser,
        heading: String,
        action: String,
        values: FormValues,
        error: Option<String>,
    ) -> Result<RequestForm<'a>, PageError> {
        let reviewers = state
            .store
            .list_users()
            .await?
            .into_iter()
            .filter(|u| !u.disabled && u.has_role(Role::Reviewer) && u.name != me.user.name)
            .map(|u| ReviewerChoice {
                checked: values.reviewers.contains(&u.name),
                name: u.name,
            })
            .collect();
        Ok(RequestForm {
            user: &me.user,
            csrf_token: &me.csrf_token,
            heading,
            action,
            targets: state
                .config
                .targets
                .iter()
                .map(|t| t.name.clone())
                .collect(),
            reviewers,
            values,
            error,
        })
    }

    fn respond(&self, status: StatusCode) -> Result<Response, PageError> {
        Ok((status, render(self)?).into_response())
    }
}

/// Which form: a new request, or a new revision of request `id`.
#[derive(Debug, Clone, Copy)]
enum FormFor {
    New,
    Revision(i64),
}

impl FormFor {
    fn heading(self) -> String {
        match self {
            FormFor::New => "New request".to_owned(),
            FormFor::Revision(id) => format!("Revise request #{id}"),
        }
    }

    fn action(self) -> String {
        match self {
            FormFor::New => "/requests".to_owned(),
            FormFor::Revision(id) => format!("/requests/{id}/edit"),
        }
    }
}

/// The form, holding `values`; with `error`, said at the top and answered with its status.
async fn show_form(
    state: &AppState,
    me: &PageUser,
    form_for: FormFor,
    values: FormValues,
    error: Option<ApiError>,
) -> Result<Response, PageError> {
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    RequestForm::new(
        state,
        me,
        form_for.heading(),
        form_for.action(),
        values,
        error.map(|e| e.message),
    )
    .await?
    .respond(status)
}

/// After a post: on to the request, or back to the form with the reason and everything typed.
async fn after_post(
    state: &AppState,
    me: &PageUser,
    form_for: FormFor,
    values: FormValues,
    result: Result<i64, ApiError>,
) -> Result<Response, PageError> {
    match result {
        Ok(id) => Ok(Redirect::to(&format!("/requests/{id}")).into_response()),
        Err(e) => show_form(state, me, form_for, values, Some(e)).await,
    }
}

#[derive(Debug, Deserialize)]
struct NewFormQuery {
    /// Start from this request's current revision ("submit again as new request").
    from: Option<i64>,
}

/// `GET /requests/new[?from=ID]`
async fn new_form(
    State(state): State<AppState>,
    me: PageUser,
    Query(query): Query<NewFormQuery>,
) -> Result<Response, PageError> {
    let values = match query.from {
        Some(id) => FormValues::from_request(&crate::workflow::current_as_new(
            &state.load_request(id).await?,
        )),
        None => FormValues::default(),
    };
    show_form(&state, &me, FormFor::New, values, None).await
}

/// `POST /requests`
async fn submit(
    State(state): State<AppState>,
    me: PageUser,
    form: RawForm,
) -> Result<Response, PageError> {
    form.check_csrf(&me)?;
    let values = FormValues::from_form(&form);
    let result = async {
        let new = NewRequest {
            title: values.title.clone(),
            intent: values.intent.clone(),
            sql: values.sql.clone(),
            target: values.target.clone(),
            reviewers: values.reviewers.clone(),
            expected_rows: values.expected_rows()?,
        };
        state.submit(&me.user, new).await
    }
    .await;
    after_post(&state, &me, FormFor::New, values, result).await
}

/// `GET /requests/{id}/edit`: the author's form for a new revision.
async fn edit_form(
    State(state): State<AppState>,
    me: PageUser,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let record = state.load_request(id).await?;
    permission::may_revise(&me.user, &record.author).map_err(ApiError::from)?;
    let values = FormValues::from_request(&crate::workflow::current_as_new(&record));
    show_form(&state, &me, FormFor::Revision(id), values, None).await
}

/// `POST /requests/{id}/edit`
async fn edit(
    State(state): State<AppState>,
    me: PageUser,
    Path(id): Path<i64>,
    form: RawForm,
) -> Result<Response, PageError> {
    form.check_csrf(&me)?;
    let values = FormValues::from_form(&form);
    let result = async {
        let edit = RequestEdit {
            title: Some(values.title.clone()),
            intent: Some(values.intent.clone()),
            sql: Some(values.sql.clone()),
            reviewers: Some(values.reviewers.clone()),
            expected_rows: Some(values.expected_rows()?),
        };
        state.revise(id, &me.user, edit).await.map(|()| id)
    }
    .await;
    after_post(&state, &me, FormFor::Revision(id), values, result).await
}

/// One line of the SQL, with the findings that point at it.
pub struct SqlLine {
    pub number: usize,
    pub text: String,
    pub findings: Vec<Finding>,
}

/// Numbers the lines of `sql` and hangs each finding on its line (findings past the end, which
/// should not happen, go on the last line rather than vanish).
pub fn sql_lines(sql: &str, analysis: &Analysis) -> Vec<SqlLine> {
    let mut lines: Vec<SqlLine> = sql
        .split('\n')
        .enumerate()
        .map(|(i, text)| SqlLine {
            number: i + 1,
            text: text.trim_end_matches('\r').to_owned(),
            findings: Vec::new(),
        })
        .collect();
    for finding in &analysis.findings {
        let at = usize::try_from(finding.line.max(1)).unwrap_or(usize::MAX);
        let index = at.min(lines.len()).saturating_sub(1);
        if let Some(line) = lines.get_mut(index) {
            line.findings.push(finding.clone());
        }
    }
    lines
}

/// One line of the change between two revisions' SQL.
pub struct DiffLine {
    /// `+`, `-` or ` `.
    pub sign: char,
    pub css: &'static str,
    pub text: String,
}

/// The line-by-line change from `before` to `after`.
pub fn sql_diff(before: &str, after: &str) -> Vec<DiffLine> {
    similar::TextDiff::from_lines(before, after)
        .iter_all_changes()
        .map(|change| {
            let (sign, css) = match change.tag() {
                similar::ChangeTag::Delete => ('-', "del"),
                similar::ChangeTag::Insert => ('+', "ins"),
                similar::ChangeTag::Equal => (' ', "same"),
            };
            DiffLine {
                sign,
                css,
                text: change.value().trim_end_matches(['\n', '\r']).to_owned(),
            }
        })
        .collect()
}

/// What the signed-in user may do on a request page.
struct Abilities {
    review: bool,
    withdraw: bool,
    revise: bool,
    execute: bool,
    /// A failed request is never retried; its author starts a new one from it.
    resubmit: bool,
}

impl Abilities {
    fn of(user: &User, view: &RequestView) -> Abilities {
        let allowed = |kind: ActionKind| kind.is_allowed_from(view.status);
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
            resubmit: matches!(
                view.status,
                RequestStatus::Failed | RequestStatus::Withdrawn
            ) && user.name == view.author,
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
    req: RequestView,
    analysis: Analysis,
    lines: Vec<SqlLine>,
    can: Abilities,
    history: Vec<HistoryLine>,
    /// The SQL's change from the previous revision, if there is one.
    diff: Vec<DiffLine>,
    error: Option<String>,
    comment: String,
}

async fn request_page(
    state: &AppState,
    me: &PageUser,
    id: i64,
    error: Option<String>,
    comment: String,
    status: StatusCode,
) -> Result<Response, PageError> {
    let req = state.request_view(id).await?;
    let analysis: Analysis =
        serde_json::from_value(req.analysis.clone()).map_err(ApiError::internal)?;
    let lines = sql_lines(&req.sql, &analysis);
    let diff = match req.revisions.as_slice() {
        [.., previous, current] => sql_diff(&previous.sql, &current.sql),
        _ => Vec::new(),
    };
    let history = state
        .store
        .request_events(id)
        .await?
        .into_iter()
        .map(HistoryLine::from)
        .collect();
    let page = RequestPage {
        user: &me.user,
        csrf_token: &me.csrf_token,
        can: Abilities::of(&me.user, &req),
        req,
        analysis,
        lines,
        history,
        diff,
        error,
        comment,
    };
    Ok((status, render(&page)?).into_response())
}

/// After a button on the request page: back to the request, with the reason if the action was
/// refused (and the comment as typed, for a review).
async fn back_to_request(
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

/// `GET /requests/{id}`
async fn show(
    State(state): State<AppState>,
    me: PageUser,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    request_page(&state, &me, id, None, String::new(), StatusCode::OK).await
}

/// `POST /requests/{id}/review`: the "Approve" and "Reject" buttons.
async fn review(
    State(state): State<AppState>,
    me: PageUser,
    Path(id): Path<i64>,
    form: RawForm,
) -> Result<Response, PageError> {
    form.check_csrf(&me)?;
    let comment = form.text("comment");
    let attempt = async {
        let decision: ReviewDecision = form
            .text("decision")
            .parse()
            .map_err(|e: countersign_core::UnknownName| ApiError::bad_request(e.to_string()))?;
        let revision = form
            .text("revision")
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

/// `POST /requests/{id}/withdraw`
async fn withdraw(
    State(state): State<AppState>,
    me: PageUser,
    Path(id): Path<i64>,
    form: RawForm,
) -> Result<Response, PageError> {
    form.check_csrf(&me)?;
    let result = state.withdraw(id, &me.user).await;
    back_to_request(&state, &me, id, result, String::new()).await
}

#[derive(Template)]
#[template(path = "confirm_execute.html")]
struct ConfirmExecute<'a> {
    user: &'a User,
    csrf_token: &'a str,
    req: RequestView,
}

/// `GET /requests/{id}/execute`: the confirmation step before a run.
async fn confirm_execute(
    State(state): State<AppState>,
    me: PageUser,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let req = state.request_view(id).await?;
    if !Abilities::of(&me.user, &req).execute {
        return Ok(Redirect::to(&format!("/requests/{id}")).into_response());
    }
    let page = ConfirmExecute {
        user: &me.user,
        csrf_token: &me.csrf_token,
        req,
    };
    Ok(render(&page)?.into_response())
}

/// `POST /requests/{id}/execute`: runs it, then shows the request with its execution.
async fn execute(
    State(state): State<AppState>,
    me: PageUser,
    Path(id): Path<i64>,
    form: RawForm,
) -> Result<Response, PageError> {
    form.check_csrf(&me)?;
    let result = state.execute(id, &me.user).await.map(|_| ());
    back_to_request(&state, &me, id, result, String::new()).await
}

/// A time as the pages show it: the one fixed RFC 3339 form, as in the audit trail.
pub trait Stamp {
    fn stamp(&self) -> String;
}

impl Stamp for time::OffsetDateTime {
    fn stamp(&self) -> String {
        timestamp::format(*self)
    }
}

/// The CSS class of a status: its colour on every page.
pub fn status_class(status: RequestStatus) -> &'static str {
    match status {
        RequestStatus::PendingReview => "status pending",
        RequestStatus::Approved => "status approved",
        RequestStatus::Rejected | RequestStatus::Failed => "status bad",
        RequestStatus::Withdrawn => "status quiet",
        RequestStatus::Executing => "status running",
        RequestStatus::Executed => "status done",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_marks_removed_and_added_lines() {
        let diff = sql_diff(
            "UPDATE t SET a = 1\nWHERE id = 1;\n",
            "UPDATE t SET a = 1\nWHERE id = 2;\n",
        );
        let signs: String = diff.iter().map(|d| d.sign).collect();
        assert_eq!(signs, " -+");
        assert_eq!(diff[1].text, "WHERE id = 1;");
        assert_eq!(diff[2].css, "ins");
    }

    #[test]
    fn findings_hang_on_their_lines() {
        let analysis = countersign_analyzer::analyze(
            "SELECT 1;\nUPDATE t SET a = 1;",
            countersign_analyzer::Dialect::Postgres,
        );
        let lines = sql_lines("SELECT 1;\nUPDATE t SET a = 1;", &analysis);
        assert_eq!(lines.len(), 2);
        assert!(
            lines[1]
                .findings
                .iter()
                .any(|f| f.rule == "update-without-where")
        );
    }
}
