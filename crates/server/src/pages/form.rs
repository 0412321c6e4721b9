//! Browser forms, taken only through [`SignedForm`], which checks the CSRF token before a
//! handler runs — so a page handler cannot forget the check. The body is read by
//! `serde_html_form` (what axum-extra's `Form` reads with) into the page's own typed form.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::auth::PageUser;
use crate::error::{ApiError, PageError};

/// A form with no fields of its own (a button): only its CSRF token is read.
#[derive(Debug, Default, Deserialize)]
pub struct NoFields {}

/// The field every signed form carries besides its own.
#[derive(Deserialize)]
struct Csrf {
    csrf_token: Option<String>,
}

/// A form posted by the signed-in user, whose CSRF token matched their session: the only way
/// a page handler gets a form body. `T` is the form's fields (unknown ones, such as the token
/// itself, are ignored); a body that does not read as `T` is a 400 naming the field.
pub struct SignedForm<T = NoFields> {
    pub me: PageUser,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for SignedForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let me = PageUser::from_request_parts(&mut parts, state).await?;
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|e| PageError(ApiError::unreadable_body(e.status(), e.body_text())))
            .map_err(IntoResponse::into_response)?;
        let refuse = |e: ApiError| PageError(e).into_response();
        let csrf: Csrf = serde_html_form::from_bytes(&body)
            .map_err(|e| refuse(ApiError::bad_request(format!("unreadable form: {e}"))))?;
        me.check_csrf(csrf.csrf_token.as_deref()).map_err(refuse)?;
        let form = serde_html_form::from_bytes(&body)
            .map_err(|e| refuse(ApiError::bad_request(format!("unreadable form: {e}"))))?;
        Ok(SignedForm { me, form })
    }
}
