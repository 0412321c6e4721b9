//! The new-request form (`/requests/new`, also started from an earlier request) and the
//! author's form for a new revision (`/requests/{id}/edit`): one form, kept as typed when refused.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use countersign_core::permission;
use countersign_core::user::{Role, User};
use countersign_core::validation::{NewRequest, RequestEdit};
use serde::Deserialize;

use crate::AppState;
use crate::auth::PageUser;
use crate::error::{ApiError, PageError};
use crate::pages::form::SignedForm;
use crate::pages::render;

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
    /// How many requests wait for my review, for the navigation.
    waiting: String,
    heading: String,
    action: String,
    /// The target can only be chosen for a new request.
    targets: Vec<String>,
    reviewers: Vec<ReviewerChoice>,
    values: FormValues,
    error: Option<String>,
}

/// What the form holds, kept as typed so a refused form loses nothing.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(super) struct FormValues {
    title: String,
    intent: String,
    sql: String,
    target: String,
    reviewers: Vec<String>,
    expected_rows: String,
    /// The "Run without undo" box: present (any value) when ticked.
    without_undo: Option<String>,
}

impl FormValues {
    /// The form as posted, with blank reviewer fields dropped and names and the row count
    /// trimmed.
    fn tidied(mut self) -> FormValues {
        self.reviewers = self
            .reviewers
            .iter()
            .map(|r| r.trim())
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect();
        self.expected_rows = self.expected_rows.trim().to_owned();
        self
    }

    fn from_request(new: &NewRequest) -> FormValues {
        FormValues {
            title: new.title.clone(),
            intent: new.intent.clone(),
            sql: new.sql.clone(),
            target: new.target.clone(),
            reviewers: new.reviewers.clone(),
            expected_rows: new.expected_rows.map(|n| n.to_string()).unwrap_or_default(),
            without_undo: new.without_undo.then(|| "on".to_owned()),
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
            waiting: me.waiting_words(),
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
pub(super) struct NewFormQuery {
    /// Start from this request's current revision ("submit again as new request").
    from: Option<i64>,
}

/// `GET /requests/new[?from=ID]`
pub(super) async fn new_form(
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
pub(super) async fn submit(
    State(state): State<AppState>,
    SignedForm { me, form }: SignedForm<FormValues>,
) -> Result<Response, PageError> {
    let values = form.tidied();
    let result = async {
        let new = NewRequest {
            title: values.title.clone(),
            intent: values.intent.clone(),
            sql: values.sql.clone(),
            target: values.target.clone(),
            reviewers: values.reviewers.clone(),
            expected_rows: values.expected_rows()?,
            without_undo: values.without_undo.is_some(),
        };
        state.submit(&me.user, new).await
    }
    .await;
    after_post(&state, &me, FormFor::New, values, result).await
}

/// `GET /requests/{id}/edit`: the author's form for a new revision.
pub(super) async fn edit_form(
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
pub(super) async fn edit(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SignedForm { me, form }: SignedForm<FormValues>,
) -> Result<Response, PageError> {
    let values = form.tidied();
    let result = async {
        let edit = RequestEdit {
            title: Some(values.title.clone()),
            intent: Some(values.intent.clone()),
            sql: Some(values.sql.clone()),
            reviewers: Some(values.reviewers.clone()),
            expected_rows: Some(values.expected_rows()?),
            without_undo: Some(values.without_undo.is_some()),
        };
        state.revise(id, &me.user, edit).await.map(|()| id)
    }
    .await;
    after_post(&state, &me, FormFor::Revision(id), values, result).await
}
